"""A SQLite ledger file deleted, or replaced by another ledger (moved over it, as a restore does), under a running
store: its calls fail UNAVAILABLE and write nothing, as on PostgreSQL, until the file it opened is back at the path.
Before, every call was answered from the unlinked file, and lost with it at the next start."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import structlog
from structlog.testing import capture_logs

from service.domain.errors import StoreUnavailable
from service.storage import open_store, sqlite
from service.storage.sqlite import SqliteStore
from tests.storage.records import a_decision
from tests.storage.test_sqlite_group import in_one_batch, saving, stored_request_ids


@pytest.fixture
def ledger(tmp_path: Path) -> Path:
    return tmp_path / "ledger.db"


@pytest.fixture
def store(ledger: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[SqliteStore]:
    monkeypatch.setattr(sqlite, "log", structlog.get_logger())  # a logger capture_logs sees (see test_status.py)
    opened = open_store(f"sqlite:///{ledger}", timeout=1)
    assert isinstance(opened, SqliteStore)
    yield opened
    opened.close()


def save(store: SqliteStore, request_id: str) -> None:
    with store.unit_of_work() as uow:
        uow.save_decision(a_decision(request_id))


def move_ledger(source: Path, target: Path) -> None:
    """The ledger file moved, with its log and shared-memory files (an open store goes on using them)."""
    for suffix in ("", "-wal", "-shm"):
        Path(f"{source}{suffix}").rename(f"{target}{suffix}")


def another_ledger(path: Path) -> Path:
    open_store(f"sqlite:///{path}").close()
    return path


def test_a_deleted_ledger_fails_calls_unavailable_makes_no_new_file_and_serves_again_once_it_is_back(
    store: SqliteStore, ledger: Path, tmp_path: Path
) -> None:
    save(store, "before")
    aside = tmp_path / "aside.db"
    with capture_logs() as logs:
        move_ledger(ledger, aside)
        for attempt in ("gone-1", "gone-2"):
            with pytest.raises(StoreUnavailable, match="the ledger file is gone"):
                save(store, attempt)
        with pytest.raises(StoreUnavailable):
            store.check_ledger()
        assert not ledger.exists()  # no empty ledger begun in its place
        move_ledger(aside, ledger)
        save(store, "after")
    assert [(line["event"], line.get("reason", "").split(" (")[0]) for line in logs] == [
        ("store.ledger_replaced", "the ledger file is gone"),  # once, not at every call
        ("store.ledger_found_again", ""),
    ]
    store.close()
    assert stored_request_ids(ledger) == {"before", "after"}


def test_a_ledger_replaced_by_another_fails_calls_unavailable_and_writes_nothing_to_either(
    store: SqliteStore, ledger: Path, tmp_path: Path
) -> None:
    save(store, "before")
    move_ledger(ledger, tmp_path / "aside.db")
    another_ledger(tmp_path / "restored.db").rename(ledger)  # a restore: another ledger in its place
    with pytest.raises(StoreUnavailable, match="another file than the one this server opened"):
        save(store, "after the restore")
    with pytest.raises(StoreUnavailable):
        store.list_decisions(limit=10)
    store.close()
    assert stored_request_ids(ledger) == set()
    assert stored_request_ids(tmp_path / "aside.db") == {"before"}


def test_a_batch_whose_ledger_is_replaced_before_its_group_commit_writes_nothing(
    store: SqliteStore, ledger: Path, tmp_path: Path
) -> None:
    """The calls of a batch on the serving loop commit together after the batch has run (sqlite_group.py): the file
    is checked again then, so a call that began on the ledger does not commit to it once it is replaced."""
    save(store, "before")
    aside = tmp_path / "aside.db"
    replaced = another_ledger(tmp_path / "restored.db")

    def replace_the_ledger() -> None:
        move_ledger(ledger, aside)
        replaced.rename(ledger)

    first, _, second = in_one_batch([saving(store, "parked"), replace_the_ledger, saving(store, "later")])
    assert isinstance(first, StoreUnavailable) and isinstance(second, StoreUnavailable)
    store.close()
    assert stored_request_ids(aside) == {"before"}
    assert stored_request_ids(ledger) == set()


def test_a_store_told_to_open_an_existing_ledger_makes_none_where_it_is_missing(ledger: Path) -> None:
    with pytest.raises(StoreUnavailable, match="does not exist"):
        open_store(f"sqlite:///{ledger}", existing=True)
    assert not ledger.exists()


def test_an_existing_ledger_opens_as_usual_when_told_it_must_exist(store: SqliteStore, ledger: Path) -> None:
    save(store, "kept")
    again = open_store(f"sqlite:///{ledger}", existing=True)
    try:
        assert again.pseudonym_key() == store.pseudonym_key()
    finally:
        again.close()


def test_a_read_only_store_never_makes_the_file_it_is_asked_to_read(ledger: Path) -> None:
    with pytest.raises(StoreUnavailable):
        open_store(f"sqlite:///{ledger}", read_only=True)
    assert not ledger.exists()


def test_an_in_memory_store_has_no_file_to_check_and_serves_as_before() -> None:
    memory = open_store("sqlite:///:memory:")
    try:
        memory.check_ledger()  # type: ignore[attr-defined]  # nothing to look at
        with memory.unit_of_work() as uow:
            uow.save_decision(a_decision("in memory"))
    finally:
        memory.close()


def test_a_ledger_named_by_a_relative_path_is_still_found_after_its_working_directory_is_renamed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A relative path follows the working directory, renamed or not: the store's later connections (a batch's, the
    checkpoints') opened a path made absolute at the start, gone after `mv wd wd2`, and checkpoints stopped."""
    (tmp_path / "wd" / "data").mkdir(parents=True)
    monkeypatch.chdir(tmp_path / "wd")
    opened = open_store("sqlite:///data/l.db", timeout=1)
    assert isinstance(opened, SqliteStore)
    try:
        save(opened, "before")
        (tmp_path / "wd").rename(tmp_path / "wd2")  # the process's working directory moves with it
        connection = opened._connect()  # as a batch or the checkpoint thread opens one
        try:
            assert connection.execute("SELECT count(*) FROM decisions").fetchone() == (1,)
        finally:
            connection.close()
        save(opened, "after")
    finally:
        opened.close()
    assert stored_request_ids(tmp_path / "wd2" / "data" / "l.db") == {"before", "after"}
