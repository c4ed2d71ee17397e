"""A rule-test case (docs/rules.md, "Rule tests"), checked as the service checks a request before anything runs.

Every value is read for its kind and range (the ranges the gRPC requests are held to, api/requests.py), so a
case either becomes a CaseInput that the use cases accept, or is refused with a CaseIssue for each value that is
wrong: its path in the case, what is wrong in plain words, and the fix.

    issues = case_shape_issues(spec, for_test=True)     # keys, call, expectations: no bundle needed
    data = read_case_input(spec, attribute_check(bundle))  # CaseInput, or CaseRefused
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from decimal import Decimal, InvalidOperation

from service.app.commands import ApplicantInput, ChannelInput
from service.app.scoring import SERVICE_REASONS
from service.app.usecases import DRAWDOWN_RULES, FRAUD_RULES
from service.case_yaml import NON_DECIMAL_NUMBER, CaseIssue, CaseRefused, FieldPath, WrittenInt
from service.domain.errors import InvalidRequest
from service.domain.model import MONEY_MOVING_EVENTS, EventType, LineStatus, RepaymentMethod
from service.domain.money import MAX_FEN, format_fen_as_yuan
from service.domain.request_limits import (  # a request's ranges: a case describes only calls the service accepts
    APPLICANT_MAXIMA,
    ATTRIBUTE_NAME,
    COUNTRY_CODE,
    MAX_ATTRIBUTE_TEXT,
    MAX_ATTRIBUTES,
    MAX_COUNT,
    MAX_ID_LENGTH,
    MAX_TERM_MONTHS,
    MAX_TEXT_LENGTH,
    PURPOSE_CODE,
    canonical_ip,
)
from service.engine import problems as P
from service.engine.bundle import RuleBundle
from service.engine.catalogue import ZERO_WITHOUT_MONEY, FieldType, RuleSetKind
from service.engine.parser import DECIMAL_PLACES, decimal_places
from service.engine.typecheck import suggest

CALLS = ("ScoreUser", "GrantLimit", "AuthorizeDrawdown", "FlagTransaction")
CASE_KEYS = ("name", "call", "applicant", "credit_line", "history", "drawdown", "transaction", "expect")
INPUTS_BY_CALL = {
    "ScoreUser": ("applicant",),
    "GrantLimit": ("applicant", "credit_line"),  # the line's status: a FROZEN line's limit cannot be drawn
    "AuthorizeDrawdown": ("credit_line", "history", "drawdown"),
    "FlagTransaction": ("credit_line", "history", "transaction"),
}
EXPECTATIONS_BY_CALL = {
    "ScoreUser": ("score", "band", "reasons", "fires"),
    "GrantLimit": ("outcome", "score", "limit", "reasons", "fires"),
    "AuthorizeDrawdown": ("outcome", "reasons", "flags", "fires"),
    "FlagTransaction": ("outcome", "risk_level", "flags", "fires"),
}
_ANY_EXPECTATION = frozenset(key for keys in EXPECTATIONS_BY_CALL.values() for key in keys)
OUTCOMES = ("APPROVE", "DECLINE", "REVIEW")
RISK_LEVELS = ("NONE", "LOW", "MEDIUM", "HIGH")

# Bounds of what a case sets up that no request carries.
MAX_HISTORY_EVENTS = 1_000
# All the history events of all the cases of a bundle together: the runner reads and seeds about 2,500 a second,
# and the server runs the cases before it serves a bundle, so this keeps them to seconds (docs/rules.md, Rule tests).
MAX_BUNDLE_HISTORY_EVENTS = 10_000
MAX_MINUTES_AGO = 10 * 365 * 24 * 60  # ten years
MAX_DAYS_PAST_DUE = 3_650
SEEDED_OVERDUE_FEN = 10_000  # what is outstanding when a case gives days_past_due but no outstanding amount

_APPLICANT_COUNT_DEFAULTS = {  # whole-number applicant fields (their largest values: APPLICANT_MAXIMA)
    "age": 35,
    "active_spend_months": 12,
    "on_time_repayments_24m": 24,
    "overdue_count_24m": 0,
    "max_days_overdue_24m": 0,
    "credit_inquiries_6m": 1,
    "account_age_months": 60,
    "verified_contacts": 20,
}
APPLICANT_AMOUNTS = {"annual_income": "300000 CNY", "monthly_spend_avg": "6000 CNY", "financial_assets": "100000 CNY"}
_APPLICANT_FLAGS = ("real_name_verified", "agreement_signed")
# A typical good applicant: what a case's applicant is, apart from the fields it gives.
DEFAULT_APPLICANT: dict[str, object] = {
    **_APPLICANT_COUNT_DEFAULTS,
    **APPLICANT_AMOUNTS,
    **dict.fromkeys(_APPLICANT_FLAGS, True),
    "country": "CN",
    "attributes": {},
}
_LINE_KEYS = ("credit_limit", "outstanding", "days_past_due", "status", "residence_country", "daily_interest_rate")
_EVENT_KEYS = ("type", "minutes_ago", "amount", "device_id", "counterparty_id", "country")
_DRAWDOWN_KEYS = ("amount", "term_months", "repayment_method", "purpose", "channel")
_TRANSACTION_KEYS = ("type", "amount", "counterparty_id", "merchant_category", "channel")
_CHANNEL_KEYS = ("device_id", "ip", "country", "city")

_AMOUNT = re.compile(r"([+-]?\d[\d,_]*(?:\.\d+)?)\s+([A-Za-z]+)")
# A comma is read only as a thousands separator, between groups of three digits: '300000,00' or '1,5', a decimal
# comma as Excel and Word write it in many locales, would otherwise be read 100 or 10 times too large.
_THOUSANDS = re.compile(r"[+-]?\d{1,3}(?:,\d{3})+(?:\.\d+)?")
_DECIMAL_COMMA = re.compile(r"([+-]?\d+),(\d{1,2})")
_RECORDED_RATE = re.compile(r"[01](?:\.\d{1,40})?")  # a rate as a decision record writes it: "0.0002"
_YAML_BOOL_HINT = "YAML reads yes, no, on, off, true and false as a yes/no value: put the text in quotes, e.g. 'NO'"

_ATTRIBUTE_HINTS = {
    FieldType.INT: "bundle.yaml declares this attribute as a whole number (int): write one such as 12",
    FieldType.DECIMAL: "bundle.yaml declares this attribute as a number (decimal): write one such as 0.25",
    FieldType.MONEY: "bundle.yaml declares this attribute as money: write it with its currency, e.g. 6000 CNY",
    FieldType.BOOL: "bundle.yaml declares this attribute as yes/no (bool): write true or false",
    FieldType.STR: "bundle.yaml declares this attribute as text (str): write it in quotes, e.g. 'SE'",
}

# where, name, value as the case writes it -> the value as a request sends it (money in fen), or what is wrong
AttributeCheck = Callable[[FieldPath, str, object], "tuple[object, CaseIssue | None]"]


@dataclass(frozen=True)
class LineInput:
    credit_limit: int
    outstanding: int  # fen owed on one seeded drawdown
    days_past_due: int
    status: LineStatus
    residence_country: str
    daily_interest_rate: Decimal


@dataclass(frozen=True)
class EventInput:
    event_type: EventType
    minutes_ago: Decimal
    amount: int
    device_id: str
    counterparty_id: str
    country: str


@dataclass(frozen=True)
class DrawdownInput:
    amount: int
    term_months: int
    repayment_method: RepaymentMethod
    purpose: str
    channel: ChannelInput


@dataclass(frozen=True)
class TransactionInput:
    event_type: EventType
    amount: int
    counterparty_id: str
    merchant_category: str
    channel: ChannelInput


@dataclass(frozen=True)
class CaseInput:
    """What one case sets up and asks, every value checked. `applicant.user_id` is left for the runner to set."""

    call: str
    applicant: ApplicantInput
    credit_line: LineInput | None  # None: the user has no credit line
    history: tuple[EventInput, ...]
    drawdown: DrawdownInput
    transaction: TransactionInput
    # what the service makes of a value the case gives, where that is not what the case says (an amount given with
    # a login is taken as 0): sentences, for the case's output to tell its writer
    notes: tuple[str, ...] = ()


def attribute_check(bundle: RuleBundle) -> AttributeCheck:
    """How `bundle` judges one applicant attribute of a case: of its declared kind, as it judges a request's
    (RuleBundle.check_attributes); and, unlike a request's, declared. A request may send an attribute before the
    rules use it, but a case's misspelt one would be decided on the attribute's default: passing, or failing, for
    a reason the case does not show. Money is written as every amount of a case is, with its currency (a request
    sends fen), so a bare number is refused as the other amounts refuse it."""
    declared = tuple(bundle.attributes)

    def check(path: FieldPath, name: str, value: object) -> tuple[object, CaseIssue | None]:
        kind = bundle.attributes.get(name)
        if kind is None:
            return value, _undeclared_attribute(path, name, declared)
        if kind is FieldType.MONEY and value is not None:
            try:
                value = parse_amount(value)
            except AmountError as bad:
                return value, CaseIssue(path, str(bad), bad.hint, P.WRONG_SHAPE)
        return value, refusal(path, name, kind, value)

    def refusal(path: FieldPath, name: str, kind: FieldType, value: object) -> CaseIssue | None:
        try:
            bundle.check_attributes({name: value})
        except InvalidRequest as refused:
            what = "; ".join(v.description for v in refused.violations)
            if what.startswith("must be one of"):
                hint = "use one of the values bundle.yaml lists for this attribute, in quotes if in doubt"
            else:
                hint = _ATTRIBUTE_HINTS[kind]
            if isinstance(value, bool):
                hint += "; " + _YAML_BOOL_HINT
            said = what if " not " in what else f"{what}, not {shown(value)}"
            return CaseIssue(path, said, hint, P.WRONG_SHAPE)
        return None

    return check


def _undeclared_attribute(path: FieldPath, name: str, declared: tuple[str, ...]) -> CaseIssue:
    if not declared:
        return CaseIssue(path, "is not an attribute of this bundle: bundle.yaml declares none",
                         "declare it in bundle.yaml under 'attributes:' (see docs/rules.md), or remove it from the "
                         "case", P.UNKNOWN_KEY)
    close = suggest(name, declared)
    fix = f"write '{close}'" if close else f"use an attribute bundle.yaml declares ({_some(declared)})"
    return CaseIssue(path, f"is not an attribute bundle.yaml declares{_did_you_mean(name, declared)}",
                     f"{fix}, or declare '{name}' in bundle.yaml under 'attributes:'", P.UNKNOWN_KEY)


def _some(names: tuple[str, ...], most: int = 10) -> str:
    """`a, b, c`, or the first `most` of them and how many more."""
    shown_names = ", ".join(names[:most])
    return shown_names if len(names) <= most else f"{shown_names} and {len(names) - most} more"


@dataclass(frozen=True)
class Expectable:
    """What a bundle's decisions can name: the ids of its rules, its reason and flag codes, its score bands."""

    rule_ids: tuple[str, ...]
    codes: tuple[str, ...]
    bands: tuple[str, ...]
    rule_sets: Mapping[str, RuleSetKind]  # the rule set of each rule id


# The rule sets each call runs: a rule of another set can never fire in a case making that call.
CALL_RULE_SETS = {
    "ScoreUser": (RuleSetKind.SCORECARD,),
    "GrantLimit": (RuleSetKind.SCORECARD, RuleSetKind.ELIGIBILITY, RuleSetKind.LIMITS),
    "AuthorizeDrawdown": DRAWDOWN_RULES,
    "FlagTransaction": FRAUD_RULES,
}
_RULE_SET_WORDS = {RuleSetKind.SCORECARD: "a scorecard bin", RuleSetKind.ELIGIBILITY: "an eligibility rule",
                   RuleSetKind.LIMITS: "a limit cap", RuleSetKind.DRAWDOWN: "a drawdown rule",
                   RuleSetKind.FRAUD: "a fraud rule"}


def expectable(bundle: RuleBundle) -> Expectable:
    """The rule ids, codes and bands `bundle` can give (the codes bundle.yaml declares and the service's own)."""
    codes = sorted({*bundle.reasons, *SERVICE_REASONS})
    rule_sets = {rule_id: kind for kind in RuleSetKind for rule_id in bundle.rule_ids(kind)}
    return Expectable(tuple(bundle.all_rule_ids()), tuple(codes), tuple(b.name for b in bundle.scorecard.bands),
                      rule_sets)


def unknown_expectations(expect: Mapping[str, object], known: Expectable, call: str) -> list[CaseIssue]:
    """The rule ids, reason and flag codes and band a test case expects that the bundle can never give (R702), and
    the rules it expects to fire that its call never runs: such a case fails whatever the rules decide, and its
    failure alone would not say that the name, or the call, is wrong."""
    issues: list[CaseIssue] = []
    fires = expect.get("fires")
    for index, rule_id in enumerate(fires if isinstance(fires, list) else ()):
        kind = known.rule_sets.get(rule_id) if isinstance(rule_id, str) else None
        runs = CALL_RULE_SETS.get(call, ())
        if kind is not None and runs and kind not in runs:
            callers = [name for name, kinds in CALL_RULE_SETS.items() if kind in kinds]
            issues.append(CaseIssue(("expect", "fires", index), f"{rule_id} is {_RULE_SET_WORDS[kind]}, which "
                                    f"{call} never runs", f"use call: {' or '.join(callers)}, or expect a rule "
                                    f"{call} runs", P.UNKNOWN_EXPECTATION))

    def check(path: FieldPath, value: object, candidates: tuple[str, ...], what: str, hint: str) -> None:
        if isinstance(value, str) and value not in candidates:
            issues.append(CaseIssue(path, f"{shown(value)} is not {what}{_did_you_mean(value, candidates)}", hint,
                                    P.UNKNOWN_EXPECTATION))

    lists = (
        ("fires", known.rule_ids, "the id of a rule in this bundle",
         "write the rule's id as its rule file does (a scorecard bin as SC-REPAY/1)"),
        ("reasons", known.codes, "a reason code of this bundle", "use a code that bundle.yaml declares under reasons"),
        ("flags", known.codes, "a flag code of this bundle", "use a code that bundle.yaml declares under reasons"),
    )
    for key, candidates, what, hint in lists:
        values = expect.get(key)
        for index, value in enumerate(values if isinstance(values, list) else ()):
            check(("expect", key, index), value, candidates, what, hint)
    check(("expect", "band"), expect.get("band"), known.bands, "a score band of this bundle",
          f"use a band that scorecard.yaml defines: {', '.join(known.bands)}")
    return issues


def shown(value: object) -> str:
    """A value as the case wrote it, short: 'abc', 2.5, true, nothing, a list."""
    if value is None:
        return "nothing"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, dict):
        return "a mapping"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, WrittenInt):
        return value.written
    text = str(value) if isinstance(value, int | float | Decimal) else f"'{value}'"
    return text if len(text) <= 40 else text[:37] + "..."


class AmountError(ValueError):
    """An amount that is not written as one; `hint` says how to write it."""

    def __init__(self, message: str, hint: str = "write the amount with its currency, e.g. 1000 CNY or 99.95 CNY"
                 ) -> None:
        super().__init__(message)
        self.hint = hint


def parse_amount(value: object) -> int:
    """'1,000.50 CNY' -> 100050 fen. Raises AmountError saying in words what is wrong, for anything else."""
    if isinstance(value, int) and not isinstance(value, bool):
        raise AmountError(f"an amount is written with its currency, not {shown(value)}", _bare_number_hint(value))
    if isinstance(value, float):
        raise AmountError(f"an amount is written with its currency, not {shown(value)}", f"write {shown(value)} CNY")
    match = _AMOUNT.fullmatch(value.strip()) if isinstance(value, str) and len(value) <= 64 else None
    if match is None:
        raise AmountError(f"an amount is written like 1000 CNY or 99.95 CNY, not {shown(value)}")
    if match.group(2) != "CNY":
        raise AmountError(f"amounts are in CNY, not {match.group(2)}", "write the amount in CNY, e.g. 1000 CNY")
    if "," in match.group(1) and not _THOUSANDS.fullmatch(match.group(1)):
        raise AmountError(f"{shown(value)} has a comma that is not a thousands separator",
                          _decimal_comma_hint(match.group(1)))
    try:
        fen = Decimal(match.group(1).replace(",", "").replace("_", "")) * 100
    except InvalidOperation:  # pragma: no cover - the pattern admits only decimals
        raise AmountError(f"{shown(value)} is not an amount") from None
    if fen != fen.to_integral_value():
        raise AmountError(f"{shown(value)} has a fraction of a fen", "write at most 2 decimal places")
    if abs(fen) > MAX_FEN:
        raise AmountError(f"{shown(value)} is more than the largest amount the service handles",
                          f"write at most {format_fen_as_yuan(MAX_FEN)} CNY")
    return int(fen)


def _decimal_comma_hint(number: str) -> str:
    """How to write an amount whose commas are not thousands separators: most likely a decimal comma."""
    decimal = _DECIMAL_COMMA.fullmatch(number)
    example = f"{decimal.group(1)}.{decimal.group(2)} CNY" if decimal else "300000.50 CNY"
    return (f"write the decimal point as '.', e.g. {example}; a comma may only separate thousands, in groups of three"
            " digits, as in 300,000.50 CNY")


def _bare_number_hint(value: int) -> str:
    """How to write an amount given as a bare whole number: in fen if it was copied from a decision record, which
    keeps amounts so, or in yuan. Both readings, each named: either alone is 100 times off for the other."""
    if abs(value) > MAX_FEN:
        return f"write the amount with its currency, at most {format_fen_as_yuan(MAX_FEN)} CNY"
    as_fen = f"write {format_fen_as_yuan(value)} CNY if {value} is in fen, as decision records keep amounts"
    return as_fen if abs(value) * 100 > MAX_FEN else f"{as_fen}, or {value} CNY if it is in yuan"


# -- the shape of a case: no bundle needed ------------------------------------------------------------------


def case_shape_issues(spec: object, *, for_test: bool) -> list[CaseIssue]:
    """What is wrong with a case's keys, call and (for a test case) expectations; [] when nothing is.
    `for_test`: a rule test needs a name and an expectation; an input to `rules explain` needs neither."""
    if not isinstance(spec, dict):
        return [CaseIssue((), f"a case is a mapping of 'key: value' lines, not {shown(spec)}",
                          "start each case with '- name: ...' (see docs/rules.md, Rule tests)", P.WRONG_SHAPE)]
    issues: list[CaseIssue] = []
    if for_test and not isinstance(spec.get("name"), str):
        what = "needs a 'name:'" if spec.get("name") is None else "'name:' must be text"
        issues.append(CaseIssue((), what, "give every case a name that says what it shows", P.MISSING_KEY))
    for key in spec:
        if key not in CASE_KEYS:
            issues.append(CaseIssue((key,), f"is not a key of a case{_did_you_mean(key, CASE_KEYS)}",
                                    "a case has: " + ", ".join(CASE_KEYS), P.UNKNOWN_KEY))
    call = spec.get("call")
    if call not in CALLS:
        what = "needs a 'call:'" if call is None else f"{shown(call)} is not a call a case can make"
        close = _did_you_mean(call, CALLS) if isinstance(call, str) else ""
        issues.append(CaseIssue(("call",), what + close, "use one of " + ", ".join(CALLS),
                                P.MISSING_KEY if call is None else P.INVALID_VALUE))
        return issues
    uses = INPUTS_BY_CALL[call]
    for key in CASE_KEYS[2:-1]:
        if key in spec and key not in uses:
            issues.append(CaseIssue((key,), f"{call} does not use '{key}'; it uses {', '.join(uses)}",
                                    "remove it, or change 'call:'", P.UNKNOWN_KEY))
    if for_test or "expect" in spec:
        issues += _expect_issues(spec.get("expect"), call, required=for_test)
    return issues


def _expect_issues(expect: object, call: str, *, required: bool) -> list[CaseIssue]:
    allowed = EXPECTATIONS_BY_CALL[call]
    if not isinstance(expect, dict) or (required and not expect):
        if expect is None and not required:
            return []
        return [CaseIssue(("expect",), "must state at least one expectation, e.g. {outcome: APPROVE}",
                          f"{call} can be expected to give: {', '.join(allowed)}", P.MISSING_KEY)]
    issues: list[CaseIssue] = []
    for key in expect:
        if key not in _ANY_EXPECTATION:  # a typo ('reason' for 'reasons'), not another call's expectation
            close = suggest(key, allowed) if isinstance(key, str) else None
            issues.append(CaseIssue(("expect", key), "is not an expectation" + (f" (did you mean '{close}'?)"
                                    if close else f"; {call} can be expected to give: {', '.join(allowed)}"),
                                    f"write '{close}'" if close else "write one of them, or remove it",
                                    P.UNKNOWN_KEY))
    extra = [key for key in expect if key not in allowed and key in _ANY_EXPECTATION]
    if extra:
        issues.append(CaseIssue((), f"{call} cannot be expected to give {', '.join(map(str, extra))}; it gives "
                                f"{', '.join(allowed)}", "remove the expectation, or change 'call:'", P.UNKNOWN_KEY))
    if issues:
        return issues

    def fail(key: str, message: str, hint: str, code: P.ProblemCode = P.INVALID_VALUE) -> None:
        issues.append(CaseIssue(("expect", key), message, hint, code))

    for key, values in (("outcome", OUTCOMES), ("risk_level", RISK_LEVELS)):
        if key in expect and expect[key] not in values:
            close = _did_you_mean(expect[key], values) if isinstance(expect[key], str) else ""
            fail(key, f"{shown(expect[key])} is not one of {', '.join(values)}{close}",
                 "use one of " + ", ".join(values))
    for key in ("reasons", "flags", "fires"):
        if key in expect and not (isinstance(expect[key], list) and all(isinstance(c, str) for c in expect[key])):
            fail(key, f"must be a list of codes such as [LOW_SCORE], not {shown(expect[key])}",
                 "write the codes in square brackets; [] for none", P.WRONG_SHAPE)
    if "band" in expect and not isinstance(expect["band"], str):
        fail("band", f"must be a band name such as A, not {shown(expect['band'])}", "write the band's name")
    if "score" in expect:
        score = expect["score"]
        bounds = score if isinstance(score, dict) else {"score": score}
        if isinstance(score, dict) and (not score or set(score) - {"min", "max"}):
            fail("score", "a range of scores is written {min: 600, max: 649}", "use 'min:', 'max:' or both",
                 P.WRONG_SHAPE)
        elif not all(_is_whole(v) for v in bounds.values()):
            fail("score", f"must be a whole number or a range {{min: 600, max: 649}}, not {shown(score)}",
                 "write whole numbers", P.WRONG_SHAPE)
        elif isinstance(score, dict) and "min" in score and "max" in score and score["min"] > score["max"]:
            low, high = score["min"], score["max"]
            fail("score", f"min {shown(low)} is above max {shown(high)}: no score is in this range",
                 f"write the lower score as min: {{min: {shown(high)}, max: {shown(low)}}}")
    if "limit" in expect:
        try:
            parse_amount(expect["limit"])
        except AmountError as bad:
            fail("limit", str(bad), bad.hint, P.WRONG_SHAPE)
    return issues


# -- the input of a case ------------------------------------------------------------------------------------


def read_case_input(spec: Mapping[str, object], check_attribute: AttributeCheck) -> CaseInput:
    """The checked input of a case whose shape is valid (case_shape_issues gave []). Raises CaseRefused naming
    every value that is wrong; `check_attribute` judges applicant attributes as the bundle does."""
    reader = _Reader(check_attribute)
    data = reader.case(spec)
    if reader.issues:
        raise CaseRefused(reader.issues)
    return data


class _Reader:
    """Reads the values of one case, collecting an issue for each bad one (and going on with a stand-in)."""

    def __init__(self, check_attribute: AttributeCheck) -> None:
        self.issues: list[CaseIssue] = []
        self.notes: list[str] = []
        self._check_attribute = check_attribute

    def fail(self, path: FieldPath, message: str, hint: str, code: P.ProblemCode = P.INVALID_VALUE) -> None:
        self.issues.append(CaseIssue(path, message, hint, code))

    def case(self, spec: Mapping[str, object]) -> CaseInput:
        call = str(spec["call"])
        line = spec.get("credit_line")
        data = CaseInput(
            call=call,
            applicant=self.applicant(self.mapping(spec, "applicant", (), tuple(DEFAULT_APPLICANT))),
            credit_line=None if line is None else self.credit_line(self.mapping(spec, "credit_line", (), _LINE_KEYS)),
            history=self.history(spec.get("history")),
            drawdown=self.drawdown(self.mapping(spec, "drawdown", (), _DRAWDOWN_KEYS)),
            transaction=self.transaction(self.mapping(spec, "transaction", (), _TRANSACTION_KEYS)),
        )
        return replace(data, notes=tuple(self.notes))  # those of every section, read

    # -- sections ------------------------------------------------------------------------------------------
    def applicant(self, given: dict[str, object]) -> ApplicantInput:
        path = ("applicant",)
        counts = {key: self.whole(given, key, path, 0, APPLICANT_MAXIMA.get(key, MAX_COUNT), default)
                  for key, default in _APPLICANT_COUNT_DEFAULTS.items()}
        amounts = {key: self.money(given, key, path, default) for key, default in APPLICANT_AMOUNTS.items()}
        return ApplicantInput(
            user_id="",
            real_name_verified=self.flag(given, "real_name_verified", path, True),
            agreement_signed=self.flag(given, "agreement_signed", path, True),
            country=self.country(given, "country", path, "CN"),
            attributes=self.attributes(given.get("attributes"), (*path, "attributes")),
            **counts,
            **amounts,
        )

    def attributes(self, given: object, path: FieldPath) -> dict[str, object]:
        if given is None:
            return {}
        if not isinstance(given, dict):
            self.fail(path, f"must be a mapping such as {{employment_months: 12}}, not {shown(given)}",
                      "write each attribute as 'name: value'", P.WRONG_SHAPE)
            return {}
        if len(given) > MAX_ATTRIBUTES:
            self.fail(path, f"has {len(given)} attributes; at most {MAX_ATTRIBUTES}", "remove some", P.TOO_LARGE)
            return {}
        attributes: dict[str, object] = {}
        for name, value in given.items():
            where = (*path, name)
            if not ATTRIBUTE_NAME.fullmatch(name):
                self.fail(where, "is not an attribute name", "attribute names are lower_snake_case, at most 64 "
                          "characters, as declared in bundle.yaml", P.INVALID_VALUE)
                continue
            if isinstance(value, dict | list):
                self.fail(where, f"must be a number, true/false, text or nothing, not {shown(value)}",
                          "write a single value", P.WRONG_SHAPE)
                continue
            if isinstance(value, int) and not isinstance(value, bool) and abs(value) > MAX_FEN:
                self.fail(where, f"{shown(value)} is out of range (at most 15 digits)", "write a smaller number")
                continue
            if isinstance(value, float) and not math.isfinite(value):
                self.fail(where, f"must be a finite number, not {shown(value)}", "write a number such as 0.25")
                continue
            if isinstance(value, str) and (len(value) > MAX_ATTRIBUTE_TEXT or not value.isprintable()):
                self.fail(where, f"must be printable text of at most {MAX_ATTRIBUTE_TEXT} characters",
                          "shorten it; no tabs or line breaks")
                continue
            if isinstance(value, WrittenInt):
                value = int(value)  # bundle.yaml declares no attribute an id: its value counts, read in decimal
            value, refused = self._check_attribute(where, name, value)
            if refused is not None:
                self.issues.append(refused)
                continue
            attributes[name] = value
        return attributes

    def credit_line(self, given: dict[str, object]) -> LineInput:
        path = ("credit_line",)
        limit = self.money(given, "credit_limit", path, "20000 CNY")
        outstanding = self.money(given, "outstanding", path, "0 CNY")
        days_past_due = self.whole(given, "days_past_due", path, 0, MAX_DAYS_PAST_DUE, 0)
        if outstanding > limit:
            self.fail((*path, "outstanding"), f"is more than the credit limit of {format_fen_as_yuan(limit)} CNY",
                      "lower credit_line.outstanding or raise credit_line.credit_limit")
        elif days_past_due and not outstanding and limit < SEEDED_OVERDUE_FEN:
            self.fail((*path, "days_past_due"), "needs something outstanding, and the 100 CNY assumed is more than "
                      "the credit limit", "give credit_line.outstanding, no more than the credit limit")
        return LineInput(
            credit_limit=limit,
            outstanding=outstanding or (SEEDED_OVERDUE_FEN if days_past_due else 0),
            days_past_due=days_past_due,
            status=LineStatus(self.choice(given, "status", path, tuple(LineStatus), "a credit line status", "ACTIVE")),
            residence_country=self.country(given, "residence_country", path, "CN"),
            daily_interest_rate=self.rate(given, "daily_interest_rate", path),
        )

    def rate(self, owner: Mapping[str, object], key: str, base: FieldPath) -> Decimal:
        """A daily rate from 0 to 1 with at most DECIMAL_PLACES decimal places, as a bundle's rates are; also written
        as a decision record keeps it, as text ("line_daily_interest_rate": "0.0002")."""
        written = owner.get(key)
        if isinstance(written, str) and _RECORDED_RATE.fullmatch(written) and Decimal(written) <= 1:
            rate = Decimal(written)
        else:
            rate = self.number(owner, key, base, Decimal(1), Decimal("0.0003"),
                               "a daily rate from 0 to 1, e.g. 0.0003")
        if decimal_places(rate) > DECIMAL_PLACES:
            self.fail((*base, key), f"has more than {DECIMAL_PLACES} decimal places, as no band's rate can",
                      f"round it to at most {DECIMAL_PLACES} decimal places, e.g. 0.000657534")
            return Decimal("0.0003")
        return rate

    def history(self, given: object) -> tuple[EventInput, ...]:
        path: FieldPath = ("history",)
        if given is None:
            return ()
        if not isinstance(given, list):
            self.fail(path, f"must be a list of events, not {shown(given)}",
                      "write each event on its own line starting with '- ', e.g. - {type: LOGIN, minutes_ago: 60}",
                      P.WRONG_SHAPE)
            return ()
        if len(given) > MAX_HISTORY_EVENTS:
            self.fail(path, f"has {len(given)} events; at most {MAX_HISTORY_EVENTS}", "keep the events the case "
                      "needs", P.TOO_LARGE)
            return ()
        return tuple(self.event(event, (*path, index)) for index, event in enumerate(given))

    def event(self, given: object, path: FieldPath) -> EventInput:
        fields = self.mapping_value(given, path, _EVENT_KEYS)
        if isinstance(given, dict) and "type" not in given:
            self.fail(path, "needs a 'type:'", "use one of " + ", ".join(EventType), P.MISSING_KEY)
        return EventInput(
            event_type=EventType(self.choice(fields, "type", path, tuple(EventType), "an account event type", "LOGIN")),
            minutes_ago=self.number(fields, "minutes_ago", path, Decimal(MAX_MINUTES_AGO), Decimal(0),
                                    f"a number of minutes from 0 to {MAX_MINUTES_AGO} (ten years)"),
            amount=self.money(fields, "amount", path, "0 CNY"),
            device_id=self.text(fields, "device_id", path, MAX_ID_LENGTH, ""),
            counterparty_id=self.text(fields, "counterparty_id", path, MAX_ID_LENGTH, ""),
            country=self.country(fields, "country", path, ""),
        )

    def drawdown(self, given: dict[str, object]) -> DrawdownInput:
        path = ("drawdown",)
        purpose = self.text(given, "purpose", path, MAX_TEXT_LENGTH, "CONSUMPTION")
        if not PURPOSE_CODE.fullmatch(purpose):
            self.fail((*path, "purpose"), f"{shown(purpose)} is not a purpose code",
                      "write an upper-case code such as CONSUMPTION")
        method = self.choice(given, "repayment_method", path, tuple(RepaymentMethod), "a repayment method",
                             "EQUAL_INSTALLMENT")
        return DrawdownInput(
            amount=self.money(given, "amount", path, "1000 CNY", positive=True),
            term_months=self.whole(given, "term_months", path, 1, MAX_TERM_MONTHS, 6),
            repayment_method=RepaymentMethod(method),
            purpose=purpose,
            channel=self.channel(given, path),
        )

    def transaction(self, given: dict[str, object]) -> TransactionInput:
        path = ("transaction",)
        event_type = EventType(self.choice(given, "type", path, tuple(EventType), "an account event type", "LOGIN"))
        amount = self.money(given, "amount", path, "0 CNY")
        moves_money = event_type in MONEY_MOVING_EVENTS
        if moves_money and amount == 0 and not any(i.path == (*path, "amount") for i in self.issues):
            self.fail((*path, "amount"), f"a {event_type.value} moves money: it needs an amount above 0 CNY",
                      "give the amount, e.g. amount: 500 CNY", P.MISSING_KEY)
        if amount and not moves_money:
            self.notes.append(_no_money_note(event_type, amount))
        return TransactionInput(
            event_type=event_type,
            amount=amount if moves_money else 0,  # checked, then taken as 0, as the service takes it (requests.py)
            counterparty_id=self.text(given, "counterparty_id", path, MAX_ID_LENGTH, ""),
            merchant_category=self.text(given, "merchant_category", path, MAX_TEXT_LENGTH, ""),
            channel=self.channel(given, path),
        )

    def channel(self, owner: dict[str, object], owner_path: FieldPath) -> ChannelInput:
        path = (*owner_path, "channel")
        given = self.mapping_value(owner.get("channel"), path, _CHANNEL_KEYS)
        written = self.text(given, "ip", path, MAX_TEXT_LENGTH, "")
        ip = canonical_ip(written) if written else ""
        if ip is None:
            self.fail((*path, "ip"), f"{shown(written)} is not an IP address", "write an IPv4 or IPv6 address such "
                      "as 203.0.113.7, or leave it out")
        return ChannelInput(
            device_id=self.text(given, "device_id", path, MAX_ID_LENGTH, ""),
            ip=ip or "",
            country=self.country(given, "country", path, "CN"),
            city=self.text(given, "city", path, MAX_TEXT_LENGTH, ""),
        )

    # -- shapes --------------------------------------------------------------------------------------------
    def mapping(self, owner: Mapping[str, object], key: str, base: FieldPath, allowed: tuple[str, ...]
                ) -> dict[str, object]:
        return self.mapping_value(owner.get(key), (*base, key), allowed)

    def mapping_value(self, given: object, path: FieldPath, allowed: tuple[str, ...]) -> dict[str, object]:
        """The entries of a mapping (nothing: none), with an issue for each key that is not `allowed`."""
        if given is None:
            return {}
        if not isinstance(given, dict):
            self.fail(path, f"must be a mapping such as {{{allowed[0]}: ...}}, not {shown(given)}",
                      "write 'key: value' entries, in braces or one per line", P.WRONG_SHAPE)
            return {}
        for key in given:
            if key not in allowed:
                self.fail((*path, key), f"is not one of the fields here{_did_you_mean(key, allowed)}",
                          "the fields are: " + ", ".join(allowed), P.UNKNOWN_KEY)
        return {key: value for key, value in given.items() if key in allowed}

    def _given(self, owner: Mapping[str, object], key: str, path: FieldPath) -> object:
        """The value of `key`, or None when it is not given; an empty value is an issue."""
        if key not in owner:
            return None
        value = owner[key]
        if value is None:
            self.fail((*path, key), "is empty", "write a value, or leave the key out for the default", P.WRONG_SHAPE)
        return value

    # -- values --------------------------------------------------------------------------------------------
    def whole(self, owner: Mapping[str, object], key: str, base: FieldPath, low: int, high: int, default: int
              ) -> int:
        value = self._given(owner, key, base)
        if value is None:
            return default
        if not _is_whole(value):
            self.fail((*base, key), f"must be a whole number from {low} to {high}, not {shown(value)}",
                      _number_hint(value), P.WRONG_SHAPE)
            return default
        assert isinstance(value, int)
        if not low <= value <= high:
            self.fail((*base, key), f"must be from {low} to {high}, not {shown(value)}",
                      f"write a whole number from {low} to {high}")
            return default
        return int(value)

    def number(self, owner: Mapping[str, object], key: str, base: FieldPath, high: Decimal, default: Decimal,
               what: str) -> Decimal:
        value = self._given(owner, key, base)
        if value is None:
            return default
        number: Decimal | None = None
        if _is_whole(value):
            assert isinstance(value, int)
            number = Decimal(int(value))
        elif type(value) is float and math.isfinite(value):
            number = Decimal(repr(value))
        if number is None:
            self.fail((*base, key), f"must be {what}, not {shown(value)}", _number_hint(value), P.WRONG_SHAPE)
            return default
        if not 0 <= number <= high:
            self.fail((*base, key), f"must be {what}, not {shown(value)}", f"write {what}")
            return default
        return number

    def flag(self, owner: Mapping[str, object], key: str, base: FieldPath, default: bool) -> bool:
        value = self._given(owner, key, base)
        if value is None:
            return default
        if not isinstance(value, bool):
            self.fail((*base, key), f"must be true or false, not {shown(value)}", "write true or false, without "
                      "quotes", P.WRONG_SHAPE)
            return default
        return value

    def money(self, owner: Mapping[str, object], key: str, base: FieldPath, default: object, *,
              positive: bool = False) -> int:
        value = self._given(owner, key, base)
        try:
            fen = parse_amount(default if value is None else value)
        except AmountError as bad:
            self.fail((*base, key), str(bad), bad.hint, P.WRONG_SHAPE)
            return 0
        if fen < 0 or (positive and fen == 0):
            self.fail((*base, key), f"must be {'more than' if positive else 'at least'} 0 CNY, not "
                      f"{format_fen_as_yuan(fen)} CNY", "write an amount above 0 CNY" if positive else
                      "write an amount of 0 CNY or more")
            return 0
        return fen

    def text(self, owner: Mapping[str, object], key: str, base: FieldPath, limit: int, default: str) -> str:
        value = self._given(owner, key, base)
        if value is None:
            return default
        if isinstance(value, bool) or not isinstance(value, str | int):
            hint = _YAML_BOOL_HINT if isinstance(value, bool) else "write the text, in quotes if in doubt"
            self.fail((*base, key), f"must be text, not {shown(value)}", hint, P.WRONG_SHAPE)
            return default
        text = value.written if isinstance(value, WrittenInt) else str(value)
        if len(text) > limit:
            self.fail((*base, key), f"must be at most {limit} characters, not {len(text)}", "shorten it")
            return default
        if not text.isprintable() or text != text.strip():
            self.fail((*base, key), "must be printable text, without tabs, line breaks or spaces around it",
                      "remove them")
            return default
        return text

    def country(self, owner: Mapping[str, object], key: str, base: FieldPath, default: str) -> str:
        value = self.text(owner, key, base, MAX_TEXT_LENGTH, default)
        if value and not COUNTRY_CODE.fullmatch(value):
            self.fail((*base, key), f"{shown(value)} is not a country code",
                      "write a two-letter ISO code in capitals such as CN, or '' for none")
            return default
        return value

    def choice(self, owner: Mapping[str, object], key: str, base: FieldPath, values: tuple[str, ...], what: str,
               default: str) -> str:
        value = self._given(owner, key, base)
        if value is None:
            return default
        if value not in values:
            close = _did_you_mean(value, values) if isinstance(value, str) else ""
            self.fail((*base, key), f"{shown(value)} is not {what}{close}", "use one of " + ", ".join(values))
            return default
        return str(value)


def _no_money_note(event_type: EventType, amount: int) -> str:
    """What becomes of an amount given with an event that moves no money, said to the case's writer."""
    money_moving = ", ".join(sorted(MONEY_MOVING_EVENTS))
    return (f"transaction.amount: a {event_type.value} moves no money, so the {format_fen_as_yuan(amount)} CNY given "
            f"is taken as 0 CNY, as the service takes it: the rules see {' and '.join(ZERO_WITHOUT_MONEY)} as 0; "
            f"to test an amount, use an event that moves money ({money_moving})")


def _did_you_mean(word: object, candidates: tuple[str, ...]) -> str:
    close = suggest(word, candidates) if isinstance(word, str) else None
    return f" (did you mean '{close}'?)" if close else ""


def _is_whole(value: object) -> bool:
    """A whole number as a case writes one (true and false are yes/no values, not 1 and 0)."""
    return isinstance(value, int) and not isinstance(value, bool)


def _number_hint(value: object) -> str:
    if isinstance(value, str) and NON_DECIMAL_NUMBER.fullmatch(value):
        return "write the number with the digits 0-9 only: hex (0x1F), binary (0b101) and times (10:20) are not read"
    if isinstance(value, str):
        return "write the number without quotes, units or an exponent"
    return "write a number"
