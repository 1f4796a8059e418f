"""Small helpers shared by the tests."""

from __future__ import annotations

import asyncio
import bisect
import time
from collections.abc import Awaitable, Callable
from typing import TypeVar

from sandbox.faults import RecordedRequest

T = TypeVar("T")


async def wait_until(
    predicate: Callable[[], T],
    *,
    timeout: float = 5.0,  # noqa: ASYNC109 - a polling deadline, not a cancellation scope
    interval: float = 0.01,
) -> T:
    """Poll `predicate` until it returns something truthy; fail after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        result = predicate()
        if result:
            return result
        if time.monotonic() > deadline:
            raise AssertionError(f"condition not met within {timeout}s")
        await asyncio.sleep(interval)


async def eventually(
    check: Callable[[], Awaitable[T | None]],
    *,
    timeout: float = 5.0,  # noqa: ASYNC109 - a polling deadline, not a cancellation scope
    interval: float = 0.01,
) -> T:
    """`wait_until` for a check that must itself await (a database read, say): its first
    truthy result (so never None)."""
    deadline = time.monotonic() + timeout
    while True:
        result = await check()
        if result:
            return result
        if time.monotonic() > deadline:
            raise AssertionError(f"condition not met within {timeout}s")
        await asyncio.sleep(interval)


def most_at_once(requests: list[RecordedRequest], *, within: float) -> int:
    """The most requests that arrived within `within` s of each other: with every answer
    a little more than `within` s late, the calls at the emulator at once, at most."""
    arrivals = sorted(r.at for r in requests)
    return max(bisect.bisect_left(arrivals, a + within) - i for i, a in enumerate(arrivals))
