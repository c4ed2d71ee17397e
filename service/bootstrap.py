"""The one wiring point: chooses implementations, builds the app, runs the server until SIGTERM."""

from __future__ import annotations

import logging
import signal
import sys
import threading
from dataclasses import dataclass
from types import FrameType
from typing import TextIO

import structlog

from service.api.server import RunningServer, create_server
from service.app.clock import SystemClock
from service.app.ports import Store
from service.app.rules_holder import RulesHolder
from service.app.usecases import DecisionApp
from service.config import Settings
from service.domain.errors import NoRuleBundle
from service.engine.bundle import BundleInvalid
from service.storage import open_store

log = structlog.get_logger("decisiond")


def configure_logging(level: str = "info", stream: TextIO = sys.stderr) -> None:
    """One JSON object per line on stderr; no personal data is ever passed to a logger."""
    structlog.configure(
        processors=[
            structlog.contextvars.merge_contextvars,
            structlog.processors.add_log_level,
            structlog.processors.TimeStamper(fmt="iso", utc=True),
            structlog.processors.format_exc_info,
            structlog.processors.JSONRenderer(),
        ],
        wrapper_class=structlog.make_filtering_bound_logger(logging.getLevelNamesMapping()[level.upper()]),
        logger_factory=structlog.PrintLoggerFactory(stream),
        cache_logger_on_first_use=True,
    )


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

    def stop(self) -> None:
        self.server.stop(self.settings.drain_seconds)
        self.store.close()


def start_service(settings: Settings) -> Service:
    """Open the store, load the rules and start serving. An invalid bundle does not stop the server: decisions
    answer UNAVAILABLE until a valid bundle is loaded (SIGHUP), ledger reads keep working."""
    store = open_store(settings.database_url)
    rules = RulesHolder(settings.rules_dir)
    try:
        rules.reload()
    except BundleInvalid as problems:
        log.error("rules.rejected", directory=str(settings.rules_dir), problems=[p.format() for p in problems.problems])
    app = DecisionApp(store, rules, SystemClock())
    server = create_server(app, settings.host, settings.port, settings.max_workers)
    return Service(settings, store, rules, server)


def describe_rules(rules: RulesHolder) -> str:
    try:
        bundle = rules.current()
    except NoRuleBundle:
        return f"NO valid rule bundle from {rules.directory} (decisions answer UNAVAILABLE)"
    return f"rule bundle {bundle.version} (sha256 {bundle.digest[:12]}) from {rules.directory}"


def serve(settings: Settings) -> int:
    """Run until SIGTERM or SIGINT, then drain calls in flight and exit 0. SIGHUP reloads the rules."""
    configure_logging(settings.log_level)
    stop = threading.Event()
    service = start_service(settings)

    def on_stop(signum: int, _frame: FrameType | None) -> None:
        log.info("shutdown.requested", signal=signal.Signals(signum).name)
        stop.set()

    def on_reload(_signum: int, _frame: FrameType | None) -> None:
        threading.Thread(target=_reload, args=(service.rules,), daemon=True).start()

    signal.signal(signal.SIGTERM, on_stop)
    signal.signal(signal.SIGINT, on_stop)
    signal.signal(signal.SIGHUP, on_reload)
    print(
        f"decisiond listening on {settings.host}:{service.port} with {describe_rules(service.rules)},"
        f" database {settings.database_url}",
        flush=True,
    )
    stop.wait()
    service.stop()
    log.info("shutdown.complete")
    return 0


def _reload(rules: RulesHolder) -> None:
    try:
        bundle = rules.reload()
    except BundleInvalid as problems:
        log.error("rules.rejected", directory=str(rules.directory), problems=[p.format() for p in problems.problems])
    else:
        log.info("rules.activated", version=bundle.version, digest=bundle.digest)
