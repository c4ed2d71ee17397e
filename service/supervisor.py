"""The serving process model: a small supervisor and worker processes that share one port (SO_REUSEPORT).

The supervisor never loads the rule engine. It snapshots the rule directory, has a separate process validate
the snapshot and run its test cases, and only then starts workers on it. A new bundle is activated by starting
a fresh set of workers and draining the old ones, so every call is decided by one worker under one bundle,
calls in flight finish on the bundle they started with, and the engine's per-ruleset leaks die with the old
workers. A worker that dies is replaced; the others keep answering.

Every worker says which ledger it opened (worker.ledger_identity), and the server serves the one its first workers
opened: a worker on another (the ledger file replaced while the server ran, and read from the new file by a worker
that started since) is stopped, logged and tried again later, as one that cannot start is, while the workers serving
fail their calls UNAVAILABLE once they notice it (storage/sqlite.py, storage/postgres.py); one server never answers
from two ledgers.
Workers started after the first make no new SQLite ledger file (--existing-ledger): one deleted under the server is
not begun anew by them.
"""

from __future__ import annotations

import errno
import fcntl
import json
import os
import queue
import re
import select
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections import deque
from contextlib import suppress
from dataclasses import dataclass, field
from pathlib import Path
from types import FrameType
from typing import TextIO, cast

import structlog

from service.affinity import described, worker_cpus
from service.config import Settings, TlsFiles, redact_password
from service.engine.files import EntryKind, bundle_entries, copy_bundle
from service.log_lines import as_json_lines, dropped_lines_notice
from service.logs import configure_logging
from service.os_errors import reason_of
from service.spread import ConnectionSpread, SpreadUnavailable, open_spread

log = structlog.get_logger("decisiond.supervisor")

WORKER_READY_TIMEOUT = 60.0
VALIDATION_TIMEOUT = 120.0
WATCH_INTERVAL = 0.5
STALE_STATE_AGE = 60.0  # a killed supervisor's state older than this, and unlocked, is removed by the next one
FIRST_RETRY_DELAY = 1.0  # workers that could not start are tried again after this, then twice as long each time
MAX_RETRY_DELAY = 30.0


@dataclass(kw_only=True)
class Backoff:
    """When to try again what failed: FIRST_RETRY_DELAY after the first failure, then twice as long each time, up
    to MAX_RETRY_DELAY. A cause that lasts (the database does not answer) then costs an attempt every half
    minute, not a process started at every watch tick, and a short one is still over in about a second."""

    failures: int = 0
    delay: float = 0.0  # before the next attempt
    due: float = 0.0  # monotonic time of the next attempt

    def failed(self) -> None:
        self.failures += 1
        self.delay = FIRST_RETRY_DELAY if self.failures == 1 else min(self.delay * 2, MAX_RETRY_DELAY)
        self.due = time.monotonic() + self.delay

    def is_due(self) -> bool:
        return time.monotonic() >= self.due


@dataclass
class Worker:
    process: subprocess.Popen[str]
    snapshot: Path
    slot: int = 0  # its place among the workers (its CPU, its share of the connections)
    ready: queue.Queue[str] = field(default_factory=queue.Queue)
    # Once it has died and its death is logged: when its replacement is tried (again). A worker is logged dead once.
    replacement: Backoff | None = None

    def pid(self) -> int:
        return self.process.pid


@dataclass(frozen=True)
class ActiveBundle:
    snapshot: Path
    version: str
    digest: str
    warnings: list[str] = field(default_factory=list)  # what checking it warned of, for GetRulesStatus


@dataclass
class PendingStart(Backoff):
    """Workers still to be started: on a checked snapshot, or on none (no valid bundle: ledger reads only)."""

    snapshot: Path | None
    warnings: list[str] = field(default_factory=list)  # what checking the snapshot warned of, logged when it serves


class WorkersNotStarted(Exception):
    """A full set of workers could not be started; none of them is left running."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class BundleRefused(Exception):
    """The workers refused their bundle: the ledger records its version for other rules. None is left running."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__(problems)
        self.problems = problems


class RulesChanged(Exception):
    """The rule directory changed while a snapshot of it was validated: a verdict would be on rules no longer there."""


class CannotListen(Exception):
    """The listen address cannot be had: in use, not an address of this machine, or a name that does not resolve."""

    def __init__(self, host: str, port: int, reason: str) -> None:
        super().__init__(host, port, reason)
        self.host, self.port, self.reason = host, port, reason

    def __str__(self) -> str:
        return f"cannot listen on {self.host}:{self.port}: {self.reason}"


def reserve_port(host: str, port: int) -> socket.socket:
    """Bind (without listening) so that port 0 becomes a concrete port the workers can all bind with
    SO_REUSEPORT; the kernel only hands connections to sockets that listen. CannotListen when the address
    cannot be had.

    SO_REUSEPORT would let this bind join the sockets of another server on the port, which would then take
    a share of its new connections (and write them to another ledger): so a concrete port is first bound
    without it, with SO_REUSEADDR only, which a listening or bound socket refuses and a connection of a
    previous run left in TIME_WAIT does not."""
    address = host.strip("[]")
    family = socket.AF_INET6 if ":" in address else socket.AF_INET
    holder = socket.socket(family, socket.SOCK_STREAM)
    try:
        if port != 0:
            with socket.socket(family, socket.SOCK_STREAM) as probe:
                probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
                probe.bind((address, port))
        holder.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
        holder.bind((address, port))
    except OSError as error:
        holder.close()
        raise CannotListen(host, port, _why_not_bound(error)) from None
    return holder


def _why_not_bound(error: OSError) -> str:
    if isinstance(error, socket.gaierror):
        return f"the host name does not resolve ({reason_of(error)})"
    if error.errno == errno.EADDRINUSE:
        return "the address is already in use (another decisiond or another program listens there)"
    if error.errno == errno.EADDRNOTAVAIL:
        return "this machine has no such address"
    if error.errno == errno.EACCES:
        return "permission denied (a port below 1024 needs privileges)"
    return reason_of(error)


# Every bundle entry's path, kind, size, modification time, inode and inode change time.
Fingerprint = tuple[tuple[str, str, int, int, int, int], ...]


def fingerprint(directory: Path) -> Fingerprint:
    """Cheap change detection over exactly what the bundle reads or reports on (files.bundle_entries): each
    entry's path, what it is, its size and modification time, and its inode and inode change time, which no tool
    can set back (a deploy that keeps sizes and modification times, `tar` or `rsync -a`, still changes those). A
    link loop, a device or a folder where a file belongs counts like a file, so that removing it is seen; nothing
    is opened and links are not followed into folders."""
    try:  # the folder itself: missing, or which one (moved away and made again empty, it is another)
        folder = ("", "folder", -1, -1, directory.stat().st_ino, -1)
    except OSError:
        folder = ("", "missing", -1, -1, -1, -1)
    entries = [folder]
    for entry in bundle_entries(directory):
        # a folder's own times change with files the bundle does not read: its entries count instead
        size, mtime, inode, ctime = -1, -1, -1, -1
        if entry.kind is not EntryKind.FOLDER:
            try:
                stat = (directory / entry.rel).stat()
                size, mtime, inode, ctime = stat.st_size, stat.st_mtime_ns, stat.st_ino, stat.st_ctime_ns
            except OSError:
                pass
        entries.append((entry.rel, entry.kind.value, size, mtime, inode, ctime))
    return tuple(entries)


def remove_stale_state(parent: Path) -> list[Path]:
    """The private state (`decisiond-*`) that supervisors killed outright (SIGKILL, the OOM killer) left in the
    temporary folder `parent`, removed: each a folder no running supervisor holds locked (each holds its own, see
    Supervisor) and unchanged for STALE_STATE_AGE. Returns what was removed; what cannot be, is left."""
    removed = []
    for candidate in parent.glob("decisiond-*"):
        try:
            if time.time() - candidate.lstat().st_mtime < STALE_STATE_AGE:
                continue
            folder = os.open(candidate, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW)
        except OSError:  # gone meanwhile, not a folder, a link, another user's
            continue
        try:
            fcntl.flock(folder, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:  # a running supervisor's
            os.close(folder)
            continue
        try:
            shutil.rmtree(candidate)
            removed.append(candidate)
        except OSError:
            pass
        finally:
            os.close(folder)
    return removed


class Supervisor:
    """Runs `settings.workers` workers until SIGTERM; reloads rules on SIGHUP or when the files change."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.state_dir = Path(tempfile.mkdtemp(prefix="decisiond-"))
        # Held for the supervisor's life: systemd-tmpfiles leaves a directory alone while a lock is held on it, so
        # the checked copies of the rules stay however long the server runs without an edit.
        self._state_lock = os.open(self.state_dir, os.O_RDONLY | os.O_DIRECTORY)
        fcntl.flock(self._state_lock, fcntl.LOCK_SH)
        self.status_file = self.state_dir / "rules-status.json"
        self.workers: list[Worker] = []
        self.active: ActiveBundle | None = None
        self.rejected: dict[str, object] | None = None
        self.checking_since: float | None = None  # when a change of the rules was noticed, until it is judged
        self._judging: Fingerprint | None = None  # while edits are judged: the rules' fingerprint before the snapshot
        self.pending: PendingStart | None = None  # workers that could not start yet, tried again until they do
        self._stop = threading.Event()
        self._reload = threading.Event()
        self._port = 0
        self._snapshots = 0
        self._cpus = worker_cpus(settings.workers, settings.cpu_affinity, settings.database_url)  # by worker index
        self._spread: ConnectionSpread | None = None
        self._ledger: str | None = None  # the ledger the first workers opened, which every later one must open too

    # --- lifecycle ----------------------------------------------------------------------------------------

    def run(self) -> int:
        """Serve until SIGTERM; 0 once drained. CannotListen (with nothing left behind) when the address cannot
        be had."""
        signal.signal(signal.SIGTERM, self._on_stop)
        signal.signal(signal.SIGINT, self._on_stop)
        signal.signal(signal.SIGHUP, lambda *_: self._reload.set())
        holder: socket.socket | None = None
        if removed := remove_stale_state(self.state_dir.parent):
            log.info("state.stale_removed", folders=[str(path) for path in removed])
        try:
            holder = reserve_port(self.settings.host, self.settings.port)
            self._port = holder.getsockname()[1]
            self._spread = self._open_spread()
            # Fingerprinted before the first snapshot is taken: an edit saved while that bundle is checked and
            # the workers start (seconds) is then seen as a change, not taken for what is serving.
            seen = fingerprint(self.settings.rules_dir)
            self._activate_or_reject(first=True)
            if not self._stop.is_set():  # stopped before the bundle was judged: nothing true to announce
                self._announce()
            self._watch(seen)
        finally:
            self._stop.set()
            self._stop_workers(self.workers)
            if holder is not None:
                holder.close()
            if self._spread is not None:
                self._spread.close()
            shutil.rmtree(self.state_dir, ignore_errors=True)
            os.close(self._state_lock)
        log.info("shutdown.complete")
        return 0

    def _on_stop(self, signum: int, _frame: FrameType | None) -> None:
        log.info("shutdown.requested", signal=signal.Signals(signum).name)
        self._stop.set()

    def _announce(self) -> None:
        """The start line. Says what is true when the workers could not start yet (the database does not answer,
        say): the rules are then not to blame, and nothing answers until the workers start."""
        directory = self.settings.rules_dir
        not_started = "workers not started yet, retrying: see the log; connections are refused until they start"
        if self.active is not None:
            rules = f"rule bundle {self.active.version} (sha256 {self.active.digest[:12]}) from {directory}"
        elif self.workers or self.pending is None:
            rules = f"NO valid rule bundle from {directory} (decisions answer UNAVAILABLE)"
        elif self.pending.snapshot is not None:
            rules = f"the valid rule bundle from {directory} ({not_started})"
        else:
            rules = f"NO valid rule bundle from {directory} (decisions will answer UNAVAILABLE; {not_started})"
        security = _listener_security(self.settings.tls)
        line = (
            f"decisiond listening on {self.settings.host}:{self._port} with {security}{rules},"
            f" database {redact_password(self.settings.database_url)}, {self.settings.workers} worker processes"
            f"{described(self._cpus)}\n"
        )
        # Written past sys.stdout's buffer: a line no one reads any more is lost, where print() would raise (and end
        # the supervisor) and leave it in the buffer for a flush at exit that fails too (exit status 120).
        with suppress(OSError):
            os.write(1, line.encode(errors="backslashreplace"))

    def _open_spread(self) -> ConnectionSpread | None:
        """The program that gives each new connection to the worker holding the fewest, its counts kept true on a
        thread; None where it is off or the kernel refuses it (then the kernel's hash spreads the connections)."""
        try:
            spread = open_spread(self.settings.workers, self.settings.connection_spread)
        except SpreadUnavailable as error:
            log.warning("connections.spread_by_hash", reason=str(error))
            return None
        if spread is not None:
            spread.keep_counting(lambda: [worker.pid() for worker in self.workers], self._port, self._stop)
        return spread

    def _watch(self, seen: Fingerprint) -> None:
        """Reload on SIGHUP or when the rule files differ from `seen`, their fingerprint before the last snapshot."""
        while not self._stop.wait(WATCH_INTERVAL):
            if self.pending is not None and self.pending.is_due():
                self._start_pending()
            self._replace_dead_workers()
            current = fingerprint(self.settings.rules_dir)
            if current != seen or self._reload.is_set():
                self._reload.clear()
                seen = self._judge_edits(seen)

    def _judge_edits(self, seen: Fingerprint) -> Fingerprint:
        """Judge the rules until they are judged as they now are; their fingerprint before the last snapshot.

        An edit saved while another is checked stops that check (see _activate_or_reject). One saved while the
        workers an edit replaced drain (seconds) is noticed meanwhile, `checking_since` (see _notice_edit), and
        judged as soon as they have stopped."""
        try:
            while not self._stop.is_set():
                if self.checking_since is None:  # a new edit: not the one whose check an edit stopped
                    self.checking_since = time.time()
                    self._write_status()  # GetRulesStatus tells an edit being checked from one not seen yet
                time.sleep(WATCH_INTERVAL)  # let an editor finish writing
                seen = self._judging = fingerprint(self.settings.rules_dir)
                superseded = self._activate_or_reject(first=False)
                if not superseded and fingerprint(self.settings.rules_dir) == seen:
                    break
        finally:
            self._judging = None
            self.checking_since = None
            self._write_status()
        return seen

    def _notice_edit(self) -> None:
        """While edits are judged and workers stop (those an edit replaced drain for seconds): an edit saved since
        the rules were taken to be judged, and not noticed yet, is noticed as the watch notices one, within
        WATCH_INTERVAL; it is judged next (see _judge_edits)."""
        if self._judging is None or self.checking_since is not None:
            return
        if fingerprint(self.settings.rules_dir) != self._judging:
            self.checking_since = time.time()
            self._write_status()

    # --- rule bundles ---------------------------------------------------------------------------------------

    def _snapshot(self) -> tuple[Path, list[str] | None]:
        """A private copy of the rules, and None; or, when the copy cannot be written, why (in words).

        What is validated is exactly what the workers then serve. The copy (files.copy_bundle) holds only what
        the bundle reads, at most each file's size limit + 1 byte, and every entry that is not an ordinary
        file as a stand-in of the same kind, never its content: so it is small and quick to take whatever is in
        the directory (a link to /dev/zero is never read), and checking it reports exactly the problems that
        `decisiond rules check` reports on the directory itself."""
        self._snapshots += 1
        target = self.state_dir / f"bundle-{self._snapshots:05d}"
        try:
            self._keep_state_dir()
            copy_bundle(self.settings.rules_dir, target)
        except OSError as error:  # writing our own copy failed (a full disk, say): not a problem of the rules
            reason = (error.strerror or "the operating system refused").lower()
            log.error("rules.snapshot_failed", directory=str(self.settings.rules_dir), reason=reason)
            return target, [f"the service could not copy the rule bundle to check it ({reason}); the bundle is"
                            f" refused: check the space and permissions of {self.state_dir.parent}, then reload"]
        return target, None

    def _activate_or_reject(self, *, first: bool) -> bool:
        """Validate a snapshot of the rules in a separate process; serve it only if valid and its tests pass.

        For an edit (not `first`): True, with nothing judged, when the rules change again before the verdict (the
        validation is stopped at once): the newer rules are to be validated instead, and no verdict is recorded on
        rules no longer there (a refusal the officer had already fixed used to stay in GetRulesStatus)."""
        before = None if first else fingerprint(self.settings.rules_dir)
        snapshot, verdict = self._snapshot()
        warnings: list[str] = []
        changed = False
        if verdict is None:
            try:
                verdict, warnings = self._validate(snapshot, before)
            except RulesChanged:
                changed = True
        if changed or (before is not None and fingerprint(self.settings.rules_dir) != before):
            shutil.rmtree(snapshot, ignore_errors=True)
            log.info("rules.changed_while_checked", directory=str(self.settings.rules_dir))
            return True
        if self._stop.is_set():  # shutting down: neither serve nor record a verdict that was cut short
            shutil.rmtree(snapshot, ignore_errors=True)
            return False
        if verdict is not None:
            self._refuse(verdict, snapshot)
            if first:
                self._serve(None)  # serve ledger reads; decisions answer UNAVAILABLE until a fix
            return False
        self.rejected = None
        self._write_status()
        self._serve(snapshot, warnings)
        return False

    def _refuse(self, verdict: list[str], snapshot: Path) -> None:
        """Record and log why the rules in `snapshot` are refused, and forget the snapshot."""
        verdict = bounded(errors_first(verdict), self.settings.rules_dir)
        self.rejected = {"problems": verdict, "at": time.time()}
        self.checking_since = None  # judged: refused
        log.error("rules.rejected", directory=str(self.settings.rules_dir), problems=verdict)
        shutil.rmtree(snapshot, ignore_errors=True)
        self._write_status()

    def _serve(self, snapshot: Path | None, warnings: list[str] | None = None) -> None:
        """Replace the serving workers by a fresh set on `snapshot` (None: no valid bundle). Workers that cannot
        start (the database does not answer, say) do not make the bundle forgotten: it waits in `pending`,
        and the watch tries again, sooner at first, until they start or a newer bundle takes its place."""
        if self.pending is not None and self.pending.snapshot is not None:
            shutil.rmtree(self.pending.snapshot, ignore_errors=True)
        self.pending = PendingStart(snapshot, warnings or [])
        self._write_status()  # its warnings, for its workers to answer as soon as they serve
        self._start_pending()

    def _start_pending(self) -> None:
        pending = self.pending
        assert pending is not None
        try:
            started, version, digest = self._start_workers(pending.snapshot)
        except BundleRefused as refused:  # the ledger names other rules by its version: a verdict, not a failure
            assert pending.snapshot is not None
            self.pending = None
            if not pending.snapshot.is_dir():  # not the rules: their checked copy is gone (a temporary-file cleaner?)
                log.error("workers.not_started", reason=f"the checked copy of the rules at {pending.snapshot} is gone;"
                          " checking the rules again")
                self._reload.set()
            else:
                self._refuse(refused.problems, pending.snapshot)
            if not self.workers:
                self._serve(None)  # serve ledger reads; decisions answer UNAVAILABLE until a fix
            return
        except WorkersNotStarted as failure:
            if self._stop.is_set():
                return
            pending.failed()
            log.error(
                "workers.not_started",
                bundle="none valid (ledger reads only)" if pending.snapshot is None else "checked and valid",
                reason=failure.reason,
                failures=pending.failures,
                retry_in_seconds=pending.delay,
            )
            return
        self.pending = None
        old_workers, previous = self.workers, self.active
        self.workers = started
        if pending.snapshot is not None:
            self.active = ActiveBundle(pending.snapshot, version, digest, pending.warnings)
            self.checking_since = None  # judged: it serves
            self._write_status()
        self._stop_workers(old_workers, retiring=True)
        if previous is not None and previous is not self.active:
            shutil.rmtree(previous.snapshot, ignore_errors=True)
        if self.active is not None and self.active is not previous:
            log.info("rules.activated", version=version, digest=digest, first=previous is None)
            if pending.warnings:  # served all the same: a file the bundle ignores may hold the edit meant to serve
                log.warning("rules.warnings", version=version, warnings=pending.warnings)

    def _validate(self, snapshot: Path, unchanged: Fingerprint | None = None) -> tuple[list[str] | None, list[str]]:
        """What is wrong with the bundle, in words, never an empty list; or None when it is valid and its own test
        cases pass, with what the check warned of. Gives up at once when the supervisor is asked to stop, and raises
        RulesChanged as soon as the rule directory's fingerprint is no longer `unchanged` (when given)."""
        validator = subprocess.Popen(
            [sys.executable, "-m", "service.cli", "rules", "test", str(snapshot)],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env={**os.environ, "TMPDIR": str(self.state_dir)},  # what a validator cut short leaves goes with it
        )
        deadline = time.monotonic() + VALIDATION_TIMEOUT
        while True:
            try:
                stdout, stderr = validator.communicate(timeout=WATCH_INTERVAL)
                break
            except subprocess.TimeoutExpired:
                changed = unchanged is not None and fingerprint(self.settings.rules_dir) != unchanged
                if self._stop.is_set() or changed or time.monotonic() > deadline:
                    validator.kill()
                    validator.communicate()
                    if self._stop.is_set():
                        return ["validating the bundle was cut short: the service is shutting down"], []
                    if changed:
                        raise RulesChanged from None
                    directory = self.settings.rules_dir
                    return [f"{directory}: checking the bundle and running its test cases took longer than "
                            f"{VALIDATION_TIMEOUT:.0f} s; the edit is refused -- fix: run `decisiond rules test "
                            f"{directory}` to see how long it takes, and keep fewer, smaller test cases in "
                            f"{directory / 'tests'} [R501]"], []
        code = validator.returncode
        if code == 0:
            said = problem_entries(stdout)
            return None, bounded([entry.replace(str(snapshot), str(self.settings.rules_dir)) for entry in said],
                                 self.settings.rules_dir)
        if code < 0:
            return [f"the rule engine crashed while validating the bundle ({signal.Signals(-code).name})"], []
        found = problem_entries(stdout)
        if not found:  # it failed without naming a problem on stdout (a crash of the checker itself): say so
            last = next((line.strip() for line in reversed(stderr.splitlines()) if line.strip()), "")
            found = [f"validating the bundle failed unexpectedly (exit status {code})"
                     + (f": {last}" if last else ", with no message")
                     + "; the bundle is refused (report this to the service team)"]
        return [entry.replace(str(snapshot), str(self.settings.rules_dir)) for entry in found], []

    def _write_status(self) -> None:
        """The rules status the workers answer GetRulesStatus from. A status that cannot be written (a full disk,
        the state directory removed) is logged; the workers then answer the last one written."""
        status = {
            "active": None if self.active is None else {"version": self.active.version, "digest": self.active.digest},
            # by the checked copy a worker serves: the workers of a new bundle answer before it is recorded as active
            "warnings": {str(bundle.snapshot): bundle.warnings for bundle in (self.active, self.pending)
                         if bundle is not None and bundle.snapshot is not None},
            "rejected": self.rejected,
            "checking_since": self.checking_since,
        }
        temporary = self.status_file.with_suffix(".tmp")
        try:
            self._keep_state_dir()
            temporary.write_text(json.dumps(status))
            temporary.replace(self.status_file)
        except OSError as error:
            log.error("rules.status_not_written", reason=reason_of(error))

    def _keep_state_dir(self) -> None:
        """The private state directory, made again if something (a temporary-file cleaner) removed it."""
        self.state_dir.mkdir(mode=0o700, exist_ok=True)

    # --- workers ------------------------------------------------------------------------------------------

    def _spawn(self, snapshot: Path | None, index: int) -> Worker:
        command = [
            sys.executable,
            "-m",
            "service.worker",
            "--listen",
            f"{self.settings.host}:{self._port}",
            "--status-file",
            str(self.status_file),
        ]
        if snapshot is not None:
            command += ["--rules", str(snapshot)]
        if self._ledger is not None:  # the workers serving opened it: a new one would be another ledger
            command += ["--existing-ledger"]
        if (cpu := self._cpus[index]) is not None:
            command += ["--cpu", str(cpu)]
        inherited: tuple[int, ...] = ()
        if self._spread is not None:
            command += self._spread.worker_arguments(index)
            inherited = self._spread.descriptors()
        # The database URL, password and all, goes in the environment, which only this user can read: every user
        # of the machine sees a command line (ps).
        environment = {**os.environ, "DECISIOND_DATABASE": self.settings.database_url}
        process = subprocess.Popen(
            command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, pass_fds=inherited, env=environment
        )
        worker = Worker(process, snapshot or Path(), index)
        threading.Thread(target=self._read_ready, args=(worker,), daemon=True).start()
        threading.Thread(target=self._forward_logs, args=(worker,), daemon=True).start()
        return worker

    def _forward_logs(self, worker: Worker) -> None:
        """Workers log through the supervisor, whole lines at a time, so that lines of several processes never
        interleave on the one stderr (a pipe keeps a write whole only up to PIPE_BUF bytes), and every line is
        JSON (see log_lines.as_json_lines). A database URL a line quotes loses its password."""
        assert worker.process.stderr is not None
        source = worker.process.stderr.fileno()
        url = self.settings.database_url.encode()
        printable = redact_password(self.settings.database_url).encode()
        pending = b""
        while chunk := os.read(source, 1 << 16):
            pending += chunk
            cut = pending.rfind(b"\n") + 1
            if cut:
                STDERR.write_lines(as_json_lines(pending[:cut].replace(url, printable), worker.pid()))
                pending = pending[cut:]
        if pending:
            STDERR.write_lines(as_json_lines(pending.replace(url, printable) + b"\n", worker.pid()))

    @staticmethod
    def _read_ready(worker: Worker) -> None:
        assert worker.process.stdout is not None
        for line in worker.process.stdout:
            worker.ready.put(line.strip())
        worker.ready.put("EXIT")

    def _start_workers(self, snapshot: Path | None) -> tuple[list[Worker], str, str]:
        """Start a full set of workers on a snapshot and wait until each serves: the workers, and the version and
        digest they serve. WorkersNotStarted, and none left running, as soon as one fails (or on SIGTERM)."""
        started = [self._spawn(snapshot, index) for index in range(self.settings.workers)]
        said = []
        for worker in started:
            said.append(self._await_ready(worker))
            if said[-1].startswith("REFUSED ") and snapshot is not None:
                self._stop_workers(started)
                problems = _refused_problems(said[-1])
                raise BundleRefused([entry.replace(str(snapshot), str(self.settings.rules_dir)) for entry in problems])
            if not said[-1].startswith("READY"):
                self._stop_workers(started)
                raise WorkersNotStarted(self._why_not_ready(worker, said[-1]))
        ledgers = {_ledger_of(line) for line in said}
        if len(ledgers) > 1 or not all(map(self._serves_the_ledger, said)):
            self._stop_workers(started)
            raise WorkersNotStarted(ANOTHER_LEDGER)
        if self._ledger is None:
            self._ledger = ledgers.pop() or None  # none: each worker's own in-memory database
        _, version, digest = [*said[0].split(), "", ""][:3]
        return started, version, digest

    def _serves_the_ledger(self, said: str) -> bool:
        """Whether a worker's READY line names the ledger the server started with (or none is known yet)."""
        return self._ledger is None or _ledger_of(said) == self._ledger

    def _await_ready(self, worker: Worker) -> str:
        """What the worker said: READY..., FAILED <why>, REFUSED <problems>, EXIT (it ended without a word), TIMEOUT,
        or STOPPED (SIGTERM came first)."""
        deadline = time.monotonic() + WORKER_READY_TIMEOUT
        while True:
            try:
                line = worker.ready.get(timeout=WATCH_INTERVAL)
                break
            except queue.Empty:
                if self._stop.is_set():
                    return "STOPPED"
                if time.monotonic() > deadline:
                    line = "TIMEOUT"
                    break
        if not line.startswith(("READY", "REFUSED ")):  # a refusal is logged as rules.rejected or worker.not_replaced
            log.error("worker.failed_to_start", pid=worker.pid(), said=self._hide_password(line))
        return line

    def _why_not_ready(self, worker: Worker, said: str) -> str:
        """In words, for the log, once the worker has ended."""
        if said.startswith("FAILED "):
            return self._hide_password(said.removeprefix("FAILED "))
        if said == "TIMEOUT":
            return f"a worker was not ready within {WORKER_READY_TIMEOUT:.0f} s"
        if said == "STOPPED":
            return "the service is shutting down"
        return (f"a worker ended ({_how_it_ended(worker.process.returncode)}) before it was ready: its last lines"
                " (worker.output) say why")

    def _hide_password(self, text: str) -> str:
        """The text with the database URL, if it is there, in its printable form."""
        return text.replace(self.settings.database_url, redact_password(self.settings.database_url))

    def _replace_dead_workers(self) -> None:
        """Each worker that died is logged once, then replaced. A replacement that cannot start (the database does
        not answer, say) is tried again later and later (Backoff): every attempt starts a process and holds up the
        watch until it answers, so a cause that lasts must not bring one at every tick."""
        for index, worker in enumerate(self.workers):
            code = worker.process.poll()
            if code is None:
                continue
            if worker.replacement is None:
                log.error("worker.died", pid=worker.pid(), how=_how_it_ended(code))
                worker.replacement = Backoff()
            if worker.replacement.is_due():
                self._replace(index, worker, worker.replacement)

    def _replace(self, index: int, dead: Worker, retry: Backoff) -> None:
        """One attempt at a worker in the dead one's place, taken only if it serves the bundle the others serve."""
        snapshot = self.active.snapshot if self.active else None
        replacement = self._spawn(snapshot, index)
        said = self._await_ready(replacement)
        words = said.split()
        serves = [] if self.active is None else [self.active.version, self.active.digest]
        if words[:1] == ["READY"] and (not serves or words[1:3] == serves) and self._serves_the_ledger(said):
            self.workers[index] = replacement
            log.info("worker.replaced", old_pid=dead.pid(), pid=replacement.pid())
            return
        self._stop_workers([replacement])
        if self._stop.is_set():  # shutting down: nothing is replaced any more
            return
        reason, check_rules_again = self._why_not_replaced(replacement, said, snapshot)
        if check_rules_again:
            self._reload.set()
        retry.failed()
        log.error("worker.not_replaced", pid=dead.pid(), reason=reason, failures=retry.failures,
                  retry_in_seconds=retry.delay)

    def _why_not_replaced(self, replacement: Worker, said: str, snapshot: Path | None) -> tuple[str, bool]:
        """In words, for the log, and whether the rules are to be checked again: they are when the replacement could
        not take the checked copy the others serve (it is gone, or the ledger now names other rules by its version),
        which a new attempt would not change."""
        if said.startswith("READY") and not self._serves_the_ledger(said):
            return ANOTHER_LEDGER, False
        if said.startswith("READY"):  # it started without the bundle the others serve: its copy is gone
            return (f"the checked copy of the rules at {snapshot} is gone (removed by a temporary-file cleaner?);"
                    " checking the rules again"), True
        if said.startswith("REFUSED "):
            problems = "; ".join(_refused_problems(said))
            return (f"it refused the checked copy of the rules at {snapshot} ({problems}); checking the rules"
                    " again"), True
        return self._why_not_ready(replacement, said), False

    def _stop_workers(self, workers: list[Worker], *, retiring: bool = False) -> None:
        """Stop the workers and wait for them to drain. `retiring`: workers on a newer bundle serve in their
        place, so they go on reporting SERVING while their connections move (SIGUSR1, see worker.py)."""
        for worker in workers:
            if worker.process.poll() is None:
                worker.process.send_signal(signal.SIGUSR1 if retiring else signal.SIGTERM)
        waited = self.settings.drain_seconds + 5
        deadline = time.monotonic() + waited
        for worker in workers:
            while True:
                try:
                    worker.process.wait(timeout=max(0.1, min(WATCH_INTERVAL, deadline - time.monotonic())))
                    break
                except subprocess.TimeoutExpired:
                    if time.monotonic() >= deadline:
                        worker.process.kill()
                        worker.process.wait()
                        log.error("worker.killed", pid=worker.pid(), slot=worker.slot,
                                  reason=f"it had not stopped {waited:g} s after it was asked to (frozen, or stuck in a"
                                  " call); the calls in flight on it were cut off, unanswered")
                        break
                    self._notice_edit()  # the watch waits meanwhile: an edit saved now is not left unnoticed


ANOTHER_LEDGER = ("it opened another ledger than the one this server started with (the ledger file, or the"
                  " database, was deleted or replaced while the server ran): it is not taken, lest one server answer"
                  " from two ledgers; the workers serving, if they noticed it, fail their calls UNAVAILABLE until it"
                  " is back, or restart the server to serve the new one")


def _ledger_of(said: str) -> str:
    """The ledger a worker's `READY <version> <digest> <ledger>` line names ("" if none, or "-": in memory)."""
    ledger = [*said.split(), "", "", "", ""][3]
    return "" if ledger == "-" else ledger


def _listener_security(tls: TlsFiles | None) -> str:
    """How the start line names the listener's security: nothing for plaintext (the line as it always was)."""
    if tls is None:
        return ""
    if tls.client_ca is None:
        return f"TLS (certificate {tls.cert}), "
    return f"mutual TLS (certificate {tls.cert}; clients must present one signed by {tls.client_ca}), "


def _refused_problems(said: str) -> list[str]:
    """The problems a worker's `REFUSED <JSON list of formatted problems>` line names, one line each."""
    return problem_entries("\n".join(json.loads(said.removeprefix("REFUSED "))))


def _how_it_ended(code: int) -> str:
    """A process's exit status in words: `exit status 1`, `signal SIGKILL`."""
    return f"signal {signal.Signals(-code).name}" if code < 0 else f"exit status {code}"


# What the supervisor holds for a stderr that is not read fast enough (a stalled log shipper, a paused `| less`):
# at about 350 bytes a decision, some 12,000 decisions' lines, seconds of a busy server's logs. Beyond it, the
# newest lines are dropped (and counted): holding them all would only trade the stall for the supervisor's memory.
STDERR_BUFFER_BYTES = 4 * 1024 * 1024
# How long the supervisor's exit waits for what it holds to be written: a reader that is stuck must not hold the
# exit (and an orchestrator waiting on it) forever.
EXIT_WRITE_TIMEOUT = 5.0
NOT_KEEPING_UP = "the log reader is not keeping up"


@dataclass
class _LinesDropped:
    """Where, among the lines held, the ones that did not fit were dropped, and how many."""

    lines: int


class LineWriter:
    """Whole lines to one file descriptor, for every thread of the supervisor: the workers' lines it forwards and
    its own. Callers only hand lines over; one thread of its own writes them. The threads forwarding the workers'
    logs must go on emptying their pipes whatever becomes of stderr, or every worker's log backs up behind a reader
    that stalls (a worker that waited on its log would stop answering while it looks alive): so no caller ever
    waits on the descriptor.

    Lines are lost, never the caller's time, when the reader does not keep up (at most `most_buffered` bytes are
    held; the newest lines beyond are dropped, until half of what is held has been written) or a write fails
    (nothing reads the pipe any more: EPIPE; the descriptor is closed: EBADF; the disk is full). The lines lost are
    counted, and said in one line as soon as writing works again."""

    def __init__(self, descriptor: int, most_buffered: int = STDERR_BUFFER_BYTES) -> None:
        self._descriptor = descriptor
        self._most_buffered = most_buffered
        self._held: deque[bytes | _LinesDropped] = deque()
        self._held_bytes = 0
        self._dropping = False  # the lines held reached most_buffered: new ones are dropped until half is written
        self._writing = False  # the writer thread has taken lines it has not finished with
        self._changed = threading.Condition()  # guards the above
        self._writer: threading.Thread | None = None  # started with the first lines: nothing runs at import
        # The writer thread's own: lines lost and not yet said, and why.
        self._dropped = 0
        self._why_dropped = ""
        self._mid_line = False  # a write failed partway through a line

    def write_lines(self, lines: bytes) -> None:
        """Hand over `lines`, which end with a newline, to be written in writes of at most PIPE_BUF bytes each ending
        at a line's end (a pipe keeps a write whole only up to PIPE_BUF bytes, so lines of several writers never
        interleave). Returns at once; the lines are dropped if too much is held already."""
        with self._changed:
            if self._writer is None:
                self._writer = threading.Thread(target=self._write_held, name="stderr-writer", daemon=True)
                self._writer.start()
            if self._dropping and self._held_bytes <= self._most_buffered // 2:
                self._dropping = False
            if self._dropping or self._held_bytes + len(lines) > self._most_buffered:
                self._dropping = True
                if self._held and isinstance(last := self._held[-1], _LinesDropped):
                    last.lines += lines.count(b"\n")
                else:
                    self._held.append(_LinesDropped(lines.count(b"\n")))
            else:
                self._held.append(lines)
                self._held_bytes += len(lines)
            self._changed.notify_all()

    def write(self, text: str) -> int:
        """A text stream's write, for structlog: the supervisor's own lines, one whole line each."""
        self.write_lines(text.encode(errors="backslashreplace"))
        return len(text)

    def flush(self) -> None:
        """Nothing: the writer thread writes every line as soon as it can (see drain)."""

    def drain(self, timeout: float) -> bool:
        """Wait until everything handed over has been written (or lost), at most `timeout` seconds: whether it has."""
        with self._changed:
            return self._changed.wait_for(lambda: not self._held and not self._writing, timeout)

    def _write_held(self) -> None:
        """The writer thread: the lines held, in the order they came, and where lines were dropped, how many."""
        while True:
            with self._changed:
                self._changed.wait_for(lambda: bool(self._held))
                taken = self._held.popleft()
                self._writing = True
            if isinstance(taken, _LinesDropped):
                self._dropped += taken.lines
                self._why_dropped = NOT_KEEPING_UP
                self._say_dropped()  # the reader took what was held before them: writing works again
            else:
                self._write_or_count(taken)
            with self._changed:
                if not isinstance(taken, _LinesDropped):
                    self._held_bytes -= len(taken)
                self._writing = False
                self._changed.notify_all()

    def _write_or_count(self, lines: bytes) -> None:
        if self._dropped:
            self._say_dropped()
        if self._dropped:  # stderr still fails: these are lost too, and said after the count
            self._dropped += lines.count(b"\n")
            return
        self._dropped = self._write(lines).count(b"\n")

    def _say_dropped(self) -> None:
        if not self._write(self._dropped_notice()):
            self._dropped = 0

    def _write(self, lines: bytes) -> bytes:
        """What could not be written (b"" when all was): the lines from the one a write failed on."""
        while lines:
            end = lines.rfind(b"\n", 0, select.PIPE_BUF) + 1 or lines.find(b"\n") + 1 or len(lines)
            piece = lines[:end]
            try:
                while piece:
                    piece = piece[os.write(self._descriptor, piece):]
            except OSError as error:
                self._why_dropped = reason_of(error)
                self._mid_line = len(piece) < end
                return lines
            lines = lines[end:]
        return b""

    def _dropped_notice(self) -> bytes:
        """The line that says how many lines were lost, after the end of the one cut short, if one was."""
        return b"\n" * self._mid_line + dropped_lines_notice(self._dropped, self._why_dropped).encode()


STDERR = LineWriter(2)


def supervise(settings: Settings) -> int:
    """`decisiond serve`: run the supervisor until SIGTERM; exit 0 after draining, 2 when it cannot listen.

    Its own log lines go through the writer that forwards the workers' lines (STDERR), so that a stderr nobody
    reads any more (EPIPE) or reads too slowly ends or holds up neither a thread nor the supervisor, and none of its
    lines is left in a buffer that Python would fail to flush at exit (exit status 120). What is still held at the
    end is written before it returns, for at most EXIT_WRITE_TIMEOUT seconds."""
    os.environ.setdefault("PYTHONUNBUFFERED", "1")
    configure_logging(settings.log_level, cast(TextIO, STDERR))
    try:
        return Supervisor(settings).run()
    except CannotListen as error:
        STDERR.write_lines(f"decisiond: {error}\n".encode(errors="backslashreplace"))
        return 2
    finally:
        STDERR.drain(EXIT_WRITE_TIMEOUT)


# A refusal is recorded (status file, GetRulesStatus, one log line) with at most this many problems, each of at
# most this many characters: one edit can have thousands of problems, and a default gRPC client takes 4 MB at most.
MOST_PROBLEMS_RECORDED = 50
LONGEST_PROBLEM_RECORDED = 2000
_KEPT_AT_THE_END = 500  # of a problem cut to length: its end holds the fix and the code

# The last line of a problem as RuleProblem.format() and `rules test` print it: `    fix: ... [R101]` or `    [R999]`.
_CODE_LINE = re.compile(r"(fix: .*)?\[[RW]\d{3}\]")
_CARET_LINE = re.compile(r"\s*\^")
_FAILED_CASE = re.compile(r"(.+?:\d+): (.+)")
# What `rules test` and `rules check` print besides problems: passed cases, the header before a bundle's errors,
# the summaries (engine/check.py's `summary` among them) and the coverage.
_NO_PROBLEM = re.compile(r"ok |The bundle in .* has errors; fix them first|\d+ passed, \d+ failed, |coverage: |"
                         r"never fired: |.*: (OK, )?(\d+ errors?(, \d+ warnings?)?|no problems)$")


def problem_entries(output: str) -> list[str]:
    """The problems in the output of `decisiond rules test` (or `rules check`), one line each (see one_line).

    A problem starts at a line that is not indented and ends with its indented `fix: ... [CODE]` (or `[CODE]`)
    line; the lines between are the expression with a caret under the column, which the headline's line and
    column already locate and are left out, or what a failed test case got, which is kept. Lines that are no
    problem are left out: "ok" cases, the header before the problems of a bundle with errors, the summary and
    the coverage."""
    blocks: list[list[str]] = []
    for line in output.splitlines():
        if blocks and (not line or line[0].isspace()):
            blocks[-1].append(line)
        elif line.strip():
            blocks.append([line])
    return [entry for block in blocks if (entry := _entry(block)) is not None]


def _entry(block: list[str]) -> str | None:
    """One problem's lines as one line; None when they are no problem. Lines of another shape are kept as they are,
    joined: what the validator says is never dropped for being worded unexpectedly."""
    head, rest = block[0].rstrip(), block[1:]
    if _NO_PROBLEM.match(head):
        return None
    while rest and not rest[-1].strip():  # the blank line before the summary of `rules test`
        rest.pop()
    if not rest:
        return head
    fix = rest[-1].strip()
    if not _CODE_LINE.fullmatch(fix):
        return "; ".join([head, *(line.strip() for line in rest if line.strip())])
    details = rest[:-1]
    if len(details) >= 2 and _CARET_LINE.fullmatch(details[-1]):
        details = details[:-2]  # the expression (which may be blank) and the caret line
    details = [detail.strip() for detail in details if detail.strip()]
    fired = ""
    if head.startswith("FAIL "):  # a test case that does not get what it expects, or cannot be run
        head = head.removeprefix("FAIL ")
        if details and (case := _FAILED_CASE.fullmatch(head)):  # worded as `rules check` words it
            head = f"{case[1]}: case '{case[2]}' does not get what it expects"
            if len(details) > 1 and details[-1].startswith("rules fired: "):
                fired = f" ({details.pop()})"
    if details:
        head += ": " + "; ".join(details) + fired
    return one_line(head, fix)


_WARNING_CODE = re.compile(r".*\[W\d{3}\]")


def errors_first(problems: list[str]) -> list[str]:
    """A refusal's problems as recorded: the errors that refused it, then the warnings (a file the bundle ignores,
    say), each in its order. `rules test` prints the warnings first, and an officer took the first line of a refusal
    (`lists/README.txt: warning: this file is ignored`) for its reason; cut to MOST_PROBLEMS_RECORDED, the errors
    are kept. A warning is told by its code (`[W002]`), as it says `warning:` too."""
    warnings = [entry for entry in problems if _WARNING_CODE.fullmatch(entry)]
    return [entry for entry in problems if not _WARNING_CODE.fullmatch(entry)] + warnings


def one_line(headline: str, fix: str) -> str:
    """`rules/fraud.yaml:9:75: rule FRD-001: '=>' is not an operator here -- fix: write >= [R101]`: a problem as
    GetRulesStatus and the log give it, its headline and its fix (`fix: ... [CODE]`, or `[CODE]` alone)."""
    return f"{headline} -- {fix}" if fix.startswith("fix:") else f"{headline} {fix}"


def bounded(problems: list[str], rules_dir: Path) -> list[str]:
    """The refusal as it is recorded: at most MOST_PROBLEMS_RECORDED problems, each cut in its middle to at most
    LONGEST_PROBLEM_RECORDED characters, then how many more there are and how to see them all."""
    kept = [_cut(entry) for entry in problems[:MOST_PROBLEMS_RECORDED]]
    if more := len(problems) - len(kept):
        kept.append(f"... and {more} more problem{'' if more == 1 else 's'}: run `decisiond rules check"
                    f" {rules_dir}` to see them all")
    return kept


def _cut(entry: str) -> str:
    if len(entry) <= LONGEST_PROBLEM_RECORDED:
        return entry
    gap = " ... "
    head = LONGEST_PROBLEM_RECORDED - _KEPT_AT_THE_END - len(gap)
    return entry[:head] + gap + entry[-_KEPT_AT_THE_END:]
