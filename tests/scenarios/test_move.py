"""`move BOOKING DAY TIME`, the booking message's Move button and its modal, end to end:
signed commands, mentions, clicks and modal submissions into the real server; the real
Google client against the emulator; SQLite and PostgreSQL.

A move is the same event moved in place (one `events.patch`, the attendee told by Google),
under the same claim and checks as a booking; a retried move moves once; a conflict says
every reason, as `why` does, and offers the nearest free times as buttons that move it.
"""

from __future__ import annotations

import asyncio
import time
from datetime import date, datetime, timedelta
from typing import Any

from bot.messages.booking_form import FORM_DAY, FORM_SLOT, FORM_TIME
from bot.messages.ids import CANCEL_BOOKING, MOVE_BOOKING, MOVE_MODAL, MOVE_SLOT
from sandbox.fake_google import FakeGoogle
from sandbox.fake_slack import text_of
from storage.models import Booking, BookingStatus
from tests.conftest import ALICE, BOB, CHANNEL, OWNER, RunningBot
from tests.helpers import wait_until
from tests.scenarios.flows import (
    ALICE_EMAIL,
    NEW_YORK,
    PRIMARY_EMAIL,
    SHORT_ID,
    at,
    book,
    bookings,
    buttons,
    channel_posts,
    events_of,
    next_weekday,
    posted,
    sent_twice,
    team,
)

__all__ = ["team"]  # the fixture, used by name

PATCHES = r"/calendars/[^/]+/events/[^/]+$"


def patches(google: FakeGoogle) -> list[Any]:
    return google.requests.matching(PATCHES, method="PATCH")


async def booked(bot: RunningBot, text: str, *, user: str = OWNER) -> tuple[dict[str, Any], str]:
    """`/tonomo book text`: the booking's message in the channel (remembered) and its id."""
    posted = await book(bot, text, user=user)
    (short_id,) = SHORT_ID.findall(text_of(posted))[:1]
    deadline = time.monotonic() + 5
    while True:  # its message is remembered just after it is posted
        if (await row(bot, short_id)).message_ts or time.monotonic() > deadline:
            return posted, short_id
        await asyncio.sleep(0.01)


async def row(bot: RunningBot, short_id: str) -> Booking:
    (found,) = [b for b in await bookings(bot) if b.short_id == short_id]
    return found


async def move(bot: RunningBot, text: str, *, user: str = OWNER) -> None:
    """`/tonomo move text`: acknowledged at once, "Checking the calendars…"; the rest follows."""
    sent = await bot.slack.send_slash_command(
        bot.events_url, user_id=user, channel_id=CHANNEL, text=f"move {text}"
    )
    assert sent.status == 200 and "Checking the calendars" in sent.body


async def reply_to(bot: RunningBot, text: str, *, user: str = OWNER) -> dict[str, Any]:
    """`/tonomo move text` whose answer is for the person only: that answer (as the channel
    shows it to them)."""
    before = len(bot.slack.ephemerals(CHANNEL, user))
    await move(bot, text, user=user)
    answers = await wait_until(lambda: bot.slack.ephemerals(CHANNEL, user)[before:])
    return answers[0]


def notices(bot: RunningBot) -> list[str]:
    return [text_of(m) for m in channel_posts(bot) if " moved `" in text_of(m)]


def starts(event: dict[str, Any]) -> datetime:
    return datetime.fromisoformat(event["start"]["dateTime"])


def later(day: date, days: int = 1) -> date:
    return day + timedelta(days=days)


async def test_a_move_moves_the_same_event_and_shows_it_in_place(team: RunningBot) -> None:
    day = next_weekday()
    message, short_id = await booked(
        team, f"<@{ALICE}|alice> {day.isoformat()} 10:00 1h30m Listing photos at 5 Elm St"
    )
    (event,) = events_of(team, PRIMARY_EMAIL)

    await move(team, f"{short_id.lower()} {later(day).isoformat()} 14:00")
    notice = (await wait_until(lambda: notices(team)))[0]

    assert f"<@{OWNER}> moved `{short_id}` (<@{ALICE}>, Listing photos at 5 Elm St)" in notice
    assert "10am–11:30am to *" in notice and "2pm–3:30pm*" in notice
    # The booking's own message shows the new time, in place, with its buttons.
    shown = posted(team, message["ts"])
    assert "2pm–3:30pm" in text_of(shown) and f"Moved by <@{OWNER}>" in text_of(shown)
    assert [b["action_id"] for b in buttons(shown)] == [MOVE_BOOKING, CANCEL_BOOKING]
    # The same event, moved in place; Alice's invitation moved with it.
    (moved,) = events_of(team, PRIMARY_EMAIL)
    assert moved["id"] == event["id"] and moved["summary"] == event["summary"]
    assert starts(moved) == at(later(day), 14) and moved["sequence"] == 1
    assert moved["start"]["timeZone"] == "America/New_York"
    (invited,) = events_of(team, ALICE_EMAIL)
    assert starts(invited) == at(later(day), 14)
    (patch,) = patches(team.google)
    assert patch.query["sendUpdates"] == "all" and patch.path.endswith(event["id"])
    stored = await row(team, short_id)
    assert (stored.starts_at, stored.ends_at) == (at(later(day), 14), at(later(day), 15, 30))
    assert stored.status is BookingStatus.BOOKED and stored.event_id == event["id"]


async def test_a_move_retried_by_slack_moves_once(team: RunningBot) -> None:
    day = next_weekday()
    _, short_id = await booked(team, f"<@{BOB}|bob> {day.isoformat()} 9:00 1h Twilight")
    await sent_twice(team, f"move {short_id} {later(day).isoformat()} 11:00")

    await wait_until(lambda: any("already there" in text_of(r) for r in team.slack.responses))
    await wait_until(lambda: notices(team))
    await asyncio.sleep(0.3)  # anything more would have come by now
    assert len(notices(team)) == 1, "one move, told once"
    assert len(patches(team.google)) == 1, "patched once"
    (event,) = events_of(team, PRIMARY_EMAIL)
    assert starts(event) == at(later(day), 11)
    assert (await row(team, short_id)).starts_at == at(later(day), 11)


async def test_a_conflict_says_why_and_offers_times_that_move_it(team: RunningBot) -> None:
    day = next_weekday()
    wednesday = later(day)
    team.google.add_event(
        ALICE_EMAIL, start=at(wednesday, 13), end=at(wednesday, 16), summary="Private"
    )
    _, short_id = await booked(team, f"<@{ALICE}|alice> {day.isoformat()} 10:00 1h30m Shoot")

    offer = await reply_to(team, f"{short_id} {wednesday.isoformat()} 14:00")
    said = text_of(offer)
    assert f"I can't move `{short_id}` (<@{ALICE}>, Shoot) to" in said
    assert "busy on their own calendar 1pm–4pm" in said and "Private" not in said
    offered = [b for b in buttons(offer) if b["action_id"].startswith(MOVE_SLOT)]
    assert [b["text"]["text"].split(", ")[-1] for b in offered] == [
        "11am–12:30pm",
        "11:15am–12:45pm",
        "11:30am–1pm",
    ]
    assert patches(team.google) == [], "nothing moved"

    # A click moves it there; a second click on the same button moves nothing more.
    for _ in range(2):
        await team.slack.send_block_action(
            team.events_url,
            user_id=OWNER,
            channel_id=CHANNEL,
            action_id=offered[2]["action_id"],
            message_ts=offer["ts"],
        )
    await wait_until(lambda: notices(team))
    await wait_until(lambda: any("already there" in text_of(r) for r in team.slack.responses))
    assert len(patches(team.google)) == 1
    assert (await row(team, short_id)).starts_at == at(wednesday, 11, 30)
    (used,) = [m for m in team.slack.ephemerals(CHANNEL, OWNER) if m["ts"] == offer["ts"]]
    assert not buttons(used) and "is now" in text_of(used)


async def test_a_move_keeps_the_buffer_around_other_bookings(team: RunningBot) -> None:
    day = next_weekday()
    wednesday = later(day)
    responses = len(team.slack.responses)
    await team.slack.send_slash_command(
        team.events_url, user_id=OWNER, channel_id=CHANNEL, text="settings buffer 30m"
    )
    await wait_until(lambda: team.slack.responses[responses:])
    _, first = await booked(team, f"<@{BOB}|bob> {day.isoformat()} 10:00 1h First")
    _, second = await booked(team, f"<@{BOB}|bob> {wednesday.isoformat()} 12:00 1h Second")

    refused = text_of(await reply_to(team, f"{first} {wednesday.isoformat()} 13:15"))
    assert f"30m kept free around booking {second} (1pm–1:30pm)" in refused
    assert (await row(team, first)).starts_at == at(day, 10)

    await move(team, f"{first} {wednesday.isoformat()} 13:30")
    await wait_until(lambda: notices(team))
    assert (await row(team, first)).starts_at == at(wednesday, 13, 30)


async def test_the_move_button_opens_a_form_that_moves_it(team: RunningBot) -> None:
    day = next_weekday()
    wednesday = later(day)
    team.google.add_event(ALICE_EMAIL, start=at(wednesday, 12), end=at(wednesday, 15))
    message, short_id = await booked(team, f"<@{ALICE}|alice> {day.isoformat()} 9:00 1h Shoot")

    await team.slack.send_block_action(
        team.events_url,
        user_id=ALICE,  # her own booking
        channel_id=CHANNEL,
        action_id=MOVE_BOOKING,
        message_ts=message["ts"],
    )
    (view,) = await wait_until(
        lambda: [v for v in team.slack.views(ALICE) if v.get("callback_id") == MOVE_MODAL]
    )
    inputs = {b["block_id"]: b["element"] for b in view["blocks"] if b["type"] == "input"}
    assert inputs[FORM_DAY]["initial_date"] == day.isoformat()
    assert inputs[FORM_TIME]["initial_time"] == "09:00"

    def values(on: date, hour: str) -> dict[str, Any]:
        return {
            FORM_DAY: {FORM_DAY: {"type": "datepicker", "selected_date": on.isoformat()}},
            FORM_TIME: {FORM_TIME: {"type": "timepicker", "selected_time": hour}},
        }

    # A busy time keeps the form open, with why and the nearest free times in it.
    sent = await team.slack.send_view_submission(
        team.events_url, user_id=ALICE, view_id=view["id"], values=values(wednesday, "13:00")
    )
    answer = sent.json()
    assert answer["response_action"] == "update"
    assert "busy on their own calendar 12pm–3pm" in str(answer["view"]["blocks"])
    (slots,) = [b for b in answer["view"]["blocks"] if b.get("block_id") == FORM_SLOT]
    options = slots["element"]["options"]
    assert [o["text"]["text"].split(", ")[-1] for o in options] == [
        "10:45am–11:45am",
        "11am–12pm",
        "3pm–4pm",
    ]
    assert patches(team.google) == []

    # A time already past is said on the field.
    past = await team.slack.send_view_submission(
        team.events_url,
        user_id=ALICE,
        view_id=view["id"],
        values=values(datetime.now(NEW_YORK).date(), "00:00"),
    )
    assert "already passed" in past.json()["errors"][FORM_TIME]

    # Picking one of the offered times moves it.
    chosen = values(wednesday, "13:00")
    chosen[FORM_SLOT] = {FORM_SLOT: {"type": "radio_buttons", "selected_option": options[2]}}
    done = await team.slack.send_view_submission(
        team.events_url, user_id=ALICE, view_id=view["id"], values=chosen
    )
    assert done.status == 200 and not done.body.strip(), "the form closes"
    notice = (await wait_until(lambda: notices(team)))[0]
    assert f"<@{ALICE}> moved `{short_id}`" in notice and "3pm–4pm" in notice
    await wait_until(lambda: "3pm–4pm" in text_of(posted(team, message["ts"])))
    (event,) = events_of(team, PRIMARY_EMAIL)
    assert starts(event) == at(wednesday, 15)
    assert (await row(team, short_id)).starts_at == at(wednesday, 15)


async def test_staff_move_only_their_own_bookings(team: RunningBot) -> None:
    day = next_weekday()
    message, short_id = await booked(team, f"<@{ALICE}|alice> {day.isoformat()} 9:00 1h Shoot")

    refused = text_of(await reply_to(team, f"{short_id} {day.isoformat()} 11:00", user=BOB))
    assert f"Booking `{short_id}` is <@{ALICE}>'s. You can move your own bookings" in refused
    responses = len(team.slack.responses)
    await team.slack.send_block_action(
        team.events_url,
        user_id=BOB,
        channel_id=CHANNEL,
        action_id=MOVE_BOOKING,
        message_ts=message["ts"],
    )
    (answer,) = await wait_until(lambda: team.slack.responses[responses:])
    assert "You can move your own bookings" in text_of(answer)
    assert not [v for v in team.slack.views(BOB) if v.get("callback_id") == MOVE_MODAL]
    assert patches(team.google) == []

    # Alice moves her own, by mention (the door of people of another organisation).
    _, sent = await team.slack.send_message(
        team.events_url,
        user_id=ALICE,
        channel_id=CHANNEL,
        text=f"<@{team.slack.bot_user_id}> move {short_id} {day.isoformat()} 11:00",
    )
    assert sent is not None and sent.status == 200
    await wait_until(lambda: notices(team))
    assert (await row(team, short_id)).starts_at == at(day, 11)


async def test_what_can_t_be_moved_is_said_kindly(team: RunningBot) -> None:
    day = next_weekday()
    _, short_id = await booked(team, f"<@{ALICE}|alice> {day.isoformat()} 9:00 1h Shoot")

    unknown = text_of(await reply_to(team, f"ZZZZZZ {day.isoformat()} 11:00"))
    assert "There's no booking `ZZZZZZ` in this channel" in unknown
    past = text_of(await reply_to(team, f"{short_id} today 0:00"))
    assert "already passed" in past
    late = text_of(await reply_to(team, f"{short_id} {day.isoformat()} 16:30"))
    assert "outside working hours (9am–5pm, Mon–Fri)" in late
    here = text_of(await reply_to(team, f"{short_id} {day.isoformat()} 9:00"))
    assert "already there" in here and "nothing to move" in here
    bad_day = await team.slack.send_slash_command(
        team.events_url, user_id=OWNER, channel_id=CHANNEL, text=f"move {short_id} someday 9:00"
    )
    assert bad_day.status == 200 and "move BOOKING DAY TIME" in bad_day.body

    await team.slack.send_slash_command(
        team.events_url, user_id=OWNER, channel_id=CHANNEL, text=f"cancel {short_id}"
    )
    await wait_until(lambda: any("cancelled" in text_of(m).lower() for m in channel_posts(team)))
    gone = text_of(await reply_to(team, f"{short_id} {day.isoformat()} 11:00"))
    assert "was cancelled, so there's nothing to move" in gone
    assert patches(team.google) == []
