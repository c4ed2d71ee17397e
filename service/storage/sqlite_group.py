"""Group commit: the writes of the calls a worker runs as one batch, committed in one transaction.

A SQLite unit of work holds the database's writer lock from its first write to its commit, and the workers of a
server take turns on that lock. A decision's writes are few, but each commit restarts a write transaction,
writes every page it touched to the log and wakes the other processes' page caches; the lock was busy most of
the time under load (about 80 % for AuthorizeDrawdown: 420 us held per call at 1,900 calls/s). So a unit of
work run in a batch (service/api/runners.py) whose writes were all held back (SqliteUnitOfWork.write) does not
commit by itself: it parks them here with its locks, gives its connection back for the batch's next call, and
hands the loop back to the batch. When the batch has run, ``flush`` takes the writer lock once, runs the calls'
writes, commits once, and only then lets each call go on to answer. A call whose writes fail (its request_id is
recorded already, a constraint) is undone alone (the group's writes run again, each call's in a savepoint of its
own) and sees the error at its commit, as it would have alone; if the commit itself fails, every call of the group
sees that failure. No call answers before its writes are durable in the database.

Units of work still decide on their own snapshots and under their own user locks, which a parked call keeps
until the group commits: a later call of the batch for the same user waits for the group (``wait``) instead of
the lock, then reads what the first one wrote. The flush releases every writing call's user locks with the writer
lock, before any parked call goes on.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Mapping
from contextlib import AbstractContextManager, suppress
from dataclasses import dataclass

import greenlet

from service import cooperative
from service.storage.sqlite_locks import LockFile

HeldWrite = tuple[str, Mapping[str, object], Exception | None]  # SQLite statement, parameters, raised if no change


@dataclass
class _Parked:
    call: greenlet.greenlet
    locks: LockFile | None  # None: a call waiting for the group, with nothing to write
    writes: list[HeldWrite]


class CommitGroup:
    """The parked writes of one serving loop's batch, for one SQLite store."""

    def __init__(
        self, connection: Callable[[], AbstractContextManager[sqlite3.Connection]], committed: Callable[[int], None]
    ) -> None:
        self._parked: list[_Parked] = []
        self._connection = connection  # lends the connection to write with
        self._committed = committed  # told how many units of work each commit wrote (checkpoints count them)

    @property
    def pending(self) -> bool:
        """Whether calls of this batch wait for the group's commit."""
        return bool(self._parked)

    def commit(self, locks: LockFile, writes: list[HeldWrite]) -> None:
        """Park the calling unit of work (its user locks held) until its writes have committed with the batch's;
        raises what they raised."""
        self._parked.append(_Parked(greenlet.getcurrent(), locks, writes))
        failure: Exception | None = cooperative.park_until(self.flush)
        if failure is not None:
            raise failure

    def wait(self) -> None:
        """Park the calling unit of work until the group has committed (it waits for a user lock the group may
        hold)."""
        self._parked.append(_Parked(greenlet.getcurrent(), None, []))
        cooperative.park_until(self.flush)

    def flush(self) -> None:
        """Commit the parked writes, then let each parked call go on, in the order they parked."""
        parked, self._parked = self._parked, []
        failures = self._write([entry for entry in parked if entry.locks is not None])
        for entry in parked:
            entry.call.switch(failures.get(id(entry)))

    def _write(self, writers: list[_Parked]) -> dict[int, Exception]:
        """Run the calls' writes and commit them all; the failures by call.

        The writes run one call after another in one transaction. Should a call's fail (its request_id is
        recorded already, a constraint, a locked line changed), the transaction starts over with each call's
        writes in a savepoint of its own, so that the failing call's are undone alone. Savepoints only then: in
        a savepoint SQLite first copies every page a call changes into its sub-journal, which beyond 64 KiB
        spills to a temporary file (measured in a server: 44-47 writes, 90-100 KiB, per AuthorizeDrawdown with a
        savepoint per call; 28-32 writes, 53-61 KiB, without)."""
        if not writers:
            return {}
        locks = writers[0].locks
        assert locks is not None
        failures: dict[int, Exception] = {}
        try:
            with self._connection() as connection:
                locks.lock_writer()
                try:
                    connection.execute("BEGIN IMMEDIATE")
                    try:
                        for entry in writers:
                            run_writes(connection.execute, entry.writes)
                    except Exception:  # some call's writes failed: start over, each call in a savepoint
                        connection.rollback()
                        connection.execute("BEGIN IMMEDIATE")
                        failures = _write_each_in_a_savepoint(connection, writers)
                    connection.commit()
                except BaseException:
                    with suppress(sqlite3.Error):
                        connection.rollback()
                    raise
        except Exception as error:  # the transaction as a whole: nobody's writes are kept
            return {id(entry): error for entry in writers}
        finally:
            # The writer lock, and every writing call's user locks: their writes are settled. Released here, before
            # any parked call goes on, so that a call that waited for the group never finds its user still held by
            # a call of the group that has not gone on yet, which it would wait for in vain: this loop can only
            # resume that call once the wait is over.
            for entry in writers:
                assert entry.locks is not None
                entry.locks.release_all()
        if len(failures) < len(writers):
            self._committed(len(writers) - len(failures))
        return failures


def _write_each_in_a_savepoint(connection: sqlite3.Connection, writers: list[_Parked]) -> dict[int, Exception]:
    """Run each call's writes in a savepoint of its own, undoing a failing call's alone; the failures by call."""
    failures: dict[int, Exception] = {}
    for entry in writers:
        connection.execute("SAVEPOINT call")
        try:
            run_writes(connection.execute, entry.writes)
        except Exception as error:  # this call's alone: undo its writes, keep the others'
            failures[id(entry)] = error
            connection.execute("ROLLBACK TO call")
        connection.execute("RELEASE call")
    return failures


def run_writes(execute: Callable[[str, Mapping[str, object]], sqlite3.Cursor], writes: list[HeldWrite]) -> None:
    """Run held writes in order with `execute`; raise a write's `unless_changed` if it changed no row."""
    for statement, params, unless_changed in writes:
        if execute(statement, params).rowcount == 0 and unless_changed is not None:
            raise unless_changed
