"""What a loaded rule bundle tells the use cases: compiled specs and evaluation results (no engine types)."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from enum import Enum
from typing import NamedTuple


class Outcome(str, Enum):  # noqa: UP042 - str mixin kept for callers
    APPROVE = "APPROVE"
    DECLINE = "DECLINE"
    REVIEW = "REVIEW"


class Severity(str, Enum):  # noqa: UP042 - str mixin kept for callers
    NONE = "NONE"
    LOW = "LOW"
    MEDIUM = "MEDIUM"
    HIGH = "HIGH"


SEVERITY_ORDER = {Severity.NONE: 0, Severity.LOW: 1, Severity.MEDIUM: 2, Severity.HIGH: 3}
OUTCOME_ORDER = {Outcome.APPROVE: 0, Outcome.REVIEW: 1, Outcome.DECLINE: 2}


@dataclass(frozen=True)
class FiredRule:
    """A rule whose condition matched, with what its `then` says."""

    rule_id: str
    outcome: Outcome
    reason_code: str
    message: str
    flag_code: str | None = None  # fraud rules only
    severity: Severity | None = None  # fraud rules only
    with_score_reasons: bool = False  # eligibility: attach the scorecard's adverse reasons


@dataclass(frozen=True)
class BinMatch:
    """The first matching bin of one scorecard characteristic."""

    characteristic_id: str
    bin_rule_id: str  # e.g. "SC-REPAY/1"
    points: int


@dataclass(frozen=True)
class Characteristic:
    characteristic_id: str
    description: str
    reason_code: str
    reason_message: str
    best_points: int  # the highest points any bin awards


@dataclass(frozen=True)
class Band:
    name: str
    min_score: int  # inclusive; bands are ordered best first


@dataclass(frozen=True)
class ScorecardSpec:
    base_points: int
    min_score: int
    max_score: int
    bands: tuple[Band, ...]
    characteristics: tuple[Characteristic, ...]


@dataclass(frozen=True)
class BandOffer:
    base_limit: int  # fen
    daily_rate: Decimal


class CapValue(NamedTuple):
    """A limit cap evaluated for one applicant. A named tuple, not a frozen dataclass: one is made for every grant
    that reaches the caps, and a frozen dataclass sets each field through object.__setattr__."""

    rule_id: str
    reason_code: str
    message: str
    amount: int  # fen, rounded down, never negative
    exact: Decimal  # fen, before rounding down, never negative: which caps bind is judged on it


@dataclass(frozen=True)
class LimitsSpec:
    offers: dict[str, BandOffer]  # band name -> offer; bands without an offer are not lent to
    rounding: int  # fen; final limits are rounded down to a multiple of this
    minimum_limit: int  # fen; a smaller limit declines
    apr_cap: Decimal
    days_per_year: int  # APR = daily rate x days_per_year
    minimum_limit_reason: str = "LIMIT_BELOW_MINIMUM"  # reason code when the final limit < minimum_limit
    no_offer_reason: str = "NO_OFFER_FOR_BAND"  # reason code when the applicant's band has no offer
    no_offer_with_score_reasons: bool = False  # attach the scorecard's adverse reasons to the no-offer decline
    below_minimum_with_score_reasons: bool = False  # ... and to the below-minimum decline
