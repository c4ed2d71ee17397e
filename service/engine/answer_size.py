"""How large each decision call's answer can grow under a bundle, and R501 for a bundle whose answers could be too
large for a caller to read.

Every reason and flag a rule gives travels in the call's answer (its code, rule id and message), and every rule
that fires is named in `meta.rules_fired`. gRPC clients refuse an answer over 4 MiB by default
(RESOURCE_EXHAUSTED), and by then the call has been decided and recorded: a retry with the same request_id gets the
stored answer, refused the same way, so its caller could never learn the outcome. So, for each call, the checker
adds up the encoded size of everything every rule could put in its answer, as if all of them matched at once,
with the answer's own fields (ids, amounts, rates, a repayment schedule of the longest term) at their largest, and
refuses a bundle whose sum exceeds MAX_ANSWER_BYTES. Sizes follow protobuf's encoding of the answers that
service/api/responses.py builds; each is counted at its largest, so the sum is never below a real answer's size
(tests/engine/test_answer_size.py checks it against answers the service builds).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path

from service.domain.request_limits import MAX_TERM_MONTHS
from service.engine import problems as P
from service.engine.catalogue import RuleSetKind
from service.engine.files import display_path
from service.engine.load_limits import Limits
from service.engine.load_rules import RuleFile
from service.engine.load_scorecard import Scorecard
from service.engine.model import Outcome
from service.engine.problems import RuleProblem, problem

# A quarter of gRPC's default 4 MiB receive limit: the count cannot see a client configured tighter than the
# default, nor a field the answers may gain, and every answer is also stored whole in its decision record (and its
# rules_fired logged), where a megabyte per call is already a great deal. The bundled rules' largest answer is
# under 24 KB, most of it a 360-month repayment schedule, so this leaves them room forty times over.
MAX_ANSWER_BYTES = 1 << 20

# The answers' own texts (decision and drawdown ids, bundle version and digest, rates, band, a due date) are each
# at most 64 bytes: ids are about 36 characters, a version 64 ASCII characters, a digest 64 hex digits, a band 16
# characters.
_OWN_TEXT = 64
_NUMBER = 11  # an integer or enum field at its largest: its tag and a 10-byte varint
_MONEY = 1 + 1 + (1 + 1 + 3) + _NUMBER  # Money{currency "CNY", minor_units}
_TIMESTAMP = 1 + 1 + _NUMBER + (1 + 5)  # Timestamp{seconds, nanos}
_SEVERITY = 1 + 1  # a FraudFlag's severity: RISK_LEVEL_* fit in one byte
_LONGEST_DECLARED_MESSAGE = 300 * 4  # bundle.yaml's messages are at most 300 characters, of at most 4 bytes


def _varint(value: int) -> int:
    """Bytes of `value` as a protobuf varint."""
    size = 1
    while value >= 0x80:
        value >>= 7
        size += 1
    return size


def _text(size: int) -> int:
    """A string field of `size` bytes (every field number in the answers is below 16: a one-byte tag)."""
    return 1 + _varint(size) + size


def _nested(size: int) -> int:
    """A nested message of `size` bytes, as a field of the message holding it."""
    return 1 + _varint(size) + size


def _utf8(text: str) -> int:
    return len(text.encode("utf-8"))


def _reason(code: str, rule_id: str, message: str) -> int:
    """One Reason{code, rule_id, message} in `reasons`."""
    return _nested(_text(_utf8(code)) + _text(_utf8(rule_id)) + _text(_utf8(message)))


def _flag(code: str, rule_id: str, message: str) -> int:
    """One FraudFlag{code, rule_id, severity, message} in `flags` or `fraud_flags`."""
    return _nested(_text(_utf8(code)) + _text(_utf8(rule_id)) + _SEVERITY + _text(_utf8(message)))


def _fired(rule_id: str) -> int:
    """One id in `meta.rules_fired`."""
    return _text(_utf8(rule_id))


# A reason the service gives itself rather than a rule (NO_CREDIT_LINE, LINE_NOT_ACTIVE, INSUFFICIENT_LIMIT,
# RATE_ABOVE_APR_CAP), with the bundle's message for its code or a short one of the service's own: counted with a
# code of 64 characters, a rule id of 6 (LEDGER, LIMITS) and the longest message bundle.yaml takes.
_SERVICE_REASON = _nested(_text(64) + _text(6) + _text(_LONGEST_DECLARED_MESSAGE))
# DecisionMeta without its rules_fired: decision id, version, digest, decided_at, replayed (a replay sets it);
# with its own tag and a length of up to 5 bytes.
_META = 1 + 5 + 3 * _text(_OWN_TEXT) + _nested(_TIMESTAMP) + 2
# number (at most MAX_TERM_MONTHS: two bytes), due date (YYYY-MM-DD), principal, interest
_INSTALLMENT = _nested(1 + 2 + _text(10) + 2 * _nested(_MONEY))

CALLS = ("ScoreUser", "GrantLimit", "AuthorizeDrawdown", "FlagTransaction")
_OWN_FIELDS = {  # besides meta, reasons and flags
    "ScoreUser": _META + _NUMBER + _text(_OWN_TEXT),  # score, band
    # outcome, credit limit, daily rate, APR, score; LINE_NOT_ACTIVE, RATE_ABOVE_APR_CAP
    "GrantLimit": _META + _NUMBER + _nested(_MONEY) + 2 * _text(_OWN_TEXT) + _NUMBER + 2 * _SERVICE_REASON,
    # outcome, drawdown id, available limit, schedule, APR; one of NO_CREDIT_LINE, LINE_NOT_ACTIVE, INSUFFICIENT_LIMIT
    "AuthorizeDrawdown": _META + _NUMBER + _text(_OWN_TEXT) + _nested(_MONEY) + MAX_TERM_MONTHS * _INSTALLMENT
    + _text(_OWN_TEXT) + _SERVICE_REASON,
    "FlagTransaction": _META + 2 * _NUMBER,  # risk level, outcome
}
_WHAT = {
    "ScoreUser": "a ScoreUser answer (a score)",
    "GrantLimit": "a GrantLimit answer (the decision on a credit limit)",
    "AuthorizeDrawdown": "an AuthorizeDrawdown answer (the decision on a drawdown)",
    "FlagTransaction": "a FlagTransaction answer (the verdict on an account event)",
}


@dataclass(frozen=True)
class Part:
    """What one rule, bin or cap adds to an answer, at most: its reason, its flag, its id in rules_fired."""

    file: str
    code: str  # the reason or flag code whose message it gives ("" for a scorecard bin, which gives none)
    message: str
    size: int


@dataclass(frozen=True)
class AnswerSize:
    """The largest answer of one call: its own fields at their largest, and every rule's part."""

    call: str
    own_fields: int
    parts: tuple[Part, ...]

    @property
    def total(self) -> int:
        return self.own_fields + sum(part.size for part in self.parts)

    def by_file(self) -> dict[str, tuple[int, int]]:
        """For each file, how many of its rules add to the answer and how many bytes they add; largest first."""
        found: dict[str, tuple[int, int]] = {}
        for part in self.parts:
            count, size = found.get(part.file, (0, 0))
            found[part.file] = (count + 1, size + part.size)
        return dict(sorted(found.items(), key=lambda item: -item[1][1]))


def largest_answers(directory: Path, reasons: Mapping[str, str], scorecard: Scorecard, limits: Limits,
                    rule_files: Mapping[RuleSetKind, RuleFile]) -> dict[str, AnswerSize]:
    """The largest answer each decision call can give under this bundle, by call (CALLS)."""
    def shown(name: str) -> str:
        return display_path(directory, name)

    bins = [Part(shown("scorecard.yaml"), "", "", _fired(b.bin_id)) for b in scorecard.bins]
    # adverse-action reasons: a ScoreUser answer gives at most four, but all are counted
    score_reasons = [Part(shown("scorecard.yaml"), c.reason_code, c.reason_message,
                          _reason(c.reason_code, c.characteristic_id, c.reason_message))
                     for c in scorecard.spec.characteristics]
    spec = limits.spec
    limit_reasons = [Part(shown("limits.yaml"), code, reasons.get(code, ""), _reason(code, "LIMITS",
                                                                                   reasons.get(code, "")))
                     for code in (spec.minimum_limit_reason, spec.no_offer_reason)]
    caps = [Part(shown("limits.yaml"), c.reason_code, c.message, _reason(c.reason_code, c.cap_id, c.message)
                 + _fired(c.cap_id)) for c in limits.caps]
    eligibility = list(_rule_parts(shown("eligibility.yaml"), rule_files[RuleSetKind.ELIGIBILITY], flags=False))
    drawdown = list(_rule_parts(shown("drawdown.yaml"), rule_files[RuleSetKind.DRAWDOWN], flags=False))
    fraud_file = rule_files[RuleSetKind.FRAUD]
    parts = {
        "ScoreUser": [*bins, *score_reasons],
        # an eligibility rule may attach the score's reasons, and so may a limits decline: counted once, as each
        # answer carries a score reason once
        "GrantLimit": [*bins, *score_reasons, *eligibility, *limit_reasons, *caps],
        "AuthorizeDrawdown": [*drawdown, *_rule_parts(shown("fraud.yaml"), fraud_file, flags=True)],
        "FlagTransaction": list(_rule_parts(shown("fraud.yaml"), fraud_file, flags=True, reasons=False)),
    }
    return {call: AnswerSize(call, _OWN_FIELDS[call], tuple(parts[call])) for call in CALLS}


def _rule_parts(file: str, rules: RuleFile, *, flags: bool, reasons: bool = True) -> Iterable[Part]:
    """Each rule's part: its id in rules_fired, its reason unless it approves (an approving rule's reason is not
    given), and for fraud rules its flag."""
    for rule in rules.rules:
        result = rule.result
        size = _fired(rule.rule_id)
        if reasons and result.outcome is not Outcome.APPROVE:
            size += _reason(result.reason_code, rule.rule_id, result.message)
        if flags:
            size += _flag(result.flag_code or result.reason_code, rule.rule_id, result.message)
        yield Part(file, result.flag_code or result.reason_code, result.message, size)


def answers_too_large(answers: Mapping[str, AnswerSize]) -> list[RuleProblem]:
    """R501 for each call whose largest answer exceeds MAX_ANSWER_BYTES, naming the file whose rules add most."""
    found = []
    for answer in answers.values():
        if answer.total <= MAX_ANSWER_BYTES:
            continue
        files = list(answer.by_file().items())
        file, (count, size) = files[0]
        others = "".join(f", the {n:,} in {other} {added:,} bytes" for other, (n, added) in files[1:3])
        found.append(problem(
            P.TOO_LARGE, file,
            f"{_WHAT[answer.call]} could take {answer.total:,} bytes ({_mib(answer.total)}) if every rule that can "
            "add to it (a reason, a flag, its id among the rules that fired) matched at once; the service allows at "
            f"most {MAX_ANSWER_BYTES:,} bytes ({_mib(MAX_ANSWER_BYTES)}) per answer, so that every caller can read "
            f"it. Its {count:,} rules in this file add {size:,} bytes{others}",
            hint=_fix(answer, file)))
    return found


def _mib(size: int) -> str:
    return f"{size / (1 << 20):.1f} MiB".replace(".0 ", " ")


def _fix(answer: AnswerSize, file: str) -> str:
    """What to shorten or merge: the message the file's rules give most bytes of."""
    totals: dict[tuple[str, str], tuple[int, int]] = {}
    for part in answer.parts:
        if part.file == file and part.code:
            count, size = totals.get((part.code, part.message), (0, 0))
            totals[(part.code, part.message)] = (count + 1, size + part.size)
    merge = "merge rules that give the same reason into one rule (join their conditions with 'or')"
    if not totals:
        return f"remove rules, or {merge}"
    (code, message), (count, _size) = max(totals.items(), key=lambda item: item[1][1])
    given = f"{count:,} of these rules give" if count > 1 else "one of these rules gives"
    return (f"shorten the messages in bundle.yaml (or the rules' own 'message'), or {merge}; {given} {code} with a "
            f"message of {len(message)} characters, {_utf8(message):,} bytes (a Chinese character takes 3 bytes, an "
            "emoji 4)")
