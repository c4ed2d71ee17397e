"""Fixtures of the lifecycle tests: a rule directory of their own to edit while a server watches it."""

from __future__ import annotations

import shutil
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from service.config import Settings
from service.supervisor import Supervisor
from tests.support.server_process import ROOT


@pytest.fixture
def rules(tmp_path: Path) -> Path:
    """A copy of the starter bundle, with its test cases."""
    copy = tmp_path / "rules"
    shutil.copytree(ROOT / "rules", copy)
    return copy


@pytest.fixture
def supervisor(rules: Path, tmp_path: Path) -> Iterator[Supervisor]:
    """A supervisor on a copy of the rules, not started: its methods are driven by the test."""
    settings = Settings(host="127.0.0.1", port=0, rules_dir=rules, database_url=f"sqlite:///{tmp_path / 'ledger.db'}")
    made = Supervisor(settings)
    yield made
    shutil.rmtree(made.state_dir, ignore_errors=True)


def fake_validator(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, script: str) -> None:
    """Make the supervisor run `script` (sh) in place of the Python that validates the bundle."""
    program = tmp_path / "validator"
    program.write_text("#!/bin/sh\n" + script)
    program.chmod(0o755)
    monkeypatch.setattr(sys, "executable", str(program))
