"""Credit lines, drawdowns and repayments: the ledger never overdraws, never over-repays, and always balances."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from datetime import datetime, timedelta, timezone
from decimal import Decimal

import pytest

from service.app.ports import Store, UnitOfWork
from service.domain.errors import OverRepayment, StoreUnavailable, UnknownDrawdown
from service.domain.model import CreditLine, LineStatus
from tests.storage.conftest import raw_connection
from tests.storage.records import T0, USER, a_drawdown, a_line, minutes


def line_of(store: Store, user_key: str = USER) -> CreditLine:
    with store.unit_of_work() as uow:
        line = uow.get_credit_line(user_key)
    assert line is not None
    return line


def open_total(store: Store, user_key: str = USER) -> int:
    with store.unit_of_work() as uow:
        return sum(d.outstanding_principal for d in uow.open_drawdowns(user_key))


def test_a_new_line_reads_back_as_saved_with_nothing_outstanding(store: Store) -> None:
    with store.unit_of_work() as uow:
        uow.save_credit_line(a_line())

    assert line_of(store) == a_line()


def test_reading_the_line_of_an_unknown_user_gives_none(store: Store) -> None:
    with store.unit_of_work() as uow:
        assert uow.get_credit_line("uk_nobody", for_update=True) is None


def test_saving_a_line_again_changes_its_terms_but_keeps_outstanding_principal_and_opening_time(
    store: Store,
) -> None:
    with store.unit_of_work() as uow:
        uow.save_credit_line(a_line(limit=100_000))
        uow.draw_down(a_drawdown(amount=30_000))
    regranted = replace(
        a_line(limit=200_000, status=LineStatus.FROZEN),
        outstanding_principal=0,
        daily_interest_rate=Decimal("0.0002"),
        residence_country="HK",
        opened_at=T0 + timedelta(days=30),
        updated_at=T0 + timedelta(days=30),
    )

    with store.unit_of_work() as uow:
        uow.save_credit_line(regranted)

    expected = replace(regranted, outstanding_principal=30_000, opened_at=T0)
    assert line_of(store) == expected


def test_a_granted_line_is_inserted_or_updated_as_decided_from_the_line_read(store: Store) -> None:
    with store.unit_of_work() as uow:
        uow.save_granted_line(a_line(limit=100_000), uow.get_credit_line(USER, for_update=True))
    with store.unit_of_work() as uow:
        read = uow.get_credit_line(USER, for_update=True)
        uow.save_granted_line(replace(a_line(limit=300_000), updated_at=T0 + minutes(1)), read)

    assert line_of(store) == replace(a_line(limit=300_000), updated_at=T0 + minutes(1))


FROZEN_BY_THE_BACK_OFFICE = (  # a writer that takes none of the service's locks
    "UPDATE credit_lines SET status = 'FROZEN' WHERE user_key = %(user_key)s",
    "INSERT INTO credit_lines (user_key, credit_limit, outstanding_principal, daily_interest_rate, status,"
    " residence_country, opened_at, updated_at) VALUES (%(user_key)s, 5000, 0, '0.0005', 'FROZEN', 'CN', 0, 0)",
)


@pytest.mark.parametrize("existing", [True, False], ids=["line-frozen-meanwhile", "line-created-frozen-meanwhile"])
def test_a_grant_decided_on_a_line_a_writer_then_froze_or_created_writes_nothing_and_fails_retryably(
    store: Store, database_url: str, existing: bool
) -> None:
    """GrantLimit decides a line's status from the line it read; had another writer frozen it (or created it frozen)
    meanwhile, writing the decision would turn a frozen line ACTIVE and drawable."""
    if existing:
        with store.unit_of_work() as uow:
            uow.save_credit_line(a_line(limit=100_000))
    sql = FROZEN_BY_THE_BACK_OFFICE[0 if existing else 1]
    if database_url.startswith("postgresql"):
        sql = sql.replace("0, 0)", "now(), now())")
    else:
        sql = sql.replace("%(user_key)s", ":user_key")

    with pytest.raises(StoreUnavailable, match="the credit line changed"), store.unit_of_work() as uow:
        read = uow.get_credit_line(USER)  # read as GrantLimit reads it (under its lock, which this writer ignores)
        with raw_connection(database_url) as back_office:
            back_office.execute(sql, {"user_key": USER})
        uow.save_granted_line(a_line(limit=300_000), read)

    assert line_of(store).status is LineStatus.FROZEN


# A drawdown on a line its unit of work has locked is decided from the line as read (and its UPDATE checks the
# line is unchanged); on any other line by the conditional UPDATE alone. Both must give the same answers.
LOCKED = pytest.mark.parametrize("locked", [False, True], ids=["unlocked", "locked"])


def lock_if(uow: UnitOfWork, locked: bool) -> None:
    if locked:
        uow.get_credit_line(USER, for_update=True)


@LOCKED
def test_draw_down_raises_outstanding_and_records_the_drawdown_with_its_schedule(store: Store, locked: bool) -> None:
    drawdown = a_drawdown(amount=25_000, at=T0 + minutes(5))
    with store.unit_of_work() as uow:
        uow.save_credit_line(a_line(limit=100_000))
    with store.unit_of_work() as uow:
        lock_if(uow, locked)
        after = uow.draw_down(drawdown)

    assert after == replace(a_line(), outstanding_principal=25_000, updated_at=T0 + minutes(5)) == line_of(store)
    assert after.available_limit == 75_000
    with store.unit_of_work() as uow:
        assert uow.get_drawdown(USER, drawdown.drawdown_id) == drawdown


@LOCKED
def test_draw_down_up_to_exactly_the_limit_is_accepted_and_one_fen_more_is_refused_writing_nothing(
    store: Store, locked: bool
) -> None:
    with store.unit_of_work() as uow:
        uow.save_credit_line(a_line(limit=50_000))
    with store.unit_of_work() as uow:
        lock_if(uow, locked)
        assert uow.draw_down(a_drawdown(amount=30_000)) is not None
    refused = a_drawdown(amount=20_001)

    with store.unit_of_work() as uow:
        lock_if(uow, locked)
        assert uow.draw_down(refused) is None
        assert uow.draw_down(a_drawdown(amount=20_000)) is not None

    assert line_of(store).outstanding_principal == 50_000
    with store.unit_of_work() as uow:
        assert uow.get_drawdown(USER, refused.drawdown_id) is None


@LOCKED
@pytest.mark.parametrize("status", [LineStatus.FROZEN, LineStatus.CLOSED])
def test_draw_down_on_a_line_that_is_not_active_is_refused(store: Store, status: LineStatus, locked: bool) -> None:
    with store.unit_of_work() as uow:
        uow.save_credit_line(a_line(status=status))

    with store.unit_of_work() as uow:
        lock_if(uow, locked)
        assert uow.draw_down(a_drawdown(amount=1_000)) is None

    assert line_of(store).outstanding_principal == 0
    assert open_total(store) == 0


def test_draw_down_without_a_credit_line_is_refused(store: Store) -> None:
    with store.unit_of_work() as uow:
        assert uow.draw_down(a_drawdown(user_key="uk_nobody")) is None


@LOCKED
def test_concurrent_drawdowns_against_one_line_never_exceed_its_limit(store: Store, locked: bool) -> None:
    limit, amount, threads = 100_000, 7_000, 32
    with store.unit_of_work() as uow:
        uow.save_credit_line(a_line(limit=limit))
    start = threading.Barrier(threads)

    def draw(_: int) -> bool:
        start.wait()
        with store.unit_of_work() as uow:
            # Reading first and deciding on a stale view must not matter: the UPDATE re-checks. Locked, nobody
            # changes the line between the read and the UPDATE.
            uow.get_credit_line(USER, for_update=locked)
            return uow.draw_down(a_drawdown(amount=amount)) is not None

    with ThreadPoolExecutor(threads) as pool:
        approved = sum(pool.map(draw, range(threads)))

    assert approved == limit // amount
    assert line_of(store).outstanding_principal == approved * amount == open_total(store)


def test_locking_the_line_for_update_serializes_read_then_write(store: Store) -> None:
    with store.unit_of_work() as uow:
        uow.save_credit_line(a_line(limit=1_000))
    threads, rounds = 8, 5
    start = threading.Barrier(threads)

    def raise_limit_by_one(_: int) -> None:
        start.wait()
        for _round in range(rounds):
            with store.unit_of_work() as uow:
                line = uow.get_credit_line(USER, for_update=True)
                assert line is not None
                uow.save_credit_line(replace(line, credit_limit=line.credit_limit + 1))

    with ThreadPoolExecutor(threads) as pool:
        list(pool.map(raise_limit_by_one, range(threads)))

    assert line_of(store).credit_limit == 1_000 + threads * rounds


def test_repayment_reduces_outstanding_and_restores_the_available_limit(store: Store) -> None:
    drawdown = a_drawdown(amount=10_000)
    with store.unit_of_work() as uow:
        uow.save_credit_line(a_line(limit=20_000))
        uow.draw_down(drawdown)

    with store.unit_of_work() as uow:
        after = uow.repay(USER, drawdown.drawdown_id, 4_000, T0 + minutes(60))

    assert (after.outstanding_principal, after.available_limit) == (6_000, 14_000)
    assert after.updated_at == T0 + minutes(60)
    with store.unit_of_work() as uow:
        stored = uow.get_drawdown(USER, drawdown.drawdown_id)
    assert stored is not None
    assert (stored.repaid_principal, stored.outstanding_principal) == (4_000, 6_000)


def test_over_repayment_is_refused_and_leaves_line_and_drawdown_intact(store: Store) -> None:
    drawdown = a_drawdown(amount=10_000)
    with store.unit_of_work() as uow:
        uow.save_credit_line(a_line())
        uow.draw_down(drawdown)
        uow.repay(USER, drawdown.drawdown_id, 3_000, T0)

    # Caught inside the transaction, which then commits: still nothing may have been written.
    with store.unit_of_work() as uow, pytest.raises(OverRepayment) as refused:
        uow.repay(USER, drawdown.drawdown_id, 7_001, T0)

    assert (refused.value.outstanding, refused.value.requested) == (7_000, 7_001)
    assert line_of(store).outstanding_principal == 7_000
    with store.unit_of_work() as uow:
        stored = uow.get_drawdown(USER, drawdown.drawdown_id)
    assert stored is not None
    assert stored.repaid_principal == 3_000


def test_repaying_a_drawdown_in_full_closes_it(store: Store) -> None:
    drawdown = a_drawdown(amount=10_000)
    with store.unit_of_work() as uow:
        uow.save_credit_line(a_line())
        uow.draw_down(drawdown)

    with store.unit_of_work() as uow:
        after = uow.repay(USER, drawdown.drawdown_id, 10_000, T0)
        assert uow.open_drawdowns(USER) == []

    assert after.outstanding_principal == 0


@pytest.mark.parametrize(
    ("user_key", "drawdown_id"),
    [(USER, "dd_unknown"), ("uk_other", "OWN"), ("uk_without_line", "OWN")],
    ids=["unknown id", "another user's drawdown", "user without a line"],
)
def test_repaying_an_unknown_drawdown_raises_unknown_drawdown(store: Store, user_key: str, drawdown_id: str) -> None:
    drawdown = a_drawdown(amount=10_000)
    with store.unit_of_work() as uow:
        uow.save_credit_line(a_line())
        uow.save_credit_line(a_line("uk_other"))
        uow.draw_down(drawdown)

    with pytest.raises(UnknownDrawdown), store.unit_of_work() as uow:
        uow.repay(user_key, drawdown.drawdown_id if drawdown_id == "OWN" else drawdown_id, 1_000, T0)

    assert line_of(store).outstanding_principal == 10_000


def test_open_drawdowns_lists_those_with_principal_outstanding_oldest_first(store: Store) -> None:
    oldest, repaid, newest = (a_drawdown(amount=1_000, at=T0 + minutes(n)) for n in (1, 2, 3))
    with store.unit_of_work() as uow:
        uow.save_credit_line(a_line())
        for drawdown in (newest, oldest, repaid):
            uow.draw_down(drawdown)
        uow.repay(USER, repaid.drawdown_id, 1_000, T0 + minutes(4))
        uow.repay(USER, newest.drawdown_id, 400, T0 + minutes(4))

    with store.unit_of_work() as uow:
        listed = uow.open_drawdowns(USER)

    assert [(d.drawdown_id, d.repaid_principal) for d in listed] == [
        (oldest.drawdown_id, 0),
        (newest.drawdown_id, 400),
    ]


def test_open_drawdowns_made_before_a_moment_leave_the_later_ones_out(store: Store) -> None:
    earlier, at_the_moment, later = (a_drawdown(amount=1_000, at=T0 + minutes(n)) for n in (-1, 0, 1))
    with store.unit_of_work() as uow:
        uow.save_credit_line(a_line())
        for drawdown in (later, earlier, at_the_moment):
            uow.draw_down(drawdown)

    with store.unit_of_work() as uow:
        listed = uow.open_drawdowns(USER, created_before=T0)

    assert [d.drawdown_id for d in listed] == [earlier.drawdown_id]


def test_concurrent_repayments_and_drawdowns_keep_the_totals_exact(store: Store) -> None:
    limit = 1_000_000
    seeded = [a_drawdown(amount=10_000) for _ in range(4)]
    with store.unit_of_work() as uow:
        uow.save_credit_line(a_line(limit=limit))
        for drawdown in seeded:
            uow.draw_down(drawdown)
    threads = 32
    start = threading.Barrier(threads)

    def act(n: int) -> tuple[int, int]:
        """Even threads draw down, odd ones repay; returns (drawn, repaid) as committed."""
        start.wait()
        if n % 2 == 0:
            with store.unit_of_work() as uow:
                drawn = uow.draw_down(a_drawdown(amount=5_000 + n)) is not None
            return (5_000 + n if drawn else 0, 0)
        try:  # four repayments of 3,000 race for each 10,000 drawdown: exactly one must be refused
            with store.unit_of_work() as uow:
                uow.repay(USER, seeded[n // 2 % len(seeded)].drawdown_id, 3_000, T0)
        except OverRepayment:
            return (0, 0)
        return (0, 3_000)

    with ThreadPoolExecutor(threads) as pool:
        results = list(pool.map(act, range(threads)))
    drawn = sum(d for d, _ in results)
    repaid = sum(r for _, r in results)

    assert repaid == 4 * 3 * 3_000
    assert line_of(store).outstanding_principal == 40_000 + drawn - repaid == open_total(store)


def test_rates_and_times_round_trip_exactly(store: Store) -> None:
    rate = Decimal("0.000123456789012345678901234567")
    china = timezone(timedelta(hours=8))
    opened = datetime(2026, 1, 31, 23, 59, 59, 999999, tzinfo=china)
    line = replace(a_line(), daily_interest_rate=rate, opened_at=opened, updated_at=opened)
    drawdown = replace(a_drawdown(at=opened), daily_interest_rate=Decimal("0.00050"))
    with store.unit_of_work() as uow:
        uow.save_credit_line(line)
        uow.draw_down(drawdown)

    with store.unit_of_work() as uow:
        stored_line = uow.get_credit_line(USER)
        stored_drawdown = uow.get_drawdown(USER, drawdown.drawdown_id)

    assert stored_line is not None
    assert stored_drawdown is not None
    assert str(stored_line.daily_interest_rate) == "0.000123456789012345678901234567"
    assert str(stored_drawdown.daily_interest_rate) == "0.00050"
    assert stored_line.opened_at == opened
    assert stored_line.opened_at.utcoffset() == timedelta(0)
    assert stored_line.opened_at.isoformat() == "2026-01-31T15:59:59.999999+00:00"
    assert stored_drawdown.created_at == opened


def test_naive_datetimes_are_refused_rather_than_guessed(store: Store) -> None:
    naive = datetime(2026, 3, 1, 9, 30)
    with pytest.raises(ValueError, match="naive datetime"), store.unit_of_work() as uow:
        uow.save_credit_line(replace(a_line(), opened_at=naive, updated_at=naive))


def test_a_unit_of_work_that_raises_writes_nothing(store: Store) -> None:
    class Abandon(Exception):
        pass

    with pytest.raises(Abandon), store.unit_of_work() as uow:
        uow.save_credit_line(a_line())
        uow.draw_down(a_drawdown())
        raise Abandon

    with store.unit_of_work() as uow:
        assert uow.get_credit_line(USER) is None
        assert uow.open_drawdowns(USER) == []
