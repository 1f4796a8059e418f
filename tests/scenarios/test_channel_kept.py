"""The channel's members and sharing, read from Slack once and kept on the customer's row
for every command, Home tab and digest of every instance, until an event says they
changed (or a week passes): end to end, on SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
import logging
import re
from datetime import datetime

import pytest

from sandbox.fake_slack import text_of
from sandbox.faults import Fault
from storage.models import Customer
from tests.conftest import ALICE, BOB, CHANNEL, OWNER, TEAM, RunningBot, serve_bot
from tests.helpers import eventually, wait_until
from tests.scenarios.flows import command, next_weekday, team
from tests.scenarios.test_availability_reads import ask, statements

__all__ = ["team"]  # the fixture, used by name

CAROL = "U0CAROL"
"""A photographer who joins the channel and connects nothing."""
LOOKUPS = r"^/api/conversations\.(members|info)$"
KEEP = re.compile(r"^UPDATE customers SET channel_members=")


def lookups(bot: RunningBot) -> int:
    """How often Slack has been asked who is in the channel and whether it is shared."""
    return len(bot.slack.requests.matching(LOOKUPS))


async def stored(bot: RunningBot) -> Customer:
    customer = await bot.services.store.find_customer(TEAM, CHANNEL)
    assert customer is not None
    return customer


async def kept_members(bot: RunningBot) -> set[str] | None:
    members = (await stored(bot)).channel_members
    return None if members is None else set(members.split())


async def slack_says(bot: RunningBot, event_type: str, *, to: str | None = None) -> None:
    """Slack tells the bot (or the instance at `to`) that Carol joined or left."""
    event = {"type": event_type, "user": CAROL, "channel": CHANNEL, "team": TEAM}
    assert (await bot.slack.send_event(to or bot.events_url, event)).status == 200


async def dropped(bot: RunningBot) -> None:
    """Once the kept facts are dropped."""

    async def gone() -> bool:
        return await kept_members(bot) is None

    await eventually(gone)


async def carol_joins(bot: RunningBot) -> None:
    """Carol joins the channel and Slack says so; the kept facts are dropped."""
    bot.slack.add_user(CAROL, name="carol", tz="America/New_York")
    bot.slack.add_member(CHANNEL, CAROL)
    await slack_says(bot, "member_joined_channel")
    await dropped(bot)


def not_connected(answer: str) -> str:
    return answer.split("Not connected yet")[-1] if "Not connected yet" in answer else ""


async def test_commands_read_the_channel_once_for_every_instance(
    team: RunningBot, database_url: str
) -> None:
    """Carol joins: the next `availability` reads the channel from Slack (once) and keeps
    it; `status`, `availability` again, and another instance's answer ask Slack nothing
    about the channel, and all name Carol. When she leaves, the next command reads it
    again."""
    await carol_joins(team)
    asked = lookups(team)
    answer, _ = await ask(team, f"availability {next_weekday().isoformat()}")
    assert f"<@{CAROL}>" in not_connected(answer)
    assert lookups(team) == asked + 2, "one conversations.members, one conversations.info"
    assert {OWNER, ALICE, BOB, CAROL} <= (await kept_members(team) or set())
    assert (await stored(team)).channel_ext_shared is False

    status = await command(team, "status", follow_up=True)
    again, _ = await ask(team, "availability next week")
    async with serve_bot(team.google, team.slack, database_url) as other:
        elsewhere, _ = await ask(other, f"availability {next_weekday().isoformat()}")
    assert lookups(team) == asked + 2, "the kept facts served every one of them"
    for text in (text_of(status), again, elsewhere):
        assert f"<@{CAROL}>" in text

    team.slack.remove_member(CHANNEL, CAROL)
    await slack_says(team, "member_left_channel")
    await dropped(team)
    answer, _ = await ask(team, f"availability {next_weekday().isoformat()}")
    assert f"<@{CAROL}>" not in answer
    assert lookups(team) == asked + 4, "read afresh once"
    assert CAROL not in (await kept_members(team) or {CAROL})


async def test_facts_the_database_would_not_keep_are_read_again_next_time(
    team: RunningBot, caplog: pytest.LogCaptureFixture
) -> None:
    """Keeping the facts fails (the database went away for that statement): the answer is
    the same, whole, and the failure is logged, not told; nothing is kept, so the next
    command reads the channel again, and keeps it."""
    await carol_joins(team)
    asked = lookups(team)
    with caplog.at_level(logging.WARNING), statements(team.services.engine, failing=KEEP) as sent:
        answer, _ = await ask(team, f"availability {next_weekday().isoformat()}")
        await wait_until(lambda: [s for s in sent if KEEP.search(" ".join(s.sql.split()))])
    assert f"<@{CAROL}>" in not_connected(answer) and f"<@{BOB}>: 9am–5pm" in answer
    assert "the channel's facts not kept: the database failed" in caplog.text
    assert await kept_members(team) is None
    assert lookups(team) == asked + 2

    again, _ = await ask(team, f"availability {next_weekday().isoformat()}")
    assert again == answer
    assert lookups(team) == asked + 4, "read again, since nothing was kept"
    assert CAROL in (await kept_members(team) or set())


async def test_facts_read_before_a_change_are_not_kept(team: RunningBot, database_url: str) -> None:
    """Carol leaves while Slack is still answering a command's question of who is in the
    channel, and another instance hears it: the command is answered, but what it read is
    not kept, since an event said meanwhile that the channel changed; the next command
    reads the channel again and keeps it."""
    await carol_joins(team)
    joined_at = (await stored(team)).channel_changed_at
    async with serve_bot(team.google, team.slack, database_url) as other:
        listed = len(team.slack.requests.matching(r"^/api/conversations\.members$"))
        team.slack.faults.add(Fault("conversations.members", latency=0.5, times=1))
        asking = asyncio.create_task(ask(team, f"availability {next_weekday().isoformat()}"))
        await wait_until(
            lambda: len(team.slack.requests.matching(r"^/api/conversations\.members$")) > listed
        )
        team.slack.remove_member(CHANNEL, CAROL)
        await slack_says(team, "member_left_channel", to=other.events_url)

        async def changed() -> datetime | None:
            at = (await stored(team)).channel_changed_at
            return at if at is not None and joined_at is not None and at > joined_at else None

        left_at = await eventually(changed)
        answer, _ = await asking
    assert f"<@{BOB}>: 9am–5pm" in answer
    customer = await stored(team)
    assert customer.channel_members is None and customer.channel_changed_at == left_at

    asked = lookups(team)
    answer, _ = await ask(team, f"availability {next_weekday().isoformat()}")
    assert f"<@{CAROL}>" not in answer
    assert lookups(team) == asked + 2
    kept = await stored(team)
    assert kept.channel_members is not None and CAROL not in kept.channel_members.split()
    assert kept.channel_read_at is not None and kept.channel_read_at > left_at
