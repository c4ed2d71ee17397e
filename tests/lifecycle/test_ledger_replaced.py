"""The SQLite ledger file deleted under a running server: every call fails UNAVAILABLE and health says NOT_SERVING,
instead of answering OK from the unlinked file (all lost at the next start); and a worker that dies meanwhile is not
replaced by one on a new, empty ledger, or on another ledger, which made one server answer from two ledgers. Also: a
worker the supervisor has to kill when it stops is logged."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc
from structlog.testing import capture_logs

from service._gen.decision.v1 import decision_pb2 as pb
from service._gen.decision.v1 import decision_pb2_grpc as pb_grpc
from service.supervisor import ANOTHER_LEDGER, Supervisor, Worker
from tests.lifecycle.test_hot_reload import wait_for
from tests.lifecycle.test_supervisor_replacement import (  # noqa: F401 - fixtures
    Clock,
    ReplacementAttempts,
    attempts,
    clock,
    serving_with_one_dead_worker,
    watch_for,
)
from tests.support.builders import request_id, strong_applicant
from tests.support.server_process import ServerProcess, start_server, workers_of

pytestmark = pytest.mark.slow

FRESH_CONNECTIONS = 12  # each to one worker, as the kernel spreads them: both workers are met


@pytest.fixture
def ledger(tmp_path: Path) -> Path:
    return tmp_path / "ledger.db"


@pytest.fixture
def server(ledger: Path) -> Iterator[ServerProcess]:
    running = start_server(f"sqlite:///{ledger}")
    yield running
    running.kill()


def credit_line_answers(server: ServerProcess, user: str) -> set[str]:
    """What GetCreditLine answers for `user` on fresh connections: "found", or the status code's name."""
    answers = set()
    for _ in range(FRESH_CONNECTIONS):
        with grpc.insecure_channel(server.address) as channel:
            try:
                pb_grpc.CreditLineServiceStub(channel).GetCreditLine(pb.GetCreditLineRequest(user_id=user), timeout=10)
                answers.add("found")
            except grpc.RpcError as error:
                answers.add(error.code().name)
    return answers


def health_answers(server: ServerProcess) -> set[str]:
    answers = set()
    for _ in range(FRESH_CONNECTIONS):
        with grpc.insecure_channel(server.address) as channel:
            status = health_pb2_grpc.HealthStub(channel).Check(health_pb2.HealthCheckRequest(service=""), timeout=10)
            answers.add(health_pb2.HealthCheckResponse.ServingStatus.Name(status.status))
    return answers


def delete_the_ledger(ledger: Path) -> None:
    for suffix in ("", "-wal", "-shm"):
        Path(f"{ledger}{suffix}").unlink(missing_ok=True)


def test_a_deleted_ledger_fails_every_call_and_health_and_no_worker_begins_a_new_one(
    server: ServerProcess, ledger: Path
) -> None:
    with grpc.insecure_channel(server.address) as channel:
        pb_grpc.DecisionServiceStub(channel).GrantLimit(
            pb.GrantLimitRequest(request_id=request_id(), applicant=strong_applicant("kept")), timeout=30
        )
    delete_the_ledger(ledger)
    with grpc.insecure_channel(server.address) as channel, pytest.raises(grpc.RpcError) as failed:
        pb_grpc.DecisionServiceStub(channel).GrantLimit(
            pb.GrantLimitRequest(request_id=request_id(), applicant=strong_applicant("lost")), timeout=30
        )
    assert failed.value.code() == grpc.StatusCode.UNAVAILABLE
    wait_for(lambda: health_answers(server) == {"NOT_SERVING"}, "both workers to report NOT_SERVING", timeout=15)
    assert any(line.get("event") == "store.ledger_replaced" for line in server.logs())

    os.kill(min(workers_of(server.process.pid)), signal.SIGKILL)
    wait_for(lambda: any(line.get("event") == "worker.not_replaced" for line in server.logs()),
             "the replacement to be refused", timeout=30)
    assert credit_line_answers(server, "kept") == {"UNAVAILABLE"}  # never NOT_FOUND from a new, empty ledger
    assert not ledger.exists()
    refused = [line for line in server.logs() if line.get("event") == "worker.not_replaced"]
    assert "does not exist" in str(refused[0]["reason"]), refused
    assert server.stop() == 0


def test_a_replacement_on_another_ledger_than_the_servers_is_not_taken(
    supervisor: Supervisor, clock: Clock, attempts: ReplacementAttempts, tmp_path: Path  # noqa: F811 - fixtures
) -> None:
    """A ledger replaced under the server (a restore): a worker started since reads the new file, while the others
    were started on the old one."""
    dead = serving_with_one_dead_worker(supervisor, tmp_path)
    assert supervisor.active is not None
    serving = f"READY {supervisor.active.version} {supervisor.active.digest}"
    supervisor._ledger = "0123456789abcdef"
    attempts.says = f"{serving} fedcba9876543210"
    with capture_logs() as logs:
        watch_for(supervisor, clock, 4)
    assert supervisor.workers[0] is dead
    refused = [line for line in logs if line["event"] == "worker.not_replaced"]
    assert refused and all(line["reason"] == ANOTHER_LEDGER for line in refused)
    attempts.says = f"{serving} 0123456789abcdef"  # the ledger is back
    with capture_logs() as logs:
        watch_for(supervisor, clock, 20)
    assert [line["event"] for line in logs] == ["worker.replaced"]


def test_workers_started_after_the_first_are_told_to_make_no_new_ledger(supervisor: Supervisor) -> None:
    spawned = supervisor._spawn(None, 0)
    spawned.process.kill()
    assert "--existing-ledger" not in spawned.process.args
    supervisor._ledger = "0123456789abcdef"
    spawned = supervisor._spawn(None, 0)
    spawned.process.kill()
    assert "--existing-ledger" in spawned.process.args


def test_a_worker_killed_because_it_did_not_stop_in_time_is_logged(supervisor: Supervisor) -> None:
    """A frozen worker is killed once the drain time and 5 s are over: its calls in flight were cut off unanswered,
    which the log must say (it said nothing, and the exit status was the same as after a clean drain)."""
    supervisor.settings = replace(supervisor.settings, drain_seconds=0)
    ignores_sigterm = "import signal, time; signal.signal(signal.SIGTERM, signal.SIG_IGN); print(); time.sleep(60)"
    process = subprocess.Popen([sys.executable, "-c", ignores_sigterm], stdout=subprocess.PIPE, text=True)
    assert process.stdout is not None
    process.stdout.readline()  # SIGTERM is ignored from now on, as by a worker stuck in a call
    stuck = Worker(process, Path(), slot=1)
    with capture_logs() as logs:
        supervisor._stop_workers([stuck])
    assert stuck.process.returncode == -signal.SIGKILL
    killed = [line for line in logs if line["event"] == "worker.killed"]
    assert [(line["pid"], line["slot"]) for line in killed] == [(stuck.pid(), 1)]
    assert "cut off" in killed[0]["reason"]


def test_a_server_on_in_memory_databases_starts_each_worker_on_its_own_and_serves() -> None:
    """`--database sqlite:///:memory:` gives every worker a database of its own, never shared: their ledgers differ
    by design, and the server refused every set of workers for it, forever."""
    server = start_server("sqlite:///:memory:")
    try:
        with grpc.insecure_channel(f"127.0.0.1:{server.port}") as channel:
            answer = pb_grpc.DecisionServiceStub(channel).ScoreUser(
                pb.ScoreUserRequest(request_id=request_id(), applicant=strong_applicant("u-memory")), timeout=10)
        assert answer.score > 0
    finally:
        assert server.stop() == 0
