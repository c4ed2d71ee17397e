"""Use-case results -> protobuf responses.

Nested messages are given to their parent's constructor as mappings, which it fills in place: a message made on
its own first is copied into the parent, which took twice as long (an AuthorizeDrawdown response with twelve
instalments: 29 against 14.5 us)."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

from service._gen.decision.v1 import decision_pb2 as pb
from service.app.results import (
    CreditLineView,
    DrawdownResult,
    FlagResult,
    FlagView,
    GrantResult,
    Meta,
    ReasonView,
    RepaymentResult,
    ScoreResult,
)
from service.app.rules_holder import RulesStatus
from service.domain.money import decimal_text
from service.engine.model import Outcome, Severity

CURRENCY = "CNY"

_OUTCOMES = {
    Outcome.APPROVE: pb.OUTCOME_APPROVE,
    Outcome.DECLINE: pb.OUTCOME_DECLINE,
    Outcome.REVIEW: pb.OUTCOME_REVIEW,
}
_RISK_LEVELS = {
    Severity.NONE: pb.RISK_LEVEL_NONE,
    Severity.LOW: pb.RISK_LEVEL_LOW,
    Severity.MEDIUM: pb.RISK_LEVEL_MEDIUM,
    Severity.HIGH: pb.RISK_LEVEL_HIGH,
}


def money(fen: int) -> dict[str, object]:
    """A Money field's value."""
    return {"currency": CURRENCY, "minor_units": fen}


def _rate(value: Decimal | None) -> str:
    return "" if value is None else decimal_text(value)


def _meta(meta: Meta) -> dict[str, object]:
    """A DecisionMeta field's value."""
    return {
        "decision_id": meta.decision_id,
        "ruleset_version": meta.ruleset_version,
        "ruleset_digest": meta.ruleset_digest,
        "rules_fired": meta.rules_fired,
        "decided_at": _timestamp(meta.decided_at),
    }


def _timestamp(moment: datetime) -> dict[str, int]:
    """A Timestamp field's value: what Timestamp.FromDatetime gives for an aware datetime, in integer arithmetic."""
    since = moment - _EPOCH
    return {"seconds": since.days * 86_400 + since.seconds, "nanos": since.microseconds * 1_000}


_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def _reasons(reasons: tuple[ReasonView, ...]) -> list[dict[str, str]]:
    return [{"code": r.code, "rule_id": r.rule_id, "message": r.message} for r in reasons]


def _flags(flags: tuple[FlagView, ...]) -> list[dict[str, object]]:
    return [
        {"code": f.code, "rule_id": f.rule_id, "severity": _RISK_LEVELS[f.severity], "message": f.message}
        for f in flags
    ]


def score_response(result: ScoreResult) -> pb.ScoreUserResponse:
    return pb.ScoreUserResponse(
        score=result.score, band=result.band, reasons=_reasons(result.reasons), meta=_meta(result.meta)
    )


def grant_response(result: GrantResult) -> pb.GrantLimitResponse:
    return pb.GrantLimitResponse(
        outcome=_OUTCOMES[result.outcome],
        credit_limit=money(result.credit_limit),
        daily_interest_rate=_rate(result.daily_interest_rate),
        apr=_rate(result.apr),
        score=result.score,
        reasons=_reasons(result.reasons),
        meta=_meta(result.meta),
    )


def drawdown_response(result: DrawdownResult) -> pb.AuthorizeDrawdownResponse:
    return pb.AuthorizeDrawdownResponse(
        outcome=_OUTCOMES[result.outcome],
        drawdown_id=result.drawdown_id,
        available_limit=money(result.available_limit),
        schedule=[
            {
                "number": i.number,
                "due_date": i.due_date.isoformat(),
                "principal": money(i.principal),
                "interest": money(i.interest),
            }
            for i in result.schedule
        ],
        apr=_rate(result.apr),
        reasons=_reasons(result.reasons),
        fraud_flags=_flags(result.flags),
        meta=_meta(result.meta),
    )


def flag_response(result: FlagResult) -> pb.FlagTransactionResponse:
    return pb.FlagTransactionResponse(
        risk_level=_RISK_LEVELS[result.risk_level],
        outcome=_OUTCOMES[result.outcome],
        flags=_flags(result.flags),
        meta=_meta(result.meta),
    )


def credit_line_response(view: CreditLineView) -> pb.GetCreditLineResponse:
    return pb.GetCreditLineResponse(
        user_id=view.user_id,
        credit_limit=money(view.credit_limit),
        outstanding_principal=money(view.outstanding_principal),
        available_limit=money(view.available_limit),
        daily_interest_rate=decimal_text(view.daily_interest_rate),
        status=view.status,
    )


def repayment_response(result: RepaymentResult) -> pb.RecordRepaymentResponse:
    return pb.RecordRepaymentResponse(
        outstanding_principal=money(result.outstanding_principal),
        available_limit=money(result.available_limit),
        meta=_meta(result.meta),
    )


def rules_status_response(status: RulesStatus) -> pb.GetRulesStatusResponse:
    out = pb.GetRulesStatusResponse(
        last_edit_rejected=bool(status.rejected_problems), rejected_problems=list(status.rejected_problems),
        active_warnings=list(status.active_warnings),
    )
    if status.active_version is not None:
        out.active.CopyFrom(pb.RuleBundleInfo(version=status.active_version, digest=status.active_digest or ""))
    if status.rejected_at is not None:
        out.rejected_at.FromDatetime(status.rejected_at)
    if status.checking_since is not None:
        out.checking_since.FromDatetime(status.checking_since)
    return out
