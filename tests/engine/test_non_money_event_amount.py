"""A login, a password change or a phone change moves no money: the service takes an amount sent with one as 0, so
transaction.amount and transaction.share_of_available_limit are 0 for them. A rule that asks for more on such an
event alone can never fire, and the checker says so (R108), naming the event type, instead of letting it sit dead."""

from __future__ import annotations

import pytest

from service.engine.bundle import check_bundle
from service.engine.satisfy import NO_MONEY_HINT
from tests.engine.conftest import BundleCopy
from tests.engine.test_carried_values import FRAUD_THEN, add_rule, only


@pytest.mark.parametrize(("when", "reason"), [
    ("transaction.type == 'PASSWORD_CHANGE' and transaction.amount > 20000 CNY",
     "transaction.amount is 0 for PASSWORD_CHANGE, which moves no money"),
    ("transaction.type == 'LOGIN' and transaction.share_of_available_limit >= 0.5",
     "transaction.share_of_available_limit is 0 for LOGIN, which moves no money"),
    ("transaction.amount >= 1 CNY and not (transaction.type == 'DRAWDOWN' or transaction.type == 'TRANSFER_OUT' or "
     "transaction.type == 'REPAYMENT' or transaction.type == 'PAYMENT')",
     "transaction.amount is 0 for LOGIN, PASSWORD_CHANGE and PHONE_CHANGE, which move no money"),
    ("transaction.type in ['LOGIN', 'PHONE_CHANGE'] and transaction.amount > 0 CNY",
     "transaction.amount is 0 for LOGIN, which moves no money; transaction.amount is 0 for PHONE_CHANGE, which "
     "moves no money"),
])
def test_a_rule_on_the_amount_of_an_event_that_moves_no_money_never_matches(bundle_copy: BundleCopy, when: str,
                                                                            reason: str) -> None:
    add_rule(bundle_copy, "fraud.yaml", "FRD-009", when, FRAUD_THEN)
    problem = only(bundle_copy)
    assert (problem.code, problem.rule_id, problem.message) == ("R108", "FRD-009",
                                                                f"this rule can never match: {reason}")
    assert problem.hint == NO_MONEY_HINT
    assert problem.format().endswith(
        "fix: the service takes an amount sent with an event that moves no money as 0: test the amount of an event "
        "that moves money (DRAWDOWN, PAYMENT, REPAYMENT, TRANSFER_OUT), or take the amount out of the rule [R108]")


@pytest.mark.parametrize("when", [
    "transaction.type == 'TRANSFER_OUT' and transaction.amount > 20000 CNY",
    "(transaction.type == 'PASSWORD_CHANGE' or transaction.type == 'DRAWDOWN') and transaction.amount > 20000 CNY",
    "transaction.type == 'PASSWORD_CHANGE' and transaction.amount == 0 CNY",
    "transaction.type != 'DRAWDOWN' and transaction.share_of_available_limit >= 0.5",
    "transaction.type == 'LOGIN' and features.transfer_out_last_hour > 20000 CNY",  # the history's money counts
])
def test_a_rule_on_an_amount_some_event_it_allows_can_carry_is_accepted(bundle_copy: BundleCopy, when: str) -> None:
    add_rule(bundle_copy, "fraud.yaml", "FRD-009", when, FRAUD_THEN)
    assert check_bundle(bundle_copy.dir) == []


def test_a_rule_true_for_every_event_once_no_money_means_0_gets_a_warning(bundle_copy: BundleCopy) -> None:
    """Every login has an amount of 0, so this holds for every request: judged with the same knowledge as R108."""
    add_rule(bundle_copy, "fraud.yaml", "FRD-009", "transaction.type != 'LOGIN' or transaction.amount == 0 CNY",
             FRAUD_THEN)
    problem = only(bundle_copy)
    assert (problem.code, problem.rule_id, problem.message) == ("W001", "FRD-009", "this rule matches every request")
