"""A decision's own cost, without gRPC: the servicer's code called in a hot loop in this process.

    .venv/bin/python -m bench.in_process                       # CPU per call of each RPC, 2,700 calls each
    .venv/bin/python -m bench.in_process FlagTransaction --instructions   # instructions per call (valgrind)

Opens a SQLite store in a temporary directory with the bundled rules, gives a population its credit lines
through GrantLimit, then runs each RPC's requests (the main run's request streams) through the servicer's
method, request parsing and response encoding included, as the server's event loop would, one call after
another. CPU per call is the process's CPU clock over the calls after a warm-up; machines like ours vary by
tens of percent from minute to minute, so compare runs made side by side. `--instructions` runs this module
twice under `valgrind --tool=callgrind` with 150 and 650 measured calls and prints the difference per call:
instructions are the same to a fraction of a percent from run to run, whatever else the machine does, so a
change to the decision's code can be compared before and after exactly (instructions, not time).
"""

from __future__ import annotations

import argparse
import os
import random
import re
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence

from bench.servers import ROOT
from bench.workload import RPCS, STREAMS, Population, setup_calls


def calls_through_the_servicer(directory: str, users: int) -> Callable[[str, bytes], None]:
    """A function running one serialized request of an RPC through the servicer, on a fresh store whose
    population has its credit lines."""
    from service._gen.decision.v1 import decision_pb2 as pb
    from service.api.servicers import DecisionServicer
    from service.app.clock import SystemClock
    from service.app.rules_holder import RulesHolder
    from service.app.usecases import DecisionApp
    from service.logs import configure_logging
    from service.storage.factory import open_store

    configure_logging("info", open(os.devnull, "w"), batched=True)  # noqa: SIM115 - lives as long as the process
    rules = RulesHolder(ROOT / "rules")
    rules.reload()
    servicer = DecisionServicer(DecisionApp(open_store(f"sqlite:///{directory}/ledger.db"), rules, SystemClock()),
                                runner=None)  # type: ignore[arg-type]  # the methods are called directly
    parse = {rpc: getattr(pb, f"{rpc}Request").FromString for rpc in RPCS}
    methods = {rpc: getattr(DecisionServicer, rpc).__wrapped__ for rpc in RPCS}  # the synchronous method

    def call(rpc: str, request: bytes) -> None:
        methods[rpc](servicer, parse[rpc](request))

    for rpc, request in setup_calls(Population("inproc", users), random.Random(1)):
        call(rpc, request)
    return call


def cpu_per_call(rpcs: Sequence[str], calls: int, warmup: int, users: int) -> dict[str, float]:
    """Microseconds of process CPU per call, per RPC."""
    rng = random.Random(2)
    with tempfile.TemporaryDirectory(prefix="bench-inproc-") as directory:
        call = calls_through_the_servicer(directory, users)
        measured = {}
        for rpc in rpcs:
            stream = STREAMS[rpc](Population("inproc", users), rng)
            requests = [next(stream)[1] for _ in range(warmup + calls)]
            for request in requests[:warmup]:
                call(rpc, request)
            started = time.process_time()
            for request in requests[warmup:]:
                call(rpc, request)
            measured[rpc] = (time.process_time() - started) / calls * 1e6
        return measured


def instructions_per_call(rpc: str) -> int:
    """Instructions per call under callgrind: 650 measured calls minus 150, divided by 500."""
    counts = []
    for calls in (150, 650):
        command = ["valgrind", "--tool=callgrind", "--callgrind-out-file=/dev/null", sys.executable, "-m",
                   "bench.in_process", rpc, "--calls", str(calls), "--warmup", "50", "--users", "100"]
        done = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, check=True)
        counts.append(int(re.search(r"refs:\s+([\d,]+)", done.stderr)[1].replace(",", "")))  # type: ignore[index]
    return (counts[1] - counts[0]) // 500


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.in_process", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("rpcs", nargs="*", metavar="RPC", help=f"one or more of {', '.join(RPCS)} (default: all)")
    parser.add_argument("--calls", type=int, default=2_700, help="measured calls per RPC")
    parser.add_argument("--warmup", type=int, default=300, help="calls per RPC before measuring")
    parser.add_argument("--users", type=int, default=2_000, help="population size")
    parser.add_argument("--instructions", action="store_true", help="count instructions with valgrind instead")
    args = parser.parse_args(argv)
    if unknown := set(args.rpcs) - set(RPCS):
        parser.error(f"unknown RPC {', '.join(sorted(unknown))}: choose from {', '.join(RPCS)}")
    rpcs = args.rpcs or RPCS
    if args.instructions:
        for rpc in rpcs:
            print(f"{rpc}: {instructions_per_call(rpc):,} instructions per call")
    else:
        for rpc, micros in cpu_per_call(rpcs, args.calls, args.warmup, args.users).items():
            print(f"{rpc}: {micros:.0f} us of CPU per call")
    return 0


if __name__ == "__main__":
    sys.exit(main())
