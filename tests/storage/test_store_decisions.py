"""The decision record: append-only, one decision per request_id, readable by auditors."""

from __future__ import annotations

import io
import threading
from concurrent.futures import ThreadPoolExecutor

import pytest

from service.app.ports import Store
from service.audit import Filters, list_decisions
from service.domain.errors import DuplicateRequest
from tests.storage.conftest import raw_connection
from tests.storage.records import T0, USER, a_decision, a_drawdown, a_line, minutes


def test_a_saved_decision_is_found_by_request_id_and_by_decision_id(store: Store) -> None:
    record = a_decision("req-1")
    with store.unit_of_work() as uow:
        uow.save_decision(record)

    with store.unit_of_work() as uow:
        assert uow.find_decision("req-1") == record
        assert uow.find_decision("req-2") is None
    assert store.get_decision(record.decision_id) == record
    assert store.get_decision("dec_unknown") is None


def test_a_duplicate_request_id_raises_and_leaves_the_first_record_intact(store: Store) -> None:
    first = a_decision("req-1")
    with store.unit_of_work() as uow:
        uow.save_credit_line(a_line())
        uow.save_decision(first)
    second = a_decision("req-1")._replace(response=b"another answer", outcome="DECLINE")

    with pytest.raises(DuplicateRequest) as raised, store.unit_of_work() as uow:
        uow.draw_down(a_drawdown(amount=5_000))
        uow.save_decision(second)

    assert raised.value.request_id == "req-1"
    with store.unit_of_work() as uow:
        assert uow.find_decision("req-1") == first
        line = uow.get_credit_line(USER)
    assert line is not None
    assert line.outstanding_principal == 0  # the drawdown of the duplicate's transaction rolled back
    assert store.get_decision(second.decision_id) is None


def test_the_unit_of_work_stays_usable_after_a_duplicate_request(store: Store) -> None:
    first = a_decision("req-1")
    with store.unit_of_work() as uow:
        uow.save_decision(first)

    with store.unit_of_work() as uow:
        with pytest.raises(DuplicateRequest):
            uow.save_decision(a_decision("req-1"))
            uow.find_decision("req-1")  # SQLite holds the insert back: the duplicate surfaces at the next statement
        assert uow.find_decision("req-1") == first


def test_concurrent_saves_of_one_request_id_keep_exactly_one(store: Store) -> None:
    threads = 8
    start = threading.Barrier(threads)

    def save(_: int) -> bool:
        start.wait()
        try:
            with store.unit_of_work() as uow:
                uow.save_decision(a_decision("req-raced"))
        except DuplicateRequest:
            return False
        return True

    with ThreadPoolExecutor(threads) as pool:
        saved = sum(pool.map(save, range(threads)))

    assert saved == 1
    assert len(store.list_decisions(user_key=USER)) == 1


def test_decisions_without_a_request_id_are_all_kept(store: Store) -> None:
    with store.unit_of_work() as uow:
        uow.save_decision(a_decision(None, rpc="GetCreditLine"))
        uow.save_decision(a_decision(None, rpc="GetCreditLine"))

    assert len(store.list_decisions()) == 2


def test_list_decisions_gives_newest_first_filtered_by_user_and_time(store: Store) -> None:
    mine = [a_decision(f"req-{n}", at=T0 + minutes(n)) for n in range(5)]
    theirs = a_decision("req-other", user_key="uk_other", at=T0 + minutes(2))
    with store.unit_of_work() as uow:
        for record in [*mine, theirs]:
            uow.save_decision(record)

    assert store.list_decisions(user_key=USER) == mine[::-1]
    assert store.list_decisions(user_key=USER, since=T0 + minutes(3)) == [mine[4], mine[3]]
    assert store.list_decisions(limit=2) == [mine[4], mine[3]]
    assert store.list_decisions(since=T0 + minutes(2)) == [
        mine[4],
        mine[3],
        *sorted([mine[2], theirs], key=lambda record: record.decision_id, reverse=True),
    ]
    assert store.list_decisions(user_key="uk_nobody") == []


def test_stored_decisions_cannot_be_changed_or_deleted(store: Store, database_url: str) -> None:
    record = a_decision("req-1")
    with store.unit_of_work() as uow:
        uow.save_decision(record)

    with raw_connection(database_url) as connection:
        for statement in ("UPDATE decisions SET outcome = 'DECLINE'", "DELETE FROM decisions"):
            with pytest.raises(Exception, match="append-only"):
                connection.execute(statement)

    assert store.get_decision(record.decision_id) == record


@pytest.mark.parametrize(("limit", "says_more"), [(2, True), (3, False)])
def test_an_auditors_listing_says_when_older_decisions_match_than_it_lists(
    store: Store, limit: int, says_more: bool
) -> None:
    """`decisiond decisions list --limit N` lists the newest N: an auditor must not take them for all there are."""
    mine = [a_decision(f"req-{n}", at=T0 + minutes(n)) for n in range(3)]
    with store.unit_of_work() as uow:
        for record in mine:
            uow.save_decision(record)
    out = io.StringIO()

    assert list_decisions(store, out, Filters(), limit=limit) == 0

    lines = out.getvalue().splitlines()
    assert [line.split()[1] for line in lines[:limit]] == [r.decision_id for r in mine[::-1][:limit]]
    notice = f"older decisions match too: only the newest {limit} are listed; raise --limit or give a later --since"
    assert lines[limit:] == ([notice] if says_more else [])
