"""Availability and booking end to end: signed commands, clicks and modals into the real
server; the real Google client against the emulator; SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta
from typing import Any

import pytest

from bot import booking as booking_module
from bot.messages.ids import BOOK_MODAL, CANCEL_BOOKING, CONNECT_MINE
from sandbox.fake_google import approve_consent
from sandbox.fake_slack import button_urls, text_of
from storage.models import BookingStatus
from tests.conftest import ALICE, BOB, CHANNEL, OWNER, RunningBot
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
    command,
    connect,
    events_of,
    next_clock_change,
    next_weekday,
    send,
    sent_twice,
    team,
)

__all__ = ["team"]  # the fixture, used by name


async def ask(bot: RunningBot, text: str, *, user: str = OWNER) -> str:
    """A command whose answer follows a "checking…" ack: the answer's text."""
    return text_of(await command(bot, text, user=user, follow_up=True))


async def connect_from_the_nudge(bot: RunningBot, user: str, email: str) -> dict[str, Any]:
    """`user` clicks "Connect my calendar" on the channel's nudge and signs in: the nudge."""
    await wait_until(lambda: any(CONNECT_MINE in str(m.get("blocks")) for m in channel_posts(bot)))
    nudge = next(m for m in channel_posts(bot) if CONNECT_MINE in str(m.get("blocks")))
    responses = len(bot.slack.responses)
    await bot.slack.send_block_action(
        bot.events_url,
        user_id=user,
        channel_id=CHANNEL,
        action_id=CONNECT_MINE,
        message_ts=nudge["ts"],
    )
    await wait_until(lambda: len(bot.slack.responses) > responses)
    (url,) = button_urls(bot.slack.responses[-1]["blocks"])
    async with bot.http.get(await approve_consent(url, email=email)) as page:
        assert page.status == 200
    return nudge


# --- availability -------------------------------------------------------------------------


async def test_availability_lists_each_connected_person_s_free_ranges(team: RunningBot) -> None:
    day = next_weekday()
    google = team.google
    google.add_event(ALICE_EMAIL, start=at(day, 10), end=at(day, 12), summary="Dentist")
    google.add_event(
        ALICE_EMAIL, start=at(day, 13), end=at(day, 14), summary="Lunch", transparency="transparent"
    )
    google.add_event(
        ALICE_EMAIL,
        start=at(day, 15),
        end=at(day, 16),
        summary="Pitch",
        attendees=[{"email": ALICE_EMAIL, "responseStatus": "declined"}],
    )
    google.add_event(BOB_EMAIL, start=day, end=day + timedelta(days=1), summary="Holiday")

    answer = await ask(team, f"availability {day.isoformat()}")

    assert f"<@{ALICE}>: 9am–10am, 12pm–5pm" in answer
    assert f"<@{BOB}>: fully booked" in answer, "a busy all-day event blocks the day"
    assert "Dentist" not in answer and "America/New_York" in answer


async def test_a_duration_keeps_only_the_windows_it_fits(team: RunningBot) -> None:
    day = next_weekday()
    team.google.add_event(ALICE_EMAIL, start=at(day, 10), end=at(day, 12))
    answer = await ask(team, f"availability <@{ALICE}|alice> {day.isoformat()} 3h")
    assert f"<@{ALICE}>: 12pm–5pm" in answer
    assert f"<@{BOB}>" not in answer


async def test_the_week_view_is_a_grid_of_staff_by_days(team: RunningBot) -> None:
    today = datetime.now(NEW_YORK).date()
    day = today + timedelta(days=7 - today.weekday())  # next week's Monday
    # After Friday's hours "this week" is the coming one, and "next week" the one after.
    for monday in (day, day + timedelta(days=7)):
        team.google.add_event(ALICE_EMAIL, start=at(monday, 9), end=at(monday, 11, 30))
    answer = await ask(team, "availability next week")
    grid = answer[answer.index("```") :]
    assert "Mon" in grid and "Fri" in grid and "Sun" not in grid, "the working week"
    alice_row = next(line for line in grid.splitlines() if line.startswith("alice"))
    cells = alice_row.strip("`").split()[1:]
    assert cells == ["5h30", "8h", "8h", "8h", "8h"], alice_row


async def test_someone_not_connected_is_told_and_offered_their_own_link(
    team: RunningBot,
) -> None:
    team.slack.add_user(CAROL, name="carol", tz="America/New_York")
    team.slack.add_member(CHANNEL, CAROL)
    answer = await ask(team, f"availability <@{CAROL}|carol> tomorrow")
    assert "hasn't connected a calendar yet" in answer

    nudge = await connect_from_the_nudge(team, CAROL, "carol@acme-photo.com")
    assert f"<@{CAROL}>" in text_of(nudge)
    answer = await ask(team, f"availability <@{CAROL}|carol> {next_weekday().isoformat()}")
    assert f"<@{CAROL}>: 9am–5pm" in answer


async def test_a_bad_day_gets_a_kind_reply(team: RunningBot) -> None:
    # A mistake is the acknowledgement's own answer.
    answer = text_of(await command(team, "availability 2026-02-30"))
    assert "February 2026 has 28 days" in answer
    past = text_of(await command(team, "availability 2020-01-01"))
    assert "in the past" in past


async def test_no_staff_connected_yet(bot: RunningBot) -> None:
    answer = await ask(bot, "availability")
    assert "No staff member has connected a calendar yet" in answer


# --- booking ------------------------------------------------------------------------------


async def test_a_booking_makes_one_event_and_says_so_in_the_channel(team: RunningBot) -> None:
    day = next_weekday()
    posted = await book(
        team, f"<@{ALICE}|alice> {day.isoformat()} 13:00 1h30m Shoot at 12 Main St <!channel>"
    )

    text = text_of(posted)
    assert "1pm–2:30pm" in text and "Shoot at 12 Main St @channel" in text
    assert "<!channel>" not in text, "a typed <!channel> pings no one"
    (short_id,) = SHORT_ID.findall(text)[:1]
    assert any(b["action_id"] == CANCEL_BOOKING and b["value"] == short_id for b in buttons(posted))

    (event,) = events_of(team, PRIMARY_EMAIL)
    assert event["summary"] == "Shoot at 12 Main St @channel"
    assert [a["email"] for a in event["attendees"]] == [ALICE_EMAIL]
    assert event["start"]["timeZone"] == "America/New_York"
    (row,) = await bookings(team)
    assert (row.short_id, row.event_id, row.status) == (short_id, event["id"], BookingStatus.BOOKED)


async def test_a_busy_person_gets_the_reason_and_three_slots_that_book(
    team: RunningBot,
) -> None:
    day = next_weekday()
    team.google.add_event(
        ALICE_EMAIL,
        start=at(day, 12),
        end=at(day, 15),
        summary="Private: therapy",
        visibility="private",
    )
    reply = await book(team, f"<@{ALICE}|alice> {day.isoformat()} 13:00 1h Kitchen photos")
    text = text_of(reply)
    assert "busy on their own calendar 12pm–3pm" in text, "the reason as `why` says it"
    assert "therapy" not in text, "never the title of their event"
    offered = buttons(reply)
    # The nearest on the customer's step (15 minutes unless set).
    assert [b["text"]["text"].split(", ")[-1] for b in offered] == [
        "10:45am–11:45am",
        "11am–12pm",
        "3pm–4pm",
    ]

    # A click books the slot; a second click on the same button books nothing more.
    for _ in range(2):
        await team.slack.send_block_action(
            team.events_url,
            user_id=OWNER,
            channel_id=CHANNEL,
            action_id=offered[2]["action_id"],
            message_ts=reply["ts"],
        )
    await wait_until(lambda: len(events_of(team, PRIMARY_EMAIL)) == 1)
    await wait_until(lambda: any("booked already" in text_of(r) for r in team.slack.responses))
    assert len(events_of(team, PRIMARY_EMAIL)) == 1
    (row,) = await bookings(team)
    assert row.starts_at == at(day, 15) and row.title == "Kitchen photos"


async def test_a_clash_with_another_booking_and_outside_hours(team: RunningBot) -> None:
    day = next_weekday()
    first = await book(team, f"<@{BOB}|bob> {day.isoformat()} 10:00 2h Twilight shoot")
    (short_id,) = SHORT_ID.findall(text_of(first))[:1]
    clash = text_of(await book(team, f"<@{BOB}|bob> {day.isoformat()} 11:00 1h Drone"))
    assert f"booking {short_id} 10am–12pm" in clash
    late = text_of(await book(team, f"<@{BOB}|bob> {day.isoformat()} 16:30 1h Drone"))
    assert "outside working hours (9am–5pm, Mon–Fri)" in late


async def test_a_retried_command_books_once(team: RunningBot) -> None:
    day = next_weekday()
    await sent_twice(team, f"book <@{ALICE}|alice> {day.isoformat()} 9:00 1h Retry me")
    await wait_until(lambda: any("booked already" in text_of(r) for r in team.slack.responses))
    assert len(events_of(team, PRIMARY_EMAIL)) == 1
    assert len(await bookings(team)) == 1


async def test_two_bookings_of_the_same_slot_at_once_one_wins(team: RunningBot) -> None:
    day = next_weekday()
    text = f"book <@{ALICE}|alice> {day.isoformat()} 14:00 1h Same slot"
    await asyncio.gather(
        *(
            team.slack.send_slash_command(
                team.events_url, user_id=user, channel_id=CHANNEL, text=text
            )
            # The owner books anyone; Alice may book herself.
            for user in (OWNER, ALICE, OWNER, ALICE)
        )
    )
    await wait_until(
        lambda: sum("I can't book" in text_of(r) for r in team.slack.responses) == 3,
        timeout=20,
    )
    assert len(events_of(team, PRIMARY_EMAIL)) == 1
    (row,) = await bookings(team)
    refusals = [text_of(r) for r in team.slack.responses if "I can't book" in text_of(r)]
    assert all(f"booking {row.short_id} 2pm–3pm" in text for text in refusals), refusals


async def test_booking_someone_not_connected_is_refused(team: RunningBot) -> None:
    reply = await book(team, f"<@{CAROL}|carol> {next_weekday().isoformat()} 9:00 1h Shoot")
    assert "haven't connected a calendar yet" in text_of(reply)
    assert events_of(team, PRIMARY_EMAIL) == []


async def test_booking_without_a_primary_calendar_is_refused(bot: RunningBot) -> None:
    await connect(bot, user=ALICE, email=ALICE_EMAIL)
    reply = await book(bot, f"<@{ALICE}|alice> {next_weekday().isoformat()} 9:00 1h Shoot")
    assert "primary calendar isn't connected yet" in text_of(reply)


async def test_a_time_already_gone_is_refused(team: RunningBot) -> None:
    reply = await book(team, f"<@{ALICE}|alice> today 0:00 1h Too late")
    assert "already passed" in text_of(reply)
    assert await bookings(team) == []


async def test_google_down_while_booking_books_nothing(
    team: RunningBot, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The library's own retries (with their backoff) are the adapter tests' business.
    monkeypatch.setattr(team.services.calendar, "_num_retries", 0)
    team.google.server_error(r".*/events$", times=None)
    reply = await book(team, f"<@{ALICE}|alice> {next_weekday().isoformat()} 9:00 1h Shoot")
    assert "Google didn't answer, so nothing was booked" in text_of(reply)
    assert await bookings(team) == []


async def test_a_booking_that_cannot_be_saved_takes_its_event_back(
    team: RunningBot, monkeypatch: pytest.MonkeyPatch
) -> None:
    day = next_weekday()
    first = await book(team, f"<@{BOB}|bob> {day.isoformat()} 9:00 1h First")
    taken = SHORT_ID.findall(text_of(first))[0]
    monkeypatch.setattr(booking_module, "short_id", lambda digest: taken)  # collides on save
    reply = await book(team, f"<@{ALICE}|alice> {day.isoformat()} 9:00 1h Second")
    assert "I took the event back" in text_of(reply)
    assert [e["summary"] for e in events_of(team, PRIMARY_EMAIL)] == ["First"]
    assert len(await bookings(team)) == 1


# --- cancelling ---------------------------------------------------------------------------


async def test_cancel_by_id_deletes_the_event(team: RunningBot) -> None:
    posted = await book(team, f"<@{ALICE}|alice> {next_weekday().isoformat()} 9:00 1h Shoot")
    short_id = SHORT_ID.findall(text_of(posted))[0]

    await send(team, f"cancel {short_id.lower()}")
    await wait_until(lambda: "cancelled" in text_of(channel_posts(team)[-1]))
    assert events_of(team, PRIMARY_EMAIL) == []
    (row,) = await bookings(team)
    assert row.status is BookingStatus.CANCELLED and row.cancelled_by == OWNER

    await send(team, f"cancel {short_id}")
    await wait_until(lambda: any("cancelled already" in text_of(r) for r in team.slack.responses))
    await send(team, "cancel ZZZZZZ")
    await wait_until(lambda: any("no booking `ZZZZZZ`" in text_of(r) for r in team.slack.responses))


async def test_the_cancel_button_updates_the_booking_in_place(team: RunningBot) -> None:
    posted = await book(team, f"<@{ALICE}|alice> {next_weekday().isoformat()} 9:00 1h Shoot")
    await team.slack.send_block_action(
        team.events_url,
        user_id=ALICE,  # her own booking
        channel_id=CHANNEL,
        action_id=CANCEL_BOOKING,
        message_ts=posted["ts"],
    )
    await wait_until(lambda: "Cancelled by" in text_of(channel_posts(team)[-1]))
    assert events_of(team, PRIMARY_EMAIL) == []


# --- the modal ----------------------------------------------------------------------------


async def test_book_alone_opens_a_form_that_validates_and_books(team: RunningBot) -> None:
    await send(team, "book")
    # Connecting published Home tabs too; the form is the one modal.
    (view,) = await wait_until(lambda: [v for v in team.slack.views() if v["type"] == "modal"])
    assert view["callback_id"] == BOOK_MODAL
    day = next_weekday()

    def values(duration: str) -> dict[str, Any]:
        return {
            "staff": {"staff": {"type": "users_select", "selected_user": ALICE}},
            "day": {"day": {"type": "datepicker", "selected_date": day.isoformat()}},
            "time": {"time": {"type": "timepicker", "selected_time": "11:00"}},
            "duration": {"duration": {"type": "plain_text_input", "value": duration}},
            "title": {"title": {"type": "plain_text_input", "value": "Listing shoot"}},
        }

    refused = await team.slack.send_view_submission(
        team.events_url, user_id=OWNER, view_id=view["id"], values=values("0m")
    )
    answer = refused.json()
    assert (
        answer["response_action"] == "errors" and "no time at all" in answer["errors"]["duration"]
    )

    done = await team.slack.send_view_submission(
        team.events_url, user_id=OWNER, view_id=view["id"], values=values("1h30m")
    )
    assert done.status == 200 and not done.body.strip()
    await wait_until(lambda: len(events_of(team, PRIMARY_EMAIL)) == 1)
    await wait_until(lambda: "11am–12:30pm" in text_of(channel_posts(team)[-1]))


# --- settings -----------------------------------------------------------------------------


async def test_settings_change_the_hours_and_timezone_availability_uses(team: RunningBot) -> None:
    day = next_weekday()
    shown = text_of(await command(team, "settings hours 10am-4pm tue-sat"))
    if not shown.strip():
        await wait_until(lambda: "Working hours are now" in text_of(team.slack.responses[-1]))
        shown = text_of(team.slack.responses[-1])
    assert "10am–4pm, Tue–Sat" in shown
    answer = await ask(team, f"availability <@{BOB}|bob> {day.isoformat()}")
    assert f"<@{BOB}>: 10am–4pm" in answer

    await command(team, "settings timezone asia/kolkata")
    await wait_until(lambda: "Asia/Kolkata" in text_of(team.slack.responses[-1]))
    await command(team, f"settings hours 8:00-12:00 mon-fri <@{ALICE}|alice>")
    await wait_until(lambda: "own working hours" in text_of(team.slack.responses[-1]))
    await command(team, "settings")
    await wait_until(lambda: "*Timezone:* Asia/Kolkata" in text_of(team.slack.responses[-1]))
    assert f"<@{ALICE}>: 8am–12pm, Mon–Fri" in text_of(team.slack.responses[-1])


async def test_a_bad_timezone_suggests_the_right_one(team: RunningBot) -> None:
    reply = await command(team, "settings timezone Amerca/New_York")
    assert "Did you mean `America/New_York`?" in text_of(reply)


async def test_clock_changes_are_explained(team: RunningBot) -> None:
    await send(team, "settings hours 0:00-23:30 daily")
    await wait_until(lambda: "every day" in text_of(team.slack.responses[-1]))

    spring = next_clock_change(forward=True)
    skipped = text_of(await book(team, f"<@{ALICE}|alice> {spring.isoformat()} 2:30 1h Shoot"))
    # New York writes 12-hour times (the channel's clock), the clock-change notes too.
    assert f"2:30am doesn't exist on {spring.isoformat()} in America/New_York" in skipped
    assert "The nearest time that does is 3am" in skipped

    autumn = next_clock_change(forward=False)
    posted = await book(team, f"<@{ALICE}|alice> {autumn.isoformat()} 1:30 1h Shoot")
    text = text_of(posted)
    assert "1:30am EDT–1:30am EST" in text, "an hour of elapsed time across the change"
    assert "1:30am happens twice" in text and "I used the first one" in text
    (row,) = await bookings(team)
    assert row.ends_at - row.starts_at == timedelta(hours=1)


async def test_a_slot_button_with_a_value_not_ours_gets_a_kind_reply(team: RunningBot) -> None:
    day = next_weekday()
    team.google.add_event(ALICE_EMAIL, start=at(day, 9), end=at(day, 17))
    reply = await book(team, f"<@{ALICE}|alice> {day.isoformat()} 10:00 1h Shoot")
    responses = len(team.slack.responses)
    sent = await team.slack.send_block_action(
        team.events_url,
        user_id=OWNER,
        channel_id=CHANNEL,
        action_id=buttons(reply)[0]["action_id"],
        message_ts=reply["ts"],
        value='{"u": "U0ALICE", "s": "not a time"}',
    )
    assert sent.status == 200
    await wait_until(lambda: len(team.slack.responses) > responses)
    assert "doesn't work any more" in text_of(team.slack.responses[-1])
    assert await bookings(team) == []


async def test_the_week_grid_names_someone_who_never_typed_a_command(team: RunningBot) -> None:
    team.slack.add_user(CAROL, name="carol", real_name="Carol Frame", tz="America/New_York")
    team.slack.add_member(CHANNEL, CAROL)
    nudge_posted = await ask(team, f"availability <@{CAROL}|carol>")
    assert "hasn't connected" in nudge_posted
    await connect_from_the_nudge(team, CAROL, "carol@acme-photo.com")
    grid = await ask(team, "availability next week")
    assert any(line.startswith("carol ") for line in grid.splitlines()), grid
