"""More slips a compliance officer makes while editing rules: a key without its ':', an amount with thousands commas
inside { }, and amounts or shares written as people say them. Each is named for what it is, with a fix that works."""

from __future__ import annotations

from pathlib import Path

import pytest

from service.case_yaml import read_yaml
from service.engine.bundle import check_bundle
from service.engine.parser import parse_expression
from service.engine.problems import ExprIssue, RuleProblem
from tests.engine.conftest import BundleCopy
from tests.engine.test_bundle_errors import the_error

NEW_RULE = """
  - id: FRD-008
    description: A drawdown above 20000 CNY soon after a password or phone change
    when: transaction.type == 'DRAWDOWN' and transaction.amount > 20000 CNY
    then: {outcome: REVIEW, flag: NO_DEVICE, severity: HIGH}
"""
CAP_FOR_SOME = "a cap for some applicants only cannot be written (an eligibility rule can decline or refer them " \
    "instead)"


def add_rule(bundle_copy: BundleCopy, rule: str) -> None:
    bundle_copy.write("fraud.yaml", bundle_copy.read("fraud.yaml") + rule)


def test_an_id_without_its_colon_is_named_at_its_own_line_and_rule_not_the_rule_above(
    bundle_copy: BundleCopy,
) -> None:
    add_rule(bundle_copy, NEW_RULE.replace("- id: FRD-008", "- id FRD-008"))
    problem = the_error(bundle_copy.dir)
    line = bundle_copy.line_of("fraud.yaml", "- id FRD-008")
    assert problem.format() == (
        f"rules/fraud.yaml:{line}:7: rule FRD-008: 'id' has no ':' after it, so YAML reads this line and line "
        f"{line + 1} as one text\n    fix: put ':' after 'id': - id: FRD-008 [R001]")


def test_then_without_its_colon_before_braces_is_told_to_have_one_not_to_quote_text(bundle_copy: BundleCopy) -> None:
    add_rule(bundle_copy, NEW_RULE.replace("then: {", "then {"))
    problem = the_error(bundle_copy.dir)
    assert (problem.code, problem.line, problem.col, problem.rule_id) == \
        ("R001", bundle_copy.line_of("fraud.yaml", "then {"), 9, "FRD-008")
    assert (problem.message, problem.hint) == (
        "'then' has no ':' after it",
        "put ':' after 'then': then: {outcome: REVIEW, flag: NO_DEVICE, severity: HIGH}")


def test_then_without_its_colon_before_a_one_entry_mapping_is_one_problem(bundle_copy: BundleCopy) -> None:
    add_rule(bundle_copy, NEW_RULE.replace("then: {outcome: REVIEW, flag: NO_DEVICE, severity: HIGH}",
                                           "then {outcome: REVIEW}"))
    problem = the_error(bundle_copy.dir)
    assert (problem.code, problem.line, problem.rule_id, problem.message, problem.hint) == \
        ("R005", bundle_copy.line_of("fraud.yaml", "then {"), "FRD-008", "'then' has no ':' after it",
         "put ':' after 'then': then: {outcome: REVIEW}")


def test_a_key_indented_too_far_is_told_how_far_to_indent_it(bundle_copy: BundleCopy) -> None:
    add_rule(bundle_copy, NEW_RULE.replace("    when:", "      when:"))
    problem = the_error(bundle_copy.dir)
    description = bundle_copy.line_of("fraud.yaml", "above 20000 CNY soon")
    assert problem.format() == (
        f"rules/fraud.yaml:{description + 1}:7: rule FRD-008: 'when:' is indented further than 'description:' on "
        f"line {description}, so YAML reads it as more of the text of 'description:'\n"
        "    fix: indent 'when:' by 4 spaces, as far as 'description:' [R001]")


def test_a_description_holding_colon_space_still_gets_the_quotes_fix(bundle_copy: BundleCopy) -> None:
    add_rule(bundle_copy, NEW_RULE.replace("soon after", "soon: after"))
    problem = the_error(bundle_copy.dir)
    assert (problem.line, problem.rule_id, problem.message, problem.hint) == (
        bundle_copy.line_of("fraud.yaml", "soon: after"), "FRD-008",
        "not valid YAML: mapping values are not allowed here", "put text that contains ': ' in quotes")


def test_a_test_case_name_without_its_colon_is_named_at_its_line(tmp_path: Path) -> None:
    cases = tmp_path / "cases.yaml"
    cases.write_text("cases:\n  - name the new money mule is declined\n    call: FlagTransaction\n", encoding="utf-8")
    problems: list[RuleProblem] = []
    assert read_yaml(cases, "rules/tests/cases.yaml", problems) is None
    assert [p.format() for p in problems] == [
        "rules/tests/cases.yaml:2:9: 'name' has no ':' after it, so YAML reads this line and line 3 as one text\n"
        "    fix: put ':' after 'name': - name: the new money mule is declined [R001]"]


@pytest.mark.parametrize(("name", "old", "new", "said"), [
    ("limits.yaml", "A: {base_limit: 200000 CNY,", "A: {base_limit: 200,000 CNY,",
     "limits.yaml:13:19: base_limit: '200,000 CNY' is cut at its comma: inside { } a comma ends the entry\n"
     "    fix: write 200000 CNY, without the comma [R003]"),
    ("limits.yaml", "A: {base_limit: 200000 CNY,", "A: {base_limit: 1,000,000 CNY,",
     "limits.yaml:13:19: base_limit: '1,000,000 CNY' is cut at its comma: inside { } a comma ends the entry\n"
     "    fix: write 1000000 CNY, without the commas [R003]"),
    ("limits.yaml", "daily_rate: 0.0002}", "daily_rate: 0,0002}",
     "limits.yaml:13:43: daily_rate: '0,0002' is cut at its comma: inside { } a comma ends the entry; it has a comma "
     "that is not a thousands separator\n    fix: write the decimal point as '.': 0.0002 [R003]"),
    ("scorecard.yaml", "{from: 10000 CNY, below: 50000 CNY, points: 60}",
     "{from: 10,000 CNY, below: 50000 CNY, points: 60}",
     "scorecard.yaml:43:16: rule SC-ASSETS: from: '10,000 CNY' is cut at its comma: inside { } a comma ends the entry\n"
     "    fix: write 10000 CNY, without the comma [R003]"),
])
def test_an_amount_cut_at_its_comma_inside_braces_is_one_problem_saying_so(
    bundle_copy: BundleCopy, name: str, old: str, new: str, said: str
) -> None:
    bundle_copy.replace(name, old, new)
    assert the_error(bundle_copy.dir).format() == f"rules/{said}"


def test_an_amount_with_a_thousands_comma_on_its_own_line_is_told_to_drop_it(bundle_copy: BundleCopy) -> None:
    bundle_copy.replace("limits.yaml", "rounding: 100 CNY", "rounding: 1,000 CNY")
    problem = the_error(bundle_copy.dir)
    assert (problem.message, problem.hint) == (
        "rounding must be an amount such as 1000 CNY, not '1,000 CNY'", "write 1000 CNY, without the comma")


@pytest.mark.parametrize(("text", "offset", "hint"), [
    ("a.m > RMB 20000", 10, "write the amount first, then CNY: 20000 CNY"),
    ("a.m > yuan 20000", 11, "write the amount first, then CNY: 20000 CNY"),
    ("a.d >= 50%", 9, "write it as a decimal, e.g. 0.5 for 50 %"),
    ("a.d >= 12.5 %", 12, "write it as a decimal, e.g. 0.125 for 12.5 %"),
])
def test_an_amount_or_share_written_as_people_say_it_gets_the_form_to_write(text: str, offset: int, hint: str) -> None:
    found = parse_expression(text)
    assert isinstance(found, ExprIssue)
    assert (found.code.code, found.offset, found.hint) == ("R101", offset, hint)


def test_a_cap_amount_with_a_condition_is_told_that_caps_apply_to_every_applicant(bundle_copy: BundleCopy) -> None:
    bundle_copy.replace("limits.yaml", "amount: 300000 CNY", "amount: 50000 CNY if applicant.age < 25")
    problem = the_error(bundle_copy.dir)
    assert (problem.code, problem.rule_id, problem.col) == ("R101", "LIM-REGULATION", 23)
    assert (problem.message, problem.hint) == (
        "a cap's amount cannot carry a condition: every cap applies to every applicant",
        f"write one amount for every applicant, without 'if ...'; {CAP_FOR_SOME}")


def test_a_cap_with_a_when_is_told_that_caps_apply_to_every_applicant(bundle_copy: BundleCopy) -> None:
    bundle_copy.replace("limits.yaml", "amount: 300000 CNY", "amount: 50000 CNY\n    when: applicant.age < 25")
    problem = the_error(bundle_copy.dir)
    assert (problem.code, problem.line, problem.rule_id) == \
        ("R005", bundle_copy.line_of("limits.yaml", "when:"), "LIM-REGULATION")
    assert (problem.message, problem.hint) == (
        "a cap cannot have a condition ('when:'): every cap applies to every applicant",
        f"remove 'when:'; {CAP_FOR_SOME}")


def test_the_slips_leave_the_starter_bundle_clean() -> None:
    assert check_bundle(Path(__file__).resolve().parents[2] / "rules") == []
