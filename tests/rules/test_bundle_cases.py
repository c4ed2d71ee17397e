"""The bundle's own test cases (rules/tests/*.yaml), one pytest case each, run like `decisiond rules test`."""

from __future__ import annotations

import io
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from service.engine.bundle import RuleBundle, load_bundle
from service.rule_tests import CaseFileError, RuleCase, load_cases, run_cases, run_rule_tests

RULES = Path(__file__).resolve().parents[2] / "rules"
CASES = load_cases(RULES)


@pytest.fixture(scope="module")
def bundle() -> Iterator[RuleBundle]:
    loaded = load_bundle(RULES)
    yield loaded
    loaded.close()


@pytest.mark.parametrize("case", CASES, ids=[f"{Path(c.file).name}:{c.line}" for c in CASES])
def test_bundle_case(bundle: RuleBundle, case: RuleCase) -> None:
    (outcome,) = run_cases(bundle, [case]).outcomes
    assert outcome.failures == [], f"{case.name}: rules fired {outcome.fired}"


def test_every_rule_of_the_starter_bundle_is_covered_by_a_case_but_the_cap_that_cannot_bind(bundle: RuleBundle) -> None:
    # LIM-REGULATION caps at 300,000 CNY, above every band's base limit (the policy issue 2 sets): it binds only if
    # compliance raises a base limit, so no case can fire it, and coverage does not ask for one.
    report = run_cases(bundle, CASES)
    assert (report.uncovered, report.cannot_bind) == ([], ["LIM-REGULATION"])


def test_the_cases_of_a_bundle_with_a_warning_pass_after_the_warning_is_printed(tmp_path: Path) -> None:
    """The server checks an edit with `rules test` and serves it when it passes: the warning (a file the bundle
    ignores, which may hold the edit meant to serve) must be in what it reads, as it is in `rules check`."""
    rules = tmp_path / "rules"
    _copy(RULES, rules)
    (rules / "fraud.yaml.txt").write_text((rules / "fraud.yaml").read_text())
    out = io.StringIO()
    assert run_rule_tests(rules, out) == 0
    first = out.getvalue().splitlines()[0]
    assert first == f"{rules / 'fraud.yaml.txt'}: warning: this file is ignored: the bundle reads fraud.yaml, not " \
        "fraud.yaml.txt"


def test_a_failing_case_is_reported_with_the_rules_that_fired(tmp_path: Path) -> None:
    broken = tmp_path / "rules"
    _copy(RULES, broken)
    case_file = broken / "tests" / "scorecard.yaml"
    case_file.write_text(
        case_file.read_text().replace("expect: {score: 790, band: A, reasons: []}", "expect: {score: 791}")
    )
    out = io.StringIO()
    assert run_rule_tests(broken, out) == 1
    report = out.getvalue()
    assert "FAIL" in report and "score: expected 791, got 790" in report  # one number, as written: not 791..791
    assert "rules fired: SC-REPAY/1" in report
    assert "1 failed" in report


def test_a_case_expecting_a_score_range_is_reported_with_the_range(tmp_path: Path) -> None:
    broken = tmp_path / "rules"
    _copy(RULES, broken)
    case_file = broken / "tests" / "scorecard.yaml"
    case_file.write_text(
        case_file.read_text().replace("expect: {score: 790, band: A, reasons: []}", "expect: {score: {min: 800}}")
    )
    out = io.StringIO()
    assert run_rule_tests(broken, out) == 1
    assert "score: expected 800..950, got 790" in out.getvalue()


def test_a_case_expecting_what_its_call_cannot_give_is_refused(tmp_path: Path) -> None:
    broken = tmp_path / "rules"
    _copy(RULES, broken)
    (broken / "tests" / "extra.yaml").write_text(
        "cases:\n  - name: bands come from ScoreUser\n    call: GrantLimit\n    expect: {band: A}\n"
    )
    with pytest.raises(CaseFileError, match=r"extra.yaml:2: case 'bands come from ScoreUser': GrantLimit cannot"):
        load_cases(broken)


def _copy(source: Path, target: Path) -> None:
    shutil.copytree(source, target)


def test_a_fraud_rule_reading_days_past_due_sees_them_on_a_flagged_transaction(tmp_path: Path) -> None:
    # FlagTransaction works out line.days_past_due only when a fraud rule reads it (the starter's do not).
    rules = tmp_path / "rules"
    _copy(RULES, rules)
    manifest = rules / "bundle.yaml"
    flag_code = "  PAST_DUE_ACTIVITY: An account event of a user who is past due\n"
    manifest.write_text(manifest.read_text().replace("  MULE_COUNTERPARTY:", flag_code + "  MULE_COUNTERPARTY:"))
    fraud = rules / "fraud.yaml"
    fraud.write_text(fraud.read_text() + (
        "\n  - id: FRD-900\n    description: Any account event of a user who is past due\n"
        "    when: line.days_past_due > 0\n    then: {outcome: REVIEW, flag: PAST_DUE_ACTIVITY, severity: LOW}\n"))
    cases = (
        "cases:\n"
        "  - name: a login of a user 5 days past due is referred\n"
        "    call: FlagTransaction\n"
        "    credit_line: {credit_limit: 20000 CNY, days_past_due: 5}\n"
        "    transaction: {type: LOGIN, channel: {device_id: phone-1, country: CN}}\n"
        "    expect: {outcome: REVIEW, flags: [PAST_DUE_ACTIVITY], fires: [FRD-900]}\n"
        "  - name: a login of a user who owes nothing late is not\n"
        "    call: FlagTransaction\n"
        "    credit_line: {credit_limit: 20000 CNY, outstanding: 5000 CNY}\n"
        "    transaction: {type: LOGIN, channel: {device_id: phone-1, country: CN}}\n"
        "    expect: {outcome: APPROVE, flags: []}\n"
    )
    (rules / "tests" / "past_due.yaml").write_text(cases)
    bundle = load_bundle(rules)
    try:
        report = run_cases(bundle, [c for c in load_cases(rules) if c.file.endswith("past_due.yaml")])
    finally:
        bundle.close()
    assert [o.failures for o in report.outcomes] == [[], []]
    assert report.outcomes[0].fired == ("FRD-900",)
