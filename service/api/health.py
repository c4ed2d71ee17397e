"""Health checking (grpc.health.v1) whose Watch streams end when the server drains.

grpc_health's servicer keeps every Watch stream open until the server is stopped, so a draining server waited its
whole grace period (10 s) for streams that never end by themselves, and a reload or a shutdown with a client
watching took that much longer. Here `end_watches` ends them at once, with UNAVAILABLE, the status that tells a
client to watch again (gRPC's client-side health checking does so on any end, on a connection to a worker that
serves): ended with OK, a Node.js watcher told NOT_SERVING by a worker without rules took the stream as finished
and was never told SERVING by the workers that replaced it."""

from __future__ import annotations

from typing import Any

import grpc
from grpc_health.v1 import health_pb2
from grpc_health.v1._async import HealthServicer  # grpc_health.v1.health.aio, importable by name for typing

WATCH_ENDED = "this worker is retiring (a rule reload or a shutdown): watch again"


class DrainableHealth(HealthServicer):  # type: ignore[misc]  # grpc_health has no types
    """grpc_health's asyncio servicer (its Watch, with a way out), `List`, and `end_watches`."""

    def __init__(self) -> None:
        super().__init__()
        self._watches_ended = False

    async def Watch(
        self, request: health_pb2.HealthCheckRequest, context: grpc.aio.ServicerContext[Any, Any]
    ) -> None:
        condition = self._server_watchers[request.service]
        self._watcher_count_by_service[request.service] += 1
        last_status = None
        try:
            async with condition:
                while not self._watches_ended:
                    status = self._server_status.get(request.service, health_pb2.HealthCheckResponse.SERVICE_UNKNOWN)
                    if status != last_status:
                        await context.write(health_pb2.HealthCheckResponse(status=status))
                    last_status = status
                    await condition.wait()
            await context.abort(grpc.StatusCode.UNAVAILABLE, WATCH_ENDED)
        finally:
            self._watcher_count_by_service[request.service] -= 1
            if self._watcher_count_by_service[request.service] == 0:
                del self._server_watchers[request.service]
                del self._watcher_count_by_service[request.service]

    async def List(
        self, request: health_pb2.HealthListRequest, context: grpc.aio.ServicerContext[Any, Any]
    ) -> health_pb2.HealthListResponse:
        """Every service's status (grpc_health's servicer leaves List unimplemented, though its proto has it)."""
        return health_pb2.HealthListResponse(
            statuses={
                service: health_pb2.HealthCheckResponse(status=status)
                for service, status in self._server_status.items()
            }
        )

    async def end_watches(self) -> None:
        """End every Watch stream now (each with UNAVAILABLE), and any opened from now on at once."""
        self._watches_ended = True
        for condition in list(self._server_watchers.values()):
            async with condition:
                condition.notify_all()
