"""The serving process model: a small supervisor and worker processes that share one port (SO_REUSEPORT).

The supervisor never loads the rule engine. It snapshots the rule directory, has a separate process validate
the snapshot and run its test cases, and only then starts workers on it. A new bundle is activated by starting
a fresh set of workers and draining the old ones, so every call is decided by one worker under one bundle,
calls in flight finish on the bundle they started with, and the engine's per-ruleset leaks die with the old
workers. A worker that dies is replaced; the others keep answering.
"""

from __future__ import annotations

import json
import os
import queue
import select
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from types import FrameType
from urllib.parse import urlsplit, urlunsplit

import structlog

from service.affinity import described, worker_cpus
from service.config import Settings
from service.engine.files import EntryKind, bundle_entries, copy_bundle
from service.log_lines import as_json_lines
from service.spread import ConnectionSpread, SpreadUnavailable, open_spread

log = structlog.get_logger("decisiond.supervisor")

WORKER_READY_TIMEOUT = 60.0
VALIDATION_TIMEOUT = 120.0
WATCH_INTERVAL = 0.5


@dataclass
class Worker:
    process: subprocess.Popen[str]
    snapshot: Path
    ready: queue.Queue[str] = field(default_factory=queue.Queue)

    def pid(self) -> int:
        return self.process.pid


@dataclass(frozen=True)
class ActiveBundle:
    snapshot: Path
    version: str
    digest: str


def reserve_port(host: str, port: int) -> socket.socket:
    """Bind (without listening) so that port 0 becomes a concrete port the workers can all bind with
    SO_REUSEPORT; the kernel only hands connections to sockets that listen."""
    family = socket.AF_INET6 if ":" in host.strip("[]") else socket.AF_INET
    holder = socket.socket(family, socket.SOCK_STREAM)
    holder.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    holder.bind((host.strip("[]"), port))
    return holder


def redact_password(url: str) -> str:
    """The URL with any password replaced by ***, fit to print."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    netloc = parts.netloc.replace(f":{parts.password}@", ":***@", 1)
    return urlunsplit(parts._replace(netloc=netloc))


Fingerprint = tuple[tuple[str, str, int, int], ...]  # every bundle entry's path, kind, size and modification time


def fingerprint(directory: Path) -> Fingerprint:
    """Cheap change detection over exactly what the bundle reads or reports on (files.bundle_entries): each
    entry's path, what it is, its size and modification time. A link loop, a device or a folder where a file
    belongs counts like a file, so that removing it is seen; nothing is opened and links are not followed
    into folders."""
    entries = []
    for entry in bundle_entries(directory):
        size, mtime = -1, -1  # a folder's own time changes with files the bundle does not read: its entries count
        if entry.kind is not EntryKind.FOLDER:
            try:
                stat = (directory / entry.rel).stat()
                size, mtime = stat.st_size, stat.st_mtime_ns
            except OSError:
                pass
        entries.append((entry.rel, entry.kind.value, size, mtime))
    return tuple(entries)


class Supervisor:
    """Runs `settings.workers` workers until SIGTERM; reloads rules on SIGHUP or when the files change."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.state_dir = Path(tempfile.mkdtemp(prefix="decisiond-"))
        self.status_file = self.state_dir / "rules-status.json"
        self.workers: list[Worker] = []
        self.active: ActiveBundle | None = None
        self.rejected: dict[str, object] | None = None
        self._stop = threading.Event()
        self._reload = threading.Event()
        self._port = 0
        self._snapshots = 0
        self._cpus = worker_cpus(settings.workers, settings.cpu_affinity, settings.database_url)  # by worker index
        self._spread: ConnectionSpread | None = None

    # --- lifecycle ----------------------------------------------------------------------------------------

    def run(self) -> int:
        signal.signal(signal.SIGTERM, self._on_stop)
        signal.signal(signal.SIGINT, self._on_stop)
        signal.signal(signal.SIGHUP, lambda *_: self._reload.set())
        holder = reserve_port(self.settings.host, self.settings.port)
        self._port = holder.getsockname()[1]
        self._spread = self._open_spread()
        try:
            # Fingerprinted before the first snapshot is taken: an edit saved while that bundle is checked and
            # the workers start (seconds) is then seen as a change, not taken for what is serving.
            seen = fingerprint(self.settings.rules_dir)
            self._activate_or_reject(first=True)
            self._announce()
            self._watch(seen)
        finally:
            self._stop.set()
            self._stop_workers(self.workers)
            holder.close()
            if self._spread is not None:
                self._spread.close()
            shutil.rmtree(self.state_dir, ignore_errors=True)
        log.info("shutdown.complete")
        return 0

    def _on_stop(self, signum: int, _frame: FrameType | None) -> None:
        log.info("shutdown.requested", signal=signal.Signals(signum).name)
        self._stop.set()

    def _announce(self) -> None:
        if self.active is None:
            rules = f"NO valid rule bundle from {self.settings.rules_dir} (decisions answer UNAVAILABLE)"
        else:
            rules = (
                f"rule bundle {self.active.version} (sha256 {self.active.digest[:12]}) from {self.settings.rules_dir}"
            )
        print(
            f"decisiond listening on {self.settings.host}:{self._port} with {rules},"
            f" database {redact_password(self.settings.database_url)}, {self.settings.workers} worker processes"
            f"{described(self._cpus)}",
            flush=True,
        )

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
            self._replace_dead_workers()
            current = fingerprint(self.settings.rules_dir)
            if current != seen or self._reload.is_set():
                self._reload.clear()
                time.sleep(WATCH_INTERVAL)  # let an editor finish writing
                seen = fingerprint(self.settings.rules_dir)
                self._activate_or_reject(first=False)

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
            copy_bundle(self.settings.rules_dir, target)
        except OSError as error:  # writing our own copy failed (a full disk, say): not a problem of the rules
            reason = (error.strerror or "the operating system refused").lower()
            log.error("rules.snapshot_failed", directory=str(self.settings.rules_dir), reason=reason)
            return target, [f"the service could not copy the rule bundle to check it ({reason}); the bundle is"
                            f" refused: check the space and permissions of {self.state_dir.parent}, then reload"]
        return target, None

    def _activate_or_reject(self, *, first: bool) -> None:
        """Validate a snapshot of the rules in a separate process; serve it only if valid and its tests pass."""
        snapshot, verdict = self._snapshot()
        if verdict is None:
            verdict = self._validate(snapshot)
        if self._stop.is_set():  # shutting down: neither serve nor record a verdict that was cut short
            shutil.rmtree(snapshot, ignore_errors=True)
            return
        if verdict is not None:
            self.rejected = {"problems": verdict, "at": time.time()}
            log.error("rules.rejected", directory=str(self.settings.rules_dir), problems=verdict)
            shutil.rmtree(snapshot, ignore_errors=True)
            self._write_status()
            if first:
                self._start_workers(None)  # serve ledger reads; decisions answer UNAVAILABLE until a fix
            return
        old_workers, previous = self.workers, self.active
        started = self._start_workers(snapshot)
        if started is None:
            log.error("rules.activation_failed", reason="new workers did not become ready")
            shutil.rmtree(snapshot, ignore_errors=True)
            if first:
                self._start_workers(None)
            return
        self.active = started
        self.rejected = None
        self._write_status()
        self._stop_workers(old_workers)
        if previous is not None:
            shutil.rmtree(previous.snapshot, ignore_errors=True)
        log.info("rules.activated", version=started.version, digest=started.digest, first=first)

    def _validate(self, snapshot: Path) -> list[str] | None:
        """None when the bundle is valid and its own test cases pass; else what is wrong, in words, never an
        empty list. Gives up at once when the supervisor is asked to stop."""
        validator = subprocess.Popen(
            [sys.executable, "-m", "service.cli", "rules", "test", str(snapshot)],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        deadline = time.monotonic() + VALIDATION_TIMEOUT
        while True:
            try:
                stdout, stderr = validator.communicate(timeout=WATCH_INTERVAL)
                break
            except subprocess.TimeoutExpired:
                if self._stop.is_set() or time.monotonic() > deadline:
                    validator.kill()
                    validator.communicate()
                    if self._stop.is_set():
                        return ["validating the bundle was cut short: the service is shutting down"]
                    return [f"validating the bundle took longer than {VALIDATION_TIMEOUT:.0f} s"]
        code = validator.returncode
        if code == 0:
            return None
        if code < 0:
            return [f"the rule engine crashed while validating the bundle ({signal.Signals(-code).name})"]
        lines = [line for line in stdout.splitlines() if line.strip() and not line.startswith("ok ")]
        if not lines:  # it failed without saying why on stdout (a crash of the checker itself): say so
            last = next((line.strip() for line in reversed(stderr.splitlines()) if line.strip()), "")
            lines = [f"validating the bundle failed unexpectedly (exit status {code})"
                     + (f": {last}" if last else ", with no message")
                     + "; the bundle is refused (report this to the service team)"]
        return [line.replace(str(snapshot), str(self.settings.rules_dir)) for line in lines]

    def _write_status(self) -> None:
        status = {
            "active": None if self.active is None else {"version": self.active.version, "digest": self.active.digest},
            "rejected": self.rejected,
        }
        temporary = self.status_file.with_suffix(".tmp")
        temporary.write_text(json.dumps(status))
        temporary.replace(self.status_file)

    # --- workers ------------------------------------------------------------------------------------------

    def _spawn(self, snapshot: Path | None, index: int) -> Worker:
        command = [
            sys.executable,
            "-m",
            "service.worker",
            "--listen",
            f"{self.settings.host}:{self._port}",
            "--database",
            self.settings.database_url,
            "--status-file",
            str(self.status_file),
        ]
        if snapshot is not None:
            command += ["--rules", str(snapshot)]
        if (cpu := self._cpus[index]) is not None:
            command += ["--cpu", str(cpu)]
        inherited: tuple[int, ...] = ()
        if self._spread is not None:
            command += self._spread.worker_arguments(index)
            inherited = self._spread.descriptors()
        process = subprocess.Popen(
            command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, pass_fds=inherited
        )
        worker = Worker(process, snapshot or Path())
        threading.Thread(target=self._read_ready, args=(worker,), daemon=True).start()
        threading.Thread(target=self._forward_logs, args=(worker,), daemon=True).start()
        return worker

    @staticmethod
    def _forward_logs(worker: Worker) -> None:
        """Workers log through the supervisor, whole lines at a time, so that lines of several processes never
        interleave on the one stderr (a pipe keeps a write whole only up to PIPE_BUF bytes), and every line is
        JSON (see log_lines.as_json_lines)."""
        assert worker.process.stderr is not None
        source = worker.process.stderr.fileno()
        pending = b""
        while chunk := os.read(source, 1 << 16):
            pending += chunk
            cut = pending.rfind(b"\n") + 1
            if cut:
                _write_lines(as_json_lines(pending[:cut], worker.pid()))
                pending = pending[cut:]
        if pending:
            _write_lines(as_json_lines(pending + b"\n", worker.pid()))

    @staticmethod
    def _read_ready(worker: Worker) -> None:
        assert worker.process.stdout is not None
        for line in worker.process.stdout:
            worker.ready.put(line.strip())
        worker.ready.put("EXIT")

    def _start_workers(self, snapshot: Path | None) -> ActiveBundle | None:
        """Start a full set of workers on a snapshot and wait until each serves; None (and none left
        running) if any fails. The new set becomes `self.workers`."""
        started = [self._spawn(snapshot, index) for index in range(self.settings.workers)]
        said = [self._await_ready(worker) for worker in started]
        if not all(line.startswith("READY") for line in said):
            self._stop_workers(started)
            return None
        self.workers = started
        _, version, digest = [*said[0].split(), "", ""][:3]
        return ActiveBundle(snapshot or Path(), version, digest)

    @staticmethod
    def _await_ready(worker: Worker) -> str:
        try:
            line = worker.ready.get(timeout=WORKER_READY_TIMEOUT)
        except queue.Empty:
            line = "TIMEOUT"
        if not line.startswith("READY"):
            log.error("worker.failed_to_start", pid=worker.pid(), said=line)
        return line

    def _replace_dead_workers(self) -> None:
        for index, worker in enumerate(self.workers):
            code = worker.process.poll()
            if code is None:
                continue
            how = f"signal {signal.Signals(-code).name}" if code < 0 else f"exit status {code}"
            log.error("worker.died", pid=worker.pid(), how=how)
            snapshot = self.active.snapshot if self.active else None
            replacement = self._spawn(snapshot, index)
            if self._await_ready(replacement).startswith("READY"):
                self.workers[index] = replacement
                log.info("worker.replaced", old_pid=worker.pid(), pid=replacement.pid())

    def _stop_workers(self, workers: list[Worker]) -> None:
        for worker in workers:
            if worker.process.poll() is None:
                worker.process.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + self.settings.drain_seconds + 5
        for worker in workers:
            try:
                worker.process.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                worker.process.kill()
                worker.process.wait()


_stderr_lock = threading.Lock()


def _write_lines(lines: bytes) -> None:
    """Write whole lines to stderr in writes of at most PIPE_BUF bytes, each ending at a line's end."""
    with _stderr_lock:
        while lines:
            end = lines.rfind(b"\n", 0, select.PIPE_BUF) + 1 or lines.find(b"\n") + 1 or len(lines)
            piece, lines = lines[:end], lines[end:]
            while piece:
                piece = piece[os.write(2, piece):]


def supervise(settings: Settings) -> int:
    """`decisiond serve`: run the supervisor until SIGTERM; exit 0 after draining."""
    os.environ.setdefault("PYTHONUNBUFFERED", "1")
    return Supervisor(settings).run()
