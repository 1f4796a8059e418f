"""Availability, booking and settings messages: within Slack's limits, user text escaped.

The domain values are built by hand (no database, no Google): what the builders show is
all that is checked here.
"""

from __future__ import annotations

import json
import re
from dataclasses import replace
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given
from hypothesis import strategies as st
from slack_sdk.models.blocks import Block
from slack_sdk.models.views import View

from bot.availability import Interval, Reason, Rules, Why, WorkingHours, free_windows
from bot.booking import (
    ALREADY_CANCELLED,
    BEING_BOOKED,
    EVENT_GONE,
    EVENT_UNREACHABLE,
    GOOGLE_DOWN,
    NO_PRIMARY,
    NOT_FOUND,
    NOT_SAVED,
    NOT_YOURS,
    PAST,
    PRIMARY_BROKEN,
    Booked,
    Cancelled,
    Chosen,
    Conflict,
    Load,
    Moved,
    NobodyFree,
    NotCancelled,
    NotFree,
    NotMoved,
    Refused,
    next_working_start,
)
from bot.commands import MAX_TITLE, Book, BookAnyone
from bot.messages import SECTION_LIMIT, Message
from bot.messages.availability import (
    UNREADABLE_TEXT,
    WHY_UNKNOWN,
    build_availability,
    build_connect_nudge,
    why_unknown,
)
from bot.messages.booking import (
    build_booked_again,
    build_booking,
    build_cancel_notice,
    build_cancelled_booking,
    build_conflict,
    build_nobody_free,
    build_not_cancelled,
    build_refused,
    build_slot_used,
    read_anyone_slot_value,
    read_slot_value,
    slot_value,
    when_text,
    why_chosen,
)
from bot.messages.booking_form import (
    FORM_ANYONE,
    FORM_DAY,
    FORM_DURATION,
    FORM_ERROR_TEXT,
    FORM_SLOT,
    FORM_STAFF,
    FORM_TIME,
    FORM_TITLE,
    BookFormValues,
    build_book_modal,
    build_book_working,
    form_error,
    form_trouble,
    read_book_form,
    read_form_slot,
)
from bot.messages.ids import (
    BOOK_ANYONE_SLOT,
    BOOK_MODAL,
    BOOK_SLOT,
    CANCEL_BOOKING,
    CONNECT_MINE,
    MARK_CANCELLED,
    MOVE_BOOKING,
    MOVE_MODAL,
    MOVE_SLOT,
)
from bot.messages.moving import (
    build_move_conflict,
    build_move_modal,
    build_move_refused,
    build_move_working,
    build_moved,
    build_moved_again,
    build_not_moved,
    read_move_form,
    read_move_metadata,
    read_move_slot_value,
)
from bot.messages.reasons import reason_line
from bot.messages.settings import (
    build_hours_set,
    build_settings,
    build_timezone_set,
    describe_days,
    describe_hours,
)
from bot.staff import (
    MISSING_PERMISSION,
    NEEDS_RECONNECT,
    NOT_CONNECTED,
    UNREADABLE,
    AvailabilityReport,
    Person,
    PersonAvailability,
)
from storage.models import Booking, BookingStatus, Customer, Member

NEW_YORK = ZoneInfo("America/New_York")
KOLKATA = ZoneInfo("Asia/Kolkata")
MONDAY = date(2026, 3, 2)
WEEK = tuple(MONDAY + timedelta(days=n) for n in range(7))
READ_AT = datetime(2026, 3, 2, 14, 0, tzinfo=UTC)
PING = "<!channel>"
PROBLEMS = (NOT_CONNECTED, NEEDS_RECONNECT, MISSING_PERMISSION, UNREADABLE)


def assert_valid(message: Message) -> None:
    """Block Kit that Slack takes: every block rebuilt by slack_sdk (which checks its
    limits), at most 50 blocks, sections of at most 3000 characters, a fallback text."""
    assert message.text.strip()
    assert 0 < len(message.blocks) <= 50
    for block in message.blocks:
        parsed = Block.parse(block)
        assert parsed is not None
        assert parsed.to_dict() == block
        if block["type"] == "section":
            assert len(block["text"]["text"]) <= SECTION_LIMIT


def texts(message: Message) -> str:
    """Everything Slack would show or read: the fallback and all the blocks."""
    return message.text + "\n" + json.dumps(message.blocks, ensure_ascii=False)


def body(message: Message) -> str:
    """The mrkdwn of every section and context, in order."""
    parts = []
    for block in message.blocks:
        if "text" in block:
            parts.append(block["text"]["text"])
        parts += [e["text"] for e in block.get("elements", []) if e.get("type") == "mrkdwn"]
    return "\n".join(parts)


def at(day: date, hour: int, minute: int = 0, zone: ZoneInfo = NEW_YORK) -> datetime:
    return datetime.combine(day, time(hour, minute), zone)


def span(day: date, start: tuple[int, int], end: tuple[int, int], zone: ZoneInfo) -> Interval:
    return Interval(at(day, *start, zone=zone), at(day, *end, zone=zone))


# --- availability -----------------------------------------------------------------------------


def person(
    n: int,
    free: dict[date, list[Interval]] | None,
    *,
    problem: str = "",
    name: str | None = None,
    hours: WorkingHours | None = None,
) -> PersonAvailability:
    who = Person(
        user_id=f"U{n:08d}",
        name=f"Photographer {n}" if name is None else name,
        rules=Rules(NEW_YORK, hours or WorkingHours()),
        connection=None,
    )
    return PersonAvailability(who, free, problem)


def report(
    people: list[PersonAvailability],
    days: tuple[date, ...] = (MONDAY,),
    zone: ZoneInfo = NEW_YORK,
    duration: timedelta | None = None,
) -> AvailabilityReport:
    return AvailabilityReport(
        zone=zone,
        days=days,
        duration=duration,
        people=people,
        read_at=READ_AT,
        asked_for_everyone=True,
    )


def busy_day(days: tuple[date, ...], zone: ZoneInfo) -> dict[date, list[Interval]]:
    """Free in three pieces each day, off at the weekend."""
    return {
        day: []
        if day.weekday() >= 5
        else [
            span(day, (9, 0), (10, 0), zone),
            span(day, (11, 30), (12, 45), zone),
            span(day, (14, 0), (17, 0), zone),
        ]
        for day in days
    }


def crowd(count: int, days: tuple[date, ...], zone: ZoneInfo) -> list[PersonAvailability]:
    """`count` people; every seventh one's calendar can't be read, for each reason in turn."""
    return [
        person(n, None, problem=PROBLEMS[n % len(PROBLEMS)])
        if n % 7 == 3
        else person(n, busy_day(days, zone), name=f"Photographer {n} of the team")
        for n in range(count)
    ]


@pytest.mark.parametrize("count", [0, 1, 50, 200])
@pytest.mark.parametrize("days", [(MONDAY,), WEEK], ids=["one day", "a week"])
@pytest.mark.parametrize("zone", [NEW_YORK, KOLKATA], ids=str)
def test_availability_stays_within_slacks_limits(
    count: int, days: tuple[date, ...], zone: ZoneInfo
) -> None:
    message = build_availability(report(crowd(count, days, zone), days, zone), MONDAY, clock="24h")
    assert_valid(message)


def grid_rows(message: Message) -> list[str]:
    """The rows of the week grid's code blocks, header rows left out."""
    code = re.findall(r"```(.*?)```", body(message), flags=re.DOTALL)
    return [row for text in code for row in text.splitlines() if not row.startswith(" ")]


def test_a_day_of_200_staff_leaves_no_one_out() -> None:
    people = crowd(200, (MONDAY,), NEW_YORK)
    shown = body(build_availability(report(people), MONDAY, clock="24h"))
    assert all(f"<@{p.person.user_id}>: " in shown for p in people)


def test_a_week_of_200_staff_leaves_no_one_out() -> None:
    people = crowd(200, WEEK, NEW_YORK)
    message = build_availability(report(people, WEEK), MONDAY, clock="24h")
    assert len(grid_rows(message)) == 200
    unknown = [p for p in people if p.free is None]
    assert all(f"<@{p.person.user_id}>: " in body(message) for p in unknown)


def test_one_day_shows_free_time_as_ranges_with_an_en_dash() -> None:
    free = {
        MONDAY: [span(MONDAY, (9, 0), (10, 0), NEW_YORK), span(MONDAY, (13, 30), (17, 0), NEW_YORK)]
    }
    shown = body(build_availability(report([person(1, free)]), MONDAY, clock="24h"))
    assert "<@U00000001>: 9:00–10:00, 13:30–17:00" in shown


def test_ranges_are_in_the_customers_timezone() -> None:
    # The same instants: 9:00–10:00 in New York is 19:30–20:30 in Kolkata (+5:30).
    free = {MONDAY: [span(MONDAY, (9, 0), (10, 0), NEW_YORK)]}
    in_kolkata = build_availability(report([person(1, free)], zone=KOLKATA), MONDAY, clock="24h")
    assert "19:30–20:30" in body(in_kolkata)
    assert "Times in Asia/Kolkata" in body(in_kolkata)
    assert "at 19:30" in body(in_kolkata)  # read at 14:00 UTC


def test_the_title_names_the_day_and_the_length_asked_for() -> None:
    free = {MONDAY: [span(MONDAY, (9, 0), (17, 0), NEW_YORK)]}
    message = build_availability(
        report([person(1, free)], duration=timedelta(hours=2)), MONDAY, clock="24h"
    )
    assert message.text == "Availability today (Mon 2 Mar), where 2h fits"


def test_a_day_off_says_day_off() -> None:
    saturday = MONDAY + timedelta(days=5)
    shown = body(
        build_availability(report([person(1, {saturday: []})], (saturday,)), MONDAY, clock="24h")
    )
    assert "<@U00000001>: day off" in shown


def test_a_working_day_with_no_free_time_says_fully_booked() -> None:
    shown = body(build_availability(report([person(1, {MONDAY: []})]), MONDAY, clock="24h"))
    assert "<@U00000001>: fully booked" in shown


def test_fully_booked_for_a_length_says_which_length() -> None:
    message = build_availability(
        report([person(1, {MONDAY: []})], duration=timedelta(hours=1, minutes=30)),
        MONDAY,
        clock="24h",
    )
    assert "fully booked (nothing of 1h30m free)" in body(message)


def test_a_persons_own_days_off_count() -> None:
    tuesday_to_saturday = WorkingHours(weekdays=frozenset(range(1, 6)))
    shown = body(
        build_availability(
            report([person(1, {MONDAY: []}, hours=tuesday_to_saturday)]), MONDAY, clock="24h"
        )
    )
    assert "day off" in shown and "fully booked" not in shown


@pytest.mark.parametrize("problem", PROBLEMS)
def test_an_unknown_calendar_says_why_and_is_never_shown_as_free(problem: str) -> None:
    message = build_availability(report([person(1, None, problem=problem)]), MONDAY, clock="24h")
    shown = body(message)
    why = WHY_UNKNOWN.get(problem, UNREADABLE_TEXT)
    assert f"<@U00000001>: {why}" in shown
    assert "–" not in shown.split("\n", 1)[1]  # no range after the title
    assert "fully booked" not in shown and "day off" not in shown


@pytest.mark.parametrize("problem", PROBLEMS)
def test_an_unknown_calendar_in_the_week_grid_is_a_question_mark_with_a_note(problem: str) -> None:
    message = build_availability(
        report([person(1, None, problem=problem, name="Ana")], WEEK), MONDAY, clock="24h"
    )
    shown = body(message)
    assert [row.split() for row in grid_rows(message)] == [["Ana", "?"]]
    assert f"<@U00000001>: {WHY_UNKNOWN.get(problem, UNREADABLE_TEXT)}" in shown


def grid_cells(message: Message, name: str) -> list[str]:
    row = next(row for row in grid_rows(message) if row.startswith(name))
    return row[len(name) :].split()


def test_the_week_grid_shows_free_hours_a_dash_and_off() -> None:
    free = {
        WEEK[0]: [span(WEEK[0], (9, 0), (15, 0), NEW_YORK)],
        WEEK[1]: [
            span(WEEK[1], (9, 0), (11, 0), NEW_YORK),
            span(WEEK[1], (14, 0), (15, 30), NEW_YORK),
        ],
        WEEK[2]: [],
        WEEK[3]: [span(WEEK[3], (16, 30), (17, 0), NEW_YORK)],
        WEEK[4]: [span(WEEK[4], (9, 0), (17, 0), NEW_YORK)],
        WEEK[5]: [],
        WEEK[6]: [],
    }
    message = build_availability(report([person(1, free, name="Ana")], WEEK), MONDAY, clock="24h")
    assert_valid(message)
    assert grid_cells(message, "Ana") == ["6h", "3h30", "—", "30m", "8h", "off", "off"]
    assert "Mon 2" in body(message) and "Sun 8" in body(message)
    assert message.text == "Availability Mon 2 Mar to Sun 8 Mar", "a range says its dates plainly"


def test_the_week_grid_in_kolkata_counts_half_hours() -> None:
    free = {day: [span(day, (9, 30), (13, 0), KOLKATA)] for day in WEEK}
    message = build_availability(
        report([person(1, free, name="Ravi")], WEEK, KOLKATA), MONDAY, clock="24h"
    )
    assert grid_cells(message, "Ravi") == ["3h30"] * 5 + ["off", "off"]


def test_a_long_display_name_is_cut_to_keep_the_grid_aligned() -> None:
    free: dict[date, list[Interval]] = {day: [] for day in WEEK}
    message = build_availability(
        report(
            [person(1, free, name="Bartholomew Montgomery-Smythe"), person(2, free, name="Al")],
            WEEK,
        ),
        MONDAY,
        clock="24h",
    )
    rows = grid_rows(message)
    assert rows[0].startswith("Bartholomew …")
    assert len(rows[0]) == len(rows[1])


def test_a_display_name_in_the_grid_pings_no_one() -> None:
    free: dict[date, list[Interval]] = {day: [] for day in WEEK}
    message = build_availability(report([person(1, free, name=PING)], WEEK), MONDAY, clock="24h")
    assert_valid(message)
    assert PING not in texts(message)
    assert "&lt;!channel&gt;" in body(message)


def test_a_grid_of_names_that_need_escaping_keeps_every_row() -> None:
    # Escaped, `&` is five characters: the grid's code blocks must still fit whole.
    people = [person(n, busy_day(WEEK, NEW_YORK), name=f"A&B<{n}>") for n in range(200)]
    message = build_availability(report(people, WEEK), MONDAY, clock="24h")
    assert_valid(message)
    rows = grid_rows(message)
    assert [row.split()[0] for row in rows] == [f"A&amp;B&lt;{n}&gt;" for n in range(200)]
    assert all(row.split()[1:] == ["5h15"] * 5 + ["off", "off"] for row in rows)


def test_nobody_connected_says_how_to_connect() -> None:
    message = build_availability(report([]), MONDAY, clock="24h")
    assert_valid(message)
    assert "@Tonomo connect-calendar" in body(message)


def test_the_connect_nudge_names_the_people_and_offers_a_button() -> None:
    message = build_connect_nudge(["U1", "U2"], asked_by="U9")
    assert_valid(message)
    assert "<@U1>, <@U2>: <@U9> asked" in body(message)
    actions = [b for b in message.blocks if b["type"] == "actions"]
    assert [e["action_id"] for e in actions[0]["elements"]] == [CONNECT_MINE]


# --- booking ----------------------------------------------------------------------------------


def booking(
    title: str = "Shoot at 12 Main St",
    *,
    start: datetime | None = None,
    minutes: int = 90,
    status: BookingStatus = BookingStatus.BOOKED,
    cancelled_by: str | None = None,
    event_account: str = "carmen@example.com",
) -> Booking:
    start = start or at(MONDAY + timedelta(days=1), 13)
    return Booking(
        id=1,
        customer_id=1,
        short_id="K7Q2MX",
        request_key="0" * 64,
        event_id="e" * 32,
        staff_user_id="U1",
        staff_email="ana@example.com",
        title=title,
        starts_at=start,
        ends_at=start + timedelta(minutes=minutes),
        booked_by="U9",
        created_at=READ_AT,
        status=status,
        cancelled_by=cancelled_by,
        event_account=event_account,
        event_calendar="primary",
    )


def test_when_text_names_the_day_and_the_range() -> None:
    slot = span(MONDAY + timedelta(days=1), (13, 0), (14, 30), NEW_YORK)
    assert when_text(slot, NEW_YORK, MONDAY, "24h") == "tomorrow (Tue 3 Mar), 13:00–14:30"
    assert when_text(slot, KOLKATA, MONDAY, "24h") == "tomorrow (Tue 3 Mar), 23:30–1:00 (next day)"
    later = span(MONDAY + timedelta(days=9), (9, 0), (10, 0), KOLKATA)
    assert when_text(later, KOLKATA, MONDAY, "24h") == "Wed 11 Mar, 9:00–10:00"


def test_the_booking_shows_who_when_what_and_its_id() -> None:
    message = build_booking(booking(), NEW_YORK, MONDAY, "24h")
    assert_valid(message)
    shown = body(message)
    assert "<@U1>, *tomorrow (Tue 3 Mar), 13:00–14:30*: Shoot at 12 Main St" in shown
    assert "`K7Q2MX`" in shown and "<@U9>" in shown and "Times in America/New_York" in shown


def test_the_booking_in_kolkata_is_shown_in_kolkata_time() -> None:
    message = build_booking(
        booking(start=at(MONDAY + timedelta(days=1), 13, zone=KOLKATA)), KOLKATA, MONDAY, "24h"
    )
    assert "13:00–14:30" in body(message) and "Asia/Kolkata" in body(message)


def booking_buttons(message: Message) -> dict[str, dict[str, Any]]:
    found = [b.get("accessory") for b in message.blocks] + [
        e for b in message.blocks if b["type"] == "actions" for e in b["elements"]
    ]
    return {e["action_id"]: e for e in found if isinstance(e, dict) and e["type"] == "button"}


def test_the_cancel_button_asks_for_confirmation() -> None:
    message = build_booking(booking(), NEW_YORK, MONDAY, "24h")
    button = booking_buttons(message)[CANCEL_BOOKING]
    assert button["value"] == "K7Q2MX"
    confirm = button["confirm"]
    assert confirm["title"]["text"] and confirm["confirm"]["text"] and confirm["deny"]["text"]
    assert "K7Q2MX" in confirm["text"]["text"]


def test_the_booking_has_a_move_button_for_its_id() -> None:
    message = build_booking(booking(), NEW_YORK, MONDAY, "24h")
    assert_valid(message)
    assert list(booking_buttons(message)) == [MOVE_BOOKING, CANCEL_BOOKING]
    assert booking_buttons(message)[MOVE_BOOKING]["value"] == "K7Q2MX"


def test_a_title_in_the_booking_pings_no_one() -> None:
    message = build_booking(
        booking(f"{PING} shoot & <b>edit</b>"), NEW_YORK, MONDAY, "24h", note=PING
    )
    assert_valid(message)
    assert PING not in texts(message) and "<b>" not in texts(message)
    assert "&lt;!channel&gt; shoot &amp; &lt;b&gt;edit&lt;/b&gt;" in body(message)


def test_a_cancelled_booking_is_shown_struck_through() -> None:
    cancelled = booking(PING, status=BookingStatus.CANCELLED, cancelled_by="U7")
    for message in (
        build_booking(cancelled, NEW_YORK, MONDAY, "24h"),
        build_cancelled_booking(cancelled, NEW_YORK, MONDAY, "24h"),
    ):
        assert_valid(message)
        assert "~Booked" in body(message) and "Cancelled by <@U7>" in body(message)
        assert PING not in texts(message)
        assert booking_buttons(message) == {}, "no Move or Cancel on a cancelled booking"


def test_booked_again_says_so_without_booking_twice() -> None:
    message = build_booked_again(Booked(booking(PING), again=True), NEW_YORK, MONDAY, "24h")
    assert_valid(message)
    assert "booked already" in body(message) and "K7Q2MX" in body(message)
    assert PING not in texts(message)
    cancelled = booking(status=BookingStatus.CANCELLED)
    assert "since been cancelled" in body(
        build_booked_again(Booked(cancelled, again=True), NEW_YORK, MONDAY, "24h")
    )


def conflict(why: Why, zone: ZoneInfo = NEW_YORK, slots: int = 3) -> Conflict:
    tuesday = MONDAY + timedelta(days=1)
    asked = span(tuesday, (13, 0), (14, 0), zone)
    offered = [span(tuesday, (h, 0), (h + 1, 0), zone) for h in (10, 15, 16)][:slots]
    in_the_way = {
        Why.OUTSIDE_HOURS: Reason(Why.OUTSIDE_HOURS, asked),
        Why.BOOKING: Reason(Why.BOOKING, span(tuesday, (13, 0), (14, 30), zone), "K7Q2MX"),
        Why.BUSY: Reason(Why.BUSY, span(tuesday, (12, 0), (15, 0), zone)),
    }[why]
    return Conflict(asked, [in_the_way], Rules(zone), offered)


@pytest.mark.parametrize("why", [Why.OUTSIDE_HOURS, Why.BOOKING, Why.BUSY])
@pytest.mark.parametrize("zone", [NEW_YORK, KOLKATA], ids=str)
def test_a_conflict_says_why_as_why_says_it(why: Why, zone: ZoneInfo) -> None:
    found = conflict(why, zone)
    message = build_conflict(found, "U1", "New shoot", zone, MONDAY, "24h")
    assert_valid(message)
    (reason,) = found.reasons
    line = reason_line(reason, found.rules, MONDAY + timedelta(days=1), MONDAY, "24h")
    assert f"I can't book <@U1> tomorrow (Tue 3 Mar), 13:00–14:00: {line}." in body(message)


def test_a_conflict_with_a_booking_names_that_booking_by_id_and_time() -> None:
    message = build_conflict(conflict(Why.BOOKING), "U1", "New shoot", NEW_YORK, MONDAY, "24h")
    assert "booking K7Q2MX 13:00–14:30" in body(message)


def test_a_conflict_of_several_reasons_lists_them_all() -> None:
    found = conflict(Why.BOOKING)
    found = Conflict(found.asked, [*found.reasons, *conflict(Why.BUSY).reasons], found.rules, [])
    shown = body(build_conflict(found, "U1", "New shoot", NEW_YORK, MONDAY, "24h"))
    assert (
        "13:00–14:00:\n• booking K7Q2MX 13:00–14:30\n• busy on their own calendar 12:00–15:00"
        in shown
    )


def slot_buttons(message: Message) -> list[dict[str, Any]]:
    return [e for b in message.blocks if b["type"] == "actions" for e in b["elements"]]


@pytest.mark.parametrize("zone", [NEW_YORK, KOLKATA], ids=str)
def test_a_conflict_offers_the_slots_as_buttons_that_book_them(zone: ZoneInfo) -> None:
    found = conflict(Why.BUSY, zone)
    message = build_conflict(found, "U1", "New shoot", zone, MONDAY, "24h")
    buttons = slot_buttons(message)
    assert 0 < len(buttons) <= 3
    assert len({b["action_id"] for b in buttons}) == len(buttons)
    assert all(b["action_id"].startswith(BOOK_SLOT) for b in buttons)
    assert [read_slot_value(b["value"]) for b in buttons] == [
        ("U1", slot.start, slot.duration, "New shoot") for slot in found.slots
    ]
    assert [b["text"]["text"] for b in buttons] == [
        when_text(s, zone, MONDAY, "24h") for s in found.slots
    ]


def test_a_conflict_with_no_free_slot_says_where_to_look() -> None:
    message = build_conflict(
        conflict(Why.BUSY, slots=0), "U1", "New shoot", NEW_YORK, MONDAY, "24h"
    )
    assert_valid(message)
    assert slot_buttons(message) == []
    assert "no free 1h in the coming week" in body(message)


def test_the_title_a_click_books_pings_no_one() -> None:
    message = build_conflict(conflict(Why.BUSY), "U1", f"{PING} & co", NEW_YORK, MONDAY, "24h")
    assert "A click books it: &lt;!channel&gt; &amp; co" in body(message)
    assert PING not in body(message)
    assert read_slot_value(slot_buttons(message)[0]["value"]) is not None


@pytest.mark.parametrize(
    "title", ["x" * MAX_TITLE, "📸" * MAX_TITLE, '"\\' * (MAX_TITLE // 2), "नमस्ते " * 28]
)
def test_a_conflict_over_the_longest_title_still_fits_the_buttons(title: str) -> None:
    found = conflict(Why.BUSY, KOLKATA)
    message = build_conflict(found, "U1", title, KOLKATA, MONDAY, "24h")
    assert_valid(message)
    assert [read_slot_value(b["value"]) for b in slot_buttons(message)] == [
        ("U1", slot.start, slot.duration, title) for slot in found.slots
    ]


zones = st.sampled_from([UTC, NEW_YORK, KOLKATA])


@given(
    st.from_regex(r"[UW][A-Z0-9]{2,11}", fullmatch=True),
    st.datetimes(datetime(2026, 1, 1), datetime(2027, 12, 31), timezones=zones),
    st.integers(1, 12 * 60),
    st.text(max_size=MAX_TITLE),
)
def test_any_slot_round_trips_through_its_button(
    user_id: str, start: datetime, minutes: int, title: str
) -> None:
    slot = Interval(start, start + timedelta(minutes=minutes))
    value = slot_value(user_id, slot, title)
    assert len(value) <= 2000  # a button's value
    assert read_slot_value(value) == (user_id, slot.start, slot.duration, title)


@pytest.mark.parametrize(
    "value",
    [
        "",
        "garbage",
        "null",
        "[]",
        "{}",
        "42",
        '"K7Q2MX"',
        '{"u":"U1","m":60,"t":"x"}',
        '{"u":"U1","s":"tomorrow","m":60,"t":"x"}',
        '{"u":"U1","s":"2026-03-03T13:00:00","m":60,"t":"x"}',
        '{"u":"U1","s":"2026-03-03T13:00:00+00:00","m":"an hour","t":"x"}',
        '{"u":"U1","s":"2026-03-03T13:00:00+00:00","m":0,"t":"x"}',
        '{"u":"U1","s":"2026-03-03T13:00:00+00:00","m":-60,"t":"x"}',
        '{"u":"U1","s":"2026-03-03T13:00:00+00:00","m":NaN,"t":"x"}',
        '{"u":"U1","s":"2026-03-03T13:00:00+00:00","m":Infinity,"t":"x"}',
        '{"u":"U1","s":"2026-03-03T13:00:00+00:00","m":1e300,"t":"x"}',
        '{"u":"U1","s":12,"m":60,"t":"x"}',
    ],
)
def test_a_button_value_that_is_not_ours_reads_as_none(value: str) -> None:
    assert read_slot_value(value) is None


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=40),
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=3), inner, max_size=3)
    ),
    max_leaves=6,
)
slot_like = st.fixed_dictionaries(
    {
        "u": json_values,
        "s": st.one_of(st.datetimes(timezones=zones).map(datetime.isoformat), json_values),
        "m": st.one_of(st.integers(), st.floats(), json_values),
        "t": json_values,
    }
).map(json.dumps)
"""Values shaped like a slot's, with anything in each field."""


@given(st.one_of(st.text(), slot_like))
def test_reading_any_button_value_never_raises(value: str) -> None:
    read = read_slot_value(value)
    assert read is None or read[2] > timedelta(0)


@pytest.mark.parametrize(
    ("reason", "quoted"),
    [
        (PAST, "already passed"),
        (NO_PRIMARY, "@Tonomo connect-calendar primary"),
        (PRIMARY_BROKEN, "Nothing was booked"),
        (GOOGLE_DOWN, "nothing was booked"),
        (NOT_SAVED, "Nothing was booked"),
        (NOT_CONNECTED, "<@U1>: they haven't connected a calendar yet"),
        (NEEDS_RECONNECT, "<@U1>: their calendar needs reconnecting"),
        (MISSING_PERMISSION, "<@U1>: their calendar is missing a permission"),
        (UNREADABLE, "<@U1>: their calendar couldn't be read"),
    ],
)
def test_a_refusal_says_why(reason: str, quoted: str) -> None:
    message = build_refused(Refused(reason), "U1")
    assert_valid(message)
    assert quoted in body(message)


def test_the_cancel_notice_says_whether_the_event_is_gone() -> None:
    gone = build_cancel_notice(
        Cancelled(booking(PING), event_deleted=True), "U7", NEW_YORK, MONDAY, "24h"
    )
    left = build_cancel_notice(
        Cancelled(booking(), event_deleted=False), "U7", NEW_YORK, MONDAY, "24h"
    )
    for message in (gone, left):
        assert_valid(message)
    assert "<@U7> cancelled `K7Q2MX`" in body(gone)
    assert "gone from the primary calendar (carmen@example.com)" in body(gone)
    assert PING not in texts(gone)
    assert "<@U7> marked `K7Q2MX` cancelled here" in body(left)
    assert "gone" not in body(left), "never says the event is gone when it wasn't deleted"
    assert "still in carmen@example.com's Google Calendar" in body(left)
    assert "delete it there by hand" in body(left)


@pytest.mark.parametrize(
    ("now_primary", "quoted"),
    [
        ("bookings@example.com", "the primary calendar is now bookings@example.com"),
        ("", "no primary calendar is connected"),
        ("carmen@example.com", "needs reconnecting"),
    ],
)
def test_an_event_out_of_reach_offers_reconnecting_or_marking_it_cancelled_here(
    now_primary: str, quoted: str
) -> None:
    message = build_not_cancelled(
        NotCancelled(EVENT_UNREACHABLE, booking(), primary_account=now_primary), "K7Q2MX"
    )
    assert_valid(message)
    shown = body(message)
    assert "its event is on carmen@example.com's calendar" in shown and quoted in shown
    assert "Nothing changed" in shown and "gone" not in shown
    assert "delete its event by hand in carmen@example.com's Google Calendar" in shown
    (button,) = [e for b in message.blocks if b["type"] == "actions" for e in b["elements"]]
    assert button["action_id"] == MARK_CANCELLED and button["value"] == "K7Q2MX"
    assert button["text"]["text"] == "Mark cancelled here" and "confirm" in button


def test_an_event_of_unknown_account_is_not_guessed_at() -> None:
    message = build_not_cancelled(
        NotCancelled(EVENT_UNREACHABLE, booking(event_account=""), primary_account="b@x.com"),
        "K7Q2MX",
    )
    assert_valid(message)
    assert "I don't know which Google account holds its event" in body(message)
    assert "connect-calendar primary" not in body(message)


def test_a_used_offer_names_the_booking_and_keeps_no_buttons() -> None:
    message = build_slot_used(booking(), NEW_YORK, MONDAY, "24h")
    assert_valid(message)
    assert "`K7Q2MX`" in body(message) and "13:00–14:30" in body(message)
    assert '"button"' not in json.dumps(message.blocks)


@pytest.mark.parametrize(
    ("reason", "quoted"),
    [
        (NOT_FOUND, "There's no booking `&lt;!channel&gt;`"),
        (GOOGLE_DOWN, "Google didn't answer"),
        (ALREADY_CANCELLED, "`&lt;!channel&gt;` was cancelled already"),
    ],
)
def test_not_cancelled_says_why_and_pings_no_one(reason: str, quoted: str) -> None:
    message = build_not_cancelled(NotCancelled(reason), PING)
    assert_valid(message)
    assert quoted in body(message) and PING not in texts(message)


# --- the booking modal ------------------------------------------------------------------------


@pytest.mark.parametrize("zone", [NEW_YORK, KOLKATA], ids=str)
def test_the_booking_form_is_a_valid_modal(zone: ZoneInfo) -> None:
    modal = build_book_modal("C123", zone, MONDAY, "24h")
    View(**modal).to_dict()  # slack_sdk checks the title, the buttons and the blocks
    assert modal["type"] == "modal" and modal["callback_id"] == BOOK_MODAL
    assert modal["private_metadata"] == "C123"
    assert 0 < len(modal["blocks"]) <= 100
    assert 0 < len(modal["title"]["text"]) <= 24
    labels = [block["label"]["text"] for block in modal["blocks"]]
    assert f"Start time ({zone.key})" in labels
    elements = {block["block_id"]: block["element"] for block in modal["blocks"]}
    assert elements[FORM_DAY]["initial_date"] == "2026-03-02"
    assert elements[FORM_TITLE]["max_length"] == MAX_TITLE


def form_answers(modal: dict[str, Any], **answers: dict[str, Any]) -> dict[str, Any]:
    """What Slack sends back for the modal's inputs: each block's answer (none: nothing)."""
    return {
        block["block_id"]: {block["element"]["action_id"]: answers.get(block["block_id"], {})}
        for block in modal["blocks"]
        if block["type"] == "input"
    }


BOOKING_ANSWERS = {
    FORM_DAY: {"selected_date": "2026-03-03"},
    FORM_TIME: {"selected_time": "13:30"},
    FORM_DURATION: {"value": "1h30m"},
    FORM_TITLE: {"value": "Shoot at 12 Main St"},
}


def test_what_the_booking_form_sends_back_is_a_booking() -> None:
    modal = build_book_modal("C123", NEW_YORK, MONDAY, "24h")
    values = form_answers(modal, **BOOKING_ANSWERS, staff={"selected_user": "U1"})
    assert read_book_form(values) == Book(
        "U1", "2026-03-03", time(13, 30), timedelta(minutes=90), "Shoot at 12 Main St"
    )


def test_anyone_free_on_the_form_is_a_book_anyone() -> None:
    modal = build_book_modal("C123", NEW_YORK, MONDAY, "24h")
    View(**modal).to_dict()
    inputs = {b["block_id"]: b for b in modal["blocks"] if b["type"] == "input"}
    assert inputs[FORM_STAFF]["optional"] is True, "Who may be left for Anyone free"
    (option,) = inputs[FORM_ANYONE]["element"]["options"]
    ticked = {"selected_options": [option]}
    values = form_answers(modal, **BOOKING_ANSWERS, anyone=ticked)
    assert read_book_form(values) == BookAnyone(
        (), "2026-03-03", time(13, 30), timedelta(minutes=90), "Shoot at 12 Main St"
    )


def test_the_form_needs_a_person_or_anyone_free_but_not_both() -> None:
    modal = build_book_modal("C123", NEW_YORK, MONDAY, "24h")
    (option,) = next(b for b in modal["blocks"] if b["block_id"] == FORM_ANYONE)["element"][
        "options"
    ]
    neither = read_book_form(form_answers(modal, **BOOKING_ANSWERS))
    assert neither == {FORM_STAFF: "Choose who to book, or tick Anyone free."}
    both = read_book_form(
        form_answers(
            modal,
            **BOOKING_ANSWERS,
            staff={"selected_user": "U1"},
            anyone={"selected_options": [option]},
        )
    )
    assert both == {FORM_STAFF: "Choose a person or tick Anyone free, not both."}
    bad = read_book_form(
        form_answers(
            modal,
            **{**BOOKING_ANSWERS, FORM_DURATION: {"value": "0m"}},
            anyone={"selected_options": [option]},
        )
    )
    assert isinstance(bad, dict) and list(bad) == [FORM_DURATION], "the other fields as ever"


def test_anyone_free_stays_ticked_when_the_form_comes_back() -> None:
    values = BookFormValues(start=at(MONDAY, 13), anyone=True, title="Kitchen")
    modal = build_book_modal("C1", NEW_YORK, MONDAY, "24h", values=values)
    View(**modal).to_dict()
    anyone = next(b for b in modal["blocks"] if b["block_id"] == FORM_ANYONE)["element"]
    assert anyone["initial_options"] == anyone["options"]


# --- settings ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("weekdays", "described"),
    [
        (range(5), "Mon–Fri"),
        (range(1, 6), "Tue–Sat"),
        (range(3), "Mon–Wed"),
        ({0, 2, 4}, "Mon, Wed, Fri"),
        ({5, 6}, "Sat, Sun"),
        ({3}, "Thu"),
        (range(7), "every day"),
    ],
)
def test_describe_days(weekdays: range | set[int], described: str) -> None:
    assert describe_days(frozenset(weekdays)) == described


def test_describe_hours() -> None:
    assert describe_hours(WorkingHours(), "24h") == "9:00–17:00, Mon–Fri"
    assert describe_hours(WorkingHours(time(8, 30), time(16), frozenset({0, 2, 4})), "24h") == (
        "8:30–16:00, Mon, Wed, Fri"
    )


def customer(timezone: str = "Asia/Kolkata") -> Customer:
    return Customer(
        id=1,
        team_id="T1",
        channel_id="C1",
        timezone=timezone,
        registered_by="U9",
        buffer_minutes=0,
        notice_minutes=0,
        step_minutes=15,
    )


def member(n: int) -> Member:
    return Member(id=n, customer_id=1, slack_user_id=f"U{n:010d}", display_name=PING)


def test_the_settings_show_the_timezone_the_hours_and_own_hours() -> None:
    own = [(member(1), WorkingHours(time(10), time(18), frozenset(range(1, 6))))]
    message = build_settings(customer(), WorkingHours(), own, "24h")
    assert_valid(message)
    shown = body(message)
    assert "*Timezone:* Asia/Kolkata" in shown
    assert "*Working hours:* 9:00–17:00, Mon–Fri" in shown
    assert "• <@U0000000001>: 10:00–18:00, Tue–Sat" in shown
    assert "@Tonomo settings hours" in shown


@pytest.mark.parametrize("count", [0, 1, 50, 200])
def test_the_settings_of_many_people_stay_within_slacks_limits(count: int) -> None:
    own = [
        (member(n), WorkingHours(time(8), time(16, 30), frozenset({0, 2, 4}))) for n in range(count)
    ]
    message = build_settings(customer("America/New_York"), WorkingHours(), own, "24h")
    assert_valid(message)
    shown = body(message)
    assert all(f"<@U{n:010d}>" in shown for n in range(count))
    assert PING not in texts(message)


def test_the_timezone_set_reply_names_the_zone_and_the_hours() -> None:
    message = build_timezone_set("America/New_York", WorkingHours(), "24h")
    assert_valid(message)
    assert "*America/New_York*" in body(message) and "9:00–17:00, Mon–Fri" in body(message)


def test_the_hours_set_reply_says_whose_hours() -> None:
    hours = WorkingHours(time(7), time(15), frozenset(range(7)))
    business = build_hours_set(hours, "Asia/Kolkata", "24h", None)
    own = build_hours_set(hours, "Asia/Kolkata", "24h", "U5")
    assert "Working hours are now *7:00–15:00, every day* (Asia/Kolkata)" in body(business)
    assert "<@U5>'s own working hours are now" in body(own)


def test_after_closing_time_today_reads_done_not_fully_booked() -> None:
    zone = ZoneInfo("America/New_York")
    day = date(2026, 12, 1)
    person = Person("U1", "ana", Rules(zone), None)
    late = datetime(2026, 12, 1, 18, tzinfo=zone)
    free = free_windows(days=[day], zone=zone, hours=WorkingHours(), busy=[], now=late)
    report = AvailabilityReport(zone, (day,), None, [PersonAvailability(person, free)], late, True)
    text = "\n".join(
        b["text"]["text"]
        for b in build_availability(report, day, clock="24h").blocks
        if "text" in b
    )
    assert "done for the day" in text and "fully booked" not in text


def test_a_backtick_in_a_name_cannot_end_the_grid() -> None:
    zone = ZoneInfo("America/New_York")
    days = tuple(date(2026, 11, 30) + timedelta(days=n) for n in range(7))
    person = Person("U1", "a```b", Rules(zone), None)
    free = free_windows(days=days, zone=zone, hours=WorkingHours(), busy=[])
    report = AvailabilityReport(
        zone,
        days,
        None,
        [PersonAvailability(person, free)],
        datetime(2026, 11, 24, tzinfo=UTC),
        True,
    )
    grid = next(
        b["text"]["text"] for b in build_availability(report, days[0], clock="24h").blocks[1:2]
    )
    assert grid.count("```") == 2


# --- the booking form's defaults and its answers --------------------------------------------


@pytest.mark.parametrize(
    ("zone", "now", "notice", "expected"),
    [
        # A Sunday evening in New York: Monday's first hour, not "today 09:00".
        (NEW_YORK, datetime(2026, 3, 1, 19, 40), 0, datetime(2026, 3, 2, 9)),
        # During working hours: the next quarter hour on the clock (the default step).
        (NEW_YORK, datetime(2026, 3, 3, 10, 7), 0, datetime(2026, 3, 3, 10, 15)),
        # After a notice of 2 hours.
        (NEW_YORK, datetime(2026, 3, 3, 10, 7), 120, datetime(2026, 3, 3, 12, 15)),
        # Too late for an hour today: the next working day.
        (NEW_YORK, datetime(2026, 3, 6, 16, 10), 0, datetime(2026, 3, 9, 9)),
        # +5:30: the grid is Kolkata's own clock.
        (KOLKATA, datetime(2026, 3, 2, 11, 50), 0, datetime(2026, 3, 2, 12)),
        # Lord Howe springs forward 30 minutes on Sunday 4 Oct 2026; Monday starts at 9:00.
        (ZoneInfo("Australia/Lord_Howe"), datetime(2026, 10, 4, 1, 0), 0, datetime(2026, 10, 5, 9)),
    ],
)
def test_the_booking_form_starts_at_the_next_working_slot(
    zone: ZoneInfo, now: datetime, notice: int, expected: datetime
) -> None:
    rules = Rules(zone, notice=timedelta(minutes=notice))
    start = next_working_start(rules, now.replace(tzinfo=zone), timedelta(hours=1))
    assert start == expected.replace(tzinfo=zone)
    modal = build_book_modal("C1", zone, now.date(), "24h", values=BookFormValues(start=start))
    elements = {block["block_id"]: block["element"] for block in modal["blocks"]}
    assert elements[FORM_DAY]["initial_date"] == expected.date().isoformat()
    assert elements[FORM_TIME]["initial_time"] == f"{expected:%H:%M}"


def test_the_form_starts_on_the_customer_s_step() -> None:
    rules = Rules(NEW_YORK, step=timedelta(minutes=30))
    start = next_working_start(rules, at(MONDAY, 10, 7), timedelta(hours=1))
    assert start == at(MONDAY, 10, 30)


def test_a_conflict_keeps_the_form_s_values_and_offers_the_nearest_times() -> None:
    asked = Interval(at(MONDAY, 13), at(MONDAY, 14))
    slots = [Interval(at(MONDAY, h), at(MONDAY, h + 1)) for h in (11, 14, 15)]
    values = BookFormValues(
        start=asked.start, duration=timedelta(hours=1), staff_user_id="U1", title="Kitchen"
    )
    found = Conflict(asked, [Reason(Why.BUSY, asked)], Rules(NEW_YORK), slots)
    modal = build_book_modal(
        "C1",
        NEW_YORK,
        MONDAY,
        "24h",
        values=values,
        trouble=form_trouble(found, MONDAY, "24h"),
    )
    View(**modal).to_dict()
    assert modal["callback_id"] == BOOK_MODAL and modal["private_metadata"] == "C1"
    assert "busy on their own calendar 13:00–14:00" in modal["blocks"][0]["text"]["text"]
    elements = {b["block_id"]: b["element"] for b in modal["blocks"] if b["type"] == "input"}
    assert elements[FORM_STAFF]["initial_user"] == "U1"
    assert elements[FORM_DAY]["initial_date"] == "2026-03-02"
    assert elements[FORM_TIME]["initial_time"] == "13:00"
    assert elements[FORM_DURATION]["initial_value"] == "1h"
    assert elements[FORM_TITLE]["initial_value"] == "Kitchen"
    options = elements[FORM_SLOT]["options"]
    assert [o["text"]["text"].split(", ")[-1] for o in options] == [
        "11:00–12:00",
        "14:00–15:00",
        "15:00–16:00",
    ]
    chosen = {FORM_SLOT: {FORM_SLOT: {"selected_option": options[1]}}}
    assert read_form_slot(chosen) == at(MONDAY, 14)
    assert read_form_slot({}) is None
    assert read_form_slot({FORM_SLOT: {FORM_SLOT: {"selected_option": {"value": "x"}}}}) is None


def test_refusals_about_the_form_s_fields_go_on_the_field() -> None:
    asked = Interval(at(MONDAY, 18), at(MONDAY, 19))
    rules = Rules(NEW_YORK)

    def error(outcome: Conflict | Refused) -> tuple[str, str] | None:
        return form_error(outcome, MONDAY, "12h")

    assert error(Refused(PAST)) == (FORM_TIME, FORM_ERROR_TEXT[PAST])
    late = error(Conflict(asked, [Reason(Why.OUTSIDE_HOURS, asked)], rules, [asked]))
    assert late == (
        FORM_TIME,
        "That's outside their working hours (9am–5pm, Mon–Fri). Pick a time within them.",
    )
    assert error(Refused(NOT_CONNECTED))[0] == FORM_STAFF  # type: ignore[index]
    assert error(Refused(NEEDS_RECONNECT))[0] == FORM_STAFF  # type: ignore[index]
    busy = Conflict(asked, [Reason(Why.BUSY, asked)], rules, [asked])
    assert error(busy) is None, "offered in the form instead"
    booked = Reason(Why.BOOKING, asked, "K7Q2MX")
    no_slots = error(Conflict(asked, [booked, Reason(Why.BUSY, asked)], rules, []))
    assert no_slots == (
        FORM_TIME,
        "Not free then (booking K7Q2MX 6pm–7pm), and they have no free 1h in the coming week.",
    )
    for reason in (NO_PRIMARY, PRIMARY_BROKEN, GOOGLE_DOWN, NOT_SAVED):
        assert error(Refused(reason)) is None, "not the form's: told as a message"
    for _block, text in [error(Refused(r)) or ("", "") for r in (PAST, NOT_CONNECTED)]:
        assert len(text) <= 150 and "<" not in text, "errors are plain text, short"


def test_the_working_view_has_no_submit() -> None:
    view = build_book_working("C1")
    View(**view).to_dict()
    assert "submit" not in view and "Working on it" in json.dumps(view)


# --- book anyone ------------------------------------------------------------------------------


def load(user_id: str, hours: float, last: datetime | None = None) -> Load:
    return Load(user_id, timedelta(hours=hours), last)


def test_the_chosen_one_is_named_with_the_others_hours() -> None:
    chosen = Chosen(booking(), load("UBOB", 2), [load("UALICE", 6), load("UCARMEN", 7.5)], [])
    assert why_chosen(chosen, NEW_YORK, MONDAY) == (
        "<@UBOB>: free, and 2h booked this week against <@UALICE>'s 6h and <@UCARMEN>'s 7h30m."
    )


def test_between_equal_hours_the_one_booked_longest_ago_is_named_so() -> None:
    chosen = Chosen(
        booking(),
        load("UBOB", 0),
        [load("UALICE", 0, at(MONDAY - timedelta(days=3), 10))],
        ["UCARMEN"],
    )
    assert why_chosen(chosen, NEW_YORK, MONDAY) == (
        "<@UBOB>: free, and 0h booked this week against <@UALICE>'s 0h; "
        "<@UBOB> was never booked, <@UALICE> last booked Fri 27 Feb."
    )


def test_many_others_free_are_summed_up_not_named() -> None:
    others = [load(f"U{n:04d}", 2 + n % 5) for n in range(40)]
    chosen = Chosen(booking(), load("UBOB", 1), others, [])
    said = why_chosen(chosen, NEW_YORK, MONDAY)
    assert said == (
        "<@UBOB>: free, and 1h booked this week against 2h to 6h for each of the 40 others free."
    )
    assert "<@U0001>" not in said


def test_the_only_one_free_says_who_wasn_t() -> None:
    alone = Chosen(booking(), load("UBOB", 4), [], ["UALICE", "UCARMEN"])
    assert why_chosen(alone, NEW_YORK, MONDAY) == (
        "<@UBOB>: the only one free then (<@UALICE> and <@UCARMEN> aren't)."
    )
    message = build_booking(
        booking(), NEW_YORK, MONDAY, "24h", chosen=why_chosen(alone, NEW_YORK, MONDAY)
    )
    assert_valid(message)
    assert "Chosen: <@UBOB>: the only one free then" in body(message)


def test_nobody_free_says_why_for_each_and_offers_times_that_book_anyone() -> None:
    tuesday = MONDAY + timedelta(days=1)
    asked = span(tuesday, (13, 0), (14, 30), NEW_YORK)
    rules = Rules(NEW_YORK)
    slots = [span(tuesday, (h, 0), (h + 1, 30), NEW_YORK) for h in (10, 15)]
    outcome = NobodyFree(
        asked,
        [
            NotFree("UALICE", [Reason(Why.BOOKING, asked, "K7Q2MX")], rules),
            NotFree("UBOB", [Reason(Why.BUSY, span(tuesday, (12, 0), (15, 0), NEW_YORK))], rules),
            NotFree("UCARMEN", [], rules, NEEDS_RECONNECT),
            NotFree("UDANA", [], rules, NOT_CONNECTED),
        ],
        slots,
    )
    message = build_nobody_free(
        outcome, ("UALICE", "UBOB"), f"{PING} shoot", NEW_YORK, MONDAY, "24h"
    )
    assert_valid(message)
    shown = body(message)
    assert "Nobody I asked about is free tomorrow (Tue 3 Mar), 13:00–14:30:" in shown
    assert "• <@UALICE>: booking K7Q2MX 13:00–14:30" in shown
    assert "• <@UBOB>: busy on their own calendar 12:00–15:00" in shown
    assert f"• <@UCARMEN>: their {why_unknown(NEEDS_RECONNECT)}" in shown
    assert "• <@UDANA>: they haven't connected a calendar yet" in shown
    assert PING not in shown, "the title is shown escaped (a button's value is never shown)"
    buttons = slot_buttons(message)
    assert all(b["action_id"].startswith(BOOK_ANYONE_SLOT) for b in buttons)
    assert [read_anyone_slot_value(b["value"]) for b in buttons] == [
        (("UALICE", "UBOB"), s.start, s.duration, f"{PING} shoot") for s in slots
    ]
    assert read_slot_value(buttons[0]["value"]) is None, "not a one-person slot"
    none_left = build_nobody_free(
        NobodyFree(asked, outcome.people, []), (), "Shoot", NEW_YORK, MONDAY, "24h"
    )
    assert slot_buttons(none_left) == [] and "Nobody has a free 1h30m" in body(none_left)


def test_a_stale_anyone_slot_is_not_read() -> None:
    assert read_anyone_slot_value("not json") is None
    assert read_anyone_slot_value('{"a": "UALICE", "s": "2026-03-03T10:00:00+00:00"}') is None
    assert read_anyone_slot_value('{"a": [], "s": "2026-03-03T10:00:00", "m": 60, "t": ""}') is None


# --- moving ----------------------------------------------------------------------------------


def test_the_move_notice_says_who_moved_what_from_where_to_where() -> None:
    moved_to = booking(PING, start=at(MONDAY + timedelta(days=2), 14))
    before = Interval(at(MONDAY + timedelta(days=1), 13), at(MONDAY + timedelta(days=1), 14, 30))
    message = build_moved(Moved(moved_to, before), "U9", NEW_YORK, MONDAY, "24h")
    assert_valid(message)
    shown = body(message)
    assert "<@U9> moved `K7Q2MX` (<@U1>, &lt;!channel&gt;)" in shown
    assert "from tomorrow (Tue 3 Mar), 13:00–14:30 to *Wed 4 Mar, 14:00–15:30*" in shown
    assert "Google told ana@example.com" in shown and PING not in texts(message)
    shown_in_place = build_booking(moved_to, NEW_YORK, MONDAY, "24h", moved=("U9", before))
    assert_valid(shown_in_place)
    assert "Moved by <@U9>; it was tomorrow (Tue 3 Mar), 13:00–14:30." in body(shown_in_place)
    again = build_moved_again(Moved(moved_to, before, again=True), NEW_YORK, MONDAY, "24h")
    assert "already there, Wed 4 Mar, 14:00–15:30: nothing to move" in body(again)


def test_a_move_conflict_offers_times_that_move_it() -> None:
    found = replace(conflict(Why.BUSY), moving=booking())
    message = build_move_conflict(found, booking(), NEW_YORK, MONDAY, "24h")
    assert_valid(message)
    assert "I can't move `K7Q2MX` (<@U1>, Shoot at 12 Main St) to tomorrow" in body(message)
    assert "busy on their own calendar 12:00–15:00" in body(message)
    buttons = slot_buttons(message)
    assert all(b["action_id"].startswith(MOVE_SLOT) for b in buttons)
    assert [read_move_slot_value(b["value"]) for b in buttons] == [
        ("K7Q2MX", s.start) for s in found.slots
    ]
    assert read_move_slot_value('{"b": "K7Q2MX", "s": "2026-03-03T10:00:00"}') is None


@pytest.mark.parametrize(
    ("reason", "said"),
    [
        (NOT_FOUND, "There's no booking `&lt;!channel&gt;`"),
        (ALREADY_CANCELLED, "was cancelled, so there's nothing to move"),
        (NOT_YOURS, "this one only they, <@U9> who booked it, or an onboarder can move"),
        (EVENT_GONE, "its event isn't on the primary calendar any more"),
        (EVENT_UNREACHABLE, "that account isn't connected any more (the primary calendar is now"),
    ],
)
def test_not_moved_says_why_and_what_to_do(reason: str, said: str) -> None:
    found = None if reason == NOT_FOUND else booking()
    message = build_not_moved(NotMoved(reason, found, "bookings@example.com"), PING)
    assert_valid(message)
    assert said in body(message) and PING not in texts(message)


def test_not_moved_while_the_primary_needs_reconnecting_says_so() -> None:
    outcome = NotMoved(EVENT_UNREACHABLE, booking(), "Carmen@example.com")
    assert "which needs reconnecting" in body(build_not_moved(outcome, "K7Q2MX"))


@pytest.mark.parametrize("reason", [PAST, GOOGLE_DOWN, NOT_SAVED, BEING_BOOKED, NEEDS_RECONNECT])
def test_a_refused_move_says_it_stays_where_it_was(reason: str) -> None:
    message = build_move_refused(Refused(reason))
    assert_valid(message)
    assert "booked" not in body(message).replace("booking", "")
    assert (
        reason == PAST or "stays where it was" in body(message) or "Nothing moved" in body(message)
    )


@pytest.mark.parametrize("zone", [NEW_YORK, KOLKATA], ids=str)
def test_the_move_form_starts_where_the_booking_is(zone: ZoneInfo) -> None:
    modal = build_move_modal("C1", booking(PING), zone, MONDAY, "24h")
    View(**modal).to_dict()
    assert modal["callback_id"] == MOVE_MODAL and modal["submit"]["text"] == "Move"
    assert read_move_metadata(modal["private_metadata"]) == ("C1", "K7Q2MX")
    inputs = {b["block_id"]: b["element"] for b in modal["blocks"] if b["type"] == "input"}
    local = booking().starts_at.astimezone(zone)
    assert inputs[FORM_DAY]["initial_date"] == local.date().isoformat()
    assert inputs[FORM_TIME]["initial_time"] == f"{local:%H:%M}"
    assert PING not in json.dumps(modal)
    answers = form_answers(
        modal, day={"selected_date": "2026-03-04"}, time={"selected_time": "14:00"}
    )
    assert read_move_form(answers) == ("2026-03-04", time(14))
    assert read_move_form(form_answers(modal)) == {
        FORM_DAY: "Choose a day.",
        FORM_TIME: read_move_form(form_answers(modal, day={"selected_date": "2026-03-04"}))[
            FORM_TIME  # type: ignore[call-overload]
        ],
    }


def test_a_move_form_with_a_conflict_offers_the_nearest_times() -> None:
    found = replace(conflict(Why.BOOKING), moving=booking())
    modal = build_move_modal(
        "C1",
        booking(),
        NEW_YORK,
        MONDAY,
        "24h",
        start=found.asked.start,
        trouble=form_trouble(found, MONDAY, "24h"),
    )
    View(**modal).to_dict()
    shown = json.dumps(modal, ensure_ascii=False)
    assert "I can't move it to tomorrow (Tue 3 Mar), 13:00–14:00: booking K7Q2MX" in shown
    inputs = {b["block_id"]: b["element"] for b in modal["blocks"] if b["type"] == "input"}
    assert len(inputs[FORM_SLOT]["options"]) == 3
    assert inputs[FORM_TIME]["initial_time"] == "13:00"
    working = build_move_working("C1", "K7Q2MX")
    View(**working).to_dict()
    assert "submit" not in working and read_move_metadata(working["private_metadata"]) == (
        "C1",
        "K7Q2MX",
    )
