"""The load generator is a client as the README asks clients to be: its calls wait for the server (gRPC's
wait_for_ready) instead of failing while the server's connection is moved or the server is replaced."""

from __future__ import annotations

import json
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

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
