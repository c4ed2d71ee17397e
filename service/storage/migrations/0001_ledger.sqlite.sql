-- The ledger, the decision record and the pseudonym secret (SQLite).
-- Money is INTEGER minor units (fen); rates are exact decimal TEXT, never REAL;
-- times are INTEGER microseconds since 1970-01-01T00:00:00Z.
-- Keep the tables and columns in step with 0001_ledger.postgresql.sql; a test compares them.

CREATE TABLE credit_lines (
    user_key              TEXT NOT NULL PRIMARY KEY,
    credit_limit          INTEGER NOT NULL CHECK (credit_limit >= 0),
    outstanding_principal INTEGER NOT NULL DEFAULT 0 CHECK (outstanding_principal >= 0),
    daily_interest_rate   TEXT NOT NULL,
    status                TEXT NOT NULL CHECK (status IN ('ACTIVE', 'FROZEN', 'CLOSED')),
    residence_country     TEXT NOT NULL,
    opened_at             INTEGER NOT NULL,
    updated_at            INTEGER NOT NULL
) STRICT;

CREATE TABLE drawdowns (
    drawdown_id         TEXT NOT NULL PRIMARY KEY,
    user_key            TEXT NOT NULL REFERENCES credit_lines (user_key),
    amount              INTEGER NOT NULL CHECK (amount > 0),
    term_months         INTEGER NOT NULL CHECK (term_months > 0),
    repayment_method    TEXT NOT NULL
                        CHECK (repayment_method IN ('EQUAL_INSTALLMENT', 'EQUAL_PRINCIPAL', 'BULLET')),
    daily_interest_rate TEXT NOT NULL,
    purpose             TEXT NOT NULL,
    created_at          INTEGER NOT NULL,
    schedule            TEXT NOT NULL CHECK (json_valid(schedule)),
    repaid_principal    INTEGER NOT NULL DEFAULT 0 CHECK (repaid_principal >= 0 AND repaid_principal <= amount)
) STRICT;
-- open_drawdowns(): a user's drawdowns with principal outstanding, oldest first.
CREATE INDEX drawdowns_open_by_user ON drawdowns (user_key, created_at, drawdown_id) WHERE repaid_principal < amount;

CREATE TABLE repayments (
    repayment_id INTEGER PRIMARY KEY,
    drawdown_id  TEXT NOT NULL REFERENCES drawdowns (drawdown_id),
    user_key     TEXT NOT NULL,
    amount       INTEGER NOT NULL CHECK (amount > 0),
    repaid_at    INTEGER NOT NULL
) STRICT;
CREATE INDEX repayments_by_drawdown ON repayments (drawdown_id);

-- A user's account history, as fraud features read it: per-user time windows, devices, counterparties.
CREATE TABLE account_events (
    event_seq       INTEGER PRIMARY KEY,
    event_id        TEXT NOT NULL DEFAULT '',
    user_key        TEXT NOT NULL,
    event_type      TEXT NOT NULL CHECK (event_type IN ('LOGIN', 'PASSWORD_CHANGE', 'PHONE_CHANGE', 'DRAWDOWN',
                                                        'TRANSFER_OUT', 'REPAYMENT', 'PAYMENT')),
    occurred_at     INTEGER NOT NULL,
    amount          INTEGER NOT NULL DEFAULT 0 CHECK (amount >= 0),
    device_id       TEXT NOT NULL DEFAULT '',
    country         TEXT NOT NULL DEFAULT '',
    counterparty_id TEXT NOT NULL DEFAULT ''
) STRICT;
CREATE INDEX account_events_by_user_time ON account_events (user_key, occurred_at);
CREATE INDEX account_events_by_user_device ON account_events (user_key, device_id, occurred_at)
    WHERE device_id <> '';
CREATE INDEX account_events_by_user_counterparty ON account_events (user_key, counterparty_id, occurred_at)
    WHERE counterparty_id <> '';

-- Every decision and mutation, append-only, for auditors and idempotent replay.
CREATE TABLE decisions (
    decision_id     TEXT NOT NULL PRIMARY KEY,
    request_id      TEXT UNIQUE,
    rpc             TEXT NOT NULL,
    request_digest  TEXT NOT NULL,
    user_key        TEXT,
    request_json    TEXT NOT NULL,
    response        BLOB NOT NULL,
    outcome         TEXT NOT NULL,
    ruleset_version TEXT NOT NULL,
    ruleset_digest  TEXT NOT NULL,
    decided_at      INTEGER NOT NULL,
    latency_us      INTEGER NOT NULL CHECK (latency_us >= 0)
) STRICT;
CREATE INDEX decisions_by_user_time ON decisions (user_key, decided_at, decision_id);
CREATE INDEX decisions_by_time ON decisions (decided_at, decision_id);

CREATE TRIGGER decisions_no_update BEFORE UPDATE ON decisions
BEGIN
    SELECT RAISE(ABORT, 'decisions is append-only');
END;
CREATE TRIGGER decisions_no_delete BEFORE DELETE ON decisions
BEGIN
    SELECT RAISE(ABORT, 'decisions is append-only');
END;
CREATE TRIGGER repayments_no_update BEFORE UPDATE ON repayments
BEGIN
    SELECT RAISE(ABORT, 'repayments is append-only');
END;
CREATE TRIGGER repayments_no_delete BEFORE DELETE ON repayments
BEGIN
    SELECT RAISE(ABORT, 'repayments is append-only');
END;

-- The key of the keyed hash that turns user ids into user keys; one row, filled at first open.
CREATE TABLE pseudonym_secret (
    singleton INTEGER PRIMARY KEY CHECK (singleton = 1),
    secret    BLOB NOT NULL CHECK (length(secret) = 32)
) STRICT;
