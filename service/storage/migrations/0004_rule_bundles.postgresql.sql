-- The rules themselves, for every bundle the ledger names a version for: exactly the files its digest covers
-- (bundle.yaml, the five rule files and lists/*.txt; never tests/), kept once per digest when a version first names
-- them, so that an auditor can take back out the rules behind any decision (`decisiond rules export`) and check them
-- against the digest it records. `files` is zlib-compressed (ledger.py, pack_bundle_files); lists alone may hold
-- 32 MiB. Versions named before this migration keep no files: their rules were never stored.
-- rule_versions and rule_bundles are append-only from here on: a version, once it names rules, names them for good
-- (deleting its row would let a restarted server serve other rules under it).
-- Keep the tables and columns in step with 0004_rule_bundles.sqlite.sql; a test compares them.

CREATE TABLE rule_bundles (
    digest  TEXT PRIMARY KEY CHECK (length(digest) = 64),
    files   BYTEA NOT NULL,
    kept_at TIMESTAMPTZ NOT NULL
);
-- Already compressed: stored out of line as it is, without TOAST trying to compress it again.
ALTER TABLE rule_bundles ALTER COLUMN files SET STORAGE EXTERNAL;

CREATE TRIGGER rule_bundles_append_only BEFORE UPDATE OR DELETE ON rule_bundles
    FOR EACH ROW EXECUTE FUNCTION refuse_append_only_change();
CREATE TRIGGER rule_bundles_no_truncate BEFORE TRUNCATE ON rule_bundles
    FOR EACH STATEMENT EXECUTE FUNCTION refuse_append_only_change();
CREATE TRIGGER rule_versions_append_only BEFORE UPDATE OR DELETE ON rule_versions
    FOR EACH ROW EXECUTE FUNCTION refuse_append_only_change();
CREATE TRIGGER rule_versions_no_truncate BEFORE TRUNCATE ON rule_versions
    FOR EACH STATEMENT EXECUTE FUNCTION refuse_append_only_change();
