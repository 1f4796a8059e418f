"""`why @user DAY TIME [DURATION]` end to end: every reason a time is not free, in the order
they end, through both doors, with calendars that can't be read; never an event's title.

The channel is New York's (`team`: the primary calendar, Alice's and Bob's connected), on
SQLite and PostgreSQL; Google is the emulator, read live by the real client.
"""

from __future__ import annotations

import re
import time as clock
from collections.abc import Iterator
from datetime import time
from itertools import pairwise
from typing import Any

import pytest

from bot import staff as staff_module
from sandbox.fake_slack import text_of
from tests.conftest import ALICE, BOB, CHANNEL, OWNER, RunningBot
from tests.helpers import wait_until
from tests.scenarios import test_people as shared
from tests.scenarios.flows import (
    ALICE_EMAIL,
    BOB_EMAIL,
    CAROL,
    SHORT_ID,
    at,
    book,
    channel_posts,
    command,
    next_clock_change,
    next_weekday,
    set_up,
    shown_day,
    team,
    why,
)
from tests.scenarios.test_people import shared_channel

__all__ = ["shared_channel", "team"]  # the fixtures, used by name

SECRET_TITLES = ("Therapy with Dr Zed", "Divorce lawyer", "Surprise party for Bob")
WHY_FORM = "Try: `/tonomo why @user DAY TIME [DURATION]`"
RANGE_12H = re.compile(r"(\d{1,2})(?::(\d\d))?(am|pm)–(\d{1,2})(?::(\d\d))?(am|pm)")


def everything_said(bot: RunningBot) -> str:
    """Every message anyone was shown: channel posts, ephemerals and responses."""
    seen = [*bot.slack.messages(CHANNEL), *bot.slack.ephemerals(), *bot.slack.responses]
    return "\n".join(text_of(m) for m in seen)


def order_of(text: str, parts: list[str]) -> list[int]:
    """Where each part is found in `text` (each must be there)."""
    for part in parts:
        assert part in text, f"{part!r} not in {text!r}"
    return [text.index(part) for part in parts]


def clock_12h(hour: str, minute: str | None, half: str) -> time:
    return time(int(hour) % 12 + (12 if half == "pm" else 0), int(minute or 0))


def ranges_in(line: str) -> Iterator[tuple[time, time]]:
    for match in RANGE_12H.finditer(line):
        yield clock_12h(*match.groups()[:3]), clock_12h(*match.groups()[3:])


def minutes_between(start: time, end: time) -> int:
    return (end.hour * 60 + end.minute) - (start.hour * 60 + start.minute)


# --- the reasons, in order ------------------------------------------------------------------


async def test_the_worked_example_every_reason_in_the_order_they_end(team: RunningBot) -> None:
    day = next_weekday()
    posted = await book(team, f"<@{ALICE}|alice> {day.isoformat()} 13:30 1h30m Shoot at 12 Main St")
    (short_id,) = SHORT_ID.findall(text_of(posted))[:1]
    # Her own calendar, later: busy 13:00–15:00 around the booking's invitation.
    team.google.add_event(ALICE_EMAIL, start=at(day, 13), end=at(day, 15), summary=SECRET_TITLES[0])
    assert "30m kept free" in await set_up(team, "settings buffer 30m")
    # The day is a week or two away: within 14 days' notice.
    assert "at least 14 days from now" in await set_up(team, "settings notice 14d")
    assert "is off" in await set_up(team, f"timeoff <@{ALICE}|alice> {day.isoformat()} Holidays")
    posts = len(channel_posts(team))

    answer = await why(team, f"<@{ALICE}|alice> {day.isoformat()} 14:00 4h")

    text = text_of(answer)
    assert f"<@{ALICE}> isn't free {shown_day(day)}" in text and "2pm–6pm" in text
    reasons = [
        "busy on their own calendar 1pm–3pm",
        f"booking {short_id} 1:30pm–3pm",
        f"30m kept free around booking {short_id} (3pm–3:30pm)",
        "outside working hours (9am–5pm, Mon–Fri)",
        f"time off (Holidays, {shown_day(day)}",
        "too soon: bookings need 14 days notice, so the earliest is",
    ]
    where = order_of(text.split("\n", 1)[1], reasons)  # the lines, past the one-line summary
    assert where == sorted(where), "in the order they end"
    assert "titles never shown" in text
    assert len(channel_posts(team)) == posts, "an answer to one person, nothing in the channel"
    assert SECRET_TITLES[0] not in everything_said(team)


async def test_a_free_time_and_the_default_length_of_one_step_on_either_clock(
    team: RunningBot,
) -> None:
    day = next_weekday()
    team.google.add_event(BOB_EMAIL, start=at(day, 12), end=at(day, 13), summary=SECRET_TITLES[2])

    free = text_of(await why(team, f"<@{BOB}|bob> {day.isoformat()} 10am"))
    assert f"<@{BOB}> is free {shown_day(day)}" in free and "10am–10:15am" in free
    assert "isn't" not in free

    assert "every 30m" in await set_up(team, "settings step 30m")
    longer = text_of(await why(team, f"<@{BOB}|bob> {day.isoformat()} 10:00"))
    assert "is free" in longer and "10am–10:30am" in longer, "one step: 30 minutes now"

    busy = text_of(await why(team, f"<@{BOB}|bob> {day.isoformat()} 11:30 1h"))
    assert "isn't free" in busy and "busy on their own calendar 12pm–1pm" in busy

    assert "24-hour" in await set_up(team, "settings clock 24h")
    busy = text_of(await why(team, f"<@{BOB}|bob> {day.isoformat()} 11:30 1h"))
    assert "11:30–12:30" in busy and "busy on their own calendar 12:00–13:00" in busy
    late = text_of(await why(team, f"<@{BOB}|bob> {day.isoformat()} 4:30pm 1h"))
    assert "outside working hours (9:00–17:00, Mon–Fri)" in late
    free = text_of(await why(team, f"<@{BOB}|bob> {day.isoformat()} 13:00 1h30m"))
    assert f"<@{BOB}> is free" in free and "13:00–14:30" in free
    assert SECRET_TITLES[2] not in everything_said(team)


async def test_every_busy_range_availability_shows_can_be_asked_about(team: RunningBot) -> None:
    day = next_weekday()
    google = team.google
    google.add_event(ALICE_EMAIL, start=at(day, 10), end=at(day, 11), summary=SECRET_TITLES[0])
    google.add_event(
        ALICE_EMAIL,
        start=at(day, 15, 10),
        end=at(day, 15, 40),
        summary=SECRET_TITLES[1],
        visibility="private",
    )
    posted = await book(team, f"<@{ALICE}|alice> {day.isoformat()} 13:30 1h Kitchen photos")
    (short_id,) = SHORT_ID.findall(text_of(posted))[:1]
    await set_up(team, "settings buffer 15m")

    answer = text_of(
        await command(team, f"availability <@{ALICE}|alice> {day.isoformat()}", follow_up=True)
    )
    line = next(line for line in answer.splitlines() if f"<@{ALICE}>:" in line)
    free = list(ranges_in(line))
    assert free == [
        (time(9), time(9, 45)),
        (time(11, 15), time(13, 15)),
        (time(14, 45), time(14, 55)),
        (time(15, 55), time(17)),
    ], line
    # Between the free ranges, within her hours, the time availability shows as taken.
    taken = [(a[1], b[0]) for a, b in pairwise(free)]
    expected = [
        [
            "15m kept free around busy time on their own calendar (9:45am–10am)",
            "busy on their own calendar 10am–11am",
            "15m kept free around busy time on their own calendar (11am–11:15am)",
        ],
        [
            f"15m kept free around booking {short_id} (1:15pm–1:30pm)",
            f"booking {short_id} 1:30pm–2:30pm",
            f"15m kept free around booking {short_id} (2:30pm–2:45pm)",
        ],
        [
            "15m kept free around busy time on their own calendar (2:55pm–3:10pm)",
            "busy on their own calendar 3:10pm–3:40pm",
            "15m kept free around busy time on their own calendar (3:40pm–3:55pm)",
        ],
    ]
    for (start, end), reasons in zip(taken, expected, strict=True):
        length = minutes_between(start, end)
        asked = f"<@{ALICE}|alice> {day.isoformat()} {start:%H:%M} {length}m"
        text = text_of(await why(team, asked))
        assert "isn't free" in text, text
        where = order_of(text.split("\n", 1)[1], reasons)
        assert where == sorted(where)
        # Her booking's invitation on her own calendar is the booking, said once.
        assert "busy on their own calendar 1:30pm–2:30pm" not in text
        # And its first minutes alone, one step long, are not free either.
        first = text_of(await why(team, f"<@{ALICE}|alice> {day.isoformat()} {start:%H:%M}"))
        assert "isn't free" in first and reasons[0] in first
    for start, end in free:
        length = minutes_between(start, end)
        asked = f"<@{ALICE}|alice> {day.isoformat()} {start:%H:%M} {length}m"
        assert f"<@{ALICE}> is free" in text_of(await why(team, asked))
    said = everything_said(team)
    assert all(title not in said for title in SECRET_TITLES)


# --- calendars that can't be read -----------------------------------------------------------


async def test_a_calendar_that_can_t_be_read_is_never_free(
    team: RunningBot, monkeypatch: pytest.MonkeyPatch
) -> None:
    day = next_weekday()
    asked = f"{day.isoformat()} 10:00 1h"
    # Google answering 503 (the client's own retries are the adapter tests' business).
    monkeypatch.setattr(team.services.calendar, "_num_retries", 0)
    fault = team.google.server_error(r"/freeBusy$", times=None)
    text = text_of(await why(team, f"<@{BOB}|bob> {asked}"))
    assert f"<@{BOB}> isn't free" in text and "is free" not in text
    assert "their calendar can't be read right now: Google didn't answer" in text
    assert "unknown, not free" in text
    team.google.faults.clear()
    assert fault.times is None

    # Bob's Google hanging past the read deadline: answered within it, as unknown.
    monkeypatch.setattr(staff_module, "READ_DEADLINE", 1.0)
    team.google.account_latency[BOB_EMAIL] = 3.0
    responses = len(team.slack.responses)
    started = clock.monotonic()
    sent = await team.slack.send_slash_command(
        team.events_url, user_id=OWNER, channel_id=CHANNEL, text=f"why <@{BOB}|bob> {asked}"
    )
    assert clock.monotonic() - started < 1.0, "acknowledged at once"
    assert "Checking the calendars" in sent.body
    await wait_until(lambda: len(team.slack.responses) > responses)
    assert clock.monotonic() - started < 2.5
    text = text_of(team.slack.responses[responses])
    assert "can't be read right now: Google didn't answer in time" in text
    assert "is free" not in text
    team.google.account_latency.clear()

    # Alice's access revoked at Google: it needs reconnecting; her booking still counts.
    posted = await book(team, f"<@{ALICE}|alice> {day.isoformat()} 11:00 1h Shoot")
    (short_id,) = SHORT_ID.findall(text_of(posted))[:1]
    team.google.revoke_account_tokens(ALICE_EMAIL)
    team.google.expire_access_tokens()
    text = text_of(await why(team, f"<@{ALICE}|alice> {day.isoformat()} 10:30 1h"))
    assert "their calendar can't be read: it needs reconnecting" in text
    assert f"booking {short_id} 11am–12pm" in text and "is free" not in text
    # And Bob, read again, is free: nothing was stored as broken by a slow or failing Google.
    assert f"<@{BOB}> is free" in text_of(await why(team, f"<@{BOB}|bob> {asked}"))


async def test_someone_not_connected_is_unknown_not_free(bot: RunningBot) -> None:
    bot.slack.add_user(CAROL, name="carol", tz="America/New_York")
    bot.slack.add_member(CHANNEL, CAROL)
    day = next_weekday()
    text = text_of(await why(bot, f"<@{CAROL}|carol> {day.isoformat()} 10:00"))
    assert f"<@{CAROL}> isn't free" in text
    assert "they haven't connected a calendar yet: their time is unknown, not free" in text


# --- the other door -------------------------------------------------------------------------


async def test_a_mention_in_a_thread_from_another_organisation(shared_channel: RunningBot) -> None:
    bot = shared_channel
    await shared.connect_by_mention(bot, shared.ALICE, ALICE_EMAIL)
    day = next_weekday()
    bot.google.add_event(ALICE_EMAIL, start=at(day, 14), end=at(day, 15), summary=SECRET_TITLES[1])
    parent, _ = await bot.slack.send_message(
        bot.events_url, user_id=shared.OLIVIA, channel_id=shared.CHANNEL, text="Is Alice free?"
    )

    def bot_posts() -> list[dict[str, Any]]:
        messages = bot.slack.messages(shared.CHANNEL)
        return [m for m in messages if m.get("user") == bot.slack.bot_user_id]

    posts = len(bot_posts())
    alice_saw = len(bot.slack.ephemerals(shared.CHANNEL, shared.ALICE))

    answer = await shared.mention(
        bot,
        shared.OLIVIA,
        f"why <@{shared.ALICE}> {day.isoformat()} 13:30 1h",
        thread_ts=parent["ts"],
    )

    assert answer["user"] == shared.OLIVIA and answer["thread_ts"] == parent["ts"]
    text = text_of(answer)
    assert f"<@{shared.ALICE}> isn't free" in text and "1:30pm–2:30pm" in text
    assert "busy on their own calendar 2pm–3pm" in text
    assert len(bot.slack.ephemerals(shared.CHANNEL, shared.ALICE)) == alice_saw
    assert len(bot_posts()) == posts, "nothing posted for all to see"
    # Alice asks about herself; the form of a mistake names the mention's door.
    mine = text_of(await shared.mention(bot, shared.ALICE, f"why <@{shared.ALICE}> {day} 16:00"))
    assert f"<@{shared.ALICE}> is free" in mine
    wrong = text_of(await shared.mention(bot, shared.ALICE, f"why {day.isoformat()} 16:00"))
    assert "Name the person" in wrong and "`@Tonomo why @user DAY TIME [DURATION]`" in wrong
    seen = [*bot.slack.messages(shared.CHANNEL), *bot.slack.ephemerals()]
    assert all(SECRET_TITLES[1] not in text_of(m) for m in seen)


# --- mistakes -------------------------------------------------------------------------------


async def test_mistakes_get_the_right_form(bot: RunningBot) -> None:
    day = next_weekday().isoformat()
    # Mistakes in the words are the acknowledgement's own answer.
    cases = {
        f"why {day} 10:00": "Name the person to look at, as a mention",
        "why @alice tomorrow 10:00": "I can't tell who `@alice` is",
        f"why <@{ALICE}|alice> someday 10:00": "`someday`",
        f"why <@{ALICE}|alice> {day} 25:00": "`25:00`",
        f"why <@{ALICE}|alice> {day} noonish": "I don't understand `noonish` as a time",
        f"why <@{ALICE}|alice> {day} 10:00 forever": "`forever`",
        f"why <@{ALICE}|alice> {day}": "give the day and the time",
        f"why <@{ALICE}|alice> <@{BOB}|bob> {day} 10:00": "one person at a time",
        f"why <@{ALICE}|alice> 2020-01-01 10:00": "in the past",
        f"why <@{ALICE}|alice> {day} 10:00 1h please": "`please` is extra",
    }
    for text, problem in cases.items():
        answer = text_of(await command(bot, text))
        assert problem in answer and WHY_FORM in answer, (text, answer)

    # A time the clocks skip is found out after the ack, in the customer's timezone.
    spring = next_clock_change(forward=True)
    skipped = text_of(
        await command(bot, f"why <@{ALICE}|alice> {spring.isoformat()} 2:30", follow_up=True)
    )
    assert "2:30am doesn't exist" in skipped and WHY_FORM in skipped
    # A time already gone says so (and that her time is unknown: not connected).
    gone = text_of(await command(bot, f"why <@{ALICE}|alice> today 0:00", follow_up=True))
    assert "that time has passed" in gone and "haven't connected" in gone
    assert bot.slack.messages(CHANNEL) == [], "mistakes are answered to the person alone"
