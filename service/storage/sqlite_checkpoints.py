"""Checkpoints of the SQLite write-ahead log, on a thread of the store's own, asked for every so many units of work
committed.

SQLite's own checkpoint runs inside the commit that takes the log past 1,000 pages, while the store still holds
its writer lock: every process then waits for the copy into the database file and its fsyncs (measured: a
fifth of the machine idle under load). Here a pass runs on another thread, after the lock is released: a
PASSIVE checkpoint, which lets other writers go on and which SQLite runs without the interpreter lock. A log
that writers keep appending to is never finished by such a pass, and only a finished log can be started again
from its beginning, so once the log has taken LOCKED_EVERY passes' units of work since it last restarted, a pass
goes on under the writer lock: it copies the little left and restarts the log (RESTART), waiting at most
RESTART_WAIT_MS for readers.

That pass holds up every writer of every process for its two fsyncs, whose cost grows with the pages it copies
(about 30 us a page on these disks; 2-13 ms under load, measured, when it copied what one pass without the lock
had left). So passes without the lock go first, until one finds no more than FEW_FRAMES frames appended since the
pass before it (at most CATCH_UP_PASSES of them), and the pass under the lock copies and syncs about as few (it
held the lock 0-3.3 ms in 13 of 15 restarts, measured). And the log restarts no more often than it must. The
workers of a server share one log, and each store counts only its own units: a store that finds the log shorter
than at its last pass (another process restarted it) counts from there, instead of restarting it again soon
after; a log of LONG_LOG_PAGES restarts whatever the counts. A restart that readers or another process's
checkpoint kept from completing is tried again at the next pass, not LOCKED_EVERY passes later, so that the log
does not grow on to SQLite's own checkpoint.
"""

from __future__ import annotations

import queue
import sqlite3
import threading
from collections.abc import Callable
from contextlib import suppress
from typing import NamedTuple

from service.storage.sqlite_locks import LockFile

# Each unit of work's writes append 5 to 15 pages to the log, fewer in a group commit (sqlite_group.py), where the
# units share pages. Counted in commits, passes of a store committing in groups come several times rarer for as
# many pages: 300 batches of 20 decisions took the log to SAFETY_NET_PAGES (tests/storage/test_sqlite_group.py).
EVERY_UNITS = 128
LOCKED_EVERY = 8  # passes
RESTART_WAIT_MS = 2
# A log this long restarts at the next pass, however few units this store counted: with the count of each worker
# alone (and each counting from the last restart, whoever's), the log would grow with the number of workers.
LONG_LOG_PAGES = 16_384
SAFETY_NET_PAGES = 20_000  # SQLite's own checkpoint in the commit, should these passes ever fall behind
# Before a restart: passes without the lock until one copies no more than FEW_FRAMES appended since the previous.
CATCH_UP_PASSES = 4
FEW_FRAMES = 24


class Checkpoints:
    """Counts the units of work the store commits and runs a checkpoint pass every EVERY_UNITS of them."""

    def __init__(self, connect: Callable[[], sqlite3.Connection], lock_file: Callable[[], LockFile]) -> None:
        self._connect = connect
        self._lock_file = lock_file
        self._units = 0
        self._restarted_at = 0  # the count when the log last restarted, by this store or another process
        self._log_frames = 0  # the log's length at the last pass that could read it
        self._asked: queue.SimpleQueue[bool] = queue.SimpleQueue()  # False: stop
        self._busy = threading.Event()
        self._thread = threading.Thread(target=self._run, name="sqlite-checkpoints", daemon=True)
        self._thread.start()

    def committed(self, units: int = 1) -> None:
        """A write transaction of `units` units of work committed (called on the committing thread, after the
        lock is released)."""
        before, self._units = self._units, self._units + units
        if before // EVERY_UNITS == self._units // EVERY_UNITS or self._busy.is_set():
            return  # not yet, or a pass is still running: the next one will cover these pages too
        self._busy.set()
        self._asked.put(True)

    def stop(self) -> None:
        self._asked.put(False)
        self._thread.join()

    def _run(self) -> None:
        connection: sqlite3.Connection | None = None
        locks: LockFile | None = None
        try:
            while self._asked.get():
                try:
                    if connection is None:
                        connection = self._connect()
                        connection.execute(f"PRAGMA busy_timeout = {RESTART_WAIT_MS}")  # how long RESTART waits
                    locks = locks or self._lock_file()
                    self._pass(connection, locks)
                except (sqlite3.Error, OSError):  # the next pass tries again; SQLite's own is the safety net
                    if connection is not None:
                        connection.close()
                    connection = None
                finally:
                    self._busy.clear()
        finally:
            if connection is not None:
                connection.close()
            if locks is not None:
                locks.close()

    def _pass(self, connection: sqlite3.Connection, locks: LockFile) -> None:
        units = self._units
        progress = _checkpoint(connection, "PASSIVE")
        if progress is not None:
            if progress.log_frames < self._log_frames:  # restarted since the last pass, by another process
                self._restarted_at = units
            self._log_frames = progress.log_frames
        if units - self._restarted_at < EVERY_UNITS * LOCKED_EVERY and self._log_frames < LONG_LOG_PAGES:
            return
        _catch_up(connection)
        locks.wait_for_writer()
        try:
            restarted = _checkpoint(connection, "RESTART") is not None
        finally:
            locks.release_all()
        if restarted:
            self._restarted_at, self._log_frames = units, 0


class Progress(NamedTuple):
    log_frames: int  # the log's length
    copied: int  # of its frames, how many are in the database file by now


def _catch_up(connection: sqlite3.Connection) -> None:
    """Passes without the lock until one copies no more than FEW_FRAMES frames appended since the one before it, so
    that the pass under the lock, which follows, has about as few to copy and sync."""
    copied: int | None = None
    for _ in range(CATCH_UP_PASSES):
        progress = _checkpoint(connection, "PASSIVE")
        if progress is None or (copied is not None and progress.copied - copied <= FEW_FRAMES):
            return
        copied = progress.copied


def _checkpoint(connection: sqlite3.Connection, mode: str) -> Progress | None:
    """Run a checkpoint; how far it got, or None if it could not finish: another process was checkpointing, or
    (RESTART) readers kept it from copying the whole log or from waiting for them."""
    with suppress(sqlite3.OperationalError):
        busy, log_frames, copied = connection.execute(f"PRAGMA wal_checkpoint({mode})").fetchone()
        if not busy:
            return Progress(int(log_frames), int(copied))
    return None
