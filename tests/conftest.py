"""Fixtures: the emulators, a database per backend, and the real bot server between them.

Every test that takes `database_url` runs twice: on SQLite (a fresh file) and on
PostgreSQL (a database made for this run, its schema reset before each test). When
PostgreSQL cannot be reached the PostgreSQL runs are skipped and the summary says so,
unless TONOMO_REQUIRE_POSTGRES=1 (as in CI), where that is an error.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import socket
import uuid
from collections.abc import AsyncIterator, Coroutine, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

import asyncpg
import pytest
from aiohttp import ClientSession, web
from cryptography.fernet import Fernet
from sqlalchemy.engine import make_url

from bot.config import Settings
from bot.server import create_web_app
from bot.services import Services, build_services
from sandbox.fake_google import FakeGoogle
from sandbox.fake_slack import FakeSlack
from sandbox.run import bot_environment

POSTGRES_URL = os.environ.get("TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/postgres")
REQUIRE_POSTGRES = os.environ.get("TONOMO_REQUIRE_POSTGRES") == "1"

CLIENT_ID = "tonomo-test.apps.googleusercontent.com"
CLIENT_SECRET = "test-client-secret"
SIGNING_SECRET = "test-signing-secret"
BOT_TOKEN = "xoxb-test-token"
TEAM = "T0TEST"
CHANNEL = "C0PHOTOS"
OWNER = "U0OWNER"
ALICE = "U0ALICE"
BOB = "U0BOB"

SHARED_KEY = Fernet.generate_key().decode()

_postgres_problem: list[str] = []


def _run_in_thread(coro: Coroutine[Any, Any, None]) -> None:
    """Run a coroutine to completion from sync code that may sit inside a running loop."""
    with ThreadPoolExecutor(max_workers=1) as pool:
        pool.submit(asyncio.run, coro).result()


def _asyncpg_dsn(url: str) -> str:
    return make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)


@pytest.fixture(scope="session")
def postgres_database() -> Iterator[str]:
    """A PostgreSQL database for this test run, dropped at the end."""
    name = f"tonomo_test_{uuid.uuid4().hex[:10]}"

    async def admin(sql: str) -> None:
        conn = await asyncpg.connect(_asyncpg_dsn(POSTGRES_URL), timeout=5)
        try:
            await conn.execute(sql)
        finally:
            await conn.close()

    try:
        _run_in_thread(admin(f'CREATE DATABASE "{name}"'))
    except (OSError, asyncpg.PostgresError) as err:
        problem = f"PostgreSQL is not reachable at {POSTGRES_URL} ({type(err).__name__}: {err})"
        if REQUIRE_POSTGRES:
            pytest.fail(problem + " and TONOMO_REQUIRE_POSTGRES=1")
        _postgres_problem.append(problem)
        pytest.skip(problem + ": PostgreSQL runs skipped")
    yield make_url(POSTGRES_URL).set(database=name).render_as_string(hide_password=False)
    _run_in_thread(admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


def pytest_terminal_summary(terminalreporter: Any) -> None:
    if _postgres_problem:
        terminalreporter.write_line(
            f"NOTE: {_postgres_problem[0]}. Only SQLite was tested.", yellow=True, bold=True
        )


async def _reset_schema(url: str) -> None:
    """An empty schema for the next test. A connection an earlier test left open (its loop
    closed under it) would hold its locks for the rest of the run and the DROP would wait
    forever: such connections are ended first, and the DROP waits for a lock 30 s at most."""
    conn = await asyncpg.connect(_asyncpg_dsn(url), timeout=5)
    try:
        await conn.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
            " WHERE datname = current_database() AND pid <> pg_backend_pid()"
        )
        await conn.execute("SET lock_timeout = '30s'")
        await conn.execute("DROP SCHEMA public CASCADE; CREATE SCHEMA public;")
    finally:
        await conn.close()


@pytest.fixture(params=["sqlite", "postgresql"])
async def database_url(request: pytest.FixtureRequest, tmp_path: Any) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'tonomo.db'}"
    url: str = request.getfixturevalue("postgres_database")
    await _reset_schema(url)
    return url


@pytest.fixture
async def google() -> AsyncIterator[FakeGoogle]:
    fake = FakeGoogle(client_id=CLIENT_ID, client_secret=CLIENT_SECRET)
    await fake.start()
    yield fake
    await fake.stop()


@pytest.fixture
async def slack() -> AsyncIterator[FakeSlack]:
    fake = FakeSlack(bot_token=BOT_TOKEN, signing_secret=SIGNING_SECRET, team_id=TEAM)
    fake.add_user(OWNER, name="olivia", real_name="Olivia Owner", tz="America/New_York")
    fake.add_user(ALICE, name="alice", real_name="Alice Lens", tz="America/Chicago")
    fake.add_user(BOB, name="bob", real_name="Bob Shutter", tz="Asia/Kolkata")
    fake.add_channel(CHANNEL, name="acme-photo-onboarding", members=[OWNER, ALICE, BOB])
    await fake.start()
    yield fake
    await fake.stop()


def free_port() -> int:
    """A port nothing listens on now (for a server started by someone else)."""
    with free_socket() as sock:
        return int(sock.getsockname()[1])


def free_socket() -> socket.socket:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    return sock


@dataclass
class RunningBot:
    """The real bot, served over HTTP on loopback, between the two emulators."""

    url: str
    services: Services
    slack: FakeSlack
    google: FakeGoogle
    http: ClientSession

    @property
    def events_url(self) -> str:
        return self.url + "/slack/events"


@contextlib.asynccontextmanager
async def serve_bot(
    google: FakeGoogle, slack: FakeSlack, database_url: str, *, shutdown_grace: float = 0
) -> AsyncIterator[RunningBot]:
    """One instance of the bot on a free loopback port (several may share a database).

    A test is over once it has asserted: work still running when it ends is cancelled at
    once, unless the test gives it a `shutdown_grace` as production does."""
    sock = free_socket()
    url = f"http://127.0.0.1:{sock.getsockname()[1]}"
    environment = bot_environment(
        slack=slack, google=google, public_url=url, database_url=database_url
    )
    environment["TOKEN_ENCRYPTION_KEY"] = SHARED_KEY  # instances sharing a database share the key
    services = await build_services(Settings.from_env(environment))
    # The tests run the periodic jobs themselves, at the moments they choose: loops on the
    # real clock would send a real day's digest, or check connections, in the middle of one.
    app = create_web_app(services, periodic_jobs=False, shutdown_grace=shutdown_grace)
    runner = web.AppRunner(app)
    await runner.setup()
    await web.SockSite(runner, sock).start()
    async with ClientSession() as http:
        yield RunningBot(url=url, services=services, slack=slack, google=google, http=http)
    await runner.cleanup()


@pytest.fixture
async def bot(google: FakeGoogle, slack: FakeSlack, database_url: str) -> AsyncIterator[RunningBot]:
    async with serve_bot(google, slack, database_url) as running:
        yield running
