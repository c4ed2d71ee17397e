"""Keyed hashing: raw user ids and identifiers never reach the store or the logs, only their keyed hashes."""

from __future__ import annotations

import hashlib
import json
from datetime import datetime
from decimal import Decimal

import orjson

_BLOCK = 64  # SHA-256's block size in bytes


class Pseudonyms:
    """Turns identifiers into stable keyed hashes with the database's secret key."""

    def __init__(self, key: bytes) -> None:
        # HMAC-SHA256 (RFC 2104) with the key's inner and outer hash states computed once: each hash then
        # costs two state copies instead of `hmac.digest`'s look-up of the algorithm in OpenSSL, which took
        # several times longer per call. The digests are the standard HMAC's (a unit test checks).
        if len(key) > _BLOCK:
            key = hashlib.sha256(key).digest()
        key = key.ljust(_BLOCK, b"\0")
        self._inner = hashlib.sha256(bytes(byte ^ 0x36 for byte in key))
        self._outer = hashlib.sha256(bytes(byte ^ 0x5C for byte in key))

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
        inner = self._inner.copy()
        inner.update(f"{kind}\x00{value}".encode())
        outer = self._outer.copy()
        outer.update(inner.digest())
        return outer.hexdigest()


def canonical_json(value: object) -> str:
    """Deterministic JSON of dataclasses, string enums, decimals and datetimes (keys sorted, no spaces).

    The text is exactly what `json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)`
    gives with dataclasses as their fields, datetimes in ISO 8601 and decimals as strings (a unit test compares
    them), so that digests stored by earlier versions keep matching their retries. orjson makes it several
    times cheaper; where it spells a float otherwise than json (1e16 for 1e+16, null for NaN), the float goes
    in as json's text."""
    if hasattr(value, "__dataclass_fields__") and not isinstance(value, type):
        value = vars(value)  # a command: its fields, as _plain would give them, without orjson calling back for them
    return orjson.dumps(_json_floats(value), default=_plain, option=_OPTIONS).decode()


_OPTIONS = orjson.OPT_SORT_KEYS | orjson.OPT_PASSTHROUGH_DATACLASS | orjson.OPT_PASSTHROUGH_DATETIME


def _plain(value: object) -> object:
    """What orjson is not to encode by itself."""
    if hasattr(value, "__dataclass_fields__") and not isinstance(value, type):
        return _json_floats(vars(value))
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, Decimal):
        return str(value)
    raise TypeError(f"cannot encode {type(value).__name__}")


def _json_floats(value: object) -> object:
    """`value` with every float it holds directly or in dicts and lists (a request's free-form attributes)
    replaced by json's spelling of it; the same object when it holds none.

    Only values that are true are looked at (filter(None, ...)): an empty dict or list holds no float, and 0.0 and
    -0.0 orjson spells as json does. So an applicant whose attributes are {} is not copied entry by entry, which
    was a third to a half of the cost of its canonical JSON."""
    if type(value) is float:
        return orjson.Fragment(json.dumps(value))
    if type(value) is dict and not _CONTAINERS.isdisjoint(map(type, filter(None, value.values()))):
        return {key: _json_floats(v) if type(v) in _CONTAINERS else v for key, v in value.items()}
    if (type(value) is list or type(value) is tuple) and not _CONTAINERS.isdisjoint(map(type, filter(None, value))):
        return [_json_floats(v) if type(v) in _CONTAINERS else v for v in value]
    return value


_CONTAINERS = frozenset({float, dict, list, tuple})  # what may hold a float
