"""The load generator: a separate process driving one server (or two in turns), grpc.aio, N calls in flight.

    python -m bench.loadgen --target 127.0.0.1:PORT --rpc AuthorizeDrawdown --concurrency 16 \\
        --warmup 2 --duration 6 --prefix bench-1a2b --users 3000
    python -m bench.loadgen --target 127.0.0.1:PORT --setup --prefix bench-1a2b --users 3000
    python -m bench.loadgen --target ECHO:PORT --versus SERVICE:PORT --slices 2 --rpc ScoreUser \\
        --warmup 1 --duration 6 --prefix bench-1a2b --users 3000

Prints one JSON object on stdout. With `--versus`, the run alternates between the two servers in slices, in the
order A B B A A B B A ... (`--slices` measured slices each, of `--duration` / `--slices` seconds after `--warmup`
seconds each), and prints {"target": ..., "versus": ...}: two servers measured in turns a few seconds apart share
whatever the machine's speed does meanwhile, where two runs one after the other would not (these machines drift
by tens of percent within a minute). Calls completing during the warm-up are not measured; throughput is the
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
    sent_s: list[float] = field(default_factory=list)  # when each of those calls was sent (time.perf_counter)
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
                    recording.sent_s.append(sent)
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


def slice_order(slices: int) -> list[int]:
    """Which server each slice drives (0: --target, 1: --versus), `slices` each: A B B A A B B A ..., so that a
    steady drift of the machine's speed weighs on both alike."""
    return [side for pair in range(slices) for side in ((0, 1) if pair % 2 == 0 else (1, 0))]


def merged(recordings: Sequence[Recording]) -> Recording:
    """The recordings of one server's slices as one."""
    total = Recording()
    for recording in recordings:
        total.latencies_s += recording.latencies_s
        total.sent_s += recording.sent_s
        total.answers += recording.answers
        total.request_bytes += recording.request_bytes
        total.errors.update(recording.errors)
        total.completed_total += recording.completed_total
        total.measured_s += recording.measured_s
    return total


async def alternate(
    targets: tuple[str, str], calls: Iterator[Call], concurrency: int, slice_window: Window, slices: int,
    connections: int = DEFAULT_CONNECTIONS,
) -> tuple[Recording, Recording]:
    """Drive the two servers in turns (slice_order), each slice after its own warm-up; a slice starts once the
    previous one's calls have all come back."""
    recorded: tuple[list[Recording], list[Recording]] = ([], [])
    for side in slice_order(slices):
        recorded[side].append(await drive(targets[side], calls, concurrency, slice_window, connections))
    return merged(recorded[0]), merged(recorded[1])


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
    parser.add_argument("--versus", metavar="HOST:PORT", help="a second server, driven in turns with the first")
    parser.add_argument("--slices", type=int, default=2, help="with --versus: measured slices per server")
    parser.add_argument("--rpc", choices=sorted(STREAMS), help="which stream to drive")
    parser.add_argument("--setup", action="store_true", help="grant the whole population its credit lines, then exit")
    parser.add_argument("--concurrency", type=int, default=16, help="calls in flight")
    parser.add_argument("--connections", type=int, default=DEFAULT_CONNECTIONS,
                        help="TCP connections the calls are spread over")
    parser.add_argument("--warmup", type=float, default=2.0, help="seconds not measured (with --versus: per slice)")
    parser.add_argument("--duration", type=float,
                        help="seconds measured after the warm-up (with --versus: per server, over its slices)")
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
    if args.versus:
        if args.setup or not args.duration or args.slices < 1:
            print("loadgen: --versus needs --rpc, --duration and --slices of at least 1", file=sys.stderr)
            return 2
        window = Window(args.warmup, args.duration / args.slices)
        both = asyncio.run(alternate((args.target, args.versus), stream, args.concurrency, window, args.slices,
                                     args.connections))
        built = stream.built_on_demand
        summaries = [summarise(rpc, args.concurrency, window, recording, built) | {"slices": args.slices}
                     for recording in both]
        json.dump({"target": summaries[0], "versus": summaries[1]}, sys.stdout)
        print()
        return 0
    recording = asyncio.run(drive(args.target, stream, args.concurrency, window, args.connections))
    json.dump(summarise(rpc, args.concurrency, window, recording, stream.built_on_demand), sys.stdout)
    print()
    return 0


if __name__ == "__main__":
    sys.exit(main())
