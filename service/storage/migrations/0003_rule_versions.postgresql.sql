-- Which rules each bundle version names: the digest of the rules first served under it, so that a server
-- refuses other rules under a version the ledger already knows (R014), after a restart and across replicas.
-- Filled from the decisions already recorded (one pass over them): each version's earliest decision names it.
-- Keep the tables and columns in step with 0003_rule_versions.sqlite.sql; a test compares them.

CREATE TABLE rule_versions (
    version         TEXT PRIMARY KEY CHECK (version <> ''),
    digest          TEXT NOT NULL,
    first_served_at TIMESTAMPTZ NOT NULL
);

INSERT INTO rule_versions (version, digest, first_served_at)
SELECT DISTINCT ON (ruleset_version) ruleset_version, ruleset_digest, decided_at
FROM decisions
WHERE ruleset_version <> ''
ORDER BY ruleset_version, decided_at;
