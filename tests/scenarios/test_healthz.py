"""GET /healthz: 200 while the database answers reads and writes, 503 when it does not.

The periodic jobs' side (a job overdue, a read-only database) is in
tests/faults/test_periodic_jobs.py.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from pathlib import Path

import asyncpg
from sqlalchemy.engine import make_url

from tests.conftest import POSTGRES_URL, RunningBot


async def test_healthy(bot: RunningBot) -> None:
    async with bot.http.get(bot.url + "/healthz") as response:
        assert response.status == 200
        body = await response.json()
    # The tests' instances run no periodic jobs, so none is reported or required.
    assert body == {"status": "ok", "database": "ok", "jobs": {}}


def _move_away(path: Path) -> None:
    path.rename(path.with_name(path.name + ".away"))
    path.mkdir()


def _move_back(path: Path) -> None:
    path.rmdir()
    path.with_name(path.name + ".away").rename(path)


@contextlib.asynccontextmanager
async def database_gone(bot: RunningBot, database_url: str) -> AsyncIterator[None]:
    """The database out of reach until the block ends: SQLite's file moved away (a
    directory in its place, so nothing opens there), PostgreSQL's database refusing
    connections and its open sessions ended."""
    url = make_url(database_url)
    if url.get_backend_name() == "sqlite":
        path = Path(str(url.database))
        await bot.services.engine.dispose()  # the pool's open files would still read it
        _move_away(path)
        try:
            yield
        finally:
            _move_back(path)
        return
    name = url.database
    admin = await asyncpg.connect(
        make_url(POSTGRES_URL).set(drivername="postgresql").render_as_string(hide_password=False)
    )
    try:
        await admin.execute(f'ALTER DATABASE "{name}" WITH ALLOW_CONNECTIONS false')
        await admin.fetch(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
            "WHERE datname = $1 AND pid <> pg_backend_pid()",
            name,
        )
        yield
    finally:
        await admin.execute(f'ALTER DATABASE "{name}" WITH ALLOW_CONNECTIONS true')
        await admin.close()


async def test_database_gone(bot: RunningBot, database_url: str) -> None:
    async with database_gone(bot, database_url), bot.http.get(bot.url + "/healthz") as response:
        assert response.status == 503
        body = await response.json()
    assert body["status"] == "unavailable" and body["database"] == "unreachable"
    assert body["problems"] == ["database: unreachable"]

    async with bot.http.get(bot.url + "/healthz") as response:
        assert response.status == 200  # back as soon as the database is
