"""Compliance edits the rules of a running server: good edits switch versions with no failed call, bad edits
are refused and leave the last good bundle serving, and every answer comes from exactly one bundle."""

from __future__ import annotations

import os
import signal
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc

from service._gen.decision.v1 import decision_pb2 as pb
from service._gen.decision.v1 import decision_pb2_grpc as pb_grpc
from service.api.health import WATCH_ENDED
from tests.support.builders import request_id, strong_applicant
from tests.support.channels import client_channel
from tests.support.server_process import ROOT, ServerProcess, start_server, workers_of

pytestmark = pytest.mark.slow


@pytest.fixture
def server(rules: Path, tmp_path: Path) -> Iterator[ServerProcess]:
    running = start_server(f"sqlite:///{tmp_path / 'ledger.db'}", rules=rules)
    yield running
    running.kill()


def set_version(rules: Path, version: str, *, broken: bool = False) -> None:
    bundle = rules / "bundle.yaml"
    text = bundle.read_text()
    start = text.index('version: "') + len('version: "')
    bundle.write_text(text[:start] + version + text[text.index('"', start) :])
    fraud = rules / "fraud.yaml"
    good = (ROOT / "rules" / "fraud.yaml").read_text()
    fraud.write_text(
        good.replace("transaction.amount >= 10000 CNY", "transaction.amout >= 10000 CNY") if broken else good
    )


def status(stub: pb_grpc.RulesServiceStub) -> pb.GetRulesStatusResponse:
    return stub.GetRulesStatus(pb.GetRulesStatusRequest(), timeout=10, wait_for_ready=True)


def wait_for(condition: object, what: str, timeout: float = 90) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():  # type: ignore[operator]
            return
        time.sleep(0.2)
    raise AssertionError(f"timed out waiting for {what}")


class CallStream:
    """Calls ScoreUser back to back from 4 threads on a channel opened as the README tells clients to, recording
    each answer's bundle and every error, with the monotonic time each error came back."""

    def __init__(self, address: str) -> None:
        self.channel = client_channel(address)
        self.stub = pb_grpc.DecisionServiceStub(self.channel)
        self.answers: list[tuple[str, str]] = []
        self.errors: list[str] = []
        self.failed_at: list[float] = []
        self._stop = threading.Event()
        self._threads = [threading.Thread(target=self._run, daemon=True) for _ in range(4)]
        for thread in self._threads:
            thread.start()

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                answer = self.stub.ScoreUser(
                    pb.ScoreUserRequest(request_id=request_id(), applicant=strong_applicant("reload-user")),
                    timeout=30,
                    wait_for_ready=True,
                )
                self.answers.append((answer.meta.ruleset_version, answer.meta.ruleset_digest))
            except grpc.RpcError as error:
                self.failed_at.append(time.monotonic())
                self.errors.append(f"{error.code()}: {error.details()}")

    def stop(self) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join(timeout=30)
        self.channel.close()


def test_twenty_reloads_good_and_bad_under_load_fail_no_call_and_never_mix_bundles(
    server: ServerProcess, rules: Path
) -> None:
    rules_stub = pb_grpc.RulesServiceStub(grpc.insecure_channel(server.address))
    first = status(rules_stub).active
    activated = {first.version: first.digest}
    stream = CallStream(server.address)
    try:
        for number in range(1, 21):
            if number % 2:
                version = f"reload-{number}"
                set_version(rules, version)
                wait_for(lambda v=version: status(rules_stub).active.version == v, f"version {version} to serve")
                activated[version] = status(rules_stub).active.digest
            else:
                edited_at = time.time()
                set_version(rules, f"broken-{number}", broken=True)
                wait_for(lambda t=edited_at: status(rules_stub).rejected_at.seconds >= int(t), f"edit {number} refused")
                refused = status(rules_stub)
                assert refused.last_edit_rejected
                assert any("unknown field 'transaction.amout'" in p for p in refused.rejected_problems)
                assert refused.active.version == f"reload-{number - 1}", "the last good bundle keeps serving"
            time.sleep(0.5)  # let some calls land on each bundle
    finally:
        stream.stop()
    assert stream.errors == []
    assert len(stream.answers) > 100
    served = {version for version, _ in stream.answers}
    assert served <= set(activated), f"answers from bundles never activated: {served - set(activated)}"
    assert all(activated[version] == digest for version, digest in stream.answers), "version and digest mixed"
    assert not any(version.startswith("broken") for version in served)
    assert len(served) >= 8, "calls were answered by most of the bundles in turn"
    events = [entry.get("event") for entry in server.logs()]
    assert events.count("rules.rejected") == 10
    assert server.stop() == 0


def serving_workers(supervisor: int) -> set[int]:
    """The supervisor's worker processes (its children running service.worker)."""
    workers = set()
    for entry in Path("/proc").iterdir():
        try:
            parent = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
            command = (entry / "cmdline").read_bytes()
        except (OSError, ValueError, IndexError):
            continue
        if parent == supervisor and b"service.worker" in command:
            workers.add(int(entry.name))
    return workers


def loads_the_engine(pid: int) -> bool:
    return "durable_rules_engine" in Path(f"/proc/{pid}/maps").read_text()


def test_every_reload_replaces_the_processes_that_loaded_the_engine_and_the_supervisor_never_loads_it(
    server: ServerProcess, rules: Path
) -> None:
    # The engine leaks about 2 MB per ruleset it creates: only processes that are replaced may ever load one.
    rules_stub = pb_grpc.RulesServiceStub(grpc.insecure_channel(server.address))
    supervisor = server.process.pid
    before = serving_workers(supervisor)
    assert before and all(loads_the_engine(pid) for pid in before)
    for number in range(1, 4):
        set_version(rules, f"reload-{number}")
        wait_for(lambda v=f"reload-{number}": status(rules_stub).active.version == v, f"reload {number} to serve")
        wait_for(lambda old=before: not serving_workers(supervisor) & old, "the old workers to leave")
        after = serving_workers(supervisor)
        assert len(after) == len(before)
        before = after
    assert not loads_the_engine(supervisor)
    assert server.stop() == 0


def test_an_edit_that_keeps_size_and_modification_time_is_seen_without_sighup(
    server: ServerProcess, rules: Path
) -> None:
    """What `tar` or `rsync -a` deploys; the watch once missed it, and only SIGHUP made it serve."""
    rules_stub = pb_grpc.RulesServiceStub(grpc.insecure_channel(server.address))
    bundle = rules / "bundle.yaml"
    before = bundle.stat()
    bundle.write_text(bundle.read_text().replace('version: "2026.12-2"', 'version: "2026.12-3"'))
    os.utime(bundle, ns=(before.st_atime_ns, before.st_mtime_ns))
    wait_for(lambda: status(rules_stub).active.version == "2026.12-3", "the edited bundle to serve", timeout=60)
    assert server.stop() == 0


def test_sighup_checks_the_rules_again_and_starts_fresh_workers_on_them(server: ServerProcess) -> None:
    workers = workers_of(server.process.pid)
    os.kill(server.process.pid, signal.SIGHUP)

    def activations() -> list[object]:
        return [entry["version"] for entry in server.logs() if entry.get("event") == "rules.activated"]

    wait_for(lambda: len(activations()) == 2, "the bundle checked again on SIGHUP to serve")
    assert activations() == ["2026.12-2", "2026.12-2"]
    wait_for(lambda: not workers & workers_of(server.process.pid), "the workers before SIGHUP to retire")
    assert server.stop() == 0


def test_a_bundle_whose_own_tests_fail_is_refused_and_the_last_good_one_serves(
    server: ServerProcess, rules: Path
) -> None:
    rules_stub = pb_grpc.RulesServiceStub(grpc.insecure_channel(server.address))
    case_file = rules / "tests" / "scorecard.yaml"
    case_file.write_text(
        case_file.read_text().replace("expect: {score: 790, band: A, reasons: []}", "expect: {score: 1}")
    )
    edited_at = time.time()
    set_version(rules, "tests-fail")
    wait_for(lambda: status(rules_stub).rejected_at.seconds >= int(edited_at), "the edit to be refused")
    refused = status(rules_stub)
    assert refused.active.version == "2026.12-2"
    assert any("score: expected 1, got 790" in p for p in refused.rejected_problems)
    assert server.stop() == 0


def test_an_edit_saved_under_a_name_the_bundle_ignores_serves_with_a_warning_naming_the_file(
    server: ServerProcess, rules: Path
) -> None:
    """Notepad saves eligibility.yaml as eligibility.yaml.txt: the new version serves the old eligibility rules, so
    the status and the log say which file was ignored, not only `rules check`."""
    rules_stub = pb_grpc.RulesServiceStub(grpc.insecure_channel(server.address))
    assert list(status(rules_stub).active_warnings) == []
    edited = (rules / "eligibility.yaml").read_text().replace("applicant.age > 65", "applicant.age > 60")
    (rules / "eligibility.yaml.txt").write_text(edited)
    set_version(rules, "notepad-edit")
    wait_for(lambda: status(rules_stub).active.version == "notepad-edit", "the edit to serve")

    [warning] = status(rules_stub).active_warnings
    assert warning.startswith(f"{rules / 'eligibility.yaml.txt'}: warning: this file is ignored: the bundle reads "
                              "eligibility.yaml, not eligibility.yaml.txt")

    def logged() -> list[tuple[object, object]]:  # once the workers it replaces have drained
        entries = server.logs()
        return [(entry["version"], entry["warnings"]) for entry in entries if entry.get("event") == "rules.warnings"]

    wait_for(logged, "the warning to be logged")
    assert logged() == [("notepad-edit", [warning])]


def test_rules_changed_under_the_serving_version_are_refused_until_the_version_changes(
    server: ServerProcess, rules: Path
) -> None:
    """Every decision records the bundle's version, so one version must name one set of rules: an edit that
    forgets to change it is refused (R014, with a version to use), the rules before it go on serving, and the
    same edit under a new version serves."""
    rules_stub = pb_grpc.RulesServiceStub(grpc.insecure_channel(server.address))
    serving = status(rules_stub).active
    eligibility = rules / "eligibility.yaml"
    edited_at = time.time()
    eligibility.write_text(eligibility.read_text().replace("Applicants must be", "Applicants have to be", 1))
    wait_for(lambda: status(rules_stub).rejected_at.seconds >= int(edited_at), "the edit to be refused", timeout=60)
    refused = status(rules_stub)
    assert (refused.active.version, refused.active.digest) == (serving.version, serving.digest)
    assert len(refused.rejected_problems) == 1, "one problem, its headline and its fix on one line"
    assert refused.rejected_problems[0].startswith(f"{rules / 'bundle.yaml'}: the rules changed but their version")
    assert " -- fix: give bundle.yaml a new version, e.g. 2026.12-3" in refused.rejected_problems[0]
    assert refused.rejected_problems[0].endswith("[R014]")
    set_version(rules, "2026.12-3")
    wait_for(lambda: (now := status(rules_stub)).active.version == "2026.12-3" and not now.last_edit_rejected,
             "the edit under a new version to serve", timeout=60)
    assert status(rules_stub).active.digest != serving.digest
    assert server.stop() == 0


def test_an_edit_being_checked_is_told_apart_from_one_not_seen_until_it_serves(
    server: ServerProcess, rules: Path
) -> None:
    """The check of an edit takes seconds; meanwhile GetRulesStatus still names the rules before it, and without
    `checking_since` a compliance officer could not tell "being checked" from "not noticed" or "nothing changed"."""
    rules_stub = pb_grpc.RulesServiceStub(grpc.insecure_channel(server.address))
    assert not status(rules_stub).HasField("checking_since")
    edited_at = time.time()
    set_version(rules, "2026.12-3")
    seen: list[pb.GetRulesStatusResponse] = []
    wait_for(lambda: seen.append(status(rules_stub)) or (
        seen[-1].active.version == "2026.12-3" and not seen[-1].HasField("checking_since")),
        "the edit to serve, its check over", timeout=60)
    # (the two files set_version writes may be seen one at a time: a second check may follow the first)
    first_served = next(i for i, answer in enumerate(seen) if answer.active.version == "2026.12-3")
    checking = [answer for answer in seen[:first_served] if answer.HasField("checking_since")]
    assert checking, "the check was seen under way, the rules before it still named"
    assert all(answer.checking_since.seconds >= int(edited_at) - 1 for answer in checking)
    assert server.stop() == 0


def test_an_edit_saved_while_the_workers_of_the_last_switch_drain_is_noticed_within_a_second(
    server: ServerProcess, rules: Path
) -> None:
    """The workers a switch replaces take about 3 s to drain. An edit saved meanwhile (the officer publishes a
    version, sees it serve and saves the fix of a typo at once) went unnoticed until they had stopped: 3.7 s without
    `checking_since`, as if the server had never seen it."""
    rules_stub = pb_grpc.RulesServiceStub(grpc.insecure_channel(server.address))
    set_version(rules, "2026.12-3")
    wait_for(lambda: status(rules_stub).active.version == "2026.12-3", "the first edit to serve")
    set_version(rules, "2026.12-3")
    saved = time.monotonic()
    while not (now := status(rules_stub)).HasField("checking_since") and now.active.version != "2026.12-3":
        assert time.monotonic() - saved < 1.5, "the edit is not noticed within a second and a half"
        time.sleep(0.1)
    activated = [entry["version"] for entry in server.logs() if entry.get("event") == "rules.activated"]
    assert "2026.12-3" not in activated, "the workers before 2026.12-3 still drain (it is logged once they stopped)"
    wait_for(lambda: (now := status(rules_stub)).active.version == "2026.12-3" and not now.HasField("checking_since"),
             "the second edit to serve", timeout=60)
    assert server.stop() == 0


def test_a_list_linked_to_dev_zero_is_refused_naming_it_and_removing_it_is_seen_without_sighup(
    server: ServerProcess, rules: Path
) -> None:
    rules_stub = pb_grpc.RulesServiceStub(grpc.insecure_channel(server.address))
    zero = rules / "lists" / "zero.txt"
    os.symlink("/dev/zero", zero)
    edited_at = time.time()
    set_version(rules, "without-zero")
    wait_for(lambda: status(rules_stub).rejected_at.seconds >= int(edited_at), "the edit to be refused", timeout=30)
    refused = status(rules_stub)
    assert refused.active.version == "2026.12-2"
    assert [problem.split(" -- fix: ")[0] for problem in refused.rejected_problems] == \
        [f"{zero}: this is not an ordinary file: it is a device, a pipe or a socket"]
    zero.unlink()
    # The new workers answer a moment before the supervisor clears the refusal: wait for both.
    wait_for(lambda: (now := status(rules_stub)).active.version == "without-zero" and not now.last_edit_rejected,
             "the fixed bundle to serve", timeout=30)
    rejections = [entry for entry in server.logs() if entry.get("event") == "rules.rejected"]
    assert len(rejections) == 1 and rejections[0]["problems"]
    assert server.stop() == 0


def test_health_stays_serving_through_reloads_and_a_watch_does_not_hold_them_up(
    server: ServerProcess, rules: Path
) -> None:
    """A rule edit must be invisible to health-checking load balancers: the workers being replaced answer on their
    bundle until their connections have moved, so they report SERVING; an open Watch stream (gRPC's client-side
    health checking keeps one) is ended at their drain instead of holding it for its whole grace period."""
    seen: list[int] = []
    stop = threading.Event()

    def check() -> None:
        with grpc.insecure_channel(server.address) as channel:
            health = health_pb2_grpc.HealthStub(channel)
            while not stop.is_set():
                request = health_pb2.HealthCheckRequest(service="decision.v1.DecisionService")
                seen.append(health.Check(request, timeout=10, wait_for_ready=True).status)
                time.sleep(0.02)

    watch_channel = grpc.insecure_channel(server.address)
    watch = health_pb2_grpc.HealthStub(watch_channel).Watch(
        health_pb2.HealthCheckRequest(service="decision.v1.DecisionService"), timeout=120)
    assert next(watch).status == health_pb2.HealthCheckResponse.SERVING
    checker = threading.Thread(target=check)
    checker.start()
    try:
        rules_status = pb_grpc.RulesServiceStub(grpc.insecure_channel(server.address))
        for version in ("2026.12-health-1", "2026.12-health-2"):
            set_version(rules, version)
            wait_for(lambda v=version: status(rules_status).active.version == v, f"version {version}")
    finally:
        stop.set()
        checker.join()
    assert len(seen) > 20 and set(seen) == {health_pb2.HealthCheckResponse.SERVING}
    with pytest.raises(grpc.RpcError) as ended:  # its worker retired: the stream ended, nothing else said ...
        next(watch)
    assert (ended.value.code(), ended.value.details()) == (grpc.StatusCode.UNAVAILABLE, WATCH_ENDED)  # ... but to
    # watch again: a client that took an OK end for the last word would keep the last status it was told
    watch_channel.close()
    with grpc.insecure_channel(server.address) as channel:  # a Watch on the workers serving now, then SIGTERM
        watch = health_pb2_grpc.HealthStub(channel).Watch(
            health_pb2.HealthCheckRequest(service="decision.v1.DecisionService"), timeout=120)
        assert next(watch).status == health_pb2.HealthCheckResponse.SERVING
        asked = time.monotonic()
        assert server.stop() == 0
        # the lame duck and the connections' age, about 3.5 s; held for the drain's 10 s grace before
        assert time.monotonic() - asked < 8
        assert next(watch).status == health_pb2.HealthCheckResponse.NOT_SERVING
        with pytest.raises(grpc.RpcError) as ended:
            next(watch)
        assert ended.value.code() == grpc.StatusCode.UNAVAILABLE
