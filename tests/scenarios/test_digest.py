"""The daily digest end to end: schedule, one per day across instances and restarts,
Slack's rate limits, paused channels, and `digest on | off | now | at`."""

from __future__ import annotations

import asyncio
import re
import time as clock
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

import pytest

from bench.scale_out import seed_connections
from bot.calendar.port import STAFF_SCOPES
from bot.digest import Digests
from bot.tokens import TokenCipher
from sandbox.fake_slack import text_of
from tests.conftest import (
    ALICE,
    BOB,
    CHANNEL,
    OWNER,
    SHARED_KEY,
    TEAM,
    RunningBot,
    serve_bot,
)
from tests.helpers import eventually, most_at_once, wait_until
from tests.scenarios.flows import (
    ALICE_EMAIL,
    NEW_YORK,
    PRIMARY_EMAIL,
    at,
    connect,
    live_status,
)

TITLE = "Today's availability"


def next_working_day() -> date:
    day = datetime.now(NEW_YORK).date() + timedelta(days=1)
    while day.weekday() >= 5:
        day += timedelta(days=1)
    return day


def digests_at(
    bot: RunningBot, moment: datetime, *, concurrency: int = 16, under_way: int | None = None
) -> Digests:
    """The bot's digest service, on a clock stopped at `moment`."""
    services = bot.services
    return Digests(
        digests=services.digest_store,
        staff=services.staff,
        poster=services.poster,
        people=services.people,
        clock=lambda: moment,
        concurrency=concurrency,
        under_way=under_way,
        part_pause=0,
    )


def digests_in(bot: RunningBot, channel: str = CHANNEL) -> list[dict[str, Any]]:
    return [m for m in bot.slack.messages(channel) if TITLE in (m.get("text") or "")]


@pytest.fixture
async def team(bot: RunningBot) -> RunningBot:
    """A New York channel where Alice has connected, Bob has not."""
    await answer(bot, "settings timezone America/New_York")
    assert (await connect(bot, user=ALICE, email=ALICE_EMAIL))[0] == 200
    return bot


async def answer(bot: RunningBot, text: str) -> str:
    """`/tonomo text` from the owner: the text of the reply that follows the ack."""
    before = len(bot.slack.responses)
    sent = await bot.slack.send_slash_command(
        bot.events_url, user_id=OWNER, channel_id=CHANNEL, text=text
    )
    assert sent.status == 200
    await wait_until(lambda: len(bot.slack.responses) > before)
    return text_of(bot.slack.responses[before])


async def test_the_digest_says_who_is_free_how_many_shoots_fit_and_who_is_missing(
    team: RunningBot,
) -> None:
    day = next_working_day()
    team.google.add_event(ALICE_EMAIL, start=at(day, 9), end=at(day, 12), summary="Shoot")
    await team.services.people.channel_changed(TEAM, CHANNEL, datetime.now(UTC))  # read afresh
    listed = len(team.slack.requests.matching("/api/conversations.members$"))
    result = await digests_at(team, at(day, 7)).run_due()
    assert result.sent == 1
    assert len(team.slack.requests.matching("/api/conversations.members$")) == listed + 1, (
        "the channel's members are listed once a digest"
    )

    (digest,) = digests_in(team)
    text = text_of(digest)
    assert f"<@{ALICE}>: 12pm–5pm" in text and "3 × 1h30m fit" in text
    assert "Not connected yet:" in text and f"<@{BOB}>" in text and f"<@{OWNER}>" in text
    assert "Shoot" not in text.replace("Shoots counted", ""), "never an event's title"
    assert "Read live from Google at 7am (America/New_York)" in text
    assert any(
        e.get("action_id") == "connect_mine"
        for b in digest["blocks"]
        for e in b.get("elements", [])
    )


async def test_the_channel_s_people_are_listed_while_google_answers(team: RunningBot) -> None:
    await team.services.people.channel_changed(TEAM, CHANNEL, datetime.now(UTC))
    team.slack.faults.latency = 0.3
    began = clock.time()
    try:
        assert (await digests_at(team, at(next_working_day(), 7)).run_due()).sent == 1
    finally:
        team.slack.faults.latency = 0
    (read,) = [r for r in team.google.requests.matching("/freeBusy$") if r.at >= began]
    (listed,) = [
        r for r in team.slack.requests.matching("/api/conversations.members$") if r.at >= began
    ]
    assert read.at < listed.at + 0.3, "the calendars are read before Slack has answered"


def working_day_after(day: date) -> date:
    day += timedelta(days=1)
    while day.weekday() >= 5:
        day += timedelta(days=1)
    return day


def lookups(bot: RunningBot) -> int:
    """Slack asked about the channel: its members, or whether it is shared."""
    return len(bot.slack.requests.matching(r"^/api/conversations\.(members|info)$"))


def not_connected_in(digest: dict[str, Any]) -> str:
    (line,) = [ln for ln in text_of(digest).splitlines() if "Not connected yet:" in ln]
    return line


async def test_the_next_day_s_digest_asks_slack_only_to_post(team: RunningBot) -> None:
    """The channel's members and sharing, read by one day's digest, are kept for the next:
    it names the same people without asking Slack about the channel."""
    first = next_working_day()
    assert (await digests_at(team, at(first, 7)).run_due()).sent == 1
    asked = lookups(team)
    customer = await team.services.store.find_customer(TEAM, CHANNEL)
    assert customer is not None and customer.channel_members is not None
    assert {OWNER, ALICE, BOB} <= set(customer.channel_members.split())
    assert customer.channel_ext_shared is False

    assert (await digests_at(team, at(working_day_after(first), 7)).run_due()).sent == 1
    assert lookups(team) == asked, "no conversations.members, no conversations.info"
    yesterday, today = digests_in(team)
    assert not_connected_in(today) == not_connected_in(yesterday)
    assert f"<@{BOB}>" in not_connected_in(today) and f"<@{ALICE}>: " in text_of(today)


async def test_someone_who_left_is_not_named_the_next_day_whichever_instance_heard_it(
    team: RunningBot, database_url: str
) -> None:
    first = next_working_day()
    assert (await digests_at(team, at(first, 7)).run_due()).sent == 1
    asked = lookups(team)
    async with serve_bot(team.google, team.slack, database_url) as other:
        team.slack.remove_member(CHANNEL, BOB)
        event = {"type": "member_left_channel", "user": BOB, "channel": CHANNEL}
        sent = await team.slack.send_event(other.events_url, event | {"team": TEAM})
        assert sent.status == 200

        async def dropped() -> bool:
            customer = await team.services.store.find_customer(TEAM, CHANNEL)
            return customer is not None and customer.channel_members is None

        await eventually(dropped)
    assert (await digests_at(team, at(working_day_after(first), 7)).run_due()).sent == 1
    assert lookups(team) == asked + 2, "the channel read afresh"
    _, today = digests_in(team)
    assert f"<@{BOB}>" not in text_of(today) and f"<@{OWNER}>" in not_connected_in(today)


async def test_a_channel_shared_or_unshared_since_is_read_afresh(team: RunningBot) -> None:
    first = next_working_day()
    assert (await digests_at(team, at(first, 7)).run_due()).sent == 1
    event = {"type": "channel_shared", "connected_team_id": "E0OTHER", "channel": CHANNEL}
    assert (await team.slack.send_event(team.events_url, event)).status == 200

    async def changed_at() -> datetime | None:
        customer = await team.services.store.find_customer(TEAM, CHANNEL)
        assert customer is not None
        return customer.channel_changed_at

    first_change = await eventually(changed_at)
    # Slack delivering it again (its retry of an event it thinks was missed): acked, and
    # it only drops what is already dropped.
    again = await team.slack.send_event(team.events_url, event, retry_num=1, retry_reason="x")
    assert again.status == 200

    async def changed_again() -> bool:
        return (await changed_at() or first_change) > first_change

    await eventually(changed_again)
    infos = len(team.slack.requests.matching(r"^/api/conversations\.info$"))
    assert (await digests_at(team, at(working_day_after(first), 7)).run_due()).sent == 1
    assert len(team.slack.requests.matching(r"^/api/conversations\.info$")) == infos + 1
    customer = await team.services.store.find_customer(TEAM, CHANNEL)
    assert customer is not None and customer.channel_members is not None, "kept again"

    # Unshared without saying which channel (a malformed event): acknowledged, and the bot
    # goes on to hear the next one.
    odd = {"type": "channel_unshared", "previously_connected_team_id": "E0OTHER"}
    assert (await team.slack.send_event(team.events_url, odd)).status == 200
    unshared = odd | {"channel": CHANNEL, "is_ext_shared": False}
    assert (await team.slack.send_event(team.events_url, unshared)).status == 200

    async def dropped() -> bool:
        customer = await team.services.store.find_customer(TEAM, CHANNEL)
        return customer is not None and customer.channel_members is None

    await eventually(dropped)


async def test_what_slack_would_not_say_is_not_kept(team: RunningBot) -> None:
    """`conversations.info` failing: the digest names the people with no calendar as
    before (the channel taken as not shared), and is posted; nothing is kept, so the next
    day asks again. `conversations.members` failing: posted without them, nothing kept."""
    first, second = next_working_day(), working_day_after(next_working_day())
    await team.services.people.channel_changed(TEAM, CHANNEL, datetime.now(UTC))  # read afresh
    team.slack.server_error("conversations.info", times=None)
    try:
        assert (await digests_at(team, at(first, 7)).run_due()).sent == 1
    finally:
        team.slack.faults.clear()
    (digest,) = digests_in(team)
    assert f"<@{BOB}>" in not_connected_in(digest)
    customer = await team.services.store.find_customer(TEAM, CHANNEL)
    assert customer is not None and customer.channel_members is None, "nothing kept"

    team.slack.server_error("conversations.members", times=None)
    try:
        assert (await digests_at(team, at(second, 7)).run_due()).sent == 1
    finally:
        team.slack.faults.clear()
    _, digest = digests_in(team)
    assert "Not connected yet" not in text_of(digest) and f"<@{ALICE}>: " in text_of(digest)
    customer = await team.services.store.find_customer(TEAM, CHANNEL)
    assert customer is not None and customer.channel_members is None, "still nothing kept"

    third = working_day_after(second)
    asked = lookups(team)
    assert (await digests_at(team, at(third, 7)).run_due()).sent == 1
    assert lookups(team) == asked + 2, "asked again"
    assert f"<@{BOB}>" in not_connected_in(digests_in(team)[-1])


async def test_once_a_day_at_its_time_and_late_rather_than_never(team: RunningBot) -> None:
    day = next_working_day()
    assert (await digests_at(team, at(day, 6, 59)).run_due()).sent == 0
    assert (await digests_at(team, at(day, 15)).run_due()).sent == 1, "missed at 7: sent late"
    assert (await digests_at(team, at(day, 16)).run_due()).sent == 0
    assert len(digests_in(team)) == 1
    saturday = day + timedelta(days=(5 - day.weekday()) % 7)
    assert (await digests_at(team, at(saturday, 9)).run_due()).sent == 0, "not on a day off"


async def test_digest_settings(team: RunningBot) -> None:
    day = next_working_day()
    reply = await answer(team, "digest at 7:30")
    assert "on, at 7:30am on working days (Mon–Fri), America/New_York" in reply
    assert (await digests_at(team, at(day, 7, 15)).run_due()).sent == 0
    assert (await digests_at(team, at(day, 7, 30)).run_due()).sent == 1

    await answer(team, "digest off")
    assert (await digests_at(team, at(day + timedelta(days=7), 8)).run_due()).sent == 0
    assert "*Daily digest:* off" in await answer(team, "settings")


async def test_digest_now_posts_at_once_and_counts_as_today_s(team: RunningBot) -> None:
    await team.slack.send_slash_command(
        team.events_url, user_id=OWNER, channel_id=CHANNEL, text="digest now"
    )
    await wait_until(lambda: len(digests_in(team)) == 1)
    now = datetime.now(NEW_YORK)
    if now.weekday() < 5 and now.time() >= time(7):
        assert (await digests_at(team, now).run_due()).sent == 0


async def test_two_instances_send_one_digest(google: Any, slack: Any, database_url: str) -> None:
    channels = [f"C0SHOP{n}" for n in range(6)]
    async with (
        serve_bot(google, slack, database_url) as one,
        serve_bot(google, slack, database_url) as two,
    ):
        for channel in channels:
            slack.add_channel(channel, name=channel.lower(), members=[OWNER, ALICE])
            await one.services.store.add_customer(
                team_id=TEAM, channel_id=channel, timezone="America/New_York", registered_by=OWNER
            )
        moment = at(next_working_day(), 8)
        results = await asyncio.gather(
            digests_at(one, moment).run_due(), digests_at(two, moment).run_due()
        )
        assert sum(r.sent for r in results) == len(channels)
        assert [len(digests_in(one, c)) for c in channels] == [1] * len(channels)


async def test_a_restart_in_the_middle_of_a_run_neither_loses_nor_doubles(
    bot: RunningBot,
) -> None:
    channels = [f"C0SHOP{n}" for n in range(8)]
    for channel in channels:
        bot.slack.add_channel(channel, name=channel.lower(), members=[OWNER])
        await bot.services.store.add_customer(
            team_id=TEAM, channel_id=channel, timezone="America/New_York", registered_by=OWNER
        )
    bot.slack.faults.latency = 0.05  # so that the run is stopped half-way
    moment = at(next_working_day(), 8)
    stopping = digests_at(bot, moment, concurrency=2, under_way=2)
    run = asyncio.create_task(stopping.run_due())
    await wait_until(lambda: any(digests_in(bot, c) for c in channels))
    run.cancel()  # the instance stops, as its scheduler does: cancel, then drain
    with pytest.raises(asyncio.CancelledError):
        await run
    await stopping.drain()
    sent_before_the_restart = sum(len(digests_in(bot, c)) for c in channels)
    assert 0 < sent_before_the_restart < len(channels)
    bot.slack.faults.latency = 0
    # The next instance, later: whatever the stopped one had not begun is due.
    await digests_at(bot, moment + timedelta(minutes=1)).run_due()
    assert [len(digests_in(bot, c)) for c in channels] == [1] * len(channels)


async def test_later_digests_read_their_calendars_while_earlier_ones_wait_on_slack(
    bot: RunningBot,
) -> None:
    """One digest reads calendars at a time (`concurrency`), and four are under way: the
    others' Slack lookups and posts don't hold up the next one's reads."""
    accounts = []
    for n in range(4):
        email = f"staff{n}@shop.example"
        access, refresh = bot.google.issue_tokens(email, list(STAFF_SCOPES))
        accounts.append({"email": email, "access_token": access, "refresh_token": refresh})
    shops = await seed_connections(
        bot.services.engine, TokenCipher(SHARED_KEY), accounts, per_customer=1
    )
    for n, shop in enumerate(shops):
        staff = f"U0STAFF{n:05d}"
        bot.slack.add_user(staff, name=f"staff{n}")
        bot.slack.add_channel(shop.channel_id, name=f"shop-{n}", members=[OWNER, staff])
        await bot.services.digest_store.set_schedule(shop.id, enabled=True, at="07:00")
    bot.google.faults.latency, bot.slack.faults.latency = 0.2, 0.5

    result = await digests_at(bot, at(next_working_day(), 8), concurrency=1).run_due()

    assert (result.sent, result.failed) == (4, 0)
    for shop in shops:
        (digest,) = digests_in(bot, shop.channel_id)
        assert "No free time today" not in text_of(digest), "each calendar was read"
    reads = bot.google.requests.matching(r"/freeBusy$")
    posts = bot.slack.requests.matching(r"^/api/chat\.postMessage$")
    assert len(reads) == 4 and most_at_once(reads, within=0.15) == 1, "one digest at a time"
    assert max(r.at for r in reads) < min(p.at for p in posts), "no read waited for a post"
    lookups = bot.slack.requests.matching(r"^/api/conversations\.info$")
    assert most_at_once(lookups, within=0.4) == 4, "four under way for one reading"


async def test_slack_rate_limits_delay_digests_but_lose_none(bot: RunningBot) -> None:
    channels = [f"C0SHOP{n}" for n in range(4)]
    for channel in channels:
        bot.slack.add_channel(channel, name=channel.lower(), members=[OWNER])
        await bot.services.store.add_customer(
            team_id=TEAM, channel_id=channel, timezone="America/New_York", registered_by=OWNER
        )
    bot.slack.rate_limit("chat.postMessage", retry_after=1, times=3)
    result = await digests_at(bot, at(next_working_day(), 8)).run_due()
    assert result.sent == len(channels)
    assert [len(digests_in(bot, c)) for c in channels] == [1] * len(channels)


async def test_a_channel_that_can_t_be_posted_in_pauses_its_digest(team: RunningBot) -> None:
    team.slack.remove_bot_from_channel(CHANNEL)
    day = next_working_day()
    assert (await digests_at(team, at(day, 8)).run_due()).sent == 0
    assert (await digests_at(team, at(day, 9)).run_due()).sent == 0, "paused, not retried"
    assert "can't post alerts or the daily digest here" in text_of(await live_status(team))

    team.slack.add_member(CHANNEL, team.slack.bot_user_id)
    await live_status(team)  # a command in the channel shows it is back
    assert (await digests_at(team, at(day, 10)).run_due()).sent == 1, "back: sent late"


async def test_the_digest_names_whoever_has_no_calendar_of_their_own(team: RunningBot) -> None:
    # Olivia connected the business's primary calendar (a shared account), not her own.
    assert (await connect(team, user=OWNER, email=PRIMARY_EMAIL, primary=True))[0] == 200
    await answer_or_post(team, f"settings onboarder <@{BOB}|bob>")
    day = next_working_day()
    assert (await digests_at(team, at(day, 7)).run_due()).sent == 1
    text = text_of(digests_in(team)[-1])
    waiting = text[text.index("Not connected yet:") :].split(".")[0]
    assert f"<@{OWNER}>" in waiting, "the primary calendar isn't Olivia's own"
    assert f"<@{BOB}>" not in text, "an onboarder is never named"


async def test_cancelled_bookings_are_not_the_usual_shoot_length(team: RunningBot) -> None:
    assert (await connect(team, user=OWNER, email=PRIMARY_EMAIL, primary=True))[0] == 200
    day = next_working_day() + timedelta(days=7)
    alice = f"<@{ALICE}|alice>"
    assert "Booked" in await booked(team, f"book {alice} {day.isoformat()} 9:00 1h Kitchen")
    for later in (day + timedelta(days=1), day + timedelta(days=2)):
        reply = await booked(team, f"book {alice} {later.isoformat()} 10:00 4h Estate")
        short_id = re.search(r"`([0-9A-Z]{6})`", reply)
        assert short_id is not None, reply
        await answer_or_post(team, f"cancel {short_id[1]}")
    assert (await digests_at(team, at(next_working_day(), 7)).run_due()).sent == 1
    text = text_of(digests_in(team)[-1])
    assert "Shoots counted at 1h, your usual length" in text, text


async def booked(bot: RunningBot, text: str) -> str:
    """A booking command: the text of the channel's booking message."""
    posts = len(bot.slack.messages(CHANNEL))
    sent = await bot.slack.send_slash_command(
        bot.events_url, user_id=OWNER, channel_id=CHANNEL, text=text
    )
    assert sent.status == 200
    try:
        await wait_until(lambda: len(bot.slack.messages(CHANNEL)) > posts)
    except AssertionError:
        raise AssertionError([text_of(r) for r in bot.slack.responses]) from None
    return text_of(bot.slack.messages(CHANNEL)[-1])


async def answer_or_post(bot: RunningBot, text: str) -> None:
    """A command whose answer goes to the person or to the channel: sent, and answered."""
    posts, responses = len(bot.slack.messages(CHANNEL)), len(bot.slack.responses)
    sent = await bot.slack.send_slash_command(
        bot.events_url, user_id=OWNER, channel_id=CHANNEL, text=text
    )
    assert sent.status == 200
    await wait_until(
        lambda: len(bot.slack.messages(CHANNEL)) > posts or len(bot.slack.responses) > responses
    )
