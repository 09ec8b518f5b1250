"""Waiting for a condition with a deadline, never for a fixed time.

A test that sleeps a fixed time is either flaky (the time was too short on a busy machine)
or slow (it was too long everywhere else). These poll until the condition holds and fail
with a message naming what did not happen.
"""

from __future__ import annotations

import asyncio
import inspect
import time
from collections.abc import Awaitable, Callable


def wait_until(
    condition: Callable[[], object], timeout: float, what: str, every: float = 0.05
) -> float:
    """Poll `condition` until it is true; returns the monotonic time it became true."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise TimeoutError(f"{what}: not within {timeout:g} s")
        time.sleep(every)
    return time.monotonic()


async def wait_until_async(
    condition: Callable[[], object | Awaitable[object]],
    timeout: float,
    what: str,
    every: float = 0.05,
) -> float:
    """`wait_until` for asyncio: the condition may be a coroutine function."""
    deadline = time.monotonic() + timeout
    while True:
        result = condition()
        if inspect.isawaitable(result):
            result = await result
        if result:
            return time.monotonic()
        if time.monotonic() > deadline:
            raise TimeoutError(f"{what}: not within {timeout:g} s")
        await asyncio.sleep(every)


async def hold_until(deadline: float) -> None:
    """Let time pass until the monotonic `deadline`: for tests whose behaviour under test
    IS a duration (an outage that lasts 30 s), never to wait for something to happen."""
    while (left := deadline - time.monotonic()) > 0:
        await asyncio.sleep(min(left, 1.0))
