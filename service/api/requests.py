"""Protobuf requests -> validated commands. Every problem is collected and reported with its field path;
nothing runs until the whole request is valid."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from google.protobuf import struct_pb2

from service._gen.decision.v1 import decision_pb2 as pb
from service.app.commands import (
    ApplicantInput,
    ChannelInput,
    DrawdownCommand,
    GrantCommand,
    RepaymentCommand,
    ScoreCommand,
    TransactionCommand,
)
from service.domain.errors import FieldViolation, InvalidRequest
from service.domain.model import MONEY_MOVING_EVENTS, EventType, RepaymentMethod
from service.domain.money import MAX_FEN
from service.domain.request_limits import (
    APPLICANT_MAXIMA,
    ATTRIBUTE_NAME,
    COUNTRY_CODE,
    MAX_ATTRIBUTE_TEXT,
    MAX_ATTRIBUTES,
    MAX_COUNT,
    MAX_TERM_MONTHS,
    MAX_TEXT_LENGTH,
    PURPOSE_CODE,
    canonical_ip,
    identifier_problem,
)

CURRENCY = "CNY"
MAX_CLOCK_SKEW = timedelta(minutes=5)
EARLIEST_EVENT = datetime(1970, 1, 1, tzinfo=UTC)  # before it, an event's time is a caller's bug


_METHODS = {
    pb.REPAYMENT_METHOD_EQUAL_INSTALLMENT: RepaymentMethod.EQUAL_INSTALLMENT,
    pb.REPAYMENT_METHOD_EQUAL_PRINCIPAL: RepaymentMethod.EQUAL_PRINCIPAL,
    pb.REPAYMENT_METHOD_BULLET: RepaymentMethod.BULLET,
}
_METHOD_NAMES = ", ".join(pb.RepaymentMethod.Name(method) for method in _METHODS)  # as the contract spells them
_EVENT_TYPES = {
    pb.TRANSACTION_TYPE_LOGIN: EventType.LOGIN,
    pb.TRANSACTION_TYPE_PASSWORD_CHANGE: EventType.PASSWORD_CHANGE,
    pb.TRANSACTION_TYPE_PHONE_CHANGE: EventType.PHONE_CHANGE,
    pb.TRANSACTION_TYPE_DRAWDOWN: EventType.DRAWDOWN,
    pb.TRANSACTION_TYPE_TRANSFER_OUT: EventType.TRANSFER_OUT,
    pb.TRANSACTION_TYPE_REPAYMENT: EventType.REPAYMENT,
    pb.TRANSACTION_TYPE_PAYMENT: EventType.PAYMENT,
}
_EVENT_TYPE_NAMES = ", ".join(pb.TransactionType.Name(event_type) for event_type in _EVENT_TYPES)


class _Checker:
    """Collects violations while reading fields, so that one reply names every bad field."""

    def __init__(self) -> None:
        self.violations: list[FieldViolation] = []

    def fail(self, field: str, description: str) -> None:
        self.violations.append(FieldViolation(field, description))

    def done(self) -> None:
        if self.violations:
            raise InvalidRequest(self.violations)

    def identifier(self, value: str, field: str, *, required: bool = True) -> str:
        if not value:
            if required:
                self.fail(field, "is required")
        elif problem := identifier_problem(value):
            self.fail(field, problem)
        return value

    def text(self, value: str, field: str, *, limit: int = MAX_TEXT_LENGTH) -> str:
        if len(value) > limit:
            self.fail(field, f"must be at most {limit} characters")
        elif not value.isprintable():
            self.fail(field, "must be printable text")
        return value

    def country(self, value: str, field: str) -> str:
        if value and not COUNTRY_CODE.fullmatch(value):
            self.fail(field, "must be an ISO 3166 alpha-2 code such as CN, or empty")
        return value

    def count(self, value: int, field: str, *, low: int = 0, high: int = MAX_COUNT) -> int:
        if not low <= value <= high:
            self.fail(field, f"must be from {low} to {high}")
        return value

    def money(self, owner: Any, name: str, field: str, *, required: bool, positive: bool) -> int:
        if not owner.HasField(name):
            if required:
                self.fail(field, "is required")
            return 0
        money = getattr(owner, name)
        units = money.minor_units  # read once: each read of a protobuf field is a call into upb
        if money.currency != CURRENCY:
            self.fail(f"{field}.currency", f"must be {CURRENCY}")
        if positive and units <= 0:
            self.fail(f"{field}.minor_units", "must be positive")
        elif units < 0:
            self.fail(f"{field}.minor_units", "must not be negative")
        elif units > MAX_FEN:
            self.fail(f"{field}.minor_units", f"must be at most {MAX_FEN}")
        return int(units)

    def channel(self, owner: Any, field: str) -> ChannelInput:
        if not owner.HasField("channel"):
            return ChannelInput()
        ch = owner.channel
        ip = canonical_ip(ch.ip) if ch.ip else ""
        if ip is None:
            self.fail(f"{field}.ip", "must be an IPv4 or IPv6 address, or empty")
        return ChannelInput(
            device_id=self.identifier(ch.device_id, f"{field}.device_id", required=False),
            ip=ip or "",
            country=self.country(ch.country, f"{field}.country"),
            city=self.text(ch.city, f"{field}.city"),
        )

    def attributes(self, owner: Any, field: str) -> dict[str, object]:
        values: dict[str, object] = {}
        if not owner.HasField("attributes"):
            return values  # most applicants declare none: reading an empty map costs four times as much as this
        struct: struct_pb2.Struct = owner.attributes
        if len(struct.fields) > MAX_ATTRIBUTES:
            self.fail(field, f"must hold at most {MAX_ATTRIBUTES} attributes")
            return values
        bad_names: list[str] = []
        for key, value in struct.fields.items():
            path = f"{field}.{key}"
            kind = value.WhichOneof("kind")
            if not ATTRIBUTE_NAME.fullmatch(key):
                bad_names.append(key)
            elif kind == "number_value":
                values[key] = value.number_value
            elif kind == "bool_value":
                values[key] = value.bool_value
            elif kind == "string_value":
                values[key] = self.text(value.string_value, path, limit=MAX_ATTRIBUTE_TEXT)
            elif kind == "null_value":
                values[key] = None
            else:
                self.fail(path, "must be a number, a boolean, a string or null")
        if bad_names:
            # One violation for them all, naming the first shortened: a caller's names are echoed in the status's
            # trailers, which a client drops beyond 16 KiB (a call then fails RESOURCE_EXHAUSTED), and in the log.
            first = bad_names[0] if len(bad_names[0]) <= 40 else bad_names[0][:40] + "..."
            more = f" and {len(bad_names) - 1} more" if len(bad_names) > 1 else ""
            self.fail(field, f"attribute names are lower_snake_case, at most 64 characters, not {first!r}{more}")
        return values

    def applicant(self, request: Any) -> ApplicantInput | None:
        if not request.HasField("applicant"):
            self.fail("applicant", "is required")
            return None
        a = request.applicant
        return ApplicantInput(
            user_id=self.identifier(a.user_id, "applicant.user_id"),
            age=self.count(a.age, "applicant.age", high=APPLICANT_MAXIMA["age"]),
            real_name_verified=a.real_name_verified,
            agreement_signed=a.agreement_signed,
            annual_income=self.money(a, "annual_income", "applicant.annual_income", required=True, positive=False),
            monthly_spend_avg=self.money(
                a, "monthly_spend_avg", "applicant.monthly_spend_avg", required=False, positive=False
            ),
            active_spend_months=self.count(
                a.active_spend_months, "applicant.active_spend_months", high=APPLICANT_MAXIMA["active_spend_months"]
            ),
            on_time_repayments_24m=self.count(a.on_time_repayments_24m, "applicant.on_time_repayments_24m"),
            overdue_count_24m=self.count(a.overdue_count_24m, "applicant.overdue_count_24m"),
            max_days_overdue_24m=self.count(
                a.max_days_overdue_24m, "applicant.max_days_overdue_24m", high=APPLICANT_MAXIMA["max_days_overdue_24m"]
            ),
            credit_inquiries_6m=self.count(a.credit_inquiries_6m, "applicant.credit_inquiries_6m"),
            financial_assets=self.money(
                a, "financial_assets", "applicant.financial_assets", required=False, positive=False
            ),
            account_age_months=self.count(
                a.account_age_months, "applicant.account_age_months", high=APPLICANT_MAXIMA["account_age_months"]
            ),
            verified_contacts=self.count(a.verified_contacts, "applicant.verified_contacts"),
            country=self.country(a.country, "applicant.country"),
            attributes=self.attributes(a, "applicant.attributes"),
        )


# What the serving bundle finds wrong with declared attributes (RuleBundle.check_attributes, as violations).
AttributeViolations = Callable[[dict[str, object]], list[FieldViolation]]


def score_command(request: pb.ScoreUserRequest, refused_attributes: AttributeViolations | None = None) -> ScoreCommand:
    return ScoreCommand(*_applicant_request(request, refused_attributes))


def grant_command(request: pb.GrantLimitRequest, refused_attributes: AttributeViolations | None = None) -> GrantCommand:
    return GrantCommand(*_applicant_request(request, refused_attributes))


def _applicant_request(
    request: pb.ScoreUserRequest | pb.GrantLimitRequest, refused_attributes: AttributeViolations | None
) -> tuple[str, ApplicantInput]:
    """`refused_attributes`: for a request refused anyway, what the bundle finds wrong with its declared attributes,
    named with the rest so that one reply names every bad field. (A valid request's attributes are checked inside
    its recorded call: a retry of a call decided under another bundle is replayed, not refused.)"""
    check = _Checker()
    request_id = check.identifier(request.request_id, "request_id")
    applicant = check.applicant(request)
    if check.violations and applicant is not None and refused_attributes is not None:
        named = {violation.field for violation in check.violations}  # once each, with the request's own limit
        check.violations += [v for v in refused_attributes(applicant.attributes) if v.field not in named]
    check.done()
    assert applicant is not None
    return request_id, applicant


def drawdown_command(request: pb.AuthorizeDrawdownRequest) -> DrawdownCommand:
    check = _Checker()
    method = _METHODS.get(request.repayment_method)
    if method is None:
        check.fail("repayment_method", f"must be one of {_METHOD_NAMES}")
    purpose = request.purpose
    if not purpose:
        check.fail("purpose", "is required, e.g. CONSUMPTION")
    elif len(purpose) > MAX_TEXT_LENGTH or not PURPOSE_CODE.fullmatch(purpose):
        check.fail("purpose", "must be an upper-case code such as CONSUMPTION, at most 64 characters")
    command = DrawdownCommand(
        request_id=check.identifier(request.request_id, "request_id"),
        user_id=check.identifier(request.user_id, "user_id"),
        amount=check.money(request, "amount", "amount", required=True, positive=True),
        term_months=check.count(request.term_months, "term_months", low=1, high=MAX_TERM_MONTHS),
        repayment_method=method or RepaymentMethod.BULLET,
        purpose=purpose,
        channel=check.channel(request, "channel"),
    )
    check.done()
    return command


def _too_far_ahead(ahead: timedelta) -> str:
    """The refusal of an event time further ahead of the server's clock than MAX_CLOCK_SKEW: a time a little ahead is
    accepted (a reporter's clock running fast), so the message gives the bound and how far ahead this one is."""
    return (
        f"must be at most {MAX_CLOCK_SKEW // timedelta(minutes=1)} minutes ahead of the server's clock, and is"
        f" {_duration(ahead)} ahead: check the reporting system's clock, or leave the time out to have the event"
        " recorded at the time the server receives it"
    )


def _duration(span: timedelta) -> str:
    """A positive span in whole seconds, rounded up (a span just over the bound never reads as the bound itself), in
    its two largest units: "5 min 30 s", "2 h 5 min", "3 days 4 h"."""
    seconds = -(-span // timedelta(seconds=1))
    days, seconds = divmod(seconds, 86_400)
    hours, seconds = divmod(seconds, 3_600)
    minutes, seconds = divmod(seconds, 60)
    parts = [(days, "day" if days == 1 else "days"), (hours, "h"), (minutes, "min"), (seconds, "s")]
    first = next(i for i, (amount, _unit) in enumerate(parts) if amount)
    return " ".join(f"{amount} {unit}" for amount, unit in parts[first:first + 2] if amount)


def transaction_command(request: pb.FlagTransactionRequest, now: datetime) -> TransactionCommand:
    check = _Checker()
    request_id = check.identifier(request.request_id, "request_id")
    if not request.HasField("transaction"):
        check.fail("transaction", "is required")
        check.done()
    t = request.transaction
    event_type = _EVENT_TYPES.get(t.type)
    if event_type is None:
        check.fail("transaction.type", f"must be one of {_EVENT_TYPE_NAMES}")
    moves_money = event_type in MONEY_MOVING_EVENTS
    occurred_at: datetime | None = None
    if t.HasField("occurred_at"):
        try:
            occurred_at = t.occurred_at.ToDatetime(tzinfo=UTC)
        except (ValueError, OverflowError):
            check.fail("transaction.occurred_at", "is not a valid timestamp")
        else:
            if occurred_at > now + MAX_CLOCK_SKEW:
                check.fail("transaction.occurred_at", _too_far_ahead(occurred_at - now))
            elif occurred_at < EARLIEST_EVENT:
                check.fail("transaction.occurred_at", "must not be before 1970-01-01")
    amount = check.money(t, "amount", "transaction.amount", required=moves_money, positive=moves_money)
    command = TransactionCommand(
        request_id=request_id,
        transaction_id=check.identifier(t.transaction_id, "transaction.transaction_id"),
        user_id=check.identifier(t.user_id, "transaction.user_id"),
        event_type=event_type or EventType.LOGIN,
        amount=amount if moves_money else 0,  # an event that moves no money has none, whatever was sent: rules read 0
        occurred_at=occurred_at,
        channel=check.channel(t, "transaction.channel"),
        counterparty_id=check.identifier(t.counterparty_id, "transaction.counterparty_id", required=False),
        merchant_category=check.text(t.merchant_category, "transaction.merchant_category"),
    )
    check.done()
    return command


def repayment_command(request: pb.RecordRepaymentRequest) -> RepaymentCommand:
    check = _Checker()
    command = RepaymentCommand(
        request_id=check.identifier(request.request_id, "request_id"),
        user_id=check.identifier(request.user_id, "user_id"),
        drawdown_id=check.identifier(request.drawdown_id, "drawdown_id"),
        amount=check.money(request, "amount", "amount", required=True, positive=True),
    )
    check.done()
    return command


def credit_line_user(request: pb.GetCreditLineRequest) -> str:
    check = _Checker()
    user_id = check.identifier(request.user_id, "user_id")
    check.done()
    return user_id
