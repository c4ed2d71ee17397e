"""The load generator is a client as the README asks clients to be: its calls wait for the server (gRPC's
wait_for_ready) instead of failing while the server's connection is moved or the server is replaced. Two servers
driven in turns each get their share of the measured time, in the order that balances a drift of the machine."""

from __future__ import annotations

import json
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from bench.loadgen import slice_order
from bench.servers import ROOT, ServerProcess, start_echo

GAP_S = 1.0  # nothing listens on the port for this long


@pytest.mark.slow
def test_calls_issued_while_the_server_is_replaced_wait_for_the_new_one(tmp_path: Path) -> None:
    first = start_echo(tmp_path / "first.log")
    port = first.address.rsplit(":", 1)[1]
    second: list[ServerProcess] = []

    def replace() -> None:
        time.sleep(1.5)
        first.stop()  # drains its calls in flight, then nothing listens on the port
        time.sleep(GAP_S)
        second.append(start_echo(tmp_path / "second.log", listen=f"127.0.0.1:{port}"))

    replacing = threading.Thread(target=replace)
    try:
        replacing.start()
        done = subprocess.run(
            [sys.executable, "-m", "bench.loadgen", "--target", first.address, "--rpc", "ScoreUser",
             "--concurrency", "8", "--warmup", "0", "--duration", "10", "--users", "100", "--pregen", "1000"],
            cwd=ROOT, capture_output=True, text=True, timeout=120, check=True,
        )
    finally:
        replacing.join()
        first.stop()
        for server in second:
            server.stop()
    result = json.loads(done.stdout.strip().splitlines()[-1])
    assert second, "the second server must have started"
    assert result["errors"] == {}, result["errors"]
    # calls waited through the gap and were answered by the second server within the measured window
    assert result["latency_ms"]["max"] >= GAP_S * 1000, result["latency_ms"]
    assert result["completed_total"] > 100


def test_turns_go_a_b_b_a_so_that_a_steady_drift_weighs_on_both_alike() -> None:
    assert slice_order(1) == [0, 1]
    assert slice_order(2) == [0, 1, 1, 0]
    assert slice_order(4) == [0, 1, 1, 0, 0, 1, 1, 0]
    # a speed falling linearly through the run (slice i runs at speed 1 - i/10) gives both the same mean speed
    speeds = {side: [1 - i / 10 for i, driven in enumerate(slice_order(4)) if driven == side] for side in (0, 1)}
    assert sum(speeds[0]) == pytest.approx(sum(speeds[1]))


@pytest.mark.slow
def test_two_servers_driven_in_turns_each_get_the_measured_time_and_answer_every_call(tmp_path: Path) -> None:
    servers = [start_echo(tmp_path / "a.log"), start_echo(tmp_path / "b.log")]
    try:
        cpu_before = [server.cpu_seconds() for server in servers]
        done = subprocess.run(
            [sys.executable, "-m", "bench.loadgen", "--target", servers[0].address, "--versus", servers[1].address,
             "--rpc", "ScoreUser", "--concurrency", "8", "--warmup", "0.3", "--duration", "2", "--slices", "2",
             "--users", "100", "--pregen", "1000"],
            cwd=ROOT, capture_output=True, text=True, timeout=120, check=True,
        )
        cpu_used = [server.cpu_seconds() - before for server, before in zip(servers, cpu_before, strict=True)]
    finally:
        for server in servers:
            server.stop()
    result = json.loads(done.stdout.strip().splitlines()[-1])
    for side in ("target", "versus"):
        run = result[side]
        assert run["errors"] == {}, run
        assert run["slices"] == 2
        assert run["measured_s"] == pytest.approx(2.0, abs=0.2), run["measured_s"]  # 1 s in each of its 2 slices
        assert run["calls"] > 100, run
    # both servers were driven, each about half of the time
    assert min(cpu_used) > 0.2 * max(cpu_used), cpu_used
