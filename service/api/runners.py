"""Where a servicer's synchronous work runs on the serving event loop: in batches, or in greenlets.

Against the embedded database a call's work runs on the event loop (see server.py). Run one by one as each
call arrives, every call meets caches that gRPC, the kernel and the other processes have just evicted, and its
code runs about twice as slow as the same code run back to back (measured in process: 165 us per ScoreUser
hot, 330 us in the server). So the loop runner coalesces: a call's work waits until the loop has nothing else
ready to run (gRPC may be taking in more calls meanwhile), at most `max_wait`; then every call waiting runs,
one after the other. A call that arrives alone on an idle loop runs at once, with one exception: right after a
batch of many calls, whose answers have just gone out and whose callers, under load, call again within a
millisecond or so, calls fewer than half as many as that batch's (rounded down) wait up to GATHER_WAIT_S for the
others, on a timer (the first of a burst otherwise ran alone: a quarter of the batches held one call, measured
with `python -m bench.loop_trace`). Calls never wait on a timer otherwise (asyncio's timers round up to the
millisecond: waiting for a quiet gap after every call left the CPU idle and bought nothing, measured). A call
cancelled while it waits (its deadline passed, the client went away) is not run at all.

Each call of a batch runs in a greenlet (service/cooperative.py), decides alone on its own snapshot, and may park
at its commit: the store then commits the writes of all the batch's calls in one transaction once the batch has
run (group commit: service/storage/sqlite_group.py), and only then do those calls go on to answer.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any, Protocol, TypeVar

from service import cooperative

T = TypeVar("T")

MAX_BATCH = 64  # a batch this large runs at once
# A batch that ended less than GATHER_AFTER_S ago makes the calls waiting, while they are fewer than half of its calls
# (rounded down), wait for the rest of its callers, at most GATHER_WAIT_S after the first of them arrived; not with a
# max_wait shorter than that (asyncio's timers would round the wait up to a millisecond anyway).
GATHER_AFTER_S = 0.002
GATHER_WAIT_S = 0.001


class CallRunner(Protocol):
    def run(self, work: Callable[[], T]) -> Awaitable[T]:
        """Run `work` somewhere that does not block the caller's event loop for long; await its result."""


class GreenletRunner:
    """Every call in a greenlet of its own, whose waits on the database let the loop run the others (a database
    over the network: the calls overlap their round trips; see service/cooperative.py)."""

    def run(self, work: Callable[[], T]) -> Awaitable[T]:
        return cooperative.start(work)


class _Pending:
    __slots__ = ("future", "work")

    def __init__(self, work: Callable[[], Any], future: asyncio.Future[Any]) -> None:
        self.work = work
        self.future = future


class BatchingLoopRunner:
    """Calls on the event loop they arrive on, coalesced into batches (see the module docstring). max_wait 0:
    each call runs at the loop's next turn, alone."""

    def __init__(
        self,
        max_wait_s: float,
        max_batch: int = MAX_BATCH,
        gather_after_s: float = GATHER_AFTER_S,
        gather_wait_s: float = GATHER_WAIT_S,
    ) -> None:
        self._max_wait = max_wait_s
        self._max_batch = max_batch
        self._gather_after = gather_after_s
        self._gather_wait = gather_wait_s
        self._pending: list[_Pending] = []
        self._first_at = 0.0
        self._handle: asyncio.Handle | None = None
        self._last_size = 0  # the calls of the last batch
        self._last_end = float("-inf")  # when it ended, on the loop's clock

    def run(self, work: Callable[[], T]) -> Awaitable[T]:
        loop = asyncio.get_running_loop()
        future: asyncio.Future[T] = loop.create_future()
        self._pending.append(_Pending(work, future))
        if len(self._pending) == 1:
            self._first_at = loop.time()
            self._handle = loop.call_soon(self._when_loop_is_idle if self._max_wait else self._run)
        elif len(self._pending) >= self._max_batch:
            self._handle.cancel()  # type: ignore[union-attr]
            self._handle = loop.call_soon(self._run)
        return future

    def _when_loop_is_idle(self) -> None:
        """Run the batch once the loop has nothing else to do (other calls may be on their way in), or once its
        first call has waited `max_wait`."""
        loop = asyncio.get_running_loop()
        now = loop.time()
        if _has_ready_callbacks(loop) and now < self._first_at + self._max_wait:
            self._handle = loop.call_soon(self._when_loop_is_idle)
            return
        gather_until = self._first_at + self._gather_wait
        if self._max_wait >= self._gather_wait and now < gather_until and self._more_on_their_way(now):
            self._handle = loop.call_at(gather_until, self._when_loop_is_idle)
            return
        self._run()

    def _more_on_their_way(self, now: float) -> bool:
        """Whether the callers of the last batch, answered just now, are likely to call again any moment."""
        return len(self._pending) < self._last_size // 2 and now - self._last_end < self._gather_after

    def _run(self) -> None:
        batch, self._pending, self._handle = self._pending, [], None
        try:
            for call in batch:
                if not call.future.done():  # else cancelled while it waited: never run
                    cooperative.start(call.work, call.future)  # until it finishes, or parks its commit
            cooperative.run_pending_flushes()  # the batch's writes commit together; their calls then finish
            self._last_size, self._last_end = len(batch), asyncio.get_running_loop().time()
        except BaseException:
            for call in batch:
                if not call.future.done():
                    call.future.set_exception(RuntimeError("the serving loop is stopping"))
            raise


def _has_ready_callbacks(loop: asyncio.AbstractEventLoop) -> bool:
    """Whether the loop has other callbacks ready to run now (asyncio's own loop keeps them in `_ready`; a loop
    without it counts as idle, so calls never wait on it)."""
    return bool(getattr(loop, "_ready", None))


class TooManyCalls(Exception):
    """A call refused because the server already has as many in progress as it takes (RESOURCE_EXHAUSTED)."""

    def __init__(self, maximum: int) -> None:
        super().__init__(f"the server has {maximum} calls in progress, as many as it takes")
        self.maximum = maximum


class AdmittingRunner:
    """Runs calls through `inner` while fewer than `maximum` are in progress; refuses the others at once
    (TooManyCalls), so that an overload sheds calls instead of queueing them without bound. Used on the serving
    loop only (one thread), so the count needs no lock. grpc.aio's own maximum_concurrent_rpcs is not used: at its
    limit it stops taking calls in from gRPC's core, whose queue then overflows, and core cancels calls (the client
    sees CANCELLED, which it takes as final) instead of refusing them as RESOURCE_EXHAUSTED (server.py)."""

    def __init__(self, inner: CallRunner, maximum: int) -> None:
        self._inner = inner
        self._maximum = maximum
        self.in_progress = 0

    def run(self, work: Callable[[], T]) -> Awaitable[T]:
        if self.in_progress >= self._maximum:
            raise TooManyCalls(self._maximum)
        result = self._inner.run(work)
        self.in_progress += 1
        return self._counted(result)

    async def _counted(self, result: Awaitable[T]) -> T:
        try:
            return await result
        finally:
            self.in_progress -= 1
