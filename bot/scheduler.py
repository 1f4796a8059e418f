"""The periodic jobs of an instance: health checks (then the notices they call for), the
notices still waiting, and the daily digests.

Every instance runs them. The work is claimed in the database (leases on connections,
claims on notices and on each day's digest), so several instances sharing PostgreSQL
split it, and no connection is checked twice in a round, nor any notice or digest sent
twice. Each job runs on its own, so a long health round never delays a digest.

Every job runs under one runner, `PeriodicJob`, which is what keeps an instance alive
through a bad minute:

- a round that completes waits one period (the tick) for the next, or less when it says
  when it wants the next one sooner: the health round does when a lease another instance
  holds on a due connection lapses before the tick (`Health.next_look`), so that a
  killed instance's connections are checked at the lapse, not up to a tick later;
- a round that fails (the database gone half-way, Slack answering nonsense) is logged
  with its traceback, and the job tries again after a backoff that doubles from
  `FIRST_RETRY_SECONDS` and never exceeds the job's period: once the trouble is over,
  every job runs again within one period;
- each job remembers when its last round completed; `/healthz` reports it, and calls a
  job overdue when no round has completed for twice its period (a job that hangs, or
  fails round after round);
- `Scheduler.stop` cancels every job and returns within `STOP_SECONDS` even when a round
  ignores its cancellation; then the digests being sent get `DRAIN_SECONDS` to finish.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from bot.digest import Digests
from bot.health import Health
from storage.models import utcnow

logger = logging.getLogger(__name__)

TICK_SECONDS = 60.0
"""How often each job looks for due work, by default (`SCHEDULER_TICK_SECONDS`); a
connection is due every HEALTH_CHECK_MINUTES, a digest at its customer's time."""
FIRST_RETRY_SECONDS = 5.0
"""The wait after a first failed round; it doubles with each failure, up to the period."""
STOP_SECONDS = 5.0
"""How long `stop` waits for the jobs to unwind once cancelled."""
OVERDUE_AFTER_PERIODS = 2
"""A job whose last completed round is older than this many periods is overdue."""


@dataclass(frozen=True, kw_only=True)
class JobStatus:
    """How one periodic job stands, as `/healthz` reports it."""

    name: str
    period: timedelta
    last_success: datetime | None
    """When its last round completed; None when none has yet."""
    failures: int
    """Rounds in a row that failed (0 when the last one completed)."""
    last_error: str
    """The kind of error that failed the last round ("" when it completed)."""
    overdue: bool

    def as_json(self) -> dict[str, object]:
        return {
            "period_seconds": self.period.total_seconds(),
            "last_success": None if self.last_success is None else self.last_success.isoformat(),
            "failures_in_a_row": self.failures,
            "last_error": self.last_error,
            "overdue": self.overdue,
        }


def _kinds(err: BaseException) -> str:
    """The kinds of error in `err` (those inside it, for a task group's group)."""
    if isinstance(err, BaseExceptionGroup):
        return ", ".join(sorted({_kinds(e) for e in err.exceptions}))
    return type(err).__name__


class PeriodicJob:
    """One job's loop: a round, then a wait of `period` (or a shorter backoff after a
    failure), until cancelled.

    `run` is one round; it may return the moment it wants the next one, and the wait is
    then cut short to it (never lengthened past the period).
    """

    def __init__(
        self,
        *,
        name: str,
        run: Callable[[], Awaitable[datetime | None]],
        period: float,
        clock: Callable[[], datetime] = utcnow,
    ) -> None:
        self.name = name
        self.period = period
        self._run = run
        self._clock = clock
        self._started_at: datetime | None = None
        self._last_success: datetime | None = None
        self._failures = 0
        self._last_error = ""
        self.task: asyncio.Task[None] | None = None

    def start(self) -> None:
        if self.task is None:
            self._started_at = self._clock()
            self.task = asyncio.create_task(self._loop(), name=f"tonomo-{self.name}")

    def retry_delay(self) -> float:
        """The wait after the current run of failures: doubling, never past the period."""
        doubled = FIRST_RETRY_SECONDS * 2.0 ** max(self._failures - 1, 0)
        return min(self.period, doubled)

    def wait_after(self, wanted: datetime | None) -> float:
        """The wait after a completed round: the period, or until `wanted` if sooner."""
        if wanted is None:
            return self.period
        return min(self.period, max(0.0, (wanted - self._clock()).total_seconds()))

    async def _loop(self) -> None:
        while True:
            try:
                wanted = await self._run()
            except Exception as err:
                self._failures += 1
                # Only the kind: a database error's text may quote the rows it was writing.
                self._last_error = _kinds(err)
                delay = self.retry_delay()
                logger.exception(
                    "periodic job %s: the round failed (%d in a row); next try in %.1f s",
                    self.name,
                    self._failures,
                    delay,
                )
            else:
                self._failures = 0
                self._last_error = ""
                self._last_success = self._clock()
                delay = self.wait_after(wanted)
            await asyncio.sleep(delay)

    def status(self, now: datetime) -> JobStatus:
        period = timedelta(seconds=self.period)
        since = self._last_success or self._started_at or now
        return JobStatus(
            name=self.name,
            period=period,
            last_success=self._last_success,
            failures=self._failures,
            last_error=self._last_error,
            overdue=now - since > OVERDUE_AFTER_PERIODS * period,
        )


class Scheduler:
    def __init__(
        self,
        *,
        health: Health,
        interval: timedelta,
        digests: Digests | None = None,
        tick: float | None = None,
        clock: Callable[[], datetime] = utcnow,
    ) -> None:
        self._health = health
        self._interval = interval
        self._digests = digests
        self._tick = TICK_SECONDS if tick is None else tick
        self._clock = clock
        self._jobs: list[PeriodicJob] = []

    async def run_once(self) -> datetime | None:
        """One health round: every due connection checked, then the notices sent; when
        the next round should look again, if another instance's lease on a due connection
        lapses (`Health.next_look`)."""
        checked = await self._health.check_due(interval=self._interval)
        sent = await self._health.deliver_notices()
        if checked or sent:
            logger.info("health round: %d connection(s) checked, %d notice(s) sent", checked, sent)
        return await self._health.next_look(interval=self._interval)

    async def run_notices_once(self) -> None:
        """The notices nobody has sent yet (a failed or hung health round holds none back)."""
        sent = await self._health.deliver_notices()
        if sent:
            logger.info("notices: %d sent", sent)

    async def run_digests_once(self) -> None:
        """Every digest due now sent (by this instance or another)."""
        if self._digests is None:
            return
        result = await self._digests.run_due()
        if result.sent or result.failed:
            logger.info("digests: %d sent, %d to try again", result.sent, result.failed)

    def start(self) -> None:
        if self._jobs:
            return
        rounds: dict[str, Callable[[], Awaitable[datetime | None]]] = {
            "health": self.run_once,
            "notices": self.run_notices_once,
        }
        if self._digests is not None:
            rounds["digests"] = self.run_digests_once
        self._jobs = [
            PeriodicJob(name=name, run=run, period=self._tick, clock=self._clock)
            for name, run in rounds.items()
        ]
        for job in self._jobs:
            job.start()

    def statuses(self) -> list[JobStatus]:
        """Every running job as it stands now; none when the jobs were not started."""
        now = self._clock()
        return [job.status(now) for job in self._jobs]

    async def stop(self) -> None:
        """Cancel every job and wait at most `STOP_SECONDS` for them to unwind (a round
        that will not stop is left behind, and said so); then let the digests being sent
        finish, within their own bound."""
        tasks = {job.task: job.name for job in self._jobs if job.task is not None}
        self._jobs = []
        for task in tasks:
            task.cancel()
        if tasks:
            done, pending = await asyncio.wait(tasks, timeout=STOP_SECONDS)
            for task in done:
                if not task.cancelled() and task.exception() is not None:
                    logger.error(
                        "periodic job %s ended with an error",
                        tasks[task],
                        exc_info=task.exception(),
                    )
            if pending:
                logger.error(
                    "periodic job(s) %s did not stop within %.0f s of being cancelled; "
                    "stopping without them",
                    ", ".join(sorted(tasks[t] for t in pending)),
                    STOP_SECONDS,
                )
        if self._digests is not None:
            await self._digests.drain()
