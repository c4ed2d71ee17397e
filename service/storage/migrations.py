"""Numbered schema migrations, shipped as package data in ``migrations/``.

A migration is ``NNNN_name.sql`` when one file serves both dialects, or ``NNNN_name.sqlite.sql`` plus
``NNNN_name.postgresql.sql`` when their SQL must differ. Each adapter applies the pending ones at open,
in version order, inside one transaction under its own lock, and records them in ``schema_migrations``
with a checksum so that a migration edited after it was applied is refused rather than silently skipped.
"""

from __future__ import annotations

import hashlib
import re
import sqlite3
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from importlib import resources
from typing import Literal

from service.domain.errors import DecisionServiceError

Dialect = Literal["sqlite", "postgresql"]

_FILE_NAME = re.compile(r"^(?P<version>\d{4})_(?P<name>[a-z0-9_]+)(?:\.(?P<dialect>sqlite|postgresql))?\.sql$")


class MigrationError(DecisionServiceError):
    """The migrations on disk and those recorded in the database disagree; the store refuses to open."""

    def __init__(self, problem: str, version: int | None = None) -> None:
        super().__init__(problem if version is None else f"migration {version:04d}: {problem}")
        self.problem = problem
        self.version = version


@dataclass(frozen=True)
class Migration:
    version: int
    name: str
    sql: str

    @property
    def checksum(self) -> str:
        """sha256 of the SQL text, recorded when applied."""
        return hashlib.sha256(self.sql.encode()).hexdigest()


def load_migrations(dialect: Dialect) -> list[Migration]:
    """The migrations for one dialect, in version order."""
    chosen: dict[int, tuple[bool, Migration]] = {}  # version -> (dialect-specific?, migration)
    for file_name, sql in _migration_files():
        match = _FILE_NAME.match(file_name)
        if match is None:
            continue
        file_dialect = match["dialect"]
        if file_dialect not in (None, dialect):
            continue
        version = int(match["version"])
        specific = file_dialect is not None
        migration = Migration(version, match["name"], sql)
        if version in chosen and chosen[version][0] == specific:
            raise MigrationError(f"two files claim this version for {dialect}", version)
        if version not in chosen or specific:
            chosen[version] = (specific, migration)
    return [migration for _, (_, migration) in sorted(chosen.items())]


def pending_migrations(available: list[Migration], applied: Mapping[int, str]) -> list[Migration]:
    """The migrations still to apply, given the applied versions and their checksums.

    Versions recorded in the database but unknown here are allowed (a newer replica migrated first
    during a rolling upgrade); an applied migration whose text changed, or a gap below the newest applied
    version, is an error.
    """
    newest_applied = max(applied, default=0)
    pending = []
    for migration in available:
        recorded = applied.get(migration.version)
        if recorded is None:
            if migration.version < newest_applied:
                raise MigrationError(f"not applied, but {newest_applied:04d} is", migration.version)
            pending.append(migration)
        elif recorded != migration.checksum:
            raise MigrationError(
                f"{migration.name} changed after it was applied; add a new migration instead", migration.version
            )
    return pending


def require_current(available: list[Migration], applied: Mapping[int, str]) -> None:
    """For a reader that must not change the database (the auditor's commands): refuse one that holds no ledger, or
    one whose schema is older than this code's, instead of creating or migrating it."""
    if not applied:
        raise MigrationError("this database holds no decisiond ledger: give the --database of the server")
    pending = pending_migrations(available, applied)
    if pending:
        raise MigrationError(
            f"the ledger's schema is older than this decisiond's ({len(available) - len(pending)} of {len(available)}"
            " migrations applied): start the server on it once to bring it up to date, then read it"
        )


def sqlite_statements(migration: Migration) -> Iterator[str]:
    """Split a SQLite migration into statements (trigger bodies included), one per ``execute`` call.

    ``executescript`` would commit the surrounding transaction, which must stay open to hold the lock.
    A statement must end its line.
    """
    statement = ""
    for line in migration.sql.splitlines(keepends=True):
        statement += line
        if sqlite3.complete_statement(statement):
            yield statement.strip()
            statement = ""
    leftover = [line for line in statement.splitlines() if line.strip() and not line.strip().startswith("--")]
    if leftover:
        raise MigrationError(f"unterminated statement: {leftover[0].strip()[:60]!r}", migration.version)


def _migration_files() -> Iterator[tuple[str, str]]:
    folder = resources.files("service.storage").joinpath("migrations")
    for entry in folder.iterdir():
        if entry.is_file() and entry.name.endswith(".sql"):
            yield entry.name, entry.read_text(encoding="utf-8")
