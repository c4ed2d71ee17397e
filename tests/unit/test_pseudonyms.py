"""The keyed hashes that stand in for user ids and identifiers are standard HMAC-SHA256: a ledger written by
any earlier version keeps matching its users, and an auditor can recompute a hash with any HMAC library."""

from __future__ import annotations

import hashlib
import hmac
import json
from datetime import UTC, datetime
from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from service.app.commands import ApplicantInput, ChannelInput, DrawdownCommand, GrantCommand, TransactionCommand
from service.app.pseudonyms import Pseudonyms, canonical_json
from service.domain.model import EventType, RepaymentMethod


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


def _stdlib_canonical(value: object) -> str:
    """The canonical JSON as the first versions wrote it (with the standard library), which stored digests
    and request records depend on."""

    def plain(v: object) -> object:
        if hasattr(v, "__dataclass_fields__") and not isinstance(v, type):
            return vars(v)
        if isinstance(v, datetime):
            return v.isoformat()
        if isinstance(v, Decimal):
            return str(v)
        raise TypeError(type(v).__name__)

    return json.dumps(value, default=plain, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


_attribute_values = st.none() | st.booleans() | st.text(max_size=20) | st.floats(allow_nan=True, allow_infinity=True)


@given(
    attributes=st.dictionaries(st.text(min_size=1, max_size=12), _attribute_values, max_size=6),
    user_id=st.text(max_size=30),
    amount=st.integers(min_value=-(2**63), max_value=2**63 - 1),
)
def test_request_json_is_the_standard_librarys_byte_for_byte(
    attributes: dict[str, object], user_id: str, amount: int
) -> None:
    applicant = ApplicantInput(user_id, 30, True, True, amount, 0, 0, 0, 0, 0, 0, 0, 0, 0, "CN", attributes)
    channel = ChannelInput(device_id="d\u00e9v", ip="10.0.0.1", country="CN", city="\u5317\u4eac")
    values: list[object] = [
        GrantCommand(request_id="r-1", applicant=applicant),
        {**{k: v for k, v in vars(applicant).items() if k != "user_id"}},  # a minimised request
        TransactionCommand("r-2", "t-1", user_id, EventType.PAYMENT, amount,
                           datetime(2026, 12, 3, 17, 49, 20, 123456, tzinfo=UTC), channel, "", "5411"),
        DrawdownCommand("r-3", user_id, 500_000, 6, RepaymentMethod.EQUAL_INSTALLMENT, "travel", channel),
        {"at": datetime(2026, 12, 3, tzinfo=UTC), "rate": Decimal("0.000500"), "list": [1.5, 1e16, {"x": -0.0}]},
    ]
    for value in values:
        assert canonical_json(value) == _stdlib_canonical(value)


def test_request_json_spells_floats_and_text_as_json_does() -> None:
    assert canonical_json({"b": 1e16, "a": float("nan"), "c": float("-inf"), "d": 1e-7, "e": "\x00\u2028\U0001f600"}) \
        == '{"a":NaN,"b":1e+16,"c":-Infinity,"d":1e-07,"e":"\\u0000\u2028\U0001f600"}'
