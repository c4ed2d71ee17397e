"""What `decisiond decisions show` prints of a stored response (every field, zeros included), and how `--until` reads
the end of a period."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from service._gen.decision.v1 import decision_pb2 as pb
from service.app.ports import DecisionRecord
from service.audit import describe, parse_until


def test_a_declined_grant_shows_its_limit_of_zero_and_its_empty_fields() -> None:
    declined = pb.GrantLimitResponse(outcome=pb.OUTCOME_DECLINE, credit_limit=pb.Money(currency="CNY"), score=0)
    record = DecisionRecord(
        decision_id="dec_1", rpc="GrantLimit", request_id="r-1", request_digest="0" * 64, user_key="u" * 16,
        request_json="{}", response=declined.SerializeToString(), outcome="DECLINE", ruleset_version="v1",
        ruleset_digest="0" * 64, decided_at=datetime(2026, 12, 6, tzinfo=UTC), latency_us=1500,
    )
    response = describe(record)["response"]
    assert isinstance(response, dict)
    assert response["creditLimit"] == {"currency": "CNY", "minorUnits": "0"}
    assert (response["score"], response["reasons"], response["apr"]) == (0, [], "")


def test_an_until_date_ends_with_its_day_in_utc_and_an_until_time_is_that_moment() -> None:
    assert parse_until("2026-11-30") == datetime(2026, 12, 1, tzinfo=UTC)
    assert parse_until("2026-11-30T18:00:00+08:00") == datetime(2026, 11, 30, 10, tzinfo=UTC)
    assert parse_until("2026-11-30T18:00") == datetime(2026, 11, 30, 18, tzinfo=UTC)
    assert parse_until("9999-12-31") == datetime.max.replace(tzinfo=UTC)


def test_an_until_that_is_not_a_date_is_refused() -> None:
    with pytest.raises(ValueError):
        parse_until("30/11/2026")
