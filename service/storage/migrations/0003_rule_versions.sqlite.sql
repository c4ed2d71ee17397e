-- Which rules each bundle version names: the digest of the rules first served under it, so that a server
-- refuses other rules under a version the ledger already knows (R014), after a restart and across replicas.
-- Filled from the decisions already recorded (one pass over them): each version's earliest decision names it.
-- Keep the tables and columns in step with 0003_rule_versions.postgresql.sql; a test compares them.

CREATE TABLE rule_versions (
    version         TEXT NOT NULL PRIMARY KEY CHECK (version <> ''),
    digest          TEXT NOT NULL,
    first_served_at INTEGER NOT NULL
) STRICT;

INSERT INTO rule_versions (version, digest, first_served_at)
SELECT ruleset_version, ruleset_digest, MIN(decided_at)  -- SQLite takes the digest from the row of the MIN
FROM decisions
WHERE ruleset_version <> ''
GROUP BY ruleset_version;
