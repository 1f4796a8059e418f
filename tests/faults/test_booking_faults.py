"""Booking while Google is slow or Slack answers junk: signed requests into the real server,
on SQLite and PostgreSQL.

A booking waits for Google holding nothing in the database but its claim on the person
being booked: another channel, or another person's booking, goes on meanwhile (on SQLite,
whose one writer a booking used to hold over Google's call, as much as on PostgreSQL).
Two bookings of one person at once still make one booking, a crashed booker's claim
lapses, and a channel post that Slack answers with a proxy's 502 page still leaves the
person knowing the booking was made, and its id.
"""

from __future__ import annotations

import asyncio
import logging
import time
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import update

from bot import booking as booking_module
from bot.calendar.port import PRIMARY_SCOPES
from sandbox import faults
from sandbox.fake_google import FakeGoogle
from sandbox.fake_slack import FakeSlack, button_urls, text_of
from sandbox.faults import Fault
from storage.models import Booking, BookingClaim, BookingStatus, utcnow
from tests.conftest import ALICE, BOB, CHANNEL, OWNER, POSTGRES_URL, TEAM, RunningBot, serve_bot
from tests.helpers import wait_until
from tests.scenarios.flows import (
    ALICE_EMAIL,
    BOB_EMAIL,
    PRIMARY_EMAIL,
    SHORT_ID,
    at,
    book,
    bookings,
    channel_posts,
    command,
    connect,
    events_of,
    next_weekday,
)
from tests.scenarios.test_booking_lifecycle import CARMEN_EMAIL, replace_primary

GOOGLE_LATENCY = 4.0
"""How long Google takes over the slow call: every prompt answer is well under it."""
PROMPT = 1.5
"""An answer that waited for no one else's call to Google arrives within this."""
OTHER_CHANNEL = "C0OTHERS"
DANA = "U0DANA"
EVENTS_INSERT = r"/calendars/[^/]+/events$"
BAD_GATEWAY = "<html><head><title>502 Bad Gateway</title></head><body>nginx</body></html>"


@pytest.fixture
async def team(bot: RunningBot) -> RunningBot:
    """A channel in New York with its primary calendar and Alice's and Bob's connected,
    and a second channel (Dana's) that has nothing to do with it."""
    assert (await connect(bot, user=OWNER, email=PRIMARY_EMAIL, primary=True))[0] == 200
    assert (await connect(bot, user=ALICE, email=ALICE_EMAIL))[0] == 200
    assert (await connect(bot, user=BOB, email=BOB_EMAIL))[0] == 200
    bot.slack.add_user(DANA, name="dana", real_name="Dana Frame", tz="Europe/Paris")
    bot.slack.add_channel(OTHER_CHANNEL, name="frame-studio-onboarding", members=[DANA])
    return bot


def slow_insert(google: FakeGoogle, *, times: int | None = 1) -> Fault:
    """Google takes GOOGLE_LATENCY over `events.insert` (the booking's own event)."""
    return google.faults.add(
        Fault(EVENTS_INSERT, method="POST", latency=GOOGLE_LATENCY, times=times)
    )


def inserts_asked(google: FakeGoogle) -> int:
    return len(google.requests.matching(EVENTS_INSERT, method="POST"))


async def start_booking(bot: RunningBot, text: str, *, user: str = OWNER) -> None:
    """Send `/tonomo book text` and return once it is acknowledged (its answer comes later)."""
    sent = await bot.slack.send_slash_command(
        bot.events_url, user_id=user, channel_id=CHANNEL, text=f"book {text}"
    )
    assert sent.status == 200


def booked_posts(bot: RunningBot) -> list[str]:
    return [text_of(m) for m in channel_posts(bot) if SHORT_ID.search(text_of(m))]


async def test_a_booking_waiting_for_a_slow_google_holds_up_no_one_else(
    team: RunningBot, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING)
    day = next_weekday()
    slow_insert(team.google)
    await start_booking(team, f"<@{ALICE}|alice> {day.isoformat()} 9:00 1h Slow shoot")
    await wait_until(lambda: inserts_asked(team.google) == 1)  # Alice's booking is at Google

    # Another channel connects a calendar meanwhile: its link comes at once.
    started = time.monotonic()
    reply = await command(team, "connect-calendar", user=DANA, channel=OTHER_CHANNEL)
    connect_took = time.monotonic() - started
    assert len(button_urls(reply["blocks"])) == 1, text_of(reply)

    # So does another person's booking in the same channel.
    started = time.monotonic()
    bobs = await book(team, f"<@{BOB}|bob> {day.isoformat()} 9:00 1h Quick shoot")
    bob_took = time.monotonic() - started
    assert "Quick shoot" in text_of(bobs) and SHORT_ID.search(text_of(bobs))

    assert connect_took < PROMPT, f"connect-calendar waited {connect_took:.1f}s for Google"
    assert bob_took < PROMPT, f"Bob's booking waited {bob_took:.1f}s for Alice's"

    # Alice's booking is made all the same, once Google answers.
    await wait_until(lambda: len(booked_posts(team)) == 2, timeout=GOOGLE_LATENCY + 10)
    assert sorted(e["summary"] for e in events_of(team, PRIMARY_EMAIL)) == [
        "Quick shoot",
        "Slow shoot",
    ]
    rows = await bookings(team)
    assert sorted((r.staff_user_id, r.starts_at, r.status) for r in rows) == sorted(
        [(ALICE, at(day, 9), BookingStatus.BOOKED), (BOB, at(day, 9), BookingStatus.BOOKED)]
    )
    assert {r.event_id for r in rows} == {e["id"] for e in events_of(team, PRIMARY_EMAIL)}
    assert "database is locked" not in caplog.text


async def test_two_bookings_of_one_person_at_once_with_google_slow_make_one(
    team: RunningBot,
) -> None:
    """Overlapping times for Alice from the owner and from Alice, and a free time beside
    them: the first of the overlapping two books, the other hears whose booking is in the
    way, and the free time books too."""
    day = next_weekday()
    slow_insert(team.google, times=None)
    await asyncio.gather(
        start_booking(team, f"<@{ALICE}|alice> {day.isoformat()} 14:00 1h Owner's pick"),
        start_booking(
            team, f"<@{ALICE}|alice> {day.isoformat()} 14:30 1h Alice's pick", user=ALICE
        ),
    )
    await wait_until(lambda: inserts_asked(team.google) == 1)
    await start_booking(team, f"<@{ALICE}|alice> {day.isoformat()} 10:00 1h Morning")

    clash = "I can't book"
    deadline = 3 * GOOGLE_LATENCY + 10
    await wait_until(
        lambda: any(clash in text_of(r) for r in team.slack.responses), timeout=deadline
    )
    await wait_until(lambda: len(booked_posts(team)) == 2, timeout=deadline)

    rows = await bookings(team)
    assert len(rows) == 2 and {r.staff_user_id for r in rows} == {ALICE}
    first = next(r for r in rows if r.title != "Morning")
    (refusal,) = [text_of(r) for r in team.slack.responses if clash in text_of(r)]
    assert first.short_id in refusal, "the refusal names the booking in the way"
    events = events_of(team, PRIMARY_EMAIL)
    assert sorted(e["summary"] for e in events) == sorted(r.title for r in rows)
    assert inserts_asked(team.google) == 2, "the refused one never went to Google"


async def test_two_instances_booking_one_slot_at_once_make_one_booking(
    google: FakeGoogle, slack: FakeSlack, database_url: str
) -> None:
    async with serve_bot(google, slack, database_url) as one:
        assert (await connect(one, user=OWNER, email=PRIMARY_EMAIL, primary=True))[0] == 200
        assert (await connect(one, user=ALICE, email=ALICE_EMAIL))[0] == 200
        async with serve_bot(google, slack, database_url) as two:
            text = f"<@{ALICE}|alice> {next_weekday().isoformat()} 11:00 1h Same slot"
            await asyncio.gather(
                *(start_booking(instance, text) for instance in (one, two, one, two))
            )
            await wait_until(
                lambda: sum("I can't book" in text_of(r) for r in slack.responses) == 3,
                timeout=20,
            )
            assert len(google.events(PRIMARY_EMAIL)) == 1
            assert len(await bookings(one)) == 1
            assert len(booked_posts(one)) == 1


async def test_a_crashed_booker_s_claim_lapses(
    team: RunningBot, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A claim whose holder died before releasing it: a booking of that person waits its
    bound, then hears someone is booking them; once the claim lapses, booking works."""
    monkeypatch.setattr(booking_module, "CLAIM_WAIT", timedelta(seconds=0.5))
    customer = await team.services.store.find_customer(TEAM, CHANNEL)
    assert customer is not None
    async with team.services.store._sessions.begin() as session:
        session.add(
            BookingClaim(
                customer_id=customer.id,
                staff_user_id=ALICE,
                holder="crashed",
                claimed_until=utcnow() + timedelta(minutes=1),
            )
        )
    day = next_weekday()
    reply = await book(team, f"<@{ALICE}|alice> {day.isoformat()} 9:00 1h Shoot")
    assert "Someone else is booking them right now" in text_of(reply)
    assert "Nothing was booked" in text_of(reply)
    assert events_of(team, PRIMARY_EMAIL) == [] and await bookings(team) == []

    async with team.services.store._sessions.begin() as session:  # a minute later
        await session.execute(update(BookingClaim).values(claimed_until=utcnow()))
    posted = await book(team, f"<@{ALICE}|alice> {day.isoformat()} 9:00 1h Shoot")
    assert "Shoot" in text_of(posted) and SHORT_ID.search(text_of(posted))
    assert len(events_of(team, PRIMARY_EMAIL)) == 1 and len(await bookings(team)) == 1


async def test_claims_that_lapse_mid_booking_still_book_a_slot_once(
    team: RunningBot, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Claims that lapse at once (a Google slower than the lease): both bookings of one
    slot reach Google, and the save's own check keeps one; the other's event is taken back."""
    monkeypatch.setattr(booking_module, "CLAIM_LEASE", timedelta(0))
    slow_insert(team.google, times=None)
    text = f"<@{ALICE}|alice> {next_weekday().isoformat()} 15:00 1h Raced"
    await asyncio.gather(start_booking(team, text), start_booking(team, text, user=ALICE))
    clash = "I can't book"
    await wait_until(
        lambda: any(clash in text_of(r) for r in team.slack.responses),
        timeout=2 * GOOGLE_LATENCY + 10,
    )
    await wait_until(lambda: len(booked_posts(team)) == 1)

    (row,) = await bookings(team)
    (event,) = events_of(team, PRIMARY_EMAIL)
    assert row.event_id == event["id"]
    assert inserts_asked(team.google) == 2, "both reached Google"
    deleted = team.google.requests.matching(r"/events/[^/]+$", method="DELETE")
    assert len(deleted) == 1 and row.event_id not in deleted[0].path


@pytest.mark.parametrize("content_type", ["text/html", "text/plain", "application/json"])
async def test_a_booking_that_slack_answers_with_a_502_page_is_still_told(
    team: RunningBot, content_type: str
) -> None:
    """chat.postMessage answers a proxy's 502 page: the booking is made once, and the
    person hears so, with its id, through the command's response_url."""
    team.slack.faults.add(
        Fault(
            r"^/api/chat\.postMessage$",
            status=502,
            body=BAD_GATEWAY,
            headers={"Content-Type": content_type},
            times=None,
        )
    )
    day = next_weekday()
    responses = len(team.slack.responses)
    await start_booking(team, f"<@{ALICE}|alice> {day.isoformat()} 13:00 1h Gateway shoot")
    await wait_until(lambda: len(team.slack.responses) > responses, timeout=10)

    (row,) = await bookings(team)
    (event,) = events_of(team, PRIMARY_EMAIL)
    assert (row.event_id, row.title, row.status) == (
        event["id"],
        "Gateway shoot",
        BookingStatus.BOOKED,
    )
    told: list[dict[str, Any]] = team.slack.responses[responses:]
    assert len(told) == 1 and told[0]["user"] == OWNER
    assert row.short_id in text_of(told[0]) and "Gateway shoot" in text_of(told[0])
    assert "try again" not in text_of(told[0]).lower()
    assert booked_posts(team) == [], "Slack refused the channel post"
    assert team.slack.requests.matching(r"^/api/chat\.postMessage$"), "the post was tried"


async def test_a_cancel_that_slack_answers_with_a_502_page_is_still_told(
    team: RunningBot,
) -> None:
    day = next_weekday()
    posted = await book(team, f"<@{BOB}|bob> {day.isoformat()} 13:00 1h Cancel me")
    (short_id,) = SHORT_ID.findall(text_of(posted))[:1]
    team.slack.faults.add(
        Fault(
            r"^/api/chat\.postMessage$",
            status=502,
            body=BAD_GATEWAY,
            headers={"Content-Type": "text/html"},
            times=None,
        )
    )
    responses = len(team.slack.responses)
    sent = await team.slack.send_slash_command(
        team.events_url, user_id=OWNER, channel_id=CHANNEL, text=f"cancel {short_id}"
    )
    assert sent.status == 200
    await wait_until(lambda: len(team.slack.responses) > responses, timeout=10)
    told = team.slack.responses[responses:]
    assert len(told) == 1 and "cancelled" in text_of(told[0]) and short_id in text_of(told[0])
    (row,) = await bookings(team)
    assert row.status is BookingStatus.CANCELLED
    assert events_of(team, PRIMARY_EMAIL) == []


# --- moving, when Google or the database fails ----------------------------------------------

PATCHES = r"/calendars/[^/]+/events/[^/]+$"
MOVED_TEXT = " moved `"


def patches(google: FakeGoogle) -> list[Any]:
    return google.requests.matching(PATCHES, method="PATCH")


async def start_move(bot: RunningBot, text: str, *, user: str = OWNER) -> None:
    sent = await bot.slack.send_slash_command(
        bot.events_url, user_id=user, channel_id=CHANNEL, text=f"move {text}"
    )
    assert sent.status == 200


async def booked_for_moving(bot: RunningBot, text: str) -> tuple[dict[str, Any], Booking]:
    """A booking made through the channel, its message remembered: the message, the row."""
    posted = await book(bot, text)
    (short_id,) = SHORT_ID.findall(text_of(posted))[:1]
    deadline = time.monotonic() + 5
    while True:
        (row,) = [b for b in await bookings(bot) if b.short_id == short_id]
        if row.message_ts or time.monotonic() > deadline:
            return posted, row
        await asyncio.sleep(0.01)


async def assert_nothing_moved(
    bot: RunningBot, message: dict[str, Any], before: Booking, event: dict[str, Any]
) -> None:
    """The booking, its event and its message in the channel as they were; no notice."""
    (row,) = [b for b in await bookings(bot) if b.id == before.id]
    assert (row.starts_at, row.ends_at, row.status) == (
        before.starts_at,
        before.ends_at,
        BookingStatus.BOOKED,
    )
    (now,) = [e for e in events_of(bot, PRIMARY_EMAIL) if e["id"] == event["id"]]
    assert now["start"] == event["start"] and now["end"] == event["end"]
    (shown,) = [m for m in channel_posts(bot) if m["ts"] == message["ts"]]
    assert text_of(shown) == text_of(message), "the booking's message unchanged"
    assert not [m for m in channel_posts(bot) if MOVED_TEXT in text_of(m)], "no move told"


def told(bot: RunningBot, words: str) -> list[str]:
    return [text_of(r) for r in bot.slack.responses if words in text_of(r)]


@pytest.mark.parametrize("status", [400, 503])
async def test_a_move_google_refuses_leaves_everything_where_it_was(
    team: RunningBot, monkeypatch: pytest.MonkeyPatch, status: int
) -> None:
    """Google refuses the patch (a 400) or fails it (a 503, its retries spent): the person
    hears the booking stays, and the event is patched back to where it is, in case the
    patch landed and only its answer was lost."""
    monkeypatch.setattr(team.services.calendar, "_num_retries", 0)
    day = next_weekday()
    message, before = await booked_for_moving(
        team, f"<@{ALICE}|alice> {day.isoformat()} 10:00 1h Shoot"
    )
    (event,) = events_of(team, PRIMARY_EMAIL)
    team.google.faults.add(Fault(PATCHES, method="PATCH", status=status, times=1))

    await start_move(team, f"{before.short_id} {day.isoformat()} 14:00")
    (answer,) = await wait_until(lambda: told(team, "stays where it was"))

    assert "Google didn't take the change" in answer
    assert len(patches(team.google)) == 2, "the move, then the event put back"
    await assert_nothing_moved(team, message, before, event)
    (now,) = events_of(team, PRIMARY_EMAIL)
    assert now["sequence"] == 0, "putting it where it is changed nothing"
    assert [e["start"] for e in events_of(team, ALICE_EMAIL)] == [event["start"]]


async def test_a_move_google_doesn_t_answer_in_time_leaves_everything_where_it_was(
    team: RunningBot, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Google takes longer over the patch than the client waits: the move is given up,
    the event put back where it is, and nothing moves."""
    calendar = team.services.calendar
    monkeypatch.setattr(calendar, "_num_retries", 0)
    monkeypatch.setattr(calendar, "_timeout", 1.0)  # each attempt's, read as it is sent
    day = next_weekday()
    message, before = await booked_for_moving(team, f"<@{BOB}|bob> {day.isoformat()} 9:00 1h Shoot")
    (event,) = events_of(team, PRIMARY_EMAIL)
    team.google.faults.add(Fault(PATCHES, method="PATCH", status=504, latency=2.5, times=1))

    started = time.monotonic()
    await start_move(team, f"{before.short_id} {day.isoformat()} 15:00")
    (answer,) = await wait_until(lambda: told(team, "stays where it was"), timeout=10)
    assert time.monotonic() - started < 2.5, "given up at the client's timeout"
    assert "Google didn't take the change" in answer
    await wait_until(lambda: len(patches(team.google)) == 2)
    await asyncio.sleep(1.5)  # the slow answer has come and gone
    await assert_nothing_moved(team, message, before, event)


async def test_a_move_the_database_can_t_save_is_patched_back(
    team: RunningBot, database_url: str
) -> None:
    """The event is moved at Google, then the database is gone before the row is saved:
    the event is patched back to where the booking says it is, and the person told."""
    day = next_weekday()
    message, before = await booked_for_moving(
        team, f"<@{ALICE}|alice> {day.isoformat()} 11:00 1h Shoot"
    )
    (event,) = events_of(team, PRIMARY_EMAIL)
    team.google.faults.add(Fault(PATCHES, method="PATCH", latency=1.0, times=1))

    await start_move(team, f"{before.short_id} {day.isoformat()} 15:00")
    await wait_until(lambda: len(patches(team.google)) == 1)  # the move is at Google
    async with faults.database_down(team.services.engine, database_url, admin_url=POSTGRES_URL):
        await wait_until(lambda: len(patches(team.google)) == 2, timeout=15)  # put back
        (answer,) = await wait_until(lambda: told(team, "put the event back where it was"))
    assert "Nothing moved" in answer

    (now,) = events_of(team, PRIMARY_EMAIL)
    assert now["start"] == event["start"] and now["sequence"] == 2, "moved, then moved back"
    assert [e["start"] for e in events_of(team, ALICE_EMAIL)] == [event["start"]]
    await assert_nothing_moved(team, message, before, event)
    # The claim was left to lapse: the next move of Alice waits it out, then works.
    async with team.services.store._sessions.begin() as session:
        await session.execute(update(BookingClaim).values(claimed_until=utcnow()))
    await start_move(team, f"{before.short_id} {day.isoformat()} 15:00")
    await wait_until(lambda: [m for m in channel_posts(team) if MOVED_TEXT in text_of(m)])
    (row,) = await bookings(team)
    assert row.starts_at == at(day, 15)


async def test_a_move_whose_event_s_account_is_no_longer_the_primary_changes_nothing(
    bot: RunningBot,
) -> None:
    assert (await connect(bot, user=OWNER, email=CARMEN_EMAIL, primary=True))[0] == 200
    assert (await connect(bot, user=BOB, email=BOB_EMAIL))[0] == 200
    day = next_weekday()
    posted = await book(bot, f"<@{BOB}|bob> {day.isoformat()} 10:00 2h Kitchen remodel shoot")
    (short_id,) = SHORT_ID.findall(text_of(posted))[:1]
    (event,) = bot.google.events(CARMEN_EMAIL)
    await replace_primary(bot, PRIMARY_EMAIL)

    await start_move(bot, f"{short_id} {day.isoformat()} 14:00")
    (answer,) = await wait_until(lambda: told(bot, f"I can't move `{short_id}`"))

    assert f"its event is on {CARMEN_EMAIL}'s calendar" in answer
    assert f"the primary calendar is now {PRIMARY_EMAIL}" in answer
    assert "connect-calendar primary" in answer and "Nothing changed" in answer
    assert patches(bot.google) == [], "neither account was asked"
    assert bot.google.events(CARMEN_EMAIL) == [event]
    (row,) = await bookings(bot)
    assert row.starts_at == at(day, 10) and row.status is BookingStatus.BOOKED


async def test_a_move_of_an_event_deleted_in_google_calendar_brings_nothing_back(
    team: RunningBot,
) -> None:
    day = next_weekday()
    posted = await book(team, f"<@{ALICE}|alice> {day.isoformat()} 10:00 1h Shoot")
    (short_id,) = SHORT_ID.findall(text_of(posted))[:1]
    (event,) = events_of(team, PRIMARY_EMAIL)
    # Someone deletes the event by hand, in the primary account's Google Calendar.
    access, _ = team.google.issue_tokens(PRIMARY_EMAIL, list(PRIMARY_SCOPES))
    async with team.http.delete(
        f"{team.google.api_url}calendars/primary/events/{event['id']}",
        headers={"Authorization": f"Bearer {access}"},
    ) as deleted:
        assert deleted.status == 204

    await start_move(team, f"{short_id} {day.isoformat()} 14:00")
    (answer,) = await wait_until(lambda: told(team, f"I can't move `{short_id}`"))

    assert "its event isn't on the primary calendar any more" in answer
    assert f"cancel {short_id}" in answer
    assert events_of(team, PRIMARY_EMAIL) == [], "still deleted"
    (row,) = await bookings(team)
    assert row.starts_at == at(day, 10) and row.status is BookingStatus.BOOKED
