"""What the use cases answer. The transport turns these into protobuf responses.

Named tuples rather than frozen dataclasses: as immutable, and several times cheaper to build (a frozen dataclass
sets each field through object.__setattr__), a few of them on every call."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import NamedTuple

from service.domain.model import Installment
from service.engine.model import Outcome, Severity


class ReasonView(NamedTuple):
    code: str
    rule_id: str
    message: str


class FlagView(NamedTuple):
    code: str
    rule_id: str
    severity: Severity
    message: str


class Meta(NamedTuple):
    decision_id: str
    ruleset_version: str
    ruleset_digest: str
    rules_fired: tuple[str, ...]
    decided_at: datetime


class ScoreResult(NamedTuple):
    score: int
    band: str
    reasons: tuple[ReasonView, ...]
    meta: Meta


class GrantResult(NamedTuple):
    outcome: Outcome
    credit_limit: int
    daily_interest_rate: Decimal | None
    apr: Decimal | None
    score: int
    reasons: tuple[ReasonView, ...]
    meta: Meta


class DrawdownResult(NamedTuple):
    outcome: Outcome
    drawdown_id: str
    available_limit: int
    schedule: tuple[Installment, ...]
    apr: Decimal | None
    reasons: tuple[ReasonView, ...]
    flags: tuple[FlagView, ...]
    meta: Meta


class FlagResult(NamedTuple):
    risk_level: Severity
    outcome: Outcome
    flags: tuple[FlagView, ...]
    meta: Meta


class CreditLineView(NamedTuple):
    user_id: str
    credit_limit: int
    outstanding_principal: int
    available_limit: int
    daily_interest_rate: Decimal
    status: str


class RepaymentResult(NamedTuple):
    outstanding_principal: int
    available_limit: int
    meta: Meta
