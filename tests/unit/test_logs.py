"""The service's log lines: one JSON object each, stamped in UTC, whatever values a logger is given."""

from __future__ import annotations

import io
import json
import logging
from datetime import UTC, datetime, timedelta

import pytest
import structlog

from service.logs import configure_logging


def _logged(call: str, **values: object) -> dict[str, object]:
    stream = io.StringIO()
    configure_logging("info", stream)
    getattr(structlog.get_logger("test"), call)("something.happened", **values)
    (line,) = stream.getvalue().splitlines()
    parsed: dict[str, object] = json.loads(line)
    return parsed


def test_a_line_carries_event_level_and_a_utc_timestamp_to_the_microsecond() -> None:
    before = datetime.now(UTC)
    line = _logged("info", rpc="GrantLimit", rules_fired=("r1", "r2"), latency_ms=0.123)
    after = datetime.now(UTC)
    assert line["event"] == "something.happened" and line["level"] == "info"
    assert line["rpc"] == "GrantLimit" and line["rules_fired"] == ["r1", "r2"] and line["latency_ms"] == 0.123
    stamp = str(line["timestamp"])
    assert stamp.endswith("Z") and len(stamp) == len("2026-12-03T17:49:20.123456Z")
    assert before - timedelta(microseconds=1) <= datetime.fromisoformat(stamp.replace("Z", "+00:00")) <= after


def test_values_json_cannot_hold_natively_still_give_one_parseable_line() -> None:
    line = _logged("warning", huge=2**70, keys={1: "one"}, thing=object(), when=datetime(2026, 12, 3, tzinfo=UTC))
    assert line["huge"] == 2**70 and line["keys"] == {"1": "one"}
    assert str(line["thing"]).startswith("<object object at")
    assert line["level"] == "warning"


def test_an_exception_is_logged_as_its_traceback_text() -> None:
    stream = io.StringIO()
    configure_logging("info", stream)
    try:
        raise ValueError("bad thing")
    except ValueError:
        structlog.get_logger("test").exception("failed")
    line = json.loads(stream.getvalue())
    assert line["level"] == "error" and "ValueError: bad thing" in line["exception"]


def test_the_database_pools_reconnection_warnings_stay_out_of_the_log_and_its_errors_do_not(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """During an outage the pool warned of every failed reconnection, three plain-text lines a second a worker."""
    configure_logging("info", io.StringIO())
    pool = logging.getLogger("psycopg.pool")
    pool.warning("error connecting in 'decisiond': connection failed")
    pool.error("the pool cannot work")
    assert [record.getMessage() for record in caplog.records if record.name == "psycopg.pool"] == [
        "the pool cannot work"
    ]
