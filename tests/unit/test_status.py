"""The table from service errors to gRPC status codes (service/api/status.py)."""

from __future__ import annotations

from google.rpc import code_pb2, error_details_pb2
from structlog.testing import capture_logs

from service.api.runners import TooManyCalls
from service.api.status import to_status
from service.domain.errors import StoreUnavailable


def test_a_call_answered_unavailable_for_the_store_tells_the_operator_why() -> None:
    with capture_logs() as logs:
        status = to_status(StoreUnavailable("timed out waiting for the SQLite write lock"))

    assert status.code == code_pb2.UNAVAILABLE
    assert status.message == "the ledger database is busy or unavailable; retry later"  # the caller: it may retry
    assert logs == [
        {"event": "store.unavailable", "log_level": "warning", "reason": "timed out waiting for the SQLite write lock"}
    ]


def test_a_call_refused_for_overload_is_resource_exhausted_with_when_to_retry() -> None:
    status = to_status(TooManyCalls(1024))

    assert status.code == code_pb2.RESOURCE_EXHAUSTED
    assert status.message == ("the server has 1024 calls in progress, as many as it takes; retry shortly with the "
                              "same request_id")
    (detail,) = status.details
    retry = error_details_pb2.RetryInfo()
    assert detail.Unpack(retry)
    assert retry.retry_delay.ToMilliseconds() == 100
