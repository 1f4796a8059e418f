"""`timeoff` end to end: whole local days off, set (in the channel, with an id), listed and
removed; once per request; staff their own, the owner anyone's; counted wherever free time
is (availability, the week's grid, booking, `why`, the digest), across clock changes; bad
days refused kindly; the database down while setting.

On SQLite and PostgreSQL, through the real server and the emulators.
"""

from __future__ import annotations

import re
from contextlib import AbstractAsyncContextManager
from datetime import date, datetime, timedelta
from typing import Any

from sandbox import faults
from sandbox.fake_slack import text_of
from storage.models import BookingStatus, TimeOff
from tests.conftest import ALICE, BOB, CHANNEL, OWNER, POSTGRES_URL, RunningBot
from tests.helpers import wait_until
from tests.scenarios import test_people as shared
from tests.scenarios.flows import (
    NEW_YORK,
    PRIMARY_EMAIL,
    SHORT_ID,
    answered,
    at,
    book,
    bookings,
    channel_posts,
    command,
    next_clock_change,
    next_weekday,
    rows,
    sent_twice,
    set_up,
    shown_day,
    team,
    why,
)
from tests.scenarios.test_digest import digests_at, digests_in
from tests.scenarios.test_people import shared_channel

__all__ = ["shared_channel", "team"]  # the fixtures, used by name

TIME_OFF_ID = re.compile(r"Id `([0-9A-Z]{4})`")
TIME_OFF_FORM = "Try: `/tonomo timeoff [@user] DAY[..DAY] [REASON…] | timeoff | timeoff cancel ID`"


def ny_today() -> date:
    return datetime.now(NEW_YORK).date()


async def time_off(bot: RunningBot, text: str, *, user: str = OWNER) -> dict[str, Any]:
    """`/tonomo timeoff …` that is set: the channel's notice (the ack says nothing)."""
    posts = len(channel_posts(bot))
    sent = await bot.slack.send_slash_command(
        bot.events_url, user_id=user, channel_id=CHANNEL, text=f"timeoff {text}"
    )
    assert sent.status == 200 and not sent.body.strip()
    await wait_until(lambda: len(channel_posts(bot)) > posts)
    (notice,) = channel_posts(bot)[posts:]
    return notice


def bot_posts(bot: RunningBot) -> list[dict[str, Any]]:
    """What the bot posted in the channel (people's own messages left out)."""
    return [m for m in channel_posts(bot) if m.get("user") == bot.slack.bot_user_id]


def id_in(notice: dict[str, Any]) -> str:
    found = TIME_OFF_ID.search(text_of(notice))
    assert found is not None, text_of(notice)
    return found[1]


# --- set, list, cancel ----------------------------------------------------------------------


async def test_time_off_is_set_in_the_channel_listed_and_removed(team: RunningBot) -> None:
    first = next_weekday()
    last = first + timedelta(days=2)
    notice = await time_off(team, f"<@{ALICE}|alice> {first}..{last} Holidays <!channel>")
    text = text_of(notice)
    assert f":palm_tree: <@{ALICE}> is off {shown_day(first)}" in text and shown_day(last) in text
    assert "(Holidays @channel)" in text and "<!channel>" not in text, "a typed ping pings no one"
    assert f"Set by <@{OWNER}>" in text
    holidays = id_in(notice)

    # Alice sets her own, one day, with no reason (no mention: herself).
    dentist_day = last + timedelta(days=5)
    own = text_of(await time_off(team, f"{dentist_day.isoformat()}", user=ALICE))
    assert f"<@{ALICE}> is off {shown_day(dentist_day)}:" in own and "Set by" not in own
    own_id = id_in({"text": own})

    stored = await rows(team, TimeOff)
    assert [(r.short_id, r.slack_user_id, r.first_day, r.last_day, r.reason) for r in stored] == [
        (holidays, ALICE, first, last, "Holidays @channel"),
        (own_id, ALICE, dentist_day, dentist_day, ""),
    ]
    assert [r.created_by for r in stored] == [OWNER, ALICE]

    # Anyone may list them: to themselves, the soonest first, with ids.
    listed = await answered(team, "timeoff", user=BOB)
    shown = text_of(listed)
    assert shown.index(f"`{holidays}`") < shown.index(f"`{own_id}`")
    assert f"• <@{ALICE}>: {shown_day(first)}" in shown

    # Removed by id, in any case; said in the channel.
    posts = len(channel_posts(team))
    await team.slack.send_slash_command(
        team.events_url,
        user_id=OWNER,
        channel_id=CHANNEL,
        text=f"timeoff cancel {holidays.lower()}",
    )
    await wait_until(lambda: len(channel_posts(team)) > posts)
    removed = text_of(channel_posts(team)[-1])
    assert f"<@{ALICE}>'s time off {shown_day(first)}" in removed
    assert f"removed by <@{OWNER}>: bookable again" in removed
    (gone, kept) = await rows(team, TimeOff)
    assert gone.cancelled_by == OWNER and gone.cancelled_at is not None
    assert kept.cancelled_at is None
    assert f"`{holidays}`" not in text_of(await answered(team, "timeoff"))

    again = text_of(await answered(team, f"timeoff cancel {holidays}"))
    assert f"Time off `{holidays}` was already removed" in again
    unknown = text_of(await answered(team, "timeoff cancel ZZZZ"))
    assert "I can't find time off `ZZZZ` here" in unknown and "`@Tonomo timeoff` lists" in unknown
    assert len(channel_posts(team)) == posts + 1, "only the removal was said in the channel"

    await team.slack.send_slash_command(
        team.events_url, user_id=ALICE, channel_id=CHANNEL, text=f"timeoff cancel {own_id}"
    )
    await wait_until(lambda: len(channel_posts(team)) > posts + 1)
    assert f"removed by <@{ALICE}>" in text_of(channel_posts(team)[-1])
    assert "No time off coming up" in text_of(await answered(team, "timeoff"))


async def test_a_retried_request_adds_once(team: RunningBot) -> None:
    day = next_weekday()
    posts = len(bot_posts(team))
    await sent_twice(team, f"timeoff <@{BOB}|bob> {day.isoformat()} Wedding")
    await wait_until(lambda: any("already set" in text_of(r) for r in team.slack.responses))
    # The first request's post may land after the second's reply; a double shows below.
    await wait_until(lambda: len(bot_posts(team)) == posts + 1)
    (row,) = await rows(team, TimeOff)
    assert f"id `{row.short_id}`" in next(
        text_of(r) for r in team.slack.responses if "already set" in text_of(r)
    )

    # A mention Slack delivers twice (the same event id) is answered once.
    _, mentioned = await team.slack.send_message(
        team.events_url,
        user_id=ALICE,
        channel_id=CHANNEL,
        text=f"<@{team.slack.bot_user_id}> timeoff {day.isoformat()} Wedding",
    )
    assert mentioned is not None
    again = await team.slack.redeliver(team.events_url, mentioned, retry_num=1)
    assert again.status == 200
    await wait_until(lambda: len(bot_posts(team)) == posts + 2)
    await answered(team, "timeoff")  # a later command was answered: so were the redeliveries
    assert [(r.slack_user_id, r.reason) for r in await rows(team, TimeOff)] == [
        (BOB, "Wedding"),
        (ALICE, "Wedding"),
    ]
    assert len(bot_posts(team)) == posts + 2


# --- who may ----------------------------------------------------------------------------------


async def test_staff_set_and_remove_their_own_and_the_owner_anyone_s(team: RunningBot) -> None:
    day = next_weekday()
    refused = text_of(await answered(team, f"timeoff <@{BOB}|bob> {day} Flu", user=ALICE))
    assert f"Only <@{OWNER}> (the owner) or an onboarder" in refused
    assert "someone else's time off" in refused and "You can set your own" in refused
    assert await rows(team, TimeOff) == []

    alices = id_in(await time_off(team, f"<@{ALICE}|alice> {day} Dentist", user=ALICE))
    bobs = id_in(await time_off(team, f"<@{BOB}|bob> {day} Flu"))  # the owner: anyone's

    not_his = text_of(await answered(team, f"timeoff cancel {alices}", user=BOB))
    assert f"That is <@{ALICE}>'s time off" in not_his
    assert f"only they, the owner (<@{OWNER}>) or an onboarder" in not_his
    assert all(r.cancelled_at is None for r in await rows(team, TimeOff))

    posts = len(channel_posts(team))
    await team.slack.send_slash_command(
        team.events_url, user_id=BOB, channel_id=CHANNEL, text=f"timeoff cancel {bobs}"
    )
    await team.slack.send_slash_command(
        team.events_url, user_id=OWNER, channel_id=CHANNEL, text=f"timeoff cancel {alices}"
    )
    await wait_until(lambda: len(channel_posts(team)) == posts + 2)
    cancelled_by = {r.slack_user_id: r.cancelled_by for r in await rows(team, TimeOff)}
    assert cancelled_by == {ALICE: OWNER, BOB: BOB}


async def test_people_of_another_organisation_use_the_mention(shared_channel: RunningBot) -> None:
    bot = shared_channel
    await shared.connect_by_mention(bot, shared.OLIVIA, PRIMARY_EMAIL, primary=True)
    day = next_weekday()

    def notices() -> list[str]:
        messages = bot.slack.messages(shared.CHANNEL)
        return [text_of(m) for m in messages if ":palm_tree:" in text_of(m)]

    await shared.say(bot, shared.ALICE, f"timeoff {day.isoformat()} Dentist")
    await wait_until(lambda: len(notices()) == 1)
    assert f"<@{shared.ALICE}> is off {shown_day(day)} (Dentist)" in notices()[0]

    refused = await shared.mention(bot, shared.ALICE, f"timeoff <@{shared.OLIVIA}> {day}")
    assert f"Only <@{shared.OLIVIA}> (the owner) or an onboarder" in text_of(refused)
    assert refused["user"] == shared.ALICE
    # Sam, the vendor's onboarder, may set anyone's.
    await shared.say(bot, shared.SAM, f"timeoff <@{shared.OLIVIA}> {day.isoformat()} Trade fair")
    await wait_until(lambda: len(notices()) == 2)
    assert f"Set by <@{shared.SAM}>" in notices()[1]

    listed = await shared.mention(bot, shared.ALICE, "timeoff")
    assert listed["user"] == shared.ALICE
    assert "Dentist" in text_of(listed) and "Trade fair" in text_of(listed)
    assert {(r.slack_user_id, r.created_by) for r in await rows(bot, TimeOff)} == {
        (shared.ALICE, shared.ALICE),
        (shared.OLIVIA, shared.SAM),
    }


# --- time off counts everywhere --------------------------------------------------------------


def grid_days(answer: str) -> list[date]:
    """The days of the week's grid, from its header (`Mon 14 Tue 15 …`)."""
    header = next(line for line in answer.splitlines() if line.startswith("```"))
    candidates = [ny_today() + timedelta(days=n) for n in range(22)]
    return [
        next(d for d in candidates if f"{d:%a} {d.day}" == f"{name} {number}")
        for name, number in re.findall(r"(Mon|Tue|Wed|Thu|Fri|Sat|Sun) (\d{1,2})", header)
    ]


def grid_row(answer: str, name: str) -> list[str]:
    row = next(line for line in answer.splitlines() if line.strip("`").startswith(name))
    return row.strip("`").split()[1:]


async def test_time_off_counts_in_availability_booking_why_and_the_digest(
    team: RunningBot,
) -> None:
    week = text_of(await command(team, "availability next week", follow_up=True))
    tuesday = grid_days(week)[1]
    thursday = tuesday + timedelta(days=2)
    posted = await book(team, f"<@{ALICE}|alice> {tuesday.isoformat()} 10:00 1h Kitchen photos")
    (kept,) = SHORT_ID.findall(text_of(posted))[:1]
    await book(team, f"<@{BOB}|bob> {tuesday.isoformat()} 10:00 1h Not hers")

    notice = text_of(await time_off(team, f"<@{ALICE}|alice> {tuesday}..{thursday} Holidays"))
    # Her booking in those days is left as it is, and named, to be moved or cancelled.
    assert f"<@{ALICE}> still has 1 booking in those days" in notice
    assert f"`{kept}` {shown_day(tuesday)} 10am–11am Kitchen photos" in notice
    assert "Not hers" not in notice
    assert [b.status for b in await bookings(team)] == [BookingStatus.BOOKED] * 2

    day = text_of(await command(team, f"availability {tuesday.isoformat()}", follow_up=True))
    assert f"• <@{ALICE}>: time off (Holidays)" in day
    assert f"• <@{BOB}>: 9am–10am, 11am–5pm" in day

    week = text_of(await command(team, "availability next week", follow_up=True))
    assert grid_days(week)[1] == tuesday
    assert grid_row(week, "alice") == ["8h", "away", "away", "away", "8h"]
    assert grid_row(week, "bob") == ["8h", "7h", "8h", "8h", "8h"]
    assert f"<@{ALICE}>: time off {shown_day(tuesday)} to {shown_day(thursday)} (Holidays)" in week

    conflict = text_of(await book(team, f"<@{ALICE}|alice> {thursday} 14:00 1h Drone shoot"))
    assert f"time off (Holidays, {shown_day(tuesday)} to {shown_day(thursday)}" in conflict
    assert len(team.google.events(PRIMARY_EMAIL)) == 2, "nothing booked in her time off"
    assert len(await bookings(team)) == 2

    reasons = text_of(await why(team, f"<@{ALICE}|alice> {thursday.isoformat()} 14:00"))
    assert f"time off (Holidays, {shown_day(tuesday)} to {shown_day(thursday)}" in reasons

    digests = digests_at(team, at(tuesday, 7))
    assert (await digests.run_due()).sent == 1
    digest = text_of(digests_in(team)[-1])
    assert f"• <@{ALICE}>: time off (Holidays)" in digest
    assert f"<@{BOB}>: 9am–10am, 11am–5pm" in digest


# --- clock changes ---------------------------------------------------------------------------


async def test_the_day_the_clocks_change_is_one_whole_local_day(team: RunningBot) -> None:
    assert "every day" in await set_up(team, "settings hours 0:00-23:45 daily")
    for forward in (True, False):
        change = next_clock_change(forward=forward)
        after = change + timedelta(days=1)
        await time_off(team, f"<@{ALICE}|alice> {change.isoformat()} Clocks")

        late = text_of(await book(team, f"<@{ALICE}|alice> {change} 23:30 15m Night shoot"))
        assert f"time off (Clocks, {shown_day(change)}" in late
        early = text_of(await book(team, f"<@{ALICE}|alice> {change} 0:15 15m Night shoot"))
        assert "time off (Clocks" in early
        posted = text_of(await book(team, f"<@{ALICE}|alice> {after} 0:30 1h Dawn shoot"))
        assert "Booked" in posted and "12:30am–1:30am" in posted

        day = text_of(await command(team, f"availability {change.isoformat()}", follow_up=True))
        assert f"<@{ALICE}>: time off (Clocks)" in day
        free = text_of(await why(team, f"<@{ALICE}|alice> {after.isoformat()} 0:00 30m"))
        assert f"<@{ALICE}> is free" in free
    dawn = [b.starts_at for b in await bookings(team)]
    assert [s.astimezone(NEW_YORK).hour for s in dawn] == [0, 0]
    assert len(team.google.events(PRIMARY_EMAIL)) == 2


# --- mistakes and faults -----------------------------------------------------------------------


async def test_days_that_can_t_be_time_off_are_refused_kindly(bot: RunningBot) -> None:
    today = ny_today()
    cases = {
        f"timeoff <@{ALICE}|alice> {(today - timedelta(days=3)).isoformat()}": "in the past",
        f"timeoff {today + timedelta(days=9)}..{today + timedelta(days=8)} Trip": (
            "is before the first"
        ),
        f"timeoff {today}..{today + timedelta(days=366)}": "one time off covers at most 366",
        "timeoff mon-fri Trip": "Write a range of days with `..`",
        f"timeoff <@{ALICE}|alice>": "Give the day off",
        f"timeoff {today + timedelta(days=2)}..": "Give the last day",
        f"timeoff tomorrow {'x' * 201}": "keep it to 200",
        "timeoff someday": "`someday`",
        "timeoff cancel": "Give the id of the time off to remove",
        "timeoff cancel K7 Q2": "doesn't look like a time-off id",
    }
    for text, problem in cases.items():
        answer = text_of(await answered(bot, text))
        assert problem in answer and TIME_OFF_FORM in answer, (text, answer)
    assert await rows(bot, TimeOff) == []
    assert bot.slack.messages(CHANNEL) == []

    # Weekday words run forwards: Friday to the Monday after it.
    notice = text_of(await time_off(bot, "friday..monday Long weekend"))
    (row,) = await rows(bot, TimeOff)
    assert row.first_day.weekday() == 4 and row.last_day - row.first_day == timedelta(days=3)
    assert "Long weekend" in notice


async def test_the_database_down_while_setting_is_said_plainly_and_stores_nothing(
    team: RunningBot, database_url: str
) -> None:
    day = next_weekday()
    down: AbstractAsyncContextManager[None] = faults.database_down(
        team.services.engine, database_url, admin_url=POSTGRES_URL
    )
    async with down:
        before = len(team.slack.responses)
        sent = await team.slack.send_slash_command(
            team.events_url,
            user_id=OWNER,
            channel_id=CHANNEL,
            text=f"timeoff <@{ALICE}|alice> {day.isoformat()} Holidays",
        )
        assert sent.status == 200
        await wait_until(lambda: len(team.slack.responses) > before, timeout=10)
        told = team.slack.responses[before]
        assert told["response_type"] == "ephemeral" and told["user"] == OWNER
        assert "can't reach my records right now" in text_of(told)
        assert "try again" in text_of(told)
    assert await rows(team, TimeOff) == []
    assert not [m for m in channel_posts(team) if ":palm_tree:" in text_of(m)]
    # Once it is back, the same words set it, once.
    await time_off(team, f"<@{ALICE}|alice> {day.isoformat()} Holidays")
    assert [(r.slack_user_id, r.first_day) for r in await rows(team, TimeOff)] == [(ALICE, day)]


async def test_the_same_time_off_asked_again_in_a_new_request_is_kept_once(
    team: RunningBot,
) -> None:
    # As after a failure the person couldn't see past: the same days and reason, typed again.
    day = next_weekday()
    notice = await time_off(team, f"<@{BOB}|bob> {day.isoformat()} Wedding")
    again = await answered(team, f"timeoff <@{BOB}|bob> {day.isoformat()} Wedding")
    assert "already set" in text_of(again) and id_in(notice) in text_of(again)
    (row,) = await rows(team, TimeOff)
    assert (row.slack_user_id, row.first_day, row.reason) == (BOB, day, "Wedding")
    assert len([m for m in bot_posts(team) if ":palm_tree:" in text_of(m)]) == 1
    # Other days, or another reason, are other time off.
    await time_off(team, f"<@{BOB}|bob> {day.isoformat()} Moving house")
    assert len(await rows(team, TimeOff)) == 2
