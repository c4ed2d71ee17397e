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

from bench.servers import ROOT, rss_bytes, start_decisiond
from service._gen.decision.v1 import decision_pb2 as pb
from service._gen.decision.v1 import decision_pb2_grpc as pb_grpc


def active_version(stub: pb_grpc.RulesServiceStub, retries: list[str]) -> str:
    """The serving bundle's version. This is the memory measurement's own poll: one that meets a connection
    cut under it is asked again, and noted (calls across reloads are the hot-reload test's business)."""
    for _ in range(5):
        try:
            return str(stub.GetRulesStatus(pb.GetRulesStatusRequest(), wait_for_ready=True, timeout=30).active.version)
        except grpc.RpcError as error:
            if error.code() is not grpc.StatusCode.UNAVAILABLE:  # type: ignore[attr-defined]
                raise
            retries.append(f"{time.strftime('%H:%M:%S')} {error.details()}")  # type: ignore[attr-defined]
            time.sleep(0.2)
    raise TimeoutError("the rules status stayed unavailable")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--reloads", type=int, default=100)
    parser.add_argument("--out", type=Path, default=Path("bench/results/reload-memory.json"))
    args = parser.parse_args()
    scratch = Path(tempfile.mkdtemp(prefix="reload-memory-"))
    rules = scratch / "rules"
    shutil.copytree(ROOT / "rules", rules)
    server = start_decisiond(rules, f"sqlite:///{scratch / 'ledger.db'}", scratch / "server.log", workers=2)
    stub = pb_grpc.RulesServiceStub(grpc.insecure_channel(server.address))
    samples = []
    retries: list[str] = []
    started = time.monotonic()
    try:
        for number in range(args.reloads + 1):
            if number:
                bundle = rules / "bundle.yaml"
                text = bundle.read_text()
                start = text.index('version: "') + len('version: "')
                bundle.write_text(text[:start] + f"reload-{number}" + text[text.index('"', start) :])
                deadline = time.monotonic() + 120
                while active_version(stub, retries) != f"reload-{number}":
                    if time.monotonic() > deadline:
                        raise TimeoutError(f"reload {number} did not activate")
                    time.sleep(0.2)
            time.sleep(1.0)  # let the old workers finish leaving
            workers = [pid for pid in server.worker_pids() if rss_bytes(pid)]
            samples.append(
                {
                    "reload": number,
                    "seconds": round(time.monotonic() - started, 1),
                    "supervisor_rss_kib": rss_bytes(server.process.pid) // 1024,
                    "workers_rss_kib": [rss_bytes(pid) // 1024 for pid in workers],
                }
            )
            print(json.dumps(samples[-1]), flush=True)
    finally:
        server.stop()
        shutil.rmtree(scratch, ignore_errors=True)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(
        json.dumps({"reloads": args.reloads, "status_polls_retried": retries, "samples": samples}, indent=1)
    )


if __name__ == "__main__":
    main()
