"""A throw-away PostgreSQL database for one benchmark run."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from urllib.parse import urlsplit, urlunsplit

import psycopg

DEFAULT_ADMIN_URL = "postgresql://postgres@127.0.0.1:5432/postgres"


def reachable(admin_url: str) -> str | None:
    """None when the server answers, else why not."""
    try:
        psycopg.connect(admin_url, connect_timeout=3).close()
    except psycopg.Error as error:
        return f"PostgreSQL not reachable at {admin_url}: {str(error).strip().splitlines()[0]}"
    return None


@contextmanager
def scratch_database(admin_url: str) -> Iterator[str]:
    """Create an empty database next to the one admin_url names; yield its URL; drop it afterwards."""
    name = f"bench_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(admin_url, autocommit=True, connect_timeout=5) as admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    try:
        yield urlunsplit(urlsplit(admin_url)._replace(path=f"/{name}"))
    finally:
        with psycopg.connect(admin_url, autocommit=True, connect_timeout=5) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
