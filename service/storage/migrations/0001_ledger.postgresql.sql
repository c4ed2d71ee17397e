-- The ledger, the decision record and the pseudonym secret (PostgreSQL).
-- Money is BIGINT minor units (fen), rates are exact NUMERIC, times are timestamptz.
-- Keep the tables and columns in step with 0001_ledger.sqlite.sql; a test compares them.

CREATE TABLE credit_lines (
    user_key              TEXT PRIMARY KEY,
    credit_limit          BIGINT NOT NULL CHECK (credit_limit >= 0),
    outstanding_principal BIGINT NOT NULL DEFAULT 0 CHECK (outstanding_principal >= 0),
    daily_interest_rate   NUMERIC NOT NULL CHECK (daily_interest_rate >= 0),
    status                TEXT NOT NULL CHECK (status IN ('ACTIVE', 'FROZEN', 'CLOSED')),
    residence_country     TEXT NOT NULL,
    opened_at             TIMESTAMPTZ NOT NULL,
    updated_at            TIMESTAMPTZ NOT NULL
);

CREATE TABLE drawdowns (
    drawdown_id         TEXT PRIMARY KEY,
    user_key            TEXT NOT NULL REFERENCES credit_lines (user_key),
    amount              BIGINT NOT NULL CHECK (amount > 0),
    term_months         INTEGER NOT NULL CHECK (term_months > 0),
    repayment_method    TEXT NOT NULL
                        CHECK (repayment_method IN ('EQUAL_INSTALLMENT', 'EQUAL_PRINCIPAL', 'BULLET')),
    daily_interest_rate NUMERIC NOT NULL CHECK (daily_interest_rate >= 0),
    purpose             TEXT NOT NULL,
    created_at          TIMESTAMPTZ NOT NULL,
    schedule            JSONB NOT NULL,
    repaid_principal    BIGINT NOT NULL DEFAULT 0 CHECK (repaid_principal >= 0 AND repaid_principal <= amount)
);
-- open_drawdowns(): a user's drawdowns with principal outstanding, oldest first.
CREATE INDEX drawdowns_open_by_user ON drawdowns (user_key, created_at, drawdown_id) WHERE repaid_principal < amount;

CREATE TABLE repayments (
    repayment_id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    drawdown_id  TEXT NOT NULL REFERENCES drawdowns (drawdown_id),
    user_key     TEXT NOT NULL,
    amount       BIGINT NOT NULL CHECK (amount > 0),
    repaid_at    TIMESTAMPTZ NOT NULL
);
CREATE INDEX repayments_by_drawdown ON repayments (drawdown_id);

-- A user's account history, as fraud features read it: per-user time windows, devices, counterparties.
CREATE TABLE account_events (
    event_seq       BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    event_id        TEXT NOT NULL DEFAULT '',
    user_key        TEXT NOT NULL,
    event_type      TEXT NOT NULL CHECK (event_type IN ('LOGIN', 'PASSWORD_CHANGE', 'PHONE_CHANGE', 'DRAWDOWN',
                                                        'TRANSFER_OUT', 'REPAYMENT', 'PAYMENT')),
    occurred_at     TIMESTAMPTZ NOT NULL,
    amount          BIGINT NOT NULL DEFAULT 0 CHECK (amount >= 0),
    device_id       TEXT NOT NULL DEFAULT '',
    country         TEXT NOT NULL DEFAULT '',
    counterparty_id TEXT NOT NULL DEFAULT ''
);
CREATE INDEX account_events_by_user_time ON account_events (user_key, occurred_at, event_seq);
CREATE INDEX account_events_by_user_device ON account_events (user_key, device_id, occurred_at)
    WHERE device_id <> '';
CREATE INDEX account_events_by_user_counterparty ON account_events (user_key, counterparty_id, occurred_at)
    WHERE counterparty_id <> '';

-- Every decision and mutation, append-only, for auditors and idempotent replay.
CREATE TABLE decisions (
    decision_id     TEXT PRIMARY KEY,
    request_id      TEXT UNIQUE,
    rpc             TEXT NOT NULL,
    request_digest  TEXT NOT NULL,
    user_key        TEXT,
    request_json    TEXT NOT NULL,
    response        BYTEA NOT NULL,
    outcome         TEXT NOT NULL,
    ruleset_version TEXT NOT NULL,
    ruleset_digest  TEXT NOT NULL,
    decided_at      TIMESTAMPTZ NOT NULL,
    latency_us      BIGINT NOT NULL CHECK (latency_us >= 0)
);
CREATE INDEX decisions_by_user_time ON decisions (user_key, decided_at, decision_id);
CREATE INDEX decisions_by_time ON decisions (decided_at, decision_id);

CREATE FUNCTION refuse_append_only_change() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION '% is append-only', TG_TABLE_NAME USING ERRCODE = 'restrict_violation';
END
$$;
CREATE TRIGGER decisions_append_only BEFORE UPDATE OR DELETE ON decisions
    FOR EACH ROW EXECUTE FUNCTION refuse_append_only_change();
CREATE TRIGGER decisions_no_truncate BEFORE TRUNCATE ON decisions
    FOR EACH STATEMENT EXECUTE FUNCTION refuse_append_only_change();
CREATE TRIGGER repayments_append_only BEFORE UPDATE OR DELETE ON repayments
    FOR EACH ROW EXECUTE FUNCTION refuse_append_only_change();
CREATE TRIGGER repayments_no_truncate BEFORE TRUNCATE ON repayments
    FOR EACH STATEMENT EXECUTE FUNCTION refuse_append_only_change();

-- The key of the keyed hash that turns user ids into user keys; one row, filled at first open.
CREATE TABLE pseudonym_secret (
    singleton INTEGER PRIMARY KEY CHECK (singleton = 1),
    secret    BYTEA NOT NULL CHECK (octet_length(secret) = 32)
);
