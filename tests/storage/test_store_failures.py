"""When the database cannot answer, calls fail fast with StoreUnavailable, and the store recovers by itself."""

from __future__ import annotations

import os
import shutil
import subprocess
import time
from collections.abc import Iterator, MutableMapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import psycopg
import pytest
import structlog
from structlog.testing import capture_logs

from service.app.ports import Store
from service.domain.errors import DatabaseBusy, LockHeldElsewhere, StoreUnavailable
from service.storage import open_store, postgres
from tests.storage.conftest import raw_connection
from tests.storage.records import USER, a_line
from tests.storage.tcp_proxy import TcpProxy


def save_a_line(store: Store) -> None:
    with store.unit_of_work() as uow:
        uow.save_credit_line(a_line())


def line_is_readable(store: Store) -> bool:
    with store.unit_of_work() as uow:
        return uow.get_credit_line(USER) is not None


def terminate_connections(database_url: str, admin_url: str) -> int:
    """pg_terminate_backend on every connection of the store under test, found by its application_name."""
    application = parse_qs(urlsplit(database_url).query)["application_name"][0]
    with psycopg.connect(admin_url, autocommit=True) as admin:
        rows = admin.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = %s", [application]
        ).fetchall()
    return len(rows)


def test_a_closed_store_raises_store_unavailable(store: Store) -> None:
    store.close()

    with pytest.raises(StoreUnavailable), store.unit_of_work():
        pass


def test_a_sqlite_database_locked_by_another_process_fails_after_the_timeout_then_recovers(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'ledger.db'}"
    store = open_store(url, timeout=0.2)
    with raw_connection(url) as other_process:
        other_process.execute("BEGIN IMMEDIATE")
        started = time.monotonic()
        with pytest.raises(StoreUnavailable):
            save_a_line(store)  # a write waits for the other writer; reads would not
        waited = time.monotonic() - started
        assert line_is_readable(store) is False  # reading does not wait for the writer
        other_process.execute("ROLLBACK")

    assert 0.15 < waited < 2
    save_a_line(store)
    assert line_is_readable(store)
    store.close()


def test_an_unreachable_postgres_fails_fast_with_store_unavailable() -> None:
    nothing_listens = TcpProxy("127.0.0.1", 5432)  # never started: its port refuses connections
    started = time.monotonic()

    with pytest.raises(StoreUnavailable):
        open_store(f"postgresql://postgres@127.0.0.1:{nothing_listens.port}/test", timeout=1)

    assert time.monotonic() - started < 3


def test_the_pool_recovers_when_the_server_terminates_its_connections(
    postgres_url: str, postgres_admin_url: str
) -> None:
    store = open_store(postgres_url, pool_size=4)
    save_a_line(store)

    for _ in range(3):
        assert terminate_connections(postgres_url, postgres_admin_url) >= 1
        started = time.monotonic()
        assert line_is_readable(store)
        assert time.monotonic() - started < 1
    store.close()


def fails_until_said(store: Store, logs: list[MutableMapping[str, Any]], reason: str) -> None:
    """Calls fail StoreUnavailable until the store has logged store.ledger_replaced with `reason`. The pool
    reconnects in the background, so a call may time out before any attempt has met the change: the caller
    retries, as callers do, for up to 10 s."""
    deadline = time.monotonic() + 10
    while True:
        with pytest.raises(StoreUnavailable):
            save_a_line(store)
        if any(str(line.get("reason", "")).startswith(reason) for line in logs):
            return
        assert time.monotonic() < deadline, f"no connection attempt found that {reason}"


def test_a_store_whose_database_was_replaced_under_it_writes_nothing_there_until_its_ledger_is_back(
    postgres_url: str, postgres_admin_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The database dropped and created again (a rebuild, a restore) under a running replica, and another replica
    migrating it: the first kept hashing user ids with the old secret, so one person got a credit line through each
    replica and drew each to its limit; while the tables were missing, its every call failed INTERNAL."""
    monkeypatch.setattr(postgres, "log", structlog.get_logger())  # a logger capture_logs sees (see test_status.py)
    store = open_store(postgres_url, timeout=1, pool_size=2)
    schema = parse_qs(urlsplit(postgres_url).query)["application_name"][0]
    save_a_line(store)
    # Each change in one transaction: the pool reconnects meanwhile, and must not see a state in between.
    with psycopg.connect(postgres_admin_url, autocommit=True) as admin, admin.transaction():
        admin.execute(f'ALTER SCHEMA "{schema}" RENAME TO "{schema}_kept"')  # the ledger, put aside
        admin.execute(f'CREATE SCHEMA "{schema}"')
    terminate_connections(postgres_url, postgres_admin_url)
    try:
        with capture_logs() as logs:
            fails_until_said(store, logs, "the database holds no ledger")  # unavailable, as a database away is
            replacement = open_store(postgres_url)  # another replica migrates: a new ledger, a new secret
            fails_until_said(store, logs, "the database holds another ledger")
            assert line_is_readable(replacement) is False
            replacement.close()
            with psycopg.connect(postgres_admin_url, autocommit=True) as admin, admin.transaction():  # restored
                admin.execute(f'DROP SCHEMA "{schema}" CASCADE')
                admin.execute(f'ALTER SCHEMA "{schema}_kept" RENAME TO "{schema}"')
            terminate_connections(postgres_url, postgres_admin_url)
            assert line_is_readable(store)  # its own ledger again: served without a restart
        said = [(line["event"], line.get("reason", "").split(" (")[0]) for line in logs]
        assert said == [  # once for each, not at every attempt of the pool's
            ("store.ledger_replaced", "the database holds no ledger"),
            ("store.ledger_replaced", "the database holds another ledger than the one this server opened"),
            ("store.ledger_found_again", ""),
        ], said
    finally:
        store.close()
        with psycopg.connect(postgres_admin_url, autocommit=True) as admin:
            admin.execute(f'DROP SCHEMA IF EXISTS "{schema}_kept" CASCADE')


def test_a_connection_lost_inside_a_unit_of_work_fails_that_one_only(
    postgres_url: str, postgres_admin_url: str
) -> None:
    store = open_store(postgres_url, pool_size=2)
    save_a_line(store)

    with pytest.raises(StoreUnavailable), store.unit_of_work() as uow:
        uow.get_credit_line(USER)
        terminate_connections(postgres_url, postgres_admin_url)
        uow.get_credit_line(USER)

    assert line_is_readable(store)
    store.close()


def test_while_postgres_is_down_calls_fail_fast_and_succeed_again_once_it_is_back(
    postgres_url: str, postgres_admin_url: str
) -> None:
    server = urlsplit(postgres_admin_url)
    proxy = TcpProxy(server.hostname or "127.0.0.1", server.port or 5432)
    proxy.start()
    through_proxy = urlsplit(postgres_url)._replace(netloc=f"{server.username}@127.0.0.1:{proxy.port}").geturl()
    store = open_store(through_proxy, timeout=1, pool_size=4)
    save_a_line(store)

    proxy.stop()
    for _ in range(2):
        started = time.monotonic()
        with pytest.raises(StoreUnavailable):
            line_is_readable(store)
        assert time.monotonic() - started < 2.5

    proxy.start()
    assert line_is_readable(store)
    store.close()
    proxy.stop()


def test_a_line_locked_by_another_session_fails_the_call_as_busy_before_its_own_timeout(postgres_url: str) -> None:
    """The database ends the wait for the lock (lock_timeout) before the call's own watch would take the silence
    for an outage: the call fails retryably as DatabaseBusy, which health does not count against the database."""
    store = open_store(postgres_url, timeout=1, pool_size=2)
    save_a_line(store)
    with raw_connection(postgres_url) as other_replica:
        other_replica.execute("BEGIN")
        other_replica.execute("SELECT * FROM credit_lines WHERE user_key = %s FOR UPDATE", [USER])
        started = time.monotonic()
        with pytest.raises(LockHeldElsewhere, match="another session held a lock"), store.unit_of_work() as uow:
            uow.get_credit_line(USER, for_update=True)
        waited = time.monotonic() - started
        other_replica.execute("ROLLBACK")

    assert 0.7 < waited < 1.0  # LOCK_WAIT_SHARE of the store's timeout
    assert isinstance(LockHeldElsewhere("x"), DatabaseBusy)
    assert line_is_readable(store)
    store.close()


def test_the_database_frees_the_locks_of_a_store_frozen_inside_a_transaction(postgres_url: str) -> None:
    """A replica paused mid-call (a frozen VM, a partition that leaves its connection open) would keep its users'
    lines locked on every replica: the database ends its session after twice the store's timeout idle."""
    frozen = open_store(postgres_url, timeout=0.5, pool_size=1)
    save_a_line(frozen)
    with pytest.raises(StoreUnavailable), frozen.unit_of_work() as uow:
        uow.get_credit_line(USER, for_update=True)
        with raw_connection(postgres_url) as other_replica:
            other_replica.execute("SET lock_timeout = 3000")
            started = time.monotonic()
            other_replica.execute("SELECT * FROM credit_lines WHERE user_key = %s FOR UPDATE", [USER])  # waits
            waited = time.monotonic() - started
        uow.get_credit_line(USER)  # the frozen one wakes: its session is gone

    assert 0.8 < waited < 2.5  # IDLE_IN_TRANSACTION_TIMES the store's timeout, and a margin
    assert line_is_readable(frozen)  # the pool replaces the connection
    frozen.close()


def test_a_start_that_meets_a_lock_held_elsewhere_fails_in_time_and_says_why(
    postgres_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A maintenance job or a transaction left open holds a ledger table: a replica's start fails after
    MIGRATION_LOCK_WAIT_S, naming the cause (the supervisor logs it and tries again), instead of waiting in silence
    for as long as the lock is held."""
    open_store(postgres_url).close()  # the ledger exists
    monkeypatch.setattr(postgres, "MIGRATION_LOCK_WAIT_S", 0.5)
    with raw_connection(postgres_url) as maintenance:
        maintenance.execute("BEGIN")
        maintenance.execute("LOCK TABLE pseudonym_secret IN ACCESS EXCLUSIVE MODE")
        started = time.monotonic()
        with pytest.raises(StoreUnavailable, match=r"the ledger's tables stayed locked by another session for 0\.5 s"):
            open_store(postgres_url)
        assert time.monotonic() - started < 3
        maintenance.execute("ROLLBACK")
    open_store(postgres_url).close()


@contextmanager
def mounted_read_only(folder: Path) -> Iterator[None]:
    """`folder` on a read-only bind mount of itself (a backup or snapshot handed to an auditor), for the block."""
    if os.geteuid() != 0 or shutil.which("mount") is None:
        pytest.skip("a read-only mount needs root")
    made = subprocess.run(["mount", "--bind", folder, folder], capture_output=True)
    if made.returncode != 0:
        pytest.skip(f"cannot bind-mount here: {made.stderr!r}")
    try:
        subprocess.run(["mount", "-o", "remount,ro,bind", folder, folder], check=True, capture_output=True)
        yield
    finally:
        subprocess.run(["umount", folder], check=True)


def ledger_with_a_line(folder: Path) -> str:
    url = f"sqlite:///{folder / 'ledger.db'}"
    writer = open_store(url)
    save_a_line(writer)
    writer.close()
    return url


def test_a_sqlite_ledger_in_a_read_only_folder_is_read_by_the_auditors_store(tmp_path: Path) -> None:
    """WAL mode needs a shared-memory file beside the database, which a read-only folder cannot take: the auditor's
    commands failed with "unable to open database file"."""
    url = ledger_with_a_line(tmp_path)
    with mounted_read_only(tmp_path):
        reader = open_store(url, read_only=True)
        try:
            assert line_is_readable(reader)
        finally:
            reader.close()


def test_a_snapshot_taken_while_the_ledger_was_open_is_read_with_its_log_in_a_read_only_folder(tmp_path: Path) -> None:
    source, snapshot = tmp_path / "live", tmp_path / "snapshot"
    source.mkdir()
    snapshot.mkdir()
    writer = open_store(f"sqlite:///{source / 'ledger.db'}")
    save_a_line(writer)  # in the log (-wal) only, not yet in the database file
    for name in ("ledger.db", "ledger.db-wal", "ledger.db-shm"):
        shutil.copy(source / name, snapshot / name)
    writer.close()
    with mounted_read_only(snapshot):
        reader = open_store(f"sqlite:///{snapshot / 'ledger.db'}", read_only=True)
        try:
            assert line_is_readable(reader)
        finally:
            reader.close()


def test_a_read_only_ledger_whose_log_cannot_be_read_is_refused_saying_why(tmp_path: Path) -> None:
    """Its log (-wal) without the shared-memory file, in a read-only folder: SQLite would read the database file
    alone and miss what the log holds."""
    source, snapshot = tmp_path / "live", tmp_path / "snapshot"
    source.mkdir()
    snapshot.mkdir()
    writer = open_store(f"sqlite:///{source / 'ledger.db'}")
    save_a_line(writer)
    for name in ("ledger.db", "ledger.db-wal"):
        shutil.copy(source / name, snapshot / name)
    writer.close()
    with mounted_read_only(snapshot), pytest.raises(StoreUnavailable, match="may hold changes not yet in it"):
        open_store(f"sqlite:///{snapshot / 'ledger.db'}", read_only=True)


def test_serving_a_sqlite_ledger_in_a_read_only_folder_names_that_cause(tmp_path: Path) -> None:
    """It said "the folder ... cannot be made", of a folder that exists."""
    url = ledger_with_a_line(tmp_path)
    with mounted_read_only(tmp_path), pytest.raises(StoreUnavailable) as refused:
        open_store(url)
    assert "cannot be made" not in str(refused.value)
    assert "cannot be opened for writing (read-only file system)" in str(refused.value)
