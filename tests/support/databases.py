"""The test databases, for every test package: a fresh SQLite file or PostgreSQL schema per test.

PostgreSQL is required, never skipped: each test that needs it gets a fresh schema, dropped afterwards, in the
database named by DECISIOND_TEST_POSTGRES (default postgresql://postgres@127.0.0.1:5432/test); when it does not
answer, those tests fail loudly with what to do. Registered for the whole suite by tests/conftest.py.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import psycopg
import pytest

POSTGRES_ADMIN_URL = os.environ.get("DECISIOND_TEST_POSTGRES", "postgresql://postgres@127.0.0.1:5432/test")
DIALECTS = ("sqlite", "postgresql")


@pytest.fixture(scope="session")
def postgres_admin_url() -> str:
    """The test database's URL, after checking that it answers; fails every PostgreSQL test loudly if not."""
    try:
        psycopg.connect(POSTGRES_ADMIN_URL, connect_timeout=3).close()
    except psycopg.OperationalError as exc:
        pytest.fail(
            f"PostgreSQL is required by the tests (the store suite, the ledger guarantees) and is unreachable at"
            f" {POSTGRES_ADMIN_URL} ({exc}). Start it (scripts/ensure-postgres) or point DECISIOND_TEST_POSTGRES"
            " at one.",
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
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
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
