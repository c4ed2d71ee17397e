"""The bare ledger: AuthorizeDrawdown's database transaction in a loop, through the store's public API only.

Each iteration is the unit of work an approved AuthorizeDrawdown runs, call for call: the line read FOR UPDATE with
the user's latest event's time (the decision is timed after it), the fraud-history reads (events in the last 24 h,
device seen, open drawdowns), the conditional draw-down, the history append and the decision record; the arithmetic
and the rules around them are left out. It runs in as many processes as the server has workers, kept to CPUs as
they are, sharing the same number of transactions in flight, on the same database, so that the service's throughput
can be read against it.

    python -m bench.ledger_loop --database postgresql://postgres@127.0.0.1:5432/DB --processes 2 --threads 8
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import threading
import time
import uuid
from collections.abc import Sequence
from concurrent.futures import ProcessPoolExecutor
from datetime import UTC, date, datetime
from decimal import Decimal

from bench.stats import latency_summary_ms
from service.affinity import keep_to, worker_cpus
from service.app.ports import DecisionRecord, Store
from service.config import load_settings
from service.domain.delinquency import NOT_YET_DUE
from service.domain.model import CreditLine, Drawdown, EventType, HistoryEvent, LineStatus, RepaymentMethod
from service.domain.schedule import build_schedule
from service.storage import open_store

RATE = Decimal("0.0002")
AMOUNT = 210_000  # 2,100 CNY in fen: the workload's median drawdown
SCHEDULE = build_schedule(AMOUNT, 6, RepaymentMethod.EQUAL_INSTALLMENT, RATE, date(2026, 1, 15))
RESPONSE = bytes(427)  # the size of a serialized approval with a six-instalment schedule
REQUEST_JSON = json.dumps(
    {"amount": AMOUNT, "term_months": 6, "repayment_method": "EQUAL_INSTALLMENT", "purpose": "CONSUMPTION",
     "channel_country": "CN", "channel_city": "Hangzhou"}, sort_keys=True, separators=(",", ":"))


def user_keys(prefix: str, count: int) -> list[str]:
    return [f"{prefix}-{index:07d}" for index in range(count)]


def open_lines(store: Store, keys: Sequence[str]) -> None:
    """A line with room for every drawdown the loop can make, for each key."""
    now = datetime.now(UTC)
    with store.unit_of_work() as uow:
        for key in keys:
            uow.save_credit_line(
                CreditLine(key, 10**13, 0, RATE, LineStatus.ACTIVE, "CN", opened_at=now, updated_at=now)
            )


def authorize_transaction(store: Store, user_key: str) -> None:
    """One approved drawdown's unit of work."""
    now = datetime.now(UTC)
    drawdown_id = f"dd_{uuid.uuid4().hex}"
    with store.unit_of_work() as uow:
        request_id = uuid.uuid4().hex
        uow.lock_line(user_key, latest_event=True)
        uow.history_summary(user_key, now, device_id=f"dev-{user_key}")
        uow.open_drawdowns(user_key, created_before=now - NOT_YET_DUE)
        drawdown = Drawdown(drawdown_id, user_key, AMOUNT, 6, RepaymentMethod.EQUAL_INSTALLMENT, RATE,
                            "CONSUMPTION", now, SCHEDULE)
        if uow.draw_down(drawdown) is None:
            raise RuntimeError("the bare loop's line ran out of limit")
        uow.append_event(HistoryEvent(user_key, EventType.DRAWDOWN, now, AMOUNT, f"dev-{user_key}", "CN", "",
                                      drawdown_id))
        uow.save_decision(DecisionRecord(
            decision_id=uuid.uuid4().hex, rpc="AuthorizeDrawdown", request_id=request_id,
            request_digest=uuid.uuid4().hex * 2, user_key=user_key, request_json=REQUEST_JSON, response=RESPONSE,
            outcome="APPROVE", ruleset_version="bench", ruleset_digest="0" * 64, decided_at=now, latency_us=500,
        ))


def _process(url: str, keys: list[str], threads: int, warmup_s: float, seconds: float, seed: int,
             cpu: int | None) -> list[float]:
    """Run `threads` loops for warm-up + seconds; latencies of the transactions that ended in the window. `cpu`:
    the CPU the process keeps to, as a server's worker would (service/affinity.py)."""
    keep_to(cpu)
    store = open_store(url, pool_size=max(threads, 1))
    started = time.perf_counter()
    opens, closes = started + warmup_s, started + warmup_s + seconds
    latencies: list[float] = []
    lock = threading.Lock()

    def loop(rng: random.Random) -> None:
        while (sent := time.perf_counter()) < closes:
            authorize_transaction(store, rng.choice(keys))
            done = time.perf_counter()
            if opens <= done < closes:
                with lock:
                    latencies.append(done - sent)

    workers = [threading.Thread(target=loop, args=(random.Random(seed * 1000 + i),)) for i in range(threads)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    store.close()
    return latencies


def measure(url: str, processes: int, threads: int, warmup_s: float, seconds: float, users: int) -> dict[str, object]:
    """Open lines for `users` fresh keys, then loop in processes x threads; the summary as a dict."""
    keys = user_keys(f"loop-{uuid.uuid4().hex[:8]}", users)
    store = open_store(url)
    open_lines(store, keys)
    store.close()
    cpus = worker_cpus(processes, load_settings().cpu_affinity, url)
    with ProcessPoolExecutor(max_workers=processes) as pool:
        parts = [pool.submit(_process, url, keys, threads, warmup_s, seconds, seed, cpu)
                 for seed, cpu in enumerate(cpus)]
        latencies = [value for part in parts for value in part.result()]
    return {
        "processes": processes,
        "threads": threads,
        "in_flight": processes * threads,
        "cpus": cpus,
        "measured_s": seconds,
        "transactions": len(latencies),
        "throughput_per_s": round(len(latencies) / seconds, 1),
        "latency_ms": latency_summary_ms(latencies),
    }


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.ledger_loop", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--database", required=True, help="database URL, as decisiond takes it")
    parser.add_argument("--processes", type=int, default=2)
    parser.add_argument("--threads", type=int, default=8, help="threads per process")
    parser.add_argument("--warmup", type=float, default=1.0)
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--users", type=int, default=1000)
    args = parser.parse_args(argv)
    result = measure(args.database, args.processes, args.threads, args.warmup, args.seconds, args.users)
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
