"""Health follows the database on PostgreSQL: while a replica's database does not answer, the services that need it
report NOT_SERVING, so that a health-checking load balancer sends the calls to a replica that can answer them, and
SERVING again as soon as the database answers. On SQLite a call that finds the ledger unavailable met another
process's write lock, not an outage: health stays as it was."""

from __future__ import annotations

import asyncio
import sqlite3
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from pathlib import Path
from urllib.parse import urlsplit

import grpc
import psycopg
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc

from service._gen.decision.v1 import decision_pb2 as pb
from service._gen.decision.v1 import decision_pb2_grpc as pb_grpc
from service.api.database_health import CHECK_EVERY_S, DatabaseHealth
from service.api.health import DrainableHealth
from service.api.runners import GreenletRunner
from service.bootstrap import Service, start_service
from service.config import Settings
from service.domain.errors import DatabaseBusy, LineChangedMeanwhile, LockHeldElsewhere
from tests.contract.helpers import new_user, open_line, rpc_error
from tests.storage.tcp_proxy import TcpProxy
from tests.support.builders import drawdown, request_id, strong_applicant

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[2]
SERVING = health_pb2.HealthCheckResponse.SERVING
NOT_SERVING = health_pb2.HealthCheckResponse.NOT_SERVING
DECISIONS = "decision.v1.DecisionService"
LEDGER = "decision.v1.CreditLineService"
RULES = "decision.v1.RulesService"
STORE_TIMEOUT_S = 1  # a call on a database that does not answer fails after this long
# How soon health must follow the database: a check of the database takes at most the store's timeout and runs
# every second; the rest is room for a loaded machine.
FOLLOWS_WITHIN_S = 2 * STORE_TIMEOUT_S + 3


@pytest.fixture
def database(postgres_url: str) -> Iterator[TcpProxy]:
    """A proxy to the test's PostgreSQL schema, which the test stops (the database is down) and starts again."""
    parts = urlsplit(postgres_url)
    proxy = TcpProxy(parts.hostname or "127.0.0.1", parts.port or 5432)
    proxy.start()
    yield proxy
    proxy.stop()


def through(proxy: TcpProxy, postgres_url: str) -> str:
    """The store URL that reaches the schema through the proxy, with the tests' short store timeout."""
    parts = urlsplit(postgres_url)
    user, at, _ = parts.netloc.rpartition("@")
    return f"{parts._replace(netloc=f'{user}{at}127.0.0.1:{proxy.port}').geturl()}&timeout={STORE_TIMEOUT_S}"


def settings(database_url: str, rules_dir: Path = ROOT / "rules", lame_duck_seconds: float = 0.0) -> Settings:
    return Settings(
        host="127.0.0.1",
        port=0,
        rules_dir=rules_dir,
        database_url=database_url,
        drain_seconds=1.0,
        lame_duck_seconds=lame_duck_seconds,
    )


@contextmanager
def serving(database_url: str, rules_dir: Path = ROOT / "rules") -> Iterator[Service]:
    service = start_service(settings(database_url, rules_dir))
    try:
        yield service
    finally:
        service.stop()


def statuses(health: health_pb2_grpc.HealthStub) -> dict[str, int]:
    """What a health Check says of each service and of the server as a whole ("")."""
    return {
        name: health.Check(health_pb2.HealthCheckRequest(service=name), timeout=5).status
        for name in (DECISIONS, LEDGER, RULES, "")
    }


def watch(health: health_pb2_grpc.HealthStub, name: str = "") -> Iterator[health_pb2.HealthCheckResponse]:
    return health.Watch(health_pb2.HealthCheckRequest(service=name), timeout=15)  # type: ignore[no-any-return]


def next_status_within(stream: Iterator[health_pb2.HealthCheckResponse], seconds: float) -> int:
    """The next status a Watch stream reports, which must come within `seconds`."""
    asked = time.monotonic()
    status: int = next(stream).status
    assert time.monotonic() - asked < seconds, f"the watch took {time.monotonic() - asked:.1f} s to report {status}"
    return status


def get_line(channel: grpc.Channel, user: str) -> pb.GetCreditLineResponse:
    return pb_grpc.CreditLineServiceStub(channel).GetCreditLine(pb.GetCreditLineRequest(user_id=user), timeout=10)


def test_while_postgres_does_not_answer_its_services_report_not_serving_until_it_answers_again(
    postgres_url: str, database: TcpProxy
) -> None:
    with serving(through(database, postgres_url)) as service, grpc.insecure_channel(
        f"127.0.0.1:{service.port}"
    ) as channel:
        health = health_pb2_grpc.HealthStub(channel)
        user = new_user()
        open_line(pb_grpc.DecisionServiceStub(channel), user)
        server_health = watch(health)
        assert next(server_health).status == SERVING

        database.stop()
        assert rpc_error(lambda: get_line(channel, user)).code() == grpc.StatusCode.UNAVAILABLE
        # A balancer asking now is told to go elsewhere; rule status needs no database and answers.
        assert statuses(health) == {DECISIONS: NOT_SERVING, LEDGER: NOT_SERVING, RULES: SERVING, "": NOT_SERVING}
        assert next_status_within(server_health, 1) == NOT_SERVING

        database.start()
        assert next_status_within(server_health, FOLLOWS_WITHIN_S) == SERVING
        assert statuses(health) == {DECISIONS: SERVING, LEDGER: SERVING, RULES: SERVING, "": SERVING}
        assert get_line(channel, user).user_id == user
        open_line(pb_grpc.DecisionServiceStub(channel), new_user())
        server_health.cancel()  # type: ignore[attr-defined]


def test_an_outage_with_no_calls_shows_in_health_before_the_first_caller_meets_it(
    postgres_url: str, database: TcpProxy
) -> None:
    with serving(through(database, postgres_url)) as service, grpc.insecure_channel(
        f"127.0.0.1:{service.port}"
    ) as channel:
        health = health_pb2_grpc.HealthStub(channel)
        decision_health = watch(health, DECISIONS)
        assert next(decision_health).status == SERVING

        database.stop()
        assert next_status_within(decision_health, FOLLOWS_WITHIN_S) == NOT_SERVING
        assert statuses(health) == {DECISIONS: NOT_SERVING, LEDGER: NOT_SERVING, RULES: SERVING, "": NOT_SERVING}

        database.start()
        assert next_status_within(decision_health, FOLLOWS_WITHIN_S) == SERVING
        open_line(pb_grpc.DecisionServiceStub(channel), new_user())
        decision_health.cancel()  # type: ignore[attr-defined]


def test_without_a_valid_bundle_only_the_ledger_serves_again_when_the_database_returns(
    postgres_url: str, database: TcpProxy, tmp_path: Path
) -> None:
    broken = tmp_path / "rules"
    broken.mkdir()
    (broken / "bundle.yaml").write_text("version: [\n")
    with serving(through(database, postgres_url), broken) as service, grpc.insecure_channel(
        f"127.0.0.1:{service.port}"
    ) as channel:
        health = health_pb2_grpc.HealthStub(channel)
        server_health = watch(health)
        assert next(server_health).status == SERVING

        database.stop()
        assert rpc_error(lambda: get_line(channel, new_user())).code() == grpc.StatusCode.UNAVAILABLE
        assert statuses(health) == {DECISIONS: NOT_SERVING, LEDGER: NOT_SERVING, RULES: SERVING, "": NOT_SERVING}
        assert next(server_health).status == NOT_SERVING

        database.start()
        assert next_status_within(server_health, FOLLOWS_WITHIN_S) == SERVING
        assert statuses(health) == {DECISIONS: NOT_SERVING, LEDGER: SERVING, RULES: SERVING, "": SERVING}
        server_health.cancel()  # type: ignore[attr-defined]


def test_a_draining_server_stays_not_serving_when_its_database_answers_again(
    postgres_url: str, database: TcpProxy
) -> None:
    """The database going and coming back during the lame-duck period of a shutdown (calls are still answered,
    health says NOT_SERVING) never shows as SERVING to a watching balancer."""
    service = start_service(settings(through(database, postgres_url), lame_duck_seconds=4 * STORE_TIMEOUT_S))
    stopping = threading.Thread(target=service.stop)
    try:
        with grpc.insecure_channel(f"127.0.0.1:{service.port}") as channel:
            server_health = watch(health_pb2_grpc.HealthStub(channel))
            assert next(server_health).status == SERVING
            stopping.start()
            assert next(server_health).status == NOT_SERVING  # the drain has begun
            database.stop()
            assert rpc_error(lambda: get_line(channel, new_user())).code() == grpc.StatusCode.UNAVAILABLE
            database.start()
            open_line(pb_grpc.DecisionServiceStub(channel), new_user())  # the database answers again
            # The stream ends when the lame duck does (a check has found the database answering by then), with
            # nothing more said than to watch again.
            said: list[int] = []
            with pytest.raises(grpc.RpcError) as ended:
                said.extend(answer.status for answer in server_health)
            assert (said, ended.value.code()) == ([], grpc.StatusCode.UNAVAILABLE)
    finally:
        if stopping.ident is None:
            stopping.start()
        stopping.join()


def test_on_postgres_a_call_that_waits_out_a_lock_another_session_holds_leaves_health_serving(
    postgres_url: str,
) -> None:
    """Another replica's call, or a replica frozen mid-call, holds the user's line: this call fails UNAVAILABLE to
    be retried, but this replica and its database are fine, and a balancer must not be told otherwise."""
    with serving(f"{postgres_url}&timeout={STORE_TIMEOUT_S}") as service, grpc.insecure_channel(
        f"127.0.0.1:{service.port}"
    ) as channel, psycopg.connect(postgres_url, autocommit=True) as other_replica:
        decisions = pb_grpc.DecisionServiceStub(channel)
        user = new_user()
        open_line(decisions, user)
        server_health = watch(health_pb2_grpc.HealthStub(channel))
        seen: list[int] = []

        def follow() -> None:
            with suppress(grpc.RpcError):  # CANCELLED, when the test has seen enough
                seen.extend(answer.status for answer in server_health)

        watching = threading.Thread(target=follow)
        watching.start()
        other_replica.execute("BEGIN")
        other_replica.execute("SELECT * FROM credit_lines FOR UPDATE")  # every line, the user's included
        try:
            held_up = rpc_error(lambda: decisions.AuthorizeDrawdown(drawdown(user, 1_000), timeout=10))
            assert held_up.code() == grpc.StatusCode.UNAVAILABLE
            time.sleep(2 * CHECK_EVERY_S)  # a check the failure asked for would have reported by now
        finally:
            other_replica.execute("ROLLBACK")
            server_health.cancel()  # type: ignore[attr-defined]
            watching.join()
        assert seen == [SERVING]
        assert decisions.AuthorizeDrawdown(drawdown(user, 1_000), timeout=10).outcome == pb.OUTCOME_APPROVE


def test_on_sqlite_a_call_held_up_by_another_writer_leaves_health_serving(tmp_path: Path) -> None:
    """There StoreUnavailable means another process holds the write lock (a shell, a VACUUM) for a moment: every
    replica on that file would meet it, so reporting NOT_SERVING would only make health flap."""
    ledger_file = tmp_path / "ledger.db"
    with serving(f"sqlite:///{ledger_file}?timeout=0.3") as service, grpc.insecure_channel(
        f"127.0.0.1:{service.port}"
    ) as channel:
        health = health_pb2_grpc.HealthStub(channel)
        other_process = sqlite3.connect(ledger_file, isolation_level=None)
        try:
            other_process.execute("BEGIN IMMEDIATE")
            held_up = rpc_error(
                lambda: pb_grpc.DecisionServiceStub(channel).GrantLimit(
                    pb.GrantLimitRequest(request_id=request_id(), applicant=strong_applicant(new_user())), timeout=10
                )
            )
            assert held_up.code() == grpc.StatusCode.UNAVAILABLE
            assert statuses(health) == {DECISIONS: SERVING, LEDGER: SERVING, RULES: SERVING, "": SERVING}
        finally:
            other_process.execute("ROLLBACK")
            other_process.close()
        open_line(pb_grpc.DecisionServiceStub(channel), new_user())


@pytest.mark.parametrize(
    "busy",
    [
        LineChangedMeanwhile("the credit line changed while it was locked"),
        LockHeldElsewhere("another session held a lock this call needed"),
    ],
    ids=["line-changed-meanwhile", "lock-held-elsewhere"],
)
def test_a_call_the_database_answered_but_could_not_serve_now_is_no_outage(busy: DatabaseBusy) -> None:
    """The database answered (a back office froze the line meanwhile; another replica held the user's line): the
    call fails UNAVAILABLE to be retried, but health must not blink NOT_SERVING for it."""

    async def scenario() -> dict[str, int]:
        health = DrainableHealth()
        checks: list[str] = []
        follower = DatabaseHealth(health, can_decide=True, check_database=lambda: checks.append("checked"),
                                  runner=GreenletRunner(), check_every_s=3600)
        await follower.start()
        await follower.store_unavailable(busy)
        await asyncio.sleep(0.05)
        await follower.stop()
        assert checks == []  # no check was asked for either
        return dict(health._server_status)

    assert asyncio.run(scenario()) == {DECISIONS: SERVING, LEDGER: SERVING, RULES: SERVING, "": SERVING}
