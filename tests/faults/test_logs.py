"""What `python app.py` logs at INFO keeps no secret of a request: not the OAuth callback's
`code` and `state` (the access log), not a request's body (Bolt's rejection message)."""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Awaitable, Callable
from pathlib import Path
from urllib.parse import urlencode

from aiohttp import ClientSession

from sandbox.fake_google import FakeGoogle
from sandbox.fake_slack import FakeSlack, sign
from tests.conftest import CHANNEL, OWNER, TEAM, free_port
from tests.test_app_start import ROOT, served_environment, stop, wait_for_health

CODE = "4/0AeanS-code-SECRET-1234"
STATE = "state-SECRET-5678"
BODY_SECRET = "body-SECRET-9012"


async def logs_of_a_run(
    tmp_path: Path,
    google: FakeGoogle,
    slack: FakeSlack,
    visit: Callable[[ClientSession, str], Awaitable[None]],
) -> str:
    """Everything the real bot wrote on stderr at LOG_LEVEL=INFO while `visit` ran."""
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    env = {**served_environment(tmp_path, google, slack, port), "LOG_LEVEL": "INFO"}
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        str(ROOT / "app.py"),
        cwd=tmp_path,
        env=env,
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.PIPE,
    )
    try:
        await wait_for_health(url, process)
        async with ClientSession() as http:
            await visit(http, url)
    finally:
        assert await stop(process) == 0
    assert process.stderr is not None
    return (await process.stderr.read()).decode()


async def test_the_access_log_hides_the_callbacks_code_and_state(
    tmp_path: Path, google: FakeGoogle, slack: FakeSlack
) -> None:
    callback = "/oauth/google/callback?" + urlencode({"state": STATE, "code": CODE, "scope": "x"})

    async def visit(http: ClientSession, url: str) -> None:
        async with http.get(url + callback) as response:
            assert response.status == 400  # a state the bot never made
        # A browser asks for the page's icon with the callback URL as its Referer.
        async with http.get(url + "/favicon.ico", headers={"Referer": url + callback}) as response:
            assert response.status == 404

    logs = await logs_of_a_run(tmp_path, google, slack, visit)

    assert '"GET /oauth/google/callback?state=REDACTED&code=REDACTED&scope=x HTTP/1.1" 400' in logs
    assert "/oauth/google/callback?state=REDACTED&code=REDACTED&scope=x" in logs.split("favicon")[1]
    assert CODE not in logs and STATE not in logs
    assert "Traceback" not in logs


async def test_a_rejected_request_body_never_reaches_the_log(
    tmp_path: Path, google: FakeGoogle, slack: FakeSlack
) -> None:
    body = urlencode(
        {
            "command": "/tonomo",
            "text": f"book <@U0ALICE> tomorrow 10:00 1h {BODY_SECRET}",
            "user_id": OWNER,
            "channel_id": CHANNEL,
            "team_id": TEAM,
            "response_url": "https://hooks.slack.com/commands/T/1/x",
        }
    )

    async def visit(http: ClientSession, url: str) -> None:
        for headers in (sign("not-the-signing-secret", body), {}):
            async with http.post(
                url + "/slack/events",
                data=body,
                headers={**headers, "Content-Type": "application/x-www-form-urlencoded"},
            ) as response:
                assert response.status == 401

    logs = await logs_of_a_run(tmp_path, google, slack, visit)

    assert '"POST /slack/events HTTP/1.1" 401' in logs  # the log is on, at INFO
    assert BODY_SECRET not in logs and "hooks.slack.com" not in logs
    assert "Traceback" not in logs
