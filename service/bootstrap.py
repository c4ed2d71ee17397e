"""The one wiring point: chooses implementations and builds the app and its server in one process."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import structlog

from service.api.database_health import EmbeddedLedgerCheck, empty_transaction
from service.api.runners import BatchingLoopRunner, CallRunner, GreenletRunner
from service.api.server import RunningServer, create_server
from service.app.clock import SystemClock
from service.app.ports import Store
from service.app.rule_versions import ledger_vouch
from service.app.rules_holder import RulesHolder, rules_status
from service.app.usecases import DecisionApp
from service.config import Settings
from service.domain.errors import NoRuleBundle
from service.engine.errors import BundleInvalid
from service.storage import open_store

log = structlog.get_logger("decisiond")


@dataclass
class Service:
    """A running service and what it owns."""

    settings: Settings
    store: Store
    rules: RulesHolder
    server: RunningServer

    @property
    def port(self) -> int:
        return self.server.port

    def stop(self, *, retiring: bool = False) -> None:
        """Drain and stop (see RunningServer.stop; `retiring`: replaced by workers on a newer bundle)."""
        self.server.stop(self.settings.drain_seconds, self.settings.lame_duck_seconds, retiring=retiring)
        self.store.close()


def start_service(
    settings: Settings,
    *,
    status_file: Path | None = None,
    reuse_port: bool = False,
    load_rules: bool = True,
    raise_if_refused: bool = False,
    existing_ledger: bool = False,
) -> Service:
    """Open the store, load the rules once and start serving in this process. A bundle that is invalid, or whose
    version the ledger records for other rules (rule_versions.py), does not stop the server: decisions answer
    UNAVAILABLE, ledger reads keep working; with `raise_if_refused` (a worker, whose supervisor checked the bundle
    and handles a refusal) BundleInvalid is raised instead. `existing_ledger`: make no new SQLite ledger file (a worker
    started after the others, whose ledger file must be there)."""
    store = open_store(settings.database_url, existing=existing_ledger)
    clock = SystemClock()
    rules = RulesHolder(settings.rules_dir, vouch=ledger_vouch(store, clock))
    try:
        if load_rules:
            rules.reload()
    except BundleInvalid as problems:
        if raise_if_refused:
            store.close()
            raise
        log.error("rules.rejected", directory=str(settings.rules_dir), problems=[p.format() for p in problems.problems])
    except BaseException:
        store.close()
        raise
    app = DecisionApp(store, rules, clock)
    # Calls on a database over the network overlap their round trips on the loop; the embedded one's run in batches.
    runner: CallRunner = (
        GreenletRunner() if store.waits_on_network else BatchingLoopRunner(settings.batch_wait_seconds)
    )
    server = create_server(
        app,
        lambda: rules_status(rules, status_file),
        settings.host,
        settings.port,
        runner=runner,
        reuse_port=reuse_port,
        connection_age=settings.connection_age_seconds if reuse_port else None,
        check_database=database_check(store),
        tls=settings.tls,
    )
    return Service(settings, store, rules, server)


def database_check(store: Store) -> Callable[[], None] | None:
    """What health follows of the database (see api/database_health.py): a database over the network answering, an
    embedded ledger's file still the one opened; nothing for an in-memory database."""
    from service.storage.sqlite import SqliteStore

    if store.waits_on_network:
        return empty_transaction(store)
    if isinstance(store, SqliteStore) and not store.in_memory:  # the check is the SQLite store's own
        return EmbeddedLedgerCheck(store.check_ledger)
    return None


def describe_rules(rules: RulesHolder) -> tuple[str, str]:
    """(version, digest) of the serving bundle, or ("", "") when none is valid."""
    try:
        bundle = rules.current()
    except NoRuleBundle:
        return "", ""
    return bundle.version, bundle.digest
