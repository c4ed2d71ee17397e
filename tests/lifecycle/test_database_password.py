"""The database password never shows where other users of the machine can see it: not on the supervisor's or a
worker's command line (ps), not in the start line or the logs."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit

import grpc
import pytest

from service._gen.decision.v1 import decision_pb2 as pb
from service._gen.decision.v1 import decision_pb2_grpc as pb_grpc
from tests.support.builders import request_id, strong_applicant
from tests.support.server_process import ServerProcess, start_server, workers_of

pytestmark = pytest.mark.slow


def with_password(url: str) -> tuple[str, str]:
    """The URL with a password, and the password: its own if it has one (trust authentication ignores any)."""
    parts = urlsplit(url)
    if parts.password:
        return url, parts.password
    user, _, host = parts.netloc.rpartition("@")
    return parts._replace(netloc=f"{user or 'postgres'}:S3cretPW@{host}").geturl(), "S3cretPW"


@pytest.fixture
def secret_url(postgres_url: str) -> tuple[str, str]:
    return with_password(postgres_url)


@pytest.fixture
def server(secret_url: tuple[str, str]) -> Iterator[ServerProcess]:
    running = start_server(secret_url[0])
    yield running
    running.kill()


def test_the_database_url_given_with_serve_does_not_stay_on_any_command_line(
    server: ServerProcess, secret_url: tuple[str, str]
) -> None:
    url, password = secret_url
    workers = workers_of(server.process.pid)
    assert len(workers) == 2
    for pid in [server.process.pid, *workers]:
        command_line = Path(f"/proc/{pid}/cmdline").read_bytes().decode()
        assert "postgresql://" not in command_line
        assert password not in command_line
    answer = pb_grpc.DecisionServiceStub(grpc.insecure_channel(server.address)).ScoreUser(
        pb.ScoreUserRequest(request_id=request_id(), applicant=strong_applicant("secret-user")),
        timeout=30,
        wait_for_ready=True,
    )
    assert answer.meta.ruleset_version  # the workers reached the database the URL names
    assert server.stop() == 0
    assert password not in server.first_line
    assert ":***@" in server.first_line
    assert not [line for line in server.stderr_lines if password in line or url in line]
