"""The batching loop runner: calls that arrive together run back to back, each with its own result."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

import pytest

from service.api.runners import MAX_WAIT_FACTOR, BatchingLoopRunner

GAP = 0.02


class Turns:
    """Counts the event loop's turns, so that a test can tell which calls ran within one callback."""

    def __init__(self) -> None:
        self.count = 0
        self._loop = asyncio.get_running_loop()
        self._handle = self._loop.call_soon(self._tick)

    def _tick(self) -> None:
        self.count += 1
        self._handle = self._loop.call_soon(self._tick)

    def stop(self) -> None:
        self._handle.cancel()


def recording(log: list[tuple[str, int]], turns: Turns, name: str) -> Callable[[], str]:
    def work() -> str:
        log.append((name, turns.count))
        return name

    return work


def test_calls_arriving_within_the_gap_run_back_to_back_in_arrival_order() -> None:
    async def scenario() -> list[tuple[str, int]]:
        runner, turns, log = BatchingLoopRunner(GAP), Turns(), []
        first = [runner.run(recording(log, turns, name)) for name in ("a", "b")]
        await asyncio.sleep(GAP / 4)
        late = runner.run(recording(log, turns, "c"))
        assert await asyncio.gather(*first, late) == ["a", "b", "c"]
        turns.stop()
        return log

    log = asyncio.run(scenario())
    assert [name for name, _ in log] == ["a", "b", "c"]
    assert len({turn for _, turn in log}) == 1  # one batch: no other callback ran between them


def test_a_lone_call_waits_one_gap_for_company_then_runs() -> None:
    async def scenario() -> float:
        runner, loop = BatchingLoopRunner(GAP), asyncio.get_running_loop()
        started = loop.time()
        await runner.run(lambda: None)
        return loop.time() - started

    waited = asyncio.run(scenario())
    assert GAP * 0.9 <= waited < GAP * MAX_WAIT_FACTOR


def test_a_steady_trickle_of_calls_never_keeps_the_first_waiting_beyond_the_longest_wait() -> None:
    async def scenario() -> float:
        runner, loop = BatchingLoopRunner(GAP), asyncio.get_running_loop()
        started = loop.time()
        first = runner.run(lambda: loop.time())
        for _ in range(3 * MAX_WAIT_FACTOR):  # a new call every half gap: never a quiet gap
            await asyncio.sleep(GAP / 2)
            runner.run(lambda: None)
        return await first - started

    waited = asyncio.run(scenario())
    assert GAP * MAX_WAIT_FACTOR * 0.9 <= waited < GAP * MAX_WAIT_FACTOR * 1.5


def test_a_failing_call_fails_alone() -> None:
    def fail() -> str:
        raise ValueError("bad request")

    async def scenario() -> list[object]:
        runner = BatchingLoopRunner(GAP)
        return await asyncio.gather(runner.run(lambda: "before"), runner.run(fail), runner.run(lambda: "after"),
                                    return_exceptions=True)

    before, failed, after = asyncio.run(scenario())
    assert (before, after) == ("before", "after")
    assert isinstance(failed, ValueError) and str(failed) == "bad request"


def test_a_call_cancelled_while_it_waits_is_never_run() -> None:
    ran: list[str] = []

    async def scenario() -> None:
        runner = BatchingLoopRunner(GAP)
        doomed = asyncio.ensure_future(runner.run(lambda: ran.append("doomed")))
        kept = runner.run(lambda: ran.append("kept"))
        await asyncio.sleep(0)
        doomed.cancel()
        await kept
        with pytest.raises(asyncio.CancelledError):
            await doomed

    asyncio.run(scenario())
    assert ran == ["kept"]


def test_without_a_gap_each_call_runs_at_the_next_turn_of_the_loop() -> None:
    async def scenario() -> float:
        runner, loop = BatchingLoopRunner(0.0), asyncio.get_running_loop()
        started = loop.time()
        await runner.run(lambda: None)
        return loop.time() - started

    assert asyncio.run(scenario()) < GAP / 2


def test_a_full_batch_runs_without_waiting_for_the_gap() -> None:
    async def scenario() -> float:
        runner, loop = BatchingLoopRunner(GAP * 100, max_batch=4), asyncio.get_running_loop()
        started = loop.time()
        await asyncio.gather(*(runner.run(lambda: None) for _ in range(4)))
        return loop.time() - started

    assert asyncio.run(scenario()) < GAP
