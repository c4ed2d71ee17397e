"""Every error class the checker knows, each fed by a broken copy of the real bundle in rules/."""

from __future__ import annotations

import io
from pathlib import Path

import pytest

from service.engine.bundle import check_bundle, load_bundle
from service.engine.check import run_check
from service.engine.errors import BundleInvalid
from service.engine.problems import RuleProblem
from tests.engine.conftest import RULES, BundleCopy


def the_error(directory: Path) -> RuleProblem:
    """The one problem of the bundle; fails when there are others (each test breaks exactly one thing)."""
    problems = check_bundle(directory)
    assert len(problems) == 1, "\n".join(p.format() for p in problems)
    return problems[0]


def test_the_starter_bundle_has_no_problems_at_all() -> None:
    assert check_bundle(RULES) == []


def test_the_starter_bundle_checks_clean_from_the_command_line() -> None:
    out = io.StringIO()
    assert run_check(RULES, out) == 0
    assert out.getvalue() == f"{RULES}: OK, no problems\n"


def test_unknown_field_names_file_line_column_rule_and_suggestion(bundle_copy: BundleCopy) -> None:
    bundle_copy.replace("fraud.yaml", "transaction.amount >= 10000 CNY", "transaction.amout >= 10000 CNY")
    problem = the_error(bundle_copy.dir)
    line = bundle_copy.line_of("fraud.yaml", "transaction.amout")
    col = bundle_copy.col_of("fraud.yaml", "transaction.amout")
    assert (problem.code, problem.file, problem.line, problem.col, problem.rule_id) == \
        ("R102", "rules/fraud.yaml", line, col, "FRD-003")
    assert problem.headline() == f"rules/fraud.yaml:{line}:{col}: rule FRD-003: unknown field " \
        "'transaction.amout' (did you mean 'transaction.amount'?)"
    # shown to its first 100 characters
    expression = "transaction.type == 'DRAWDOWN' and transaction.amout >= 10000 CNY and channel.device_id != '' " \
                 "and no..."
    assert problem.format().splitlines()[1:3] == ["    " + expression, "    " + " " * 35 + "^"]


def test_yaml_syntax_error_points_at_the_line(bundle_copy: BundleCopy) -> None:
    bundle_copy.replace("drawdown.yaml", "  - id: DRW-006\n", "  - id: DRW-006\n\tdescription: tabbed\n")
    problem = the_error(bundle_copy.dir)
    assert (problem.code, problem.file, problem.line, problem.col) == ("R001", "rules/drawdown.yaml",
                                                                        bundle_copy.line_of("drawdown.yaml", "\t"), 1)
    assert problem.message == "not valid YAML: found character '\\t' that cannot start any token"
    assert problem.hint == "indent with spaces, not tabs"


def test_yaml_aliases_are_refused(bundle_copy: BundleCopy) -> None:
    bundle_copy.replace("eligibility.yaml", "    then: {outcome: DECLINE, reason: AGE_OUT_OF_RANGE}",
                        "    then: &declines {outcome: DECLINE, reason: AGE_OUT_OF_RANGE}")
    bundle_copy.replace("eligibility.yaml", "    then: {outcome: DECLINE, reason: IDENTITY_NOT_VERIFIED}",
                        "    then: *declines")
    problem = the_error(bundle_copy.dir)
    assert (problem.code, problem.line) == ("R001", bundle_copy.line_of("eligibility.yaml", "*declines"))
    assert problem.message == "not valid YAML: aliases (*name) are not supported in rule files"


def test_missing_rule_file(bundle_copy: BundleCopy) -> None:
    bundle_copy.path("limits.yaml").unlink()
    problem = the_error(bundle_copy.dir)
    assert (problem.code, problem.file, problem.line, problem.message) == \
        ("R002", "rules/limits.yaml", None, "this file of the bundle is missing")


def test_wrong_shape_of_a_value(bundle_copy: BundleCopy) -> None:
    bundle_copy.replace("scorecard.yaml", "{below: 6, points: 0}", "{below: 6, points: none}")
    problem = the_error(bundle_copy.dir)
    assert (problem.code, problem.line, problem.rule_id, problem.message) == \
        ("R003", bundle_copy.line_of("scorecard.yaml", "points: none"), "SC-TENURE",
         "points must be a whole number, not 'none'")


def test_missing_key_names_the_rule(bundle_copy: BundleCopy) -> None:
    bundle_copy.replace("drawdown.yaml", "then: {outcome: DECLINE, reason: LINE_DELINQUENT}",
                        "then: {outcome: DECLINE}")
    problem = the_error(bundle_copy.dir)
    assert (problem.code, problem.rule_id, problem.message, problem.hint) == \
        ("R004", "DRW-006", "'then' has no 'reason'", "add 'reason:'")


def test_misspelt_key_gets_a_suggestion(bundle_copy: BundleCopy) -> None:
    bundle_copy.replace("fraud.yaml", "    description: The fourth drawdown within an hour",
                        "    descripton: The fourth drawdown within an hour")
    problems = check_bundle(bundle_copy.dir)
    assert [(p.code, p.rule_id, p.message) for p in problems] == [
        ("R005", "FRD-001", "unknown key 'descripton' in a rule (did you mean 'description'?)"),
        ("R004", "FRD-001", "a rule has no 'description'"),
    ]


@pytest.mark.parametrize(("version", "fault"), [
    ("+1", "it starts with '+', and a version starts with a letter from A to Z or a digit"),
    ("2026.11 1", "it contains a space"),
    ("2026.11/1", "it contains '/'"),
])
def test_an_unusable_version_is_told_what_makes_it_so(bundle_copy: BundleCopy, version: str, fault: str) -> None:
    bundle_copy.replace("bundle.yaml", 'version: "2026.12-2"', f'version: "{version}"')
    problem = the_error(bundle_copy.dir)
    assert (problem.code, problem.message) == ("R006", f"'{version}' is not a usable version string: {fault}")


def test_badly_formed_rule_id(bundle_copy: BundleCopy) -> None:
    bundle_copy.replace("fraud.yaml", "id: FRD-002", "id: frd 2")
    problem = the_error(bundle_copy.dir)
    assert (problem.code, problem.message) == ("R006", "'frd 2' is not a valid id")


@pytest.mark.parametrize(("written", "fault", "hint"), [
    ("FRD\u2013002", "'\u2013' (U+2013 EN DASH) is not a plain dash", "write FRD-002"),  # Word's dash for ' - '
    ("FRD\u2014002", "'\u2014' (U+2014 EM DASH) is not a plain dash", "write FRD-002"),
    ("FRD\uff0d002", "'\uff0d' (U+FF0D FULLWIDTH HYPHEN-MINUS) is not a plain dash", "write FRD-002"),
    ("\uff26RD-002", "'\uff26' (U+FF26 FULLWIDTH LATIN CAPITAL LETTER F) is not a plain (ASCII) character",
     "write FRD-002"),
    ("FRD-002\u200b", "it holds the invisible character U+200B ZERO WIDTH SPACE", "write FRD-002"),
    ("FRD-\u00e9", "'\u00e9' (U+00E9 LATIN SMALL LETTER E WITH ACUTE) is not a plain (ASCII) character",
     "use capitals, digits and dashes, e.g. FRD-007"),
])
def test_a_rule_id_with_a_character_that_is_not_plain_ascii_names_it(
    bundle_copy: BundleCopy, written: str, fault: str, hint: str
) -> None:
    """'FRD\u2013008' with Word's en dash was told "use capitals, digits and dashes": on screen it is just that."""
    bundle_copy.replace("fraud.yaml", "id: FRD-002", f"id: {written}")
    problem = the_error(bundle_copy.dir)
    assert (problem.code, problem.message, problem.hint) == ("R006", f"'{written}' is not a valid id: {fault}", hint)


def test_duplicate_rule_ids_across_files(bundle_copy: BundleCopy) -> None:
    bundle_copy.replace("fraud.yaml", "id: FRD-004", "id: ELG-004")
    problem = the_error(bundle_copy.dir)
    first = bundle_copy.line_of("eligibility.yaml", "id: ELG-004")
    assert (problem.code, problem.file, problem.line, problem.rule_id) == \
        ("R010", "rules/fraud.yaml", bundle_copy.line_of("fraud.yaml", "id: ELG-004"), "ELG-004")
    assert problem.message == f"the id 'ELG-004' is already used at rules/eligibility.yaml:{first}"


def test_unknown_outcome(bundle_copy: BundleCopy) -> None:
    bundle_copy.replace("eligibility.yaml", "outcome: REVIEW", "outcome: Review")
    problem = the_error(bundle_copy.dir)
    assert (problem.code, problem.rule_id, problem.message) == \
        ("R011", "ELG-006", "unknown outcome 'Review' (did you mean 'REVIEW'?)")


def test_unknown_severity(bundle_copy: BundleCopy) -> None:
    bundle_copy.replace("fraud.yaml", "flag: MULE_COUNTERPARTY, severity: HIGH",
                        "flag: MULE_COUNTERPARTY, severity: HIHG")
    problem = the_error(bundle_copy.dir)
    assert (problem.code, problem.rule_id, problem.message) == \
        ("R012", "FRD-006", "unknown severity 'HIHG' (did you mean 'HIGH'?)")


def test_unknown_reason_code(bundle_copy: BundleCopy) -> None:
    bundle_copy.replace("eligibility.yaml", "reason: SEVERE_DELINQUENCY", "reason: SEVERE_DELINQENCY")
    problem = the_error(bundle_copy.dir)
    assert (problem.code, problem.rule_id, problem.message) == \
        ("R013", "ELG-005", "unknown reason code 'SEVERE_DELINQENCY' (did you mean 'SEVERE_DELINQUENCY'?)")
    assert problem.hint == "declare SEVERE_DELINQENCY under 'reasons' in bundle.yaml with the message to show"


def test_expression_syntax_error_has_a_caret(bundle_copy: BundleCopy) -> None:
    bundle_copy.replace("eligibility.yaml", "when: applicant.age < 18 or applicant.age > 65",
                        "when: applicant.age < 18 or applicant.age = 65")
    problem = the_error(bundle_copy.dir)
    line = bundle_copy.line_of("eligibility.yaml", "applicant.age = 65")
    col = bundle_copy.col_of("eligibility.yaml", "= 65")
    assert (problem.code, problem.line, problem.col, problem.rule_id) == ("R101", line, col, "ELG-001")
    assert problem.format() == (
        f"rules/eligibility.yaml:{line}:{col}: rule ELG-001: '=' is not an operator here\n"
        "    applicant.age < 18 or applicant.age = 65\n"
        "                                        ^\n"
        "    fix: use == to compare two values [R101]"
    )


def test_error_inside_a_multi_line_condition_points_at_its_own_line(bundle_copy: BundleCopy) -> None:
    bundle_copy.replace("fraud.yaml", "      and features.transfer_out_ratio_last_hour >= 0.9",
                        "      and features.transfer_out_ration_last_hour >= 0.9")
    problem = the_error(bundle_copy.dir)
    assert (problem.code, problem.line, problem.col) == \
        ("R102", bundle_copy.line_of("fraud.yaml", "transfer_out_ration"), 11)


def test_field_of_another_rule_set(bundle_copy: BundleCopy) -> None:
    bundle_copy.replace("eligibility.yaml", "when: score.value < 600",
                        "when: score.value < 600 and line.days_past_due > 0")
    problem = the_error(bundle_copy.dir)
    assert (problem.code, problem.rule_id, problem.message) == \
        ("R103", "ELG-004", "field 'line.days_past_due' is not known when eligibility rules run")
    assert problem.hint == "eligibility rules can read applicant.*, score.*; " \
        "this field is only known to drawdown and fraud rules"


@pytest.mark.parametrize(("condition", "message", "hint"), [
    ("applicant.age > 'x'", "cannot compare a whole number with text",
     "text can only be compared with text, written in quotes, e.g. 'DRAWDOWN'"),
    ("applicant.annual_income > 0.5", "cannot compare an amount of money with a decimal number (a rate or ratio)",
     "write 0.5 CNY: an amount is written with its currency"),
    ("applicant.annual_income >= 30000", "cannot compare an amount of money with a whole number",
     "write 30000 CNY: an amount is written with its currency"),
    ("30_000 <= applicant.annual_income", "cannot compare a whole number with an amount of money",
     "write 30000 CNY: an amount is written with its currency"),
    ("applicant.annual_income > 0.125", "cannot compare an amount of money with a decimal number (a rate or ratio)",
     "write the amount with its currency, e.g. 10000 CNY"),  # 0.125 CNY is no amount: fen are the smallest
    ("applicant.credit_inquiries_6m > '10'", "cannot compare a whole number with text",
     "remove the quotes around the number"),
    ("applicant.real_name_verified > false", "a yes/no value cannot be compared with '>'",
     "use == or != (or 'in [...]') for text and yes/no values"),
    ("applicant.annual_income + 5 > 10 CNY", "cannot use '+' between an amount of money and a whole number",
     "amounts of money add to money; money can be multiplied or divided by a number"),
])
def test_type_mismatch(bundle_copy: BundleCopy, condition: str, message: str, hint: str) -> None:
    bundle_copy.replace("eligibility.yaml", "when: applicant.credit_inquiries_6m > 10", f"when: {condition}")
    problem = the_error(bundle_copy.dir)
    assert (problem.code, problem.rule_id, problem.message, problem.hint) == ("R104", "ELG-006", message, hint)


def test_money_compared_with_a_rate_field(bundle_copy: BundleCopy) -> None:
    bundle_copy.replace("fraud.yaml", "transaction.share_of_available_limit >= 0.5",
                        "transaction.amount >= transaction.share_of_available_limit")
    problem = the_error(bundle_copy.dir)
    assert (problem.code, problem.rule_id, problem.message) == \
        ("R104", "FRD-002", "cannot compare an amount of money with a decimal number (a rate or ratio)")
    assert problem.hint == "a rate is not an amount: compare it with a rate, or multiply it by an amount first"


def test_unknown_value_of_a_closed_field(bundle_copy: BundleCopy) -> None:
    bundle_copy.replace("fraud.yaml", "transaction.type == 'TRANSFER_OUT'", "transaction.type == 'TRANSFER'")
    problem = the_error(bundle_copy.dir)
    assert (problem.code, problem.rule_id, problem.message) == \
        ("R105", "FRD-005", "'transaction.type' is never 'TRANSFER' (did you mean 'TRANSFER_OUT'?)")
    assert problem.col == bundle_copy.col_of("fraud.yaml", "'TRANSFER'")


def test_unknown_band_value_is_checked_against_the_scorecard(bundle_copy: BundleCopy) -> None:
    bundle_copy.replace("eligibility.yaml", "when: score.value < 600", "when: score.band in ['D', 'F']")
    problem = the_error(bundle_copy.dir)
    assert (problem.code, problem.message) == ("R105", "'score.band' is never 'F'")


def test_unknown_list(bundle_copy: BundleCopy) -> None:
    bundle_copy.replace("fraud.yaml", "in lists.mule_counterparties", "in lists.mule_counterparty")
    problem = the_error(bundle_copy.dir)
    assert (problem.code, problem.rule_id, problem.message) == \
        ("R106", "FRD-006", "unknown list 'lists.mule_counterparty' (did you mean 'lists.mule_counterparties'?)")


def test_condition_that_is_not_a_question(bundle_copy: BundleCopy) -> None:
    bundle_copy.replace("eligibility.yaml", "when: applicant.max_days_overdue_24m > 90",
                        "when: applicant.max_days_overdue_24m")
    problem = the_error(bundle_copy.dir)
    assert (problem.code, problem.rule_id, problem.message) == \
        ("R107", "ELG-005", "the condition must be a yes/no value, but this is a whole number")


def test_contradictory_bounds_never_match(bundle_copy: BundleCopy) -> None:
    bundle_copy.replace("eligibility.yaml", "when: applicant.credit_inquiries_6m > 10",
                        "when: applicant.credit_inquiries_6m > 5 and applicant.credit_inquiries_6m < 3")
    problem = the_error(bundle_copy.dir)
    assert (problem.code, problem.rule_id, problem.message) == \
        ("R108", "ELG-006", "this rule can never match: its tests of applicant.credit_inquiries_6m contradict each "
                            "other")


@pytest.mark.parametrize("condition", [
    "drawdown.term_months > 5 and drawdown.term_months < 6",  # no whole number in between
    "line.status == 'FROZEN' and line.status == 'CLOSED'",
    "not (drawdown.amount >= 100 CNY or drawdown.amount < 100 CNY)",
    "drawdown.repayment_method == 'BULLET' and drawdown.repayment_method not in ['BULLET']",
    "false",
])
def test_other_conditions_that_can_never_match(bundle_copy: BundleCopy, condition: str) -> None:
    bundle_copy.replace("drawdown.yaml", "when: line.days_past_due > 0", f"when: {condition}")
    assert the_error(bundle_copy.dir).code == "R108"


def test_contradiction_is_reported_with_other_errors_of_the_same_file(bundle_copy: BundleCopy) -> None:
    bundle_copy.replace("eligibility.yaml", "when: applicant.credit_inquiries_6m > 10",
                        "when: applicant.credit_inquiries_6m > 5 and applicant.credit_inquiries_6m < 3")
    bundle_copy.replace("eligibility.yaml", "when: applicant.age < 18", "when: applicant.agee < 18")
    assert [p.code for p in check_bundle(bundle_copy.dir)] == ["R102", "R108"]


@pytest.mark.parametrize(("amount", "message"), [
    ("100.005 CNY", "100.005 CNY has more than 2 decimal places"),
    ("100 USD", "amounts in this bundle are in CNY, not USD"),
    ("10_000_000_000_000 CNY", "this amount is too large"),
])
def test_bad_amounts(bundle_copy: BundleCopy, amount: str, message: str) -> None:
    bundle_copy.replace("drawdown.yaml", "drawdown.amount < 100 CNY", f"drawdown.amount < {amount}")
    problem = the_error(bundle_copy.dir)
    assert (problem.code, problem.rule_id, problem.message) == ("R109", "DRW-001", message)


def test_overlapping_bins(bundle_copy: BundleCopy) -> None:
    bundle_copy.replace("scorecard.yaml", "{from: 2000 CNY, below: 8000 CNY, points: 70}",
                        "{from: 1500 CNY, below: 8000 CNY, points: 70}")
    problem = the_error(bundle_copy.dir)
    assert (problem.code, problem.line, problem.rule_id) == \
        ("R201", bundle_copy.line_of("scorecard.yaml", "from: 1500 CNY"), "SC-SPEND")
    assert problem.message == \
        "bin SC-SPEND/3 overlaps bin SC-SPEND/2: values from 1500 CNY to below 2000 CNY are in both"


def test_gap_between_bins(bundle_copy: BundleCopy) -> None:
    bundle_copy.replace("scorecard.yaml", "{from: 1, below: 30, points: 90}", "{from: 2, below: 30, points: 90}")
    problem = the_error(bundle_copy.dir)
    assert (problem.code, problem.rule_id, problem.message, problem.hint) == \
        ("R202", "SC-REPAY", "values from 1 to below 2 fall into no bin", "start bin SC-REPAY/2 at 1")


def test_gap_above_the_last_bin(bundle_copy: BundleCopy) -> None:
    bundle_copy.replace("scorecard.yaml", "{from: 30, points: 40}", "{from: 30, below: 1000, points: 40}")
    problem = the_error(bundle_copy.dir)
    assert (problem.code, problem.rule_id, problem.message) == \
        ("R202", "SC-SOCIAL", "values from 1000 up fall into no bin")


def test_bands_out_of_order(bundle_copy: BundleCopy) -> None:
    bundle_copy.replace("scorecard.yaml", "{band: C, min_score: 600}", "{band: C, min_score: 660}")
    problem = the_error(bundle_copy.dir)
    assert (problem.code, problem.message) == ("R203", "band C starts at 660, not below band B (650)")


def test_scores_without_a_band(bundle_copy: BundleCopy) -> None:
    bundle_copy.replace("scorecard.yaml", "{band: E, min_score: 350}", "{band: E, min_score: 400}")
    problem = the_error(bundle_copy.dir)
    assert (problem.code, problem.message, problem.hint) == \
        ("R203", "scores from 350 to 399 have no band", "give the last band min_score: 350")


def test_rate_above_the_apr_cap(bundle_copy: BundleCopy) -> None:
    bundle_copy.replace("limits.yaml", "daily_rate: 0.0004", "daily_rate: 0.0007")
    problem = the_error(bundle_copy.dir)
    assert (problem.code, problem.line) == ("R301", bundle_copy.line_of("limits.yaml", "0.0007"))
    assert problem.message == "band C: a daily rate of 0.0007 gives an APR of 0.2555, above the cap of 0.24"
    assert problem.hint == "lower the daily rate to at most 0.000657534"  # 9 places, as a rate may have


@pytest.mark.parametrize(
    ("written", "message", "hint"),
    [
        ("daily_rate: 0.0004", "band C: the daily rate must be positive, not 0 (the service lends only with interest)",
         "give a daily rate above 0, e.g. 0.0003 (about 11 % a year)"),
        ("base_limit: 30000 CNY", "band C: the base_limit must be positive, not 0.00 CNY",
         "give a positive amount, or remove the offer to lend nothing to this band"),
    ],
)
def test_an_offer_of_no_interest_or_no_money_is_told_which(
    bundle_copy: BundleCopy, written: str, message: str, hint: str
) -> None:
    key = written.split(":")[0]
    zero = f"{key}: 0" if key == "daily_rate" else f"{key}: 0 CNY"
    bundle_copy.replace("limits.yaml", written, zero)
    problem = the_error(bundle_copy.dir)
    assert (problem.code, problem.message, problem.hint) == ("R006", message, hint)
    assert problem.line == bundle_copy.line_of("limits.yaml", "  C: {")  # band C's line, where the value is


def test_a_rate_or_cap_with_more_decimal_places_than_the_service_keeps_exactly_is_refused(
    bundle_copy: BundleCopy,
) -> None:
    """A band rate of 32 digits was answered rounded to 28, and one of 85 decimal places broke the level payment."""
    bundle_copy.replace("limits.yaml", "daily_rate: 0.0004", "daily_rate: 0.0006575342465")
    problem = the_error(bundle_copy.dir)
    assert (problem.code, problem.line) == ("R109", bundle_copy.line_of("limits.yaml", "0.0006575342465"))
    assert problem.message == "band C: the daily rate 0.0006575342465 has more than 9 decimal places"
    assert problem.hint == "round it to at most 9 decimal places, e.g. 0.000657534"
    bundle_copy.replace("limits.yaml", "daily_rate: 0.0006575342465", "daily_rate: 0.0004")
    bundle_copy.replace("limits.yaml", "apr_cap: 0.24", "apr_cap: 0.2400000001")
    problem = the_error(bundle_copy.dir)
    assert (problem.code, problem.message) == ("R109", "apr_cap 0.2400000001 has more than 9 decimal places")


def test_offer_for_a_band_the_scorecard_does_not_have(bundle_copy: BundleCopy) -> None:
    bundle_copy.replace("limits.yaml", "  C: {base_limit", "  Z: {base_limit")
    problem = the_error(bundle_copy.dir)
    assert (problem.code, problem.message) == ("R302", "the scorecard has no band 'Z'")


def test_cap_referencing_a_missing_field(bundle_copy: BundleCopy) -> None:
    bundle_copy.replace("limits.yaml", "applicant.annual_income / 3", "applicant.anual_income / 3")
    problem = the_error(bundle_copy.dir)
    assert (problem.code, problem.rule_id, problem.message) == \
        ("R102", "LIM-INCOME", "unknown field 'applicant.anual_income' (did you mean 'applicant.annual_income'?)")


def test_cap_that_is_not_an_amount(bundle_copy: BundleCopy) -> None:
    bundle_copy.replace("limits.yaml", "applicant.annual_income / 3", "applicant.age * 3")
    problem = the_error(bundle_copy.dir)
    assert (problem.code, problem.message) == \
        ("R104", "the cap amount must be an amount of money, but this is a whole number")


def test_list_entry_too_long(bundle_copy: BundleCopy) -> None:
    bundle_copy.write("lists/mule_counterparties.txt", "CP-1\n" + "x" * 200 + "\n")
    problem = the_error(bundle_copy.dir)
    assert (problem.code, problem.file, problem.line) == ("R401", "rules/lists/mule_counterparties.txt", 2)


def test_condition_too_long(bundle_copy: BundleCopy) -> None:
    long = " or ".join(["applicant.age == 1"] * 250)
    bundle_copy.replace("eligibility.yaml", "when: applicant.credit_inquiries_6m > 10", f"when: {long}")
    problem = the_error(bundle_copy.dir)
    assert (problem.code, problem.message) == ("R501", "this condition is longer than 4000 characters")


def test_condition_nested_too_deeply(bundle_copy: BundleCopy) -> None:
    nested = "(" * 40 + "applicant.age > 1" + ")" * 40
    bundle_copy.replace("eligibility.yaml", "when: applicant.credit_inquiries_6m > 10", f"when: {nested}")
    problem = the_error(bundle_copy.dir)
    assert (problem.code, problem.message) == ("R501", "the condition is nested more than 32 levels deep")


def test_bad_attribute_declaration(bundle_copy: BundleCopy) -> None:
    bundle_copy.replace("bundle.yaml", "    type: int\n", "    type: integer\n")
    problem = the_error(bundle_copy.dir)
    assert (problem.code, problem.file, problem.message) == \
        ("R601", "rules/bundle.yaml", "unknown attribute type 'integer' (did you mean 'int'?)")


def test_rule_that_always_matches_is_a_warning(bundle_copy: BundleCopy) -> None:
    bundle_copy.replace("drawdown.yaml", "when: line.days_past_due > 0",
                        "when: line.days_past_due > 0 or line.days_past_due <= 0")
    problem = the_error(bundle_copy.dir)
    assert (problem.code, problem.is_error, problem.rule_id) == ("W001", False, "DRW-006")
    assert problem.headline().endswith("rule DRW-006: warning: this rule matches every request")
    load_bundle(bundle_copy.dir).close()  # a warning does not stop the bundle from loading


def test_unexpected_yaml_file_is_a_warning_with_a_suggestion(bundle_copy: BundleCopy) -> None:
    bundle_copy.write("frud.yaml", "rules: []\n")
    problem = the_error(bundle_copy.dir)
    assert (problem.code, problem.file, problem.is_error) == ("W002", "rules/frud.yaml", False)
    assert problem.hint.startswith("did you mean fraud.yaml?")


def test_all_problems_of_all_files_are_reported_in_one_run(bundle_copy: BundleCopy) -> None:
    bundle_copy.replace("fraud.yaml", "transaction.amount >= 10000 CNY", "transaction.amout >= 10000 CNY")
    bundle_copy.replace("eligibility.yaml", "reason: SEVERE_DELINQUENCY", "reason: SEVERE_DELINQENCY")
    bundle_copy.replace("limits.yaml", "daily_rate: 0.0004", "daily_rate: 0.0007")
    bundle_copy.replace("scorecard.yaml", "{from: 1, below: 30, points: 90}", "{from: 2, below: 30, points: 90}")
    bundle_copy.write("frud.yaml", "rules: []\n")
    with pytest.raises(BundleInvalid) as raised:
        load_bundle(bundle_copy.dir)
    assert sorted(p.code for p in raised.value.problems) == ["R013", "R102", "R202", "R301", "W002"]
    out = io.StringIO()
    assert run_check(bundle_copy.dir, out) == 1
    lines = out.getvalue().splitlines()
    assert lines[-1] == "rules: 4 errors, 1 warning"
    assert lines[0].startswith("rules/scorecard.yaml:")
    assert "warning:" in [line for line in lines if line.startswith("rules/")][-1]


@pytest.mark.parametrize("damage", ["binary", "directory", "empty", "not_a_mapping", "deep_yaml"])
def test_check_never_lets_a_traceback_out(bundle_copy: BundleCopy, damage: str) -> None:
    if damage == "binary":
        bundle_copy.path("fraud.yaml").write_bytes(b"\xff\xfe\x00rules")
    elif damage == "directory":
        bundle_copy.path("fraud.yaml").unlink()
        bundle_copy.path("fraud.yaml").mkdir()
    elif damage == "empty":
        bundle_copy.write("fraud.yaml", "")
    elif damage == "not_a_mapping":
        bundle_copy.write("fraud.yaml", "- just\n- a list\n")
    else:
        bundle_copy.write("fraud.yaml", "rules: " + "[" * 5000 + "]" * 5000 + "\n")
    out = io.StringIO()
    assert run_check(bundle_copy.dir, out) == 1
    assert "Traceback" not in out.getvalue()
    assert out.getvalue().startswith("rules/fraud.yaml")


def test_missing_directory_is_reported_not_raised(tmp_path: Path) -> None:
    out = io.StringIO()
    assert run_check(tmp_path / "nowhere", out) == 1
    assert "the rule bundle directory does not exist" in out.getvalue()


def test_extra_checks_add_their_problems_to_the_report() -> None:
    from service.engine import problems as P
    from service.engine.problems import problem

    def untested(directory: Path) -> list[RuleProblem]:
        return [problem(P.UNTESTED_RULE, f"{directory}/fraud.yaml", "no test case fires this rule", line=7, col=5,
                        rule_id="FRD-001", hint="add a case under rules/tests/")]

    out = io.StringIO()
    assert run_check(RULES, out, untested) == 0
    assert out.getvalue().splitlines()[0] == \
        f"{RULES}/fraud.yaml:7:5: rule FRD-001: warning: no test case fires this rule"
    assert out.getvalue().splitlines()[-1] == f"{RULES}: OK, 0 errors, 1 warning"


@pytest.mark.parametrize(
    ("file", "written", "hidden", "shown"),
    [
        ("bundle.yaml", "LOW_ASSETS: Few financial assets held",
         'LOW_ASSETS: "Few financial assets \\u202eheld"', "U+202E, RIGHT-TO-LEFT OVERRIDE"),
        ("fraud.yaml", "    description: The fourth drawdown within an hour",
         '    description: "The fourth drawdown\\x1b[8m within an hour"', "U+001B, a control character"),
    ],
)
def test_a_text_with_an_invisible_control_character_is_refused_naming_it(
    bundle_copy: BundleCopy, file: str, written: str, hidden: str, shown: str
) -> None:
    """Reasons' messages reach customers, descriptions auditors: what a file shows must be what they read."""
    bundle_copy.replace(file, written, hidden)
    problem = the_error(bundle_copy.dir)
    assert (problem.code, problem.line) == ("R006", bundle_copy.line_of(file, hidden.strip()[:12]))
    assert problem.message.endswith(f"holds an invisible control character ({shown})")


def test_one_problem_repeated_in_a_rule_is_printed_three_times_then_counted(bundle_copy: BundleCopy) -> None:
    """A misspelt field a long condition repeats (a search-and-replace slip): six such rules printed 6 MB."""
    repeated = " and ".join(["transaction.amout >= 10000 CNY"] * 10)
    bundle_copy.replace("fraud.yaml", "transaction.amount >= 10000 CNY", repeated)
    out = io.StringIO()
    assert run_check(bundle_copy.dir, out) == 1
    lines = out.getvalue().splitlines()
    headlines = [line for line in lines if "unknown field 'transaction.amout'" in line]
    assert len(headlines) == 3
    assert f"{bundle_copy.dir}/fraud.yaml: rule FRD-003: the same problem in 7 more places [R102]" in lines
    assert lines[-1] == f"{bundle_copy.dir}: 10 errors, 0 warnings"


def test_a_comment_after_an_unquoted_condition_is_warned_of_where_it_starts(bundle_copy: BundleCopy) -> None:
    """YAML reads ` #` and the rest of its line as a comment: a condition edited to `... #or X` means less than it
    seems to, and only a test case might notice."""
    condition = "transaction.type == 'DRAWDOWN' and transaction.amount >= 10000 CNY"
    bundle_copy.replace("fraud.yaml", condition, condition + " #and channel.country == 'CN'")
    (found,) = check_bundle(bundle_copy.dir)
    line = bundle_copy.line_of("fraud.yaml", "#and channel")
    assert (found.code, found.rule_id, found.line, found.col) == (
        "W005", "FRD-003", line, bundle_copy.col_of("fraud.yaml", "#and channel")
    )
    assert found.message == (
        "'#and channel.country == 'CN' and channel...' after the condition is a comment, not part of it"
    )


def test_a_yaml_error_inside_a_rule_names_the_rule(bundle_copy: BundleCopy) -> None:
    """The file cannot be read, but its text says which rule the bad line belongs to."""
    bundle_copy.replace("drawdown.yaml", "  - id: DRW-006\n", "  - id: DRW-006\n\tdescription: tabbed\n")
    problem = the_error(bundle_copy.dir)
    assert (problem.code, problem.rule_id) == ("R001", "DRW-006")
    assert problem.headline().startswith(f"rules/drawdown.yaml:{problem.line}:1: rule DRW-006: not valid YAML")


def test_a_yaml_error_above_the_first_rule_names_none(bundle_copy: BundleCopy) -> None:
    bundle_copy.replace("fraud.yaml", "rules:\n", "\tnotes: tabbed\nrules:\n")
    problem = the_error(bundle_copy.dir)
    assert (problem.code, problem.rule_id) == ("R001", None)


@pytest.mark.parametrize("key", ["no_offer_attach_score_reasons", "below_minimum_attach_score_reasons"])
def test_attaching_the_scorecard_reasons_to_a_limits_decline_must_be_true_or_false(
    bundle_copy: BundleCopy, key: str
) -> None:
    bundle_copy.replace("limits.yaml", "no_offer_reason: NO_OFFER_FOR_BAND\n",
                        f"no_offer_reason: NO_OFFER_FOR_BAND\n{key}: yes\n")
    problem = the_error(bundle_copy.dir)
    line = bundle_copy.line_of("limits.yaml", key)
    assert problem.headline() == f"rules/limits.yaml:{line}:{len(key) + 3}: {key} must be true or false, not 'yes'"
    assert problem.code == "R003"


def test_a_misspelt_option_to_attach_the_scorecard_reasons_to_a_limits_decline_names_the_right_one(
    bundle_copy: BundleCopy
) -> None:
    bundle_copy.replace("limits.yaml", "no_offer_reason: NO_OFFER_FOR_BAND\n",
                        "no_offer_reason: NO_OFFER_FOR_BAND\nno_offer_attach_score_reason: true\n")
    problem = the_error(bundle_copy.dir)
    assert (problem.code, problem.message) == ("R005", "unknown key 'no_offer_attach_score_reason' in the limits file "
                                                       "(did you mean 'no_offer_attach_score_reasons'?)")


def test_limits_declines_carry_no_scorecard_reasons_unless_limits_yaml_attaches_them(bundle_copy: BundleCopy) -> None:
    bundle = load_bundle(bundle_copy.dir)
    assert (bundle.limits.no_offer_with_score_reasons, bundle.limits.below_minimum_with_score_reasons) == (False, False)
    bundle.close()
    bundle_copy.replace("limits.yaml", "no_offer_reason: NO_OFFER_FOR_BAND\n",
                        "no_offer_reason: NO_OFFER_FOR_BAND\nno_offer_attach_score_reasons: true\n"
                        "below_minimum_attach_score_reasons: false\n")
    bundle = load_bundle(bundle_copy.dir)
    assert (bundle.limits.no_offer_with_score_reasons, bundle.limits.below_minimum_with_score_reasons) == (True, False)
    bundle.close()
