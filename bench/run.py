"""The whole benchmark in one command, in under five minutes on two cores.

    .venv/bin/python -m bench.run            # full run: writes bench/results/<date>.{json,md,png}, updates README
    .venv/bin/python -m bench.run --quick    # a one-minute smoke run of the same steps (results not kept)

Steps: the echo ceiling and `decisiond serve` on SQLite start side by side; the SQLite population gets its
credit lines (GrantLimit); then, RPC by RPC, one load generator drives the echo and the service in turns at 16 in
flight (echo, service, service, echo, each slice after its own warm-up), so that both meet the same machine;
AuthorizeDrawdown on PostgreSQL and the bare ledger loop on the same database; rule evaluation alone; then other
concurrencies, in turns likewise, while the time budget lasts. The SQLite server's memory is sampled after every
run. The big-ledger and one-million-decision measurements are separate commands (bench/README.md);
their latest results are reported with each run.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from functools import partial
from pathlib import Path
from typing import Any

import grpc

from bench import chart, memory, report
from bench.launch import StepFailed, run_json
from bench.postgres import DEFAULT_ADMIN_URL, reachable, scratch_database
from bench.readme import update_readme
from bench.servers import ROOT, ServerFailed, ServerProcess, start_decisiond, start_echo
from bench.session import Session
from bench.speed_probe import python_probe_ms, wakeup_probe_us
from bench.targets import evaluate
from bench.workload import RPCS, Population

RESULTS = ROOT / "bench" / "results"


@dataclass(frozen=True)
class Plan:
    warmup_s: float = 2.0  # the PostgreSQL run's
    duration_s: float = 6.0  # measured per server and run
    slices: int = 2  # an echo/service pair alternates between the two in this many slices each (loadgen --versus)
    slice_warmup_s: float = 1.0
    extra_concurrencies: tuple[int, ...] = (1, 64)
    extra_duration_s: float = 4.0
    population: int = 10_000  # SQLite users with a credit line: drawdowns and account events spread over them
    pg_population: int = 3_000
    rule_sizes: tuple[int, ...] = (50, 200, 500)
    rule_seconds: float = 1.5
    budget_s: float = 285.0


FULL = Plan()
QUICK = Plan(warmup_s=1.0, duration_s=2.0, slice_warmup_s=0.5, extra_concurrencies=(), population=1_000,
             pg_population=500, rule_seconds=0.5, budget_s=90.0)


class Budget:
    def __init__(self, seconds: float) -> None:
        self.started = time.monotonic()
        self.seconds = seconds

    def elapsed(self) -> float:
        return time.monotonic() - self.started

    def allows(self, cost_s: float) -> bool:
        return self.elapsed() + cost_s <= self.seconds


def _log(message: str) -> None:
    print(f"bench: {message}", file=sys.stderr, flush=True)


def with_ratio(run: dict[str, Any], echo: dict[str, Any]) -> dict[str, Any]:
    """The run with its ratios to the echo run of the same shape and concurrency."""
    def share(value: float, base: float) -> float:
        return round(value / base, 3) if base else 0.0

    run["echo_throughput_per_s"] = echo["throughput_per_s"]
    run["ratio_to_echo"] = {
        "throughput": share(run["throughput_per_s"], echo["throughput_per_s"]),
        "p50": share(run["latency_ms"]["p50"], echo["latency_ms"]["p50"]),
        "p99": share(run["latency_ms"]["p99"], echo["latency_ms"]["p99"]),
        "server_cpu_per_call": share(run["server_cpu_ms_per_call"], echo["server_cpu_ms_per_call"]),
    }
    return run


def halves_together(before: dict[str, Any], after: dict[str, Any]) -> dict[str, Any]:
    """The bare loop's two halves as one run: throughput over both, each half's latencies kept as measured."""
    transactions = before["transactions"] + after["transactions"]
    measured_s = before["measured_s"] + after["measured_s"]
    return {**{key: before[key] for key in ("processes", "threads", "in_flight", "cpus")},
            "measured_s": measured_s, "transactions": transactions,
            "throughput_per_s": round(transactions / measured_s, 1) if measured_s else 0.0,
            "halves": [before, after]}


class Benchmark:
    """The steps of one run and what they measured."""

    def __init__(self, plan: Plan, rules: Path, scratch: Path, postgres_url: str | None) -> None:
        self.plan = plan
        self.settings: dict[str, Any] = {}
        self.rules = rules
        self.scratch = scratch
        self.postgres_url = postgres_url
        self.budget = Budget(plan.budget_s)
        self.prefix = f"b{uuid.uuid4().hex[:6]}"
        self.runs: list[dict[str, Any]] = []
        self.echo_runs: dict[tuple[str, int], dict[str, Any]] = {}
        self.extra: dict[str, Any] = {}
        self.skipped: list[str] = []
        self.load_at_start = [round(value, 2) for value in os.getloadavg()]
        self.probe_at_start = python_probe_ms()
        self.wakeup_at_start = wakeup_probe_us()

    def step(self, name: str, action: Callable[[], None]) -> None:
        """Run a step; a failure is recorded and the run goes on with the next."""
        _log(f"{name} (at {self.budget.elapsed():.0f} s)")
        try:
            action()
        except (StepFailed, ServerFailed, OSError, ValueError, grpc.RpcError) as error:
            _log(f"{name} FAILED: {error}")
            self.skipped.append(f"{name}: failed: {str(error).splitlines()[0][:300]}")

    def pair(self, echo: Session, service: Session, rpc: str, concurrency: int, duration: float) -> None:
        """The echo and the service driven in turns by one load generator (echo, service, service, echo, ...)."""
        ceiling, measured = echo.load_in_turns(service, rpc, concurrency, self.plan.slice_warmup_s, duration,
                                               self.plan.slices)
        self.runs.append(ceiling)
        self.echo_runs[(rpc, concurrency)] = ceiling
        self.runs.append(with_ratio(measured, ceiling))
        _log(f"  {rpc}@{concurrency}: echo {ceiling['throughput_per_s']:,.0f}/s, {service.label} "
             f"{measured['throughput_per_s']:,.0f}/s p99 {measured['latency_ms']['p99']:.1f} ms")

    def postgres(self) -> None:
        """AuthorizeDrawdown at 16 in flight on PostgreSQL between two halves of the bare ledger loop on the same
        database (loop, service, loop: a steady drift of the machine weighs on both alike)."""
        assert self.postgres_url is not None
        workers = self.settings["workers"]

        def loop_half(url: str) -> dict[str, Any]:
            return run_json("bench.ledger_loop", [
                "--database", url, "--processes", str(workers), "--threads", str(max(1, 16 // workers)),
                "--warmup", str(self.plan.slice_warmup_s), "--seconds", str(self.plan.duration_s / 2),
                "--users", str(self.plan.pg_population)], timeout_s=120)

        with scratch_database(self.postgres_url) as url:
            server = start_decisiond(self.rules, url, self.scratch / "decisiond-postgresql.log")
            try:
                session = Session(server, "postgresql", Population(f"{self.prefix}p", self.plan.pg_population))
                session.setup()
                before = loop_half(url)
                measured = session.load("AuthorizeDrawdown", 16, self.plan.warmup_s, self.plan.duration_s)
                after = loop_half(url)
            finally:
                server.stop()
            echo = self.echo_runs.get(("AuthorizeDrawdown", 16))
            self.runs.append(with_ratio(measured, echo) if echo else measured)
            self.extra["ledger_loop"] = halves_together(before, after)
        _log(f"  postgresql: service {measured['throughput_per_s']:,.0f}/s, bare loop "
             f"{self.extra['ledger_loop']['throughput_per_s']:,.0f} tx/s")

    def rule_eval(self) -> None:
        self.extra["rule_eval"] = run_json("bench.rule_eval", [
            "--sizes", *map(str, self.plan.rule_sizes), "--seconds", str(self.plan.rule_seconds),
            "--rules", str(self.rules)], timeout_s=180)

    def execute(self) -> None:
        plan = self.plan
        echo_server = start_echo(self.scratch / "echo.log")
        sqlite_server: ServerProcess | None = None
        try:
            sqlite_server = start_decisiond(self.rules, f"sqlite:///{self.scratch}/ledger.db",
                                            self.scratch / "decisiond-sqlite.log")
            self.extra["servers"] = {"echo": echo_server.banner, "sqlite": sqlite_server.banner}
            self.settings["workers"] = len(sqlite_server.worker_pids())
            population = Population(self.prefix, plan.population)
            echo, service = Session(echo_server, "echo", population), Session(sqlite_server, "sqlite", population)
            self.step(f"setup: {plan.population:,} credit lines", partial(self._record_setup, service))
            for rpc in RPCS:
                self.step(f"{rpc} at 16 in flight", partial(self.pair, echo, service, rpc, 16, plan.duration_s))
            if self.postgres_url:
                self.step("AuthorizeDrawdown on PostgreSQL + bare ledger loop", self.postgres)
            self.step("rule evaluation", self.rule_eval)
            extra_cost = 2 * (plan.slices * plan.slice_warmup_s + plan.extra_duration_s) + 4
            for concurrency in plan.extra_concurrencies:
                for rpc in RPCS:
                    if not self.budget.allows(extra_cost + 10):
                        self.skipped.append(f"{rpc} at {concurrency} in flight: not within the time budget")
                        continue
                    self.step(f"{rpc} at {concurrency} in flight",
                              partial(self.pair, echo, service, rpc, concurrency, plan.extra_duration_s))
            echo_rss = echo.memory[-1].rss_bytes if echo.memory else None
            self.extra["memory"] = memory.summarise(service.memory, echo_rss)
        finally:
            echo_server.stop()
            if sqlite_server is not None:
                self.extra.setdefault("exit_codes", {})["sqlite"] = sqlite_server.stop()

    def _record_setup(self, service: Session) -> None:
        self.extra["setup"] = service.setup()


def machine() -> dict[str, Any]:
    def git(*args: str) -> str:
        done = subprocess.run(["git", *args], cwd=ROOT, capture_output=True, text=True, check=False)
        return done.stdout.strip()

    return {
        "cpus": os.cpu_count(),
        "python": platform.python_version(),
        "grpcio": grpc.__version__,
        "platform": platform.platform(),
        "git_commit": git("rev-parse", "--short", "HEAD"),
        "git_dirty": bool(git("status", "--porcelain", "--untracked-files=no")),
    }


def latest_separate(kind: str) -> dict[str, Any] | None:
    """The newest bench/results/<date>-<kind>.json written by a separate command, with where it came from."""
    found = sorted(RESULTS.glob(f"[0-9][0-9][0-9][0-9]-[0-9][0-9]-[0-9][0-9]-{kind}.json"))
    if not found:
        return None
    loaded: dict[str, Any] = json.loads(found[-1].read_text())
    loaded["source"] = str(found[-1].relative_to(ROOT))
    return loaded


def assemble(bench: Benchmark, started: float) -> dict[str, Any]:
    results: dict[str, Any] = {
        "schema": 1,
        "date": time.strftime("%Y-%m-%d"),
        "started_at": time.strftime("%Y-%m-%dT%H:%M:%S%z", time.localtime(started)),
        "elapsed_s": round(time.time() - started, 1),
        "machine": {**machine(), "load_average_at_start": bench.load_at_start,
                    "python_probe_ms": {"start": bench.probe_at_start, "end": python_probe_ms()},
                    "wakeup_probe_us": {"start": bench.wakeup_at_start, "end": wakeup_probe_us()}},
        "settings": {**bench.settings, **asdict(bench.plan)},
        "servers": bench.extra.get("servers", {}),
        "setup": bench.extra.get("setup"),
        "runs": bench.runs,
        "ledger_loop": bench.extra.get("ledger_loop"),
        "rule_eval": bench.extra.get("rule_eval"),
        "memory": bench.extra.get("memory"),
        "skipped": bench.skipped,
    }
    return attach_separate(results)


def attach_separate(results: dict[str, Any]) -> dict[str, Any]:
    """Add the latest results of the separate commands (big ledger, memory to 1M), then the verdicts."""
    results["big_ledger"] = latest_separate("big-ledger")
    in_run = results.get("memory_in_run") or results.get("memory")
    full_memory = latest_separate("memory")
    if full_memory and "growth_to_1m" in full_memory and in_run:
        own = (f"this run: {in_run['growth_to_last']:+.1%} at {in_run['decisions_last']:,} decisions"
               if "growth_to_last" in in_run else "")
        full_memory["note"] = "; ".join(filter(None, [f"from `{full_memory['source']}`", full_memory.get("note"), own]))
        full_memory["echo_rss_mb"] = in_run.get("echo_rss_mb")
        results["memory_in_run"] = in_run
        results["memory"] = full_memory
    results["targets"] = [v.as_dict() for v in evaluate(results)]
    return results


def write(results: dict[str, Any], directory: Path, readme: bool) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    stem = directory / str(results["date"])
    chart_path = chart.draw(results, stem.with_suffix(".png"))
    verdicts = evaluate(results)
    stem.with_suffix(".json").write_text(json.dumps(results, indent=2) + "\n")
    markdown = report.render(results, verdicts, chart_path.name)
    stem.with_suffix(".md").write_text(markdown)
    if readme:
        update_readme(ROOT / "bench" / "README.md", results, verdicts, chart_path)
    return stem.with_suffix(".md")


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.run", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="short smoke run; results go to a temporary directory")
    parser.add_argument("--postgres", default=os.environ.get("BENCH_POSTGRES", DEFAULT_ADMIN_URL),
                        help="URL of an existing PostgreSQL database to create the scratch database from "
                             "(env BENCH_POSTGRES); 'none' skips PostgreSQL")
    parser.add_argument("--rules", type=Path, default=ROOT / "rules", help="the rule bundle to serve (default: rules/)")
    parser.add_argument("--refresh", type=Path, metavar="RESULTS_JSON",
                        help="measure nothing: re-read the separate commands' latest results into this run's "
                             "results and rewrite its report, chart and the README section")
    args = parser.parse_args(argv)
    if args.refresh:
        results = attach_separate(json.loads(args.refresh.read_text()))
        print(write(results, args.refresh.parent, readme=True).read_text())
        return 0
    signal.signal(signal.SIGTERM, signal.default_int_handler)  # unwind: stop the servers, drop scratch data
    plan = QUICK if args.quick else FULL
    started = time.time()
    postgres_url: str | None = None if args.postgres == "none" else args.postgres
    with tempfile.TemporaryDirectory(prefix="bench-") as scratch:
        bench = Benchmark(plan, args.rules.resolve(), Path(scratch), postgres_url)
        if postgres_url and (why := reachable(postgres_url)):
            bench.skipped.append(why)
            bench.postgres_url = None
        bench.execute()
        results = assemble(bench, started)
        out = Path(scratch) / "results" if args.quick else RESULTS
        written = write(results, out, readme=not args.quick)
        print(written.read_text())
    _log(f"done in {results['elapsed_s']:.0f} s; results in {written.parent}")
    failed = [t for t in results["targets"] if t["passed"] is False]
    _log(f"{len(failed)} of {len(results['targets'])} targets missed")
    return 0


if __name__ == "__main__":
    sys.exit(main())
