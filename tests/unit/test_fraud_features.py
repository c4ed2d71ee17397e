from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest

from service.domain.fraud_features import CurrentEvent, compute_features, ratio, share_of_available_limit
from service.domain.model import EventType, HistoryEvent
from service.engine.catalogue import FEATURE_FIELDS

AT = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
HOUR = timedelta(hours=1)
DRAWDOWN, TRANSFER_OUT = EventType.DRAWDOWN, EventType.TRANSFER_OUT


def past(event_type: EventType, ago: timedelta, amount: int = 0, counterparty: str = "") -> HistoryEvent:
    return HistoryEvent("u", event_type, AT - ago, amount=amount, counterparty_id=counterparty)


def features(
    history: list[HistoryEvent],
    event: CurrentEvent | None = None,
    *,
    device_seen_before: bool = True,
    counterparty_first_seen: datetime | None = None,
    available_limit: int | None = 1_000_000,
) -> dict[str, object]:
    return compute_features(
        history,
        event or CurrentEvent(DRAWDOWN, 100_000, AT, device_id="dev"),
        device_seen_before=device_seen_before,
        counterparty_first_seen=counterparty_first_seen,
        available_limit=available_limit,
    )


def test_returns_exactly_the_catalogues_feature_fields_and_the_transactions_share() -> None:
    expected = {f.name for f in FEATURE_FIELDS} | {"transaction.share_of_available_limit"}
    assert set(features([])) == expected


def test_a_quiet_history_gives_zero_features() -> None:
    assert features([]) == {
        "features.drawdowns_last_hour": 0,
        "features.drawdown_amount_last_hour": 0,
        "features.credential_changed_last_24h": False,
        "features.device_seen_before": True,
        "features.counterparty_new_last_24h": False,
        "features.transfer_out_last_hour": 0,
        "features.transfer_out_ratio_last_hour": Decimal(0),
        "transaction.share_of_available_limit": Decimal("0.1"),
    }


def test_the_last_hour_includes_exactly_one_hour_ago_and_excludes_now() -> None:
    history = [
        past(DRAWDOWN, HOUR, 1_000),  # exactly an hour before: counted
        past(DRAWDOWN, HOUR - timedelta(microseconds=1), 2_000),
        past(DRAWDOWN, timedelta(0), 4_000),  # at the same instant as this event: not before it
        past(DRAWDOWN, HOUR + timedelta(microseconds=1), 8_000),  # just over an hour: not counted
    ]
    result = features(history)
    assert result["features.drawdowns_last_hour"] == 2
    assert result["features.drawdown_amount_last_hour"] == 3_000


def test_the_current_drawdown_is_not_counted_among_the_drawdowns_before_it() -> None:
    history = [past(DRAWDOWN, timedelta(minutes=m), 10_000) for m in (5, 10, 15)]
    result = features(history, CurrentEvent(DRAWDOWN, 10_000, AT))
    assert result["features.drawdowns_last_hour"] == 3  # so this one is the 4th


@pytest.mark.parametrize(
    ("ago", "changed"),
    [(timedelta(hours=24), True), (timedelta(hours=24, microseconds=1), False), (timedelta(0), False)],
)
def test_a_credential_change_counts_within_24_hours_before_the_event(ago: timedelta, changed: bool) -> None:
    for change in (EventType.PASSWORD_CHANGE, EventType.PHONE_CHANGE):
        assert features([past(change, ago)])["features.credential_changed_last_24h"] is changed


def test_logins_are_not_credential_changes() -> None:
    assert features([past(EventType.LOGIN, HOUR)])["features.credential_changed_last_24h"] is False


def test_device_seen_before_is_passed_through() -> None:
    assert features([], device_seen_before=False)["features.device_seen_before"] is False


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
    result = features([], transfer, counterparty_first_seen=first_seen)
    assert result["features.counterparty_new_last_24h"] is new


def test_an_event_without_counterparty_has_no_new_counterparty() -> None:
    assert features([], counterparty_first_seen=None)["features.counterparty_new_last_24h"] is False


def test_transfers_out_include_this_one_and_are_compared_with_the_hours_drawdowns() -> None:
    history = [
        past(DRAWDOWN, timedelta(minutes=50), 1_000_000),
        past(DRAWDOWN, timedelta(minutes=61), 5_000_000),  # outside the hour
        past(TRANSFER_OUT, timedelta(minutes=30), 400_000),
        past(TRANSFER_OUT, timedelta(minutes=90), 600_000),  # outside the hour
    ]
    transfer = CurrentEvent(TRANSFER_OUT, 500_000, AT, counterparty_id="cp")
    result = features(history, transfer, counterparty_first_seen=AT - timedelta(minutes=10))
    assert result["features.transfer_out_last_hour"] == 900_000
    assert result["features.transfer_out_ratio_last_hour"] == Decimal("0.9")
    assert result["features.counterparty_new_last_24h"] is True


def test_the_transfer_ratio_is_zero_without_drawdowns_in_the_hour() -> None:
    transfer = CurrentEvent(TRANSFER_OUT, 500_000, AT, counterparty_id="cp")
    result = features([], transfer)
    assert result["features.transfer_out_last_hour"] == 500_000
    assert result["features.transfer_out_ratio_last_hour"] == Decimal(0)


def test_ratios_round_down_so_they_never_reach_a_threshold_the_exact_value_misses() -> None:
    assert ratio(899_999_999, 1_000_000_000) == Decimal("0.899999")
    assert ratio(2, 3) == Decimal("0.666666")
    assert str(ratio(1, 8)) == "0.125000"


@pytest.mark.parametrize(
    ("amount", "available", "share"),
    [
        (500_000, 1_000_000, Decimal("0.5")),
        (1_500_000, 1_000_000, Decimal("1.5")),
        (1, 3, Decimal("0.333333")),
        (100, 0, Decimal(1)),  # nothing available
        (0, 0, Decimal(0)),  # no money moves
        (100, None, Decimal(0)),  # no line
    ],
)
def test_share_of_available_limit(amount: int, available: int | None, share: Decimal) -> None:
    assert share_of_available_limit(amount, available) == share


def test_the_transactions_share_uses_the_available_limit_before_it() -> None:
    event = CurrentEvent(DRAWDOWN, 600_000, AT)
    assert features([], event, available_limit=1_000_000)["transaction.share_of_available_limit"] == Decimal("0.6")
    assert features([], event, available_limit=None)["transaction.share_of_available_limit"] == Decimal(0)


def test_naive_datetimes_are_rejected() -> None:
    with pytest.raises(ValueError):
        features([], CurrentEvent(DRAWDOWN, 1, AT.replace(tzinfo=None)))
    with pytest.raises(ValueError):
        features([HistoryEvent("u", DRAWDOWN, AT.replace(tzinfo=None) - HOUR)])


def test_ratios_are_capped_at_a_million_so_huge_amounts_stay_valid_facts() -> None:
    from service.domain.fraud_features import MAX_RATIO, ratio, share_of_available_limit

    assert ratio(10**15, 1) == MAX_RATIO
    assert share_of_available_limit(10**15, 1) == MAX_RATIO
    assert ratio(3, 2) == Decimal("1.5")
