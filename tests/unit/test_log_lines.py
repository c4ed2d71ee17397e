"""Worker logs written in batches of whole lines."""

from __future__ import annotations

import io
import json
import os
import threading
from contextlib import suppress

import pytest

from service import log_lines
from service.log_lines import FLUSH_SIZE, MOST_BUFFERED, NOT_READ, BatchedLines, as_json_lines
from tests.unit.test_line_writer import read_to_the_end, read_until


class CountingStream(io.StringIO):
    def __init__(self) -> None:
        super().__init__()
        self.writes = 0
        self.written = threading.Event()

    def write(self, text: str) -> int:
        self.writes += 1
        self.written.set()
        return super().write(text)


def test_lines_are_written_together_and_whole_once_drained() -> None:
    target = CountingStream()
    lines = BatchedLines(target)
    for number in range(100):
        lines.write(f'{{"n": {number}}}\n')
        lines.flush()  # what the logger does after every line: nothing is written yet
    lines.drain()
    assert target.getvalue() == "".join(f'{{"n": {number}}}\n' for number in range(100))
    assert target.writes < 10  # a few batches (the periodic flush may cut one), not a write per line


def test_a_line_is_written_within_the_flush_interval_without_a_drain() -> None:
    target = CountingStream()
    BatchedLines(target).write("one line\n")
    assert target.written.wait(2)
    assert target.getvalue() == "one line\n"


def test_a_large_batch_is_written_without_waiting_for_the_interval(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(log_lines, "FLUSH_INTERVAL_S", 60.0)
    target = CountingStream()
    lines = BatchedLines(target)
    line = "x" * 1000 + "\n"
    count = FLUSH_SIZE // len(line) + 1
    for _ in range(count):
        lines.write(line)
    assert target.written.wait(5)  # by the flusher: the thread that logs never writes
    lines.drain()
    assert target.getvalue() == line * count


class BrokenThenMended(io.StringIO):
    """A stream whose writes fail as a pipe with no reader does, until it is mended."""

    def __init__(self) -> None:
        super().__init__()
        self.broken = True

    def write(self, text: str) -> int:
        if self.broken:
            raise BrokenPipeError(32, "Broken pipe")
        return super().write(text)


def test_a_broken_stream_drops_lines_without_raising_and_says_how_many_once_it_writes_again() -> None:
    """A worker logs each decision after committing it: a log write that raised would answer a committed
    drawdown INTERNAL (seen with the supervisor killed: 15 committed calls answered INTERNAL)."""
    target = BrokenThenMended()
    lines = BatchedLines(target)
    line = "x" * 1000 + "\n"
    count = FLUSH_SIZE // len(line) + 1
    for _ in range(count):
        lines.write(line)  # the last one writes the batch out at once: it must not raise
    lines.drain()

    target.broken = False
    lines.write("after\n")
    lines.drain()

    first, rest = target.getvalue().split("\n", 1)
    said = json.loads(first)
    assert (said["event"], said["level"], said["lines"]) == ("logs.dropped", "warning", count)
    assert said["reason"] == "broken pipe"
    assert rest == "after\n"


def test_a_pipe_without_a_reader_takes_lines_without_raising() -> None:
    read_end, write_end = os.pipe()
    os.close(read_end)
    with os.fdopen(write_end, "w") as stream:
        lines = BatchedLines(stream)
        for _ in range(FLUSH_SIZE // 100 + 1):
            assert lines.write("y" * 99 + "\n") == 100
        lines.drain()


def test_a_workers_json_lines_are_forwarded_as_they_are() -> None:
    lines = b'{"event": "decision", "n": 1}\n{"event": "decision", "n": 2}\n'
    assert as_json_lines(lines, pid=42) is lines


def test_plain_text_from_grpcs_core_becomes_json_naming_the_worker_and_the_level() -> None:
    lines = (
        b'{"event": "decision"}\n'
        b"E1202 10:27:19.749105     378 chttp2_server.cc:1] Failed to accept: Too many open files\n"
        b"W1202 10:27:20.000001     378 chttp2_transport.cc:1] keepalive watchdog timeout\n"
        b"something else\n"
    )
    records = [json.loads(line) for line in as_json_lines(lines, pid=42).splitlines()]
    assert [(r["event"], r.get("level"), r.get("worker_pid")) for r in records] == [
        ("decision", None, None),
        ("worker.output", "error", 42),
        ("worker.output", "warning", 42),
        ("worker.output", "warning", 42),
    ]
    assert records[1]["text"].endswith("chttp2_server.cc:1] Failed to accept: Too many open files")
    assert records[2]["text"].endswith("keepalive watchdog timeout")


def test_the_cores_line_on_a_worker_leaving_the_port_on_purpose_is_left_out_of_the_log() -> None:
    """Written at every reload and every stop: an "E...Failed" line next to a successful rules.activated read as an
    error (before, it was kept as a worker.output record at level info). Only that line goes."""
    leaving = b"E1207 11:46:51.200177   18844 posix_engine_listener.cc:186] Closing acceptor. Failed accept4: Invalid" \
        b" argument\n"
    other = b"E1207 11:46:51.200177   18844 posix_engine_listener.cc:186] Closing acceptor. Failed accept4: Bad file" \
        b" descriptor\n"
    assert as_json_lines(leaving, pid=42) == b""
    records = [json.loads(line) for line in as_json_lines(b'{"event": "decision"}\n' + leaving + other, pid=42)
               .splitlines()]
    assert [(r["event"], r.get("level")) for r in records] == [("decision", None), ("worker.output", "error")]
    assert records[1]["text"] == other.decode().strip()


def test_a_pipe_nobody_reads_never_holds_up_the_thread_that_logs_and_the_lines_that_did_not_fit_are_counted() -> None:
    """A worker logs each decision on the thread that serves every call: a log write that waited on a full pipe
    (the supervisor stopped reading) would stop every answer while the worker looks alive."""
    read_end, write_end = os.pipe()
    stream = os.fdopen(write_end, "w")
    lines = BatchedLines(stream)
    count = 3 * MOST_BUFFERED // 100  # lines of 100 characters: three times what it holds
    logging_thread = threading.Thread(target=lambda: [lines.write(f'{{"n":{n:8d},"x":"{"x" * 78}"}}\n')
                                                      for n in range(count)], daemon=True)
    logging_thread.start()
    logging_thread.join(5)
    if logging_thread.is_alive():
        os.close(read_end)  # its write fails (EPIPE) and it ends: nothing writes to the pipe after the test
        logging_thread.join(5)
        with suppress(OSError):  # what it holds cannot be written: the pipe is broken
            stream.close()
        raise AssertionError("logging waited for the pipe")

    received = read_until(read_end, b'"logs.dropped"')  # said without waiting for another line
    lines.drain()
    stream.close()
    received += read_to_the_end(read_end)
    os.close(read_end)

    records = [json.loads(line) for line in received.splitlines()]  # every line whole
    notices = [record for record in records if record.get("event") == "logs.dropped"]
    kept = [record["n"] for record in records if "n" in record]
    assert kept == sorted(kept)  # in the order they were logged
    assert len(kept) + sum(notice["lines"] for notice in notices) == count
    assert {notice["reason"] for notice in notices} == {NOT_READ}
    assert len(kept) >= MOST_BUFFERED // 100  # what it holds is written, once the pipe takes it


def test_the_lines_made_here_give_the_time_to_the_microsecond_also_at_a_whole_second(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """As every other line does (logs.utc_timestamp): a log reader parsing one format must not meet another."""
    from datetime import UTC, datetime

    class WholeSecond(datetime):
        @classmethod
        def now(cls, tz: object = None) -> WholeSecond:  # type: ignore[override]
            return cls(2026, 12, 7, 6, 30, 0, tzinfo=UTC)

    monkeypatch.setattr(log_lines, "datetime", WholeSecond)
    notice = json.loads(log_lines.dropped_lines_notice(3, "a reason"))
    wrapped = json.loads(as_json_lines(b"E1207 06:30:00.000000  1 x.cc:1] text\n", 42))
    assert notice["timestamp"] == wrapped["timestamp"] == "2026-12-07T06:30:00.000000Z"
