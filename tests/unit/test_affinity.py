"""Which CPU each worker keeps to (service/affinity.py)."""

from __future__ import annotations

import os

import pytest

from service.affinity import database_server_here, described, worker_cpus


def test_workers_that_fill_the_cpus_keep_each_to_one_in_turn() -> None:
    assert worker_cpus(2, "auto", allowed={4, 2}) == [2, 4]
    assert worker_cpus(3, "auto", allowed={0, 1}) == [0, 1, 0]
    assert worker_cpus(1, "auto", allowed={7}) == [7]


def test_fewer_workers_than_cpus_are_left_to_the_scheduler_unless_pinning_is_on() -> None:
    assert worker_cpus(2, "auto", allowed=range(64)) == [None, None]
    assert worker_cpus(2, "on", allowed=range(64)) == [0, 1]


def test_auto_leaves_the_cpus_to_the_scheduler_when_a_database_server_runs_on_this_machine() -> None:
    assert worker_cpus(2, "auto", "postgresql://postgres@127.0.0.1:5432/test", allowed={0, 1}) == [None, None]
    assert worker_cpus(2, "auto", "postgresql://db.internal:5432/ledger", allowed={0, 1}) == [0, 1]
    assert worker_cpus(2, "auto", "sqlite:///./var/decisions.db", allowed={0, 1}) == [0, 1]
    assert worker_cpus(2, "on", "postgresql://localhost/test", allowed={0, 1}) == [0, 1]


@pytest.mark.parametrize(("url", "here"), [
    ("postgresql://postgres@127.0.0.1:5432/test", True),
    ("postgresql://postgres@[::1]:5432/test", True),
    ("postgres://localhost/test", True),
    ("postgresql:///test", True),  # libpq's default: the local Unix socket
    ("postgresql://postgres@%2Fvar%2Frun%2Fpostgresql/test", True),
    ("postgresql://postgres@/test?host=/var/run/postgresql", True),
    ("postgresql://10.0.0.7:5432/test", False),
    ("postgresql://db.internal/test", False),
    ("sqlite:///:memory:", False),
    ("sqlite:////var/lib/decisiond/ledger.db", False),
])
def test_a_database_server_here_is_one_on_a_socket_localhost_or_a_loopback_address(url: str, here: bool) -> None:
    assert database_server_here(url) is here


def test_off_never_pins() -> None:
    assert worker_cpus(2, "off", allowed={0, 1}) == [None, None]


def test_the_default_cpus_are_those_this_process_may_use() -> None:
    allowed = sorted(os.sched_getaffinity(0))
    assert worker_cpus(len(allowed), "auto") == allowed


def test_an_unknown_mode_is_refused_with_the_modes_named() -> None:
    with pytest.raises(ValueError, match="auto, on, off"):
        worker_cpus(2, "always", allowed={0, 1})


def test_the_announcement_names_the_cpus_only_when_pinned() -> None:
    assert described([0, 1]) == " (kept to CPU 0, 1)"
    assert described([None, None]) == ""
