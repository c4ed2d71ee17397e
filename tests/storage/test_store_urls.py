"""open_store: which URLs name which database, and what the embedded SQLite database is set up with."""

from __future__ import annotations

import sqlite3
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from service.domain.errors import StoreUnavailable
from service.storage import open_store
from service.storage.ledger import SqlUnitOfWork
from tests.storage.records import USER, a_drawdown, a_line


def test_a_relative_sqlite_path_is_relative_to_the_working_directory_and_its_folders_are_created(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)

    open_store("sqlite:///./var/nested/decisions.db").close()

    assert (tmp_path / "var" / "nested" / "decisions.db").is_file()


def test_an_absolute_sqlite_path_takes_four_slashes(tmp_path: Path) -> None:
    path = tmp_path / "absolute" / "ledger.db"

    open_store(f"sqlite:///{path}").close()  # tmp_path starts with "/", hence sqlite:////...

    assert path.is_file()


def test_a_sqlite_file_whose_folder_cannot_be_made_is_unavailable_saying_so(tmp_path: Path) -> None:
    """A server's worker printed a traceback of FileExistsError, naming neither the file nor what was wrong."""
    (tmp_path / "afile").write_text("not a folder")
    under_a_file = tmp_path / "afile" / "x.db"
    with pytest.raises(StoreUnavailable) as refused:
        open_store(f"sqlite:///{under_a_file}")
    assert str(refused.value) == f"the folder of {under_a_file} cannot be made (file exists)"


def test_an_in_memory_sqlite_store_is_one_database_shared_by_every_thread() -> None:
    store = open_store("sqlite:///:memory:")
    with store.unit_of_work() as uow:
        uow.save_credit_line(a_line(limit=10_000))

    def draw(_: int) -> bool:
        with store.unit_of_work() as uow:
            return uow.draw_down(a_drawdown(amount=1_000)) is not None

    with ThreadPoolExecutor(16) as pool:
        approved = sum(pool.map(draw, range(16)))

    assert approved == 10
    assert len(store.pseudonym_key()) == 32
    store.close()


def test_sqlite_runs_in_wal_mode_with_normal_sync_foreign_keys_and_a_busy_timeout(tmp_path: Path) -> None:
    store = open_store(f"sqlite:///{tmp_path / 'ledger.db'}?timeout=1.5")

    with store.unit_of_work() as uow:
        assert isinstance(uow, SqlUnitOfWork)
        settings = {
            pragma: uow.fetch_one(f"PRAGMA {pragma}", {})[0]  # type: ignore[index]
            for pragma in ("journal_mode", "synchronous", "foreign_keys", "busy_timeout")
        }
    store.close()

    assert settings == {"journal_mode": "wal", "synchronous": 1, "foreign_keys": 1, "busy_timeout": 1500}


def test_the_longest_timeout_an_hour_is_taken_whole_as_the_sqlite_busy_timeout(tmp_path: Path) -> None:
    """Past about 24.8 days, sqlite3 wraps the busy timeout's milliseconds to 0: a lock would not be waited for."""
    store = open_store(f"sqlite:///{tmp_path / 'ledger.db'}?timeout=3600")

    with store.unit_of_work() as uow:
        assert isinstance(uow, SqlUnitOfWork)
        busy_timeout = uow.fetch_one("PRAGMA busy_timeout", {})[0]  # type: ignore[index]
    store.close()

    assert busy_timeout == 3_600_000


def test_a_repayment_of_a_drawdown_that_does_not_exist_is_rejected_by_the_foreign_key(tmp_path: Path) -> None:
    store = open_store(f"sqlite:///{tmp_path / 'ledger.db'}")
    with pytest.raises(sqlite3.IntegrityError, match="FOREIGN KEY"), store.unit_of_work() as uow:
        assert isinstance(uow, SqlUnitOfWork)
        uow.execute(
            "INSERT INTO repayments (drawdown_id, user_key, amount, repaid_at) VALUES ('dd_none', %(u)s, 1, 0)",
            {"u": USER},
        )
    store.close()


def test_a_postgres_url_may_use_either_scheme_and_carry_store_options_beside_libpq_ones(postgres_url: str) -> None:
    url = postgres_url.replace("postgresql://", "postgres://", 1) + "&timeout=2&pool_size=3&connect_timeout=5"

    store = open_store(url)

    assert len(store.pseudonym_key()) == 32
    store.close()


def test_the_longest_timeout_an_hour_fits_every_postgres_setting_derived_from_it(postgres_url: str) -> None:
    """Twice a timeout of 1,100,000 s overflowed idle_in_transaction_session_timeout's int of milliseconds: every
    pooled connection then failed its settings, and `serve` hung without a word."""
    store = open_store(postgres_url + "&timeout=3600")

    with store.unit_of_work() as uow:
        assert isinstance(uow, SqlUnitOfWork)
        settings = dict(uow.fetch_all(
            "SELECT name, setting FROM pg_settings WHERE name IN"
            " ('statement_timeout', 'lock_timeout', 'idle_in_transaction_session_timeout')", {}
        ))
    store.close()

    assert settings == {
        "statement_timeout": "3600000", "lock_timeout": "2880000", "idle_in_transaction_session_timeout": "7200000"
    }


@pytest.mark.parametrize(
    ("url", "complaint"),
    [
        ("mysql://localhost/ledger", "unsupported database URL scheme 'mysql'"),
        ("/var/lib/decisions.db", "unsupported database URL scheme"),
        ("sqlite://host/ledger.db", "names a host"),
        ("sqlite:///", "names no file"),
        ("sqlite:///ledger.db?journal=off", "unknown SQLite URL option 'journal'"),
        ("sqlite:///ledger.db?timeout=soon", "timeout='soon' must be a number of seconds"),
        ("sqlite:///ledger.db?timeout=0", "timeout must be a positive number"),
        ("sqlite:///ledger.db?timeout=nan", "timeout must be a positive number"),
        ("sqlite:///ledger.db?timeout=3600.5", "positive number of seconds, at most 3600, got 3600.5"),
        ("postgresql://localhost/test?timeout=1100000", "at most 3600, got 1100000.0"),
        ("postgresql://localhost/test?pool_size=0", "pool_size must be from 1 to 1000"),
        ("postgresql://localhost/test?pool_size=many", "pool_size='many' must be a whole number"),
        ("postgresql://localhost/test?sslmode=sometimes&x=1", "malformed PostgreSQL URL"),
    ],
)
def test_a_malformed_database_url_is_refused_with_a_clear_message(url: str, complaint: str) -> None:
    with pytest.raises(ValueError, match=complaint.replace("?", r"\?")):
        open_store(url)
