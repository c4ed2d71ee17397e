"""What an auditor reads back from the decision record, on both stores: a period (`since` and `until`), the decision
of a request_id, the decisions of a drawdown, and an export read a page at a time."""

from __future__ import annotations

import json
from datetime import datetime

import pytest

from service.app.ports import DecisionRecord, Store
from service.storage import ledger
from service.storage.ledger import SqlUnitOfWork
from tests.storage.records import T0, USER, a_decision, a_drawdown, a_line, minutes
from tests.storage.test_store_indexes import _plan, _record_statements, _scans_or_sorts

OTHER = "uk_other"


def saved(store: Store, *records: DecisionRecord) -> list[DecisionRecord]:
    with store.unit_of_work() as uow:
        for record in records:
            uow.save_decision(record)
    return list(records)


def a_repayment_decision(drawdown_id: str, *, at: datetime, user_key: str = USER) -> DecisionRecord:
    record = a_decision(f"req-repay-{drawdown_id}-{at}", user_key=user_key, at=at, rpc="RecordRepayment")
    return record._replace(request_json=json.dumps({"user": user_key, "drawdown_id": drawdown_id, "amount": 100}))


def test_list_decisions_until_a_time_gives_those_before_it_and_with_since_a_period(store: Store) -> None:
    mine = saved(store, *[a_decision(f"req-{n}", at=T0 + minutes(n)) for n in range(5)])

    assert store.list_decisions(until=T0 + minutes(2)) == [mine[1], mine[0]]
    assert store.list_decisions(user_key=USER, since=T0 + minutes(1), until=T0 + minutes(4)) == mine[3:0:-1]
    assert store.list_decisions(since=T0 + minutes(1), until=T0 + minutes(4), limit=1) == [mine[3]]
    assert store.list_decisions(user_key=OTHER, until=T0 + minutes(9)) == []


def test_the_store_finds_the_decision_of_a_request_id(store: Store) -> None:
    [record] = saved(store, a_decision("req-complained-of"))

    assert store.find_decision("req-complained-of") == record
    assert store.find_decision("req-never-sent") is None


def test_iter_decisions_gives_every_match_oldest_first_across_pages(
    store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(ledger, "DECISIONS_PAGE", 2)
    # Three decisions at one instant: a page that ends among them must not lose or repeat any.
    at_once = [a_decision(f"req-same-{n}", at=T0 + minutes(1)) for n in range(3)]
    mine = saved(store, a_decision("req-0", at=T0), *at_once, a_decision("req-4", at=T0 + minutes(2)))
    saved(store, a_decision("req-other", user_key=OTHER, at=T0 + minutes(1)))
    oldest_first = sorted(mine, key=lambda record: (record.decided_at, record.decision_id))

    assert list(store.iter_decisions(user_key=USER)) == oldest_first
    assert len(list(store.iter_decisions())) == 6
    assert list(store.iter_decisions(user_key=USER, since=T0 + minutes(1), until=T0 + minutes(2))) == oldest_first[1:4]
    assert list(store.iter_decisions(user_key="uk_nobody")) == []


def test_iter_decisions_reads_a_page_at_a_time(store: Store, monkeypatch: pytest.MonkeyPatch) -> None:
    """Memory stays bounded: the first decision comes before the later pages are read."""
    monkeypatch.setattr(ledger, "DECISIONS_PAGE", 2)
    first, *_ = saved(store, *[a_decision(f"req-{n}", at=T0 + minutes(n)) for n in range(5)])
    decisions = store.iter_decisions()

    assert next(decisions) == first
    saved(store, a_decision("req-later", at=T0 + minutes(9)))  # a write between pages: no transaction is held
    assert len(list(decisions)) == 5


def test_the_decisions_of_a_drawdown_are_the_one_that_made_it_and_its_repayments(store: Store) -> None:
    drawdown, other = a_drawdown(at=T0), a_drawdown(at=T0 + minutes(1))
    with store.unit_of_work() as uow:
        uow.save_credit_line(a_line())
        uow.draw_down(drawdown)
        uow.draw_down(other)
        uow.repay(USER, drawdown.drawdown_id, 100, T0 + minutes(2))
        uow.repay(USER, other.drawdown_id, 100, T0 + minutes(3))
        uow.repay(USER, drawdown.drawdown_id, 100, T0 + minutes(4))
    made = a_decision("req-made", at=T0)
    repayments = [a_repayment_decision(drawdown.drawdown_id, at=T0 + minutes(n)) for n in (2, 4)]
    saved(
        store,
        made,
        *repayments,
        a_decision("req-made-other", at=T0 + minutes(1)),
        a_repayment_decision(other.drawdown_id, at=T0 + minutes(3)),
        a_decision("req-read", at=T0 + minutes(2), rpc="GetCreditLine"),  # at a repayment's time, not one
        a_decision("req-someone-else", user_key=OTHER, at=T0),  # at the drawdown's time, another user's
    )

    assert store.drawdown_decisions(drawdown.drawdown_id) == [made, *repayments]
    assert store.drawdown_decisions("dd_unknown") == []


def test_the_auditors_reads_are_answered_from_indexes(store: Store, dialect: str) -> None:
    """No new index: a period, an export's page and a drawdown's decisions use those the ledger has."""
    with store.unit_of_work() as uow:
        assert isinstance(uow, SqlUnitOfWork)
        statements: list[tuple[str, ledger.Params]] = []
        originals = _record_statements(uow, statements)

        uow.list_decisions(user_key=USER, since=T0, until=T0 + minutes(1), limit=10)
        uow.list_decisions(user_key=None, since=None, until=T0, limit=10)
        uow.decisions_page(user_key=USER, since=T0, until=T0 + minutes(1), after=(T0, "dec_1"), limit=10)
        uow.decisions_page(user_key=None, since=None, until=None, after=(T0, "dec_1"), limit=10)
        uow.decisions_page(user_key=None, since=None, until=T0, after=None, limit=10)
        uow.drawdown_decisions("dd_1")

        slow = [
            (sql, plan)
            for sql, params in statements
            if (plan := _plan(originals, dialect, sql, params)) and _scans_or_sorts(dialect, plan)
        ]

    assert slow == []
