"""A SQLite ledger that no wait can make usable ends `decisiond serve` at once, exit status 2, in one line: a server
that retried its workers for ever would never tell systemd or Kubernetes that it cannot start. A lock that passes
is still waited for, as a database server that does not answer yet is (tests/lifecycle/test_database_at_start.py)."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from service.storage.factory import lasting_problem
from tests.lifecycle.test_listen_address import serve, temporary  # noqa: F401 - the fixture

pytestmark = pytest.mark.slow


def test_a_file_that_is_not_a_database_ends_serve_at_once_naming_it(tmp_path: Path, temporary: Path) -> None:  # noqa: F811
    ledger = tmp_path / "ledger.db"
    ledger.write_bytes(bytes(range(256)) * 16)  # a file copied over the ledger by mistake
    refused = serve("127.0.0.1:0", f"sqlite:///{ledger}", temporary)
    assert (refused.returncode, refused.stdout) == (2, "")
    assert refused.stderr == f"decisiond: the ledger sqlite:///{ledger} cannot be used: file is not a database\n"
    assert list(temporary.iterdir()) == []


def test_a_ledger_another_process_holds_locked_is_waited_for_not_refused(tmp_path: Path) -> None:
    ledger = tmp_path / "ledger.db"
    assert lasting_problem(f"sqlite:///{ledger}") is None  # made, and migrated
    holder = sqlite3.connect(ledger, isolation_level=None)
    try:
        holder.execute("BEGIN EXCLUSIVE")
        assert lasting_problem(f"sqlite:///{ledger}") is None
    finally:
        holder.close()
    assert lasting_problem("postgresql://nobody@127.0.0.1:1/none") is None  # a database server is waited for
