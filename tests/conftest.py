"""Fixtures every test package may use."""

from collections.abc import Iterator

import pytest
import structlog

pytest_plugins = ("tests.support.databases",)


@pytest.fixture(autouse=True)
def _logging_as_configured_by_no_test() -> Iterator[None]:
    """A test that runs the command line in process configures logging as a server does, caching each logger on its
    first use: a logger first used by a later test was then tied to the processors of that moment, and capture_logs
    in a test after that saw nothing of it (tests/lifecycle/test_supervisor_replacement.py after tests/rules)."""
    yield
    structlog.reset_defaults()
