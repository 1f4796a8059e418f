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
    asked = [r.query.get("user") for r in slack.requests.matching("/api/users.info$")]
    # At most Directory's limit (8) ask at once; those that waited find the answer kept.
    # Bob is asked about for two things (whether he is a person, and his name): one
    # answer now serves both, so 16 is a loose bound.
    for person, most in ((OWNER, 8), ("U0HELPER", 8), (slack.bot_user_id, 8), (BOB, 16)):
        assert 1 <= asked.count(person) <= most, person
    assert ALICE not in asked, "known to be a person: nobody asks"
