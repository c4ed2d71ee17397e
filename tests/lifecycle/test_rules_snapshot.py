"""The supervisor's private snapshot of the rules, driven directly (no server): it is small and quick to take
whatever the directory holds, it is judged exactly as `decisiond rules check` judges the directory, a refusal
always says why, and a change the old watch could not see (a link loop removed) is seen."""

from __future__ import annotations

import fcntl
import io
import os
import shutil
import stat
import time
from pathlib import Path

import pytest
from structlog.testing import capture_logs

from service.engine.check import run_check
from service.engine.files import MAX_FILE_BYTES, MAX_LIST_FILE_BYTES
from service.supervisor import RulesChanged, Supervisor, fingerprint, remove_stale_state
from tests.lifecycle.conftest import fake_validator
from tests.support.server_process import ROOT


def bytes_under(directory: Path) -> int:
    """The bytes held by the ordinary files under a directory, never opening or following anything else."""
    total = 0
    for folder, _, names in os.walk(directory):
        for name in names:
            info = os.lstat(Path(folder) / name)
            total += info.st_size if stat.S_ISREG(info.st_mode) else 0
    return total


def test_a_snapshot_never_follows_a_link_to_dev_zero_and_copies_at_most_the_limits(
    supervisor: Supervisor, rules: Path
) -> None:
    os.symlink("/dev/zero", rules / "lists" / "zero.txt")
    os.symlink("/dev/zero", rules / "tests" / "zero.yaml")
    os.symlink(".", rules / "lists" / "loop")
    (rules / "lists" / "big.txt").write_bytes(b"a\n" * MAX_LIST_FILE_BYTES)
    started = time.monotonic()
    snapshot, failure = supervisor._snapshot()
    assert time.monotonic() - started < 5
    assert failure is None
    assert stat.S_ISFIFO(os.lstat(snapshot / "lists" / "zero.txt").st_mode)
    assert stat.S_ISFIFO(os.lstat(snapshot / "tests" / "zero.yaml").st_mode)
    assert (snapshot / "lists" / "big.txt").stat().st_size == MAX_LIST_FILE_BYTES + 1
    assert list((snapshot / "lists" / "loop").iterdir()) == []
    original = sum(len(path.read_bytes()) for path in (ROOT / "rules").rglob("*") if path.is_file())
    assert bytes_under(supervisor.state_dir) <= original + MAX_LIST_FILE_BYTES + 1


def test_a_snapshot_holds_exactly_the_bytes_of_a_good_bundle(supervisor: Supervisor, rules: Path) -> None:
    snapshot, failure = supervisor._snapshot()
    assert failure is None
    for path in rules.rglob("*.yaml"):
        assert (snapshot / path.relative_to(rules)).read_bytes() == path.read_bytes()
    assert (snapshot / "lists" / "mule_counterparties.txt").read_bytes() == \
        (rules / "lists" / "mule_counterparties.txt").read_bytes()


def test_a_rules_folder_moved_away_and_made_again_empty_changes_the_fingerprint(tmp_path: Path) -> None:
    """Else the refusal "the rule bundle directory does not exist" stayed until a file changed or SIGHUP."""
    rules = tmp_path / "rules"
    missing = fingerprint(rules)
    rules.mkdir()
    assert fingerprint(rules) != missing
    empty = fingerprint(rules)
    rules.rename(tmp_path / "away")
    rules.mkdir()
    assert fingerprint(rules) != empty


def test_removing_a_link_loop_from_lists_changes_the_fingerprint(rules: Path) -> None:
    clean = fingerprint(rules)
    os.symlink(".", rules / "lists" / "loop")
    looped = fingerprint(rules)
    assert looped != clean
    (rules / "lists" / "loop").unlink()
    assert fingerprint(rules) == clean


def test_a_device_in_place_of_a_rule_file_changes_the_fingerprint_without_being_read(rules: Path) -> None:
    clean = fingerprint(rules)
    (rules / "fraud.yaml").unlink()
    os.symlink("/dev/zero", rules / "fraud.yaml")
    assert fingerprint(rules) != clean


@pytest.mark.parametrize(
    ("script", "reason"),
    [
        pytest.param("echo 'Traceback (most recent call last):' >&2\necho 'RuntimeError: the checker broke' >&2\n"
                     "exit 1\n", "(exit status 1): RuntimeError: the checker broke", id="without a word on stdout"),
        pytest.param("exit 3\n", "(exit status 3), with no message", id="silently"),
        pytest.param("echo '0 passed, 0 failed, 0 cases'\necho 'some error' >&2\nexit 1\n",
                     "(exit status 1): some error", id="printing only a summary"),
    ],
)
def test_a_validator_that_fails_without_naming_a_problem_still_gives_a_reason(
    supervisor: Supervisor, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, script: str, reason: str
) -> None:
    fake_validator(tmp_path, monkeypatch, script)
    assert supervisor._validate(tmp_path / "snapshot") == ([
        f"validating the bundle failed unexpectedly {reason}; the bundle is refused (report this to the service team)"
    ], [])


def test_validation_stops_at_once_when_the_supervisor_is_asked_to_stop(
    supervisor: Supervisor, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    fake_validator(tmp_path, monkeypatch, "exec sleep 60\n")
    supervisor._stop.set()
    started = time.monotonic()
    verdict, _ = supervisor._validate(tmp_path / "snapshot")
    assert time.monotonic() - started < 5
    assert verdict == ["validating the bundle was cut short: the service is shutting down"]


def one_problem_a_line(report: list[str]) -> list[str]:
    """What `rules check` printed, each problem as GetRulesStatus gives it: its headline, then ` -- ` and its
    `fix: ... [CODE]` line; the expression and caret lines between them are left out."""
    problems: list[list[str]] = []
    for line in report:
        if line.startswith(" "):
            problems[-1].append(line)
        else:
            problems.append([line])
    for lines in problems:
        assert lines[-1].startswith("    fix: ") and lines[-1].endswith("]"), lines
        assert len(lines) in (2, 4), lines
    return [f"{lines[0]} -- {lines[-1].strip()}" for lines in problems]


def check_lines(directory: Path) -> tuple[int, list[str]]:
    """`decisiond rules check DIR`: its exit status and its report without the summary line."""
    out = io.StringIO()
    status = run_check(directory, out)
    return status, out.getvalue().splitlines()[:-1]


@pytest.mark.slow
@pytest.mark.parametrize("damage", ["list linked to /dev/zero", "folder for a rule file", "oversized test file",
                                    "link into its own folder"])
def test_the_server_judges_a_damaged_directory_exactly_as_rules_check_does(
    supervisor: Supervisor, rules: Path, damage: str
) -> None:
    if damage == "list linked to /dev/zero":
        os.symlink("/dev/zero", rules / "lists" / "zero.txt")
    elif damage == "folder for a rule file":
        (rules / "fraud.yaml").unlink()
        (rules / "fraud.yaml").mkdir()
    elif damage == "oversized test file":
        (rules / "tests" / "big.yaml").write_bytes(b"#\n" * (MAX_FILE_BYTES // 2 + 1))
    else:
        os.symlink(".", rules / "lists" / "loop")
    status, report = check_lines(rules)
    snapshot, failure = supervisor._snapshot()
    assert failure is None
    verdict, warnings = supervisor._validate(snapshot)
    if status == 0:
        assert verdict is None, "rules check accepts it, so the server serves it"
        assert report[0].startswith(f"{rules}/lists/loop: warning:")
        assert warnings == one_problem_a_line(report), "served with the warnings rules check prints"
    else:
        assert verdict is not None
        assert verdict == one_problem_a_line(report), "the problems rules check prints, one a line, nothing else"


def test_a_snapshot_that_cannot_be_written_refuses_the_bundle_in_words(supervisor: Supervisor) -> None:
    (supervisor.state_dir / "bundle-00001").mkdir()  # in the way of the copy, as a full disk would be
    _, failure = supervisor._snapshot()
    assert failure == [f"the service could not copy the rule bundle to check it (file exists); the bundle is"
                       f" refused: check the space and permissions of {supervisor.state_dir.parent}, then reload"]


def test_a_refusal_that_cannot_be_recorded_is_logged_and_the_server_goes_on(
    supervisor: Supervisor, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A full disk: the copy fails, and so does writing the status that records the refusal. Before, that second
    failure escaped the watch and took the whole server down."""
    monkeypatch.setattr(supervisor, "_serve", lambda snapshot: None)
    (supervisor.state_dir / "bundle-00001").mkdir()  # in the way of the copy, as a full disk would be
    (supervisor.state_dir / "rules-status.tmp").mkdir()  # and of the status
    with capture_logs() as logs:
        supervisor._activate_or_reject(first=False)
    assert [entry["event"] for entry in logs] == ["rules.snapshot_failed", "rules.rejected", "rules.status_not_written"]
    assert supervisor.rejected is not None


def test_a_state_directory_a_cleaner_removed_is_made_again_for_the_next_edit(supervisor: Supervisor) -> None:
    shutil.rmtree(supervisor.state_dir)
    snapshot, failure = supervisor._snapshot()
    assert failure is None and (snapshot / "bundle.yaml").is_file()
    supervisor._write_status()
    assert supervisor.status_file.is_file()


def test_the_state_directory_is_locked_against_temporary_file_cleaners(supervisor: Supervisor) -> None:
    """systemd-tmpfiles skips a directory on which a lock is held (it tries LOCK_EX | LOCK_NB itself)."""
    directory = os.open(supervisor.state_dir, os.O_RDONLY | os.O_DIRECTORY)
    try:
        with pytest.raises(BlockingIOError):
            fcntl.flock(directory, fcntl.LOCK_EX | fcntl.LOCK_NB)
    finally:
        os.close(directory)


def test_a_file_rewritten_with_its_size_and_modification_time_kept_changes_the_fingerprint(rules: Path) -> None:
    """What `tar` or `rsync -a` deploys: other content, same size, the old modification time."""
    fraud = rules / "fraud.yaml"
    before, seen = fraud.stat(), fingerprint(rules)
    fraud.write_text(fraud.read_text().replace("severity: MEDIUM", "severity: HIGH  ", 1))
    os.utime(fraud, ns=(before.st_atime_ns, before.st_mtime_ns))
    assert (fraud.stat().st_size, fraud.stat().st_mtime_ns) == (before.st_size, before.st_mtime_ns)
    assert fingerprint(rules) != seen


def test_state_a_killed_supervisor_left_is_removed_and_a_running_ones_is_kept(tmp_path: Path) -> None:
    dead, running, fresh = (tmp_path / f"decisiond-{name}" for name in ("dead", "running", "fresh"))
    for folder in (dead, running, fresh):
        (folder / "bundle-00001").mkdir(parents=True)
    an_hour_ago = time.time() - 3600
    for folder in (dead, running):
        os.utime(folder, (an_hour_ago, an_hour_ago))
    held = os.open(running, os.O_RDONLY | os.O_DIRECTORY)  # as a running supervisor holds its own
    fcntl.flock(held, fcntl.LOCK_SH)
    try:
        assert remove_stale_state(tmp_path) == [dead]
    finally:
        os.close(held)
    assert sorted(path.name for path in tmp_path.iterdir()) == ["decisiond-fresh", "decisiond-running"]


def test_a_validation_is_stopped_at_once_when_the_rules_change_again(
    supervisor: Supervisor, rules: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A fix saved while an edit is checked no longer waits for that check to end (up to its 120 s timeout)."""
    fake_validator(tmp_path, monkeypatch, "exec sleep 60\n")
    seen = fingerprint(rules)
    (rules / "tests" / "extra.yaml").write_text("cases: []\n")
    started = time.monotonic()
    with pytest.raises(RulesChanged):
        supervisor._validate(tmp_path / "snapshot", seen)
    assert time.monotonic() - started < 5


def test_an_edit_changed_again_while_it_is_checked_is_not_judged_and_the_newer_rules_are(
    supervisor: Supervisor, rules: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The explorer's edit (five test files of 1 MiB) was refused 95 s after it had been undone, and GetRulesStatus
    then gave that refusal, naming no file, while the folder held the rules that served."""
    monkeypatch.setattr(supervisor, "_serve", lambda snapshot, warnings=None: None)
    fake_validator(tmp_path, monkeypatch, f"touch '{rules}/tests/fraud.yaml'\nexec sleep 60\n")  # saved meanwhile
    started = time.monotonic()
    assert supervisor._activate_or_reject(first=False) is True
    assert time.monotonic() - started < 5
    assert supervisor.rejected is None
    assert sorted(path.name for path in supervisor.state_dir.iterdir() if path.name.startswith("bundle-")) == []


@pytest.mark.parametrize("files", [1, 5])
def test_the_server_refuses_test_files_of_empty_cases_in_seconds_naming_the_file_or_folder(
    supervisor: Supervisor, rules: Path, files: int
) -> None:
    empty_cases = "cases: [" + "{}, " * (((1 << 20) - 64 - 20) // 4) + "]\n"  # 1 MiB, as the explorer's
    for number in range(files):
        (rules / "tests" / f"big{number}.yaml").write_text(empty_cases)
    snapshot, failure = supervisor._snapshot()
    assert failure is None
    started = time.monotonic()
    verdict, _ = supervisor._validate(snapshot)
    assert time.monotonic() - started < 30, "was the 120 s timeout"
    named = f"{rules}/tests/big0.yaml:1: with this case" if files == 1 else f"{rules}/tests: the {files + 4} test files"
    assert verdict is not None and len(verdict) == 1 and verdict[0].startswith(named), verdict
    assert verdict[0].endswith("[R501]")


def test_test_files_too_large_together_are_snapshot_as_their_sizes_only(supervisor: Supervisor, rules: Path) -> None:
    """Up to 1,000 test files of 1 MiB each were copied whole, only for the checker to refuse them from their sizes."""
    for number in range(5):
        (rules / "tests" / f"big{number}.yaml").write_text("cases: []\n" + "#" * (MAX_FILE_BYTES - 20) + "\n")
    snapshot, failure = supervisor._snapshot()
    assert failure is None
    assert (snapshot / "tests" / "big0.yaml").read_bytes() == bytes(MAX_FILE_BYTES - 9)  # its size, none of its text
    assert check_lines(snapshot)[1] == [line.replace(str(rules), str(snapshot)) for line in check_lines(rules)[1]]
