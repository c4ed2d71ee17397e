"""Checkpoints of the SQLite write-ahead log, on a thread of the store's own, asked for every so many units of work
committed.

SQLite's own checkpoint runs inside the commit that takes the log past 1,000 pages, while the store still holds
its writer lock: every process then waits for the copy into the database file and its fsyncs (measured: a
fifth of the machine idle under load). Here a pass runs on another thread, after the lock is released: a
PASSIVE checkpoint, which lets other writers go on and which SQLite runs without the interpreter lock. A log
that writers keep appending to is never finished by such a pass, and only a finished log can be started again
from its beginning, so every LOCKED_EVERY-th pass runs under the writer lock: it copies the little left and
restarts the log (RESTART), waiting at most RESTART_WAIT_MS for readers (a later pass tries again).
"""

from __future__ import annotations

import queue
import sqlite3
import threading
from collections.abc import Callable
from contextlib import suppress

from service.storage.sqlite_locks import LockFile

# Each unit of work's writes append 5 to 15 pages to the log, fewer in a group commit (sqlite_group.py), where the
# units share pages. Counted in commits, passes of a store committing in groups come several times rarer for as
# many pages: 300 batches of 20 decisions took the log to SAFETY_NET_PAGES (tests/storage/test_sqlite_group.py).
EVERY_UNITS = 128
LOCKED_EVERY = 8  # passes
RESTART_WAIT_MS = 2
SAFETY_NET_PAGES = 20_000  # SQLite's own checkpoint in the commit, should these passes ever fall behind


class Checkpoints:
    """Counts the units of work the store commits and runs a checkpoint pass every EVERY_UNITS of them."""

    def __init__(self, connect: Callable[[], sqlite3.Connection], lock_file: Callable[[], LockFile]) -> None:
        self._connect = connect
        self._lock_file = lock_file
        self._units = 0
        self._last_locked = 0  # the count at the last pass under the writer lock
        self._asked: queue.SimpleQueue[bool | None] = queue.SimpleQueue()  # True: under the writer lock
        self._busy = threading.Event()
        self._thread = threading.Thread(target=self._run, name="sqlite-checkpoints", daemon=True)
        self._thread.start()

    def committed(self, units: int = 1) -> None:
        """A write transaction of `units` units of work committed (called on the committing thread, after the
        lock is released)."""
        before, self._units = self._units, self._units + units
        if before // EVERY_UNITS == self._units // EVERY_UNITS or self._busy.is_set():
            return  # not yet, or a pass is still running: the next one will cover these pages too
        locked = self._units - self._last_locked >= EVERY_UNITS * LOCKED_EVERY
        if locked:
            self._last_locked = self._units
        self._busy.set()
        self._asked.put(locked)

    def stop(self) -> None:
        self._asked.put(None)
        self._thread.join()

    def _run(self) -> None:
        connection: sqlite3.Connection | None = None
        locks: LockFile | None = None
        try:
            while (locked := self._asked.get()) is not None:
                try:
                    if connection is None:
                        connection = self._connect()
                        connection.execute(f"PRAGMA busy_timeout = {RESTART_WAIT_MS}")  # how long RESTART waits
                    locks = locks or self._lock_file()
                    self._pass(connection, locks, locked)
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

    @staticmethod
    def _pass(connection: sqlite3.Connection, locks: LockFile, locked: bool) -> None:
        with suppress(sqlite3.OperationalError):  # busy: another process is checkpointing
            connection.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchone()
        if not locked:
            return
        # Right after a pass without the lock, the one under it has only a few milliseconds of pages to copy.
        locks.wait_for_writer()
        try:
            with suppress(sqlite3.OperationalError):
                connection.execute("PRAGMA wal_checkpoint(RESTART)").fetchone()
        finally:
            locks.release_all()
