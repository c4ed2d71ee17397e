"""What the use cases answer. The transport turns these into protobuf responses."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

from service.domain.model import Installment
from service.engine.model import Outcome, Severity


@dataclass(frozen=True)
class ReasonView:
    code: str
    rule_id: str
    message: str


@dataclass(frozen=True)
class FlagView:
    code: str
    rule_id: str
    severity: Severity
    message: str


@dataclass(frozen=True)
class Meta:
    decision_id: str
    ruleset_version: str
    ruleset_digest: str
    rules_fired: tuple[str, ...]
    decided_at: datetime


@dataclass(frozen=True)
class ScoreResult:
    score: int
    band: str
    reasons: tuple[ReasonView, ...]
    meta: Meta


@dataclass(frozen=True)
class GrantResult:
    outcome: Outcome
    credit_limit: int
    daily_interest_rate: Decimal | None
    apr: Decimal | None
    score: int
    reasons: tuple[ReasonView, ...]
    meta: Meta


@dataclass(frozen=True)
class DrawdownResult:
    outcome: Outcome
    drawdown_id: str
    available_limit: int
    schedule: tuple[Installment, ...]
    apr: Decimal | None
    reasons: tuple[ReasonView, ...]
    flags: tuple[FlagView, ...]
    meta: Meta


@dataclass(frozen=True)
class FlagResult:
    risk_level: Severity
    outcome: Outcome
    flags: tuple[FlagView, ...]
    meta: Meta


@dataclass(frozen=True)
class CreditLineView:
    user_id: str
    credit_limit: int
    outstanding_principal: int
    available_limit: int
    daily_interest_rate: Decimal
    status: str


@dataclass(frozen=True)
class RepaymentResult:
    outstanding_principal: int
    available_limit: int
    meta: Meta
