"""One version names one set of rules in the ledger, across restarts and replicas: a server started on rules that
differ from those the ledger has served under the same version refuses them (R014), serves ledger reads, and
serves again once the version changes or the rules are put back."""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import grpc
import pytest

from service._gen.decision.v1 import decision_pb2 as pb
from service._gen.decision.v1 import decision_pb2_grpc as pb_grpc
from service.bootstrap import start_service
from service.config import Settings
from tests.contract.helpers import rpc_error
from tests.lifecycle.test_hot_reload import set_version, status, wait_for
from tests.support.builders import request_id, strong_applicant
from tests.support.server_process import start_server

STARTER_VERSION = "2026.12-2"


def reword(rules: Path) -> None:
    """A change to the rules that leaves their version as it was."""
    eligibility = rules / "eligibility.yaml"
    eligibility.write_text(eligibility.read_text().replace("Applicants must be", "Applicants have to be", 1))


def score(channel: grpc.Channel) -> pb.ScoreUserResponse:
    request = pb.ScoreUserRequest(request_id=request_id(), applicant=strong_applicant("u-versions"))
    answer: pb.ScoreUserResponse = pb_grpc.DecisionServiceStub(channel).ScoreUser(request, timeout=10)
    return answer


@contextmanager
def serving(rules: Path, database_url: str) -> Iterator[grpc.Channel]:
    service = start_service(Settings(host="127.0.0.1", port=0, rules_dir=rules, database_url=database_url))
    try:
        with grpc.insecure_channel(f"127.0.0.1:{service.port}") as channel:
            yield channel
    finally:
        service.stop()


def test_a_restart_on_other_rules_under_a_served_version_is_refused_until_the_version_changes(
    rules: Path, tmp_path: Path
) -> None:
    database_url = f"sqlite:///{tmp_path / 'ledger.db'}"
    with serving(rules, database_url) as channel:
        served = score(channel).meta
    assert served.ruleset_version == STARTER_VERSION

    reword(rules)
    with serving(rules, database_url) as channel:
        refused = rpc_error(lambda: score(channel))
        assert refused.code() == grpc.StatusCode.UNAVAILABLE
        assert "no valid rule bundle" in (refused.details() or "")
        rules_status = status(pb_grpc.RulesServiceStub(channel))
        assert not rules_status.HasField("active")
        [problem] = rules_status.rejected_problems
        assert re.fullmatch(
            rf"{rules / 'bundle.yaml'}: the rules changed but their version did not: the ledger records"
            rf" '{STARTER_VERSION}' as the version of other rules \(digest {served.ruleset_digest[:12]}, first served"
            r" \d{4}-\d\d-\d\d \d\d:\d\d UTC\), and these rules \(digest [0-9a-f]{12}\) differ: in eligibility\.yaml\n"
            r"    fix: give bundle.yaml a new version, e\.g\. 2026\.12-3, so that every decision names the rules that"
            rf" made it \(or put back the rules served as '{STARTER_VERSION}'\) \[R014\]",
            problem,
        ), problem
        missing = rpc_error(
            lambda: pb_grpc.CreditLineServiceStub(channel).GetCreditLine(pb.GetCreditLineRequest(user_id="nobody"))
        )
        assert missing.code() == grpc.StatusCode.NOT_FOUND, "ledger reads go on"

    set_version(rules, "2026.12-3")
    with serving(rules, database_url) as channel:
        assert score(channel).meta.ruleset_version == "2026.12-3"

    set_version(rules, STARTER_VERSION)
    (rules / "eligibility.yaml").write_text((rules.parent / "starter-eligibility.yaml").read_text())
    with serving(rules, database_url) as channel:
        again = score(channel).meta
    assert (again.ruleset_version, again.ruleset_digest) == (STARTER_VERSION, served.ruleset_digest)


def test_rules_saved_again_with_windows_line_endings_are_told_so_and_how_to_put_them_back(
    rules: Path, tmp_path: Path
) -> None:
    """Opened in a Windows editor and saved, no rule changed: refused as 'the rules changed', naming no file."""
    database_url = f"sqlite:///{tmp_path / 'ledger.db'}"
    with serving(rules, database_url) as channel:
        score(channel)
    eligibility = rules / "eligibility.yaml"
    eligibility.write_bytes(eligibility.read_bytes().replace(b"\n", b"\r\n"))
    with serving(rules, database_url) as channel:
        [problem] = status(pb_grpc.RulesServiceStub(channel)).rejected_problems
    message, fix = problem.split("\n    fix: ")
    assert message.endswith(" differ: in eligibility.yaml (only in its line endings: CRLF, as Windows editors save,"
                            " where the rules served have LF)")
    assert fix.startswith("save eligibility.yaml again with LF line endings (your editor's 'Unix (LF)' setting), or"
                          " give bundle.yaml a new version, e.g. 2026.12-3")
    eligibility.write_bytes(eligibility.read_bytes().replace(b"\r\n", b"\n"))
    with serving(rules, database_url) as channel:
        assert score(channel).meta.ruleset_version == STARTER_VERSION


@pytest.fixture(autouse=True)
def keep_starter_eligibility(rules: Path) -> None:
    (rules.parent / "starter-eligibility.yaml").write_text((rules / "eligibility.yaml").read_text())


@pytest.mark.slow
def test_a_server_restarted_on_other_rules_under_its_version_serves_ledger_reads_and_says_why(
    rules: Path, tmp_path: Path
) -> None:
    """The same through `decisiond serve`: its workers refuse the bundle, the supervisor records the refusal and
    serves with no bundle, and takes the rules once their version changes, without a restart."""
    database_url = f"sqlite:///{tmp_path / 'ledger.db'}"
    first = start_server(database_url, rules=rules)
    try:
        assert status(pb_grpc.RulesServiceStub(grpc.insecure_channel(first.address))).active.version == STARTER_VERSION
    finally:
        assert first.stop() == 0

    reword(rules)
    server = start_server(database_url, rules=rules)
    try:
        channel = grpc.insecure_channel(server.address)
        rules_stub = pb_grpc.RulesServiceStub(channel)
        wait_for(lambda: status(rules_stub).last_edit_rejected, "the refusal to be recorded", timeout=60)
        refused = status(rules_stub)
        assert not refused.HasField("active")
        [problem] = refused.rejected_problems
        assert problem.startswith(f"{rules / 'bundle.yaml'}: the rules changed but their version did not: the ledger")
        assert problem.endswith("[R014]") and "\n" not in problem
        assert rpc_error(lambda: score(channel)).code() == grpc.StatusCode.UNAVAILABLE

        set_version(rules, "2026.12-3")
        wait_for(lambda: status(rules_stub).active.version == "2026.12-3", "the new version to serve", timeout=60)
        assert score(channel).meta.ruleset_version == "2026.12-3"
    finally:
        assert server.stop() == 0


def test_rules_given_an_earlier_version_again_are_told_so_and_offered_a_version_the_ledger_does_not_hold(
    rules: Path, tmp_path: Path
) -> None:
    """An old folder put back and edited: its version is not 'unchanged' (the ledger served a later one since), and
    the version the fix offers must be free, not one the ledger records for other rules (2026.12-3 here)."""
    database_url = f"sqlite:///{tmp_path / 'ledger.db'}"
    with serving(rules, database_url) as channel:
        served = score(channel).meta
    reword(rules)
    set_version(rules, "2026.12-3")
    with serving(rules, database_url) as channel:
        assert score(channel).meta.ruleset_version == "2026.12-3"

    eligibility = rules / "eligibility.yaml"
    eligibility.write_text(eligibility.read_text().replace("Applicants have to be", "Applicants need to be", 1))
    set_version(rules, STARTER_VERSION)
    with serving(rules, database_url) as channel:
        [problem] = status(pb_grpc.RulesServiceStub(channel)).rejected_problems
    message, fix = problem.split("\n    fix: ")
    assert message.startswith(
        f"{rules / 'bundle.yaml'}: the version '{STARTER_VERSION}' was used before, for other rules, and a version"
        f" names one set of rules: the ledger records '{STARTER_VERSION}' as the version of other rules (digest"
        f" {served.ruleset_digest[:12]}, first served ")
    assert fix.startswith("give bundle.yaml a new version, e.g. 2026.12-4, so that every decision names the rules")
