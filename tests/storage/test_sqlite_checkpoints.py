"""The SQLite store checkpoints its write-ahead log itself, and restarts it, so that the log stays small; the
restarts, which hold up every writer, come no more often than that needs (service/storage/sqlite_checkpoints.py)."""

from __future__ import annotations

import sqlite3
import time
import uuid
from pathlib import Path
from typing import cast

from service.storage.sqlite import SqliteStore
from service.storage.sqlite_checkpoints import (
    CATCH_UP_PASSES,
    EVERY_UNITS,
    FEW_FRAMES,
    LOCKED_EVERY,
    LONG_LOG_PAGES,
    Checkpoints,
)
from service.storage.sqlite_locks import LockFile
from tests.storage.records import a_decision

MB = 1_000_000
RESTART_EVERY = EVERY_UNITS * LOCKED_EVERY  # units of work
A_PASS_S = 0.5  # ample time for the checkpoint thread's pass to finish


def save_decisions(store: SqliteStore, count: int) -> None:
    for _ in range(count):
        with store.unit_of_work() as uow:
            uow.save_decision(a_decision(uuid.uuid4().hex))


def log_restarts(database: Path) -> int:
    """SQLite adds one to the first salt in the log's header each time the log starts again from its beginning."""
    with database.with_name(database.name + "-wal").open("rb") as log:
        return int.from_bytes(log.read(20)[16:20], "big")


def test_the_write_ahead_log_stays_small_over_thousands_of_commits(tmp_path: Path) -> None:
    path = tmp_path / "ledger.db"
    store = SqliteStore(str(path), timeout=3)
    save_decisions(store, 6_000)
    # never restarted, the log would hold every page written since the start: about 100 MB here
    assert (tmp_path / "ledger.db-wal").stat().st_size < 50 * MB
    assert len(store.list_decisions(limit=10_000)) == 6_000
    store.close()


def test_two_processes_sharing_the_log_restart_it_as_rarely_as_one_would(tmp_path: Path) -> None:
    """Each store counts its own units; one that finds the log restarted by the other counts from there."""
    path = tmp_path / "ledger.db"
    stores = [SqliteStore(str(path), timeout=3) for _ in range(2)]  # each its own connections, locks and thread
    try:
        save_decisions(stores[0], (RESTART_EVERY + EVERY_UNITS) // 2)  # out of step, as a server's workers are
        before = log_restarts(path)
        for _ in range(4 * RESTART_EVERY):
            for store in stores:
                save_decisions(store, 1)
        restarts = log_restarts(path) - before
    finally:
        for store in stores:
            store.close()
    # 8,192 units in all: one restart per 2,048 of them, as one store alone restarts the log every 1,024 of its
    # own. Each restarting every 1,024 of its own, regardless of the other, they would restart it 8 times.
    assert 3 <= restarts <= 5


def test_a_restart_a_reader_held_up_is_tried_again_at_the_next_pass(tmp_path: Path) -> None:
    path = tmp_path / "ledger.db"
    store = SqliteStore(str(path), timeout=3)
    try:
        save_decisions(store, RESTART_EVERY - 10)
        before = log_restarts(path)
        reader = sqlite3.connect(path, isolation_level=None)
        reader.execute("BEGIN")
        reader.execute("SELECT COUNT(*) FROM decisions").fetchone()  # a snapshot the log must keep
        save_decisions(store, 20)  # the pass due at RESTART_EVERY units cannot restart the log
        time.sleep(A_PASS_S)
        save_decisions(store, 1)
        assert log_restarts(path) == before
        reader.rollback()
        reader.close()

        save_decisions(store, EVERY_UNITS)  # the next pass, not LOCKED_EVERY passes later
        time.sleep(A_PASS_S)
        save_decisions(store, 1)  # the next writer starts the log again from its beginning
        assert log_restarts(path) == before + 1
    finally:
        store.close()


class ScriptedLog:
    """Stands in for the checkpoint thread's connection: a log of `frames` frames, to which writers append
    `appended` frames while each checkpoint runs, and the checkpoints asked. Each checkpoint copies the whole log as
    it found it."""

    def __init__(self, frames: int, appended: int = 0) -> None:
        self.frames = frames
        self.appended = appended
        self.asked: list[str] = []
        self._row: tuple[int, int, int] = (0, 0, 0)

    def execute(self, statement: str) -> ScriptedLog:
        if statement.startswith("PRAGMA wal_checkpoint("):
            self.asked.append(statement.removeprefix("PRAGMA wal_checkpoint(").rstrip(")"))
            self._row = (0, self.frames, self.frames)
            self.frames += self.appended
        return self

    def fetchone(self) -> tuple[int, int, int]:
        return self._row

    def close(self) -> None:
        pass


class NoLocks:
    def wait_for_writer(self) -> None:
        pass

    def release_all(self) -> None:
        pass

    def close(self) -> None:
        pass


def checkpoints_asked(log: ScriptedLog, units: int) -> list[str]:
    checkpoints = Checkpoints(lambda: cast(sqlite3.Connection, log), lambda: cast(LockFile, NoLocks()))
    checkpoints.committed(units)
    checkpoints.stop()  # after the pass asked for
    return log.asked


def test_a_long_log_restarts_however_few_units_the_store_counted() -> None:
    """With many workers, each counting only its own units, the log would otherwise grow with their number."""
    # a restart: the pass, two passes catching up with writers that append nothing, then the pass under the lock
    restart = ["PASSIVE", "PASSIVE", "PASSIVE", "RESTART"]
    assert checkpoints_asked(ScriptedLog(LONG_LOG_PAGES), EVERY_UNITS) == restart
    assert checkpoints_asked(ScriptedLog(LONG_LOG_PAGES - 1), EVERY_UNITS) == ["PASSIVE"]
    assert checkpoints_asked(ScriptedLog(100), RESTART_EVERY) == restart


def test_the_pass_under_the_lock_waits_until_passes_without_it_have_caught_up_with_the_writers() -> None:
    """The pass under the writer lock syncs every page it copies while all writers wait, so passes without the lock
    copy first, until one finds no more than FEW_FRAMES appended since the one before it."""
    # writers appending little: one pass to see how far the log has got, one to see that few were appended since
    assert checkpoints_asked(ScriptedLog(100, appended=FEW_FRAMES), RESTART_EVERY) == [
        "PASSIVE", "PASSIVE", "PASSIVE", "RESTART"]
    # writers appending fast: the restart still comes, after CATCH_UP_PASSES passes
    assert checkpoints_asked(ScriptedLog(100, appended=FEW_FRAMES + 1), RESTART_EVERY) == [
        "PASSIVE", *["PASSIVE"] * CATCH_UP_PASSES, "RESTART"]
