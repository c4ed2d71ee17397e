"""The files of a bundle, read once (the same bytes are parsed and digested), and the bundle digest.

The digest is sha256 over exactly the files the service reads to decide: bundle.yaml, the five rule
files and lists/*.txt, in sorted order of their paths inside the bundle, each contributing
`path NUL size NUL bytes`. Test cases (tests/) and any other file are not part of it: adding a test or a
README does not change what decides, so it does not change the digest.

Reading never hangs and never reads without bound, whatever sits in the directory: every entry is looked at
(stat) before it is opened, anything that is not an ordinary file (a folder, a device such as /dev/zero, a
pipe, a link that leads nowhere or round in a loop) is reported by what it is and never opened, and at most
the file's size limit + 1 byte is read even from an ordinary file that keeps growing. No list file is read when
the list files together are larger than their joint limit, which their sizes tell before any is opened.
"""

from __future__ import annotations

import errno
import hashlib
import os
import re
import stat
from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import Enum
from fnmatch import fnmatch
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
TEST_FILES = "*.yaml"  # the pattern the rule-test runner reads in tests/
# Windows Notepad saves 'eligibility.yaml' as 'eligibility.yaml.txt' unless 'All files' is chosen as the type
NOTEPAD_SUFFIX = ".txt"
NOTEPAD_FIX = "Notepad adds .txt: choose 'All files' as the type when saving"
MAX_FILE_BYTES = 1 << 20
MAX_LIST_FILE_BYTES = 8 << 20
# All list files together: four times one file's limit, room for several full deny-lists. Lists are held in memory by
# the checker and by every serving process (a reload holds them three times: checker, old and new workers); without
# it, 30 list files within their own limits made `rules check` take 33 s and 930 MB, and each worker 550 MB.
MAX_LISTS_BYTES = 32 << 20
LISTS_FIX = "remove lists no rule uses and shorten the others; ask the service team if the policy needs more"
MAX_TEST_FILE_BYTES = MAX_FILE_BYTES
# All test files together, judged from their sizes before any is read. The service runs every case before it serves an
# edit, and reads test YAML at about 0.2 MB a second (a MiB of `{}, {}, ...` took 15 s): 2 MiB is some 5,000 cases of
# a few hundred bytes, read in seconds; the bundled tests/ holds 16 KB. Before it, five test files of 1 MiB made
# `rules check` take 146 s and 1.8 GB, and the server's check of an edit ran into its 120 s timeout.
MAX_TESTS_BYTES = 2 << 20
TESTS_FIX = ("keep a case or two for each rule and remove the rest (a case needs only the values its rules look at): "
             "the service runs every case before it serves an edit")
MAX_FOLDER_ENTRIES = 1_000  # names in the bundle's folder, lists/ or tests/; a bundle needs a few dozen
LIST_NAME_RE = re.compile(r"[a-z][a-z0-9_]{0,63}")
_READ_CHUNK = 1 << 16


class EntryKind(Enum):
    """What a name in the bundle directory turned out to be, as far as reading it is concerned."""

    MISSING = "missing"
    FILE = "file"  # an ordinary (regular) file, possibly reached through a link
    FOLDER = "folder"
    SPECIAL = "special"  # a device (such as /dev/zero), a pipe or a socket
    LINK_LOOP = "link loop"
    BROKEN_LINK = "broken link"
    UNREADABLE = "unreadable"  # the service may not look at it or read it (permissions, I/O error)
    # a link (or a name under a linked folder) that leads out of the bundle directory: never read, since the service
    # may read what the person editing the rules may not (a private key, /etc/shadow), and the checker quotes files
    OUTSIDE = "outside"
    # a folder of the bundle holding more than MAX_FOLDER_ENTRIES names: not listed further, since the server looks
    # at every entry twice a second for edits (60,000 files in tests/ kept a supervisor busy on a quarter of a core)
    CROWDED = "crowded"


_NOUN = {
    EntryKind.FILE: "a file",
    EntryKind.FOLDER: "a folder",
    EntryKind.SPECIAL: "a device, a pipe or a socket",
    EntryKind.LINK_LOOP: "a link that leads round in a loop",
    EntryKind.BROKEN_LINK: "a link to something that does not exist",
    EntryKind.UNREADABLE: "something the service cannot read",
    EntryKind.OUTSIDE: "a link to something outside the rule folder",
    EntryKind.CROWDED: f"a folder of more than {MAX_FOLDER_ENTRIES:,} entries",
}
_NOT_A_FILE = {  # what is said of a file the bundle must read that is something else
    EntryKind.FOLDER: "this is a folder, not a file",
    EntryKind.SPECIAL: "this is not an ordinary file: it is a device, a pipe or a socket",
    EntryKind.LINK_LOOP: "this is a link that leads round in a loop, not a file",
    EntryKind.BROKEN_LINK: "this is a link to a file that does not exist",
    EntryKind.UNREADABLE: "this file cannot be read",
    EntryKind.OUTSIDE: "this is a link to something outside the rule folder, which the service does not read",
}


class Role(Enum):
    """Why the bundle looks at an entry, which decides how much of it is read and what is said about it."""

    REQUIRED = "required"  # bundle.yaml and the five rule files
    LIST = "list"  # lists/NAME.txt with a valid NAME
    TEST = "test"  # tests/*.yaml, read by the rule-test runner
    IGNORED = "ignored"  # named like a bundle file but not read (only its name and kind matter)
    FOLDER = "folder"  # lists/ and tests/ themselves


@dataclass(frozen=True)
class Entry:
    rel: str  # path inside the bundle
    kind: EntryKind
    role: Role

    @property
    def limit(self) -> int:
        """How many bytes the bundle reads from this entry at most; 0 when only its name matters."""
        return {Role.REQUIRED: MAX_FILE_BYTES, Role.LIST: MAX_LIST_FILE_BYTES,
                Role.TEST: MAX_TEST_FILE_BYTES}.get(self.role, 0)


@dataclass
class BundleFiles:
    directory: Path
    files: dict[str, SourceFile] = field(default_factory=dict)  # by path inside the bundle
    lists: dict[str, SourceFile] = field(default_factory=dict)  # by list name
    # lists left unread because all list files together are larger than MAX_LISTS_BYTES (reported), by list name:
    # their path inside the bundle
    unread_lists: dict[str, str] = field(default_factory=dict)
    # lists whose file exists but cannot be used as a list (not UTF-8, too large, a link out of the folder, a folder;
    # reported), by list name: a rule using one is not told to create it
    unreadable_lists: set[str] = field(default_factory=set)
    # lists/ itself could not be looked into (more than MAX_FOLDER_ENTRIES entries, or not readable; reported): no
    # rule using a list is told to create it
    lists_unlisted: bool = False

    def digest(self) -> str:
        """sha256 hex over the files read, in sorted path order (see the module doc)."""
        return digest_of(self.digested_files())

    def digested_files(self) -> dict[str, bytes]:
        """Exactly the files the digest covers, as read: their bytes by path inside the bundle."""
        return {src.rel: src.data for src in [*self.files.values(), *self.lists.values()]}


def digest_of(files: Mapping[str, bytes]) -> str:
    """The bundle digest of these files (bytes by path inside the bundle), as `BundleFiles.digest` computes it."""
    h = hashlib.sha256()
    for rel in sorted(files):
        data = files[rel]
        h.update(rel.encode() + b"\0" + str(len(data)).encode() + b"\0" + data)
    return h.hexdigest()


def display_path(directory: Path, rel: str) -> str:
    """The path of a bundle file as the user would type it: the bundle directory as given, then the file."""
    return str(directory / rel)


def entry_kind(path: Path, within: str | None = None) -> EntryKind:
    """What `path` is, following links, without opening it; OUTSIDE when it leads out of the folder `within` (its
    resolved path, os.path.realpath: resolved once for all of a folder's entries)."""
    try:
        mode = os.stat(path).st_mode
    except OSError as err:
        if err.errno in (errno.ENOENT, errno.ENOTDIR):
            return EntryKind.BROKEN_LINK if os.path.islink(path) else EntryKind.MISSING
        return EntryKind.LINK_LOOP if err.errno == errno.ELOOP else EntryKind.UNREADABLE
    kind = _kind_of_mode(mode)
    if kind is not EntryKind.SPECIAL and within is not None and not _inside(os.path.realpath(path), within):
        return EntryKind.OUTSIDE  # a file or folder that could be read or listed; a device is never opened anyway
    return kind


def _inside(real: str, root: str) -> bool:
    """Whether the resolved path `real` is the resolved folder `root` or in it (links resolved on both sides: a bundle
    kept as a Kubernetes ConfigMap, whose files are links into a folder of the same volume, stays inside)."""
    return real == root or real.startswith(root.rstrip(os.sep) + os.sep)


def _kind_of_mode(mode: int) -> EntryKind:
    if stat.S_ISREG(mode):
        return EntryKind.FILE
    return EntryKind.FOLDER if stat.S_ISDIR(mode) else EntryKind.SPECIAL


def not_a_file(kind: EntryKind) -> str:
    """What is said of a path that should be a file the service reads but is `kind` instead (not FILE)."""
    return "this file does not exist" if kind is EntryKind.MISSING else _NOT_A_FILE[kind]


def read_entry(path: Path, limit: int, within: Path | None = None) -> tuple[EntryKind, bytes]:
    """(FILE, at most limit + 1 bytes) for an ordinary file; (what it is instead, b"") for anything else, OUTSIDE
    for a file that is not in the folder `within`.

    Anything that is not an ordinary file is never opened; the file is opened without waiting (a pipe swapped
    in after the look is refused, not waited on) and checked again once open, where it is too: a link swapped in
    after the look is not followed out of the folder."""
    root = None if within is None else os.path.realpath(within)
    kind = entry_kind(path, root)
    if kind is not EntryKind.FILE:
        return kind, b""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
    except OSError:
        now = entry_kind(path, root)  # replaced since the look, or not ours to read
        return (EntryKind.UNREADABLE if now is EntryKind.FILE else now), b""
    try:
        if root is not None and not _inside(os.readlink(f"/proc/self/fd/{fd}"), root):
            return EntryKind.OUTSIDE, b""
        kind = _kind_of_mode(os.fstat(fd).st_mode)
        if kind is not EntryKind.FILE:
            return kind, b""
        chunks: list[bytes] = []
        wanted = limit + 1
        while wanted > 0 and (chunk := os.read(fd, min(wanted, _READ_CHUNK))):
            chunks.append(chunk)
            wanted -= len(chunk)
        return EntryKind.FILE, b"".join(chunks)
    except OSError:
        return EntryKind.UNREADABLE, b""
    finally:
        os.close(fd)


def bundle_entries(directory: Path) -> list[Entry]:
    """Every entry of the bundle directory that the checker reads or reports on, with what it is: the six
    required files, other top-level *.yaml/*.yml files, lists/ and every visible entry in it, tests/ and its
    *.yaml entries. Folders are listed one level deep, never recursively, and links are never followed into."""
    root = os.path.realpath(directory)  # once: every entry is judged against the same folder
    entries = [Entry(name, entry_kind(directory / name, root), Role.REQUIRED) for name in REQUIRED_FILES]
    top_kind, top = _listing(directory)
    if top_kind is EntryKind.CROWDED:
        entries.append(Entry("", EntryKind.CROWDED, Role.FOLDER))
    for name in top:
        if looks_like_yaml(name) and name not in REQUIRED_FILES:
            entries.append(Entry(name, entry_kind(directory / name, root), Role.IGNORED))
    for folder in (LISTS_DIR, TESTS_DIR):
        kind = entry_kind(directory / folder, root)
        names: list[str] = []
        if kind is EntryKind.FOLDER:
            kind, names = _listing(directory / folder)
        if kind is not EntryKind.MISSING:
            entries.append(Entry(folder, kind, Role.FOLDER))
        for name in names:
            rel = f"{folder}/{name}"
            if folder == LISTS_DIR and not name.startswith("."):
                readable = name.endswith(".txt") and LIST_NAME_RE.fullmatch(name.removesuffix(".txt"))
                entries.append(Entry(rel, entry_kind(directory / rel, root), Role.LIST if readable else Role.IGNORED))
            elif folder == TESTS_DIR and fnmatch(name, TEST_FILES) and not name.startswith("."):
                # hidden names are tools' own (an editor's lock link .#fraud.yaml, a Mac's ._fraud.yaml), as in lists/
                entries.append(Entry(rel, entry_kind(directory / rel, root), Role.TEST))
            elif folder == TESTS_DIR and not name.startswith("."):
                kind = entry_kind(directory / rel, root)  # test cases the runner would silently skip: said so
                if kind is EntryKind.FOLDER or looks_like_yaml(name):
                    entries.append(Entry(rel, kind, Role.IGNORED))
    return entries


def looks_like_yaml(name: str) -> bool:
    """Whether a user most likely meant `name` as a YAML file: .yaml or .yml in any case, also with the .txt that
    Windows Notepad adds when saving (and Explorer then hides), as in eligibility.yaml.txt."""
    return name.lower().removesuffix(NOTEPAD_SUFFIX).endswith((".yaml", ".yml"))


def _listing(folder: Path) -> tuple[EntryKind, list[str]]:
    """A folder's sorted names (FOLDER); no names when it cannot be listed (UNREADABLE: a folder the service may
    not list is as good as unreadable) or holds more than MAX_FOLDER_ENTRIES (CROWDED, found without listing the
    rest)."""
    names: list[str] = []
    try:
        with os.scandir(folder) as found:
            for entry in found:
                names.append(entry.name)
                if len(names) > MAX_FOLDER_ENTRIES:
                    return EntryKind.CROWDED, []
    except OSError:
        return EntryKind.UNREADABLE, []
    return EntryKind.FOLDER, sorted(names)


def read_bundle_files(directory: Path, problems: list[RuleProblem]) -> BundleFiles | None:
    """Every file the service reads, with a problem for each missing, unreadable, oversized or otherwise
    unusable entry (and a warning for each ignored one). Test files are checked the same way (they are read
    by the rule-test runner, which may then rely on them being ordinary UTF-8 files within the limit)."""
    kind = entry_kind(directory)
    if kind is not EntryKind.FOLDER:
        said = "does not exist" if kind is EntryKind.MISSING else f"is {_NOUN[kind]}, not a folder"
        problems.append(problem(P.MISSING_FILE, str(directory), f"the rule bundle directory {said}",
                                hint="give the directory that holds bundle.yaml, e.g. rules/"))
        return None
    bundle = BundleFiles(directory)
    entries = bundle_entries(directory)
    plain_files = {e.rel for e in entries if e.kind is EntryKind.FILE}
    held = _list_sizes(directory, entries)
    lists_too_large = sum(held.values()) > MAX_LISTS_BYTES
    if lists_too_large:
        problems.append(_lists_too_large(directory, len(held), sum(held.values())))
    tests = _unread_tests(directory, entries)  # none of them is read: the runner would not read them either
    if tests:
        problems.append(tests_too_large(display_path(directory, TESTS_DIR), len(tests), sum(tests.values())))
    for entry in entries:
        shown = display_path(directory, entry.rel)
        if entry.rel == LISTS_DIR and entry.kind in (EntryKind.CROWDED, EntryKind.UNREADABLE):
            bundle.lists_unlisted = True
        if lists_too_large and entry.rel in held:
            bundle.unread_lists[Path(entry.rel).stem] = entry.rel
        elif entry.rel in tests:
            continue
        elif entry.role is Role.FOLDER and entry.kind is EntryKind.CROWDED:
            problems.append(problem(P.TOO_LARGE, shown if entry.rel else str(directory),
                                    f"this folder holds more than {MAX_FOLDER_ENTRIES:,} entries; the service looks "
                                    "at no more", hint="keep in it only what the bundle reads (see docs/rules.md), "
                                    "and move the rest elsewhere"))
        elif entry.role is Role.FOLDER:
            if entry.kind is not EntryKind.FOLDER:
                problems.append(problem(P.UNEXPECTED_FILE, shown,
                                        f"this should be a folder but is {_NOUN[entry.kind]}; it is ignored",
                                        hint=f"make {shown} a folder (see docs/rules.md), or remove it"))
        elif entry.role is Role.IGNORED:
            _ignored(entry, shown, plain_files, problems)
        else:
            src = _read(directory, entry, plain_files, problems)
            if src is None and entry.role is Role.LIST and entry.kind is not EntryKind.MISSING:
                # it exists (a file, or a link out of the folder, a folder, a pipe...), and why it cannot be used is
                # reported: a rule using it is not told to create it
                bundle.unreadable_lists.add(Path(entry.rel).stem)
            if src is not None and entry.role is Role.REQUIRED:
                bundle.files[entry.rel] = src
            elif src is not None and entry.role is Role.LIST:
                bundle.lists[Path(entry.rel).stem] = src
    read = sum(len(src.data) for src in bundle.lists.values())
    if read > MAX_LISTS_BYTES:  # grown since their sizes were looked at
        problems.append(_lists_too_large(directory, len(bundle.lists), read))
        bundle.unread_lists.update({name: src.rel for name, src in bundle.lists.items()})
        bundle.lists.clear()
    return bundle


def _list_sizes(directory: Path, entries: list[Entry]) -> dict[str, int]:
    """The size of each list file that is within its own limit (a larger one is refused alone, and never read
    whole), by its path inside the bundle: what reading the lists would hold."""
    return _file_sizes(directory, entries, Role.LIST)


def _file_sizes(directory: Path, entries: list[Entry], role: Role) -> dict[str, int]:
    """The size of each ordinary file of `role` that is within its own limit, by its path inside the bundle."""
    sizes: dict[str, int] = {}
    for entry in entries:
        if entry.role is role and entry.kind is EntryKind.FILE:
            try:
                size = os.stat(directory / entry.rel).st_size
            except OSError:
                continue  # reading it says what became of it
            if size <= entry.limit:
                sizes[entry.rel] = size
    return sizes


def _unread_tests(directory: Path, entries: list[Entry]) -> dict[str, int]:
    """The sizes of the test files, by path, when together they are more than MAX_TESTS_BYTES: then the checker
    reads none of them, and refuses them from these sizes; else nothing."""
    sizes = _file_sizes(directory, entries, Role.TEST)
    return sizes if sum(sizes.values()) > MAX_TESTS_BYTES else {}


def tests_too_large(shown: str, files: int, total: int) -> RuleProblem:
    """R501 naming tests/ (as `shown`): its `files` test files hold `total` bytes, more than MAX_TESTS_BYTES."""
    return problem(P.TOO_LARGE, shown, f"the {files} test files hold {total:,} bytes together; the service accepts at "
                   f"most {MAX_TESTS_BYTES:,} bytes ({MAX_TESTS_BYTES >> 20} MiB) of test cases in all, and read none "
                   "of them", hint=TESTS_FIX)


def _lists_too_large(directory: Path, files: int, total: int) -> RuleProblem:
    """R501: the list files hold `total` bytes together, more than MAX_LISTS_BYTES."""
    return problem(P.TOO_LARGE, display_path(directory, LISTS_DIR),
                   f"the {files} list files hold {total:,} bytes together; the service accepts at most "
                   f"{MAX_LISTS_BYTES:,} bytes ({MAX_LISTS_BYTES >> 20} MiB) of lists in all", hint=LISTS_FIX)


def _ignored(entry: Entry, shown: str, plain_files: set[str], problems: list[RuleProblem]) -> None:
    name = Path(entry.rel).name
    if entry.rel.startswith(f"{LISTS_DIR}/"):
        if name.endswith(".txt") and entry.kind is EntryKind.FILE:
            # README.txt, "x - Copy.txt": no rule can name it, so it cannot change a decision; a rule meaning it
            # is told the list it names does not exist (R106)
            meant = _meant_list_name(name.removesuffix(".txt"))
            rename = f"rename it to {meant}.txt" if meant else "rename it"
            problems.append(problem(P.UNEXPECTED_FILE, shown, f"this file is ignored: '{name.removesuffix('.txt')}'"
                                    " is not a valid list name", hint=f"{rename} if it is a list (list names are "
                                    "lower-case letters, digits and _, starting with a letter); otherwise move it "
                                    "out of lists/"))
        elif entry.kind is EntryKind.FILE:
            lower = name.lower()  # NEW_MULES.TXT: the name it needs, not "end in .txt", which it seems to
            rename = f"rename it to {lower}" if lower.endswith(".txt") else "rename it to end in .txt"
            problems.append(problem(P.UNEXPECTED_FILE, shown, "this file is ignored: lists are files named NAME.txt",
                                    hint=f"{rename} if it is a list"))
        elif entry.kind is not EntryKind.MISSING:
            problems.append(problem(P.UNEXPECTED_FILE, shown, f"this is {_NOUN[entry.kind]}, not a list; it is ignored",
                                    hint="lists are files named NAME.txt directly in lists/; remove it if it is"
                                         " not needed"))
        return
    if entry.rel.startswith(f"{TESTS_DIR}/"):
        where = "a folder inside tests/" if entry.kind is EntryKind.FOLDER else f"'{name}'"
        hint = "move or rename it to tests/NAME.yaml (lower-case .yaml) if it holds test cases, or remove it"
        if entry.kind is EntryKind.FILE and name.lower().endswith(NOTEPAD_SUFFIX):
            hint = (f"rename it to {TESTS_DIR}/{_meant_yaml_name(name)} if it holds test cases ({NOTEPAD_FIX}),"
                    " or remove it")
        problems.append(problem(P.UNEXPECTED_FILE, shown, f"{where} is not read: test cases are in files named "
                                "tests/NAME.yaml", hint=hint))
        return
    meant = _meant_yaml_name(name)
    if entry.kind is EntryKind.FILE and meant in REQUIRED_FILES:
        # the officer's edit of a bundle file saved under another name: the service decides without it
        why = f" ({NOTEPAD_FIX})" if name.lower().endswith(NOTEPAD_SUFFIX) else ""
        replacing = ", replacing the file of that name" if meant in plain_files else ""
        problems.append(problem(P.UNEXPECTED_FILE, shown, f"this file is ignored: the bundle reads {meant}, "
                                f"not {name}", hint=f"if it holds your changes, save it as {meant}{why}{replacing}; "
                                "otherwise remove it"))
        return
    close = suggest(name, list(REQUIRED_FILES))
    hint = (f"did you mean {close}? " if close else "") + "the bundle reads " + ", ".join(REQUIRED_FILES)
    if entry.kind is EntryKind.FILE:
        problems.append(problem(P.UNEXPECTED_FILE, shown, "this file is not part of the bundle format and is ignored",
                                hint=hint))
    elif entry.kind is not EntryKind.MISSING:
        problems.append(problem(P.UNEXPECTED_FILE, shown,
                                f"this is {_NOUN[entry.kind]}, not part of the bundle format, and is ignored",
                                hint=hint))


def _meant_list_name(stem: str) -> str | None:
    """The valid list name closest to a list file's invalid one ('Mule list - Copy' -> mule_list_copy), if any."""
    meant = re.sub(r"[^a-z0-9_]+", "_", stem.lower()).strip("_")
    if meant and not meant[0].isalpha():
        meant = "list_" + meant
    return meant[:64] if meant and LIST_NAME_RE.fullmatch(meant[:64]) else None


def _meant_yaml_name(name: str) -> str:
    """The name a file that looks like YAML (see looks_like_yaml) was most likely meant to have: without
    Notepad's .txt, ending in lower-case .yaml, and, for a file of the bundle, in lower case as the bundle spells it."""
    stem = name[: -len(NOTEPAD_SUFFIX)] if name.lower().endswith(NOTEPAD_SUFFIX) else name
    base = stem.rpartition(".")[0]  # without .yaml or .yml, in whatever case
    bundle_name = base.lower() + ".yaml"
    return bundle_name if bundle_name in REQUIRED_FILES else base + ".yaml"


def _read(directory: Path, entry: Entry, plain_files: set[str], problems: list[RuleProblem]) -> SourceFile | None:
    shown = display_path(directory, entry.rel)
    kind, data = read_entry(directory / entry.rel, entry.limit, directory)
    if kind is EntryKind.MISSING:
        if entry.role is Role.REQUIRED:
            alt = entry.rel.removesuffix(".yaml") + ".yml"
            hint = f"rename {display_path(directory, alt)} to {entry.rel}" if alt in plain_files \
                else f"create {shown}; see docs/rules.md"
            problems.append(problem(P.MISSING_FILE, shown, "this file of the bundle is missing", hint=hint))
        return None  # a list or test file removed since the folder was listed is simply not there
    if kind is not EntryKind.FILE:
        problems.append(problem(P.MISSING_FILE, shown, _NOT_A_FILE[kind], hint=_fix_for(entry, shown, kind)))
        return None
    if len(data) > entry.limit:
        split = "the test cases into several files" if entry.role is Role.TEST else "rules or lists into smaller files"
        problems.append(problem(P.TOO_LARGE, shown, f"the file is larger than {entry.limit // 1024} KiB",
                                hint=f"split {split}"))
        return None
    if saved_as_utf16(data):
        problems.append(problem(P.YAML_SYNTAX, shown, UTF16_SAID, hint=UTF16_FIX))
        return None
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as err:
        problems.append(problem(P.YAML_SYNTAX, shown, f"the file is not UTF-8 text (byte {err.start})",
                                hint="save the file as UTF-8"))
        return None
    return SourceFile(entry.rel, shown, data, text.removeprefix("\ufeff"))


UTF16_SAID = "the file is saved as UTF-16 ('Unicode' in Notepad), not as UTF-8 text"
UTF16_FIX = "save it again as UTF-8: in Notepad, choose 'Save as' and 'UTF-8' under 'Encoding'"


def saved_as_utf16(data: bytes) -> bool:
    """Whether these bytes are text saved as UTF-16, as Notepad's 'Unicode' saves it: they start with its byte
    order mark, or every other byte is a NUL and the bytes between are not, as UTF-16 writes A-Z, 0-9 and
    punctuation (no text file holds NULs; a file of NULs alone is no text at all)."""
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        return True
    even, odd = data[0::2], data[1::2]
    return len(data) >= 4 and any(mostly.count(0) * 2 >= len(mostly) and rarely.count(0) * 10 < len(rarely)
                                  for mostly, rarely in ((odd, even), (even, odd)))


def _fix_for(entry: Entry, shown: str, kind: EntryKind) -> str:
    if kind is EntryKind.UNREADABLE:
        return "check the file's permissions: the service must be able to read it"
    what = {Role.REQUIRED: f"the {entry.rel} file of the bundle", Role.LIST: "the list (a text file)",
            Role.TEST: "the test cases (a YAML file)"}[entry.role]
    if kind is EntryKind.OUTSIDE:
        return f"put {what} itself in the rule folder in place of the link: the service reads nothing outside it"
    if kind is EntryKind.FOLDER:
        return f"remove the folder {shown} and save {what} in its place; see docs/rules.md"
    return f"replace {shown} with {what}: an ordinary file, or a link to one; see docs/rules.md"


def copy_bundle(source: Path, target: Path) -> None:
    """Copy a bundle so that checking the copy finds exactly what checking `source` finds, without ever
    reading more than the checker would. Raises OSError only when writing the copy fails.

    Only the entries of `bundle_entries` are copied, each as what it is: an ordinary file as its first
    limit + 1 bytes (an oversized one stays oversized), a file that is only reported by name as an empty file,
    a folder as an empty folder, and every other kind as a stand-in that the checker sees as the same kind,
    without anything of the original being opened: a pipe for a device, pipe or socket; a link to itself for
    a link loop; a link to a name that never exists in a copy for a broken link; and, for what cannot be read,
    a link whose target name is longer than any file system allows (which no user, not even root, can
    follow); and, for a link out of the bundle, a link to / (which the checker sees leading out, and never reads).
    Test files larger than MAX_TESTS_BYTES together, which the checker refuses from their sizes, are copied as
    empty (sparse) files of their sizes.
    When `source` is not a directory, no directory is made, so the checker says of the copy what it says of the
    source: a file where the folder should be is copied as an empty file (it is a file, not a folder), and nothing
    else is created (the directory does not exist)."""
    if not source.is_dir():
        if source.exists():
            target.touch()
        return
    target.mkdir()
    entries = bundle_entries(source)
    unread = _unread_tests(source, entries)  # the checker reads none of them, only their sizes
    for entry in entries:
        kind, data = entry.kind, b""
        if kind is EntryKind.FILE and entry.limit and entry.rel not in unread:
            kind, data = read_entry(source / entry.rel, entry.limit, source)
        path = target / entry.rel
        if entry.rel in unread:
            with open(path, "wb") as copy:  # of the same size, holding nothing (sparse)
                copy.truncate(unread[entry.rel])
        elif kind is EntryKind.FILE:
            path.write_bytes(data)
        elif kind is EntryKind.FOLDER:
            path.mkdir()
        elif kind is EntryKind.CROWDED:  # as crowded, with names the bundle ignores
            path.mkdir(exist_ok=True)  # the bundle's own folder (rel "") is made already
            for number in range(MAX_FOLDER_ENTRIES + 1):
                (path / f".crowd-{number:04d}").touch()
        elif kind is EntryKind.SPECIAL:
            os.mkfifo(path)
        elif kind is EntryKind.LINK_LOOP:
            os.symlink(path.name, path)
        elif kind is EntryKind.BROKEN_LINK:
            os.symlink(".no-such-file/in-a-bundle-copy", path)
        elif kind is EntryKind.UNREADABLE:
            os.symlink("unreadable-" + "x" * 300, path)
        elif kind is EntryKind.OUTSIDE:
            os.symlink("/", path)  # out of the copy, as the original leads out of the bundle: never read
