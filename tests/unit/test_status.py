"""The table from service errors to gRPC status codes (service/api/status.py)."""

from __future__ import annotations

from google.rpc import code_pb2
from structlog.testing import capture_logs

from service.api.status import to_status
from service.domain.errors import StoreUnavailable


def test_a_call_answered_unavailable_for_the_store_tells_the_operator_why() -> None:
    with capture_logs() as logs:
        status = to_status(StoreUnavailable("timed out waiting for the SQLite write lock"))

    assert status.code == code_pb2.UNAVAILABLE
    assert status.message == "the ledger database is unavailable; retry later"  # the caller: only that it may retry
    assert logs == [
        {"event": "store.unavailable", "log_level": "warning", "reason": "timed out waiting for the SQLite write lock"}
    ]
