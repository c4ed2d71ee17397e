"""`decisiond rules check DIR`: print every problem of a bundle and a summary; exit status 1 on errors."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import TextIO

from service.engine.bundle import check_bundle
from service.engine.errors import BundleInvalid
from service.engine.problems import RuleProblem


def run_check(directory: Path, out: TextIO,
              extra_checks: Callable[[Path], list[RuleProblem]] | None = None) -> int:
    """Print all problems (errors first, then warnings) and a summary line. Returns 1 when the bundle has
    errors, else 0. Never lets a traceback out: an unexpected failure is reported as a problem.

    `extra_checks` adds problems found elsewhere, e.g. W003 (a rule no test case fires) from the rule-test
    runner; it is only called for a bundle without errors."""
    try:
        problems = check_bundle(directory)
        if extra_checks is not None and not any(p.is_error for p in problems):
            try:
                problems += extra_checks(directory)
            except BundleInvalid as invalid:  # loading it into the engine found what checking alone cannot
                problems += [p for p in invalid.problems if p not in problems]
    except Exception as err:  # check_bundle already catches everything; this is the last line of defence
        out.write(f"{directory}: the checker failed unexpectedly ({type(err).__name__}: {err}) [R999]\n")
        out.write(f"{directory}: 1 error\n")
        return 1
    errors = [p for p in problems if p.is_error]
    warnings = [p for p in problems if not p.is_error]
    for line in _shown(errors + warnings):
        out.write(line + "\n")
    out.write(summary(directory, errors, warnings) + "\n")
    return 1 if errors else 0


SAME_PROBLEM_SHOWN = 3  # occurrences of one problem in one rule printed in full; the others are counted


def _shown(problems: list[RuleProblem]) -> list[str]:
    """Each problem formatted, except that one problem met again and again in a rule (a misspelt field a long
    condition repeats) is printed SAME_PROBLEM_SHOWN times, then counted: six such rules printed 6 MB."""
    def same(p: RuleProblem) -> tuple[str, str, str | None, str]:
        return p.code, p.file, p.rule_id, p.message

    total = Counter(same(p) for p in problems)
    seen: Counter[tuple[str, str, str | None, str]] = Counter()
    lines = []
    for p in problems:
        key = same(p)
        seen[key] += 1
        if seen[key] <= SAME_PROBLEM_SHOWN:
            lines.append(p.format())
        if seen[key] == SAME_PROBLEM_SHOWN and total[key] > SAME_PROBLEM_SHOWN:
            where = f"rule {p.rule_id}" if p.rule_id else "this file"
            lines.append(f"{p.file}: {where}: the same problem in {total[key] - SAME_PROBLEM_SHOWN} more places"
                         f" [{p.code}]")
    return lines


def summary(directory: Path, errors: list[RuleProblem], warnings: list[RuleProblem]) -> str:
    """`rules: 2 errors, 1 warning` or `rules: OK, no problems`."""
    def plural(n: int, word: str) -> str:
        return f"{n} {word}{'' if n == 1 else 's'}"

    if not errors and not warnings:
        return f"{directory}: OK, no problems"
    status = "" if errors else "OK, "
    return f"{directory}: {status}{plural(len(errors), 'error')}, {plural(len(warnings), 'warning')}"
