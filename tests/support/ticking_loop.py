"""Calls run in greenlets (service/cooperative.py) on a fresh event loop that also runs a 1 ms ticker, so that a
test sees whether the calls ever blocked the loop."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from service import cooperative


@dataclass(frozen=True)
class LoopRun:
    results: list[Any]  # each call's result, or the exception it raised
    elapsed: float  # seconds from the start of the first call to the end of the last
    ticks: int  # how often the ticker ran meanwhile
    watched_before: frozenset[int]  # file descriptors the loop watched before the calls
    watched_after: frozenset[int]  # and after them


def run_on_a_ticking_loop(calls: list[Callable[[], Any]]) -> LoopRun:
    async def scenario() -> LoopRun:
        loop, ticks = asyncio.get_running_loop(), 0

        async def ticker() -> None:
            nonlocal ticks
            while True:
                ticks += 1
                await asyncio.sleep(0.001)

        def watched() -> frozenset[int]:
            return frozenset(loop._selector.get_map())  # type: ignore[attr-defined]

        ticking = asyncio.create_task(ticker())
        await asyncio.sleep(0)
        before, started = watched(), time.monotonic()
        results = await asyncio.gather(*(cooperative.start(call) for call in calls), return_exceptions=True)
        elapsed = time.monotonic() - started
        ticking.cancel()
        return LoopRun(list(results), elapsed, ticks, before, watched())

    return asyncio.run(scenario())
