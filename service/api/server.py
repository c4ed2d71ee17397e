"""The gRPC server: decision and ledger services, health checking and reflection."""

from __future__ import annotations

from concurrent import futures

import grpc
from grpc_health.v1 import health, health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection

from service._gen.decision.v1 import decision_pb2 as pb
from service._gen.decision.v1 import decision_pb2_grpc as pb_grpc
from service.api.servicers import CreditLineServicer, DecisionServicer
from service.app.usecases import DecisionApp

SERVICE_NAMES = (
    pb.DESCRIPTOR.services_by_name["DecisionService"].full_name,
    pb.DESCRIPTOR.services_by_name["CreditLineService"].full_name,
)


class RunningServer:
    """A started server, the port it bound, and its health servicer (to report NOT_SERVING on drain)."""

    def __init__(self, server: grpc.Server, port: int, health_servicer: health.HealthServicer) -> None:
        self.server = server
        self.port = port
        self.health = health_servicer

    def stop(self, grace_seconds: float) -> None:
        """Stop taking calls, let calls in flight finish within the grace period, then return."""
        self.health.enter_graceful_shutdown()
        self.server.stop(grace_seconds).wait()


def create_server(app: DecisionApp, host: str, port: int, max_workers: int = 16) -> RunningServer:
    """Build and start a server bound to host:port (port 0 picks a free one)."""
    server = grpc.server(
        futures.ThreadPoolExecutor(max_workers=max_workers, thread_name_prefix="rpc"),
        options=[("grpc.so_reuseport", 0)],
        maximum_concurrent_rpcs=max_workers * 64,
    )
    pb_grpc.add_DecisionServiceServicer_to_server(DecisionServicer(app), server)
    pb_grpc.add_CreditLineServiceServicer_to_server(CreditLineServicer(app), server)
    health_servicer = health.HealthServicer()
    health_pb2_grpc.add_HealthServicer_to_server(health_servicer, server)
    for name in (*SERVICE_NAMES, ""):
        health_servicer.set(name, health_pb2.HealthCheckResponse.SERVING)
    reflection.enable_server_reflection((*SERVICE_NAMES, health.SERVICE_NAME, reflection.SERVICE_NAME), server)
    bound = server.add_insecure_port(f"{host}:{port}")
    if bound == 0:
        raise OSError(f"cannot listen on {host}:{port}")
    server.start()
    return RunningServer(server, bound, health_servicer)
