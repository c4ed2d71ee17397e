"""A log stream that writes whole lines in batches: one write of many lines every few milliseconds.

A worker logs a line per decision; written one by one, each line is a system call in the worker and a
wake-up of the supervisor, which forwards worker logs (measured: about 30 us of CPU per decision between the
two). Batched, both happen about fifty times a second. A line waits at most FLUSH_INTERVAL_S before it is
written, and everything buffered is written at exit; a worker killed outright loses at most that much of
its log, never a decision (those are in the ledger before they are answered).

A write that fails (the supervisor died and the pipe is broken, say) drops its lines and never raises: a line is
logged after its decision is committed, and an error there would turn a committed answer into INTERNAL. Nor does a
write ever wait on the pipe: only the flusher thread writes, and when the pipe stays full (the supervisor stopped,
say) the newest lines beyond MOST_BUFFERED are dropped, for a serving thread that waited on its log would stop
answering while the process looks alive. The lines dropped are counted and said once writing works again.
"""

from __future__ import annotations

import atexit
import json
import threading
from datetime import UTC, datetime
from typing import TextIO

from service.os_errors import reason_of

FLUSH_INTERVAL_S = 0.02
FLUSH_SIZE = 32 * 1024  # characters: beyond this, the flusher writes a batch without waiting for the interval
MOST_BUFFERED = 4 * 1024 * 1024  # characters held while a write waits on a full pipe; newer lines are dropped
NOT_READ = "the supervisor is not reading the log"


class BatchedLines:
    """A write-only text stream for whole lines (structlog's WriteLogger writes one line per call)."""

    def __init__(self, target: TextIO) -> None:
        self._target = target
        self._lines: list[str] = []
        self._size = 0
        self._overflowed = 0  # lines dropped after those in _lines, which did not fit
        self._lock = threading.Lock()  # the lines above: held to add or take lines, never while writing them
        self._writing = threading.Lock()  # one batch written at a time, in order
        self._dropped = 0  # lines whose write failed, not yet said
        self._why_dropped = ""
        self._batch_due = threading.Event()
        self._flusher = threading.Thread(target=self._flush_periodically, name="log-lines", daemon=True)
        self._flusher.start()
        atexit.register(self.drain)

    def write(self, text: str) -> int:
        with self._lock:
            if self._size + len(text) > MOST_BUFFERED:
                self._overflowed += 1
            else:
                self._lines.append(text)
                self._size += len(text)
                if self._size >= FLUSH_SIZE:
                    self._batch_due.set()
        return len(text)

    def flush(self) -> None:
        """Nothing: the logger flushes after every line, and lines are written in batches (see drain)."""

    def drain(self) -> None:
        """Write what is buffered now."""
        with self._writing:
            self._write_out()

    def _write_out(self) -> None:
        with self._lock:
            lines, overflowed = self._lines, self._overflowed
            self._lines, self._size, self._overflowed = [], 0, 0
        if not lines and not overflowed:
            return
        failed_before = [dropped_lines_notice(self._dropped, self._why_dropped)] if self._dropped else []
        # the lines that did not fit came after all of these
        did_not_fit = [dropped_lines_notice(overflowed, NOT_READ)] if overflowed else []
        try:
            self._target.write("".join([*failed_before, *lines, *did_not_fit]))
            self._target.flush()
        except (OSError, ValueError) as error:  # a broken or closed stream: the lines are lost, the caller goes on
            self._dropped += len(lines) + overflowed
            self._why_dropped = reason_of(error)
            return
        self._dropped = 0

    def _flush_periodically(self) -> None:
        while True:
            self._batch_due.wait(FLUSH_INTERVAL_S)
            self._batch_due.clear()
            self.drain()


def dropped_lines_notice(count: int, reason: str) -> str:
    """The line that says `count` log lines were lost, and why (a worker's log stream here, the supervisor's stderr)."""
    record = {
        "event": "logs.dropped",
        "level": "warning",
        "timestamp": _timestamp(datetime.now(UTC)),
        "lines": count,
        "reason": reason,
    }
    return json.dumps(record, separators=(",", ":")) + "\n"


# gRPC's C core writes plain-text lines to stderr, glog style: "E1202 10:27:19.749105  378 file.cc:186] text".
_GLOG_LEVELS = {ord("E"): "error", ord("W"): "warning", ord("I"): "info", ord("F"): "critical"}
# Written by the C core whenever a worker leaves the port on purpose (service/api/listener.py), at every reload
# and every stop: expected, and it tells the operator nothing, while its "E" and "Failed" read as an error next to
# a successful rules.activated. This line alone is left out of the log; every other line of the core is kept.
_EXPECTED_ON_LEAVING_THE_PORT = b"Closing acceptor. Failed accept4: Invalid argument"


def as_json_lines(lines: bytes, pid: int) -> bytes:
    """A worker's output as JSON lines: its own log lines as they are, anything else (gRPC's C core writes
    plain text) as one JSON object a line naming the worker, except the core's line on leaving the port (see
    _EXPECTED_ON_LEAVING_THE_PORT), which is dropped. `lines` ends with a newline."""
    if lines[:1] == b"{" and lines.count(b"\n{") == lines.count(b"\n") - 1:
        return lines  # the usual case: every line is the worker's own JSON
    out = []
    for line in lines.splitlines(keepends=True):
        if line[:1] == b"{":
            out.append(line)
            continue
        text = line.strip()
        if not text:
            continue
        glog_line = text[1:2].isdigit()
        if glog_line and text.partition(b"] ")[2] == _EXPECTED_ON_LEAVING_THE_PORT:
            continue
        level = _GLOG_LEVELS.get(text[0], "warning") if glog_line else "warning"
        record = {
            "event": "worker.output",
            "level": level,
            "timestamp": _timestamp(datetime.now(UTC)),
            "worker_pid": pid,
            "text": text.decode("utf-8", "replace"),
        }
        out.append(json.dumps(record).encode() + b"\n")
    return b"".join(out)


def _timestamp(at: datetime) -> str:
    """As the service's own lines give it (logs.utc_timestamp): to the microsecond, also at a whole second."""
    return at.isoformat(timespec="microseconds").replace("+00:00", "Z")
