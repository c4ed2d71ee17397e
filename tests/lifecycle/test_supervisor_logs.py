"""Losing whatever reads the supervisor's stderr (a log shipper that crashed, `decisiond serve 2> >(head -n 2)`) can
cost log lines, never answers: the supervisor goes on draining every worker's log pipe, so no worker blocks on a
full pipe, and it still stops promptly and cleanly on SIGTERM. Lines it could not write are counted and, once its
stderr takes writes again, said in one line."""

from __future__ import annotations

import json
import os
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc

from service._gen.decision.v1 import decision_pb2 as pb
from service._gen.decision.v1 import decision_pb2_grpc as pb_grpc
from service.supervisor import NOT_KEEPING_UP, STDERR_BUFFER_BYTES, LineWriter
from tests.lifecycle.test_hot_reload import wait_for
from tests.support.builders import request_id, strong_applicant
from tests.support.channels import client_channel
from tests.support.server_process import ServerProcess

CALLERS = 4  # each on a connection of its own, so that both workers decide (and log)
CALLS_EACH = 750  # about 330 bytes of log a decision: ~120 KiB a worker, more than its pipe and its batch hold
CALL_TIMEOUT = 5.0
STOP_TIMEOUT = 10.0


class ServerWhoseLogReaderLeaves(ServerProcess):
    """A server whose stderr is read until `leave()`; then the read end of that pipe is closed, as when the
    program reading it exits."""

    def __init__(self, database_url: str) -> None:
        self._leaving = threading.Event()
        super().__init__(database_url)

    def leave(self) -> None:
        """The reader stops at the next line the server writes, and closes its end of the pipe."""
        self._leaving.set()

    def _read_stderr(self) -> None:
        assert self.process.stderr is not None
        for line in self.process.stderr:
            self.stderr_lines.append(line)
            if self._leaving.is_set():
                break
        self.process.stderr.close()


@pytest.fixture
def server(tmp_path: Path) -> Iterator[ServerWhoseLogReaderLeaves]:
    running = ServerWhoseLogReaderLeaves(f"sqlite:///{tmp_path / 'ledger.db'}")
    running.wait_until_listening()
    yield running
    running.kill()


def score_users(address: str, calls: int) -> list[str]:
    """`calls` ScoreUser calls back to back on a connection of their own, opened as the README tells clients to; the
    errors, up to the first (a worker that stopped answering would make every later call wait its whole deadline)."""
    with client_channel(address) as channel:
        decisions = pb_grpc.DecisionServiceStub(channel)
        for _ in range(calls):
            try:
                decisions.ScoreUser(pb.ScoreUserRequest(request_id=request_id(), applicant=strong_applicant("logs")),
                                    timeout=CALL_TIMEOUT, wait_for_ready=True)
            except grpc.RpcError as error:
                return [f"{error.code()}: {error.details()}"]
    return []


@pytest.mark.slow
def test_calls_are_answered_and_the_server_stops_cleanly_after_the_log_reader_is_gone(
    server: ServerWhoseLogReaderLeaves,
) -> None:
    server.leave()
    errors: list[str] = []
    callers = [threading.Thread(target=lambda: errors.extend(score_users(server.address, CALLS_EACH)))
               for _ in range(CALLERS)]
    for caller in callers:
        caller.start()
    for caller in callers:
        caller.join()
    assert errors == []
    with grpc.insecure_channel(server.address) as channel:
        health = health_pb2_grpc.HealthStub(channel).Check(health_pb2.HealthCheckRequest(), timeout=CALL_TIMEOUT)
    assert health.status == health_pb2.HealthCheckResponse.SERVING
    asked_to_stop = time.monotonic()
    assert server.stop(timeout=STOP_TIMEOUT) == 0
    assert time.monotonic() - asked_to_stop < STOP_TIMEOUT


class ServerWhoseLogReaderStalls(ServerProcess):
    """A server whose stderr is not read until `resume()`, as with a log shipper that stalls or a paused `| less`."""

    def __init__(self, database_url: str) -> None:
        self._reading = threading.Event()
        super().__init__(database_url)

    def resume(self) -> None:
        self._reading.set()

    def _read_stderr(self) -> None:
        self._reading.wait()
        super()._read_stderr()


PIPE_CAPACITY = 64 * 1024  # Linux's default
DECISION_LINE_BYTES = 300  # at least: a ScoreUser decision's line is about 350 bytes
# From each caller: together, enough decisions' lines to fill the stderr pipe and everything the supervisor holds
# for it, and a quarter more.
STALLED_CALLS_EACH = (PIPE_CAPACITY + STDERR_BUFFER_BYTES) * 5 // 4 // DECISION_LINE_BYTES // CALLERS
IN_FLIGHT = 32  # calls a caller has in flight at a time: the test's own CPU would otherwise set the pace


def score_users_in_flight(address: str, calls: int) -> list[str]:
    """`calls` ScoreUser calls on a connection of their own, IN_FLIGHT at a time; the errors, up to the first
    IN_FLIGHT that had one."""
    with client_channel(address) as channel:
        decisions = pb_grpc.DecisionServiceStub(channel)
        for first in range(0, calls, IN_FLIGHT):
            answers = [
                decisions.ScoreUser.future(
                    pb.ScoreUserRequest(request_id=request_id(), applicant=strong_applicant("logs")),
                    timeout=CALL_TIMEOUT,
                    wait_for_ready=True,
                )
                for _ in range(min(IN_FLIGHT, calls - first))
            ]
            errors = [f"{error.code()}: {error.details()}" for answer in answers if (error := answer.exception())]
            if errors:
                return errors
    return []


@pytest.mark.slow
def test_decisions_are_answered_while_the_log_reader_stalls_and_the_lines_it_missed_are_counted(
    tmp_path: Path,
) -> None:
    server = ServerWhoseLogReaderStalls(f"sqlite:///{tmp_path / 'ledger.db'}")
    try:
        server.wait_until_listening()
        errors: list[str] = []
        callers = [
            threading.Thread(target=lambda: errors.extend(score_users_in_flight(server.address, STALLED_CALLS_EACH)))
            for _ in range(CALLERS)
        ]
        for caller in callers:
            caller.start()
        for caller in callers:
            caller.join()
        assert errors == []

        server.resume()
        wait_for(lambda: any(entry.get("event") == "logs.dropped" for entry in server.logs()), "the notice", 30)
        assert server.stop(timeout=STOP_TIMEOUT) == 0
        entries = [json.loads(line) for line in server.stderr_lines]  # every line whole
        notices = [entry for entry in entries if entry.get("event") == "logs.dropped"]
        decisions_logged = sum(entry.get("event") == "decision" for entry in entries)
        assert {notice["reason"] for notice in notices} == {NOT_KEEPING_UP}
        # every decision is logged or counted among the lines dropped (which may count a few other lines)
        assert decisions_logged + sum(notice["lines"] for notice in notices) >= STALLED_CALLS_EACH * CALLERS
        assert "shutdown.complete" in [entry.get("event") for entry in entries]  # written out at exit
    finally:
        server.resume()
        server.kill()


class ServerWhoseStdoutNobodyReads(ServerProcess):
    """A server whose stdout, where it writes its start line, is closed unread, as with `decisiond serve | true`."""

    def _read_stdout(self) -> None:
        assert self.process.stdout is not None
        self.process.stdout.close()


@pytest.mark.slow
def test_a_start_line_nobody_reads_does_not_stop_the_server(tmp_path: Path) -> None:
    server = ServerWhoseStdoutNobodyReads(f"sqlite:///{tmp_path / 'ledger.db'}")
    try:
        wait_for(lambda: any(entry.get("event") == "rules.activated" for entry in server.logs()), "the workers")
        time.sleep(1)  # the start line is written just after: the server must still serve then
        assert server.process.poll() is None, server.stderr_lines[-5:]
        assert server.stop(timeout=STOP_TIMEOUT) == 0
    finally:
        server.kill()


def test_lines_that_could_not_be_written_are_counted_and_said_once_writes_work_again(tmp_path: Path) -> None:
    """The reader of a pipe leaves, and the descriptor is later pointed at a file (as a restarted log shipper's
    would be): what was lost meanwhile is said in one JSON line, before the lines that follow."""
    reading, writing = os.pipe()
    os.close(reading)
    writer = LineWriter(writing)
    writer.write_lines(b'{"event":"one"}\n{"event":"two"}\n')
    writer.write('{"event":"three"}\n')
    assert writer.drain(timeout=5)  # its thread has tried them: they are lost
    log_file = tmp_path / "log"
    os.dup2(os.open(log_file, os.O_WRONLY | os.O_CREAT), writing)
    writer.write_lines(b'{"event":"four"}\n')
    writer.write_lines(b'{"event":"five"}\n')
    assert writer.drain(timeout=5)
    os.close(writing)
    lines = [json.loads(line) for line in log_file.read_text().splitlines()]
    assert [line["event"] for line in lines] == ["logs.dropped", "four", "five"]
    notice = lines[0]
    assert notice["lines"] == 3 and notice["level"] == "warning" and notice["timestamp"].endswith("Z")
    assert notice["reason"] == "broken pipe"
