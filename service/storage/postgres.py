"""The PostgreSQL store: a connection pool shared by the calls of a process, several replicas on one database.

A serving process runs each call in a greenlet on its event loop (service/cooperative.py): a connection's waits
on its socket, and a call's wait for a pooled connection, let the loop run the other calls meanwhile. Used from
anywhere else (the command line, tests, several threads), the store blocks its caller as usual.

Transactions run at READ COMMITTED. The ledger's invariants hold because its UPDATEs are conditional
(a concurrent UPDATE of the same row waits, then re-checks the condition on the row as committed), and
``get_credit_line(for_update=True)`` takes the row lock for callers that read before they write.

Failure handling: connecting is bounded by ``connect_timeout``, and waiting for a pooled connection and each wait
for the database's answer by the store's timeout; all end in StoreUnavailable. A pooled connection the server has
dropped (restart, failover, ``pg_terminate_backend``) is found out by the ``BEGIN`` that starts every unit of work,
before the caller has done anything, and the next connection is tried; the pool replaces dropped connections by
itself, so the store recovers without a restart when the database returns.

Every new connection is also checked to reach the ledger the store opened (its pseudonym secret, `_ledger_problem`):
a database dropped and created again, or restored from another ledger, under a running replica is then unavailable
to it, as a database that does not answer is, until it holds that ledger again or the replica is restarted. A call
that waited out the timeout for a new connection says why the database refused the pool's latest attempt (`_Pool`).

A database that takes no writes (a hot standby, or ``default_transaction_read_only``) cannot decide a call, since
every call writes: it is unavailable too (READ_ONLY_DATABASE), found by the call's first write and by the health
check (`require_writable`), not by the ``BEGIN`` of every call.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager, suppress
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any, TypeVar

import orjson
import psycopg
import psycopg.errors
import structlog
from psycopg.abc import PQGen
from psycopg.rows import TupleRow
from psycopg.types.json import Jsonb
from psycopg_pool import ConnectionPool, PoolTimeout

from service import cooperative
from service.app.ports import UnitOfWork
from service.domain.errors import LockHeldElsewhere, StoreUnavailable
from service.domain.model import Installment
from service.storage.codec import Codec, require_aware, require_finite, schedule_from_json, schedule_to_json
from service.storage.ledger import DecisionReads, Params, Row, SqlUnitOfWork
from service.storage.migrations import MigrationError, load_migrations, pending_migrations, require_current

RV = TypeVar("RV")

log = structlog.get_logger("decisiond.storage")

# A call on the event loop asks the pool for a connection with the shortest wait the pool accepts (it refuses 0
# and counts from before its own checks), and lets the loop run between asks, from 2 ms up to 50 ms apart.
_POOL_ASK_S = 2e-4
_FIRST_PAUSE_S = 2e-3
_LONGEST_PAUSE_S = 5e-2


class Connection(psycopg.Connection[TupleRow]):
    """A connection whose waits on its socket let the event loop run, in a call greenlet.

    On the loop, a wait for the database that lasts `answer_within` seconds (the store's timeout) ends the call
    with StoreUnavailable: a database that stops answering (a network that drops packets, a host frozen) no longer
    holds it until the client's deadline; the connection is closed, and the pool replaces it. A statement the
    database itself holds (a lock another session keeps) ends by its `statement_timeout`, set to the same."""

    _watch: cooperative.SocketWatch | None = None
    answer_within = 3.0  # the store's timeout, set by the store

    def wait(self, gen: PQGen[RV], interval: float = 0.1, timeout: float | None = None) -> RV:
        if timeout is not None or not cooperative.on_loop():  # psycopg times only notifications and cancels
            return super().wait(gen, interval, timeout)
        if self._watch is None:
            self._watch = cooperative.SocketWatch(self.pgconn.socket, self.answer_within)
        try:
            events = next(gen)
            while True:
                ready = self._watch.wait(events)
                if self._watch.expired:
                    self.leave_the_loop()
                    self.close()  # what it was waiting for may still come: the connection cannot be used again
                    raise psycopg.OperationalError(
                        f"the database did not answer within {self.answer_within:.2f} s; the connection was closed"
                    )
                events = gen.send(ready)
        except StopIteration as done:
            result: RV = done.value
            return result
        except OSError as error:
            raise psycopg.OperationalError("the database connection's socket is closed") from error

    def leave_the_loop(self) -> None:
        """Stop the event loop watching the socket (before the connection goes back to the pool)."""
        if self._watch is not None:
            self._watch.release()
            self._watch = None


# pg_advisory_xact_lock(namespace, schema hash) serializes migrations of one schema across replicas.
_MIGRATION_LOCK_NAMESPACE = 0x64636964

_CREATE_SCHEMA_MIGRATIONS = """
CREATE TABLE IF NOT EXISTS schema_migrations (
    version    INTEGER PRIMARY KEY,
    name       TEXT NOT NULL,
    checksum   TEXT NOT NULL,
    applied_at TIMESTAMPTZ NOT NULL DEFAULT now()
)
"""


class PostgresCodec(Codec):
    """timestamptz, NUMERIC and JSONB map exactly; times are read back in UTC."""

    def time(self, value: datetime) -> object:
        return require_aware(value)

    def read_time(self, value: Any) -> datetime:
        if not isinstance(value, datetime):
            raise TypeError(f"expected a timestamptz, got {type(value).__name__}")
        return value.astimezone(UTC)

    def rate(self, value: Decimal) -> object:
        return require_finite(value)

    def read_rate(self, value: Any) -> Decimal:
        if not isinstance(value, Decimal):
            raise TypeError(f"expected a NUMERIC, got {type(value).__name__}")
        return value

    def schedule(self, value: tuple[Installment, ...]) -> object:
        return Jsonb(schedule_to_json(value), orjson.dumps)  # orjson: the items hold dates (see schedule_to_json)

    def read_schedule(self, value: Any) -> tuple[Installment, ...]:
        return schedule_from_json(value)


_CODEC = PostgresCodec()


# What a database that takes no writes (see the module docstring) makes of every call.
READ_ONLY_DATABASE = (
    "the database is read-only (a standby, or default_transaction_read_only set): this server needs the primary"
)


class PostgresUnitOfWork(SqlUnitOfWork):
    """The ledger over one pooled connection inside an open transaction."""

    lock_clause = " FOR UPDATE"

    def __init__(self, connection: Connection) -> None:
        super().__init__(_CODEC)
        self._connection = connection

    def fetch_one(self, sql: str, params: Params) -> Row | None:
        return self._connection.execute(sql, params).fetchone()

    def fetch_all(self, sql: str, params: Params) -> list[Row]:
        return self._connection.execute(sql, params).fetchall()

    def execute(self, sql: str, params: Params) -> int:
        return self._connection.execute(sql, params).rowcount

    def execute_script(self, sql: str) -> None:
        """Run several statements; without parameters they go to the server as one simple query."""
        self._connection.execute(sql)

    def require_writable(self) -> None:
        """transaction_read_only is on both on a standby and where default_transaction_read_only is set; the
        connection is renewed as after a call's refused write (see PostgresStore._transaction)."""
        if self._connection.execute("SHOW transaction_read_only").fetchone() == ("on",):
            _renew_session(self._connection)
            raise StoreUnavailable(READ_ONLY_DATABASE)


class _Pool(ConnectionPool[Connection]):
    """The pool, remembering why its latest attempt to open a connection failed (the driver's first line, None once
    one succeeds): a call that waits out the store's timeout for a connection then says why the database refused it
    (not accepting connections, authentication, too many clients, no such database, not the ledger), where the pool
    only warns of each attempt, several a second (silenced, logs.py)."""

    last_refusal: str | None = None

    def _connect(self, timeout: float | None = None) -> Connection:  # every connection the pool opens
        try:
            connection = super()._connect(timeout)
        except psycopg.Error as error:
            self.last_refusal = _first_line(error)
            raise
        self.last_refusal = None
        return connection


class PostgresStore(DecisionReads):
    """The Store on one PostgreSQL schema (the first existing one on the connection's search_path)."""

    waits_on_network = True
    in_memory = False

    def __init__(self, conninfo: str, *, timeout: float, pool_size: int, read_only: bool = False) -> None:
        """`read_only`: open an up-to-date ledger without changing it (no migrations, no secret created), or raise
        MigrationError."""
        self._timeout = timeout
        # Migrated on a connection of its own before the pool opens: a database that cannot be reached is then
        # reported with the driver's reason at once, not as a pool timeout after warnings of the pool's retries.
        self._pseudonym_key = _migrate(conninfo, read_only=read_only)
        self._ledger_problem: str | None = None  # what the last new connection found instead of the ledger (logged)
        self._slots = cooperative.Slots(pool_size)  # for the calls on the event loop, one per connection
        self._pool = _Pool(
            conninfo,
            connection_class=Connection,
            kwargs={"autocommit": True},  # transactions are begun explicitly, see _begin
            min_size=min(2, pool_size),
            max_size=pool_size,
            open=False,
            configure=self._configure_connection,
            timeout=timeout,
            # Stop retrying a failed connection well within one request's wait: the pool then grows again
            # on demand, so the first request after the database returns is served instead of waiting
            # out an ever longer reconnection backoff.
            reconnect_timeout=timeout / 2,
            name="decisiond",
        )
        self._pool.open(wait=False)

    def _configure_connection(self, connection: Connection) -> None:
        """A new pooled connection's session settings, and the check that it reaches the ledger this store opened.
        A replica that kept the secret of a ledger the database no longer holds gave one person two credit lines
        (their id hashed with each secret), each drawn to its limit; with the ledger's tables gone (dropped, or a
        restore under way), every call failed INTERNAL while health said SERVING. Refused here, the connection never
        reaches the pool: calls fail UNAVAILABLE and health reports NOT_SERVING, as when the database is away."""
        _configure(connection, answer_within=self._timeout)
        problem = _ledger_problem(connection, self._pseudonym_key)
        if problem is None:
            if self._ledger_problem is not None:
                self._ledger_problem = None
                log.info("store.ledger_found_again")
            return
        if problem != self._ledger_problem:  # once for each, not at every attempt of the pool's
            self._ledger_problem = problem
            log.error("store.ledger_replaced", reason=problem)
        connection.close()  # the pool would leave it open
        raise psycopg.OperationalError(problem)

    def unit_of_work(self) -> AbstractContextManager[UnitOfWork]:
        """A READ COMMITTED transaction on a pooled connection."""
        return self._transaction()

    def pseudonym_key(self) -> bytes:
        return self._pseudonym_key

    def close(self) -> None:
        self._pool.close()

    # -- transactions ----------------------------------------------------------------------------

    @contextmanager
    def _transaction(self) -> Iterator[PostgresUnitOfWork]:
        deadline = time.monotonic() + self._timeout
        with _unavailable_on_connection_errors(), self._slot(deadline):
            connection = self._begin(deadline)
            try:
                yield PostgresUnitOfWork(connection)
                connection.execute("COMMIT")
            except psycopg.errors.ReadOnlySqlTransaction:
                # A session begun while default_transaction_read_only was set stays read-only after it is reset, and
                # would fail calls until the pool retires it (an hour): closed, the pool opens a new one instead.
                _renew_session(connection)
                raise
            except BaseException:
                # After an error the connection may be gone; the pool discards it when it comes back.
                with suppress(psycopg.Error):
                    connection.execute("ROLLBACK")
                raise
            finally:
                self._put_back(connection)

    @contextmanager
    def _slot(self, deadline: float) -> Iterator[None]:
        """For a call on the event loop, one of the pool's connections to take, in turn; else nothing."""
        if not cooperative.on_loop():
            yield
            return
        if not self._slots.acquire(deadline - time.monotonic()):
            raise PoolTimeout(f"no database connection free within {self._timeout:.2f} s")
        try:
            yield
        finally:
            self._slots.release()

    def _begin(self, deadline: float) -> Connection:
        while True:
            connection = self._getconn(deadline)
            try:
                connection.execute("BEGIN ISOLATION LEVEL READ COMMITTED")
            except psycopg.OperationalError:
                # Dropped by the server while idle in the pool. Nothing has been done on it yet, so
                # trying the next connection is safe; the pool replaces this one.
                self._put_back(connection)
                if time.monotonic() >= deadline:
                    raise
            else:
                return connection

    def _getconn(self, deadline: float) -> Connection:
        """A pooled connection. The pool waits on a condition variable, so a call on the event loop asks it again
        and again, letting the loop run in between, until the pool has made or remade one."""
        if not cooperative.on_loop():
            try:
                return self._pool.getconn(timeout=deadline - time.monotonic())
            except PoolTimeout as timeout:
                raise PoolTimeout(self._why_no_connection(str(timeout))) from None
        pause = _FIRST_PAUSE_S
        while True:
            try:
                return self._pool.getconn(timeout=_POOL_ASK_S)
            except PoolTimeout:
                left = deadline - time.monotonic()
                if left <= 0:
                    # With a slot taken, a connection was free or could be made: the pool could not make one. (Its
                    # own message would name its last ask's wait: "couldn't get a connection after 0.00 sec".)
                    waited = f"no new connection to the database could be made within {self._timeout:.2f} s"
                    raise PoolTimeout(self._why_no_connection(waited)) from None
                cooperative.sleep(min(pause, left))
                pause = min(pause * 2, _LONGEST_PAUSE_S)

    def _why_no_connection(self, waited: str) -> str:
        """`waited`, and what the database answered the pool's latest attempt to connect, if it failed."""
        refusal = self._pool.last_refusal
        return waited if refusal is None else f"{waited}: {refusal}"

    def _put_back(self, connection: Connection) -> None:
        connection.leave_the_loop()  # the loop must not watch a socket the pool may close or hand to a thread
        self._pool.putconn(connection)


def _migrate(conninfo: str, *, read_only: bool = False) -> bytes:
    """Apply pending migrations under an advisory lock, on a connection of its own; return the pseudonym secret.
    StoreUnavailable with the driver's reason (refused, unknown host or database, authentication) when the
    database cannot be reached, or when another session holds a lock it needs for MIGRATION_LOCK_WAIT_S. `read_only`:
    apply nothing, and refuse a database without an up-to-date ledger."""
    try:
        connection = Connection.connect(conninfo, autocommit=True)
    except psycopg.OperationalError as error:
        raise StoreUnavailable(_first_line(error)) from error
    try:
        with connection, _unavailable_on_connection_errors():
            _configure(connection)
            connection.execute(f"SET lock_timeout = {_ms(MIGRATION_LOCK_WAIT_S)}")
            connection.execute("BEGIN ISOLATION LEVEL READ COMMITTED")
            uow = PostgresUnitOfWork(connection)
            row = uow.fetch_one("SELECT current_schema()", {})
            schema = None if row is None else row[0]
            if schema is None:
                raise MigrationError("no schema on the connection's search_path exists")
            if read_only:
                exists = uow.fetch_one("SELECT to_regclass('schema_migrations') IS NOT NULL", {})
                applied: dict[int, str] = (
                    dict(uow.fetch_all("SELECT version, checksum FROM schema_migrations", {}))
                    if exists is not None and exists[0] else {}
                )
                require_current(load_migrations("postgresql"), applied)
                key = uow.existing_pseudonym_key()
                connection.execute("COMMIT")
                return key
            uow.fetch_one(
                "SELECT pg_advisory_xact_lock(%(namespace)s, %(key)s)",
                {"namespace": _MIGRATION_LOCK_NAMESPACE, "key": _lock_key(schema)},
            )
            uow.execute(_CREATE_SCHEMA_MIGRATIONS, {})
            applied = dict(uow.fetch_all("SELECT version, checksum FROM schema_migrations", {}))
            for migration in pending_migrations(load_migrations("postgresql"), applied):
                uow.execute_script(migration.sql)
                uow.execute(
                    "INSERT INTO schema_migrations (version, name, checksum)"
                    " VALUES (%(version)s, %(name)s, %(checksum)s)",
                    {"version": migration.version, "name": migration.name, "checksum": migration.checksum},
                )
            key = uow.pseudonym_key()
            connection.execute("COMMIT")
            return key
    except LockHeldElsewhere as held:
        raise StoreUnavailable(
            f"the ledger's tables stayed locked by another session for {MIGRATION_LOCK_WAIT_S:g} s (another"
            f" replica's migrations, or maintenance): {held}"
        ) from held


def _renew_session(connection: Connection) -> None:
    """Close the connection (the pool opens another in its place), the loop no longer watching its socket."""
    connection.leave_the_loop()
    connection.close()


def _first_line(error: Exception) -> str:
    """The driver's message up to its first line break (libpq adds hints such as 'Is the server running...')."""
    return str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__


# How long a start waits for a lock another session holds on the ledger (another replica applying migrations, a
# maintenance job, a transaction left open): then it fails, saying so, and the supervisor tries again later
# (workers.not_started with the reason), instead of waiting in silence for as long as the lock is held.
MIGRATION_LOCK_WAIT_S = 30.0
# A call waits for a lock another session holds (a user's line) for this share of the store's timeout, so that the
# database ends the wait (LockHeldElsewhere: it answers) before the call's own watch takes it for an outage.
LOCK_WAIT_SHARE = 0.8
# The database ends a session left idle inside a transaction for this many times the store's timeout, and so frees
# the locks of a replica frozen mid-call (a paused VM, a partition that leaves the connection open), which would
# otherwise keep its users' lines locked on every replica until it woke. A call of ours never idles that long.
IDLE_IN_TRANSACTION_TIMES = 2


def _configure(connection: Connection, *, answer_within: float | None = None) -> None:
    """Run once on every new connection; `answer_within`: the store's timeout, for the pool's connections (not the
    migrations', which may wait for another replica's or take long)."""
    connection.execute("SET TIME ZONE 'UTC'")
    if answer_within is not None:
        connection.answer_within = answer_within
        connection.execute(f"SET statement_timeout = {_ms(answer_within)}")
        connection.execute(f"SET lock_timeout = {_ms(answer_within * LOCK_WAIT_SHARE)}")
        idle_for = answer_within * IDLE_IN_TRANSACTION_TIMES
        connection.execute(f"SET idle_in_transaction_session_timeout = {_ms(idle_for)}")


def _ledger_problem(connection: Connection, key: bytes) -> str | None:
    """Why the database the connection reaches does not hold the ledger whose pseudonym secret is `key`; None if it
    does."""
    try:
        row = connection.execute("SELECT secret FROM pseudonym_secret WHERE singleton = 1").fetchone()
    except psycopg.errors.UndefinedTable:
        return ("the database holds no ledger (its tables are missing: was it dropped and created again, or is a "
                "restore under way?); calls fail until it holds this server's ledger again")
    if row is None or bytes(row[0]) != key:
        return ("the database holds another ledger than the one this server opened (its pseudonym secret differs: "
                "it was replaced); restart the server to serve the new ledger")
    return None


def _ms(seconds: float) -> int:
    return max(1, round(seconds * 1000))


def _lock_key(schema: str) -> int:
    """A stable signed 32-bit key for the schema's migration lock."""
    return int.from_bytes(hashlib.sha256(schema.encode()).digest()[:4], "big", signed=True)


@contextmanager
def _unavailable_on_connection_errors() -> Iterator[None]:
    # OperationalError covers refused and dropped connections, pool timeouts and a closed pool, and
    # the server's shutdown, cancel and resource errors: all "cannot be decided now, try again".
    try:
        yield
    except psycopg.errors.LockNotAvailable as exc:
        raise LockHeldElsewhere(f"another session held a lock this call needed: {_first_line(exc)}") from exc
    except psycopg.errors.ReadOnlySqlTransaction as exc:
        raise StoreUnavailable(READ_ONLY_DATABASE) from exc
    except (psycopg.OperationalError, psycopg.errors.IdleInTransactionSessionTimeout) as exc:
        # The latter: this replica was frozen mid-call for longer than the database waits (_configure).
        raise StoreUnavailable(str(exc)) from exc
