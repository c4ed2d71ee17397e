import math
from datetime import date, timedelta
from decimal import ROUND_HALF_UP, Decimal, localcontext
from fractions import Fraction
from itertools import pairwise

import pytest
from hypothesis import given
from hypothesis import strategies as st

from service.domain.model import Installment, RepaymentMethod
from service.domain.schedule import add_months, build_schedule, level_payment

EQUAL_PRINCIPAL = RepaymentMethod.EQUAL_PRINCIPAL
EQUAL_INSTALLMENT = RepaymentMethod.EQUAL_INSTALLMENT
BULLET = RepaymentMethod.BULLET


def test_due_dates_keep_the_day_of_month_clamped_to_month_end() -> None:
    start = date(2024, 1, 31)
    assert [add_months(start, k) for k in range(1, 5)] == [
        date(2024, 2, 29),
        date(2024, 3, 31),
        date(2024, 4, 30),
        date(2024, 5, 31),
    ]
    assert add_months(date(2025, 12, 31), 2) == date(2026, 2, 28)


def test_equal_principal_12000_cny_over_12_months_at_0_0005_a_day_from_jan_31() -> None:
    schedule = build_schedule(1_200_000, 12, EQUAL_PRINCIPAL, Decimal("0.0005"), date(2026, 1, 31))
    # interest = outstanding x 0.0005 x days in the period: 600/day x 28 days, then 550/day x 31 days, ...
    expected_dates = [
        date(2026, 2, 28),
        date(2026, 3, 31),
        date(2026, 4, 30),
        date(2026, 5, 31),
        date(2026, 6, 30),
        date(2026, 7, 31),
        date(2026, 8, 31),
        date(2026, 9, 30),
        date(2026, 10, 31),
        date(2026, 11, 30),
        date(2026, 12, 31),
        date(2027, 1, 31),
    ]
    expected_interest = [16_800, 17_050, 15_000, 13_950, 12_000, 10_850, 9_300, 7_500, 6_200, 4_500, 3_100, 1_550]
    assert schedule == tuple(
        Installment(number=n, due_date=d, principal=100_000, interest=i)
        for n, (d, i) in enumerate(zip(expected_dates, expected_interest, strict=True), start=1)
    )
    assert sum(i.interest for i in schedule) == 117_800


def test_equal_principal_gives_the_remainder_fen_to_the_last_instalment() -> None:
    schedule = build_schedule(1_000_001, 3, EQUAL_PRINCIPAL, Decimal("0"), date(2026, 3, 1))
    assert [i.principal for i in schedule] == [333_333, 333_333, 333_335]
    assert [i.interest for i in schedule] == [0, 0, 0]


@pytest.mark.parametrize("rate", ["1E-72", "1E-85", "1E-300"])
def test_the_level_payment_at_a_tiny_rate_is_the_principal_over_the_term_to_the_fen(rate: str) -> None:
    """(1+r)^n - 1 keeps its digits however small r is: exactly 83,333,333,333.33 (+ a trace) rounds down."""
    assert level_payment(10**12, 12, Decimal(rate)) == 83_333_333_333


def test_equal_installment_3000_cny_over_3_months_at_0_0005_a_day_from_jan_31() -> None:
    # monthly rate 0.0005 x 365 / 12 = 0.01520833...; annuity of 300,000 fen over 3 months = 103,056.97 -> 103,057
    assert level_payment(300_000, 3, Decimal("0.0005")) == 103_057
    schedule = build_schedule(300_000, 3, EQUAL_INSTALLMENT, Decimal("0.0005"), date(2026, 1, 31))
    assert schedule == (
        # 300,000 x 0.0005 x 28 days = 4,200; principal 103,057 - 4,200
        Installment(number=1, due_date=date(2026, 2, 28), principal=98_857, interest=4_200),
        # 201,143 x 0.0005 x 31 = 3,117.7165 -> 3,118
        Installment(number=2, due_date=date(2026, 3, 31), principal=99_939, interest=3_118),
        # the last takes the remaining 101,204; 101,204 x 0.0005 x 30 = 1,518.06 -> 1,518
        Installment(number=3, due_date=date(2026, 4, 30), principal=101_204, interest=1_518),
    )


def test_a_level_payment_of_exactly_half_a_fen_rounds_up() -> None:
    """14,199,375 fen over 2 months at 0.00064 a day: the annuity is exactly 7,307,664.5 fen (monthly rate
    0.00064 x 365 / 12 = 0.019466...6 has no end in decimals, which once cut it short and rounded it down)."""
    assert _exact_level_payment(14_199_375, 2, Decimal("0.00064")) == Fraction(14_615_329, 2)
    assert level_payment(14_199_375, 2, Decimal("0.00064")) == 7_307_665
    assert level_payment(327_957_987_000, 3, Decimal("0.0004")) == 111_990_155_509  # ...508.5 exactly


@given(
    principal=st.integers(min_value=1, max_value=10**15),
    term=st.integers(min_value=1, max_value=360),
    rate=st.one_of(st.decimals(min_value=Decimal("0"), max_value=Decimal("0.001"), places=9),
                   st.sampled_from([Decimal("0.00064"), Decimal("0.000625"), Decimal("0.0004")])),
)
def test_the_level_payment_is_the_exact_annuity_rounded_half_up_once(principal: int, term: int, rate: Decimal) -> None:
    exact = _exact_level_payment(principal, term, rate)
    assert level_payment(principal, term, rate) == math.floor(exact + Fraction(1, 2))


def _exact_level_payment(principal: int, term: int, rate: Decimal) -> Fraction:
    """The annuity in exact fractions, as the README states it: P r (1+r)^n / ((1+r)^n - 1), r = daily x 365 / 12."""
    monthly = Fraction(rate) * 365 / 12
    if monthly == 0:
        return Fraction(principal, term)
    growth = (1 + monthly) ** term
    return principal * monthly * growth / (growth - 1)


def test_equal_installment_at_zero_rate_splits_principal_evenly() -> None:
    schedule = build_schedule(120_000, 12, EQUAL_INSTALLMENT, Decimal("0"), date(2026, 5, 15))
    assert {(i.principal, i.interest) for i in schedule} == {(10_000, 0)}


def test_bullet_pays_all_principal_and_the_whole_terms_interest_at_the_end() -> None:
    # 100,000 fen x 0.0003 x 31 days (Mar 15 -> Apr 15)
    assert build_schedule(100_000, 1, BULLET, Decimal("0.0003"), date(2026, 3, 15)) == (
        Installment(number=1, due_date=date(2026, 4, 15), principal=100_000, interest=930),
    )
    # 365 days from 2026-01-31 to 2027-01-31
    assert build_schedule(1_000_000, 12, BULLET, Decimal("0.0002"), date(2026, 1, 31)) == (
        Installment(number=1, due_date=date(2027, 1, 31), principal=1_000_000, interest=73_000),
    )


def test_interest_rounds_half_up_to_the_fen() -> None:
    # 1,500 x 0.0001 x 30 days = 4.5 fen: half up gives 5 (half even would give 4)
    (only,) = build_schedule(1_500, 1, BULLET, Decimal("0.0001"), date(2026, 4, 15))
    assert only.interest == 5
    # 12,345 x 0.0003 x 31 = 114.8085 -> 115
    (only,) = build_schedule(12_345, 1, BULLET, Decimal("0.0003"), date(2026, 3, 15))
    assert only.interest == 115


@pytest.mark.parametrize(
    ("principal", "term", "rate"),
    [(0, 3, "0.0005"), (-1, 3, "0.0005"), (100, 0, "0.0005"), (100, 3, "-0.0001"), (100, 3, "NaN")],
)
def test_rejects_non_positive_principal_term_and_bad_rates(principal: int, term: int, rate: str) -> None:
    with pytest.raises(ValueError):
        build_schedule(principal, term, EQUAL_PRINCIPAL, Decimal(rate), date(2026, 1, 1))


starts = st.dates(min_value=date(2000, 1, 1), max_value=date(2100, 12, 31))
end_of_month_starts = st.builds(
    lambda d: add_months(d.replace(day=1), 1) - timedelta(days=1) - timedelta(days=d.day % 3), starts
)
rates = st.decimals(min_value=Decimal("0"), max_value=Decimal("0.001"), places=6)
principals = st.integers(min_value=1, max_value=10**12)


@given(
    principal=principals,
    term=st.integers(min_value=1, max_value=36),
    method=st.sampled_from(list(RepaymentMethod)),
    rate=rates,
    start=st.one_of(starts, end_of_month_starts),
)
def test_every_schedule_repays_the_principal_exactly_with_valid_instalments(
    principal: int, term: int, method: RepaymentMethod, rate: Decimal, start: date
) -> None:
    schedule = build_schedule(principal, term, method, rate, start)

    assert sum(i.principal for i in schedule) == principal
    assert all(i.principal >= 0 and i.interest >= 0 for i in schedule)
    assert all(isinstance(i.principal, int) and isinstance(i.interest, int) for i in schedule)
    assert [i.number for i in schedule] == list(range(1, len(schedule) + 1))
    assert len(schedule) == (1 if method is BULLET else term)
    dates = [start, *(i.due_date for i in schedule)]
    assert all(a < b for a, b in pairwise(dates))
    last_due = schedule[-1].due_date
    assert (last_due.year * 12 + last_due.month) - (start.year * 12 + start.month) == term
    assert all(i.due_date.day == start.day or _is_month_end(i.due_date) for i in schedule)
    assert all(i.due_date.day <= start.day for i in schedule)


@given(
    principal=st.integers(min_value=10_000, max_value=10**12),
    term=st.sampled_from([3, 6, 12]),
    rate=st.decimals(min_value=Decimal("0"), max_value=Decimal("0.00066"), places=6),  # APR up to 24 %
    start=starts,
)
def test_equal_installments_pay_the_level_payment_and_the_last_stays_close_to_it(
    principal: int, term: int, rate: Decimal, start: date
) -> None:
    schedule = build_schedule(principal, term, EQUAL_INSTALLMENT, rate, start)
    payment = level_payment(principal, term, rate)
    assert [i.principal + i.interest for i in schedule[:-1]] == [payment] * (term - 1)
    last = schedule[-1].principal + schedule[-1].interest
    assert abs(last - payment) <= payment * Decimal("0.02")


@given(
    principal=principals,
    term=st.integers(min_value=1, max_value=36),
    method=st.sampled_from(list(RepaymentMethod)),
    rate=st.one_of(rates, st.decimals(min_value=Decimal("0"), max_value=Decimal("0.01"), places=18)),
    start=st.one_of(starts, end_of_month_starts),
)
def test_each_instalments_interest_is_the_exact_product_rounded_half_up_once(
    principal: int, term: int, method: RepaymentMethod, rate: Decimal, start: date
) -> None:
    schedule = build_schedule(principal, term, method, rate, start)

    outstanding, previous = principal, start
    for item in schedule:
        with localcontext() as exact:
            exact.prec = 200  # no rounding before the one to whole fen
            product = outstanding * rate * (item.due_date - previous).days
        assert item.interest == int(product.to_integral_value(rounding=ROUND_HALF_UP))
        outstanding, previous = outstanding - item.principal, item.due_date


def _is_month_end(day: date) -> bool:
    return (day + timedelta(days=1)).day == 1
