"""What the drawdown and fraud rules see of an account event: the event, the line, features of the history."""

from __future__ import annotations

from datetime import datetime
from typing import NamedTuple

from service.app.clock import business_date
from service.app.commands import ChannelInput
from service.app.facts import Facts, channel_facts, line_facts
from service.app.ports import UnitOfWork
from service.app.pseudonyms import Pseudonyms
from service.domain.delinquency import NOT_YET_DUE, days_past_due
from service.domain.fraud_features import compute_features
from service.domain.model import CreditLine, EventType, HistoryEvent

DAYS_PAST_DUE = "line.days_past_due"


class AccountEvent(NamedTuple):
    """One event as the caller described it, raw identifiers included (they never leave this call). A named tuple,
    as immutable as a frozen dataclass and several times cheaper to build: one is built on every call."""

    user_key: str
    event_type: EventType
    amount: int
    occurred_at: datetime
    channel: ChannelInput
    counterparty_id: str
    merchant_category: str
    event_id: str = ""  # the history record's: a keyed hash of the caller's transaction id, or the drawdown's id


def observe(
    uow: UnitOfWork,
    pseudonyms: Pseudonyms,
    event: AccountEvent,
    line: CreditLine | None,
    now: datetime,
    reads: frozenset[str],
) -> tuple[Facts, HistoryEvent]:
    """The facts about this event, and the history record to append (identifiers as keyed hashes).

    `reads`: the fields the rules to be evaluated read (RuleBundle.reads). line.days_past_due, which takes a
    query of its own (the user's open drawdowns), is worked out only when they read it, and left out otherwise."""
    record = HistoryEvent(
        user_key=event.user_key,
        event_type=event.event_type,
        occurred_at=event.occurred_at,
        amount=event.amount,
        device_id=pseudonyms.identifier("device", event.channel.device_id),
        country=event.channel.country,
        counterparty_id=pseudonyms.identifier("counterparty", event.counterparty_id),
        event_id=event.event_id,
    )
    history = uow.history_summary(
        event.user_key, event.occurred_at, device_id=record.device_id, counterparty_id=record.counterparty_id
    )
    features = compute_features(history, record, available_limit=None if line is None else line.available_limit)
    overdue: int | None = None
    if DAYS_PAST_DUE in reads:
        overdue = 0
        if line is not None:
            may_be_late = uow.open_drawdowns(event.user_key, created_before=now - NOT_YET_DUE)
            if may_be_late:  # most users have none this old: then neither today's date nor a comparison is needed
                overdue = days_past_due(may_be_late, business_date(now))
    # One dict filled in order, the same keys in the same order as merging the parts would give, without copying each
    facts = line_facts(line, overdue)
    facts.update(channel_facts(event.channel))
    facts.update(features)
    facts["transaction.type"] = event.event_type.value
    facts["transaction.amount"] = event.amount
    facts["transaction.counterparty_id"] = event.counterparty_id
    facts["transaction.merchant_category"] = event.merchant_category
    return facts, record
