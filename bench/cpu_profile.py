"""Where a serving process spends its CPU: one RPC's load against an in-process worker, every thread profiled.

    .venv/bin/python -m bench.cpu_profile AuthorizeDrawdown          # SQLite; --database URL for another store

A population gets its credit lines from a normal `decisiond serve` first; then this process serves the same
database the way service.worker does (service.bootstrap.start_service, one process), with cProfile timing
every request thread by its own CPU clock (time.thread_time), while the load generator drives the RPC at 16
in flight. Prints the CPU per call and its split by layer, then the most expensive functions. Profiling slows
the server several times over: read the shares, not the absolute figures.
"""

from __future__ import annotations

import argparse
import cProfile
import json
import pstats
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections import Counter
from collections.abc import Sequence
from pathlib import Path
from types import FrameType
from typing import Any

from bench.servers import ROOT, start_decisiond
from bench.session import Session
from bench.workload import RPCS, Population

LAYERS = (  # (path fragment, layer), first match wins
    ("grpc", "grpc server"),
    ("structlog", "logging (structlog)"),
    ("service/app/pseudonyms", "request digest and JSON (app/pseudonyms)"),
    ("service/storage", "service/storage"),
    ("service/engine", "service/engine"),
    ("service/app", "service/app"),
    ("service/api", "service/api"),
    ("service/domain", "service/domain"),
    ("psycopg", "psycopg"),
    ("protobuf", "protobuf"),
    ("dataclasses", "dataclasses"),
    ("json", "json"),
)
BUILTIN_LAYERS = (
    ("sqlite3", "sqlite3 (C)"),
    ("durable_rules", "durable_rules (C)"),
    ("lock", "locks (release, context managers)"),
    ("hmac", "hashing"),
    ("hashlib", "hashing"),
)


WAITING = "waiting (queue get, lock acquire; left out of the shares)"


def layer(filename: str, function: str) -> str:
    if filename.startswith("~") and ("SimpleQueue" in function or "acquire" in function):
        return WAITING  # blocked threads: the thread CPU clock should not move, but this VM's sometimes does
    if filename.startswith("~"):  # a C function
        return next((name for key, name in BUILTIN_LAYERS if key in function), "builtins (isinstance, getattr, ...)")
    found = next((name for key, name in LAYERS if key in filename), None)
    if found:
        return found
    if any(key in filename for key in ("threading", "concurrent", "contextlib", "queue")):
        return "stdlib threads and context managers"
    return "other stdlib"


class ThreadProfiles:
    """A cProfile per thread started after install(), timed by that thread's CPU clock."""

    def __init__(self) -> None:
        self.profiles: list[cProfile.Profile] = []

    def install(self) -> None:
        threading.setprofile(self._start)

    def _start(self, _frame: FrameType, _event: str, _arg: Any) -> None:
        sys.setprofile(None)
        profile = cProfile.Profile(time.thread_time)
        self.profiles.append(profile)
        profile.enable()

    def stats(self) -> pstats.Stats:
        """Every profiled thread's stats merged (threads that ran no Python code left out)."""
        for profile in self.profiles:
            profile.create_stats()
        ran = [profile for profile in self.profiles if profile.stats]  # type: ignore[attr-defined]
        merged = pstats.Stats(ran[0])
        for profile in ran[1:]:
            merged.add(profile)
        return merged


def profile(rpc: str, database: str | None, seconds: float, top: int) -> None:
    with tempfile.TemporaryDirectory(prefix="bench-profile-") as scratch:
        url = database or f"sqlite:///{scratch}/ledger.db"
        population = Population(f"p{uuid.uuid4().hex[:6]}", 3_000)
        server = start_decisiond(ROOT / "rules", url, Path(scratch) / "setup.log")
        try:
            Session(server, "setup", population).setup()
        finally:
            server.stop()
        threads = ThreadProfiles()
        threads.install()
        from service.bootstrap import start_service
        from service.config import load_settings
        from service.logs import configure_logging

        settings = load_settings(listen="127.0.0.1:0", rules=str(ROOT / "rules"), database=url)
        with (Path(scratch) / "decisiond.log").open("w") as log:
            configure_logging(settings.log_level, log)
            service = start_service(settings)
            try:
                done = subprocess.run(
                    [sys.executable, "-m", "bench.loadgen", "--target", f"127.0.0.1:{service.port}", "--rpc", rpc,
                     "--concurrency", "16", "--warmup", "1", "--duration", str(seconds), "--prefix", population.prefix,
                     "--users", str(population.size)],
                    cwd=ROOT, capture_output=True, text=True, check=True, timeout=seconds + 120)
            finally:
                service.stop()
    result = json.loads(done.stdout.strip().splitlines()[-1])
    stats = threads.stats()
    by_layer: Counter[str] = Counter()
    for (filename, _line, function), (_cc, _nc, own, _cum, _callers) in stats.stats.items():  # type: ignore[attr-defined]
        by_layer[layer(filename, function)] += own
    waiting = by_layer.pop(WAITING, 0.0)
    total = sum(by_layer.values())
    calls = result["completed_total"]
    print(f"{rpc}: {result['throughput_per_s']:,.0f} calls/s under the profiler, "
          f"{total * 1000 / calls:.2f} ms of request-thread CPU per call")
    for name, seconds_used in by_layer.most_common():
        print(f"  {seconds_used / total:6.1%}  {name}")
    print(f"  ({waiting * 1000 / calls:.2f} ms per call counted while {WAITING.split(';')[0]})")
    stats.sort_stats("tottime").print_stats(top)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.cpu_profile", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("rpc", choices=RPCS)
    parser.add_argument("--database", help="database URL (default: a scratch SQLite file)")
    parser.add_argument("--seconds", type=float, default=6.0)
    parser.add_argument("--top", type=int, default=25, help="functions listed")
    args = parser.parse_args(argv)
    profile(args.rpc, args.database, args.seconds, args.top)
    return 0


if __name__ == "__main__":
    sys.exit(main())
