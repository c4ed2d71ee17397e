"""The batching loop runner: calls that arrive together run back to back, each with its own result, and a
call that arrives alone on an idle loop is not kept waiting."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

import pytest

from service.api.runners import MAX_WAIT_FACTOR, BatchingLoopRunner

GAP = 0.05


def noting(log: list[str], name: str, *, then: Callable[[], object] | None = None) -> Callable[[], str]:
    def work() -> str:
        log.append(name)
        if then is not None:
            asyncio.get_running_loop().call_soon(then)
        return name

    return work


def probe(log: list[str]) -> Callable[[], None]:
    """A callback scheduled by the first call of a batch: it runs only after the whole batch has."""
    return lambda: log.append("other work")


async def a_burst(runner: BatchingLoopRunner) -> None:
    """Two calls in one turn of the loop: a batch of two, so that the runner now expects bursts."""
    await asyncio.gather(runner.run(lambda: None), runner.run(lambda: None))


def test_calls_arriving_while_the_loop_is_busy_run_back_to_back_once_it_is_idle() -> None:
    async def scenario() -> list[str]:
        runner, loop, log = BatchingLoopRunner(GAP), asyncio.get_running_loop(), []
        answers: list[Awaitable[str]] = [runner.run(noting(log, "a", then=probe(log)))]
        # the loop stays busy for a few turns, and calls keep arriving meanwhile
        loop.call_soon(lambda: loop.call_soon(lambda: answers.append(runner.run(noting(log, "c")))))
        loop.call_soon(lambda: answers.append(runner.run(noting(log, "b"))))
        await asyncio.sleep(GAP / 10)
        assert await asyncio.gather(*answers) == ["a", "b", "c"]
        await asyncio.sleep(0)
        return log

    assert asyncio.run(scenario()) == ["a", "b", "c", "other work"]


def test_a_call_arriving_alone_on_an_idle_loop_runs_at_once() -> None:
    async def scenario() -> float:
        runner, loop = BatchingLoopRunner(GAP), asyncio.get_running_loop()
        started = loop.time()
        await runner.run(lambda: None)
        return loop.time() - started

    assert asyncio.run(scenario()) < GAP / 2


def test_in_a_burst_the_runner_waits_for_a_quiet_gap_before_running() -> None:
    async def scenario() -> tuple[list[str], float]:
        runner, loop, log = BatchingLoopRunner(GAP), asyncio.get_running_loop(), []
        await a_burst(runner)
        started = loop.time()
        first = runner.run(noting(log, "x", then=probe(log)))
        await asyncio.sleep(GAP / 2)
        second = runner.run(noting(log, "y"))
        await asyncio.gather(first, second)
        waited = loop.time() - started
        await asyncio.sleep(0)
        return log, waited

    log, waited = asyncio.run(scenario())
    assert log == ["x", "y", "other work"]
    assert GAP * 1.4 <= waited < GAP * MAX_WAIT_FACTOR  # the second's gap after it arrived half a gap later


def test_a_steady_trickle_of_calls_never_keeps_the_first_waiting_beyond_the_longest_wait() -> None:
    async def scenario() -> float:
        runner, loop = BatchingLoopRunner(GAP), asyncio.get_running_loop()
        await a_burst(runner)
        started = loop.time()
        first = runner.run(lambda: loop.time())
        for _ in range(2 * MAX_WAIT_FACTOR):  # a new call every half gap: never a quiet gap
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
        await a_burst(runner)
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
        await a_burst(runner)
        started = loop.time()
        await runner.run(lambda: None)
        return loop.time() - started

    assert asyncio.run(scenario()) < GAP / 2


def test_a_full_batch_runs_without_waiting_for_the_gap() -> None:
    async def scenario() -> float:
        runner, loop = BatchingLoopRunner(GAP * 100, max_batch=4), asyncio.get_running_loop()
        await a_burst(runner)
        started = loop.time()
        await asyncio.gather(*(runner.run(lambda: None) for _ in range(4)))
        return loop.time() - started

    assert asyncio.run(scenario()) < GAP
