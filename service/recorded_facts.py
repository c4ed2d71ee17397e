"""What a decision record keeps of the facts its rules saw besides the request, given back to `rules explain`.

A drawdown's or an account event's record keeps the device as a keyed hash (`"device": "05a6..."`, empty when the
call named none; the IP too, `"ip"`, when a rule reads it), the features of the user's history its rules read
(`"features.drawdowns_last_hour": 3`) and, of the values it keeps only as keyed hashes, which were on the lists they
look in and which equalled a text they compare them with (`"listed": ["transaction.counterparty_id in
lists.mule_counterparties", "channel.ip == '10.9.9.9'"]`). Copied into an explain input as they are (a money feature
in the whole fen the record keeps, `"features.drawdown_amount_last_hour": 110000`, or with its currency), they are
what the rules see in place of what the input's history and values would give: so a decision is explained from its
record alone, its history not worked through again, and a counterparty the record keeps as a hash is taken as the
listed one it was, an IP as the text it equalled.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation

from service.app.usecases import KEPT_AS_KEYED_HASH, RECORDED_WHEN_READ
from service.case_input import APPLICANT_AMOUNTS, CALL_RULE_SETS, CALLS, AmountError, parse_amount, shown
from service.case_yaml import CaseIssue, CaseRefused
from service.domain.money import MAX_FEN, format_fen_as_yuan
from service.engine import problems as P
from service.engine.bundle import RuleBundle, equality_written, membership_written
from service.engine.catalogue import FEATURE_FIELDS, FieldType
from service.engine.typecheck import suggest

LISTED = "listed"
DEVICE = "device"  # the record's device, a keyed hash: stands for the channel's device_id
IP = "ip"  # the record's IP, a keyed hash: stands for the channel's ip, which no IP address form would take
_HASHES = {DEVICE: "channel.device_id", IP: "channel.ip"}
FEATURE_PREFIX = "features."
RECORDING_CALLS = ("AuthorizeDrawdown", "FlagTransaction")  # the calls whose records keep them
_FEATURE_TYPES = {f.name: f.type for f in FEATURE_FIELDS}


@dataclass(frozen=True)
class RecordedFacts:
    """Features and list memberships an explain input gives, checked against the bundle."""

    features: dict[str, object] = field(default_factory=dict)  # by field name, `features.drawdowns_last_hour`
    listed: tuple[tuple[str, str], ...] = ()  # (field, list name): the field's value was on the list
    device: str | None = None  # the record's device (empty: the call named none)
    equal: tuple[tuple[str, str], ...] = ()  # (field, text): the field's value was this text the rules name
    hashes: dict[str, str] = field(default_factory=dict)  # by field name: the record's keyed hash of its value
    compared: dict[str, frozenset[str]] = field(default_factory=dict)  # by field: the texts the rules compare it with
    set_aside: tuple[str, ...] = ()  # a record's listed entries for tests only the rules that decided it make

    @property
    def given(self) -> bool:
        return bool(self.features or self.listed or self.equal or self.hashes) or self.device is not None

    @property
    def taken_on_trust(self) -> bool:
        """Whether `listed` entries were given: facts of the bundle that decided, which no other bundle can check."""
        return bool(self.listed or self.equal)

    def applied(self, facts: Mapping[str, object], bundle: RuleBundle) -> dict[str, object]:
        """`facts` as the rules are to see them: the given features in place of those worked out, each listed field
        holding a value of its list (any one the rules compare it with no text: they only ask whether it is on the
        list) and each field said to equal a text holding that text."""
        seen = {**facts, **self.features, **self.hashes}
        if self.device is not None:
            seen["channel.device_id"] = self.device
        for name, list_name in self.listed:
            if members := bundle.list_members(list_name):
                seen[name] = min(members - self.compared.get(name, frozenset()) or members)
        seen.update(self.equal)
        return seen


def is_recorded_key(key: object) -> bool:
    return isinstance(key, str) and (key in (LISTED, DEVICE, IP) or key.startswith(FEATURE_PREFIX))


def recorded_facts(spec: Mapping[str, object], call: object, bundle: RuleBundle, *, other_rules: bool = False
                   ) -> tuple[RecordedFacts, list[CaseIssue]]:
    """The recorded facts an explain input gives (top-level `features.*` keys and `listed`), and what is wrong with
    them. `other_rules`: the input is a decision record made under other rules than `bundle`'s, whose listed entries
    may name tests only those rules make; those are set aside rather than refused, as the record was not edited."""
    given = {key: value for key, value in spec.items() if is_recorded_key(key)}
    if not given:
        return RecordedFacts(), []
    if call not in RECORDING_CALLS:
        return RecordedFacts(), [CaseIssue((key,), f"only a drawdown's or an account event's record keeps it, not a "
                                           f"{call}'s", "remove it, or use call: AuthorizeDrawdown or FlagTransaction",
                                           P.UNKNOWN_KEY) for key in given]
    issues: list[CaseIssue] = []
    features: dict[str, object] = {}
    hashes: dict[str, str] = {}
    for key, name in _HASHES.items():
        if key in given and not isinstance(given[key], str):
            issues.append(CaseIssue((key,), f"must be the record's {key} as it is, text, not {shown(given[key])}",
                                    f"copy the record's {key} entry as it is", P.WRONG_SHAPE))
        elif key in given:
            hashes[name] = str(given[key])
    device = hashes.pop("channel.device_id", None)
    for key, value in given.items():
        if key in (LISTED, DEVICE, IP):
            continue
        kind = _FEATURE_TYPES.get(key)
        if kind is None:
            close = suggest(key, list(_FEATURE_TYPES))
            issues.append(CaseIssue((key,), f"no feature is named {key}", f"did you mean {close}?" if close else
                                    "copy the features.* entries of the decision record as they are", P.UNKNOWN_KEY))
            continue
        try:
            features[key] = _feature_value(kind, value)
        except _Refused as bad:
            issues.append(CaseIssue((key,), bad.message, bad.hint, P.WRONG_SHAPE))
    kinds = CALL_RULE_SETS[str(call)]
    texts = bundle.text_tests(kinds, KEPT_AS_KEYED_HASH)
    listed, equal, set_aside, listed_issues = _listed(given.get(LISTED), bundle.list_tests(kinds), texts,
                                                      other_rules)
    compared = bundle.texts_compared(kinds, KEPT_AS_KEYED_HASH)
    return RecordedFacts(features, listed, device, equal, hashes, compared, set_aside), issues + listed_issues


class _Refused(Exception):
    def __init__(self, message: str, hint: str) -> None:
        super().__init__(message)
        self.message, self.hint = message, hint


def _feature_value(kind: FieldType, value: object) -> object:
    """The value as the rules see it, written as the record gives it."""
    if kind is FieldType.MONEY:
        return _money_feature(value)
    if kind is FieldType.BOOL and isinstance(value, bool):
        return value
    if kind is FieldType.INT and isinstance(value, int) and not isinstance(value, bool) and value >= 0:
        return int(value)
    if kind is FieldType.DECIMAL and isinstance(value, str | int | float) and not isinstance(value, bool):
        try:
            number = Decimal(repr(value) if isinstance(value, float) else str(value))  # 0.95, not its binary value
        except InvalidOperation:
            number = Decimal("NaN")
        if number.is_finite() and number >= 0:
            return number
    raise _Refused(f"must be {_WORDS[kind]}, not {shown(value)}", "write it as the record gives it")


_AS_KEPT_OR_WITH_CURRENCY = "copy the record's entry as it is, or write the amount with its currency, e.g. 1100.00 CNY"


def _money_feature(value: object) -> int:
    """A money feature in fen: given as the record keeps it, a whole number of fen (its 110000 is 1100.00 CNY), or
    with its currency, as a case writes amounts."""
    if isinstance(value, int) and not isinstance(value, bool):
        if 0 <= value <= MAX_FEN:
            return value
        raise _Refused(f"must be an amount from 0 to {MAX_FEN} fen, as the record keeps it, not {shown(value)}",
                       _AS_KEPT_OR_WITH_CURRENCY)
    if isinstance(value, float):  # a bare number is fen, as the record keeps it: never a fraction of one
        raise _Refused(f"must be a whole number of fen, as the record keeps it, not {shown(value)}",
                       _AS_KEPT_OR_WITH_CURRENCY)
    try:
        return parse_amount(value)
    except AmountError as bad:
        raise _Refused(str(bad), bad.hint) from None


_WORDS = {FieldType.INT: "a whole number of 0 or more", FieldType.BOOL: "true or false",
          FieldType.DECIMAL: "a number of 0 or more", FieldType.MONEY: "an amount"}


def _listed(value: object, tests: tuple[tuple[str, str], ...], texts: tuple[tuple[str, str], ...],
            other_rules: bool) -> tuple[tuple[tuple[str, str], ...], tuple[tuple[str, str], ...], tuple[str, ...],
                                        list[CaseIssue]]:
    """The list memberships (`field in lists.NAME`) and the equalities (`field == 'text'`) a `listed` entry gives,
    each one a test the call's rules make, and, of a record made under other rules (`other_rules`), the entries for
    tests these rules do not make: set aside, for the record is as its rules wrote it and copying it again would
    change nothing."""
    if value is None:
        return (), (), (), []
    known = {membership_written(name, list_name): (False, name, list_name) for name, list_name in tests}
    known |= {equality_written(name, text): (True, name, text) for name, text in texts}
    hint = f"copy the record's listed entries as they are: {_some(list(known))}" if known else \
        "remove it: no rule of this call looks in a list or compares a value the record keeps as a hash with a text"
    if not isinstance(value, list):
        return (), (), (), [CaseIssue((LISTED,), f"must be a list, not {shown(value)}", hint, P.WRONG_SHAPE)]
    listed: list[tuple[str, str]] = []
    equal: list[tuple[str, str]] = []
    set_aside: list[str] = []
    issues: list[CaseIssue] = []
    for index, entry in enumerate(value):
        test = known.get(entry) if isinstance(entry, str) else None
        if test is None and other_rules and isinstance(entry, str):
            set_aside.append(entry)
            continue
        if test is None:
            quote = '"' if isinstance(entry, str) and "'" in entry else "'"  # "channel.ip == '10.9.9.8'"
            written_as = f"{quote}{entry}{quote}" if isinstance(entry, str) and len(entry) <= 120 else shown(entry)
            what = "list test or text comparison" if texts else "list test"
            issues.append(CaseIssue((LISTED, index), f"{written_as} is no {what} the rules of this call make",
                                    hint, P.INVALID_VALUE))
            continue
        is_text, name, other = test
        (equal if is_text else listed).append((name, other))
    return tuple(listed), tuple(equal), tuple(set_aside), issues


_SHOWN_ENTRIES = 5  # a hint names at most this many entries


def _some(entries: list[str]) -> str:
    more = len(entries) - _SHOWN_ENTRIES
    return ", ".join(entries[:_SHOWN_ENTRIES]) + (f" and {more} more" if more > 0 else "")


# -- a decision record as `decisiond decisions show` prints it, read as an explain input ------------------------------

RECORD_KEYS = ("rpc", "request")  # what an explain input needs of a printed record
_LINE_FROM_RECORD = {"line_status": "status", "line_credit_limit": "credit_limit", "line_outstanding": "outstanding",
                     "line_residence_country": "residence_country", "line_days_past_due": "days_past_due",
                     "line_daily_interest_rate": "daily_interest_rate"}
_CHANNEL_FROM_RECORD = {"channel_country": "country", "channel_city": "city"}
_EVENT_FROM_RECORD = {  # the call's own values: the record's key -> the input's
    "AuthorizeDrawdown": ("drawdown", {"amount": "amount", "term_months": "term_months",
                                       "repayment_method": "repayment_method", "purpose": "purpose"}),
    "FlagTransaction": ("transaction", {"type": "type", "amount": "amount", "counterparty": "counterparty_id",
                                        "merchant_category": "merchant_category"}),
}
_KEPT_WITHOUT_A_LINE = frozenset({"days_past_due", "daily_interest_rate"})
_FEN_KEYS = frozenset({"amount", "line_credit_limit", "line_outstanding", *APPLICANT_AMOUNTS})


def is_printed_record(spec: Mapping[str, object]) -> bool:
    """Whether an explain input is a decision record as `decisions show` prints it rather than a case (`call:`)."""
    return "call" not in spec and any(key in spec for key in (*RECORD_KEYS, "decision_id"))


def case_of_record(record: Mapping[str, object], money_attributes: frozenset[str]) -> dict[str, object]:
    """A printed decision record (`decisiond decisions show`, or one line of `decisions export`) as the explain input
    docs/rules.md describes: the call's values as the record keeps them, amounts (kept in fen) written in CNY, the
    line as it stood, and the device, ip, features.* and listed entries as they are. `money_attributes`: the
    applicant attributes the bundle declares as money, which the record keeps in fen too. Raises CaseRefused naming
    what the record lacks."""
    missing = [key for key in RECORD_KEYS if key not in record]
    if missing:
        raise CaseRefused([CaseIssue((), f"a decision record needs {' and '.join(map(repr, missing))}, as "
                                     "`decisiond decisions show` prints them", "give the record as `decisiond "
                                     "decisions show` prints it, whole, or a case with 'call:' (docs/rules.md)",
                                     P.MISSING_KEY)])
    rpc, request = record["rpc"], record["request"]
    if rpc not in CALLS:
        raise CaseRefused([CaseIssue(("rpc",), f"a {shown(rpc)} record is no decision of the rules", "explain the "
                                     f"record of a {', '.join(CALLS[:-1])} or {CALLS[-1]} call", P.INVALID_VALUE)])
    if not isinstance(request, dict):
        raise CaseRefused([CaseIssue(("request",), f"must be the record's request, a mapping, not {shown(request)}",
                                     "give the record as `decisiond decisions show` prints it", P.WRONG_SHAPE)])
    kept = {key: _in_cny(value) if key in _FEN_KEYS else value for key, value in request.items()}
    case: dict[str, object] = {"call": rpc}
    line = {_LINE_FROM_RECORD[key]: value for key, value in kept.items() if key in _LINE_FROM_RECORD}
    # None: the user had no line when the call was decided (or, for an older grant's record, unrecorded). Its days
    # past due and rate alone are no line: a record keeps them whenever its rules read them, 0 for no line.
    if line.keys() - _KEPT_WITHOUT_A_LINE:
        case["credit_line"] = line
    if rpc in _EVENT_FROM_RECORD:
        section, keys = _EVENT_FROM_RECORD[str(rpc)]
        channel = {_CHANNEL_FROM_RECORD[key]: value for key, value in kept.items() if key in _CHANNEL_FROM_RECORD}
        case[section] = {**{keys[key]: value for key, value in kept.items() if key in keys}, "channel": channel}
        case.update((key, value) for key, value in kept.items() if is_recorded_key(key))
    else:
        applicant = {key: value for key, value in kept.items() if key not in _LINE_FROM_RECORD}
        attributes = applicant.get("attributes")
        if isinstance(attributes, dict):
            applicant["attributes"] = {name: _in_cny(value) if name in money_attributes else value
                                       for name, value in attributes.items()}
        case["applicant"] = applicant
    return case


def unrecorded(rpc: str, request: Mapping[str, object], reads: frozenset[str]) -> tuple[str, ...]:
    """Of the fields `reads` (those the rules explaining a drawdown's or an account event's record read), those the
    record's `request` does not keep. A record keeps a line's days past due and rate, the city, the merchant category,
    the IP (as a keyed hash) and the features of the history only when the rules that decided it read them: under
    those rules none is missing, but under others a missing one stands for a value the record cannot tell, which an
    explanation must not show as if it were the empty or zero value it is taken as. A line's fields are known without
    a line (it had none), and a drawdown has no merchant category."""
    had_line = "line_status" in request
    missing = []
    for name in sorted(reads):
        key = _KEPT_WHEN_READ.get(name, name if name.startswith(FEATURE_PREFIX) else None)
        if key is None or key in request or name in _NEVER_GIVEN.get(rpc, ()):
            continue
        if had_line or not name.startswith("line."):
            missing.append(name)
    return tuple(missing)


_KEPT_WHEN_READ = {**dict(RECORDED_WHEN_READ), "channel.ip": IP}  # a field -> the record's key, kept when read
_NEVER_GIVEN = {"AuthorizeDrawdown": ("transaction.merchant_category",)}  # empty for every call of its kind


def _in_cny(value: object) -> object:
    """An amount the record keeps in fen, written as an input writes it (`200000` -> `2000.00 CNY`); anything else
    as it is, for the input's checks to name."""
    if isinstance(value, int) and not isinstance(value, bool):
        return f"{format_fen_as_yuan(value)} CNY"
    return value
