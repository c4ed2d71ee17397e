"""Every statement a request runs is answered from an index, in index order, so latency does not grow with
the ledger (1M drawdowns, 10M events): checked on the real query plans, not by timing."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from service.app.ports import Store
from service.domain.model import EventType
from service.storage.ledger import Params, SqlUnitOfWork
from tests.storage.records import T0, USER, a_decision, a_drawdown, a_line, an_event


def test_no_statement_of_the_ledger_scans_or_sorts_a_table(store: Store, dialect: str) -> None:
    with store.unit_of_work() as uow:
        assert isinstance(uow, SqlUnitOfWork)
        statements: list[tuple[str, Params]] = []
        originals = _record_statements(uow, statements)

        drawdown = a_drawdown()
        uow.get_credit_line(USER, for_update=True)
        uow.save_credit_line(a_line())
        uow.draw_down(drawdown)
        uow.get_drawdown(USER, drawdown.drawdown_id)
        uow.open_drawdowns(USER)
        uow.open_drawdowns(USER, created_before=T0)
        uow.repay(USER, drawdown.drawdown_id, 100, T0)
        uow.append_event(an_event(EventType.TRANSFER_OUT, device_id="dev-1", counterparty_id="cp-1"))
        uow.history_summary(USER, T0, device_id="dev-1", counterparty_id="cp-1")
        uow.find_decision("req-1")
        uow.save_decision(a_decision("req-1"))
        uow.get_decision("dec_1")
        uow.list_decisions(user_key=USER, since=T0, limit=10)
        uow.list_decisions(user_key=None, since=T0, limit=10)

        slow = [
            (sql, plan)
            for sql, params in statements
            if (plan := _plan(originals, dialect, sql, params)) and _scans_or_sorts(dialect, plan)
        ]

    assert slow == []


def _record_statements(uow: SqlUnitOfWork, statements: list[tuple[str, Params]]) -> dict[str, Callable[..., Any]]:
    originals: dict[str, Callable[..., Any]] = {}
    for name in ("fetch_one", "fetch_all", "execute"):
        original = getattr(uow, name)
        originals[name] = original

        def recording(sql: str, params: Params, _original: Callable[..., Any] = original) -> Any:
            statements.append((sql, params))
            return _original(sql, params)

        setattr(uow, name, recording)
    return originals


def _plan(originals: dict[str, Callable[..., Any]], dialect: str, sql: str, params: Params) -> str:
    fetch_all = originals["fetch_all"]
    if dialect == "sqlite":
        return "\n".join(row[3] for row in fetch_all(f"EXPLAIN QUERY PLAN {sql}", params))
    # The tables are tiny here; discourage scans and sorts so that the plan shows whether an index serves.
    originals["execute"]("SET LOCAL enable_seqscan = off", {})
    originals["execute"]("SET LOCAL enable_sort = off", {})
    return "\n".join(row[0] for row in fetch_all(f"EXPLAIN {sql}", params))


def _scans_or_sorts(dialect: str, plan: str) -> bool:
    if dialect == "sqlite":
        return any(line.startswith("SCAN ") or "TEMP B-TREE" in line for line in plan.splitlines())
    return "Seq Scan" in plan or "Sort" in plan


def test_the_history_summary_of_a_user_is_read_from_the_indexes_alone(store: Store, dialect: str) -> None:
    """A busy user's day of events costs index entries, never a visit to the table per event; the device's and the
    counterparty's look-ups in the same statement, one index entry each."""
    with store.unit_of_work() as uow:
        assert isinstance(uow, SqlUnitOfWork)
        statements: list[tuple[str, Params]] = []
        originals = _record_statements(uow, statements)
        uow.history_summary(USER, T0, device_id="dev-1", counterparty_id="cp-1")
        [(sql, params)] = statements
        plan = _plan(originals, dialect, sql, params)
    if dialect == "sqlite":
        accesses = [line for line in plan.splitlines() if line.startswith(("SEARCH", "SCAN"))]
        assert len(accesses) == 3 and all("USING COVERING INDEX" in line for line in accesses), plan
    else:
        assert plan.count("Scan") == plan.count("Index Only Scan") == 3, plan
