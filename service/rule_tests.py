"""Rule test cases compliance writes next to the rules (rules/tests/*.yaml), run through the real use cases.

Each case sets up a person, a credit line and a history, makes one call, and states what must come out.
The same loader serves `decisiond rules test DIR`, `decisiond rules check DIR` and the pytest suite. Whatever
is wrong with a test file or a case is reported as a problem naming the file, the line, the case and the fix;
a case that cannot be run fails on its own and the others still run.
"""

from __future__ import annotations

import tempfile
from collections import Counter
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from decimal import ROUND_HALF_EVEN, Decimal
from pathlib import Path
from typing import Any, TextIO

import structlog
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

from service.app.clock import business_date
from service.app.commands import DrawdownCommand, GrantCommand, ScoreCommand, TransactionCommand
from service.app.ports import Store
from service.app.pseudonyms import Pseudonyms
from service.app.usecases import DecisionApp
from service.case_input import (
    MAX_BUNDLE_HISTORY_EVENTS,
    AttributeCheck,
    CaseInput,
    Expectable,
    attribute_check,
    case_shape_issues,
    expectable,
    parse_amount,
    read_case_input,
    unknown_expectations,
)
from service.case_yaml import (
    CaseBudget,
    CaseIssue,
    CaseRefused,
    FieldPath,
    build,
    field_label,
    line_of,
    read_yaml,
)
from service.domain.errors import InvalidRequest, StoreUnavailable
from service.domain.model import CreditLine, Drawdown, HistoryEvent, Installment, LineStatus, RepaymentMethod
from service.domain.money import format_fen_as_yuan
from service.engine import problems as P
from service.engine.bundle import RuleBundle, load_bundle
from service.engine.errors import BundleInvalid
from service.engine.problems import RuleProblem, problem
from service.storage import open_store

CASE_TIME = datetime(2026, 6, 15, 2, 0, tzinfo=UTC)  # every case is decided at this moment
# The problems the cases of one test file may have before the rest of it is set aside: a file with more is not what
# its author meant (a list of empty cases, a paste gone wrong), and reporting every one of 262,000 broken cases took
# `rules check` seconds and hundreds of MB for nothing a reader could use.
MAX_PROBLEMS_PER_TEST_FILE = 100
NOT_RUN_HINT = "report this to the service team, with the case; the other cases were run"

log = structlog.get_logger("decisiond.rule_tests")


class CaseFileError(Exception):
    """Test files or cases that cannot be read; `problems` names each one (file, line, case, fix)."""

    def __init__(self, problems: list[RuleProblem]) -> None:
        super().__init__("\n".join(p.headline() for p in problems))
        self.problems = problems


@dataclass(frozen=True)
class RuleCase:
    file: str
    line: int
    name: str
    spec: dict[str, Any]
    lines: dict[FieldPath, int] = field(default_factory=dict, compare=False, repr=False)  # of each value
    problems: tuple[RuleProblem, ...] = ()  # why the case cannot be run as written; () when it can


@dataclass
class CaseOutcome:
    case: RuleCase
    failures: list[str]  # expectations that were not met
    fired: tuple[str, ...]
    problems: list[RuleProblem] = field(default_factory=list)  # why the case could not be run


@dataclass
class Report:
    outcomes: list[CaseOutcome] = field(default_factory=list)
    uncovered: list[str] = field(default_factory=list)
    cannot_bind: list[str] = field(default_factory=list)  # caps no case can fire (RuleBundle.caps_that_cannot_bind)

    @property
    def failed(self) -> list[CaseOutcome]:
        return [o for o in self.outcomes if o.failures or o.problems]


class FixedClock:
    def now(self) -> datetime:
        return CASE_TIME


class OneBundle:
    """The Rules port serving one loaded bundle, whatever happens to its folder (rule tests, explain's ledgers)."""

    def __init__(self, bundle: RuleBundle) -> None:
        self._bundle = bundle

    def current(self) -> RuleBundle:
        return self._bundle


# -- reading the test files ---------------------------------------------------------------------------------


def load_cases(directory: Path) -> list[RuleCase]:
    """Every case in DIR/tests/*.yaml, in file and then case order. Raises CaseFileError naming every problem."""
    cases, problems = read_cases(directory)
    problems += [p for case in cases for p in case.problems]
    if problems:
        raise CaseFileError(problems)
    return cases


def read_cases(directory: Path) -> tuple[list[RuleCase], list[RuleProblem]]:
    """Every case in DIR/tests/*.yaml (those that cannot be run as written carry their `problems`), and the
    problems of the test files that cannot be read at all. Reading stops at the case whose history takes the
    cases over MAX_BUNDLE_HISTORY_EVENTS events: it carries that problem and the cases after it are left out; and at
    the file that takes the test files over MAX_TESTS_BYTES or MAX_TEST_CASES, which is not read. The cases of one
    file carry at most MAX_PROBLEMS_PER_TEST_FILE problems: the cases after them are left out, and a problem says so."""
    cases: list[RuleCase] = []
    problems: list[RuleProblem] = []
    events = 0  # history events of the cases read so far
    budget = CaseBudget(str(directory / "tests"))
    for path in sorted(p for p in (directory / "tests").glob("*.yaml") if not p.name.startswith(".")):
        shown = str(path)
        root = read_yaml(path, shown, problems, within=directory, budget=budget)
        if budget.spent:
            break
        if root is None:
            continue
        items = _case_nodes(root)
        if items is None:
            problems.append(problem(P.WRONG_SHAPE, shown, "a test file holds its cases as a list under 'cases:'",
                                    line=root.start_mark.line + 1,
                                    hint="start the file with 'cases:' and each case with '- name: ...' "
                                    "(see docs/rules.md, Rule tests)"))
            continue
        found = 0  # problems of this file's cases
        for node in items:
            case = _read_case(shown, node)
            events += _history_length(case.spec)
            if events > MAX_BUNDLE_HISTORY_EVENTS:  # read no further: reading and running them takes too long
                cases.append(_over_history_bound(case, events))
                return cases, problems
            if found + len(case.problems) > MAX_PROBLEMS_PER_TEST_FILE:
                if kept := case.problems[:MAX_PROBLEMS_PER_TEST_FILE - found]:  # a case with problems is never run
                    cases.append(replace(case, problems=kept))
                problems.append(_too_many_problems(case, "read"))
                break
            found += len(case.problems)
            cases.append(case)
    return cases, problems


def _too_many_problems(case: RuleCase, done: str) -> RuleProblem:
    """R501 at the case whose problems take its file over MAX_PROBLEMS_PER_TEST_FILE: the cases after it were not
    `done` (read, run)."""
    return problem(P.TOO_LARGE, case.file, f"the cases of this file have more than {MAX_PROBLEMS_PER_TEST_FILE} "
                   f"problems by this one; the cases after it were not {done}", line=case.line,
                   hint="fix the problems above (is this file the test cases you meant?), then check again")


def _history_length(spec: dict[str, Any]) -> int:
    history = spec.get("history")
    return len(history) if isinstance(history, list) else 0


def _over_history_bound(case: RuleCase, events: int) -> RuleCase:
    """The case whose history takes the bundle's cases over MAX_BUNDLE_HISTORY_EVENTS, refused as too large."""
    issue = CaseIssue(("history",), f"with its {_plural(_history_length(case.spec), 'event')} the test cases hold "
                      f"{events} history events, more than the {MAX_BUNDLE_HISTORY_EVENTS} all the cases of a bundle "
                      "may hold together; this case and the cases after it were not run",
                      "shorten the histories: give each case only the events its rules look at",
                      P.TOO_LARGE)
    found = _problems(case.file, case.line, case.name, [issue], case.lines)
    return replace(case, problems=(*case.problems, *found))


def _case_nodes(root: Node) -> list[Node] | None:
    if isinstance(root, MappingNode):
        for key, value in root.value:
            if isinstance(key, ScalarNode) and key.value == "cases" and isinstance(value, SequenceNode):
                return list(value.value)
    return None


def _read_case(file: str, node: Node) -> RuleCase:
    line = node.start_mark.line + 1
    try:
        located = build(node)
    except CaseRefused as refused:
        name = _peek_name(node)
        return RuleCase(file, line, name, {}, problems=tuple(_problems(file, line, name, refused.issues, {})))
    spec = located.data if isinstance(located.data, dict) else {}
    given_name = spec.get("name")
    name = given_name if isinstance(given_name, str) else ""
    issues = case_shape_issues(located.data, for_test=True) + _overlong_expectations(spec)
    return RuleCase(file, line, name, spec, located.lines, tuple(_problems(file, line, name, issues, located.lines)))


# The codes or rules one expectation of a case may list: far more than any decision gives. Each is looked up, and a
# name the bundle lacks is told its nearest one, which for 350,000 of them took a minute.
MAX_EXPECTED = 1_000


def _overlong_expectations(spec: dict[str, Any]) -> list[CaseIssue]:
    expect = spec.get("expect")
    if not isinstance(expect, dict):
        return []
    return [CaseIssue(("expect", key), f"lists {len(listed):,} items, more than the {MAX_EXPECTED:,} a case may expect",
                      "list only the rules or codes this case shows", P.TOO_LARGE)
            for key in ("reasons", "flags", "fires") if isinstance(listed := expect.get(key), list)
            and len(listed) > MAX_EXPECTED]


def _peek_name(node: Node) -> str:
    if isinstance(node, MappingNode):
        for key, value in node.value:
            if isinstance(key, ScalarNode) and key.value == "name" and isinstance(value, ScalarNode):
                return str(value.value)
    return ""


def _problems(file: str, line: int, name: str, issues: list[CaseIssue], lines: dict[FieldPath, int]
              ) -> list[RuleProblem]:
    """Each issue as a problem at the case's line: `case 'NAME': FIELD (line N): what is wrong`."""
    found = []
    for issue in issues:
        label = field_label(issue.path)
        where = ""
        if label:
            at = issue.line or line_of(lines, issue.path)
            where = f"{label} (line {at}): " if at and at != line else f"{label}: "
        who = f"case '{_short(name)}': " if name else ""
        found.append(problem(issue.code, file, who + where + issue.message, line=line, hint=issue.hint))
    return found


def _short(name: str) -> str:
    text = " ".join(name.split())
    return text if len(text) <= 80 else text[:77] + "..."


# -- running them -------------------------------------------------------------------------------------------


def run_cases(bundle: RuleBundle, cases: list[RuleCase]) -> Report:
    """Run every case against the bundle on a throwaway SQLite ledger; collect failures and coverage. A case
    that cannot be run gets its problems instead; the others still run."""
    report = Report()
    check_attribute, known = attribute_check(bundle), expectable(bundle)
    with tempfile.TemporaryDirectory(prefix="rule-tests-") as scratch:
        store = open_store(f"sqlite:///{Path(scratch) / 'cases.db'}")
        try:
            app = DecisionApp(store, OneBundle(bundle), FixedClock())
            pseudonyms = Pseudonyms(store.pseudonym_key())
            found: Counter[str] = Counter()  # problems of each file's cases so far
            for number, case in enumerate(cases):
                if found[case.file] > MAX_PROBLEMS_PER_TEST_FILE:  # the rest of the file is set aside
                    continue
                outcome = _outcome(app, store, pseudonyms, case, f"case-{number}", check_attribute, known)
                report.outcomes.append(_within_file_cap(outcome, found))
        finally:
            store.close()
    fired = {rule for outcome in report.outcomes for rule in outcome.fired}
    report.cannot_bind = bundle.caps_that_cannot_bind()
    report.uncovered = [rule for rule in bundle.all_rule_ids() if rule not in fired and rule not in report.cannot_bind]
    return report


def _outcome(app: DecisionApp, store: Store, pseudonyms: Pseudonyms, case: RuleCase, user_id: str,
             check_attribute: AttributeCheck, known: Expectable) -> CaseOutcome:
    """The case run, or why it cannot be."""
    if case.problems:
        return CaseOutcome(case, [], (), list(case.problems))
    unknown = unknown_expectations(case.spec["expect"], known, str(case.spec["call"]))
    try:
        data = read_case_input(case.spec, check_attribute)
    except CaseRefused as refused:
        return _not_run(case, [*refused.issues, *unknown])
    if unknown:
        return _not_run(case, unknown)
    return _run_case(app, store, pseudonyms, case, data, user_id)


def _within_file_cap(outcome: CaseOutcome, found: Counter[str]) -> CaseOutcome:
    """The outcome with at most what is left of its file's MAX_PROBLEMS_PER_TEST_FILE problems; the case that goes
    over ends with a problem saying that the cases after it are not run. Counts the problems in `found`."""
    file = outcome.case.file
    room = MAX_PROBLEMS_PER_TEST_FILE - found[file]
    found[file] += len(outcome.problems)
    if found[file] <= MAX_PROBLEMS_PER_TEST_FILE:
        return outcome
    found[file] = MAX_PROBLEMS_PER_TEST_FILE + 1
    problems = [*outcome.problems[:room], _too_many_problems(outcome.case, "run")]
    return replace(outcome, problems=problems)


def _run_case(app: DecisionApp, store: Store, pseudonyms: Pseudonyms, case: RuleCase, data: CaseInput,
              user_id: str) -> CaseOutcome:
    try:
        seed_case(store, pseudonyms, app.user_key(user_id), data)
        result = call_case(app, data, user_id)
        failures = _compare(case.spec["expect"], result)
        if failures:  # what the service made of a value the case gives may be why (an amount with a login: 0)
            failures += [f"note: {note}" for note in data.notes]
        return CaseOutcome(case, failures, result.meta.rules_fired)
    except InvalidRequest as refused:  # the service refused the call: name each field it refused
        return _not_run(case, request_issues(refused))
    except StoreUnavailable as error:  # the scratch ledger, not the case: a full disk, say
        return _not_run(case, [CaseIssue((), f"this case could not be run: the scratch ledger the cases run on "
                                         f"could not be written ({error})", f"free space in {tempfile.gettempdir()} "
                                         "(or the folder TMPDIR names) and run the cases again", P.INTERNAL)])
    except Exception:
        log.debug("rule_case.failed", file=case.file, line=case.line, exc_info=True)
        return _not_run(case, [CaseIssue((), "this case could not be run: the service failed while deciding it",
                                         NOT_RUN_HINT, P.INTERNAL)])


def _not_run(case: RuleCase, issues: list[CaseIssue]) -> CaseOutcome:
    return CaseOutcome(case, [], (), _problems(case.file, case.line, case.name, issues, case.lines))


def request_issues(refused: InvalidRequest) -> list[CaseIssue]:
    """The fields a use case refused, as issues of the case (`applicant.attributes.x` is that path in a case)."""
    return [
        CaseIssue(tuple(v.field.split(".")), v.description, "give a value the service accepts (docs/rules.md, Rule "
                  "tests, lists what a case may give)", P.INVALID_VALUE)
        for v in refused.violations
    ]


def call_case(app: DecisionApp, data: CaseInput, user_id: str) -> Any:
    """Make the case's call; the use case's result (ScoreResult, GrantResult, DrawdownResult or FlagResult)."""
    captured: list[Any] = []

    def capture(result: Any) -> bytes:
        captured.append(result)
        return b""

    request_id = f"{user_id}-call"
    if data.call in {"ScoreUser", "GrantLimit"}:
        applicant = replace(data.applicant, user_id=user_id)
        if data.call == "ScoreUser":
            app.score_user(ScoreCommand(request_id=request_id, applicant=applicant), capture)
        else:
            app.grant_limit(GrantCommand(request_id=request_id, applicant=applicant), capture)
    elif data.call == "AuthorizeDrawdown":
        d = data.drawdown
        app.authorize_drawdown(
            DrawdownCommand(request_id, user_id, d.amount, d.term_months, d.repayment_method, d.purpose, d.channel),
            capture,
        )
    else:
        t = data.transaction
        app.flag_transaction(
            TransactionCommand(
                request_id=request_id,
                transaction_id=f"{user_id}-txn",
                user_id=user_id,
                event_type=t.event_type,
                amount=t.amount,
                occurred_at=None,
                channel=t.channel,
                counterparty_id=t.counterparty_id,
                merchant_category=t.merchant_category,
            ),
            capture,
        )
    return captured[0]


def seed_case(store: Store, pseudonyms: Pseudonyms, user_key: str, data: CaseInput) -> None:
    """Put the case's credit line and history in the store."""
    line = data.credit_line
    with store.unit_of_work() as uow:
        if line is not None:
            opened = CreditLine(
                user_key=user_key,
                credit_limit=line.credit_limit,
                outstanding_principal=0,
                daily_interest_rate=line.daily_interest_rate,
                status=LineStatus.ACTIVE,
                residence_country=line.residence_country,
                opened_at=CASE_TIME - timedelta(days=400),
                updated_at=CASE_TIME - timedelta(days=400),
            )
            # As a real line comes to owe money while frozen or closed: drawn down while ACTIVE (the store lets
            # nothing else be drawn), then given its status, which leaves what is outstanding as it is.
            uow.save_credit_line(opened)
            if line.outstanding:
                _seed_drawdown(uow, user_key, line.outstanding, line.days_past_due, line.daily_interest_rate)
            if line.status is not LineStatus.ACTIVE:
                uow.save_credit_line(replace(opened, status=line.status))
        for event in data.history:
            uow.append_event(
                HistoryEvent(
                    user_key=user_key,
                    event_type=event.event_type,
                    occurred_at=history_event_time(event.minutes_ago),
                    amount=event.amount,
                    device_id=pseudonyms.identifier("device", event.device_id),
                    country=event.country,
                    counterparty_id=pseudonyms.identifier("counterparty", event.counterparty_id),
                )
            )


def history_event_time(minutes_ago: Decimal) -> datetime:
    """When a history event `minutes_ago` minutes before the case's call happened: counted back from CASE_TIME, the
    call's own time, to the microsecond. An event at 0 (or less than a microsecond ago) is a microsecond before the
    call, as the service would have recorded it: at CASE_TIME itself, it would move the call a microsecond later
    (decision_time), and with it every window, pushing an event exactly 60 minutes ago out of the last hour."""
    ago = timedelta(microseconds=int((minutes_ago * _MICROSECONDS_A_MINUTE).to_integral_value(ROUND_HALF_EVEN)))
    return CASE_TIME - max(ago, _JUST_BEFORE)


_MICROSECONDS_A_MINUTE = 60_000_000
_JUST_BEFORE = timedelta(microseconds=1)


def _seed_drawdown(uow: Any, user_key: str, amount: int, overdue_days: int, rate: Any) -> None:
    """A drawdown whose single instalment fell due `overdue_days` ago (or is due in a month)."""
    due = business_date(CASE_TIME) + timedelta(days=-overdue_days if overdue_days else 30)
    seeded = Drawdown(
        drawdown_id=f"seed-{user_key[:8]}",
        user_key=user_key,
        amount=amount,
        term_months=1,
        repayment_method=RepaymentMethod.BULLET,
        daily_interest_rate=rate,
        purpose="CONSUMPTION",
        created_at=CASE_TIME - timedelta(days=40),
        schedule=(Installment(1, due, amount, 0),),
    )
    if uow.draw_down(seeded) is None:  # cannot happen: the line is ACTIVE, read_case_input keeps it within its limit
        raise RuntimeError("the store refused the seeded drawdown of a rule-test case")


def _compare(expect: dict[str, Any], result: Any) -> list[str]:
    failures: list[str] = []

    def check(label: str, wanted: object, actual: object) -> None:
        if wanted != actual:
            failures.append(f"{label}: expected {_plain(wanted)}, got {_plain(actual)}")

    if "outcome" in expect:
        check("outcome", expect["outcome"], getattr(getattr(result, "outcome", None), "value", None))
    if "reasons" in expect:
        check("reasons", sorted(expect["reasons"]), sorted(r.code for r in getattr(result, "reasons", ())))
    if "flags" in expect:
        flags = getattr(result, "flags", ())
        check("flags", sorted(expect["flags"]), sorted(f.code for f in flags))
    if "risk_level" in expect:
        check("risk_level", expect["risk_level"], getattr(getattr(result, "risk_level", None), "value", None))
    if "band" in expect:
        check("band", expect["band"], getattr(result, "band", None))
    if "score" in expect:
        score = getattr(result, "score", None)
        wanted = expect["score"]
        low, high = (wanted.get("min", 350), wanted.get("max", 950)) if isinstance(wanted, dict) else (wanted, wanted)
        if score is None or not low <= score <= high:
            expected = low if low == high else f"{low}..{high}"  # `score: 610` is one number, not a range
            failures.append(f"score: expected {expected}, got {score}")
    if "limit" in expect:
        limit = getattr(result, "credit_limit", None)
        check("limit", f"{format_fen_as_yuan(parse_amount(expect['limit']))} CNY",
              None if limit is None else f"{format_fen_as_yuan(limit)} CNY")
    for rule in expect.get("fires", []):
        if rule not in result.meta.rules_fired:
            failures.append(f"fires: expected rule {rule} to fire")
    return failures


def _plain(value: object) -> str:
    """A value as the test file would write it: [LOW_SCORE, NEW_DEVICE], APPROVE, nothing."""
    if isinstance(value, list):
        return "[" + ", ".join(map(str, value)) + "]"
    return "nothing" if value is None else str(value)


# -- the commands -------------------------------------------------------------------------------------------


def load_bundle_or_report(directory: Path, out: TextIO) -> RuleBundle | None:
    """The bundle, or None after printing its problems and how to see them (for the rule tools)."""
    try:
        return load_bundle(directory)
    except BundleInvalid as problems:
        print(f"The bundle in {directory} has errors; fix them first (decisiond rules check {directory}):", file=out)
        for found in problems.problems:
            print(found.format(), file=out)
        return None


def run_rule_tests(directory: Path, out: TextIO) -> int:
    """`decisiond rules test DIR`: run the bundle's cases, print a report and coverage; exit 1 when a case fails,
    cannot be run, or a test file cannot be read. Never a traceback: the server reads this output."""
    try:
        return _run_rule_tests(directory, out)
    except Exception:
        log.debug("rule_tests.failed", directory=str(directory), exc_info=True)
        print(f"{directory}: the rule tests could not be run: the service failed unexpectedly", file=out)
        print("    fix: report this to the service team [R999]", file=out)
        return 1


def _run_rule_tests(directory: Path, out: TextIO) -> int:
    bundle = load_bundle_or_report(directory, out)
    if bundle is None:
        return 1
    try:
        cases, file_problems = read_cases(directory)
        report = run_cases(bundle, cases)
        total = len(bundle.all_rule_ids()) - len(report.cannot_bind)
        where = bundle.rule_places()
    finally:
        bundle.close()
    # W003 as `rules check` gives it: the server reads this output, and serves the bundle with these warnings
    untested = [] if report.failed or file_problems else _untested(report, where)
    for found in [*bundle.warnings, *untested, *file_problems]:  # a warning first: a file the bundle ignores, say
        print(found.format(), file=out)
    for outcome in report.outcomes:
        for found in outcome.problems:
            print(f"FAIL {found.format()}", file=out)
        if outcome.problems:
            continue
        mark = "FAIL" if outcome.failures else "ok  "
        print(f"{mark} {outcome.case.file}:{outcome.case.line}: {outcome.case.name}", file=out)
        for failure in outcome.failures:
            print(f"       {failure}", file=out)
        if outcome.failures:
            print(f"       rules fired: {', '.join(outcome.fired) or '(none)'}", file=out)
            print(f"    fix: {CASE_FIX} [{P.CASE_FAILS.code}]", file=out)
    passed = len(report.outcomes) - len(report.failed)
    unreadable = f"; {_plural(len(file_problems), 'test file problem')}" if file_problems else ""
    print(f"\n{passed} passed, {len(report.failed)} failed, {len(report.outcomes)} cases{unreadable}", file=out)
    backstops = f"; {', '.join(report.cannot_bind)} cannot bind (a fixed cap at or above every band's base limit)" \
        if report.cannot_bind else ""
    print(f"coverage: {total - len(report.uncovered)} of {total} rules fired by some case{backstops}", file=out)
    if report.uncovered:
        print(f"never fired: {', '.join(report.uncovered)}", file=out)
    return 1 if report.failed or file_problems else 0


CASE_FIX = "correct the case's expect, or the rules it tests: the service refuses a bundle whose cases fail"


def _failed(outcome: CaseOutcome) -> RuleProblem:
    """A case that ran and did not get what it expects, as `rules check` reports it."""
    fired = ", ".join(outcome.fired) or "none"
    return problem(P.CASE_FAILS, outcome.case.file, f"case '{outcome.case.name}' does not get what it expects: "
                   f"{'; '.join(outcome.failures)} (rules fired: {fired})", line=outcome.case.line, hint=CASE_FIX)


def _plural(n: int, word: str) -> str:
    return f"{n} {word}{'' if n == 1 else 's'}"


def rule_case_problems(directory: Path) -> list[RuleProblem]:
    """For `decisiond rules check` (a valid bundle is assumed): an error for each test file or case that cannot
    be read or run, exactly as `rules test` (and so the server) reports it, and W003 for each rule no case fires."""
    try:
        cases, problems = read_cases(directory)
        bundle = load_bundle(directory)
        try:
            report = run_cases(bundle, cases)
            where = bundle.rule_places()
        finally:
            bundle.close()
    except Exception:
        log.debug("rule_tests.failed", directory=str(directory), exc_info=True)
        return [problem(P.INTERNAL, str(directory / "tests"), "the test cases could not be run: the service failed "
                        "unexpectedly", hint="report this to the service team")]
    problems += [found for outcome in report.outcomes for found in outcome.problems]
    problems += [_failed(outcome) for outcome in report.outcomes if outcome.failures and not outcome.problems]
    if problems:  # which rules no case fires is not known while some cases cannot be run or fail
        return problems
    return _untested(report, where)


def _untested(report: Report, where: dict[str, tuple[str, int]]) -> list[RuleProblem]:
    """W003 for each rule no case fires, at the rule (`where`: bundle.rule_places())."""
    problems = []
    for rule_id in report.uncovered:
        file, line = where[rule_id]
        problems.append(problem(P.UNTESTED_RULE, file, "no test case fires this rule", line=line, rule_id=rule_id,
                                hint="add a case to tests/*.yaml that makes this rule fire (see docs/rules.md, "
                                "Rule tests)"))
    return problems
