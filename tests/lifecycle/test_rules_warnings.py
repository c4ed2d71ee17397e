"""What the supervisor serves a bundle with when checking it warned (GetRulesStatus `active_warnings`, the status file
and the `rules.warnings` log line): the warnings `decisiond rules check` prints for the same rules, one a line."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest

from service.app.rules_holder import RulesHolder, RulesStatus, rules_status
from service.engine.check import run_check
from service.rule_tests import rule_case_problems
from service.supervisor import Supervisor, WorkersNotStarted, problem_entries

UNTESTED_RULE = ("  - id: FRD-008\n    description: A login from the reserved test range\n"
                 "    when: transaction.type == 'LOGIN' and channel.ip == '203.0.113.7'\n"
                 "    then: {outcome: REVIEW, flag: GEO_MISMATCH, severity: LOW}\n")


def served_warnings(supervisor: Supervisor, monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Judge the rules as an edit is judged; the warnings the bundle is served with."""
    served: list[list[str] | None] = []
    monkeypatch.setattr(supervisor, "_serve", lambda snapshot, warnings=None: served.append(warnings))
    supervisor._activate_or_reject(first=False)
    assert supervisor.rejected is None and json.loads(supervisor.status_file.read_text())["rejected"] is None
    assert len(served) == 1 and served[0] is not None
    return served[0]


def rules_check(rules: Path) -> list[str]:
    """What `decisiond rules check` prints, as the supervisor records problems."""
    out = io.StringIO()
    assert run_check(rules, out, extra_checks=rule_case_problems) == 0
    return problem_entries(out.getvalue())


def test_a_rule_no_case_fires_serves_with_the_w003_warning_rules_check_gives(
    supervisor: Supervisor, rules: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Before, `rules check` warned W003 and the server, which runs the same cases, served the bundle with no
    warning: an officer watching the server was never told the new rule is untested."""
    with (rules / "fraud.yaml").open("a") as fraud:
        fraud.write("\n" + UNTESTED_RULE)
    warnings = served_warnings(supervisor, monkeypatch)
    assert warnings == [f"{rules}/fraud.yaml:52: rule FRD-008: warning: no test case fires this rule -- fix: add a"
                        " case to tests/*.yaml that makes this rule fire (see docs/rules.md, Rule tests) [W003]"]
    assert warnings == rules_check(rules)


def test_an_ignored_file_and_an_untested_rule_are_both_warned_of_in_the_order_rules_check_gives(
    supervisor: Supervisor, rules: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (rules / "lists" / "README.txt").write_text("Lists are owned by the fraud team.\n")
    with (rules / "fraud.yaml").open("a") as fraud:
        fraud.write("\n" + UNTESTED_RULE)
    warnings = served_warnings(supervisor, monkeypatch)
    assert [warning[-6:] for warning in warnings] == ["[W002]", "[W003]"]
    assert warnings == rules_check(rules)


def test_the_starter_bundle_serves_without_a_warning(supervisor: Supervisor, monkeypatch: pytest.MonkeyPatch) -> None:
    assert served_warnings(supervisor, monkeypatch) == []


def test_the_workers_of_a_bundle_answer_its_warnings_before_it_is_recorded_as_active(
    supervisor: Supervisor, rules: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """New workers answer GetRulesStatus with their bundle's version as soon as they serve, and the supervisor records
    it as active only then: the status gave the new version with the old bundle's (no) warnings meanwhile."""
    (rules / "lists" / "README.txt").write_text("Lists are owned by the fraud team.\n")
    snapshot, _ = supervisor._snapshot()
    started: list[RulesStatus] = []

    def start_workers(on: Path) -> None:  # a worker, serving and asked before the supervisor hears it is ready
        holder = RulesHolder(on)
        holder.reload()
        started.append(rules_status(holder, supervisor.status_file))
        raise WorkersNotStarted("stopped here by the test")

    monkeypatch.setattr(supervisor, "_start_workers", start_workers)
    supervisor._serve(snapshot, rules_check(rules))
    [status] = started
    assert status.active_version == "2026.12-2"
    assert list(status.active_warnings) == rules_check(rules) != []
