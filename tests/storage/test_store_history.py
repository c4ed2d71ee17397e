"""A user's account history, as fraud features read it."""

from __future__ import annotations

import random
from datetime import datetime, timedelta

import pytest

from service.app.ports import Store
from service.domain.fraud_features import CREDENTIAL_CHANGES, DAY, HOUR, HistorySummary
from service.domain.model import EventType, HistoryEvent
from tests.storage.records import T0, USER, an_event, minutes

DRAWDOWN, TRANSFER_OUT = EventType.DRAWDOWN, EventType.TRANSFER_OUT
MICROSECOND = timedelta(microseconds=1)


def test_history_summary_sums_the_hours_drawdowns_and_transfers_and_the_days_credential_changes(store: Store) -> None:
    at = T0 + HOUR * 30
    events = [
        an_event(DRAWDOWN, at=at - HOUR, amount=1_000),  # exactly an hour before: counted
        an_event(DRAWDOWN, at=at - HOUR + MICROSECOND, amount=2_000),
        an_event(DRAWDOWN, at=at, amount=4_000),  # at the same instant, recorded before the event decided: counted
        an_event(DRAWDOWN, at=at - HOUR - MICROSECOND, amount=8_000),  # just over an hour: not counted
        an_event(TRANSFER_OUT, at=at - minutes(30), amount=400_000, counterparty_id="cp-1"),
        an_event(TRANSFER_OUT, at=at - minutes(90), amount=600_000),  # outside the hour
        an_event(EventType.PAYMENT, at=at - minutes(5), amount=70_000),  # neither a drawdown nor a transfer out
        an_event(EventType.LOGIN, at=at - minutes(10)),  # not a credential change
        an_event(DRAWDOWN, user_key="uk_other", at=at - minutes(1), amount=16_000),  # someone else's
        an_event(EventType.PHONE_CHANGE, user_key="uk_other", at=at - minutes(1)),
    ]
    with store.unit_of_work() as uow:
        for event in events:
            uow.append_event(event)

    with store.unit_of_work() as uow:
        assert uow.history_summary(USER, at) == HistorySummary(
            drawdowns_last_hour=3,
            drawdown_amount_last_hour=7_000,
            transfer_out_last_hour=400_000,
            credential_changed_last_24h=False,
        )
        assert uow.history_summary(USER, T0) == HistorySummary()  # nothing before
        assert uow.history_summary("uk_nobody", at) == HistorySummary()


@pytest.mark.parametrize("change", [EventType.PASSWORD_CHANGE, EventType.PHONE_CHANGE])
@pytest.mark.parametrize(
    ("ago", "changed"), [(DAY, True), (DAY - MICROSECOND, True), (DAY + MICROSECOND, False), (timedelta(0), True)]
)
def test_a_credential_change_counts_within_the_24_hours_before(
    store: Store, change: EventType, ago: timedelta, changed: bool
) -> None:
    at = T0 + DAY * 2
    with store.unit_of_work() as uow:
        uow.append_event(an_event(change, at=at - ago))
    with store.unit_of_work() as uow:
        assert uow.history_summary(USER, at).credential_changed_last_24h is changed


def test_history_summary_agrees_with_the_windows_counted_event_by_event(store: Store) -> None:
    """Many events of every kind around the window edges, from many devices to many counterparties, summed and
    looked up at many moments, against a plain count."""
    rng = random.Random(20261204)
    kinds = list(EventType)
    # many devices and counterparties, each in a few events: some are asked about at their first appearance
    devices, counterparties = ["", *(f"dev-{i}" for i in range(60))], ["", *(f"cp-{i}" for i in range(60))]
    events = [
        an_event(
            rng.choice(kinds),
            user_key=rng.choice([USER, "uk_other"]),
            at=T0 + timedelta(minutes=rng.randrange(0, 40 * 60), microseconds=rng.choice([0, 1, 999_999])),
            amount=rng.randrange(0, 10**12),
            device_id=rng.choice(devices),
            counterparty_id=rng.choice(counterparties),
        )
        for _ in range(300)
    ]
    with store.unit_of_work() as uow:
        for event in events:
            uow.append_event(event)
    def asked() -> tuple[str, str]:
        return rng.choice([*devices, "dev-unknown"]), rng.choice([*counterparties, "cp-unknown"])

    questions = [(T0 + timedelta(minutes=rng.randrange(0, 42 * 60)), *asked()) for _ in range(25)]
    # exactly at an event, about its own device and counterparty: recorded at that instant, it counts as before it
    questions += [(e.occurred_at, e.device_id, e.counterparty_id) for e in rng.sample(events, 40)]
    questions += [(e.occurred_at + HOUR, *asked()) for e in rng.sample(events, 10)]  # an event at the hour's start
    mine = [e for e in events if e.user_key == USER]
    with store.unit_of_work() as uow:
        for at, device, counterparty in questions:
            summary = uow.history_summary(USER, at, device_id=device, counterparty_id=counterparty)
            assert summary == _counted(mine, at, device, counterparty), (at, device, counterparty)


def _counted(history: list[HistoryEvent], at: datetime, device_id: str, counterparty_id: str) -> HistorySummary:
    last_hour = [e for e in history if at - HOUR <= e.occurred_at <= at]
    drawdowns = [e.amount for e in last_hour if e.event_type is DRAWDOWN]
    naming = [e.occurred_at for e in history if counterparty_id and e.counterparty_id == counterparty_id]
    return HistorySummary(
        drawdowns_last_hour=len(drawdowns),
        drawdown_amount_last_hour=sum(drawdowns),
        transfer_out_last_hour=sum(e.amount for e in last_hour if e.event_type is TRANSFER_OUT),
        credential_changed_last_24h=any(
            e.event_type in CREDENTIAL_CHANGES for e in history if at - DAY <= e.occurred_at <= at
        ),
        device_seen_before=bool(device_id) and any(e.device_id == device_id and e.occurred_at <= at for e in history),
        counterparty_first_seen=min(naming, default=None),
    )


def test_a_device_is_seen_only_through_the_users_own_earlier_events(store: Store) -> None:
    with store.unit_of_work() as uow:
        uow.append_event(an_event(at=T0, device_id="dev-1"))
        uow.append_event(an_event(user_key="uk_other", at=T0, device_id="dev-2"))
        uow.append_event(an_event(at=T0 + minutes(5)))  # no device

    def seen(device_id: str, at: datetime) -> bool:
        return uow.history_summary(USER, at, device_id=device_id).device_seen_before

    with store.unit_of_work() as uow:
        assert seen("dev-1", T0 + minutes(1))
        assert seen("dev-1", T0 + DAY * 400)  # over the whole history, not a window
        assert seen("dev-1", T0)  # recorded at the same instant: before it
        assert not seen("dev-1", T0 - MICROSECOND)
        assert not seen("dev-2", T0 + minutes(1))
        assert not seen("", T0 + minutes(10))  # an empty id names no device


def test_a_counterparty_is_first_seen_at_its_earliest_mention(store: Store) -> None:
    with store.unit_of_work() as uow:
        uow.append_event(an_event(EventType.TRANSFER_OUT, at=T0 + minutes(20), counterparty_id="cp-9"))
        uow.append_event(an_event(EventType.PAYMENT, at=T0 + minutes(5), counterparty_id="cp-9"))
        uow.append_event(an_event(EventType.TRANSFER_OUT, user_key="uk_other", at=T0, counterparty_id="cp-9"))
        uow.append_event(an_event(at=T0))

    def first_seen(counterparty_id: str) -> datetime | None:
        return uow.history_summary(USER, T0 + DAY * 400, counterparty_id=counterparty_id).counterparty_first_seen

    with store.unit_of_work() as uow:
        assert first_seen("cp-9") == T0 + minutes(5)
        assert first_seen("cp-unknown") is None
        assert first_seen("") is None


def test_the_device_and_counterparty_answers_come_with_the_sums_of_the_same_read(store: Store) -> None:
    at = T0 + HOUR * 30
    with store.unit_of_work() as uow:
        uow.append_event(an_event(DRAWDOWN, at=at - minutes(10), device_id="dev-1", amount=70_000))
        uow.append_event(an_event(TRANSFER_OUT, at=at - minutes(5), counterparty_id="cp-1", amount=20_000))

    with store.unit_of_work() as uow:
        assert uow.history_summary(USER, at, device_id="dev-1", counterparty_id="cp-1") == HistorySummary(
            drawdowns_last_hour=1,
            drawdown_amount_last_hour=70_000,
            transfer_out_last_hour=20_000,
            device_seen_before=True,
            counterparty_first_seen=at - minutes(5),
        )
        assert uow.history_summary(USER, at, device_id="dev-9", counterparty_id="cp-9") == HistorySummary(
            drawdowns_last_hour=1, drawdown_amount_last_hour=70_000, transfer_out_last_hour=20_000
        )


def test_history_summary_sums_exactly_beyond_64_bits(store: Store) -> None:
    """Twelve drawdowns and transfers of 10^18 fen each: sums past 2^63 stay exact integers (SQLite's own sum of
    64-bit integers would overflow)."""
    at = T0 + HOUR
    huge = 10**18 + 123_456_789
    with store.unit_of_work() as uow:
        for minute in range(12):
            uow.append_event(an_event(DRAWDOWN, at=T0 + minutes(minute), amount=huge))
            uow.append_event(an_event(TRANSFER_OUT, at=T0 + minutes(minute), amount=huge - 1))
    with store.unit_of_work() as uow:
        summary = uow.history_summary(USER, at)
    assert summary.drawdown_amount_last_hour == 12 * huge > 2**63
    assert summary.transfer_out_last_hour == 12 * (huge - 1)
    assert summary.drawdowns_last_hour == 12
