"""The `decisiond` command: serve, and the rule tooling compliance officers use."""

from __future__ import annotations

import argparse
import contextlib
import io
import os
import stat
import sys
import tempfile
from collections.abc import Callable, Sequence
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, NoReturn
from urllib.parse import unquote, urlsplit

from service.config import SettingsError, load_settings, redact_password
from service.logs import configure_logging

if TYPE_CHECKING:
    from service.app.ports import Store
    from service.audit import Filters


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="decisiond", description="Credit decision service")
    commands = parser.add_subparsers(dest="command", required=True)

    serve = commands.add_parser("serve", help="run the gRPC server")
    serve.add_argument("--listen", help="HOST:PORT to listen on (env DECISIOND_LISTEN, default 127.0.0.1:50051)")
    serve.add_argument("--rules", help="rule bundle directory (env DECISIOND_RULES, default ./rules)")
    serve.add_argument("--database", help="database URL (env DECISIOND_DATABASE, default sqlite:///./var/decisions.db)")
    serve.add_argument(
        "--workers", type=int, help="serving processes sharing the port (env DECISIOND_WORKERS, default 2)"
    )

    rules = commands.add_parser(
        "rules", help="check, test and explain a rule bundle; export the rules the ledger keeps"
    ).add_subparsers(dest="rules_command", required=True)
    check = rules.add_parser("check", help="validate a bundle and print every problem")
    check.add_argument("directory", type=Path)
    test = rules.add_parser("test", help="run the bundle's test cases and report rule coverage")
    test.add_argument("directory", type=Path)
    explain = rules.add_parser("explain", help="show, for one input, which rules matched and why the others did not")
    explain.add_argument("directory", type=Path)
    explain.add_argument("--input", type=Path, required=True, help="one case, as in tests/*.yaml (JSON or YAML)")
    export = rules.add_parser(
        "export", help="write the rules the ledger keeps for a version or digest into a folder, for an auditor"
    )
    export.add_argument("directory", type=Path, help="a new or empty folder")
    which = export.add_mutually_exclusive_group(required=True)
    which.add_argument("--version", help="the rule bundle version a decision records (ruleset_version)")
    which.add_argument("--digest", help="the rule bundle digest a decision records (ruleset_digest)")

    decisions = commands.add_parser("decisions", help="read the decision record").add_subparsers(
        dest="decisions_command", required=True
    )
    listing = decisions.add_parser("list", help="decisions, newest first")
    listing.add_argument("--limit", type=int, default=100, help="at most this many, the newest (default 100)")
    show = decisions.add_parser("show", help="one decision in full, by its decision id or its --request-id")
    show.add_argument("decision_id", nargs="?", help="the decision's id (dec_...)")
    show.add_argument("--request-id", help="the request_id the caller sent with the call")
    dump = decisions.add_parser(
        "export", help="decisions in full (what show prints), oldest first, one JSON object a line, for a regulator"
    )
    dump.add_argument("--output", "-o", type=Path, help="the file to write (a new one; default: standard output)")
    dump.add_argument("--overwrite", action="store_true", help="replace the --output file if it exists")
    for sub in (listing, dump):
        sub.add_argument("--user", help="only this user's decisions (the raw id; it is hashed like the service does)")
        sub.add_argument("--since", help="only decisions at or after this ISO date or time (UTC if no zone)")
        sub.add_argument(
            "--until", help="only decisions before this ISO date or time (UTC if no zone; a date alone: to its end)"
        )
        sub.add_argument("--request-id", help="only the decision of this request_id (the caller's id for the call)")
        sub.add_argument(
            "--drawdown-id", help="only the decisions of this drawdown: the one that made it and its repayments"
        )
        for option, what in _KEPT_AS_KEYED_HASH.items():
            sub.add_argument(option, help=f"only the decisions whose record names this {what} (the raw value; it is "
                             "hashed like the service does; every record is read)")
    for sub in (listing, show, dump, export):
        sub.add_argument(
            "--database", help="database URL (env DECISIOND_DATABASE, default sqlite:///./var/decisions.db)"
        )
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the console script."""
    _show_every_character()
    try:
        return _run(_parser().parse_args(argv), own_process=argv is None)
    except BrokenPipeError:  # the reader stopped reading (`| head`, say): nothing more to say, and no traceback
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())  # nor at exit, when stdout is flushed
        return 1


def _show_every_character() -> None:
    """A character the terminal or pipe cannot show (a rule's U+2265 on an ASCII or Latin-1 terminal, say) is
    written as \\u2265: the report goes on, where it would have ended in a traceback."""
    for stream in (sys.stdout, sys.stderr):
        if isinstance(stream, io.TextIOWrapper):
            stream.reconfigure(errors="backslashreplace")


def _run(args: argparse.Namespace, *, own_process: bool = False) -> int:
    """`own_process`: the command line is this process's own (not a test's call), so it may be replaced."""
    if args.command == "serve":
        from service.supervisor import supervise

        try:
            settings = load_settings(listen=args.listen, rules=args.rules, database=args.database, workers=args.workers)
        except SettingsError as error:
            print(f"decisiond: {error}", file=sys.stderr)
            return 2
        if own_process and args.database is not None and redact_password(args.database) != args.database:
            _serve_with_the_database_in_the_environment(args)
        from service.storage.factory import lasting_problem

        if (problem := lasting_problem(settings.database_url)) is not None:
            print(f"decisiond: the ledger {redact_password(settings.database_url)} cannot be used: {problem}",
                  file=sys.stderr)
            return 2
        return supervise(settings)  # which sets up its own logging
    if args.command == "decisions":
        return _decisions(args)
    if args.rules_command == "export":
        return _export_rules(args)
    if args.rules_command == "check":
        from service.engine.check import run_check
        from service.rule_tests import rule_case_problems

        configure_logging("warning")
        return run_check(args.directory, sys.stdout, extra_checks=rule_case_problems)
    configure_logging("warning")  # the cases' own decision logs are not the report
    if args.rules_command == "explain":
        from service.explain_case import explain

        return explain(args.directory, args.input, sys.stdout)
    from service.rule_tests import run_rule_tests

    return run_rule_tests(args.directory, sys.stdout)


def _serve_with_the_database_in_the_environment(args: argparse.Namespace) -> NoReturn:
    """Start `serve` again in this process (same pid) with the database URL, which holds a password, in
    DECISIOND_DATABASE instead of on the command line, which `ps` shows to every user of the machine."""
    command = [sys.executable, "-m", "service.cli", "serve"]
    for flag, value in (("--listen", args.listen), ("--rules", args.rules), ("--workers", args.workers)):
        if value is not None:
            command += [flag, str(value)]
    os.execve(sys.executable, command, {**os.environ, "DECISIOND_DATABASE": args.database})


def _decisions(args: argparse.Namespace) -> int:
    from service.audit import list_decisions, show_decision
    from service.domain.errors import StoreUnavailable
    from service.domain.request_limits import identifier_problem

    try:
        filters = _filters(args)
        if getattr(args, "limit", 1) not in range(1, MAX_LISTED + 1):
            raise SettingsError(f"--limit must be a whole number from 1 to {MAX_LISTED}")
        if args.decisions_command == "show" and (args.decision_id is None) == (args.request_id is None):
            raise SettingsError("give the decision's id (dec_...) or --request-id ID, one of them")
        if args.decisions_command == "show" and args.decision_id is not None and (
                problem := identifier_problem(args.decision_id) if args.decision_id.strip() else "is empty"):
            raise SettingsError(f"the decision id {args.decision_id!r} {problem}: no decision has it")
        if args.decisions_command == "export":
            _require_export_target(args, filters)
    except SettingsError as error:
        print(f"decisiond: {error}", file=sys.stderr)
        return 2
    opened = _open_ledger(args.database, "the decisions")
    if opened is None:
        return 2
    store, database = opened
    try:
        if args.decisions_command == "list":
            return list_decisions(store, sys.stdout, filters, limit=args.limit)
        if args.decisions_command == "export":
            return _export_decisions(store, filters, args.output, overwrite=args.overwrite)
        return show_decision(store, sys.stdout, args.decision_id, request_id=args.request_id)
    except StoreUnavailable as error:  # the database went away after it opened
        print(f"decisiond: cannot read the decisions in {database}: {error}", file=sys.stderr)
        return 2
    except OSError as error:  # the output cannot take it (a full disk, a closed pipe): never a traceback, never 1
        _stop_writing_to_stdout()
        print(f"decisiond: cannot write the output: {error.strerror or error}", file=sys.stderr)
        return 2
    finally:
        store.close()


def _stop_writing_to_stdout() -> None:
    """Standard output sent to nowhere from now on: what it still holds would fail again when Python flushes it at
    exit (a second message, and exit status 120)."""
    with contextlib.suppress(OSError):
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())


# Values a decision record keeps as keyed hashes, by the option that looks decisions up by them.
_KEPT_AS_KEYED_HASH = {
    "--device-id": "device (channel.device_id)",
    "--counterparty-id": "counterparty (transaction.counterparty_id)",
    "--transaction-id": "transaction (transaction.transaction_id: an account event's)",
    "--ip": "IP address (channel.ip, kept only when a rule read it)",
}


def _filters(args: argparse.Namespace) -> Filters:
    """The decisions asked for, from the options list and export share; SettingsError naming a bad option."""
    from service.audit import Filters, parse_since, parse_until
    from service.domain.request_limits import canonical_ip, identifier_problem

    since = _moment("--since", args.since, parse_since) if getattr(args, "since", None) is not None else None
    until = _moment("--until", args.until, parse_until) if getattr(args, "until", None) is not None else None
    if since is not None and until is not None and until <= since:
        raise SettingsError(f"--until {args.until} is not after --since {args.since}: no decision could match"
                            " (--until is the end of the period, --since its start)")
    for option in ("--user", "--request-id", "--drawdown-id", *_KEPT_AS_KEYED_HASH):
        value = getattr(args, option[2:].replace("-", "_"), None)
        if value is None:
            continue
        if not value.strip():  # --user "": it would list everyone's
            raise SettingsError(f"{option} is empty: give the id")
        # a value no call can carry matches no record: said so, rather than "no decisions match" (a space pasted)
        problem = ("must be an IPv4 or IPv6 address" if canonical_ip(value) is None else None) if option == "--ip" \
            else identifier_problem(value)
        if problem:
            raise SettingsError(f"{option} {value!r} {problem}, as every call's is: no decision can name it")
    return Filters(
        user_id=getattr(args, "user", None),
        since=since,
        until=until,
        request_id=getattr(args, "request_id", None),
        drawdown_id=getattr(args, "drawdown_id", None),
        device_id=getattr(args, "device_id", None),
        counterparty_id=getattr(args, "counterparty_id", None),
        transaction_id=getattr(args, "transaction_id", None),
        ip=getattr(args, "ip", None),
    )


def _require_export_target(args: argparse.Namespace, filters: Filters) -> None:
    """An export names whose or which period's decisions it holds, and does not replace a file unless told to."""
    from service.audit import Filters

    if filters == Filters():
        raise SettingsError("say which decisions to export: --user ID (a person's file), --since and --until (a"
                            " period), --request-id, --drawdown-id, or a --device-id, --counterparty-id,"
                            " --transaction-id or --ip; --since 1970-01-01 exports the whole ledger")
    output: Path | None = args.output
    if output is None:
        return
    if output.is_dir():
        raise SettingsError(f"--output {output} is a folder: name a file in it")
    if os.path.lexists(output) and not stat.S_ISREG(os.lstat(output).st_mode):
        # --overwrite replaces an earlier export, never a device, a pipe or a link (/dev/full was replaced so)
        raise SettingsError(f"--output {output} is not an ordinary file (a device, a pipe or a link): name a new file")
    if os.path.lexists(output) and not args.overwrite:
        raise SettingsError(f"--output {output} exists: give --overwrite to replace it, or name a new file")
    if not output.parent.is_dir():
        raise SettingsError(f"--output {output}: there is no folder {output.parent}")


def _export_decisions(store: Store, filters: Filters, output: Path | None, *, overwrite: bool) -> int:
    """The export to standard output, or to a file that appears only once written whole (private to its owner: it
    holds personal data), next to which nothing is left if the export fails."""
    from service.audit import export_decisions

    if output is None:
        exported = export_decisions(store, sys.stdout, filters)
        print(f"decisiond: exported {exported} decision{'' if exported == 1 else 's'}", file=sys.stderr)
        return 0
    handle, partial = tempfile.mkstemp(dir=output.parent, prefix=f".{output.name}.", suffix=".partial")
    try:
        with open(handle, "w", encoding="utf-8", newline="\n") as out:
            exported = export_decisions(store, out, filters)
            out.flush()
            os.fsync(out.fileno())
        _put_in_place(Path(partial), output, overwrite=overwrite)
    except FileExistsError:
        os.unlink(partial)
        print(f"decisiond: --output {output} was made while exporting: give --overwrite to replace it",
              file=sys.stderr)
        return 2
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(partial)
        raise
    print(f"decisiond: exported {exported} decision{'' if exported == 1 else 's'} to {output}", file=sys.stderr)
    return 0


def _export_rules(args: argparse.Namespace) -> int:
    from service.domain.errors import StoreUnavailable
    from service.rules_archive import export_rules, export_target_problem

    problem = export_target_problem(args.directory)
    if problem is not None:
        print(f"decisiond: {problem}", file=sys.stderr)
        return 2
    opened = _open_ledger(args.database, "the rules kept")
    if opened is None:
        return 2
    store, database = opened
    try:
        return export_rules(store, sys.stdout, args.directory, version=args.version, digest=args.digest)
    except StoreUnavailable as error:  # the database went away after it opened
        print(f"decisiond: cannot read the rules kept in {database}: {error}", file=sys.stderr)
        return 2
    finally:
        store.close()


def _open_ledger(database: str | None, what: str) -> tuple[Store, str] | None:
    """The ledger, opened for reading only (never created or migrated), and its URL fit to print; None, with the
    reason on stderr, when it cannot be."""
    from service.domain.errors import StoreUnavailable
    from service.storage import MigrationError, open_store

    try:
        settings = load_settings(database=database)
        _require_existing_sqlite(settings.database_url)
    except SettingsError as error:
        print(f"decisiond: {error}", file=sys.stderr)
        return None
    printable = redact_password(settings.database_url)
    try:
        return open_store(settings.database_url, read_only=True), printable
    except (StoreUnavailable, MigrationError) as error:  # an auditor's tool reads what is there, or says why not
        print(f"decisiond: cannot read {what} in {printable}: {error}", file=sys.stderr)
        return None


MAX_LISTED = 100_000


def _put_in_place(partial: Path, output: Path, *, overwrite: bool) -> None:
    """`partial` renamed `output`; without `overwrite`, FileExistsError rather than replace a file made meanwhile."""
    if overwrite:
        os.replace(partial, output)
        return
    try:
        os.link(partial, output)  # atomic, and never replaces
    except FileExistsError:
        raise
    except OSError:  # a file system without hard links
        if os.path.lexists(output):
            raise FileExistsError(output) from None
        os.replace(partial, output)
        return
    os.unlink(partial)


def _moment(option: str, text: str, parse: Callable[[str], datetime]) -> datetime:
    try:
        return parse(text)
    except ValueError:
        raise SettingsError(f"{option} {text!r} is not a date or time: write e.g. 2026-11-01 or "
                            "2026-11-01T08:00:00+08:00 (UTC when no zone is given)") from None


def _require_existing_sqlite(database_url: str) -> None:
    """The auditor's tools read a ledger; they never create one (a mistyped path would show 'no decisions')."""
    if database_url.lower().startswith("sqlite:///") and ":memory:" not in database_url:
        path = Path(unquote(urlsplit(database_url).path)[1:])
        if not path.is_file():
            raise SettingsError(f"there is no SQLite ledger at {path}: give the --database of the server "
                                "(its --database, or DECISIOND_DATABASE)")


if __name__ == "__main__":
    sys.exit(main())
