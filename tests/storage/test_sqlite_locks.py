"""The SQLite store's writer and per-user locks: held per connection, across threads as across processes."""

from __future__ import annotations

import sqlite3
import threading
import time
from pathlib import Path

import pytest

from service.domain.errors import StoreUnavailable
from service.domain.fraud_features import HistorySummary
from service.domain.model import EventType
from service.storage.sqlite import SqliteStore
from service.storage.sqlite_locks import LockFile
from tests.storage.records import T0, USER, a_line, an_event, minutes

LATER = T0 + minutes(1)


def test_a_locked_user_makes_another_handle_wait_until_it_is_released(tmp_path: Path) -> None:
    first, second = LockFile(str(tmp_path / "locks"), timeout=2), LockFile(str(tmp_path / "locks"), timeout=2)
    first.lock_user("u-1")
    second.lock_user("u-2")  # another user is not held up
    got_it = threading.Event()

    def take() -> None:
        second.lock_user("u-1")
        got_it.set()

    waiter = threading.Thread(target=take)
    waiter.start()
    assert not got_it.wait(0.2)
    first.release_all()
    assert got_it.wait(2)
    waiter.join()
    second.release_all()


def test_release_all_frees_the_writer_and_every_user_a_handle_holds_and_nothing_of_another_handle(
    tmp_path: Path,
) -> None:
    path = str(tmp_path / "locks")
    holder, bystander, other = LockFile(path, timeout=2), LockFile(path, timeout=2), LockFile(path, timeout=0.05)
    bystander.lock_user("u-9")
    holder.lock_user("u-1")
    holder.lock_user("u-2")
    holder.lock_writer()
    holder.release_all()
    other.lock_writer()  # each free at once
    assert other.try_lock_user("u-1") and other.try_lock_user("u-2")
    assert not other.try_lock_user("u-9")  # still the bystander's
    for handle in (other, bystander):
        handle.release_all()


def test_waiting_for_a_lock_longer_than_the_timeout_is_store_unavailable(tmp_path: Path) -> None:
    holder, waiter = LockFile(str(tmp_path / "locks"), timeout=2), LockFile(str(tmp_path / "locks"), timeout=0.2)
    holder.lock_writer()
    started = time.monotonic()
    with pytest.raises(StoreUnavailable, match="write lock"):
        waiter.lock_writer()
    assert 0.15 < time.monotonic() - started < 1.5
    holder.release_all()
    waiter.lock_writer()  # free again
    waiter.release_all()


def test_a_background_waiter_gets_the_writer_lock_between_a_busy_threads_transactions(tmp_path: Path) -> None:
    busy, background = LockFile(str(tmp_path / "locks"), timeout=2), LockFile(str(tmp_path / "locks"), timeout=2)
    got_it = threading.Event()

    def wait_then_note() -> None:
        background.wait_for_writer()
        got_it.set()
        background.release_all()

    waiter = threading.Thread(target=wait_then_note)
    busy.lock_writer()
    waiter.start()
    transactions = 0
    while not got_it.is_set() and transactions < 2_000:
        busy.release_all()
        work_until = time.perf_counter() + 100e-6  # a decision's Python work between two transactions
        while time.perf_counter() < work_until:
            pass
        busy.lock_writer()
        time.sleep(0)  # its writes, which SQLite makes without the interpreter lock
        transactions += 1
    busy.release_all()
    waiter.join(2)
    assert got_it.is_set() and transactions < 5  # polling instead: hundreds, or never


def test_a_unit_of_work_holding_a_users_line_keeps_other_units_from_reading_it_until_it_commits(
    tmp_path: Path,
) -> None:
    store = SqliteStore(str(tmp_path / "ledger.db"), timeout=2)
    with store.unit_of_work() as uow:
        uow.get_credit_line(USER, for_update=True)
        uow.save_credit_line(a_line(limit=5_000_00))
    seen: list[int] = []

    def read_after_the_holder() -> None:
        with store.unit_of_work() as other:
            before = other.get_credit_line(USER)  # a snapshot from before the holder's commit ...
            line = other.get_credit_line(USER, for_update=True)  # ... which the lock must not keep
            assert before is not None and line is not None
            seen.extend([before.credit_limit, line.credit_limit])

    with store.unit_of_work() as uow:
        uow.get_credit_line(USER, for_update=True)
        reader = threading.Thread(target=read_after_the_holder)
        reader.start()
        reader.join(0.2)
        assert reader.is_alive() and seen == []  # waiting for the lock
        uow.save_credit_line(a_line(limit=9_000_00))
    reader.join(2)
    assert seen == [5_000_00, 9_000_00]  # once locked, it reads what the holder committed
    store.close()


def test_a_write_nobody_reads_takes_the_writer_lock_only_at_the_transactions_next_statement(tmp_path: Path) -> None:
    store = SqliteStore(str(tmp_path / "ledger.db"), timeout=2)
    other = LockFile(str(tmp_path / "ledger.db-locks"), timeout=0.2)
    event = an_event(EventType.PASSWORD_CHANGE, at=T0)
    with store.unit_of_work() as uow:
        uow.append_event(event)
        other.lock_writer()  # free: the event is not written yet (the response and record are made meanwhile)
        other.release_all()
        assert uow.history_summary(USER, LATER).credential_changed_last_24h  # the read runs the write first
        with pytest.raises(StoreUnavailable):
            other.lock_writer()  # held now, until the commit
    other.lock_writer()
    other.release_all()
    with store.unit_of_work() as uow:
        assert uow.history_summary(USER, LATER).credential_changed_last_24h
    store.close()


def test_a_held_write_that_fails_at_the_commit_rolls_back_the_whole_unit_of_work(tmp_path: Path) -> None:
    store = SqliteStore(str(tmp_path / "ledger.db"), timeout=2)
    with pytest.raises(sqlite3.IntegrityError, match="CHECK"), store.unit_of_work() as uow:
        uow.save_credit_line(a_line(limit=5_000_00))
        uow.append_event(an_event(EventType.DRAWDOWN, at=T0, amount=1_000))
        uow.append_event(an_event(at=T0, amount=-1))  # refused by the table's CHECK when the writes run
    with store.unit_of_work() as uow:
        assert uow.get_credit_line(USER) is None
        assert uow.history_summary(USER, LATER) == HistorySummary()
    store.close()
