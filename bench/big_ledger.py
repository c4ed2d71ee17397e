"""AuthorizeDrawdown latency on an empty ledger and on one holding 1M drawdowns and 10M history events.

A separate command, as filling the ledger takes longer than the main run's five minutes allow (about three
minutes and 5 GB of disk in a temporary directory):

    python -m bench.big_ledger                      # 1M drawdowns, 10M events, 100k other users
    python -m bench.big_ledger --scale 0.1          # a tenth of that, to try it out

Both ledgers are SQLite files created by the store (the service's own migrations); the big one is then filled
through SQL (bench/bulk_ledger.py) with other users' history. `decisiond serve` runs on each, side by side;
each gets a fresh population with credit lines through GrantLimit; AuthorizeDrawdown is then measured at 16
in flight on the empty and the big ledger in alternation (`--rounds`, medians reported, as single runs on
this machine vary by tens of percent), next to the echo ceiling of the same run. Writes
bench/results/<date>-big-ledger.json, which the main run reports.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import sys
import tempfile
import time
import uuid
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from bench.bulk_ledger import fill
from bench.servers import ROOT, start_decisiond, start_echo
from bench.session import Session
from bench.workload import Population

RESULTS = ROOT / "bench" / "results"
POPULATION = 5_000


def _median(values: list[float]) -> float:
    ordered = sorted(values)
    middle = len(ordered) // 2
    return ordered[middle] if len(ordered) % 2 else (ordered[middle - 1] + ordered[middle]) / 2


def _summary(runs: list[dict[str, Any]]) -> dict[str, Any]:
    """Median throughput and latencies over rounds, with every round kept."""
    return {
        "throughput_per_s": _median([r["throughput_per_s"] for r in runs]),
        "latency_ms": {key: _median([r["latency_ms"][key] for r in runs]) for key in ("p50", "p90", "p99", "p999")},
        "server_cpu_ms_per_call": _median([r["server_cpu_ms_per_call"] for r in runs]),
        "rounds": runs,
    }


def measure(rules: Path, scale: float, rounds: int, warmup_s: float, duration_s: float,
            scratch: Path) -> dict[str, Any]:
    """Fill the big ledger, then measure the empty and the big one in alternation, `rounds` times each."""
    users, drawdowns, events = int(100_000 * scale), int(1_000_000 * scale), int(10_000_000 * scale)
    started = time.perf_counter()
    timings = fill(str(scratch / "loaded.db"), users=users, drawdowns=drawdowns, events=events)
    os.sync()  # the fill's gigabytes of dirty pages must not be written back while the loaded ledger is measured
    fill_s = time.perf_counter() - started
    echo_server = start_echo(scratch / "echo.log")
    try:
        echo = Session(echo_server, "echo", Population("ge", POPULATION)).load(
            "AuthorizeDrawdown", 16, warmup_s, duration_s)
    finally:
        echo_server.stop()
    servers = {
        "empty": start_decisiond(rules, f"sqlite:///{scratch / 'empty.db'}", scratch / "empty.log"),
        "loaded": start_decisiond(rules, f"sqlite:///{scratch / 'loaded.db'}", scratch / "loaded.log"),
    }
    try:
        sessions = {name: Session(server, f"sqlite-{name}", Population(f"g{uuid.uuid4().hex[:6]}", POPULATION))
                    for name, server in servers.items()}
        for session in sessions.values():
            session.setup()
        runs: dict[str, list[dict[str, Any]]] = {"empty": [], "loaded": []}
        for _ in range(rounds):
            for name, session in sessions.items():
                runs[name].append(session.load("AuthorizeDrawdown", 16, warmup_s, duration_s))
    finally:
        for server in servers.values():
            server.stop()
    empty, loaded = _summary(runs["empty"]), _summary(runs["loaded"])
    return {
        "loaded_label": f"{drawdowns:,} drawdowns, {events:,} events, {users:,} users",
        "scale": scale,
        "rounds": rounds,
        "echo": echo,
        "empty": empty,
        "loaded": loaded,
        "p99_factor": round(loaded["latency_ms"]["p99"] / empty["latency_ms"]["p99"], 3),
        "p50_factor": round(loaded["latency_ms"]["p50"] / empty["latency_ms"]["p50"], 3),
        "throughput_factor": round(loaded["throughput_per_s"] / empty["throughput_per_s"], 3),
        "fill_s": round(fill_s, 1),
        "fill_steps_s": timings,
        "loaded_db_mb": round((scratch / "loaded.db").stat().st_size / 2**20),
        "note": f"medians of {rounds} alternating rounds",
    }


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.big_ledger", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--scale", type=float, default=1.0, help="fraction of 1M drawdowns / 10M events")
    parser.add_argument("--rounds", type=int, default=3, help="alternating runs on each ledger")
    parser.add_argument("--warmup", type=float, default=2.0)
    parser.add_argument("--duration", type=float, default=6.0)
    parser.add_argument("--rules", type=Path, default=ROOT / "rules", help="the rule bundle to serve")
    parser.add_argument("--scratch", type=Path, help="directory for the two ledgers (default: a temporary one)")
    args = parser.parse_args(argv)
    signal.signal(signal.SIGTERM, signal.default_int_handler)  # unwind: stop the servers, drop scratch data
    started = time.time()
    with tempfile.TemporaryDirectory(prefix="bench-ledger-", dir=args.scratch) as scratch:
        result = measure(args.rules.resolve(), args.scale, args.rounds, args.warmup, args.duration, Path(scratch))
    result["date"] = time.strftime("%Y-%m-%d")
    result["elapsed_s"] = round(time.time() - started, 1)
    suffix = "big-ledger" if args.scale == 1.0 else f"big-ledger-scale-{args.scale:g}"
    path = RESULTS / f"{result['date']}-{suffix}.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(result, indent=2) + "\n")
    print(f"big ledger: p99 {result['empty']['latency_ms']['p99']:.2f} ms empty -> "
          f"{result['loaded']['latency_ms']['p99']:.2f} ms loaded ({result['p99_factor']:.2f}x) -> "
          f"{path.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
