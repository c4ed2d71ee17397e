"""The gRPC server: decision and ledger services, health checking and reflection, on grpc.aio.

One event loop per process serves every call. Against SQLite the use cases run on that loop, one after
another, in batches of the calls that arrive together, whose writes commit together (runners.py): the
interpreter runs one thread at a time anyway, and handing each call to a pool thread costs more CPU than the
embedded database does (measured: a thread hand-over round trip is ~45 us here, a SQLite unit of work 20-60
us). Against a database over the network (PostgreSQL) each call runs in a greenlet on the same loop, handing
the loop back while it waits on the database (service/cooperative.py), so that calls overlap their round trips
and a slow database never stalls the loop.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Callable, Coroutine
from typing import Any, TypeVar

import grpc
from google.protobuf.message import Message
from grpc_health.v1 import health, health_pb2_grpc

from service._gen.decision.v1 import decision_pb2 as pb
from service.api.database_health import CREDIT_LINE_SERVICE, DECISION_SERVICE, RULES_SERVICE, DatabaseHealth
from service.api.decoding import decoder
from service.api.health import DrainableHealth
from service.api.listener import stop_listening
from service.api.reflection import enable_reflection
from service.api.runners import AdmittingRunner, CallRunner
from service.api.servicers import CreditLineServicer, DecisionServicer, RulesServicer
from service.app.rules_holder import RulesStatus
from service.app.usecases import DecisionApp
from service.config import TlsFiles

T = TypeVar("T")

SERVICE_NAMES = (DECISION_SERVICE, CREDIT_LINE_SERVICE, RULES_SERVICE)
CONNECTION_AGE_JITTER = 0.1  # grpc core varies the maximum connection age by +-10 %
MAX_CONCURRENT_CALLS = 1024  # a worker's calls in progress; beyond this one is refused (RESOURCE_EXHAUSTED)
# Calls gRPC's core holds for the server before the event loop takes them in (it takes them between batches): past
# 1000 (core's default) core cancels calls, and their clients see CANCELLED, which they take as final. Kept far
# above anything the loop lets pile up, so that calls are refused only by MAX_CONCURRENT_CALLS, as retryable.
MAX_PENDING_CALLS = 16_384
# The largest request a client may send. The largest valid one, an applicant with 64 attributes of 256 characters
# that each take 4 bytes in UTF-8 (𠮷, a name character), is about 72 KB: 64 KiB refused it, with no field named.
# gRPC's default, 4 MiB, let a client that announces large messages and never finishes them hold hundreds of MB of
# a worker's memory, which it did not give back.
MAX_REQUEST_BYTES = 128 * 1024
# The calls one connection may have open at once (HTTP/2 MAX_CONCURRENT_STREAMS). Without a limit, a client that opened
# 20,000 calls a second and never sent their messages grew each worker by 1.3 GB and filled core's pending queue, so
# that core cancelled other clients' calls; at 256, by 30 MB, and other clients were answered in milliseconds. gRPC
# clients wait for a free stream beyond it, so a client's calls in flight are not limited, only how many travel on one
# connection at a time (1,500 and 5,000 started at once on one channel: all answered). Core's "overload protection"
# is off: it refuses (REFUSED_STREAM) calls above the limit that the client sent before it read the limit, or while
# the server still holds calls the client has seen end, and gRPC clients do not retry those: 5,000 started at once
# on one channel under a limit of 1,024 had up to 3,100 fail UNAVAILABLE. Without it, core refuses only the calls of
# a client that has acknowledged the limit and goes past it anyway, or that opens more than it without ever
# acknowledging it.
MAX_CALLS_PER_CONNECTION = 256


class ServingLoop:
    """An asyncio event loop on a thread of its own, where a server lives; callable from any other thread."""

    def __init__(self, name: str) -> None:
        self.loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self.loop.run_forever, name=name, daemon=True)
        self._thread.start()

    def call(self, coroutine: Coroutine[Any, Any, T], timeout: float | None = None) -> T:
        """Run a coroutine on the loop and wait for its result."""
        return asyncio.run_coroutine_threadsafe(coroutine, self.loop).result(timeout)

    def close(self) -> None:
        self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join()
        self.loop.close()


class RunningServer:
    """A started server, the port it bound, its health servicer (to report NOT_SERVING on drain) and what keeps
    the statuses in step with the database, if anything does (stopped before the loop closes)."""

    def __init__(
        self,
        serving: ServingLoop,
        server: grpc.aio.Server,
        port: int,
        health_servicer: DrainableHealth,
        connection_age: float | None,
        database_health: DatabaseHealth | None = None,
    ) -> None:
        self._serving = serving
        self.server = server
        self.port = port
        self.health = health_servicer
        self.connection_age = connection_age
        self._database_health = database_health

    def stop(self, grace_seconds: float, lame_duck_seconds: float = 0.0, *, retiring: bool = False) -> None:
        """Report NOT_SERVING, keep answering for the lame-duck period (calls already on their way are taken
        and health-checking balancers move away), then refuse new calls and let those in flight finish
        within the grace period. `retiring`: workers on a newer bundle serve on the same port, so this one goes on
        reporting SERVING (which it does, on its bundle) while its connections move over to them."""
        if not retiring:
            self._serving.call(self.health.enter_graceful_shutdown())
        if self.connection_age is not None and stop_listening(self.port):
            # New connections now go to the other workers on the port; ours age out gracefully meanwhile.
            time.sleep(self.connection_age * (1 + CONNECTION_AGE_JITTER) + lame_duck_seconds)
        elif lame_duck_seconds > 0:
            time.sleep(lame_duck_seconds)
        self._serving.call(self.health.end_watches())  # they would hold the drain for its whole grace period
        self._serving.call(self.server.stop(grace_seconds))
        if self._database_health is not None:  # checked during the drain too: a retiring worker's health stays true
            self._serving.call(self._database_health.stop())
        self._serving.close()


def server_options(*, reuse_port: bool, connection_age: float | None) -> list[tuple[str, int]]:
    """The channel arguments every server of ours uses (the benchmark's echo ceiling uses them too).

    With a connection age, every client connection is moved on (GOAWAY, calls in flight finish) after about
    that many seconds, so that a worker being replaced loses its connections without refusing a call."""
    options: list[tuple[str, int]] = [
        ("grpc.so_reuseport", 1 if reuse_port else 0),
        ("grpc.server.max_pending_requests", MAX_PENDING_CALLS),
        ("grpc.server.max_pending_requests_hard_limit", MAX_PENDING_CALLS),
        ("grpc.max_receive_message_length", MAX_REQUEST_BYTES),
        ("grpc.max_concurrent_streams", MAX_CALLS_PER_CONNECTION),
        ("grpc.http.overload_protection", 0),
    ]
    if connection_age is not None:
        options += [
            ("grpc.max_connection_age_ms", int(connection_age * 1000)),
            ("grpc.max_connection_age_grace_ms", 30_000),
        ]
    return options


def serialize_response(response: Message | bytes) -> bytes:
    """A handler's answer on the wire: a message, or bytes already serialized (a stored response)."""
    return response if type(response) is bytes else response.SerializeToString()  # type: ignore[union-attr]


def add_service(server: grpc.aio.Server, name: str, servicer: object) -> None:
    """Register a servicer for one service of decision.proto, as the generated add_*_to_server functions do,
    except that a handler may answer with bytes already serialized, and gets an UndecodableRequest for a request
    protobuf cannot decode."""
    service = pb.DESCRIPTOR.services_by_name[name]
    handlers = {
        method.name: grpc.unary_unary_rpc_method_handler(
            getattr(servicer, method.name),
            request_deserializer=decoder(getattr(pb, method.input_type.name)),
            response_serializer=serialize_response,
        )
        for method in service.methods
    }
    server.add_generic_rpc_handlers((grpc.method_handlers_generic_handler(service.full_name, handlers),))
    server.add_registered_method_handlers(service.full_name, handlers)


def server_credentials(tls: TlsFiles) -> grpc.ServerCredentials:
    """TLS from the files as they are now (config.load_settings checked them); with a client CA, clients must
    present a certificate it signed."""
    client_ca = None if tls.client_ca is None else tls.client_ca.read_bytes()
    return grpc.ssl_server_credentials(
        [(tls.key.read_bytes(), tls.cert.read_bytes())],
        root_certificates=client_ca,
        require_client_auth=client_ca is not None,
    )


def serve_on_loop(
    name: str,
    host: str,
    port: int,
    options: list[tuple[str, int]],
    register: Callable[[grpc.aio.Server], None],
    credentials: grpc.ServerCredentials | None = None,
) -> tuple[ServingLoop, grpc.aio.Server, int]:
    """Start a grpc.aio server on a loop thread of its own; `register` adds its services. Returns the loop,
    the server and the port bound (port 0 picks a free one). `credentials`: TLS; none, plaintext."""
    serving = ServingLoop(name)

    async def start() -> tuple[grpc.aio.Server, int]:
        server = grpc.aio.server(options=options)
        register(server)
        address = f"{host}:{port}"
        bound = server.add_insecure_port(address) if credentials is None else server.add_secure_port(
            address, credentials
        )
        if bound == 0:
            raise OSError(f"cannot listen on {host}:{port}")
        await server.start()
        return server, bound

    try:
        server, bound = serving.call(start())
    except BaseException:
        serving.close()
        raise
    return serving, server, bound


def create_server(
    app: DecisionApp,
    rules_status: Callable[[], RulesStatus],
    host: str,
    port: int,
    *,
    runner: CallRunner,
    reuse_port: bool = False,
    connection_age: float | None = None,
    check_database: Callable[[], None] | None = None,
    tls: TlsFiles | None = None,
) -> RunningServer:
    """Build and start the decision server with health checking and reflection. `runner`: where the use
    cases run (see the module docstring). `check_database`: raises StoreUnavailable unless the database answers;
    given, health reports the services that need the database NOT_SERVING while it does not (database_health.py).
    `tls`: the files to serve TLS with, read now; none, plaintext."""
    registered: list[tuple[DrainableHealth, DatabaseHealth]] = []
    # Without a valid rule bundle (a process serves one bundle for its life) nothing can be decided: the decision
    # service says so, while ledger reads, and so the server as a whole, go on serving.
    can_decide = rules_status().active_version is not None

    def register(server: grpc.aio.Server) -> None:
        checks = DrainableHealth()
        database_health = DatabaseHealth(checks, can_decide=can_decide, check_database=check_database, runner=runner)
        admitting = AdmittingRunner(runner, MAX_CONCURRENT_CALLS)
        add_service(server, "DecisionService", DecisionServicer(app, admitting, database_health.store_unavailable))
        add_service(server, "CreditLineService", CreditLineServicer(app, admitting, database_health.store_unavailable))
        add_service(server, "RulesService", RulesServicer(rules_status))
        health_pb2_grpc.add_HealthServicer_to_server(checks, server)
        enable_reflection(server, (*SERVICE_NAMES, health.SERVICE_NAME))
        registered.append((checks, database_health))

    serving, server, bound = serve_on_loop(
        "grpc-server",
        host,
        port,
        server_options(reuse_port=reuse_port, connection_age=connection_age),
        register,
        None if tls is None else server_credentials(tls),
    )
    checks, database_health = registered[0]
    serving.call(database_health.start())
    return RunningServer(serving, server, bound, checks, connection_age, database_health)
