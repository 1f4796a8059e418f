"""The sandbox's console: commands typed as someone, and what the bot posts, printed."""

from __future__ import annotations

import re

import pytest
from aiohttp import ClientSession

from sandbox.fake_google import approve_consent
from sandbox.run import CHANNEL, Console, running_sandbox
from tests.conftest import free_port
from tests.helpers import wait_until


async def test_connecting_a_calendar_from_the_console(capsys: pytest.CaptureFixture[str]) -> None:
    async with running_sandbox(free_port()) as sandbox:
        console = Console(slack=sandbox.slack, bot_url=sandbox.bot_url)

        await console.send("/tonomo help")
        assert "(only visible to olivia)" in capsys.readouterr().out

        await console.send("as alice: /tonomo connect-calendar")
        await wait_until(lambda: sandbox.slack.responses)
        console.print_new()
        shown = capsys.readouterr().out
        assert "(only visible to alice)" in shown
        link = re.search(r"\[Connect my calendar\] (\S+)", shown)
        assert link and link.group(1).startswith(sandbox.google.auth_uri)

        location = await approve_consent(link.group(1), email="alice@acme-photo.com")
        assert location.startswith(sandbox.bot_url)
        async with ClientSession() as http, http.get(location) as response:
            assert response.status == 200
        await wait_until(lambda: sandbox.slack.messages(CHANNEL))
        console.print_new()
        assert "alice@acme-photo.com" in capsys.readouterr().out


async def test_the_console_explains_what_it_takes(capsys: pytest.CaptureFixture[str]) -> None:
    async with running_sandbox(free_port()) as sandbox:
        console = Console(slack=sandbox.slack, bot_url=sandbox.bot_url)
        await console.send("as nobody: /tonomo help")
        assert "Nobody called 'nobody'" in capsys.readouterr().out
        await console.send("hello")
        assert "Type a command like" in capsys.readouterr().out
