"""The `decisiond` command: serve, and the rule tooling compliance officers use."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

from service.config import SettingsError, load_settings


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="decisiond", description="Credit decision service")
    commands = parser.add_subparsers(dest="command", required=True)

    serve = commands.add_parser("serve", help="run the gRPC server")
    serve.add_argument("--listen", help="HOST:PORT to listen on (env DECISIOND_LISTEN, default 127.0.0.1:50051)")
    serve.add_argument("--rules", help="rule bundle directory (env DECISIOND_RULES, default ./rules)")
    serve.add_argument("--database", help="database URL (env DECISIOND_DATABASE, default sqlite:///./var/decisions.db)")

    rules = commands.add_parser("rules", help="check and test a rule bundle").add_subparsers(
        dest="rules_command", required=True
    )
    check = rules.add_parser("check", help="validate a bundle and print every problem")
    check.add_argument("directory", type=Path)
    test = rules.add_parser("test", help="run the bundle's test cases and report rule coverage")
    test.add_argument("directory", type=Path)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the console script."""
    args = _parser().parse_args(argv)
    if args.command == "serve":
        from service.bootstrap import serve

        try:
            settings = load_settings(listen=args.listen, rules=args.rules, database=args.database)
        except SettingsError as error:
            print(f"decisiond: {error}", file=sys.stderr)
            return 2
        return serve(settings)
    if args.rules_command == "check":
        from service.engine.check import run_check

        return run_check(args.directory, sys.stdout)
    from service.app.rule_tests import run_rule_tests

    return run_rule_tests(args.directory, sys.stdout)


if __name__ == "__main__":
    sys.exit(main())
