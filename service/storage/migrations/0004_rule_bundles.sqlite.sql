-- The rules themselves, for every bundle the ledger names a version for: exactly the files its digest covers
-- (bundle.yaml, the five rule files and lists/*.txt; never tests/), kept once per digest when a version first names
-- them, so that an auditor can take back out the rules behind any decision (`decisiond rules export`) and check them
-- against the digest it records. `files` is zlib-compressed (ledger.py, pack_bundle_files); lists alone may hold
-- 32 MiB. Versions named before this migration keep no files: their rules were never stored.
-- rule_versions and rule_bundles are append-only from here on: a version, once it names rules, names them for good
-- (deleting its row would let a restarted server serve other rules under it).
-- Keep the tables and columns in step with 0004_rule_bundles.postgresql.sql; a test compares them.

CREATE TABLE rule_bundles (
    digest  TEXT NOT NULL PRIMARY KEY CHECK (length(digest) = 64),
    files   BLOB NOT NULL,
    kept_at INTEGER NOT NULL
) STRICT;

CREATE TRIGGER rule_bundles_no_update BEFORE UPDATE ON rule_bundles
BEGIN
    SELECT RAISE(ABORT, 'rule_bundles is append-only');
END;
CREATE TRIGGER rule_bundles_no_delete BEFORE DELETE ON rule_bundles
BEGIN
    SELECT RAISE(ABORT, 'rule_bundles is append-only');
END;
CREATE TRIGGER rule_versions_no_update BEFORE UPDATE ON rule_versions
BEGIN
    SELECT RAISE(ABORT, 'rule_versions is append-only');
END;
CREATE TRIGGER rule_versions_no_delete BEFORE DELETE ON rule_versions
BEGIN
    SELECT RAISE(ABORT, 'rule_versions is append-only');
END;
