"""The service config the contract gives client teams (`protos/decision/v1/decision_grpc_service_config.json`)
names only what the contract has, and makes gRPC retry what is safe to retry: a call refused UNAVAILABLE is sent
again, the same request (so the same request_id, an idempotency key), and answered; no other refusal is retried."""

from __future__ import annotations

import json
from collections.abc import Iterator
from concurrent import futures

import grpc
import pytest

from service._gen.decision.v1 import decision_pb2 as pb
from service._gen.decision.v1 import decision_pb2_grpc as pb_grpc
from tests.support.builders import request_id, strong_applicant
from tests.support.channels import SERVICE_CONFIG_FILE, client_channel


def test_the_service_config_names_only_services_of_the_contract_and_retries_only_unavailable() -> None:
    config = json.loads(SERVICE_CONFIG_FILE.read_text())
    named = {name["service"] for method in config["methodConfig"] for name in method["name"]}
    assert named == {service.full_name for service in pb.DESCRIPTOR.services_by_name.values()}
    assert [method["retryPolicy"]["retryableStatusCodes"] for method in config["methodConfig"]] == [["UNAVAILABLE"]]


class RefusesFirst(pb_grpc.DecisionServiceServicer):
    """Refuses each request's first attempt with `code`, answers a later one; records every attempt's request_id."""

    def __init__(self, code: grpc.StatusCode) -> None:
        self.code = code
        self.attempts: list[str] = []

    def ScoreUser(self, request: pb.ScoreUserRequest, context: grpc.ServicerContext) -> pb.ScoreUserResponse:
        first = request.request_id not in self.attempts
        self.attempts.append(request.request_id)
        if first:
            context.abort(self.code, "refused once")
        return pb.ScoreUserResponse(score=700)


@pytest.fixture
def server() -> Iterator[tuple[grpc.Server, int]]:
    running = grpc.server(futures.ThreadPoolExecutor(max_workers=2))
    port = running.add_insecure_port("127.0.0.1:0")
    yield running, port
    running.stop(None)


def serve(server: tuple[grpc.Server, int], servicer: RefusesFirst) -> str:
    running, port = server
    pb_grpc.add_DecisionServiceServicer_to_server(servicer, running)
    running.start()
    return f"127.0.0.1:{port}"


def test_a_call_refused_unavailable_is_sent_again_with_the_same_request_id_and_answered(
    server: tuple[grpc.Server, int],
) -> None:
    refusing = RefusesFirst(grpc.StatusCode.UNAVAILABLE)
    sent = request_id()
    with client_channel(serve(server, refusing)) as channel:
        answer = pb_grpc.DecisionServiceStub(channel).ScoreUser(
            pb.ScoreUserRequest(request_id=sent, applicant=strong_applicant("retried")), timeout=10
        )
    assert answer.score == 700
    assert refusing.attempts == [sent, sent]


@pytest.mark.parametrize("code", [grpc.StatusCode.INVALID_ARGUMENT, grpc.StatusCode.RESOURCE_EXHAUSTED,
                                  grpc.StatusCode.INTERNAL, grpc.StatusCode.DEADLINE_EXCEEDED])
def test_a_call_refused_for_any_other_reason_is_not_sent_again(
    server: tuple[grpc.Server, int], code: grpc.StatusCode
) -> None:
    refusing = RefusesFirst(code)
    with client_channel(serve(server, refusing)) as channel, pytest.raises(grpc.RpcError) as refused:
        pb_grpc.DecisionServiceStub(channel).ScoreUser(
            pb.ScoreUserRequest(request_id=request_id(), applicant=strong_applicant("refused")), timeout=10
        )
    assert refused.value.code() == code
    assert len(refusing.attempts) == 1
