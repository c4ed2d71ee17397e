"""The one error hierarchy. Errors carry fields, not formatted strings; api/status.py maps them to gRPC."""

from __future__ import annotations

from dataclasses import dataclass


class DecisionServiceError(Exception):
    """Base of every error the service raises on purpose."""


@dataclass(frozen=True)
class FieldViolation:
    field: str  # dotted path in the request, e.g. "applicant.age"
    description: str


class InvalidRequest(DecisionServiceError):
    """The call is malformed; nothing was changed."""

    def __init__(self, violations: list[FieldViolation]) -> None:
        super().__init__("; ".join(f"{v.field}: {v.description}" for v in violations))
        self.violations = violations


class NotFoundError(DecisionServiceError):
    def __init__(self, kind: str, field: str) -> None:
        super().__init__(f"{kind} not found")
        self.kind = kind
        self.field = field


class UnknownCreditLine(NotFoundError):
    def __init__(self) -> None:
        super().__init__("credit line", "user_id")


class UnknownDrawdown(NotFoundError):
    def __init__(self) -> None:
        super().__init__("drawdown", "drawdown_id")


class DuplicateRequest(DecisionServiceError):
    """A stored decision already holds this request_id (raised by the store on insert)."""

    def __init__(self, request_id: str) -> None:
        super().__init__("request_id already recorded")
        self.request_id = request_id


class RequestIdReused(DecisionServiceError):
    """The request_id was used before with a different payload."""

    def __init__(self, request_id: str, original_rpc: str) -> None:
        super().__init__("request_id was already used with a different request")
        self.request_id = request_id
        self.original_rpc = original_rpc


class OverRepayment(DecisionServiceError):
    def __init__(self, outstanding: int, requested: int) -> None:
        super().__init__("repayment exceeds the drawdown's outstanding principal")
        self.outstanding = outstanding
        self.requested = requested


class StoreUnavailable(DecisionServiceError):
    """The database cannot be reached or did not answer in time."""


class DatabaseBusy(StoreUnavailable):
    """The database answered, but the call could not be done now and wrote nothing: retry it. No outage, so health
    does not take it for one (database_health.py)."""


class LockHeldElsewhere(DatabaseBusy):
    """Another session held a lock the call needed (a user's line, say) for longer than the call waits for one:
    another replica's call, or a replica frozen with its transaction open, which the database ends in time."""


class LineChangedMeanwhile(DatabaseBusy):
    """A credit line changed while a call held its lock (a writer that ignores the lock, such as a back office's
    freeze), or was created for a user who had none, so there was nothing to lock: the call wrote nothing, and is
    decided once more on the line as it now is (DecisionRecorder.run)."""


class NoRuleBundle(DecisionServiceError):
    """No valid rule bundle is loaded, so nothing can be decided."""
