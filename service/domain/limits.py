"""Credit limit arithmetic: the lowest of a base limit and its caps, rounded down; APR and its cap."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Context, Decimal, Inexact
from typing import Generic, Protocol, TypeVar


class Cap(Protocol):
    """A cap evaluated for one applicant, e.g. a third of annual income: its `amount` in whole fen (rounded down)
    and its `exact` value in fen before rounding, on which whether it binds is judged."""

    @property
    def amount(self) -> int: ...

    @property
    def exact(self) -> Decimal: ...


CapT = TypeVar("CapT", bound=Cap)


@dataclass(frozen=True)
class LimitDecision(Generic[CapT]):
    amount: int  # fen: the lowest of base and caps, rounded down to the rounding unit
    binding_caps: tuple[CapT, ...]  # the caps that lowered the limit below the base, in the order given
    offered: bool  # False when amount is below the minimum: the caller declines and grants nothing
    lowest: int  # fen: the lowest of base and caps, before rounding down


def final_limit(base_limit: int, caps: Sequence[CapT], *, rounding: int, minimum: int) -> LimitDecision[CapT]:
    """The limit to grant: min(base_limit, caps), rounded DOWN to a multiple of `rounding` fen.

    A cap binds when it is strictly below the base and is the lowest cap; caps tied at that lowest amount
    all bind (each reason is true). A cap equal to the base does not bind. Whether a cap binds is judged on its
    exact value, so that a cap rounded down to the fen does not tie with one it is above (a third of 600,000.01
    CNY is not the 200,000 CNY of a regulation cap, though both are 200,000.00 CNY to the fen). The limit is
    offered when it is at least `minimum` fen. Raises ValueError for negative amounts or a rounding unit below 1 fen.
    """
    if rounding < 1:
        raise ValueError(f"rounding must be at least 1 fen, got {rounding}")
    if base_limit < 0 or minimum < 0 or any(cap.amount < 0 for cap in caps):
        raise ValueError("limits, caps and the minimum must not be negative")
    lowest = min([base_limit, *(cap.amount for cap in caps)])
    lowest_exact = min([Decimal(base_limit), *(cap.exact for cap in caps)])
    binding = tuple(cap for cap in caps if cap.exact == lowest_exact) if lowest_exact < base_limit else ()
    amount = lowest - lowest % rounding
    return LimitDecision(amount=amount, binding_caps=binding, offered=amount >= minimum, lowest=lowest)


_EXACT = Context(prec=60)  # an explicit context (cheaper than a localcontext() per call): ...
_EXACT.traps[Inexact] = True  # ... that refuses to round


def apr(daily_rate: Decimal, days_per_year: int) -> Decimal:
    """The annual percentage rate daily_rate x days_per_year, exactly (0.0002 x 365 = 0.0730).

    Raises ValueError for a non-finite rate or a non-positive year, and decimal.Inexact if the product
    cannot be held exactly (a rate with dozens of digits).
    """
    if not daily_rate.is_finite():
        raise ValueError(f"not a finite rate: {daily_rate}")
    if days_per_year < 1:
        raise ValueError(f"days_per_year must be positive, got {days_per_year}")
    return _EXACT.multiply(daily_rate, days_per_year)


def within_apr_cap(daily_rate: Decimal, *, days_per_year: int, apr_cap: Decimal) -> bool:
    """Whether a daily rate may be offered: non-negative and its APR at most the cap (equal is allowed)."""
    annual = apr(daily_rate, days_per_year)
    return daily_rate >= 0 and annual <= apr_cap
