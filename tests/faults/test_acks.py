"""Bolt answers each request with its listener's ack as soon as the listener returns
(`process_before_response`, `bot.server`): the ack never waits for the work after it, and
nothing that fails after the ack turns it into an error Slack would show (a 500).

Each test sends real requests to the real server, between the Slack and Google emulators.
"""

from __future__ import annotations

import time

import pytest

from bot.messages import Message
from bot.messages.help import build_checking, build_checking_calendars
from bot.messages.ids import SHOW_STATUS
from handlers.work import APOLOGY, NO_RECORDS, AfterAck
from sandbox import faults
from sandbox.fake_slack import text_of
from tests.conftest import ALICE, CHANNEL, OWNER, POSTGRES_URL, RunningBot
from tests.helpers import wait_until
from tests.scenarios.flows import command, connect

ALICE_EMAIL = "alice@acme-photo.com"
GOOGLE_LATENCY = 2.0
"""Seconds Alice's Google calendar takes to answer: under the read deadline (4 s)."""
ACK_WITHIN = 1.0
"""Seconds an ack may take here: far under Slack's 3, far under Google's latency."""


@pytest.mark.parametrize(
    ("text", "checking", "answered"),
    [
        ("availability tomorrow", build_checking_calendars(), f"<@{ALICE}>"),
        ("status", build_checking(), "Calendar connections"),
    ],
)
async def test_a_commands_ack_does_not_wait_for_its_work(
    bot: RunningBot, text: str, checking: Message, answered: str
) -> None:
    assert (await connect(bot, user=ALICE, email=ALICE_EMAIL))[0] == 200
    bot.google.account_latency[ALICE_EMAIL] = GOOGLE_LATENCY
    before = len(bot.slack.responses)

    started = time.monotonic()
    sent = await bot.slack.send_slash_command(
        bot.events_url, user_id=OWNER, channel_id=CHANNEL, text=text
    )
    acked = time.monotonic() - started

    assert sent.status == 200 and acked < ACK_WITHIN
    assert sent.json()["text"] == checking.text
    await wait_until(lambda: len(bot.slack.responses) > before, timeout=10)
    assert time.monotonic() - started >= GOOGLE_LATENCY  # the work waited for Google
    assert answered in text_of(bot.slack.responses[before])
    bot.google.account_latency.clear()


async def test_work_that_fails_after_the_ack_keeps_the_ack_and_the_person_hears_why(
    bot: RunningBot, database_url: str
) -> None:
    """The database down: a command, a button and a mention are each answered with their
    ack (the command's says it is checking), and each person is told the records are out of
    reach, in the way each door answers."""
    await command(bot, "settings")  # the channel is a customer
    async with faults.database_down(bot.services.engine, database_url, admin_url=POSTGRES_URL):
        before, ephemerals = len(bot.slack.responses), len(bot.slack.ephemerals(CHANNEL, OWNER))
        sent = await bot.slack.send_slash_command(
            bot.events_url, user_id=OWNER, channel_id=CHANNEL, text="status"
        )
        clicked = await bot.slack.send_block_action(
            bot.events_url, user_id=OWNER, channel_id=CHANNEL, action_id=SHOW_STATUS
        )
        _, mentioned = await bot.slack.send_message(
            bot.events_url,
            user_id=OWNER,
            channel_id=CHANNEL,
            text=f"<@{bot.slack.bot_user_id}> status",
        )

        assert sent.status == 200 and sent.json()["text"] == build_checking().text
        assert clicked.status == 200 and not clicked.body.strip()
        assert mentioned is not None and mentioned.status == 200
        await wait_until(lambda: len(bot.slack.ephemerals(CHANNEL, OWNER)) >= ephemerals + 3)
        told = bot.slack.ephemerals(CHANNEL, OWNER)[ephemerals:]
        assert len(told) == 3 and all(NO_RECORDS in text_of(t) for t in told)
        # The command's and the button's through their response_url, the mention's not.
        assert len(bot.slack.responses) == before + 2


async def test_a_listener_that_fails_after_its_ack_still_answers_with_the_ack(
    bot: RunningBot, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Even a listener's own slip after its ack (here, handing the work over fails) leaves
    the ack as Slack's answer, never a 500; the person who can be answered gets the
    apology."""

    def slip(*_: object, **__: object) -> None:
        raise RuntimeError("a slip after the ack")

    monkeypatch.setattr(AfterAck, "start", slip)
    before = len(bot.slack.responses)

    sent = await bot.slack.send_slash_command(
        bot.events_url, user_id=OWNER, channel_id=CHANNEL, text="status"
    )
    clicked = await bot.slack.send_block_action(
        bot.events_url, user_id=OWNER, channel_id=CHANNEL, action_id=SHOW_STATUS
    )
    _, mentioned = await bot.slack.send_message(
        bot.events_url, user_id=OWNER, channel_id=CHANNEL, text=f"<@{bot.slack.bot_user_id}> status"
    )

    assert sent.status == 200 and sent.json()["text"] == build_checking().text
    assert clicked.status == 200 and not clicked.body.strip()
    assert mentioned is not None and mentioned.status == 200
    await wait_until(lambda: len(bot.slack.responses) >= before + 2)
    assert all(APOLOGY in text_of(a) for a in bot.slack.responses[before:])
