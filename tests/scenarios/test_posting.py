"""Where the bot may post: channel errors pause a channel, an uninstall pauses the workspace."""

from __future__ import annotations

from sqlalchemy import select

from sandbox.fake_slack import text_of
from storage.models import Customer
from tests.conftest import ALICE, CHANNEL, RunningBot
from tests.helpers import wait_until
from tests.scenarios.flows import connect, live_status
from tests.scenarios.test_health import alerts, periodic_round

ALICE_EMAIL = "alice@acme-photo.com"


def post_attempts(bot: RunningBot) -> int:
    return len(bot.slack.requests.matching(r"/api/chat\.postMessage$"))


async def channel_problem(bot: RunningBot) -> str:
    async with bot.services.store._sessions() as session:
        customer = await session.scalar(select(Customer))
    assert customer is not None
    return str(customer.channel_problem)


async def test_removed_from_the_channel_pauses_posting_until_invited_back(bot: RunningBot) -> None:
    await connect(bot, user=ALICE, email=ALICE_EMAIL)
    bot.slack.remove_bot_from_channel(CHANNEL)
    bot.google.revoke_account_tokens(ALICE_EMAIL)

    await periodic_round(bot)
    assert await channel_problem(bot) in ("not_in_channel", "channel_not_found")
    attempts = post_attempts(bot)
    await periodic_round(bot)
    await periodic_round(bot)
    assert post_attempts(bot) == attempts, "no more posts while the bot is out of the channel"

    shown = text_of(await live_status(bot))
    assert "/invite @Tonomo" in shown
    await bot.services.health.deliver_notices()  # as the command does after its answer
    assert alerts(bot) == []

    bot.slack.add_member(CHANNEL, bot.slack.bot_user_id)
    await live_status(bot)  # a command shows the channel is back; the held alert goes out

    assert await channel_problem(bot) == ""
    (alert,) = await wait_until(lambda: alerts(bot))
    assert f"<@{ALICE}>'s calendar" in text_of(alert)


async def test_an_archived_channel_pauses_posting(bot: RunningBot) -> None:
    await connect(bot, user=ALICE, email=ALICE_EMAIL)
    bot.slack.archive_channel(CHANNEL)
    bot.google.revoke_account_tokens(ALICE_EMAIL)

    await periodic_round(bot)
    assert await channel_problem(bot) == "is_archived"
    assert "archived" in text_of(await live_status(bot))

    bot.slack.unarchive_channel(CHANNEL)
    await live_status(bot)
    assert await channel_problem(bot) == ""
    assert len(await wait_until(lambda: alerts(bot))) == 1


async def test_an_uninstall_stops_all_posting_in_the_workspace(bot: RunningBot) -> None:
    await connect(bot, user=ALICE, email=ALICE_EMAIL)
    sent = await bot.slack.send_event(bot.events_url, {"type": "app_uninstalled"})
    assert sent.status == 200
    bot.google.revoke_account_tokens(ALICE_EMAIL)
    attempts = post_attempts(bot)

    await periodic_round(bot)

    assert post_attempts(bot) == attempts
    await live_status(bot)  # the app is back: a command reached it
    assert len(await wait_until(lambda: alerts(bot))) == 1


async def test_revoked_bot_tokens_stop_posting(bot: RunningBot) -> None:
    await connect(bot, user=ALICE, email=ALICE_EMAIL)
    event = {"type": "tokens_revoked", "tokens": {"oauth": [], "bot": [bot.slack.bot_user_id]}}
    assert (await bot.slack.send_event(bot.events_url, event)).status == 200
    bot.google.revoke_account_tokens(ALICE_EMAIL)
    attempts = post_attempts(bot)

    await periodic_round(bot)

    assert post_attempts(bot) == attempts


async def test_revoked_user_tokens_alone_change_nothing(bot: RunningBot) -> None:
    await connect(bot, user=ALICE, email=ALICE_EMAIL)
    event = {"type": "tokens_revoked", "tokens": {"oauth": ["U0SOMEONE"], "bot": []}}
    assert (await bot.slack.send_event(bot.events_url, event)).status == 200
    bot.google.revoke_account_tokens(ALICE_EMAIL)

    await periodic_round(bot)

    assert len(alerts(bot)) == 1
