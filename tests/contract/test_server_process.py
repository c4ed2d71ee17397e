"""`decisiond serve` as an operator runs it: the start line, health, reflection, logs, SIGTERM drain."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection_pb2, reflection_pb2_grpc

from service._gen.decision.v1 import decision_pb2 as pb
from service._gen.decision.v1 import decision_pb2_grpc as pb_grpc
from service.app.pseudonyms import Pseudonyms
from service.storage import open_store
from tests.contract.helpers import open_line
from tests.support.builders import drawdown

ROOT = Path(__file__).resolve().parents[2]
START_LINE = re.compile(r"^decisiond listening on 127\.0\.0\.1:(\d+) with rule bundle (\S+) ")


class ServerProcess:
    def __init__(self, process: subprocess.Popen[str], port: int, first_line: str) -> None:
        self.process = process
        self.port = port
        self.first_line = first_line
        self.stderr_lines: list[str] = []
        self._reader = threading.Thread(target=self._drain_stderr, daemon=True)
        self._reader.start()

    def _drain_stderr(self) -> None:
        assert self.process.stderr is not None
        for line in self.process.stderr:
            self.stderr_lines.append(line)

    def logs(self) -> list[dict[str, object]]:
        return [json.loads(line) for line in self.stderr_lines if line.startswith("{")]


@pytest.fixture
def server(tmp_path: Path) -> Iterator[ServerProcess]:
    env = {**os.environ, "DECISIOND_DATABASE": f"sqlite:///{tmp_path / 'ledger.db'}"}
    process = subprocess.Popen(
        [sys.executable, "-m", "service.cli", "serve", "--listen", "127.0.0.1:0", "--rules", str(ROOT / "rules")],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
        cwd=tmp_path,
    )
    assert process.stdout is not None
    first_line = process.stdout.readline()
    match = START_LINE.match(first_line)
    assert match, f"unexpected start line: {first_line!r}"
    running = ServerProcess(process, int(match.group(1)), first_line)
    yield running
    if process.poll() is None:
        process.kill()
        process.wait(timeout=10)


def test_start_line_names_the_port_and_the_rule_bundle_version(server: ServerProcess) -> None:
    assert server.port > 0
    assert "with rule bundle" in server.first_line


def test_health_and_reflection_answer(server: ServerProcess) -> None:
    with grpc.insecure_channel(f"127.0.0.1:{server.port}") as channel:
        health = health_pb2_grpc.HealthStub(channel)
        for service in ("", "decision.v1.DecisionService", "decision.v1.CreditLineService"):
            answer = health.Check(health_pb2.HealthCheckRequest(service=service), timeout=5)
            assert answer.status == health_pb2.HealthCheckResponse.SERVING
        stub = reflection_pb2_grpc.ServerReflectionStub(channel)
        responses = stub.ServerReflectionInfo(iter([reflection_pb2.ServerReflectionRequest(list_services="")]))
        names = {s.name for r in responses for s in r.list_services_response.service}
        assert {"decision.v1.DecisionService", "decision.v1.CreditLineService", "grpc.health.v1.Health"} <= names


def test_decisions_are_logged_as_json_without_the_user_id(server: ServerProcess) -> None:
    with grpc.insecure_channel(f"127.0.0.1:{server.port}") as channel:
        decisions = pb_grpc.DecisionServiceStub(channel)
        open_line(decisions, "alice-13800138000")
        answer = decisions.AuthorizeDrawdown(drawdown("alice-13800138000", 1_000))
    server.process.send_signal(signal.SIGTERM)
    assert server.process.wait(timeout=20) == 0
    server._reader.join(timeout=5)
    logs = [entry for entry in server.logs() if entry.get("event") == "decision"]
    assert {entry["rpc"] for entry in logs} == {"GrantLimit", "AuthorizeDrawdown"}
    drawdown_log = next(entry for entry in logs if entry["rpc"] == "AuthorizeDrawdown")
    assert drawdown_log["decision_id"] == answer.meta.decision_id
    assert drawdown_log["ruleset_version"] == answer.meta.ruleset_version
    assert drawdown_log["outcome"] == "APPROVE"
    assert isinstance(drawdown_log["latency_ms"], float)
    assert isinstance(drawdown_log["rules_fired"], list)
    assert "alice" not in "".join(server.stderr_lines)
    assert "13800138000" not in "".join(server.stderr_lines)


def test_sigterm_drains_calls_in_flight_and_loses_no_accepted_drawdown(server: ServerProcess, tmp_path: Path) -> None:
    with grpc.insecure_channel(f"127.0.0.1:{server.port}") as channel:
        decisions = pb_grpc.DecisionServiceStub(channel)
        open_line(decisions, "drain-user")
        calls = [decisions.AuthorizeDrawdown.future(drawdown("drain-user", 100), timeout=30) for _ in range(150)]
        calls[0].result()
        server.process.send_signal(signal.SIGTERM)
        answered, refused = [], []
        for call in calls:
            try:
                answered.append(call.result())
            except grpc.RpcError as error:
                refused.append(error.code())
    assert server.process.wait(timeout=30) == 0
    assert answered, "calls accepted before SIGTERM must be answered"
    assert set(refused) <= {grpc.StatusCode.UNAVAILABLE}, refused
    approved = [a for a in answered if a.outcome == pb.OUTCOME_APPROVE]
    store = open_store(f"sqlite:///{tmp_path / 'ledger.db'}")
    try:
        user_key = Pseudonyms(store.pseudonym_key()).user_key("drain-user")
        with store.unit_of_work() as uow:
            line = uow.get_credit_line(user_key)
            recorded = uow.open_drawdowns(user_key)
    finally:
        store.close()
    assert line is not None
    assert sorted(d.drawdown_id for d in recorded) == sorted(a.drawdown_id for a in approved)
    assert line.outstanding_principal == 10_000 * len(approved)
