"""The auditor's way back from a decision to the rules that made it, after those rules have changed: `decisions
show` names the version and digest, `rules export` takes those rules back out of the ledger, `rules check` passes on
them and they have the recorded digest, and `rules explain` with the recorded input gives the recorded outcome. And
what `rules export` says when it cannot: an unknown version, a version served before the ledger kept rules, a
folder that is not empty, a ledger it cannot read."""

from __future__ import annotations

import json
import os
import stat
from pathlib import Path

import grpc
import pytest
import structlog

from service._gen.decision.v1 import decision_pb2 as pb
from service._gen.decision.v1 import decision_pb2_grpc as pb_grpc
from service.app.clock import SystemClock
from service.app.rule_versions import ledger_vouch
from service.cli import main
from service.engine.bundle import load_bundle
from service.engine.errors import BundleInvalid
from service.engine.files import digest_of, read_bundle_files
from service.storage import migrations, open_store
from tests.lifecycle.test_hot_reload import status, wait_for
from tests.lifecycle.test_rule_versions import serving
from tests.storage.records import T0, minutes
from tests.support.builders import request_id, strong_applicant
from tests.support.server_process import start_server

NEW_VERSION = "2099.01-1"
FILES_11 = {"bundle.yaml": b'version: "2026.11-1"\n', "lists/mules.txt": b"CP-1\n"}
DIGEST_11 = digest_of(FILES_11)
MONEY_FIELDS = ("annual_income", "monthly_spend_avg", "financial_assets")


def version_of(rules: Path) -> str:
    text = (rules / "bundle.yaml").read_text()
    start = text.index('version: "') + len('version: "')
    return text[start:text.index('"', start)]


def lower_the_age_limit(rules: Path) -> None:
    """Compliance's change: applicants over 60 (not 65) are declined, under a new version."""
    eligibility = rules / "eligibility.yaml"
    eligibility.write_text(eligibility.read_text().replace("applicant.age > 65", "applicant.age > 60", 1))
    bundle = rules / "bundle.yaml"
    bundle.write_text(bundle.read_text().replace(f'version: "{version_of(rules)}"', f'version: "{NEW_VERSION}"', 1))


def grant(channel: grpc.Channel, age: int) -> pb.GrantLimitResponse:
    request = pb.GrantLimitRequest(request_id=request_id(), applicant=strong_applicant("u-audited", age=age))
    answer: pb.GrantLimitResponse = pb_grpc.DecisionServiceStub(channel).GrantLimit(request, timeout=10)
    return answer


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    """The command as `decisiond` runs it, in this process. It configures logging (warning and above, loggers
    cached on first use); the configuration before it is put back, or a later test's info lines would be lost."""
    logging_before = structlog.get_config()
    try:
        code = main(list(argv))
    finally:
        structlog.configure(**logging_before)
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def case_of(recorded_request: dict[str, object]) -> dict[str, object]:
    """A recorded GrantLimit request as a `rules explain` input (docs/rules.md): amounts in CNY, not fen."""
    applicant = {
        name: f"{value // 100}.{value % 100:02d} CNY" if name in MONEY_FIELDS else value  # type: ignore[operator]
        for name, value in recorded_request.items() if name != "attributes"
    }
    return {"call": "GrantLimit", "applicant": applicant}


def test_an_auditor_recovers_the_rules_of_a_decision_made_before_the_rules_changed_and_explains_it_again(
    rules: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    database_url = f"sqlite:///{tmp_path / 'ledger.db'}"
    old_version = version_of(rules)
    with serving(rules, database_url) as channel:
        decided = grant(channel, age=63)
    assert (decided.outcome, decided.meta.ruleset_version) == (pb.OUTCOME_APPROVE, old_version)
    lower_the_age_limit(rules)
    with serving(rules, database_url) as channel:  # a restart on the new rules
        assert grant(channel, age=63).outcome == pb.OUTCOME_DECLINE

    audit_a_decision(decided.meta.decision_id, database_url, rules, tmp_path, capsys)


@pytest.mark.slow
def test_an_auditor_recovers_the_rules_of_a_decision_made_before_a_hot_reload(
    rules: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The same through `decisiond serve`, whose workers serve private copies of the rules that are gone once the
    rules change: the ledger keeps what they served."""
    database_url = f"sqlite:///{tmp_path / 'ledger.db'}"
    server = start_server(database_url, rules=rules)
    try:
        channel = grpc.insecure_channel(server.address)
        decided = grant(channel, age=63)
        assert decided.outcome == pb.OUTCOME_APPROVE
        (rules / "tests" / "eligibility_and_limits.yaml").unlink()  # its cases pin the age limit being changed
        lower_the_age_limit(rules)
        wait_for(lambda: status(pb_grpc.RulesServiceStub(channel)).active.version == NEW_VERSION,
                 "the new rules to serve", timeout=60)
        assert grant(channel, age=63).outcome == pb.OUTCOME_DECLINE
    finally:
        assert server.stop() == 0

    audit_a_decision(decided.meta.decision_id, database_url, rules, tmp_path, capsys)


def audit_a_decision(
    decision_id: str, database_url: str, rules: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The auditor's way from a decision made under rules since changed to its outcome again: decisions show,
    rules export of its version, rules check and the digest of the export, rules explain with its request."""
    capsys.readouterr()
    code, shown, _ = run(capsys, "decisions", "show", decision_id, "--database", database_url)
    assert code == 0
    record = json.loads(shown)
    assert record["ruleset_version"] != version_of(rules)
    export = tmp_path / "audit" / "rules-of-the-decision"
    code, exported, err = run(capsys, "rules", "export", "--database", database_url,
                              "--version", record["ruleset_version"], str(export))
    assert (code, err) == (0, "")
    assert f"  digest  {record['ruleset_digest']}  (recorded by the ledger; the exported files have it)" in exported
    assert f"  version {record['ruleset_version']}  first served " in exported

    code, checked, _ = run(capsys, "rules", "check", str(export))
    assert code == 0 and checked.splitlines()[-1].startswith(f"{export}: OK, 0 errors, ")
    read = read_bundle_files(export, [])
    assert read is not None and read.digest() == record["ruleset_digest"]
    assert sorted(p.relative_to(export).as_posix() for p in export.rglob("*") if p.is_file()) == sorted(
        read.digested_files()
    )

    case_file = tmp_path / "case.json"
    case_file.write_text(json.dumps(case_of(record["request"])))
    recorded_reasons = ", ".join(reason["code"] for reason in record["response"]["reasons"]) or "(none)"
    code, explained, _ = run(capsys, "rules", "explain", str(export), "--input", str(case_file))
    assert code == 0
    assert explained.splitlines()[:2] == [
        f"GrantLimit under rule bundle {record['ruleset_version']} (digest {record['ruleset_digest']})",
        f"  outcome {record['outcome']}; score {record['response']['score']}; reasons {recorded_reasons}",
    ]
    code, explained_now, _ = run(capsys, "rules", "explain", str(rules), "--input", str(case_file))
    assert explained_now.splitlines()[0].startswith(f"GrantLimit under rule bundle {NEW_VERSION} (digest ")
    assert "outcome DECLINE" in explained_now.splitlines()[1]


@pytest.fixture
def ledger(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    """A ledger that named 2026.10-1 before it kept rules, then was upgraded and served 2026.11-1 and, with the
    same rules, 2026.11-2."""
    database_url = f"sqlite:///{tmp_path / 'ledger.db'}"
    every_file = list(migrations._migration_files())
    monkeypatch.setattr(migrations, "_migration_files", lambda: iter(f for f in every_file if f[0] < "0004"))
    old = open_store(database_url)
    with old.unit_of_work() as uow:
        uow.name_rule_version("2026.10-1", "c3" * 32, T0)
    old.close()
    monkeypatch.undo()
    store = open_store(database_url)
    with store.unit_of_work() as uow:
        uow.name_rule_version("2026.11-1", DIGEST_11, T0 + minutes(1), FILES_11)
        uow.name_rule_version("2026.11-2", DIGEST_11, T0 + minutes(2), FILES_11)
    store.close()
    return database_url


def test_an_unknown_version_is_answered_with_the_versions_the_ledger_records(
    ledger: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, _ = run(capsys, "rules", "export", "--database", ledger, "--version", "2026.11-9", str(tmp_path / "x"))

    assert code == 1
    assert out == (
        "The ledger records no rule bundle version '2026.11-9'. The versions it records, oldest first:\n"
        f"  2026.10-1  first served 2026-03-01 09:30:15 UTC  digest {'c3' * 32}\n"
        f"  2026.11-1  first served 2026-03-01 09:31:15 UTC  digest {DIGEST_11}\n"
        f"  2026.11-2  first served 2026-03-01 09:32:15 UTC  digest {DIGEST_11}\n"
    )
    assert not (tmp_path / "x").exists()


def test_a_version_served_before_the_ledger_kept_rules_is_said_to_be_so(
    ledger: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, _ = run(capsys, "rules", "export", "--database", ledger, "--version", "2026.10-1", str(tmp_path / "x"))

    assert code == 1
    assert out.startswith(f"version 2026.10-1 (digest {'c3' * 32}) was first served before this ledger kept the rules"
                          " it serves, so its rules cannot be exported from it.")
    assert not (tmp_path / "x").exists()


def test_rules_are_exported_by_their_digest_or_its_first_characters_naming_every_version_they_served_as(
    ledger: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, _ = run(capsys, "rules", "export", "--database", ledger, "--digest", DIGEST_11[:12], str(tmp_path / "x"))

    assert code == 0
    assert out.splitlines()[:4] == [
        f"Exported the rules of versions 2026.11-1, 2026.11-2 to {tmp_path / 'x'} (2 files).",
        f"  digest  {DIGEST_11}  (recorded by the ledger; the exported files have it)",
        "  version 2026.11-1  first served 2026-03-01 09:31:15 UTC",
        "  version 2026.11-2  first served 2026-03-01 09:32:15 UTC",
    ]
    assert (tmp_path / "x" / "lists" / "mules.txt").read_bytes() == b"CP-1\n"

    code, out, _ = run(capsys, "rules", "export", "--database", ledger, "--digest", "ffff", str(tmp_path / "y"))
    assert code == 1
    assert out.startswith("The ledger records no rules with digest 'ffff' (give at least its first 12 characters, or"
                          " all of it). The versions it records, oldest first:\n")


def test_the_exported_rules_are_readable_by_their_owner_alone_as_a_decisions_export_is(
    ledger: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A list holds third parties' ids (the bundled mule list, a card number), kept in the archive for good."""
    given_empty = tmp_path / "given"
    given_empty.mkdir(mode=0o755)
    before = os.umask(0o022)
    try:
        for folder in (tmp_path / "new" / "x", given_empty):
            code, _, _ = run(capsys, "rules", "export", "--database", ledger, "--version", "2026.11-1", str(folder))
            assert code == 0
            modes = {path.relative_to(folder).as_posix(): oct(stat.S_IMODE(path.stat().st_mode))
                     for path in (folder, *folder.rglob("*"))}
            assert modes == {".": "0o700", "bundle.yaml": "0o600", "lists": "0o700", "lists/mules.txt": "0o600"}
    finally:
        os.umask(before)


def test_a_folder_that_is_not_empty_is_refused_and_left_as_it_was(
    ledger: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    folder = tmp_path / "rules"
    folder.mkdir()
    (folder / "bundle.yaml").write_text("mine\n")

    code, out, err = run(capsys, "rules", "export", "--database", ledger, "--version", "2026.11-1", str(folder))

    assert (code, out) == (2, "")
    assert err == f"decisiond: {folder} is not empty: give a new or an empty folder to export the rules into\n"
    assert (folder / "bundle.yaml").read_text() == "mine\n"


def test_a_ledger_that_cannot_be_read_is_named_without_its_password(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    url = "postgresql://auditor:s3cret@127.0.0.1:1/ledger?timeout=1"

    code, out, err = run(capsys, "rules", "export", "--database", url, "--version", "2026.11-1", str(tmp_path / "x"))

    assert (code, out) == (2, "")
    assert err.startswith("decisiond: cannot read the rules kept in postgresql://auditor:***@127.0.0.1:1/ledger")
    assert "s3cret" not in err


def test_a_bundle_is_served_only_once_the_ledger_keeps_its_files_and_never_when_they_changed_since_loading(
    rules: Path, tmp_path: Path
) -> None:
    store = open_store(f"sqlite:///{tmp_path / 'ledger.db'}")
    vouch = ledger_vouch(store, SystemClock())
    bundle = load_bundle(rules)
    try:
        (rules / "lists" / "mule_counterparties.txt").write_text("CP-EDITED-AFTER-LOADING\n")
        with pytest.raises(BundleInvalid, match="the rule files changed while the bundle was being loaded"):
            vouch(bundle)
        with store.unit_of_work() as uow:
            assert uow.rule_versions() == [] and not uow.keeps_bundle_files(bundle.digest)

        edited = load_bundle(rules)
        try:
            vouch(edited)
            with store.unit_of_work() as uow:
                kept = uow.bundle_files(edited.digest)
            assert kept is not None and digest_of(kept) == edited.digest
            assert kept["lists/mule_counterparties.txt"] == b"CP-EDITED-AFTER-LOADING\n"
            assert not any(path.startswith("tests/") for path in kept)
        finally:
            edited.close()
    finally:
        bundle.close()
        store.close()
