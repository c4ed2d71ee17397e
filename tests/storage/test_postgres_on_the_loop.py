"""The PostgreSQL store used by calls on a serving event loop (service/cooperative.py): their transactions
overlap their waits on the database, calls beyond the pool's size wait their turn, and the loop keeps running
everything else all along."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any
from urllib.parse import urlsplit

import psycopg
import pytest

from service import cooperative
from service.app.ports import Store
from service.domain.errors import LockHeldElsewhere, StoreUnavailable
from service.storage import open_store
from tests.storage.conftest import OpenStore
from tests.storage.records import USER
from tests.storage.tcp_proxy import TcpProxy
from tests.support.ticking_loop import run_on_a_ticking_loop


@pytest.fixture
def database_url(postgres_url: str) -> str:
    """These tests make sense on a database over the network only: open_test_store opens PostgreSQL stores."""
    return postgres_url


@contextmanager
def store_through_a_proxy(
    postgres_url: str, postgres_admin_url: str, *, pool_size: int
) -> Iterator[tuple[Store, TcpProxy]]:
    """A store with a 0.5 s timeout that reaches the test's database through a proxy the test can stall or stop."""
    server = urlsplit(postgres_admin_url)
    proxy = TcpProxy(server.hostname or "127.0.0.1", server.port or 5432)
    proxy.start()
    through_proxy = urlsplit(postgres_url)._replace(netloc=f"{server.username}@127.0.0.1:{proxy.port}").geturl()
    store = open_store(through_proxy, timeout=0.5, pool_size=pool_size)
    try:
        yield store, proxy
    finally:
        store.close()
        proxy.stop()


def sleeping_transaction(store: Store, seconds: float) -> Callable[[], float]:
    """A unit of work that waits `seconds` on the server; what it returns is when it ended."""

    def work() -> float:
        with store.unit_of_work() as uow:
            uow.fetch_one("SELECT pg_sleep(%(seconds)s)", {"seconds": seconds})  # type: ignore[attr-defined]
        return time.monotonic()

    return work


def line_exists(store: Store) -> bool:
    with store.unit_of_work() as uow:
        return uow.get_credit_line(USER) is not None


def on_a_ticking_loop(calls: list[Callable[[], Any]]) -> tuple[list[Any], float, int]:
    """The calls' results (or errors), the seconds until the last ended and the ticks of the loop meanwhile
    (tests/support/ticking_loop.py). Afterwards the loop watches no socket of the database's: connections leave
    the loop before they go back to the pool."""
    run = run_on_a_ticking_loop(calls)
    assert run.watched_after == run.watched_before
    return run.results, run.elapsed, run.ticks


def warm(store: Store, connections: int) -> None:
    """Open the pool's connections beforehand, so that the timings measure waits on the server only."""
    on_a_ticking_loop([sleeping_transaction(store, 0.05) for _ in range(connections)])


def test_transactions_of_calls_on_the_loop_overlap_and_the_loop_runs_meanwhile(open_test_store: OpenStore) -> None:
    store = open_test_store(pool_size=8)
    warm(store, 8)
    results, elapsed, ticks = on_a_ticking_loop([sleeping_transaction(store, 0.2) for _ in range(8)])
    assert all(isinstance(result, float) for result in results), results
    assert elapsed < 0.6  # one after another: 1.6 s
    assert ticks >= 50  # the loop was never blocked for long


def test_calls_beyond_the_pool_wait_their_turn_in_order_without_blocking_the_loop(open_test_store: OpenStore) -> None:
    store = open_test_store(pool_size=2)
    warm(store, 2)
    results, elapsed, ticks = on_a_ticking_loop([sleeping_transaction(store, 0.1) for _ in range(6)])
    assert all(isinstance(result, float) for result in results), results
    rounds = [results[0:2], results[2:4], results[4:6]]  # two at a time, in the order they asked
    assert max(rounds[0]) < min(rounds[1]) and max(rounds[1]) < min(rounds[2]), results
    assert 0.3 <= elapsed < 1.0  # three rounds of two
    assert ticks >= 100


def test_a_call_that_gets_no_connection_in_time_is_unavailable_and_the_loop_runs_meanwhile(
    open_test_store: OpenStore,
) -> None:
    store = open_test_store(pool_size=1, timeout=0.3)
    warm(store, 1)

    def holder() -> float:
        """Keeps the one connection for half a second, without a wait on the database that long, and shorter than
        the database lets a transaction idle (twice the store's timeout)."""
        with store.unit_of_work() as uow:
            uow.fetch_one("SELECT 1", {})  # type: ignore[attr-defined]
            cooperative.sleep(0.5)
        return time.monotonic()

    started = time.monotonic()
    results, _, ticks = on_a_ticking_loop([holder, sleeping_transaction(store, 0.0)])
    holder, latecomer = results
    assert isinstance(holder, float)
    assert isinstance(latecomer, StoreUnavailable)
    assert "no database connection free within 0.30 s" in str(latecomer)
    assert time.monotonic() - started < 5
    assert ticks >= 250  # half a second of ticks while both waited


@pytest.mark.parametrize("pool_size", [1, 4])
def test_the_same_store_still_serves_callers_off_the_loop(open_test_store: OpenStore, pool_size: int) -> None:
    store = open_test_store(pool_size=pool_size)
    warm(store, pool_size)
    with store.unit_of_work() as uow:
        assert uow.fetch_one("SELECT 40 + %(two)s", {"two": 2}) == (42,)  # type: ignore[attr-defined]


def test_a_statement_held_by_another_sessions_lock_is_unavailable_after_the_timeout(
    open_test_store: OpenStore, postgres_url: str
) -> None:
    """A session that keeps a table locked (a migration, a maintenance job, a stuck transaction): the database ends
    the call's wait for the lock after 0.8 of the store's timeout (LockHeldElsewhere, before the call's own watch
    would take it for an outage), on the loop and off it, and the store serves once it is gone."""
    store = open_test_store(pool_size=2, timeout=0.5)
    warm(store, 2)
    with psycopg.connect(postgres_url) as locker:
        locker.execute("LOCK TABLE credit_lines IN ACCESS EXCLUSIVE MODE")
        started = time.monotonic()
        results, _, ticks = on_a_ticking_loop([lambda: line_exists(store)])
        assert isinstance(results[0], LockHeldElsewhere), results
        assert 0.35 < time.monotonic() - started < 2.0
        assert ticks >= 50
        started = time.monotonic()
        with pytest.raises(LockHeldElsewhere):
            line_exists(store)
        assert time.monotonic() - started < 2.0
    assert on_a_ticking_loop([lambda: line_exists(store)])[0] == [False]


def test_a_database_that_stops_answering_is_unavailable_after_the_timeout_and_the_store_recovers(
    postgres_url: str, postgres_admin_url: str
) -> None:
    """A network that drops everything, the connections left open (a partition, a frozen host): a call waiting on
    the database fails with StoreUnavailable after the store's timeout instead of waiting for ever, the loop runs
    meanwhile, and once the database answers again the store serves on new connections."""
    with store_through_a_proxy(postgres_url, postgres_admin_url, pool_size=2) as (store, proxy):
        warm(store, 2)
        proxy.stall()
        started = time.monotonic()
        results, _, ticks = on_a_ticking_loop([lambda: line_exists(store), lambda: line_exists(store)])
        assert all(isinstance(result, StoreUnavailable) for result in results), results
        assert time.monotonic() - started < 2.5
        assert ticks >= 50
        proxy.resume()
        assert on_a_ticking_loop([lambda: line_exists(store)])[0] == [False]


def test_a_database_that_refuses_new_connections_is_unavailable_and_says_so(
    postgres_url: str, postgres_admin_url: str
) -> None:
    """The operator reads why: the database did not accept a connection within the store's timeout (not the pool's
    'couldn't get a connection after 0.00 sec', the wait of its last ask on the loop)."""
    with store_through_a_proxy(postgres_url, postgres_admin_url, pool_size=1) as (store, proxy):
        warm(store, 1)
        proxy.stop()  # refuses new connections and closes the pooled one
        results, _, _ = on_a_ticking_loop([lambda: line_exists(store)])
        assert isinstance(results[0], StoreUnavailable), results
        assert "no new connection to the database could be made within 0.50 s" in str(results[0]), results
