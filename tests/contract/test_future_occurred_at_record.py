"""An account event sent with an `occurred_at` ahead of the server's clock (at most 5 minutes: a reporter's clock
that runs fast) is placed in the history at the server's time. Its decision record keeps the time as sent and says
where the history placed it, `occurred_at_recorded`, so that whoever rebuilds a user's history from the records
(README: an auditor does, for a record that keeps no features) places the event where the rules placed it. Every
other record reads as before, and the request digest stays that of the request as sent."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from google.protobuf.timestamp_pb2 import Timestamp

from service._gen.decision.v1 import decision_pb2 as pb
from service._gen.decision.v1 import decision_pb2_grpc as pb_grpc
from service.app.pseudonyms import Pseudonyms
from service.bootstrap import Service
from tests.contract.helpers import new_user, open_line
from tests.lifecycle.test_rules_export import run
from tests.support.builders import request_id


def password_change(user: str, occurred_at: datetime | None) -> pb.FlagTransactionRequest:
    sent = None
    if occurred_at is not None:
        sent = Timestamp()
        sent.FromDatetime(occurred_at)
    return pb.FlagTransactionRequest(request_id=request_id(), transaction=pb.Transaction(
        transaction_id=f"txn-{request_id()[:20]}", user_id=user, type=pb.TRANSACTION_TYPE_PASSWORD_CHANGE,
        occurred_at=sent))


def shown(service: Service, decision_id: str, capsys: pytest.CaptureFixture[str]) -> dict[str, Any]:
    """The record as `decisiond decisions show` prints it."""
    capsys.readouterr()  # the server's log lines
    code, out, _ = run(capsys, "decisions", "show", decision_id, "--database", service.settings.database_url)
    assert code == 0
    record: dict[str, Any] = json.loads(out)
    return record


def held_at(service: Service, user: str) -> datetime | None:
    """When the user's history holds their latest account event."""
    user_key = Pseudonyms(service.store.pseudonym_key()).user_key(user)
    with service.store.unit_of_work() as uow:
        return uow.lock_line(user_key, latest_event=True)[1]


def test_the_record_of_an_event_sent_ahead_of_the_servers_clock_says_when_the_history_holds_it(
    service: Service, decisions: pb_grpc.DecisionServiceStub, capsys: pytest.CaptureFixture[str]
) -> None:
    user = new_user()
    open_line(decisions, user)
    sent = datetime.now(UTC) + timedelta(minutes=4)

    answer = decisions.FlagTransaction(password_change(user, sent))

    record = shown(service, answer.meta.decision_id, capsys)
    held = held_at(service, user)
    assert held is not None
    assert record["request"]["occurred_at"] == sent.isoformat()
    assert record["request"]["occurred_at_recorded"] == held.isoformat() == record["decided_at"]


@pytest.mark.parametrize("minutes", [None, -90], ids=["unset", "in-the-past"])
def test_the_record_of_an_event_held_at_the_time_sent_has_no_second_time(
    service: Service, decisions: pb_grpc.DecisionServiceStub, capsys: pytest.CaptureFixture[str], minutes: int | None
) -> None:
    user = new_user()
    open_line(decisions, user)
    sent = None if minutes is None else datetime.now(UTC) + timedelta(minutes=minutes)

    answer = decisions.FlagTransaction(password_change(user, sent))

    request = shown(service, answer.meta.decision_id, capsys)["request"]
    assert request["occurred_at"] == (None if sent is None else sent.isoformat())
    assert "occurred_at_recorded" not in request


def test_a_retry_of_an_event_sent_ahead_of_the_clock_is_answered_as_the_first_call_was(
    decisions: pb_grpc.DecisionServiceStub,
) -> None:
    """The digest the retry is matched by is of the request as sent, not of the time the record adds."""
    user = new_user()
    open_line(decisions, user)
    request = password_change(user, datetime.now(UTC) + timedelta(minutes=4))

    first = decisions.FlagTransaction(request)
    retried = decisions.FlagTransaction(request)

    assert retried.meta.replayed
    retried.meta.replayed = False
    assert retried == first
