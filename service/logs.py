"""How every process of the service logs: one JSON object per line on stderr, never personal data.

Kept apart from bootstrap.py so that the supervisor, which only starts and watches processes, configures its
logging without importing the server, the use cases or the rule engine.
"""

from __future__ import annotations

import logging
import sys
from typing import TextIO, cast

import structlog

from service.log_lines import BatchedLines


def configure_logging(level: str = "info", stream: TextIO = sys.stderr, *, batched: bool = False) -> None:
    """One JSON object per line on stderr; no personal data is ever passed to a logger. `batched`: write the
    lines in batches every few milliseconds (serving workers, see log_lines.py)."""
    structlog.configure(
        processors=[
            structlog.processors.add_log_level,
            structlog.processors.TimeStamper(fmt="iso", utc=True),
            structlog.processors.format_exc_info,
            structlog.processors.JSONRenderer(),
        ],
        wrapper_class=structlog.make_filtering_bound_logger(logging.getLevelNamesMapping()[level.upper()]),
        # whole lines per write: lines of several threads never interleave
        logger_factory=structlog.WriteLoggerFactory(cast(TextIO, BatchedLines(stream)) if batched else stream),
        cache_logger_on_first_use=True,
    )
