"""The batching loop runner: calls that arrive together run back to back, each with its own result, and a
call that arrives alone on an idle loop is not kept waiting."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

import pytest

from service.api.runners import GATHER_WAIT_S, AdmittingRunner, BatchingLoopRunner, TooManyCalls

MAX_WAIT = 0.05


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


def test_calls_arriving_while_the_loop_is_busy_run_back_to_back_once_it_is_idle() -> None:
    async def scenario() -> list[str]:
        runner, loop, log = BatchingLoopRunner(MAX_WAIT), asyncio.get_running_loop(), []
        answers: list[Awaitable[str]] = [runner.run(noting(log, "a", then=probe(log)))]
        # the loop stays busy for a few turns, and calls keep arriving meanwhile
        loop.call_soon(lambda: loop.call_soon(lambda: answers.append(runner.run(noting(log, "c")))))
        loop.call_soon(lambda: answers.append(runner.run(noting(log, "b"))))
        await asyncio.sleep(MAX_WAIT / 10)
        assert await asyncio.gather(*answers) == ["a", "b", "c"]
        await asyncio.sleep(0)
        return log

    assert asyncio.run(scenario()) == ["a", "b", "c", "other work"]


def test_a_call_arriving_alone_on_an_idle_loop_runs_at_once() -> None:
    async def scenario() -> float:
        runner, loop = BatchingLoopRunner(MAX_WAIT), asyncio.get_running_loop()
        await asyncio.gather(runner.run(lambda: None), runner.run(lambda: None))  # a batch before it
        started = loop.time()
        await runner.run(lambda: None)
        return loop.time() - started

    assert asyncio.run(scenario()) < MAX_WAIT / 5


def test_a_loop_that_never_goes_idle_keeps_a_call_waiting_no_longer_than_the_longest_wait() -> None:
    async def scenario() -> float:
        runner, loop = BatchingLoopRunner(MAX_WAIT), asyncio.get_running_loop()
        busy = True

        def keep_busy() -> None:  # always another callback ready: the loop is never idle
            if busy:
                loop.call_soon(keep_busy)

        keep_busy()
        started = loop.time()
        waited = await runner.run(lambda: loop.time()) - started
        busy = False
        return waited

    waited = asyncio.run(scenario())
    assert MAX_WAIT * 0.9 <= waited < MAX_WAIT * 2


def test_a_failing_call_fails_alone() -> None:
    def fail() -> str:
        raise ValueError("bad request")

    async def scenario() -> list[object]:
        runner = BatchingLoopRunner(MAX_WAIT)
        return await asyncio.gather(runner.run(lambda: "before"), runner.run(fail), runner.run(lambda: "after"),
                                    return_exceptions=True)

    before, failed, after = asyncio.run(scenario())
    assert (before, after) == ("before", "after")
    assert isinstance(failed, ValueError) and str(failed) == "bad request"


def test_a_call_cancelled_while_it_waits_is_never_run() -> None:
    ran: list[str] = []

    async def scenario() -> None:
        runner = BatchingLoopRunner(MAX_WAIT)
        doomed = asyncio.ensure_future(runner.run(lambda: ran.append("doomed")))
        kept = runner.run(lambda: ran.append("kept"))
        await asyncio.sleep(0)
        doomed.cancel()
        await kept
        with pytest.raises(asyncio.CancelledError):
            await doomed

    asyncio.run(scenario())
    assert ran == ["kept"]


def test_without_a_wait_each_call_runs_alone_at_the_next_turn_of_the_loop() -> None:
    async def scenario() -> list[str]:
        runner, loop, log = BatchingLoopRunner(0.0), asyncio.get_running_loop(), []
        answers = [runner.run(noting(log, "a", then=probe(log)))]
        loop.call_soon(lambda: answers.append(runner.run(noting(log, "b"))))
        await asyncio.sleep(0)
        await asyncio.gather(*answers)
        return log

    assert asyncio.run(scenario()) == ["a", "other work", "b"]


def test_a_full_batch_runs_without_waiting_for_the_loop_to_go_idle() -> None:
    async def scenario() -> list[str]:
        runner, loop, log = BatchingLoopRunner(MAX_WAIT * 100, max_batch=4), asyncio.get_running_loop(), []
        loop.call_soon(lambda: loop.call_soon(probe(log)))  # ready work the full batch does not wait for
        await asyncio.gather(*(runner.run(noting(log, str(n))) for n in range(4)))
        return log

    assert asyncio.run(scenario()) == ["0", "1", "2", "3", "other work"]


# Gathering on a scale that a busy machine's hiccups do not blur: a lone call right after a batch of many waits up
# to GATHER for the others, if that batch ended less than AFTER ago.
GATHER, AFTER = MAX_WAIT / 2, MAX_WAIT


def gathering_runner(max_wait: float = MAX_WAIT) -> BatchingLoopRunner:
    return BatchingLoopRunner(max_wait, gather_after_s=AFTER, gather_wait_s=GATHER)


def _after_a_batch_of(size: int, runner: BatchingLoopRunner) -> Awaitable[list[None]]:
    return asyncio.gather(*(runner.run(lambda: None) for _ in range(size)))


def test_right_after_a_batch_of_many_a_lone_call_waits_for_the_others_on_their_way_and_runs_with_them() -> None:
    async def scenario() -> list[str]:
        runner, loop, log = gathering_runner(), asyncio.get_running_loop(), []
        await _after_a_batch_of(8, runner)
        first = runner.run(noting(log, "first", then=probe(log)))
        # the next caller's request arrives a little later, the loop idle meanwhile
        second: list[Awaitable[str]] = []
        loop.call_later(GATHER / 5, lambda: second.append(runner.run(noting(log, "second"))))
        assert await first == "first"
        await second[0]
        await asyncio.sleep(0)
        return log

    assert asyncio.run(scenario()) == ["first", "second", "other work"]  # one batch, not two


def test_a_lone_call_waits_for_others_no_longer_than_the_gathering_wait() -> None:
    async def scenario() -> float:
        runner, loop = gathering_runner(), asyncio.get_running_loop()
        await _after_a_batch_of(8, runner)
        started = loop.time()
        await runner.run(lambda: None)  # nobody follows it
        return loop.time() - started

    waited = asyncio.run(scenario())
    assert GATHER * 0.9 <= waited < GATHER + MAX_WAIT / 5


def test_a_lone_call_runs_at_once_after_a_small_batch_or_once_the_last_batch_is_long_past() -> None:
    async def scenario() -> tuple[float, float]:
        runner, loop = gathering_runner(), asyncio.get_running_loop()
        await _after_a_batch_of(3, runner)  # its callers are few: no burst to gather
        started = loop.time()
        await runner.run(lambda: None)
        after_small = loop.time() - started
        await _after_a_batch_of(8, runner)
        await asyncio.sleep(AFTER * 1.5)  # the burst is over
        started = loop.time()
        await runner.run(lambda: None)
        return after_small, loop.time() - started

    after_small, long_after = asyncio.run(scenario())
    assert after_small < GATHER / 2 and long_after < GATHER / 2


def test_a_longest_wait_shorter_than_the_gathering_wait_turns_the_gathering_off() -> None:
    async def scenario() -> float:
        runner, loop = gathering_runner(max_wait=GATHER / 2), asyncio.get_running_loop()
        await _after_a_batch_of(8, runner)
        started = loop.time()
        await runner.run(lambda: None)
        return loop.time() - started

    assert asyncio.run(scenario()) < GATHER / 2


def test_by_default_the_call_that_follows_within_the_gathering_wait_joins_the_lone_one() -> None:
    async def scenario() -> list[str]:
        runner, loop, log = BatchingLoopRunner(MAX_WAIT), asyncio.get_running_loop(), []
        await _after_a_batch_of(8, runner)
        first = runner.run(noting(log, "first", then=probe(log)))
        second: list[Awaitable[str]] = []
        loop.call_later(GATHER_WAIT_S / 5, lambda: second.append(runner.run(noting(log, "second"))))
        await first
        await second[0]
        await asyncio.sleep(0)
        return log

    assert asyncio.run(scenario()) == ["first", "second", "other work"]


def test_calls_beyond_the_most_in_progress_are_refused_at_once_and_admitted_again_as_others_finish() -> None:
    async def scenario() -> None:
        loop = asyncio.get_running_loop()
        gates: list[asyncio.Future[str]] = []

        class Held:
            def run(self, work: Callable[[], str]) -> Awaitable[str]:
                gates.append(loop.create_future())
                return gates[-1]

        runner = AdmittingRunner(Held(), maximum=2)
        first, second = runner.run(lambda: "a"), runner.run(lambda: "b")
        with pytest.raises(TooManyCalls):
            runner.run(lambda: "c")
        gates[0].set_result("a")
        assert await first == "a"
        third = runner.run(lambda: "c")  # one finished: room for one more
        assert runner.in_progress == 2
        gates[1].set_exception(RuntimeError("failed"))
        with pytest.raises(RuntimeError):
            await second
        gates[2].set_result("c")
        assert await third == "c"
        assert runner.in_progress == 0

    asyncio.run(scenario())
