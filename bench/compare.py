"""What a change bought: this checkout's server against another checkout's, driven in turns by one load generator.

    git worktree add /tmp/before HEAD~1
    .venv/bin/python -m bench.compare /tmp/before                       # FlagTransaction, AuthorizeDrawdown
    .venv/bin/python -m bench.compare /tmp/before --rpc GrantLimit --rounds 5
    .venv/bin/python -m bench.compare /tmp/before --postgres postgresql://postgres@127.0.0.1:5432/postgres

Starts `decisiond serve` from this checkout (A) and from the other one (B, served with this environment's
Python), each on a database of its own (SQLite files in a temporary directory, or scratch PostgreSQL databases
with `--postgres`), and gives both the same population of credit lines. Then, round after round and RPC by RPC,
one load generator drives the two in turns (`loadgen --versus`: A, B, B, A, ... in slices, each after its own
warm-up), which of them goes first alternating from round to round, so that the machine's drift, which on these
machines moves a single run's figures by ten percent and more from minute to minute, falls on both alike.
Prints each pair, then per RPC the medians over the rounds: calls/s, p99 and server CPU per call of each, and
B's calls/s as a share of A's. The last line is the same summary as JSON.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import uuid
from collections.abc import Sequence
from contextlib import ExitStack
from pathlib import Path
from typing import Any

from bench.postgres import scratch_database
from bench.servers import ROOT, ServerProcess, start_decisiond
from bench.session import Session
from bench.workload import RPCS, Population

SIDES = ("A", "B")


def two_databases(stack: ExitStack, postgres_admin_url: str | None) -> tuple[str, str]:
    """A database for each side, removed when `stack` closes: SQLite files, or scratch PostgreSQL databases."""
    if postgres_admin_url:
        return (stack.enter_context(scratch_database(postgres_admin_url)),
                stack.enter_context(scratch_database(postgres_admin_url)))
    directory = stack.enter_context(tempfile.TemporaryDirectory(prefix="bench-compare-"))
    return f"sqlite:///{directory}/a.db", f"sqlite:///{directory}/b.db"


def pair(sessions: dict[str, Session], rpc: str, round_number: int, args: argparse.Namespace) -> dict[str, Any]:
    """One run of the two in turns; A goes first in even rounds, B in odd ones."""
    first, second = SIDES if round_number % 2 == 0 else SIDES[::-1]
    ours, theirs = sessions[first].load_in_turns(sessions[second], rpc, args.concurrency, args.slice_warmup,
                                                 args.duration, args.slices)
    return {first: ours, second: theirs}


def median_of(runs: list[dict[str, Any]], pick: Any) -> float:
    return round(statistics.median(pick(run) for run in runs), 3)


def summary(pairs: dict[str, list[dict[str, Any]]]) -> dict[str, Any]:
    """Per RPC and side, medians over the rounds; B's calls/s as a share of A's, pair by pair, and its median."""
    summarised: dict[str, Any] = {}
    for rpc, runs in pairs.items():
        sides = {}
        for side in SIDES:
            own = [run[side] for run in runs]
            sides[side] = {"calls_per_s": median_of(own, lambda r: r["throughput_per_s"]),
                           "p99_ms": median_of(own, lambda r: r["latency_ms"]["p99"]),
                           "server_cpu_ms_per_call": median_of(own, lambda r: r["server_cpu_ms_per_call"])}
        shares = [run["B"]["throughput_per_s"] / run["A"]["throughput_per_s"] for run in runs
                  if run["A"]["throughput_per_s"]]
        summarised[rpc] = {**sides, "b_vs_a_per_pair": [round(share, 3) for share in shares],
                           "b_vs_a_median": round(statistics.median(shares), 3) if shares else None}
    return summarised


def _line(label: str, run: dict[str, Any]) -> str:
    return (f"{label} {run['throughput_per_s']:7,.0f}/s p99 {run['latency_ms']['p99']:6.1f} ms "
            f"CPU {run['server_cpu_ms_per_call']:.3f} ms/call")


DEFAULT_RPCS = ("FlagTransaction", "AuthorizeDrawdown")


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    """The command line; `--rpc` takes several RPCs at once or one at a time (`--rpc A --rpc B`: both, in order)."""
    parser = argparse.ArgumentParser(prog="python -m bench.compare", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("other", type=Path, help="the other checkout (B), e.g. a git worktree of an older commit")
    parser.add_argument("--rpc", action="extend", nargs="+", choices=RPCS,
                        help=f"the RPCs to compare (default: {' '.join(DEFAULT_RPCS)})")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--duration", type=float, default=6.0, help="seconds measured on each server per pair")
    parser.add_argument("--slices", type=int, default=3, help="turns per server within a pair")
    parser.add_argument("--slice-warmup", type=float, default=1.0, help="seconds not measured before each slice")
    parser.add_argument("--users", type=int, default=10_000, help="population with credit lines, the same on both")
    parser.add_argument("--postgres", metavar="ADMIN_URL", help="serve both from scratch PostgreSQL databases")
    args = parser.parse_args(argv)
    args.rpc = list(dict.fromkeys(args.rpc or DEFAULT_RPCS))  # each once; extend would add to a list default
    args.other = args.other.resolve()
    if not (args.other / "service" / "cli.py").is_file():
        parser.error(f"{args.other} is not a checkout of this project (no service/cli.py)")
    return args


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    other = args.other

    population = Population(f"cmp{uuid.uuid4().hex[:6]}", args.users)
    pairs: dict[str, list[dict[str, Any]]] = {rpc: [] for rpc in args.rpc}
    with ExitStack() as stack:
        logs = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="bench-compare-logs-")))
        databases = two_databases(stack, args.postgres)
        servers: dict[str, ServerProcess] = {}
        for side, database, checkout in zip(SIDES, databases, (ROOT, other), strict=True):
            servers[side] = start_decisiond(checkout / "rules", database, logs / f"{side}.log",
                                            checkout=None if checkout == ROOT else checkout)
            stack.callback(servers[side].stop)
        sessions = {side: Session(server, side, population) for side, server in servers.items()}
        for session in sessions.values():
            session.setup()
        print(f"A: {ROOT} ({servers['A'].address}); B: {other} ({servers['B'].address})", flush=True)
        for round_number in range(args.rounds):
            for rpc in args.rpc:
                runs = pair(sessions, rpc, round_number, args)
                pairs[rpc].append(runs)
                share = runs["B"]["throughput_per_s"] / runs["A"]["throughput_per_s"]
                print(f"round {round_number + 1} {rpc}: {_line('A', runs['A'])} | {_line('B', runs['B'])} | "
                      f"B/A {share:.3f}", flush=True)
    summarised = summary(pairs)
    for rpc, figures in summarised.items():
        a, b = figures["A"], figures["B"]
        print(f"{rpc}, medians of {args.rounds}: A {a['calls_per_s']:,.0f}/s p99 {a['p99_ms']:.1f} ms, "
              f"B {b['calls_per_s']:,.0f}/s p99 {b['p99_ms']:.1f} ms; B/A {figures['b_vs_a_median']} "
              f"(pairs: {', '.join(str(share) for share in figures['b_vs_a_per_pair'])})")
    print(json.dumps(summarised))
    return 0


if __name__ == "__main__":
    sys.exit(main())
