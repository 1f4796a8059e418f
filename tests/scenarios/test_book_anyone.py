"""`book anyone [@user …] DAY TIME DURATION TITLE…` and the booking form's "Anyone free",
end to end: signed commands, clicks and modal submissions into the real server; the real
Google client against the emulator; SQLite and PostgreSQL.

One free person is booked, chosen fairly (the fewest booked hours that local week, then the
longest since their last booking), and the channel is told who and why them. Nobody free:
each one's reasons, and the nearest times someone is, as buttons that book anyone then.
Bookings of anyone at once never book one person twice.
"""

from __future__ import annotations

import asyncio
from datetime import date, datetime, timedelta
from typing import Any

import pytest

from bot.messages.booking_form import (
    FORM_ANYONE,
    FORM_DAY,
    FORM_DURATION,
    FORM_SLOT,
    FORM_STAFF,
    FORM_TIME,
    FORM_TITLE,
)
from bot.messages.ids import BOOK_ANYONE_SLOT
from sandbox.fake_google import FakeGoogle
from sandbox.fake_slack import FakeSlack, text_of
from storage.models import Booking, BookingStatus, utcnow
from tests.conftest import ALICE, BOB, CHANNEL, OWNER, TEAM, RunningBot, serve_bot
from tests.helpers import wait_until
from tests.scenarios.flows import (
    ALICE_EMAIL,
    BOB_EMAIL,
    CAROL,
    NEW_YORK,
    PRIMARY_EMAIL,
    SHORT_ID,
    at,
    book,
    bookings,
    buttons,
    channel_posts,
    connect,
    events_of,
    next_weekday,
    open_book_form,
    sent_twice,
    team,
)

__all__ = ["team"]  # the fixture, used by name

CAROL_EMAIL = "carol@acme-photo.com"
NOBODY = "is free"


def monday() -> date:
    """A Monday in New York at least a week away: its week is the one counted."""
    return next_weekday(weekday=0)


def booked_posts(bot: RunningBot) -> list[dict[str, Any]]:
    return [m for m in channel_posts(bot) if text_of(m).startswith("Booked ")]


def nobody_free(bot: RunningBot) -> list[str]:
    return [text_of(r) for r in bot.slack.responses if text_of(r).startswith(f"Nobody {NOBODY}")]


async def add_booking(
    bot: RunningBot,
    user_id: str,
    start_hours_from_now: float,
    *,
    hours: float = 1,
    status: BookingStatus = BookingStatus.BOOKED,
) -> None:
    """A booking made earlier (past ones can't be made now), straight into the database."""
    customer = await bot.services.store.find_customer(TEAM, CHANNEL)
    assert customer is not None
    start = utcnow() + timedelta(hours=start_hours_from_now)
    n = len(await bookings(bot))
    async with bot.services.store._sessions.begin() as session:
        session.add(
            Booking(
                customer_id=customer.id,
                short_id=f"PAST{n:02d}",
                request_key=f"{n:064d}",
                event_id=f"past{n:04d}booking",
                staff_user_id=user_id,
                staff_email="",
                event_account=PRIMARY_EMAIL,
                event_calendar="primary",
                title="Earlier shoot",
                starts_at=start,
                ends_at=start + timedelta(hours=hours),
                booked_by=OWNER,
                created_at=start - timedelta(days=1),
                status=status,
            )
        )


async def test_the_one_with_fewest_hours_that_week_is_booked_and_told_why(
    team: RunningBot,
) -> None:
    week = monday()
    await book(team, f"<@{ALICE}|alice> {week.isoformat()} 9:00 3h Morning")
    await book(team, f"<@{ALICE}|alice> {(week + timedelta(days=2)).isoformat()} 9:00 3h Again")
    await book(team, f"<@{BOB}|bob> {week.isoformat()} 13:00 2h Afternoon")
    # A cancelled booking doesn't count.
    cancelled = await book(team, f"<@{BOB}|bob> {(week + timedelta(days=3)).isoformat()} 9:00 8h X")
    (cancelled_id,) = SHORT_ID.findall(text_of(cancelled))[:1]
    await team.slack.send_slash_command(
        team.events_url, user_id=OWNER, channel_id=CHANNEL, text=f"cancel {cancelled_id}"
    )
    await wait_until(
        lambda: any(f"cancelled `{cancelled_id}`" in text_of(m) for m in channel_posts(team))
    )

    tuesday = week + timedelta(days=1)
    posted = await book(
        team, f"anyone {tuesday.isoformat()} 10:00 1h30m Listing photos at 5 Elm St"
    )

    shown = text_of(posted)
    assert f"Booked <@{BOB}>" in shown and "Listing photos at 5 Elm St" in shown
    assert f"Chosen: <@{BOB}>: free, and 2h booked this week against <@{ALICE}>'s 6h." in shown
    row = next(b for b in await bookings(team) if b.title == "Listing photos at 5 Elm St")
    assert row.staff_user_id == BOB and row.starts_at == at(tuesday, 10)
    (event,) = [e for e in events_of(team, PRIMARY_EMAIL) if e["id"] == row.event_id]
    assert [a["email"] for a in event["attendees"]] == [BOB_EMAIL]


async def test_between_equal_hours_the_one_booked_longest_ago_is_booked(team: RunningBot) -> None:
    await add_booking(team, ALICE, -26)
    await add_booking(team, BOB, -24 * 5)
    tuesday = monday() + timedelta(days=1)
    posted = await book(team, f"anyone {tuesday.isoformat()} 10:00 1h Shoot")
    shown = text_of(posted)
    assert f"Booked <@{BOB}>" in shown
    assert f"<@{BOB}>: free, and 0h booked this week against <@{ALICE}>'s 0h" in shown
    assert f"<@{BOB}> was last booked" in shown and f"<@{ALICE}> last booked" in shown


async def test_only_those_named_are_chosen_from(team: RunningBot) -> None:
    team.slack.add_user(CAROL, name="carol", tz="America/New_York")
    team.slack.add_member(CHANNEL, CAROL)
    assert (await connect(team, user=CAROL, email=CAROL_EMAIL))[0] == 200
    week = monday()
    await book(team, f"<@{ALICE}|alice> {week.isoformat()} 9:00 2h Morning")
    await book(team, f"<@{BOB}|bob> {week.isoformat()} 9:00 1h Morning")

    tuesday = week + timedelta(days=1)
    posted = await book(
        team, f"anyone <@{ALICE}|alice> <@{BOB}|bob> {tuesday.isoformat()} 10:00 1h Shoot"
    )
    assert f"Booked <@{BOB}>" in text_of(posted), "Carol, with nothing booked, wasn't named"
    assert f"<@{CAROL}>" not in text_of(posted)


async def test_nobody_free_says_why_for_each_and_offers_times_that_book_anyone(
    team: RunningBot,
) -> None:
    tuesday = monday() + timedelta(days=1)
    team.google.add_event(ALICE_EMAIL, start=at(tuesday, 9), end=at(tuesday, 12), summary="Private")
    first = await book(team, f"<@{BOB}|bob> {tuesday.isoformat()} 10:00 1h30m First")
    (bobs,) = SHORT_ID.findall(text_of(first))[:1]

    offer = await book(team, f"anyone {tuesday.isoformat()} 10:00 1h30m Listing photos")
    said = text_of(offer)
    assert "Nobody is free" in said and "10am–11:30am" in said
    assert f"• <@{ALICE}>: busy on their own calendar 9am–12pm" in said
    assert f"• <@{BOB}>: booking {bobs} 10am–11:30am" in said
    assert "Private" not in said
    offered = [b for b in buttons(offer) if b["action_id"].startswith(BOOK_ANYONE_SLOT)]
    assert [b["text"]["text"].split(", ")[-1] for b in offered] == [
        "11:30am–1pm",
        "11:45am–1:15pm",
        "12pm–1:30pm",
    ]
    assert len(await bookings(team)) == 1, "nothing booked"

    await team.slack.send_block_action(
        team.events_url,
        user_id=OWNER,
        channel_id=CHANNEL,
        action_id=offered[0]["action_id"],
        message_ts=offer["ts"],
    )
    posted = await wait_until(lambda: [m for m in booked_posts(team) if "Listing" in text_of(m)])
    assert f"Booked <@{BOB}>" in text_of(posted[0])
    assert f"<@{BOB}>: the only one free then (<@{ALICE}> isn't)." in text_of(posted[0])
    row = next(b for b in await bookings(team) if b.title == "Listing photos")
    assert row.staff_user_id == BOB and row.starts_at == at(tuesday, 11, 30)
    await wait_until(
        lambda: (
            not buttons(
                next(m for m in team.slack.ephemerals(CHANNEL, OWNER) if m["ts"] == offer["ts"])
            )
        )
    )


async def test_bookings_of_anyone_at_once_never_book_one_person_twice(team: RunningBot) -> None:
    tuesday = monday() + timedelta(days=1)
    text = f"book anyone {tuesday.isoformat()} 14:00 1h Same slot"
    await asyncio.gather(
        *(
            team.slack.send_slash_command(
                team.events_url, user_id=OWNER, channel_id=CHANNEL, text=text
            )
            for _ in range(4)
        )
    )
    await wait_until(lambda: len(nobody_free(team)) == 2, timeout=20)
    rows = await bookings(team)
    assert sorted(r.staff_user_id for r in rows) == sorted([ALICE, BOB])
    assert len(events_of(team, PRIMARY_EMAIL)) == 2
    assert len(booked_posts(team)) == 2
    for refusal in nobody_free(team):
        # Each says why for each person: their booking, or (read between the event's
        # insert and its row's save) the invitation on their own calendar.
        for row in rows:
            assert (
                f"<@{row.staff_user_id}>: booking {row.short_id} 2pm–3pm" in refusal
                or f"<@{row.staff_user_id}>: busy on their own calendar 2pm–3pm" in refusal
            ), refusal
        # And never offers a time that overlaps the hour just taken.
        offered = refusal.split("nearest times", 1)[1]
        overlapping = ["1:15pm–2:15pm", "1:30pm–2:30pm", "1:45pm–2:45pm", "2pm–3pm"]
        overlapping += ["2:15pm–3:15pm", "2:30pm–3:30pm", "2:45pm–3:45pm"]
        assert not [t for t in overlapping if f", {t}" in offered], refusal


async def test_two_instances_booking_anyone_at_once_book_two_people_or_refuse(
    google: FakeGoogle, slack: FakeSlack, database_url: str
) -> None:
    """Two channels' worth of requests, through two instances sharing the database."""
    async with serve_bot(google, slack, database_url) as one:
        assert (await connect(one, user=OWNER, email=PRIMARY_EMAIL, primary=True))[0] == 200
        assert (await connect(one, user=ALICE, email=ALICE_EMAIL))[0] == 200
        assert (await connect(one, user=BOB, email=BOB_EMAIL))[0] == 200
        async with serve_bot(google, slack, database_url) as two:
            text = f"book anyone {(monday() + timedelta(days=1)).isoformat()} 11:00 1h Race"
            await asyncio.gather(
                *(
                    slack.send_slash_command(
                        instance.events_url, user_id=OWNER, channel_id=CHANNEL, text=text
                    )
                    for instance in (one, two, one, two, one, two)
                )
            )
            await wait_until(lambda: len(nobody_free(one)) == 4, timeout=30)
            rows = await bookings(one)
            assert sorted(r.staff_user_id for r in rows) == sorted([ALICE, BOB])
            assert len(google.events(PRIMARY_EMAIL)) == 2
            assert len(booked_posts(one)) == 2


async def test_a_retried_book_anyone_books_once(team: RunningBot) -> None:
    await sent_twice(
        team, f"book anyone {(monday() + timedelta(days=1)).isoformat()} 9:00 1h Retry me"
    )
    await wait_until(lambda: any("booked already" in text_of(r) for r in team.slack.responses))
    assert len(events_of(team, PRIMARY_EMAIL)) == 1
    assert len(await bookings(team)) == 1 and len(booked_posts(team)) == 1


async def test_staff_book_anyone_only_as_themselves(team: RunningBot) -> None:
    tuesday = monday() + timedelta(days=1)
    refused = await book(team, f"anyone {tuesday.isoformat()} 9:00 1h Shoot", user=ALICE)
    assert "can book someone else here" in text_of(refused)
    assert await bookings(team) == []
    mine = await book(
        team, f"anyone <@{ALICE}|alice> {tuesday.isoformat()} 9:00 1h Shoot", user=ALICE
    )
    assert f"Booked <@{ALICE}>" in text_of(mine)


async def test_with_no_one_connected_book_anyone_says_how_to_start(bot: RunningBot) -> None:
    assert (await connect(bot, user=OWNER, email=PRIMARY_EMAIL, primary=True))[0] == 200
    reply = await book(bot, f"anyone {(monday() + timedelta(days=1)).isoformat()} 9:00 1h Shoot")
    assert "No one has connected a calendar yet" in text_of(reply)


async def test_google_down_while_booking_anyone_books_nothing(
    team: RunningBot, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(team.services.calendar, "_num_retries", 0)
    team.google.server_error(r".*/events$", times=None)
    reply = await book(team, f"anyone {(monday() + timedelta(days=1)).isoformat()} 9:00 1h Shoot")
    assert "Google didn't answer, so nothing was booked" in text_of(reply)
    assert await bookings(team) == [] and events_of(team, PRIMARY_EMAIL) == []
    inserts = team.google.requests.matching(r"/events$", method="POST")
    assert len(inserts) == 1, "no one else was tried: Google would fail them all"


# --- the booking form's "Anyone free" -------------------------------------------------------


def form_values(view: dict[str, Any], day: str, at_time: str, **chosen: Any) -> dict[str, Any]:
    (anyone,) = next(b for b in view["blocks"] if b.get("block_id") == FORM_ANYONE)["element"][
        "options"
    ]
    values: dict[str, Any] = {
        FORM_STAFF: {FORM_STAFF: {"type": "users_select", "selected_user": chosen.get("user")}},
        FORM_ANYONE: {
            FORM_ANYONE: {
                "type": "checkboxes",
                "selected_options": [anyone] if chosen.get("anyone") else [],
            }
        },
        FORM_DAY: {FORM_DAY: {"type": "datepicker", "selected_date": day}},
        FORM_TIME: {FORM_TIME: {"type": "timepicker", "selected_time": at_time}},
        FORM_DURATION: {FORM_DURATION: {"type": "plain_text_input", "value": "1h30m"}},
        FORM_TITLE: {FORM_TITLE: {"type": "plain_text_input", "value": "Listing photos"}},
    }
    return values


async def test_the_form_books_anyone_free(team: RunningBot) -> None:
    tuesday = monday() + timedelta(days=1)
    await book(team, f"<@{ALICE}|alice> {monday().isoformat()} 9:00 1h Morning")
    view = await open_book_form(team)

    neither = await team.slack.send_view_submission(
        team.events_url,
        user_id=OWNER,
        view_id=view["id"],
        values=form_values(view, tuesday.isoformat(), "10:00"),
    )
    assert neither.json()["errors"] == {FORM_STAFF: "Choose who to book, or tick Anyone free."}

    done = await team.slack.send_view_submission(
        team.events_url,
        user_id=OWNER,
        view_id=view["id"],
        values=form_values(view, tuesday.isoformat(), "10:00", anyone=True),
    )
    assert done.status == 200 and not done.body.strip(), "the form closes"
    (posted,) = await wait_until(lambda: booked_posts(team)[1:])
    assert f"Booked <@{BOB}>" in text_of(posted)
    assert f"<@{BOB}>: free, and 0h booked this week against <@{ALICE}>'s 1h." in text_of(posted)


async def test_the_form_with_nobody_free_offers_the_nearest_times_in_itself(
    team: RunningBot,
) -> None:
    tuesday = monday() + timedelta(days=1)
    for email in (ALICE_EMAIL, BOB_EMAIL):
        team.google.add_event(email, start=at(tuesday, 9), end=at(tuesday, 12))
    view = await open_book_form(team)
    sent = await team.slack.send_view_submission(
        team.events_url,
        user_id=OWNER,
        view_id=view["id"],
        values=form_values(view, tuesday.isoformat(), "10:00", anyone=True),
    )
    answer = sent.json()
    assert answer["response_action"] == "update"
    blocks = str(answer["view"]["blocks"])
    assert f"<@{ALICE}>: busy on their own calendar 9am–12pm" in blocks
    assert f"<@{BOB}>: busy on their own calendar 9am–12pm" in blocks
    inputs = {b["block_id"]: b["element"] for b in answer["view"]["blocks"] if b["type"] == "input"}
    assert inputs[FORM_ANYONE]["initial_options"], "Anyone free stays ticked"
    options = inputs[FORM_SLOT]["options"]
    assert options[0]["text"]["text"].endswith("12pm–1:30pm")
    assert await bookings(team) == []

    chosen = form_values(view, tuesday.isoformat(), "10:00", anyone=True)
    chosen[FORM_SLOT] = {FORM_SLOT: {"type": "radio_buttons", "selected_option": options[0]}}
    done = await team.slack.send_view_submission(
        team.events_url, user_id=OWNER, view_id=view["id"], values=chosen
    )
    assert done.status == 200 and not done.body.strip()
    await wait_until(lambda: booked_posts(team))
    (row,) = await bookings(team)
    assert row.starts_at == at(tuesday, 12) and row.staff_user_id in (ALICE, BOB)


async def test_book_anyone_reads_each_calendar_once_then_inserts_once(team: RunningBot) -> None:
    # Everyone's calendar is read at once; the one chosen isn't read again under the
    # claim (their bookings are, from the database): one round trip to Google, then the
    # insert.
    tuesday = monday() + timedelta(days=1)
    team.google.requests.clear()
    await book(team, f"anyone {tuesday.isoformat()} 10:00 1h Shoot")
    assert len(team.google.requests.matching(r"/freeBusy$", method="POST")) == 2
    assert len(team.google.requests.matching(r"/events$", method="POST")) == 1
    (row,) = await bookings(team)
    assert row.staff_user_id in (ALICE, BOB)


async def test_the_form_with_anyone_free_and_a_past_time_says_so_on_the_time(
    team: RunningBot,
) -> None:
    view = await open_book_form(team)
    today = datetime.now(NEW_YORK).date()
    sent = await team.slack.send_view_submission(
        team.events_url,
        user_id=OWNER,
        view_id=view["id"],
        values=form_values(view, today.isoformat(), "00:00", anyone=True),
    )
    errors = sent.json()["errors"]
    assert list(errors) == [FORM_TIME] and "passed" in errors[FORM_TIME], errors
    assert await bookings(team) == []
