"""`settings buffer | notice | step` end to end: what each changes in availability, booking,
the times offered after a conflict, `why` and the digest; shown by `settings`; for the owner
and onboarders only; lengths out of range refused with the form.

On SQLite and PostgreSQL, through the real server and the emulators (`team`: New York, the
primary calendar, Alice's and Bob's connected).
"""

from __future__ import annotations

import json
from datetime import datetime, time, timedelta
from typing import Any

from sandbox.fake_slack import text_of
from tests.conftest import ALICE, BOB, CHANNEL, OWNER, TEAM, RunningBot
from tests.scenarios import test_people as shared
from tests.scenarios.flows import (
    ALICE_EMAIL,
    BOB_EMAIL,
    NEW_YORK,
    PRIMARY_EMAIL,
    SHORT_ID,
    answered,
    at,
    book,
    buttons,
    command,
    customer,
    next_weekday,
    set_up,
    team,
    why,
)
from tests.scenarios.test_digest import digests_at, digests_in
from tests.scenarios.test_people import shared_channel

__all__ = ["shared_channel", "team"]  # the fixtures, used by name

SETTINGS_FORM = "Try: `/tonomo settings timezone Area/City"


async def setting(bot: RunningBot, text: str, *, user: str = OWNER) -> str:
    """`/tonomo settings …`: the answer only `user` sees."""
    return text_of(await answered(bot, f"settings {text}", user=user))


def offered(reply: dict[str, Any]) -> list[datetime]:
    """The starts of the times a conflict offers (its slot buttons), on New York's clock."""
    starts = []
    for button in buttons(reply):
        try:
            value = json.loads(button.get("value", ""))
        except ValueError:
            continue
        if isinstance(value, dict) and "s" in value:
            starts.append(datetime.fromisoformat(value["s"]).astimezone(NEW_YORK))
    return starts


def quarter_after(moment: datetime) -> datetime:
    """The first quarter hour after `moment`, on New York's clock, kept off the last quarter
    of the day (working hours here end at 23:45)."""
    local = moment.astimezone(NEW_YORK).replace(second=0, microsecond=0)
    local += timedelta(minutes=15 - local.minute % 15)
    if local.time() >= time(23, 30):
        local = datetime.combine(local.date() + timedelta(days=1), time(0), NEW_YORK)
    return local


# --- buffer ---------------------------------------------------------------------------------


async def test_a_buffer_is_kept_around_bookings_and_busy_blocks(team: RunningBot) -> None:
    day = next_weekday()
    team.google.add_event(ALICE_EMAIL, start=at(day, 12), end=at(day, 13), summary="Lunch")
    first = await book(team, f"<@{BOB}|bob> {day.isoformat()} 10:00 1h Twilight shoot")
    (short_id,) = SHORT_ID.findall(text_of(first))[:1]

    answer = await setting(team, "buffer 30m")
    assert "The buffer is now: 30m kept free before and after every booking" in answer
    assert (await customer(team)).buffer_minutes == 30

    # Free ranges shrink by the buffer around busy time and bookings.
    shown = text_of(await command(team, f"availability {day.isoformat()}", follow_up=True))
    assert f"<@{ALICE}>: 9am–11:30am, 1:30pm–5pm" in shown
    assert f"<@{BOB}>: 9am–9:30am, 11:30am–5pm" in shown

    # Back to back with the booking, after it and before it: refused, the buffer the reason.
    after = await book(team, f"<@{BOB}|bob> {day.isoformat()} 11:00 1h Drone")
    assert f"30m kept free around booking {short_id} (11am–11:30am)" in text_of(after)
    assert [s.time() for s in offered(after)] == [time(11, 30), time(11, 45), time(12)]
    before = await book(team, f"<@{BOB}|bob> {day.isoformat()} 9:00 1h Drone")
    assert f"30m kept free around booking {short_id} (9:30am–10am)" in text_of(before)
    next_to_lunch = await book(team, f"<@{ALICE}|alice> {day.isoformat()} 13:00 1h Drone")
    assert "30m kept free around busy time on their own calendar (1pm–1:30pm)" in text_of(
        next_to_lunch
    )
    assert len(team.google.events(PRIMARY_EMAIL)) == 1, "nothing booked in a buffer"

    said = text_of(await why(team, f"<@{BOB}|bob> {day.isoformat()} 11:15"))
    assert f"30m kept free around booking {short_id} (11am–11:30am)" in said
    # Once the buffer has passed, the time is free and books.
    assert f"<@{BOB}> is free" in text_of(await why(team, f"<@{BOB}|bob> {day} 11:30 1h"))
    assert "Booked" in text_of(await book(team, f"<@{BOB}|bob> {day.isoformat()} 11:30 1h Drone"))
    assert len(team.google.events(PRIMARY_EMAIL)) == 2

    # No buffer: back to back again.
    assert "none: bookings may follow busy time back to back" in await setting(team, "buffer 0")
    assert "Booked" in text_of(await book(team, f"<@{ALICE}|alice> {day} 13:00 1h Drone"))


# --- notice ---------------------------------------------------------------------------------


async def test_no_booking_or_suggestion_sooner_than_the_notice(team: RunningBot) -> None:
    assert "every day" in await set_up(team, "settings hours 0:00-23:45 daily")
    answer = await setting(team, "notice 2h")
    assert "The minimum notice is now: bookings start at least 2h from now" in answer
    assert (await customer(team)).notice_minutes == 120

    now = datetime.now(NEW_YORK)
    soon = quarter_after(now + timedelta(minutes=30))
    words = f"{soon.date().isoformat()} {soon:%H:%M}"
    refused = await book(team, f"<@{ALICE}|alice> {words} 30m Rush job")
    assert "too soon: bookings need 2h notice, so the earliest is" in text_of(refused)
    starts = offered(refused)
    assert starts and all(s >= now + timedelta(hours=2) for s in starts), starts
    assert team.google.events(PRIMARY_EMAIL) == []

    said = text_of(await why(team, f"<@{ALICE}|alice> {words}"))
    assert f"<@{ALICE}> isn't free" in said and "too soon: bookings need 2h notice" in said

    # The first of the times offered books.
    later = starts[0]
    booked = await book(
        team, f"<@{ALICE}|alice> {later.date().isoformat()} {later:%H:%M} 30m Rush job"
    )
    assert "Booked" in text_of(booked)
    (event,) = team.google.events(PRIMARY_EMAIL)
    assert event["summary"] == "Rush job"

    assert "none: anything from now on can be booked" in await setting(team, "notice 0")
    assert (await customer(team)).notice_minutes == 0


# --- step -----------------------------------------------------------------------------------


async def test_the_step_is_the_grid_of_suggested_times_and_counted_shoots(
    team: RunningBot,
) -> None:
    day = next_weekday()
    team.google.add_event(ALICE_EMAIL, start=at(day, 12), end=at(day, 13, 10), summary="Shoot")
    asked = f"<@{ALICE}|alice> {day.isoformat()} 12:30 1h Kitchen"
    quarters = offered(await book(team, asked))
    assert [s.time() for s in quarters] == [time(13, 15), time(13, 30), time(13, 45)]

    answer = await setting(team, "step 20m")
    assert "suggested times and counted shoots start every 20m" in answer
    assert (await customer(team)).step_minutes == 20
    thirds = offered(await book(team, asked))
    assert [s.time() for s in thirds] == [time(11), time(13, 20), time(13, 40)]
    assert team.google.events(PRIMARY_EMAIL) == []

    # One step is `why`'s length when none is given.
    assert "12pm–12:20pm" in text_of(await why(team, f"<@{BOB}|bob> {day} 12:00"))

    # The digest counts shoots of the usual length (1h30m: no bookings yet) on the grid.
    digest_day = day + timedelta(days=1)
    for person in (ALICE_EMAIL, BOB_EMAIL):
        start, end = at(digest_day, 9), at(digest_day, 9, 10)
        team.google.add_event(person, start=start, end=end, summary="Coffee")
    assert (await digests_at(team, at(digest_day, 7)).run_due()).sent == 1
    # 9:10–17:00: starts at 9:20, 11:00, 12:40 and 14:20 on a 20-minute grid.
    assert f"<@{ALICE}>: 9:10am–5pm  _(4 × 1h30m fit)_" in text_of(digests_in(team)[-1])

    assert "every 15m" in await setting(team, "step 15m")
    quarters_day = digest_day + timedelta(days=1)
    for person in (ALICE_EMAIL, BOB_EMAIL):
        start, end = at(quarters_day, 9), at(quarters_day, 9, 10)
        team.google.add_event(person, start=start, end=end, summary="Coffee")
    assert (await digests_at(team, at(quarters_day, 7)).run_due()).sent == 1
    # 9:15, 10:45, 12:15, 13:45 and 15:15 on the quarter hours.
    assert f"<@{ALICE}>: 9:10am–5pm  _(5 × 1h30m fit)_" in text_of(digests_in(team)[-1])


# --- shown, and who may -------------------------------------------------------------------


async def test_settings_shows_all_three(team: RunningBot) -> None:
    before = await setting(team, "")
    assert "*Buffer:* none" in before and "*Minimum notice:* none" in before
    assert "*Slot step:* suggested times and counted shoots start every 15m" in before

    await setting(team, "buffer 45m")
    await setting(team, "notice 2d")
    await setting(team, "step 1h")
    shown = await setting(team, "")
    assert "*Buffer:* 45m kept free before and after every booking and busy block" in shown
    assert "*Minimum notice:* bookings start at least 2 days from now" in shown
    assert "*Slot step:* suggested times and counted shoots start every 1h" in shown
    assert "`@Tonomo settings buffer 30m`, `notice 2h` and `step 15m`" in shown
    stored = await customer(team)
    assert (stored.buffer_minutes, stored.notice_minutes, stored.step_minutes) == (45, 2880, 60)
    # Staff may look.
    assert "*Buffer:* 45m" in await setting(team, "", user=ALICE)


async def test_staff_are_refused_and_told_who_can(team: RunningBot) -> None:
    for text in ("buffer 30m", "notice 2h", "step 30m"):
        refused = await setting(team, text, user=ALICE)
        assert f"Only <@{OWNER}> (the owner) or an onboarder can change settings here" in refused
    stored = await customer(team)
    assert (stored.buffer_minutes, stored.notice_minutes, stored.step_minutes) == (0, 0, 15)


async def test_by_mention_the_owner_and_the_onboarder_may_and_staff_may_not(
    shared_channel: RunningBot,
) -> None:
    bot = shared_channel
    await shared.connect_by_mention(bot, shared.OLIVIA, PRIMARY_EMAIL, primary=True)
    refused = await shared.mention(bot, shared.ALICE, "settings buffer 30m")
    assert f"Only <@{shared.OLIVIA}> (the owner) or an onboarder" in text_of(refused)
    done = await shared.mention(bot, shared.OLIVIA, "settings buffer 20m")
    assert "The buffer is now: 20m" in text_of(done) and done["user"] == shared.OLIVIA
    done = await shared.mention(bot, shared.SAM, "settings step 30m")
    assert "every 30m" in text_of(done) and done["user"] == shared.SAM
    stored = await customer(bot, shared.CHANNEL)
    assert (stored.buffer_minutes, stored.step_minutes) == (20, 30)


async def test_lengths_out_of_range_get_the_form(bot: RunningBot) -> None:
    cases = {
        "buffer 5h": ("`5h` is more than 4h, the most I take for the buffer", "Use 0 (none) to 4h"),
        "buffer -10m": ("`-10m` is a negative length", "Use 0 (none) to 4h"),
        "buffer 2d": ("I don't understand `2d` as a length of time", "Use 0 (none) to 4h"),
        "buffer 0.01h": ("isn't a whole number of minutes", "Use 0 (none) to 4h"),
        "notice 15d": ("more than 14 days, the most I take for the notice", "`settings notice 2d`"),
        "notice soon": (
            "I don't understand `soon` as a length of time",
            "like `settings notice 2h`",
        ),
        "step 0": ("`0` is less than 5m, the least I take for the step", "Use 5m to 4h"),
        "step 7m": ("try `settings step 5m` or `settings step 10m`", "a whole number of 5 minutes"),
        "step 5h": ("more than 4h, the most I take for the step", "Use 5m to 4h"),
        "step": ("Give one length: the step is the grid", "Use 5m to 4h"),
        "step 15m 30m": ("Give one length", "Use 5m to 4h"),
        "bufer 30m": ("I can set `timezone`, `hours`, `clock`, `buffer`, `notice`, `step`", ""),
    }
    for text, (problem, forms) in cases.items():
        answer = await setting(bot, text)
        assert problem in answer and forms in answer and SETTINGS_FORM in answer, (text, answer)
    assert await bot.services.store.find_customer(TEAM, CHANNEL) is None, "nothing was set"
    # Lengths as people write them: an hour and a half, in hours.
    assert "at least 1h30m from now" in await setting(bot, "notice 1.5h")
    assert (await customer(bot)).notice_minutes == 90
