"""`decisiond rules explain DIR --input case.json`: every rule, whether it matched one input, and if not,
which part of its condition failed. The input is a rule-test case (docs/rules.md), `expect` optional."""

from __future__ import annotations

import io
import tempfile
from collections.abc import Mapping
from dataclasses import replace
from pathlib import Path
from typing import Any, TextIO, cast

import structlog

from service.app.pseudonyms import Pseudonyms
from service.app.usecases import DecisionApp
from service.case_input import CaseInput, attribute_check, case_shape_issues, read_case_input
from service.case_yaml import CaseIssue, CaseRefused, FieldPath, build, field_label, line_of, read_yaml
from service.domain.errors import InvalidRequest
from service.domain.money import format_fen_as_yuan
from service.engine import problems as P
from service.engine.bundle import RuleBundle
from service.engine.catalogue import RuleSetKind
from service.engine.model import BinMatch, FiredRule
from service.engine.problems import RuleProblem, problem
from service.rule_tests import FixedClock, call_case, load_bundle_or_report, request_issues, seed_case
from service.storage import open_store

log = structlog.get_logger("decisiond.rules_explain")

TITLES = {
    RuleSetKind.ELIGIBILITY: "eligibility rules",
    RuleSetKind.DRAWDOWN: "drawdown rules",
    RuleSetKind.FRAUD: "fraud rules",
}


class _Recorder:
    """Stands in for the bundle during the call, remembering the facts each rule set was asked about."""

    def __init__(self, bundle: RuleBundle) -> None:
        self._bundle = bundle
        self.asked: dict[RuleSetKind, Mapping[str, object]] = {}
        self.bins: list[BinMatch] = []

    def current(self) -> RuleBundle:
        return cast(RuleBundle, self)

    def evaluate(self, kind: RuleSetKind, facts: Mapping[str, object]) -> list[FiredRule]:
        self.asked[kind] = dict(facts)
        return self._bundle.evaluate(kind, facts)

    def score_bins(self, facts: Mapping[str, object]) -> list[BinMatch]:
        self.bins = self._bundle.score_bins(facts)
        return self.bins

    def __getattr__(self, name: str) -> Any:
        return getattr(self._bundle, name)


def explain(directory: Path, case_file: Path, out: TextIO) -> int:
    """Print the explanation; 1 (with one line per problem, never a traceback) when the bundle or the input is
    bad or cannot be run."""
    bundle = load_bundle_or_report(directory, out)
    if bundle is None:
        return 1
    try:
        explained = _explain(bundle, case_file)
        if not isinstance(explained, list):
            report = io.StringIO()  # whole, or not at all
            _print(report, bundle, *explained)
            out.write(report.getvalue())
            return 0
    except Exception:  # the last line of defence: a message, never a traceback
        log.debug("rules_explain.failed", input=str(case_file), exc_info=True)
        explained = [problem(P.INTERNAL, str(case_file), "this input could not be run: the service failed while "
                             "deciding it", hint="report this to the service team, with the input")]
    finally:
        bundle.close()
    for found in explained:
        message = found.message.replace("not valid YAML", "not valid JSON or YAML", 1)
        line = replace(found, message=f"cannot explain this input: {message}").headline()
        print(f"{line} (fix: {found.hint})" if found.hint else line, file=out)
    return 1


def _explain(bundle: RuleBundle, case_file: Path) -> list[RuleProblem] | tuple[_Recorder, str, Any]:
    """What the call decided, with the facts each rule set saw; or the problems of the input."""
    shown = str(case_file)
    problems: list[RuleProblem] = []
    root = read_yaml(case_file, shown, problems)
    if root is None:
        return problems
    try:
        located = build(root)
    except CaseRefused as refused:
        return [_input_problem(shown, issue, {}, ()) for issue in refused.issues]
    spec, base = located.data, cast(FieldPath, ())
    if isinstance(spec, dict) and isinstance(spec.get("cases"), list):
        if len(spec["cases"]) != 1:
            return [problem(P.WRONG_SHAPE, shown, f"the file holds {len(spec['cases'])} cases; explain takes one",
                            line=line_of(located.lines, ("cases",)), hint="copy the one case into a file of its own")]
        spec, base = spec["cases"][0], ("cases", 0)
    try:
        issues = case_shape_issues(spec, for_test=False)
        if issues or not isinstance(spec, dict):
            raise CaseRefused(issues)
        data = read_case_input(spec, attribute_check(bundle))
        recorder = _Recorder(bundle)
        try:
            result = _run(recorder, data)
        except InvalidRequest as refused:
            raise CaseRefused(request_issues(refused)) from None
    except CaseRefused as refused:
        return [_input_problem(shown, issue, located.lines, base) for issue in refused.issues]
    return recorder, data.call, result


def _input_problem(file: str, issue: CaseIssue, lines: dict[FieldPath, int], base: FieldPath) -> RuleProblem:
    label = field_label(issue.path)
    return problem(issue.code, file, f"{label}: {issue.message}" if label else issue.message,
                   line=issue.line or line_of(lines, base + issue.path), hint=issue.hint)


def _run(recorder: _Recorder, data: CaseInput) -> Any:
    with tempfile.TemporaryDirectory(prefix="rules-explain-") as scratch:
        store = open_store(f"sqlite:///{Path(scratch) / 'explain.db'}")
        try:
            app = DecisionApp(store, recorder, FixedClock())
            seed_case(store, Pseudonyms(store.pseudonym_key()), app.user_key("explain"), data)
            return call_case(app, data, "explain")
        finally:
            store.close()


def _print(out: TextIO, bundle: RuleBundle, recorder: _Recorder, call: str, result: Any) -> None:
    print(f"{call} under rule bundle {bundle.version} (digest {bundle.digest})", file=out)
    outcome = getattr(getattr(result, "outcome", None), "value", None)
    summary = [f"outcome {outcome}"] if outcome else []
    if hasattr(result, "risk_level"):
        summary.append(f"risk level {result.risk_level.value}")
    if hasattr(result, "score"):
        summary.append(f"score {result.score}")
    if hasattr(result, "reasons"):
        summary.append(f"reasons {', '.join(r.code for r in result.reasons) or '(none)'}")
    print("  " + "; ".join(summary), file=out)
    if hasattr(result, "flags"):  # as the call answers them: AuthorizeDrawdown's fraud_flags, FlagTransaction's flags
        flags = [f"{f.code} (rule {f.rule_id}, severity {f.severity.value})" for f in result.flags]
        label = "fraud flags" if hasattr(result, "reasons") else "flags"
        print(f"  {label} {', '.join(flags) or '(none)'}", file=out)
    if recorder.bins or call in {"ScoreUser", "GrantLimit"}:
        print("\nscorecard (the first matching bin of each characteristic counts)", file=out)
        matched = {m.characteristic_id: m for m in recorder.bins}
        for characteristic in bundle.scorecard.characteristics:
            match = matched.get(characteristic.characteristic_id)
            if match is None:
                print(f"  {characteristic.characteristic_id:<12} no bin matched: 0 points", file=out)
            else:
                print(
                    f"  {characteristic.characteristic_id:<12} {match.bin_rule_id}: {match.points} of "
                    f"{characteristic.best_points} points ({characteristic.description})",
                    file=out,
                )
    for kind, facts in recorder.asked.items():
        print(f"\n{TITLES[kind]}", file=out)
        for trace in bundle.explain(kind, facts):
            if trace.matched:
                print(f"  {trace.rule_id:<10} MATCHED", file=out)
            else:
                print(f"  {trace.rule_id:<10} no: {'; '.join(trace.failed)}", file=out)
    if call == "GrantLimit" and "ELIGIBILITY" not in {k.name for k in recorder.asked}:
        print("\n(eligibility and limits were not reached)", file=out)
    if hasattr(result, "credit_limit"):
        print(f"\nlimit granted: {format_fen_as_yuan(result.credit_limit)} CNY", file=out)
