"""How a problem is printed: a long condition is shown as a window around the caret, never whole for every problem
in it (six conditions of 3,900 characters with 170 misspelt fields each made `rules check` print 6 MB)."""

from __future__ import annotations

from service.engine import problems as P
from service.engine.problems import RuleProblem
from tests.engine.conftest import BundleCopy
from tests.engine.test_bundle_errors import the_error

LONG = " or ".join(f"applicant.age > {i}" for i in range(200))  # 4,000 characters on one line


def at(expression: str, col: int, line: int = 1) -> RuleProblem:
    return RuleProblem(P.UNKNOWN_FIELD.code, P.UNKNOWN_FIELD.severity, "rules/eligibility.yaml", 37, 11, "ELG-100",
                       "unknown field", "use a field name from the field catalogue", expression, line, col)


def shown(problem: RuleProblem) -> tuple[str, str]:
    """The expression line and the caret line, without their indentation of 4 spaces."""
    lines = problem.format().splitlines()
    assert len(lines) == 4 and lines[1].startswith("    ") and lines[2].startswith("    "), lines
    return lines[1][4:], lines[2][4:]


def pointed_at(text: str, caret: str) -> str:
    """The part of the shown text from the character above the caret."""
    assert caret.strip() == "^"
    return text[len(caret) - 1:]


def test_a_long_expression_line_is_shown_as_a_window_with_the_caret_under_the_same_character() -> None:
    for offset in (LONG.index("applicant.age > 100"), LONG.index("applicant.age > 7 "), LONG.index("> 150")):
        text, caret = shown(at(LONG, offset + 1))
        assert len(text) <= 120 and len(caret) <= 120
        assert text.startswith("...") and text.endswith("...")
        assert pointed_at(text, caret).startswith(LONG[offset:offset + 10])
        assert text[3:-3] in LONG


def test_a_window_at_either_end_of_a_long_line_is_cut_on_one_side_only() -> None:
    text, caret = shown(at(LONG, 1))
    assert caret == "^" and text.startswith("applicant.age > 0 or") and text.endswith("...") and len(text) <= 120
    last = LONG.rindex("applicant.age")
    text, caret = shown(at(LONG, last + 1))
    assert text.startswith("...") and text.endswith("applicant.age > 199") and len(text) <= 120
    assert pointed_at(text, caret) == "applicant.age > 199"
    text, caret = shown(at(LONG, len(LONG) + 1))  # just past the end ("the condition ends too early")
    assert text.endswith("> 199") and pointed_at(text, caret) == ""


def test_a_window_keeps_tabs_so_that_the_caret_lines_up() -> None:
    tabbed = "\t\t" + LONG
    text, caret = shown(at(tabbed, 3))  # the first character after the tabs
    assert text.startswith("\t\tapplicant.age > 0") and caret == "\t\t^"
    offset = tabbed.index("applicant.age > 120")
    text, caret = shown(at(tabbed, offset + 1))
    assert "\t" not in caret and pointed_at(text, caret).startswith("applicant.age > 120")


def test_an_expression_line_of_up_to_120_characters_is_shown_whole() -> None:
    line = LONG[:120]
    text, caret = shown(at(line, 118))
    assert text == line and caret == " " * 117 + "^"
    text, caret = shown(at(LONG[:121], 118))
    assert text != LONG[:121] and pointed_at(text, caret).startswith(LONG[117:121])


def test_only_the_line_of_a_multi_line_condition_with_the_problem_is_windowed() -> None:
    text, caret = shown(at("applicant.age < 18\n or " + LONG, 400, line=2))
    assert text.startswith("...") and pointed_at(text, caret).startswith((" or " + LONG)[399:409])
    text, caret = shown(at(LONG + "\n or applicant.age < 18", 400))
    assert text.startswith("...") and pointed_at(text, caret).startswith(LONG[399:409])


def test_rules_check_shows_a_window_of_a_long_condition_in_the_bundle(bundle_copy: BundleCopy) -> None:
    condition = " or ".join(f"applicant.age > {i}" for i in range(100, 160)).replace("age > 150", "agee > 150")
    bundle_copy.replace("eligibility.yaml", "when: applicant.age < 18 or applicant.age > 65", f"when: {condition}")
    problem = the_error(bundle_copy.dir)
    assert problem.code == "R102"
    text, caret = shown(problem)
    assert len(text) <= 120 and text.startswith("...") and text.endswith("...")
    assert pointed_at(text, caret).startswith("applicant.agee > 150")
