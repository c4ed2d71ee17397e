"""A user's account history, as fraud features read it."""

from __future__ import annotations

from service.app.ports import Store
from service.domain.model import EventType
from tests.storage.records import T0, USER, an_event, minutes


def test_events_since_gives_the_users_events_in_the_window_oldest_first(store: Store) -> None:
    before = an_event(at=T0 - minutes(1))
    at_start = an_event(EventType.PASSWORD_CHANGE, at=T0)
    later = an_event(EventType.DRAWDOWN, at=T0 + minutes(30), amount=500_000, device_id="dev-1")
    latest = an_event(EventType.TRANSFER_OUT, at=T0 + minutes(45), amount=450_000, counterparty_id="cp-9")
    someone_else = an_event(user_key="uk_other", at=T0 + minutes(10))
    with store.unit_of_work() as uow:
        for event in (latest, before, someone_else, later, at_start):
            uow.append_event(event)

    with store.unit_of_work() as uow:
        assert uow.events_since(USER, T0) == [at_start, later, latest]
        assert uow.events_since(USER, T0 + minutes(46)) == []


def test_a_device_is_seen_only_through_the_users_own_earlier_events(store: Store) -> None:
    with store.unit_of_work() as uow:
        uow.append_event(an_event(at=T0, device_id="dev-1"))
        uow.append_event(an_event(user_key="uk_other", at=T0, device_id="dev-2"))
        uow.append_event(an_event(at=T0 + minutes(5)))  # no device

    with store.unit_of_work() as uow:
        assert uow.device_seen(USER, "dev-1", T0 + minutes(1))
        assert not uow.device_seen(USER, "dev-1", T0)  # "before" is strict
        assert not uow.device_seen(USER, "dev-2", T0 + minutes(1))
        assert not uow.device_seen(USER, "", T0 + minutes(10))  # an empty id names no device


def test_a_counterparty_is_first_seen_at_its_earliest_mention(store: Store) -> None:
    with store.unit_of_work() as uow:
        uow.append_event(an_event(EventType.TRANSFER_OUT, at=T0 + minutes(20), counterparty_id="cp-9"))
        uow.append_event(an_event(EventType.PAYMENT, at=T0 + minutes(5), counterparty_id="cp-9"))
        uow.append_event(an_event(EventType.TRANSFER_OUT, user_key="uk_other", at=T0, counterparty_id="cp-9"))
        uow.append_event(an_event(at=T0))

    with store.unit_of_work() as uow:
        assert uow.counterparty_first_seen(USER, "cp-9") == T0 + minutes(5)
        assert uow.counterparty_first_seen(USER, "cp-unknown") is None
        assert uow.counterparty_first_seen(USER, "") is None
