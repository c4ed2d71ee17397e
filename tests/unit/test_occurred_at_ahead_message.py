"""The refusal of an event time too far ahead of the server's clock gives the bound and how far ahead it is."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from google.protobuf.timestamp_pb2 import Timestamp

from service._gen.decision.v1 import decision_pb2 as pb
from service.api.requests import transaction_command
from service.domain.errors import InvalidRequest

NOW = datetime(2026, 12, 7, 9, 0, tzinfo=UTC)


def login_at(at: datetime) -> pb.FlagTransactionRequest:
    stamp = Timestamp()
    stamp.FromDatetime(at)
    return pb.FlagTransactionRequest(request_id="r-1", transaction=pb.Transaction(
        transaction_id="t-1", user_id="u-1", type=pb.TRANSACTION_TYPE_LOGIN, occurred_at=stamp))


@pytest.mark.parametrize(("ahead", "said"), [
    (timedelta(minutes=5, seconds=30), "5 min 30 s"),
    (timedelta(minutes=5, microseconds=1), "5 min 1 s"),  # just over the bound never reads as the bound itself
    (timedelta(hours=2, minutes=5, seconds=3), "2 h 5 min"),
    (timedelta(days=1, hours=3), "1 day 3 h"),
    (timedelta(days=400, minutes=1), "400 days"),
])
def test_an_event_time_too_far_ahead_is_refused_saying_the_bound_and_how_far_ahead_it_is(
    ahead: timedelta, said: str
) -> None:
    with pytest.raises(InvalidRequest) as refused:
        transaction_command(login_at(NOW + ahead), NOW)
    assert [(v.field, v.description) for v in refused.value.violations] == [(
        "transaction.occurred_at",
        f"must be at most 5 minutes ahead of the server's clock, and is {said} ahead: check the reporting system's"
        " clock, or leave the time out to have the event recorded at the time the server receives it",
    )]


@pytest.mark.parametrize("ahead", [timedelta(0), timedelta(minutes=4), timedelta(minutes=5)])
def test_an_event_time_up_to_5_minutes_ahead_is_accepted(ahead: timedelta) -> None:
    assert transaction_command(login_at(NOW + ahead), NOW).occurred_at == NOW + ahead
