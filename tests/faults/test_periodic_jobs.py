"""The periodic jobs and `/healthz` while the database fails: an instance of the real
server running its jobs (as in production, on short periods), beside the emulators, on
SQLite and PostgreSQL.

A database error half-way through a health round is logged with its traceback and the
next round checks what the failed one left; a job that stops completing rounds turns
`/healthz` to 503 naming it; stopping returns within its bound even while a round hangs
and ignores its cancellation; a database that reads but refuses writes is a 503 too.
A round that asks for the next one sooner gets it, and a failed one still backs off.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Any

import asyncpg
import pytest
from aiohttp import web
from sqlalchemy import select, update
from sqlalchemy.engine import make_url
from sqlalchemy.exc import OperationalError

from bot import scheduler as scheduler_module
from bot.config import Settings
from bot.scheduler import PeriodicJob
from bot.server import create_web_app
from bot.services import Services, build_services
from sandbox.run import bot_environment
from storage.models import CalendarConnection, utcnow
from tests.conftest import ALICE, BOB, POSTGRES_URL, SHARED_KEY, RunningBot, free_socket, serve_bot
from tests.helpers import eventually
from tests.scenarios.flows import connect

ALICE_EMAIL = "alice@acme-photo.com"
BOB_EMAIL = "bob@acme-photo.com"
PERIOD = 0.05
"""Every job's period here (a minute in production; shorter than `SCHEDULER_TICK_SECONDS`,
in whole seconds, can say, so set on the settings)."""
STOP_BOUND = 0.5
"""How long stopping waits for the jobs here (`STOP_SECONDS`, five seconds in production)."""


@dataclass
class Instance:
    """An instance of the bot running its periodic jobs, served on loopback."""

    url: str
    services: Services
    runner: web.AppRunner

    async def healthz(self, bot: RunningBot) -> tuple[int, dict[str, Any]]:
        async with bot.http.get(self.url + "/healthz") as response:
            body: dict[str, Any] = await response.json()
            return response.status, body


@pytest.fixture(autouse=True)
def short_stop(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(scheduler_module, "STOP_SECONDS", STOP_BOUND)


@contextlib.asynccontextmanager
async def instance_with_jobs(
    bot: RunningBot,
    database_url: str,
    prepare: Callable[[Services], None] = lambda _: None,
    variables: Mapping[str, str] | None = None,
) -> AsyncIterator[Instance]:
    """A second instance on the bot's database and emulators (and these environment
    `variables`), its periodic jobs running from start-up every `PERIOD`; `prepare` sees
    its services first (to inject a fault)."""
    sock = free_socket()
    url = f"http://127.0.0.1:{sock.getsockname()[1]}"
    environment = bot_environment(
        slack=bot.slack, google=bot.google, public_url=url, database_url=database_url
    )
    environment["TOKEN_ENCRYPTION_KEY"] = SHARED_KEY
    settings = Settings.from_env(environment | dict(variables or {}))
    services = await build_services(replace(settings, scheduler_tick_seconds=PERIOD))
    prepare(services)
    runner = web.AppRunner(create_web_app(services))  # periodic jobs on, as in production
    await runner.setup()
    await web.SockSite(runner, sock).start()
    try:
        yield Instance(url=url, services=services, runner=runner)
    finally:
        if runner.server is not None:  # not stopped by the test itself
            await runner.cleanup()


async def last_checked_an_hour_ago(bot: RunningBot) -> None:
    """Every connection due for its periodic check."""
    async with bot.services.store._sessions.begin() as session:
        await session.execute(
            update(CalendarConnection).values(last_checked_at=utcnow() - timedelta(hours=1))
        )


async def checked_owners(bot: RunningBot) -> set[str]:
    """Whose connections were checked in the last minute."""
    async with bot.services.store._sessions() as session:
        rows = await session.scalars(
            select(CalendarConnection.owner_key).where(
                CalendarConnection.last_checked_at > utcnow() - timedelta(minutes=1)
            )
        )
        return set(rows)


def the_database_went_away() -> OperationalError:
    """What SQLAlchemy raises when the connection drops in the middle of a statement."""
    return OperationalError(
        "UPDATE calendar_connections SET check_claimed_until=…",
        {},
        ConnectionResetError("the database went away"),
    )


async def test_a_database_error_mid_round_is_logged_and_the_next_round_checks(
    bot: RunningBot, database_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    await connect(bot, user=ALICE, email=ALICE_EMAIL)
    await connect(bot, user=BOB, email=BOB_EMAIL)
    await last_checked_an_hour_ago(bot)
    caplog.set_level(logging.ERROR, logger="bot.scheduler")
    claims = 0

    def one_claim_fails(services: Services) -> None:
        # One connection per claim: the round's second claim comes while the first
        # connection is being checked, and fails.
        services.health.concurrency = 1
        claim = services.store.claim_due_connections

        async def claim_due_connections(**kwargs: Any) -> list[int]:
            nonlocal claims
            claims += 1
            if claims == 2:
                raise the_database_went_away()
            return await claim(**kwargs)

        services.store.claim_due_connections = claim_due_connections  # type: ignore[method-assign]

    async with instance_with_jobs(bot, database_url, one_claim_fails) as instance:
        # The connection handed over before the failure is checked; the next round checks
        # the other one (before the fix, the workers waited forever and no round followed).
        await eventually(lambda: _equals(checked_owners(bot), {ALICE, BOB}))

        failures = [r for r in caplog.records if r.name == "bot.scheduler" and r.exc_info]
        assert len(failures) == 1
        assert "periodic job health: the round failed" in failures[0].getMessage()
        assert "Traceback" in caplog.text and "the database went away" in caplog.text

        status, body = await eventually(lambda: _healthy(instance, bot))
        assert status == 200 and body["status"] == "ok" and body["database"] == "ok"
        health = body["jobs"]["health"]
        assert health["last_success"] is not None and health["failures_in_a_row"] == 0
        assert set(body["jobs"]) == {"health", "notices", "digests"}
        assert all(job["period_seconds"] == PERIOD for job in body["jobs"].values())


async def test_the_lease_and_the_tick_of_the_settings_reach_the_jobs(
    bot: RunningBot, database_url: str
) -> None:
    variables = {"HEALTH_LEASE_SECONDS": "17"}
    async with instance_with_jobs(bot, database_url, variables=variables) as instance:
        assert instance.services.health.lease == timedelta(seconds=17)
        _, body = await eventually(lambda: _healthy(instance, bot))
        assert {job["period_seconds"] for job in body["jobs"].values()} == {PERIOD}


async def _equals(value: Awaitable[object], expected: object) -> bool:
    return await value == expected


async def _healthy(instance: Instance, bot: RunningBot) -> tuple[int, dict[str, Any]] | None:
    status, body = await instance.healthz(bot)
    return (status, body) if status == 200 else None


async def test_a_job_that_stops_completing_rounds_turns_healthz_503_and_stop_still_returns(
    bot: RunningBot, database_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    await connect(bot, user=ALICE, email=ALICE_EMAIL)
    released = asyncio.Event()
    claims = 0

    def rounds_hang_after_the_first(services: Services) -> None:
        claim = services.store.claim_due_connections

        async def claim_due_connections(**kwargs: Any) -> list[int]:
            nonlocal claims
            claims += 1
            if claims == 1:
                return await claim(**kwargs)
            # A database that never answers, and a round that will not even be cancelled.
            while not released.is_set():
                with contextlib.suppress(asyncio.CancelledError):
                    await released.wait()
            return []

        services.store.claim_due_connections = claim_due_connections  # type: ignore[method-assign]

    try:
        async with instance_with_jobs(bot, database_url, rounds_hang_after_the_first) as instance:

            async def unhealthy() -> tuple[int, dict[str, Any]] | None:
                # Under load a round of the others can take longer than their tiny period
                # now and then: wait for a moment when only the hung job is overdue.
                status, body = await instance.healthz(bot)
                jobs = body.get("jobs", {})
                others_fine = not any(
                    jobs.get(n, {}).get("overdue") for n in ("notices", "digests")
                )
                return (status, body) if status == 503 and others_fine else None

            _, body = await eventually(unhealthy)
            assert body["status"] == "unavailable" and body["database"] == "ok"
            health = body["jobs"]["health"]
            assert health["overdue"] is True and health["last_success"] is not None
            assert any("periodic job health" in problem for problem in body["problems"])
            # The other jobs go on: the health round's hang holds nothing else back.
            assert body["jobs"]["notices"]["overdue"] is False
            assert body["jobs"]["digests"]["overdue"] is False

            caplog.set_level(logging.ERROR, logger="bot.scheduler")
            started = time.monotonic()
            await asyncio.wait_for(instance.runner.cleanup(), timeout=STOP_BOUND + 3)
            assert time.monotonic() - started < STOP_BOUND + 1
            assert "periodic job(s) health did not stop" in caplog.text
    finally:
        released.set()  # let the stubborn round end, so no task outlives the test
        await asyncio.sleep(0.05)


async def test_a_round_that_wants_the_next_sooner_gets_it_and_failures_still_back_off(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(scheduler_module, "FIRST_RETRY_SECONDS", 0.2)
    period = 3.0
    started: list[float] = []

    async def round_() -> datetime | None:
        started.append(time.monotonic())
        match len(started):
            case 1:
                return utcnow() + timedelta(seconds=0.3)  # the next one sooner, please
            case 2 | 3:
                raise RuntimeError("the database went away")
            case 4:
                return utcnow() - timedelta(seconds=1)  # a moment already past: at once
            case _:
                return None  # a period's wait

    job = PeriodicJob(name="test", run=round_, period=period)
    job.start()
    assert job.task is not None
    try:
        await eventually(lambda: _at_least(started, 5))
        await asyncio.sleep(1.5)  # the period is not cut short now
        assert len(started) == 5
        status = job.status(utcnow())
        assert status.failures == 0 and status.last_success is not None and not status.overdue
    finally:
        job.task.cancel()
        await asyncio.wait([job.task], timeout=STOP_BOUND)
    assert job.task.done()

    gaps = [later - earlier for earlier, later in itertools.pairwise(started)]
    # Asked for 0.3 s; then the backoff after the first failure (0.2 s) and after the
    # second (0.4 s), as before; then at once. Lower bounds exact (a sleep never ends
    # early), upper ones generous for a busy machine, yet well short of the period.
    assert 0.25 <= gaps[0] < 1.5, gaps
    assert 0.15 <= gaps[1] < 1.5 and 0.35 <= gaps[2] < 1.5, gaps
    assert gaps[3] < 1.0, gaps


async def _at_least(items: list[float], count: int) -> bool:
    return len(items) >= count


@contextlib.asynccontextmanager
async def read_only(database_url: str) -> AsyncIterator[str]:
    """The database made read-only, as a replica or a full disk's remount makes it; the
    URL an instance started now connects with.

    SQLite: the same file opened read-only. PostgreSQL: the database's new sessions
    default to read-only transactions, and its open sessions are ended so that the
    instances' pools reconnect into them.
    """
    url = make_url(database_url)
    if url.get_backend_name() == "sqlite":
        yield f"sqlite:///file:{url.database}?mode=ro&uri=true"
        return
    name = url.database
    admin = await asyncpg.connect(
        make_url(POSTGRES_URL).set(drivername="postgresql").render_as_string(hide_password=False)
    )
    terminate = (
        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
        "WHERE datname = $1 AND pid <> pg_backend_pid()"
    )
    try:
        await admin.execute(f'ALTER DATABASE "{name}" SET default_transaction_read_only = on')
        await admin.fetch(terminate, name)
        yield database_url
    finally:
        await admin.execute(f'ALTER DATABASE "{name}" RESET default_transaction_read_only')
        await admin.fetch(terminate, name)
        await admin.close()


async def test_a_read_only_database_is_503_naming_the_database(
    bot: RunningBot, database_url: str
) -> None:
    async with bot.http.get(bot.url + "/healthz") as response:
        assert response.status == 200
    on_sqlite = make_url(database_url).get_backend_name() == "sqlite"

    async with read_only(database_url) as url, serve_bot(bot.google, bot.slack, url) as other:
        # On SQLite the file stays writable for the first instance, which opened it so.
        for instance in [other] if on_sqlite else [bot, other]:
            async with instance.http.get(instance.url + "/healthz") as response:
                body = await response.json()
                assert response.status == 503, body
                assert body["status"] == "unavailable" and body["database"] == "read-only"
                assert body["problems"] == ["database: read-only"]

    async with bot.http.get(bot.url + "/healthz") as response:
        assert response.status == 200  # writable again
