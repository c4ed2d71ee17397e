"""Events recorded at the same instant as the event being decided count as before it, in every feature: a reporter
that sends whole seconds reports a password change and the drawdown after it with one time, and the drawdown must see
the change. An event recorded with a later time than a backdated one still never counts for it, and the windows'
lower bounds stay where they were.

On each store; the decisions through the servicer called in process (tests/storage/test_decision_time.py), on a
clock the test sets."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from google.protobuf.timestamp_pb2 import Timestamp

from service._gen.decision.v1 import decision_pb2 as pb
from service.app.ports import Store
from service.domain.fraud_features import DAY, HOUR, HistorySummary
from service.domain.model import EventType
from tests.storage.conftest import OpenStore
from tests.storage.records import T0, USER, an_event, minutes
from tests.storage.test_decision_time import NOON, Replica, SetClock
from tests.support.builders import cny, drawdown, request_id, strong_applicant

DRAWDOWN, TRANSFER_OUT, PASSWORD_CHANGE = EventType.DRAWDOWN, EventType.TRANSFER_OUT, EventType.PASSWORD_CHANGE
MICROSECOND = timedelta(microseconds=1)
AT = T0 + DAY * 2


def test_every_feature_sees_the_events_recorded_at_the_same_instant_and_none_recorded_later(store: Store) -> None:
    with store.unit_of_work() as uow:
        uow.append_event(an_event(DRAWDOWN, at=AT, amount=4_000, device_id="dev-1"))
        uow.append_event(an_event(TRANSFER_OUT, at=AT, amount=500, counterparty_id="cp-1"))
        uow.append_event(an_event(PASSWORD_CHANGE, at=AT))
        # a microsecond after the event being decided (it was backdated): none of these is before it
        uow.append_event(an_event(DRAWDOWN, at=AT + MICROSECOND, amount=8_000, device_id="dev-2"))
        uow.append_event(an_event(TRANSFER_OUT, at=AT + MICROSECOND, amount=16_000))
        uow.append_event(an_event(EventType.PHONE_CHANGE, user_key="uk_other", at=AT))  # someone else's

    with store.unit_of_work() as uow:
        assert uow.history_summary(USER, AT, device_id="dev-1", counterparty_id="cp-1") == HistorySummary(
            drawdowns_last_hour=1,
            drawdown_amount_last_hour=4_000,
            transfer_out_last_hour=500,
            credential_changed_last_24h=True,
            device_seen_before=True,
            counterparty_first_seen=AT,
        )
        assert not uow.history_summary(USER, AT, device_id="dev-2").device_seen_before
        assert uow.history_summary(USER, AT - MICROSECOND) == HistorySummary()


@pytest.mark.parametrize(
    ("ago", "counted"),
    [(HOUR, True), (HOUR + MICROSECOND, False), (MICROSECOND, True), (timedelta(0), True), (-MICROSECOND, False)],
    ids=["an hour before", "just over an hour", "a microsecond before", "the same instant", "a microsecond after"],
)
def test_a_drawdown_and_a_transfer_count_in_the_hour_up_to_the_same_instant(
    store: Store, ago: timedelta, counted: bool
) -> None:
    with store.unit_of_work() as uow:
        uow.append_event(an_event(DRAWDOWN, at=AT - ago, amount=7_000))
        uow.append_event(an_event(TRANSFER_OUT, at=AT - ago, amount=3_000))
    with store.unit_of_work() as uow:
        summary = uow.history_summary(USER, AT)
    assert (summary.drawdowns_last_hour, summary.drawdown_amount_last_hour, summary.transfer_out_last_hour) == (
        (1, 7_000, 3_000) if counted else (0, 0, 0)
    )


@pytest.mark.parametrize(
    ("ago", "changed"),
    [(DAY, True), (DAY + MICROSECOND, False), (MICROSECOND, True), (timedelta(0), True), (-MICROSECOND, False)],
    ids=["24 hours before", "just over 24 hours", "a microsecond before", "the same instant", "a microsecond after"],
)
def test_a_credential_change_counts_in_the_24_hours_up_to_the_same_instant(
    store: Store, ago: timedelta, changed: bool
) -> None:
    with store.unit_of_work() as uow:
        uow.append_event(an_event(PASSWORD_CHANGE, at=AT - ago))
    with store.unit_of_work() as uow:
        assert uow.history_summary(USER, AT).credential_changed_last_24h is changed


@pytest.mark.parametrize(
    ("ago", "seen"),
    [(DAY * 400, True), (timedelta(0), True), (-MICROSECOND, False)],
    ids=["400 days before", "the same instant", "a microsecond after"],
)
def test_a_device_used_at_the_same_instant_is_seen_before(store: Store, ago: timedelta, seen: bool) -> None:
    with store.unit_of_work() as uow:
        uow.append_event(an_event(at=AT - ago, device_id="dev-1"))
    with store.unit_of_work() as uow:
        assert uow.history_summary(USER, AT, device_id="dev-1").device_seen_before is seen


def test_a_counterparty_named_at_the_same_instant_is_first_seen_then(store: Store) -> None:
    with store.unit_of_work() as uow:
        uow.append_event(an_event(TRANSFER_OUT, at=AT, amount=100, counterparty_id="cp-1"))
        uow.append_event(an_event(TRANSFER_OUT, at=AT + minutes(5), amount=100, counterparty_id="cp-1"))
    with store.unit_of_work() as uow:
        assert uow.history_summary(USER, AT, counterparty_id="cp-1").counterparty_first_seen == AT


# -- the decisions ---------------------------------------------------------------------------------------------------

REPORTED = NOON - timedelta(seconds=10)  # whole seconds, as a reporter that sends no fractions


def granted(replica: Replica, user: str) -> int:
    """Opens the user's line; its credit limit in yuan."""
    answer = replica.call("GrantLimit", pb.GrantLimitRequest(request_id=request_id(), applicant=strong_applicant(user)))
    assert answer.outcome == pb.OUTCOME_APPROVE, answer
    return int(answer.credit_limit.minor_units // 100)


def reported(
    replica: Replica,
    user: str,
    kind: pb.TransactionType,
    yuan: int = 0,
    *,
    at: datetime | None = None,
    device: str = "",
    counterparty: str = "",
) -> pb.FlagTransactionResponse:
    event = pb.Transaction(transaction_id=request_id(), user_id=user, type=kind, channel=pb.Channel(device_id=device),
                           counterparty_id=counterparty)
    if yuan:
        event.amount.CopyFrom(cny(yuan))
    if at is not None:
        event.occurred_at.CopyFrom(_timestamp(at))
    answer: pb.FlagTransactionResponse = replica.call(
        "FlagTransaction", pb.FlagTransactionRequest(request_id=request_id(), transaction=event)
    )
    return answer


def _timestamp(at: datetime) -> Timestamp:
    stamp = Timestamp()
    stamp.FromDatetime(at)
    return stamp


def flags(answer: pb.FlagTransactionResponse) -> list[str]:
    return [flag.code for flag in answer.flags]


def test_a_drawdown_reported_with_the_time_of_a_password_change_is_referred_for_takeover(
    open_test_store: OpenStore,
) -> None:
    replica = Replica(open_test_store, SetClock(NOON))
    limit = granted(replica, "same-second-ato")
    reported(replica, "same-second-ato", pb.TRANSACTION_TYPE_PASSWORD_CHANGE, at=REPORTED, device="phone-1")

    answer = reported(replica, "same-second-ato", pb.TRANSACTION_TYPE_DRAWDOWN, limit * 6 // 10, at=REPORTED,
                      device="phone-1")

    assert (answer.outcome, flags(answer)) == (pb.OUTCOME_REVIEW, ["ATO_RECENT_CREDENTIAL_CHANGE"])  # not NEW_DEVICE


def test_a_second_transfer_out_in_the_same_second_is_counted_for_rapid_movement(open_test_store: OpenStore) -> None:
    replica = Replica(open_test_store, SetClock(NOON))
    granted(replica, "same-second-transfers")
    reported(replica, "same-second-transfers", pb.TRANSACTION_TYPE_DRAWDOWN, 10_000,
             at=REPORTED - timedelta(minutes=10), device="phone-1")
    first = reported(replica, "same-second-transfers", pb.TRANSACTION_TYPE_TRANSFER_OUT, 5_000, at=REPORTED,
                     counterparty="CP-NEW-1")

    second = reported(replica, "same-second-transfers", pb.TRANSACTION_TYPE_TRANSFER_OUT, 5_000, at=REPORTED,
                      counterparty="CP-NEW-2")

    assert flags(first) == []  # half the drawdown moved out
    assert (second.outcome, flags(second)) == (pb.OUTCOME_REVIEW, ["RAPID_MOVEMENT"])  # all of it


def test_an_event_reported_a_microsecond_before_one_recorded_earlier_does_not_see_it(
    open_test_store: OpenStore,
) -> None:
    replica = Replica(open_test_store, SetClock(NOON))
    granted(replica, "backdated")
    reported(replica, "backdated", pb.TRANSACTION_TYPE_DRAWDOWN, 10_000, at=REPORTED, device="phone-1")

    earlier = reported(replica, "backdated", pb.TRANSACTION_TYPE_TRANSFER_OUT, 10_000, at=REPORTED - MICROSECOND,
                       counterparty="CP-NEW-1")

    assert flags(earlier) == []  # no drawdown before it: nothing moved on


def test_a_call_the_server_times_after_an_event_reported_at_its_clocks_time_still_sees_it(
    open_test_store: OpenStore,
) -> None:
    replica = Replica(open_test_store, SetClock(NOON))
    limit = granted(replica, "own-time")
    reported(replica, "own-time", pb.TRANSACTION_TYPE_PASSWORD_CHANGE, at=NOON, device="dev-own-time")

    answer = replica.call("AuthorizeDrawdown", drawdown("own-time", limit * 6 // 10))

    assert answer.meta.decided_at.ToDatetime(tzinfo=UTC) == NOON + MICROSECOND  # after the event, as before
    assert [flag.code for flag in answer.fraud_flags] == ["ATO_RECENT_CREDENTIAL_CHANGE"]
