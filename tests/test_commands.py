"""The /tonomo grammar: hand-picked cases and properties over any text."""

from __future__ import annotations

from datetime import date, time, timedelta
from typing import Any, get_args

import pytest
from hypothesis import given
from hypothesis import strategies as st
from slack_sdk.models.blocks import Block

from bot.commands import (
    MAX_REASON,
    MAX_TIME_OFF_DAYS,
    MAX_TITLE,
    USAGE,
    AddTimeOff,
    Availability,
    Book,
    BookAnyone,
    BookForm,
    Cancel,
    CancelTimeOff,
    Command,
    ConnectCalendar,
    DigestSetting,
    Disconnect,
    Help,
    Invalid,
    ListTimeOff,
    Move,
    Onboard,
    SetClock,
    SetHours,
    SetRole,
    SetScheduling,
    SetTimezone,
    ShowSettings,
    Status,
    Why,
    parse,
    parse_book_form,
    parse_weekdays,
    plain_text,
)
from bot.messages.help import build_invalid
from bot.when import Clock, format_duration, format_time_12h, format_time_24h
from storage.models import ConnectionKind

MON_TO_FRI = frozenset(range(5))
EVERY_DAY = frozenset(range(7))
MIN = timedelta(minutes=1)
HOUR = timedelta(hours=1)
PROBLEM_LIMIT = 400
"""The longest `Invalid.problem`: a short reply, whatever was typed."""
HUGE = "x" * 40_000


def invalid(text: str) -> Invalid:
    result = parse(text)
    assert isinstance(result, Invalid), result
    return result


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("", Help()),
        ("   ", Help()),
        ("help", Help()),
        ("HELP", Help()),
        ("status", Status()),
        ("  Status  ", Status()),
        ("connect-calendar", ConnectCalendar(ConnectionKind.STAFF)),
        ("connect-calendar primary", ConnectCalendar(ConnectionKind.PRIMARY)),
        ("Connect-Calendar   PRIMARY", ConnectCalendar(ConnectionKind.PRIMARY)),
        ("disconnect", Disconnect(ConnectionKind.STAFF)),
        ("disconnect primary", Disconnect(ConnectionKind.PRIMARY)),
    ],
)
def test_commands(text: str, expected: object) -> None:
    assert parse(text) == expected


@pytest.mark.parametrize(
    ("text", "usage"),
    [
        ("connect-calendar secondary", "/tonomo connect-calendar [primary]"),
        ("connect-calendar primary now", "/tonomo connect-calendar [primary]"),
        ("disconnect everyone", "/tonomo disconnect [primary]"),
        ("status all", "/tonomo status"),
        ("conect-calendar", "/tonomo connect-calendar [primary]"),
        ("stauts", "/tonomo status"),
        ("availabilty", USAGE["availability"]),
        ("settigns", USAGE["settings"]),
        ("mvoe", USAGE["move"]),
        ("wyh", USAGE["why"]),
        ("time-off", USAGE["timeoff"]),
        ("timeof", USAGE["timeoff"]),
    ],
)
def test_mistakes_show_the_right_form(text: str, usage: str) -> None:
    result = parse(text)
    assert isinstance(result, Invalid) and result.usage == usage


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("digest on", DigestSetting("on")),
        ("Digest OFF", DigestSetting("off")),
        ("digest now", DigestSetting("now")),
        ("digest at 7:30", DigestSetting("at", time(7, 30))),
        ("digest at 6am", DigestSetting("at", time(6))),
        ("onboard", Onboard()),
    ],
)
def test_digest_and_onboard(text: str, expected: object) -> None:
    assert parse(text) == expected


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("digest", "Say `on`, `off`, `now`"),
        ("digest at", "Say `on`, `off`, `now`"),
        ("digest at 25:00", "hours go from 0 to 23"),
        ("digest tomorrow", "Say `on`, `off`, `now`"),
        ("onboard now", "doesn't take `now`"),
    ],
)
def test_digest_and_onboard_mistakes(text: str, problem: str) -> None:
    result = parse(text)
    assert isinstance(result, Invalid) and problem in result.problem


def test_a_long_unknown_word_is_shortened() -> None:
    result = parse("x" * 40_000)
    assert isinstance(result, Invalid) and len(result.problem) < 100


@pytest.mark.parametrize(
    "text",
    [
        f"status {HUGE}",
        f"connect-calendar {HUGE}",
        "disconnect " + " ".join(["primary"] * 5_000),
    ],
)
def test_a_long_extra_argument_is_shortened(text: str) -> None:
    result = invalid(text)
    assert len(result.problem) < PROBLEM_LIMIT and "…" in result.problem
    assert_fits_in_a_reply(result)


# --- availability -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("availability", Availability()),
        ("availability today", Availability(when=("today",))),
        ("AVAILABILITY Tomorrow", Availability(when=("Tomorrow",))),
        ("availability friday", Availability(when=("friday",))),
        ("availability 2026-12-01", Availability(when=("2026-12-01",))),
        ("availability this week", Availability(when=("this", "week"))),
        ("availability  next   week  90m", Availability(when=("next", "week"), duration=90 * MIN)),
        ("availability 1h30m", Availability(duration=90 * MIN)),
        ("availability <@U123|ana>", Availability(user_ids=("U123",))),
        (
            "availability <@U123|ana> <@W0456> tomorrow 1h",
            Availability(user_ids=("U123", "W0456"), when=("tomorrow",), duration=HOUR),
        ),
        (
            "availability <@U123|ana maria> <@U123> next week",
            Availability(user_ids=("U123",), when=("next", "week")),
        ),
    ],
)
def test_availability(text: str, expected: Availability) -> None:
    assert parse(text) == expected


@pytest.mark.parametrize("day", ["1999-01-01", "2030-06-01", "friday", "TODAY"])
def test_availability_keeps_real_day_words_as_typed_for_bot_when_to_resolve(day: str) -> None:
    # Which date a word is depends on the customer's timezone: `bot.when.parse_range`
    # resolves it (and refuses a past one) once that is known.
    assert parse(f"availability {day}") == Availability(when=(day,))


@pytest.mark.parametrize(
    ("text", "quoted"),
    [
        ("availability 2026-02-30", "February 2026 has 28 days"),
        ("availability 2026-13-01", "months go from 01 to 12"),
        ("availability yesterday", "`yesterday` as a day"),
        ("availability tomorow", "Did you mean `tomorrow`?"),
        ("availability someday", "`someday` as a day"),
        ("availability this wek", "`this wek` as days"),
        ("book <@U1> tomorow 9:00 1h Shoot", "Did you mean `tomorrow`?"),
        ("book <@U1> 2026-02-30 9:00 1h Shoot", "February 2026 has 28 days"),
    ],
)
def test_a_word_that_is_no_day_is_refused_before_any_timezone_is_known(
    text: str, quoted: str
) -> None:
    result = parse(text)
    assert isinstance(result, Invalid) and quoted in result.problem, result


@pytest.mark.parametrize(
    ("text", "quoted"),
    [
        ("availability 2026-02-27", "in the past"),
        ("book <@U1> 2026-02-27 9:00 1h Shoot", "in the past"),
        ("availability 2027-03-04", "more than a year away"),
    ],
)
def test_given_today_in_utc_a_date_wrong_in_every_timezone_is_refused(
    text: str, quoted: str
) -> None:
    result = parse(text, around=date(2026, 3, 1))
    assert isinstance(result, Invalid) and quoted in result.problem, result


@pytest.mark.parametrize("day", ["2026-02-28", "2026-03-02", "2027-03-03"])
def test_given_today_in_utc_a_date_right_in_some_timezone_is_kept(day: str) -> None:
    assert parse(f"availability {day}", around=date(2026, 3, 1)) == Availability(when=(day,))


@pytest.mark.parametrize(
    ("text", "quoted"),
    [
        ("availability 0m", "`0m` is no time at all"),
        ("availability tomorrow -1h", "`-1h` is a negative length"),
        ("availability 99999h", "longer than 12h"),
        ("availability 13h", "longer than 12h"),
        ("availability 1.01h", "whole number of minutes"),
    ],
)
def test_availability_refuses_a_bad_length(text: str, quoted: str) -> None:
    result = invalid(text)
    assert quoted in result.problem and result.usage == USAGE["availability"]


def test_availability_refuses_a_typed_name_that_is_not_a_mention() -> None:
    result = invalid("availability <@U123|ana> @alex tomorrow")
    assert "`@alex`" in result.problem and "as you type @" in result.problem
    assert result.usage == USAGE["availability"]


def test_availability_refuses_more_than_one_day_and_a_length() -> None:
    result = invalid("availability monday tuesday wednesday")
    assert "at most one day" in result.problem


# --- book -------------------------------------------------------------------------------------


def test_book_alone_opens_the_form() -> None:
    assert parse("book") == BookForm()
    assert parse("  BOOK ") == BookForm()


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            "book <@U123|ana> tomorrow 13:00 1h30m Shoot at 12 Main St",
            Book("U123", "tomorrow", time(13), 90 * MIN, "Shoot at 12 Main St"),
        ),
        (
            "Book <@W9|ana maria>  Friday  2:30pm  45m   Drone   shoot ",
            Book("W9", "Friday", time(14, 30), 45 * MIN, "Drone shoot"),
        ),
        (
            "book <@U1> 2026-12-01 9am 12h All day",
            Book("U1", "2026-12-01", time(9), 12 * HOUR, "All day"),
        ),
    ],
)
def test_book(text: str, expected: Book) -> None:
    assert parse(text) == expected


def test_book_keeps_a_real_date_as_typed_for_bot_when_to_resolve() -> None:
    result = parse("book <@U1> 2026-02-28 9:00 1h Shoot")
    assert isinstance(result, Book) and result.day == "2026-02-28"


@pytest.mark.parametrize(
    ("text", "quoted"),
    [
        ("book <@U1> tomorrow 25:00 1h Shoot", "`25:00` isn't a time"),
        ("book <@U1> tomorrow 9:60 1h Shoot", "minutes go from 00 to 59"),
        ("book <@U1> tomorrow 13pm 1h Shoot", "with am or pm"),
        ("book <@U1> tomorrow 9 1h Shoot", "as a time"),
        ("book <@U1> tomorrow 9:00 0m Shoot", "no time at all"),
        ("book <@U1> tomorrow 9:00 -30m Shoot", "negative length"),
        ("book <@U1> tomorrow 9:00 100000h Shoot", "longer than 12h"),
        ("book <@U1> tomorrow 9:00 soon Shoot", "as a length of time"),
    ],
)
def test_book_refuses_a_bad_time_or_length(text: str, quoted: str) -> None:
    result = invalid(text)
    assert quoted in result.problem and result.usage == USAGE["book"]


def test_book_refuses_a_typed_name_that_is_not_a_mention() -> None:
    result = invalid("book @alex tomorrow 9:00 1h Shoot")
    assert "`@alex`" in result.problem and result.usage == USAGE["book"]


@pytest.mark.parametrize("first", ["tomorrow", "<!channel>", "<#C123|general>"])
def test_book_starts_with_the_person(first: str) -> None:
    result = invalid(f"book {first} 9:00 1h Shoot")
    assert "Start with the person" in result.problem


@pytest.mark.parametrize("text", ["book <@U1>", "book <@U1> tomorrow 9:00"])
def test_book_with_missing_parts_shows_an_example(text: str) -> None:
    assert "like `/tonomo book @alex" in invalid(text).problem


def test_book_needs_a_title() -> None:
    assert "What is the booking for?" in invalid("book <@U1> tomorrow 9:00 1h").problem


def test_a_40000_character_title_is_refused_with_a_short_reply() -> None:
    result = invalid(f"book <@U1> tomorrow 9:00 1h {HUGE}")
    assert "40,000 characters" in result.problem and str(MAX_TITLE) in result.problem
    assert len(result.problem) < PROBLEM_LIMIT
    assert_fits_in_a_reply(result)


def test_a_title_of_exactly_the_limit_is_taken() -> None:
    result = parse(f"book <@U1> tomorrow 9:00 1h {'x' * MAX_TITLE}")
    assert isinstance(result, Book) and len(result.title) == MAX_TITLE


def test_slack_entities_in_a_title_come_back_as_plain_text() -> None:
    result = parse(
        "book <@U1|ana> tomorrow 9:00 1h <!channel> <!here> shoot for <@U2|bob> &amp; co"
    )
    assert isinstance(result, Book)
    assert result.title == "@channel @here shoot for @bob & co"
    assert "<" not in result.title


def test_only_the_first_mention_is_the_person_booked() -> None:
    result = parse("book <@U1|ana> tomorrow 9:00 1h Meet <@U2|bob>")
    assert isinstance(result, Book) and result.user_id == "U1" and result.title == "Meet @bob"


# --- cancel -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "short_id"),
    [("cancel K7Q2MX", "K7Q2MX"), ("cancel k7q2mx", "K7Q2MX"), ("CANCEL  #K7Q2MX ", "K7Q2MX")],
)
def test_cancel(text: str, short_id: str) -> None:
    assert parse(text) == Cancel(short_id)


@pytest.mark.parametrize(
    "text", ["cancel", "cancel K7Q", "cancel K7Q2MX K7Q2MY", "cancel <!channel>", "cancel K7-Q2"]
)
def test_cancel_needs_one_booking_id(text: str) -> None:
    result = invalid(text)
    assert "K7Q2MX" in result.problem and result.usage == USAGE["cancel"]


# --- settings ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("settings", ShowSettings()),
        ("settings timezone America/New_York", SetTimezone("America/New_York")),
        ("settings timezone asia/kolkata", SetTimezone("Asia/Kolkata")),
        ("Settings TZ ASIA/KOLKATA", SetTimezone("Asia/Kolkata")),
        ("settings hours 9:00-17:00", SetHours(time(9), time(17), MON_TO_FRI)),
        (
            "settings hours 8am-4:30pm tue-sat",
            SetHours(time(8), time(16, 30), frozenset(range(1, 6))),
        ),
        ("settings hours 10:00-14:00 sat-mon", SetHours(time(10), time(14), frozenset({5, 6, 0}))),
        (
            "settings hours 9:00-17:00 mon,wed,fri",
            SetHours(time(9), time(17), frozenset({0, 2, 4})),
        ),
        ("settings hours 9:00-17:00 daily", SetHours(time(9), time(17), EVERY_DAY)),
        (
            "settings hours 7:00-15:00 mon-fri <@U5|ana>",
            SetHours(time(7), time(15), MON_TO_FRI, "U5"),
        ),
        ("settings hours <@U5> 7:00-15:00", SetHours(time(7), time(15), MON_TO_FRI, "U5")),
    ],
)
def test_settings(text: str, expected: object) -> None:
    assert parse(text) == expected


def test_a_misspelt_timezone_gets_a_suggestion() -> None:
    result = invalid("settings timezone America/New_Yrok")
    assert "Did you mean `America/New_York`?" in result.problem


def test_an_unknown_timezone_shows_examples() -> None:
    result = invalid("settings timezone Mars/Olympus")
    assert "`Mars/Olympus`" in result.problem and "Asia/Kolkata" in result.problem


@pytest.mark.parametrize(
    ("text", "quoted"),
    [
        ("settings timezone", "Give one timezone"),
        ("settings timezone Asia/Kolkata Europe/London", "Give one timezone"),
        ("settings hours", "start-end"),
        ("settings hours 9:00 17:00", "start-end"),
        ("settings hours 9:00-17:00-18:00", "start-end"),
        ("settings hours 9:00-25:00", "`25:00` isn't a time"),
        ("settings hours 17:00-9:00", "Hours across midnight"),
        ("settings hours 9:00-9:00", "end after they start"),
        ("settings hours 9:00-17:00 funday", "`funday` as days"),
        ("settings hours 9:00-17:00 mon-fri sat", "start-end"),
        ("settings hours 9:00-17:00 <@U1> <@U2>", "one person's hours"),
        ("settings hours 9:00-17:00 @alex", "`@alex`"),
        ("settings colour blue", "`timezone`, `hours`"),
    ],
)
def test_settings_mistakes(text: str, quoted: str) -> None:
    result = invalid(text)
    assert quoted in result.problem and result.usage == USAGE["settings"]


# --- parse_weekdays -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("word", "days"),
    [
        ("mon-fri", MON_TO_FRI),
        ("Tue-Sat", frozenset(range(1, 6))),
        ("sat-sun", frozenset({5, 6})),
        ("fri-mon", frozenset({4, 5, 6, 0})),
        ("wed", frozenset({2})),
        ("mon,wed,fri", frozenset({0, 2, 4})),
        ("monday-thursday", frozenset(range(4))),
        ("tues,thurs", frozenset({1, 3})),
        ("mon-tue,thu-fri", frozenset({0, 1, 3, 4})),
        ("weekdays", MON_TO_FRI),
        ("weekends", frozenset({5, 6})),
        ("daily", EVERY_DAY),
        ("everyday", EVERY_DAY),
    ],
)
def test_parse_weekdays(word: str, days: frozenset[int]) -> None:
    assert parse_weekdays(word) == days


@pytest.mark.parametrize("word", ["", "funday", "mon-", "-fri", "mon-wed-fri", "mon,,fri", "1-5"])
def test_parse_weekdays_refuses_what_are_not_days(word: str) -> None:
    assert parse_weekdays(word) is None


DAY_SPELLINGS = [
    ("mon", "monday"),
    ("tue", "tues", "tuesday"),
    ("wed", "wednesday"),
    ("thu", "thur", "thurs", "thursday"),
    ("fri", "friday"),
    ("sat", "saturday"),
    ("sun", "sunday"),
]


def walk(first: int, last: int) -> frozenset[int]:
    """The days from `first` to `last`, going forward through the week."""
    days, day = {first}, first
    while day != last:
        day = (day + 1) % 7
        days.add(day)
    return frozenset(days)


@given(st.integers(0, 6), st.integers(0, 6), st.data())
def test_any_range_of_weekday_names_gives_the_days_from_one_to_the_other(
    first: int, last: int, data: st.DataObject
) -> None:
    start = data.draw(st.sampled_from(DAY_SPELLINGS[first]))
    end = data.draw(st.sampled_from(DAY_SPELLINGS[last]))
    word = data.draw(st.sampled_from([f"{start}-{end}", f"{start}-{end}".upper()]))
    days = parse_weekdays(word)
    assert days == walk(first, last)
    assert len(days) == (last - first) % 7 + 1


# --- plain_text -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("slack", "plain"),
    [
        ("<!channel>", "@channel"),
        ("<!here> now", "@here now"),
        ("<!everyone>", "@everyone"),
        ("<@U123|ana>", "@ana"),
        ("<@U123>", "@U123"),
        ("<#C123|general>", "#general"),
        ("<!subteam^S123|@photographers>", "@photographers"),
        ("<https://example.com|the listing>", "the listing"),
        ("<https://example.com>", "https://example.com"),
        ("&lt;b&gt; &amp;lt;", "<b> &lt;"),
        ("  a \t b\n c  ", "a b c"),
    ],
)
def test_plain_text(slack: str, plain: str) -> None:
    assert plain_text(slack) == plain


@given(st.text())
def test_plain_text_gives_typed_text_back_and_entities_as_words(text: str) -> None:
    # What Slack sends is escaped text and entities: the text comes back as typed (spaces
    # collapsed), the entities as plain words.
    escaped = text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    assert plain_text(f"<!channel> {escaped} <@U1|ana>") == " ".join(
        f"@channel {text} @ana".split()
    )


# --- the booking form -------------------------------------------------------------------------

FIELDS = ("staff", "day", "time", "duration", "title")


def form(
    user: str | None = "U1",
    day: str | None = "2026-12-01",
    at: str | None = "13:30",
    duration: str = "1h30m",
    title: str = "Shoot at 12 Main St",
) -> dict[str, dict[str, dict[str, Any]]]:
    """`view.state.values` as Slack sends it; a None is a field left empty."""
    return {
        "staff": {"staff": {"type": "users_select", "selected_user": user}},
        "day": {"day": {"type": "datepicker", "selected_date": day}},
        "time": {"time": {"type": "timepicker", "selected_time": at}},
        "duration": {"duration": {"type": "plain_text_input", "value": duration}},
        "title": {"title": {"type": "plain_text_input", "value": title}},
    }


def test_a_filled_form_is_a_booking() -> None:
    assert parse_book_form(form(), FIELDS) == Book(
        "U1", "2026-12-01", time(13, 30), 90 * MIN, "Shoot at 12 Main St"
    )


def test_an_empty_form_says_what_each_field_needs() -> None:
    errors = parse_book_form(form(None, None, None, "", "  "), FIELDS)
    assert isinstance(errors, dict) and set(errors) == set(FIELDS)
    assert all(errors.values())


def test_a_form_with_no_values_at_all_is_refused_field_by_field() -> None:
    errors = parse_book_form({}, FIELDS)
    assert isinstance(errors, dict) and set(errors) == set(FIELDS)


@pytest.mark.parametrize(
    ("values", "field", "quoted"),
    [
        (form(duration="0m"), "duration", "no time at all"),
        (form(duration="-1h"), "duration", "negative length"),
        (form(duration="24h"), "duration", "longer than 12h"),
        (form(at="25:00"), "time", "`25:00` isn't a time"),
        (form(title="x" * 40_000), "title", f"{MAX_TITLE} characters"),
    ],
)
def test_a_bad_field_of_the_form_is_named(
    values: dict[str, dict[str, dict[str, Any]]], field: str, quoted: str
) -> None:
    errors = parse_book_form(values, FIELDS)
    assert isinstance(errors, dict) and list(errors) == [field]
    assert quoted in errors[field] and len(errors[field]) < PROBLEM_LIMIT


def test_the_forms_title_is_kept_as_typed() -> None:
    # A form's text is not Slack-escaped: what was typed is the title (escaped when shown).
    booked = parse_book_form(form(title="  <!channel>   R&amp;D  shoot "), FIELDS)
    assert isinstance(booked, Book) and booked.title == "<!channel> R&amp;D shoot"


# --- properties ---------------------------------------------------------------------------------

COMMAND_TYPES = (
    Help
    | ConnectCalendar
    | Disconnect
    | Status
    | Availability
    | Book
    | BookAnyone
    | BookForm
    | Cancel
    | Move
    | Why
    | AddTimeOff
    | ListTimeOff
    | CancelTimeOff
    | ShowSettings
    | SetTimezone
    | SetClock
    | SetHours
    | SetScheduling
    | SetRole
    | DigestSetting
    | Onboard
    | Invalid
)

VERBS = [
    "availability",
    "book",
    "cancel",
    "settings",
    "status",
    "help",
    "connect-calendar",
    "move",
    "why",
    "timeoff",
]
NEW_STARTS = [
    "book anyone",
    "move",
    "why",
    "timeoff",
    "timeoff cancel",
    "settings buffer",
    "settings notice",
    "settings step",
]
"""The beginnings of the scheduling commands."""
WORDS = [
    *VERBS,
    "anyone",
    "cancel",
    "buffer",
    "notice",
    "step",
    "none",
    "off",
    "0",
    "2d",
    "48h",
    "7m",
    "..",
    "–",
    "friday..monday",
    "2026-12-24..2026-12-26",
    "2026-12-26..2026-12-24",
    "2026-12-24–2026-12-26",
    "monday-friday",
    "#7QX2",
    "timezone",
    "hours",
    "primary",
    "today",
    "tomorrow",
    "friday",
    "this",
    "next",
    "week",
    "2026-02-30",
    "9:00",
    "25:00",
    "9am",
    "13pm",
    "9:00-17:00",
    "17:00-9:00",
    "mon-fri",
    "sat-mon",
    "1h",
    "0m",
    "-1h",
    "1.5h",
    "99999999999999999999h",
    "<@U123|ana>",
    "<@W1>",
    "@alex",
    "<!channel>",
    "<#C1|general>",
    "&amp;",
    "K7Q2MX",
    "Asia/Kolkata",
    "America/New_York",
]
command_text = st.lists(st.one_of(st.sampled_from(WORDS), st.text(max_size=30)), max_size=8).map(
    " ".join
)


@given(st.one_of(st.text(), command_text))
def test_any_text_parses_to_a_command(text: str) -> None:
    assert isinstance(parse(text), COMMAND_TYPES)


@given(st.sampled_from(VERBS), st.one_of(st.text(), command_text))
def test_every_refusal_says_briefly_what_is_wrong(verb: str, rest: str) -> None:
    result = parse(f"{verb} {rest}")
    if isinstance(result, Invalid):
        assert result.problem.strip() and len(result.problem) < PROBLEM_LIMIT


@given(st.sampled_from(VERBS), st.sampled_from(["", "a ", "<@U1> tomorrow 9:00 1h "]))
def test_a_huge_word_after_any_verb_gets_a_short_refusal(verb: str, before: str) -> None:
    result = parse(f"{verb} {before}{HUGE}")
    if isinstance(result, Invalid):
        assert result.problem.strip() and len(result.problem) < PROBLEM_LIMIT


@given(
    st.sampled_from(
        [
            "status",
            "help",
            "connect-calendar",
            "disconnect primary",
            "book anyone <@U1|ana> 2026-12-01 9am 1h 12",
            "move k7q2mx 2026-12-01 9am",
            "why <@U1|ana> 2026-12-01 9am 1h",
            "timeoff",
            "timeoff cancel #7qx2",
            "timeoff <@U1|ana> 2026-12-24..2026-12-26",
            "settings buffer none",
            "settings notice 2d",
            "settings step 15m",
        ]
    ),
    st.data(),
)
def test_case_and_spacing_do_not_matter(command: str, data: st.DataObject) -> None:
    spaced = " ".join(
        data.draw(st.sampled_from([w.upper(), w.title(), w])) for w in command.split()
    )
    padding = data.draw(st.sampled_from(["", " ", "   ", "\t"]))
    assert parse(padding + spaced.replace(" ", "  ") + padding) == parse(command)


user_ids = st.from_regex(r"[UW][A-Z0-9]{2,11}", fullmatch=True)
display_names = st.text(st.characters(blacklist_characters="<>|"), max_size=20)
days = st.one_of(
    st.sampled_from(["today", "tomorrow", "Tomorrow", "monday", "fri", "SAT"]),
    st.dates(date(2026, 1, 1), date(2027, 12, 31)).map(date.isoformat),
)
times = st.times().map(lambda t: t.replace(second=0, microsecond=0))
durations = st.integers(1, 12 * 60).map(lambda minutes: timedelta(minutes=minutes))
title_words = st.text(
    st.characters(blacklist_categories=("Z", "C"), blacklist_characters="<>&"),
    min_size=1,
    max_size=30,
)
titles = (
    st.lists(title_words, min_size=1, max_size=10)
    .map(" ".join)
    .filter(lambda t: len(t) <= MAX_TITLE)
)


@given(user_ids, display_names, days, times, st.booleans(), durations, titles)
def test_any_valid_booking_round_trips_through_parse(
    user_id: str,
    name: str,
    day: str,
    at: time,
    twelve_hour: bool,
    duration: timedelta,
    title: str,
) -> None:
    typed_at = format_time_12h(at) if twelve_hour else format_time_24h(at)
    mention = f"<@{user_id}|{name}>" if name else f"<@{user_id}>"
    text = f"book {mention} {day} {typed_at} {format_duration(duration)} {title}"
    assert parse(text) == Book(user_id, day, at, duration, title)


def assert_fits_in_a_reply(result: Invalid) -> None:
    """The reply to a refusal is valid Block Kit (a section holds 3000 characters)."""
    for block in build_invalid(result.problem, result.usage).blocks:
        parsed = Block.parse(block)
        assert parsed is not None
        parsed.to_dict()  # validates Slack's limits


@pytest.mark.parametrize(
    ("text", "clock"),
    [
        ("settings clock 12h", "12h"),
        ("settings clock 24h", "24h"),
        ("SETTINGS Clock 24H", "24h"),
        ("settings clock am/pm", "12h"),
        ("settings clock 24-hour", "24h"),
    ],
)
def test_settings_clock_sets_how_times_are_written(text: str, clock: Clock) -> None:
    assert parse(text) == SetClock(clock)


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("settings clock", "Say which clock: `settings clock 12h` (like 2:30pm)"),
        ("settings clock 12h 24h", "Say which clock"),
        (
            "settings clock 13h",
            "I can write times as `12h` (like 2:30pm) or `24h` (like 14:30), not `13h`",
        ),
        (
            "settings clock military",
            "not `military`. Try `settings clock 12h` or `settings clock 24h`.",
        ),
    ],
)
def test_a_wrong_clock_is_explained_kindly(text: str, problem: str) -> None:
    result = invalid(text)
    assert problem in result.problem and "settings clock 12h|24h" in (result.usage or "")


def test_settings_names_the_clock_among_what_it_can_set() -> None:
    assert "`clock`" in invalid("settings colour blue").problem


def test_the_property_tests_know_every_command() -> None:
    assert set(get_args(COMMAND_TYPES)) == set(get_args(Command))


# --- book anyone ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            "book anyone tomorrow 13:00 1h30m Shoot at 12 Main St",
            BookAnyone((), "tomorrow", time(13), 90 * MIN, "Shoot at 12 Main St"),
        ),
        (
            "Book  ANYONE <@U1|ana> <@W2>  Friday  2:30pm  45m   Drone   shoot ",
            BookAnyone(("U1", "W2"), "Friday", time(14, 30), 45 * MIN, "Drone shoot"),
        ),
        (
            "book anyone <@U1|ana> <@U1> 2026-12-01 9am 12h All day",
            BookAnyone(("U1",), "2026-12-01", time(9), 12 * HOUR, "All day"),
        ),
        (
            "book anyone <@U1|ana> tomorrow 9:00 1h Meet <@U2|bob> &amp; <!channel>",
            BookAnyone(("U1",), "tomorrow", time(9), HOUR, "Meet @bob & @channel"),
        ),
    ],
)
def test_book_anyone(text: str, expected: BookAnyone) -> None:
    assert parse(text) == expected


@pytest.mark.parametrize(
    ("text", "quoted"),
    [
        ("book anyone", "like `/tonomo book anyone tomorrow 13:00"),
        ("book anyone <@U1> <@U2>", "like `/tonomo book anyone tomorrow 13:00"),
        ("book anyone tomorrow 9:00", "like `/tonomo book anyone tomorrow 13:00"),
        ("book anyone tomorrow 9:00 1h", "What is the booking for?"),
        ("book anyone @alex tomorrow 9:00 1h Shoot", "`@alex`"),
        ("book anyone <@U1> @alex tomorrow 9:00 1h Shoot", "`@alex`"),
        ("book anyone tomorow 9:00 1h Shoot", "Did you mean `tomorrow`?"),
        ("book anyone <@U1> 9:00 1h Shoot", "`9:00` as a day"),
        ("book anyone tomorrow 25:00 1h Shoot", "`25:00` isn't a time"),
        ("book anyone tomorrow 9:00 0m Shoot", "no time at all"),
        ("book anyone tomorrow 9:00 13h Shoot", "longer than 12h"),
        (f"book anyone tomorrow 9:00 1h {HUGE}", "40,000 characters"),
    ],
)
def test_book_anyone_mistakes(text: str, quoted: str) -> None:
    result = invalid(text)
    assert quoted in result.problem and result.usage == USAGE["book"]
    assert len(result.problem) < PROBLEM_LIMIT


def test_book_anyone_refuses_a_date_wrong_in_every_timezone() -> None:
    result = parse("book anyone 2026-02-27 9:00 1h Shoot", around=date(2026, 3, 1))
    assert isinstance(result, Invalid) and "in the past" in result.problem


@pytest.mark.parametrize("word", ["nobody", "any", "everyone"])
def test_book_with_neither_a_person_nor_anyone_keeps_its_message(word: str) -> None:
    result = invalid(f"book {word} tomorrow 9:00 1h Shoot")
    assert result.problem == "Start with the person to book, as a mention, like `@alex`."
    assert "book anyone" in (result.usage or "")


# --- move -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("move K7Q2MX friday 14:00", Move("K7Q2MX", "friday", time(14))),
        ("MOVE  #k7q2mx  Tomorrow  2:30pm ", Move("K7Q2MX", "Tomorrow", time(14, 30))),
        ("move k7q2mx 2026-12-01 9am", Move("K7Q2MX", "2026-12-01", time(9))),
    ],
)
def test_move(text: str, expected: Move) -> None:
    assert parse(text) == expected


@pytest.mark.parametrize(
    ("text", "quoted"),
    [
        ("move", "Give the booking's id"),
        ("move K7Q2MX", "Give the booking's id"),
        ("move K7Q2MX friday", "then the new day and the new start time"),
        ("move K7Q2MX friday 14:00 1h", "A move keeps the booking's length, so leave out `1h`"),
        ("move K7Q2MX friday 14:00 90m", "cancel it and book again"),
        ("move K7Q2MX friday 2:30 pm", "`pm` is extra"),
        ("move K7Q2MX friday 14:00 1h please", "`1h please` is extra"),
        ("move friday 14:00 K7Q2MX", "Start with the booking's id"),
        ("move tomorrow 14:00 K7Q2MX", "Start with the booking's id"),
        ("move K7 friday 14:00", "`K7` doesn't look like a booking id"),
        ("move <!channel> friday 14:00", "doesn't look like a booking id"),
        ("move K7Q2MX someday 14:00", "`someday` as a day"),
        ("move K7Q2MX 2026-02-30 14:00", "February 2026 has 28 days"),
        ("move K7Q2MX friday 25:00", "`25:00` isn't a time"),
        ("move K7Q2MX friday 2", "as a time"),
    ],
)
def test_move_mistakes(text: str, quoted: str) -> None:
    result = invalid(text)
    assert quoted in result.problem and result.usage == USAGE["move"]


def test_move_refuses_a_date_wrong_in_every_timezone() -> None:
    result = parse("move K7Q2MX 2026-02-27 9:00", around=date(2026, 3, 1))
    assert isinstance(result, Invalid) and "in the past" in result.problem


# --- why --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("why <@U1> tomorrow 10:00", Why("U1", "tomorrow", time(10))),
        ("WHY  <@U1|ana maria>  Friday  2pm  90m ", Why("U1", "Friday", time(14), 90 * MIN)),
        ("why <@W9|bob> 2026-12-01 9:30 1h", Why("W9", "2026-12-01", time(9, 30), HOUR)),
    ],
)
def test_why(text: str, expected: Why) -> None:
    assert parse(text) == expected


@pytest.mark.parametrize(
    ("text", "quoted"),
    [
        ("why", "Name the person"),
        ("why tomorrow 10:00", "Name the person"),
        ("why <!channel> tomorrow 10:00", "Name the person"),
        ("why @alex tomorrow 10:00", "`@alex`"),
        ("why <@U1> <@U2> tomorrow 10:00", "one person at a time"),
        ("why <@U1>", "give the day and the time"),
        ("why <@U1> tomorrow", "give the day and the time"),
        ("why <@U1> tomorrow 10:00 1h now", "`now` is extra"),
        ("why <@U1> someday 10:00", "`someday` as a day"),
        ("why <@U1> tomorrow 25:00", "`25:00` isn't a time"),
        ("why <@U1> tomorrow 10:00 0m", "no time at all"),
        ("why <@U1> tomorrow 10:00 -1h", "negative length"),
    ],
)
def test_why_mistakes(text: str, quoted: str) -> None:
    result = invalid(text)
    assert quoted in result.problem and result.usage == USAGE["why"]


def test_why_refuses_a_date_wrong_in_every_timezone() -> None:
    result = parse("why <@U1> 2027-03-04 9:00", around=date(2026, 3, 1))
    assert isinstance(result, Invalid) and "more than a year away" in result.problem


# --- timeoff ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("timeoff", ListTimeOff()),
        ("  TIMEOFF  ", ListTimeOff()),
        ("timeoff cancel 7QX2", CancelTimeOff("7QX2")),
        ("TimeOff CANCEL  #7qx2 ", CancelTimeOff("7QX2")),
        ("timeoff cancel abcd1234", CancelTimeOff("ABCD1234")),
        ("timeoff friday", AddTimeOff(None, "friday", "friday", "")),
        ("timeoff <@U1|ana> Tomorrow", AddTimeOff("U1", "Tomorrow", "Tomorrow", "")),
        (
            "timeoff <@U1|ana> 2026-12-24..2026-12-26 Holidays",
            AddTimeOff("U1", "2026-12-24", "2026-12-26", "Holidays"),
        ),
        (
            "timeoff 2026-12-24 .. 2026-12-26",
            AddTimeOff(None, "2026-12-24", "2026-12-26", ""),
        ),
        ("timeoff 2026-12-24.. 2026-12-26", AddTimeOff(None, "2026-12-24", "2026-12-26", "")),
        ("timeoff 2026-12-24 ..2026-12-26", AddTimeOff(None, "2026-12-24", "2026-12-26", "")),
        ("timeoff monday–friday Trip", AddTimeOff(None, "monday", "friday", "Trip")),
        ("timeoff monday – friday Trip", AddTimeOff(None, "monday", "friday", "Trip")),
        ("timeoff friday..friday", AddTimeOff(None, "friday", "friday", "")),
        (
            "Timeoff  <@U1>   tomorrow   Dentist   at  9 ",
            AddTimeOff("U1", "tomorrow", "tomorrow", "Dentist at 9"),
        ),
        (
            "timeoff <@U1> friday covering for <@U2|bob> &amp; <!channel>",
            AddTimeOff("U1", "friday", "friday", "covering for @bob & @channel"),
        ),
    ],
)
def test_timeoff(text: str, expected: object) -> None:
    assert parse(text) == expected


@pytest.mark.parametrize(
    ("text", "quoted"),
    [
        ("timeoff cancel", "Give the id of the time off to remove"),
        ("timeoff cancel 7Q", "`7Q` doesn't look like a time-off id"),
        ("timeoff cancel ABCDEFGHJ", "doesn't look like a time-off id"),
        ("timeoff cancel 7Q-X2", "doesn't look like a time-off id"),
        ("timeoff cancel 7QX2 8ABC", "`7QX2 8ABC` doesn't look like a time-off id"),
        ("timeoff <@U1|ana>", "Give the day off, or the first and last days"),
        ("timeoff <@U1> <@U2> friday", "one person's time off at a time"),
        ("timeoff @ana friday", "`@ana`"),
        ("timeoff someday", "`someday` as a day"),
        ("timeoff friday..", "Give the last day after `friday..`"),
        ("timeoff friday .. ", "Give the last day"),
        ("timeoff friday..someday", "`someday` as a day"),
        ("timeoff friday – Holidays", "`Holidays` as a day"),
        ("timeoff monday-friday", "with `..` between them, like `monday..friday`"),
        ("timeoff 2026-02-30", "February 2026 has 28 days"),
        ("timeoff 2026-12-26..2026-12-24", "before the first"),
        ("timeoff 2026-01-01..2027-12-31", f"at most {MAX_TIME_OFF_DAYS}"),
        (f"timeoff friday {HUGE}", "40,000 characters"),
    ],
)
def test_timeoff_mistakes(text: str, quoted: str) -> None:
    result = invalid(text)
    assert quoted in result.problem and result.usage == USAGE["timeoff"]
    assert len(result.problem) < PROBLEM_LIMIT


def test_a_reason_of_exactly_the_limit_is_taken() -> None:
    result = parse(f"timeoff friday {'x' * MAX_REASON}")
    assert isinstance(result, AddTimeOff) and len(result.reason) == MAX_REASON
    assert "keep it to 200" in invalid(f"timeoff friday {'x' * (MAX_REASON + 1)}").problem


@pytest.mark.parametrize(
    ("days", "taken"),
    [
        ("2026-03-01..2027-03-01", True),  # 366 days, both ends included
        ("2026-02-28..2027-03-01", False),  # 367
        ("2026-02-28..2027-03-02", False),
        ("2026-02-28..2026-02-28", True),  # yesterday in UTC is today somewhere
        ("2026-02-27..2026-03-05", False),  # past everywhere
        ("2026-03-05..2027-03-04", False),  # beyond a year everywhere
    ],
)
def test_a_range_of_dates_is_checked_around_today(days: str, taken: bool) -> None:
    result = parse(f"timeoff {days}", around=date(2026, 3, 1))
    assert isinstance(result, AddTimeOff) is taken, result


def test_weekday_words_are_left_for_the_bot_to_order() -> None:
    # Which of friday and monday comes first depends on today in the customer's timezone.
    assert parse("timeoff friday..monday") == AddTimeOff(None, "friday", "monday", "")


# --- settings buffer, notice, step ------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("settings buffer 15m", SetScheduling("buffer", 15 * MIN)),
        ("SETTINGS  Buffer   1H30M ", SetScheduling("buffer", 90 * MIN)),
        ("settings buffer 4h", SetScheduling("buffer", 4 * HOUR)),
        ("settings buffer 0", SetScheduling("buffer", timedelta(0))),
        ("settings buffer 0m", SetScheduling("buffer", timedelta(0))),
        ("settings buffer none", SetScheduling("buffer", timedelta(0))),
        ("settings buffer OFF", SetScheduling("buffer", timedelta(0))),
        ("settings notice 48h", SetScheduling("notice", 48 * HOUR)),
        ("settings notice 2d", SetScheduling("notice", 48 * HOUR)),
        ("settings notice 1d12h", SetScheduling("notice", 36 * HOUR)),
        ("settings notice 14d", SetScheduling("notice", 14 * 24 * HOUR)),
        ("settings notice 30min", SetScheduling("notice", 30 * MIN)),
        ("settings notice none", SetScheduling("notice", timedelta(0))),
        ("settings step 15m", SetScheduling("step", 15 * MIN)),
        ("settings step 5m", SetScheduling("step", 5 * MIN)),
        ("settings step 1.5h", SetScheduling("step", 90 * MIN)),
        ("settings step 4h", SetScheduling("step", 4 * HOUR)),
    ],
)
def test_scheduling_settings(text: str, expected: SetScheduling) -> None:
    assert parse(text) == expected


@pytest.mark.parametrize(
    ("text", "quoted"),
    [
        ("settings buffer", "Give one length: the buffer is"),
        ("settings buffer 15m 30m", "Give one length"),
        ("settings buffer 5h", "`5h` is more than 4h"),
        ("settings buffer 4h1m", "more than 4h"),
        ("settings buffer 2d", "`2d` as a length of time"),
        ("settings buffer soon", "`soon` as a length of time"),
        ("settings buffer -5m", "negative length"),
        ("settings buffer 1.01h", "whole number of minutes"),
        ("settings notice", "the notice is the least lead time"),
        ("settings notice 15d", "`15d` is more than 14 days"),
        ("settings notice 337h", "more than 14 days"),
        ("settings notice -1d", "negative length"),
        ("settings notice 2 days", "Give one length"),
        ("settings step", "the step is the grid"),
        ("settings step 0", "`0` is less than 5m"),
        ("settings step none", "less than 5m"),
        ("settings step off", "less than 5m"),
        ("settings step 3m", "less than 5m"),
        ("settings step 7m", "try `settings step 5m` or `settings step 10m`"),
        ("settings step 3h58m", "try `settings step 3h55m` or `settings step 4h`"),
        ("settings step 4h5m", "more than 4h"),
        ("settings step 2d", "as a length of time"),
        ("settings step 99999999999999999999h", "more than 4h"),
    ],
)
def test_scheduling_settings_mistakes(text: str, quoted: str) -> None:
    result = invalid(text)
    assert quoted in result.problem and result.usage == USAGE["settings"]
    assert len(result.problem) < PROBLEM_LIMIT


def test_settings_names_the_scheduling_settings_among_what_it_can_set() -> None:
    problem = invalid("settings colour blue").problem
    assert all(f"`{what}`" in problem for what in ("buffer", "notice", "step"))
    assert "settings buffer|notice|step DURATION" in USAGE["settings"]


# --- properties of the scheduling commands ------------------------------------------------------


@given(
    st.sampled_from(NEW_STARTS),
    st.one_of(st.text(), command_text),
    st.one_of(st.none(), st.dates(date(2000, 1, 1), date(2100, 1, 1))),
)
def test_any_text_after_a_scheduling_command_parses_to_a_command(
    start: str, rest: str, around: date | None
) -> None:
    result = parse(f"{start} {rest}", around=around)
    assert isinstance(result, COMMAND_TYPES)
    if isinstance(result, Invalid):
        assert result.problem.strip() and len(result.problem) < PROBLEM_LIMIT
        assert result.usage


booking_ids = st.text(
    "0123456789ABCDEFGHJKMNPQRSTVWXYZabcdefghjkmnpqrstvwxyz", min_size=6, max_size=6
)


@given(user_ids, display_names, days, times, st.booleans(), st.one_of(st.none(), durations))
def test_any_valid_why_round_trips_through_parse(
    user_id: str,
    name: str,
    day: str,
    at: time,
    twelve_hour: bool,
    duration: timedelta | None,
) -> None:
    typed_at = format_time_12h(at) if twelve_hour else format_time_24h(at)
    mention = f"<@{user_id}|{name}>" if name else f"<@{user_id}>"
    length = f" {format_duration(duration)}" if duration else ""
    assert parse(f"why {mention} {day} {typed_at}{length}") == Why(user_id, day, at, duration)


@given(booking_ids, st.booleans(), days, times, st.booleans())
def test_any_valid_move_round_trips_through_parse(
    short_id: str, hashed: bool, day: str, at: time, twelve_hour: bool
) -> None:
    typed_at = format_time_12h(at) if twelve_hour else format_time_24h(at)
    typed_id = f"#{short_id}" if hashed else short_id
    assert parse(f"move {typed_id} {day} {typed_at}") == Move(short_id.upper(), day, at)


weekday_words = st.sampled_from(["today", "tomorrow", "Monday", "fri", "SAT", "thurs"])
date_ranges = st.tuples(
    st.dates(date(2026, 1, 1), date(2027, 12, 31)), st.integers(0, MAX_TIME_OFF_DAYS - 1)
).map(lambda pair: (pair[0].isoformat(), (pair[0] + timedelta(days=pair[1])).isoformat()))
reason_words = title_words.filter(lambda word: not word.startswith((".", "–", "—")))
reasons = st.lists(reason_words, max_size=8).map(" ".join).filter(lambda r: len(r) <= MAX_REASON)


@given(
    st.one_of(st.none(), user_ids),
    st.one_of(date_ranges, st.tuples(weekday_words, weekday_words)),
    st.booleans(),
    st.sampled_from(["..", " .. ", "–", " – ", ".. ", " .."]),
    reasons,
)
def test_any_valid_timeoff_round_trips_through_parse(
    user_id: str | None,
    ends: tuple[str, str],
    one_day: bool,
    mark: str,
    reason: str,
) -> None:
    first, last = ends[0], ends[0] if one_day else ends[1]
    days = first if one_day else f"{first}{mark}{last}"
    mention = f"<@{user_id}|someone> " if user_id else ""
    text = f"timeoff {mention}{days} {reason}"
    assert parse(text) == AddTimeOff(user_id, first, last, reason)


@given(st.integers(1, 48), st.sampled_from(["canonical", "minutes", "upper"]))
def test_any_valid_step_round_trips_through_parse(fives: int, form: str) -> None:
    step = 5 * fives * MIN
    typed = {
        "canonical": format_duration(step),
        "minutes": f"{5 * fives}m",
        "upper": format_duration(step).upper(),
    }[form]
    assert parse(f"settings step {typed}") == SetScheduling("step", step)
