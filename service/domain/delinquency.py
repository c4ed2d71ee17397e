"""How late a credit line is: days past due of its oldest unpaid instalment."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, timedelta

from service.domain.model import Drawdown

# A drawdown's first instalment falls due a month after the drawdown's date, at least 28 calendar days later
# (Jan 31 -> Feb 28): one made less than this long ago cannot be late yet, so it need not be read at all.
NOT_YET_DUE = timedelta(days=28)


def days_past_due(drawdowns: Sequence[Drawdown], today: date) -> int:
    """The line's days past due: the largest over its drawdowns, 0 when nothing is late.

    Repayments reduce principal only, oldest instalment first, so a drawdown's oldest unpaid instalment is the
    first whose cumulative scheduled principal exceeds repaid_principal. It is late from the day after its
    due date: days past due = today - due_date when positive. Interest is not tracked here.
    """
    return max((_drawdown_days_past_due(d, today) for d in drawdowns), default=0)


def _drawdown_days_past_due(drawdown: Drawdown, today: date) -> int:
    scheduled = 0
    for installment in sorted(drawdown.schedule, key=lambda i: i.number):
        scheduled += installment.principal
        if scheduled > drawdown.repaid_principal:
            return max((today - installment.due_date).days, 0)
    return 0
