from datetime import UTC, date, datetime
from decimal import Decimal

from service.domain.delinquency import days_past_due
from service.domain.model import Drawdown, Installment, RepaymentMethod

SCHEDULE = (
    Installment(1, date(2026, 2, 28), 100_000, 1_000),
    Installment(2, date(2026, 3, 31), 100_000, 500),
    Installment(3, date(2026, 4, 30), 100_000, 250),
)


def drawdown(repaid: int, schedule: tuple[Installment, ...] = SCHEDULE) -> Drawdown:
    return Drawdown(
        drawdown_id="d1",
        user_key="u",
        amount=sum(i.principal for i in schedule),
        term_months=len(schedule),
        repayment_method=RepaymentMethod.EQUAL_PRINCIPAL,
        daily_interest_rate=Decimal("0.0005"),
        purpose="CONSUMPTION",
        created_at=datetime(2026, 1, 31, tzinfo=UTC),
        schedule=schedule,
        repaid_principal=repaid,
    )


def test_nothing_is_past_due_on_the_due_date_and_one_day_after_it_is() -> None:
    assert days_past_due([drawdown(0)], date(2026, 2, 28)) == 0
    assert days_past_due([drawdown(0)], date(2026, 3, 1)) == 1


def test_counts_from_the_oldest_instalment_not_covered_by_repaid_principal() -> None:
    today = date(2026, 4, 10)
    assert days_past_due([drawdown(0)], today) == 41  # Feb 28 unpaid
    assert days_past_due([drawdown(99_999)], today) == 41  # Feb 28 not fully covered
    assert days_past_due([drawdown(100_000)], today) == 10  # Mar 31 next
    assert days_past_due([drawdown(200_000)], today) == 0  # Apr 30 not yet due


def test_a_fully_repaid_drawdown_is_never_late() -> None:
    assert days_past_due([drawdown(300_000)], date(2027, 1, 1)) == 0


def test_the_line_is_as_late_as_its_latest_drawdown() -> None:
    today = date(2026, 4, 10)
    assert days_past_due([drawdown(200_000), drawdown(0), drawdown(100_000)], today) == 41


def test_no_drawdowns_means_zero() -> None:
    assert days_past_due([], date(2026, 4, 10)) == 0


def test_instalments_are_read_in_number_order_whatever_the_stored_order() -> None:
    assert days_past_due([drawdown(100_000, SCHEDULE[::-1])], date(2026, 4, 10)) == 10
