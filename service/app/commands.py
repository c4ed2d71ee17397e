"""What callers ask for, after the transport has validated and converted it. Money in fen."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from service.domain.model import EventType, RepaymentMethod


@dataclass(frozen=True)
class ApplicantInput:
    user_id: str
    age: int
    real_name_verified: bool
    agreement_signed: bool
    annual_income: int
    monthly_spend_avg: int
    active_spend_months: int
    on_time_repayments_24m: int
    overdue_count_24m: int
    max_days_overdue_24m: int
    credit_inquiries_6m: int
    financial_assets: int
    account_age_months: int
    verified_contacts: int
    country: str
    attributes: dict[str, object] = field(default_factory=dict)


@dataclass(frozen=True)
class ChannelInput:
    device_id: str = ""
    ip: str = ""
    country: str = ""
    city: str = ""


@dataclass(frozen=True)
class ScoreCommand:
    request_id: str
    applicant: ApplicantInput


@dataclass(frozen=True)
class GrantCommand:
    request_id: str
    applicant: ApplicantInput


@dataclass(frozen=True)
class DrawdownCommand:
    request_id: str
    user_id: str
    amount: int
    term_months: int
    repayment_method: RepaymentMethod
    purpose: str
    channel: ChannelInput


@dataclass(frozen=True)
class TransactionCommand:
    request_id: str
    transaction_id: str
    user_id: str
    event_type: EventType
    amount: int
    occurred_at: datetime | None  # None: now
    channel: ChannelInput
    counterparty_id: str
    merchant_category: str


@dataclass(frozen=True)
class RepaymentCommand:
    request_id: str
    user_id: str
    drawdown_id: str
    amount: int
