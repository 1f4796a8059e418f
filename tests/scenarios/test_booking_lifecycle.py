"""A booking's life after it is made, and the booking form's answers, end to end: signed
commands, mentions, clicks and modal submissions into the real server; the real Google
client against the emulator; SQLite and PostgreSQL.

- Cancelling acts on the account that holds the event, even after the primary calendar was
  replaced by another account; when that account can't be reached, the person is told so
  and may mark the booking cancelled here and delete the event by hand.
- Cancelling by any door shows the channel's booking message cancelled.
- The booking form starts at the next working slot, keeps itself open with the trouble on
  the field, offers the nearest free times inside itself, and answers within 3 seconds
  however slow Google is, booking exactly once.
- A suggested slot, once booked, leaves no live buttons behind.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from alembic import command as alembic_command
from sqlalchemy import text
from sqlalchemy.engine import Connection

from bot.messages.booking_form import (
    FORM_DAY,
    FORM_DURATION,
    FORM_SLOT,
    FORM_STAFF,
    FORM_TIME,
    FORM_TITLE,
)
from bot.messages.ids import BOOK_MODAL, BOOK_SLOT, CANCEL_BOOKING, MARK_CANCELLED, REPLACE_PRIMARY
from handlers import booking as booking_handlers
from sandbox.fake_google import approve_consent
from sandbox.fake_slack import button_urls, text_of
from sandbox.faults import Fault
from storage.db import alembic_config, create_engine, migrate
from storage.models import BookingStatus
from tests.conftest import ALICE, BOB, CHANNEL, OWNER, RunningBot
from tests.helpers import wait_until
from tests.scenarios.flows import (
    ALICE_EMAIL,
    BOB_EMAIL,
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
    mention,
    next_weekday,
    open_book_form,
    posted,
    send,
    team,
)

__all__ = ["team"]  # the fixture, used by name

CARMEN_EMAIL = "carmen@acme-photo.com"


async def replace_primary(bot: RunningBot, email: str) -> None:
    """The owner replaces the primary calendar: asks, confirms, signs in as `email`."""
    asked = await mention(bot, "connect-calendar primary")
    assert any(b["action_id"] == REPLACE_PRIMARY for b in buttons(asked))
    responses = len(bot.slack.responses)
    await bot.slack.send_block_action(
        bot.events_url,
        user_id=OWNER,
        channel_id=CHANNEL,
        action_id=REPLACE_PRIMARY,
        message_ts=asked["ts"],
    )
    answer = await wait_until(
        lambda: [r for r in bot.slack.responses[responses:] if button_urls(r.get("blocks", []))]
    )
    (url,) = button_urls(answer[0]["blocks"])
    async with bot.http.get(await approve_consent(url, email=email)) as page:
        assert page.status == 200


async def stored_message_ts(bot: RunningBot) -> str | None:
    """The one booking's remembered message (stored just after it is posted)."""
    deadline = time.monotonic() + 5
    while True:
        (row,) = await bookings(bot)
        if row.message_ts or time.monotonic() > deadline:
            return row.message_ts
        await asyncio.sleep(0.01)


def ephemeral(bot: RunningBot, ts: str, user: str = OWNER) -> dict[str, Any]:
    (message,) = [m for m in bot.slack.ephemerals(CHANNEL, user) if m["ts"] == ts]
    return message


# --- 1. cancelling where the event is -------------------------------------------------------


async def test_after_the_primary_is_replaced_cancel_never_claims_the_event_is_gone(
    bot: RunningBot,
) -> None:
    """The issue's reproduction: the primary connected as carmen@, Bob booked, the primary
    reconnected as bookings@, then `cancel`."""
    assert (await connect(bot, user=OWNER, email=CARMEN_EMAIL, primary=True))[0] == 200
    assert (await connect(bot, user=BOB, email=BOB_EMAIL))[0] == 200
    day = next_weekday()
    booked = await book(bot, f"<@{BOB}|bob> {day.isoformat()} 10:00 2h Kitchen remodel shoot")
    (short_id,) = SHORT_ID.findall(text_of(booked))[:1]
    (event,) = events_of(bot, CARMEN_EMAIL)

    await replace_primary(bot, PRIMARY_EMAIL)
    responses = len(bot.slack.responses)
    await send(bot, f"cancel {short_id}")
    (answer,) = await wait_until(lambda: bot.slack.responses[responses:])
    said = text_of(answer)
    assert "gone" not in said, said
    assert f"its event is on {CARMEN_EMAIL}'s calendar" in said
    assert f"the primary calendar is now {PRIMARY_EMAIL}" in said
    assert "connect-calendar primary" in said, "reconnecting that account is offered"
    (mark,) = [b for b in buttons(answer) if b["action_id"] == MARK_CANCELLED]
    assert mark["text"]["text"] == "Mark cancelled here" and mark["value"] == short_id
    # Nothing changed: the event is where it was, the booking stands, bookings@ wasn't asked.
    assert [e["id"] for e in events_of(bot, CARMEN_EMAIL)] == [event["id"]]
    assert bot.google.requests.matching(f"{event['id']}$", "DELETE") == []
    (row,) = await bookings(bot)
    assert row.status is BookingStatus.BOOKED
    assert (row.event_account, row.event_calendar) == (CARMEN_EMAIL, "primary")
    assert not any("cancelled" in text_of(m).lower() for m in channel_posts(bot))

    # "Mark cancelled here": cancelled in the bot, the event left for a person to delete.
    ephemerals = bot.slack.ephemerals(CHANNEL, OWNER)
    offer = next(m for m in reversed(ephemerals) if MARK_CANCELLED in str(m["blocks"]))
    await bot.slack.send_block_action(
        bot.events_url,
        user_id=OWNER,
        channel_id=CHANNEL,
        action_id=MARK_CANCELLED,
        message_ts=offer["ts"],
    )
    await wait_until(lambda: "Cancelled" in text_of(posted(bot, booked["ts"])))
    assert not buttons(posted(bot, booked["ts"])), "the booking's message has no Cancel left"
    notice = await wait_until(lambda: [m for m in channel_posts(bot) if "marked" in text_of(m)])
    assert f"still in {CARMEN_EMAIL}'s Google Calendar" in text_of(notice[0])
    assert "delete it there by hand" in text_of(notice[0])
    assert "gone" not in text_of(notice[0])
    replaced = ephemeral(bot, offer["ts"])
    assert not buttons(replaced) and "marked" in text_of(replaced)
    (row,) = await bookings(bot)
    assert row.status is BookingStatus.CANCELLED and row.cancelled_by == OWNER
    assert [e["id"] for e in events_of(bot, CARMEN_EMAIL)] == [event["id"]]


async def test_connecting_the_event_s_account_again_lets_cancel_delete_it(
    bot: RunningBot,
) -> None:
    assert (await connect(bot, user=OWNER, email=CARMEN_EMAIL, primary=True))[0] == 200
    assert (await connect(bot, user=BOB, email=BOB_EMAIL))[0] == 200
    booked = await book(bot, f"<@{BOB}|bob> {next_weekday().isoformat()} 10:00 1h Shoot")
    (short_id,) = SHORT_ID.findall(text_of(booked))[:1]
    await replace_primary(bot, PRIMARY_EMAIL)
    await replace_primary(bot, CARMEN_EMAIL)

    await send(bot, f"cancel {short_id}")
    await wait_until(lambda: "Cancelled" in text_of(posted(bot, booked["ts"])))
    assert events_of(bot, CARMEN_EMAIL) == []
    notice = await wait_until(lambda: [m for m in channel_posts(bot) if "Its event" in text_of(m)])
    assert f"gone from the primary calendar ({CARMEN_EMAIL})" in text_of(notice[-1])


# --- 3. the booking's message shows it cancelled, whatever the door -------------------------


async def test_cancel_by_command_shows_the_booking_message_cancelled(team: RunningBot) -> None:
    booked = await book(team, f"<@{ALICE}|alice> {next_weekday().isoformat()} 9:00 1h Shoot")
    (short_id,) = SHORT_ID.findall(text_of(booked))[:1]
    assert any(b["action_id"] == CANCEL_BOOKING for b in buttons(booked))
    assert await stored_message_ts(team) == booked["ts"]

    await send(team, f"cancel {short_id}")
    await wait_until(lambda: "Cancelled" in text_of(posted(team, booked["ts"])))
    assert buttons(posted(team, booked["ts"])) == [], "no Cancel button on a cancelled booking"
    assert events_of(team, PRIMARY_EMAIL) == []


async def test_cancel_by_mention_shows_the_booking_message_cancelled(team: RunningBot) -> None:
    booked = await book(team, f"<@{ALICE}|alice> {next_weekday().isoformat()} 9:00 1h Shoot")
    (short_id,) = SHORT_ID.findall(text_of(booked))[:1]
    _, sent = await team.slack.send_message(
        team.events_url,
        user_id=ALICE,  # her own booking
        channel_id=CHANNEL,
        text=f"<@{team.slack.bot_user_id}> cancel {short_id}",
    )
    assert sent is not None and sent.status == 200
    await wait_until(lambda: "Cancelled" in text_of(posted(team, booked["ts"])))
    assert buttons(posted(team, booked["ts"])) == []
    (row,) = await bookings(team)
    assert row.status is BookingStatus.CANCELLED and row.cancelled_by == ALICE


# --- 8. a used suggestion ----------------------------------------------------------------


async def test_a_booked_suggestion_leaves_no_live_buttons(team: RunningBot) -> None:
    day = next_weekday()
    team.google.add_event(ALICE_EMAIL, start=at(day, 12), end=at(day, 15))
    offer = await book(team, f"<@{ALICE}|alice> {day.isoformat()} 13:00 1h Kitchen photos")
    offered = [b for b in buttons(offer) if b["action_id"].startswith(BOOK_SLOT)]
    assert len(offered) == 3

    await team.slack.send_block_action(
        team.events_url,
        user_id=OWNER,
        channel_id=CHANNEL,
        action_id=offered[2]["action_id"],
        message_ts=offer["ts"],
    )
    booked = await wait_until(lambda: [m for m in channel_posts(team) if "Booked" in text_of(m)])
    (short_id,) = SHORT_ID.findall(text_of(booked[0]))[:1]
    await wait_until(lambda: not buttons(ephemeral(team, offer["ts"])))
    used = ephemeral(team, offer["ts"])
    assert "3pm–4pm" in text_of(used) and short_id in text_of(used)
    assert len(events_of(team, PRIMARY_EMAIL)) == 1


# --- 4. the booking form ------------------------------------------------------------------


def form_values(
    day: str, at_time: str, *, duration: str = "1h", title: str = "Listing shoot"
) -> dict[str, Any]:
    return {
        FORM_STAFF: {FORM_STAFF: {"type": "users_select", "selected_user": ALICE}},
        FORM_DAY: {FORM_DAY: {"type": "datepicker", "selected_date": day}},
        FORM_TIME: {FORM_TIME: {"type": "timepicker", "selected_time": at_time}},
        FORM_DURATION: {FORM_DURATION: {"type": "plain_text_input", "value": duration}},
        FORM_TITLE: {FORM_TITLE: {"type": "plain_text_input", "value": title}},
    }


def inputs(view: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {b["block_id"]: b["element"] for b in view["blocks"] if b["type"] == "input"}


async def test_the_form_starts_on_monday_9_when_opened_on_a_sunday_evening(
    team: RunningBot, monkeypatch: pytest.MonkeyPatch
) -> None:
    sunday_evening = datetime(2026, 12, 6, 19, 40, tzinfo=NEW_YORK)
    monkeypatch.setattr(booking_handlers, "utcnow", lambda: sunday_evening.astimezone(UTC))
    view = await open_book_form(team)
    fields = inputs(view)
    assert fields[FORM_DAY]["initial_date"] == "2026-12-07"
    assert fields[FORM_TIME]["initial_time"] == "09:00"


async def test_a_past_or_after_hours_time_keeps_the_form_open_with_the_error_on_the_time(
    team: RunningBot,
) -> None:
    view = await open_book_form(team)
    said = len(team.slack.ephemerals(CHANNEL, OWNER)) + len(team.slack.responses)
    today = datetime.now(NEW_YORK).date().isoformat()
    past = await team.slack.send_view_submission(
        team.events_url, user_id=OWNER, view_id=view["id"], values=form_values(today, "00:00")
    )
    answer = past.json()
    assert answer["response_action"] == "errors"
    assert "already passed" in answer["errors"][FORM_TIME]

    late = await team.slack.send_view_submission(
        team.events_url,
        user_id=OWNER,
        view_id=view["id"],
        values=form_values(next_weekday().isoformat(), "18:00"),
    )
    answer = late.json()
    assert answer["response_action"] == "errors"
    assert "outside their working hours" in answer["errors"][FORM_TIME]

    assert [v["id"] for v in team.slack.views() if v.get("callback_id") == BOOK_MODAL] == [
        view["id"]
    ], "the form is still open"
    assert len(team.slack.ephemerals(CHANNEL, OWNER)) + len(team.slack.responses) == said, (
        "nothing said outside the form"
    )
    assert await bookings(team) == [] and events_of(team, PRIMARY_EMAIL) == []


async def test_staff_choosing_someone_else_is_told_on_the_who_field(team: RunningBot) -> None:
    view = await open_book_form(team, ALICE)
    values = form_values(next_weekday().isoformat(), "10:00")
    values[FORM_STAFF][FORM_STAFF]["selected_user"] = BOB
    sent = await team.slack.send_view_submission(
        team.events_url, user_id=ALICE, view_id=view["id"], values=values
    )
    answer = sent.json()
    assert answer["response_action"] == "errors"
    assert "Only the owner or an onboarder can book someone else" in answer["errors"][FORM_STAFF]
    assert "<@" not in answer["errors"][FORM_STAFF], "a field's error is plain text"
    assert await bookings(team) == []


async def test_a_conflict_offers_the_nearest_free_times_in_the_form(team: RunningBot) -> None:
    day = next_weekday()
    team.google.add_event(ALICE_EMAIL, start=at(day, 12), end=at(day, 15), summary="Private")
    view = await open_book_form(team)
    sent = await team.slack.send_view_submission(
        team.events_url,
        user_id=OWNER,
        view_id=view["id"],
        values=form_values(day.isoformat(), "13:00", title="Kitchen photos"),
    )
    answer = sent.json()
    assert answer["response_action"] == "update"
    updated = answer["view"]
    assert "busy on their own calendar 12pm–3pm" in str(updated["blocks"][0])
    assert "Private" not in str(updated)
    fields = inputs(updated)
    assert fields[FORM_STAFF]["initial_user"] == ALICE
    assert fields[FORM_DAY]["initial_date"] == day.isoformat()
    assert fields[FORM_TIME]["initial_time"] == "13:00"
    assert fields[FORM_TITLE]["initial_value"] == "Kitchen photos"
    options = fields[FORM_SLOT]["options"]
    assert [o["text"]["text"].split(", ")[-1] for o in options] == [
        "10:45am–11:45am",
        "11am–12pm",
        "3pm–4pm",
    ]
    (still_open,) = [v for v in team.slack.views() if v.get("callback_id") == BOOK_MODAL]
    assert still_open["id"] == view["id"] and FORM_SLOT in str(still_open["blocks"])
    assert await bookings(team) == []

    # Picking one of them books it.
    chosen = form_values(day.isoformat(), "13:00", title="Kitchen photos")
    chosen[FORM_SLOT] = {FORM_SLOT: {"type": "radio_buttons", "selected_option": options[2]}}
    done = await team.slack.send_view_submission(
        team.events_url, user_id=OWNER, view_id=view["id"], values=chosen
    )
    assert done.status == 200 and not done.body.strip()
    await wait_until(lambda: any("3pm–4pm" in text_of(m) for m in channel_posts(team)))
    (event,) = events_of(team, PRIMARY_EMAIL)
    assert event["summary"] == "Kitchen photos"
    (row,) = await bookings(team)
    assert row.starts_at == at(day, 15)


async def test_with_google_slow_the_form_is_answered_in_time_and_books_once(
    team: RunningBot,
) -> None:
    day = next_weekday()
    team.google.faults.add(Fault(r"/events$", method="POST", latency=3.5, times=1))
    view = await open_book_form(team)
    started = time.monotonic()
    sent = await team.slack.send_view_submission(
        team.events_url,
        user_id=OWNER,
        view_id=view["id"],
        values=form_values(day.isoformat(), "11:00", duration="1h30m"),
    )
    assert time.monotonic() - started < 3.0, "Slack waits 3 seconds"
    answer = sent.json()
    assert answer["response_action"] == "update" and "Working on it" in str(answer["view"])
    assert "submit" not in answer["view"]

    booked = await wait_until(
        lambda: [m for m in channel_posts(team) if "11am–12:30pm" in text_of(m)], timeout=15
    )
    assert len(booked) == 1
    assert len(events_of(team, PRIMARY_EMAIL)) == 1
    (row,) = await bookings(team)
    assert await stored_message_ts(team) == booked[0]["ts"]
    assert row.starts_at == at(day, 11) and row.ends_at - row.starts_at == timedelta(minutes=90)


# --- the migration --------------------------------------------------------------------------


async def test_existing_bookings_take_their_customer_s_primary_account(database_url: str) -> None:
    """Migration 0007: a booking made before it is held by its customer's primary calendar
    as connected now; with none connected, its account is left unknown ("")."""
    engine = create_engine(database_url)

    def upgrade_to(revision: str) -> Callable[[Connection], None]:
        def run(connection: Connection) -> None:
            config = alembic_config()
            config.attributes["connection"] = connection
            alembic_command.upgrade(config, revision)

        return run

    try:
        async with engine.begin() as connection:
            await connection.run_sync(upgrade_to("0006"))
            for customer_id, channel in ((1, "C1"), (2, "C2")):
                await connection.execute(
                    text(
                        "INSERT INTO customers (id, team_id, channel_id, timezone, registered_by,"
                        " work_start, work_end, work_days, digest_enabled, digest_time,"
                        " created_at) VALUES (:id, 'T1', :channel, 'UTC', 'U1', '09:00',"
                        " '17:00', '01234', true, '07:00', :now)"
                    ),
                    {"id": customer_id, "channel": channel, "now": datetime.now(UTC)},
                )
            await connection.execute(
                text(
                    "INSERT INTO calendar_connections (customer_id, kind, owner_key,"
                    " slack_user_id, account_email, token_ciphertext, scopes, state,"
                    " state_reason, connected_at, updated_at, check_failures) VALUES (1,"
                    " 'primary', 'primary', 'U1', :email, :token, '', 'connected', '', :now,"
                    " :now, 0)"
                ),
                {"email": CARMEN_EMAIL, "token": b"sealed", "now": datetime.now(UTC)},
            )
            for n, customer_id in enumerate((1, 2)):
                await connection.execute(
                    text(
                        "INSERT INTO bookings (customer_id, short_id, request_key, event_id,"
                        " staff_user_id, staff_email, title, starts_at, ends_at, booked_by,"
                        " created_at, status) VALUES (:customer, :short, :key, :event, 'U2',"
                        " 'bob@x.com', 'Shoot', :now, :now, 'U1', :now, 'booked')"
                    ),
                    {
                        "customer": customer_id,
                        "short": f"AAAAA{n}",
                        "key": f"{n}" * 64,
                        "event": f"e{n}",
                        "now": datetime.now(UTC),
                    },
                )
        await migrate(engine)
        async with engine.connect() as connection:
            rows = await connection.execute(
                text(
                    "SELECT customer_id, event_account, event_calendar, message_ts FROM bookings"
                    " ORDER BY customer_id"
                )
            )
            assert [tuple(r) for r in rows] == [
                (1, CARMEN_EMAIL, "primary", None),
                (2, "", "primary", None),
            ]
    finally:
        await engine.dispose()
