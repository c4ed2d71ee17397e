from decimal import ROUND_HALF_UP, Decimal, localcontext

import pytest
from hypothesis import given
from hypothesis import strategies as st

from service.domain.money import (
    decimal_text,
    format_fen_as_yuan,
    round_half_up_ratio_to_fen,
    yuan_to_fen,
)


@pytest.mark.parametrize(
    ("value", "text"),
    [
        ("0.0002", "0.0002"),
        ("0.0730", "0.073"),
        ("0.1825", "0.1825"),
        ("1E+2", "100"),
        ("1E-7", "0.0000001"),
        ("0.000000", "0"),
        ("-0", "0"),
        ("-1.50", "-1.5"),
        ("0.00065753424657534246575342465753", "0.00065753424657534246575342465753"),  # all 32 digits, unrounded
    ],
)
def test_decimal_text_never_has_an_exponent_or_trailing_zeros(value: str, text: str) -> None:
    assert decimal_text(Decimal(value)) == text


@pytest.mark.parametrize("value", ["NaN", "Infinity", "-Infinity"])
def test_decimal_text_rejects_non_finite_values(value: str) -> None:
    with pytest.raises(ValueError):
        decimal_text(Decimal(value))


def test_fen_show_as_yuan_with_two_decimals() -> None:
    assert [format_fen_as_yuan(f) for f in (1_200_000, 5, 0, -105)] == ["12000.00", "0.05", "0.00", "-1.05"]


def test_yuan_convert_to_fen_exactly_or_not_at_all() -> None:
    assert yuan_to_fen(Decimal("300000")) == 30_000_000
    assert yuan_to_fen(Decimal("0.01")) == 1
    assert yuan_to_fen(12) == 1_200
    with pytest.raises(ValueError):
        yuan_to_fen(Decimal("0.005"))
    with pytest.raises(ValueError):
        yuan_to_fen(Decimal("Infinity"))


def test_half_fen_round_away_from_zero() -> None:
    assert [round_half_up_ratio_to_fen(n, d) for n, d in ((5, 2), (7, 2), (24_999, 10_000), (-5, 2))] == [3, 4, 2, -3]


@given(numerator=st.integers(min_value=-(10**40), max_value=10**40), denominator=st.integers(1, 10**30))
def test_a_ratio_of_integers_rounds_to_fen_as_its_exact_decimal_quotient_does(numerator: int, denominator: int) -> None:
    with localcontext() as exact:
        exact.prec = 200  # the quotient's digits up to the fen and beyond, before the one rounding
        quotient = Decimal(numerator) / Decimal(denominator)
    assert round_half_up_ratio_to_fen(numerator, denominator) == int(quotient.to_integral_value(rounding=ROUND_HALF_UP))
