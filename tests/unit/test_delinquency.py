from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

from hypothesis import given
from hypothesis import strategies as st

from service.app.clock import business_date
from service.domain.delinquency import NOT_YET_DUE, days_past_due
from service.domain.model import Drawdown, Installment, RepaymentMethod
from service.domain.schedule import build_schedule

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


@given(
    made_at=st.datetimes(min_value=datetime(2000, 1, 1), max_value=datetime(2090, 1, 1), timezones=st.just(UTC)),
    later=st.timedeltas(min_value=timedelta(0), max_value=NOT_YET_DUE - timedelta(microseconds=1)),
    term=st.integers(1, 36),
    method=st.sampled_from(RepaymentMethod),
)
def test_a_drawdown_is_never_late_within_the_not_yet_due_period_after_it_was_made(
    made_at: datetime, later: timedelta, term: int, method: RepaymentMethod
) -> None:
    # as the service makes one: its schedule starts on the business date of the moment it was made
    schedule = build_schedule(100_000, term, method, Decimal("0.0005"), business_date(made_at))
    made = Drawdown("d1", "u", 100_000, term, method, Decimal("0.0005"), "CONSUMPTION", made_at, schedule)
    assert days_past_due([made], business_date(made_at + later)) == 0
