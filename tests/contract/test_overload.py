"""Many more calls in flight than a worker decides at once: each is answered, or refused as retryable; none is
cancelled by the server (a client takes CANCELLED as final and would not retry)."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import grpc
import pytest

from service._gen.decision.v1 import decision_pb2 as pb
from service._gen.decision.v1 import decision_pb2_grpc as pb_grpc
from tests.support.builders import request_id, strong_applicant
from tests.support.server_process import ServerProcess, start_server

pytestmark = pytest.mark.slow

IN_FLIGHT = 3000  # seconds of work for the server, all sent at once
# Calls a client starts at once on one new connection, before it has read the server's limit of calls per
# connection (server.MAX_CALLS_PER_CONNECTION), then sends beyond it as calls end.
BURSTS_ON_ONE_CONNECTION = (1500, 5000)


@pytest.fixture
def server(tmp_path: Path) -> Iterator[ServerProcess]:
    running = start_server(f"sqlite:///{tmp_path / 'ledger.db'}", workers=1)
    yield running
    running.kill()


def test_thousands_of_calls_in_flight_are_all_answered_none_cancelled(server: ServerProcess) -> None:
    applicant = strong_applicant("crowd-user")
    with grpc.insecure_channel(server.address) as first, grpc.insecure_channel(server.address) as second:
        stubs = [pb_grpc.DecisionServiceStub(first), pb_grpc.DecisionServiceStub(second)]
        calls = [
            stubs[number % 2].ScoreUser.future(
                pb.ScoreUserRequest(request_id=request_id(), applicant=applicant), timeout=120, wait_for_ready=True
            )
            for number in range(IN_FLIGHT)
        ]
        outcomes: Counter[str] = Counter()
        for call in calls:
            try:
                call.result()
                outcomes["answered"] += 1
            except grpc.RpcError as error:
                outcomes[error.code().name] += 1
    assert set(outcomes) <= {"answered", "RESOURCE_EXHAUSTED"}, outcomes
    assert outcomes["answered"] >= IN_FLIGHT // 2
    assert server.stop() == 0


def test_a_burst_of_calls_on_one_new_connection_beyond_its_limit_is_all_answered(server: ServerProcess) -> None:
    applicant = strong_applicant("burst-user")
    for burst in BURSTS_ON_ONE_CONNECTION:
        with grpc.insecure_channel(server.address) as channel:
            stub = pb_grpc.DecisionServiceStub(channel)
            calls = [
                stub.ScoreUser.future(pb.ScoreUserRequest(request_id=request_id(), applicant=applicant), timeout=60)
                for _ in range(burst)
            ]
            outcomes = Counter(_outcome(call) for call in calls)
        assert outcomes == {"answered": burst}, (burst, outcomes)
    assert server.stop() == 0


def _outcome(call: grpc.Future) -> str:
    try:
        call.result()
    except grpc.RpcError as error:
        return f"{error.code().name}: {error.details()}"
    return "answered"
