"""Group commit on SQLite: the units of work of one batch on a serving loop commit together, and each call
still gets exactly the outcome it would have had alone (service/storage/sqlite_group.py)."""

from __future__ import annotations

import asyncio
import sqlite3
import threading
from collections.abc import Callable, Iterator, Sequence
from dataclasses import replace
from pathlib import Path

import pytest

from service.api.runners import BatchingLoopRunner
from service.app.ports import Store
from service.domain.errors import DuplicateRequest, StoreUnavailable
from service.domain.model import CreditLine, EventType
from service.storage import open_store
from service.storage.sqlite_locks import LockFile
from tests.storage.records import a_decision, a_drawdown, a_line, an_event


@pytest.fixture
def database(tmp_path: Path) -> Path:
    return tmp_path / "ledger.db"


@pytest.fixture
def store(database: Path) -> Iterator[Store]:
    opened = open_store(f"sqlite:///{database}", timeout=2.0)
    yield opened
    opened.close()


def in_one_batch(works: Sequence[Callable[[], object]]) -> list[object]:
    """Run the works as one batch on a serving loop, as the server runs the calls that arrive together; each
    one's result or exception."""

    async def scenario() -> list[object]:
        runner = BatchingLoopRunner(max_wait_s=0.05)
        answers = [runner.run(work) for work in works]  # all queued before the loop turns: one batch
        return await asyncio.gather(*answers, return_exceptions=True)

    return asyncio.run(scenario())


def stored_request_ids(database: Path) -> set[str]:
    with sqlite3.connect(database) as connection:
        return {row[0] for row in connection.execute("SELECT request_id FROM decisions")}


def saving(store: Store, request_id: str) -> Callable[[], str]:
    def work() -> str:
        with store.unit_of_work() as uow:
            uow.save_decision(a_decision(request_id))
        return request_id

    return work


def drawing_1_000(store: Store, user: str, *, first: Callable[[], object] = lambda: None) -> Callable[[], int]:
    """A call that runs `first`, then locks the user's line and draws 1,000 down; the outstanding principal after."""

    def work() -> int:
        first()
        with store.unit_of_work() as uow:
            uow.get_credit_line(user, for_update=True)
            after = uow.draw_down(a_drawdown(user, amount=1_000))
        assert after is not None
        return after.outstanding_principal

    return work


def wal_bytes(database: Path) -> int:
    return database.with_name(database.name + "-wal").stat().st_size


def test_no_call_of_a_batch_answers_before_its_writes_are_in_the_database(store: Store, database: Path) -> None:
    seen_at_answer: dict[str, bool] = {}

    def saving_then_looking(request_id: str) -> Callable[[], str]:
        def work() -> str:
            saving(store, request_id)()
            # The call goes on to answer only now: its decision must be in the database, for anyone to read.
            seen_at_answer[request_id] = request_id in stored_request_ids(database)
            return request_id

        return work

    assert in_one_batch([saving_then_looking(f"req-{n}") for n in range(5)]) == [f"req-{n}" for n in range(5)]

    assert seen_at_answer == {f"req-{n}": True for n in range(5)}
    assert stored_request_ids(database) == {f"req-{n}" for n in range(5)}


def test_a_batch_commits_once_writing_each_page_it_changed_once(tmp_path: Path) -> None:
    grown = {}
    for how in ("alone", "batched"):
        database = tmp_path / f"{how}.db"
        store = open_store(f"sqlite:///{database}")
        try:
            saving(store, "req-first")()  # the file and its log exist
            before = wal_bytes(database)
            works = [saving(store, f"req-{n}") for n in range(8)]
            if how == "alone":
                for work in works:
                    work()  # off the serving loop: each unit of work commits by itself
            else:
                in_one_batch(works)
            grown[how] = wal_bytes(database) - before
        finally:
            store.close()

    # Each decision changes the same few pages (the table's last leaf, its indexes'): eight commits log them
    # eight times, one commit once.
    assert grown["batched"] * 3 < grown["alone"]


def test_a_batch_whose_writes_all_succeed_commits_them_without_savepoints(
    database: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Inside a savepoint SQLite first copies every page a call changes into its sub-journal, which spills to a
    # temporary file beyond 64 KiB: a server wrote 44-47 times per AuthorizeDrawdown with a savepoint per call,
    # 28-32 without. Savepoints are for the batch that has a failing call (the test after this one).
    statements: list[str] = []
    connect = sqlite3.connect

    def traced(*args: object, **kwargs: object) -> sqlite3.Connection:
        connection = connect(*args, **kwargs)  # type: ignore[arg-type]
        connection.set_trace_callback(statements.append)
        return connection

    monkeypatch.setattr(sqlite3, "connect", traced)
    store = open_store(f"sqlite:///{database}")
    try:
        in_one_batch([saving(store, f"req-{n}") for n in range(8)])
    finally:
        store.close()

    assert stored_request_ids(database) == {f"req-{n}" for n in range(8)}
    assert [statement for statement in statements if "SAVEPOINT" in statement.upper()] == []


def test_a_duplicate_in_a_batch_fails_alone_and_its_other_writes_roll_back(store: Store, database: Path) -> None:
    with store.unit_of_work() as uow:
        uow.save_decision(a_decision("req-0"))

    def saving(request_id: str, *, with_event: str) -> Callable[[], str]:
        def work() -> str:
            with store.unit_of_work() as uow:
                uow.append_event(replace(an_event(EventType.LOGIN), event_id=with_event))
                uow.save_decision(a_decision(request_id))
            return request_id

        return work

    answers = in_one_batch(
        [saving("req-1", with_event="ev_1"), saving("req-0", with_event="ev_dup"), saving("req-2", with_event="ev_2")]
    )

    assert answers[0] == "req-1" and answers[2] == "req-2"
    assert isinstance(answers[1], DuplicateRequest) and answers[1].request_id == "req-0"
    assert stored_request_ids(database) == {"req-0", "req-1", "req-2"}
    with sqlite3.connect(database) as connection:
        events = {row[0] for row in connection.execute("SELECT event_id FROM account_events")}
    assert events == {"ev_1", "ev_2"}


def test_two_drawdowns_of_one_user_in_one_batch_are_decided_one_after_the_other(store: Store) -> None:
    with store.unit_of_work() as uow:
        uow.save_credit_line(a_line(limit=10_000))

    def drawing(amount: int) -> Callable[[], CreditLine | None]:
        def work() -> CreditLine | None:
            with store.unit_of_work() as uow:
                line = uow.get_credit_line(a_line().user_key, for_update=True)
                assert line is not None
                return uow.draw_down(a_drawdown(amount=amount))

        return work

    first, second, third = in_one_batch([drawing(6_000), drawing(6_000), drawing(4_000)])

    assert isinstance(first, CreditLine) and first.outstanding_principal == 6_000
    assert second is None  # it saw the first one's drawdown: 12,000 would exceed the limit
    assert isinstance(third, CreditLine) and third.outstanding_principal == 10_000
    with store.unit_of_work() as uow:
        line = uow.get_credit_line(a_line().user_key)
    assert line is not None and line.outstanding_principal == 10_000


def test_when_the_group_cannot_commit_every_call_of_it_fails_and_nothing_is_stored(
    store: Store, database: Path
) -> None:
    with store.unit_of_work() as uow:
        uow.save_decision(a_decision("req-0"))
    blocker = LockFile(f"{database}-locks", timeout=1.0)
    blocker.lock_writer()  # another process holds the writer lock longer than the store waits for it

    try:
        answers = in_one_batch([saving(store, "req-1"), saving(store, "req-2")])
    finally:
        blocker.release_all()
        blocker.close()

    assert all(isinstance(answer, StoreUnavailable) for answer in answers)
    assert stored_request_ids(database) == {"req-0"}


def test_batches_of_two_processes_waiting_for_each_others_users_do_not_deadlock(database: Path) -> None:
    """Each loop parks a call holding one user, then runs a call for the user the other loop's parked call holds.
    Waiting for that user's lock would wait for a commit that waits in turn: each waits for its own group
    instead, which commits and frees its user."""
    stores = [open_store(f"sqlite:///{database}", timeout=2.0) for _ in range(2)]
    users = ["uk_one", "uk_two"]
    with stores[0].unit_of_work() as uow:
        for user in users:
            uow.save_credit_line(a_line(user, limit=10_000))
    both_parked = threading.Barrier(2, timeout=5)

    results: dict[int, list[object]] = {}

    def serve(index: int) -> None:
        store, mine, theirs = stores[index], users[index], users[1 - index]
        results[index] = in_one_batch(
            # the second waits until the other loop's first call has parked, holding its user
            [drawing_1_000(store, mine), drawing_1_000(store, theirs, first=both_parked.wait)]
        )

    threads = [threading.Thread(target=serve, args=(index,)) for index in range(2)]
    try:
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=30)
    finally:
        for store in stores:
            store.close()

    assert all(not thread.is_alive() for thread in threads)
    assert sorted(results[0] + results[1]) == [1_000, 1_000, 2_000, 2_000]  # type: ignore[type-var]  # StoreUnavailable on a deadlock


def test_a_call_that_waited_for_its_group_does_not_wait_for_a_user_that_a_later_call_of_the_group_holds(
    store: Store, database: Path
) -> None:
    """A call finds its user held by another process while its group holds locks, so it waits for the group; by
    the time a later call of the batch asks for the same user, the other process has let go and that call parks
    holding it. When the group has committed, the waiting call must find that user free: waiting for its lock
    would wait for a call that this loop can only resume once the wait is over (measured under load: both workers
    stopped until the store's timeout, then UNAVAILABLE)."""
    held_elsewhere, other_user = "uk_held", "uk_other"
    with store.unit_of_work() as uow:
        for user in (held_elsewhere, other_user):
            uow.save_credit_line(a_line(user, limit=10_000))
    other_process = LockFile(f"{database}-locks", timeout=1.0)
    other_process.lock_user(held_elsewhere)

    try:
        answers = in_one_batch([
            drawing_1_000(store, other_user),  # parks, holding its user: the group now holds locks
            drawing_1_000(store, held_elsewhere),  # finds the user held by the other process: waits for the group
            drawing_1_000(store, held_elsewhere, first=other_process.release_all),  # takes the user, parks holding it
        ])
    finally:
        other_process.release_all()
        other_process.close()

    assert answers == [1_000, 2_000, 1_000]  # the waiting call ran after the later one, and saw its drawdown


def test_a_locked_line_changed_by_a_writer_that_ignored_the_lock_fails_the_drawdown(
    store: Store, database: Path
) -> None:
    with store.unit_of_work() as uow:
        uow.save_credit_line(a_line(limit=10_000))

    with pytest.raises(StoreUnavailable, match="changed while it was locked"), store.unit_of_work() as uow:
        uow.get_credit_line(a_line().user_key, for_update=True)
        with sqlite3.connect(database, isolation_level=None) as rogue:
            rogue.execute("UPDATE credit_lines SET outstanding_principal = 9000")
        uow.draw_down(a_drawdown(amount=5_000))

    with sqlite3.connect(database) as connection:
        assert connection.execute("SELECT outstanding_principal FROM credit_lines").fetchone() == (9_000,)
        assert connection.execute("SELECT COUNT(*) FROM drawdowns").fetchone() == (0,)


def test_group_commits_keep_the_write_ahead_log_small(store: Store, database: Path) -> None:
    """Checkpoints count units of work, not commits: a group commit writes many units' pages at once."""
    for batch in range(300):
        in_one_batch([saving(store, f"req-{batch}-{n}") for n in range(20)])

    assert len(stored_request_ids(database)) == 6_000
    # Restarted every 1,024 units of work, the log holds about 1,024 units' pages (17 MB here). Counted in
    # commits, it would restart only after 1,024 group commits: here it reached SQLite's own checkpoint in the
    # commit (SAFETY_NET_PAGES), 76 MB.
    assert wal_bytes(database) < 30 * 1_000_000
