"""Server memory over many decisions: RSS of the serving processes after 10k decisions and after many more.

The main run (`python -m bench.run`) samples the SQLite server's RSS after every load it drives and
extrapolates linearly to one million decisions. This command measures instead of extrapolating: a fresh
server, the mixed workload at 16 in flight, RSS sampled every `--every` decisions up to `--decisions`
(one million takes about 25 minutes on two cores):

    python -m bench.memory --decisions 1000000

It writes bench/results/<date>-memory.json, which later main runs report in place of the extrapolation.
"""

from __future__ import annotations

import argparse
import itertools
import json
import math
import signal
import sys
import tempfile
import time
import uuid
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from bench.launch import StepFailed
from bench.servers import ROOT, start_decisiond
from bench.session import MemorySample, Session
from bench.workload import Population

BASELINE = 10_000
TARGET = 1_000_000
RESULTS = ROOT / "bench" / "results"


def _interpolate(samples: Sequence[MemorySample], decisions: int) -> float:
    """RSS at a decision count, linearly between the samples around it (the nearest end outside them)."""
    ordered = sorted(samples, key=lambda s: s.decisions)
    if decisions <= ordered[0].decisions:
        return float(ordered[0].rss_bytes)
    for before, after in itertools.pairwise(ordered):
        if before.decisions <= decisions <= after.decisions:
            span = after.decisions - before.decisions or 1
            return before.rss_bytes + (after.rss_bytes - before.rss_bytes) * (decisions - before.decisions) / span
    return float(ordered[-1].rss_bytes)


def _slope(points: Sequence[tuple[float, float]]) -> float:
    """Least-squares slope of y over x."""
    count = len(points)
    mean_x = sum(x for x, _ in points) / count
    mean_y = sum(y for _, y in points) / count
    spread = sum((x - mean_x) ** 2 for x, _ in points)
    return sum((x - mean_x) * (y - mean_y) for x, y in points) / spread if spread else 0.0


def summarise(samples: Sequence[MemorySample], echo_rss_bytes: int | None = None) -> dict[str, Any]:
    """RSS at 10k decisions, at the last sample, and at 1M: measured if reached, else extrapolated linearly
    from the later half of the samples."""
    if not samples or max(s.decisions for s in samples) <= BASELINE:
        return {"error": f"fewer than {BASELINE:,} decisions were made", "samples": [s.as_dict() for s in samples]}
    at_10k = _interpolate(samples, BASELINE)
    last = max(samples, key=lambda s: s.decisions)
    if last.decisions >= TARGET:
        at_1m, basis = _interpolate(samples, TARGET), f"measured to {last.decisions:,} decisions"
    else:
        # The first tens of thousands of decisions fill caches and allocator arenas; the trend over the later
        # half of the samples is the steadier estimate of growth per decision.
        start = max(BASELINE, last.decisions // 2)
        later = [(float(s.decisions), float(s.rss_bytes)) for s in samples if s.decisions >= start]
        if len(later) < 2:
            later = [(float(BASELINE), at_10k), (float(last.decisions), float(last.rss_bytes))]
        at_1m = last.rss_bytes + _slope(later) * (TARGET - last.decisions)
        basis = (f"extrapolated linearly from the trend between {int(later[0][0]):,} and {last.decisions:,}"
                 " decisions")
    # The same samples read as warm-up growth (RSS linear in log(decisions)) rather than as a leak.
    logarithmic = [(math.log(s.decisions), float(s.rss_bytes)) for s in samples if s.decisions >= BASELINE]
    at_1m_log = at_10k + _slope([(math.log(BASELINE), at_10k), *logarithmic]) * math.log(TARGET / BASELINE)
    summary: dict[str, Any] = {
        "rss_at_10k_mb": round(at_10k / 2**20, 2),
        "rss_last_mb": round(last.rss_bytes / 2**20, 2),
        "decisions_last": last.decisions,
        "rss_at_1m_mb": round(at_1m / 2**20, 2),
        "growth_to_last": round(last.rss_bytes / at_10k - 1, 4),
        "growth_to_1m": round(at_1m / at_10k - 1, 4),
        "growth_to_1m_if_logarithmic": round(at_1m_log / at_10k - 1, 4),
        "basis": basis,
        "samples": [s.as_dict() for s in samples],
    }
    if echo_rss_bytes:
        summary["echo_rss_mb"] = round(echo_rss_bytes / 2**20, 2)
    return summary


def measure(rules: Path, decisions: int, every: int, users: int) -> dict[str, Any]:
    """A fresh SQLite server driven with the mixed workload until it has made `decisions` decisions."""
    with tempfile.TemporaryDirectory(prefix="bench-memory-") as scratch:
        server = start_decisiond(rules, f"sqlite:///{scratch}/ledger.db", Path(scratch) / "decisiond.log")
        session = Session(server, "sqlite", Population(f"m{uuid.uuid4().hex[:6]}", users))
        stopped_early = ""
        try:
            session.setup()
            while session.decisions < decisions:
                # land on 10k exactly, the baseline, then sample every `every` decisions
                goal = BASELINE if session.decisions < BASELINE else session.decisions + every
                chunk = min(goal, decisions) - session.decisions
                session.load_calls("Mixed", 16, chunk, timeout_s=max(600.0, chunk / 50))
                print(f"memory: {session.decisions:,} decisions, RSS {session.memory[-1].rss_bytes / 2**20:.1f} MB",
                      file=sys.stderr, flush=True)
        except KeyboardInterrupt:  # SIGINT or SIGTERM: keep what was measured
            stopped_early = "interrupted"
        except StepFailed as error:  # keep what was measured, and what the server said
            status = server.process.poll()
            log_tail = (Path(scratch) / "decisiond.log").read_text(errors="replace").splitlines()[-20:]
            stopped_early = (f"the load failed ({str(error).splitlines()[-1][:200]}); decisiond "
                             f"{'still running' if status is None else f'exited with {status}'}")
            print("memory: decisiond log tail:", *log_tail, sep="\n", file=sys.stderr)
        finally:
            server.stop()
    summary = summarise(session.memory)
    if stopped_early:
        summary["note"] = f"stopped after {session.decisions:,} decisions: {stopped_early}"
    return summary


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.memory", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--decisions", type=int, default=TARGET)
    parser.add_argument("--every", type=int, default=20_000, help="decisions between two RSS samples")
    parser.add_argument("--users", type=int, default=5_000, help="population the drawdowns and flags work on "
                        f"(its setup makes that many decisions: keep it below {BASELINE:,})")
    parser.add_argument("--rules", type=Path, default=ROOT / "rules", help="the rule bundle to serve")
    args = parser.parse_args(argv)
    if args.users >= BASELINE:
        parser.error(f"--users must be below {BASELINE:,} so that the first sample is taken at {BASELINE:,}")
    signal.signal(signal.SIGTERM, signal.default_int_handler)  # stop the server and keep the samples
    started = time.time()
    result = measure(args.rules.resolve(), args.decisions, args.every, args.users)
    result["elapsed_s"] = round(time.time() - started, 1)
    result["date"] = time.strftime("%Y-%m-%d")
    path = RESULTS / f"{result['date']}-memory.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(result, indent=2) + "\n")
    print(f"memory: {result.get('basis', result.get('error'))}; growth 10k -> 1M: {result.get('growth_to_1m')}"
          f" -> {path.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
