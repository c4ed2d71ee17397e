"""`decisiond serve` as a child process: started on a free port, its start line parsed, its logs kept."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import threading
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
START_LINE = re.compile(r"^decisiond listening on 127\.0\.0\.1:(\d+) with ")


class ServerProcess:
    """A running `decisiond serve`; stop() sends SIGTERM and waits, kill() ends the whole process group."""

    def __init__(self, rules: Path, database_url: str, *, workers: int = 2, cwd: Path | None = None) -> None:
        env = {**os.environ, "PYTHONUNBUFFERED": "1"}
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
            env=env,
            cwd=cwd or ROOT,
            start_new_session=True,
        )
        assert self.process.stdout is not None
        self.first_line = self.process.stdout.readline()
        match = START_LINE.match(self.first_line)
        if not match:
            self.kill()
            raise AssertionError(f"unexpected start line: {self.first_line!r}")
        self.port = int(match.group(1))
        self.stderr_lines: list[str] = []
        self._reader = threading.Thread(target=self._drain_stderr, daemon=True)
        self._reader.start()

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    def _drain_stderr(self) -> None:
        assert self.process.stderr is not None
        for line in self.process.stderr:
            self.stderr_lines.append(line)

    def logs(self) -> list[dict[str, object]]:
        """The JSON log lines written so far."""
        return [json.loads(line) for line in list(self.stderr_lines) if line.startswith("{")]

    def stop(self, timeout: float = 30) -> int:
        self.process.send_signal(signal.SIGTERM)
        code = self.process.wait(timeout=timeout)
        self._reader.join(timeout=5)
        return code

    def kill(self) -> None:
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(timeout=10)
