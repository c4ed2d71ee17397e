"""One store suite over both databases: every test that takes ``store`` or ``database_url`` runs on SQLite
and on PostgreSQL (the databases: tests/support/databases.py)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import psycopg
import pytest

from service.app.ports import Store
from service.storage import open_store

OpenStore = Callable[..., Store]


@pytest.fixture
def dialect(database_url: str) -> str:
    return "sqlite" if database_url.startswith("sqlite") else "postgresql"


@pytest.fixture
def open_test_store(database_url: str) -> Iterator[OpenStore]:
    """Opens stores on this test's database (any number, e.g. replicas), and closes them all afterwards."""
    opened: list[Store] = []

    def open_one(**options: Any) -> Store:
        store = open_store(database_url, **options)
        opened.append(store)
        return store

    yield open_one
    for store in opened:
        store.close()


@pytest.fixture
def store(open_test_store: OpenStore) -> Store:
    return open_test_store()


@contextmanager
def raw_connection(database_url: str) -> Iterator[Any]:
    """A plain driver connection to the test's database, bypassing the store, in autocommit mode."""
    if database_url.startswith("sqlite"):
        import sqlite3

        connection = sqlite3.connect(database_url.removeprefix("sqlite:///"), isolation_level=None)
        try:
            yield connection
        finally:
            connection.close()
        return
    with psycopg.connect(database_url, autocommit=True) as server_connection:
        yield server_connection
