"""Reasons and flags name what decided first: a rule that declined before one that only referred, whatever the
order the rules ran in (an adverse-action notice prints the principal reason first)."""

from __future__ import annotations

from service.app.rules import flags_of, reasons_of
from service.engine.model import FiredRule, Outcome, Severity

NEW_DEVICE = FiredRule("FRD-003", Outcome.REVIEW, "NEW_DEVICE", "a device never seen", "NEW_DEVICE", Severity.MEDIUM)
MULE = FiredRule("FRD-006", Outcome.DECLINE, "MULE_COUNTERPARTY", "a listed mule", "MULE_COUNTERPARTY", Severity.HIGH)
NIGHT = FiredRule("FRD-009", Outcome.APPROVE, "NIGHT", "at night", "NIGHT", Severity.LOW)
GEO = FiredRule("FRD-004", Outcome.REVIEW, "GEO_MISMATCH", "abroad", "GEO_MISMATCH", Severity.MEDIUM)


def test_the_reason_that_declined_comes_before_those_that_referred_which_keep_their_order() -> None:
    assert [r.code for r in reasons_of([NEW_DEVICE, NIGHT, GEO, MULE])] == ["MULE_COUNTERPARTY", "NEW_DEVICE",
                                                                            "GEO_MISMATCH"]


def test_flags_put_the_declining_rule_first_and_keep_the_notes_of_approving_rules_last() -> None:
    assert [f.code for f in flags_of([NIGHT, NEW_DEVICE, MULE])] == ["MULE_COUNTERPARTY", "NEW_DEVICE", "NIGHT"]
