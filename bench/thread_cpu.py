"""Where a serving process's CPU goes, thread by thread: the service against the echo, one RPC at 16 in flight.

    .venv/bin/python -m bench.thread_cpu FlagTransaction

Starts the echo and `decisiond serve` (SQLite, bundled rules) as the main run does, drives the RPC at 16 in
flight against each, and reads every thread's CPU time of the serving processes from /proc over a window inside
the measured one. Prints, per call answered: the event-loop thread that runs gRPC's handlers (and, in the
service, the decisions), the other Python threads (gRPC's completion-queue poller, SQLite checkpoints, log
lines) and gRPC's C-core threads; how much of the window each process's event loop spent on a CPU and how much
waiting for one, runnable while other threads had the CPUs (the kernel's run-queue time,
`/proc/<pid>/task/<tid>/schedstat`); and the read and write system calls the serving processes made per call, with
the bytes they moved (`/proc/<pid>/io`: SQLite's pages and log frames, the log lines, the wake-ups between threads;
not gRPC's traffic, which goes through sendmsg and recvmsg), which, unlike CPU time, hardly depend on how fast
the machine runs that minute. Unlike bench.cpu_profile nothing is profiled, so the figures are the server's own;
one run is noisy, run it twice.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import threading
import time
import uuid
from collections import Counter
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from bench.launch import StepFailed
from bench.servers import ROOT, ServerProcess, start_decisiond, start_echo, stat_cpu_seconds
from bench.session import Session
from bench.workload import RPCS, Population

WARMUP_S = 2.0
DURATION_S = 8.0
WINDOW_S = 5.0  # read inside the measured window, from about its start
LOAD_UNDER_WAY_CPU_S = 0.2  # the servers have used this much CPU since the load generator started: calls arrive


ThreadCpu = dict[tuple[int, int], tuple[str, float]]  # (pid, tid) -> (thread name, CPU seconds)


def thread_cpu_seconds(pids: list[int]) -> ThreadCpu:
    """(pid, tid) -> (thread name, user + system CPU seconds) of every thread of the processes."""
    used: ThreadCpu = {}
    for pid in pids:
        for task in Path(f"/proc/{pid}/task").iterdir():
            try:
                stat = (task / "stat").read_text()
            except OSError:  # the thread ended meanwhile
                continue
            used[(pid, int(task.name))] = (stat[stat.index("(") + 1 : stat.rindex(")")], stat_cpu_seconds(stat))
    return used


def run_queue_seconds(pids: list[int]) -> dict[tuple[int, int], float]:
    """(pid, tid) -> seconds the thread has spent runnable but waiting for a CPU (the scheduler's run queue)."""
    waited: dict[tuple[int, int], float] = {}
    for pid in pids:
        for task in Path(f"/proc/{pid}/task").iterdir():
            try:
                _on_cpu_ns, run_queue_ns, _slices = (task / "schedstat").read_text().split()
            except (OSError, ValueError):  # the thread ended meanwhile, or a kernel without schedstats
                continue
            waited[(pid, int(task.name))] = int(run_queue_ns) / 1e9
    return waited


def used_between(before: ThreadCpu, after: ThreadCpu) -> ThreadCpu:
    """Each thread's CPU seconds between two readings (a thread started meanwhile counts from zero)."""
    return {key: (name, seconds - before.get(key, (name, 0.0))[1]) for key, (name, seconds) in after.items()}


def event_loops(used: ThreadCpu) -> dict[int, int]:
    """pid -> tid of its event loop: the Python thread that used the most CPU."""
    loops: dict[int, tuple[int, float]] = {}
    for (pid, tid), (name, seconds) in used.items():
        if name.startswith("python") and seconds >= loops.get(pid, (0, -1.0))[1]:
            loops[pid] = (tid, seconds)
    return {pid: tid for pid, (tid, _seconds) in loops.items()}


def loop_time_shares(used: ThreadCpu, loops: dict[int, int], waited_before: dict[tuple[int, int], float],
                     waited_after: dict[tuple[int, int], float], window_s: float) -> tuple[float, float]:
    """The event loops' shares of the window on a CPU and waiting for one, averaged over the processes."""
    if not loops:
        return 0.0, 0.0
    on_cpu = sum(used[(pid, tid)][1] for pid, tid in loops.items())
    waiting = sum(waited_after.get((pid, tid), 0.0) - waited_before.get((pid, tid), 0.0) for pid, tid in loops.items())
    return on_cpu / window_s / len(loops), waiting / window_s / len(loops)


def by_role(used: ThreadCpu, loops: dict[int, int], calls: float) -> dict[str, float]:
    """Microseconds of CPU per call, per role: each process's event loop, its other Python threads, gRPC's C core."""
    roles: Counter[str] = Counter()
    for (pid, tid), (name, seconds) in used.items():
        if loops.get(pid) == tid:
            role = "event loop (gRPC handlers, decisions)"
        elif name.startswith("python"):
            role = "other Python threads"
        else:
            role = "gRPC C-core threads"
        roles[role] += seconds * 1e6 / calls
    return dict(roles)


IO_COUNTERS = ("syscr", "syscw", "rchar", "wchar")  # /proc/<pid>/io: read and write calls, bytes read and written


def io_counters(pids: list[int]) -> dict[str, int]:
    """The processes' read and write system calls and the bytes they moved, summed (read/pread/readv and
    write/pwrite/writev: files, pipes, eventfds; sendmsg and recvmsg are not counted)."""
    summed = dict.fromkeys(IO_COUNTERS, 0)
    for pid in pids:
        for line in Path(f"/proc/{pid}/io").read_text().splitlines():
            name, _, value = line.partition(":")
            if name in summed:
                summed[name] += int(value)
    return summed


def measure(server: ServerProcess, session: Session, rpc: str) -> dict[str, Any]:
    result: dict[str, Any] = {}

    def drive() -> None:
        try:
            result.update(session.load(rpc, 16, WARMUP_S, DURATION_S))
        except StepFailed as failed:
            result["failed"] = failed

    load = threading.Thread(target=drive)
    cpu_at_start = server.cpu_seconds()
    load.start()
    while server.cpu_seconds() - cpu_at_start < LOAD_UNDER_WAY_CPU_S and load.is_alive():
        time.sleep(0.05)  # the load generator builds its requests first
    time.sleep(WARMUP_S)
    pids = server.worker_pids()
    before, waited_before, io_before = thread_cpu_seconds(pids), run_queue_seconds(pids), io_counters(pids)
    time.sleep(WINDOW_S)
    after, waited_after, io_after = thread_cpu_seconds(pids), run_queue_seconds(pids), io_counters(pids)
    load.join()
    if "failed" in result:
        raise result["failed"]
    calls = result["throughput_per_s"] * WINDOW_S
    io = {name: (io_after[name] - io_before[name]) / calls for name in IO_COUNTERS}
    used = used_between(before, after)
    loops = event_loops(used)
    on_cpu, waiting = loop_time_shares(used, loops, waited_before, waited_after, WINDOW_S)
    return {"calls_per_s": result["throughput_per_s"], "us_per_call": by_role(used, loops, calls), "io_per_call": io,
            "loop_on_cpu": on_cpu, "loop_waiting_for_cpu": waiting, "p50_ms": result["latency_ms"]["p50"],
            "p99_ms": result["latency_ms"]["p99"]}


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.thread_cpu", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("rpc", choices=RPCS)
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="bench-threads-") as scratch:
        population = Population(f"t{uuid.uuid4().hex[:6]}", 2_000)
        measured = {}
        echo = start_echo(Path(scratch) / "echo.log")
        try:
            measured["echo"] = measure(echo, Session(echo, "echo", population), args.rpc)
        finally:
            echo.stop()
        service = start_decisiond(ROOT / "rules", f"sqlite:///{scratch}/ledger.db", Path(scratch) / "decisiond.log")
        try:
            session = Session(service, "sqlite", population)
            session.setup()
            measured["sqlite"] = measure(service, session, args.rpc)
        finally:
            service.stop()
    for label, figures in measured.items():
        parts = ", ".join(f"{role} {us:.0f}" for role, us in sorted(figures["us_per_call"].items()))
        total = sum(figures["us_per_call"].values())
        io = figures["io_per_call"]
        print(f"{label}: {figures['calls_per_s']:,.0f} calls/s, p50 {figures['p50_ms']:.1f} ms, p99 "
              f"{figures['p99_ms']:.1f} ms; CPU per call {total:.0f} us: {parts}; per call "
              f"{io['syscr']:.1f} reads ({io['rchar'] / 1024:.1f} KiB) and {io['syscw']:.1f} writes "
              f"({io['wchar'] / 1024:.1f} KiB); event loops on a CPU {figures['loop_on_cpu']:.0%} of the time, "
              f"waiting for one {figures['loop_waiting_for_cpu']:.0%}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
