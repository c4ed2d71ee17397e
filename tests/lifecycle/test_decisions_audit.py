"""`decisiond decisions` as an auditor uses it on a ledger a real service wrote, on SQLite and on PostgreSQL: a period
(--since and --until), the decision a complaint's request_id names, the decisions of a drawdown, and a person's file
exported as JSON Lines."""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import grpc
import pytest

from service._gen.decision.v1 import decision_pb2 as pb
from service._gen.decision.v1 import decision_pb2_grpc as pb_grpc
from service.bootstrap import start_service
from service.cli import main
from service.config import Settings
from tests.support.builders import cny, drawdown, request_id, strong_applicant
from tests.support.server_process import ROOT

PERSON = "u-complainant"


class Ledger:
    """A ledger a service wrote: one person's line, two drawdowns, a repayment on the first; someone else's line."""

    def __init__(self, url: str) -> None:
        self.url = url
        service = start_service(Settings(host="127.0.0.1", port=0, rules_dir=ROOT / "rules", database_url=url))
        try:
            with grpc.insecure_channel(f"127.0.0.1:{service.port}") as channel:
                decide, lines = pb_grpc.DecisionServiceStub(channel), pb_grpc.CreditLineServiceStub(channel)
                for user in (PERSON, "u-someone-else"):
                    granted = decide.GrantLimit(
                        pb.GrantLimitRequest(request_id=request_id(), applicant=strong_applicant(user)), timeout=10
                    )
                    assert granted.outcome == pb.OUTCOME_APPROVE
                self.first_request = drawdown(PERSON, 1_000)
                self.first = decide.AuthorizeDrawdown(self.first_request, timeout=10)
                self.second = decide.AuthorizeDrawdown(drawdown(PERSON, 2_000), timeout=10)
                assert self.first.drawdown_id and self.second.drawdown_id
                self.repayment = lines.RecordRepayment(
                    pb.RecordRepaymentRequest(
                        request_id=request_id(), user_id=PERSON, drawdown_id=self.first.drawdown_id, amount=cny(100)
                    ),
                    timeout=10,
                )
                decide.AuthorizeDrawdown(drawdown("u-someone-else", 500), timeout=10)
        finally:
            service.stop()


@pytest.fixture
def ledger(database_url: str, tmp_path: Path) -> Iterator[Ledger]:
    cwd = Path.cwd()
    os.chdir(tmp_path)  # an export without a folder goes here
    try:
        yield Ledger(database_url)
    finally:
        os.chdir(cwd)


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def ids_listed(out: str) -> list[str]:
    return [line.split()[1] for line in out.splitlines() if line.startswith("20")]


def test_a_person_s_file_is_exported_in_full_oldest_first_as_json_lines(
    ledger: Ledger, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    target = tmp_path / "file.jsonl"

    code, out, err = run(
        capsys, "decisions", "export", "--user", PERSON, "--output", str(target), "--database", ledger.url
    )

    assert (code, out) == (0, "")
    exported = [json.loads(line) for line in target.read_text(encoding="utf-8").splitlines()]
    assert [record["rpc"] for record in exported] == ["GrantLimit", "AuthorizeDrawdown", "AuthorizeDrawdown",
                                                      "RecordRepayment"]
    assert err == f"decisiond: exported 4 decisions to {target}\n"
    assert target.stat().st_mode & 0o777 == 0o600  # personal data: its owner's alone
    assert PERSON not in target.read_text(encoding="utf-8")  # the raw id is not in the ledger, nor in its export
    _, shown, _ = run(capsys, "decisions", "show", exported[1]["decision_id"], "--database", ledger.url)
    assert exported[1] == json.loads(shown)  # in full: what `show` prints
    assert [p.name for p in tmp_path.iterdir() if p.name.endswith(".partial")] == []


def test_an_export_does_not_overwrite_a_file_unless_told_to(
    ledger: Ledger, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    target = tmp_path / "file.jsonl"
    target.write_text("the regulator's earlier copy\n")
    export = ("decisions", "export", "--user", PERSON, "--output", str(target), "--database", ledger.url)

    code, _, err = run(capsys, *export)

    assert code == 2
    assert err == f"decisiond: --output {target} exists: give --overwrite to replace it, or name a new file\n"
    assert target.read_text() == "the regulator's earlier copy\n"
    assert run(capsys, *export, "--overwrite")[0] == 0
    assert len(target.read_text().splitlines()) == 4


@pytest.mark.parametrize("kind", ["pipe", "link"])
def test_an_export_never_replaces_what_is_not_an_ordinary_file_even_when_told_to_overwrite(
    ledger: Ledger, tmp_path: Path, capsys: pytest.CaptureFixture[str], kind: str
) -> None:
    """Run as root, `--output /dev/full --overwrite` replaced the machine's device with a file of personal data."""
    target = tmp_path / "out"
    if kind == "pipe":
        os.mkfifo(target)
    else:
        (tmp_path / "elsewhere.jsonl").write_text("kept\n")
        os.symlink(tmp_path / "elsewhere.jsonl", target)

    code, _, err = run(capsys, "decisions", "export", "--user", PERSON, "--output", str(target), "--overwrite",
                       "--database", ledger.url)

    assert code == 2
    assert err == f"decisiond: --output {target} is not an ordinary file (a device, a pipe or a link): name a new " \
        "file\n"
    assert (stat.S_ISFIFO(os.lstat(target).st_mode) if kind == "pipe" else target.is_symlink())


def test_output_that_cannot_be_written_is_said_in_one_line_with_exit_status_2_never_1(ledger: Ledger) -> None:
    """A full disk under standard output: `show`'s exit status 1 means no such decision, as a script would read it."""
    with open("/dev/full", "w") as full:
        done = subprocess.run([sys.executable, "-m", "service.cli", "decisions", "list", "--database", ledger.url],
                              stdout=full, stderr=subprocess.PIPE, text=True, timeout=60, check=False)
    assert (done.returncode, done.stderr) == (2, "decisiond: cannot write the output: No space left on device\n")


def test_an_export_to_standard_output_takes_the_filters_of_list(
    ledger: Ledger, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, err = run(
        capsys, "decisions", "export", "--drawdown-id", ledger.first.drawdown_id, "--database", ledger.url
    )

    assert code == 0
    exported = [json.loads(line) for line in out.splitlines()]
    assert [(r["rpc"], r["request_id"]) for r in exported] == [
        ("AuthorizeDrawdown", ledger.first_request.request_id),
        ("RecordRepayment", exported[1]["request_id"]),
    ]
    assert exported[0]["response"]["drawdownId"] == ledger.first.drawdown_id
    assert exported[1]["request"]["drawdown_id"] == ledger.first.drawdown_id
    assert err == "decisiond: exported 2 decisions\n"


def test_an_export_must_say_whose_or_which_period_s_decisions(
    ledger: Ledger, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, err = run(capsys, "decisions", "export", "--database", ledger.url)

    assert (code, out) == (2, "")
    assert err.startswith("decisiond: say which decisions to export: --user ID (a person's file)")


def test_list_finds_the_decisions_of_a_drawdown_and_of_a_request_id(
    ledger: Ledger, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, _ = run(capsys, "decisions", "list", "--drawdown-id", ledger.first.drawdown_id, "--database", ledger.url)
    assert code == 0
    assert [line.split()[2] for line in out.splitlines()] == ["RecordRepayment", "AuthorizeDrawdown"]  # newest first
    assert ids_listed(out)[1] == ledger.first.meta.decision_id

    code, out, _ = run(
        capsys, "decisions", "list", "--request-id", ledger.first_request.request_id, "--database", ledger.url
    )
    assert (code, ids_listed(out)) == (0, [ledger.first.meta.decision_id])
    code, out, _ = run(capsys, "decisions", "list", "--drawdown-id", "dd_unknown", "--database", ledger.url)
    assert (code, out) == (0, "no decisions match\n")
    code, out, _ = run(
        capsys, "decisions", "list", "--request-id", ledger.first_request.request_id, "--user", "u-someone-else",
        "--database", ledger.url,
    )
    assert (code, out) == (0, "no decisions match\n")  # every filter given must hold


def test_show_takes_a_request_id(ledger: Ledger, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(
        capsys, "decisions", "show", "--request-id", ledger.first_request.request_id, "--database", ledger.url
    )
    assert (code, json.loads(out)["decision_id"]) == (0, ledger.first.meta.decision_id)

    assert run(capsys, "decisions", "show", "--request-id", "r-unknown", "--database", ledger.url)[:2] == (
        1, "no decision for request_id r-unknown\n"
    )
    code, _, err = run(capsys, "decisions", "show", "--database", ledger.url)
    assert (code, err) == (2, "decisiond: give the decision's id (dec_...) or --request-id ID, one of them\n")


def test_list_until_bounds_a_period(ledger: Ledger, capsys: pytest.CaptureFixture[str]) -> None:
    everything = ids_listed(run(capsys, "decisions", "list", "--database", ledger.url)[1])
    today = datetime.now(UTC).date().isoformat()

    assert ids_listed(run(capsys, "decisions", "list", "--until", today, "--database", ledger.url)[1]) == everything
    code, out, _ = run(capsys, "decisions", "list", "--since", "2020-01-01", "--until", "2020-12-31",
                       "--database", ledger.url)
    assert (code, out) == (0, "no decisions match\n")


@pytest.mark.parametrize(
    ("options", "message"),
    [
        (("--until", "31/12/2026"), "--until '31/12/2026' is not a date or time: write e.g. 2026-11-01 or"),
        (("--since", "2026-12-01", "--until", "2026-11-01"), "--until 2026-11-01 is not after --since 2026-12-01"),
        (("--since", "2026-12-01T10:00:00+08:00", "--until", "2026-12-01T02:00Z"), "--until 2026-12-01T02:00Z is"),
        (("--user", ""), "--user is empty: give the id"),
    ],
)
def test_a_bad_period_is_refused_naming_the_option(
    options: tuple[str, ...], message: str, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    for command in ("list", "export"):
        code, out, err = run(capsys, "decisions", command, *options, "--database", f"sqlite:///{tmp_path}/none.db")
        assert (code, out) == (2, "")
        assert err.startswith(f"decisiond: {message}")
