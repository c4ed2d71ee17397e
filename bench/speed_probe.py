"""How fast this machine runs plain Python now: a fixed workload, timed best of several tries.

Absolute figures (latencies, microseconds per rule evaluation) depend on the machine, and these machines
differ from day to day and drift within a run. The probe, run at the start and at the end of a benchmark, is
what makes such figures comparable across runs: the same code on a machine whose probe takes twice as long
is expected to take about twice as long too. Lower is faster.
"""

from __future__ import annotations

import json
import time
from decimal import Decimal

TRIES = 5
ROUNDS = 2_000


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
