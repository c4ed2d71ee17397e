"""Numbered migrations: applied once, at open, safely when replicas start together; and the pseudonym secret."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest

from service.domain.fraud_features import HistorySummary
from service.domain.model import EventType
from service.storage import MigrationError, migrations, open_store
from service.storage.migrations import load_migrations
from tests.storage.conftest import OpenStore, raw_connection
from tests.storage.records import T0, USER, an_event, minutes
from tests.support.databases import fresh_postgres_schema


def applied_migrations(database_url: str) -> list[tuple[Any, ...]]:
    with raw_connection(database_url) as connection:
        rows = connection.execute("SELECT version, name, checksum, applied_at FROM schema_migrations ORDER BY version")
        return [tuple(row) for row in rows.fetchall()]


def test_each_migration_is_applied_once_and_reopening_applies_nothing(
    open_test_store: OpenStore, database_url: str, dialect: str
) -> None:
    open_test_store().close()
    first = applied_migrations(database_url)

    open_test_store().close()

    expected = [(m.version, m.name, m.checksum) for m in load_migrations(dialect)]  # type: ignore[arg-type]
    assert [row[:3] for row in first] == expected
    assert applied_migrations(database_url) == first


def test_replicas_opening_a_fresh_database_together_apply_each_migration_once(
    open_test_store: OpenStore, database_url: str, dialect: str
) -> None:
    replicas = 6
    start = threading.Barrier(replicas)

    def start_replica(_: int) -> bytes:
        start.wait()
        return open_test_store().pseudonym_key()

    with ThreadPoolExecutor(replicas) as pool:
        keys = set(pool.map(start_replica, range(replicas)))

    assert len(keys) == 1
    assert len(applied_migrations(database_url)) == len(load_migrations(dialect))  # type: ignore[arg-type]


def test_a_migration_edited_after_it_was_applied_is_refused(open_test_store: OpenStore, database_url: str) -> None:
    open_test_store().close()
    with raw_connection(database_url) as connection:
        connection.execute("UPDATE schema_migrations SET checksum = 'edited' WHERE version = 1")

    with pytest.raises(MigrationError, match="changed after it was applied") as refused:
        open_test_store()

    assert refused.value.version == 1


def test_the_pseudonym_key_is_32_bytes_stable_across_reopening_and_distinct_per_database(
    open_test_store: OpenStore, tmp_path: Path
) -> None:
    key = open_test_store().pseudonym_key()

    assert len(key) == 32
    assert open_test_store().pseudonym_key() == key
    other = open_store(f"sqlite:///{tmp_path / 'other.db'}")
    assert other.pseudonym_key() != key
    other.close()


def test_both_dialects_ship_the_same_migration_versions() -> None:
    sqlite = [(m.version, m.name) for m in load_migrations("sqlite")]
    postgresql = [(m.version, m.name) for m in load_migrations("postgresql")]

    assert sqlite == postgresql
    assert [version for version, _ in sqlite] == list(range(1, len(sqlite) + 1))


def test_both_dialects_create_the_same_tables_and_columns(tmp_path: Path, postgres_admin_url: str) -> None:
    sqlite_url = f"sqlite:///{tmp_path / 'ledger.db'}"
    open_store(sqlite_url).close()
    with raw_connection(sqlite_url) as connection:
        tables = [row[0] for row in connection.execute("SELECT name FROM sqlite_master WHERE type = 'table'")]
        sqlite_columns = {
            (table, row[1]) for table in tables for row in connection.execute(f"PRAGMA table_info({table})")
        }
    with fresh_postgres_schema(postgres_admin_url) as postgres_url:
        open_store(postgres_url).close()
        with raw_connection(postgres_url) as connection:
            postgres_columns = set(
                connection.execute(
                    "SELECT table_name, column_name FROM information_schema.columns"
                    " WHERE table_schema = current_schema()"
                ).fetchall()
            )

    assert sqlite_columns == postgres_columns


def test_a_ledger_made_before_the_activity_index_is_upgraded_with_its_history_intact(
    open_test_store: OpenStore, database_url: str, dialect: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    every_file = list(migrations._migration_files())
    monkeypatch.setattr(migrations, "_migration_files", lambda: iter(f for f in every_file if f[0].startswith("0001")))
    old = open_test_store()
    with old.unit_of_work() as uow:
        uow.append_event(an_event(EventType.DRAWDOWN, at=T0, amount=5_000))
        uow.append_event(an_event(EventType.PHONE_CHANGE, at=T0 + minutes(1)))
    old.close()
    assert [row[0] for row in applied_migrations(database_url)] == [1]
    monkeypatch.undo()

    upgraded = open_test_store()
    with upgraded.unit_of_work() as uow:
        assert uow.history_summary(USER, T0 + minutes(2)) == HistorySummary(
            drawdowns_last_hour=1, drawdown_amount_last_hour=5_000, credential_changed_last_24h=True
        )
    every_version = [m.version for m in load_migrations(dialect)]  # type: ignore[arg-type]
    assert [row[0] for row in applied_migrations(database_url)] == every_version
