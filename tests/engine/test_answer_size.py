"""The largest answer a bundle can give each call is bounded when the bundle is checked.

A bundle within every other limit (1,990 declining drawdown rules and 1,990 fraud rules, each giving a message of
300 characters of 4 bytes) made an AuthorizeDrawdown answer of 4.9 MB: decided and recorded, but over gRPC's default
4 MiB receive limit, so its caller got RESOURCE_EXHAUSTED, and so did every retry, which replays the stored answer.
The checker now adds up what every rule could put in each call's answer if all of them matched at once, with the
answer's own fields at their largest, and refuses a bundle whose largest answer exceeds 1 MiB (R501). The count is
checked here against answers the service builds when every rule fires, so that it cannot silently count short."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from service._gen.decision.v1 import decision_pb2 as pb
from service.api import responses
from service.api.servicers import DecisionServicer
from service.app.clock import SystemClock
from service.app.recording import new_decision_id
from service.app.results import DrawdownResult, Meta, ReasonView
from service.app.rules import flags_of, reasons_of
from service.app.rules_holder import RulesHolder
from service.app.usecases import DecisionApp, new_drawdown_id
from service.domain.model import Installment
from service.domain.request_limits import MAX_TERM_MONTHS
from service.engine.answer_size import MAX_ANSWER_BYTES, AnswerSize, largest_answers
from service.engine.bundle import check_bundle
from service.engine.catalogue import RuleSetKind
from service.engine.loader import analyse
from service.engine.model import FiredRule, Outcome
from service.storage.factory import open_store
from tests.engine.conftest import RULES, BundleCopy
from tests.support.builders import cny, drawdown, request_id, strong_applicant, weak_applicant

EMOJI = "\U0001f600"  # 4 bytes in UTF-8
LONGEST_DECLARED = EMOJI * 300  # the longest message bundle.yaml takes
LONGEST_OWN = EMOJI * 500  # the longest message a rule's own `message` takes
FIX = ("shorten the messages in bundle.yaml (or the rules' own 'message'), or merge rules that give the same reason "
       "into one rule (join their conditions with 'or')")


def declare(bundle_copy: BundleCopy, **messages: str) -> None:
    """Declare reason codes with their messages in bundle.yaml."""
    lines = "".join(f'  {code}: "{message}"\n' for code, message in messages.items())
    bundle_copy.replace("bundle.yaml", "reasons:\n", "reasons:\n" + lines)


def rules(prefix: str, count: int, when: str, then: str, *, start: int = 0, message: str | None = None) -> str:
    """`count` rules, each matching `when` and answering `then` (with its own `message` if given), with ids
    PREFIX-0000, PREFIX-0001..."""
    own = f', message: "{message}"' if message is not None else ""
    return "".join(f"  - id: {prefix}-{i:04d}\n    description: generated\n    when: {when}\n"
                   f"    then: {{{then}{own}}}\n" for i in range(start, start + count))


def write_rule_file(bundle_copy: BundleCopy, name: str, *generated: str) -> None:
    bundle_copy.write(name, "rules:\n" + "".join(generated))


def errors(directory: Path) -> list[tuple[str, str, str, str]]:
    return [(p.code, p.file, p.message, p.hint) for p in check_bundle(directory) if p.is_error]


def answers_of(directory: Path) -> dict[str, AnswerSize]:
    spec, problems = analyse(directory)
    assert spec is not None, "\n".join(p.format() for p in problems)
    return largest_answers(spec.directory, spec.reasons, spec.scorecard, spec.limits, spec.rule_files)


def test_drawdown_and_fraud_rules_whose_answers_could_exceed_1_mib_are_refused_naming_file_call_and_sizes(
        bundle_copy: BundleCopy) -> None:
    declare(bundle_copy, NOTE_DD=LONGEST_DECLARED, NOTE_FR=LONGEST_DECLARED)
    write_rule_file(bundle_copy, "drawdown.yaml",
                    rules("DRW", 1990, "drawdown.amount >= 1 CNY", "outcome: DECLINE, reason: NOTE_DD"))
    write_rule_file(bundle_copy, "fraud.yaml", rules("FRD", 1990, "transaction.amount >= 1 CNY",
                                                     "outcome: APPROVE, flag: NOTE_FR, severity: LOW"))
    # As protobuf encodes them: a reason is its field's tag and length (3 bytes), its code (1 + 1 + 7), rule id
    # (1 + 1 + 8) and message (1 + 2 + 1,200); a flag has a severity too (2); an id in rules_fired takes 1 + 1 + 8.
    # The answer's own fields take 22,190 bytes at their largest, 20,520 of them a 360-month repayment schedule.
    reason, flag, fired = 3 + 9 + 10 + 1203, 3 + 9 + 10 + 2 + 1203, 10
    drawdown_bytes, fraud_bytes = 1990 * (reason + fired), 1990 * (flag + fired)
    assert errors(bundle_copy.dir) == [
        ("R501", "rules/fraud.yaml", f"an AuthorizeDrawdown answer (the decision on a drawdown) could take "
         f"{22_190 + drawdown_bytes + fraud_bytes:,} bytes (4.7 MiB) if every rule that can add to it (a reason, a "
         "flag, its id among the rules that fired) matched at once; the service allows at most 1,048,576 bytes "
         f"(1 MiB) per answer, so that every caller can read it. Its 1,990 rules in this file add {fraud_bytes:,} "
         f"bytes, the 1,990 in rules/drawdown.yaml {drawdown_bytes:,} bytes",
         f"{FIX}; 1,990 of these rules give NOTE_FR with a message of 300 characters, 1,200 bytes (a Chinese "
         "character takes 3 bytes, an emoji 4)"),
        ("R501", "rules/fraud.yaml", f"a FlagTransaction answer (the verdict on an account event) could take "
         f"{249 + fraud_bytes:,} bytes (2.3 MiB) if every rule that can add to it (a reason, a flag, its id among "
         "the rules that fired) matched at once; the service allows at most 1,048,576 bytes (1 MiB) per answer, so "
         f"that every caller can read it. Its 1,990 rules in this file add {fraud_bytes:,} bytes",
         f"{FIX}; 1,990 of these rules give NOTE_FR with a message of 300 characters, 1,200 bytes (a Chinese "
         "character takes 3 bytes, an emoji 4)"),
    ]


def test_eligibility_rules_whose_grant_answer_could_exceed_1_mib_are_refused_naming_their_file(
        bundle_copy: BundleCopy) -> None:
    declare(bundle_copy, NOTE_EL=LONGEST_DECLARED)
    write_rule_file(bundle_copy, "eligibility.yaml",
                    rules("ELG", 900, "applicant.age == 40", "outcome: REVIEW, reason: NOTE_EL"))
    found = errors(bundle_copy.dir)
    assert [(code, file) for code, file, _message, _hint in found] == [("R501", "rules/eligibility.yaml")]
    assert found[0][2].startswith("a GrantLimit answer (the decision on a credit limit) could take ")
    assert f"Its 900 rules in this file add {900 * (3 + 9 + 10 + 1203 + 10):,} bytes, the " in found[0][2]
    assert found[0][3].endswith("900 of these rules give NOTE_EL with a message of 300 characters, 1,200 bytes (a "
                                "Chinese character takes 3 bytes, an emoji 4)")


def test_a_bundle_whose_largest_answer_is_just_under_1_mib_is_accepted_and_one_rule_more_is_refused(
        bundle_copy: BundleCopy) -> None:
    declare(bundle_copy, NOTE_DD="规" * 300)  # 900 bytes

    def with_drawdown_rules(count: int) -> None:
        generated = rules("DRW", count, "drawdown.amount >= 1 CNY", "outcome: DECLINE, reason: NOTE_DD", start=1000)
        write_rule_file(bundle_copy, "drawdown.yaml", generated)

    with_drawdown_rules(1)
    one = answers_of(bundle_copy.dir)["AuthorizeDrawdown"].total
    with_drawdown_rules(2)
    per_rule = answers_of(bundle_copy.dir)["AuthorizeDrawdown"].total - one
    fitting = 1 + (MAX_ANSWER_BYTES - one) // per_rule

    with_drawdown_rules(fitting)
    assert MAX_ANSWER_BYTES - per_rule < answers_of(bundle_copy.dir)["AuthorizeDrawdown"].total <= MAX_ANSWER_BYTES
    assert errors(bundle_copy.dir) == []

    with_drawdown_rules(fitting + 1)
    assert [(code, file) for code, file, _m, _h in errors(bundle_copy.dir)] == [("R501", "rules/drawdown.yaml")]


def test_the_bundled_rules_largest_answers_are_far_under_the_limit() -> None:
    largest = {call: answer.total for call, answer in answers_of(RULES).items()}
    assert max(largest.values()) < MAX_ANSWER_BYTES // 20, largest


# -- the count against answers the service builds ----------------------------------------------------------------

RULE_ID = "{prefix}-{i:04d}"
CODE = "X" * 56  # with an 8-character prefix, a code of 64 characters, the longest


@pytest.fixture
def crowded(bundle_copy: BundleCopy) -> BundleCopy:
    """A bundle whose drawdown and fraud rules all fire on every drawdown (and the fraud rules on every account
    event), and whose eligibility rules all refer an applicant of 40, with the longest codes, ids and messages."""
    declare(bundle_copy, **{f"NOTE_DD_{CODE}": LONGEST_DECLARED, f"NOTE_FR_{CODE}": LONGEST_DECLARED,
                            f"NOTE_EL_{CODE}": LONGEST_DECLARED})
    long_id = "X" * 30  # ids of 40 characters, the longest
    write_rule_file(bundle_copy, "drawdown.yaml",
                    rules(f"DRW-{long_id}", 50, "drawdown.amount >= 1 CNY", f"outcome: REVIEW, reason: NOTE_DD_{CODE}"),
                    rules(f"DRW-{long_id}", 50, "drawdown.amount >= 1 CNY", f"outcome: DECLINE, reason: NOTE_DD_{CODE}",
                          start=50, message=LONGEST_OWN))
    write_rule_file(bundle_copy, "fraud.yaml",
                    rules(f"FRD-{long_id}", 50, "transaction.amount >= 1 CNY",
                          f"outcome: DECLINE, flag: NOTE_FR_{CODE}, severity: HIGH"),
                    rules(f"FRD-{long_id}", 50, "transaction.amount >= 1 CNY",
                          f"outcome: APPROVE, flag: NOTE_FR_{CODE}, severity: LOW", start=50, message=LONGEST_OWN))
    bundle_copy.write("eligibility.yaml", bundle_copy.read("eligibility.yaml") + rules(
        f"ELG-{long_id}", 100, "applicant.age == 40", f"outcome: REVIEW, reason: NOTE_EL_{CODE}"))
    return bundle_copy


class InProcess:
    """The decision servicer on a fresh SQLite ledger, its methods called as the server's event loop calls them."""

    def __init__(self, directory: Path, ledger: Path) -> None:
        holder = RulesHolder(directory)
        holder.reload()
        self.store = open_store(f"sqlite:///{ledger}")
        self._servicer = DecisionServicer(DecisionApp(self.store, holder, SystemClock()), None)  # type: ignore[arg-type]

    def call(self, rpc: str, request: Any) -> bytes:
        answer: bytes = getattr(DecisionServicer, rpc).__wrapped__(self._servicer, request)
        return answer


@pytest.fixture
def service(crowded: BundleCopy, tmp_path: Path) -> Iterator[InProcess]:
    running = InProcess(crowded.base / "rules", tmp_path / "ledger.db")
    yield running
    running.store.close()


def test_the_largest_answers_counted_are_never_below_answers_where_every_rule_fires(
        crowded: BundleCopy, service: InProcess) -> None:
    largest = answers_of(crowded.dir)
    granted = pb.GrantLimitResponse.FromString(service.call("GrantLimit", pb.GrantLimitRequest(
        request_id=request_id(), applicant=strong_applicant("u-1"))))
    assert granted.outcome == pb.OUTCOME_APPROVE, granted

    drawdown_request = drawdown("u-1", 500)
    drawn = service.call("AuthorizeDrawdown", drawdown_request)
    replayed = service.call("AuthorizeDrawdown", drawdown_request)
    answer = pb.AuthorizeDrawdownResponse.FromString(replayed)
    assert (len(answer.reasons), len(answer.fraud_flags), len(answer.meta.rules_fired), answer.meta.replayed) == \
        (150, 100, 200, True)
    flagged = service.call("FlagTransaction", pb.FlagTransactionRequest(request_id=request_id(), transaction=(
        pb.Transaction(transaction_id="t-1", user_id="u-1", type=pb.TRANSACTION_TYPE_PAYMENT, amount=cny(50)))))
    assert len(pb.FlagTransactionResponse.FromString(flagged).flags) == 100
    referred = service.call("GrantLimit", pb.GrantLimitRequest(request_id=request_id(),
                                                               applicant=weak_applicant("u-2", age=40)))
    assert len(pb.GrantLimitResponse.FromString(referred).reasons) > 100  # theirs, LOW_SCORE's and the score's
    scored = service.call("ScoreUser", pb.ScoreUserRequest(request_id=request_id(),
                                                           applicant=weak_applicant("u-3")))

    sizes = {"AuthorizeDrawdown": max(len(drawn), len(replayed)), "FlagTransaction": len(flagged),
             "GrantLimit": len(referred), "ScoreUser": len(scored)}
    for call, size in sizes.items():
        assert size <= largest[call].total, call
    # where every rule that can add to the answer fired, what the rules add is counted exactly: the rest of the
    # count is the answer's own fields at their largest (a schedule of 360 months, among them)
    for call in ("AuthorizeDrawdown", "FlagTransaction"):
        parts = sum(part.size for part in largest[call].parts)
        assert parts < sizes[call] <= parts + largest[call].own_fields, call


def test_an_approved_drawdown_of_the_longest_term_at_the_largest_amounts_with_every_rule_fired_is_counted_too(
        crowded: BundleCopy) -> None:
    """An approval carries a repayment schedule, which no answer where every rule fired has (those decline): built
    here in process, with every field at its largest, every rule's reason and flag, and a ledger reason."""
    spec, _problems = analyse(crowded.dir)
    assert spec is not None
    fired: list[FiredRule] = [rule.result for kind in (RuleSetKind.DRAWDOWN, RuleSetKind.FRAUD)
                              for rule in spec.rule_files[kind].rules]
    fraud = [rule.result for rule in spec.rule_files[RuleSetKind.FRAUD].rules]
    largest_fen = 2**63 - 1
    schedule = tuple(Installment(number, datetime(9999, 12, 31).date(), largest_fen, largest_fen)
                     for number in range(1, MAX_TERM_MONTHS + 1))
    result = DrawdownResult(
        Outcome.APPROVE, new_drawdown_id(), largest_fen, schedule, Decimal("0.999999999"),
        (ReasonView("INSUFFICIENT_LIMIT", "LEDGER", LONGEST_DECLARED), *reasons_of(fired)), flags_of(fraud),
        Meta(new_decision_id(), "V" * 64, "f" * 64, tuple(f.rule_id for f in fired), datetime.now(UTC)))
    answer = responses.drawdown_response(result)
    answer.meta.replayed = True

    assert answer.ByteSize() <= answers_of(crowded.dir)["AuthorizeDrawdown"].total
