"""The field catalogue: every name a rule may use, its type, and what it means. The only vocabulary.

A fact handed to the engine is a flat mapping from these dotted names to Python values:
int for INT, Decimal for DECIMAL, int fen for MONEY, bool for BOOL, str for STR.
`applicant.attributes.<name>` fields are declared per bundle in bundle.yaml, not here.

A field filled from a request also says what the request can carry in it (`carries`): the codes, lengths and
ranges the service holds every request (and every rule-test case) to, from service/domain/request_limits.py. A field
the service works out says the range it gives it (a score within the bundle's range, a count never negative). The
rule checker refuses a text value a field can never take and judges "never" and "always" over these ranges.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from enum import Enum

from service.domain.money import MAX_FEN
from service.domain.request_limits import (
    APPLICANT_MAXIMA,
    COUNTRY_CODE,
    MAX_COUNT,
    MAX_ID_LENGTH,
    MAX_TERM_MONTHS,
    MAX_TEXT_LENGTH,
    PURPOSE_CODE,
    canonical_ip,
)


class FieldType(str, Enum):  # noqa: UP042 - str mixin kept for callers
    INT = "int"
    DECIMAL = "decimal"
    MONEY = "money"  # CNY, integer fen in facts; written in rules as e.g. `10000 CNY`
    BOOL = "bool"
    STR = "str"


class RuleSetKind(str, Enum):  # noqa: UP042 - str mixin kept for callers
    SCORECARD = "scorecard"
    ELIGIBILITY = "eligibility"
    LIMITS = "limits"
    DRAWDOWN = "drawdown"
    FRAUD = "fraud"


@dataclass(frozen=True)
class TextForm:
    """The text a request can carry in a STR field."""

    noun: str  # what one value is, for messages: "a purpose"
    rule: str  # what every value is like, for messages: "purposes are upper-case codes such as CONSUMPTION"
    hint: str  # how to write a value right, for messages
    max_length: int
    pattern: re.Pattern[str] | None = None  # a non-empty value matches it whole
    empty: bool = True  # whether the field may be empty
    trimmed: bool = False  # without spaces (or other blanks) at either end
    # the one form requests carry a value in (None: not a value at all), for a field the service rewrites so
    canonical: Callable[[str], str | None] | None = None
    # a slip people make writing a value that `canonical` does not mend: what is wrong with the text ("has leading
    # zeros, which requests never carry") and the value most likely meant (None if none is), or None for no such slip
    slip: Callable[[str], tuple[str, str | None] | None] | None = None

    def takes(self, text: str) -> bool:
        """Whether a request can carry this text in the field."""
        if not text:
            return self.empty
        if self.canonical is not None:
            return self.canonical(text) == text
        if len(text) > self.max_length or not text.isprintable():
            return False
        if self.trimmed and text != text.strip():
            return False
        return self.pattern is None or self.pattern.fullmatch(text) is not None


@dataclass(frozen=True)
class Carried:
    """What a request can carry in a field, as the service validates requests: text of a form, or a whole
    number (fen, for money) from `low` to `high`."""

    text: TextForm | None = None
    low: int | None = None
    high: int | None = None
    worked_out: bool = False  # the service works the value out (a score, a count, a sum); no request carries it


@dataclass(frozen=True)
class Field:
    name: str
    type: FieldType
    description: str
    allowed_values: tuple[str, ...] = ()  # for STR fields with a closed vocabulary
    carries: Carried = Carried()  # what a request can carry; Carried(): anything of the field's type


_TXN_TYPES = ("LOGIN", "PASSWORD_CHANGE", "PHONE_CHANGE", "DRAWDOWN", "TRANSFER_OUT", "REPAYMENT", "PAYMENT")
_METHODS = ("EQUAL_INSTALLMENT", "EQUAL_PRINCIPAL", "BULLET")
_STATUSES = ("ACTIVE", "FROZEN", "CLOSED", "NONE")
_BANDS_NOTE = "as named by the scorecard's bands"

_COUNTRY = Carried(TextForm(
    "a country code", "country codes are two capital letters such as CN (ISO 3166 alpha-2), or empty",
    "write the two-letter code in capitals, e.g. 'US' for the United States", 2, COUNTRY_CODE))
_PURPOSE = Carried(TextForm(
    "a purpose", "purposes are upper-case codes such as CONSUMPTION",
    "write the code in capitals, with _ between words, e.g. 'HOME_PURCHASE'", MAX_TEXT_LENGTH, PURPOSE_CODE,
    empty=False))


def _id(noun: str) -> Carried:
    return Carried(TextForm(noun, f"ids are at most {MAX_ID_LENGTH} characters, without spaces at either end",
                            f"write the id as requests carry it, at most {MAX_ID_LENGTH} characters", MAX_ID_LENGTH,
                            trimmed=True))


def _text(noun: str) -> Carried:
    return Carried(TextForm(noun, f"requests carry at most {MAX_TEXT_LENGTH} characters of printable text",
                            f"shorten it to at most {MAX_TEXT_LENGTH} characters", MAX_TEXT_LENGTH))




_DOTTED_DIGITS = re.compile(r"[0-9]+(?:\.[0-9]+){3}")


def _ip_with_leading_zeros(text: str) -> tuple[str, str | None] | None:
    """010.1.1.1, as some firewall exports print an address: the address without the zeros, if it is one."""
    if not _DOTTED_DIGITS.fullmatch(text) or not any(len(part) > 1 and part[0] == "0" for part in text.split(".")):
        return None
    plain = ".".join(str(int(part)) for part in text.split("."))
    return "has leading zeros, which requests never carry", plain if canonical_ip(plain) == plain else None


_IP_ADDRESS = Carried(TextForm(
    "an IP address as requests carry it",
    "requests carry one address, in its shortest standard form (203.0.113.7, 2001:db8::1), or nothing",
    "write one address, e.g. '203.0.113.7' or '2001:db8::1': a rule cannot match a range such as 10.0.0.0/8, or a "
    "host name", 39, canonical=canonical_ip, slip=_ip_with_leading_zeros))
_NEVER_NEGATIVE = Carried(low=0, worked_out=True)  # a count or a sum of amounts the service works out
SCORE_RANGE = (350, 950)  # a bundle's score range unless bundle.yaml gives another
_AMOUNT = Carried(low=0, high=MAX_FEN)  # an amount a request gives: never negative
_POSITIVE_AMOUNT = Carried(low=1, high=MAX_FEN)

def _applicant_count(name: str, description: str) -> Field:
    """A whole-number applicant field: a request carries 0 up to its maximum in APPLICANT_MAXIMA, else MAX_COUNT."""
    return Field(f"applicant.{name}", FieldType.INT, description,
                 carries=Carried(low=0, high=APPLICANT_MAXIMA.get(name, MAX_COUNT)))


I, D, M, B, S = FieldType.INT, FieldType.DECIMAL, FieldType.MONEY, FieldType.BOOL, FieldType.STR  # noqa: E741

APPLICANT_FIELDS = (
    _applicant_count("age", "age in whole years"),
    Field("applicant.real_name_verified", B, "identity verified against a real-name record"),
    Field("applicant.agreement_signed", B, "credit agreement signed"),
    Field("applicant.annual_income", M, "verified annual income, average of recent years", carries=_AMOUNT),
    Field("applicant.monthly_spend_avg", M, "average monthly consumption over the last 12 months",
          carries=_AMOUNT),
    _applicant_count("active_spend_months", "months with spending, of the last 12"),
    _applicant_count("on_time_repayments_24m", "repayments made on time in the last 24 months"),
    _applicant_count("overdue_count_24m", "repayments that went overdue in the last 24 months"),
    _applicant_count("max_days_overdue_24m", "longest overdue episode in the last 24 months, in days"),
    _applicant_count("credit_inquiries_6m", "credit inquiries in the last 6 months"),
    Field("applicant.financial_assets", M, "financial assets held, e.g. a money-market fund balance",
          carries=_AMOUNT),
    _applicant_count("account_age_months", "months since the account was opened"),
    _applicant_count("verified_contacts", "verified contacts in the social graph"),
    Field("applicant.country", S, "country of residence, ISO 3166 alpha-2", carries=_COUNTRY),
)

SCORE_FIELDS = (
    Field("score.value", I, "the scorecard's score, within bundle.yaml's `score` range (350..950 in the bundled rules)",
          carries=Carried(low=SCORE_RANGE[0], high=SCORE_RANGE[1], worked_out=True)),
    Field("score.band", S, f"the score band, {_BANDS_NOTE}"),
)

LINE_FIELDS = (
    Field("line.status", S, "credit line status; NONE when the user has no line", _STATUSES),
    Field("line.credit_limit", M, "the line's credit limit", carries=_NEVER_NEGATIVE),
    Field("line.outstanding_principal", M, "principal drawn and not yet repaid", carries=_NEVER_NEGATIVE),
    Field("line.available_limit", M, "credit limit minus outstanding principal, before this request, whatever "
          "`line.status` (not 0 on a FROZEN or CLOSED line, which the answers give as 0); never negative",
          carries=_NEVER_NEGATIVE),
    Field("line.daily_interest_rate", D, "the line's daily interest rate"),
    Field("line.days_past_due", I, "days the oldest instalment whose principal is not fully repaid (repayments "
          "pay the oldest first; interest is settled outside the ledger) is past its due date; 0 if none",
          carries=_NEVER_NEGATIVE),
    Field("line.residence_country", S, "the residence country recorded when the limit was granted",
          carries=_COUNTRY),
)

CHANNEL_FIELDS = (
    Field("channel.device_id", S, "device the request came from, exactly as sent (`Phone-1` and `phone-1` are two "
          "devices)", carries=_id("a device id")),
    Field("channel.ip", S, "IP address the request came from, in the one form the service gives every address: IPv4 "
          "dotted (203.0.113.7), IPv6 compressed in lower case (2001:db8::1), an IPv4 address within IPv6 "
          "(::ffff:203.0.113.7) as IPv4; empty if unknown", carries=_IP_ADDRESS),
    Field("channel.country", S, "country the request came from, ISO 3166 alpha-2; empty if unknown",
          carries=_COUNTRY),
    Field("channel.city", S, "city the request came from; empty if unknown", carries=_text("a city")),
)

DRAWDOWN_FIELDS = (
    Field("drawdown.amount", M, "amount requested", carries=_POSITIVE_AMOUNT),
    Field("drawdown.term_months", I, "term in months", carries=Carried(low=1, high=MAX_TERM_MONTHS)),
    Field("drawdown.repayment_method", S, "repayment method", _METHODS),
    Field("drawdown.purpose", S, "declared use of funds, e.g. CONSUMPTION, SECURITIES, HOME_PURCHASE",
          carries=_PURPOSE),
    Field(
        "drawdown.share_of_available_limit",
        D,
        "amount / `line.available_limit`, whatever the line's status (1 when nothing is available)",
    ),
)

EVENT_TYPE_FIELD = "transaction.type"
# 0 for an account event that moves no money (one not in domain.model.MONEY_MOVING_EVENTS), whatever was sent
ZERO_WITHOUT_MONEY = ("transaction.amount", "transaction.share_of_available_limit")

TRANSACTION_FIELDS = (
    Field("transaction.type", S, "what happened on the account", _TXN_TYPES),
    Field("transaction.amount", M, "amount moved; 0 for events that move no money", carries=_AMOUNT),
    Field("transaction.counterparty_id", S, "who receives the money, exactly as sent (`CP-1` and `cp-1` are two); "
          "empty if nobody",
          carries=_id("a counterparty id")),
    Field("transaction.merchant_category", S, "merchant category of a payment; empty if none",
          carries=_text("a merchant category")),
    Field(
        "transaction.share_of_available_limit",
        D,
        "amount / `line.available_limit`, whatever the line's status and, for a backdated event, as it is now (1 "
        "when nothing is available; 0 without a line or for an event that moves no money)",
    ),
)

FEATURE_FIELDS = (
    Field("features.drawdowns_last_hour", I, "drawdowns in the hour before this event: those AuthorizeDrawdown "
          "approved, and those reported with FlagTransaction whatever its answer",
          carries=_NEVER_NEGATIVE),
    Field("features.drawdown_amount_last_hour", M, "sum of the drawdowns in the hour before this event, counted as "
          "features.drawdowns_last_hour counts them",
          carries=_NEVER_NEGATIVE),
    Field("features.credential_changed_last_24h", B, "a password or phone change in the 24 hours before this event"),
    Field("features.device_seen_before", B, "this device, its id exactly as sent, appears in the user's earlier "
          "history"),
    Field(
        "features.counterparty_new_last_24h",
        B,
        "the counterparty, its id exactly as sent, first appeared in the user's history less than 24 hours ago (or "
        "appears now)",
    ),
    Field("features.transfer_out_last_hour", M, "transfers out in the last hour, this one included",
          carries=_NEVER_NEGATIVE),
    Field(
        "features.transfer_out_ratio_last_hour",
        D,
        "transfers out in the last hour (this one included) / drawdowns in the last hour; 0 without drawdowns",
    ),
)

NAMESPACE_FIELDS = {
    "applicant": APPLICANT_FIELDS,
    "score": SCORE_FIELDS,
    "line": LINE_FIELDS,
    "channel": CHANNEL_FIELDS,
    "drawdown": DRAWDOWN_FIELDS,
    "transaction": TRANSACTION_FIELDS,
    "features": FEATURE_FIELDS,
}

# Which namespaces each rule set may read: what the service has computed when it runs that set.
NAMESPACES_BY_RULESET: dict[RuleSetKind, tuple[str, ...]] = {
    RuleSetKind.SCORECARD: ("applicant",),
    RuleSetKind.ELIGIBILITY: ("applicant", "score"),
    RuleSetKind.LIMITS: ("applicant", "score"),
    RuleSetKind.DRAWDOWN: ("drawdown", "line", "channel", "features"),
    RuleSetKind.FRAUD: ("transaction", "line", "channel", "features"),
}

ATTRIBUTES_PREFIX = "applicant.attributes."

FIELDS: dict[str, Field] = {f.name: f for fields in NAMESPACE_FIELDS.values() for f in fields}


def fields_for(kind: RuleSetKind) -> dict[str, Field]:
    """The catalogue fields a rule set of this kind may reference (bundle attributes not included)."""
    spaces = NAMESPACES_BY_RULESET[kind]
    return {name: f for name, f in FIELDS.items() if name.split(".", 1)[0] in spaces}
