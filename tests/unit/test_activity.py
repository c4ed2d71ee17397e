"""observe(): what an account event's facts cost in queries, according to what the rules read."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

from service.app.activity import AccountEvent, observe
from service.app.commands import ChannelInput
from service.app.pseudonyms import Pseudonyms
from service.domain.fraud_features import HistorySummary
from service.domain.model import CreditLine, Drawdown, EventType, Installment, LineStatus, RepaymentMethod

NOW = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
LINE = CreditLine("u1", 2_000_000, 500_000, Decimal("0.0003"), LineStatus.ACTIVE, "CN", NOW - timedelta(days=400), NOW)
EVENT = AccountEvent("u1", EventType.LOGIN, 0, NOW, ChannelInput(device_id="phone-1", country="CN"), "", "")
PSEUDONYMS = Pseudonyms(b"k" * 32)
LATE = Drawdown(
    drawdown_id="d1",
    user_key="u1",
    amount=500_000,
    term_months=1,
    repayment_method=RepaymentMethod.BULLET,
    daily_interest_rate=Decimal("0.0003"),
    purpose="CONSUMPTION",
    created_at=NOW - timedelta(days=40),
    schedule=(Installment(1, (NOW - timedelta(days=7)).date(), 500_000, 6_000),),
)


class HistorySpy:
    """The history reads observe() makes, answered from fixed values and counted."""

    def __init__(self) -> None:
        self.calls: list[str] = []
        self.asked_about: tuple[str, str] | None = None  # the device and counterparty of the history read

    def open_drawdowns(self, user_key: str, *, created_before: datetime | None = None) -> list[Drawdown]:
        self.calls.append("open_drawdowns")
        return [LATE]

    def history_summary(
        self, user_key: str, at: datetime, *, device_id: str = "", counterparty_id: str = ""
    ) -> HistorySummary:
        self.calls.append("history_summary")
        self.asked_about = (device_id, counterparty_id)
        return HistorySummary(device_seen_before=True)


def facts_and_calls(line: CreditLine | None, reads: frozenset[str]) -> tuple[dict[str, Any], list[str]]:
    spy = HistorySpy()
    facts, _record = observe(spy, PSEUDONYMS, EVENT, line, NOW, reads)  # type: ignore[arg-type]
    return facts, spy.calls


def test_days_past_due_is_worked_out_when_a_rule_reads_it() -> None:
    facts, calls = facts_and_calls(LINE, frozenset({"line.days_past_due", "channel.country"}))
    assert facts["line.days_past_due"] == 7
    assert calls.count("open_drawdowns") == 1


def test_without_a_rule_reading_it_the_open_drawdowns_are_not_queried_and_the_fact_is_left_out() -> None:
    facts, calls = facts_and_calls(LINE, frozenset({"channel.country", "line.residence_country"}))
    assert "line.days_past_due" not in facts
    assert "open_drawdowns" not in calls
    assert facts["line.residence_country"] == "CN" and facts["features.device_seen_before"] is True


def test_a_user_without_a_line_is_never_past_due() -> None:
    facts, calls = facts_and_calls(None, frozenset({"line.days_past_due"}))
    assert facts["line.days_past_due"] == 0 and facts["line.status"] == "NONE"
    assert "open_drawdowns" not in calls


def test_the_history_is_read_once_for_the_events_device_and_counterparty_as_keyed_hashes() -> None:
    transfer = AccountEvent(
        "u1", EventType.TRANSFER_OUT, 5_000, NOW, ChannelInput(device_id="phone-1", country="CN"), "cp-7", ""
    )
    spy = HistorySpy()
    facts, record = observe(spy, PSEUDONYMS, transfer, LINE, NOW, frozenset())  # type: ignore[arg-type]
    assert spy.calls == ["history_summary"]
    device, counterparty = PSEUDONYMS.identifier("device", "phone-1"), PSEUDONYMS.identifier("counterparty", "cp-7")
    assert spy.asked_about == (record.device_id, record.counterparty_id) == (device, counterparty)
    assert facts["features.device_seen_before"] is True
    assert facts["features.counterparty_new_last_24h"] is True  # never named before
