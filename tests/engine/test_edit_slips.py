"""Slips a compliance officer makes while editing a rule file, each reported where it was made, with its fix."""

from __future__ import annotations

from service.engine.bundle import check_bundle
from tests.engine.conftest import BundleCopy
from tests.engine.test_bundle_errors import the_error


def test_a_quote_left_open_is_reported_where_it_opens_not_where_yaml_gives_up(bundle_copy: BundleCopy) -> None:
    bundle_copy.replace("drawdown.yaml", "description: A drawdown must be at least 100 CNY",
                        "description: 'A drawdown must be at least 100 CNY")
    problem = the_error(bundle_copy.dir)
    next_quote = bundle_copy.line_of("drawdown.yaml", "['EQUAL_INSTALLMENT'")
    assert (problem.code, problem.line, problem.col, problem.rule_id) == \
        ("R001", bundle_copy.line_of("drawdown.yaml", "'A drawdown"), 18, "DRW-001")
    assert problem.message == "the quote ' that starts here is never closed on this line, so YAML read on to the " \
        f"next ', on line {next_quote}"
    assert problem.hint == "end the text with ' on this line"


def test_a_quote_left_open_inside_braces_is_reported_where_it_opens(bundle_copy: BundleCopy) -> None:
    bundle_copy.replace("drawdown.yaml", "reason: BELOW_MINIMUM_DRAWDOWN}", 'reason: "BELOW_MINIMUM_DRAWDOWN}')
    bundle_copy.replace("drawdown.yaml", "reason: LINE_NOT_ACTIVE}", 'reason: "LINE_NOT_ACTIVE"}')
    problem = the_error(bundle_copy.dir)
    assert (problem.code, problem.line, problem.rule_id, problem.hint) == \
        ("R001", bundle_copy.line_of("drawdown.yaml", '"BELOW_MINIMUM'), "DRW-001", 'end the text with " on this line')


def test_a_text_quoted_over_two_lines_is_not_blamed_for_an_error_after_it(bundle_copy: BundleCopy) -> None:
    bundle_copy.replace("drawdown.yaml", "description: A drawdown must be at least 100 CNY",
                        "description: 'A drawdown must be\n      at least 100 CNY'")
    bundle_copy.replace("drawdown.yaml", "when: drawdown.amount < 100 CNY", "when: drawdown.amount: < 100 CNY")
    problem = the_error(bundle_copy.dir)
    assert (problem.line, problem.message) == (bundle_copy.line_of("drawdown.yaml", "drawdown.amount:"),
                                               "not valid YAML: mapping values are not allowed here")


def test_lines_of_then_not_indented_under_it_are_told_to_be(bundle_copy: BundleCopy) -> None:
    bundle_copy.replace("drawdown.yaml", "    then: {outcome: DECLINE, reason: BELOW_MINIMUM_DRAWDOWN}",
                        "    then:\n    outcome: DECLINE\n    reason: BELOW_MINIMUM_DRAWDOWN")
    found = [(p.line, p.rule_id, p.hint) for p in check_bundle(bundle_copy.dir)]
    allowed = "allowed keys: id, description, when, then"
    assert sorted(found, key=lambda f: f[0] or 0) == [
        (bundle_copy.line_of("drawdown.yaml", "then:"), "DRW-001",
         "write its 'key: value' lines under it, indented two spaces further right"),
        (bundle_copy.line_of("drawdown.yaml", "outcome: DECLINE"), "DRW-001",
         f"indent 'outcome:' under 'then:' (two spaces further right), or use one of the {allowed}"),
        (bundle_copy.line_of("drawdown.yaml", "reason: BELOW"), "DRW-001",
         f"indent 'reason:' under 'then:' (two spaces further right), or use one of the {allowed}"),
    ]


def test_an_unknown_key_after_a_key_with_a_value_keeps_the_list_of_allowed_keys(bundle_copy: BundleCopy) -> None:
    bundle_copy.replace("drawdown.yaml", "    when: drawdown.amount < 100 CNY",
                        "    when: drawdown.amount < 100 CNY\n    owner: credit risk")
    problem = the_error(bundle_copy.dir)
    assert (problem.code, problem.hint) == ("R005", "allowed keys: id, description, when, then")


def test_a_rule_pasted_into_a_file_read_before_its_own_is_reported_at_the_paste(bundle_copy: BundleCopy) -> None:
    bundle_copy.replace("drawdown.yaml", "id: DRW-006", "id: FRD-001")
    problem = the_error(bundle_copy.dir)
    original = bundle_copy.line_of("fraud.yaml", "id: FRD-001")
    assert (problem.code, problem.file, problem.line, problem.rule_id) == \
        ("R010", "rules/drawdown.yaml", bundle_copy.line_of("drawdown.yaml", "id: FRD-001"), "FRD-001")
    assert problem.message == f"the id 'FRD-001' is already used at rules/fraud.yaml:{original}"


def test_a_copied_rule_in_the_same_file_is_reported_at_the_copy(bundle_copy: BundleCopy) -> None:
    bundle_copy.replace("drawdown.yaml", "id: DRW-006", "id: DRW-001")
    problem = the_error(bundle_copy.dir)
    lines = [n for n, text in enumerate(bundle_copy.read("drawdown.yaml").splitlines(), 1) if "id: DRW-001" in text]
    assert (problem.code, problem.line, problem.message) == \
        ("R010", lines[1], f"the id 'DRW-001' is already used at rules/drawdown.yaml:{lines[0]}")


def test_the_other_problems_of_a_rule_whose_id_is_mistyped_name_it_as_typed(bundle_copy: BundleCopy) -> None:
    bundle_copy.replace("drawdown.yaml", "id: DRW-002", "id: DRW\u2013002")
    bundle_copy.replace("drawdown.yaml", "and drawdown.term_months not in", "and drawdown.term_month not in")
    found = {(p.code, p.rule_id) for p in check_bundle(bundle_copy.dir)}
    assert ("R102", "DRW\u2013002") in found, found
    assert not any(rule_id == "(no id)" for _, rule_id in found)
