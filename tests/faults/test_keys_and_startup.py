"""Start-up faults: a rotated TOKEN_ENCRYPTION_KEY, a wrong one, a database that won't answer.

Each runs the real `python app.py`; a refusal is its exit code and one line on stderr.
"""

from __future__ import annotations

import asyncio
import contextlib
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from aiohttp import ClientSession, web
from cryptography.fernet import Fernet, InvalidToken
from sqlalchemy import select

from bot.config import Settings
from bot.server import create_web_app
from bot.services import build_services
from sandbox.fake_google import FakeGoogle
from sandbox.fake_slack import FakeSlack, text_of
from sandbox.run import bot_environment
from storage.models import CalendarConnection
from tests.conftest import ALICE, OWNER, SHARED_KEY, RunningBot, free_port, free_socket, serve_bot
from tests.scenarios.flows import connect, live_status
from tests.test_app_start import ROOT, clean_environment, start, stop, wait_for_health


async def sealed_tokens(bot: RunningBot) -> list[bytes]:
    async with bot.services.store._sessions() as session:
        rows = await session.scalars(select(CalendarConnection).order_by(CalendarConnection.id))
        return [row.token_ciphertext for row in rows]


@contextlib.asynccontextmanager
async def serve_with_key(
    google: FakeGoogle, slack: FakeSlack, database_url: str, key: str
) -> AsyncIterator[RunningBot]:
    """The bot in this process, like `serve_bot`, with a key list of the test's choosing."""
    sock = free_socket()
    url = f"http://127.0.0.1:{sock.getsockname()[1]}"
    environment = bot_environment(
        slack=slack, google=google, public_url=url, database_url=database_url
    )
    environment["TOKEN_ENCRYPTION_KEY"] = key
    services = await build_services(Settings.from_env(environment))
    runner = web.AppRunner(create_web_app(services, periodic_jobs=False))
    await runner.setup()
    await web.SockSite(runner, sock).start()
    async with ClientSession() as http:
        yield RunningBot(url=url, services=services, slack=slack, google=google, http=http)
    await runner.cleanup()


def production_environment(
    google: FakeGoogle, slack: FakeSlack, database_url: str, port: int, key: str
) -> dict[str, str]:
    url = f"http://127.0.0.1:{port}"
    return {
        **clean_environment(),
        **bot_environment(slack=slack, google=google, public_url=url, database_url=database_url),
        "TOKEN_ENCRYPTION_KEY": key,
        "HOST": "127.0.0.1",
        "PORT": str(port),
    }


async def test_a_rotated_key_list_opens_old_tokens_and_reseals_them(
    tmp_path: Path, google: FakeGoogle, slack: FakeSlack, database_url: str
) -> None:
    old = SHARED_KEY
    async with serve_bot(google, slack, database_url) as bot:
        await connect(bot, user=ALICE, email="alice@acme-photo.com")
        (sealed_before,) = await sealed_tokens(bot)
    new = Fernet.generate_key().decode()
    with pytest.raises(InvalidToken):
        Fernet(new.encode()).decrypt(sealed_before)

    # The operator puts the new key in front of the old one and restarts.
    port = free_port()
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        str(ROOT / "app.py"),
        cwd=tmp_path,
        env=production_environment(google, slack, database_url, port, f"{new},{old}"),
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.DEVNULL,
    )
    try:
        assert (await wait_for_health(f"http://127.0.0.1:{port}", process))["status"] == "ok"
    finally:
        assert await stop(process) == 0

    # Re-sealed under the new key: the old one can now be dropped, and the token still works.
    async with serve_with_key(google, slack, database_url, new) as bot:
        (sealed_after,) = await sealed_tokens(bot)
        assert sealed_after != sealed_before
        tokens = bot.services.connections._cipher.open_tokens(sealed_after)
        assert tokens.refresh_token
        shown = text_of(await live_status(bot, user=OWNER))
        assert f"<@{ALICE}>" in shown and "alice@acme-photo.com" in shown
        assert ":white_check_mark: connected" in shown and "Reconnect" not in shown


async def test_a_key_list_that_opens_no_stored_token_stops_start_up(
    tmp_path: Path, google: FakeGoogle, slack: FakeSlack, database_url: str
) -> None:
    async with serve_bot(google, slack, database_url) as bot:
        await connect(bot, user=ALICE, email="alice@acme-photo.com")
        (sealed_before,) = await sealed_tokens(bot)
    wrong = Fernet.generate_key().decode()

    result = await asyncio.to_thread(
        start,
        production_environment(google, slack, database_url, free_port(), wrong),
        tmp_path,
    )

    assert result.returncode == 2, result.stderr
    assert result.stderr.strip().count("\n") == 0, result.stderr
    assert result.stderr.startswith("tonomo: TOKEN_ENCRYPTION_KEY opens none of the 1 stored")
    assert "Traceback" not in result.stderr and wrong not in result.stderr
    async with serve_bot(google, slack, database_url) as bot:
        assert await sealed_tokens(bot) == [sealed_before], "nothing stored was touched"


@pytest.mark.parametrize(
    "database_url",
    [
        "postgresql://tonomo:secret-password@127.0.0.1:{port}/tonomo",
        "sqlite:////no-such-directory/tonomo.db",
    ],
)
def test_a_database_that_cannot_be_reached_is_one_line_naming_database_url(
    tmp_path: Path, database_url: str
) -> None:
    url = database_url.format(port=free_port())  # nothing listens there
    environment = {
        "SLACK_BOT_TOKEN": "xoxb-1",
        "SLACK_SIGNING_SECRET": "s",
        "GOOGLE_CLIENT_ID": "id",
        "GOOGLE_CLIENT_SECRET": "secret",
        "TOKEN_ENCRYPTION_KEY": Fernet.generate_key().decode(),
        "DATABASE_URL": url,
        "PORT": str(free_port()),
    }

    result = start(environment, tmp_path)

    assert result.returncode == 1, result.stderr
    assert result.stderr.strip().count("\n") == 0, result.stderr
    assert result.stderr.startswith("tonomo: could not connect to the database at DATABASE_URL")
    assert "Traceback" not in result.stderr and "secret-password" not in result.stderr
