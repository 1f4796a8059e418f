"""GET /healthz: 200 while the database answers reads and writes, 503 when it does not.

The periodic jobs' side (a job overdue, a read-only database) is in
tests/faults/test_periodic_jobs.py.
"""

from __future__ import annotations

from contextlib import AbstractAsyncContextManager

from sandbox.faults import database_down
from tests.conftest import POSTGRES_URL, RunningBot


async def test_healthy(bot: RunningBot) -> None:
    async with bot.http.get(bot.url + "/healthz") as response:
        assert response.status == 200
        body = await response.json()
    # The tests' instances run no periodic jobs, so none is reported or required.
    assert body == {"status": "ok", "database": "ok", "jobs": {}}


def database_gone(bot: RunningBot, database_url: str) -> AbstractAsyncContextManager[None]:
    """The database out of reach until the block ends (`sandbox.faults.database_down`)."""
    return database_down(bot.services.engine, database_url, admin_url=POSTGRES_URL)


async def test_database_gone(bot: RunningBot, database_url: str) -> None:
    async with database_gone(bot, database_url), bot.http.get(bot.url + "/healthz") as response:
        assert response.status == 503
        body = await response.json()
    assert body["status"] == "unavailable" and body["database"] == "unreachable"
    assert body["problems"] == ["database: unreachable"]

    async with bot.http.get(bot.url + "/healthz") as response:
        assert response.status == 200  # back as soon as the database is
