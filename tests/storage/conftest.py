"""One store suite over both databases: every test that takes ``store`` or ``store_url`` runs on SQLite and
on PostgreSQL. PostgreSQL is required, never skipped: each test gets a fresh schema, dropped afterwards, in
the database named by DECISIOND_TEST_POSTGRES (default postgresql://postgres@127.0.0.1:5432/test)."""

from __future__ import annotations

import os
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import psycopg
import pytest

from service.app.ports import Store
from service.storage import open_store

POSTGRES_ADMIN_URL = os.environ.get("DECISIOND_TEST_POSTGRES", "postgresql://postgres@127.0.0.1:5432/test")
DIALECTS = ("sqlite", "postgresql")

OpenStore = Callable[..., Store]


@pytest.fixture(scope="session")
def postgres_admin_url() -> str:
    """The test database's URL, after checking that it answers; fails every PostgreSQL test loudly if not."""
    try:
        psycopg.connect(POSTGRES_ADMIN_URL, connect_timeout=3).close()
    except psycopg.OperationalError as exc:
        pytest.fail(
            f"PostgreSQL is required by the storage suite and is unreachable at {POSTGRES_ADMIN_URL} ({exc}). "
            "Start it (scripts/ensure-postgres) or point DECISIOND_TEST_POSTGRES at one.",
            pytrace=False,
        )
    return POSTGRES_ADMIN_URL


@contextmanager
def fresh_postgres_schema(admin_url: str) -> Iterator[str]:
    """A store URL on a new, empty schema (also the connections' application_name), dropped afterwards."""
    schema = f"decisiond_test_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(admin_url, autocommit=True) as admin:
        admin.execute(f'CREATE SCHEMA "{schema}"')
    separator = "&" if "?" in admin_url else "?"
    try:
        yield f"{admin_url}{separator}options=-csearch_path%3D{schema}&application_name={schema}"
    finally:
        with psycopg.connect(admin_url, autocommit=True) as admin:
            admin.execute(f'DROP SCHEMA "{schema}" CASCADE')


@pytest.fixture(params=DIALECTS)
def store_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A URL naming a fresh, empty database of each dialect in turn."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'ledger.db'}"
    else:
        with fresh_postgres_schema(request.getfixturevalue("postgres_admin_url")) as url:
            yield url


@pytest.fixture
def postgres_url(postgres_admin_url: str) -> Iterator[str]:
    """A URL naming a fresh, empty PostgreSQL schema, for the tests that only make sense on a server."""
    with fresh_postgres_schema(postgres_admin_url) as url:
        yield url


@pytest.fixture
def dialect(store_url: str) -> str:
    return "sqlite" if store_url.startswith("sqlite") else "postgresql"


@pytest.fixture
def open_test_store(store_url: str) -> Iterator[OpenStore]:
    """Opens stores on this test's database (any number, e.g. replicas), and closes them all afterwards."""
    opened: list[Store] = []

    def open_one(**options: Any) -> Store:
        store = open_store(store_url, **options)
        opened.append(store)
        return store

    yield open_one
    for store in opened:
        store.close()


@pytest.fixture
def store(open_test_store: OpenStore) -> Store:
    return open_test_store()


@contextmanager
def raw_connection(store_url: str) -> Iterator[Any]:
    """A plain driver connection to the test's database, bypassing the store, in autocommit mode."""
    if store_url.startswith("sqlite"):
        import sqlite3

        connection = sqlite3.connect(store_url.removeprefix("sqlite:///"), isolation_level=None)
        try:
            yield connection
        finally:
            connection.close()
        return
    with psycopg.connect(store_url, autocommit=True) as server_connection:
        yield server_connection
