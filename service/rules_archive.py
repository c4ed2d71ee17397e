"""`decisiond rules export`: the rules behind past decisions, taken back out of the ledger into a folder and checked
against the digest the ledger records for them, for an auditor to check and explain as any bundle."""

from __future__ import annotations

import os
from datetime import UTC
from pathlib import Path
from typing import TextIO

from service.app.ports import KeptFilesDamaged, RuleVersion, Store
from service.engine.files import LIST_NAME_RE, LISTS_DIR, REQUIRED_FILES, digest_of, read_bundle_files
from service.engine.problems import RuleProblem
from service.os_errors import reason_of

SHORTEST_DIGEST_PREFIX = 12  # as R014 and the logs show a digest
PRIVATE_FOLDER, PRIVATE_FILE = 0o700, 0o600  # an export is readable by its owner alone


def export_target_problem(target: Path) -> str | None:
    """Why the rules cannot be exported into `target`, if they cannot: it must be a new or an empty folder."""
    if not target.exists() and not target.is_symlink():
        return None
    if not target.is_dir():
        return f"{target} exists and is not a folder: give a new or an empty folder to export the rules into"
    try:
        empty = not any(target.iterdir())
    except OSError as error:
        return f"{target} cannot be read ({reason_of(error)}): give a new or an empty folder"
    return None if empty else f"{target} is not empty: give a new or an empty folder to export the rules into"


def export_rules(store: Store, out: TextIO, target: Path, *, version: str | None = None,
                 digest: str | None = None) -> int:
    """Write the files the ledger keeps for a version (or a digest) into `target` and say what they are: 0 when
    written and their digest is the recorded one, 1 when the ledger cannot give them (each case said plainly)."""
    with store.unit_of_work() as uow:
        versions = uow.rule_versions()
    chosen = _by_version(versions, version, out) if version is not None else _by_digest(versions, digest or "", out)
    if chosen is None:
        return 1
    naming = [v for v in versions if v.digest == chosen]
    try:
        with store.unit_of_work() as uow:
            files = uow.bundle_files(chosen)
    except KeptFilesDamaged:
        files = {}
    if files is None:
        print(f"{_versions_phrase(naming)} (digest {chosen}) {_was_were(naming)} first served before this ledger kept"
              " the rules it serves, so its rules cannot be exported from it. The digest names them: a copy kept"
              " elsewhere (in version control, say) is the one that made these decisions if `decisiond rules explain`"
              " on it shows this digest.", file=out)
        return 1
    if digest_of(files) != chosen or not all(_is_bundle_path(path) for path in files):
        print(f"The ledger's copy of the rules with digest {chosen} ({_versions_phrase(naming)}) is damaged: it does"
              " not have the digest the ledger records for it. Nothing was exported; report this to the service"
              " team.", file=out)
        return 1
    try:
        _write(target, files)
    except OSError as error:
        print(f"The rules could not be written to {target}: {reason_of(error)}.", file=out)
        return 1
    problems: list[RuleProblem] = []
    written = read_bundle_files(target, problems)
    exported = "" if written is None else written.digest()
    if exported != chosen:
        print(f"The rules written to {target} do not have the recorded digest {chosen} (they read as"
              f" {exported or 'nothing'}): something changed them while they were written. Export again into a new"
              " folder.", file=out)
        return 1
    print(f"Exported the rules of {_versions_phrase(naming)} to {target} ({len(files)} files).", file=out)
    print(f"  digest  {exported}  (recorded by the ledger; the exported files have it)", file=out)
    for named in naming:
        print(f"  version {named.version}  first served {_when(named)}", file=out)
    print(f"`decisiond rules explain {target} --input CASE` shows this digest beside the version.", file=out)
    print("Test cases (tests/) are not part of the digest and are not kept: `decisiond rules check` on the folder"
          " warns\nthat no test case fires each rule.", file=out)
    return 0


def _by_version(versions: list[RuleVersion], version: str, out: TextIO) -> str | None:
    for named in versions:
        if named.version == version:
            return named.digest
    print(f"The ledger records no rule bundle version {version!r}.{_known(versions)}", file=out)
    return None


def _by_digest(versions: list[RuleVersion], digest: str, out: TextIO) -> str | None:
    wanted = digest.strip().lower()
    digests = sorted({v.digest for v in versions if v.digest == wanted
                      or (len(wanted) >= SHORTEST_DIGEST_PREFIX and v.digest.startswith(wanted))})
    if len(digests) == 1:
        return digests[0]
    if digests:
        print(f"More than one set of rules has a digest starting {wanted}: give the whole digest, as `decisiond"
              f" decisions show` prints it (ruleset_digest).{_known(versions)}", file=out)
        return None
    shorter = (f" (give at least its first {SHORTEST_DIGEST_PREFIX} characters, or all of it)"
               if len(wanted) < SHORTEST_DIGEST_PREFIX else "")
    print(f"The ledger records no rules with digest {wanted!r}{shorter}.{_known(versions)}", file=out)
    return None


def _known(versions: list[RuleVersion]) -> str:
    """What the ledger does record, for a message about what it does not."""
    if not versions:
        return " It records no version at all: no server has served rules on this ledger yet."
    lines = [f"  {v.version}  first served {_when(v)}  digest {v.digest}" for v in versions]
    return " The versions it records, oldest first:\n" + "\n".join(lines)


def _versions_phrase(naming: list[RuleVersion]) -> str:
    names = ", ".join(v.version for v in naming)
    return f"version {names}" if len(naming) == 1 else f"versions {names}"


def _was_were(naming: list[RuleVersion]) -> str:
    return "was" if len(naming) == 1 else "were"


def _when(named: RuleVersion) -> str:
    return f"{named.first_served_at.astimezone(UTC):%Y-%m-%d %H:%M:%S} UTC"


def _is_bundle_path(path: str) -> bool:
    """Only the files a digest covers (service/engine/files.py): nothing kept may be written outside the folder."""
    folder, _, name = path.rpartition("/")
    if not folder:
        return path in REQUIRED_FILES
    return folder == LISTS_DIR and name.endswith(".txt") and LIST_NAME_RE.fullmatch(name[:-4]) is not None


def _write(target: Path, files: dict[str, bytes]) -> None:
    """The files, readable by their owner alone, as a decisions export is: a list holds third parties' ids (a card
    number), and a list entry removed from the rules stays in the bundles the ledger keeps."""
    target.mkdir(mode=PRIVATE_FOLDER, parents=True, exist_ok=True)
    target.chmod(PRIVATE_FOLDER)  # also a new or empty folder given
    for path, data in sorted(files.items()):
        file = target / path
        file.parent.mkdir(mode=PRIVATE_FOLDER, exist_ok=True)
        # never over something already there
        with os.fdopen(os.open(file, os.O_WRONLY | os.O_CREAT | os.O_EXCL, PRIVATE_FILE), "wb") as written:
            written.write(data)
