"""open_store: the one place a database URL becomes a Store."""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import unquote, urlsplit, urlunsplit

from service.app.ports import Store

DEFAULT_TIMEOUT_SECONDS = 3.0
# The longest store timeout, an hour: past any wait a caller would sit through, and far within what is derived from
# it. PostgreSQL's idle_in_transaction_session_timeout (twice it) and SQLite's busy timeout are ints of milliseconds,
# at most 2,147,483,647: past that every pooled connection failed its settings, so `serve` never started and never
# said why, and SQLite silently waited for no lock at all.
MAX_TIMEOUT_SECONDS = 3600.0
DEFAULT_POOL_SIZE = 16

_SQLITE_OPTIONS = frozenset({"timeout"})
_POSTGRES_OPTIONS = frozenset({"timeout", "pool_size"})


def lasting_problem(url: str) -> str | None:
    """For `serve` before it starts its workers: why a SQLite ledger cannot be used however long the server waits (a
    file that is not a database, a folder that cannot be made, a schema newer than this release), or None: it can
    be, or may be once what holds it passes (a lock another process holds, a full disk). A server retrying the
    workers for ever would never tell its own supervisor (systemd, Kubernetes) that it cannot start; PostgreSQL is
    not looked at here: a database server that is not up yet is waited for."""
    target = _target(url, None, None)
    if not isinstance(target, _SqliteTarget):
        return None
    import errno
    import sqlite3

    from service.domain.errors import StoreUnavailable
    from service.storage.migrations import MigrationError

    passing = {sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED, sqlite3.SQLITE_FULL, sqlite3.SQLITE_IOERR}
    try:
        open_store(url).close()
    except MigrationError as error:
        return str(error)
    except StoreUnavailable as error:
        cause = error.__cause__
        if isinstance(cause, sqlite3.Error) and (getattr(cause, "sqlite_errorcode", 0) or 0) & 0xFF in passing:
            return None
        if isinstance(cause, OSError) and cause.errno in (errno.ENOSPC, errno.EDQUOT):
            return None
        return str(error)
    return None


def open_store(
    url: str,
    *,
    timeout: float | None = None,
    pool_size: int | None = None,
    read_only: bool = False,
    existing: bool = False,
) -> Store:
    """Open the database a URL names and apply its pending migrations; `read_only`, for readers such as the auditor's
    commands: change nothing, and raise MigrationError unless it holds an up-to-date ledger. `existing` (SQLite): open
    the ledger file only if it is there, never make a new one (StoreUnavailable).

    - ``sqlite:///relative/path.db``, ``sqlite:////absolute/path.db``, ``sqlite:///:memory:``
    - ``postgresql://user@host:5432/dbname`` (or ``postgres://``), with any libpq parameters in the query

    ``timeout`` (seconds, default 3, at most 3600) bounds how long a call waits for the database before it fails with
    StoreUnavailable: the SQLite write lock and busy timeout, or the PostgreSQL connect timeout, the wait for a
    pooled connection and each wait for the database's answer (its statement_timeout too). ``pool_size`` (default
    16, PostgreSQL only) is how many transactions a serving process runs at once (its calls beyond that wait their
    turn), or the most threads sharing the store elsewhere. Both may also be given in the URL's query
    (``?timeout=1.5&pool_size=32``), which wins over the arguments, so that a deployment can tune them through the
    URL alone.
    """
    target = _target(url, timeout, pool_size)
    if isinstance(target, _SqliteTarget):
        from service.storage.sqlite import SqliteStore

        return SqliteStore(target.path, timeout=target.timeout, read_only=read_only, existing=existing)
    from service.storage.postgres import PostgresStore

    return PostgresStore(
        target.conninfo, timeout=target.timeout, pool_size=target.pool_size, read_only=read_only
    )


def check_database_url(url: str) -> None:
    """Raises ValueError saying what is wrong with a database URL, as open_store would, without connecting; for
    SQLite, also when the file can never be made there (a folder on its path is a file, or it is a folder)."""
    target = _target(url, None, None)
    if isinstance(target, _SqliteTarget) and target.path != ":memory:":
        _check_sqlite_location(Path(target.path))


def _check_sqlite_location(path: Path) -> None:
    if path.is_dir():
        raise ValueError(f"{path} is a folder, not a database file: name a file in it, e.g. {path / 'decisions.db'}")
    for folder in path.parents:
        if folder.exists():
            if not folder.is_dir():
                raise ValueError(f"{folder} is a file, so the database {path} cannot be made in it")
            return


@dataclass(frozen=True)
class _SqliteTarget:
    path: str
    timeout: float


@dataclass(frozen=True)
class _PostgresTarget:
    conninfo: str
    timeout: float
    pool_size: int


def _target(url: str, timeout: float | None, pool_size: int | None) -> _SqliteTarget | _PostgresTarget:
    scheme = url.partition("://")[0].lower() if "://" in url else ""
    if scheme == "sqlite":
        return _sqlite_target(url, timeout)
    if scheme in ("postgresql", "postgres"):
        return _postgres_target(url, timeout, pool_size)
    raise ValueError(
        f"unsupported database URL scheme {scheme or url[:20]!r}: use sqlite:///PATH or postgresql://HOST/DBNAME"
    )


def _sqlite_target(url: str, timeout: float | None) -> _SqliteTarget:
    parts = urlsplit(url)
    if parts.netloc:
        raise ValueError(
            f"SQLite URL {url!r} names a host; use sqlite:///relative/path.db or sqlite:////absolute/path.db"
        )
    path = unquote(parts.path)[1:]  # the third slash separates the empty host from the path
    if not path:
        raise ValueError(f"SQLite URL {url!r} names no file; use sqlite:///path.db or sqlite:///:memory:")
    options, others = _split_options(parts.query, _SQLITE_OPTIONS)
    if others:
        unknown = unquote(others.split("&")[0].partition("=")[0])
        raise ValueError(f"unknown SQLite URL option {unknown!r}; known: {', '.join(sorted(_SQLITE_OPTIONS))}")
    return _SqliteTarget(path, _timeout(options.get("timeout"), timeout))


def _postgres_target(url: str, timeout: float | None, pool_size: int | None) -> _PostgresTarget:
    import psycopg
    from psycopg.conninfo import conninfo_to_dict, make_conninfo

    parts = urlsplit(url)
    try:
        parts.port  # noqa: B018 - urlsplit checks the port only when asked
    except ValueError:
        raise ValueError("the port in the PostgreSQL URL must be a number from 0 to 65535") from None
    options, libpq_query = _split_options(parts.query, _POSTGRES_OPTIONS)
    seconds = _timeout(options.get("timeout"), timeout)
    size = _pool_size(options.get("pool_size"), pool_size)
    libpq_url = urlunsplit(parts._replace(query=libpq_query))
    try:
        given = conninfo_to_dict(libpq_url)
    except psycopg.ProgrammingError as exc:
        raise ValueError(f"malformed PostgreSQL URL: {exc}") from None
    defaults: dict[str, str | int] = {}
    if "connect_timeout" not in given:
        defaults["connect_timeout"] = max(2, math.ceil(seconds))  # libpq's minimum is 2 s
    if "application_name" not in given:
        defaults["application_name"] = "decisiond"
    return _PostgresTarget(make_conninfo(libpq_url, **defaults), seconds, size)


def _split_options(query: str, ours: frozenset[str]) -> tuple[dict[str, str], str]:
    """Our options out of a URL query, and the rest of the query exactly as written (for libpq)."""
    options: dict[str, str] = {}
    others: list[str] = []
    for piece in query.split("&") if query else []:
        key, _, value = piece.partition("=")
        if unquote(key) in ours:
            options[unquote(key)] = unquote(value)
        else:
            others.append(piece)
    return options, "&".join(others)


def _timeout(from_url: str | None, argument: float | None) -> float:
    if from_url is None:
        return DEFAULT_TIMEOUT_SECONDS if argument is None else _positive_seconds(argument)
    try:
        seconds = float(from_url)
    except ValueError:
        raise ValueError(f"database URL option timeout={from_url!r} must be a number of seconds") from None
    return _positive_seconds(seconds)


def _positive_seconds(value: float) -> float:
    if not (math.isfinite(value) and 0 < value <= MAX_TIMEOUT_SECONDS):
        raise ValueError(f"timeout must be a positive number of seconds, at most {MAX_TIMEOUT_SECONDS:g}, got {value}")
    return value


def _pool_size(from_url: str | None, argument: int | None) -> int:
    value: int | str | None = from_url if from_url is not None else argument
    if value is None:
        return DEFAULT_POOL_SIZE
    if isinstance(value, str) and not value.isdigit():
        raise ValueError(f"database URL option pool_size={value!r} must be a whole number")
    size = int(value)
    if not 1 <= size <= 1000:
        raise ValueError(f"pool_size must be from 1 to 1000, got {size}")
    return size
