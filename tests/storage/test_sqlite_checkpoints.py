"""The SQLite store checkpoints its write-ahead log itself, and restarts it, so that the log stays small."""

from __future__ import annotations

import uuid
from pathlib import Path

from service.storage.sqlite import SqliteStore
from tests.storage.records import a_decision

MB = 1_000_000


def test_the_write_ahead_log_stays_small_over_thousands_of_commits(tmp_path: Path) -> None:
    path = tmp_path / "ledger.db"
    store = SqliteStore(str(path), timeout=3)
    for _ in range(6_000):
        with store.unit_of_work() as uow:
            uow.save_decision(a_decision(uuid.uuid4().hex))
    # never restarted, the log would hold every page written since the start: about 100 MB here
    assert (tmp_path / "ledger.db-wal").stat().st_size < 50 * MB
    assert len(store.list_decisions(limit=10_000)) == 6_000
    store.close()
