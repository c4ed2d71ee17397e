"""The table from service errors to gRPC status codes (service/api/status.py)."""

from __future__ import annotations

import pytest
import structlog
from google.rpc import code_pb2, error_details_pb2, status_pb2
from structlog.testing import capture_logs

from service.api import status as status_table
from service.api.runners import TooManyCalls
from service.api.status import to_status
from service.domain.errors import NoRuleBundle, StoreUnavailable, UnknownCreditLine, UnknownDrawdown


def test_a_call_answered_unavailable_for_the_store_tells_the_operator_why(monkeypatch: pytest.MonkeyPatch) -> None:
    # a logger not yet used: the module's own may have been cached, on first use, by a test that configured logging
    # (the CLI's main does), and then writes past capture_logs
    monkeypatch.setattr(status_table, "log", structlog.get_logger())
    with capture_logs() as logs:
        status = to_status(StoreUnavailable("timed out waiting for the SQLite write lock"))

    assert status.code == code_pb2.UNAVAILABLE
    # the caller: it may retry, with the same request_id (a call whose COMMIT lost its connection may have been applied)
    assert status.message == "the ledger database is busy or unavailable; retry with the same request_id"
    assert logs == [
        {"event": "store.unavailable", "log_level": "warning", "reason": "timed out waiting for the SQLite write lock"}
    ]


def test_a_call_refused_for_overload_is_resource_exhausted_with_when_to_retry() -> None:
    status = to_status(TooManyCalls(1024))

    assert status.code == code_pb2.RESOURCE_EXHAUSTED
    assert status.message == ("the server has 1024 calls in progress, as many as it takes; retry shortly with the "
                              "same request_id")
    retry, info = error_details_pb2.RetryInfo(), error_details_pb2.ErrorInfo()
    assert [status.details[0].Unpack(retry), status.details[1].Unpack(info)] == [True, True]
    assert retry.retry_delay.ToMilliseconds() == 100
    assert (info.domain, info.reason) == ("decisiond", "OVERLOADED")


def reason(status: status_pb2.Status) -> str:
    info = error_details_pb2.ErrorInfo()
    assert status.details[-1].Unpack(info)  # last, after the details a client may read first
    return info.reason


def test_refusals_that_share_a_status_code_are_told_apart_by_their_error_info() -> None:
    """A busy ledger passes in a moment; a server without a rule bundle waits for an operator: a client retries
    the one and not the other, and reads which it is from the ErrorInfo, not from the message's words."""
    busy, no_rules = to_status(StoreUnavailable("timed out")), to_status(NoRuleBundle())

    assert busy.code == no_rules.code == code_pb2.UNAVAILABLE
    assert (reason(busy), reason(no_rules)) == ("LEDGER_UNAVAILABLE", "NO_RULE_BUNDLE")
    assert reason(to_status(UnknownCreditLine())) == "CREDIT_LINE_NOT_FOUND"
    assert reason(to_status(UnknownDrawdown())) == "DRAWDOWN_NOT_FOUND"
    assert reason(to_status(RuntimeError("a bug"))) == "INTERNAL"
