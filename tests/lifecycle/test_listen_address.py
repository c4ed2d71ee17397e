"""An address `decisiond serve` cannot have is refused in one line, exit status 2, with nothing left behind: a
port another server listens on (SO_REUSEPORT would otherwise let the two split its new connections between two
ledgers), a host name that does not resolve, an address this machine does not have. A port left in TIME_WAIT by
a previous run is not in use."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
from collections.abc import Iterator
from contextlib import suppress
from pathlib import Path

import grpc
import pytest

from service._gen.decision.v1 import decision_pb2 as pb
from service._gen.decision.v1 import decision_pb2_grpc as pb_grpc
from service.supervisor import CannotListen, reserve_port
from tests.lifecycle.test_hot_reload import wait_for
from tests.support.builders import request_id, strong_applicant
from tests.support.server_process import ROOT, ServerProcess, start_server

IN_USE = "the address is already in use (another decisiond or another program listens there)"


def serve(listen: str, database_url: str, temporary: Path) -> subprocess.CompletedProcess[str]:
    """`decisiond serve --listen LISTEN`, expected to give up at once; killed (with its workers) if it runs on."""
    process = subprocess.Popen(
        [sys.executable, "-m", "service.cli", "serve", "--listen", listen, "--database", database_url],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=ROOT,
        env={**os.environ, "TMPDIR": str(temporary)},
        start_new_session=True,
    )
    try:
        stdout, stderr = process.communicate(timeout=30)
    except subprocess.TimeoutExpired:
        with suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
        stdout, stderr = process.communicate()
        raise AssertionError(f"`serve --listen {listen}` kept running; it said: {stdout}") from None
    return subprocess.CompletedProcess(process.args, process.returncode, stdout, stderr)


@pytest.fixture
def temporary(tmp_path: Path) -> Path:
    folder = tmp_path / "tmp"
    folder.mkdir()
    return folder


@pytest.fixture
def server(tmp_path: Path) -> Iterator[ServerProcess]:
    running = start_server(f"sqlite:///{tmp_path / 'first.db'}")
    yield running
    running.kill()


def test_a_port_another_program_listens_on_cannot_be_reserved() -> None:
    with socket.create_server(("127.0.0.1", 0)) as other:
        port = other.getsockname()[1]
        with pytest.raises(CannotListen) as refused:
            reserve_port("127.0.0.1", port)
    assert str(refused.value) == f"cannot listen on 127.0.0.1:{port}: {IN_USE}"


def test_a_port_left_in_time_wait_by_a_previous_run_can_be_reserved_again() -> None:
    with socket.socket() as listener:  # as a worker's: gRPC sets both options
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
        listener.bind(("127.0.0.1", 0))
        listener.listen()
        port = listener.getsockname()[1]
        client = socket.create_connection(("127.0.0.1", port))
        accepted, _ = listener.accept()
        accepted.close()  # the server end closes first: its port stays in TIME_WAIT
        client.close()
    holder = reserve_port("127.0.0.1", port)
    assert holder.getsockname()[1] == port
    holder.close()


@pytest.mark.slow
def test_a_second_server_on_the_port_of_a_running_one_exits_2_and_the_first_keeps_every_connection(
    server: ServerProcess, tmp_path: Path, temporary: Path
) -> None:
    second = serve(server.address, f"sqlite:///{tmp_path / 'second.db'}", temporary)
    assert (second.returncode, second.stdout) == (2, "")
    assert second.stderr == f"decisiond: cannot listen on {server.address}: {IN_USE}\n"
    assert list(temporary.iterdir()) == []
    channels = [grpc.insecure_channel(server.address, options=[("grpc.use_local_subchannel_pool", 1)])
                for _ in range(20)]  # 20 new connections
    for number, channel in enumerate(channels):
        pb_grpc.DecisionServiceStub(channel).ScoreUser(
            pb.ScoreUserRequest(request_id=request_id(), applicant=strong_applicant(f"port-user-{number}")),
            timeout=30,
            wait_for_ready=True,
        )
        channel.close()
    wait_for(lambda: sum(entry.get("event") == "decision" for entry in server.logs()) == 20,
             "the first server to log all 20 decisions", timeout=10)
    assert server.stop() == 0


@pytest.mark.slow
@pytest.mark.parametrize(
    ("listen", "reason"),
    [
        ("nosuchhost.invalid:5999", "the host name does not resolve"),
        ("10.255.255.1:5999", "this machine has no such address"),
    ],
)
def test_an_address_that_cannot_be_had_exits_2_in_one_line_and_leaves_no_folder_behind(
    listen: str, reason: str, tmp_path: Path, temporary: Path
) -> None:
    refused = serve(listen, f"sqlite:///{tmp_path / 'ledger.db'}", temporary)
    assert (refused.returncode, refused.stdout) == (2, "")
    assert refused.stderr.startswith(f"decisiond: cannot listen on {listen}: {reason}")
    assert refused.stderr.count("\n") == 1
    assert list(temporary.iterdir()) == []
