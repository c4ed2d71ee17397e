"""`decisiond serve` as an operator runs it: the start line, health, reflection, logs, SIGTERM drain."""

from __future__ import annotations

import signal
from collections.abc import Iterator
from pathlib import Path

import grpc
import pytest
from google.protobuf import descriptor_pb2
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection_pb2, reflection_pb2_grpc

from service._gen.decision.v1 import decision_pb2 as pb
from service._gen.decision.v1 import decision_pb2_grpc as pb_grpc
from service.app.pseudonyms import Pseudonyms
from service.storage import open_store
from tests.contract.helpers import open_line, rpc_error
from tests.support.builders import cny, drawdown, request_id, strong_applicant
from tests.support.databases import fresh_postgres_schema
from tests.support.server_process import ServerProcess, start_server


@pytest.fixture
def server(tmp_path: Path) -> Iterator[ServerProcess]:
    running = start_server(f"sqlite:///{tmp_path / 'ledger.db'}", cwd=tmp_path)
    yield running
    running.kill()


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


@pytest.mark.parametrize("version", ["v1", "v1alpha"])
def test_reflection_describes_the_contract_under_both_of_its_names(server: ServerProcess, version: str) -> None:
    """grpcurl, Postman and buf curl ask grpc.reflection.v1 first; older clients v1alpha (the same messages)."""
    with grpc.insecure_channel(f"127.0.0.1:{server.port}") as channel:
        info = channel.stream_stream(
            f"/grpc.reflection.{version}.ServerReflection/ServerReflectionInfo",
            request_serializer=reflection_pb2.ServerReflectionRequest.SerializeToString,
            response_deserializer=reflection_pb2.ServerReflectionResponse.FromString,
        )
        listed, described, v1_described, method, no_method = info(iter([
            reflection_pb2.ServerReflectionRequest(list_services=""),
            reflection_pb2.ServerReflectionRequest(file_containing_symbol="decision.v1.DecisionService"),
            reflection_pb2.ServerReflectionRequest(file_containing_symbol="grpc.reflection.v1.ServerReflection"),
            # A method is a symbol too (`grpcurl describe decision.v1.DecisionService.GrantLimit`).
            reflection_pb2.ServerReflectionRequest(file_containing_symbol="decision.v1.DecisionService.GrantLimit"),
            reflection_pb2.ServerReflectionRequest(file_containing_symbol="decision.v1.DecisionService.NoSuchCall"),
        ]), timeout=10)
    assert method.file_descriptor_response == described.file_descriptor_response
    assert no_method.error_response.error_code == grpc.StatusCode.NOT_FOUND.value[0]
    names = {s.name for s in listed.list_services_response.service}
    assert {"decision.v1.DecisionService", "grpc.reflection.v1.ServerReflection",
            "grpc.reflection.v1alpha.ServerReflection"} <= names
    files = [descriptor_pb2.FileDescriptorProto.FromString(raw)
             for raw in described.file_descriptor_response.file_descriptor_proto]
    decision = next(f for f in files if f.package == "decision.v1" and f.service)
    assert "AuthorizeDrawdown" in {m.name for s in decision.service for m in s.method}
    (v1,) = [descriptor_pb2.FileDescriptorProto.FromString(raw)
             for raw in v1_described.file_descriptor_response.file_descriptor_proto]
    assert [(m.input_type, m.output_type) for m in v1.service[0].method] == [
        (".grpc.reflection.v1.ServerReflectionRequest", ".grpc.reflection.v1.ServerReflectionResponse")]


def repayment(drawdown_id: str, yuan: int) -> pb.RecordRepaymentRequest:
    return pb.RecordRepaymentRequest(request_id=request_id(), user_id="alice-13800138000", drawdown_id=drawdown_id,
                                     amount=cny(yuan))


def test_decisions_and_refusals_are_logged_as_json_without_the_user_id(server: ServerProcess) -> None:
    with grpc.insecure_channel(f"127.0.0.1:{server.port}") as channel:
        decisions = pb_grpc.DecisionServiceStub(channel)
        open_line(decisions, "alice-13800138000")
        answer = decisions.AuthorizeDrawdown(drawdown("alice-13800138000", 1_000))
        refused = rpc_error(lambda: decisions.AuthorizeDrawdown(drawdown("alice-13800138000", 1_000, term_months=0)))
        assert refused.code() == grpc.StatusCode.INVALID_ARGUMENT
        # An attribute no bundle declares, its name the caller's own: the log must not repeat it.
        named = strong_applicant("alice-13800138000", attributes={"name_zhangsan": "x" * 1_000})
        refused = rpc_error(lambda: decisions.ScoreUser(pb.ScoreUserRequest(request_id=request_id(), applicant=named)))
        assert refused.code() == grpc.StatusCode.INVALID_ARGUMENT
        # The ledger's refusals a back office meets most: the log tells them apart by reason and field.
        ledger = pb_grpc.CreditLineServiceStub(channel)
        for call in (
            lambda: ledger.GetCreditLine(pb.GetCreditLineRequest(user_id="nobody-13900139000")),
            lambda: ledger.RecordRepayment(repayment("dd_unknown", 100)),
            lambda: ledger.RecordRepayment(repayment(answer.drawdown_id, 1_001)),  # 1,000 CNY drawn
        ):
            rpc_error(call)
    assert server.stop() == 0
    refusals = [entry for entry in server.logs() if entry.get("event") == "call.refused"]
    assert [(r["rpc"], r["status"], r["reason"], r["fields"]) for r in refusals] == [
        ("AuthorizeDrawdown", "INVALID_ARGUMENT", "INVALID_REQUEST", ["term_months"]),
        ("ScoreUser", "INVALID_ARGUMENT", "INVALID_REQUEST", ["applicant.attributes.*"]),
        ("GetCreditLine", "NOT_FOUND", "CREDIT_LINE_NOT_FOUND", ["user_id"]),
        ("RecordRepayment", "NOT_FOUND", "DRAWDOWN_NOT_FOUND", ["drawdown_id"]),
        ("RecordRepayment", "FAILED_PRECONDITION", "OVER_REPAYMENT", ["amount"]),
    ]
    assert "zhangsan" not in "".join(server.stderr_lines)
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


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """On PostgreSQL the calls are greenlets on the workers' event loops, on SQLite batches on them."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'ledger.db'}"
        return
    with fresh_postgres_schema(request.getfixturevalue("postgres_admin_url")) as url:
        yield url


def test_sigterm_drains_calls_in_flight_and_loses_no_accepted_drawdown(database_url: str, tmp_path: Path) -> None:
    server = start_server(database_url, cwd=tmp_path)
    try:
        answered, refused = _drawdowns_through_a_sigterm(server)
    finally:
        server.kill()
    assert answered, "calls accepted before SIGTERM must be answered"
    assert set(refused) <= {grpc.StatusCode.UNAVAILABLE}, refused
    approved = [a for a in answered if a.outcome == pb.OUTCOME_APPROVE]
    store = open_store(database_url)
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


Answers = list[pb.AuthorizeDrawdownResponse]


def _drawdowns_through_a_sigterm(server: ServerProcess) -> tuple[Answers, list[grpc.StatusCode]]:
    """150 drawdowns for one user in flight, SIGTERM after the first is answered; the server must exit 0."""
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
    return answered, refused
