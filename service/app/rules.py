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


def reasons_of(fired: Sequence[FiredRule]) -> list[ReasonView]:
    """The reasons of the rules that moved the outcome away from APPROVE."""
    return [ReasonView(f.reason_code, f.rule_id, f.message) for f in fired if f.outcome is not Outcome.APPROVE]


def flags_of(fired: Sequence[FiredRule]) -> tuple[FlagView, ...]:
    return tuple(
        FlagView(f.flag_code or f.reason_code, f.rule_id, f.severity or Severity.LOW, f.message) for f in fired
    )
