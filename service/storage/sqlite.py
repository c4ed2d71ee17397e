"""The embedded store: one SQLite file in WAL mode, the default for a single server.

A unit of work reads from a snapshot and takes the database's write lock only at its first write, so
decisions of several threads and processes overlap except for their few writes; a credit line locked with
``get_credit_line(for_update=True)`` is held against every other unit of work until the end of the
transaction, as on PostgreSQL (sqlite_locks.py). Each unit of work borrows a connection of its own. An
in-memory database (``:memory:``) lives in a single connection that units of work take in turn.

Every unit of work, and every group commit, first checks that the file at the ledger's path is still the one the
store opened (its device and inode: one ``stat``). A ledger deleted, or replaced by another (moved over it, as a
restore does), while the server runs would otherwise take every call on the unlinked file and lose it at the next
start; it then fails its calls UNAVAILABLE and writes nothing (logged once, ``store.ledger_replaced``) until that
file is back at the path, as PostgreSQL's store does for its database (postgres.py). Connections after the first
never create the file, so a deleted ledger is not silently begun anew under a running server.

Read-only (the auditor's commands), the ledger is opened with SQLite's ``mode=ro``; in a folder that cannot be
written (a backup or snapshot mounted read-only), where SQLite cannot make the shared-memory file WAL mode reads
through, it is opened ``immutable`` instead: the database file alone, refused if a log file (``-wal``) beside it
may hold changes not yet copied into it.
"""

from __future__ import annotations

import collections
import functools
import os
import re
import sqlite3
import threading
import time
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager, suppress
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any
from urllib.parse import quote

import orjson
import structlog

from service import cooperative
from service.app.ports import UnitOfWork
from service.domain.errors import StoreUnavailable
from service.domain.model import CreditLine, Installment
from service.os_errors import reason_of
from service.storage.codec import (
    Codec,
    from_epoch_micros,
    require_finite,
    schedule_from_json,
    schedule_to_json,
    to_epoch_micros,
)
from service.storage.ledger import DecisionReads, Params, Row, SqlUnitOfWork
from service.storage.migrations import load_migrations, pending_migrations, require_current, sqlite_statements
from service.storage.sqlite_checkpoints import SAFETY_NET_PAGES, Checkpoints
from service.storage.sqlite_group import CommitGroup, HeldWrite, run_writes
from service.storage.sqlite_locks import LockFile

log = structlog.get_logger("decisiond.storage")

MEMORY = ":memory:"

# Primary result codes that mean "cannot reach or use the database now", not a bug in a statement.
_UNAVAILABLE_CODES = frozenset(
    {
        sqlite3.SQLITE_BUSY,
        sqlite3.SQLITE_LOCKED,
        sqlite3.SQLITE_IOERR,
        sqlite3.SQLITE_CANTOPEN,
        sqlite3.SQLITE_FULL,
        sqlite3.SQLITE_READONLY,  # the file system remounted read-only under the server, the file moved away
        sqlite3.SQLITE_PROTOCOL,
        sqlite3.SQLITE_NOTADB,  # the file is not a SQLite database (a wrong path, say)
        sqlite3.SQLITE_CORRUPT,
    }
)

_CREATE_SCHEMA_MIGRATIONS = """
CREATE TABLE IF NOT EXISTS schema_migrations (
    version    INTEGER PRIMARY KEY,
    name       TEXT NOT NULL,
    checksum   TEXT NOT NULL,
    applied_at INTEGER NOT NULL
) STRICT
"""

_PARAMETER = re.compile(r"%\((\w+)\)s")


@functools.lru_cache(maxsize=512)
def _sqlite_statement(sql: str) -> tuple[str, bool]:
    """The shared ``%(name)s`` parameter style rewritten as SQLite's ``:name``, and whether it only reads."""
    return _PARAMETER.sub(r":\1", sql), sql.lstrip()[:6].upper() == "SELECT"


class SqliteCodec(Codec):
    """Times as integer microseconds since the epoch (UTC), rates as decimal text, schedules as JSON text."""

    # The conversions themselves rather than methods that call them: a call stores and reads several times.
    time = staticmethod(to_epoch_micros)
    read_time = staticmethod(from_epoch_micros)

    def rate(self, value: Decimal) -> object:
        return str(require_finite(value))

    def read_rate(self, value: Any) -> Decimal:
        return Decimal(value)

    def schedule(self, value: tuple[Installment, ...]) -> object:
        return orjson.dumps(schedule_to_json(value)).decode()

    def read_schedule(self, value: Any) -> tuple[Installment, ...]:
        return schedule_from_json(orjson.loads(value))


_CODEC = SqliteCodec()


class SqliteUnitOfWork(SqlUnitOfWork):
    """The ledger over one SQLite connection inside an open transaction.

    With a lock file, the transaction starts as a read snapshot and becomes a write transaction at its first
    statement that is not a SELECT: it then takes the database's writer lock, ends the snapshot and begins
    anew with BEGIN IMMEDIATE, so it writes on the latest state. What it read before stays valid for the
    rows it locked with ``get_credit_line(for_update=True)`` (nobody else changes a locked user's rows), and
    the ledger's conditional statements protect everything else. Without a lock file (the in-memory database)
    the transaction holds the write lock from its start.

    Writes whose outcome nobody reads (``write``) are held back until the transaction's next statement or its
    commit, so that the writer lock is taken as late as possible: a decision then encodes its response and
    its record before it waits for the lock, not while the other processes wait for it. Every statement runs
    the held writes first, so the transaction still reads what it wrote. A unit of work run in a batch on the
    serving loop whose writes were all held back hands them to the batch's group commit (sqlite_group.py)."""

    def __init__(self, connection: sqlite3.Connection, locks: LockFile | None, group: CommitGroup | None) -> None:
        super().__init__(_CODEC)
        self._connection = connection
        self._locks = locks
        self._group = group  # the batch's group commit, for a unit of work run in a batch (see sqlite_group.py)
        self._has_read = False  # whether a read snapshot has been taken yet
        self._held: list[HeldWrite] = []  # writes not run yet, in order

    def fetch_one(self, sql: str, params: Params) -> Row | None:
        row: Row | None = self._run(sql, params).fetchone()
        return row

    def fetch_all(self, sql: str, params: Params) -> list[Row]:
        return self._run(sql, params).fetchall()

    def execute(self, sql: str, params: Params) -> int:
        return self._run(sql, params).rowcount

    def write(self, sql: str, params: Params, *, unless_changed: Exception | None = None) -> None:
        self._held.append((_sqlite_statement(sql)[0], params, unless_changed))

    @property
    def holds_writes(self) -> bool:
        return bool(self._held)

    def run_held_writes(self) -> None:
        """Run the writes held back so far (before the commit)."""
        held, self._held = self._held, []
        run_writes(self._write_now, held)

    def take_held_writes(self) -> list[HeldWrite]:
        """The writes held back so far, for the group commit to run instead."""
        held, self._held = self._held, []
        return held

    def get_credit_line(self, user_key: str, *, for_update: bool = False) -> CreditLine | None:
        if for_update and self._locks is not None:
            self._lock_user(user_key)
        return super().get_credit_line(user_key, for_update=for_update)

    def lock_line(self, user_key: str, *, latest_event: bool) -> tuple[CreditLine | None, datetime | None]:
        if self._locks is not None:
            self._lock_user(user_key)
        return super().lock_line(user_key, latest_event=latest_event)

    def require_writable(self) -> None:
        """Nothing to ask: no setting makes a SQLite ledger opened for writing refuse writes (PostgreSQL's standby
        does), and its health follows the ledger file instead (EmbeddedLedgerCheck, database_health.py)."""

    def _run(self, sql: str, params: Params) -> sqlite3.Cursor:
        if self._held:
            self.run_held_writes()
        statement, reads_only = _sqlite_statement(sql)
        if reads_only:
            self._has_read = True
            return self._connection.execute(statement, params)
        return self._write_now(statement, params)

    def _write_now(self, statement: str, params: Params) -> sqlite3.Cursor:
        if self._locks is not None and not self._locks.writing:
            # End the read snapshot before waiting for the writer lock (a reader that waits holding a snapshot
            # would hold up the holder's checkpoint); the write transaction must see the latest state anyway.
            if self._has_read:
                self._connection.commit()
            self._locks.lock_writer()
            if self._has_read:
                self._connection.execute("BEGIN IMMEDIATE")
        return self._connection.execute(statement, params)

    def _lock_user(self, user_key: str) -> None:
        assert self._locks is not None
        if self._locks.writing:
            # Waiting for a user while holding the writer lock could deadlock with the user's holder, who may
            # be waiting for the writer lock: take it only if it is free (the use cases lock users first).
            if not self._locks.try_lock_user(user_key):
                raise StoreUnavailable("the credit line is locked by another call; lock it before the first write")
            return
        if self._locks.holds_user(user_key):
            return
        # A call of this batch whose writes wait for the group commit may hold the user: wait for the group
        # rather than the lock (the group commits only once the batch has run). Never wait for a lock while the
        # group holds locks: another process's group could be waiting for one of them.
        while not self._locks.try_lock_user(user_key):
            if self._group is None or not self._group.pending:
                self._locks.lock_user(user_key)
                break
            self._group.wait()
        if self._has_read:
            # A snapshot taken before the lock may miss what the previous holder committed: start a new one.
            self._connection.commit()
            self._connection.execute("BEGIN DEFERRED")
            self._has_read = False


def _make_private(path: Path) -> None:
    """The ledger's folder (0700) and file (0600), when they are new, for no other local account to read: it holds
    every decision and the pseudonym secret, with which ids of few possible values (phone numbers) can be
    recovered. SQLite gives its log and shared-memory files the mode of the database file; the lock file is made
    0600 too. An existing folder or file keeps the mode its owner gave it."""
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_CLOEXEC, 0o600))  # an empty file is a new database


class SqliteStore(DecisionReads):
    """The Store on one SQLite database file (or one in-memory database)."""

    waits_on_network = False

    def __init__(self, path: str, *, timeout: float, read_only: bool = False, existing: bool = False) -> None:
        """`read_only`: open an up-to-date ledger without changing it (no migrations, no secret created, no lock
        file), or raise MigrationError. `existing`: StoreUnavailable rather than make a new ledger file."""
        self._path = path
        self._fspath = os.fsencode(path)  # what check_ledger stats on every call, encoded once
        self._timeout = timeout
        self._memory = path == MEMORY
        self._read_only = read_only
        # What sqlite3.connect opens: never a new file (see the module docstring); "immutable" is set by
        # _first_connection for a read-only ledger in a folder that cannot be written.
        # A relative path stays relative: it follows the working directory if that is renamed, as the path does.
        self._uri = path if self._memory else f"file:{quote(path)}" + ("?mode=ro" if read_only else "?mode=rw")
        self._file: tuple[int, int] | None = None  # the ledger file's (device, inode), once opened
        self._ledger_problem: str | None = None  # why the file at the path is not that one (logged once)
        self._memory_lock = FairLock()  # the in-memory database's one connection, taken in turn
        # Connections and lock-file handles are lent apart: a unit of work parked for the group commit keeps its
        # locks but gives its connection back, for the batch's next call to read through a warm page cache.
        self._idle: list[sqlite3.Connection] = []
        self._idle_locks: list[LockFile] = []
        self._idle_lock = threading.Lock()
        self._closed = False
        self._checkpoints: Checkpoints | None = None
        try:
            if existing and not self._memory and not os.path.exists(path):
                raise StoreUnavailable(f"{path} does not exist (deleted or moved while the server ran?); no new ledger"
                                       " is made in its place")
            if not self._memory and not read_only:
                _make_private(Path(path))
            with _UNAVAILABLE_ON_SQLITE_ERRORS:
                self._idle.append(self._first_connection())
                if not self._memory:
                    self._file = _file_identity(os.stat(path))
                try:
                    self._pseudonym_key = self._read_ledger() if read_only else self._migrate()
                except BaseException:
                    self.close()
                    raise
        except OSError as error:  # not a folder, not allowed, a read-only file system, a full disk...
            raise StoreUnavailable(_why_not_opened(Path(path), error)) from error
        if not self._memory and not read_only:
            self._checkpoints = Checkpoints(self._connect, lambda: LockFile(self._lock_path(), timeout))
        self._groups = threading.local()  # each serving loop's group commit, on the loop's thread

    def _group(self) -> CommitGroup:
        group: CommitGroup | None = getattr(self._groups, "group", None)
        if group is None:
            group = self._groups.group = CommitGroup(self._borrow, self._committed)
        return group

    def _committed(self, units: int) -> None:
        if self._checkpoints is not None:
            self._checkpoints.committed(units)

    def unit_of_work(self) -> AbstractContextManager[UnitOfWork]:
        """A transaction; it takes the write lock at its first write that runs (see SqliteUnitOfWork)."""
        return self._transaction()

    def _transaction(self) -> _Transaction:
        return _Transaction(self)

    def pseudonym_key(self) -> bytes:
        return self._pseudonym_key

    @property
    def in_memory(self) -> bool:
        return self._memory

    def check_ledger(self) -> None:
        """StoreUnavailable unless the file at the ledger's path is still the one this store opened (see the module
        docstring); said in the log once when it stops being so, and once when it is again."""
        file = self._file
        if file is None:
            return
        try:
            status = os.stat(self._fspath)
            problem = None if status.st_ino == file[1] and status.st_dev == file[0] else _REPLACED
        except FileNotFoundError:
            problem = _GONE
        except OSError as error:
            problem = f"the ledger file cannot be looked at ({reason_of(error)})"
        if problem is None:
            if self._ledger_problem is not None:
                self._ledger_problem = None
                log.info("store.ledger_found_again", path=self._path)
            return
        if problem != self._ledger_problem:
            self._ledger_problem = problem
            log.error("store.ledger_replaced", path=self._path, reason=problem)
        raise StoreUnavailable(f"{self._path}: {problem}")

    def close(self) -> None:
        if self._checkpoints is not None:
            self._checkpoints.stop()
            self._checkpoints = None
        with self._idle_lock:
            self._closed = True
            idle, self._idle = self._idle, []
            idle_locks, self._idle_locks = self._idle_locks, []
        for connection in idle:
            connection.close()
        for locks in idle_locks:
            locks.close()

    # -- connections -----------------------------------------------------------------------------

    @contextmanager
    def _borrow(self) -> Iterator[sqlite3.Connection]:
        """A connection of its own for the group commit (the in-memory one, in turn), taken back when done; as for a
        unit of work, StoreUnavailable if the ledger file is no longer the one opened."""
        self.check_ledger()
        connection = self._lend_connection()
        try:
            yield connection
        finally:
            self._take_back_connection(connection)

    def _lend_connection(self) -> sqlite3.Connection:
        """A connection of its own for the caller (the in-memory one, in turn); hand it to _take_back_connection."""
        if self._memory and not self._memory_lock.acquire(timeout=self._timeout):
            raise StoreUnavailable("timed out waiting for the SQLite write lock")
        try:
            with self._idle_lock:
                if self._closed:
                    raise StoreUnavailable("the store is closed")
                connection = self._idle.pop() if self._idle else None
            return connection if connection is not None else self._connect()
        except BaseException:
            if self._memory:
                self._memory_lock.release()
            raise

    def _take_back_connection(self, connection: sqlite3.Connection) -> None:
        try:
            # A connection stuck in a transaction (its rollback failed) is not handed out again,
            # except the in-memory one, which holds the whole database.
            reusable = self._memory or not connection.in_transaction
            with self._idle_lock:
                keep = reusable and not self._closed
                if keep:
                    self._idle.append(connection)
            if not keep:
                connection.close()
        finally:
            if self._memory:
                self._memory_lock.release()

    def _lend_locks(self) -> LockFile | None:
        """A handle on the lock file of its own for the caller (None for the in-memory database); whatever it
        locked is released when _take_back_locks takes it back."""
        if self._memory or self._read_only:
            return None
        with self._idle_lock:
            locks = self._idle_locks.pop() if self._idle_locks else None
        return locks if locks is not None else LockFile(self._lock_path(), self._timeout)

    def _take_back_locks(self, locks: LockFile | None) -> None:
        if locks is None:
            return
        locks.release_all()
        with self._idle_lock:
            keep = not self._closed
            if keep:
                self._idle_locks.append(locks)
        if not keep:
            locks.close()

    def _lock_path(self) -> str:
        return f"{self._path}-locks"

    # -- opening ---------------------------------------------------------------------------------

    def _connect(self) -> sqlite3.Connection:
        # isolation_level=None: the driver never opens transactions by itself; the store does.
        connection = sqlite3.connect(
            self._uri, timeout=self._timeout, isolation_level=None, check_same_thread=False, uri=not self._memory
        )
        try:
            connection.execute("PRAGMA foreign_keys = ON")
            connection.execute("PRAGMA synchronous = NORMAL")
            # One connection per request thread: small private page caches keep a server's memory flat as the
            # ledger grows (the operating system's file cache holds the hot pages for all of them).
            connection.execute("PRAGMA cache_size = -512")
            # The store checkpoints on a thread of its own (sqlite_checkpoints.py); SQLite's own checkpoint in the
            # commit, which would hold the writer lock through the copy and its fsyncs, is only a safety net.
            connection.execute(f"PRAGMA wal_autocheckpoint = {SAFETY_NET_PAGES}")
        except BaseException:
            connection.close()  # at once: an open file keeps a read-only mount, say, busy
            raise
        return connection

    def _first_connection(self) -> sqlite3.Connection:
        if self._read_only:
            return self._first_read_only_connection()
        connection = self._connect()
        try:
            mode = self._enable_wal(connection)
        except BaseException:
            connection.close()
            raise
        if mode != ("memory" if self._memory else "wal"):
            connection.close()
            raise ValueError(f"SQLite database {self._path} cannot use WAL mode (it reports {mode!r})")
        return connection

    def _first_read_only_connection(self) -> sqlite3.Connection:
        """Opened with mode=ro, which reads through the log (-wal) but must make the shared-memory file (-shm) if
        it is not there; where it cannot be (a read-only folder), opened immutable: the database file alone."""
        connection: sqlite3.Connection | None = None
        try:
            connection = self._connect()
            connection.execute("SELECT count(*) FROM sqlite_master").fetchone()  # reads through the log, if any
            return connection
        except sqlite3.OperationalError as error:
            if connection is not None:
                connection.close()
            if error.sqlite_errorcode & 0xFF != sqlite3.SQLITE_CANTOPEN or os.access(
                Path(self._path).parent, os.W_OK
            ):
                raise
        log_file = Path(f"{self._path}-wal")
        if log_file.exists() and log_file.stat().st_size > 0:
            raise StoreUnavailable(
                f"{self._path} is in a folder that cannot be written, and its log file {log_file} may hold changes"
                " not yet in it, which SQLite reads only through a shared-memory file it must make beside it: copy"
                " the ledger's files (with its -wal file) to a folder that can be written, and read them there"
            )
        self._uri = self._uri.replace("?mode=ro", "?immutable=1")
        return self._connect()

    def _enable_wal(self, connection: sqlite3.Connection) -> str:
        """Switch the file to WAL (a persistent setting) and return the journal mode now in force.

        While another process opens the same new file, the switch can fail with SQLITE_BUSY at once,
        without consulting the busy handler, so it is retried until the timeout.
        """
        deadline = time.monotonic() + self._timeout
        while True:
            try:
                mode: str = connection.execute("PRAGMA journal_mode = WAL").fetchone()[0]
                return mode
            except sqlite3.OperationalError as exc:
                if exc.sqlite_errorcode & 0xFF != sqlite3.SQLITE_BUSY or time.monotonic() >= deadline:
                    raise
                time.sleep(0.005)

    def _read_ledger(self) -> bytes:
        """The pseudonym secret of an up-to-date ledger, nothing written; MigrationError for anything else."""
        with self._transaction() as uow:
            exists = uow.fetch_one(
                "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'schema_migrations'", {}
            )
            applied: dict[int, str] = (
                dict(uow.fetch_all("SELECT version, checksum FROM schema_migrations", {})) if exists else {}
            )
            require_current(load_migrations("sqlite"), applied)
            return uow.existing_pseudonym_key()

    def _migrate(self) -> bytes:
        """Apply pending migrations under the write lock; return the pseudonym secret."""
        with self._transaction() as uow:
            uow.execute(_CREATE_SCHEMA_MIGRATIONS, {})
            applied = {
                version: checksum
                for version, checksum in uow.fetch_all("SELECT version, checksum FROM schema_migrations", {})
            }
            for migration in pending_migrations(load_migrations("sqlite"), applied):
                for statement in sqlite_statements(migration):
                    uow.execute(statement, {})
                uow.execute(
                    "INSERT INTO schema_migrations (version, name, checksum, applied_at)"
                    " VALUES (%(version)s, %(name)s, %(checksum)s, %(applied_at)s)",
                    {
                        "version": migration.version,
                        "name": migration.name,
                        "checksum": migration.checksum,
                        "applied_at": to_epoch_micros(datetime.now(UTC)),
                    },
                )
            return uow.pseudonym_key()


class _Transaction:
    """A unit of work of a SqliteStore as a context manager: check the ledger, lend a lock-file handle and a
    connection, begin; on leaving, commit (or hand the held writes to the batch's group commit, sqlite_group.py) or
    roll back, and take back the connection, then the locks. SQLite errors that mean the database cannot be used now
    become StoreUnavailable, the body's own as well as those of the commit.

    A class rather than a @contextmanager generator, and the handles lent and taken back in try/finally rather than
    through context managers of their own: this runs for every call, and each generator-based layer cost more."""

    __slots__ = ("_connection", "_group", "_locks", "_store", "_uow")

    def __init__(self, store: SqliteStore) -> None:
        self._store = store

    def __enter__(self) -> SqliteUnitOfWork:
        store = self._store
        store.check_ledger()
        with _UNAVAILABLE_ON_SQLITE_ERRORS:
            locks = store._lend_locks()
            try:
                # Run in a batch on the serving loop, a unit of work commits with the batch's others (sqlite_group.py).
                group = store._group() if locks is not None and cooperative.on_loop() else None
                connection = store._lend_connection()
                uow = SqliteUnitOfWork(connection, locks, group)
                try:
                    connection.execute("BEGIN IMMEDIATE" if store._memory else "BEGIN DEFERRED")
                except BaseException:
                    store._take_back_connection(connection)
                    raise
            except BaseException:
                store._take_back_locks(locks)
                raise
        self._locks, self._group, self._connection, self._uow = locks, group, connection, uow
        return uow

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None, _traceback: object) -> None:
        store, locks, group, connection = self._store, self._locks, self._group, self._connection
        with _UNAVAILABLE_ON_SQLITE_ERRORS:
            try:
                parked: list[HeldWrite] = []
                wrote = False
                try:
                    if error is not None:
                        with suppress(sqlite3.Error):
                            connection.rollback()
                    else:
                        uow = self._uow
                        if group is not None and locks is not None and not locks.writing:
                            parked = uow.take_held_writes()
                        else:
                            if uow.holds_writes:
                                uow.run_held_writes()
                            wrote = locks is not None and locks.writing
                        connection.commit()  # parked: ends the read snapshot; the group writes on the latest state
                except BaseException:
                    with suppress(sqlite3.Error):
                        connection.rollback()
                    raise
                finally:
                    store._take_back_connection(connection)
                if parked:
                    assert group is not None and locks is not None
                    group.commit(locks, parked)
                if wrote:
                    store._committed(1)
            finally:
                store._take_back_locks(locks)
        # The body's own error goes on as it is, or as StoreUnavailable (from it) if the database cannot be used now.
        _UNAVAILABLE_ON_SQLITE_ERRORS.__exit__(kind, error, _traceback)


_GONE = ("the ledger file is gone (deleted or moved while the server ran); calls fail until it is back at its"
         " path; a restart would begin a new, empty ledger there")
_REPLACED = ("the ledger file at the path is another file than the one this server opened (replaced, as a restore"
             " does, while the server ran); calls fail until that file is back, or restart the server to serve the"
             " new ledger")


def _file_identity(status: os.stat_result) -> tuple[int, int]:
    return status.st_dev, status.st_ino


def _why_not_opened(path: Path, error: OSError) -> str:
    """Why the ledger's file could not be opened or made, naming the folder only when it is the folder that is
    missing (a read-only or full file system is not that)."""
    reason = reason_of(error)
    if not path.parent.is_dir():
        return f"the folder of {path} cannot be made ({reason})"
    return f"{path} cannot be opened for writing ({reason})"


class FairLock:
    """A lock handed to waiters in arrival order. threading.Lock lets a thread win it again and again while
    another waits (measured: 16 threads, p50 0.8 ms but p99 74 ms per decision); handing it over in turn
    bounds each wait by the work queued ahead of it."""

    def __init__(self) -> None:
        self._mutex = threading.Lock()
        self._waiters: collections.deque[threading.Event] = collections.deque()
        self._held = False

    def acquire(self, timeout: float) -> bool:
        with self._mutex:
            if not self._held:
                self._held = True
                return True
            turn = threading.Event()
            self._waiters.append(turn)
        if turn.wait(timeout):
            return True
        with self._mutex:
            if turn.is_set():  # handed over just as the wait timed out
                return True
            self._waiters.remove(turn)
            return False

    def release(self) -> None:
        with self._mutex:
            if self._waiters:
                self._waiters.popleft().set()  # ownership passes directly: _held stays True
            else:
                self._held = False


class _UnavailableOnSqliteErrors:
    """SQLite errors that mean the database cannot be used now (busy, locked, full, I/O) raised as
    StoreUnavailable, others as they are. Keeps no state: one instance serves every block (a class rather than
    a generator: it runs around every unit of work)."""

    def __enter__(self) -> None:
        return None

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None, _traceback: object) -> None:
        if isinstance(error, sqlite3.Error):
            code = getattr(error, "sqlite_errorcode", None)
            if code is not None and code & 0xFF in _UNAVAILABLE_CODES:
                raise StoreUnavailable(str(error)) from error


_UNAVAILABLE_ON_SQLITE_ERRORS = _UnavailableOnSqliteErrors()
