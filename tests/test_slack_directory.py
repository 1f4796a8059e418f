"""What the bot asks Slack about channels and people, against the Slack emulator."""

from __future__ import annotations

import asyncio

import aiohttp

from bot.slack import Directory, web_client
from sandbox.fake_slack import FakeSlack
from tests.conftest import ALICE, BOB, BOT_TOKEN, OWNER


async def test_people_are_asked_about_once_however_many_channels_ask_at_once(
    slack: FakeSlack,
) -> None:
    slack.add_user("U0HELPER", name="helper", is_bot=True)
    channels = [f"C0SHOP{n:02d}" for n in range(40)]
    for channel in channels:
        slack.add_channel(channel, name=channel.lower(), members=[OWNER, ALICE, BOB, "U0HELPER"])
    async with aiohttp.ClientSession() as session:
        directory = Directory(web_client(token=BOT_TOKEN, base_url=slack.api_url, session=session))

        found = await asyncio.gather(
            *(directory.people_in(c, known_people=[ALICE]) for c in channels)
        )
        names = await asyncio.gather(*(directory.name_of(BOB) for _ in channels))

    assert found == [[OWNER, ALICE, BOB]] * len(channels), "no bots, no lost people"
    assert set(names) == {"bob"}
    asked = [r.query.get("user", "") for r in slack.requests.matching("/api/users.info$")]
    # Forty channels ask about each at once, and Bob for two things (whether he is a
    # person, and his name): one question each, its answer shared and kept.
    assert sorted(asked) == sorted([OWNER, "U0HELPER", slack.bot_user_id, BOB])
    assert ALICE not in asked, "known to be a person: nobody asks"


async def test_slack_errors_are_read_whatever_slack_answered() -> None:
    """A 502 page labelled JSON gives slack_sdk no response of its own to hand over."""
    from aiohttp import web
    from slack_sdk.errors import SlackApiError
    from slack_sdk.web.async_client import AsyncWebClient

    from bot.slack import slack_error

    async def bad_gateway(_request: web.Request) -> web.Response:
        return web.Response(
            status=502, text="<html>502</html>", headers={"Content-Type": "application/json"}
        )

    app = web.Application()
    app.router.add_route("*", "/api/{method}", bad_gateway)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    try:
        client = AsyncWebClient(token="xoxb-1", base_url=f"http://127.0.0.1:{port}/api/")
        try:
            await client.chat_postMessage(channel="C1", text="hi")
        except SlackApiError as err:
            assert slack_error(err) == "http_502"
        else:
            raise AssertionError("a 502 should raise")
    finally:
        await runner.cleanup()
