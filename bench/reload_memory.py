"""Memory across rule reloads: the supervisor's RSS and the serving workers' RSS after every reload.

    .venv/bin/python -m bench.reload_memory --reloads 200 --out bench/results/reload-memory.json

Each reload edits the bundle's version in a copy of rules/, waits until the server serves it, and records the
resident memory of the supervisor and of its workers (from /proc). Workers are replaced on every reload, so
what the engine leaks per ruleset dies with them; the supervisor never loads the engine.
"""

from __future__ import annotations

import argparse
import json
import shutil
import tempfile
import time
from pathlib import Path

import grpc

from service._gen.decision.v1 import decision_pb2 as pb
from service._gen.decision.v1 import decision_pb2_grpc as pb_grpc
from tests.support.server_process import ROOT, ServerProcess


def rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


def children(pid: int) -> list[int]:
    return [int(p) for p in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--reloads", type=int, default=100)
    parser.add_argument("--out", type=Path, default=Path("bench/results/reload-memory.json"))
    args = parser.parse_args()
    scratch = Path(tempfile.mkdtemp(prefix="reload-memory-"))
    rules = scratch / "rules"
    shutil.copytree(ROOT / "rules", rules)
    server = ServerProcess(rules, f"sqlite:///{scratch / 'ledger.db'}", workers=2)
    stub = pb_grpc.RulesServiceStub(grpc.insecure_channel(server.address))
    samples = []
    started = time.monotonic()
    try:
        for number in range(args.reloads + 1):
            if number:
                bundle = rules / "bundle.yaml"
                text = bundle.read_text()
                start = text.index('version: "') + len('version: "')
                bundle.write_text(text[:start] + f"reload-{number}" + text[text.index('"', start) :])
                deadline = time.monotonic() + 120
                status = pb.GetRulesStatusRequest()
                while stub.GetRulesStatus(status, wait_for_ready=True, timeout=30).active.version != f"reload-{number}":
                    if time.monotonic() > deadline:
                        raise TimeoutError(f"reload {number} did not activate")
                    time.sleep(0.2)
            time.sleep(1.0)  # let the old workers finish leaving
            workers = [p for p in children(server.process.pid) if rss_kib(p)]
            samples.append(
                {
                    "reload": number,
                    "seconds": round(time.monotonic() - started, 1),
                    "supervisor_rss_kib": rss_kib(server.process.pid),
                    "workers_rss_kib": [rss_kib(p) for p in workers],
                }
            )
            print(json.dumps(samples[-1]), flush=True)
    finally:
        server.stop()
        shutil.rmtree(scratch, ignore_errors=True)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps({"reloads": args.reloads, "samples": samples}, indent=1))


if __name__ == "__main__":
    main()
