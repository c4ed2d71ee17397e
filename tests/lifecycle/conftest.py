"""Fixtures of the lifecycle tests: a rule directory of their own to edit while a server watches it."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from tests.support.server_process import ROOT


@pytest.fixture
def rules(tmp_path: Path) -> Path:
    """A copy of the starter bundle, with its test cases."""
    copy = tmp_path / "rules"
    shutil.copytree(ROOT / "rules", copy)
    return copy
