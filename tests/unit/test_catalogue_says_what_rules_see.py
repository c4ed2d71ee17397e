"""The field catalogue (docs/rules.md's table) says what the fraud rules are given where it is not what an analyst
would guess: the available limit of a frozen line, the share of an event that moves no money, ids compared exactly
as sent, and a backdated event's line as it is when the call is decided."""

from __future__ import annotations

import unicodedata
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

from service.app.activity import AccountEvent, observe
from service.app.commands import ChannelInput
from service.app.pseudonyms import Pseudonyms
from service.domain.fraud_features import HistorySummary
from service.domain.model import CreditLine, Drawdown, EventType, LineStatus
from service.engine.catalogue import NAMESPACE_FIELDS

NOW = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
PSEUDONYMS = Pseudonyms(b"k" * 32)
MEANING = {f.name: f.description for fields in NAMESPACE_FIELDS.values() for f in fields}


class History:
    """No earlier events; remembers the time the history was read up to."""

    def __init__(self) -> None:
        self.read_up_to: datetime | None = None

    def open_drawdowns(self, user_key: str, *, created_before: datetime | None = None) -> list[Drawdown]:
        return []

    def history_summary(
        self, user_key: str, at: datetime, *, device_id: str = "", counterparty_id: str = ""
    ) -> HistorySummary:
        self.read_up_to = at
        return HistorySummary()


def line(status: LineStatus, limit: int, outstanding: int) -> CreditLine:
    return CreditLine("u1", limit, outstanding, Decimal("0.0003"), status, "CN", NOW - timedelta(days=400), NOW)


def facts_of(kind: EventType, amount: int, on: CreditLine, at: datetime = NOW) -> tuple[dict[str, Any], History]:
    history = History()
    event = AccountEvent("u1", kind, amount, at, ChannelInput(device_id="phone-1", country="CN"), "", "")
    facts, _ = observe(history, PSEUDONYMS, event, on, NOW, frozenset())  # type: ignore[arg-type]
    return facts, history


def test_a_frozen_lines_available_limit_is_its_undrawn_limit_and_the_catalogue_says_so() -> None:
    facts, _ = facts_of(EventType.PAYMENT, 150_000, line(LineStatus.FROZEN, 2_000_000, 500_000))

    assert facts["line.available_limit"] == 1_500_000
    assert facts["transaction.share_of_available_limit"] == Decimal("0.1")
    assert "whatever `line.status` (not 0 on a FROZEN or CLOSED line" in MEANING["line.available_limit"]
    for share in ("drawdown.share_of_available_limit", "transaction.share_of_available_limit"):
        assert MEANING[share].startswith("amount / `line.available_limit`, whatever the line's status")


def test_an_event_that_moves_no_money_has_a_share_of_0_even_when_nothing_is_available() -> None:
    drawn_to_its_limit = line(LineStatus.ACTIVE, 2_000_000, 2_000_000)

    login, _ = facts_of(EventType.LOGIN, 0, drawn_to_its_limit)
    payment, _ = facts_of(EventType.PAYMENT, 1_000, drawn_to_its_limit)

    assert (login["transaction.share_of_available_limit"], payment["transaction.share_of_available_limit"]) == (0, 1)
    assert "0 without a line or for an event that moves no money" in MEANING["transaction.share_of_available_limit"]


def test_ids_differing_in_letter_case_or_unicode_form_are_two_ids_and_the_catalogue_says_so() -> None:
    composed = unicodedata.normalize("NFC", "café")
    decomposed = unicodedata.normalize("NFD", "café")

    assert PSEUDONYMS.identifier("device", "Phone-1") != PSEUDONYMS.identifier("device", "phone-1")
    assert PSEUDONYMS.identifier("device", composed) != PSEUDONYMS.identifier("device", decomposed)
    assert PSEUDONYMS.identifier("counterparty", "CP-1") != PSEUDONYMS.identifier("counterparty", "cp-1")
    for name in ("channel.device_id", "transaction.counterparty_id", "features.device_seen_before",
                 "features.counterparty_new_last_24h"):
        assert "exactly as sent" in MEANING[name], name


def test_a_backdated_events_history_ends_at_its_time_but_its_line_is_the_line_now() -> None:
    two_hours_ago = NOW - timedelta(hours=2)
    drawn_since = line(LineStatus.ACTIVE, 10_000_000, 9_000_000)  # 90,000 of 100,000 CNY drawn after the event

    facts, history = facts_of(EventType.DRAWDOWN, 5_000_000, drawn_since, at=two_hours_ago)

    assert history.read_up_to == two_hours_ago
    assert facts["line.available_limit"] == 1_000_000
    assert facts["transaction.share_of_available_limit"] == 5
    assert "for a backdated event, as it is now" in MEANING["transaction.share_of_available_limit"]
