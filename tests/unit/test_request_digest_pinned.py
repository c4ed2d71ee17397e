"""The request digests and request JSON of representative requests, pinned: a retry of a call recorded by an earlier
version is told apart from a new call by its digest, so a change to request conversion or to the canonical JSON must
leave both byte for byte as they were."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

import pytest
from google.protobuf import struct_pb2

from service._gen.decision.v1 import decision_pb2 as pb
from service.api import requests
from service.app.pseudonyms import Pseudonyms, canonical_json
from tests.support.builders import strong_applicant, weak_applicant

NOW = datetime(2026, 12, 3, 17, 50, tzinfo=UTC)
KEY = bytes(range(32))


def _cny(fen: int) -> pb.Money:
    return pb.Money(currency="CNY", minor_units=fen)


def _attributes() -> struct_pb2.Struct:
    attributes = struct_pb2.Struct()
    attributes.update({"tenure": 3.0, "ratio": 0.1, "big": 1e16, "tiny": 1e-7, "flag": True, "city": "\u5317\u4eac",
                       "none": None})
    attributes["nan"] = float("nan")
    attributes["ninf"] = float("-inf")
    return attributes


def _command(case: str) -> tuple[str, object]:
    if case == "grant":
        request = pb.GrantLimitRequest(request_id="r-1", applicant=strong_applicant("u-1"))
        return "GrantLimit", requests.grant_command(request)
    if case == "score_with_attributes":
        request = pb.ScoreUserRequest(request_id="r-2", applicant=weak_applicant("u-2", attributes=_attributes()))
        return "ScoreUser", requests.score_command(request)
    if case == "drawdown":
        channel = pb.Channel(device_id="d\u00e9v", ip="::ffff:10.1.2.3", country="CN", city="\u4e0a\u6d77")
        return "AuthorizeDrawdown", requests.drawdown_command(pb.AuthorizeDrawdownRequest(
            request_id="r-3", user_id="u-3", amount=_cny(500_000), term_months=6,
            repayment_method=pb.REPAYMENT_METHOD_EQUAL_INSTALLMENT, purpose="TRAVEL", channel=channel,
        ))
    if case == "payment":
        transaction = pb.Transaction(
            transaction_id="t-1", user_id="u-4", type=pb.TRANSACTION_TYPE_PAYMENT, amount=_cny(12_345),
            occurred_at={"seconds": 1796320000, "nanos": 123456000}, merchant_category="5411",
            channel=pb.Channel(device_id="d-1", ip="10.1.2.3"),
        )
        return "FlagTransaction", requests.transaction_command(
            pb.FlagTransactionRequest(request_id="r-4", transaction=transaction), NOW
        )
    if case == "login":
        transaction = pb.Transaction(
            transaction_id="t-2", user_id="u-5", type=pb.TRANSACTION_TYPE_LOGIN, amount=_cny(99)
        )
        return "FlagTransaction", requests.transaction_command(
            pb.FlagTransactionRequest(request_id="r-5", transaction=transaction), NOW
        )
    assert case == "repayment"
    return "RecordRepayment", requests.repayment_command(
        pb.RecordRepaymentRequest(request_id="r-6", user_id="u-6", drawdown_id="d-6", amount=_cny(100))
    )


PINNED = {
    "grant": (
        "9d64e88417e11128efbb0c99955c0663b2f2ca2a5ba499b359bb98824c772357",
        '{"applicant":{"account_age_months":96,"active_spend_months":12,"age":35,"agreement_signed":true,"annual_income":90000000,"attributes":{},"country":"CN","credit_inquiries_6m":0,"financial_assets":30000000,"max_days_overdue_24m":0,"monthly_spend_avg":1200000,"on_time_repayments_24m":24,"overdue_count_24m":0,"real_name_verified":true,"user_id":"u-1","verified_contacts":40},"request_id":"r-1"}',
    ),
    "score_with_attributes": (
        "89de6309f63494c92f1bc743c938303b2deb72c8b3b0e142d4301ce2debd1ff3",
        '{"applicant":{"account_age_months":1,"active_spend_months":0,"age":30,"agreement_signed":true,"annual_income":3000000,"attributes":{"big":1e+16,"city":"北京","flag":true,"nan":NaN,"ninf":-Infinity,"none":null,"ratio":0.1,"tenure":3.0,"tiny":1e-07},"country":"CN","credit_inquiries_6m":9,"financial_assets":0,"max_days_overdue_24m":60,"monthly_spend_avg":0,"on_time_repayments_24m":0,"overdue_count_24m":6,"real_name_verified":true,"user_id":"u-2","verified_contacts":0},"request_id":"r-2"}',
    ),
    "drawdown": (
        "c26e493e527db42f17b974efcb0d9eca376281dcd56981ef9b4d6fa829267746",
        '{"amount":500000,"channel":{"city":"上海","country":"CN","device_id":"dév","ip":"10.1.2.3"},"purpose":"TRAVEL","repayment_method":"EQUAL_INSTALLMENT","request_id":"r-3","term_months":6,"user_id":"u-3"}',
    ),
    "payment": (
        "afb211fb988149ac3b050bc9daf1f71d1ba9c517435f0105548187f9e4744cd0",
        '{"amount":12345,"channel":{"city":"","country":"","device_id":"d-1","ip":"10.1.2.3"},"counterparty_id":"","event_type":"PAYMENT","merchant_category":"5411","occurred_at":"2026-12-03T17:46:40.123456+00:00","request_id":"r-4","transaction_id":"t-1","user_id":"u-4"}',
    ),
    "login": (
        "dc695a330dede837193ae1f83dfcf43dab5655f71e241a0849b5ff595b3e7361",
        '{"amount":0,"channel":{"city":"","country":"","device_id":"","ip":""},"counterparty_id":"","event_type":"LOGIN","merchant_category":"","occurred_at":null,"request_id":"r-5","transaction_id":"t-2","user_id":"u-5"}',
    ),
    "repayment": (
        "278c3a6d3f6424d545a8224cfc3aff687304d3e0c96cdae1894d11adebceb24a",
        '{"amount":100,"drawdown_id":"d-6","request_id":"r-6","user_id":"u-6"}',
    ),
}


@pytest.mark.parametrize("case", PINNED)
def test_a_requests_digest_and_json_are_those_earlier_versions_recorded(case: str) -> None:
    rpc, command = _command(case)
    digest, text = PINNED[case]
    assert canonical_json(command) == text
    assert Pseudonyms(KEY).request_digest(rpc, command) == digest


def test_a_minimised_requests_json_is_the_one_earlier_versions_recorded() -> None:
    pseudonyms = Pseudonyms(KEY)
    record = {
        "user": pseudonyms.user_key("u-1"), "amount": 500000, "at": NOW, "rate": Decimal("0.000500"),
        "scores": [1.5, 2, {"x": -0.0, "y": [1e22, None]}], "nested": {"a": (1, 2.5)}, "attributes": {"n": 3.0},
        "status": "ACTIVE",
    }
    assert canonical_json(record) == RECORD
    assert pseudonyms.user_key("u-1") == "a010fb2cdfa691cd3fb7891595134515"
    assert pseudonyms.identifier("device", "d\u00e9v") == "427bbc921da85e57827d30188c28fbb9"


RECORD = (
    '{"amount":500000,"at":"2026-12-03T17:50:00+00:00","attributes":{"n":3.0},"nested":{"a":[1,2.5]},"rate":"0.000500","scores":[1.5,2,{"x":-0.0,"y":[1e+22,null]}],"status":"ACTIVE","user":"a010fb2cdfa691cd3fb7891595134515"}'
)


def test_zeros_and_empty_containers_are_spelt_as_json_spells_them() -> None:
    value = {"zero": 0.0, "minus_zero": -0.0, "dict": {}, "list": [], "tuple": (), "nested": [{"z": -0.0, "e": []}]}
    expected = '{"dict":{},"list":[],"minus_zero":-0.0,"nested":[{"e":[],"z":-0.0}],"tuple":[],"zero":0.0}'
    assert canonical_json(value) == expected
