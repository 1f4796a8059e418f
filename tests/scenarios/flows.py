"""Steps a person takes, driven through the real server and the emulators; and the New
York team the scheduling scenarios share (`team`: the primary calendar, Alice's and Bob's
connected), with what they read back (rows, posts, events, buttons).

A test module uses the `team` fixture by importing it (`__all__` names it, as it is used by
name only)."""

from __future__ import annotations

import re
from datetime import date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import select

from bot.messages.ids import BOOK_MODAL
from sandbox.fake_google import approve_consent
from sandbox.fake_slack import SentRequest, button_urls, text_of
from storage.models import Booking, Customer
from tests.conftest import ALICE, BOB, CHANNEL, OWNER, TEAM, RunningBot
from tests.helpers import wait_until

NEW_YORK = ZoneInfo("America/New_York")
PRIMARY_EMAIL = "bookings@acme-photo.com"
ALICE_EMAIL = "alice@acme-photo.com"
BOB_EMAIL = "bob@acme-photo.com"
CAROL = "U0CAROL"
"""Someone who isn't in the channel (until a test adds her)."""
SHORT_ID = re.compile(r"`([0-9A-Z]{6})`")
"""A booking's id, as messages show it."""


async def command(
    bot: RunningBot,
    text: str,
    *,
    user: str = OWNER,
    channel: str = CHANNEL,
    follow_up: bool = False,
) -> dict[str, Any]:
    """Send `/tonomo text`; the reply only the sender sees: the ack's, else the next response.

    With `follow_up`, the ack must say something and the reply that follows it is returned.
    """
    before = len(bot.slack.responses)
    sent = await bot.slack.send_slash_command(
        bot.events_url, user_id=user, channel_id=channel, text=text
    )
    assert sent.status == 200, sent.body
    if sent.body.strip() and not follow_up:
        reply: dict[str, Any] = sent.json()
        return reply
    assert sent.body.strip() or not follow_up, "the ack should say what is happening"
    await wait_until(lambda: len(bot.slack.responses) > before)
    response: dict[str, Any] = bot.slack.responses[before]
    return response


async def live_status(bot: RunningBot, *, user: str = OWNER) -> dict[str, Any]:
    """`/tonomo status`: the ack says it is checking; the live answer follows."""
    return await command(bot, "status", user=user, follow_up=True)


async def connect(
    bot: RunningBot,
    *,
    user: str,
    email: str,
    primary: bool = False,
    scopes: list[str] | None = None,
    allow: bool = True,
) -> tuple[int, str]:
    """Ask for a link, consent on Google's page, land on the bot's callback: its status and page."""
    reply = await command(
        bot, "connect-calendar primary" if primary else "connect-calendar", user=user
    )
    (url,) = button_urls(reply["blocks"])
    location = await approve_consent(url, email=email, scopes=scopes, allow=allow)
    async with bot.http.get(location) as response:
        return response.status, await response.text()


async def click(
    bot: RunningBot,
    *,
    user: str,
    action_id: str,
    message: dict[str, Any] | None,
    channel: str = CHANNEL,
    value: str | None = None,
) -> dict[str, Any]:
    """Click a button of a channel message (None: a button no message has, as a forged
    click is); the answer only `user` sees, at the click's response_url."""
    before = len(bot.slack.responses)
    sent = await bot.slack.send_block_action(
        bot.events_url,
        user_id=user,
        channel_id=channel,
        action_id=action_id,
        message_ts=message["ts"] if message else None,
        value=value,
    )
    assert sent.status == 200, sent.body
    await wait_until(lambda: len(bot.slack.responses) > before)
    answer: dict[str, Any] = bot.slack.responses[before]
    return answer


# --- the New York team ------------------------------------------------------------------


@pytest.fixture
async def team(bot: RunningBot) -> RunningBot:
    """A channel in New York with its primary calendar and Alice's and Bob's connected."""
    assert (await connect(bot, user=OWNER, email=PRIMARY_EMAIL, primary=True))[0] == 200
    assert (await connect(bot, user=ALICE, email=ALICE_EMAIL))[0] == 200
    assert (await connect(bot, user=BOB, email=BOB_EMAIL))[0] == 200
    return bot


def next_weekday(weeks_ahead: int = 1, weekday: int = 1) -> date:
    """A working day in New York at least a week away (a Tuesday by default)."""
    today = datetime.now(NEW_YORK).date()
    start = today + timedelta(weeks=weeks_ahead)
    return start + timedelta(days=(weekday - start.weekday()) % 7)


def at(day: date, hour: int, minute: int = 0) -> datetime:
    return datetime.combine(day, time(hour, minute), NEW_YORK)


def next_clock_change(*, forward: bool) -> date:
    """The next day New York's clocks jump forward (or go back), within a year."""
    day = datetime.now(NEW_YORK).date() + timedelta(days=1)
    while True:
        before, after = at(day, 0).utcoffset(), at(day, 23).utcoffset()
        assert before is not None and after is not None
        if (after > before) if forward else (after < before):
            return day
        day += timedelta(days=1)


def shown_day(day: date) -> str:
    """How messages name a day other than today and tomorrow (the year may follow)."""
    return f"{day:%a} {day.day} {day:%b}"


async def send(bot: RunningBot, text: str, *, user: str = OWNER) -> None:
    """`/tonomo text`, acknowledged with nothing to say: what follows, the test awaits."""
    sent = await bot.slack.send_slash_command(
        bot.events_url, user_id=user, channel_id=CHANNEL, text=text
    )
    assert sent.status == 200 and not sent.body.strip()


async def sent_twice(bot: RunningBot, text: str) -> None:
    """`/tonomo text` from the owner, and Slack's retry of the same request."""
    sent = await bot.slack.send_slash_command(
        bot.events_url, user_id=OWNER, channel_id=CHANNEL, text=text
    )
    retried = await bot.slack.redeliver(bot.events_url, sent, retry_num=1)
    assert sent.status == retried.status == 200


async def answered(bot: RunningBot, text: str, *, user: str = OWNER) -> dict[str, Any]:
    """A command answered to `user` alone (the ack's answer, or the response after it)."""
    answer = await command(bot, text, user=user)
    if "response_type" in answer:
        assert answer["response_type"] == "ephemeral" and answer["user"] == user
    return answer


async def say(
    bot: RunningBot,
    text: str,
    *,
    user: str = OWNER,
    channel: str = CHANNEL,
    thread_ts: str | None = None,
) -> SentRequest:
    """`@Tonomo text`, only sent (its answer goes to the channel, or the caller waits for
    it): Slack's delivery of it to the bot, acked, to deliver again if need be."""
    _, sent = await bot.slack.send_message(
        bot.events_url,
        user_id=user,
        channel_id=channel,
        text=f"<@{bot.slack.bot_user_id}> {text}",
        thread_ts=thread_ts,
    )
    assert sent is not None and sent.status == 200, sent
    return sent


async def mention(
    bot: RunningBot,
    text: str,
    *,
    user: str = OWNER,
    channel: str = CHANNEL,
    thread_ts: str | None = None,
) -> dict[str, Any]:
    """`@Tonomo text` in the channel; the first answer only `user` sees."""
    before = len(bot.slack.ephemerals(channel, user))
    await say(bot, text, user=user, channel=channel, thread_ts=thread_ts)
    answers = await wait_until(lambda: bot.slack.ephemerals(channel, user)[before:], timeout=10)
    return answers[0]


async def set_up(bot: RunningBot, text: str) -> str:
    """A command from the owner whose answer (ephemeral or in the channel) follows an empty
    ack: the text of that answer."""
    posts, responses = len(channel_posts(bot)), len(bot.slack.responses)
    sent = await bot.slack.send_slash_command(
        bot.events_url, user_id=OWNER, channel_id=CHANNEL, text=text
    )
    assert sent.status == 200
    await wait_until(
        lambda: len(channel_posts(bot)) > posts or len(bot.slack.responses) > responses
    )
    if len(channel_posts(bot)) > posts:
        return text_of(channel_posts(bot)[-1])
    return text_of(bot.slack.responses[responses])


async def book(bot: RunningBot, text: str, *, user: str = OWNER) -> dict[str, Any]:
    """`/tonomo book …`: the channel's booking message, or the reply to the person."""
    posts, responses = len(channel_posts(bot)), len(bot.slack.responses)
    sent = await bot.slack.send_slash_command(
        bot.events_url, user_id=user, channel_id=CHANNEL, text=f"book {text}"
    )
    assert sent.status == 200
    await wait_until(
        lambda: len(channel_posts(bot)) > posts or len(bot.slack.responses) > responses
    )
    if len(channel_posts(bot)) > posts:
        return channel_posts(bot)[-1]
    reply: dict[str, Any] = bot.slack.ephemerals(CHANNEL, user)[-1]
    return reply


async def open_book_form(bot: RunningBot, user: str = OWNER) -> dict[str, Any]:
    """`/tonomo book` alone: the booking form it opens."""
    await send(bot, "book", user=user)
    (view,) = await wait_until(
        lambda: [v for v in bot.slack.views(user) if v.get("callback_id") == BOOK_MODAL]
    )
    return view


async def why(bot: RunningBot, text: str, *, user: str = OWNER) -> dict[str, Any]:
    """`/tonomo why …`: the ack says it is checking; the answer only `user` sees."""
    answer = await command(bot, f"why {text}", user=user, follow_up=True)
    assert answer["response_type"] == "ephemeral" and answer["user"] == user
    return answer


def channel_posts(bot: RunningBot) -> list[dict[str, Any]]:
    return list(bot.slack.messages(CHANNEL))


def posted(bot: RunningBot, ts: str) -> dict[str, Any]:
    """The channel's message `ts` as it is now (edited in place or not)."""
    (message,) = [m for m in channel_posts(bot) if m["ts"] == ts]
    return message


def buttons(message: dict[str, Any]) -> list[dict[str, Any]]:
    found = []
    for block in message.get("blocks") or []:
        for element in [block.get("accessory"), *block.get("elements", [])]:
            if isinstance(element, dict) and element.get("type") == "button":
                found.append(element)
    return found


def events_of(bot: RunningBot, email: str) -> list[dict[str, Any]]:
    return bot.google.events(email)


async def rows(bot: RunningBot, model: Any) -> list[Any]:
    """Every row of `model`'s table, in the order they were made."""
    async with bot.services.store._sessions() as session:
        return list(await session.scalars(select(model).order_by(model.id)))


async def bookings(bot: RunningBot) -> list[Booking]:
    return await rows(bot, Booking)


async def customer(bot: RunningBot, channel: str = CHANNEL) -> Customer:
    found = await bot.services.store.find_customer(TEAM, channel)
    assert found is not None
    return found


async def checked_now(bot: RunningBot, of: Customer) -> None:
    """What `status` does with a customer's connections, without a command: each
    checked live, then recorded (and any breakage announced)."""
    _, outcomes = await bot.services.health.check_now(of)
    await bot.services.health.record_after_answer(outcomes)
