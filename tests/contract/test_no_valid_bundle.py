"""Without a valid rule bundle nothing can be decided: decisions are UNAVAILABLE, the ledger still answers."""

from __future__ import annotations

from pathlib import Path

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc

from service._gen.decision.v1 import decision_pb2 as pb
from service._gen.decision.v1 import decision_pb2_grpc as pb_grpc
from service.bootstrap import start_service
from service.config import Settings
from tests.contract.helpers import error_reason, rpc_error
from tests.support.builders import drawdown, request_id, strong_applicant


def test_decisions_are_unavailable_and_status_names_the_problems(tmp_path: Path) -> None:
    broken = tmp_path / "rules"
    broken.mkdir()
    (broken / "bundle.yaml").write_text("version: [\n")
    settings = Settings(host="127.0.0.1", port=0, rules_dir=broken, database_url=f"sqlite:///{tmp_path / 'l.db'}")
    service = start_service(settings)
    try:
        with grpc.insecure_channel(f"127.0.0.1:{service.port}") as channel:
            decisions = pb_grpc.DecisionServiceStub(channel)
            for call in (
                lambda: decisions.ScoreUser(
                    pb.ScoreUserRequest(request_id=request_id(), applicant=strong_applicant("u"))
                ),
                lambda: decisions.AuthorizeDrawdown(drawdown("u", 100)),
            ):
                error = rpc_error(call)
                assert error.code() == grpc.StatusCode.UNAVAILABLE
                assert "no valid rule bundle" in (error.details() or "")
                assert error_reason(error) == ("decisiond", "NO_RULE_BUNDLE")  # not a busy ledger: an operator acts
            missing = rpc_error(
                lambda: pb_grpc.CreditLineServiceStub(channel).GetCreditLine(pb.GetCreditLineRequest(user_id="u"))
            )
            assert missing.code() == grpc.StatusCode.NOT_FOUND
            assert error_reason(missing) == ("decisiond", "CREDIT_LINE_NOT_FOUND")
            status = pb_grpc.RulesServiceStub(channel).GetRulesStatus(pb.GetRulesStatusRequest())
            assert not status.HasField("active")
            assert status.last_edit_rejected and any("bundle.yaml" in p for p in status.rejected_problems)
            health = health_pb2_grpc.HealthStub(channel)
            serving = {
                name: health.Check(health_pb2.HealthCheckRequest(service=name)).status
                for name in ("decision.v1.DecisionService", "decision.v1.CreditLineService", "")
            }
            assert serving == {
                "decision.v1.DecisionService": health_pb2.HealthCheckResponse.NOT_SERVING,
                "decision.v1.CreditLineService": health_pb2.HealthCheckResponse.SERVING,
                "": health_pb2.HealthCheckResponse.SERVING,  # ledger reads go on
            }
            listed = health.List(health_pb2.HealthListRequest()).statuses
            assert {name: listed[name].status for name in serving} == serving
    finally:
        service.stop()


def test_a_retry_of_a_call_decided_before_is_replayed_without_a_valid_bundle(tmp_path: Path) -> None:
    """A server restarted on a broken edit decides nothing new, but a retry of a call the ledger recorded before
    gets that call's answer, as it would from any replica: idempotent retries do not depend on the rules."""
    database_url = f"sqlite:///{tmp_path / 'l.db'}"
    rules = Path(__file__).resolve().parents[2] / "rules"
    scored = pb.ScoreUserRequest(request_id=request_id(), applicant=strong_applicant("u-retry"))
    service = start_service(Settings(host="127.0.0.1", port=0, rules_dir=rules, database_url=database_url))
    try:
        with grpc.insecure_channel(f"127.0.0.1:{service.port}") as channel:
            first = pb_grpc.DecisionServiceStub(channel).ScoreUser(scored)
    finally:
        service.stop()
    broken = tmp_path / "rules"
    broken.mkdir()
    (broken / "bundle.yaml").write_text("version: [\n")
    service = start_service(Settings(host="127.0.0.1", port=0, rules_dir=broken, database_url=database_url))
    try:
        with grpc.insecure_channel(f"127.0.0.1:{service.port}") as channel:
            decisions = pb_grpc.DecisionServiceStub(channel)
            replayed = decisions.ScoreUser(scored)
            assert replayed.meta.replayed and not first.meta.replayed
            replayed.meta.replayed = False
            assert replayed == first  # the same decision: id, score, band, reasons, bundle version
            other_payload = pb.ScoreUserRequest(request_id=scored.request_id, applicant=strong_applicant("u-other"))
            assert rpc_error(lambda: decisions.ScoreUser(other_payload)).code() == grpc.StatusCode.ALREADY_EXISTS
            new = rpc_error(
                lambda: decisions.ScoreUser(
                    pb.ScoreUserRequest(request_id=request_id(), applicant=strong_applicant("u-retry"))
                )
            )
            assert new.code() == grpc.StatusCode.UNAVAILABLE
            assert "no valid rule bundle" in (new.details() or "")
            never_decided = rpc_error(lambda: decisions.AuthorizeDrawdown(drawdown("u-retry", 100)))
            assert never_decided.code() == grpc.StatusCode.UNAVAILABLE
    finally:
        service.stop()
