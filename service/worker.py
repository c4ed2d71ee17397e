"""One serving process, started by the supervisor: loads one rule bundle, serves until told to stop, drains.

SIGTERM: the server shuts down, so it reports NOT_SERVING first. SIGUSR1: workers on a newer bundle serve on the
port, so it goes on reporting SERVING while its connections move over to them.

Prints `READY <version> <digest> <ledger>` on stdout once it accepts calls (`ledger`: which ledger it opened, see
ledger_identity), `FAILED <why>` when it cannot start (the
database does not answer, say), or `REFUSED <problems as a JSON list>` when its bundle cannot be served (the ledger
names other rules by its version, app/rule_versions.py, or its checked copy is gone); the supervisor waits for one of
these lines. The database URL comes in the
environment (DECISIOND_DATABASE, read by config.load_settings), never on the command line, where `ps` would show
its password to every user of the machine.
"""

from __future__ import annotations

import argparse
import ctypes
import gc
import hashlib
import json
import resource
import signal
import sys
import threading
from collections.abc import Sequence
from pathlib import Path

import structlog

from service.affinity import keep_to
from service.app.ports import Store
from service.bootstrap import describe_rules, start_service
from service.config import SettingsError, load_settings, redact_password
from service.domain.errors import StoreUnavailable
from service.engine.errors import BundleInvalid
from service.logs import configure_logging
from service.spread import join_spread
from service.storage.migrations import MigrationError

log = structlog.get_logger("decisiond.worker")

# glibc keeps the memory freed by gRPC's core (calls that ended, messages half received and dropped with their
# connection) for reuse instead of giving it back: a worker that once held 1 GB of them kept it for minutes. Every
# TRIM_EVERY_S, while the worker holds more than TRIM_ABOVE_BYTES over what it held when it started serving, it
# asks glibc to give back what is free (malloc_trim, on a thread of its own, without the GIL: measured 25 ms to give
# back 240 MB held in 60 KB pieces, 2 ms when there is nothing to give back; meanwhile the other threads' allocations
# may wait on it). A worker under a load that holds its memory trims every TRIM_EVERY_S, for a few milliseconds.
TRIM_EVERY_S = 10.0
TRIM_ABOVE_BYTES = 64 * 1024 * 1024


def _die_with_the_supervisor() -> None:
    """Linux: receive SIGTERM when the supervisor dies, so that no orphan keeps serving the port."""
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        log.warning("worker.no_parent_death_signal")


def _resident_bytes() -> int:
    """The worker's resident memory (Linux: /proc/self/statm); 0 where it cannot be read."""
    try:
        with open("/proc/self/statm", "rb") as statm:
            return int(statm.read().split()[1]) * resource.getpagesize()
    except (OSError, IndexError, ValueError):
        return 0


def _give_back_freed_memory(stop: threading.Event) -> None:
    """Until `stop`, hand the memory glibc holds free back to the system whenever the worker has grown (see
    TRIM_EVERY_S); nothing where there is no glibc or no /proc."""
    try:
        malloc_trim = ctypes.CDLL(None).malloc_trim
    except (OSError, AttributeError):
        return
    serving_size = _resident_bytes()
    while not stop.wait(TRIM_EVERY_S):
        if serving_size and _resident_bytes() > serving_size + TRIM_ABOVE_BYTES:
            malloc_trim(0)


def _dump_no_core() -> None:
    """A worker that crashes writes no core file: its memory holds the requests' raw user ids and the pseudonym
    secret, which a core file left in the working directory would keep for whoever can read it."""
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))


def ledger_identity(store: Store) -> str:
    """Which ledger the store opened, told apart by its pseudonym secret without giving the secret away: the
    supervisor takes no worker whose ledger is another than the one the server started with (a ledger file deleted
    or replaced under a running server is begun anew, or read from the new file, by a worker that starts later).
    "-" for an in-memory database, which is each worker's own and never shared."""
    if store.in_memory:
        return "-"
    return hashlib.sha256(b"decisiond ledger identity\0" + store.pseudonym_key()).hexdigest()[:16]


def _one_line(text: str) -> str:
    return "; ".join(line.strip() for line in text.splitlines() if line.strip())


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="decisiond-worker")
    parser.add_argument("--listen", required=True)
    parser.add_argument("--status-file", type=Path, required=True)
    parser.add_argument("--rules", type=Path, help="a validated bundle snapshot; none: decisions are UNAVAILABLE")
    parser.add_argument("--cpu", type=int, help="the CPU this process keeps to (service/affinity.py)")
    parser.add_argument("--spread", help="the connection-spreading maps and program handed down (service/spread.py)")
    parser.add_argument("--slot", type=int, default=0, help="this worker's slot in them")
    parser.add_argument("--existing-ledger", action="store_true", help="make no new SQLite ledger file")
    args = parser.parse_args(argv)
    keep_to(args.cpu)  # before any thread starts: they all inherit it
    try:  # TLS files are checked again here: each new worker reads them as they are now
        settings = load_settings(listen=args.listen, rules=str(args.rules or ""))
    except SettingsError as error:
        print(f"FAILED {_one_line(str(error))}", flush=True)
        return 1
    configure_logging(settings.log_level, batched=True)
    # SIGTERM keeps its default action until the worker serves: a start has nothing to drain, and one that waits
    # on a database that does not answer must not hold up the supervisor's shutdown or its next attempt.
    _die_with_the_supervisor()
    _dump_no_core()
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the supervisor decides when workers stop
    signal.signal(signal.SIGHUP, signal.SIG_IGN)
    try:
        service = start_service(
            settings,
            status_file=args.status_file,
            reuse_port=True,
            load_rules=args.rules is not None,
            raise_if_refused=True,
            existing_ledger=args.existing_ledger,
        )
    except BundleInvalid as refused:  # checked by the supervisor: refused by the ledger, or its copy is gone
        print(f"REFUSED {json.dumps([problem.format() for problem in refused.problems])}", flush=True)
        return 1
    except (StoreUnavailable, MigrationError) as error:  # the database did not answer, or its migrations disagree
        database = redact_password(settings.database_url)
        print(f"FAILED {_one_line(f'the database could not be opened: {database}: {error}')}", flush=True)
        return 1
    except Exception as error:
        log.exception("worker.start_failed")
        print(f"FAILED {_one_line(f'{type(error).__name__}: {error}')}", flush=True)
        return 1
    stop, retiring = threading.Event(), threading.Event()

    def retire(*_: object) -> None:  # replaced by workers on a newer bundle
        retiring.set()
        stop.set()

    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGUSR1, retire)
    if args.spread and (why_not := join_spread(args.spread, service.port, args.slot)):
        log.warning("connections.not_spread", slot=args.slot, reason=why_not)
    version, digest = describe_rules(service.rules)
    # Everything loaded so far (the rule bundle, the stubs) lives as long as the process: keep it out of the
    # garbage collector's full passes, which would otherwise walk it again and again and pause every call.
    gc.freeze()
    print(f"READY {version or '-'} {digest or '-'} {ledger_identity(service.store)}", flush=True)
    threading.Thread(target=_give_back_freed_memory, args=(stop,), name="malloc-trim", daemon=True).start()
    stop.wait()
    service.stop(retiring=retiring.is_set())
    log.info("worker.stopped")
    return 0


if __name__ == "__main__":
    sys.exit(main())
