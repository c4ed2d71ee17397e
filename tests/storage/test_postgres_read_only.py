"""A PostgreSQL database that takes no writes (a hot standby the server's address reached after a failover, or one
with default_transaction_read_only set) cannot decide a call, since every call writes: calls fail UNAVAILABLE saying
why, as in any outage, not INTERNAL with a traceback, and health reports NOT_SERVING until it takes writes again.
Each test has a database of its own: making a database read-only is ALTER DATABASE, which the other tests' schemas
would share."""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from urllib.parse import urlsplit

import grpc
import psycopg
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc
from structlog.testing import capture_logs

from service._gen.decision.v1 import decision_pb2 as pb
from service._gen.decision.v1 import decision_pb2_grpc as pb_grpc
from service.api.database_health import empty_transaction
from service.app.ports import Store
from service.bootstrap import start_service
from service.config import Settings
from service.domain.errors import DatabaseBusy, StoreUnavailable
from service.storage import open_store
from tests.contract.helpers import error_reason, new_user, open_line, rpc_error
from tests.storage.records import USER, a_line
from tests.support.ticking_loop import run_on_a_ticking_loop

ROOT = Path(__file__).resolve().parents[2]
READ_ONLY = "the database is read-only (a standby, or default_transaction_read_only set): this server needs the primary"


@contextmanager
def a_database_of_its_own(admin_url: str) -> Iterator[tuple[str, str]]:
    """(store URL, name) of a new, empty database (the name is also its connections' application_name), dropped
    afterwards whatever the test left it as."""
    name = f"decisiond_test_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(admin_url, autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    url = urlsplit(admin_url)._replace(path=f"/{name}", query=f"application_name={name}").geturl()
    try:
        yield url, name
    finally:
        with psycopg.connect(admin_url, autocommit=True) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def as_administrator(admin_url: str, *statements: str) -> None:
    with psycopg.connect(admin_url, autocommit=True) as admin:
        for statement in statements:
            admin.execute(statement)


def make_read_only(admin_url: str, name: str, read_only: bool, *, renew_sessions: bool = True) -> None:
    """What a failover to a standby looks like to a replica, as far as writes go: its database takes none, and (with
    `renew_sessions`) its pooled sessions are ended, as a failover ends them; or the database takes writes again."""
    setting = "SET default_transaction_read_only = on" if read_only else "RESET default_transaction_read_only"
    as_administrator(admin_url, f'ALTER DATABASE "{name}" {setting}')
    if renew_sessions:
        as_administrator(
            admin_url, f"SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = '{name}'"
        )


def save_a_line(store: Store) -> None:
    with store.unit_of_work() as uow:
        uow.save_credit_line(a_line())


def locked_line_exists(store: Store) -> bool:
    """What every call does first: lock the user's line (SELECT ... FOR UPDATE, which a read-only database refuses)."""
    with store.unit_of_work() as uow:
        return uow.get_credit_line(USER, for_update=True) is not None


def on_the_loop(*calls: object) -> list[object]:
    """The calls' results (or errors) as a serving worker runs them; no socket is left watched afterwards."""
    run = run_on_a_ticking_loop(list(calls))  # type: ignore[arg-type]
    assert run.watched_after == run.watched_before
    return run.results


@pytest.fixture
def database(postgres_admin_url: str) -> Iterator[tuple[str, str]]:
    with a_database_of_its_own(postgres_admin_url) as url_and_name:
        yield url_and_name


def test_calls_on_a_read_only_database_are_unavailable_saying_the_server_needs_the_primary(
    postgres_admin_url: str, database: tuple[str, str]
) -> None:
    url, name = database
    store = open_store(url, timeout=1, pool_size=2)
    try:
        save_a_line(store)
        make_read_only(postgres_admin_url, name, True)

        results = on_the_loop(lambda: save_a_line(store), lambda: locked_line_exists(store))

        for result in results:
            assert isinstance(result, StoreUnavailable) and not isinstance(result, DatabaseBusy), results
            assert str(result) == READ_ONLY
        with pytest.raises(StoreUnavailable) as off_the_loop:  # the command line's and the tests' way
            locked_line_exists(store)
        assert str(off_the_loop.value) == READ_ONLY
    finally:
        store.close()


def test_the_health_check_finds_a_read_only_database_out_and_then_writable_again(
    postgres_admin_url: str, database: tuple[str, str]
) -> None:
    url, name = database
    store = open_store(url, timeout=1, pool_size=2)
    check = empty_transaction(store)
    try:
        on_the_loop(check)
        make_read_only(postgres_admin_url, name, True)

        assert [str(result) for result in on_the_loop(check)] == [READ_ONLY]

        # Reset without ending the sessions: those begun read-only stay so, and are renewed as they are found.
        make_read_only(postgres_admin_url, name, False, renew_sessions=False)
        found_read_only = 0
        while on_the_loop(check) != [None]:
            found_read_only += 1
            assert found_read_only <= 2, "a session begun read-only was kept (the pool holds 2)"
        assert on_the_loop(lambda: save_a_line(store)) == [None]
        assert on_the_loop(lambda: locked_line_exists(store)) == [True]
    finally:
        store.close()


@pytest.mark.slow
def test_a_server_on_a_read_only_database_refuses_calls_as_unavailable_and_reports_not_serving_until_it_is_writable(
    postgres_admin_url: str, database: tuple[str, str]
) -> None:
    url, name = database
    service = start_service(
        Settings(host="127.0.0.1", port=0, rules_dir=ROOT / "rules", database_url=f"{url}&timeout=1", drain_seconds=1.0)
    )
    try:
        with grpc.insecure_channel(f"127.0.0.1:{service.port}") as channel, capture_logs() as logs:
            decisions = pb_grpc.DecisionServiceStub(channel)
            ledger = pb_grpc.CreditLineServiceStub(channel)
            health = health_pb2_grpc.HealthStub(channel)
            user = new_user()
            open_line(decisions, user)
            server_health = health.Watch(health_pb2.HealthCheckRequest(service=""), timeout=20)
            assert next(server_health).status == health_pb2.HealthCheckResponse.SERVING

            make_read_only(postgres_admin_url, name, True)
            refused = rpc_error(lambda: ledger.GetCreditLine(pb.GetCreditLineRequest(user_id=user), timeout=10))
            assert (refused.code(), error_reason(refused)[1]) == (grpc.StatusCode.UNAVAILABLE, "LEDGER_UNAVAILABLE")
            assert next(server_health).status == health_pb2.HealthCheckResponse.NOT_SERVING
            time.sleep(1.5)  # a check or more run meanwhile: NOT_SERVING holds, the database still takes no writes
            assert health.Check(health_pb2.HealthCheckRequest(service=""), timeout=5).status == (
                health_pb2.HealthCheckResponse.NOT_SERVING
            )

            make_read_only(postgres_admin_url, name, False)
            assert next(server_health).status == health_pb2.HealthCheckResponse.SERVING
            assert ledger.GetCreditLine(pb.GetCreditLineRequest(user_id=user), timeout=10).user_id == user
            server_health.cancel()

        events = [entry for entry in logs if entry["event"] in ("store.unavailable", "health.database_unavailable")]
        assert events and all(entry["reason"] == READ_ONLY for entry in events), events
        assert [entry["event"] for entry in logs if entry["log_level"] in ("error", "critical")] == []
    finally:
        service.stop()
