"""The ledger's rule versions: the first rules served under a version are the ones it names, for every replica
and after every restart; a ledger from before the table gets it filled from the decisions it holds."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import pytest

from service.app.ports import RuleVersion, Store
from service.storage import migrations
from tests.storage.conftest import OpenStore, raw_connection
from tests.storage.records import T0, a_decision, minutes

FIRST, OTHER = "a1" * 32, "b2" * 32


def name(store: Store, version: str, digest: str, at: object = T0) -> RuleVersion:
    with store.unit_of_work() as uow:
        return uow.name_rule_version(version, digest, at)  # type: ignore[arg-type]


def test_a_version_names_the_rules_first_served_under_it_whatever_comes_later(open_test_store: OpenStore) -> None:
    store = open_test_store()
    assert name(store, "2026.12-1", FIRST) == RuleVersion("2026.12-1", FIRST, T0)

    later = open_test_store()  # a restart, or another replica
    assert name(later, "2026.12-1", OTHER, T0 + minutes(5)) == RuleVersion("2026.12-1", FIRST, T0)
    assert name(later, "2026.12-1", FIRST, T0 + minutes(9)) == RuleVersion("2026.12-1", FIRST, T0)
    assert name(later, "2026.12-2", OTHER, T0 + minutes(9)) == RuleVersion("2026.12-2", OTHER, T0 + minutes(9))


def test_replicas_naming_one_version_together_all_read_one_set_of_rules(open_test_store: OpenStore) -> None:
    stores = [open_test_store() for _ in range(4)]
    with ThreadPoolExecutor(len(stores)) as pool:
        named = list(pool.map(lambda i: name(stores[i], "2026.12-1", f"{i:02d}" * 32), range(len(stores))))

    assert len({version.digest for version in named}) == 1


def test_a_ledger_from_before_the_table_names_each_version_by_its_earliest_decision(
    open_test_store: OpenStore, database_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    every_file = list(migrations._migration_files())
    monkeypatch.setattr(migrations, "_migration_files", lambda: iter(f for f in every_file if f[0] < "0003"))
    old = open_test_store()
    with old.unit_of_work() as uow:
        for request_id, version, digest, at in [
            ("r1", "2026.03-1", OTHER, T0 + minutes(3)),  # the same version under other rules, later
            ("r2", "2026.03-1", FIRST, T0),
            ("r3", "2026.04-1", OTHER, T0 + minutes(7)),
            ("r4", "", "", T0 - minutes(1)),  # recorded with no valid bundle: names nothing
        ]:
            uow.save_decision(
                a_decision(request_id, at=at)._replace(ruleset_version=version, ruleset_digest=digest)
            )
    old.close()
    monkeypatch.undo()

    upgraded = open_test_store()

    assert name(upgraded, "2026.03-1", OTHER, T0 + minutes(60)) == RuleVersion("2026.03-1", FIRST, T0)
    assert name(upgraded, "2026.04-1", FIRST, T0 + minutes(60)) == RuleVersion("2026.04-1", OTHER, T0 + minutes(7))
    with raw_connection(database_url) as connection:
        assert connection.execute("SELECT COUNT(*) FROM rule_versions").fetchone()[0] == 2
