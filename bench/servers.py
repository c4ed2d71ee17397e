"""Server processes under test: `decisiond serve` and the echo, started as a user would, and their memory."""

from __future__ import annotations

import os
import re
import select
import signal
import subprocess
import sys
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DECISIOND = ROOT / ".venv" / "bin" / "decisiond"
START_TIMEOUT_S = 120.0  # decisiond validates the bundle and runs its tests before it listens
_LISTENING = re.compile(r"listening on (?P<host>[^\s,]+):(?P<port>\d+)")


class ServerFailed(RuntimeError):
    """A server did not start; the message carries the tail of its log."""


@dataclass
class ServerProcess:
    name: str
    process: subprocess.Popen[str]
    address: str
    log_path: Path
    banner: str

    def worker_pids(self) -> list[int]:
        """The serving processes: the children of the parent process (or the parent alone if it has none)."""
        children = _children(self.process.pid)
        return children or [self.process.pid]

    def rss_bytes(self) -> int:
        """Resident memory of the serving processes, summed."""
        return sum(rss_bytes(pid) for pid in self.worker_pids())

    def cpu_seconds(self) -> float:
        """User + system CPU time the serving processes have used so far, summed."""
        return sum(cpu_seconds(pid) for pid in self.worker_pids())

    def stop(self, timeout_s: float = 30.0) -> int:
        """SIGTERM, wait for the drain; kill if it does not exit in time. Returns the exit status."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
        try:
            return self.process.wait(timeout=timeout_s)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
            return -signal.SIGKILL


def rss_bytes(pid: int) -> int:
    """VmRSS of a process, 0 if it is gone."""
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return 0
    match = re.search(r"^VmRSS:\s+(\d+) kB", status, re.MULTILINE)
    return int(match.group(1)) * 1024 if match else 0


def cpu_seconds(pid: int) -> float:
    """utime + stime of a process, 0 if it is gone."""
    try:
        return stat_cpu_seconds(Path(f"/proc/{pid}/stat").read_text())
    except OSError:
        return 0.0


def stat_cpu_seconds(stat: str) -> float:
    """utime + stime from the text of a /proc stat file (a process's, or one thread's under task/)."""
    fields = stat.rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def machine_busy_seconds() -> float:
    """CPU time all processes of the machine have used (every state but idle and iowait), summed over CPUs."""
    fields = [int(value) for value in Path("/proc/stat").read_text().splitlines()[0].split()[1:]]
    idle, iowait = fields[3], fields[4]
    return (sum(fields[:8]) - idle - iowait) / os.sysconf("SC_CLK_TCK")


def _children(pid: int) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        parent = int(stat.rsplit(")", 1)[1].split()[1])
        if parent == pid:
            found.append(int(entry.name))
    return sorted(found)


def _start(name: str, command: list[str], log_path: Path, env: dict[str, str], cwd: Path = ROOT) -> ServerProcess:
    log = log_path.open("w")
    process = subprocess.Popen(command, cwd=cwd, stdout=subprocess.PIPE, stderr=log, text=True, env=env)
    log.close()
    assert process.stdout is not None
    deadline = time.monotonic() + START_TIMEOUT_S
    banner = ""
    while time.monotonic() < deadline and process.poll() is None:
        ready, _, _ = select.select([process.stdout], [], [], 0.5)
        if ready:
            banner = process.stdout.readline().strip()
            break
    match = _LISTENING.search(banner)
    if match is None:
        if process.poll() is None:
            process.kill()
            process.wait()
        tail = log_path.read_text()[-2000:]
        raise ServerFailed(f"{name} did not announce where it listens (said {banner!r}); log tail:\n{tail}")
    return ServerProcess(name, process, f"{match['host']}:{match['port']}", log_path, banner)


def _env(workers: int | None) -> dict[str, str]:
    env = dict(os.environ)
    if workers is not None:
        env["DECISIOND_WORKERS"] = str(workers)
    return env


def start_decisiond(rules: Path, database_url: str, log_path: Path, workers: int | None = None,
                    checkout: Path | None = None, extra_env: Mapping[str, str] | None = None) -> ServerProcess:
    """`decisiond serve` on a free loopback port; its logs (one JSON line per decision) go to log_path.
    `checkout`: serve the code of another checkout of the project (a git worktree, say) with this environment's
    Python, instead of this one's. `extra_env`: variables set for the server's processes besides this one's."""
    env = _env(workers) | dict(extra_env or {})
    if checkout is None:
        # the console script when the project is installed (scripts/setup), else the module it wraps
        entry = [str(DECISIOND)] if DECISIOND.exists() else [sys.executable, "-m", "service.cli"]
    else:
        # `python -m` puts the working directory first on the module path, ahead of this project's install
        entry = [sys.executable, "-m", "service.cli"]
        env["PYTHONPATH"] = str(checkout)
    command = [*entry, "serve", "--listen", "127.0.0.1:0", "--rules", str(rules), "--database", database_url]
    server = _start("decisiond", command, log_path, env, cwd=checkout or ROOT)
    if "NO valid rule bundle" in server.banner:
        server.stop()
        raise ServerFailed(f"decisiond refused the rule bundle {rules}; it would answer UNAVAILABLE: {server.banner}")
    return server


def start_echo(log_path: Path, workers: int | None = None, listen: str = "127.0.0.1:0") -> ServerProcess:
    """The echo ceiling, same stack and process model, on a free loopback port (or the one `listen` names)."""
    command = [sys.executable, "-m", "bench.echo", "serve", "--listen", listen]
    return _start("echo", command, log_path, _env(workers))
