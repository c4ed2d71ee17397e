"""`decisiond serve` as an operator runs it: a child process in its own process group, started on a free
loopback port, stopped with SIGTERM or killed outright (the supervisor and its workers together)."""

from __future__ import annotations

import functools
import json
import os
import queue
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Collection, Mapping
from contextlib import suppress
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
START_LINE = re.compile(r"^decisiond listening on 127\.0\.0\.1:(\d+) with ")
START_TIMEOUT = 60.0


class ServerProcess:
    """A running `decisiond serve --listen 127.0.0.1:0`; its port is read from the start line."""

    def __init__(
        self,
        database_url: str,
        *,
        rules: Path = ROOT / "rules",
        workers: int = 2,
        cwd: Path | None = None,
        env: Mapping[str, str] | None = None,
        cpus: Collection[int] | None = None,
    ) -> None:
        """`env`: environment variables to add; `cpus`: the CPUs the server may run on (default: as this process)."""
        self.database_url = database_url
        # The supervisor's private state (rule snapshots) goes here, removed with the server: a killed server
        # cannot remove it itself.
        self._temporary = tempfile.mkdtemp(prefix="server-process-")
        self.process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "service.cli",
                "serve",
                "--listen",
                "127.0.0.1:0",
                "--rules",
                str(rules),
                "--database",
                database_url,
                "--workers",
                str(workers),
            ],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env={**os.environ, "PYTHONUNBUFFERED": "1", "TMPDIR": self._temporary, **(env or {})},
            cwd=cwd or ROOT,
            start_new_session=True,  # its own process group: kill() takes the workers with it
            preexec_fn=None if cpus is None else functools.partial(os.sched_setaffinity, 0, cpus),
        )
        self.stderr_lines: list[str] = []
        self._stdout: queue.Queue[str] = queue.Queue()
        self._readers = [
            threading.Thread(target=self._read_stdout, daemon=True),
            threading.Thread(target=self._read_stderr, daemon=True),
        ]
        for reader in self._readers:
            reader.start()
        self.port = 0
        self.first_line = ""
        self._terminated = False

    def wait_until_listening(self) -> ServerProcess:
        try:
            first_line = self._stdout.get(timeout=START_TIMEOUT)
        except queue.Empty:
            first_line = f"(nothing within {START_TIMEOUT:.0f} s)"
        match = START_LINE.match(first_line)
        if not match:
            self.kill()
            raise AssertionError(f"unexpected start line {first_line!r}; stderr:\n{''.join(self.stderr_lines[-20:])}")
        self.port = int(match.group(1))
        self.first_line = first_line
        return self

    @property
    def tmpdir(self) -> Path:
        """The server's TMPDIR, where the supervisor keeps its private state (decisiond-*)."""
        return Path(self._temporary)

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    def logs(self) -> list[dict[str, object]]:
        return [json.loads(line) for line in list(self.stderr_lines) if line.startswith("{")]

    def terminate(self) -> None:
        """One SIGTERM, as an orchestrator sends it (a second one could arrive after Python restored the
        default handlers on its way out)."""
        if not self._terminated and self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            self._terminated = True

    def stop(self, timeout: float = 30) -> int:
        """SIGTERM, then the exit status; kills the group and fails if it does not exit in time."""
        self.terminate()
        try:
            code = self.process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.kill()
            raise AssertionError(f"the server did not exit within {timeout} s of SIGTERM") from None
        for reader in self._readers:
            reader.join(timeout=5)  # every line it wrote has been read
        shutil.rmtree(self._temporary, ignore_errors=True)
        return code

    def kill(self) -> None:
        """SIGKILL to the supervisor and every worker, as a crash or an OOM killer would; returns once none
        of them runs any more."""
        group = self.process.pid
        with suppress(ProcessLookupError):
            os.killpg(group, signal.SIGKILL)
        self.process.wait(timeout=10)
        deadline = time.monotonic() + 10
        while _live_members(group):
            if time.monotonic() > deadline:
                raise AssertionError(f"processes of group {group} survived SIGKILL: {_live_members(group)}")
            time.sleep(0.05)
        shutil.rmtree(self._temporary, ignore_errors=True)

    def _read_stdout(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            self._stdout.put(line)

    def _read_stderr(self) -> None:
        assert self.process.stderr is not None
        for line in self.process.stderr:
            self.stderr_lines.append(line)


def _live_members(group: int) -> list[int]:
    """Pids of the process group that are still running (zombies awaiting a reaper do not count)."""
    members = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        state, pgrp = fields[0], int(fields[2])
        if pgrp == group and state not in ("Z", "X"):
            members.append(int(entry.name))
    return members


def workers_of(supervisor: int) -> set[int]:
    """The pids of a running supervisor's worker processes."""
    children = Path(f"/proc/{supervisor}/task/{supervisor}/children").read_text().split()
    return {int(pid) for pid in children if "service.worker" in Path(f"/proc/{pid}/cmdline").read_text()}


def start_server(
    database_url: str,
    *,
    rules: Path = ROOT / "rules",
    workers: int = 2,
    cwd: Path | None = None,
    env: Mapping[str, str] | None = None,
) -> ServerProcess:
    """A server that is listening; see ServerProcess (which also takes CPUs)."""
    return ServerProcess(database_url, rules=rules, workers=workers, cwd=cwd, env=env).wait_until_listening()
