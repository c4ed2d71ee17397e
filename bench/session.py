"""One server under test and the load-generator runs against it, with its memory after each."""

from __future__ import annotations

import random
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from bench.launch import StepFailed, run_json
from bench.servers import ServerProcess, machine_busy_seconds, rss_bytes
from bench.workload import Population

MAX_EXPECTED_RATE = 10_000  # calls/s, to size the requests built before the clock starts
LOAD_TIMEOUT_MARGIN_S = 60.0


@dataclass
class MemorySample:
    decisions: int  # calls the server answered so far
    rss_bytes: int  # its serving processes, summed
    per_process: list[int]

    def as_dict(self) -> dict[str, Any]:
        return {"decisions": self.decisions, "rss_mb": round(self.rss_bytes / 2**20, 2),
                "per_process_mb": [round(value / 2**20, 2) for value in self.per_process]}


@dataclass
class Session:
    server: ServerProcess
    label: str  # "echo", "sqlite", "postgresql"
    population: Population
    decisions: int = 0
    memory: list[MemorySample] = field(default_factory=list)
    _seed: int = field(default_factory=lambda: random.randrange(1 << 30))

    def _sample_memory(self) -> None:
        per_process = [rss_bytes(pid) for pid in self.server.worker_pids()]
        self.memory.append(MemorySample(self.decisions, sum(per_process), per_process))

    def _population_args(self) -> list[str]:
        self._seed += 1
        return ["--prefix", self.population.prefix, "--users", str(self.population.size), "--seed", str(self._seed)]

    def setup(self, concurrency: int = 32, timeout_s: float = 300.0) -> dict[str, Any]:
        """Grant the population its lines and log each user in from their device."""
        result = run_json("bench.loadgen", ["--target", self.server.address, "--setup", "--concurrency",
                                            str(concurrency), *self._population_args()], timeout_s)
        self.decisions += int(result["completed_total"])
        self._sample_memory()
        failed = sum(result["errors"].values())
        if failed > result["calls"] // 100:
            raise StepFailed(f"setup: {failed} of {failed + result['calls']} calls failed: {result['errors']}")
        return result

    def load(self, rpc: str, concurrency: int, warmup_s: float, duration_s: float) -> dict[str, Any]:
        """One measured run; the loadgen's summary with the server's label added."""
        pregen = int(MAX_EXPECTED_RATE * (warmup_s + duration_s) * 1.3) + 1000
        arguments = ["--target", self.server.address, "--rpc", rpc, "--concurrency", str(concurrency),
                     "--warmup", str(warmup_s), "--duration", str(duration_s), "--pregen", str(pregen),
                     *self._population_args()]
        (run,) = _measured((self,), arguments, warmup_s + duration_s, lambda result: [result])
        return run

    def load_in_turns(self, other: Session, rpc: str, concurrency: int, slice_warmup_s: float, duration_s: float,
                      slices: int) -> tuple[dict[str, Any], dict[str, Any]]:
        """One run that drives this server and `other` in turns (`loadgen --versus`): `duration_s` measured on
        each, in `slices` slices each after `slice_warmup_s` of warm-up. Both summaries, this server's first; the
        load generator's CPU (`client_cpu_s`) is the whole run's, in both."""
        turns_s = 2 * slices * slice_warmup_s + 2 * duration_s
        pregen = int(MAX_EXPECTED_RATE * turns_s * 1.3) + 1000
        arguments = ["--target", self.server.address, "--versus", other.server.address, "--rpc", rpc,
                     "--concurrency", str(concurrency), "--warmup", str(slice_warmup_s), "--duration",
                     str(duration_s), "--slices", str(slices), "--pregen", str(pregen), *self._population_args()]
        ours, theirs = _measured((self, other), arguments, turns_s,
                                 lambda result: [result["target"], result["versus"]])
        return ours, theirs

    def load_calls(self, rpc: str, concurrency: int, calls: int, timeout_s: float) -> dict[str, Any]:
        """Issue a number of calls (no warm-up), for memory runs."""
        arguments = ["--target", self.server.address, "--rpc", rpc, "--concurrency", str(concurrency),
                     "--warmup", "0", "--calls", str(calls), "--pregen", "0", *self._population_args()]
        result = run_json("bench.loadgen", arguments, timeout_s)
        self.decisions += int(result["completed_total"])
        self._sample_memory()
        return {"server": self.label, **result}


def _measured(sessions: Sequence[Session], arguments: list[str], run_s: float,
              summaries: Callable[[dict[str, Any]], list[dict[str, Any]]]) -> list[dict[str, Any]]:
    """Run the load generator against the sessions' servers; each server's summary (`summaries` picks them from
    the loadgen's output, in the sessions' order) with its label, its CPU per call answered and the CPU that
    processes outside the benchmark used meanwhile. Each session counts its decisions and samples its memory."""
    cpu_before = [session.server.cpu_seconds() for session in sessions]
    busy_before, started = machine_busy_seconds(), time.monotonic()
    result = run_json("bench.loadgen", arguments, run_s + LOAD_TIMEOUT_MARGIN_S)
    wall = time.monotonic() - started
    cpu_used = [session.server.cpu_seconds() - before for session, before in zip(sessions, cpu_before, strict=True)]
    runs = summaries(result)
    others = machine_busy_seconds() - busy_before - sum(cpu_used) - runs[0]["client_cpu_s"]
    measured = []
    for session, run, cpu in zip(sessions, runs, cpu_used, strict=True):
        session.decisions += int(run["completed_total"])
        session._sample_memory()
        per_call = cpu * 1000 / run["completed_total"] if run["completed_total"] else 0.0
        measured.append({"server": session.label, **run, "server_cpu_ms_per_call": round(per_call, 3),
                         "other_cpu_cores": round(max(0.0, others) / wall, 2)})
    return measured
