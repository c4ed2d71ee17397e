"""Fill a SQLite ledger in bulk, straight through SQL, on the service's own schema.

The database is created by the store (so the schema is exactly the migrations'), then filled with other
people's history: `users` users with a credit line, `drawdowns` drawdowns spread evenly over them (70 %
repaid, the rest open), one decision record per drawdown, and `events` account events over the last year.
Rows are generated inside SQLite (recursive CTEs), ordered by user, which is how a ledger grows.
"""

from __future__ import annotations

import json
import sqlite3
import time
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

from service.domain.model import RepaymentMethod
from service.domain.schedule import build_schedule
from service.storage import open_store
from service.storage.codec import schedule_to_json, to_epoch_micros

YEAR_MICROS = 365 * 24 * 3600 * 1_000_000
_SCHEDULE = build_schedule(210_000, 6, RepaymentMethod.EQUAL_INSTALLMENT, Decimal("0.0002"), date(2025, 6, 1))
SCHEDULE_JSON = json.dumps(schedule_to_json(_SCHEDULE), default=date.isoformat)  # its dates as ISO text

_USER_KEY = "printf('b%031x', {n})"  # 32 hex-like characters, the length of a real user key

_DRAWDOWNS = f"""
WITH RECURSIVE seq(n) AS (SELECT 0 UNION ALL SELECT n + 1 FROM seq WHERE n < :count - 1)
INSERT INTO drawdowns (drawdown_id, user_key, amount, term_months, repayment_method, daily_interest_rate,
                       purpose, created_at, schedule, repaid_principal)
SELECT printf('dd_%032x', n), {_USER_KEY.format(n="n / :per_user")}, 10000 + (n * 7919) % 2000000, 6,
       'EQUAL_INSTALLMENT', '0.0002', 'CONSUMPTION', :start + (n % :per_user) * (:span / :per_user),
       :schedule, CASE WHEN n % 10 < 7 THEN 10000 + (n * 7919) % 2000000 ELSE 0 END
FROM seq
"""

_DECISIONS = f"""
WITH RECURSIVE seq(n) AS (SELECT 0 UNION ALL SELECT n + 1 FROM seq WHERE n < :count - 1)
INSERT INTO decisions (decision_id, request_id, rpc, request_digest, user_key, request_json, response, outcome,
                       ruleset_version, ruleset_digest, decided_at, latency_us)
SELECT printf('%032x', n), printf('r%031x', n), 'AuthorizeDrawdown', printf('%064x', n * 2654435761),
       {_USER_KEY.format(n="n / :per_user")}, :request_json, randomblob(420), 'APPROVE', 'bulk', :digest,
       :start + (n % :per_user) * (:span / :per_user), 900
FROM seq
"""

_LINES = f"""
WITH RECURSIVE seq(n) AS (SELECT 0 UNION ALL SELECT n + 1 FROM seq WHERE n < :count - 1)
INSERT INTO credit_lines (user_key, credit_limit, outstanding_principal, daily_interest_rate, status,
                          residence_country, opened_at, updated_at)
SELECT {_USER_KEY.format(n="n")}, 50000000,
       (SELECT COALESCE(SUM(amount - repaid_principal), 0) FROM drawdowns
         WHERE user_key = {_USER_KEY.format(n="n")} AND repaid_principal < amount),
       '0.0002', 'ACTIVE', 'CN', :start, :start
FROM seq
"""

_EVENTS = f"""
WITH RECURSIVE seq(n) AS (SELECT 0 UNION ALL SELECT n + 1 FROM seq WHERE n < :count - 1)
INSERT INTO account_events (event_id, user_key, event_type, occurred_at, amount, device_id, country,
                            counterparty_id)
SELECT printf('e%031x', n), {_USER_KEY.format(n="n / :per_user")},
       CASE n % 10 WHEN 0 THEN 'DRAWDOWN' WHEN 1 THEN 'TRANSFER_OUT' WHEN 2 THEN 'REPAYMENT'
                   WHEN 3 THEN 'PAYMENT' WHEN 4 THEN 'PAYMENT' WHEN 5 THEN 'PASSWORD_CHANGE' ELSE 'LOGIN' END,
       :start + (n % :per_user) * (:span / :per_user),
       CASE WHEN n % 10 < 5 THEN 100 + (n * 31) % 500000 ELSE 0 END,
       printf('%032x', (n / :per_user) * 4 + n % 3), 'CN',
       CASE WHEN n % 10 = 1 THEN printf('%032x', n % 5000) ELSE '' END
FROM seq
"""


def fill(path: str, *, users: int, drawdowns: int, events: int) -> dict[str, float]:
    """Create the schema at `path` through the store, then bulk-insert. Seconds each step took."""
    open_store(f"sqlite:///{path}").close()
    now = to_epoch_micros(datetime.now(UTC) - timedelta(days=1))
    common = {"start": now - YEAR_MICROS, "span": YEAR_MICROS}
    timings: dict[str, float] = {}
    connection = sqlite3.connect(path, isolation_level=None)
    try:
        connection.execute("PRAGMA journal_mode = OFF")
        connection.execute("PRAGMA synchronous = OFF")
        connection.execute("PRAGMA cache_size = -1000000")
        steps = (
            ("drawdowns", _DRAWDOWNS, {"count": drawdowns, "per_user": drawdowns // users, "schedule": SCHEDULE_JSON}),
            ("decisions", _DECISIONS, {"count": drawdowns, "per_user": drawdowns // users, "digest": "0" * 64,
                                       "request_json": '{"amount":210000,"purpose":"CONSUMPTION","term_months":6}'}),
            ("credit_lines", _LINES, {"count": users}),
            ("account_events", _EVENTS, {"count": events, "per_user": events // users}),
        )
        for name, sql, parameters in steps:
            started = time.perf_counter()
            connection.execute("BEGIN")
            connection.execute(sql, {**common, **parameters})
            connection.execute("COMMIT")
            timings[name] = round(time.perf_counter() - started, 1)
        connection.execute("PRAGMA journal_mode = WAL")
    finally:
        connection.close()
    return timings
