"""The ledger's records. Money is integer minor units (fen); rates are Decimal; times are aware UTC datetimes."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal
from enum import StrEnum
from typing import NamedTuple


class LineStatus(StrEnum):
    ACTIVE = "ACTIVE"
    FROZEN = "FROZEN"
    CLOSED = "CLOSED"


class RepaymentMethod(StrEnum):
    EQUAL_INSTALLMENT = "EQUAL_INSTALLMENT"
    EQUAL_PRINCIPAL = "EQUAL_PRINCIPAL"
    BULLET = "BULLET"


class EventType(StrEnum):
    """Account events kept in a user's history; the names are the contract's TransactionType without prefix."""

    LOGIN = "LOGIN"
    PASSWORD_CHANGE = "PASSWORD_CHANGE"
    PHONE_CHANGE = "PHONE_CHANGE"
    DRAWDOWN = "DRAWDOWN"
    TRANSFER_OUT = "TRANSFER_OUT"
    REPAYMENT = "REPAYMENT"
    PAYMENT = "PAYMENT"


# The account events that move money: a request must give each a positive amount. The others (a login, a password or
# phone change) move none: an amount sent with one is checked and taken as 0. The one definition, read by the request
# reader (api/requests.py), the rule-test cases (case_input.py) and the rule checker (engine/satisfy.py).
MONEY_MOVING_EVENTS = frozenset({EventType.DRAWDOWN, EventType.TRANSFER_OUT, EventType.REPAYMENT, EventType.PAYMENT})


@dataclass(frozen=True)
class CreditLine:
    user_key: str  # keyed hash of the user id; the raw id is never stored
    credit_limit: int
    outstanding_principal: int
    daily_interest_rate: Decimal
    status: LineStatus
    residence_country: str
    opened_at: datetime
    updated_at: datetime

    @property
    def available_limit(self) -> int:
        """The limit not yet drawn, whatever the status (what the rules see as line.available_limit)."""
        return max(0, self.credit_limit - self.outstanding_principal)

    @property
    def drawable(self) -> int:
        """What can be drawn now: the available limit of an ACTIVE line, 0 of a FROZEN or CLOSED one (what the
        answers call available_limit)."""
        return self.available_limit if self.status is LineStatus.ACTIVE else 0


class Installment(NamedTuple):
    """One scheduled repayment. A named tuple rather than a dataclass: a line's open drawdowns are read back
    with every drawdown decision, a dozen instalments each, and a tuple is several times cheaper to build."""

    number: int
    due_date: date
    principal: int
    interest: int


@dataclass(frozen=True)
class Drawdown:
    drawdown_id: str
    user_key: str
    amount: int
    term_months: int
    repayment_method: RepaymentMethod
    daily_interest_rate: Decimal
    purpose: str
    created_at: datetime
    schedule: tuple[Installment, ...]
    repaid_principal: int = 0

    @property
    def outstanding_principal(self) -> int:
        return self.amount - self.repaid_principal


@dataclass(frozen=True)
class HistoryEvent:
    """One account event of a user, as fraud features see it."""

    user_key: str
    event_type: EventType
    occurred_at: datetime
    amount: int = 0
    device_id: str = ""
    country: str = ""
    counterparty_id: str = ""
    event_id: str = field(default="")
