"""What `decisiond rules test` and `rules check` say about a test case that cannot be run as written: the file,
the case's line, the case, the field and a fix, in plain words; never a traceback or Python's wording."""

from __future__ import annotations

import io
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

import pytest

import service.rule_tests
from service.cli import main
from service.domain.errors import StoreUnavailable
from service.engine.check import run_check
from service.rule_tests import run_rule_tests

RULES = Path(__file__).resolve().parents[2] / "rules"
PYTHON_WORDS = ("Traceback", "Error", "int()", "Errno", "is not a valid", "set_int_max_str_digits", "codec",
                "<unicode string>", "EventType", "InvalidRequest")


def bundle_with_cases(tmp_path: Path, cases: str, *, employment_rule: bool = False) -> Path:
    """A copy of the starter bundle with tests/extra.yaml holding `cases` (the text after 'cases:')."""
    rules = tmp_path / "rules"
    shutil.copytree(RULES, rules)
    if employment_rule:
        eligibility = rules / "eligibility.yaml"
        eligibility.write_text(eligibility.read_text().replace(
            "when: score.value < 600",
            "when: score.value < 600 or applicant.attributes.employment_months > 1000"))
    (rules / "tests" / "extra.yaml").write_text("cases:\n" + cases)
    return rules


def rules_test(rules: Path) -> tuple[int, str]:
    out = io.StringIO()
    code = run_rule_tests(rules, out)
    return code, out.getvalue()


def assert_plain_words(report: str) -> None:
    assert [word for word in PYTHON_WORDS if word in report] == []


@pytest.mark.parametrize(("value", "said"), [
    ("abc", "must be a whole number, not 'abc'"),
    ("2.5", "must be a whole number, not 2.5"),
    ("true", "must be a number, not true/false"),
])
def test_an_attribute_of_the_wrong_kind_fails_its_case_naming_the_field_and_the_fix(
    tmp_path: Path, value: str, said: str
) -> None:
    rules = bundle_with_cases(tmp_path, (
        "  - name: long employment\n"
        "    call: GrantLimit\n"
        f"    applicant: {{attributes: {{employment_months: {value}}}}}\n"
        "    expect: {outcome: DECLINE}\n"
    ), employment_rule=True)
    code, report = rules_test(rules)
    assert code == 1
    assert (f"FAIL {rules}/tests/extra.yaml:2: case 'long employment': applicant.attributes.employment_months "
            f"(line 4): {said}\n    fix: bundle.yaml declares this attribute as a whole number (int)") in report
    assert "ok   " in report and "40 passed, 1 failed, 41 cases" in report
    assert_plain_words(report)


def test_rules_check_reports_a_case_it_cannot_run_at_the_case_not_as_a_checker_failure(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    rules = bundle_with_cases(tmp_path, (
        "  - name: long employment\n"
        "    call: GrantLimit\n"
        "    applicant: {attributes: {employment_months: abc}}\n"
        "    expect: {outcome: DECLINE}\n"
    ), employment_rule=True)
    assert main(["rules", "check", str(rules)]) == 1
    report = capsys.readouterr().out
    assert (f"{rules}/tests/extra.yaml:2: case 'long employment': applicant.attributes.employment_months (line 4): "
            "must be a whole number, not 'abc'") in report
    assert f"{rules}: 1 error, 0 warnings" in report
    assert "R999" not in report
    assert_plain_words(report)


def bundle_with_a_money_attribute(tmp_path: Path, cases: str) -> Path:
    """bundle_with_cases, with a money attribute monthly_debt that declines above 5000 CNY (ELG-004)."""
    rules = bundle_with_cases(tmp_path, cases)
    add_a_money_attribute(rules)
    return rules


def add_a_money_attribute(rules: Path) -> None:
    """Declare a money attribute monthly_debt in the bundle at `rules`, which declines above 5000 CNY (ELG-004)."""
    bundle = rules / "bundle.yaml"
    bundle.write_text(bundle.read_text().replace("\nattributes:\n", "\nattributes:\n  monthly_debt:\n    type: money\n"
                                                 "    default: 0 CNY\n    description: Monthly debt elsewhere\n", 1))
    eligibility = rules / "eligibility.yaml"
    eligibility.write_text(eligibility.read_text().replace(
        "when: score.value < 600", "when: score.value < 600 or applicant.attributes.monthly_debt > 5000 CNY"))


def test_a_money_attribute_is_written_with_its_currency_like_every_amount_of_a_case(tmp_path: Path) -> None:
    rules = bundle_with_a_money_attribute(tmp_path, (
        "  - name: a debt above 5000 CNY declines\n"
        "    call: GrantLimit\n"
        "    applicant: {attributes: {monthly_debt: 5000.01 CNY}}\n"
        "    expect: {outcome: DECLINE, fires: [ELG-004]}\n"
        "  - name: a debt of 5000 CNY does not\n"
        "    call: GrantLimit\n"
        "    applicant: {attributes: {monthly_debt: '5,000.00 CNY'}}\n"
        "    expect: {outcome: APPROVE}\n"
    ))
    code, report = rules_test(rules)
    assert code == 0
    assert f"ok   {rules}/tests/extra.yaml:2: a debt above 5000 CNY declines\n" in report
    assert f"ok   {rules}/tests/extra.yaml:6: a debt of 5000 CNY does not\n" in report


def test_a_money_attribute_given_as_a_bare_number_is_refused_as_any_bare_amount_is(tmp_path: Path) -> None:
    rules = bundle_with_a_money_attribute(tmp_path, (
        "  - name: a debt copied from a decision record\n"
        "    call: GrantLimit\n"
        "    applicant: {attributes: {monthly_debt: 600000}}\n"
        "    expect: {outcome: DECLINE}\n"
    ))
    code, report = rules_test(rules)
    assert code == 1
    assert (f"FAIL {rules}/tests/extra.yaml:2: case 'a debt copied from a decision record': applicant.attributes."
            "monthly_debt (line 4): an amount is written with its currency, not 600000\n    fix: write 6000.00 CNY if "
            "600000 is in fen, as decision records keep amounts, or 600000 CNY if it is in yuan") in report
    assert_plain_words(report)


def test_a_misspelt_attribute_fails_its_case_with_the_declared_name_instead_of_taking_the_default(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    rules = bundle_with_cases(tmp_path, (
        "  - name: a short employment is approved\n"
        "    call: GrantLimit\n"
        "    applicant:\n"
        "      attributes: {employment_month: 5}\n"
        "    expect: {outcome: APPROVE}\n"
    ), employment_rule=True)
    said = (f"{rules}/tests/extra.yaml:2: case 'a short employment is approved': applicant.attributes."
            "employment_month (line 5): is not an attribute bundle.yaml declares (did you mean 'employment_months'?)"
            "\n    fix: write 'employment_months', or declare 'employment_month' in bundle.yaml under 'attributes:' "
            "[R005]")
    assert main(["rules", "test", str(rules)]) == 1
    tested = capsys.readouterr().out
    assert f"FAIL {said}" in tested
    assert "40 passed, 1 failed, 41 cases" in tested
    assert main(["rules", "check", str(rules)]) == 1
    checked = capsys.readouterr().out
    assert checked.startswith(said + "\n")
    assert f"{rules}: 1 error, 0 warnings" in checked
    assert_plain_words(tested + checked)


def test_an_attribute_nothing_like_a_declared_one_is_refused_naming_those_declared(tmp_path: Path) -> None:
    rules = bundle_with_cases(tmp_path, (
        "  - name: a tenure\n"
        "    call: ScoreUser\n"
        "    applicant: {attributes: {tenure_years: 2, employment_months: 12}}\n"
        "    expect: {band: A}\n"
    ))
    code, report = rules_test(rules)
    assert code == 1
    assert (f"FAIL {rules}/tests/extra.yaml:2: case 'a tenure': applicant.attributes.tenure_years (line 4): is not an "
            "attribute bundle.yaml declares\n    fix: use an attribute bundle.yaml declares (employment_months), or "
            "declare 'tenure_years' in bundle.yaml under 'attributes:' [R005]") in report
    assert "employment_months (line 4)" not in report


def test_an_attribute_in_a_bundle_that_declares_none_is_refused_saying_so(tmp_path: Path) -> None:
    rules = bundle_with_cases(tmp_path, (
        "  - name: an employment\n"
        "    call: ScoreUser\n"
        "    applicant: {attributes: {employment_months: 12}}\n"
        "    expect: {band: A}\n"
    ))
    bundle_file = rules / "bundle.yaml"
    text = bundle_file.read_text()
    declared = text[text.index("\nattributes:\n"):]
    assert declared.count("\n  ") == 4  # employment_months, its type, default and description: nothing after it
    bundle_file.write_text(text.replace(declared, "\n"))
    code, report = rules_test(rules)
    assert code == 1
    assert (f"FAIL {rules}/tests/extra.yaml:2: case 'an employment': applicant.attributes.employment_months "
            "(line 4): is not an attribute of this bundle: bundle.yaml declares none\n    fix: declare it in "
            "bundle.yaml under 'attributes:' (see docs/rules.md), or remove it from the case [R005]") in report


def test_a_case_amount_without_its_currency_is_told_both_readings_of_the_number(tmp_path: Path) -> None:
    rules = bundle_with_cases(tmp_path, (
        "  - name: a drawdown in bare numbers\n"
        "    call: AuthorizeDrawdown\n"
        "    credit_line: {}\n"
        "    drawdown: {amount: 50000}\n"
        "    expect: {outcome: APPROVE}\n"
    ))
    code, report = rules_test(rules)
    assert code == 1
    assert (f"FAIL {rules}/tests/extra.yaml:2: case 'a drawdown in bare numbers': drawdown.amount (line 5): an amount "
            "is written with its currency, not 50000\n    fix: write 500.00 CNY if 50000 is in fen, as decision "
            "records keep amounts, or 50000 CNY if it is in yuan [R003]") in report


def test_history_minutes_amounts_and_rates_beyond_any_real_value_are_reported_like_any_other_case_error(
    tmp_path: Path,
) -> None:
    rules = bundle_with_cases(tmp_path, (
        "  - name: an event from before the universe\n"
        "    call: AuthorizeDrawdown\n"
        "    history:\n"
        "      - {type: DRAWDOWN, minutes_ago: 99999999999999, amount: 500 CNY}\n"
        "    expect: {outcome: APPROVE}\n"
        "  - name: a limit larger than the money supply\n"
        "    call: AuthorizeDrawdown\n"
        "    credit_line: {credit_limit: 99999999999999999 CNY}\n"
        "    expect: {outcome: APPROVE}\n"
        "  - name: a rate no band can have\n"
        "    call: AuthorizeDrawdown\n"
        "    credit_line: {daily_interest_rate: 1.0e-300}\n"
        "    expect: {outcome: APPROVE}\n"
    ))
    code, report = rules_test(rules)
    assert code == 1
    assert (f"FAIL {rules}/tests/extra.yaml:2: case 'an event from before the universe': history event 1, "
            "minutes_ago (line 5): must be a number of minutes from 0 to 5256000 (ten years), not 99999999999999\n"
            "    fix: write a number of minutes from 0 to 5256000 (ten years) [R006]") in report
    assert (f"FAIL {rules}/tests/extra.yaml:7: case 'a limit larger than the money supply': credit_line.credit_limit "
            "(line 9): '99999999999999999 CNY' is more than the largest amount the service handles\n"
            "    fix: write at most 9999999999999.99 CNY [R003]") in report
    assert (f"FAIL {rules}/tests/extra.yaml:11: case 'a rate no band can have': credit_line.daily_interest_rate "
            "(line 13): has more than 9 decimal places, as no band's rate can\n"
            "    fix: round it to at most 9 decimal places, e.g. 0.000657534 [R006]") in report
    assert "40 passed, 3 failed, 43 cases" in report
    assert_plain_words(report)


@pytest.mark.parametrize(("given", "said", "fix"), [
    ("applicant: {age: 1e400}", "applicant.age (line 4): must be a whole number from 0 to 130, not '1e400'",
     "write the number without quotes, units or an exponent"),
    ("applicant: {age: 99999999999999999999999}", "applicant.age (line 4): must be from 0 to 130, not "
     "99999999999999999999999", "write a whole number from 0 to 130"),
    (f"applicant: {{age: {'9' * 5000}}}", "applicant.age (line 4): the number has 5000 characters",
     "write a number within the field's range"),
    ("applicant: {attributes: {tenure: 99999999999999999999999}}", "applicant.attributes.tenure (line 4): "
     "99999999999999999999999 is out of range (at most 15 digits)", "write a smaller number"),
])
def test_numbers_python_cannot_take_are_described_in_plain_words(
    tmp_path: Path, given: str, said: str, fix: str
) -> None:
    rules = bundle_with_cases(tmp_path, f"  - name: odd number\n    call: GrantLimit\n    {given}\n"
                                        "    expect: {outcome: APPROVE}\n")
    code, report = rules_test(rules)
    assert code == 1
    assert f"extra.yaml:2: case 'odd number': {said}" in report
    assert f"    fix: {fix}" in report
    assert_plain_words(report)


def test_an_unknown_event_type_is_named_with_the_types_allowed(tmp_path: Path) -> None:
    rules = bundle_with_cases(tmp_path, (
        "  - name: teleporting\n    call: FlagTransaction\n    transaction: {type: TELEPORT}\n"
        "    expect: {outcome: APPROVE}\n"
    ))
    code, report = rules_test(rules)
    assert code == 1
    assert ("extra.yaml:2: case 'teleporting': transaction.type (line 4): 'TELEPORT' is not an account event type\n"
            "    fix: use one of LOGIN, PASSWORD_CHANGE, PHONE_CHANGE, DRAWDOWN, TRANSFER_OUT, REPAYMENT, PAYMENT "
            "[R006]") in report
    assert_plain_words(report)


def test_a_yaml_error_in_a_test_file_is_an_error_for_check_and_test_alike(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    rules = bundle_with_cases(tmp_path, (
        "  - name: fine\n    call: GrantLimit\n    expect: {outcome: APPROVE}\n"
        "  - name: attr {a: 1}\n    call: GrantLimit\n    expect: {outcome: APPROVE}\n"
    ))
    said = (f"{rules}/tests/extra.yaml:5:18: not valid YAML: mapping values are not allowed here\n"
            "    fix: put text that contains ': ' in quotes [R001]")
    assert main(["rules", "check", str(rules)]) == 1
    checked = capsys.readouterr().out
    assert main(["rules", "test", str(rules)]) == 1
    tested = capsys.readouterr().out
    assert said in checked and said in tested
    assert f"{rules}: 1 error, 0 warnings" in checked
    assert "40 passed, 0 failed, 40 cases; 1 test file problem" in tested
    assert_plain_words(checked + tested)


def test_a_test_file_that_is_not_utf8_is_an_error_in_plain_words(tmp_path: Path) -> None:
    rules = bundle_with_cases(tmp_path, "  - name: caf\xe9\n    call: GrantLimit\n    expect: {outcome: APPROVE}\n")
    (rules / "tests" / "extra.yaml").write_bytes((rules / "tests" / "extra.yaml").read_text().encode("latin-1"))
    code, report = rules_test(rules)
    assert code == 1
    assert "extra.yaml" in report and "not UTF-8 text" in report and "save the file as UTF-8" in report
    assert_plain_words(report)


def test_a_case_the_service_fails_on_fails_alone_and_the_other_cases_still_run(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    real_call = service.rule_tests.call_case

    def failing_on_transactions(app: Any, data: Any, user_id: str) -> Any:
        if data.call == "FlagTransaction":
            raise ZeroDivisionError("division by zero")
        return real_call(app, data, user_id)

    monkeypatch.setattr(service.rule_tests, "call_case", failing_on_transactions)
    code, report = rules_test(RULES)
    assert code == 1
    assert (f"FAIL {RULES}/tests/fraud.yaml:5: case 'an ordinary login carries no risk': this case could not be run: "
            "the service failed while deciding it\n    fix: report this to the service team, with the case; the other "
            "cases were run [R999]") in report
    assert f"ok   {RULES}/tests/drawdown.yaml:5: an ordinary drawdown is approved" in report
    assert_plain_words(report)
    assert "ZeroDivision" not in report and "division by zero" not in report


def test_a_case_given_inputs_its_call_does_not_use_is_told_so(tmp_path: Path) -> None:
    rules = bundle_with_cases(tmp_path, (
        "  - name: a grant with a drawdown\n    call: GrantLimit\n    drawdown: {amount: 5 CNY}\n"
        "    expect: {outcome: APPROVE}\n"
    ))
    code, report = rules_test(rules)
    assert code == 1
    assert ("extra.yaml:2: case 'a grant with a drawdown': drawdown (line 4): GrantLimit does not use 'drawdown'; "
            "it uses applicant, credit_line\n    fix: remove it, or change 'call:' [R005]") in report


def test_a_report_cut_short_by_its_reader_ends_quietly(tmp_path: Path) -> None:
    """`decisiond rules check rules/ | head`: the report goes on after head has stopped reading."""
    rules = tmp_path / "rules"
    shutil.copytree(RULES, rules)
    misspelt = "".join(f"  - id: FRD-{i:04d}\n    when: transaction.amout > 5 CNY\n"
                       "    then: {outcome: REVIEW, flag: NEW_DEVICE, severity: LOW}\n" for i in range(1500))
    (rules / "fraud.yaml").write_text("rules:\n" + misspelt)  # a report far larger than a pipe holds
    done = subprocess.run(f"'{sys.executable}' -m service.cli rules check '{rules}' | head -1", shell=True,
                          capture_output=True, text=True, timeout=120, check=False)
    assert done.stdout.startswith(f"{rules}/fraud.yaml:2:5: rule FRD-0000: ")
    assert done.stderr == ""


def test_a_case_that_does_not_get_what_it_expects_is_an_error_in_check_as_the_server_refuses_it(
    tmp_path: Path,
) -> None:
    rules = bundle_with_cases(tmp_path, "  - name: a strong applicant declined\n    call: GrantLimit\n"
                                        "    expect: {outcome: DECLINE}\n")
    out = io.StringIO()
    assert run_check(rules, out, extra_checks=service.rule_tests.rule_case_problems) == 1
    assert out.getvalue().splitlines()[:2] == [
        f"{rules}/tests/extra.yaml:2: case 'a strong applicant declined' does not get what it expects: outcome: "
        "expected DECLINE, got APPROVE (rules fired: SC-REPAY/1, SC-SPEND/3, SC-ASSETS/4, SC-HUNGER/1, "
        "SC-TENURE/4, SC-SOCIAL/3, LIM-INCOME)",
        "    fix: correct the case's expect, or the rules it tests: the service refuses a bundle whose cases fail "
        "[R701]",
    ]
    code, said = rules_test(rules)
    assert code == 1 and "[R701]" in said


def test_a_case_naming_a_rule_code_or_band_the_bundle_does_not_have_says_which_and_suggests_the_right_one(
    tmp_path: Path,
) -> None:
    rules = bundle_with_cases(tmp_path, (
        "  - name: a misspelt rule and reason\n"
        "    call: AuthorizeDrawdown\n"
        "    credit_line: {}\n"
        "    drawdown: {amount: 99.99 CNY}\n"
        "    expect: {outcome: DECLINE, reasons: [BELOW_MINIMUM_DRAWDOWN, INSUFICIENT_LIMIT],\n"
        "             flags: [NEW_DEVICES], fires: [DRW-01]}\n"
        "  - name: a band that does not exist\n"
        "    call: ScoreUser\n"
        "    expect: {band: AA}\n"
    ))
    out = io.StringIO()
    assert run_check(rules, out, extra_checks=service.rule_tests.rule_case_problems) == 1
    case = f"{rules}/tests/extra.yaml:2: case 'a misspelt rule and reason'"
    assert out.getvalue().splitlines()[:8] == [
        f"{case}: expect.fires item 1 (line 7): 'DRW-01' is not the id of a rule in this bundle (did you mean "
        "'DRW-001'?)",
        "    fix: write the rule's id as its rule file does (a scorecard bin as SC-REPAY/1) [R702]",
        f"{case}: expect.reasons item 2 (line 6): 'INSUFICIENT_LIMIT' is not a reason code of this bundle (did you "
        "mean 'INSUFFICIENT_LIMIT'?)",
        "    fix: use a code that bundle.yaml declares under reasons [R702]",
        f"{case}: expect.flags item 1 (line 7): 'NEW_DEVICES' is not a flag code of this bundle (did you mean "
        "'NEW_DEVICE'?)",
        "    fix: use a code that bundle.yaml declares under reasons [R702]",
        f"{rules}/tests/extra.yaml:8: case 'a band that does not exist': expect.band (line 10): 'AA' is not a score "
        "band of this bundle (did you mean 'A'?)",
        "    fix: use a band that scorecard.yaml defines: A, B, C, D, E [R702]",
    ]
    code, said = rules_test(rules)
    assert code == 1 and said.count("[R702]") == 4


def test_a_misspelt_expectation_is_told_the_one_meant_and_another_calls_expectation_the_call(tmp_path: Path) -> None:
    """'reason:' for 'reasons:' was told "GrantLimit cannot be expected to give reason; ... change 'call:'"."""
    rules = bundle_with_cases(tmp_path, (
        "  - name: a typical applicant is approved\n"
        "    call: GrantLimit\n"
        "    expect: {outcome: APPROVE, reason: [], band: A}\n"
    ))
    out = io.StringIO()
    assert run_check(rules, out, extra_checks=service.rule_tests.rule_case_problems) == 1
    case = f"{rules}/tests/extra.yaml:2: case 'a typical applicant is approved'"
    assert out.getvalue().splitlines()[:4] == [
        f"{case}: expect.reason (line 4): is not an expectation (did you mean 'reasons'?)",
        "    fix: write 'reasons' [R005]",
        f"{case}: GrantLimit cannot be expected to give band; it gives outcome, score, limit, reasons, fires",
        "    fix: remove the expectation, or change 'call:' [R005]",
    ]


def test_the_codes_the_service_gives_itself_can_be_expected_without_declaring_them(tmp_path: Path) -> None:
    rules = bundle_with_cases(tmp_path, (
        "  - name: no credit line\n"
        "    call: AuthorizeDrawdown\n"
        "    drawdown: {amount: 500 CNY}\n"
        "    expect: {outcome: DECLINE, reasons: [NO_CREDIT_LINE]}\n"
    ))
    bundle_file = rules / "bundle.yaml"
    bundle_file.write_text(bundle_file.read_text().replace(
        "  NO_CREDIT_LINE: There is no active credit line for this user\n", ""))
    code, said = rules_test(rules)
    assert (code, said.count("FAIL")) == (0, 0), said


def test_a_full_disk_under_the_cases_is_told_as_such_not_as_a_fault_to_report(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def disk_full(*_: object) -> None:
        raise StoreUnavailable("database or disk is full")

    monkeypatch.setattr(service.rule_tests, "call_case", disk_full)
    code, report = rules_test(bundle_with_cases(tmp_path, ""))
    assert code == 1
    assert ("this case could not be run: the scratch ledger the cases run on could not be written (database or disk "
            f"is full)\n    fix: free space in {tempfile.gettempdir()} (or the folder TMPDIR names) and run the cases "
            "again [R999]") in report
    assert "report this to the service team" not in report


def test_a_scorecard_bin_or_limit_cap_no_case_fires_is_named_at_its_line(tmp_path: Path) -> None:
    rules = tmp_path / "rules"
    shutil.copytree(RULES, rules)
    scorecard = rules / "scorecard.yaml"
    scorecard.write_text(scorecard.read_text().replace(
        "      - {from: 90, points: 0}\n",
        "      - {from: 90, below: 700, points: 0}\n      - {from: 700, points: 0}\n", 1))
    limits = rules / "limits.yaml"
    # ten years' income: the lowest for no case; a fixed cap above every base limit (LIM-REGULATION) can bind for
    # no request at all, and no case is asked of it
    limits.write_text(limits.read_text() + "\n  - id: LIM-HUGE\n    description: Never the lowest\n"
                      "    amount: applicant.annual_income * 10\n    reason: CAPPED_BY_REGULATION\n")
    out = io.StringIO()
    assert run_check(rules, out, extra_checks=service.rule_tests.rule_case_problems) == 0
    bin_line = scorecard.read_text().splitlines().index("      - {from: 700, points: 0}") + 1
    cap_line = limits.read_text().splitlines().index("  - id: LIM-HUGE") + 1
    untested = [line for line in out.getvalue().splitlines() if "no test case fires this rule" in line]
    assert untested == [
        f"{rules}/scorecard.yaml:{bin_line}: rule SC-REPAY/5: warning: no test case fires this rule",
        f"{rules}/limits.yaml:{cap_line}: rule LIM-HUGE: warning: no test case fires this rule",
    ]


@pytest.mark.parametrize(("amount", "said", "example"), [
    ("300000,00 CNY", "'300000,00 CNY' has a comma that is not a thousands separator", "300000.00 CNY"),
    ("1,5 CNY", "'1,5 CNY' has a comma that is not a thousands separator", "1.5 CNY"),
    ("3,00,000 CNY", "'3,00,000 CNY' has a comma that is not a thousands separator", "300000.50 CNY"),
    ("1,0,0,0 CNY", "'1,0,0,0 CNY' has a comma that is not a thousands separator", "300000.50 CNY"),
])
def test_a_case_amount_with_a_decimal_comma_is_refused_rather_than_read_a_hundred_times_too_large(
    tmp_path: Path, amount: str, said: str, example: str
) -> None:
    rules = bundle_with_cases(tmp_path, (
        "  - name: income with a decimal comma\n"
        "    call: GrantLimit\n"
        f"    applicant: {{annual_income: '{amount}'}}\n"
        "    expect: {outcome: APPROVE}\n"
    ))
    code, report = rules_test(rules)
    assert code == 1
    assert (f"FAIL {rules}/tests/extra.yaml:2: case 'income with a decimal comma': applicant.annual_income (line 4): "
            f"{said}\n    fix: write the decimal point as '.', e.g. {example}; a comma may only separate thousands, in"
            " groups of three digits, as in 300,000.50 CNY [R003]") in report


def test_a_case_amount_with_commas_between_thousands_is_read_as_written(tmp_path: Path) -> None:
    rules = bundle_with_cases(tmp_path, (
        "  - name: income with thousands separators\n"
        "    call: GrantLimit\n"
        "    applicant: {annual_income: '300,000.00 CNY'}\n"
        "    expect: {limit: 100000 CNY}\n"
    ))
    code, report = rules_test(rules)
    assert (code, "FAIL" in report) == (0, False), report
    assert f"ok   {rules}/tests/extra.yaml:2: income with thousands separators\n" in report


def test_expectations_no_run_could_meet_are_told_why_instead_of_failing_as_mismatches(tmp_path: Path) -> None:
    rules = bundle_with_cases(tmp_path, (
        "  - name: inverted score range\n"
        "    call: GrantLimit\n"
        "    expect: {score: {min: 700, max: 600}}\n"
        "  - name: a fraud rule expected from GrantLimit\n"
        "    call: GrantLimit\n"
        "    expect: {fires: [SC-REPAY/1, FRD-001]}\n"
        "  - name: an eligibility rule expected from FlagTransaction\n"
        "    call: FlagTransaction\n"
        "    expect: {fires: [ELG-001]}\n"
    ))
    code, report = rules_test(rules)
    assert code == 1
    assert (f"FAIL {rules}/tests/extra.yaml:2: case 'inverted score range': expect.score (line 4): min 700 is above "
            "max 600: no score is in this range\n    fix: write the lower score as min: {min: 600, max: 700} [R006]"
            ) in report
    assert (f"FAIL {rules}/tests/extra.yaml:5: case 'a fraud rule expected from GrantLimit': expect.fires item 2 "
            "(line 7): FRD-001 is a fraud rule, which GrantLimit never runs\n    fix: use call: AuthorizeDrawdown or "
            "FlagTransaction, or expect a rule GrantLimit runs [R702]") in report
    assert (f"FAIL {rules}/tests/extra.yaml:8: case 'an eligibility rule expected from FlagTransaction': expect.fires "
            "item 1 (line 10): ELG-001 is an eligibility rule, which FlagTransaction never runs\n    fix: use call: "
            "GrantLimit, or expect a rule FlagTransaction runs [R702]") in report
