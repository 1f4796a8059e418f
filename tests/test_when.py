"""Days, times, durations and mentions of /tonomo: hand-picked cases and properties."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bot import when
from bot.availability import WorkingHours
from bot.messages.help import build_invalid
from bot.when import (
    MAX_DAYS_AHEAD,
    MAX_DURATION,
    WhenError,
    check_day,
    default_clock,
    format_duration,
    format_time,
    format_time_12h,
    format_time_24h,
    local_moment,
    parse_day,
    parse_duration,
    parse_mentions,
    parse_range,
    parse_time,
    parse_week,
    repeated_time_note,
    tokenize,
)

TUESDAY = date(2026, 11, 24)
SUNDAY = date(2026, 11, 29)
NEW_YORK = ZoneInfo("America/New_York")
KOLKATA = ZoneInfo("Asia/Kolkata")
LORD_HOWE = ZoneInfo("Australia/Lord_Howe")
HUGE = "9" * 40_000


def problem_of(parse: Callable[[], object]) -> str:
    with pytest.raises(WhenError) as caught:
        parse()
    return caught.value.problem


@pytest.mark.parametrize(
    ("word", "expected"),
    [
        ("today", TUESDAY),
        ("TODAY", TUESDAY),
        ("Tomorrow", date(2026, 11, 25)),
        ("tuesday", TUESDAY),
        ("tue", TUESDAY),
        ("wed", date(2026, 11, 25)),
        ("Thurs", date(2026, 11, 26)),
        ("sun", SUNDAY),
        ("MONDAY", date(2026, 11, 30)),
        ("2026-12-01", date(2026, 12, 1)),
        ("2026-12-1", date(2026, 12, 1)),
        ("2026-11-24", TUESDAY),
        ("2027-11-25", TUESDAY + timedelta(days=MAX_DAYS_AHEAD)),
    ],
)
def test_days(word: str, expected: date) -> None:
    assert parse_day(word, today=TUESDAY) == expected


@pytest.mark.parametrize(
    ("word", "explanation"),
    [
        ("2026-02-30", "`2026-02-30` isn't a date: February 2026 has 28 days. Use YYYY-MM-DD"),
        ("2028-02-30", "February 2028 has 29 days"),
        ("2026-13-01", "months go from 01 to 12"),
        ("2026-11-23", "`2026-11-23` is in the past. Pick today (2026-11-24) or a later day."),
        ("1999-01-01", "in the past"),
        ("2027-11-26", "more than a year away: I look as far as 2027-11-25"),
        ("9999-12-31", "more than a year away"),
        ("tomorow", "Did you mean `tomorrow`?"),
        ("next", "Use today, tomorrow, a weekday like friday, or a date as YYYY-MM-DD."),
        ("26-12-01", "as a day"),
    ],
)
def test_bad_days_are_explained(word: str, explanation: str) -> None:
    with pytest.raises(WhenError) as caught:
        parse_day(word, today=TUESDAY)
    assert explanation in caught.value.problem
    assert caught.value.usage == "today | tomorrow | friday | 2026-11-25"


@pytest.mark.parametrize(
    ("words", "expected"),
    [
        (["this", "week"], tuple(TUESDAY + timedelta(days=n) for n in range(6))),
        (["This", "WEEK"], tuple(TUESDAY + timedelta(days=n) for n in range(6))),
        (["next", "week"], tuple(date(2026, 11, 30) + timedelta(days=n) for n in range(7))),
    ],
)
def test_weeks(words: list[str], expected: tuple[date, ...]) -> None:
    assert parse_week(words, today=TUESDAY) == expected


def test_this_week_on_a_sunday_is_that_sunday_and_next_week_starts_the_day_after() -> None:
    assert parse_week(["this", "week"], today=SUNDAY) == (SUNDAY,)
    assert parse_week(["next", "week"], today=SUNDAY)[0] == SUNDAY + timedelta(days=1)


@pytest.mark.parametrize(
    ("words", "expected"),
    [
        ([], (TUESDAY,)),
        (["friday"], (date(2026, 11, 27),)),
        (["next", "week"], parse_week(["next", "week"], today=TUESDAY)),
    ],
)
def test_ranges(words: list[str], expected: tuple[date, ...]) -> None:
    assert parse_range(words, today=TUESDAY) == expected


@pytest.mark.parametrize(
    ("words", "explanation"),
    [
        (["next", "month"], "I don't understand `next month` as days. Use a day"),
        (["this", "week", "please"], "this week or next week"),
        (["week"], "I don't understand `week` as a day."),
        (["2026-11-01"], "in the past"),
    ],
)
def test_bad_ranges_show_every_form(words: list[str], explanation: str) -> None:
    with pytest.raises(WhenError) as caught:
        parse_range(words, today=TUESDAY)
    assert explanation in caught.value.problem
    assert caught.value.usage == "today | tomorrow | friday | 2026-11-25 | this week | next week"


@pytest.mark.parametrize(
    ("word", "expected"),
    [
        ("9:00", time(9)),
        ("09:00", time(9)),
        ("13:30", time(13, 30)),
        ("0:00", time(0)),
        ("23:59", time(23, 59)),
        ("9am", time(9)),
        ("9AM", time(9)),
        ("2:30pm", time(14, 30)),
        ("12pm", time(12)),
        ("12am", time(0)),
        ("12:15am", time(0, 15)),
    ],
)
def test_times(word: str, expected: time) -> None:
    assert parse_time(word) == expected


@pytest.mark.parametrize(
    ("word", "explanation"),
    [
        ("25:00", "`25:00` isn't a time: hours go from 0 to 23"),
        ("24:00", "midnight is 0:00"),
        ("9:60", "`9:60` isn't a time: minutes go from 00 to 59."),
        (
            "13pm",
            "`13pm` isn't a time: with am or pm, hours go from 1 to 12. Did you mean 13:00 (1pm)?",
        ),
        ("0am", "Did you mean 0:00 (12am)?"),
        ("99pm", "hours go from 1 to 12."),
        ("9", "I don't understand `9` as a time. Use a 24-hour time like 13:30, or am/pm"),
        ("noonish", "as a time"),
    ],
)
def test_bad_times_are_explained(word: str, explanation: str) -> None:
    assert explanation in problem_of(lambda: parse_time(word))


@pytest.mark.parametrize(
    ("word", "minutes"),
    [
        ("30m", 30),
        ("1h", 60),
        ("1h30m", 90),
        ("90m", 90),
        ("2h15m", 135),
        ("1.5h", 90),
        ("30min", 30),
        ("1H30M", 90),
        ("12h", 720),
    ],
)
def test_durations(word: str, minutes: int) -> None:
    assert parse_duration(word) == timedelta(minutes=minutes)


@pytest.mark.parametrize(
    ("word", "explanation"),
    [
        ("0m", "`0m` is no time at all. Use a length from 1m to 12h, like 30m"),
        ("0h0m", "no time at all"),
        ("-30m", "`-30m` is a negative length."),
        ("-1h", "negative"),
        ("12h1m", "`12h1m` is longer than 12h, the longest I take."),
        ("100h", "longer than 12h"),
        (HUGE + "h", "longer than 12h"),
        ("1.33h", "`1.33h` isn't a whole number of minutes."),
        ("30", "I don't understand `30` as a length of time."),
        ("1h30x", "as a length of time"),
        ("", "as a length of time"),
    ],
)
def test_bad_durations_are_explained(word: str, explanation: str) -> None:
    with pytest.raises(WhenError) as caught:
        parse_duration(word)
    assert explanation in caught.value.problem
    assert caught.value.usage == "30m | 1h | 1h30m | 90m"


@pytest.mark.parametrize(
    "parse",
    [
        lambda word: parse_day(word, today=TUESDAY),
        parse_time,
        parse_duration,
        lambda word: parse_range([word, word], today=TUESDAY),
    ],
)
@pytest.mark.parametrize("word", ["x" * 40_000, HUGE, HUGE + ":00", "1" * 40_000 + "m"])
def test_a_40000_character_word_gets_a_short_answer(
    parse: Callable[[str], object], word: str
) -> None:
    with pytest.raises(WhenError) as caught:
        parse(word)
    assert len(caught.value.problem) < 250 and "…" in caught.value.problem


def test_channel_pings_are_never_interpreted() -> None:
    words = tokenize("availability <!channel> tomorrow")
    assert words == ["availability", "<!channel>", "tomorrow"]
    assert parse_mentions(words) == ([], words)
    problem = problem_of(lambda: parse_day("<!channel>", today=TUESDAY))
    assert "`<!channel>`" in problem
    shown = build_invalid(problem, None).text
    assert "<!channel>" not in shown and "&lt;!channel&gt;" in shown


@pytest.mark.parametrize(
    ("text", "words"),
    [
        ("", []),
        ("   ", []),
        ("  book  <@U123|ann>   tomorrow\t9am ", ["book", "<@U123|ann>", "tomorrow", "9am"]),
        ("<@U1|ann lee> <@W2>x", ["<@U1|ann lee>", "<@W2>", "x"]),
        ("a<b> c", ["a<b>", "c"]),
    ],
)
def test_tokenize(text: str, words: list[str]) -> None:
    assert tokenize(text) == words


def test_mentions_come_out_in_order_once_each() -> None:
    words = ["<@U123|ann>", "tomorrow", "<@W456>", "<@U123>", "<#C1|general>", "<@u7>", "30m"]
    assert parse_mentions(words) == (
        ["U123", "W456"],
        ["tomorrow", "<#C1|general>", "<@u7>", "30m"],
    )


@pytest.mark.parametrize(
    ("zone", "day", "at", "jump", "nearest"),
    [
        (NEW_YORK, date(2026, 3, 8), time(2, 30), "from 2:00 to 3:00", "3:00"),
        (NEW_YORK, date(2026, 3, 8), time(2, 0), "from 2:00 to 3:00", "3:00"),
        (LORD_HOWE, date(2026, 10, 4), time(2, 15), "from 2:00 to 2:30", "2:30"),
    ],
)
def test_a_time_the_clocks_skip_is_explained(
    zone: ZoneInfo, day: date, at: time, jump: str, nearest: str
) -> None:
    with pytest.raises(WhenError) as caught:
        local_moment(day, at, zone)
    assert f"doesn't exist on {day.isoformat()} in {zone}" in caught.value.problem
    assert f"the clocks jump forward {jump}" in caught.value.problem
    assert f"The nearest time that does is {nearest}." in caught.value.problem
    assert caught.value.usage == nearest


@pytest.mark.parametrize(
    ("zone", "day", "at", "offset", "change"),
    [
        (NEW_YORK, date(2026, 11, 1), time(1, 30), timedelta(hours=-4), "from 2:00 to 1:00"),
        (LORD_HOWE, date(2026, 4, 5), time(1, 45), timedelta(hours=11), "from 2:00 to 1:30"),
    ],
)
def test_a_time_that_happens_twice_is_the_first_one(
    zone: ZoneInfo, day: date, at: time, offset: timedelta, change: str
) -> None:
    moment = local_moment(day, at, zone)
    assert moment.utcoffset() == offset
    assert moment.astimezone(UTC) < moment.replace(fold=1).astimezone(UTC)
    note = repeated_time_note(moment)
    assert note is not None
    assert f"happens twice on {day.isoformat()} in {zone}: the clocks go back {change}" in note
    assert "I used the first one" in note


@pytest.mark.parametrize(
    ("zone", "day", "at", "offset"),
    [
        (KOLKATA, date(2026, 3, 8), time(2, 30), timedelta(hours=5, minutes=30)),
        (NEW_YORK, date(2026, 7, 1), time(9), timedelta(hours=-4)),
        (LORD_HOWE, date(2026, 7, 1), time(9), timedelta(hours=10, minutes=30)),
    ],
)
def test_an_ordinary_time_has_no_note(
    zone: ZoneInfo, day: date, at: time, offset: timedelta
) -> None:
    moment = local_moment(day, at, zone)
    assert (moment.tzinfo, moment.utcoffset()) == (zone, offset)
    assert repeated_time_note(moment) is None


def test_a_fixed_offset_moment_never_repeats() -> None:
    assert repeated_time_note(datetime(2026, 11, 1, 1, 30, tzinfo=UTC)) is None


@pytest.mark.parametrize(
    ("zone", "day", "skipped", "repeated"),
    [
        (NEW_YORK, date(2026, 3, 8), 60, 0),
        (NEW_YORK, date(2026, 11, 1), 0, 60),
        (LORD_HOWE, date(2026, 4, 5), 0, 30),
        (LORD_HOWE, date(2026, 10, 4), 30, 0),
        (KOLKATA, date(2026, 3, 8), 0, 0),
    ],
)
def test_every_minute_of_a_change_day(
    zone: ZoneInfo, day: date, skipped: int, repeated: int
) -> None:
    refused: list[str] = []
    notes = 0
    for minute in range(24 * 60):
        at = time(*divmod(minute, 60))
        try:
            moment = local_moment(day, at, zone)
        except WhenError as error:
            refused.append(error.usage)
            continue
        back = moment.astimezone(UTC).astimezone(zone)
        assert back.replace(tzinfo=None) == datetime.combine(day, at)
        notes += repeated_time_note(moment) is not None
    assert (len(refused), len(set(refused)), notes) == (skipped, min(skipped, 1), repeated)


def test_every_minute_round_trips_in_both_clock_forms() -> None:
    for minute in range(24 * 60):
        at = time(*divmod(minute, 60))
        for form in (format_time_24h(at), format_time_12h(at)):
            assert parse_time(form) == parse_time(form.upper()) == at


def test_every_bookable_length_round_trips_its_canonical_form() -> None:
    for minutes in range(1, MAX_DURATION // timedelta(minutes=1) + 1):
        length = timedelta(minutes=minutes)
        assert parse_duration(format_duration(length)) == length


@given(st.integers(0, 20), st.integers(0, 1300))
def test_hours_and_minutes_add_up_or_are_refused(hours: int, minutes: int) -> None:
    total = timedelta(hours=hours, minutes=minutes)
    if timedelta(0) < total <= MAX_DURATION:
        assert parse_duration(f"{hours}h{minutes}m") == total
    else:
        with pytest.raises(WhenError):
            parse_duration(f"{hours}h{minutes}m")


@given(st.dates(min_value=date(2000, 1, 1), max_value=date(2100, 1, 1)), st.integers(0, 400))
def test_an_iso_date_round_trips(today: date, ahead: int) -> None:
    day = today + timedelta(days=ahead)
    if ahead <= MAX_DAYS_AHEAD:
        assert parse_day(day.isoformat(), today=today) == day
    else:
        assert "more than a year away" in problem_of(
            lambda: parse_day(day.isoformat(), today=today)
        )


@given(st.dates(min_value=date(2000, 1, 1), max_value=date(2100, 1, 1)), st.integers(1, 4000))
def test_a_past_date_is_refused(today: date, back: int) -> None:
    day = today - timedelta(days=back)
    assert "in the past" in problem_of(lambda: parse_day(day.isoformat(), today=today))


WEEKDAYS = ["Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday"]


@given(st.dates(max_value=date(9000, 1, 1)), st.integers(0, 6), st.booleans())
def test_a_weekday_is_its_next_occurrence(today: date, weekday: int, short: bool) -> None:
    name = WEEKDAYS[weekday][:3] if short else WEEKDAYS[weekday]
    day = parse_day(name, today=today)
    assert day.weekday() == weekday and 0 <= (day - today).days <= 6


near_misses = st.one_of(
    st.text(),
    st.from_regex(r"-?[0-9]{0,5}(\.[0-9]{0,3})?(h|m|min)?([0-9]{0,4}(m|min)?)?", fullmatch=True),
    st.from_regex(r"[0-9]{0,3}:?[0-9]{0,3} ?(am|pm|AM|PM)?", fullmatch=True),
    st.from_regex(r"[0-9]{0,5}-[0-9]{0,3}-[0-9]{0,3}", fullmatch=True),
)


@given(near_misses, st.lists(st.text(), max_size=3))
def test_no_text_makes_a_parser_fail_otherwise(word: str, words: list[str]) -> None:
    parsers: list[Callable[[], object]] = [
        lambda: parse_day(word, today=TUESDAY),
        lambda: parse_time(word),
        lambda: parse_duration(word),
        lambda: parse_range(words, today=TUESDAY),
        lambda: parse_week(words, today=TUESDAY),
    ]
    for parse in parsers:
        try:
            parse()
        except WhenError as error:
            assert error.problem and error.usage and str(error) == error.problem
    parse_mentions(tokenize(word))


@given(st.text(alphabet=st.characters(exclude_characters="<>")))
def test_without_slack_entities_words_are_split_on_spaces(text: str) -> None:
    assert tokenize(text) == text.split()


user_ids = st.from_regex(r"[UW][A-Z0-9]{2,10}", fullmatch=True)
labels = st.text(alphabet=st.characters(exclude_characters="<>"), max_size=8)
plain_words = st.text(
    alphabet=st.characters(exclude_characters="<>", exclude_categories=["Z", "Cc"]), min_size=1
)


@given(st.lists(st.tuples(st.booleans(), user_ids, labels, plain_words)))
def test_mentions_are_taken_in_order_and_other_words_kept(
    items: list[tuple[bool, str, str, str]],
) -> None:
    words: list[str] = []
    for is_mention, user_id, label, word in items:
        mention = f"<@{user_id}|{label}>" if label else f"<@{user_id}>"
        words.append(mention if is_mention else word)
    expected_ids = list(dict.fromkeys(u for m, u, _, _ in items if m))
    assert parse_mentions(tokenize(" ".join(words))) == (
        expected_ids,
        [w for m, _, _, w in items if not m],
    )


zones = st.sampled_from([NEW_YORK, KOLKATA, LORD_HOWE, ZoneInfo("Europe/London"), ZoneInfo("UTC")])


@given(
    st.dates(min_value=date(2000, 1, 1), max_value=date(2037, 12, 31)),
    st.integers(0, 24 * 60 - 1),
    zones,
)
def test_a_local_moment_round_trips_through_its_zone(
    day: date, minute: int, zone: ZoneInfo
) -> None:
    wall = datetime.combine(day, time(*divmod(minute, 60)))
    shown_by_fold = {
        wall.replace(tzinfo=zone, fold=fold).astimezone(UTC).astimezone(zone).replace(tzinfo=None)
        for fold in (0, 1)
    }
    try:
        moment = local_moment(day, wall.time(), zone)
    except WhenError:
        assert wall not in shown_by_fold
        return
    back = moment.astimezone(UTC).astimezone(zone)
    assert back.replace(tzinfo=None) == wall and back.utcoffset() == moment.utcoffset()
    assert moment.tzinfo is zone and moment.fold == 0


# --- which week `this week` is, given working hours -----------------------------------------

WEEK_ZONES = [NEW_YORK, LORD_HOWE, KOLKATA]
SOME_HOURS = st.builds(
    WorkingHours,
    start=st.sampled_from([time(0), time(2), time(9), time(13, 30)]),
    end=st.sampled_from([time(17), time(20), time(23, 59)]),
    weekdays=st.frozensets(st.integers(0, 6), min_size=1),
)


def works_at(hours: WorkingHours, zone: ZoneInfo, now: datetime) -> Callable[[date], bool]:
    return lambda day: any(w.end > now for w in hours.windows(day, zone))


@given(
    moment=st.datetimes(min_value=datetime(2025, 1, 1), max_value=datetime(2028, 12, 31)),
    zone=st.sampled_from(WEEK_ZONES),
    hours=SOME_HOURS,
)
def test_this_week_is_the_working_days_left_or_the_coming_week(
    moment: datetime, zone: ZoneInfo, hours: WorkingHours
) -> None:
    now = moment.replace(tzinfo=UTC)
    today = now.astimezone(zone).date()
    works = works_at(hours, zone, now)
    this = parse_week(["this", "week"], today=today, works=works)
    following = parse_week(["next", "week"], today=today, works=works)
    for days in (this, following):
        assert days == tuple(days[0] + timedelta(days=n) for n in range(len(days)))
        assert days[0].isocalendar()[:2] == days[-1].isocalendar()[:2], "one Monday–Sunday week"
        assert works(days[0]) and works(days[-1]), "from a working day to a working day"
    assert this[0] >= today
    left = [
        today + timedelta(days=n)
        for n in range(7 - today.weekday())
        if works(today + timedelta(days=n))
    ]
    if left:
        assert this[0] == left[0] and this[-1] == left[-1], "what is left of this week"
    else:
        monday = today + timedelta(days=7 - today.weekday())
        assert this[0] - monday < timedelta(days=7), "nothing left: the coming week"
    this_monday = this[0] - timedelta(days=this[0].weekday())
    assert following[0] - timedelta(days=following[0].weekday()) == this_monday + timedelta(days=7)


def test_this_week_on_a_sunday_evening_in_new_york_is_monday_to_friday() -> None:
    sunday = date(2026, 12, 6)
    now = datetime.combine(sunday, time(19), NEW_YORK)
    works = works_at(WorkingHours(time(9), time(17)), NEW_YORK, now)
    monday = sunday + timedelta(days=1)
    assert parse_week(["this", "week"], today=sunday, works=works) == tuple(
        monday + timedelta(days=n) for n in range(5)
    )
    assert parse_week(["next", "week"], today=sunday, works=works)[0] == monday + timedelta(7)


def test_this_week_after_hours_on_a_wednesday_starts_tomorrow() -> None:
    wednesday = date(2026, 12, 2)
    now = datetime.combine(wednesday, time(17, 30), KOLKATA)
    works = works_at(WorkingHours(time(9), time(17)), KOLKATA, now)
    this = parse_week(["this", "week"], today=wednesday, works=works)
    assert this == (wednesday + timedelta(days=1), wednesday + timedelta(days=2))
    assert parse_week(["next", "week"], today=wednesday, works=works)[0] == date(2026, 12, 7)


@given(day=st.dates(min_value=date(2025, 1, 1), max_value=date(2028, 12, 31)))
def test_without_working_hours_the_weeks_are_the_calendar_s(day: date) -> None:
    this = parse_week(["this", "week"], today=day)
    assert this[0] == day and this[-1].weekday() == 6
    following = parse_week(["next", "week"], today=day)
    assert following[0] == this[-1] + timedelta(days=1) and len(following) == 7


@given(
    day=st.dates(min_value=date(2025, 1, 1), max_value=date(2028, 12, 31)),
    offset=st.integers(-1, 1),
)
def test_a_day_word_checked_in_utc_is_kept_when_some_timezone_takes_it(
    day: date, offset: int
) -> None:
    # Every timezone's today is within a day of UTC's: a date that is one of them (or up to
    # a year after) is never refused before the customer's timezone is known.
    check_day((day + timedelta(days=offset)).isoformat(), around=day)
    check_day((day + timedelta(days=offset + 366)).isoformat(), around=day)
    with pytest.raises(WhenError, match="in the past"):
        check_day((day - timedelta(days=2)).isoformat(), around=day)


@pytest.mark.parametrize(
    ("zone", "clock"),
    [
        ("America/New_York", "12h"),
        ("Europe/London", "24h"),
        ("Asia/Kolkata", "12h"),
        ("Europe/Berlin", "24h"),
        ("Australia/Sydney", "12h"),
        ("Australia/Lord_Howe", "12h"),
        ("Asia/Calcutta", "12h"),
        ("US/Eastern", "12h"),
        ("UTC", "24h"),
        ("Etc/GMT+5", "24h"),
        ("Not/A_Zone", "24h"),
    ],
)
def test_the_default_clock_is_the_timezone_s_country_convention(zone: str, clock: str) -> None:
    assert default_clock(zone) == clock


def test_times_are_written_on_the_clock_asked_for() -> None:
    assert [format_time(time(14, 30), "12h"), format_time(time(14, 30), "24h")] == [
        "2:30pm",
        "14:30",
    ]
    assert [format_time(time(0), "12h"), format_time(time(9), "24h")] == ["12am", "9:00"]


def test_clock_change_notes_use_the_customers_clock() -> None:
    zone = ZoneInfo("America/New_York")
    with pytest.raises(when.WhenError) as caught:
        when.local_moment(date(2026, 3, 8), time(2, 30), zone, "12h")
    assert caught.value.problem.startswith("2:30am doesn't exist on 2026-03-08")
    assert "The nearest time that does is 3am" in caught.value.problem
    moment = when.local_moment(date(2026, 11, 1), time(1, 30), zone, "12h")
    note = when.repeated_time_note(moment, "12h")
    assert note is not None and note.startswith("1:30am happens twice")
    assert "from 2am to 1am" in note
