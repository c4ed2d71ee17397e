"""Synchronous code that waits on the network without blocking the event loop it runs on.

A call's use case is synchronous code: it reads and writes the ledger through the Store, one statement after
another. Against a database over the network every statement is a round trip. Run on a thread per call, the
round trips of several calls overlap, but every round trip then hands the interpreter lock from thread to
thread, which cost more CPU than the transaction itself (measured, see bench/README.md). Here every call runs
instead in a greenlet of its own on the serving event loop's thread (``start``): where the database driver would
block on its socket (``wait_socket``), the greenlet hands control back to the loop, which runs gRPC and the other
calls until the socket is ready, then switches back into the greenlet. Code outside such a greenlet (the command
line, tests, the connection pool's own threads) asks ``on_loop()`` and simply blocks instead.

One event loop uses these functions: everything of a call greenlet happens on its loop's thread.
"""

from __future__ import annotations

import asyncio
import threading
from collections import deque
from collections.abc import Callable
from typing import Any, TypeVar

import greenlet

T = TypeVar("T")

READABLE = 1  # the values of selectors' EVENT_READ and EVENT_WRITE, which psycopg's waits use too
WRITABLE = 2


MAX_IDLE_CALL_GREENLETS = 64  # per thread, kept for the next calls


class _CallGreenlet(greenlet.greenlet):
    """Runs calls on an event loop's thread, one after another; its parent is the greenlet that started the
    current one (the loop's). Between calls it waits in its thread's idle list for the next: a new greenlet for
    every call cost 40-65 us of CPU per decision, against 170-280 us for the decision itself (measured in process,
    bench/README.md), most of it in giving the new greenlet an interpreter stack of its own, which a reused one
    keeps."""

    def __init__(self) -> None:
        super().__init__(self._serve)
        self.loop: asyncio.AbstractEventLoop  # the running call's, set by start

    def pause(self) -> Any:
        """Hand control to the loop until something switches back into this call; what it switches in with."""
        loop_greenlet = self.parent
        assert loop_greenlet is not None
        return loop_greenlet.switch()

    def _serve(self, work: Callable[[], Any], answer: asyncio.Future[Any]) -> None:
        while True:
            _answer(work, answer)
            del work, answer  # nothing of a finished call is kept while this greenlet waits for the next
            idle = _idle_call_greenlets()
            if len(idle) >= MAX_IDLE_CALL_GREENLETS:
                return
            idle.append(self)
            work, answer = self.pause()


def _answer(work: Callable[[], T], answer: asyncio.Future[T]) -> None:
    """Run `work` into `answer`, unless its caller went away. Anything but an Exception (the interpreter
    stopping) ends the call's greenlet and reaches the loop."""
    try:
        result = work()
    except Exception as error:
        if not answer.done():
            answer.set_exception(error)
    else:
        if not answer.done():
            answer.set_result(result)


_thread = threading.local()


def _idle_call_greenlets() -> list[_CallGreenlet]:
    """This thread's call greenlets waiting for a call (greenlets never move between threads)."""
    idle: list[_CallGreenlet] | None = getattr(_thread, "idle", None)
    if idle is None:
        idle = _thread.idle = []
    return idle


def start(work: Callable[[], T], answer: asyncio.Future[T] | None = None) -> asyncio.Future[T]:
    """Run `work` in a call greenlet on the running event loop, at once, until it first waits; the future of its
    result (`answer` if given). Cancelling the future does not stop the work: a transaction is never cut off
    half-way."""
    loop = asyncio.get_running_loop()
    if answer is None:
        answer = loop.create_future()
    idle = _idle_call_greenlets()
    call = idle.pop() if idle else _CallGreenlet()
    call.loop = loop
    call.parent = greenlet.getcurrent()
    call.switch(work, answer)
    return answer


def park_until(flush: Callable[[], None]) -> Any:
    """Hand control back to whoever started this call until `flush` has run and switched back into it; the value
    it switches in with. `flush` runs once for all the calls parked on it, when their starter calls
    ``run_pending_flushes`` (the batching runner does, after each batch: service/api/runners.py)."""
    current = _current()
    pending = _pending_flushes()
    if flush not in pending:
        pending.append(flush)
    return current.pause()


def run_pending_flushes() -> None:
    """Run every flush that calls parked on, in the order they were first asked for, until none is left (a
    resumed call may park again)."""
    pending = _pending_flushes()
    while pending:
        pending.pop(0)()


def _pending_flushes() -> list[Callable[[], None]]:
    flushes: list[Callable[[], None]] | None = getattr(_thread, "flushes", None)
    if flushes is None:
        flushes = _thread.flushes = []
    return flushes


def on_loop() -> bool:
    """Whether the caller is a call greenlet, whose waits must go through this module."""
    return isinstance(greenlet.getcurrent(), _CallGreenlet)


def _current() -> _CallGreenlet:
    current = greenlet.getcurrent()
    if not isinstance(current, _CallGreenlet):
        raise RuntimeError("only a call started with service.cooperative.start can wait on the event loop")
    return current


def wait_socket(fileno: int, events: int) -> int:
    """Let the event loop run until the socket is ready for `events` (READABLE, WRITABLE or both); what it is
    ready for."""
    current = _current()
    loop = current.loop
    ready = 0
    woken = False

    def wake(state: int) -> None:
        nonlocal ready, woken
        ready |= state
        if not woken:
            woken = True
            current.switch()  # the call runs until it waits again, then the loop goes on from here

    if events & READABLE:
        loop.add_reader(fileno, wake, READABLE)
    if events & WRITABLE:
        loop.add_writer(fileno, wake, WRITABLE)
    try:
        current.pause()
    finally:
        if events & READABLE:
            loop.remove_reader(fileno)
        if events & WRITABLE:
            loop.remove_writer(fileno)
    return ready


class SocketWatch:
    """Waits on one socket for the calls that use it in turn, keeping the socket registered with the loop
    between waits: a transaction's round trips then cost one registration instead of one each. `release` must
    be called before the socket is closed or handed to code off the loop."""

    def __init__(self, fileno: int, within: float) -> None:
        self._fileno = fileno
        self._within = within  # the longest a wait may last
        self._loop: asyncio.AbstractEventLoop | None = None  # the loop watching the socket, if any
        self._waiter: _CallGreenlet | None = None
        self._waiting_since = 0.0  # the loop's time when the current wait began
        self._timer: asyncio.TimerHandle | None = None
        self.expired = False

    def wait(self, events: int) -> int:
        """Like wait_socket; a wait to read leaves the socket watched. A wait that lasts `within` seconds ends with
        0 and `expired` set, and every later one at once. Timed by one timer for all the waits, moved on only when
        it fires, not one per round trip."""
        if self.expired:
            return 0
        if events != READABLE:  # writing waits only when the socket's buffer is full: rare
            return wait_socket(self._fileno, events)
        current = _current()
        loop = current.loop
        if self._loop is None:
            self._loop = loop
            loop.add_reader(self._fileno, self._readable)
        self._waiting_since = loop.time()
        if self._timer is None:
            self._timer = loop.call_at(self._waiting_since + self._within, self._check_the_wait)
        self._waiter = current
        try:
            ready: int = current.pause()
        finally:
            self._waiter = None
        return ready

    def release(self) -> None:
        if self._loop is not None:
            self._loop.remove_reader(self._fileno)
            self._loop = None
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None

    def _readable(self) -> None:
        waiter, self._waiter = self._waiter, None
        if waiter is None:  # nobody waits (the server spoke first, or closed): stop watching until someone does
            if self._loop is not None:
                self._loop.remove_reader(self._fileno)
                self._loop = None
            return
        waiter.switch(READABLE)

    def _check_the_wait(self) -> None:
        """The timer: end the current wait if it has lasted `within`, else look again when it would have."""
        self._timer = None
        waiter = self._waiter
        if waiter is None:  # between two waits: the next one sets the timer again
            return
        loop = waiter.loop
        if loop.time() - self._waiting_since < self._within:
            self._timer = loop.call_at(self._waiting_since + self._within, self._check_the_wait)
            return
        self.expired = True
        self._waiter = None
        waiter.switch(0)


def sleep(seconds: float) -> None:
    """Let the event loop run for `seconds`."""
    current = _current()
    current.loop.call_later(seconds, current.switch)
    current.pause()


class Slots:
    """At most `size` call greenlets hold a slot at once; the others wait, and get freed slots in the order they
    asked. For a pool of `size` database connections: a call takes a connection only with a slot, so it never
    has to wait for one while blocking the loop."""

    def __init__(self, size: int) -> None:
        self._free = size
        self._waiting: deque[_CallGreenlet] = deque()

    def acquire(self, timeout: float) -> bool:
        """Take a slot, letting the loop run while waiting for one; False if none came within `timeout` s."""
        if self._free and not self._waiting:
            self._free -= 1
            return True
        current = _current()
        self._waiting.append(current)
        timer = current.loop.call_later(timeout, self._give_up, current)
        try:
            granted: bool = current.pause()
        finally:
            timer.cancel()
        return granted

    def release(self) -> None:
        """Give the slot back: to the longest waiting call, which resumes at the loop's next turn."""
        if self._waiting:
            waiter = self._waiting.popleft()
            waiter.loop.call_soon(waiter.switch, True)
        else:
            self._free += 1

    def _give_up(self, waiter: _CallGreenlet) -> None:
        if waiter in self._waiting:  # else a released slot is on its way to it
            self._waiting.remove(waiter)
            waiter.switch(False)
