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
from typing import Any, TextIO, cast

import orjson
import structlog

from service.log_lines import BatchedLines


def configure_logging(level: str = "info", stream: TextIO = sys.stderr, *, batched: bool = False) -> None:
    """One JSON object per line on stderr; no personal data is ever passed to a logger. `batched`: write the
    lines in batches every few milliseconds (serving workers, see log_lines.py)."""
    structlog.configure(
        processors=[
            structlog.processors.add_log_level,
            utc_timestamp,
            structlog.processors.format_exc_info,
            structlog.processors.JSONRenderer(serializer=json_line),
        ],
        wrapper_class=structlog.make_filtering_bound_logger(logging.getLevelNamesMapping()[level.upper()]),
        # whole lines per write: lines of several threads never interleave
        logger_factory=structlog.WriteLoggerFactory(cast(TextIO, BatchedLines(stream)) if batched else stream),
        cache_logger_on_first_use=True,
    )
    # The PostgreSQL pool warns of every failed reconnection (about 3 plain-text lines a second a worker for as long as
    # the database is away), which buried the service's own `health.database_unavailable` line, saying when and why,
    # among them; its errors still reach the log. What the database answered the pool's latest attempt (refused,
    # authentication, too many clients) is in the service's own lines (`_Pool` in storage/postgres.py).
    logging.getLogger("psycopg.pool").setLevel(logging.ERROR)


def utc_timestamp(_logger: object, _method: str, event: MutableMapping[str, Any]) -> MutableMapping[str, Any]:
    """`timestamp`: the time in UTC to the microsecond, ISO 8601 (2026-12-03T17:49:20.123456Z). The date and
    time of the current second are formatted once a second: a worker logs a line per decision."""
    global _second  # one (second, text) pair, replaced whole: safe across threads
    second, micros = divmod(time.time_ns() // 1000, 1_000_000)
    cached = _second
    if cached[0] != second:
        cached = _second = (second, time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(second)))
    event["timestamp"] = f"{cached[1]}.{micros:06d}Z"
    return event


_second: tuple[int, str] = (-1, "")


def json_line(event: dict[str, Any], default: Callable[[Any], Any]) -> str:
    """The event as compact JSON (orjson: a few microseconds a line where json took several times more); what
    orjson refuses (an integer beyond 64 bits, say) is written by json instead, so that logging never fails."""
    try:
        return orjson.dumps(event, default=default, option=orjson.OPT_NON_STR_KEYS).decode()
    except TypeError:  # orjson.JSONEncodeError is a TypeError
        return json.dumps(event, default=default, separators=(",", ":"))
