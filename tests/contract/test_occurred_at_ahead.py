"""An event time ahead of the server's clock: up to 5 minutes is accepted (a reporter's clock that runs fast), and
the refusal of one further ahead gives that bound and how far ahead the time was, not "must not be in the future",
which a caller whose times a few minutes ahead went through would not understand."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

import grpc
from google.protobuf.timestamp_pb2 import Timestamp

from service._gen.decision.v1 import decision_pb2 as pb
from service._gen.decision.v1 import decision_pb2_grpc as pb_grpc
from tests.contract.helpers import new_user, open_line, rpc_error, violations
from tests.support.builders import request_id


def _login_ahead(user: str, ahead: timedelta) -> pb.FlagTransactionRequest:
    at = Timestamp()
    at.FromDatetime(datetime.now(UTC) + ahead)
    login = pb.Transaction(transaction_id=request_id(), user_id=user, type=pb.TRANSACTION_TYPE_LOGIN, occurred_at=at)
    return pb.FlagTransactionRequest(request_id=request_id(), transaction=login)


def test_an_event_time_more_than_5_minutes_ahead_is_refused_saying_the_bound_and_how_far_ahead_it_is(
    decisions: pb_grpc.DecisionServiceStub,
) -> None:
    user = new_user()
    open_line(decisions, user)
    assert decisions.FlagTransaction(_login_ahead(user, timedelta(minutes=4))).outcome == pb.OUTCOME_APPROVE

    error = rpc_error(lambda: decisions.FlagTransaction(_login_ahead(user, timedelta(minutes=5, seconds=30))))

    assert error.code() == grpc.StatusCode.INVALID_ARGUMENT
    said = violations(error)["transaction.occurred_at"]
    # 5 min 30 s ahead when sent, a little less when the server reads its clock: "30 s", rounded up
    assert re.fullmatch(
        r"must be at most 5 minutes ahead of the server's clock, and is 5 min (29|30) s ahead: check the reporting"
        r" system's clock, or leave the time out to have the event recorded at the time the server receives it",
        said,
    ), said
    assert said in (error.details() or "")
