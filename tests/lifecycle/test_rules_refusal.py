"""What the supervisor records when it refuses an edit (GetRulesStatus `rejected_problems`, the status file and the
`rules.rejected` log line): one problem a line, as `decisiond rules check` reports them, never the summary or
coverage lines of `rules test`, and never more than a bounded amount, however many problems the edit has."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from structlog.testing import capture_logs

from service.engine.bundle import check_bundle
from service.supervisor import (
    LONGEST_PROBLEM_RECORDED,
    MOST_PROBLEMS_RECORDED,
    Supervisor,
    bounded,
    problem_entries,
)

SUMMARY = re.compile(r"\d+ passed|coverage:|never fired:|has errors; fix them first")


def refuse(supervisor: Supervisor, monkeypatch: pytest.MonkeyPatch) -> tuple[list[str], list[str]]:
    """Judge the rules as an edit is judged: the problems recorded in the status file, and those logged."""
    monkeypatch.setattr(supervisor, "_serve", lambda snapshot: None)
    with capture_logs() as logs:
        supervisor._activate_or_reject(first=False)
    rejections = [entry for entry in logs if entry["event"] == "rules.rejected"]
    assert len(rejections) == 1, logs
    status = json.loads(supervisor.status_file.read_text())
    assert supervisor.rejected is not None and status["rejected"]["problems"] == supervisor.rejected["problems"]
    return status["rejected"]["problems"], rejections[0]["problems"]


def edit(path: Path, old: str, new: str) -> None:
    text = path.read_text()
    assert text.count(old) == 1, f"{old!r} occurs {text.count(old)} times in {path}"
    path.write_text(text.replace(old, new))


def test_a_failing_case_is_one_problem_and_the_summary_and_coverage_are_none(
    supervisor: Supervisor, rules: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Before, the case was four entries and "38 passed, 1 failed, 39 cases" and "coverage: 44 of 44 rules fired by
    some case" two more."""
    edit(rules / "eligibility.yaml", "applicant.age > 65", "applicant.age > 60")
    recorded, logged = refuse(supervisor, monkeypatch)
    assert logged == recorded
    assert len(recorded) == 1, recorded
    (case,) = recorded
    assert case.startswith(f"{rules}/tests/eligibility_and_limits.yaml:")
    assert ": case 'a 65-year-old is eligible' does not get what it expects: " in case
    assert "outcome: expected APPROVE, got DECLINE (rules fired: " in case and "ELG-001) -- fix: " in case
    assert case.endswith(" -- fix: correct the case's expect, or the rules it tests: the service refuses a bundle"
                         " whose cases fail [R701]")
    assert "\n" not in case and not SUMMARY.search(case)


def test_a_syntax_error_is_one_problem_without_the_header_the_expression_or_the_caret(
    supervisor: Supervisor, rules: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    edit(rules / "fraud.yaml", "features.drawdowns_last_hour >= 3", "features.drawdowns_last_hour => 3")
    (found,) = check_bundle(rules)
    recorded, logged = refuse(supervisor, monkeypatch)
    assert logged == recorded
    assert recorded == [f"{found.headline()} -- fix: write >= [R101]"]
    assert recorded[0].startswith(f"{rules}/fraud.yaml:")
    assert "rule FRD-001: '=>' is not an operator here" in found.headline()


def test_an_edit_with_a_thousand_problems_is_recorded_and_logged_bounded(
    supervisor: Supervisor, rules: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """60 rules, each a condition of about 3,900 characters that misspells a field 170 times: before, 6 MB and more
    in the status (which a default gRPC client cannot receive) and in one log line."""
    condition = " or ".join(f"applicant.agee > {i}" for i in range(190))[:3990].rsplit(" or ", 1)[0]
    text = (rules / "eligibility.yaml").read_text()
    for k in range(60):
        text += (f"\n  - id: ELG-{100 + k}\n    description: long age rule {k}\n    when: {condition}\n"
                 f"    then: {{outcome: REVIEW, reason: LOW_SCORE}}\n")
    (rules / "eligibility.yaml").write_text(text)
    total = len(check_bundle(rules))
    assert total > MOST_PROBLEMS_RECORDED
    recorded, logged = refuse(supervisor, monkeypatch)
    assert logged == recorded
    assert len(recorded) == MOST_PROBLEMS_RECORDED + 1
    for entry in recorded[:-1]:
        assert entry.startswith(f"{rules}/eligibility.yaml:") and "unknown field 'applicant.agee'" in entry
        assert entry.endswith("[R102]") and "\n" not in entry and len(entry) <= LONGEST_PROBLEM_RECORDED
    more = total - MOST_PROBLEMS_RECORDED
    assert recorded[-1] == f"... and {more} more problems: run `decisiond rules check {rules}` to see them all"
    assert supervisor.status_file.stat().st_size < 64 * 1024


RULES_TEST_OUTPUT = """\
The bundle in /s has errors; fix them first (decisiond rules check /s):
/s/fraud.yaml:9:75: rule FRD-001: '=>' is not an operator here
    transaction.type == 'DRAWDOWN' and features.drawdowns_last_hour => 3
                                                                    ^
    fix: write >= [R101]
/s/fraud.yaml:12:9: rule FRD-002: the checker could not go on
    [R999]
/s/fraud.yaml:14:7: rule FRD-003: the condition ends too early
   \x20
    ^
    fix: finish the condition [R101]
/s/lists: warning: the file notes.md is not read
    fix: remove it [W002]
/s/tests/a.yaml:3: case 'x': drawdown.purpose (line 5): 'crypto' is not a purpose code
    fix: write an upper-case code such as CONSUMPTION [R006]
ok   /s/tests/a.yaml:10: a good one
FAIL /s/tests/a.yaml:20: case 'y': applicant.age (line 22): 200 is more than 130
    fix: write an age from 0 to 130 [R006]
FAIL /s/tests/a.yaml:41: a 65-year-old is eligible
       outcome: expected APPROVE, got DECLINE
       reasons: expected [], got [AGE]
       rules fired: SC-REPAY/1, ELG-001
    fix: correct the case's expect [R701]
ok   /s/tests/a.yaml:50: another good one

38 passed, 1 failed, 39 cases; 1 test file problem
coverage: 43 of 44 rules fired by some case
never fired: ELG-007
"""


def test_the_output_of_rules_test_is_read_as_one_entry_per_problem() -> None:
    assert problem_entries(RULES_TEST_OUTPUT) == [
        "/s/fraud.yaml:9:75: rule FRD-001: '=>' is not an operator here -- fix: write >= [R101]",
        "/s/fraud.yaml:12:9: rule FRD-002: the checker could not go on [R999]",
        "/s/fraud.yaml:14:7: rule FRD-003: the condition ends too early -- fix: finish the condition [R101]",
        "/s/lists: warning: the file notes.md is not read -- fix: remove it [W002]",
        "/s/tests/a.yaml:3: case 'x': drawdown.purpose (line 5): 'crypto' is not a purpose code"
        " -- fix: write an upper-case code such as CONSUMPTION [R006]",
        "/s/tests/a.yaml:20: case 'y': applicant.age (line 22): 200 is more than 130"
        " -- fix: write an age from 0 to 130 [R006]",
        "/s/tests/a.yaml:41: case 'a 65-year-old is eligible' does not get what it expects: outcome: expected"
        " APPROVE, got DECLINE; reasons: expected [], got [AGE] (rules fired: SC-REPAY/1, ELG-001)"
        " -- fix: correct the case's expect [R701]",
    ]


def test_output_without_a_problem_in_it_is_no_problem() -> None:
    assert problem_entries("ok   /s/tests/a.yaml:10: fine\n\n1 passed, 0 failed, 1 cases\ncoverage: 1 of 1\n") == []
    assert problem_entries("/s: the checker failed unexpectedly (KeyError: 'x') [R999]\n/s: 1 error\n") == [
        "/s: the checker failed unexpectedly (KeyError: 'x') [R999]"
    ]


def test_what_the_validator_says_in_another_shape_is_kept_not_dropped() -> None:
    """A problem printed without its `[CODE]` line (a future wording, say) still reaches the operator."""
    assert problem_entries("/s/x.yaml: something odd\n    said on two lines\n\n0 passed, 1 failed, 1 cases\n") == [
        "/s/x.yaml: something odd; said on two lines"
    ]


def test_a_long_problem_is_cut_in_its_middle_keeping_its_fix_and_code(tmp_path: Path) -> None:
    long = "/s/fraud.yaml:9: rule FRD-001: " + "x" * 5000 + " -- fix: write >= [R101]"
    (cut,) = bounded([long], tmp_path)
    assert len(cut) == LONGEST_PROBLEM_RECORDED
    assert cut.startswith("/s/fraud.yaml:9: rule FRD-001: xxx") and cut.endswith("xxx -- fix: write >= [R101]")
    assert " ... " in cut
    assert bounded(["short"] * MOST_PROBLEMS_RECORDED, tmp_path) == ["short"] * MOST_PROBLEMS_RECORDED
    assert bounded(["short"] * (MOST_PROBLEMS_RECORDED + 1), tmp_path)[-1] == \
        f"... and 1 more problem: run `decisiond rules check {tmp_path}` to see them all"


README_WARNING = ("lists/README.txt: warning: this file is ignored: 'README' is not a valid list name -- fix: rename it"
                  " to readme.txt if it is a list (list names are lower-case letters, digits and _, starting with a"
                  " letter); otherwise move it out of lists/ [W002]")


def test_a_refusal_gives_the_error_that_refused_the_edit_first_and_a_warning_after_it(
    supervisor: Supervisor, rules: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A README.txt in lists/ and a case that fails: before, the W002 warning came first and the error that refused
    the edit last, and an officer read "the README.txt is why my edit was refused"."""
    (rules / "lists" / "README.txt").write_text("Lists are owned by the fraud team.\n")
    edit(rules / "eligibility.yaml", "applicant.age > 65", "applicant.age > 60")
    recorded, logged = refuse(supervisor, monkeypatch)
    assert logged == recorded
    assert len(recorded) == 2, recorded
    assert recorded[0].startswith(f"{rules}/tests/eligibility_and_limits.yaml:")
    assert recorded[0].endswith("[R701]") and ": case 'a 65-year-old is eligible' does not get what it" in recorded[0]
    assert recorded[1] == f"{rules}/{README_WARNING}"


def test_a_refusal_cut_to_its_first_problems_keeps_the_errors_not_the_warnings(
    supervisor: Supervisor, rules: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (rules / "lists" / "README.txt").write_text("Lists are owned by the fraud team.\n")
    text = (rules / "eligibility.yaml").read_text()
    for k in range(MOST_PROBLEMS_RECORDED):
        text += (f"\n  - id: ELG-{100 + k}\n    description: age rule {k}\n    when: applicant.agee > {k}\n"
                 f"    then: {{outcome: REVIEW, reason: LOW_SCORE}}\n")
    (rules / "eligibility.yaml").write_text(text)
    recorded, logged = refuse(supervisor, monkeypatch)
    assert logged == recorded
    assert len(recorded) == MOST_PROBLEMS_RECORDED + 1
    assert all("unknown field 'applicant.agee'" in entry and entry.endswith("[R102]") for entry in recorded[:-1])
    assert recorded[-1] == f"... and 1 more problem: run `decisiond rules check {rules}` to see them all"
