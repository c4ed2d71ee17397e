"""Money and decimal helpers: fen are int, rates are Decimal, and neither is ever written with an exponent."""

from __future__ import annotations

from decimal import MAX_PREC, Context, Decimal

FEN_PER_YUAN = 100
# The largest amount the service handles, in fen (just under ten trillion yuan, far above any real one): larger
# amounts in requests are refused, larger sums read as this, and every amount fits the rules' numbers.
MAX_FEN = 10**15 - 1

_AS_WRITTEN = Context(prec=MAX_PREC)  # normalize() rounds to its context's precision: this one never does


def decimal_text(value: Decimal) -> str:
    """`value` as a plain decimal string, no exponent, no trailing zeros: 0.0730 -> "0.073", 1E+2 -> "100".

    Raises ValueError for NaN and infinities.
    """
    if not value.is_finite():
        raise ValueError(f"not a finite decimal: {value}")
    if value == 0:
        return "0"  # also turns -0 into 0
    return format(value.normalize(_AS_WRITTEN), "f")


def format_fen_as_yuan(fen: int) -> str:
    """Fen shown as yuan with exactly two decimals, e.g. 1200000 -> "12000.00", -5 -> "-0.05"."""
    sign = "-" if fen < 0 else ""
    yuan, cents = divmod(abs(fen), FEN_PER_YUAN)
    return f"{sign}{yuan}.{cents:02d}"


def yuan_to_fen(yuan: Decimal | int) -> int:
    """Yuan to fen, exactly. Raises ValueError when the amount has a fraction of a fen or is not finite."""
    amount = Decimal(yuan)
    if not amount.is_finite():
        raise ValueError(f"not a finite amount: {yuan}")
    fen = amount * FEN_PER_YUAN
    if fen != fen.to_integral_value():
        raise ValueError(f"{yuan} CNY is not a whole number of fen")
    return int(fen)


def round_half_up_ratio_to_fen(numerator: int, denominator: int) -> int:
    """numerator / denominator fen rounded to whole fen, halves away from zero (1/2 -> 1, 5/2 -> 3, -5/2 -> -3),
    in integers: exact, and several times cheaper than forming the decimal quotient. `denominator` must be
    positive."""
    magnitude = (2 * abs(numerator) + denominator) // (2 * denominator)
    return -magnitude if numerator < 0 else magnitude
