"""Fraud features of one account event from the user's recent history: the catalogue's `features.*` fields.

Windows are closed and end at the current event: "the last hour" holds history events with occurred_at in
[at - 1 h, at], "the last 24 hours" those in [at - 24 h, at], where `at` is the current event's occurred_at. A
history event recorded at exactly `at` (another event reported with the same time) counts as before the current
one; the current event is not stored yet when its history is read, and counts only where the catalogue says "this
one included". The store sums the history over these
windows and looks up the event's device and counterparty in it, in one statement (`HistorySummary`, from
`UnitOfWork.history_summary`), so that a decision costs the same whether the user did three things today or three
thousand.

Ratios are Decimal with exactly RATIO_PLACES decimals, rounded down (floor): against a threshold written with at
most that many decimals, `ratio >= t` and `ratio < t` answer as the exact ratio would. A sum of amounts above
MAX_FEN (many transfers of nearly ten trillion yuan each) reads as MAX_FEN, as a ratio above MAX_RATIO reads as
MAX_RATIO (the rules' numbers cannot hold more): a rule comparing it with any amount below MAX_FEN answers as it
would with the exact sum.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Context, Decimal

from service.domain.model import EventType, HistoryEvent
from service.domain.money import MAX_FEN

RATIO_PLACES = 9  # as many as a rule may write (engine.parser.DECIMAL_PLACES): every threshold compares exactly
HOUR = timedelta(hours=1)
DAY = timedelta(hours=24)
CREDENTIAL_CHANGES = frozenset({EventType.PASSWORD_CHANGE, EventType.PHONE_CHANGE})


@dataclass(frozen=True)
class HistorySummary:
    """What the features need of the user's history at an event: its sums over the windows above, and what the
    whole history says of the event's device and counterparty."""

    drawdowns_last_hour: int = 0
    drawdown_amount_last_hour: int = 0  # fen
    transfer_out_last_hour: int = 0  # fen, the current event not included
    credential_changed_last_24h: bool = False  # a PASSWORD_CHANGE or PHONE_CHANGE
    device_seen_before: bool = False  # an earlier event came from the event's device (never for no device)
    counterparty_first_seen: datetime | None = None  # the first event naming the event's counterparty, if any


@dataclass(frozen=True)
class CurrentEvent:
    """The event being decided; not (yet) part of the history."""

    event_type: EventType
    amount: int  # fen; 0 for events that move no money
    occurred_at: datetime  # aware; the end of every window
    device_id: str = ""
    counterparty_id: str = ""  # empty when nobody receives money


def compute_features(
    history: HistorySummary, event: CurrentEvent | HistoryEvent, *, available_limit: int | None
) -> dict[str, object]:
    """The catalogue's `features.*` fields and `transaction.share_of_available_limit`, by dotted name.

    `event`: the event being decided, or the history record about to be appended for it (the same fields, and one
    object fewer to build per decision). `history`: the user's history at the event, as the store summed it for this
    event's device and counterparty; `available_limit` is the line's before this event, None without a line. Raises
    ValueError for naive datetimes.
    """
    first_seen = history.counterparty_first_seen
    if event.occurred_at.utcoffset() is None or (first_seen is not None and first_seen.utcoffset() is None):
        _refuse_naive(event.occurred_at, first_seen)
    transfers_out = history.transfer_out_last_hour
    if event.event_type is EventType.TRANSFER_OUT:
        transfers_out += event.amount
    drawdown_amount = history.drawdown_amount_last_hour
    transfer_ratio = ratio(transfers_out, drawdown_amount) if drawdown_amount else _ZERO
    return {
        "features.drawdowns_last_hour": history.drawdowns_last_hour,
        "features.drawdown_amount_last_hour": min(drawdown_amount, MAX_FEN),
        "features.credential_changed_last_24h": history.credential_changed_last_24h,
        "features.device_seen_before": history.device_seen_before,
        "features.counterparty_new_last_24h": _counterparty_new(event, first_seen),
        "features.transfer_out_last_hour": min(transfers_out, MAX_FEN),
        "features.transfer_out_ratio_last_hour": transfer_ratio,
        "transaction.share_of_available_limit": share_of_available_limit(event.amount, available_limit),
    }


def share_of_available_limit(amount: int, available_limit: int | None) -> Decimal:
    """`transaction.` / `drawdown.share_of_available_limit`: amount / the available limit before the event.

    0 without a line (available_limit None) and for an amount of 0; 1 when the line has nothing available
    and the amount is positive; otherwise the ratio, quantized like every ratio here (may exceed 1).
    """
    if available_limit is None or amount <= 0:
        return _ZERO
    if available_limit <= 0:
        return Decimal(1)
    return ratio(amount, available_limit)


MAX_RATIO = 1_000_000  # far above any threshold a rule compares with; keeps facts in the engine's number range
_SCALE, _MAX_SCALED = 10**RATIO_PLACES, MAX_RATIO * 10**RATIO_PLACES  # once, not on every call (no constant folding)
_ZERO = Decimal(0)  # built once (a Decimal is immutable): most events have no ratio to work out
_EXACT = Context(prec=60)  # keeps every digit of a ratio (an explicit context: cheaper than a localcontext() per call)


def ratio(numerator: int, denominator: int) -> Decimal:
    """numerator / denominator to RATIO_PLACES decimals, rounded down (floor), in exact integer arithmetic,
    and at most MAX_RATIO (a 10^15 fen transfer against a 1 fen drawdown is "a million times", not 10^15).

    Raises ZeroDivisionError when the denominator is 0.
    """
    scaled = min(numerator * _SCALE // denominator, _MAX_SCALED)
    return Decimal(scaled).scaleb(-RATIO_PLACES, _EXACT)


def _counterparty_new(event: CurrentEvent | HistoryEvent, first_seen: datetime | None) -> bool:
    """Whether the counterparty first appeared less than 24 h before the event, or appears only now."""
    if not event.counterparty_id:
        return False
    if first_seen is None:
        return True
    return event.occurred_at - first_seen < DAY


def _refuse_naive(*moments: datetime | None) -> None:
    """Raises ValueError for the first naive datetime of `moments` (compute_features checks them inline: a call
    each cost more than the check)."""
    for moment in moments:
        if moment is not None and moment.utcoffset() is None:
            raise ValueError(f"naive datetime {moment.isoformat()}: times must be timezone-aware")
