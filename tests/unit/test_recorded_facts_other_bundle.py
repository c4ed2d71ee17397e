"""recorded_facts.unrecorded: which of the fields rules read a drawdown's or an account event's record does not keep,
because the rules that decided it did not read them."""

from __future__ import annotations

from service.recorded_facts import unrecorded

READS = frozenset({"channel.ip", "channel.city", "channel.country", "transaction.merchant_category",
                   "line.days_past_due", "line.daily_interest_rate", "features.drawdowns_last_hour",
                   "features.drawdown_amount_last_hour", "transaction.counterparty_id"})


def test_names_the_values_kept_only_when_read_that_the_record_does_not_keep() -> None:
    request = {"line_status": "ACTIVE", "channel_country": "CN", "device": "05a6", "counterparty": "",
               "features.drawdowns_last_hour": 0, "line_days_past_due": 0}

    assert unrecorded("FlagTransaction", request, READS) == (
        "channel.city", "channel.ip", "features.drawdown_amount_last_hour", "line.daily_interest_rate",
        "transaction.merchant_category")


def test_names_none_when_the_record_keeps_every_value_its_rules_read() -> None:
    request = {"line_status": "ACTIVE", "ip": "", "channel_city": "", "merchant_category": "7995",
               "line_days_past_due": 3, "line_daily_interest_rate": "0.0002", "features.drawdowns_last_hour": 1,
               "features.drawdown_amount_last_hour": 0}

    assert unrecorded("FlagTransaction", request, READS) == ()


def test_a_lines_values_are_known_without_a_line_and_a_drawdowns_merchant_category_always() -> None:
    request = {"channel_country": "CN", "device": ""}  # no line_status: the user had no line

    assert unrecorded("AuthorizeDrawdown", request, READS) == (
        "channel.city", "channel.ip", "features.drawdown_amount_last_hour", "features.drawdowns_last_hour")
