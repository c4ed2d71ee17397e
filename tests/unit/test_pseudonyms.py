"""The keyed hashes that stand in for user ids and identifiers are standard HMAC-SHA256: a ledger written by
any earlier version keeps matching its users, and an auditor can recompute a hash with any HMAC library."""

from __future__ import annotations

import hashlib
import hmac

import pytest

from service.app.pseudonyms import Pseudonyms


def reference(key: bytes, kind: str, value: str) -> str:
    return hmac.new(key, f"{kind}\x00{value}".encode(), hashlib.sha256).hexdigest()


@pytest.mark.parametrize("key", [bytes(range(32)), b"", b"k" * 64, b"long key " * 20], ids=["32", "0", "64", "180"])
def test_every_hash_is_the_standard_hmac_sha256_of_kind_and_value(key: bytes) -> None:
    pseudonyms = Pseudonyms(key)
    assert pseudonyms.user_key("u-1001") == reference(key, "user", "u-1001")[:32]
    device = "dev-\u00e9\U0001f600"
    assert pseudonyms.identifier("device", device) == reference(key, "device", device)[:32]
    assert pseudonyms.request_digest("ScoreUser", {"b": 1, "a": "x"}) == reference(
        key, "request", 'ScoreUser\n{"a":"x","b":1}'
    )


def test_hashes_differ_by_key_and_by_kind_and_repeat_exactly() -> None:
    first, second = Pseudonyms(b"a" * 32), Pseudonyms(b"b" * 32)
    assert first.user_key("u-1") == first.user_key("u-1")
    assert first.user_key("u-1") != second.user_key("u-1")
    assert first.identifier("device", "u-1") != first.user_key("u-1")
    assert first.identifier("device", "") == ""
