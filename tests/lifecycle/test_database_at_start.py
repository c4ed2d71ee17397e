"""A server started while its database does not answer keeps the bundle it checked, says the truth about it,
refuses calls rather than pretending, tries again with a growing delay, and serves as soon as the database
answers, without SIGHUP; SIGTERM stops it at once at any moment of that."""

from __future__ import annotations

import time
from collections.abc import Iterator
from urllib.parse import urlsplit

import grpc
import pytest

from service._gen.decision.v1 import decision_pb2 as pb
from service._gen.decision.v1 import decision_pb2_grpc as pb_grpc
from tests.lifecycle.test_hot_reload import wait_for
from tests.storage.tcp_proxy import TcpProxy
from tests.support.builders import request_id, strong_applicant
from tests.support.server_process import ServerProcess, _live_members

pytestmark = pytest.mark.slow


@pytest.fixture
def proxy(postgres_url: str) -> Iterator[TcpProxy]:
    """A port forwarded to the database, not yet listening: the database is down until the test starts it."""
    parts = urlsplit(postgres_url)
    target = TcpProxy(parts.hostname or "127.0.0.1", parts.port or 5432)
    yield target
    target.stop()


@pytest.fixture
def server(postgres_url: str, proxy: TcpProxy) -> Iterator[ServerProcess]:
    parts = urlsplit(postgres_url)
    user, at, _ = parts.netloc.rpartition("@")
    through_proxy = parts._replace(netloc=f"{user}{at}127.0.0.1:{proxy.port}").geturl()
    running = ServerProcess(through_proxy)
    yield running.wait_until_listening()
    running.kill()


def not_started(server: ServerProcess) -> list[dict[str, object]]:
    return [entry for entry in server.logs() if entry.get("event") == "workers.not_started"]


def score(address: str, *, wait: bool, timeout: float) -> pb.ScoreUserResponse:
    with grpc.insecure_channel(address) as channel:
        return pb_grpc.DecisionServiceStub(channel).ScoreUser(
            pb.ScoreUserRequest(request_id=request_id(), applicant=strong_applicant("late-database-user")),
            timeout=timeout,
            wait_for_ready=wait,
        )


def test_a_server_started_while_its_database_is_down_serves_once_it_answers_without_sighup(
    server: ServerProcess, proxy: TcpProxy
) -> None:
    assert "NO valid rule bundle" not in server.first_line
    assert "with the valid rule bundle from " in server.first_line
    assert "workers not started yet" in server.first_line
    with pytest.raises(grpc.RpcError) as refused:
        score(server.address, wait=False, timeout=5)
    assert refused.value.code() == grpc.StatusCode.UNAVAILABLE
    wait_for(lambda: len(not_started(server)) >= 2, "two attempts to start the workers", timeout=60)
    first, second = not_started(server)[:2]
    assert (first["retry_in_seconds"], second["retry_in_seconds"]) == (1.0, 2.0)
    assert "the database could not be opened" in str(first["reason"])
    assert f"port {proxy.port} failed: Connection refused" in str(first["reason"])  # the driver's reason, not a timeout
    proxy.start()
    answer = score(server.address, wait=True, timeout=90)
    assert answer.meta.ruleset_version

    def activated() -> list[object]:  # logged once every worker is ready, which may be after the first answer
        return [entry["version"] for entry in server.logs() if entry.get("event") == "rules.activated"]

    wait_for(activated, "the bundle's activation to be logged", timeout=30)
    assert activated() == [answer.meta.ruleset_version]
    assert server.stop() == 0


def test_sigterm_while_the_workers_cannot_start_stops_the_server_and_its_attempts_at_once(
    server: ServerProcess,
) -> None:
    wait_for(lambda: not_started(server), "the first attempt to fail", timeout=60)
    time.sleep(1.5)  # into the second attempt: its workers are waiting for the database
    group = server.process.pid
    asked = time.monotonic()
    assert server.stop(timeout=10) == 0
    assert time.monotonic() - asked < 3
    assert _live_members(group) == []
    assert "shutdown.complete" in [entry.get("event") for entry in server.logs()]
