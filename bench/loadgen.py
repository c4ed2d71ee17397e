"""The load generator: a separate process driving one server with a grpc.aio client, N calls in flight.

    python -m bench.loadgen --target 127.0.0.1:PORT --rpc AuthorizeDrawdown --concurrency 16 \\
        --warmup 2 --duration 6 --prefix bench-1a2b --users 3000
    python -m bench.loadgen --target 127.0.0.1:PORT --setup --prefix bench-1a2b --users 3000

Prints one JSON object on stdout. Calls completing during the warm-up are not measured; throughput is the
calls completed inside the measured window divided by its length, latency is each call's own round trip.
Requests are serialized before the clock starts (`--pregen`); if the run outpaces them, more are built on
the fly and `built_during_run` says how many. Every call waits for a connection (`wait_for_ready`), as the
README asks of clients: a call issued while the server moves its connection (every 2 s) or is being replaced
waits for the next connection instead of failing (tests/bench/test_loadgen.py).
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import json
import random
import resource
import sys
import time
from collections import Counter
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field

import grpc

from bench.outcomes import tally
from bench.stats import latency_summary_ms
from bench.workload import STREAMS, Call, Population, setup_calls

SERVICE = "/decision.v1.DecisionService/"
CALL_TIMEOUT_S = 30.0


@dataclass
class Window:
    """When the measured window opens and closes, or a number of calls after which the run stops."""

    warmup_s: float
    duration_s: float | None
    max_calls: int | None = None


@dataclass
class Recording:
    latencies_s: list[float] = field(default_factory=list)
    answers: list[tuple[str, bytes]] = field(default_factory=list)
    request_bytes: int = 0
    errors: Counter[str] = field(default_factory=Counter)
    completed_total: int = 0
    measured_s: float = 0.0


DEFAULT_CONNECTIONS = 4


async def drive(
    target: str, calls: Iterator[Call], concurrency: int, window: Window, connections: int = DEFAULT_CONNECTIONS
) -> Recording:
    """Keep `concurrency` calls in flight until the window closes (or the calls or max_calls run out), spread
    over `connections` TCP connections, as several client instances would spread them: a single connection
    would land on one of the server's processes sharing the port (SO_REUSEPORT balances connections, not
    calls) and leave the others idle."""
    recording = Recording()
    # A local subchannel pool per channel: otherwise channels of one process to one target share a connection.
    channels = [
        grpc.aio.insecure_channel(target, options=[("grpc.use_local_subchannel_pool", 1)])
        for _ in range(max(1, connections))
    ]
    try:
        await asyncio.wait_for(asyncio.gather(*(c.channel_ready() for c in channels)), timeout=10)
        methods: dict[tuple[int, str], grpc.aio.UnaryUnaryMultiCallable] = {}
        started = time.perf_counter()
        opens = started + window.warmup_s
        closes = opens + window.duration_s if window.duration_s is not None else float("inf")
        issued = 0

        async def worker(number: int) -> None:
            nonlocal issued
            lane = number % len(channels)
            while time.perf_counter() < closes and (window.max_calls is None or issued < window.max_calls):
                try:
                    rpc, payload = next(calls)
                except StopIteration:
                    return
                issued += 1
                method = methods.get((lane, rpc))
                if method is None:  # bytes in, bytes out
                    method = methods[lane, rpc] = channels[lane].unary_unary(SERVICE + rpc)
                sent = time.perf_counter()
                try:
                    answer = await method(payload, timeout=CALL_TIMEOUT_S, wait_for_ready=True)
                except grpc.aio.AioRpcError as error:
                    if sent >= opens:
                        recording.errors[error.code().name] += 1
                    continue
                done = time.perf_counter()
                recording.completed_total += 1
                if opens <= done < closes:
                    recording.latencies_s.append(done - sent)
                    recording.answers.append((rpc, answer))
                    recording.request_bytes += len(payload)

        await asyncio.gather(*(worker(number) for number in range(concurrency)))
        recording.measured_s = min(time.perf_counter(), closes) - opens
    finally:
        await asyncio.gather(*(c.close() for c in channels))
    return recording


def summarise(
    rpc: str, concurrency: int, window: Window, recording: Recording, built_during_run: int
) -> dict[str, object]:
    """The JSON result of one run."""
    measured = len(recording.latencies_s)
    outcomes, codes = tally(recording.answers)
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return {
        "rpc": rpc,
        "concurrency": concurrency,
        "warmup_s": window.warmup_s,
        "measured_s": round(recording.measured_s, 3),
        "calls": measured,
        "throughput_per_s": round(measured / recording.measured_s, 1) if recording.measured_s > 0 else 0.0,
        "latency_ms": latency_summary_ms(recording.latencies_s),
        "errors": dict(recording.errors),
        "completed_total": recording.completed_total,
        "outcomes": outcomes,
        "codes": codes,
        "request_bytes_avg": round(recording.request_bytes / measured, 1) if measured else 0.0,
        "response_bytes_avg": round(sum(len(a) for _, a in recording.answers) / measured, 1) if measured else 0.0,
        "built_during_run": built_during_run,
        "client_cpu_s": round(usage.ru_utime + usage.ru_stime, 2),
    }


class CountingStream:
    """Pre-built calls first, then calls built on demand, counted."""

    def __init__(self, source: Iterator[Call], prebuilt: int) -> None:
        self._source = source
        self._ready: Iterator[Call] = iter(list(itertools.islice(source, prebuilt)))
        self.built_on_demand = 0

    def __iter__(self) -> CountingStream:
        return self

    def __next__(self) -> Call:
        try:
            return next(self._ready)
        except StopIteration:
            call = next(self._source)
            self.built_on_demand += 1
            return call


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m bench.loadgen", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--target", required=True, help="HOST:PORT of the server")
    parser.add_argument("--rpc", choices=sorted(STREAMS), help="which stream to drive")
    parser.add_argument("--setup", action="store_true", help="grant the whole population its credit lines, then exit")
    parser.add_argument("--concurrency", type=int, default=16, help="calls in flight")
    parser.add_argument("--connections", type=int, default=DEFAULT_CONNECTIONS,
                        help="TCP connections the calls are spread over")
    parser.add_argument("--warmup", type=float, default=2.0, help="seconds not measured")
    parser.add_argument("--duration", type=float, help="seconds measured after the warm-up")
    parser.add_argument("--calls", type=int, help="stop after issuing this many calls instead of after --duration")
    parser.add_argument("--prefix", default="bench", help="user id prefix, unique per benchmark run")
    parser.add_argument("--users", type=int, default=2000, help="population size")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--pregen", type=int, default=20_000, help="requests serialized before the clock starts")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    population = Population(args.prefix, args.users)
    rng = random.Random(args.seed)
    if args.setup:
        rpc, source, window = "setup", setup_calls(population, rng), Window(0.0, None)
        stream = CountingStream(source, 0)
    elif args.rpc and (args.duration or args.calls):
        rpc, window = args.rpc, Window(args.warmup, args.duration, args.calls)
        stream = CountingStream(STREAMS[rpc](population, rng), args.pregen)
    else:
        print("loadgen: give --setup, or --rpc with --duration or --calls", file=sys.stderr)
        return 2
    recording = asyncio.run(drive(args.target, stream, args.concurrency, window, args.connections))
    json.dump(summarise(rpc, args.concurrency, window, recording, stream.built_on_demand), sys.stdout)
    print()
    return 0


if __name__ == "__main__":
    sys.exit(main())
