"""The periodic loops of an instance: health checks (then the notices they call for),
and the daily digests.

Every instance runs them. The work is claimed in the database (leases on connections,
claims on notices and on each day's digest), so several instances sharing PostgreSQL
split it, and no connection is checked twice in a round, nor any notice or digest sent
twice. Each loop runs on its own, so a long health round never delays a digest.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from datetime import timedelta

from bot.digest import Digests
from bot.health import Health

logger = logging.getLogger(__name__)

TICK_SECONDS = 60.0
"""How often each loop looks for due work; a connection is due every HEALTH_CHECK_MINUTES,
a digest at its customer's time."""


class Scheduler:
    def __init__(
        self,
        *,
        health: Health,
        interval: timedelta,
        digests: Digests | None = None,
        tick: float = TICK_SECONDS,
    ) -> None:
        self._health = health
        self._interval = interval
        self._digests = digests
        self._tick = tick
        self._tasks: list[asyncio.Task[None]] = []

    async def run_once(self) -> None:
        """One health round: every due connection checked, then the notices sent."""
        checked = await self._health.check_due(interval=self._interval)
        sent = await self._health.deliver_notices()
        if checked or sent:
            logger.info("health round: %d connection(s) checked, %d notice(s) sent", checked, sent)

    async def run_digests_once(self) -> None:
        """Every digest due now sent (by this instance or another)."""
        if self._digests is None:
            return
        result = await self._digests.run_due()
        if result.sent or result.failed:
            logger.info("digests: %d sent, %d to try again", result.sent, result.failed)

    async def _loop(self, name: str, job: Callable[[], Awaitable[None]]) -> None:
        while True:
            try:
                await job()
            except Exception:
                logger.exception("the %s job failed; trying again in %.0f s", name, self._tick)
            await asyncio.sleep(self._tick)

    def start(self) -> None:
        if not self._tasks:
            jobs = {"health": self.run_once, "digest": self.run_digests_once}
            self._tasks = [
                asyncio.create_task(self._loop(name, job), name=f"tonomo-{name}")
                for name, job in jobs.items()
            ]

    async def stop(self) -> None:
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._tasks = []
        if self._digests is not None:
            await self._digests.drain()
