"""Times a serving worker's steps for `python -m bench.loop_trace`; loaded only from that tool's servers.

Python imports a module named sitecustomize at startup from its module path: bench.loop_trace puts this directory
first on the path of the `decisiond serve` it starts, and names a directory in DECISIOND_TRACE_DIR. Every process of
that server then wraps a few of the store's and the runner's methods, and appends one line per step to
`trace-<pid>.txt` in that directory: `<kind> <start> <end> <size>`, times in seconds of `time.perf_counter`, the
clock the tool's load generator reads too (CLOCK_MONOTONIC, the same in every process). Kinds: `batch` (a batch of
calls run back to back, its group commit included; size: the calls), `group` (a group commit; size: the calls whose
writes it committed), `wlock` and `ulock` (waiting for the writer lock, for a user's lock), `checkpoint-PASSIVE` and
`checkpoint-RESTART` (a checkpoint pass without and under the writer lock), `gc0`-`gc2` (a garbage collection of
that generation). Without DECISIOND_TRACE_DIR it does nothing.
"""

from __future__ import annotations

import atexit
import gc
import os
import time
from collections.abc import Callable
from typing import Any

_DIRECTORY = os.environ.get("DECISIOND_TRACE_DIR")
_lines: list[str] = []
_FLUSH_EVERY = 2_000


def _flush() -> None:
    if _lines:
        with open(os.path.join(_DIRECTORY or ".", f"trace-{os.getpid()}.txt"), "a") as out:
            out.write("".join(_lines))
        _lines.clear()


def _record(kind: str, start: float, end: float, size: int = 0) -> None:
    _lines.append(f"{kind} {start:.6f} {end:.6f} {size}\n")
    if len(_lines) >= _FLUSH_EVERY:
        _flush()


def _timed(owner: Any, name: str, kind: Callable[..., str], size: Callable[..., int] = lambda *_: 0) -> None:
    """Wrap owner.name so that each call is recorded; `kind` and `size` read the call's arguments."""
    original = getattr(owner, name)

    def timed(*args: Any) -> Any:
        what, many = kind(*args), size(*args)
        start = time.perf_counter()
        try:
            return original(*args)
        finally:
            _record(what, start, time.perf_counter(), many)

    setattr(owner, name, timed)


def _install() -> None:
    from service.api import runners
    from service.storage import sqlite_checkpoints, sqlite_group, sqlite_locks

    _timed(runners.BatchingLoopRunner, "_run", lambda _runner: "batch", lambda runner: len(runner._pending))
    _timed(sqlite_group.CommitGroup, "_write", lambda _group, _writers: "group", lambda _group, writers: len(writers))
    _timed(sqlite_locks.LockFile, "lock_writer", lambda _locks: "wlock")
    _timed(sqlite_locks.LockFile, "lock_user", lambda _locks, _user: "ulock")
    _timed(sqlite_checkpoints, "_checkpoint", lambda _connection, mode: f"checkpoint-{mode}")
    collecting = [0.0]

    def on_collection(phase: str, info: dict[str, int]) -> None:
        if phase == "start":
            collecting[0] = time.perf_counter()
        else:
            _record(f"gc{info['generation']}", collecting[0], time.perf_counter())

    gc.callbacks.append(on_collection)
    atexit.register(_flush)


if _DIRECTORY:
    _install()
