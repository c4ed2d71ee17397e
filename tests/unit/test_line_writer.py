"""The supervisor's stderr (LineWriter): a reader that stalls costs log lines, counted and said once it reads
again, never the time of the threads that hand lines over (they forward the workers' logs, and a worker whose log
pipe is not emptied stops answering)."""

from __future__ import annotations

import json
import os
import select
import threading
import time
from collections.abc import Iterator

import pytest

from service.supervisor import NOT_KEEPING_UP, STDERR_BUFFER_BYTES, LineWriter

LINE_BYTES = 100
LINES_A_CALL = 40  # as a worker's batch comes: many lines a call, and more than PIPE_BUF bytes
HANDING_OVER_TIMEOUT = 5.0


def numbered(first: int, count: int) -> bytes:
    """`count` JSON lines of LINE_BYTES bytes each, numbered from `first`."""
    lines = []
    for number in range(first, first + count):
        head = f'{{"n":{number},"pad":"'
        lines.append(head + "x" * (LINE_BYTES - len(head) - 3) + '"}\n')
    return "".join(lines).encode()


class Pipe:
    """A pipe whose ends a test closes when it means to; closed once each."""

    def __init__(self) -> None:
        self.reading, self.writing = os.pipe()
        self._open = {self.reading, self.writing}

    def close(self, end: int) -> None:
        if end in self._open:
            self._open.remove(end)
            os.close(end)


@pytest.fixture
def pipe() -> Iterator[Pipe]:
    made = Pipe()
    yield made
    made.close(made.reading)
    made.close(made.writing)


def hand_over(writer: LineWriter, calls: int, pipe: Pipe) -> None:
    """`calls` batches of LINES_A_CALL lines, numbered from 0, handed over from a thread that must be done within
    HANDING_OVER_TIMEOUT, whether or not anything reads."""
    handing_over = threading.Thread(
        target=lambda: [writer.write_lines(numbered(call * LINES_A_CALL, LINES_A_CALL)) for call in range(calls)],
        daemon=True,
    )
    handing_over.start()
    handing_over.join(HANDING_OVER_TIMEOUT)
    if handing_over.is_alive():
        pipe.close(pipe.reading)  # its write fails (EPIPE) and it ends: nothing writes to the pipe after the test
        handing_over.join(HANDING_OVER_TIMEOUT)
        raise AssertionError("handing lines over waited for the reader")


def read_until(reading: int, marker: bytes, timeout: float = 10.0) -> bytes:
    """What the pipe gives until `marker` has come (or it ends)."""
    received = bytearray()
    deadline = time.monotonic() + timeout
    while marker not in received[-(1 << 17):]:
        ready, _, _ = select.select([reading], [], [], max(0.0, deadline - time.monotonic()))
        assert ready, f"{marker!r} did not come within {timeout} s"
        if not (chunk := os.read(reading, 1 << 16)):
            break
        received += chunk
    return bytes(received)


def read_to_the_end(reading: int) -> bytes:
    received = bytearray()
    while chunk := os.read(reading, 1 << 16):
        received += chunk
    return bytes(received)


def test_a_reader_that_stalls_costs_lines_not_the_callers_time_and_is_told_how_many_once_it_reads_again(
    pipe: Pipe,
) -> None:
    writer = LineWriter(pipe.writing)
    calls = 3 * STDERR_BUFFER_BYTES // (LINE_BYTES * LINES_A_CALL)  # three times what the writer holds
    hand_over(writer, calls, pipe)

    # The notice comes as soon as the reader has taken the lines held before the ones dropped, without waiting
    # for another line.
    received = read_until(pipe.reading, b'"logs.dropped"')
    writer.write_lines(b'{"event":"after"}\n')
    assert writer.drain(timeout=10)
    pipe.close(pipe.writing)
    received += read_to_the_end(pipe.reading)

    lines = [json.loads(line) for line in received.splitlines()]  # every line whole
    notices = [index for index, line in enumerate(lines) if line.get("event") == "logs.dropped"]
    assert len(notices) == 1
    kept, notice, after = lines[: notices[0]], lines[notices[0]], lines[notices[0] + 1 :]
    assert [line["n"] for line in kept] == list(range(len(kept)))  # the oldest lines, in order
    assert len(kept) * LINE_BYTES > STDERR_BUFFER_BYTES // 2
    assert (notice["lines"], notice["reason"], notice["level"]) == (
        calls * LINES_A_CALL - len(kept),
        NOT_KEEPING_UP,
        "warning",
    )
    assert after == [{"event": "after"}]


def test_the_wait_for_lines_to_be_written_gives_up_at_its_timeout_when_nothing_reads(
    pipe: Pipe,
) -> None:
    """The supervisor waits for its last lines as it exits: a reader that is stuck must not hold the exit."""
    writer = LineWriter(pipe.writing)
    hand_over(writer, 100, pipe)  # 400 KB: more than a pipe holds
    asked = time.monotonic()
    assert not writer.drain(timeout=0.2)
    assert time.monotonic() - asked < 2
    pipe.close(pipe.reading)  # the reader leaves: the rest is lost at once
    assert writer.drain(timeout=10)
