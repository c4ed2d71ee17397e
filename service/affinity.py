"""Which CPU each worker process keeps to.

A worker's event loop, gRPC's threads and SQLite's checkpoint thread hand work to each other many times per
call. Left to the scheduler, on a machine whose CPUs the workers fill, they wander between the CPUs and meet
caches the other worker or the load has just filled: the same decisions then cost a fifth more CPU (measured
on 2 cores, bench/README.md). Kept each to one CPU, a worker's threads share that CPU's caches.

Pinning only pays when the workers fill the CPUs the service may use. On a larger machine shared with other
work (a container allowed 64 CPUs, say), two pinned workers would crowd two of them while others stay idle,
so `auto` pins only when there are at least as many workers as allowed CPUs.
"""

from __future__ import annotations

import os
from collections.abc import Collection

MODES = ("auto", "on", "off")


def worker_cpus(workers: int, mode: str, allowed: Collection[int] | None = None) -> list[int | None]:
    """The CPU for each of `workers` worker processes (None: not pinned), in turn over the CPUs this process may
    use (`allowed`, by default its own affinity). `on` always pins, `off` never, `auto` when the workers are at
    least as many as the CPUs."""
    if mode not in MODES:
        raise ValueError(f"CPU affinity mode must be one of {', '.join(MODES)}, not {mode!r}")
    cpus = sorted(os.sched_getaffinity(0) if allowed is None else allowed)
    if mode == "off" or (mode == "auto" and workers < len(cpus)):
        return [None] * workers
    return [cpus[index % len(cpus)] for index in range(workers)]


def keep_to(cpu: int) -> None:
    """Keep every thread of this process on one CPU; threads it starts later inherit it."""
    for thread_id in os.listdir("/proc/self/task"):
        os.sched_setaffinity(int(thread_id), {cpu})


def described(cpus: list[int | None]) -> str:
    """Where the workers run, for a server's announcement: nothing when the scheduler decides."""
    return "" if None in cpus else f" (kept to CPU {', '.join(str(cpu) for cpu in cpus)})"
