"""Starting `python app.py`: bad configuration is one clear line, never a traceback."""

from __future__ import annotations

import asyncio
import logging
import os
import resource
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import pytest
from aiohttp import ClientConnectionError, ClientSession
from cryptography.fernet import Fernet

from app import TOKEN_LEAKING_LOGGERS, configure_logging, open_files_soft_limit, redact_url
from sandbox.fake_google import FakeGoogle
from sandbox.fake_slack import FakeSlack
from sandbox.run import bot_environment
from tests.conftest import CHANNEL, OWNER, free_port

ROOT = Path(__file__).resolve().parents[1]


def clean_environment() -> dict[str, str]:
    return {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(
            ("SLACK_", "GOOGLE_", "TOKEN_", "DATABASE_", "PORT", "HOST", "PUBLIC_URL")
        )
    }


def start(env: dict[str, str], cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(  # noqa: S603 - our own entry point
        [sys.executable, str(ROOT / "app.py")],
        env={**clean_environment(), **env},
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=60,
    )


REQUIRED = [
    "SLACK_BOT_TOKEN",
    "SLACK_SIGNING_SECRET",
    "GOOGLE_CLIENT_ID",
    "GOOGLE_CLIENT_SECRET",
    "TOKEN_ENCRYPTION_KEY",
]


def named(stderr: str) -> list[str]:
    """The variable each line of `stderr` names; every line is one of ours."""
    lines = stderr.strip().splitlines()
    assert all(line.startswith("tonomo: ") for line in lines), stderr
    return [line.removeprefix("tonomo: ").split()[0].rstrip(":") for line in lines]


def test_missing_configuration_is_one_line_per_variable_all_at_once(tmp_path: Path) -> None:
    result = start({}, tmp_path)
    assert result.returncode == 2
    assert named(result.stderr) == REQUIRED
    assert "Traceback" not in result.stderr


def test_env_example_as_it_ships_names_every_placeholder_at_once(tmp_path: Path) -> None:
    shutil.copy(ROOT / ".env.example", tmp_path / ".env")
    result = start({}, tmp_path)
    assert result.returncode == 2
    assert named(result.stderr) == [
        "SLACK_BOT_TOKEN",
        "SLACK_SIGNING_SECRET",
        "GOOGLE_CLIENT_ID",
        "GOOGLE_CLIENT_SECRET",
        "PUBLIC_URL",
        "TOKEN_ENCRYPTION_KEY",
    ]
    assert result.stderr.count("placeholder") == 5 and "Traceback" not in result.stderr
    assert "TOKEN_ENCRYPTION_KEY is not set" in result.stderr
    assert result.stdout == ""  # never said it was listening


async def test_a_token_slack_refuses_stops_start_up_in_one_line(
    tmp_path: Path, google: FakeGoogle, slack: FakeSlack
) -> None:
    env = bot_environment(
        slack=slack,
        google=google,
        public_url="http://127.0.0.1:9",
        database_url=f"sqlite:///{tmp_path / 'bot.db'}",
    )
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        str(ROOT / "app.py"),
        cwd=tmp_path,
        env={
            **clean_environment(),
            **env,
            "SLACK_BOT_TOKEN": "xoxb-revoked-long-ago",
            "HOST": "127.0.0.1",
            "PORT": str(free_port()),
        },
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(process.communicate(), timeout=60)
    assert process.returncode == 2
    stderr = err.decode()
    assert named(stderr.splitlines()[-1]) == ["SLACK_BOT_TOKEN"]
    assert "Traceback" not in stderr and b"listening" not in out


def test_dotenv_is_read_and_real_environment_wins(tmp_path: Path) -> None:
    (tmp_path / ".env").write_text(
        "SLACK_BOT_TOKEN=xoxb-from-dotenv\n"
        "SLACK_SIGNING_SECRET=s\n"
        "GOOGLE_CLIENT_ID=id\n"
        "GOOGLE_CLIENT_SECRET=secret\n"
        f"TOKEN_ENCRYPTION_KEY={Fernet.generate_key().decode()}\n"
        "PORT=3000\n"
    )
    # .env alone is complete; the real environment's malformed PORT must win over it.
    result = start({"PORT": "not-a-port"}, tmp_path)
    assert result.returncode == 2
    assert result.stderr.startswith("tonomo: PORT is malformed")
    assert "Traceback" not in result.stderr


async def wait_for_health(url: str, process: asyncio.subprocess.Process) -> dict[str, object]:
    """Poll /healthz until it answers (or the process dies, or 30 s pass)."""
    async with ClientSession() as http:
        for _ in range(300):
            if process.returncode is not None:
                raise AssertionError(f"the bot exited with {process.returncode}")
            try:
                async with http.get(url + "/healthz") as response:
                    body: dict[str, object] = await response.json()
                    return body
            except ClientConnectionError:
                await asyncio.sleep(0.1)
    raise AssertionError("the bot never answered /healthz")


async def stop(process: asyncio.subprocess.Process) -> int:
    process.send_signal(signal.SIGINT)
    return await asyncio.wait_for(process.wait(), timeout=20)


def served_environment(
    tmp_path: Path, google: FakeGoogle, slack: FakeSlack, port: int
) -> dict[str, str]:
    """`python app.py`'s whole environment to serve on loopback `port` between the
    emulators, with a SQLite file in `tmp_path`."""
    return {
        **clean_environment(),
        **bot_environment(
            slack=slack,
            google=google,
            public_url=f"http://127.0.0.1:{port}",
            database_url=f"sqlite:///{tmp_path / 'bot.db'}",
        ),
        "HOST": "127.0.0.1",
        "PORT": str(port),
    }


async def test_the_bot_serves_with_real_configuration(
    tmp_path: Path, google: FakeGoogle, slack: FakeSlack
) -> None:
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    env = served_environment(tmp_path, google, slack, port)
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        str(ROOT / "app.py"),
        cwd=tmp_path,
        env=env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    try:
        assert process.stdout is not None
        said = (await asyncio.wait_for(process.stdout.readline(), timeout=30)).decode()
        assert said.startswith(f"tonomo: listening on http://127.0.0.1:{port} ")
        assert (await wait_for_health(url, process))["status"] == "ok"
        sent = await slack.send_slash_command(
            url + "/slack/events", user_id=OWNER, channel_id=CHANNEL, text="help"
        )
        assert sent.status == 200 and "connect-calendar" in sent.body
    finally:
        assert await stop(process) == 0
    # A healthy start warns of nothing (Bolt's notes on the token it was given included).
    assert process.stderr is not None
    logged = (await process.stderr.read()).decode()
    assert " WARNING " not in logged and " ERROR " not in logged, logged


async def test_the_sandbox_runs_with_no_configuration(tmp_path: Path) -> None:
    port = free_port()
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        str(ROOT / "app.py"),
        "--sandbox",
        "--port",
        str(port),
        cwd=tmp_path,
        env=clean_environment(),
        stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    try:
        assert (await wait_for_health(f"http://127.0.0.1:{port}", process))["status"] == "ok"
    finally:
        assert await stop(process) == 0
    assert process.stdout is not None
    output = (await process.stdout.read()).decode()
    assert f"http://127.0.0.1:{port}" in output and "Traceback" not in output


def test_debug_logging_keeps_token_carrying_libraries_quiet() -> None:
    configure_logging("DEBUG")
    try:
        assert logging.getLogger("bot").isEnabledFor(logging.DEBUG)
        for name in TOKEN_LEAKING_LOGGERS:
            assert not logging.getLogger(name).isEnabledFor(logging.DEBUG), name
    finally:
        logging.getLogger().setLevel(logging.WARNING)


def test_bolts_rejection_message_keeps_no_request_body(caplog: pytest.LogCaptureFixture) -> None:
    configure_logging("INFO")
    try:
        caplog.set_level(logging.INFO, logger="slack_bolt.AsyncRequestVerification")
        logging.getLogger("slack_bolt.AsyncRequestVerification").info(
            "Invalid request signature detected (signature: v0=1, timestamp: 1, "
            "body: token=x&text=book+secret-body-words)"
        )
    finally:
        logging.getLogger().setLevel(logging.WARNING)
    assert "invalid signature was rejected" in caplog.text
    assert "secret-body-words" not in caplog.text


def test_the_access_log_hides_code_and_state_wherever_a_url_carries_them() -> None:
    line = '"GET /oauth/google/callback?state=abc&code=4/0Ae-x&scope=a+b HTTP/1.1" "https://x/cb?code=y;state=z"'
    assert redact_url(line) == (
        '"GET /oauth/google/callback?state=REDACTED&code=REDACTED&scope=a+b HTTP/1.1" '
        '"https://x/cb?code=REDACTED;state=REDACTED"'
    )


def test_scripts_run_says_in_one_line_when_python3_is_too_old(tmp_path: Path) -> None:
    shim = tmp_path / "python3"  # a python3 that answers like 3.10 would
    shim.write_text('#!/bin/sh\n[ "$1" = --version ] && echo "Python 3.10.12" && exit 0\nexit 1\n')
    shim.chmod(0o755)
    result = subprocess.run(  # noqa: S603 - our own script
        [str(ROOT / "scripts" / "run")],
        env={**clean_environment(), "PATH": f"{tmp_path}:{os.environ['PATH']}"},
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert result.returncode == 1
    assert result.stderr == (
        "run: Python 3.11 or newer is needed as python3 (found: Python 3.10.12)\n"
    )


def test_the_open_files_limit_is_raised_to_fit_the_google_calls_up_to_the_hard_limit() -> None:
    infinity = resource.RLIM_INFINITY
    assert open_files_soft_limit(1280, soft=1024, hard=4096) == 1280, "raised"
    assert open_files_soft_limit(1280, soft=1024, hard=infinity) == 1280
    assert open_files_soft_limit(1280, soft=1024, hard=1100) == 1100, "up to the hard limit"
    assert open_files_soft_limit(1280, soft=20000, hard=20000) == 20000, "enough already"
    assert open_files_soft_limit(1280, soft=infinity, hard=infinity) == infinity
