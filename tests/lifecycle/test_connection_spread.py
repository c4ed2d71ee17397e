"""New client connections go to the worker holding the fewest, so that a handful of clients' connections do not
pile up on one worker (service/spread.py); where the kernel refuses the program, its hash spreads them as before."""

from __future__ import annotations

import os
import shutil
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path

import pytest
from structlog.testing import capture_logs

from service.config import load_settings
from service.spread import (
    REFRESH_S,
    ConnectionSpread,
    SpreadUnavailable,
    connections_of,
    established_inodes,
    join_spread,
    open_spread,
)
from service.supervisor import Supervisor
from tests.support.server_process import ServerProcess, workers_of

pytestmark = pytest.mark.slow


def _spread_or_skip(slots: int) -> ConnectionSpread:
    try:
        return ConnectionSpread.create(slots)
    except SpreadUnavailable as refused:  # a container without CAP_BPF: the server falls back, tested below
        pytest.skip(f"this kernel refuses the program here: {refused}")


@contextmanager
def listeners(count: int) -> Iterator[list[socket.socket]]:
    """`count` sockets listening on one loopback port, in one SO_REUSEPORT group, as the workers' are."""
    with ExitStack() as stack:
        group: list[socket.socket] = []
        for _ in range(count):
            listening = stack.enter_context(socket.socket())
            listening.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
            listening.bind(("127.0.0.1", group[0].getsockname()[1] if group else 0))
            listening.listen(64)
            listening.setblocking(False)
            group.append(listening)
        yield group


def join_each(spread: ConnectionSpread, group: list[socket.socket]) -> None:
    """Each socket of the group into the slot of its place, as each worker joins the spread."""
    for slot, listening in enumerate(group):
        spread.join(listening, slot)


def accepted_by_each(group: list[socket.socket], connections: int) -> list[int]:
    """Open `connections` connections to the group's port; how many each socket accepted."""
    with ExitStack() as stack:
        for _ in range(connections):
            stack.enter_context(socket.create_connection(group[0].getsockname()))
        time.sleep(0.05)
        counts = []
        for listening in group:
            accepted = 0
            while True:
                try:
                    connection, _ = listening.accept()
                except BlockingIOError:
                    break
                connection.close()
                accepted += 1
            counts.append(accepted)
        return counts


def test_a_burst_of_connections_is_dealt_out_evenly_and_a_busier_worker_gets_none() -> None:
    spread = _spread_or_skip(3)
    try:
        with listeners(3) as group:
            join_each(spread, group)
            assert accepted_by_each(group, 9) == [3, 3, 3]
            spread.set_connections(0, 10)  # the counts the supervisor writes: slot 0 holds many already
            spread.set_connections(1, 2)
            spread.set_connections(2, 0)
            assert accepted_by_each(group, 2) == [0, 0, 2]  # the next two go to the emptiest, not by a hash
    finally:
        spread.close()


def test_connections_replaced_while_the_counts_stand_equal_go_to_the_workers_in_turn() -> None:
    # A client replaces a connection its worker aged out while the old one still counts: the workers tie, and the
    # worker losing it is the one whose turn comes next. The first of equals would take every such replacement.
    spread = _spread_or_skip(2)
    try:
        with listeners(2) as group:
            join_each(spread, group)
            assert accepted_by_each(group, 4) == [2, 2]
            placed = []
            for _ in range(4):
                spread.set_connections(0, 2)  # the supervisor's refresh: the replaced connection has closed
                spread.set_connections(1, 2)
                placed.append(accepted_by_each(group, 1))
            assert placed == [[1, 0], [0, 1], [1, 0], [0, 1]]
    finally:
        spread.close()


def test_the_counts_kept_by_the_supervisor_replace_what_the_program_counted() -> None:
    spread = _spread_or_skip(2)
    stop = threading.Event()
    try:
        with listeners(2) as group:
            join_each(spread, group)
            spread.set_connections(0, 50)  # stale: fifty connections placed there have closed since
            spread.keep_counting(lambda: [os.getpid(), 2**22 + 1], group[0].getsockname()[1], stop)
            time.sleep(REFRESH_S * 1.5)  # now both hold none: the next connection goes to the first of them
            assert accepted_by_each(group, 1) == [1, 0]
    finally:
        stop.set()
        spread.close()


def test_a_slot_whose_worker_has_gone_leaves_the_choice_to_the_kernel() -> None:
    spread = _spread_or_skip(2)
    try:
        with listeners(2) as group:
            join_each(spread, group)
            group[0].close()  # the worker in the emptiest slot left the port
            (still_listening,) = group[1:]
            assert accepted_by_each([still_listening], 4) == [4]  # none refused
    finally:
        spread.close()


def test_a_worker_finds_its_own_listening_socket_or_says_why_not() -> None:
    spread = _spread_or_skip(1)
    try:
        with listeners(1) as (listening,):
            assert join_spread(spread.describe(), listening.getsockname()[1], 0) is None
            with socket.socket() as unused:
                unused.bind(("127.0.0.1", 0))
                port = unused.getsockname()[1]
            assert join_spread(spread.describe(), port, 0) == f"no socket of this process listens on port {port}"
    finally:
        spread.close()


def test_the_established_connections_on_a_port_are_found_and_no_others() -> None:
    with listeners(1) as (listening,), socket.create_connection(listening.getsockname()):
        time.sleep(0.05)
        accepted, _ = listening.accept()
        with accepted:
            port = listening.getsockname()[1]
            assert established_inodes(port) == {str(os.fstat(accepted.fileno()).st_ino)}  # not the client's end
            assert connections_of([os.getpid(), 2**22 + 1], port) == [1, 0]  # a process that is gone holds none


def accepted_by_workers(workers: list[int], port: int, connections: int) -> list[int]:
    """Each worker's established connections on the port, once the workers have accepted all `connections`."""
    deadline = time.monotonic() + 10
    while sum(counts := connections_of(workers, port)) < connections and time.monotonic() < deadline:
        time.sleep(0.05)
    return counts


def test_decisiond_spreads_four_client_connections_two_and_two(tmp_path: Path) -> None:
    server = ServerProcess(f"sqlite:///{tmp_path / 'ledger.db'}").wait_until_listening()
    try:
        if any(entry.get("event") == "connections.spread_by_hash" for entry in server.logs()):
            pytest.skip("this kernel refuses the program here; the fallback is tested below")
        workers = sorted(workers_of(server.process.pid))
        for _ in range(5):  # every draw: the kernel's hash alone puts 4 connections 2:2 only 3 times in 8
            with ExitStack() as stack:
                for _ in range(4):
                    stack.enter_context(socket.create_connection(("127.0.0.1", server.port)))
                assert sorted(accepted_by_workers(workers, server.port, 4)) == [2, 2]
            time.sleep(0.5)  # closed, and counted as closed
    finally:
        server.kill()


def test_off_or_a_single_worker_needs_no_program() -> None:
    assert open_spread(2, "off") is None
    assert open_spread(1, "auto") is None


def test_where_the_kernel_refuses_the_program_the_supervisor_says_so_and_starts_workers_without_it(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    def refuse(slots: int) -> ConnectionSpread:
        raise SpreadUnavailable("the kernel refused the connection-spreading program: Operation not permitted")

    monkeypatch.setattr(ConnectionSpread, "create", refuse)
    supervisor = Supervisor(load_settings(listen="127.0.0.1:0", rules=str(tmp_path), environ={}))
    try:
        with capture_logs() as logs:
            assert supervisor._open_spread() is None
        assert logs == [{"event": "connections.spread_by_hash", "log_level": "warning",
                         "reason": "the kernel refused the connection-spreading program: Operation not permitted"}]
    finally:
        shutil.rmtree(supervisor.state_dir)
