"""Calls in greenlets on an event loop: their waits let the loop run everything else, and their results, errors
and turns come out as a caller expects."""

from __future__ import annotations

import asyncio
import socket
import time
from collections.abc import Iterator

import greenlet
import pytest

from service import cooperative
from tests.support.ticking_loop import run_on_a_ticking_loop


@pytest.fixture
def socket_pairs() -> Iterator[list[tuple[socket.socket, socket.socket]]]:
    pairs: list[tuple[socket.socket, socket.socket]] = []
    yield pairs
    for a, b in pairs:
        a.close()
        b.close()


def test_calls_waiting_on_sockets_overlap_and_the_loop_runs_meanwhile(
    socket_pairs: list[tuple[socket.socket, socket.socket]],
) -> None:
    async def scenario() -> tuple[list[bytes], list[str]]:
        log: list[str] = []
        ends = [socket.socketpair() for _ in range(3)]
        socket_pairs.extend(ends)

        def call(index: int) -> bytes:
            ours, _ = ends[index]
            log.append(f"call {index} waits")
            assert cooperative.wait_socket(ours.fileno(), cooperative.READABLE) == cooperative.READABLE
            log.append(f"call {index} reads")
            return ours.recv(16)

        answers = [cooperative.start(lambda i=i: call(i)) for i in range(3)]
        log.append("all three started")
        await asyncio.sleep(0.01)
        log.append("the loop ran on")
        for index in (2, 0, 1):  # answered out of order
            ends[index][1].send(b"answer %d" % index)
            await asyncio.sleep(0.01)
        return await asyncio.gather(*answers), log

    results, log = asyncio.run(scenario())
    assert results == [b"answer 0", b"answer 1", b"answer 2"]
    assert log == ["call 0 waits", "call 1 waits", "call 2 waits", "all three started", "the loop ran on",
                   "call 2 reads", "call 0 reads", "call 1 reads"]


def test_an_error_in_a_call_reaches_its_caller() -> None:
    async def scenario() -> None:
        def failing() -> None:
            cooperative.sleep(0.001)
            raise ValueError("the ledger said no")

        with pytest.raises(ValueError, match="the ledger said no"):
            await cooperative.start(failing)

    asyncio.run(scenario())


def test_a_call_whose_caller_went_away_still_runs_to_its_end() -> None:
    async def scenario() -> list[str]:
        log: list[str] = []

        def transaction() -> None:
            log.append("begin")
            cooperative.sleep(0.02)
            log.append("commit")

        answer = cooperative.start(transaction)
        answer.cancel()
        await asyncio.sleep(0.05)
        return log

    assert asyncio.run(scenario()) == ["begin", "commit"]


def test_calls_one_after_another_reuse_one_greenlet_and_overlapping_calls_get_their_own() -> None:
    async def scenario() -> tuple[list[object], list[object], list[str]]:
        def which() -> object:
            return greenlet.getcurrent()

        def failing() -> None:
            raise ValueError("declined")

        one_after_another = [await cooperative.start(which) for _ in range(3)]
        with pytest.raises(ValueError, match="declined"):  # a call that fails leaves its greenlet to the next
            await cooperative.start(failing)
        one_after_another.append(await cooperative.start(which))

        def overlapping() -> object:
            cooperative.sleep(0.005)
            return greenlet.getcurrent()

        at_once = await asyncio.gather(*(cooperative.start(overlapping) for _ in range(3)))
        answers = await asyncio.gather(*(cooperative.start(lambda n=n: f"call {n}") for n in range(3)))
        return one_after_another, at_once, answers

    one_after_another, at_once, answers = asyncio.run(scenario())
    assert len(set(map(id, one_after_another))) == 1
    assert len(set(map(id, at_once))) == 3
    assert answers == ["call 0", "call 1", "call 2"]


def test_no_more_idle_call_greenlets_are_kept_than_the_limit() -> None:
    async def scenario() -> None:
        calls = cooperative.MAX_IDLE_CALL_GREENLETS + 20
        await asyncio.gather(*(cooperative.start(lambda: cooperative.sleep(0.005)) for _ in range(calls)))

    asyncio.run(scenario())
    assert len(cooperative._idle_call_greenlets()) == cooperative.MAX_IDLE_CALL_GREENLETS


def test_sleep_lets_the_loop_run_and_returns_after_the_time() -> None:
    run = run_on_a_ticking_loop([lambda: cooperative.sleep(0.05)])
    assert run.elapsed >= 0.05
    assert run.ticks >= 10  # the loop ran the ticker while the call slept


def test_slots_are_handed_over_in_the_order_calls_asked_for_them() -> None:
    async def scenario() -> list[str]:
        slots, log = cooperative.Slots(2), []

        def call(name: str) -> None:
            assert slots.acquire(timeout=5)
            log.append(f"{name} in")
            cooperative.sleep(0.01)
            log.append(f"{name} out")
            slots.release()

        await asyncio.gather(*(cooperative.start(lambda n=name: call(n)) for name in "abcde"))
        return log

    log = asyncio.run(scenario())
    assert [entry for entry in log if entry.endswith("in")] == ["a in", "b in", "c in", "d in", "e in"]
    for index, entry in enumerate(log):  # never more than two inside at once
        inside = sum(1 for e in log[: index + 1] if e.endswith("in")) - sum(
            1 for e in log[: index + 1] if e.endswith("out"))
        assert inside <= 2, (entry, log)


def test_a_call_waiting_for_a_slot_gives_up_at_its_timeout_and_the_slot_goes_to_the_next() -> None:
    async def scenario() -> dict[str, object]:
        slots, outcome = cooperative.Slots(1), {}

        def holder() -> None:
            assert slots.acquire(timeout=1)
            cooperative.sleep(0.1)
            slots.release()

        def impatient() -> None:
            started = time.monotonic()
            outcome["impatient"] = slots.acquire(timeout=0.02)
            outcome["waited"] = time.monotonic() - started

        def patient() -> None:
            outcome["patient"] = slots.acquire(timeout=1)
            slots.release()

        await asyncio.gather(cooperative.start(holder), cooperative.start(impatient), cooperative.start(patient))
        return outcome

    outcome = asyncio.run(scenario())
    assert outcome["impatient"] is False
    assert 0.02 <= outcome["waited"] < 0.09  # type: ignore[operator]
    assert outcome["patient"] is True


def test_outside_a_call_nothing_waits_on_the_loop() -> None:
    assert not cooperative.on_loop()
    with pytest.raises(RuntimeError, match=r"cooperative\.start"):
        cooperative.sleep(0.001)


def test_a_watched_socket_is_registered_once_for_many_waits_and_released_on_demand(
    socket_pairs: list[tuple[socket.socket, socket.socket]],
) -> None:
    async def scenario() -> tuple[list[bytes], int, int]:
        loop = asyncio.get_running_loop()
        ours, theirs = socket.socketpair()
        socket_pairs.append((ours, theirs))
        registrations = removals = 0
        add_reader, remove_reader = loop.add_reader, loop.remove_reader

        def counting_add(*args: object) -> None:
            nonlocal registrations
            registrations += 1
            add_reader(*args)  # type: ignore[arg-type]

        def counting_remove(fd: int) -> bool:
            nonlocal removals
            removals += 1
            return remove_reader(fd)

        loop.add_reader, loop.remove_reader = counting_add, counting_remove  # type: ignore[method-assign]
        watch = cooperative.SocketWatch(ours.fileno(), within=5.0)

        def round_trips() -> list[bytes]:
            answers = []
            for index in range(5):
                loop.call_later(0.002, theirs.send, b"answer %d" % index)
                assert watch.wait(cooperative.READABLE) == cooperative.READABLE
                answers.append(ours.recv(16))
            watch.release()
            return answers

        return await cooperative.start(round_trips), registrations, removals

    answers, registrations, removals = asyncio.run(scenario())
    assert answers == [b"answer %d" % index for index in range(5)]
    assert (registrations, removals) == (1, 1)


def test_a_watched_socket_that_speaks_while_nobody_waits_is_no_longer_watched(
    socket_pairs: list[tuple[socket.socket, socket.socket]],
) -> None:
    async def scenario() -> bool:
        loop = asyncio.get_running_loop()
        ours, theirs = socket.socketpair()
        socket_pairs.append((ours, theirs))
        watch = cooperative.SocketWatch(ours.fileno(), within=5.0)

        def one_round_trip() -> None:
            loop.call_later(0.002, theirs.send, b"answer")
            watch.wait(cooperative.READABLE)
            ours.recv(16)

        await cooperative.start(one_round_trip)
        theirs.send(b"unasked")  # nobody waits: the loop must stop watching rather than spin on it
        await asyncio.sleep(0.01)
        selector = loop._selector  # type: ignore[attr-defined]
        return ours.fileno() in selector.get_map()

    assert asyncio.run(scenario()) is False


def test_a_watch_gives_up_on_a_socket_that_stays_silent_past_its_time(
    socket_pairs: list[tuple[socket.socket, socket.socket]],
) -> None:
    """A database that stops answering: the waiting call gets 0 once its wait has lasted `within` seconds, and so
    does every later wait at once; the loop went on meanwhile and no longer watches the socket once released."""

    async def scenario() -> tuple[int, int, float, int, bool]:
        loop = asyncio.get_running_loop()
        ours, theirs = socket.socketpair()
        socket_pairs.append((ours, theirs))
        watch = cooperative.SocketWatch(ours.fileno(), within=0.05)
        ticks = 0

        def tick() -> None:
            nonlocal ticks
            ticks += 1
            loop.call_later(0.005, tick)

        tick()

        def silent() -> tuple[int, int, float]:
            started = time.monotonic()
            first = watch.wait(cooperative.READABLE)
            waited = time.monotonic() - started
            again = watch.wait(cooperative.READABLE)
            watch.release()
            return first, again, waited

        first, again, waited = await cooperative.start(silent)
        selector = loop._selector  # type: ignore[attr-defined]
        return first, again, waited, ticks, ours.fileno() in selector.get_map()

    first, again, waited, ticks, still_watched = asyncio.run(scenario())
    assert (first, again) == (0, 0)
    assert 0.04 < waited < 1.0
    assert ticks >= 3  # the loop ran while the call waited
    assert not still_watched


def test_a_watch_times_each_wait_not_the_waits_together(
    socket_pairs: list[tuple[socket.socket, socket.socket]],
) -> None:
    """Twenty answers 20 ms apart: 400 ms of waits in all, none of them as long as the 100 ms allowed (for one wait to
    reach it, the machine would have to stall for four times the gap)."""

    async def scenario() -> list[int]:
        loop = asyncio.get_running_loop()
        ours, theirs = socket.socketpair()
        socket_pairs.append((ours, theirs))
        watch = cooperative.SocketWatch(ours.fileno(), within=0.1)

        def round_trips() -> list[int]:
            ready = []
            for _ in range(20):
                loop.call_later(0.02, theirs.send, b"answer")
                ready.append(watch.wait(cooperative.READABLE))
                if not ready[-1]:  # expired: nothing to read, and a blocking read would stop the loop for good
                    break
                ours.recv(16)
            watch.release()
            return ready

        return await cooperative.start(round_trips)

    assert asyncio.run(scenario()) == [cooperative.READABLE] * 20
