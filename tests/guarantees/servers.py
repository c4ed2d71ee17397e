"""Several `decisiond serve` processes on one database, and clients each with a connection of its own."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import grpc

from service._gen.decision.v1 import decision_pb2_grpc as pb_grpc
from tests.support.server_process import ServerProcess


def stop_all(servers: list[ServerProcess], timeout: float = 30) -> list[int]:
    """SIGTERM to every server at once (they drain in parallel), then their exit statuses."""
    for server in servers:
        server.terminate()
    return [server.stop(timeout) for server in servers]


@contextmanager
def running_servers(database_url: str, count: int = 1, *, workers: int = 2) -> Iterator[list[ServerProcess]]:
    """`count` servers on one database, started together; each is killed afterwards if a test left it running."""
    servers = [ServerProcess(database_url, workers=workers) for _ in range(count)]
    try:
        for server in servers:
            server.wait_until_listening()
        yield servers
    finally:
        for server in servers:
            if server.process.poll() is None:
                server.kill()


class Client:
    """Real stubs over a channel of its own (its own TCP connection, so that calls spread over the workers)."""

    def __init__(self, address: str) -> None:
        self.address = address
        self.channel = grpc.insecure_channel(address, options=[("grpc.use_local_subchannel_pool", 1)])
        grpc.channel_ready_future(self.channel).result(timeout=10)
        self.decisions = pb_grpc.DecisionServiceStub(self.channel)
        self.ledger = pb_grpc.CreditLineServiceStub(self.channel)

    def close(self) -> None:
        self.channel.close()


@contextmanager
def clients(servers: list[ServerProcess], per_server: int = 2) -> Iterator[list[Client]]:
    """`per_server` clients for each server, interleaved: clients[i] and clients[i+1] reach different servers."""
    opened = [Client(server.address) for _ in range(per_server) for server in servers]
    try:
        yield opened
    finally:
        for client in opened:
            client.close()
