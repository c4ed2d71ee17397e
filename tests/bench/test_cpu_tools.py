"""The tools that say where the CPU goes: the in-process loop decides real calls, the per-thread split names
each process's event loop, and the I/O counters count a process's own reads and writes."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import threading
from pathlib import Path

from bench.servers import ROOT
from bench.thread_cpu import by_role, event_loops, io_counters, loop_time_shares, run_queue_seconds, used_between
from bench.workload import RPCS


def test_the_in_process_loop_runs_every_rpc_through_the_servicer() -> None:
    # its own process: it configures the service's logging, as a server does
    done = subprocess.run([sys.executable, "-m", "bench.in_process", "--calls", "20", "--warmup", "5", "--users", "50"],
                          cwd=ROOT, capture_output=True, text=True, timeout=120, check=True)
    measured = dict(re.findall(r"^(\w+): (\d+) us of CPU per call$", done.stdout, re.MULTILINE))
    assert sorted(measured) == sorted(RPCS)
    assert all(int(micros) > 0 for micros in measured.values())


def test_the_busiest_python_thread_of_each_process_counts_as_its_event_loop() -> None:
    before = {(1, 1): ("python", 0.0), (1, 2): ("python", 0.25), (1, 3): ("event_engine", 0.0),
              (2, 5): ("python", 0.0), (2, 6): ("python", 0.0)}
    after = {(1, 1): ("python", 0.125), (1, 2): ("python", 1.0), (1, 3): ("event_engine", 0.25),
             (2, 5): ("python", 0.5), (2, 6): ("python", 0.0625), (2, 7): ("python", 0.0625)}  # 7 started meanwhile
    used = used_between(before, after)
    roles = by_role(used, event_loops(used), calls=1_000)  # CPU seconds over 1,000 calls: 1,000 us per second per call
    assert roles == {"event loop (gRPC handlers, decisions)": 1250.0, "other Python threads": 250.0,
                     "gRPC C-core threads": 250.0}


def test_each_event_loop_s_time_on_a_cpu_and_waiting_for_one_is_averaged_over_the_processes() -> None:
    before = {(1, 1): ("python", 0.0), (1, 2): ("python", 2.0), (2, 5): ("python", 1.0), (2, 6): ("python", 0.0)}
    after = {(1, 1): ("python", 0.5), (1, 2): ("python", 5.0), (2, 5): ("python", 4.0), (2, 6): ("python", 1.0)}
    waited_before = {(1, 1): 0.0, (1, 2): 1.0, (2, 5): 0.5, (2, 6): 0.0}
    waited_after = {(1, 1): 3.0, (1, 2): 2.0, (2, 5): 2.5, (2, 6): 3.0}  # only the loops' (2 and 5) waits count
    used = used_between(before, after)
    on_cpu, waiting = loop_time_shares(used, event_loops(used), waited_before, waited_after, window_s=4.0)
    assert (on_cpu, waiting) == (0.75, 0.375)  # loops 3 s and 3 s on a CPU of 4; waiting 1 s and 2 s


def test_the_run_queue_time_of_a_busy_thread_is_read_and_never_decreases() -> None:
    first = run_queue_seconds([os.getpid()])
    sum(range(2_000_000))  # keep this thread busy a little while
    second = run_queue_seconds([os.getpid()])
    key = (os.getpid(), threading.get_native_id())
    assert key in first
    assert second[key] >= first[key] >= 0.0


def test_the_io_counters_count_a_process_s_own_write_calls_and_bytes(tmp_path: Path) -> None:
    before = io_counters([os.getpid()])
    descriptor = os.open(tmp_path / "pages", os.O_WRONLY | os.O_CREAT)
    try:
        for page in range(50):
            os.pwrite(descriptor, b"x" * 4096, page * 4096)
    finally:
        os.close(descriptor)
    after = io_counters([os.getpid()])
    assert after["syscw"] - before["syscw"] >= 50
    assert after["wchar"] - before["wchar"] >= 50 * 4096
