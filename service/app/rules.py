"""The rule bundle port and how fired rules combine into one outcome."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Protocol

from service.app.results import FlagView, ReasonView
from service.engine.bundle import RuleBundle
from service.engine.model import OUTCOME_ORDER, SEVERITY_ORDER, FiredRule, Outcome, Severity


class RulesProvider(Protocol):
    def current(self) -> RuleBundle:
        """The bundle to decide one whole call with. Raises NoRuleBundle when none is valid."""


def combined_outcome(fired: Iterable[FiredRule]) -> Outcome:
    """DECLINE if any rule declines, else REVIEW if any reviews, else APPROVE."""
    return max((f.outcome for f in fired), key=OUTCOME_ORDER.__getitem__, default=Outcome.APPROVE)


def risk_level(fired: Iterable[FiredRule]) -> Severity:
    """The highest severity among fired fraud rules; NONE when none fired."""
    return max((f.severity or Severity.NONE for f in fired), key=SEVERITY_ORDER.__getitem__, default=Severity.NONE)


def decisive_first(fired: Iterable[FiredRule]) -> list[FiredRule]:
    """The fired rules, those that decline first, then those that refer, then the others, each in evaluation order:
    a notice names the principal reason first, and the reason that declined must not follow one that only
    referred (a new device's review before the mule list's decline)."""
    return sorted(fired, key=lambda f: -OUTCOME_ORDER[f.outcome])


def reasons_of(fired: Sequence[FiredRule]) -> list[ReasonView]:
    """The reasons of the rules that moved the outcome away from APPROVE, the decisive first."""
    return [
        ReasonView(f.reason_code, f.rule_id, f.message)
        for f in decisive_first(fired)
        if f.outcome is not Outcome.APPROVE
    ]


def flags_of(fired: Sequence[FiredRule]) -> tuple[FlagView, ...]:
    """A flag for every fired fraud rule, the decisive first."""
    return tuple(
        FlagView(f.flag_code or f.reason_code, f.rule_id, f.severity or Severity.LOW, f.message)
        for f in decisive_first(fired)
    )
