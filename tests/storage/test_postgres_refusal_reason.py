"""When PostgreSQL refuses the store's new connections (connections not allowed, authentication, too many clients, a
dropped database), a call that waited out the timeout for one says what the database answered, not only that it
waited: the operator reads the refusal in `store.unavailable` and `health.database_unavailable`, where the pool's own
warnings of each attempt, several a second, are silenced (service/logs.py)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from service.app.ports import Store
from service.domain.errors import StoreUnavailable
from service.storage import open_store
from tests.storage.test_postgres_read_only import a_database_of_its_own, as_administrator, on_the_loop, save_a_line


@pytest.fixture
def database(postgres_admin_url: str) -> Iterator[tuple[str, str]]:
    with a_database_of_its_own(postgres_admin_url) as url_and_name:
        yield url_and_name


def refuse_connections(admin_url: str, name: str, refuse: bool) -> None:
    """ALLOW_CONNECTIONS false and the database's sessions ended (an operator's maintenance), or allowed again."""
    as_administrator(admin_url, f'ALTER DATABASE "{name}" ALLOW_CONNECTIONS {"false" if refuse else "true"}')
    if refuse:
        as_administrator(admin_url, f"SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = '{name}'")


def test_a_call_refused_a_connection_says_what_the_database_answered(
    postgres_admin_url: str, database: tuple[str, str]
) -> None:
    url, name = database
    store: Store = open_store(url, timeout=0.5, pool_size=1)
    try:
        on_the_loop(lambda: save_a_line(store))
        refuse_connections(postgres_admin_url, name, True)

        [on_loop] = on_the_loop(lambda: save_a_line(store))
        with pytest.raises(StoreUnavailable) as off_loop:  # the command line's way, through the pool's own wait
            save_a_line(store)

        refusal = f'FATAL:  database "{name}" is not currently accepting connections'
        assert isinstance(on_loop, StoreUnavailable), on_loop
        assert str(on_loop).startswith(
            "no new connection to the database could be made within 0.50 s: connection failed")
        assert str(on_loop).endswith(refusal)
        assert str(off_loop.value).endswith(refusal)

        refuse_connections(postgres_admin_url, name, False)
        assert on_the_loop(lambda: save_a_line(store)) == [None]
    finally:
        store.close()
