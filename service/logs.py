"""How every process of the service logs: one JSON object per line on stderr, never a raw identifier (users appear
as their keyed hash: pseudonymous data, README "Configuration").

Kept apart from bootstrap.py so that the supervisor, which only starts and watches processes, configures its
logging without importing the server, the use cases or the rule engine.
"""

from __future__ import annotations

import json
import logging
import sys
import time
from collections.abc import Callable, MutableMapping
from typing import Any, TextIO

import orjson
import structlog

from service.log_lines import BatchedLines


def configure_logging(level: str = "info", stream: TextIO = sys.stderr, *, batched: bool = False) -> None:
    """One JSON object per line on stderr; no personal data is ever passed to a logger. `batched`: write the
    lines in batches every few milliseconds (serving workers, see log_lines.py)."""
    structlog.configure(
        processors=[render_line],
        wrapper_class=structlog.make_filtering_bound_logger(logging.getLevelNamesMapping()[level.upper()]),
        # whole lines per write: lines of several threads never interleave
        logger_factory=(
            BatchedLinesLogger.factory(BatchedLines(stream)) if batched else structlog.WriteLoggerFactory(stream)
        ),
        cache_logger_on_first_use=True,
    )
    # The PostgreSQL pool warns of every failed reconnection (about 3 plain-text lines a second a worker for as long as
    # the database is away), which buried the service's own `health.database_unavailable` line, saying when and why,
    # among them; its errors still reach the log. What the database answered the pool's latest attempt (refused,
    # authentication, too many clients) is in the service's own lines (`_Pool` in storage/postgres.py).
    logging.getLogger("psycopg.pool").setLevel(logging.ERROR)


class BatchedLinesLogger:
    """structlog's WriteLogger for a BatchedLines stream, without the lock and the flush it takes for each line:
    BatchedLines takes each whole line under a lock of its own, and its own thread writes them out."""

    def __init__(self, lines: BatchedLines) -> None:
        self._write = lines.write

    @classmethod
    def factory(cls, lines: BatchedLines) -> Callable[..., BatchedLinesLogger]:
        """A logger factory for structlog.configure (which calls it with the logger's name, ignored here)."""
        return lambda *_args: cls(lines)

    def msg(self, message: str) -> None:
        self._write(message + "\n")

    log = debug = info = warn = warning = msg
    fatal = failure = err = error = critical = exception = msg


def render_line(logger: object, method_name: str, event: MutableMapping[str, Any]) -> str:
    """The line of an event: its fields, then `level`, `timestamp` and, when an exception is logged, `exception`, as
    one JSON object. What structlog's add_log_level, a timestamper, format_exc_info and JSONRenderer do, in one
    processor: a worker logs a line per decision, and every processor is a call more on each."""
    event["level"] = _LEVEL_OF_METHOD.get(method_name, method_name)
    utc_timestamp(logger, method_name, event)
    if "exc_info" in event:  # format_exc_info pops it, and adds `exception` when it names an exception
        event = structlog.processors.format_exc_info(logger, method_name, event)
    return json_line(event, _as_json_anyway)


_LEVEL_OF_METHOD = {"warn": "warning", "exception": "error"}  # as add_log_level names them; others by their name


def utc_timestamp(_logger: object, _method: str, event: MutableMapping[str, Any]) -> MutableMapping[str, Any]:
    """`timestamp`: the time in UTC to the microsecond, ISO 8601 (2026-12-03T17:49:20.123456Z). The date and
    time of the current second are formatted once a second: a worker logs a line per decision."""
    global _second  # one (second, text) pair, replaced whole: safe across threads
    second, micros = divmod(time.time_ns() // 1000, 1_000_000)
    cached = _second
    if cached[0] != second:
        cached = _second = (second, time.strftime("%Y-%m-%dT%H:%M:%S.", time.gmtime(second)))
    event["timestamp"] = f"{cached[1]}{str(micros).zfill(6)}Z"  # zfill: cheaper than the format spec 06d
    return event


_second: tuple[int, str] = (-1, "")


def json_line(event: MutableMapping[str, Any], default: Callable[[Any], Any]) -> str:
    """The event as compact JSON (orjson: a few microseconds a line where json took several times more); what
    orjson refuses (an integer beyond 64 bits, say) is written by json instead, so that logging never fails."""
    try:
        return orjson.dumps(event, default=default, option=orjson.OPT_NON_STR_KEYS).decode()
    except TypeError:  # orjson.JSONEncodeError is a TypeError
        return json.dumps(event, default=default, separators=(",", ":"))


def _as_json_anyway(value: object) -> object:
    """What JSON cannot hold as it is, as structlog's JSONRenderer writes it: its `__structlog__()`, else its repr."""
    try:
        return value.__structlog__()  # type: ignore[attr-defined]
    except AttributeError:
        return repr(value)
