"""GET /healthz: 200 while the database answers, 503 when it does not."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import create_async_engine

from storage.db import session_factory
from tests.conftest import RunningBot


async def test_healthy(bot: RunningBot) -> None:
    async with bot.http.get(bot.url + "/healthz") as response:
        assert response.status == 200
        assert (await response.json())["status"] == "ok"


async def test_database_gone(bot: RunningBot) -> None:
    # Point the store at a PostgreSQL port where nothing listens: the real driver fails.
    dead = create_async_engine("postgresql+asyncpg://nobody@127.0.0.1:1/none")
    bot.services.store._sessions = session_factory(dead)
    try:
        async with bot.http.get(bot.url + "/healthz") as response:
            assert response.status == 503
            assert (await response.json())["status"] != "ok"
    finally:
        await dead.dispose()
