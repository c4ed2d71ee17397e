"""Workers that fill the CPUs keep each to one of them, every thread of theirs, replacements included; workers
beside a database server on the same machine, or with affinity off, are left to the scheduler."""

from __future__ import annotations

import os
import signal
from collections.abc import Iterator
from pathlib import Path

import pytest

from service.affinity import database_server_here
from tests.lifecycle.test_hot_reload import CallStream, wait_for
from tests.support.databases import fresh_postgres_schema
from tests.support.server_process import ServerProcess, workers_of

pytestmark = pytest.mark.slow

# Two CPUs the server may use (the same one twice on a one-CPU machine: both workers then keep to it).
FIRST, SECOND = (sorted(os.sched_getaffinity(0)) * 2)[:2]


def thread_cpus(pid: int) -> list[set[int]]:
    """The CPUs each thread of a process may run on."""
    found = []
    for task in Path(f"/proc/{pid}/task").iterdir():
        status = (task / "status").read_text()
        listed = next(line.split()[1] for line in status.splitlines() if line.startswith("Cpus_allowed_list:"))
        cpus: set[int] = set()
        for part in listed.split(","):
            low, _, high = part.partition("-")
            cpus.update(range(int(low), int(high or low) + 1))
        found.append(cpus)
    return found


def cpu_of_each_worker(server: ServerProcess) -> list[set[int]]:
    """Per worker (in pid order), the CPUs its threads may use, which must be the same for all its threads."""
    per_worker = []
    for pid in sorted(workers_of(server.process.pid)):
        sets = thread_cpus(pid)
        assert len(sets) > 3, "the worker's gRPC and storage threads are running"
        assert all(cpus == sets[0] for cpus in sets), f"worker {pid}'s threads differ: {sets}"
        per_worker.append(sets[0])
    return per_worker


def test_each_worker_keeps_to_its_own_cpu_with_every_thread_and_its_replacement_too(tmp_path: Path) -> None:
    server = ServerProcess(f"sqlite:///{tmp_path / 'ledger.db'}", cpus={FIRST, SECOND}).wait_until_listening()
    try:
        assert f"2 worker processes (kept to CPU {FIRST}, {SECOND})" in server.first_line
        stream = CallStream(server.address)
        try:
            wait_for(lambda: len(stream.answers) > 50, "calls to flow")
            assert sorted(map(sorted, cpu_of_each_worker(server))) == sorted([[FIRST], [SECOND]])
            before = workers_of(server.process.pid)
            victim = min(before)
            cpu_of_victim = thread_cpus(victim)[0]
            os.kill(victim, signal.SIGKILL)
            wait_for(lambda: any(e.get("event") == "worker.replaced" for e in server.logs()), "a replacement")
        finally:
            stream.stop()
        assert sorted(map(sorted, cpu_of_each_worker(server))) == sorted([[FIRST], [SECOND]])
        (replacement,) = workers_of(server.process.pid) - before
        assert thread_cpus(replacement)[0] == cpu_of_victim
    finally:
        server.kill()


@pytest.fixture(params=["affinity off", "PostgreSQL on this machine"])
def unpinned_server(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[ServerProcess]:
    """A server whose workers the scheduler places: affinity switched off, or auto with a local database server."""
    if request.param == "affinity off":
        server = ServerProcess(f"sqlite:///{tmp_path / 'ledger.db'}", cpus={FIRST, SECOND},
                               env={"DECISIOND_CPU_AFFINITY": "off"}).wait_until_listening()
        yield server
        server.kill()
        return
    with fresh_postgres_schema(request.getfixturevalue("postgres_admin_url")) as url:
        if not database_server_here(url):
            pytest.skip(f"the test database ({url}) is not on this machine; its workers would be pinned")
        server = ServerProcess(url, cpus={FIRST, SECOND}).wait_until_listening()
        yield server
        server.kill()


def test_unpinned_workers_may_run_on_every_cpu_the_server_may(unpinned_server: ServerProcess) -> None:
    assert "kept to CPU" not in unpinned_server.first_line
    stream = CallStream(unpinned_server.address)
    try:
        wait_for(lambda: len(stream.answers) > 50, "calls to flow")
    finally:
        stream.stop()
    assert cpu_of_each_worker(unpinned_server) == [{FIRST, SECOND}, {FIRST, SECOND}]
