"""A worker killed by the engine's native code (here: SIGKILL) is replaced; the other workers keep answering."""

from __future__ import annotations

import os
import shutil
import signal
import time
from collections.abc import Iterator
from pathlib import Path

import grpc
import pytest

from service._gen.decision.v1 import decision_pb2 as pb
from service._gen.decision.v1 import decision_pb2_grpc as pb_grpc
from tests.lifecycle.test_hot_reload import CallStream, wait_for
from tests.support.builders import request_id, strong_applicant
from tests.support.server_process import ServerProcess, start_server, workers_of

pytestmark = pytest.mark.slow

RECONNECT_SECONDS = 1.0


@pytest.fixture
def server(tmp_path: Path) -> Iterator[ServerProcess]:
    running = start_server(f"sqlite:///{tmp_path / 'ledger.db'}")
    yield running
    running.kill()


def test_a_killed_worker_is_replaced_while_the_others_keep_answering(server: ServerProcess) -> None:
    before = workers_of(server.process.pid)
    assert len(before) == 2
    stream = CallStream(server.address)
    try:
        wait_for(lambda: len(stream.answers) > 200, "calls to flow")
        victim = min(before)
        os.kill(victim, signal.SIGKILL)
        killed_at = time.monotonic()
        answered_at_kill = len(stream.answers)
        wait_for(lambda: any(e.get("event") == "worker.replaced" for e in server.logs()), "a replacement worker")
        wait_for(lambda: len(stream.answers) > answered_at_kill + 500, "calls to keep being answered")
        time.sleep(1)
    finally:
        stream.stop()
    after = workers_of(server.process.pid)
    assert len(after) == 2 and victim not in after
    # Only calls on the killed process's connection can fail, as UNAVAILABLE, and only until the client has
    # reconnected to a live worker: each of the 4 client threads loses the call it had in flight and may send a few
    # more on the dead connection before the reset reaches it (seen: 0-5 errors within 10 ms of the kill on an
    # idle machine, 12 under CI). A failure a second later would mean a dead worker still taking connections.
    assert all(error.startswith(str(grpc.StatusCode.UNAVAILABLE)) for error in stream.errors), stream.errors
    late = [round(at - killed_at, 3) for at in stream.failed_at if at - killed_at > RECONNECT_SECONDS]
    assert late == [], f"calls failed {late} s after the kill: {stream.errors}"
    died = [e for e in server.logs() if e.get("event") == "worker.died"]
    assert [(e["pid"], e["how"]) for e in died] == [(victim, "signal SIGKILL")]
    assert server.stop() == 0


def test_a_worker_whose_rules_copy_was_removed_is_not_replaced_without_them_the_rules_are_checked_again(
    server: ServerProcess,
) -> None:
    """A temporary-file cleaner removed the checked copy of the rules (the server ran for days without an edit) and
    then a worker died: its replacement would serve without a bundle. It is stopped, the rules are checked again
    from their directory, and every decision is answered by the bundle."""
    (state,) = server.tmpdir.glob("decisiond-*")
    (copy,) = state.glob("bundle-*")
    shutil.rmtree(copy)
    os.kill(min(workers_of(server.process.pid)), signal.SIGKILL)
    wait_for(lambda: [e for e in server.logs() if e.get("event") == "rules.activated"][1:], "the rules checked again",
             timeout=60)
    events = [e.get("event") for e in server.logs()]
    assert "worker.not_replaced" in events and "worker.replaced" not in events
    with grpc.insecure_channel(server.address) as channel:
        decisions = pb_grpc.DecisionServiceStub(channel)
        for _ in range(20):
            answer = decisions.ScoreUser(pb.ScoreUserRequest(request_id=request_id(),
                                                             applicant=strong_applicant("copy-gone")), timeout=30)
            assert answer.meta.ruleset_version
    assert server.stop() == 0


def test_a_worker_that_crashes_leaves_no_core_file(server: ServerProcess) -> None:
    """A worker's memory holds the requests' raw user ids and the pseudonym secret: a crash must not write them to
    a core file, whatever limit the shell that started the server allowed."""
    for worker in workers_of(server.process.pid):
        limits = Path(f"/proc/{worker}/limits").read_text().splitlines()
        (core,) = [line.split() for line in limits if line.startswith("Max core file size")]
        assert core[4:6] == ["0", "0"], core  # soft and hard limits
