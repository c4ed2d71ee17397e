"""The one table from service errors to gRPC status codes, with google.rpc error details."""

from __future__ import annotations

from typing import Any

import grpc
import structlog
from google.protobuf import any_pb2
from google.protobuf.message import Message
from google.rpc import code_pb2, error_details_pb2, status_pb2
from grpc_status import rpc_status

from service.api.decoding import UndecodableRequest
from service.api.runners import TooManyCalls
from service.domain.errors import (
    DecisionServiceError,
    FieldViolation,
    InvalidRequest,
    NoRuleBundle,
    NotFoundError,
    OverRepayment,
    RequestIdReused,
    StoreUnavailable,
)

log = structlog.get_logger("decisiond.api")

RETRY_AFTER_OVERLOAD_MS = 100  # the RetryInfo of a call refused for overload: a few batches' time
# Every refusal ends its details with a google.rpc.ErrorInfo in this domain, whose reason tells apart refusals that
# share a status code (UNAVAILABLE: a busy ledger, retried in a moment, or no rule bundle, until an operator acts).
ERROR_DOMAIN = "decisiond"


def to_status(error: BaseException) -> status_pb2.Status:
    """The rich status a caller receives for this error. Unknown errors become a generic INTERNAL."""
    if isinstance(error, InvalidRequest):
        bad = error_details_pb2.BadRequest()
        for v in error.violations:
            violation = error_details_pb2.BadRequest.FieldViolation(field=v.field, description=v.description)
            if bad.ByteSize() + violation.ByteSize() > MAX_DETAILS_BYTES:
                break
            bad.field_violations.append(violation)
        summary = _summary(error.violations, len(bad.field_violations))
        counts = {"violations": str(len(error.violations)), "violations_listed": str(len(bad.field_violations))}
        return _status(code_pb2.INVALID_ARGUMENT, f"invalid request: {summary}", "INVALID_REQUEST", bad,
                       metadata=counts)
    if isinstance(error, UndecodableRequest):
        return _status(code_pb2.INVALID_ARGUMENT, str(error), "UNDECODABLE_REQUEST")
    if isinstance(error, NotFoundError):
        info = error_details_pb2.ResourceInfo(resource_type=error.kind, description=f"see field {error.field}")
        reason = error.kind.upper().replace(" ", "_") + "_NOT_FOUND"  # CREDIT_LINE_NOT_FOUND, DRAWDOWN_NOT_FOUND
        return _status(code_pb2.NOT_FOUND, f"{error.kind} not found", reason, info)
    if isinstance(error, RequestIdReused):
        bad = error_details_pb2.BadRequest(
            field_violations=[
                error_details_pb2.BadRequest.FieldViolation(
                    field="request_id",
                    description=f"already used for a different {error.original_rpc} request; use a new request_id",
                )
            ]
        )
        return _status(code_pb2.ALREADY_EXISTS, "request_id was already used with a different request",
                       "REQUEST_ID_REUSED", bad)
    if isinstance(error, OverRepayment):
        failure = error_details_pb2.PreconditionFailure(
            violations=[
                error_details_pb2.PreconditionFailure.Violation(
                    type="OVER_REPAYMENT",
                    subject="amount",
                    description=(
                        f"repayment of {error.requested} fen exceeds the drawdown's outstanding principal "
                        f"of {error.outstanding} fen"
                    ),
                )
            ]
        )
        return _status(code_pb2.FAILED_PRECONDITION, "repayment exceeds outstanding principal", "OVER_REPAYMENT",
                       failure)
    if isinstance(error, StoreUnavailable):
        # The caller learns only that it may retry, with the same request_id (a connection lost at COMMIT may leave
        # the call applied); the operator needs the reason (it names no person or user).
        log.warning("store.unavailable", reason=str(error))
        return _status(code_pb2.UNAVAILABLE,
                       "the ledger database is busy or unavailable; retry with the same request_id",
                       "LEDGER_UNAVAILABLE")
    if isinstance(error, TooManyCalls):
        retry = error_details_pb2.RetryInfo()
        retry.retry_delay.FromMilliseconds(RETRY_AFTER_OVERLOAD_MS)
        return _status(code_pb2.RESOURCE_EXHAUSTED, f"{error}; retry shortly with the same request_id", "OVERLOADED",
                       retry)
    if isinstance(error, NoRuleBundle):
        return _status(code_pb2.UNAVAILABLE, "no valid rule bundle is loaded; nothing can be decided", "NO_RULE_BUNDLE")
    if isinstance(error, DecisionServiceError):
        log.error("unmapped_service_error", error_type=type(error).__name__)
    else:
        log.exception("internal_error", error_type=type(error).__name__)
    return _status(code_pb2.INTERNAL, "internal error", "INTERNAL")


MESSAGE_VIOLATIONS = 3  # named in the status message; the BadRequest details carry the others
# The BadRequest's size at most: the status travels in the call's trailers, which a client refuses beyond 8 KiB
# (at random up to 16 KiB), and the details go base64-encoded, a third larger.
MAX_DETAILS_BYTES = 4096


def _summary(violations: list[FieldViolation], listed: int) -> str:
    """The first few violations, for the status message, and where the others are: the first `listed` are in the
    BadRequest details, any beyond them only counted (the trailers of a call must stay small)."""
    shown = "; ".join(f"{v.field}: {v.description}" for v in violations[:MESSAGE_VIOLATIONS])
    rest = len(violations) - MESSAGE_VIOLATIONS
    if rest <= 0:
        return shown
    if listed == len(violations):
        return f"{shown}; and {rest} more (see the BadRequest details)"
    also_listed = max(0, listed - MESSAGE_VIOLATIONS)
    return (f"{shown}; and {rest} more, of which the BadRequest details list the first {also_listed}: fix these and"
            " call again for the rest")


async def abort_with(context: grpc.aio.ServicerContext[Any, Any], error: BaseException, rpc: str = "") -> None:
    """Ends the call with the status for this error (raises, as grpc's abort does), and logs the refusal: the
    RPC, the status, its ErrorInfo reason and the fields named (the field a NOT_FOUND looked up, the subject of a
    failed precondition), never their values (which may be personal data)."""
    status = to_status(error)
    fields = [field] if isinstance(error, NotFoundError) and (field := error.field) else []
    reason = ""
    for detail in status.details:
        if detail.Is(error_details_pb2.BadRequest.DESCRIPTOR):
            bad = error_details_pb2.BadRequest()
            detail.Unpack(bad)
            fields += [logged_field(violation.field) for violation in bad.field_violations]
        elif detail.Is(error_details_pb2.PreconditionFailure.DESCRIPTOR):
            failure = error_details_pb2.PreconditionFailure()
            detail.Unpack(failure)
            fields += [violation.subject for violation in failure.violations]
        elif detail.Is(error_details_pb2.ErrorInfo.DESCRIPTOR):
            info = error_details_pb2.ErrorInfo()
            detail.Unpack(info)
            reason = info.reason
    log.info("call.refused", rpc=rpc, status=code_pb2.Code.Name(status.code), reason=reason, fields=fields)
    await context.abort_with_status(rpc_status.to_status(status))


ATTRIBUTES = "applicant.attributes."


def logged_field(field: str) -> str:
    """A refused field as the log names it: an applicant attribute's name is the caller's own (it may name a person,
    "name_zhangsan" say, for an attribute no bundle declares), so the log gives `applicant.attributes.*`; the caller
    gets the full name in the BadRequest details."""
    return ATTRIBUTES + "*" if field.startswith(ATTRIBUTES) else field


def _status(
    code: int, message: str, reason: str, *details: Message, metadata: dict[str, str] | None = None
) -> status_pb2.Status:
    """The status with its details, and last (after those a client may read first) the ErrorInfo naming `reason`,
    with `metadata` (for INVALID_REQUEST: how many bad fields there are, and how many the BadRequest lists)."""
    packed = []
    for detail in (*details, error_details_pb2.ErrorInfo(reason=reason, domain=ERROR_DOMAIN, metadata=metadata)):
        holder = any_pb2.Any()
        holder.Pack(detail)
        packed.append(holder)
    return status_pb2.Status(code=code, message=message, details=packed)
