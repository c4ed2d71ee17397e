"""The SQLite store's writer and per-user locks: held per connection, across threads as across processes."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import pytest

from service.domain.errors import StoreUnavailable
from service.storage.sqlite import SqliteStore
from service.storage.sqlite_locks import LockFile
from tests.storage.records import USER, a_line


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
