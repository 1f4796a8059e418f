"""Steps a person takes, driven through the real server and the emulators."""

from __future__ import annotations

from typing import Any

from sandbox.fake_google import approve_consent
from sandbox.fake_slack import button_urls
from tests.conftest import CHANNEL, OWNER, RunningBot
from tests.helpers import wait_until


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
