"""A new SQLite ledger is readable by its owner alone: it holds every decision and the pseudonym secret, with which
ids of few possible values (phone numbers) can be recovered from their hashes."""

from __future__ import annotations

import os
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest

from service.storage import open_store
from tests.storage.records import a_line


@pytest.fixture
def usual_umask() -> Iterator[None]:
    before = os.umask(0o022)  # what most shells set: new files readable by everyone
    yield
    os.umask(before)


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


@pytest.mark.usefixtures("usual_umask")
def test_a_new_ledger_its_folder_and_the_files_beside_it_are_the_owners_alone(tmp_path: Path) -> None:
    ledger = tmp_path / "var" / "decisions.db"
    store = open_store(f"sqlite:///{ledger}")
    try:
        with store.unit_of_work() as uow:
            uow.save_credit_line(a_line())
        beside = sorted(p.name for p in ledger.parent.iterdir())
        assert beside == ["decisions.db", "decisions.db-locks", "decisions.db-shm", "decisions.db-wal"]
        assert {name: mode(ledger.parent / name) for name in beside} == dict.fromkeys(beside, 0o600)
        assert mode(ledger.parent) == 0o700
    finally:
        store.close()


@pytest.mark.usefixtures("usual_umask")
def test_an_existing_folder_keeps_the_mode_its_owner_gave_it(tmp_path: Path) -> None:
    shared = tmp_path / "shared"
    shared.mkdir(mode=0o750)
    store = open_store(f"sqlite:///{shared / 'decisions.db'}")
    store.close()
    assert mode(shared) == 0o750
    assert mode(shared / "decisions.db") == 0o600
