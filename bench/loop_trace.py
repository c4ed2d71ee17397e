"""Where a call's time goes in the serving workers: each worker's steps timed, and each call's latency at the client.

    .venv/bin/python -m bench.loop_trace FlagTransaction             # 12 s at 16 in flight
    .venv/bin/python -m bench.loop_trace AuthorizeDrawdown --seconds 20 --keep /tmp/trace

Starts `decisiond serve` on a scratch SQLite file with bench/trace_hook first on its module path, so that every
worker appends a line per step to a file of its own (its batches of calls, group commits, waits for the writer lock
and for users' locks, checkpoint passes, garbage collections: see bench/trace_hook/sitecustomize.py). Gives a
population its credit lines, then drives the RPC at 16 in flight as the load generator does (bench.loadgen.drive,
one second of warm-up), recording when every call was sent and answered on the clock the hook reads. Prints the
calls' latencies, then per worker how often each step ran, how long it took and what share of the time it filled,
how the batches' sizes fell, and, for each kind of step, the share of the calls above the p99 that overlapped one
against the share of the calls at or under the p50 (a slow call overlaps more steps by its length alone: compare the
shares with `expected`, what the length alone would give). `--keep DIR` leaves the raw traces and the calls
(calls.json) there. The hook wraps private methods of the store and the runner: tests/bench/test_loop_trace.py runs
this tool, so a rename shows there.
"""

from __future__ import annotations

import argparse
import asyncio
import bisect
import itertools
import json
import math
import os
import random
import statistics
import sys
import tempfile
from collections import Counter, defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from bench.loadgen import Window, drive
from bench.servers import ROOT, start_decisiond
from bench.session import Session
from bench.stats import latency_summary_ms, percentile
from bench.workload import RPCS, STREAMS, Population

HOOK = Path(__file__).resolve().parent / "trace_hook"
CONCURRENCY = 16


@dataclass(frozen=True)
class Step:
    kind: str
    start: float
    end: float
    size: int

    @property
    def ms(self) -> float:
        return (self.end - self.start) * 1000


CallTimes = tuple[float, float]  # a call's start and end, seconds of time.perf_counter (the hook's clock)


def read_traces(directory: Path) -> dict[str, list[Step]]:
    """Each process's steps, by its pid, from the hook's files."""
    traces: dict[str, list[Step]] = {}
    for path in sorted(directory.glob("trace-*.txt")):
        steps = []
        for line in path.read_text().splitlines():
            kind, start, end, size = line.split()
            steps.append(Step(kind, float(start), float(end), int(size)))
        traces[path.stem.removeprefix("trace-")] = steps
    return traces


def overlap_share(calls: Sequence[CallTimes], steps: Sequence[Step]) -> float:
    """The share of `calls` during which at least one of `steps` ran (steps sorted by start)."""
    if not calls:
        return 0.0
    starts = [step.start for step in steps]
    # a step that overlaps a call starts before the call ends; the longest step bounds how far back to look
    reach = max((step.end - step.start for step in steps), default=0.0)
    hit = 0
    for start, end in calls:
        first = bisect.bisect_left(starts, start - reach)
        last = bisect.bisect_left(starts, end)
        hit += any(steps[i].end > start for i in range(first, last))
    return hit / len(calls)


def expected_share(call_s: float, steps: Sequence[Step], window_s: float) -> float:
    """The share of calls lasting `call_s` that would overlap one of `steps` were the steps placed at random (as
    many, as long on average, in a Poisson stream over the window)."""
    if window_s <= 0 or not steps:
        return 0.0
    mean_step_s = statistics.fmean(step.end - step.start for step in steps)
    return 1.0 - math.exp(-len(steps) / window_s * (call_s + mean_step_s))


def report(calls: Sequence[CallTimes], traces: dict[str, list[Step]]) -> list[str]:
    """The printed analysis (see the module docstring)."""
    durations = sorted(end - start for start, end in calls)
    latency = latency_summary_ms(durations)
    opens, closes = min(start for start, _ in calls), max(end for _, end in calls)
    window = closes - opens
    figures = ", ".join(f"{name} {latency[name]:.2f}" for name in ("p50", "p90", "p99", "max"))
    lines = [f"{len(calls):,} calls in {window:.1f} s ({len(calls) / window:,.0f}/s): {figures} ms; "
             f"mean {latency['mean']:.2f} ms"]
    everywhere: dict[str, list[Step]] = defaultdict(list)
    for pid, steps in traces.items():
        inside = [step for step in steps if step.end >= opens and step.start <= closes]
        if not any(step.kind == "batch" for step in inside):
            continue  # the supervisor, or a worker that served nothing
        lines.append(f"worker {pid}:")
        by_kind: dict[str, list[Step]] = defaultdict(list)
        for step in inside:
            by_kind[step.kind].append(step)
            everywhere[step.kind].append(step)
        for kind, kind_steps in sorted(by_kind.items()):
            took = sorted(step.ms for step in kind_steps)
            each = f", {statistics.fmean(step.size for step in kind_steps):.1f} calls each" if kind in (
                "batch", "group") else ""
            lines.append(f"  {kind:20s} {len(kind_steps) / window:7.1f}/s  median {percentile(took, 0.5):6.3f}  p99 "
                         f"{percentile(took, 0.99):6.3f}  max {took[-1]:6.2f} ms  {sum(took) / (window * 10):5.1f} % "
                         f"of the time{each}")
        sizes = Counter(step.size for step in by_kind["batch"])
        total = sum(sizes.values())
        shares = ", ".join(f"{size}: {count / total:.1%}" for size, count in sorted(sizes.items()))
        lines.append(f"  batch sizes: {shares}")
        batches = sorted(by_kind["batch"], key=lambda step: step.start)
        gaps = sorted((after.start - before.end) * 1000 for before, after in itertools.pairwise(batches))
        if gaps:
            lines.append(f"  between batches: median {percentile(gaps, 0.5):.2f}, p90 {percentile(gaps, 0.9):.2f} ms")
    p50, p99 = percentile(durations, 0.5), percentile(durations, 0.99)  # unrounded, unlike the summary's
    slow = [call for call in calls if call[1] - call[0] > p99]
    typical = [call for call in calls if call[1] - call[0] <= p50]
    if slow and typical:
        slow_s = statistics.fmean(end - start for start, end in slow)
        typical_s = statistics.fmean(end - start for start, end in typical)
        lines.append(f"overlapping a step, calls above the p99 ({len(slow)}) against calls at or under the p50 "
                     "(expected: from their length alone):")
        for kind in sorted(everywhere):
            if kind in ("batch", "group", "wlock"):
                continue  # under load these run all the time: every call overlaps them
            steps = sorted(everywhere[kind], key=lambda step: step.start)
            lines.append(f"  {kind:20s} {overlap_share(slow, steps):5.0%} (expected "
                         f"{expected_share(slow_s, steps, window):4.0%}) against {overlap_share(typical, steps):5.0%}"
                         f" (expected {expected_share(typical_s, steps, window):4.0%})")
    return lines


def trace(rpc: str, seconds: float, users: int, directory: Path) -> tuple[list[CallTimes], dict[str, list[Step]]]:
    """Serve with the hook, set a population up, drive `rpc` as the load generator does (one second of warm-up, then
    `seconds` measured); the measured calls and the traces."""
    population = Population("trace", users)
    hook = {"PYTHONPATH": os.pathsep.join(filter(None, (str(HOOK), os.environ.get("PYTHONPATH")))),
            "DECISIOND_TRACE_DIR": str(directory)}
    server = start_decisiond(ROOT / "rules", f"sqlite:///{directory}/ledger.db", directory / "decisiond.log",
                             extra_env=hook)
    try:
        Session(server, "trace", population).setup()
        stream = STREAMS[rpc](population, random.Random(2))
        recording = asyncio.run(drive(server.address, stream, CONCURRENCY, Window(warmup_s=1.0, duration_s=seconds)))
    finally:
        server.stop()
    calls = [(sent, sent + took) for sent, took in zip(recording.sent_s, recording.latencies_s, strict=True)]
    return calls, read_traces(directory)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.loop_trace", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("rpc", choices=RPCS)
    parser.add_argument("--seconds", type=float, default=12.0, help="seconds measured, after one of warm-up")
    parser.add_argument("--users", type=int, default=10_000, help="population with credit lines")
    parser.add_argument("--keep", type=Path, metavar="DIR", help="leave the raw traces and calls.json here")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="bench-trace-") as scratch:
        directory = args.keep or Path(scratch)
        directory.mkdir(parents=True, exist_ok=True)
        if any(directory.glob("trace-*.txt")):
            parser.error(f"{directory} holds the traces of an earlier run: name an empty directory")
        calls, traces = trace(args.rpc, args.seconds, args.users, directory)
        (directory / "calls.json").write_text(json.dumps(calls))
    print("\n".join(report(calls, traces)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
