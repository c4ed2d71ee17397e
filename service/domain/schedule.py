"""Repayment schedules of a drawdown, in integer fen.

Conventions, the same for every method:

- Due dates fall monthly on the drawdown's day of month, counted from the start date (not from the previous
  due date) and clamped to the month's end: a drawdown on Jan 31 is due Feb 28 (29), Mar 31, Apr 30, ...
- Interest accrues daily, without compounding, on the principal outstanding during each period:
  interest_k = outstanding_k x daily_rate x days(due_{k-1}, due_k], with due_0 = the start date.
- Rounding: each instalment's interest is computed exactly and rounded once to whole fen, ROUND_HALF_UP.
  Principal amounts are whole fen by construction and the last instalment takes whatever principal remains,
  so principal sums exactly to the drawdown.
"""

from __future__ import annotations

import calendar
import math
from collections.abc import Callable
from datetime import date
from decimal import Decimal

from service.domain.model import Installment, RepaymentMethod
from service.domain.money import round_half_up_ratio_to_fen

DAYS_PER_YEAR = 365  # converts the daily rate to the monthly rate of the level payment: daily x 365 / 12
_MONTH_DAYS = (31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31)


def add_months(start: date, months: int) -> date:
    """`start` moved by whole months, keeping its day of month clamped to the month's end."""
    year, month = divmod(start.year * 12 + start.month - 1 + months, 12)  # month: 0 for January
    return date(year, month + 1, _day_in_month(start.day, year, month))


def due_dates(start: date, term_months: int) -> list[date]:
    """The monthly due dates of a term starting on `start`, one per month after it: add_months(start, k) for k
    from 1 to term_months, worked out in one loop (a call of add_months for each cost a quarter of a schedule)."""
    day = start.day
    after_start = start.year * 12 + start.month  # the month after start's, counted as add_months counts
    dates = []
    for months in range(after_start, after_start + term_months):
        year, month = divmod(months, 12)
        # Every month has a 28th: a schedule from the 1st to the 28th never needs to look at the calendar.
        dates.append(date(year, month + 1, day if day <= 28 else _day_in_month(day, year, month)))
    return dates


def _day_in_month(day: int, year: int, month: int) -> int:
    """`day`, or the last day of `month` (0 for January) of `year` if the month is shorter."""
    days = _MONTH_DAYS[month]
    if month == 1 and calendar.isleap(year):
        days = 29
    return day if day <= days else days


def build_schedule(
    principal: int, term_months: int, method: RepaymentMethod, daily_rate: Decimal, start: date
) -> tuple[Installment, ...]:
    """The instalments of a drawdown of `principal` fen made on `start` (see the module docstring).

    EQUAL_INSTALLMENT: level payments. The payment is the annuity of `principal` over `term_months` at the
    monthly rate daily_rate x 365 / 12, rounded ROUND_HALF_UP to fen. Each instalment but the last pays that
    amount, split into its actual-day interest and the rest as principal (never below 0 nor above what is
    outstanding); the last pays the remaining principal and its interest, so it may differ by a little.
    EQUAL_PRINCIPAL: principal // term_months each, the last adding the remainder (at most term - 1 fen).
    BULLET: one instalment at the term's end with all principal and the interest of the whole term.

    Raises ValueError unless principal > 0, term_months >= 1 and daily_rate is finite and >= 0.
    """
    if principal <= 0:
        raise ValueError(f"principal must be positive, got {principal}")
    if term_months < 1:
        raise ValueError(f"term_months must be at least 1, got {term_months}")
    if not daily_rate.is_finite() or daily_rate < 0:
        raise ValueError(f"daily_rate must be a finite, non-negative decimal, got {daily_rate}")
    if method is RepaymentMethod.BULLET:
        return _bullet(principal, term_months, daily_rate, start)
    if method is RepaymentMethod.EQUAL_PRINCIPAL:
        share = principal // term_months
        return _amortise(principal, daily_rate, start, term_months, lambda _interest: share)
    payment = level_payment(principal, term_months, daily_rate)
    return _amortise(principal, daily_rate, start, term_months, lambda interest: payment - interest)


def level_payment(principal: int, term_months: int, daily_rate: Decimal) -> int:
    """The annuity payment P r (1+r)^n / ((1+r)^n - 1) at r = daily_rate x 365 / 12, ROUND_HALF_UP to fen.

    Worked out exactly, in integers: with r = a / b it is P a (a+b)^n / (b ((a+b)^n - b^n)). A decimal context of
    any precision cuts 365 / 12 short, and a payment of exactly k and a half fen then came out k.4999... and rounded
    down. With a zero rate it is P / n, rounded the same way.
    """
    numerator, denominator = daily_rate.as_integer_ratio()
    a, b = numerator * DAYS_PER_YEAR, denominator * 12  # the monthly rate a / b
    if a == 0:
        return round_half_up_ratio_to_fen(principal, term_months)
    common = math.gcd(a, b)
    a, b = a // common, b // common
    growth = (a + b) ** term_months
    return round_half_up_ratio_to_fen(principal * a * growth, b * (growth - b**term_months))


def _interest(outstanding: int, rate: tuple[int, int], start: date, end: date) -> int:
    """outstanding x rate x days, rounded half up to whole fen. `rate`: the daily rate as an exact fraction
    (numerator, denominator), so that the product is exact without a decimal context."""
    numerator, denominator = rate
    return round_half_up_ratio_to_fen(outstanding * numerator * (end - start).days, denominator)


def _amortise(
    principal: int,
    daily_rate: Decimal,
    start: date,
    term_months: int,
    principal_part: Callable[[int], int],
) -> tuple[Installment, ...]:
    """Instalments whose principal is principal_part(interest) (clamped), the last taking the remainder."""
    outstanding = principal
    previous = start
    rate = daily_rate.as_integer_ratio()
    installments = []
    for number, due in enumerate(due_dates(start, term_months), start=1):
        interest = _interest(outstanding, rate, previous, due)
        paid = outstanding if number == term_months else principal_part(interest)
        if paid < 0:  # clamped by comparisons: min(max(...)) cost a tenth of the whole schedule
            paid = 0
        elif paid > outstanding:
            paid = outstanding
        installments.append(Installment(number, due, paid, interest))  # by position: cheaper than by keyword
        outstanding -= paid
        previous = due
    return tuple(installments)


def _bullet(principal: int, term_months: int, daily_rate: Decimal, start: date) -> tuple[Installment, ...]:
    due = add_months(start, term_months)
    interest = _interest(principal, daily_rate.as_integer_ratio(), start, due)
    return (Installment(number=1, due_date=due, principal=principal, interest=interest),)
