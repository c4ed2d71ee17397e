"""Rule test cases compliance writes next to the rules (rules/tests/*.yaml), run through the real use cases.

Each case sets up a person, a credit line and a history, makes one call, and states what must come out.
The same loader serves `decisiond rules test DIR` and the pytest suite.
"""

from __future__ import annotations

import tempfile
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any, TextIO

import yaml

from service.app.clock import business_date
from service.app.commands import (
    ApplicantInput,
    ChannelInput,
    DrawdownCommand,
    GrantCommand,
    ScoreCommand,
    TransactionCommand,
)
from service.app.ports import Store
from service.app.pseudonyms import Pseudonyms
from service.app.usecases import DecisionApp
from service.domain.model import CreditLine, Drawdown, EventType, HistoryEvent, Installment, LineStatus, RepaymentMethod
from service.engine.bundle import RuleBundle, load_bundle
from service.engine.catalogue import RuleSetKind
from service.engine.errors import BundleInvalid
from service.engine.problems import UNTESTED_RULE, ProblemSeverity, RuleProblem
from service.storage import open_store

CASE_TIME = datetime(2026, 6, 15, 2, 0, tzinfo=UTC)  # every case is decided at this moment
CALLS = ("ScoreUser", "GrantLimit", "AuthorizeDrawdown", "FlagTransaction")
CASE_KEYS = {"name", "call", "applicant", "credit_line", "history", "drawdown", "transaction", "expect"}
EXPECTATIONS_BY_CALL = {
    "ScoreUser": {"score", "band", "reasons", "fires"},
    "GrantLimit": {"outcome", "score", "limit", "reasons", "fires"},
    "AuthorizeDrawdown": {"outcome", "reasons", "flags", "fires"},
    "FlagTransaction": {"outcome", "risk_level", "flags", "fires"},
}

DEFAULT_APPLICANT: dict[str, Any] = {
    "age": 35,
    "real_name_verified": True,
    "agreement_signed": True,
    "annual_income": "300000 CNY",
    "monthly_spend_avg": "6000 CNY",
    "active_spend_months": 12,
    "on_time_repayments_24m": 24,
    "overdue_count_24m": 0,
    "max_days_overdue_24m": 0,
    "credit_inquiries_6m": 1,
    "financial_assets": "100000 CNY",
    "account_age_months": 60,
    "verified_contacts": 20,
    "country": "CN",
    "attributes": {},
}


class CaseFileError(Exception):
    """A test file or case is malformed; the message names the file, the case and the fix."""


@dataclass(frozen=True)
class RuleCase:
    file: str
    line: int
    name: str
    spec: dict[str, Any]


@dataclass
class CaseOutcome:
    case: RuleCase
    failures: list[str]
    fired: tuple[str, ...]


@dataclass
class Report:
    outcomes: list[CaseOutcome] = field(default_factory=list)
    uncovered: list[str] = field(default_factory=list)

    @property
    def failed(self) -> list[CaseOutcome]:
        return [o for o in self.outcomes if o.failures]


class FixedClock:
    def now(self) -> datetime:
        return CASE_TIME


class _OneBundle:
    def __init__(self, bundle: RuleBundle) -> None:
        self._bundle = bundle

    def current(self) -> RuleBundle:
        return self._bundle


def load_cases(directory: Path) -> list[RuleCase]:
    """Every case in DIR/tests/*.yaml, in file and then case order. Raises CaseFileError."""
    cases: list[RuleCase] = []
    for path in sorted((directory / "tests").glob("*.yaml")):
        shown = str(path)
        try:
            document = yaml.compose(path.read_text(encoding="utf-8"))
            data = yaml.safe_load(path.read_text(encoding="utf-8"))
        except yaml.YAMLError as error:
            raise CaseFileError(f"{shown}: not valid YAML: {error}") from None
        if not isinstance(data, dict) or not isinstance(data.get("cases"), list):
            raise CaseFileError(f"{shown}: a test file holds a list under 'cases:'")
        lines = _case_lines(document)
        for index, spec in enumerate(data["cases"]):
            line = lines[index] if index < len(lines) else 1
            if not isinstance(spec, dict) or not isinstance(spec.get("name"), str):
                raise CaseFileError(f"{shown}:{line}: every case needs a 'name:'")
            where = f"{shown}:{line}: case '{spec['name']}'"
            unknown = set(spec) - CASE_KEYS
            if unknown:
                raise CaseFileError(f"{where}: unknown key(s) {sorted(unknown)}; allowed: {sorted(CASE_KEYS)}")
            if spec.get("call") not in CALLS:
                raise CaseFileError(f"{where}: 'call:' must be one of {', '.join(CALLS)}")
            expect = spec.get("expect")
            if not isinstance(expect, dict) or not expect:
                raise CaseFileError(f"{where}: 'expect:' must state at least one expectation")
            allowed = EXPECTATIONS_BY_CALL[spec["call"]]
            if set(expect) - allowed:
                raise CaseFileError(
                    f"{where}: {spec['call']} cannot be expected to give {sorted(set(expect) - allowed)};"
                    f" it gives {sorted(allowed)}"
                )
            cases.append(RuleCase(shown, line, spec["name"], spec))
    return cases


def _case_lines(document: yaml.Node | None) -> list[int]:
    if not isinstance(document, yaml.MappingNode):
        return []
    for key, value in document.value:
        if key.value == "cases" and isinstance(value, yaml.SequenceNode):
            return [item.start_mark.line + 1 for item in value.value]
    return []


def run_cases(bundle: RuleBundle, cases: list[RuleCase]) -> Report:
    """Run every case against the bundle on a throwaway SQLite ledger; collect failures and coverage."""
    report = Report()
    with tempfile.TemporaryDirectory(prefix="rule-tests-") as scratch:
        store = open_store(f"sqlite:///{Path(scratch) / 'cases.db'}")
        try:
            app = DecisionApp(store, _OneBundle(bundle), FixedClock())
            pseudonyms = Pseudonyms(store.pseudonym_key())
            for number, case in enumerate(cases):
                report.outcomes.append(_run_case(app, store, pseudonyms, case, f"case-{number}"))
        finally:
            store.close()
    fired = {rule for outcome in report.outcomes for rule in outcome.fired}
    report.uncovered = [rule for rule in bundle.all_rule_ids() if rule not in fired]
    return report


def _run_case(app: DecisionApp, store: Store, pseudonyms: Pseudonyms, case: RuleCase, user_id: str) -> CaseOutcome:
    spec = case.spec
    try:
        seed_case(store, pseudonyms, app.user_key(user_id), spec)
        result = call_case(app, spec, user_id)
    except (CaseFileError, ValueError, KeyError, TypeError) as error:
        return CaseOutcome(case, [f"cannot run: {error}"], ())
    return CaseOutcome(case, _compare(spec["expect"], result), result.meta.rules_fired)


def call_case(app: DecisionApp, spec: dict[str, Any], user_id: str) -> Any:
    """Make the case's call; the use case's result (ScoreResult, GrantResult, DrawdownResult or FlagResult)."""
    captured: list[Any] = []

    def capture(result: Any) -> bytes:
        captured.append(result)
        return b""

    call = spec["call"]
    if call in {"ScoreUser", "GrantLimit"}:
        applicant = _applicant(user_id, spec.get("applicant") or {})
        if call == "ScoreUser":
            app.score_user(ScoreCommand(request_id=f"{user_id}-call", applicant=applicant), capture)
        else:
            app.grant_limit(GrantCommand(request_id=f"{user_id}-call", applicant=applicant), capture)
    elif call == "AuthorizeDrawdown":
        d = spec.get("drawdown") or {}
        app.authorize_drawdown(
            DrawdownCommand(
                request_id=f"{user_id}-call",
                user_id=user_id,
                amount=money(d.get("amount", "1000 CNY")),
                term_months=int(d.get("term_months", 6)),
                repayment_method=RepaymentMethod(d.get("repayment_method", "EQUAL_INSTALLMENT")),
                purpose=str(d.get("purpose", "CONSUMPTION")),
                channel=_channel(d.get("channel")),
            ),
            capture,
        )
    else:
        t = spec.get("transaction") or {}
        app.flag_transaction(
            TransactionCommand(
                request_id=f"{user_id}-call",
                transaction_id=f"{user_id}-txn",
                user_id=user_id,
                event_type=EventType(t.get("type", "LOGIN")),
                amount=money(t.get("amount", "0 CNY")),
                occurred_at=None,
                channel=_channel(t.get("channel")),
                counterparty_id=str(t.get("counterparty_id", "")),
                merchant_category=str(t.get("merchant_category", "")),
            ),
            capture,
        )
    return captured[0]


def seed_case(store: Store, pseudonyms: Pseudonyms, user_key: str, spec: dict[str, Any]) -> None:
    """Put the case's credit line and history in the store."""
    line_spec = spec.get("credit_line")
    history = spec.get("history") or []
    with store.unit_of_work() as uow:
        if line_spec is not None:
            uow.save_credit_line(
                CreditLine(
                    user_key=user_key,
                    credit_limit=money(line_spec.get("credit_limit", "20000 CNY")),
                    outstanding_principal=0,
                    daily_interest_rate=Decimal(str(line_spec.get("daily_interest_rate", "0.0003"))),
                    status=LineStatus(line_spec.get("status", "ACTIVE")),
                    residence_country=str(line_spec.get("residence_country", "CN")),
                    opened_at=CASE_TIME - timedelta(days=400),
                    updated_at=CASE_TIME - timedelta(days=400),
                )
            )
            outstanding = money(line_spec.get("outstanding", "0 CNY"))
            overdue_days = int(line_spec.get("days_past_due", 0))
            if outstanding or overdue_days:
                _seed_drawdown(uow, user_key, outstanding or 10_000, overdue_days, line_spec)
        for event in history:
            uow.append_event(
                HistoryEvent(
                    user_key=user_key,
                    event_type=EventType(event["type"]),
                    occurred_at=CASE_TIME - timedelta(minutes=float(event.get("minutes_ago", 0))),
                    amount=money(event.get("amount", "0 CNY")),
                    device_id=pseudonyms.identifier("device", str(event.get("device_id", ""))),
                    country=str(event.get("country", "")),
                    counterparty_id=pseudonyms.identifier("counterparty", str(event.get("counterparty_id", ""))),
                )
            )


def _seed_drawdown(uow: Any, user_key: str, amount: int, overdue_days: int, line_spec: dict[str, Any]) -> None:
    """A drawdown whose single instalment fell due `overdue_days` ago (or is due in a month)."""
    due = business_date(CASE_TIME) + timedelta(days=-overdue_days if overdue_days else 30)
    seeded = Drawdown(
        drawdown_id=f"seed-{user_key[:8]}",
        user_key=user_key,
        amount=amount,
        term_months=1,
        repayment_method=RepaymentMethod.BULLET,
        daily_interest_rate=Decimal(str(line_spec.get("daily_interest_rate", "0.0003"))),
        purpose="CONSUMPTION",
        created_at=CASE_TIME - timedelta(days=40),
        schedule=(Installment(1, due, amount, 0),),
    )
    if uow.draw_down(seeded) is None:
        raise CaseFileError("credit_line.outstanding is more than credit_line.credit_limit")


def _applicant(user_id: str, overrides: dict[str, Any]) -> ApplicantInput:
    unknown = set(overrides) - set(DEFAULT_APPLICANT)
    if unknown:
        raise CaseFileError(f"unknown applicant field(s) {sorted(unknown)}")
    v = {**DEFAULT_APPLICANT, **overrides}
    return ApplicantInput(
        user_id=user_id,
        age=int(v["age"]),
        real_name_verified=bool(v["real_name_verified"]),
        agreement_signed=bool(v["agreement_signed"]),
        annual_income=money(v["annual_income"]),
        monthly_spend_avg=money(v["monthly_spend_avg"]),
        active_spend_months=int(v["active_spend_months"]),
        on_time_repayments_24m=int(v["on_time_repayments_24m"]),
        overdue_count_24m=int(v["overdue_count_24m"]),
        max_days_overdue_24m=int(v["max_days_overdue_24m"]),
        credit_inquiries_6m=int(v["credit_inquiries_6m"]),
        financial_assets=money(v["financial_assets"]),
        account_age_months=int(v["account_age_months"]),
        verified_contacts=int(v["verified_contacts"]),
        country=str(v["country"]),
        attributes=dict(v["attributes"]),
    )


def _channel(spec: dict[str, Any] | None) -> ChannelInput:
    spec = spec or {}
    return ChannelInput(
        device_id=str(spec.get("device_id", "")),
        ip=str(spec.get("ip", "")),
        country=str(spec.get("country", "CN")),
        city=str(spec.get("city", "")),
    )


def money(text: object) -> int:
    """'1,000.50 CNY' -> 100050 fen. Raises CaseFileError for anything else."""
    parts = str(text).replace(",", "").replace("_", "").split()
    try:
        if len(parts) != 2 or parts[1] != "CNY":
            raise InvalidOperation
        fen = Decimal(parts[0]) * 100
    except InvalidOperation:
        raise CaseFileError(f"money is written like '1000 CNY', not {text!r}") from None
    if fen != fen.to_integral_value():
        raise CaseFileError(f"{text!r} has a fraction of a fen")
    return int(fen)


def _compare(expect: dict[str, Any], result: Any) -> list[str]:
    failures: list[str] = []

    def check(label: str, wanted: object, actual: object) -> None:
        if wanted != actual:
            failures.append(f"{label}: expected {wanted}, got {actual}")

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
            failures.append(f"score: expected {low}..{high}, got {score}")
    if "limit" in expect:
        check("limit", money(expect["limit"]), getattr(result, "credit_limit", None))
    for rule in expect.get("fires", []):
        if rule not in result.meta.rules_fired:
            failures.append(f"fires: expected rule {rule} to fire")
    return failures


def load_bundle_or_report(directory: Path, out: TextIO) -> RuleBundle | None:
    """The bundle, or None after printing its problems and how to see them (for the rule tools)."""
    try:
        return load_bundle(directory)
    except BundleInvalid as problems:
        print(f"The bundle in {directory} has errors; fix them first (decisiond rules check {directory}):", file=out)
        for problem in problems.problems:
            print(problem.format(), file=out)
        return None


def run_rule_tests(directory: Path, out: TextIO) -> int:
    """`decisiond rules test DIR`: run the bundle's cases, print a report and coverage; exit 1 on failure."""
    bundle = load_bundle_or_report(directory, out)
    if bundle is None:
        return 1
    try:
        cases = load_cases(directory)
    except CaseFileError as error:
        print(f"error: {error}", file=out)
        return 1
    report = run_cases(bundle, cases)
    bundle.close()
    for outcome in report.outcomes:
        mark = "FAIL" if outcome.failures else "ok  "
        print(f"{mark} {outcome.case.file}:{outcome.case.line}: {outcome.case.name}", file=out)
        for failure in outcome.failures:
            print(f"       {failure}", file=out)
        if outcome.failures:
            print(f"       rules fired: {', '.join(outcome.fired) or '(none)'}", file=out)
    passed = len(report.outcomes) - len(report.failed)
    print(f"\n{passed} passed, {len(report.failed)} failed, {len(report.outcomes)} cases", file=out)
    total = len(bundle.all_rule_ids())
    print(f"coverage: {total - len(report.uncovered)} of {total} rules fired by some case", file=out)
    if report.uncovered:
        print(f"never fired: {', '.join(report.uncovered)}", file=out)
    return 1 if report.failed else 0


def untested_rule_warnings(directory: Path) -> list[RuleProblem]:
    """W003 for every rule no test case fires (for `decisiond rules check`); a valid bundle is assumed."""
    try:
        cases = load_cases(directory)
    except CaseFileError as error:
        return [_warning(str(directory / "tests"), None, None, f"the test cases cannot be read: {error}")]
    bundle = load_bundle(directory)
    try:
        uncovered = run_cases(bundle, cases).uncovered
        where = {
            spec.rule_id: (spec.file, spec.line)
            for kind in (RuleSetKind.ELIGIBILITY, RuleSetKind.DRAWDOWN, RuleSetKind.FRAUD)
            for spec in bundle.rule_specs(kind)
        }
    finally:
        bundle.close()
    file_of_kind = {RuleSetKind.SCORECARD: "scorecard.yaml", RuleSetKind.LIMITS: "limits.yaml"}
    problems = []
    for rule_id in uncovered:
        file, line = where.get(rule_id, (None, None))
        if file is None:
            kind = RuleSetKind.SCORECARD if "/" in rule_id else RuleSetKind.LIMITS
            file = str(directory / file_of_kind[kind])
        problems.append(_warning(file, line, rule_id, "no test case fires this rule"))
    return problems


def _warning(file: str, line: int | None, rule_id: str | None, message: str) -> RuleProblem:
    return RuleProblem(
        code=UNTESTED_RULE.code,
        severity=ProblemSeverity.WARNING,
        file=file,
        line=line,
        col=None,
        rule_id=rule_id,
        message=message,
        hint="add a case to tests/*.yaml that makes this rule fire (see docs/rules.md, Rule tests)",
    )
