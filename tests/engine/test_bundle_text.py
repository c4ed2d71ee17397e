"""The text of a bundle read as its author means it: escapes in quoted YAML that make no character are refused
where they are written (nothing could encode them in a response or a log line), PyYAML's wording is said in
words, and a comment after a list entry is not part of the entry."""

from __future__ import annotations

import pytest

from service.engine.bundle import check_bundle
from tests.engine.conftest import BundleCopy


@pytest.mark.parametrize(
    ("name", "old", "new", "said"),
    [
        ("bundle.yaml", "LOW_SCORE: ", 'LOW_SCORE: "half \\ud800 a pair" # ', "only half of a character"),
        ("fraud.yaml", "description: The fourth drawdown within an hour", 'description: "x \\udfff"',
         "only half of a character"),
        ("fraud.yaml", "id: FRD-001", 'id: "FRD-\\ud800"', "only half of a character"),
        ("fraud.yaml", "description: The fourth drawdown within an hour", 'description: "x \\UFFFFFFFF"',
         "an escape \\U names a character that does not exist"),
    ],
)
def test_an_escape_that_makes_no_character_is_refused_where_it_is_written(
    bundle_copy: BundleCopy, name: str, old: str, new: str, said: str
) -> None:
    bundle_copy.replace(name, old, new)
    problems = check_bundle(bundle_copy.dir)
    assert [(p.code, p.file, p.line) for p in problems] == [("R001", f"rules/{name}", bundle_copy.line_of(name, new))]
    assert said in problems[0].message and problems[0].hint


def test_a_misindented_key_is_explained_in_words(bundle_copy: BundleCopy) -> None:
    bundle_copy.replace("fraud.yaml", "    then: {outcome: REVIEW, flag: VELOCITY_HOURLY",
                        "   then: {outcome: REVIEW, flag: VELOCITY_HOURLY")
    (problem,) = check_bundle(bundle_copy.dir)
    assert problem.message == ("not valid YAML: expected the end of an indented block, but found the start of an "
                               "indented mapping")
    assert problem.hint == "check the indentation of this line against the lines above"


def test_a_comment_after_a_list_entry_is_not_part_of_it(bundle_copy: BundleCopy) -> None:
    from service.engine.loader import analyse

    bundle_copy.replace("lists/mule_counterparties.txt", "CP-MULE-0002\n", "CP-MULE-0002   # seen in November\n")
    spec, problems = analyse(bundle_copy.dir)
    assert problems == [] and spec is not None
    assert "CP-MULE-0002" in spec.lists["mule_counterparties"]
    assert not any("#" in entry for entry in spec.lists["mule_counterparties"])


def test_a_scorecard_value_that_divides_by_a_field_is_warned_about(bundle_copy: BundleCopy) -> None:
    bundle_copy.replace("scorecard.yaml", "value: applicant.max_days_overdue_24m",
                        "value: applicant.max_days_overdue_24m / applicant.overdue_count_24m")
    (warning,) = check_bundle(bundle_copy.dir)
    assert (warning.code, warning.rule_id, warning.line) == (
        "W004", "SC-REPAY", bundle_copy.line_of("scorecard.yaml", "/ applicant.overdue_count_24m"))
    assert "scores 0 points" in warning.message and warning.hint


def test_a_scorecard_value_divided_by_a_fixed_number_is_not(bundle_copy: BundleCopy) -> None:
    bundle_copy.replace("scorecard.yaml", "value: applicant.max_days_overdue_24m",
                        "value: applicant.max_days_overdue_24m / 2")
    assert check_bundle(bundle_copy.dir) == []


@pytest.mark.parametrize(
    ("old", "new", "col", "said", "fix"),
    [
        ("    when: not applicant.real_name_verified", "\u00a0\u00a0\u00a0\u00a0when: not applicant.real_name_verified",
         1, "this line starts with invisible non-breaking spaces (U+00A0, often pasted from Word) where YAML needs "
         "ordinary spaces", "retype the indentation of this line with ordinary spaces"),
        ("    then: {outcome: DECLINE, reason: IDENTITY_NOT_VERIFIED}",
         "\u00a0 \u00a0then: {outcome: DECLINE, reason: IDENTITY_NOT_VERIFIED}",
         1, "this line starts with invisible non-breaking spaces (U+00A0, often pasted from Word) where YAML needs "
         "ordinary spaces", "retype the indentation of this line with ordinary spaces"),
        ("    when: not applicant.real_name_verified", "    when:\u00a0not applicant.real_name_verified",
         10, "an invisible non-breaking space (U+00A0, often pasted from Word) follows ':' where YAML needs an "
         "ordinary space", "retype that space as an ordinary space"),
    ],
)
def test_non_breaking_spaces_pasted_from_word_are_reported_on_their_own_line_not_the_next(
    bundle_copy: BundleCopy, old: str, new: str, col: int, said: str, fix: str
) -> None:
    bundle_copy.replace("eligibility.yaml", old, new)
    (problem,) = check_bundle(bundle_copy.dir)
    line = bundle_copy.line_of("eligibility.yaml", new)
    assert problem.format() == f"rules/eligibility.yaml:{line}:{col}: rule ELG-002: {said}\n    fix: {fix} [R001]"


def test_a_comment_ending_the_first_line_of_a_condition_is_named_as_what_cut_it_short(
    bundle_copy: BundleCopy,
) -> None:
    bundle_copy.replace("eligibility.yaml", "    when: applicant.age < 18 or applicant.age > 65",
                        "    when: applicant.age < 18   # minors\n      or applicant.age > 65")
    (problem,) = check_bundle(bundle_copy.dir)
    line = bundle_copy.line_of("eligibility.yaml", "# minors")
    assert problem.format() == (
        f"rules/eligibility.yaml:{line}:32: rule ELG-001: the comment '# minors' ends the value of 'when:' on this "
        f"line, so line {line + 1} cannot continue it\n    fix: move the comment to a line of its own, above 'when:' "
        "[R001]")
