"""The rules themselves, kept by the ledger: the files of every bundle it names a version for, once per digest, read
back byte for byte; the kept files and the versions that name them can be neither changed nor deleted; a ledger from
before the files were kept upgrades with its versions intact, and keeps files from then on."""

from __future__ import annotations

import pytest

from service.app.ports import KeptFilesDamaged, RuleVersion, Store
from service.engine.files import digest_of
from service.storage import migrations
from service.storage.ledger import pack_bundle_files
from tests.storage.conftest import OpenStore, raw_connection
from tests.storage.records import T0, minutes

# Every kind of content a digest covers: YAML, a list with Windows line ends, a byte-order mark, an empty list.
FILES = {
    "bundle.yaml": 'version: "2026.11-1"\ncurrency: CNY\n',
    "eligibility.yaml": "rules:\n  - id: ELG-004\n    when: score.value < 600\n",
    "lists/mule_counterparties.txt": "CP-MULE-0001\r\nCP-MULE-0002\r\n",
    "lists/empty.txt": "",
    "fraud.yaml": "\ufeffrules: []  # \u2265 stays as written\n",
}
BUNDLE = {path: text.encode() for path, text in FILES.items()}
DIGEST = digest_of(BUNDLE)
CHANGED = {**BUNDLE, "eligibility.yaml": BUNDLE["eligibility.yaml"].replace(b"600", b"650")}
CHANGED_DIGEST = digest_of(CHANGED)


def name(store: Store, version: str, digest: str, files: dict[str, bytes] | None, at: object = T0) -> RuleVersion:
    with store.unit_of_work() as uow:
        return uow.name_rule_version(version, digest, at, files)  # type: ignore[arg-type]


def kept(store: Store, digest: str) -> dict[str, bytes] | None:
    with store.unit_of_work() as uow:
        return uow.bundle_files(digest)


def kept_rows(database_url: str) -> list[tuple[str, object]]:
    with raw_connection(database_url) as connection:
        return [tuple(row) for row in connection.execute("SELECT digest, kept_at FROM rule_bundles").fetchall()]


def test_the_files_of_a_named_version_are_kept_once_per_digest_and_read_back_byte_for_byte(
    open_test_store: OpenStore, database_url: str
) -> None:
    store = open_test_store()
    assert name(store, "2026.11-1", DIGEST, BUNDLE) == RuleVersion("2026.11-1", DIGEST, T0)
    rows = kept_rows(database_url)

    later = open_test_store()  # a restart, or another replica, naming the same rules under another version too
    name(later, "2026.11-1", DIGEST, BUNDLE, T0 + minutes(5))
    name(later, "2026.11-2", DIGEST, BUNDLE, T0 + minutes(6))

    assert kept(later, DIGEST) == BUNDLE
    assert digest_of(kept(later, DIGEST) or {}) == DIGEST
    assert kept_rows(database_url) == rows and len(rows) == 1
    with later.unit_of_work() as uow:
        assert uow.keeps_bundle_files(DIGEST)
        assert not uow.keeps_bundle_files(CHANGED_DIGEST)
        assert uow.rule_versions() == [
            RuleVersion("2026.11-1", DIGEST, T0), RuleVersion("2026.11-2", DIGEST, T0 + minutes(6))
        ]


def test_the_files_of_rules_a_version_does_not_name_are_not_kept(open_test_store: OpenStore) -> None:
    store = open_test_store()
    name(store, "2026.11-1", DIGEST, BUNDLE)

    refused = name(store, "2026.11-1", CHANGED_DIGEST, CHANGED, T0 + minutes(1))  # other rules under its version

    assert refused.digest == DIGEST
    assert kept(store, CHANGED_DIGEST) is None
    assert kept(store, DIGEST) == BUNDLE


def test_lists_of_many_megabytes_are_kept_compressed_and_read_back_whole(open_test_store: OpenStore) -> None:
    store = open_test_store()
    big = {**BUNDLE, "lists/known_payees.txt": b"".join(b"CP-PAYEE-%08d\n" % i for i in range(400_000))}
    name(store, "2026.11-1", digest_of(big), big)

    assert kept(store, digest_of(big)) == big
    assert len(pack_bundle_files(big)) < len(big["lists/known_payees.txt"]) // 4


@pytest.mark.parametrize("statement", [
    "UPDATE rule_bundles SET files = files",
    "DELETE FROM rule_bundles",
    "UPDATE rule_versions SET digest = 'ffff'",
    "DELETE FROM rule_versions",
])
def test_kept_rules_and_the_versions_that_name_them_cannot_be_changed_or_deleted(
    open_test_store: OpenStore, database_url: str, statement: str
) -> None:
    store = open_test_store()
    name(store, "2026.11-1", DIGEST, BUNDLE)

    with raw_connection(database_url) as connection, pytest.raises(Exception, match="append-only"):
        connection.execute(statement)

    assert name(open_test_store(), "2026.11-1", CHANGED_DIGEST, CHANGED) == RuleVersion("2026.11-1", DIGEST, T0)
    assert kept(store, DIGEST) == BUNDLE


def test_kept_files_that_no_longer_read_back_are_reported_as_damaged(
    open_test_store: OpenStore, database_url: str
) -> None:
    store = open_test_store()
    with raw_connection(database_url) as connection:  # written past the ledger, as only tampering could
        connection.execute(
            f"INSERT INTO rule_bundles (digest, files, kept_at) VALUES ('{DIGEST}', {_blob(database_url)}, 0)"
            if database_url.startswith("sqlite") else
            f"INSERT INTO rule_bundles (digest, files, kept_at) VALUES ('{DIGEST}', {_blob(database_url)}, now())"
        )

    with pytest.raises(KeptFilesDamaged) as damaged:
        kept(store, DIGEST)

    assert damaged.value.digest == DIGEST


def _blob(database_url: str) -> str:
    cut_short = pack_bundle_files(BUNDLE)[:-9].hex()
    return f"X'{cut_short}'" if database_url.startswith("sqlite") else f"'\\x{cut_short}'::bytea"


def test_a_ledger_from_before_the_files_were_kept_upgrades_with_its_versions_and_keeps_files_from_then_on(
    open_test_store: OpenStore, database_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    every_file = list(migrations._migration_files())
    monkeypatch.setattr(migrations, "_migration_files", lambda: iter(f for f in every_file if f[0] < "0004"))
    old = open_test_store()
    name(old, "2026.10-1", CHANGED_DIGEST, None, T0)  # named as the code before this change did: no files
    name(old, "2026.11-1", DIGEST, None, T0 + minutes(1))
    old.close()
    monkeypatch.undo()

    upgraded = open_test_store()

    with upgraded.unit_of_work() as uow:
        assert uow.rule_versions() == [
            RuleVersion("2026.10-1", CHANGED_DIGEST, T0), RuleVersion("2026.11-1", DIGEST, T0 + minutes(1))
        ]
        assert not uow.keeps_bundle_files(DIGEST)
    assert kept(upgraded, CHANGED_DIGEST) is None
    # A server that serves 2026.11-1 again after the upgrade has its files kept; 2026.10-1's are gone for good.
    assert name(upgraded, "2026.11-1", DIGEST, BUNDLE, T0 + minutes(60)) == RuleVersion("2026.11-1", DIGEST,
                                                                                         T0 + minutes(1))
    assert kept(upgraded, DIGEST) == BUNDLE
    with raw_connection(database_url) as connection, pytest.raises(Exception, match="append-only"):
        connection.execute("DELETE FROM rule_versions WHERE version = '2026.10-1'")
