"""The ceiling: DecisionService answered by an echo, on the server stack and process model of `decisiond serve`.

Like `decisiond serve`, a parent process reserves the port (service.supervisor.reserve_port) and starts
`DECISIOND_WORKERS` worker processes that each serve on it with SO_REUSEPORT, on the grpc.aio server that
service.api.server.serve_on_loop starts for the product (same event-loop thread, options and concurrency cap),
with health checking registered as the product does. Each answer is a canned response of realistic size with
the request's request_id echoed into meta.decision_id: no validation, no rules, no storage.

    python -m bench.echo serve --listen 127.0.0.1:0   # prints: bench echo listening on HOST:PORT, N worker processes
"""

from __future__ import annotations

import argparse
import signal
import subprocess
import sys
import threading
from collections.abc import Sequence
from typing import Any, TypeVar, cast

import grpc
from google.protobuf.timestamp_pb2 import Timestamp
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_health.v1._async import HealthServicer

from service._gen.decision.v1 import decision_pb2 as pb
from service._gen.decision.v1 import decision_pb2_grpc as pb_grpc
from service.affinity import described, keep_to, worker_cpus
from service.api.server import RunningServer, serve_on_loop, server_options
from service.config import load_settings
from service.spread import ConnectionSpread, SpreadUnavailable, join_spread, open_spread
from service.supervisor import reserve_port

T = TypeVar("T")


def _meta(rules_fired: int) -> pb.DecisionMeta:
    return pb.DecisionMeta(
        decision_id="d" * 32,
        ruleset_version="2025.11.1",
        ruleset_digest="ab" * 32,
        rules_fired=[f"RULE-{i:03d}" for i in range(rules_fired)],
        decided_at=Timestamp(seconds=1_764_400_000, nanos=123_456_000),
    )


def _money(yuan: int) -> pb.Money:
    return pb.Money(currency="CNY", minor_units=yuan * 100)


def _reason(code: str) -> pb.Reason:
    return pb.Reason(code=code, rule_id=f"{code[:3]}-001", message=f"explanation of {code.lower()}")


SCORE = pb.ScoreUserResponse(score=812, band="B", reasons=[_reason("FEW_ACTIVE_MONTHS")], meta=_meta(12))
GRANT = pb.GrantLimitResponse(
    outcome=pb.OUTCOME_APPROVE,
    credit_limit=_money(200_000),
    daily_interest_rate="0.0002",
    apr="0.073",
    score=812,
    reasons=[_reason("LIMIT_CAPPED")],
    meta=_meta(14),
)
DRAWDOWN = pb.AuthorizeDrawdownResponse(
    outcome=pb.OUTCOME_APPROVE,
    drawdown_id="dd_" + "e" * 32,
    available_limit=_money(195_000),
    schedule=[
        pb.Installment(number=n, due_date=f"2026-0{n}-28", principal=_money(833), interest=_money(17))
        for n in range(1, 7)
    ],
    apr="0.073",
    meta=_meta(2),
)
FLAG = pb.FlagTransactionResponse(risk_level=pb.RISK_LEVEL_NONE, outcome=pb.OUTCOME_APPROVE, meta=_meta(0))


def _echo(template: T, request_id: str) -> T:
    answer: Any = type(template)()
    answer.CopyFrom(template)
    answer.meta.decision_id = request_id
    return cast(T, answer)


Context = grpc.aio.ServicerContext[Any, Any]


class EchoServicer(pb_grpc.DecisionServiceServicer):
    """Answers every DecisionService call with a canned response of realistic size."""

    async def ScoreUser(self, request: pb.ScoreUserRequest, context: Context) -> pb.ScoreUserResponse:
        return _echo(SCORE, request.request_id)

    async def GrantLimit(self, request: pb.GrantLimitRequest, context: Context) -> pb.GrantLimitResponse:
        return _echo(GRANT, request.request_id)

    async def AuthorizeDrawdown(
        self, request: pb.AuthorizeDrawdownRequest, context: Context
    ) -> pb.AuthorizeDrawdownResponse:
        return _echo(DRAWDOWN, request.request_id)

    async def FlagTransaction(self, request: pb.FlagTransactionRequest, context: Context) -> pb.FlagTransactionResponse:
        return _echo(FLAG, request.request_id)


def run_worker(listen: str, cpu: int | None, spread: str | None, slot: int) -> int:
    """One echo process on the shared port, until SIGTERM (what service.worker is to decisiond)."""
    keep_to(cpu)
    settings = load_settings(listen=listen)
    health_servicer = HealthServicer()

    def register(server: grpc.aio.Server) -> None:
        pb_grpc.add_DecisionServiceServicer_to_server(EchoServicer(), server)  # type: ignore[no-untyped-call]
        health_pb2_grpc.add_HealthServicer_to_server(health_servicer, server)

    # The product's options, connection ageing included: the load generator's connections move between
    # the workers as they do with decisiond.
    options = server_options(reuse_port=True, connection_age=settings.connection_age_seconds)
    serving, server, port = serve_on_loop("echo", settings.host, settings.port, options, register)
    serving.call(health_servicer.set("", health_pb2.HealthCheckResponse.SERVING))
    if spread and (why_not := join_spread(spread, port, slot)):
        print(f"bench echo: worker {slot} takes connections by the kernel's hash: {why_not}", file=sys.stderr)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    print("READY", flush=True)
    stop.wait()
    # Stopped as a decisiond worker stops: clients' connections move away before the server refuses calls.
    running = RunningServer(serving, server, port, health_servicer, settings.connection_age_seconds)
    running.stop(settings.drain_seconds, settings.lame_duck_seconds)
    return 0


def run_parent(listen: str, workers: int | None) -> int:
    """Reserve the port, start the workers, announce one line, stop them all on SIGTERM."""
    settings = load_settings(listen=listen, workers=workers)
    holder = reserve_port(settings.host, settings.port)
    port = holder.getsockname()[1]
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    command = [sys.executable, "-m", "bench.echo", "worker", "--listen", f"{settings.host}:{port}"]
    # Each worker kept to a CPU as decisiond's are (service/affinity.py), and new connections spread over them as
    # decisiond spreads them (service/spread.py).
    cpus = worker_cpus(settings.workers, settings.cpu_affinity)
    spread = _spread(settings.workers, settings.connection_spread)
    children = []
    for slot, cpu in enumerate(cpus):
        arguments = [*(["--cpu", str(cpu)] if cpu is not None else []),
                     *(spread.worker_arguments(slot) if spread else [])]
        children.append(subprocess.Popen([*command, *arguments], stdout=subprocess.PIPE, text=True,
                                         pass_fds=spread.descriptors() if spread else ()))
    if spread is not None:
        spread.keep_counting(lambda: [child.pid for child in children], port, stop)
    try:
        for child in children:
            assert child.stdout is not None
            if child.stdout.readline().strip() != "READY":
                print("bench echo: a worker failed to start", file=sys.stderr)
                return 1
        print(f"bench echo listening on {settings.host}:{port}, {settings.workers} worker processes{described(cpus)}",
              flush=True)
        stop.wait()
        return 0
    finally:
        for child in children:
            if child.poll() is None:
                child.send_signal(signal.SIGTERM)
        for child in children:
            try:
                child.wait(timeout=settings.drain_seconds + 5)
            except subprocess.TimeoutExpired:
                child.kill()
                child.wait()
        holder.close()
        if spread is not None:
            stop.set()
            spread.close()


def _spread(workers: int, mode: str) -> ConnectionSpread | None:
    try:
        return open_spread(workers, mode)
    except SpreadUnavailable as error:
        print(f"bench echo: connections spread by the kernel's hash: {error}", file=sys.stderr)
        return None


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.echo", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("role", choices=("serve", "worker"), help="serve: the parent; worker: one serving process")
    parser.add_argument("--listen", default="127.0.0.1:0", help="HOST:PORT (port 0 picks a free one)")
    parser.add_argument("--workers", type=int, help="worker processes (env DECISIOND_WORKERS, as decisiond)")
    parser.add_argument("--cpu", type=int, help="worker: the CPU it keeps to")
    parser.add_argument("--spread", help="worker: the connection-spreading maps and program (service/spread.py)")
    parser.add_argument("--slot", type=int, default=0, help="worker: its slot in them")
    args = parser.parse_args(argv)
    if args.role == "worker":
        return run_worker(args.listen, args.cpu, args.spread, args.slot)
    return run_parent(args.listen, args.workers)


if __name__ == "__main__":
    sys.exit(main())
