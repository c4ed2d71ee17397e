"""The checker's limits and the problems an adversarial editor found: every one is reported with its file, line,
rule, code and a fix, never as a failure of the checker (R999) or in Python's words; and every condition the
checker accepts, however large, loads into the engine and evaluates like the oracle."""

from __future__ import annotations

import io
from pathlib import Path

import pytest

from service.engine import problems as P
from service.engine.bundle import check_bundle, load_bundle
from service.engine.catalogue import FieldType
from service.engine.check import run_check
from service.engine.compiler import MAX_CONNECTORS, compile_rules
from service.engine.condition import FALSE, TRUE, size
from service.engine.condition import Test as EngineTest
from service.engine.errors import BundleInvalid
from service.engine.load_rules import MAX_RULE_MESSAGE
from service.engine.loader import MAX_REASON_MESSAGE
from service.engine.parser import MAX_CALCULATION_STEPS, MAX_EXPRESSION_CHARS, MAX_NESTING, parse_expression
from service.engine.problems import ExprIssue, RuleProblem, problem
from service.engine.typecheck import check_expression
from tests.engine.conftest import ROOT, BundleCopy, eligibility_fired_isolated
from tests.engine.test_bundle_errors import the_error
from tests.engine.test_compiler import checked, compile_many
from tests.engine.test_expressions import SCOPE, issue

TOO_MANY_STEPS = f"this calculation has more than {MAX_CALCULATION_STEPS} operations (+ - * /) in a row"
FEWER_TERMS = "use fewer terms (add up fixed numbers yourself: 600 + 1 + 1 is 602), or split this condition into " \
    "several rules"


def nth(text: str, needle: str, n: int) -> int:
    """Offset of the n-th (1-based) occurrence of needle."""
    offset = -1
    for _ in range(n):
        offset = text.index(needle, offset + 1)
    return offset


def check_output(directory: Path) -> str:
    out = io.StringIO()
    run_check(directory, out, extra_checks=lambda d: (load_bundle(d).close(), [])[1])
    return out.getvalue()


# -- calculations: one operation inside another, and the engine's own limits ------------------------------------

@pytest.mark.parametrize("op", ["+", "-", "*", "/"])
def test_the_longest_chain_of_each_operation_is_accepted_and_one_more_is_refused_at_that_operation(op: str) -> None:
    longest = "a.n" + f" {op} 1" * MAX_CALCULATION_STEPS + " > 5"
    kind, issues = check_expression(parse_expression(longest), SCOPE)  # type: ignore[arg-type]
    assert (kind, issues) == (FieldType.BOOL, [])
    one_more = "a.n" + f" {op} 1" * (MAX_CALCULATION_STEPS + 1) + " > 5"
    found = issue(one_more)
    assert (found.code, found.offset, found.message, found.hint) == \
        (P.TOO_LARGE, nth(one_more, op, MAX_CALCULATION_STEPS + 1), TOO_MANY_STEPS, FEWER_TERMS)


def test_brackets_do_not_reset_the_count_of_operations_in_a_row() -> None:
    brackets = MAX_NESTING - 1
    nested = "a.n + (" * brackets + "1 + 1" + ")" * brackets + " > 5"
    assert not isinstance(parse_expression(nested), ExprIssue)  # 31 levels of brackets, 32 operations in a row
    deeper = "a.n + (" * brackets + "1 + 1 + 1" + ")" * brackets + " > 5"
    assert (issue(deeper).message, issue(deeper).offset) == (TOO_MANY_STEPS, 4)  # the outermost '+': the 33rd


def test_many_operations_side_by_side_are_not_in_a_row() -> None:
    half = " + ".join(["a.n"] * 20)
    assert not isinstance(parse_expression(f"({half}) * ({half}) > 5"), ExprIssue)  # 39 operations, 20 in a row


def test_a_long_flat_sum_is_reported_at_its_file_line_column_and_rule(bundle_copy: BundleCopy) -> None:
    condition = "score.value < 600" + " + 1" * 493  # about 2 KB: the checker used to fail (R999) on this
    bundle_copy.replace("eligibility.yaml", "when: score.value < 600", f"when: {condition}")
    found = the_error(bundle_copy.dir)
    line = bundle_copy.line_of("eligibility.yaml", "when: score.value < 600 + 1")
    col = bundle_copy.col_of("eligibility.yaml", "score.value < 600 + 1") + nth(condition, "+", 33)
    assert found.format().splitlines()[0] == f"rules/eligibility.yaml:{line}:{col}: rule ELG-004: {TOO_MANY_STEPS}"
    assert found.format().splitlines()[-1] == f"    fix: {FEWER_TERMS} [R501]"
    output = check_output(bundle_copy.dir)
    assert output.startswith(f"rules/eligibility.yaml:{line}:{col}: rule ELG-004: ")
    assert "R999" not in output and "Error" not in output


def test_an_or_of_many_and_groups_is_decided_without_the_engine_which_refuses_it(bundle_copy: BundleCopy) -> None:
    # the engine refuses a rule with 16 $and/$or nodes (error 113); this used to end in R999
    groups = " or ".join(f"(applicant.age == {i} and applicant.real_name_verified)" for i in range(15))
    bundle_copy.replace("eligibility.yaml", "when: applicant.credit_inquiries_6m > 10", f"when: {groups}")
    assert check_output(bundle_copy.dir) == "rules: OK, no problems\n"


def test_a_rule_with_more_and_or_nodes_than_the_engine_takes_becomes_one_derived_key() -> None:
    at_limit = " or ".join(f"(a.n == {i} and a.b)" for i in range(MAX_CONNECTORS - 1))
    assert size(compile_many([at_limit]).rules[0].cond).connectors == MAX_CONNECTORS
    compiled = compile_many([at_limit + f" or (a.n == {MAX_CONNECTORS} and a.b)"])
    cond = compiled.rules[0].cond
    assert isinstance(cond, EngineTest) and compiled.sources[cond.source].expr is not None


def _largest_conditions() -> dict[str, str]:
    """For each operator, the largest condition the checker accepts (one more term or level is refused)."""
    steps = MAX_CALCULATION_STEPS

    def longest(pattern: str, joiner: str, first: int) -> str:
        """`pattern` for values first, first + 1... joined, as many as fit within the length limit."""
        parts: list[str] = []
        while len(joiner.join([*parts, pattern.format(first + len(parts))])) <= MAX_EXPRESSION_CHARS:
            parts.append(pattern.format(first + len(parts)))
        return joiner.join(parts)

    # ages 0, 2, 4 ... 30 and above 100: no part is true, or false, for every age (W007), as with `!=` throughout
    alternating = "applicant.age > 100"
    for level in range(MAX_NESTING):
        alternating = f"(applicant.age {'!=' if level % 2 else '=='} {level} {'and' if level % 2 else 'or'} " \
                      f"{alternating})"
    return {
        "plus": "score.value < 600" + " + 1" * steps,
        "minus": "score.value > 700" + " - 1" * steps,
        "times": "applicant.age" + " * 1" * steps + " > 65",
        "divide": "applicant.annual_income" + " / 1" * steps + " > 100000 CNY",
        # a field whose values requests bound loosely (0 to 100,000): over applicant.age (0 to 130) these would
        # never match, or always (R108, W001)
        "and": longest("applicant.verified_contacts != {}", " and ", 1000),
        "or": longest("applicant.verified_contacts == {}", " or ", 1000),
        "or_of_and": longest("(applicant.age == {} and applicant.real_name_verified)", " or ", 60),  # ages to 127
        "or_of_fields": " or ".join(f"applicant.{f} > 5" for f in ("age", "overdue_count_24m", "verified_contacts",
                                                                      "credit_inquiries_6m", "account_age_months")),
        "not": "not " * MAX_NESTING + "applicant.real_name_verified",
        "minus_sign": "-" * MAX_NESTING + "applicant.age < 0",
        "brackets": alternating,
    }


def test_the_largest_condition_of_every_operator_loads_and_evaluates_like_the_oracle(bundle_copy: BundleCopy) -> None:
    conditions = _largest_conditions()
    for name, text in conditions.items():
        assert len(text) <= MAX_EXPRESSION_CHARS, name
    assert len(conditions["and"]) > MAX_EXPRESSION_CHARS - 30 and len(conditions["or"]) > MAX_EXPRESSION_CHARS - 30
    ids = {name: f"LIM-{name.upper().replace('_', '-')}" for name in conditions}
    bundle_copy.write("eligibility.yaml", "rules:\n" + "".join(
        f"  - id: {ids[name]}\n    description: the largest '{name}' the checker accepts\n    when: {text}\n"
        f"    then: {{outcome: REVIEW, reason: EXCESSIVE_INQUIRIES}}\n" for name, text in conditions.items()))
    assert [p.code for p in check_bundle(bundle_copy.dir)] == []
    cases: list[dict[str, object]] = [
        {},
        {"score__value": 631, "applicant__age": 1000, "applicant__verified_contacts": 1000,
         "applicant__real_name_verified": False},
        {"score__value": 669, "applicant__age": 120, "applicant__annual_income": 100_000_01},
        {"applicant__age": -3, "applicant__overdue_count_24m": 6},
    ]
    fired = [set(ids_fired) for ids_fired in eligibility_fired_isolated(bundle_copy, cases, timeout=120)]
    by_id = {v: k for k, v in ids.items()}
    assert [sorted(by_id[i] for i in f) for f in fired] == [
        sorted(["minus", "divide", "and", "or_of_fields", "not", "brackets"]),
        sorted(["plus", "times", "divide", "or", "or_of_fields", "brackets"]),
        sorted(["minus", "times", "divide", "and", "or_of_and", "or_of_fields", "not", "brackets"]),
        sorted(["minus", "divide", "and", "or_of_fields", "not", "minus_sign"]),
    ]


def test_a_bundle_the_engine_refuses_on_loading_is_reported_with_its_code_not_as_a_checker_failure() -> None:
    refused = problem(P.ENGINE_REFUSED, "rules", "the rule engine refused the compiled rules: error 113",
                      hint="report this bundle to the service team")

    def load(directory: Path) -> list[RuleProblem]:
        raise BundleInvalid([refused])

    out = io.StringIO()
    assert run_check(Path("rules"), out, load) == 1
    assert out.getvalue().splitlines() == [
        "rules: the rule engine refused the compiled rules: error 113",
        "    fix: report this bundle to the service team [R502]",
        "rules: 1 error, 0 warnings",
    ]


# -- a broken bundle.yaml: only its own error --------------------------------------------------------------------

def test_a_nul_byte_in_bundle_yaml_is_located_and_no_reason_code_is_called_unknown(bundle_copy: BundleCopy) -> None:
    text = bundle_copy.read("bundle.yaml")
    bundle_copy.write("bundle.yaml", text.replace("  LOW_SCORE:", "  \0LOW_SCORE:"))
    line = bundle_copy.line_of("bundle.yaml", "LOW_SCORE:")
    found = the_error(bundle_copy.dir)
    assert found.format() == (
        f"rules/bundle.yaml:{line}:3: not valid YAML: the file contains the invisible character U+0000, which is "
        f"not allowed\n    fix: remove the invisible character U+0000 at line {line}, column 3 (if your editor does "
        "not show it, delete and retype the text around it) [R001]")


def test_an_empty_bundle_yaml_is_the_only_problem(bundle_copy: BundleCopy) -> None:
    bundle_copy.write("bundle.yaml", "")
    found = the_error(bundle_copy.dir)
    assert (found.code, found.file, found.line, found.message) == ("R003", "rules/bundle.yaml", 1, "the file is empty")


def test_an_unclosed_quote_in_bundle_yaml_points_at_the_quote(bundle_copy: BundleCopy) -> None:
    bundle_copy.replace("bundle.yaml", 'version: "2026.12-2"', 'version: "2026.12-2')
    found = the_error(bundle_copy.dir)
    assert (found.code, found.line, found.col) == \
        ("R001", bundle_copy.line_of("bundle.yaml", "version:"), bundle_copy.col_of("bundle.yaml", '"2026'))
    assert (found.message, found.hint) == ("not valid YAML: the quoted text that starts here is never closed",
                                           "end it with the same quote character it starts with")


def test_reasons_that_are_not_a_mapping_make_no_code_unknown(bundle_copy: BundleCopy) -> None:
    bundle_copy.replace("bundle.yaml", "reasons:\n", "reasons: []\nunused_reasons:\n")
    assert [(p.code, p.message) for p in check_bundle(bundle_copy.dir)] == [
        ("R005", "unknown key 'unused_reasons' in bundle.yaml (did you mean 'reasons'?)"),
        ("R003", "'reasons' must be a mapping of 'NAME: value' lines"),
    ]


# -- division by zero, and a field compared with itself ----------------------------------------------------------

@pytest.mark.parametrize(("condition", "divisor", "what"), [
    ("applicant.annual_income / 0 > 5 CNY", "0 > 5", "0"),
    ("applicant.annual_income / 0 CNY > 5", "0 CNY", "0"),
    ("score.value < 600 / (applicant.age - applicant.age)", "applicant.age -", "a value that is always 0"),
    ("score.value < 600 / (2 * 3 - 6)", "2 * 3", "a value that is always 0"),
    ("score.value < 600 / (0 * applicant.age)", "0 * applicant", "a value that is always 0"),
    ("score.value < 600 / -(0 / applicant.age)", "-(0", "a value that is always 0"),
])
def test_division_by_zero_is_an_error_at_the_divisor(bundle_copy: BundleCopy, condition: str, divisor: str,
                                                     what: str) -> None:
    bundle_copy.replace("eligibility.yaml", "when: score.value < 600", f"when: {condition}")
    found = the_error(bundle_copy.dir)
    line = bundle_copy.line_of("eligibility.yaml", condition)
    assert found.headline() == f"rules/eligibility.yaml:{line}:{bundle_copy.col_of('eligibility.yaml', divisor)}: " \
        f"rule ELG-004: this divides by {what}, so the calculation never has a value"
    assert (found.code, found.hint) == ("R109", "divide by something other than 0, or remove the division")


@pytest.mark.parametrize("value", ["a.n / (a.n - 1)", "a.n / (a.n - a.d)", "a.m / (a.m - 1 CNY)", "0 / a.n"])
def test_a_divisor_that_can_be_other_than_zero_is_accepted(value: str) -> None:
    assert check_expression(parse_expression(f"{value} > 1"), SCOPE)[1] == []  # type: ignore[arg-type]


def test_a_division_by_zero_inside_a_divisor_is_reported_once() -> None:
    _, issues = check_expression(parse_expression("a.n / (1 / 0) > 1"), SCOPE)  # type: ignore[arg-type]
    assert [(i.code.code, i.offset) for i in issues] == [("R109", 11)]


def test_a_scorecard_value_divided_by_zero_is_refused(bundle_copy: BundleCopy) -> None:
    bundle_copy.replace("scorecard.yaml", "value: applicant.max_days_overdue_24m",
                        "value: applicant.max_days_overdue_24m / 0")
    found = the_error(bundle_copy.dir)
    line, col = bundle_copy.line_of("scorecard.yaml", "/ 0"), bundle_copy.col_of("scorecard.yaml", "/ 0") + 2
    assert (found.code, found.rule_id, found.line, found.col) == ("R109", "SC-REPAY", line, col)


def test_a_field_different_from_itself_never_matches(bundle_copy: BundleCopy) -> None:
    bundle_copy.replace("eligibility.yaml", "when: applicant.credit_inquiries_6m > 10",
                        "when: applicant.age != applicant.age")
    found = the_error(bundle_copy.dir)
    assert (found.code, found.rule_id, found.message) == \
        ("R108", "ELG-006", "this rule can never match: its condition is false for every request")


def test_a_field_equal_to_itself_always_matches(bundle_copy: BundleCopy) -> None:
    bundle_copy.replace("eligibility.yaml", "when: applicant.credit_inquiries_6m > 10",
                        "when: applicant.age == applicant.age")
    found = the_error(bundle_copy.dir)
    assert (found.code, found.rule_id, found.message) == ("W001", "ELG-006", "this rule matches every request")


@pytest.mark.parametrize(("condition", "cond"), [
    ("a.n == a.n", TRUE), ("a.n <= a.n", TRUE), ("a.s == a.s", TRUE), ("not a.n < a.n", TRUE),
    ("a.n != a.n", FALSE), ("a.n > a.n", FALSE), ("a.n + 1 != a.n + 1", FALSE),
])
def test_a_comparison_of_a_value_with_itself_is_decided_when_compiled(condition: str, cond: object) -> None:
    assert compile_many([condition]).rules[0].cond == cond


def test_a_calculation_with_a_division_compared_with_itself_is_left_to_the_facts() -> None:
    # a.n / a.d has no value when a.d is 0, and then even `==` is false
    cond = compile_rules("test", SCOPE, [("R", checked("a.n / a.d == a.n / a.d"))]).rules[0].cond
    assert cond not in (TRUE, FALSE)


# -- messages that said the wrong thing, or no fix ---------------------------------------------------------------

def test_a_look_alike_letter_in_a_field_name_is_named_and_pointed_at(bundle_copy: BundleCopy) -> None:
    bundle_copy.replace("eligibility.yaml", "when: applicant.age < 18 or", "when: applicant.\u0430ge < 18 or")
    found = the_error(bundle_copy.dir)
    assert (found.code, found.rule_id, found.col) == \
        ("R101", "ELG-001", bundle_copy.col_of("eligibility.yaml", "\u0430ge"))
    assert found.message == "the letter '\u0430' (U+0430 CYRILLIC SMALL LETTER A) is not a plain (ASCII) character"
    assert found.hint == "retype it with a Latin keyboard layout: field names, operators and numbers use only " \
        "A-Z, a-z, 0-9, _ and . (other alphabets are fine inside quoted 'text')"


@pytest.mark.parametrize(("text", "offset", "message"), [
    ("\u0430.n > 1", 0, "the letter '\u0430' (U+0430 CYRILLIC SMALL LETTER A) is not a plain (ASCII) character"),
    ("a.n\u200b > 1", 3, "the invisible character U+200B (ZERO WIDTH SPACE) is not a plain (ASCII) character"),
    ("a.n > \uff11", 6, "the character '\uff11' (U+FF11 FULLWIDTH DIGIT ONE) is not a plain (ASCII) character"),
])
def test_other_characters_that_are_not_plain_ascii(text: str, offset: int, message: str) -> None:
    found = issue(text)
    assert (found.code.code, found.offset, found.message) == ("R101", offset, message)
    assert found.hint


@pytest.mark.parametrize(("text", "offset", "message", "hint"), [
    ("a.n > 10**100", 8, "'**' is not an operator here",
     "there is no power operator: write the number in full, e.g. 1_000_000"),
    ("a.n > 10^2", 8, "'^' is not an operator here",
     "there is no power operator: write the number in full, e.g. 1_000_000"),
    ("a.n > 1)", 7, "unexpected ')': expected 'and', 'or' or the end of the condition",
     "remove this ')' or add the '(' it closes"),
    ("a.n > * 1", 6, "unexpected '*': expected a field, a value or '('",
     "a value is missing before it, or it is one operator too many"),
    ("a.n in [1 2]", 10, "unexpected '2': expected ',' or ']' in the list",
     "separate the values with ',' and end the list with ']'"),
])
def test_syntax_errors_that_had_no_fix(text: str, offset: int, message: str, hint: str) -> None:
    found = issue(text)
    assert (found.code.code, found.offset, found.message, found.hint) == ("R101", offset, message, hint)


def test_a_stray_bracket_in_a_rule_has_a_fix(bundle_copy: BundleCopy) -> None:
    bundle_copy.replace("eligibility.yaml", "when: score.value < 600", "when: score.value < 600)")
    assert the_error(bundle_copy.dir).format().splitlines()[-1] == \
        "    fix: remove this ')' or add the '(' it closes [R101]"


def test_a_too_precise_amount_in_limits_says_so(bundle_copy: BundleCopy) -> None:
    bundle_copy.replace("limits.yaml", "rounding: 100 CNY", "rounding: 0.001 CNY")
    found = the_error(bundle_copy.dir)
    assert found.format() == (
        f"rules/limits.yaml:{bundle_copy.line_of('limits.yaml', 'rounding:')}:11: rounding: 0.001 CNY has more than 2 "
        "decimal places\n    fix: amounts are counted in fen: at most 2 decimal places, e.g. 99.95 CNY [R109]")


def test_a_condition_written_as_a_yaml_list_has_a_fix(bundle_copy: BundleCopy) -> None:
    bundle_copy.replace("eligibility.yaml", "    when: applicant.age < 18 or applicant.age > 65\n",
                        "    when:\n      - applicant.age < 18\n      - applicant.age > 65\n")
    found = the_error(bundle_copy.dir)
    assert (found.code, found.rule_id, found.line, found.message) == \
        ("R003", "ELG-001", bundle_copy.line_of("eligibility.yaml", "- applicant.age < 18"),
         "the condition must be a single value, not a list")
    assert found.hint == "write one condition; join its parts with 'and' or 'or', e.g. " \
        "when: applicant.age < 18 or applicant.age > 65"


@pytest.mark.parametrize("days", [0, 360, 364, 367])
def test_a_year_of_other_than_365_or_366_days_is_refused_with_a_fix(bundle_copy: BundleCopy, days: int) -> None:
    """Interest is charged for every day: with 360, band A's 0.0002 would be told as an APR of 0.072 while a year's
    interest is 0.073 of the principal."""
    bundle_copy.replace("limits.yaml", "days_per_year: 365", f"days_per_year: {days}")
    found = the_error(bundle_copy.dir)
    assert (found.code, found.line) == ("R006", bundle_copy.line_of("limits.yaml", "days_per_year:"))
    assert found.message == f"days_per_year must be 365 or 366, not {days}: interest is charged for every day, so a " \
        "shorter year would state an APR below what consumers pay"
    assert found.hint == "write 365 (the APR answered is then the daily rate x 365)"


def test_a_year_of_366_days_is_accepted(bundle_copy: BundleCopy) -> None:
    bundle_copy.replace("limits.yaml", "days_per_year: 365", "days_per_year: 366")
    assert [p for p in check_bundle(bundle_copy.dir) if p.is_error] == []


def test_an_attribute_with_an_empty_list_of_values_is_refused(bundle_copy: BundleCopy) -> None:
    bundle_copy.replace("bundle.yaml", "attributes:\n", "attributes:\n  segment:\n    type: str\n    default: GOLD\n"
                        "    values: []\n    description: Customer segment\n")
    found = the_error(bundle_copy.dir)
    assert (found.code, found.file, found.line, found.message) == \
        ("R601", "rules/bundle.yaml", bundle_copy.line_of("bundle.yaml", "values: []"),
         "the attribute applicant.attributes.segment lists no values")
    assert found.hint == "list the values it can take, e.g. values: [EMPLOYED, RETIRED], or remove 'values' to " \
        "allow any text"


def test_a_reason_message_over_its_limit_is_told_its_length_and_by_how_much_to_shorten_it(
    bundle_copy: BundleCopy,
) -> None:
    """The message said "longer than 300 characters -- fix: shorten it", which left the officer to count."""
    long_text = ("Credit may not be used for securities. " * 10).strip()
    bundle_copy.replace("bundle.yaml", "PROHIBITED_PURPOSE: Credit may not be used for securities, futures or home "
                        "purchase", f"PROHIBITED_PURPOSE: {long_text}")
    found = the_error(bundle_copy.dir)
    assert (found.code, found.line, found.message, found.hint) == (
        "R501", bundle_copy.line_of("bundle.yaml", "PROHIBITED_PURPOSE:"),
        f"the message of PROHIBITED_PURPOSE is 389 characters; at most {MAX_REASON_MESSAGE} are allowed",
        "shorten it by 89 characters")


@pytest.mark.parametrize(("length", "hint"), [(MAX_RULE_MESSAGE + 1, "shorten it by 1 character"),
                                              (MAX_RULE_MESSAGE + 112, "shorten it by 112 characters")])
def test_a_rule_message_over_its_limit_is_told_its_length(bundle_copy: BundleCopy, length: int, hint: str) -> None:
    bundle_copy.replace("drawdown.yaml", "then: {outcome: DECLINE, reason: BELOW_MINIMUM_DRAWDOWN}",
                        f"then: {{outcome: DECLINE, reason: BELOW_MINIMUM_DRAWDOWN, message: {'x' * length}}}")
    found = the_error(bundle_copy.dir)
    assert (found.code, found.rule_id, found.message, found.hint) == (
        "R501", "DRW-001", f"the message is {length} characters; at most {MAX_RULE_MESSAGE} are allowed", hint)
    bundle_copy.replace("drawdown.yaml", "x" * length, "x" * MAX_RULE_MESSAGE)
    assert [p for p in check_bundle(bundle_copy.dir) if p.is_error] == []


def test_the_message_limits_are_documented_with_the_other_limits() -> None:
    text = " ".join((ROOT / "docs" / "rules.md").read_text(encoding="utf-8").split())
    assert f"{MAX_RULE_MESSAGE} characters per rule `message:` and {MAX_REASON_MESSAGE} per reason's message in " \
        "`bundle.yaml`" in text
