"""Fixtures of the lifecycle tests: a rule directory of their own to edit while a server watches it."""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

import pytest

from tests.support.server_process import ROOT


@pytest.fixture
def rules(tmp_path: Path) -> Path:
    """A copy of the starter bundle, with its test cases."""
    copy = tmp_path / "rules"
    shutil.copytree(ROOT / "rules", copy)
    return copy


def fake_validator(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, script: str) -> None:
    """Make the supervisor run `script` (sh) in place of the Python that validates the bundle."""
    program = tmp_path / "validator"
    program.write_text("#!/bin/sh\n" + script)
    program.chmod(0o755)
    monkeypatch.setattr(sys, "executable", str(program))
