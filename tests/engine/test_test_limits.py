"""Limits on the test files of a bundle as a whole, and on the problems one test file may have.

Each test file had its own limit (1 MiB) and tests/ its 1,000 entries, but nothing limited the cases or the work they
cause: one 1 MiB file of empty cases (`cases: [{}, {}, ...]`, 262,000 of them) made `rules check` take 17 s and 488 MB,
five took 146 s and 1.8 GB, and the server's check of the edit ran into its 120 s timeout. All test files together are
now held to 2 MiB (judged from their sizes, before any is read) and 10,000 cases (counted from the parser's events,
before a file's cases are built), both R501; and a file's cases give at most 100 problems, then the rest of the file is
set aside."""

from __future__ import annotations

import io
import time

import pytest

from service import case_yaml
from service.case_yaml import count_cases
from service.engine.bundle import check_bundle
from service.engine.check import run_check
from service.rule_tests import MAX_PROBLEMS_PER_TEST_FILE, read_cases, rule_case_problems
from tests.engine.conftest import BundleCopy

MIB = 1 << 20
ALL_TESTS_BYTES = 2 * MIB  # docs/rules.md, "How rules run"
ALL_TEST_CASES = 10_000
FIX = ("keep a case or two for each rule and remove the rest (a case needs only the values its rules look at): the "
       "service runs every case before it serves an edit")
CASE = "  - {name: case %d, call: ScoreUser, expect: {band: A}}\n"


def empty_cases(count: int) -> str:
    """A test file of `count` empty cases, all on its second line, as the explorer's 1 MiB file holds them."""
    return "cases:\n  [" + "{}, " * count + "]\n"


def checked(bundle_copy: BundleCopy) -> tuple[int, list[str]]:
    """`decisiond rules check rules/` with the test cases: its exit status and its report."""
    out = io.StringIO()
    status = run_check(bundle_copy.dir, out, extra_checks=rule_case_problems)
    return status, out.getvalue().splitlines()


def test_a_1_mib_file_of_empty_cases_is_refused_at_once_naming_the_case_past_10000(bundle_copy: BundleCopy) -> None:
    bundle_copy.write("tests/big0.yaml", empty_cases(((MIB - 64) - 20) // 4))
    started = time.monotonic()
    status, report = checked(bundle_copy)
    assert time.monotonic() - started < 5, "was 17 s"
    assert (status, report) == (1, [
        "rules/tests/big0.yaml:2: with this case the test files hold more than 10,000 cases; the service accepts at "
        "most 10,000 in all: the cases of this file and of the files after it were not run",
        f"    fix: {FIX} [R501]",
        "rules: 1 error, 0 warnings",
    ])


def test_test_files_larger_than_2_mib_together_are_refused_from_their_sizes_without_reading_them(
        bundle_copy: BundleCopy) -> None:
    bundle_copy.write("tests/cases.yaml", "cases:\n" + CASE % 1)
    small = bundle_copy.path("tests/cases.yaml").stat().st_size
    for k in range(3):  # 700 KiB each, within the limit of one file; sparse NULs, which reading would refuse
        with open(bundle_copy.path(f"tests/t{k}.yaml"), "wb") as f:
            f.truncate(700 * 1024)
    total = 3 * 700 * 1024 + small
    found = [(p.code, p.file, p.message, p.hint) for p in check_bundle(bundle_copy.dir)]
    assert found == [("R501", "rules/tests", f"the 4 test files hold {total:,} bytes together; the service accepts at "
                      f"most {ALL_TESTS_BYTES:,} bytes (2 MiB) of test cases in all, and read none of them", FIX)]


def test_test_files_of_exactly_2_mib_together_are_accepted_and_a_byte_more_is_not(bundle_copy: BundleCopy) -> None:
    full = "cases: []\n" + "#" * (MIB - 11) + "\n"  # 1 MiB, the limit of one file
    bundle_copy.write("tests/a.yaml", full)
    bundle_copy.write("tests/b.yaml", full)
    assert [p for p in check_bundle(bundle_copy.dir) if p.is_error] == []

    bundle_copy.write("tests/c.yaml", "\n")
    assert [(p.code, p.file) for p in check_bundle(bundle_copy.dir) if p.is_error] == [("R501", "rules/tests")]


def test_cases_are_counted_from_the_parser_events_up_to_the_one_past_the_room() -> None:
    assert count_cases(empty_cases(ALL_TEST_CASES), ALL_TEST_CASES) == (ALL_TEST_CASES, None)
    assert count_cases(empty_cases(ALL_TEST_CASES + 1), ALL_TEST_CASES) == (ALL_TEST_CASES, 2)
    block = "cases:\n" + "".join(CASE % n for n in range(3)) + "other: [{}, {}, {}, {}]\n"
    assert count_cases(block, 3) == (3, None)
    assert count_cases(block, 2) == (2, 4)
    nested = "cases:\n  - name: a\n    history: [{}, {}, {}]\n    cases: [{}, {}]\n"
    assert count_cases(nested, 1) == (1, None), "only the file's own list of cases counts"
    assert count_cases("cases: [{}, {}\n", 10) == (2, None), "a file YAML cannot read is counted up to the error"


def test_the_cases_of_a_bundle_one_short_of_the_limit_are_read_and_one_more_is_refused(
        bundle_copy: BundleCopy, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(case_yaml, "MAX_TEST_CASES", 50)  # the real limit, 10,000, is counted above
    bundle_copy.write("tests/a.yaml", "cases:\n" + "".join(CASE % n for n in range(30)))
    bundle_copy.write("tests/b.yaml", "cases:\n" + "".join(CASE % n for n in range(30, 49)))
    cases, problems = read_cases(bundle_copy.path(""))
    assert (len(cases), problems) == (49, [])
    assert all(not case.problems for case in cases)

    bundle_copy.write("tests/b.yaml", "cases:\n" + "".join(CASE % n for n in range(30, 51)))
    cases, problems = read_cases(bundle_copy.path(""))
    assert len(cases) == 30, "the cases of the file going over are not run"
    assert [(p.code, p.file, p.line) for p in problems] == [("R501", str(bundle_copy.path("tests/b.yaml")), 22)]
    assert "more than 50 cases" in problems[0].message


def test_a_test_file_gives_at_most_100_problems_and_says_the_rest_was_not_read(bundle_copy: BundleCopy) -> None:
    bundle_copy.write("tests/a.yaml", "cases:\n" + "  - {}\n" * 5000)  # each case lacks a name, call and expect
    bundle_copy.write("tests/b.yaml", "cases:\n" + CASE % 1)
    cases, problems = read_cases(bundle_copy.path(""))
    assert sum(len(case.problems) for case in cases) == MAX_PROBLEMS_PER_TEST_FILE == 100
    shown = str(bundle_copy.path("tests/a.yaml"))
    last = max(case.line for case in cases if case.file == shown)
    assert [(p.code, p.file, p.line, p.message) for p in problems] == [
        ("R501", shown, last + 1, "the cases of this file have more than 100 problems by this one; the cases after "
         "it were not read")]
    assert [case.name for case in cases if case.file != shown] == ["case 1"], "the next file is read as usual"


def test_the_problems_found_when_the_cases_are_run_are_capped_per_file_too(bundle_copy: BundleCopy) -> None:
    unknown = "  - {name: case %d, call: ScoreUser, expect: {fires: [NO-1, NO-2, NO-3]}}\n"
    bundle_copy.write("tests/a.yaml", "cases:\n" + "".join(unknown % n for n in range(200)))
    status, report = checked(bundle_copy)
    assert status == 1
    assert report[-3:] == [
        "rules/tests/a.yaml:35: the cases of this file have more than 100 problems by this one; the cases after it "
        "were not run",
        "    fix: fix the problems above (is this file the test cases you meant?), then check again [R501]",
        "rules: 101 errors, 0 warnings",
    ]


def test_an_expectation_listing_more_than_1000_items_is_refused_without_looking_each_up(
        bundle_copy: BundleCopy) -> None:
    bundle_copy.write("tests/a.yaml", "cases:\n  - name: all of them\n    call: ScoreUser\n"
                      f"    expect: {{fires: [{', '.join(['NO-1'] * 1001)}]}}\n")
    status, report = checked(bundle_copy)
    assert (status, report) == (1, [
        "rules/tests/a.yaml:2: case 'all of them': expect.fires (line 4): lists 1,001 items, more than the 1,000 a "
        "case may expect",
        "    fix: list only the rules or codes this case shows [R501]",
        "rules: 1 error, 0 warnings",
    ])
