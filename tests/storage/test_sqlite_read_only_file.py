"""A SQLite ledger that can no longer be written (its file system remounted read-only under the server, say) makes a
call fail UNAVAILABLE with SQLite's reason, as a full disk does, not INTERNAL with a traceback."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from service.domain.errors import StoreUnavailable
from service.storage.sqlite import _UNAVAILABLE_ON_SQLITE_ERRORS


def test_a_write_the_file_refuses_as_read_only_is_store_unavailable(tmp_path: Path) -> None:
    path = tmp_path / "ledger.db"
    sqlite3.connect(path).close()
    read_only = sqlite3.connect(f"file:{path}?mode=ro", uri=True)  # refuses writes as a read-only mount does
    try:
        with pytest.raises(StoreUnavailable, match="attempt to write a readonly database"), \
                _UNAVAILABLE_ON_SQLITE_ERRORS:
            read_only.execute("CREATE TABLE decisions (id TEXT)")
    finally:
        read_only.close()
