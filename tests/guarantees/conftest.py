"""Real servers for the ledger guarantees: one on SQLite, two replicas on one PostgreSQL schema.

PostgreSQL is required, never skipped (tests/support/databases.py): the tests fail loudly when it is
unreachable. The two deployments are shared by the tests of this package, which each use users of their own; the tests
that kill a server or cut its database start servers of their own.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import pytest

from tests.guarantees.ledger import Ledger, read_ledger
from tests.guarantees.servers import Client, clients, running_servers, stop_all
from tests.support.databases import fresh_postgres_schema
from tests.support.server_process import ServerProcess


@dataclass(frozen=True)
class Deployment:
    """Servers on one database, and clients spread over them (consecutive clients reach different servers
    where there are several)."""

    dialect: str
    database_url: str
    servers: list[ServerProcess]
    clients: list[Client]

    def ledger(self) -> Ledger:
        return read_ledger(self.database_url)


@pytest.fixture(scope="package")
def sqlite_deployment(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Deployment]:
    """One server (two worker processes) on a SQLite file: the embedded default."""
    url = f"sqlite:///{tmp_path_factory.mktemp('ledger') / 'decisions.db'}"
    with running_servers(url, 1) as servers, clients(servers, per_server=4) as spread:
        yield Deployment("sqlite", url, servers, spread)
        assert stop_all(servers) == [0]


@pytest.fixture(scope="package")
def postgresql_deployment(postgres_admin_url: str) -> Iterator[Deployment]:
    """Two replicas, separate `decisiond serve` supervisors on two ports, on one PostgreSQL schema."""
    with (
        fresh_postgres_schema(postgres_admin_url) as url,
        running_servers(url, 2) as servers,
        clients(servers, per_server=2) as spread,
    ):
        yield Deployment("postgresql", url, servers, spread)
        assert stop_all(servers) == [0, 0]


@pytest.fixture(scope="package", params=["sqlite", "postgresql"])
def deployment(request: pytest.FixtureRequest) -> Deployment:
    running: Deployment = request.getfixturevalue(f"{request.param}_deployment")
    return running
