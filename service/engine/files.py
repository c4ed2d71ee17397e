"""The files of a bundle, read once (the same bytes are parsed and digested), and the bundle digest.

The digest is sha256 over exactly the files the service reads to decide: bundle.yaml, the five rule
files and lists/*.txt, in sorted order of their paths inside the bundle, each contributing
`path NUL size NUL bytes`. Test cases (tests/) and any other file are not part of it: adding a test or a
README does not change what decides, so it does not change the digest.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass, field
from pathlib import Path

from service.engine import problems as P
from service.engine.problems import RuleProblem, problem
from service.engine.typecheck import suggest
from service.engine.yamlsrc import SourceFile

BUNDLE_FILE = "bundle.yaml"
RULE_FILES = ("scorecard.yaml", "eligibility.yaml", "limits.yaml", "drawdown.yaml", "fraud.yaml")
REQUIRED_FILES = (BUNDLE_FILE, *RULE_FILES)
LISTS_DIR = "lists"
TESTS_DIR = "tests"
MAX_FILE_BYTES = 1 << 20
MAX_LIST_FILE_BYTES = 8 << 20
LIST_NAME_RE = re.compile(r"[a-z][a-z0-9_]{0,63}")


@dataclass
class BundleFiles:
    directory: Path
    files: dict[str, SourceFile] = field(default_factory=dict)  # by path inside the bundle
    lists: dict[str, SourceFile] = field(default_factory=dict)  # by list name

    def digest(self) -> str:
        """sha256 hex over the files read, in sorted path order (see the module doc)."""
        h = hashlib.sha256()
        for src in sorted([*self.files.values(), *self.lists.values()], key=lambda s: s.rel):
            h.update(src.rel.encode() + b"\0" + str(len(src.data)).encode() + b"\0" + src.data)
        return h.hexdigest()


def display_path(directory: Path, rel: str) -> str:
    """The path of a bundle file as the user would type it: the bundle directory as given, then the file."""
    return str(directory / rel)


def read_bundle_files(directory: Path, problems: list[RuleProblem]) -> BundleFiles | None:
    """Every file the service reads, with a problem for each missing, unreadable or oversized one."""
    if not directory.is_dir():
        problems.append(problem(P.MISSING_FILE, str(directory), "the rule bundle directory does not exist",
                                hint="give the directory that holds bundle.yaml, e.g. rules/"))
        return None
    bundle = BundleFiles(directory)
    for name in REQUIRED_FILES:
        src = _read(directory, name, MAX_FILE_BYTES, problems, required=True)
        if src is not None:
            bundle.files[name] = src
    _unexpected_files(directory, problems)
    lists_dir = directory / LISTS_DIR
    if lists_dir.is_dir():
        for path in sorted(lists_dir.iterdir()):
            rel = f"{LISTS_DIR}/{path.name}"
            if path.name.startswith(".") or not path.is_file():
                continue
            if path.suffix != ".txt":
                problems.append(problem(P.UNEXPECTED_FILE, display_path(directory, rel),
                                        "this file is ignored: lists are files named NAME.txt",
                                        hint="rename it to end in .txt if it is a list"))
                continue
            if not LIST_NAME_RE.fullmatch(path.stem):
                problems.append(problem(P.BAD_LIST, display_path(directory, rel),
                                        f"'{path.stem}' is not a valid list name",
                                        hint="use lower-case letters, digits and _, starting with a letter"))
                continue
            src = _read(directory, rel, MAX_LIST_FILE_BYTES, problems, required=False)
            if src is not None:
                bundle.lists[path.stem] = src
    return bundle


def _read(directory: Path, rel: str, limit: int, problems: list[RuleProblem], required: bool) -> SourceFile | None:
    path = directory / rel
    shown = display_path(directory, rel)
    try:
        if not path.is_file():
            if required:
                hint = f"create {shown}; see docs/rules.md"
                alt = path.with_suffix(".yml")
                if alt.is_file():
                    hint = f"rename {display_path(directory, alt.name)} to {rel}"
                problems.append(problem(P.MISSING_FILE, shown, "this file of the bundle is missing", hint=hint))
            return None
        size = path.stat().st_size
        if size > limit:
            problems.append(problem(P.TOO_LARGE, shown, f"the file is larger than {limit // 1024} KiB",
                                    hint="split rules or lists into smaller files"))
            return None
        data = path.read_bytes()
    except OSError as err:
        problems.append(problem(P.MISSING_FILE, shown, f"the file cannot be read ({err.strerror})",
                                hint="check the file's permissions"))
        return None
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as err:
        problems.append(problem(P.YAML_SYNTAX, shown, f"the file is not UTF-8 text (byte {err.start})",
                                hint="save the file as UTF-8"))
        return None
    return SourceFile(rel, shown, data, text.removeprefix("\ufeff"))


def _unexpected_files(directory: Path, problems: list[RuleProblem]) -> None:
    for path in sorted(directory.iterdir()):
        if path.is_file() and path.suffix in (".yaml", ".yml") and path.name not in REQUIRED_FILES:
            close = suggest(path.name, list(REQUIRED_FILES))
            hint = f"did you mean {close}? " if close else ""
            problems.append(problem(P.UNEXPECTED_FILE, display_path(directory, path.name),
                                    "this file is not part of the bundle format and is ignored",
                                    hint=hint + "the bundle reads " + ", ".join(REQUIRED_FILES)))
