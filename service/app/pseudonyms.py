"""Keyed hashing: raw user ids and identifiers never reach the store or the logs, only their keyed hashes."""

from __future__ import annotations

import hmac
import json
from datetime import datetime
from decimal import Decimal
from enum import Enum


class Pseudonyms:
    """Turns identifiers into stable keyed hashes with the database's secret key."""

    def __init__(self, key: bytes) -> None:
        self._key = key

    def user_key(self, user_id: str) -> str:
        """The stored and logged stand-in for a user id."""
        return self._hash("user", user_id)[:32]

    def identifier(self, kind: str, value: str) -> str:
        """A stand-in for another identifier (device, counterparty); empty stays empty."""
        return self._hash(kind, value)[:32] if value else ""

    def request_digest(self, rpc: str, command: object) -> str:
        """A keyed digest of the whole request: equal exactly when rpc and payload are equal."""
        return self._hash("request", rpc + "\n" + canonical_json(command))

    def _hash(self, kind: str, value: str) -> str:
        return hmac.digest(self._key, f"{kind}\x00{value}".encode(), "sha256").hex()


def canonical_json(value: object) -> str:
    """Deterministic JSON of dataclasses, enums, decimals and datetimes (keys sorted, no spaces)."""
    return _CANONICAL.encode(value)


def _plain(value: object) -> object:
    """What json cannot encode by itself; StrEnums are strings already."""
    if hasattr(value, "__dataclass_fields__") and not isinstance(value, type):
        return vars(value)
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, Decimal | Enum):
        return str(value.value if isinstance(value, Enum) else value)
    raise TypeError(f"cannot encode {type(value).__name__}")


_CANONICAL = json.JSONEncoder(default=_plain, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
