"""Run one of the harness's own processes (load generator, ledger loop, rule evaluation) and read its JSON."""

from __future__ import annotations

import json
import subprocess
import sys
from typing import Any

from bench.servers import ROOT


class StepFailed(RuntimeError):
    """A measuring process failed or printed no result."""


def run_json(module: str, arguments: list[str], timeout_s: float) -> dict[str, Any]:
    """`python -m module arguments...` from the repository root; its last stdout line, parsed as JSON."""
    command = [sys.executable, "-m", module, *arguments]
    try:
        done = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=timeout_s, check=False)
    except subprocess.TimeoutExpired as expired:
        raise StepFailed(f"{module} took more than {timeout_s:.0f} s: {' '.join(arguments)}") from expired
    lines = done.stdout.strip().splitlines()
    if done.returncode != 0 or not lines:
        raise StepFailed(f"{module} failed (exit {done.returncode}): {done.stderr.strip()[-1500:]}")
    result: dict[str, Any] = json.loads(lines[-1])
    return result
