"""The gRPC server: decision and ledger services, health checking and reflection."""

from __future__ import annotations

import time
from collections.abc import Callable
from concurrent import futures

import grpc
from grpc_health.v1 import health, health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection

from service._gen.decision.v1 import decision_pb2 as pb
from service._gen.decision.v1 import decision_pb2_grpc as pb_grpc
from service.api.listener import stop_listening
from service.api.servicers import CreditLineServicer, DecisionServicer, RulesServicer
from service.app.rules_holder import RulesStatus
from service.app.usecases import DecisionApp

SERVICE_NAMES = tuple(
    pb.DESCRIPTOR.services_by_name[name].full_name for name in ("DecisionService", "CreditLineService", "RulesService")
)


class RunningServer:
    """A started server, the port it bound, and its health servicer (to report NOT_SERVING on drain)."""

    def __init__(
        self, server: grpc.Server, port: int, health_servicer: health.HealthServicer, connection_age: float | None
    ) -> None:
        self.server = server
        self.port = port
        self.health = health_servicer
        self.connection_age = connection_age

    def stop(self, grace_seconds: float, lame_duck_seconds: float = 0.0) -> None:
        """Report NOT_SERVING, keep answering for the lame-duck period (calls already on their way are taken
        and health-checking balancers move away), then refuse new calls and let those in flight finish
        within the grace period."""
        self.health.enter_graceful_shutdown()
        if self.connection_age is not None and stop_listening(self.port):
            # New connections now go to the other workers on the port; ours age out gracefully meanwhile.
            time.sleep(self.connection_age * (1 + CONNECTION_AGE_JITTER) + lame_duck_seconds)
        elif lame_duck_seconds > 0:
            time.sleep(lame_duck_seconds)
        self.server.stop(grace_seconds).wait()


CONNECTION_AGE_JITTER = 0.1  # grpc core varies the maximum connection age by +-10 %


def build_grpc_server(max_workers: int, *, reuse_port: bool, connection_age: float | None = None) -> grpc.Server:
    """The server stack every process of ours serves on (the benchmark's echo ceiling uses it too).

    With a connection age, every client connection is moved on (GOAWAY, calls in flight finish) after about
    that many seconds, so that a worker being replaced loses its connections without refusing a call."""
    options: list[tuple[str, int]] = [("grpc.so_reuseport", 1 if reuse_port else 0)]
    if connection_age is not None:
        options += [
            ("grpc.max_connection_age_ms", int(connection_age * 1000)),
            ("grpc.max_connection_age_grace_ms", 30_000),
        ]
    return grpc.server(
        futures.ThreadPoolExecutor(max_workers=max_workers, thread_name_prefix="rpc"),
        options=options,
        maximum_concurrent_rpcs=max_workers * 64,
    )


def start_grpc_server(server: grpc.Server, host: str, port: int) -> int:
    """Bind and start; the port actually bound (port 0 picks a free one)."""
    bound = int(server.add_insecure_port(f"{host}:{port}"))
    if bound == 0:
        raise OSError(f"cannot listen on {host}:{port}")
    server.start()
    return bound


def create_server(
    app: DecisionApp,
    rules_status: Callable[[], RulesStatus],
    host: str,
    port: int,
    *,
    max_workers: int = 16,
    reuse_port: bool = False,
    connection_age: float | None = None,
) -> RunningServer:
    """Build and start the decision server with health checking and reflection."""
    server = build_grpc_server(max_workers, reuse_port=reuse_port, connection_age=connection_age)
    pb_grpc.add_DecisionServiceServicer_to_server(DecisionServicer(app), server)
    pb_grpc.add_CreditLineServiceServicer_to_server(CreditLineServicer(app), server)
    pb_grpc.add_RulesServiceServicer_to_server(RulesServicer(rules_status), server)
    health_servicer = health.HealthServicer()
    health_pb2_grpc.add_HealthServicer_to_server(health_servicer, server)
    for name in (*SERVICE_NAMES, ""):
        health_servicer.set(name, health_pb2.HealthCheckResponse.SERVING)
    reflection.enable_server_reflection((*SERVICE_NAMES, health.SERVICE_NAME, reflection.SERVICE_NAME), server)
    return RunningServer(server, start_grpc_server(server, host, port), health_servicer, connection_age)
