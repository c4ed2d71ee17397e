"""The supervisor's watch on the rule directory: no edit is ever taken for what is already serving."""

from __future__ import annotations

import shutil
import signal
import threading
from pathlib import Path

import pytest

from service import supervisor as supervisor_module
from service.config import load_settings
from service.supervisor import Supervisor
from tests.support.server_process import ROOT


def test_an_edit_saved_while_the_first_bundle_is_checked_is_picked_up(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    rules = tmp_path / "rules"
    shutil.copytree(ROOT / "rules", rules)
    supervisor = Supervisor(
        load_settings(listen="127.0.0.1:0", rules=str(rules), database=f"sqlite:///{tmp_path / 'ledger.db'}")
    )
    activations: list[bool] = []

    def activate_or_reject(*, first: bool) -> None:
        activations.append(first)
        if first:  # the officer saves an edit after the snapshot was taken, while it is being checked
            bundle = rules / "bundle.yaml"
            bundle.write_text(bundle.read_text() + "\n# edited\n")
        else:
            supervisor._stop.set()

    monkeypatch.setattr(signal, "signal", lambda *_: None)  # leave the test runner's handlers alone
    monkeypatch.setattr(supervisor, "_activate_or_reject", activate_or_reject)
    monkeypatch.setattr(supervisor, "_announce", lambda: None)
    monkeypatch.setattr(supervisor, "_replace_dead_workers", lambda: None)
    give_up = threading.Timer(10 * supervisor_module.WATCH_INTERVAL, supervisor._stop.set)
    give_up.start()
    try:
        supervisor.run()
    finally:
        give_up.cancel()
    assert activations == [True, False]
