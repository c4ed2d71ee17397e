"""The rule tools' reports reach an officer whatever the terminal or pipe can show: a character its encoding
lacks is written as an escape (\\u2265), never a traceback in place of the report."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
RULES = ROOT / "rules"


@pytest.fixture
def bundle_with_a_typed_greater_or_equal(tmp_path: Path) -> Path:
    rules = tmp_path / "rules"
    shutil.copytree(RULES, rules)
    fraud = rules / "fraud.yaml"
    text = fraud.read_text()
    assert "features.drawdowns_last_hour >= 3" in text
    fraud.write_text(text.replace("features.drawdowns_last_hour >= 3", "features.drawdowns_last_hour \u2265 3"))
    return rules


def decisiond(*args: str, encoding: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "service.cli", *args], cwd=ROOT, capture_output=True, text=True,
                          encoding="utf-8", env={**os.environ, "PYTHONIOENCODING": encoding}, timeout=120,
                          check=False)


@pytest.mark.parametrize("encoding", ["ascii", "latin-1"])
def test_rules_check_on_a_terminal_that_cannot_show_a_character_prints_it_escaped(
    bundle_with_a_typed_greater_or_equal: Path, encoding: str
) -> None:
    rules = bundle_with_a_typed_greater_or_equal
    done = decisiond("rules", "check", str(rules), encoding=encoding)
    assert done.returncode == 1
    assert done.stderr == ""
    assert (f"{rules}/fraud.yaml:9:75: rule FRD-001: the character '\\u2265' (U+2265 GREATER-THAN OR EQUAL TO) is "
            "not a plain (ASCII) character\n") in done.stdout
    assert "features.drawdowns_last_hour \\u2265 3\n" in done.stdout
    assert done.stdout.endswith(f"{rules}: 1 error, 0 warnings\n")


def test_rules_test_on_an_ascii_terminal_prints_the_problem_not_a_failure_of_the_service(
    bundle_with_a_typed_greater_or_equal: Path,
) -> None:
    rules = bundle_with_a_typed_greater_or_equal
    done = decisiond("rules", "test", str(rules), encoding="ascii")
    assert done.returncode == 1
    assert done.stderr == ""
    assert "failed unexpectedly" not in done.stdout
    assert done.stdout.startswith(f"The bundle in {rules} has errors; fix them first (decisiond rules check {rules}):\n"
                                  f"{rules}/fraud.yaml:9:75: rule FRD-001: the character '\\u2265'")


def test_rules_explain_on_an_ascii_terminal_prints_the_problem_not_a_traceback(
    bundle_with_a_typed_greater_or_equal: Path, tmp_path: Path
) -> None:
    rules = bundle_with_a_typed_greater_or_equal
    case = tmp_path / "case.yaml"
    case.write_text("call: GrantLimit\n")
    done = decisiond("rules", "explain", str(rules), "--input", str(case), encoding="ascii")
    assert done.returncode == 1
    assert done.stderr == ""
    assert f"{rules}/fraud.yaml:9:75: rule FRD-001: the character '\\u2265'" in done.stdout


def test_an_input_problem_naming_a_character_the_terminal_lacks_is_printed_escaped(tmp_path: Path) -> None:
    case = tmp_path / "case.yaml"
    case.write_text("call: FlagTransaction\ntransaction: {type: \u9910}\n", encoding="utf-8")
    done = decisiond("rules", "explain", str(RULES), "--input", str(case), encoding="ascii")
    assert done.returncode == 1
    assert done.stderr == ""
    assert done.stdout.startswith(f"{case}:2: cannot explain this input: transaction.type: '\\u9910' is not an "
                                  "account event type (fix: use one of LOGIN, ")
