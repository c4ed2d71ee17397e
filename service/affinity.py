"""Which CPU each worker process keeps to.

A worker's event loop, gRPC's threads and SQLite's checkpoint thread hand work to each other many times per
call. Left to the scheduler, on a machine whose CPUs the workers fill, they wander between the CPUs and meet
caches the other worker or the load has just filled: the same decisions then cost a fifth more CPU (measured
on 2 cores, bench/README.md). Kept each to one CPU, a worker's threads share that CPU's caches.

Pinning only pays when the workers are what keeps the CPUs busy. On a larger machine shared with other work (a
container allowed 64 CPUs, say), two pinned workers would crowd two of them while others stay idle; and a
PostgreSQL server on the same machine needs the same CPUs as the workers, which then cannot step aside for it
(measured: the p99 of AuthorizeDrawdown half as long again). So `auto` pins only when there are at least as many
workers as allowed CPUs and the database is not a server on this machine (SQLite runs inside the workers).
"""

from __future__ import annotations

import ipaddress
import os
from collections.abc import Collection
from urllib.parse import parse_qs, unquote, urlsplit

MODES = ("auto", "on", "off")


def worker_cpus(
    workers: int, mode: str, database_url: str = "", allowed: Collection[int] | None = None
) -> list[int | None]:
    """The CPU for each of `workers` worker processes (None: not pinned), in turn over the CPUs this process may
    use (`allowed`, by default its own affinity). `on` always pins, `off` never; `auto` when the workers are at
    least as many as the CPUs and `database_url` names no database server on this machine."""
    if mode not in MODES:
        raise ValueError(f"CPU affinity mode must be one of {', '.join(MODES)}, not {mode!r}")
    cpus = sorted(os.sched_getaffinity(0) if allowed is None else allowed)
    if mode == "off" or (mode == "auto" and (workers < len(cpus) or database_server_here(database_url))):
        return [None] * workers
    return [cpus[index % len(cpus)] for index in range(workers)]


def database_server_here(database_url: str) -> bool:
    """Whether the URL names a PostgreSQL server on this machine (a Unix socket, localhost, a loopback address)."""
    parts = urlsplit(database_url)
    if not parts.scheme.startswith("postgres"):
        return False
    host = unquote(parse_qs(parts.query).get("host", [parts.hostname or ""])[0])
    if host in ("", "localhost") or host.startswith("/"):
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def keep_to(cpu: int | None) -> None:
    """Keep every thread of this process on one CPU; threads it starts later inherit it. None (a worker that
    worker_cpus left unpinned): leave the process to the scheduler."""
    if cpu is None:
        return
    for thread_id in os.listdir("/proc/self/task"):
        os.sched_setaffinity(int(thread_id), {cpu})


def described(cpus: list[int | None]) -> str:
    """Where the workers run, for a server's announcement: nothing when the scheduler decides."""
    return "" if None in cpus else f" (kept to CPU {', '.join(str(cpu) for cpu in cpus)})"
