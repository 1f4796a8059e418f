"""Awaiting several things at once, leaving none of them running behind.

`asyncio.gather` returns as soon as one of its awaitables fails, or is cancelled, while the
others may still be at work: a read still holding its database connection, a session
still closing it. Shutting down cancels the work after an ack, waits for it, then disposes
of the engine; a read left running past that is cancelled a second time by the event
loop's own shutdown, and on SQLite that can hang the process for good (aiosqlite 0.22's
`close`, interrupted twice, waits for a stop its thread never takes:
https://github.com/omnilib/aiosqlite/issues/369).

So `together` and `beside` return or raise only once everything they started is over,
as `asyncio.TaskGroup` does, and raise the first failure itself, as `gather` does (not an
exception group: a caller's `except SQLAlchemyError` still sees it). What is already
being cancelled is left to unwind, never cancelled twice.

`Shared` is the other way round: several callers awaiting one thing (a person's Slack
profile, a grant's refresh), started once for them all.
"""

from __future__ import annotations

import asyncio
import functools
from collections.abc import Awaitable, Callable, Hashable, Iterable
from typing import Any, Generic, TypeVar, overload

T = TypeVar("T")
U = TypeVar("U")
K = TypeVar("K", bound=Hashable)


@overload
async def together(first: Awaitable[T], second: Awaitable[U], /) -> tuple[T, U]: ...


@overload
async def together(*awaitables: Awaitable[T]) -> tuple[T, ...]: ...


async def together(*awaitables: Awaitable[Any]) -> Any:
    """Their answers, in order, each run as its own task. When one fails, or the caller
    is cancelled, the others are cancelled and waited for before it is raised."""
    return await _answers([asyncio.ensure_future(awaitable) for awaitable in awaitables])


async def paced(awaitables: Iterable[Awaitable[T]], *, batch: int) -> tuple[T, ...]:
    """`together`, its tasks started `batch` at a time with a turn of the loop between
    batches, so what one batch sends leaves before the next is prepared (on Python 3.11
    aiohttp writes a request's body in a task of its own, queued behind every task
    already waiting to run: started all at once, no call went out before all were set up)."""
    tasks: list[asyncio.Future[T]] = []
    for awaitable in awaitables:
        tasks.append(asyncio.ensure_future(awaitable))
        if len(tasks) % batch == 0:
            try:
                await asyncio.sleep(0)
            except BaseException:
                await _settle(tasks)
                raise
    return await _answers(tasks)


async def _answers(tasks: list[asyncio.Future[T]]) -> tuple[T, ...]:
    try:
        answers = await asyncio.gather(*tasks)
    except BaseException:
        await _settle(tasks)
        raise
    return tuple(answers)


async def beside(first: Awaitable[T], second: Awaitable[U] | None) -> tuple[T, U | None]:
    """Both answers, `second` (when there is one) running as its own task while `first` is
    awaited. When `first` fails, `second` is cancelled (its answer is no longer wanted)
    and waited for; `second`'s own failure is raised once `first` is done."""
    task = None if second is None else asyncio.ensure_future(second)
    try:
        answer = await first
    except BaseException:
        if task is not None:
            await _settle([task])
        raise
    return answer, None if task is None else await task


async def _settle(tasks: Iterable[asyncio.Future[Any]]) -> None:
    """Cancel those still running (once: one already being cancelled is left to unwind),
    and wait until all are over; their failures are the caller's to ignore."""
    running = [task for task in tasks if not task.done()]
    for task in running:
        if not (isinstance(task, asyncio.Task) and task.cancelling()):
            task.cancel()
    if running:
        await asyncio.wait(running)
    for task in running:
        if not task.cancelled():
            task.exception()  # seen: nobody else waits for it


class Shared(Generic[K, T]):
    """One task a key for those who want the same answer at once: later callers wait for
    the task the first one started. It goes on when a caller stops waiting (its deadline
    passed, it was cancelled), its failure reaches everyone waiting, and it is seen even
    when nobody waits any more (no "exception was never retrieved")."""

    def __init__(self) -> None:
        self._tasks: dict[K, asyncio.Future[T]] = {}

    def __len__(self) -> int:
        """The tasks under way."""
        return len(self._tasks)

    async def get(self, key: K, start: Callable[[], Awaitable[T]]) -> T:
        """The answer of the task under way for `key`, else of `start()`'s."""
        task = self._tasks.get(key)
        if task is None:
            task = self._tasks[key] = asyncio.ensure_future(start())
            task.add_done_callback(functools.partial(self._done, key))
        return await asyncio.shield(task)

    def _done(self, key: K, task: asyncio.Future[T]) -> None:
        if self._tasks.get(key) is task:
            del self._tasks[key]
        if not task.cancelled():
            task.exception()  # seen: those who waited have it, or nobody waits any more

    async def cancel(self) -> None:
        """Stop the tasks under way and wait until they are over (shutting down)."""
        await _settle(list(self._tasks.values()))
