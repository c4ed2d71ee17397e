"""How fast this machine runs now: plain Python, and handing work from one thread to another. Each a fixed workload,
timed best of several tries; lower is faster.

Absolute figures (latencies, microseconds per rule evaluation) depend on the machine, and these machines
differ from day to day and drift within a run. The probes, run at the start and at the end of a benchmark, are
what makes such figures comparable across runs: the same code on a machine whose probe takes twice as long
is expected to take about twice as long too. Two probes, because the machines differ in two ways: a gRPC call
is as much the kernel's work (system calls, a thread waking another on the same CPU several times per call) as
Python's, and on 2026-12-06 a machine whose Python probe read about what the day's fastest run had read (9-10 ms
against 8.7-9.2) served the echo at 1.6 times the CPU per call.
"""

from __future__ import annotations

import json
import os
import socket
import threading
import time
from decimal import Decimal

TRIES = 5
ROUNDS = 2_000
HAND_OVERS = 2_000


def _workload() -> int:
    """Bytecode, dicts, text formatting, Decimal and json: what a decision's Python is made of."""
    total = 0
    rate = Decimal("0.00035")
    for i in range(ROUNDS):
        record = {"user": f"u-{i:07d}", "amount": i * 100, "rate": str(rate * i), "ok": i % 3 == 0}
        total += len(json.dumps(record, separators=(",", ":"))) + (record["amount"] >> 3)
    return total


def python_probe_ms() -> float:
    """Milliseconds for the fixed workload, the best of TRIES (the least disturbed try)."""
    best = float("inf")
    for _ in range(TRIES):
        started = time.perf_counter()
        _workload()
        best = min(best, time.perf_counter() - started)
    return round(best * 1000, 2)


def wakeup_probe_us() -> float:
    """Microseconds per round trip of a byte between two threads kept to one CPU, each blocked in `recv` until
    the other sends: two thread switches, four system calls and two hand-overs of the interpreter lock, as
    between a serving worker's event loop and gRPC's poller thread. The best of TRIES."""
    allowed = os.sched_getaffinity(0)
    cpu = min(allowed)
    best = float("inf")
    for _ in range(TRIES):
        ours, theirs = socket.socketpair()

        def answer(sock: socket.socket = theirs) -> None:
            os.sched_setaffinity(0, {cpu})  # this thread only
            for _ in range(HAND_OVERS):
                sock.send(sock.recv(1))

        other = threading.Thread(target=answer, name="wakeup-probe")
        os.sched_setaffinity(0, {cpu})
        try:
            other.start()
            started = time.perf_counter()
            for _ in range(HAND_OVERS):
                ours.send(b"x")
                ours.recv(1)
            best = min(best, time.perf_counter() - started)
            other.join()
        finally:
            os.sched_setaffinity(0, allowed)
            ours.close()
            theirs.close()
    return round(best / HAND_OVERS * 1e6, 1)
