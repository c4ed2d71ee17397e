"""Calls a client opens and never finishes (no message, or only part of one), spoken in raw HTTP/2 as an attacker
would: one connection holds no more than MAX_CALLS_PER_CONNECTION of them, and the memory they held is given back
to the system once they are gone."""

from __future__ import annotations

import socket
import time
from collections.abc import Iterator
from contextlib import suppress
from pathlib import Path

import pytest

from service.api.server import MAX_CALLS_PER_CONNECTION
from tests.support.server_process import ServerProcess, start_server, workers_of

pytestmark = pytest.mark.slow

PREFACE = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"
DATA, HEADERS, RST_STREAM, SETTINGS = 0, 1, 3, 4
END_HEADERS, ACK = 0x4, 0x1
REFUSED_STREAM = 7
MIB = 1024 * 1024


def frame(kind: int, flags: int, stream: int, payload: bytes = b"") -> bytes:
    return len(payload).to_bytes(3, "big") + bytes([kind, flags]) + stream.to_bytes(4, "big") + payload


def literal(name: str, value: str) -> bytes:
    """An HPACK header field, literal and not indexed (both under 127 bytes)."""
    return b"\x00" + bytes([len(name)]) + name.encode() + bytes([len(value)]) + value.encode()


SCORE_USER_HEADERS = b"".join(
    literal(name, value)
    for name, value in (
        (":method", "POST"),
        (":scheme", "http"),
        (":path", "/decision.v1.DecisionService/ScoreUser"),
        (":authority", "decisiond"),
        ("content-type", "application/grpc"),
        ("te", "trailers"),
    )
)


def open_calls(stream_ids: range, message_start: bytes = b"") -> bytes:
    """Calls opened on the given streams, each sending `message_start` and never the rest."""
    return b"".join(
        frame(HEADERS, END_HEADERS, stream, SCORE_USER_HEADERS)
        + b"".join(frame(DATA, 0, stream, message_start[at : at + 16384]) for at in range(0, len(message_start), 16384))
        for stream in stream_ids
    )


def client_streams(count: int) -> range:
    return range(1, 2 * count, 2)


def read_frame(connection: socket.socket) -> tuple[int, int, bytes]:
    """The next frame's type, flags and payload."""
    header = _read_exactly(connection, 9)
    payload = _read_exactly(connection, int.from_bytes(header[:3], "big"))
    return header[3], header[4], payload


def _read_exactly(connection: socket.socket, size: int) -> bytes:
    chunks = b""
    while len(chunks) < size:
        chunk = connection.recv(size - len(chunks))
        if not chunk:
            raise ConnectionError("the server closed the connection")
        chunks += chunk
    return chunks


def connect_acknowledging_settings(server: ServerProcess) -> socket.socket:
    """A connection whose client has acknowledged the server's SETTINGS, so knows its stream limit."""
    connection = socket.create_connection(("127.0.0.1", server.port), timeout=5)
    connection.sendall(PREFACE + frame(SETTINGS, 0, 0))
    while read_frame(connection)[:2] != (SETTINGS, 0):
        pass
    connection.sendall(frame(SETTINGS, ACK, 0))
    return connection


def resident_bytes(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    raise AssertionError(f"no VmRSS for process {pid}")


@pytest.fixture
def server(tmp_path: Path) -> Iterator[ServerProcess]:
    running = start_server(f"sqlite:///{tmp_path / 'ledger.db'}", workers=1)
    yield running
    running.kill()


def test_a_connection_opening_more_calls_than_its_limit_without_finishing_any_has_the_rest_refused(
    server: ServerProcess,
) -> None:
    opened = MAX_CALLS_PER_CONNECTION + 500
    with connect_acknowledging_settings(server) as connection:
        connection.sendall(open_calls(client_streams(opened)))
        refused = 0
        with suppress(TimeoutError):  # nothing more comes
            while refused < opened - MAX_CALLS_PER_CONNECTION:
                kind, _, payload = read_frame(connection)
                refused += kind == RST_STREAM and int.from_bytes(payload, "big") == REFUSED_STREAM
    assert refused == opened - MAX_CALLS_PER_CONNECTION


def test_memory_held_by_unfinished_messages_is_given_back_once_their_connections_close(
    server: ServerProcess,
) -> None:
    (worker,) = workers_of(server.process.pid)
    serving = resident_bytes(worker)
    # each call announces a message of 100,000 bytes (under the 128 KiB limit) and sends 60,000 of them
    message_start = b"\x00" + (100_000).to_bytes(4, "big") + b"\x0a" * 60_000
    connections = [connect_acknowledging_settings(server) for _ in range(20)]
    for connection in connections:
        connection.sendall(open_calls(client_streams(100), message_start))
    deadline = time.monotonic() + 10
    while resident_bytes(worker) < serving + 96 * MIB and time.monotonic() < deadline:
        time.sleep(0.1)
    held = resident_bytes(worker) - serving
    for connection in connections:
        connection.close()
    deadline = time.monotonic() + 15  # the worker looks every 10 s
    while resident_bytes(worker) > serving + 48 * MIB and time.monotonic() < deadline:
        time.sleep(0.2)
    kept = resident_bytes(worker) - serving
    assert held >= 96 * MIB, f"the unfinished calls held only {held // MIB} MB"
    assert kept <= 48 * MIB, f"{kept // MIB} MB of the {held // MIB} MB held were kept after the client left"
