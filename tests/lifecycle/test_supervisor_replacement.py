"""A worker dies while its replacement cannot start (the database does not answer, say): the death is logged once,
and the replacement is tried again later and later, as a set of workers that cannot start is, not at every watch
tick; it is taken once it serves the bundle the others serve."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
from structlog.testing import capture_logs

from service import supervisor as supervisor_module
from service.supervisor import WATCH_INTERVAL, ActiveBundle, Supervisor, Worker

DATABASE_DOWN = "FAILED the database could not be opened: connection refused"


class Clock:
    """The supervisor's monotonic clock, moved on by the test one watch tick at a time."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


class ReplacementAttempts:
    """Stands in for starting a worker: each attempt's time, and what the worker says (DATABASE_DOWN until told)."""

    def __init__(self, clock: Clock) -> None:
        self.clock = clock
        self.at: list[float] = []
        self.says = DATABASE_DOWN

    def spawn(self, snapshot: Path | None, index: int) -> Worker:
        self.at.append(self.clock.now)
        return worker_on(snapshot or Path(), alive=True)

    def await_ready(self, worker: Worker) -> str:
        return self.says


def worker_on(snapshot: Path, *, alive: bool) -> Worker:
    """A worker whose process has ended; `alive`: the supervisor sees it running (and stopping it does nothing)."""
    process = subprocess.Popen(["true"], text=True)
    process.wait()
    if alive:
        process.poll = lambda: None  # type: ignore[method-assign]
    return Worker(process, snapshot)


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> Clock:
    ticking = Clock()
    monkeypatch.setattr(supervisor_module.time, "monotonic", ticking)
    return ticking


@pytest.fixture
def attempts(supervisor: Supervisor, clock: Clock, monkeypatch: pytest.MonkeyPatch) -> ReplacementAttempts:
    made = ReplacementAttempts(clock)
    monkeypatch.setattr(supervisor, "_spawn", made.spawn)
    monkeypatch.setattr(supervisor, "_await_ready", made.await_ready)
    return made


def watch_for(supervisor: Supervisor, clock: Clock, seconds: float) -> None:
    """What the watch loop does about dead workers, tick after tick, for `seconds`."""
    for _ in range(round(seconds / WATCH_INTERVAL)):
        clock.now += WATCH_INTERVAL
        supervisor._replace_dead_workers()


def serving_with_one_dead_worker(supervisor: Supervisor, tmp_path: Path) -> Worker:
    snapshot = tmp_path / "bundle-00001"
    supervisor.active = ActiveBundle(snapshot, "2026.12.1", "d" * 64)
    dead = worker_on(snapshot, alive=False)
    supervisor.workers = [dead, worker_on(snapshot, alive=True)]
    return dead


def test_a_dead_worker_that_cannot_be_replaced_is_logged_once_and_retried_with_a_growing_delay(
    supervisor: Supervisor, clock: Clock, attempts: ReplacementAttempts, tmp_path: Path
) -> None:
    dead = serving_with_one_dead_worker(supervisor, tmp_path)
    with capture_logs() as logs:
        watch_for(supervisor, clock, 65)
    died = [entry for entry in logs if entry["event"] == "worker.died"]
    assert [(entry["pid"], entry["how"]) for entry in died] == [(dead.pid(), "exit status 0")]
    spacing = [later - earlier for earlier, later in zip(attempts.at, attempts.at[1:], strict=False)]
    assert spacing == [1, 2, 4, 8, 16, 30]
    not_replaced = [entry for entry in logs if entry["event"] == "worker.not_replaced"]
    assert [entry["retry_in_seconds"] for entry in not_replaced] == [1, 2, 4, 8, 16, 30, 30]
    assert all(entry["pid"] == dead.pid() for entry in not_replaced)
    assert all(entry["reason"] == "the database could not be opened: connection refused" for entry in not_replaced)
    assert supervisor.workers[0] is dead


def test_a_replacement_is_taken_once_it_can_start_on_the_bundle_the_others_serve(
    supervisor: Supervisor, clock: Clock, attempts: ReplacementAttempts, tmp_path: Path
) -> None:
    dead = serving_with_one_dead_worker(supervisor, tmp_path)
    watch_for(supervisor, clock, 4)  # attempts at 0.5, 1.5 and 3.5 s fail
    assert supervisor.active is not None
    attempts.says = f"READY 2026.11.9 {'e' * 64}"  # the database is back, the rules copy served is another
    with capture_logs() as logs:
        watch_for(supervisor, clock, 8)  # an attempt at 7.5 s starts on other rules
    assert supervisor.workers[0] is dead and len(attempts.at) == 4
    assert [entry["event"] for entry in logs] == ["worker.not_replaced"]
    attempts.says = f"READY {supervisor.active.version} {supervisor.active.digest}"
    with capture_logs() as logs:
        watch_for(supervisor, clock, 20)  # an attempt at 15.5 s serves the bundle
    assert [entry["event"] for entry in logs] == ["worker.replaced"]
    assert logs[0]["old_pid"] == dead.pid() and supervisor.workers[0] is not dead
    assert len(attempts.at) == 5


def test_a_replacement_that_refuses_the_checked_copy_has_the_rules_checked_again(
    supervisor: Supervisor, clock: Clock, attempts: ReplacementAttempts, tmp_path: Path
) -> None:
    """The copy the others serve was removed (a temporary-file cleaner): trying again would not bring it back."""
    dead = serving_with_one_dead_worker(supervisor, tmp_path)
    attempts.says = ('REFUSED ["' + str(tmp_path / "bundle-00001") + ': the rule bundle directory does not exist\\n'
                     '    fix: give the directory that holds bundle.yaml, e.g. rules/ [R002]"]')
    with capture_logs() as logs:
        watch_for(supervisor, clock, WATCH_INTERVAL)
    assert [entry["event"] for entry in logs] == ["worker.died", "worker.not_replaced"]
    assert logs[1]["reason"] == (
        f"it refused the checked copy of the rules at {tmp_path / 'bundle-00001'} ({tmp_path / 'bundle-00001'}: the"
        " rule bundle directory does not exist -- fix: give the directory that holds bundle.yaml, e.g. rules/ [R002]);"
        " checking the rules again"
    )
    assert supervisor._reload.is_set() and supervisor.workers[0] is dead
