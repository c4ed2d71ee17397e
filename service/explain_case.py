"""`decisiond rules explain DIR --input case.json`: every rule, whether it matched one input, and if not,
which part of its condition failed. The input is a rule-test case (docs/rules.md), `expect` optional, or a decision
record as `decisiond decisions show` prints it (recorded_facts.case_of_record)."""

from __future__ import annotations

import io
import re
import tempfile
from collections.abc import Mapping
from dataclasses import replace
from pathlib import Path
from typing import Any, TextIO, cast

import structlog

from service.app.pseudonyms import Pseudonyms
from service.app.rules import combined_outcome
from service.app.scoring import LimitDerivation, offer_limit, score_applicant
from service.app.usecases import KEPT_AS_KEYED_HASH, DecisionApp
from service.case_input import CaseInput, attribute_check, case_shape_issues, read_case_input
from service.case_yaml import CaseIssue, CaseRefused, FieldPath, build, field_label, line_of, read_yaml
from service.domain.errors import InvalidRequest
from service.domain.limits import apr
from service.domain.money import decimal_text, format_fen_as_yuan
from service.engine import problems as P
from service.engine.bundle import RuleBundle, equality_written, membership_written
from service.engine.catalogue import FieldType, RuleSetKind
from service.engine.model import BinMatch, FiredRule, Outcome
from service.engine.nodes import field_refs
from service.engine.problems import RuleProblem, problem
from service.recorded_facts import (
    FEATURE_PREFIX,
    LISTED,
    RECORDING_CALLS,
    RecordedFacts,
    case_of_record,
    is_printed_record,
    is_recorded_key,
    recorded_facts,
    unrecorded,
)
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

    def __init__(self, bundle: RuleBundle, recorded: RecordedFacts, record: Mapping[str, object] | None) -> None:
        self._bundle = bundle
        self.recorded = recorded  # what a decision record gave: seen in place of what the input would give
        self.record = record  # the decision record explained, when the input was one as `decisions show` prints it
        self.asked: dict[RuleSetKind, Mapping[str, object]] = {}
        self.fired: dict[RuleSetKind, list[FiredRule]] = {}
        self.bins: list[BinMatch] = []
        self.limit_steps: LimitDerivation | None = None  # how the limit was worked out, when limits were reached

    def current(self) -> RuleBundle:
        return cast(RuleBundle, self)

    def evaluate(self, kind: RuleSetKind, facts: Mapping[str, object]) -> list[FiredRule]:
        facts = self.recorded.applied(facts, self._bundle)
        self.asked[kind] = dict(facts)
        self.fired[kind] = self._bundle.evaluate(kind, facts)
        return self.fired[kind]

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
        record = spec if isinstance(spec, dict) and is_printed_record(spec) else None
        if record is not None:
            money = frozenset(name for name, kind in bundle.attributes.items() if kind is FieldType.MONEY)
            spec = case_of_record(record, money)
        elif isinstance(spec, dict) and "call" not in spec:
            raise CaseRefused([NEITHER_CASE_NOR_RECORD])
        recorded, issues = RecordedFacts(), list[CaseIssue]()
        if isinstance(spec, dict):  # a record's features and list memberships, given as they are recorded
            other_rules = record is not None and _decided_under_other_rules(record, bundle)
            recorded, issues = recorded_facts(spec, spec.get("call"), bundle, other_rules=other_rules)
            spec = {key: value for key, value in spec.items() if not is_recorded_key(key)}
        issues += case_shape_issues(spec, for_test=False)
        if issues or not isinstance(spec, dict):
            raise CaseRefused(issues)
        data = read_case_input(spec, attribute_check(bundle))
        recorder = _Recorder(bundle, recorded, record)
        try:
            result = _run(recorder, data)
        except InvalidRequest as refused:
            raise CaseRefused(request_issues(refused)) from None
        eligibility = recorder.fired.get(RuleSetKind.ELIGIBILITY)
        if data.call == "GrantLimit" and eligibility is not None and combined_outcome(eligibility) is Outcome.APPROVE:
            # Worked out again by the service's own functions, on the same applicant: the same steps, the same limit.
            recorder.limit_steps = offer_limit(bundle, score_applicant(bundle, data.applicant)).derivation
    except CaseRefused as refused:
        return [_input_problem(shown, issue, located.lines, base) for issue in refused.issues]
    return recorder, data.call, result


NEITHER_CASE_NOR_RECORD = CaseIssue(
    (), "is neither a case, which needs a 'call:', nor a decision record, which needs the 'rpc' and 'request' that "
    "`decisiond decisions show` prints", "give the record as `decisiond decisions show` prints it, whole, or a case "
    "with 'call:' (docs/rules.md, Rule tests)", P.MISSING_KEY)


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
    unknown = _not_in_the_record(bundle, recorder, call)
    if recorder.record is not None:  # next to the outcome, which they may make another than the call's
        _print_unknown(out, bundle, recorder, call, recorder.record, unknown)
    if recorder.bins or call in {"ScoreUser", "GrantLimit"}:
        _print_scorecard(out, bundle, recorder.bins, getattr(result, "score", None))
    for kind, facts in recorder.asked.items():
        print(f"\n{TITLES[kind]}", file=out)
        for spec, trace in zip(bundle.rule_specs(kind), bundle.explain(kind, facts), strict=True):
            read = [name for name in dict.fromkeys(ref.name for ref in field_refs(spec.expr)) if name in unknown]
            if trace.matched:
                print(f"  {trace.rule_id:<10} MATCHED" + (f" ({NOT_RECORDED}: {', '.join(read)})" if read else ""),
                      file=out)
            else:
                failed = [_value_unknown(part, read) for part in trace.failed]
                print(f"  {trace.rule_id:<10} no: {'; '.join(failed)}", file=out)
    if recorder.recorded.taken_on_trust:
        print("\n(the listed entries are taken from the decision record as the rules that decided it found them, not "
              "checked against this folder's lists: a check under another bundle version must not rely on them)",
              file=out)
    if recorder.recorded.set_aside and recorder.record is not None:
        aside = recorder.recorded.set_aside
        entries = ", ".join(f'"{entry}"' for entry in aside)  # as the record writes them, quotes and all
        what = f"entry {entries}, a test" if len(aside) == 1 else f"entries {entries}, tests"
        print(f"\n(set aside: the record's listed {what} the rules that decided it (bundle "
              f"{recorder.record.get('ruleset_version') or '(none)'}) make and this folder's rules do not)", file=out)
    if call in RECORDING_CALLS and not recorder.recorded.given:
        print("\n(the features were worked out from the input's history; to explain a decision from its record, give"
              " the record's device, ip, features.* and listed entries: docs/rules.md)", file=out)
    if call == "GrantLimit" and "ELIGIBILITY" not in {k.name for k in recorder.asked}:
        print("\n(eligibility and limits were not reached)", file=out)
    elif call == "GrantLimit" and recorder.limit_steps is None:
        print("\n(limits were not reached: the eligibility rules did not approve)", file=out)
    if recorder.limit_steps is not None:
        _print_limits(out, bundle, recorder.limit_steps)
    if hasattr(result, "credit_limit"):
        print(f"\nlimit granted: {format_fen_as_yuan(result.credit_limit)} CNY", file=out)
    if recorder.record is not None:
        _print_record(out, bundle, recorder.record)


NOT_RECORDED = "not in the record"


def _decided_under_other_rules(record: Mapping[str, object], bundle: RuleBundle) -> bool:
    digest = record.get("ruleset_digest")
    return bool(digest) and digest != bundle.digest


def _not_in_the_record(bundle: RuleBundle, recorder: _Recorder, call: str) -> tuple[str, ...]:
    """The fields the rules read that the explained record does not keep (recorded_facts.unrecorded): none for a
    case, nor, under the rules that decided it, for a record made since records keep the features."""
    request = recorder.record.get("request") if recorder.record is not None else None
    if call not in RECORDING_CALLS or not recorder.asked or not isinstance(request, dict):
        return ()
    return unrecorded(call, request, bundle.reads(*recorder.asked))


def _print_unknown(out: TextIO, bundle: RuleBundle, recorder: _Recorder, call: str, record: Mapping[str, object],
                   unknown: tuple[str, ...]) -> None:
    """What the record cannot say that these rules ask, and what the explanation took in its place: the fields it
    does not keep, and, under other rules, whether its hashed values were on these rules' lists or equalled their
    texts (it says so only for the tests of the rules that decided it)."""
    version = record.get("ruleset_version") or "(none)"
    seen = {name: value for facts in recorder.asked.values() for name, value in facts.items()}
    if unknown:
        said = f"the record does not keep {', '.join(unknown)}, which these rules read"
        if _decided_under_other_rules(record, bundle):
            said += f": the rules that decided it (bundle {version}) did not read them"
        empty = [name for name in unknown if isinstance(seen.get(name), str)]
        features = [name for name in unknown if name.startswith(FEATURE_PREFIX)]
        zero = [name for name in unknown if name not in empty and name not in features]
        taken = [f"{', '.join(names)} as {what}" for names, what in (
            (empty, "empty"), (zero, "zero"), (features, "if the user had no history before the call")) if names]
        print(f"  ({said}. This outcome takes {'; '.join(taken)}: the call itself may have been decided "
              "otherwise under these rules)", file=out)
    if call not in RECORDING_CALLS or not _decided_under_other_rules(record, bundle):
        return  # the record names every test of its own rules that held: one it does not name did not
    kinds = tuple(recorder.asked)  # of the values kept as they are, not as hashes, explain asks the lists itself
    tests = [(name, membership_written(name, list_name)) for name, list_name in bundle.list_tests(kinds)
             if name in KEPT_AS_KEYED_HASH]
    tests += [(name, equality_written(name, text)) for name, text in bundle.text_tests(kinds, KEPT_AS_KEYED_HASH)]
    request = record.get("request")
    listed = request.get(LISTED) if isinstance(request, dict) else None
    open_tests = [written for name, written in tests if name not in unknown and seen.get(name) not in ("", None)
                  and not (isinstance(listed, list) and written in listed)]  # an empty value is on no list
    if open_tests:
        print(f"  (the record names only what the rules that decided it (bundle {version}) found on their lists and "
              f"texts: whether {', '.join(open_tests)} held under these rules it does not say; this outcome takes it "
              "that they did not)", file=out)


def _value_unknown(part: str, names: list[str]) -> str:
    """A failed part of a condition with the value of each of `names` (fields the record does not keep) said to be
    unknown, not shown as the empty or zero value the rules were given: `channel.ip == '10.9.9.9' (channel.ip = (not
    in the record))`. Such values print without commas or brackets."""
    for name in names:
        part = re.sub(rf"(?:(?<=\()|(?<=, )){re.escape(name)} = [^,()]*", f"{name} = ({NOT_RECORDED})", part)
    return part


def _print_record(out: TextIO, bundle: RuleBundle, record: Mapping[str, object]) -> None:
    """Which record was explained, what it recorded, and whether this folder holds the rules that decided it."""
    version, digest = record.get("ruleset_version"), record.get("ruleset_digest")
    print(f"\n(explained from decision record {record.get('decision_id', '(no decision_id)')}, which recorded outcome "
          f"{record.get('outcome', '(none)')} under rule bundle {version or '(none)'} (digest {digest or '(none)'}))",
          file=out)
    if _decided_under_other_rules(record, bundle):
        print(f"(this folder holds other rules than those that decided it: explain it under those the ledger kept, "
              f"decisiond rules export --digest {digest} FOLDER)", file=out)


def _print_scorecard(out: TextIO, bundle: RuleBundle, bins: list[BinMatch], score: int | None) -> None:
    """The base points and each characteristic's points, then their sum as the score (and its clamping to the
    score range), so that the figures printed add up to the score the call answers."""
    card = bundle.scorecard
    print("\nscorecard (the first matching bin of each characteristic counts)", file=out)
    print(f"  base points {card.base_points}", file=out)
    matched: dict[str, BinMatch] = {}
    for found in bins:
        matched.setdefault(found.characteristic_id, found)  # the first match counts, as in the score
    terms = [card.base_points]
    for characteristic in card.characteristics:
        match = matched.get(characteristic.characteristic_id)
        if match is None:
            print(f"  {characteristic.characteristic_id:<12} no bin matched: 0 points", file=out)
            terms.append(0)
        else:
            print(
                f"  {characteristic.characteristic_id:<12} {match.bin_rule_id}: {match.points} of "
                f"{characteristic.best_points} points ({characteristic.description})",
                file=out,
            )
            terms.append(match.points)
    if score is None:
        return
    total, addition = sum(terms), " + ".join(str(t) for t in terms)
    if total == score:
        print(f"  score {score} = {addition}", file=out)
    else:
        edge = "lowest" if score == card.min_score else "highest"
        print(f"  score {score}: {addition} = {total}, clamped to {score}, the {edge} score "
              f"({card.min_score} to {card.max_score})", file=out)


def _cny(fen: int) -> str:
    return f"{format_fen_as_yuan(fen)} CNY"


def _print_limits(out: TextIO, bundle: RuleBundle, derivation: LimitDerivation) -> None:
    """The band's base limit, every cap (binding or not), the rounding and the minimum: how the limit came out."""
    spec, band, offer = bundle.limits, derivation.band, derivation.offer
    print(f"\nlimits (band {band}: the lowest of the base limit and the caps, rounded down; declined below the "
          "minimum)", file=out)
    if offer is None:
        attached = ", with the scorecard's reasons" if spec.no_offer_with_score_reasons else ""
        print(f"  no credit is offered in band {band}: declined {spec.no_offer_reason}{attached}", file=out)
        return
    if not derivation.rate_within_apr_cap:
        annual = decimal_text(apr(offer.daily_rate, spec.days_per_year))  # as the answers write it
        print(f"  daily rate {offer.daily_rate} x {spec.days_per_year} days = APR {annual}, above the APR cap "
              f"{spec.apr_cap}: declined RATE_ABOVE_APR_CAP", file=out)
        return
    decision = derivation.decision
    assert decision is not None  # worked out whenever the rate is within the APR cap
    width = max([len("minimum limit"), *(len(cap.rule_id) for cap in derivation.caps)])
    print(f"  {'base limit':<{width}} {_cny(offer.base_limit)}", file=out)
    for cap in derivation.caps:
        binding = any(cap is bound for bound in decision.binding_caps)
        said = f"binding, reason {cap.reason_code}" if binding else "not binding"
        if not binding and cap.amount == decision.lowest < offer.base_limit:
            said += " (it is above the lowest cap before rounding down to the fen)"
        print(f"  {cap.rule_id:<{width}} {_cny(cap.amount)}, {said}", file=out)
    print(f"  {'rounded down':<{width}} {_cny(decision.lowest)} to a multiple of {_cny(spec.rounding)}: "
          f"{_cny(decision.amount)}", file=out)
    if decision.offered:
        annual = decimal_text(apr(offer.daily_rate, spec.days_per_year))
        print(f"  {'minimum limit':<{width}} {_cny(spec.minimum_limit)}: reached, granted {_cny(decision.amount)} at "
              f"a daily rate of {offer.daily_rate} (APR {annual})", file=out)
    else:
        attached = ", with the scorecard's reasons" if spec.below_minimum_with_score_reasons else ""
        print(f"  {'minimum limit':<{width}} {_cny(spec.minimum_limit)}: {_cny(decision.amount)} is below it, declined "
              f"{spec.minimum_limit_reason}{attached}", file=out)
