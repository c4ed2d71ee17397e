"""Limits on the lists of a bundle as a whole, and lists no rule uses.

Each list file had its own limits (8 MiB, 100,000 entries), but nothing limited them together: 30 list files that no
rule used, each within those limits, made `rules check` take 33 s and 930 MB, and each serving worker 550 MB and 40 s
to start (a reload pays it about three times: the checker, the old and the new workers). All list files together are
now held to 32 MiB (judged from their sizes, before any is read) and 400,000 entries (R501 naming lists/); a list no
rule uses is warned about (W006), and its entries are not kept once the bundle is checked."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from service.engine import files
from service.engine.bundle import check_bundle
from service.engine.loader import analyse
from tests.engine.conftest import ROOT, BundleCopy
from tests.engine.test_bundle_errors import the_error

MIB = 1 << 20
ALL_LISTS_BYTES = 32 * MIB  # docs/rules.md, "How rules run"
ALL_LISTS_ENTRIES = 400_000
LIST_FILE_ENTRIES = 100_000
MULE_ENTRIES = 4  # in rules/lists/mule_counterparties.txt
FIX = "remove lists no rule uses and shorten the others; ask the service team if the policy needs more"


def unused(name: str) -> tuple[str, str, str, str]:
    return ("W006", f"rules/lists/{name}.txt", f"no rule uses this list (lists.{name})",
            f"remove the file if the list is no longer needed, or use it in a rule, e.g. "
            f"transaction.counterparty_id in lists.{name}")


def write_list(bundle_copy: BundleCopy, name: str, entries: int) -> None:
    bundle_copy.write(f"lists/{name}.txt", "".join(f"{name}-{i}\n" for i in range(entries)))


def test_list_files_larger_than_32_mib_together_are_refused_from_their_sizes_without_reading_them(
        bundle_copy: BundleCopy) -> None:
    mule_bytes = bundle_copy.path("lists/mule_counterparties.txt").stat().st_size
    for k in range(5):  # 7 MiB each, within the limit of one file; sparse, and never read
        with open(bundle_copy.path(f"lists/l{k}.txt"), "wb") as f:
            f.truncate(7 * MIB)
    total = 5 * 7 * MIB + mule_bytes
    found = [(p.code, p.file, p.message, p.hint) for p in check_bundle(bundle_copy.dir)]
    assert found == [
        ("R501", "rules/lists", f"the 6 list files hold {total:,} bytes together; the service accepts at most "
         f"{ALL_LISTS_BYTES:,} bytes (32 MiB) of lists in all", FIX),
        *(unused(f"l{k}") for k in range(5)),
    ]


def test_list_files_that_grew_past_the_limit_after_their_sizes_were_looked_at_are_refused_too(
        bundle_copy: BundleCopy, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(files, "_list_sizes", lambda directory, entries: {})  # as if looked at while still empty
    for k in range(5):
        with open(bundle_copy.path(f"lists/l{k}.txt"), "wb") as f:
            f.truncate(7 * MIB)
    total = 5 * 7 * MIB + bundle_copy.path("lists/mule_counterparties.txt").stat().st_size
    found = [(p.code, p.file, p.message) for p in check_bundle(bundle_copy.dir) if p.is_error]
    assert found == [("R501", "rules/lists", f"the 6 list files hold {total:,} bytes together; the service accepts "
                      f"at most {ALL_LISTS_BYTES:,} bytes (32 MiB) of lists in all")]


def test_lists_holding_more_than_400000_entries_together_are_refused(bundle_copy: BundleCopy) -> None:
    for k in range(3):
        write_list(bundle_copy, f"deny_{k}", LIST_FILE_ENTRIES)
    write_list(bundle_copy, "deny_3", LIST_FILE_ENTRIES - MULE_ENTRIES)
    assert [p.code for p in check_bundle(bundle_copy.dir)] == ["W006"] * 4  # 400,000 in all: accepted

    write_list(bundle_copy, "deny_3", LIST_FILE_ENTRIES - MULE_ENTRIES + 1)
    found = [(p.code, p.file, p.message, p.hint) for p in check_bundle(bundle_copy.dir) if p.is_error]
    assert found == [("R501", "rules/lists", f"the lists hold {ALL_LISTS_ENTRIES + 1:,} entries together; the "
                      f"service accepts at most {ALL_LISTS_ENTRIES:,} in all", FIX)]


def test_a_list_no_rule_uses_is_warned_about_and_the_bundle_still_loads(bundle_copy: BundleCopy) -> None:
    bundle_copy.write("lists/old_mules.txt", "CP-OLD-1\n")
    problem = the_error(bundle_copy.dir)
    assert (problem.code, problem.file, problem.message, problem.hint) == unused("old_mules")
    assert problem.headline() == "rules/lists/old_mules.txt: warning: no rule uses this list (lists.old_mules)"
    spec, _ = analyse(bundle_copy.dir)
    assert spec is not None


@pytest.mark.parametrize(("entries", "field"), [
    ("CN\nUS\n", "channel.country"),
    ("SECURITIES\nHOME_PURCHASE\n", "drawdown.purpose"),
    ("CP-1\nCN\n", "transaction.counterparty_id"),
])
def test_the_hint_for_a_list_no_rule_uses_names_a_field_its_entries_fit(bundle_copy: BundleCopy, entries: str,
                                                                        field: str) -> None:
    bundle_copy.write("lists/watched.txt", entries)
    (found,) = check_bundle(bundle_copy.dir)
    assert found.hint.endswith(f"e.g. {field} in lists.watched")


def test_the_entries_of_a_list_no_rule_uses_are_not_kept_once_checked(bundle_copy: BundleCopy) -> None:
    write_list(bundle_copy, "old_mules", 1000)
    spec, _ = analyse(bundle_copy.dir)
    assert spec is not None
    assert list(spec.lists) == ["mule_counterparties"]


def test_a_list_used_only_by_a_rule_that_cannot_be_read_is_not_called_unused(bundle_copy: BundleCopy) -> None:
    bundle_copy.replace("fraud.yaml", "in lists.mule_counterparties", "in lists.mule_counterparties and")
    assert the_error(bundle_copy.dir).code == "R101"


def test_a_list_a_rule_uses_is_not_warned_about(bundle_copy: BundleCopy) -> None:
    bundle_copy.replace("fraud.yaml", "in lists.mule_counterparties",
                        "in lists.mule_counterparties or transaction.counterparty_id not in lists.known_payees")
    bundle_copy.write("lists/known_payees.txt", "CP-PAYEE-1\n")
    assert check_bundle(bundle_copy.dir) == []


def test_the_bundled_rules_check_clean_from_the_command_line() -> None:
    done = subprocess.run([sys.executable, "-m", "service.cli", "rules", "check", "rules"], capture_output=True,
                          text=True, cwd=ROOT, env={**os.environ, "PYTHONPATH": str(ROOT)}, timeout=120, check=False)
    assert (done.returncode, done.stdout, done.stderr) == (0, "rules: OK, no problems\n", "")


def test_a_list_line_pasted_from_a_spreadsheet_is_reported_at_its_line_saying_it_holds_a_tab(
    bundle_copy: BundleCopy,
) -> None:
    bundle_copy.write("lists/mule_counterparties.txt", "CP-MULE-0001\nCP-MULE-0007\tNovember case\tclosed\n")
    problem = the_error(bundle_copy.dir)  # and no second error at the rule using the list
    assert problem.format() == (
        "rules/lists/mule_counterparties.txt:2:13: this line holds a tab (copied from a spreadsheet?): a list has one "
        "value a line\n    fix: put only the value on the line, and any note after ' # ', e.g. CP-MULE-0007  # "
        "November case closed [R401]")


@pytest.mark.parametrize("encoding", ["utf-16", "utf-16-le"])  # Notepad's 'Unicode', with or without its mark
def test_a_list_saved_as_utf16_is_said_to_be_so_and_the_rule_using_it_is_not_told_to_create_it(
    bundle_copy: BundleCopy, encoding: str
) -> None:
    bundle_copy.path("lists/mule_counterparties.txt").write_bytes("CP-MULE-0001\r\n".encode(encoding))
    problem = the_error(bundle_copy.dir)
    assert problem.format() == (
        "rules/lists/mule_counterparties.txt: the file is saved as UTF-16 ('Unicode' in Notepad), not as UTF-8 text\n"
        "    fix: save it again as UTF-8: in Notepad, choose 'Save as' and 'UTF-8' under 'Encoding' [R001]")
