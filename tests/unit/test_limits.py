from decimal import Decimal, Inexact

import pytest

from service.domain.limits import apr, final_limit, within_apr_cap
from service.engine.model import CapValue

CNY = 100  # fen


def cap(rule_id: str, code: str, exact: Decimal | int) -> CapValue:
    """A cap of `exact` fen, as the bundle evaluates it: its amount rounded down to the fen."""
    return CapValue(rule_id, code, "", int(exact), Decimal(exact))


INCOME = cap("LIM-INCOME", "CAPPED_BY_INCOME", Decimal(200_000_02) / 3)  # a third of 200,000.02 CNY
REGULATION = cap("LIM-REG", "CAPPED_BY_REGULATION", 300_000 * CNY)


def test_base_limit_stands_when_no_cap_is_lower() -> None:
    decision = final_limit(200_000 * CNY, [REGULATION], rounding=100 * CNY, minimum=1_000 * CNY)
    assert (decision.amount, decision.binding_caps, decision.offered) == (200_000 * CNY, (), True)


def test_lowest_cap_binds_and_the_limit_rounds_down_to_100_cny() -> None:
    decision = final_limit(200_000 * CNY, [REGULATION, INCOME], rounding=100 * CNY, minimum=1_000 * CNY)
    assert decision.amount == 66_600 * CNY
    assert decision.binding_caps == (INCOME,)


def test_a_cap_equal_to_the_base_does_not_bind() -> None:
    capped = cap("LIM-X", "CAPPED", 80_000 * CNY)
    decision = final_limit(80_000 * CNY, [capped], rounding=100 * CNY, minimum=1_000 * CNY)
    assert (decision.amount, decision.binding_caps) == (80_000 * CNY, ())


def test_caps_tied_at_the_lowest_amount_all_bind_in_the_order_given() -> None:
    first = cap("A", "CAPPED_BY_INCOME", 50_000 * CNY)
    second = cap("B", "CAPPED_BY_REGULATION", 50_000 * CNY)
    decision = final_limit(200_000 * CNY, [first, REGULATION, second], rounding=100 * CNY, minimum=0)
    assert decision.binding_caps == (first, second)


def test_a_cap_rounded_down_to_the_fen_of_another_does_not_bind_with_it() -> None:
    """A third of 600,000.01 CNY is 200,000.0033 CNY: to the fen the regulation's 200,000 CNY, but above it, so
    only the regulation lowered the limit (the applicant was told both caps had)."""
    income = cap("LIM-INCOME", "CAPPED_BY_INCOME", Decimal(600_000_01) / 3)
    regulation = cap("LIM-REG", "CAPPED_BY_REGULATION", 200_000 * CNY)
    decision = final_limit(300_000 * CNY, [income, regulation], rounding=100 * CNY, minimum=1_000 * CNY)
    assert (decision.amount, decision.binding_caps) == (200_000 * CNY, (regulation,))
    exactly_a_third = cap("LIM-INCOME", "CAPPED_BY_INCOME", Decimal(600_000_00) / 3)
    decision = final_limit(300_000 * CNY, [exactly_a_third, regulation], rounding=100 * CNY, minimum=1_000 * CNY)
    assert decision.binding_caps == (exactly_a_third, regulation)


def test_the_decision_keeps_the_lowest_amount_it_rounded_down_from() -> None:
    decision = final_limit(200_000 * CNY, [REGULATION, INCOME], rounding=100 * CNY, minimum=1_000 * CNY)
    assert (decision.lowest, decision.amount) == (66_666_67, 66_600 * CNY)


def test_rounding_applies_to_the_base_limit_too() -> None:
    assert final_limit(12_345_67, [], rounding=100 * CNY, minimum=0).amount == 12_300 * CNY


def test_a_limit_below_the_minimum_is_not_offered_and_exactly_the_minimum_is() -> None:
    low = cap("LIM-INCOME", "CAPPED_BY_INCOME", 1_099_99)
    below = final_limit(30_000 * CNY, [low], rounding=100 * CNY, minimum=1_100 * CNY)
    assert (below.amount, below.binding_caps, below.offered) == (1_000 * CNY, (low,), False)
    exact = final_limit(30_000 * CNY, [low], rounding=100 * CNY, minimum=1_000 * CNY)
    assert (exact.amount, exact.offered) == (1_000 * CNY, True)


@pytest.mark.parametrize(("base", "rounding", "minimum"), [(-1, 100, 0), (100, 0, 0), (100, 100, -1)])
def test_rejects_negative_amounts_and_a_zero_rounding_unit(base: int, rounding: int, minimum: int) -> None:
    with pytest.raises(ValueError):
        final_limit(base, [], rounding=rounding, minimum=minimum)


def test_rejects_a_negative_cap() -> None:
    with pytest.raises(ValueError):
        final_limit(100, [cap("A", "C", -1)], rounding=1, minimum=0)


def test_apr_is_the_daily_rate_times_the_days_of_a_year_exactly() -> None:
    assert apr(Decimal("0.0002"), 365) == Decimal("0.073")
    assert str(apr(Decimal("0.0005"), 365)) == "0.1825"
    assert apr(Decimal("0.0004"), 360) == Decimal("0.144")


def test_apr_refuses_to_round_silently() -> None:
    with pytest.raises(Inexact):
        apr(Decimal("0." + "3" * 70), 365)


def test_a_rate_at_the_apr_cap_is_offered_and_one_above_it_is_not() -> None:
    cap = Decimal("0.24")
    assert within_apr_cap(Decimal("0.0004"), days_per_year=365, apr_cap=cap)  # 0.146
    assert within_apr_cap(Decimal("0.0008"), days_per_year=300, apr_cap=cap)  # exactly 0.24
    assert not within_apr_cap(Decimal("0.00066"), days_per_year=365, apr_cap=cap)  # 0.2409
    assert not within_apr_cap(Decimal("-0.0001"), days_per_year=365, apr_cap=cap)
