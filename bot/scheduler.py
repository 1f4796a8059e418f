"""The periodic loop of an instance: health checks, then the notices they call for.

Every instance runs it. The work is claimed in the database (leases on connections,
claims on notices), so several instances sharing PostgreSQL split it, and no
connection is checked twice in a round nor any notice sent twice.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from datetime import timedelta

from bot.health import Health

logger = logging.getLogger(__name__)

TICK_SECONDS = 60.0
"""How often the loop looks for due work; a connection is due every HEALTH_CHECK_MINUTES."""


class Scheduler:
    def __init__(self, *, health: Health, interval: timedelta, tick: float = TICK_SECONDS) -> None:
        self._health = health
        self._interval = interval
        self._tick = tick
        self._task: asyncio.Task[None] | None = None

    async def run_once(self) -> None:
        checked = await self._health.check_due(interval=self._interval)
        sent = await self._health.deliver_notices()
        if checked or sent:
            logger.info("health round: %d connection(s) checked, %d notice(s) sent", checked, sent)

    async def _loop(self) -> None:
        while True:
            try:
                await self.run_once()
            except Exception:
                logger.exception("the health round failed; trying again in %.0f s", self._tick)
            await asyncio.sleep(self._tick)

    def start(self) -> None:
        if self._task is None:
            self._task = asyncio.create_task(self._loop(), name="tonomo-scheduler")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
