from dataclasses import replace
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest

from service.domain.fraud_features import (
    RATIO_PLACES,
    CurrentEvent,
    HistorySummary,
    compute_features,
    ratio,
    share_of_available_limit,
)
from service.domain.model import EventType
from service.engine.catalogue import FEATURE_FIELDS
from service.engine.parser import DECIMAL_PLACES

AT = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
HOUR = timedelta(hours=1)
DRAWDOWN, TRANSFER_OUT = EventType.DRAWDOWN, EventType.TRANSFER_OUT


QUIET = HistorySummary()


def features(
    activity: HistorySummary,
    event: CurrentEvent | None = None,
    *,
    device_seen_before: bool = True,
    counterparty_first_seen: datetime | None = None,
    available_limit: int | None = 1_000_000,
) -> dict[str, object]:
    """The features of `event` against `activity`, with the store's answers on its device and counterparty."""
    history = replace(
        activity, device_seen_before=device_seen_before, counterparty_first_seen=counterparty_first_seen
    )
    return compute_features(
        history, event or CurrentEvent(DRAWDOWN, 100_000, AT, device_id="dev"), available_limit=available_limit
    )


def test_returns_exactly_the_catalogues_feature_fields_and_the_transactions_share() -> None:
    expected = {f.name for f in FEATURE_FIELDS} | {"transaction.share_of_available_limit"}
    assert set(features(QUIET)) == expected


def test_a_quiet_history_gives_zero_features() -> None:
    assert features(QUIET) == {
        "features.drawdowns_last_hour": 0,
        "features.drawdown_amount_last_hour": 0,
        "features.credential_changed_last_24h": False,
        "features.device_seen_before": True,
        "features.counterparty_new_last_24h": False,
        "features.transfer_out_last_hour": 0,
        "features.transfer_out_ratio_last_hour": Decimal(0),
        "transaction.share_of_available_limit": Decimal("0.1"),
    }


def test_the_history_summary_gives_the_hours_drawdowns_and_the_days_credential_changes() -> None:
    activity = HistorySummary(drawdowns_last_hour=3, drawdown_amount_last_hour=30_000, credential_changed_last_24h=True)
    result = features(activity, CurrentEvent(DRAWDOWN, 10_000, AT))
    assert result["features.drawdowns_last_hour"] == 3  # the current drawdown is not among them: it is the 4th
    assert result["features.drawdown_amount_last_hour"] == 30_000
    assert result["features.credential_changed_last_24h"] is True


def test_device_seen_before_is_passed_through() -> None:
    assert features(QUIET, device_seen_before=False)["features.device_seen_before"] is False


@pytest.mark.parametrize(
    ("first_seen", "new"),
    [
        (None, True),  # appears now
        (AT, True),
        (AT - timedelta(hours=24) + timedelta(microseconds=1), True),
        (AT - timedelta(hours=24), False),  # not less than 24 hours ago
        (AT - timedelta(days=30), False),
    ],
)
def test_a_counterparty_is_new_when_first_seen_less_than_24_hours_ago(first_seen: datetime | None, new: bool) -> None:
    transfer = CurrentEvent(TRANSFER_OUT, 5_000, AT, counterparty_id="cp")
    result = features(QUIET, transfer, counterparty_first_seen=first_seen)
    assert result["features.counterparty_new_last_24h"] is new


def test_an_event_without_counterparty_has_no_new_counterparty() -> None:
    assert features(QUIET, counterparty_first_seen=None)["features.counterparty_new_last_24h"] is False


def test_transfers_out_include_this_one_and_are_compared_with_the_hours_drawdowns() -> None:
    activity = HistorySummary(
        drawdowns_last_hour=1, drawdown_amount_last_hour=1_000_000, transfer_out_last_hour=400_000
    )
    transfer = CurrentEvent(TRANSFER_OUT, 500_000, AT, counterparty_id="cp")
    result = features(activity, transfer, counterparty_first_seen=AT - timedelta(minutes=10))
    assert result["features.transfer_out_last_hour"] == 900_000
    assert result["features.transfer_out_ratio_last_hour"] == Decimal("0.9")
    assert result["features.counterparty_new_last_24h"] is True


def test_only_a_transfer_out_adds_itself_to_the_hours_transfers() -> None:
    activity = HistorySummary(
        drawdowns_last_hour=1, drawdown_amount_last_hour=1_000_000, transfer_out_last_hour=400_000
    )
    result = features(activity, CurrentEvent(EventType.PAYMENT, 500_000, AT))
    assert result["features.transfer_out_last_hour"] == 400_000
    assert result["features.transfer_out_ratio_last_hour"] == Decimal("0.4")


def test_the_transfer_ratio_is_zero_without_drawdowns_in_the_hour() -> None:
    transfer = CurrentEvent(TRANSFER_OUT, 500_000, AT, counterparty_id="cp")
    result = features(QUIET, transfer)
    assert result["features.transfer_out_last_hour"] == 500_000
    assert result["features.transfer_out_ratio_last_hour"] == Decimal(0)


def test_ratios_round_down_so_they_never_reach_a_threshold_the_exact_value_misses() -> None:
    assert ratio(8_999_999_999, 10_000_000_000) == Decimal("0.899999999")
    assert ratio(2, 3) == Decimal("0.666666666")
    assert str(ratio(1, 8)) == "0.125000000"


def test_ratios_keep_as_many_places_as_a_rule_may_write() -> None:
    """A threshold of 9 places (0.3333333) must compare with the exact share: 66,666.67 of 200,000 CNY is
    0.33333335, which at 6 places read as 0.333333 and missed `>= 0.3333333`."""
    assert RATIO_PLACES == DECIMAL_PLACES
    assert share_of_available_limit(6_666_667, 20_000_000) == Decimal("0.333333350")
    assert share_of_available_limit(6_666_667, 20_000_000) >= Decimal("0.3333333")


@pytest.mark.parametrize(
    ("amount", "available", "share"),
    [
        (500_000, 1_000_000, Decimal("0.5")),
        (1_500_000, 1_000_000, Decimal("1.5")),
        (1, 3, Decimal("0.333333333")),
        (100, 0, Decimal(1)),  # nothing available
        (0, 0, Decimal(0)),  # no money moves
        (100, None, Decimal(0)),  # no line
    ],
)
def test_share_of_available_limit(amount: int, available: int | None, share: Decimal) -> None:
    assert share_of_available_limit(amount, available) == share


def test_the_transactions_share_uses_the_available_limit_before_it() -> None:
    event = CurrentEvent(DRAWDOWN, 600_000, AT)
    assert features(QUIET, event, available_limit=1_000_000)["transaction.share_of_available_limit"] == Decimal("0.6")
    assert features(QUIET, event, available_limit=None)["transaction.share_of_available_limit"] == Decimal(0)


def test_naive_datetimes_are_rejected() -> None:
    with pytest.raises(ValueError):
        features(QUIET, CurrentEvent(DRAWDOWN, 1, AT.replace(tzinfo=None)))
    with pytest.raises(ValueError):
        features(QUIET, counterparty_first_seen=AT.replace(tzinfo=None) - HOUR)


def test_ratios_are_capped_at_a_million_so_huge_amounts_stay_valid_facts() -> None:
    from service.domain.fraud_features import MAX_RATIO, ratio, share_of_available_limit

    assert ratio(10**15, 1) == MAX_RATIO
    assert share_of_available_limit(10**15, 1) == MAX_RATIO
    assert ratio(3, 2) == Decimal("1.5")


def test_sums_beyond_the_largest_amount_read_as_it_so_a_rule_reading_them_still_decides() -> None:
    from service.domain.money import MAX_FEN
    from service.engine.parser import INT_LIMIT

    assert MAX_FEN == INT_LIMIT - 1  # the largest amount a fact can hold
    activity = HistorySummary(
        drawdowns_last_hour=3, drawdown_amount_last_hour=3 * MAX_FEN, transfer_out_last_hour=2 * MAX_FEN
    )
    result = features(activity, CurrentEvent(TRANSFER_OUT, MAX_FEN, AT, counterparty_id="cp"))
    assert result["features.drawdown_amount_last_hour"] == MAX_FEN
    assert result["features.transfer_out_last_hour"] == MAX_FEN
    assert result["features.transfer_out_ratio_last_hour"] == Decimal(1)  # from the exact sums: 3 MAX_FEN / 3 MAX_FEN
