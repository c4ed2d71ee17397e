"""Fixtures for the engine tests: a private copy of the real bundle to break, and a subprocess runner for
anything that could crash the native engine (a crash must fail one test, not kill the whole run)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from service.engine.bundle import RuleBundle, load_bundle

ROOT = Path(__file__).resolve().parents[2]
RULES = ROOT / "rules"


class BundleCopy:
    """`rules/` copied into a temporary directory that is also the working directory, so that problems
    name files exactly as a user typing `rules/` would see them (`rules/fraud.yaml:14:9`)."""

    def __init__(self, base: Path) -> None:
        self.dir = Path("rules")
        self.base = base
        shutil.copytree(RULES, base / "rules", ignore=shutil.ignore_patterns("tests", "__pycache__"))

    def path(self, name: str) -> Path:
        return self.base / "rules" / name

    def read(self, name: str) -> str:
        return self.path(name).read_text(encoding="utf-8")

    def write(self, name: str, text: str) -> None:
        self.path(name).parent.mkdir(parents=True, exist_ok=True)
        self.path(name).write_text(text, encoding="utf-8")

    def replace(self, name: str, old: str, new: str) -> None:
        """Edit one file; the text to replace must occur exactly once (so the test keeps meaning something)."""
        text = self.read(name)
        assert text.count(old) == 1, f"{old!r} occurs {text.count(old)} times in {name}"
        self.write(name, text.replace(old, new))

    def line_of(self, name: str, needle: str) -> int:
        """1-based line of the first line containing needle."""
        for number, line in enumerate(self.read(name).splitlines(), start=1):
            if needle in line:
                return number
        raise AssertionError(f"{needle!r} not in {name}")

    def col_of(self, name: str, needle: str) -> int:
        """1-based column of needle on its line."""
        for line in self.read(name).splitlines():
            if needle in line:
                return line.index(needle) + 1
        raise AssertionError(f"{needle!r} not in {name}")


@pytest.fixture
def bundle_copy(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> BundleCopy:
    monkeypatch.chdir(tmp_path)
    return BundleCopy(tmp_path)


@pytest.fixture(scope="module")
def starter() -> Iterator[RuleBundle]:
    bundle = load_bundle(RULES)
    yield bundle
    bundle.close()


def run_isolated(code: str, timeout: float = 30.0) -> subprocess.CompletedProcess[str]:
    """Run Python code in a fresh interpreter with the project importable. A crash or a hang shows up as
    a return code or a timeout in the calling test."""
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=timeout,
                          env=env, cwd=ROOT, check=False)


_EVALUATE_ELIGIBILITY = """
import json
from pathlib import Path
from service.engine.bundle import load_bundle
from service.engine.catalogue import RuleSetKind
from tests.engine import facts as F
bundle = load_bundle(Path({directory!r}))
out = []
for changes in {cases!r}:
    facts = F.eligible(**changes)
    got = [f.rule_id for f in bundle.evaluate(RuleSetKind.ELIGIBILITY, facts)]
    assert got == [f.rule_id for f in bundle.evaluate_reference(RuleSetKind.ELIGIBILITY, facts)], changes
    out.append(got)
bundle.close()
print(json.dumps(out))
"""


def eligibility_fired_isolated(bundle_copy: BundleCopy, cases: list[dict[str, object]],
                               timeout: float = 60.0) -> list[list[str]]:
    """The eligibility rules the copy's engine fires for each case (changes to an eligible applicant's facts), in a
    fresh interpreter, each checked against the reference evaluator; a crash or hang fails the calling test."""
    code = _EVALUATE_ELIGIBILITY.format(directory=str(bundle_copy.base / "rules"), cases=cases)
    done = run_isolated(code, timeout=timeout)
    assert done.returncode == 0, f"engine process died ({done.returncode}): {done.stderr[-2000:]}"
    fired: list[list[str]] = json.loads(done.stdout)
    return fired
