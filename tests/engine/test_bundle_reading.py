"""Whatever sits in the rules directory, reading it never hangs and never reads without bound: a device, a pipe,
a folder or a link that leads nowhere where a file belongs is refused by what it is, naming the file and the fix,
and a copy of the bundle (what the server checks and serves) gets exactly the same verdict as the original."""

from __future__ import annotations

import io
import os
import shutil
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

import pytest

from service.engine.bundle import check_bundle, load_bundle
from service.engine.files import (
    MAX_FILE_BYTES,
    MAX_FOLDER_ENTRIES,
    MAX_LIST_FILE_BYTES,
    EntryKind,
    bundle_entries,
    copy_bundle,
    read_bundle_files,
    read_entry,
)
from service.engine.problems import RuleProblem
from service.rule_tests import run_rule_tests
from tests.engine.conftest import ROOT, RULES, BundleCopy

T = TypeVar("T")
QUICKLY = 5.0  # seconds; each of these takes milliseconds, a hang would take forever


def within(seconds: float, work: Callable[[], T]) -> T:
    """work(), failing the test (instead of hanging it) when it has not returned after `seconds`."""
    results: list[T] = []
    thread = threading.Thread(target=lambda: results.append(work()), daemon=True)
    thread.start()
    thread.join(seconds)
    assert results, f"did not return within {seconds} s"
    return results[0]


def problems_of(directory: Path) -> list[RuleProblem]:
    return within(QUICKLY, lambda: check_bundle(directory))


def the_problem(directory: Path) -> RuleProblem:
    problems = problems_of(directory)
    assert len(problems) == 1, "\n".join(p.format() for p in problems)
    return problems[0]


def full_bundle(base: Path) -> Path:
    """A copy of rules/ with its tests/ (which BundleCopy leaves out), under a relative name as a user types it."""
    shutil.copytree(RULES, base / "rules", ignore=shutil.ignore_patterns("__pycache__"))
    return Path("rules")


@pytest.fixture
def rules(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.chdir(tmp_path)
    return full_bundle(tmp_path)


def test_a_list_linked_to_dev_zero_is_an_error_naming_it_and_is_never_read(bundle_copy: BundleCopy) -> None:
    os.symlink("/dev/zero", bundle_copy.path("lists/zero.txt"))
    problem = the_problem(bundle_copy.dir)
    assert (problem.code, problem.file, problem.is_error) == ("R002", "rules/lists/zero.txt", True)
    assert problem.message == "this is not an ordinary file: it is a device, a pipe or a socket"
    assert problem.hint == "replace rules/lists/zero.txt with the list (a text file): an ordinary file, or a link " \
        "to one; see docs/rules.md"


def test_a_pipe_in_place_of_a_rule_file_is_refused_without_waiting_for_a_writer(bundle_copy: BundleCopy) -> None:
    bundle_copy.path("fraud.yaml").unlink()
    os.mkfifo(bundle_copy.path("fraud.yaml"))
    problem = the_problem(bundle_copy.dir)
    assert (problem.code, problem.file, problem.message) == \
        ("R002", "rules/fraud.yaml", "this is not an ordinary file: it is a device, a pipe or a socket")


def test_a_folder_in_place_of_a_rule_file_is_called_a_folder_not_missing(bundle_copy: BundleCopy) -> None:
    bundle_copy.path("fraud.yaml").unlink()
    bundle_copy.path("fraud.yaml").mkdir()
    problem = the_problem(bundle_copy.dir)
    assert (problem.code, problem.file, problem.message) == ("R002", "rules/fraud.yaml", "this is a folder, not a file")
    assert problem.hint == "remove the folder rules/fraud.yaml and save the fraud.yaml file of the bundle in its " \
        "place; see docs/rules.md"


def test_a_link_into_its_own_folder_in_lists_is_a_warning_and_is_not_followed(bundle_copy: BundleCopy) -> None:
    os.symlink(".", bundle_copy.path("lists/loop"))
    problem = the_problem(bundle_copy.dir)
    assert (problem.code, problem.file, problem.is_error) == ("W002", "rules/lists/loop", False)
    assert problem.message == "this is a folder, not a list; it is ignored"


def test_a_list_that_is_a_link_loop_is_an_error(bundle_copy: BundleCopy) -> None:
    os.symlink("loop.txt", bundle_copy.path("lists/loop.txt"))
    problem = the_problem(bundle_copy.dir)
    assert (problem.code, problem.file, problem.message) == \
        ("R002", "rules/lists/loop.txt", "this is a link that leads round in a loop, not a file")


def test_a_rule_file_linked_to_nothing_says_so(bundle_copy: BundleCopy) -> None:
    bundle_copy.path("limits.yaml").unlink()
    os.symlink("gone.yaml", bundle_copy.path("limits.yaml"))
    problem = the_problem(bundle_copy.dir)
    assert (problem.file, problem.message) == ("rules/limits.yaml", "this is a link to a file that does not exist")


def test_a_rule_file_linked_to_a_file_in_the_rule_folder_is_read_through_the_link(bundle_copy: BundleCopy) -> None:
    """As a Kubernetes ConfigMap mounts it: each file a link into a hidden folder of the same volume."""
    data = bundle_copy.path("..2026_12_07")
    data.mkdir()
    bundle_copy.path("fraud.yaml").rename(data / "fraud.yaml")
    os.symlink("..2026_12_07/fraud.yaml", bundle_copy.path("fraud.yaml"))
    assert problems_of(bundle_copy.dir) == []


SECRET = "root:$6$salt$hash-of-a-password:19000:0:99999:7:::"


@pytest.mark.parametrize("name", ["scorecard.yaml", "lists/extra.txt", "tests/extra.yaml"])
def test_a_file_linked_from_outside_the_rule_folder_is_refused_and_never_read(
    bundle_copy: BundleCopy, name: str
) -> None:
    """The service may read what the person editing the rules may not (a private key, /etc/shadow), and the checker
    quotes what it reads in its messages, which GetRulesStatus and the log pass on."""
    private = bundle_copy.base / "private.txt"
    private.write_text(SECRET + "\n")
    private.chmod(0o600)
    bundle_copy.path("tests").mkdir(exist_ok=True)
    if bundle_copy.path(name).exists():
        bundle_copy.path(name).unlink()
    os.symlink(private, bundle_copy.path(name))
    problem = the_problem(bundle_copy.dir)
    assert (problem.code, problem.file, problem.is_error) == ("R002", f"rules/{name}", True)
    assert problem.message == "this is a link to something outside the rule folder, which the service does not read"
    assert problem.hint.startswith("put the ") and problem.hint.endswith(
        " itself in the rule folder in place of the link: the service reads nothing outside it")
    assert read_entry(bundle_copy.path(name), 1000, bundle_copy.dir) == (EntryKind.OUTSIDE, b"")


@pytest.mark.parametrize(("replacement", "said"), [
    ("outside", "this is a link to something outside the rule folder, which the service does not read"),
    ("folder", "this is a folder, not a file"),
    ("pipe", "this is not an ordinary file: it is a device, a pipe or a socket"),
])
def test_a_list_a_rule_uses_that_cannot_be_used_is_not_said_to_be_missing(
    bundle_copy: BundleCopy, replacement: str, said: str
) -> None:
    """The rule using it was also told "unknown list ... create the file lists/mule_counterparties.txt", a file that
    is there (a list refused for not being UTF-8 never was)."""
    used = bundle_copy.path("lists/mule_counterparties.txt")
    used.unlink()
    if replacement == "outside":
        (bundle_copy.base / "mules.txt").write_text("CP-1\n")
        os.symlink(bundle_copy.base / "mules.txt", used)
    elif replacement == "folder":
        used.mkdir()
    else:
        os.mkfifo(used)
    problem = the_problem(bundle_copy.dir)
    assert (problem.code, problem.file, problem.message) == ("R002", "rules/lists/mule_counterparties.txt", said)


def test_a_list_saved_in_capitals_is_told_the_name_it_needs(bundle_copy: BundleCopy) -> None:
    (bundle_copy.path("lists") / "NEW_MULES.TXT").write_text("CP-1\n")
    problem = the_problem(bundle_copy.dir)
    assert (problem.code, problem.message) == ("W002", "this file is ignored: lists are files named NAME.txt")
    assert problem.hint == "rename it to new_mules.txt if it is a list"


def test_a_text_file_in_lists_that_no_rule_can_name_is_a_warning_and_a_rule_meaning_it_is_told(
    bundle_copy: BundleCopy,
) -> None:
    """A README.txt or an Explorer copy ("x - Copy.txt") in lists/ refused the whole bundle, though no rule can
    name it; a rule meaning a list saved under such a name is still refused, as the list it names does not exist."""
    (bundle_copy.path("lists") / "README.txt").write_text("who keeps these lists\n")
    (bundle_copy.path("lists") / "mule_counterparties - Copy.txt").write_text("CP-1\n")
    problems = problems_of(bundle_copy.dir)
    assert [(p.code, p.file, p.is_error) for p in problems] == [
        ("W002", "rules/lists/README.txt", False), ("W002", "rules/lists/mule_counterparties - Copy.txt", False)]
    assert problems[0].message == "this file is ignored: 'README' is not a valid list name"
    assert problems[1].hint == ("rename it to mule_counterparties_copy.txt if it is a list (list names are lower-case"
                                " letters, digits and _, starting with a letter); otherwise move it out of lists/")
    load_bundle(bundle_copy.dir)  # served, with the warnings

    bundle_copy.path("lists/mule_counterparties.txt").rename(bundle_copy.path("lists/Mule_Counterparties.txt"))
    codes = sorted((p.code, p.is_error) for p in problems_of(bundle_copy.dir))
    assert ("R106", True) in codes and ("W002", False) in codes


def test_hidden_files_tools_leave_in_tests_are_not_test_files(rules: Path) -> None:
    """An editor's lock link to nowhere while a file has unsaved changes, a Mac's AppleDouble file on a share: a
    running server refused an edit for them."""
    os.symlink("root@host.1234:1700000000", rules / "tests" / ".#fraud.yaml")
    (rules / "tests" / "._fraud.yaml").write_bytes(b"\x00\x05\x16\x07" + bytes(60))
    assert problems_of(rules) == []
    assert run_rule_tests(rules, io.StringIO()) == 0


@pytest.mark.parametrize("folder", ["tests", "lists", "."])
def test_a_folder_of_thousands_of_entries_is_refused_without_looking_at_each(rules: Path, folder: str) -> None:
    """The server looks at every entry of the bundle twice a second for edits: 60,000 files in tests/ kept its
    supervisor busy on a quarter of a core for as long as they stayed."""
    crowded = rules / folder
    for number in range(5 * MAX_FOLDER_ENTRIES):
        (crowded / f"n{number}.md").touch()
    entries = bundle_entries(rules)
    assert len(entries) < 50  # the crowded folder's entries are neither listed nor looked at
    # a crowded lists/ leaves the lists unread, but the rules using them are not told to create them: they may exist
    problem = the_problem(rules)
    assert (problem.code, problem.file, problem.is_error) == ("R501", str(rules / folder).removesuffix("/."), True)
    assert problem.message == f"this folder holds more than {MAX_FOLDER_ENTRIES:,} entries; the service looks at " \
        "no more"


def test_a_lists_folder_linked_from_outside_the_rule_folder_is_not_listed(bundle_copy: BundleCopy) -> None:
    outside = bundle_copy.base / "elsewhere"
    outside.mkdir()
    (outside / "extra.txt").write_text(SECRET + "\n")
    shutil.rmtree(bundle_copy.path("lists"))
    os.symlink(outside, bundle_copy.path("lists"))
    said = [p.format() for p in problems_of(bundle_copy.dir)]
    assert any("rules/lists: warning: this should be a folder but is a link to something outside the rule folder"
               in line for line in said), said
    assert not any(SECRET in line for line in said)


def test_an_oversized_list_is_refused_and_only_the_limit_plus_one_byte_is_read(
    bundle_copy: BundleCopy, tmp_path: Path
) -> None:
    bundle_copy.path("lists/big.txt").write_bytes(b"CP-1\n" * (MAX_LIST_FILE_BYTES // 4))
    problem = the_problem(bundle_copy.dir)
    assert (problem.code, problem.file, problem.message) == \
        ("R501", "rules/lists/big.txt", "the file is larger than 8192 KiB")
    assert read_entry(bundle_copy.path("lists/big.txt"), 100) == (EntryKind.FILE, b"CP-1\n" * 20 + b"C")


def test_reading_dev_zero_through_a_link_returns_nothing_at_once() -> None:
    assert within(QUICKLY, lambda: read_entry(Path("/dev/zero"), MAX_FILE_BYTES)) == (EntryKind.SPECIAL, b"")


def test_a_test_case_file_linked_to_dev_zero_is_an_error_of_the_bundle(rules: Path) -> None:
    os.symlink("/dev/zero", rules / "tests" / "zero.yaml")
    problem = the_problem(rules)
    assert (problem.code, problem.file, problem.is_error) == ("R002", "rules/tests/zero.yaml", True)


@pytest.mark.parametrize(("damage", "expected"), [
    ("folder", "this is a folder, not a file"),
    ("oversized", "the file is larger than 1024 KiB"),
    ("not_utf8", "the file is not UTF-8 text (byte 3)"),
    ("utf16", "the file is saved as UTF-16 ('Unicode' in Notepad), not as UTF-8 text"),
])
def test_a_test_case_file_the_runner_could_not_read_is_an_error_of_the_bundle(
    rules: Path, damage: str, expected: str
) -> None:
    case_file = rules / "tests" / "extra.yaml"
    if damage == "folder":
        case_file.mkdir()
    elif damage == "oversized":
        case_file.write_bytes(b"#\n" * (MAX_FILE_BYTES // 2 + 1))
    elif damage == "utf16":
        case_file.write_bytes(b"\xff\xfe")  # the byte order mark Notepad's 'Unicode' starts a file with
    else:
        case_file.write_bytes(b"caf\xe9")  # saved in a Western code page
    assert (the_problem(rules).file, the_problem(rules).message) == ("rules/tests/extra.yaml", expected)


def damage(directory: Path, how: str) -> None:
    """Break a full copy of the bundle in one way (see DAMAGES)."""
    lists, tests = directory / "lists", directory / "tests"
    if how in {"folder for a rule file", "pipe for a rule file"}:
        (directory / "fraud.yaml").unlink()
    if how in {"broken link for a rule file", "unreadable rule file"}:
        (directory / "limits.yaml").unlink()
    if how in {"lists is a pipe", "unlistable lists folder"}:
        shutil.rmtree(lists)
    match how:
        case "list linked to /dev/zero":
            os.symlink("/dev/zero", lists / "zero.txt")
        case "test file linked to /dev/zero":
            os.symlink("/dev/zero", tests / "zero.yaml")
        case "link into its own folder":
            os.symlink(".", lists / "loop")
        case "list that is a link loop":
            os.symlink("loop.txt", lists / "loop.txt")
        case "pipe in lists":
            os.mkfifo(lists / "pipe")
        case "folder for a rule file":
            (directory / "fraud.yaml").mkdir()
        case "pipe for a rule file":
            os.mkfifo(directory / "fraud.yaml")
        case "broken link for a rule file":
            os.symlink("gone.yaml", directory / "limits.yaml")
        case "unreadable rule file":  # a name longer than any file system allows: not even root can open it
            os.symlink("y" * 300, directory / "limits.yaml")
        case "oversized list":
            (lists / "big.txt").write_bytes(b"a\n" * (MAX_LIST_FILE_BYTES // 2 + 1))
        case "oversized test file":
            (tests / "big.yaml").write_bytes(b"#\n" * (MAX_FILE_BYTES // 2 + 1))
        case "rule file saved as .yml":
            (directory / "fraud.yaml").rename(directory / "fraud.yml")
        case "lists is a pipe":
            os.mkfifo(lists)
        case "stray yaml linked to /dev/zero":
            os.symlink("/dev/zero", directory / "old.yaml")
        case "unlistable lists folder":
            os.symlink("z" * 300, lists)
        case "crowded tests folder":
            for number in range(MAX_FOLDER_ENTRIES + 1):
                (tests / f"note-{number}.txt").touch()
        case "rule file linked from outside":
            (directory / "limits.yaml").rename(directory.parent / "limits.yaml")
            os.symlink((directory.parent / "limits.yaml").resolve(), directory / "limits.yaml")


DAMAGES = [
    "list linked to /dev/zero", "test file linked to /dev/zero", "link into its own folder",
    "list that is a link loop", "pipe in lists", "folder for a rule file", "pipe for a rule file",
    "broken link for a rule file", "unreadable rule file", "oversized list", "oversized test file",
    "rule file saved as .yml", "lists is a pipe", "stray yaml linked to /dev/zero", "unlistable lists folder",
    "rule file linked from outside", "crowded tests folder", "nothing wrong",
]


@pytest.mark.parametrize("how", DAMAGES)
def test_a_copy_of_the_bundle_gets_exactly_the_verdict_of_the_original(rules: Path, how: str) -> None:
    damage(rules, how)
    copy = Path("copy")
    within(QUICKLY, lambda: copy_bundle(rules, copy))
    original = [p.format() for p in problems_of(rules)]
    assert [p.format().replace("copy/", "rules/").replace("copy ", "rules ") for p in problems_of(copy)] == original
    assert (original == []) == (how == "nothing wrong")


def test_a_copy_holds_at_most_each_files_limit_plus_one_byte_and_never_follows_a_device(rules: Path) -> None:
    os.symlink("/dev/zero", rules / "lists" / "zero.txt")
    os.symlink("/dev/zero", rules / "tests" / "zero.yaml")
    (rules / "lists" / "big.txt").write_bytes(b"a\n" * MAX_LIST_FILE_BYTES)
    (rules / "notes.md").write_text("not part of the bundle: not copied\n")
    (rules / "lists" / "sub").mkdir()
    (rules / "lists" / "sub" / "deep.txt").write_text("not read: not copied\n")
    copy = Path("copy")
    within(QUICKLY, lambda: copy_bundle(rules, copy))
    assert (copy / "lists" / "big.txt").stat().st_size == MAX_LIST_FILE_BYTES + 1
    assert not (copy / "lists" / "zero.txt").is_symlink()
    assert read_entry(copy / "lists" / "zero.txt", 10) == (EntryKind.SPECIAL, b"")
    assert read_entry(copy / "tests" / "zero.yaml", 10) == (EntryKind.SPECIAL, b"")
    assert not (copy / "notes.md").exists()
    assert list((copy / "lists" / "sub").iterdir()) == []
    for name in ("bundle.yaml", "fraud.yaml", "lists/mule_counterparties.txt", "tests/fraud.yaml"):
        assert (copy / name).read_bytes() == (rules / name).read_bytes()


def test_a_copy_of_a_directory_that_does_not_exist_is_not_created(tmp_path: Path) -> None:
    copy_bundle(tmp_path / "nowhere", tmp_path / "copy")
    assert not (tmp_path / "copy").exists()


def test_a_copy_of_a_file_given_as_the_bundle_is_a_file_that_the_checker_calls_a_file(tmp_path: Path) -> None:
    """`serve --rules rules.txt` said the folder did not exist, where `rules check rules.txt` said it is a file: the
    server checks its copy, which was not made at all."""
    (tmp_path / "rules.txt").write_text("not rules\n")
    copy_bundle(tmp_path / "rules.txt", tmp_path / "copy")
    [problem] = check_bundle(tmp_path / "copy")
    assert problem.message == "the rule bundle directory is a file, not a folder"


@pytest.mark.slow
@pytest.mark.parametrize("command", ["check", "test"])
def test_the_rule_tools_refuse_a_test_file_linked_to_dev_zero_in_seconds(
    tmp_path: Path, command: str
) -> None:
    rules = tmp_path / "rules"
    shutil.copytree(RULES, rules)
    os.symlink("/dev/zero", rules / "tests" / "zero.yaml")
    started = time.monotonic()
    done = subprocess.run([sys.executable, "-m", "service.cli", "rules", command, str(rules)], cwd=ROOT,
                          capture_output=True, text=True, timeout=60, check=False)
    assert done.returncode == 1
    assert f"{rules}/tests/zero.yaml: this is not an ordinary file: it is a device, a pipe or a socket" in done.stdout
    assert "Traceback" not in done.stdout + done.stderr
    assert time.monotonic() - started < 30


def test_a_file_given_as_the_bundle_directory_is_called_a_file(tmp_path: Path) -> None:
    given = tmp_path / "rules.yaml"
    given.write_text("rules: []\n")
    problems: list[RuleProblem] = []
    assert read_bundle_files(given, problems) is None
    assert [p.format() for p in problems] == [f"{given}: the rule bundle directory is a file, not a folder\n"
                                              "    fix: give the directory that holds bundle.yaml, e.g. rules/ [R002]"]


def test_test_cases_the_runner_would_skip_are_warned_about_in_the_copy_too(
    bundle_copy: BundleCopy, tmp_path: Path
) -> None:
    original = bundle_copy.base / "rules"
    for skipped in ("tests/extra.yml", "tests/X.YAML", "tests/more/x.yaml"):
        bundle_copy.write(skipped, (RULES / "tests" / "fraud.yaml").read_text())
    not_read = "is not read: test cases are in files named tests/NAME.yaml"
    said = [(p.code, p.file, p.message) for p in check_bundle(original)]
    assert said == [
        ("W002", f"{original}/tests/X.YAML", f"'X.YAML' {not_read}"),
        ("W002", f"{original}/tests/extra.yml", f"'extra.yml' {not_read}"),
        ("W002", f"{original}/tests/more", f"a folder inside tests/ {not_read}"),
    ]
    copy = tmp_path / "copy"
    copy_bundle(original, copy)
    in_copy = [(p.code, p.file.replace(str(copy), str(original)), p.message) for p in check_bundle(copy)]
    assert in_copy == said


def test_a_rule_file_saved_by_notepad_or_in_capitals_is_warned_about_with_the_name_to_save_it_under(
    bundle_copy: BundleCopy, tmp_path: Path
) -> None:
    original = bundle_copy.base / "rules"
    bundle_copy.write("eligibility.yaml.txt", bundle_copy.read("eligibility.yaml"))
    bundle_copy.write("FRAUD.YAML", bundle_copy.read("fraud.yaml"))
    bundle_copy.write("tests/new_cases.yaml.txt", "cases: []\n")
    notepad = "Notepad adds .txt: choose 'All files' as the type when saving"
    said = [p.format() for p in check_bundle(original)]
    assert said == [
        f"{original}/FRAUD.YAML: warning: this file is ignored: the bundle reads fraud.yaml, not FRAUD.YAML\n"
        "    fix: if it holds your changes, save it as fraud.yaml, replacing the file of that name; otherwise remove"
        " it [W002]",
        f"{original}/eligibility.yaml.txt: warning: this file is ignored: the bundle reads eligibility.yaml, not"
        " eligibility.yaml.txt\n"
        f"    fix: if it holds your changes, save it as eligibility.yaml ({notepad}), replacing the file of that name;"
        " otherwise remove it [W002]",
        f"{original}/tests/new_cases.yaml.txt: warning: 'new_cases.yaml.txt' is not read: test cases are in files"
        " named tests/NAME.yaml\n"
        f"    fix: rename it to tests/new_cases.yaml if it holds test cases ({notepad}), or remove it [W002]",
    ]
    copy = tmp_path / "copy"  # what the server checks when it reloads: the same warnings
    copy_bundle(original, copy)
    assert [p.format().replace(str(copy), str(original)) for p in check_bundle(copy)] == said


def test_a_rule_file_saved_only_as_yml_is_told_to_be_renamed_without_mention_of_a_file_to_replace(
    bundle_copy: BundleCopy,
) -> None:
    bundle_copy.path("fraud.yaml").rename(bundle_copy.path("fraud.yml"))
    assert [p.format() for p in check_bundle(bundle_copy.dir)] == [
        "rules/fraud.yaml: this file of the bundle is missing\n    fix: rename rules/fraud.yml to fraud.yaml [R002]",
        "rules/fraud.yml: warning: this file is ignored: the bundle reads fraud.yaml, not fraud.yml\n"
        "    fix: if it holds your changes, save it as fraud.yaml; otherwise remove it [W002]",
    ]
