"""One serving process, started by the supervisor: loads one rule bundle, serves until SIGTERM, drains.

Prints `READY <version> <digest>` on stdout once it accepts calls; the supervisor waits for that line.
"""

from __future__ import annotations

import argparse
import ctypes
import gc
import signal
import sys
import threading
from collections.abc import Sequence
from pathlib import Path

import structlog

from service.affinity import keep_to
from service.bootstrap import describe_rules, start_service
from service.config import load_settings
from service.logs import configure_logging
from service.spread import join_spread

log = structlog.get_logger("decisiond.worker")


def _die_with_the_supervisor() -> None:
    """Linux: receive SIGTERM when the supervisor dies, so that no orphan keeps serving the port."""
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        log.warning("worker.no_parent_death_signal")


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="decisiond-worker")
    parser.add_argument("--listen", required=True)
    parser.add_argument("--database", required=True)
    parser.add_argument("--status-file", type=Path, required=True)
    parser.add_argument("--rules", type=Path, help="a validated bundle snapshot; none: decisions are UNAVAILABLE")
    parser.add_argument("--cpu", type=int, help="the CPU this process keeps to (service/affinity.py)")
    parser.add_argument("--spread", help="the connection-spreading maps and program handed down (service/spread.py)")
    parser.add_argument("--slot", type=int, default=0, help="this worker's slot in them")
    args = parser.parse_args(argv)
    keep_to(args.cpu)  # before any thread starts: they all inherit it
    settings = load_settings(listen=args.listen, rules=str(args.rules or ""), database=args.database)
    configure_logging(settings.log_level, batched=True)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    _die_with_the_supervisor()
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the supervisor decides when workers stop
    signal.signal(signal.SIGHUP, signal.SIG_IGN)
    service = start_service(settings, status_file=args.status_file, reuse_port=True, load_rules=args.rules is not None)
    if args.spread and (why_not := join_spread(args.spread, service.port, args.slot)):
        log.warning("connections.not_spread", slot=args.slot, reason=why_not)
    version, digest = describe_rules(service.rules)
    # Everything loaded so far (the rule bundle, the stubs) lives as long as the process: keep it out of the
    # garbage collector's full passes, which would otherwise walk it again and again and pause every call.
    gc.freeze()
    print(f"READY {version or '-'} {digest or '-'}", flush=True)
    stop.wait()
    service.stop()
    log.info("worker.stopped")
    return 0


if __name__ == "__main__":
    sys.exit(main())
