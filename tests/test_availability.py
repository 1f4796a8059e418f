"""The availability engine: hand-worked cases on ordinary and DST days, and properties.

Zones: America/New_York (changes 2026-03-08 and 2026-11-01), Asia/Kolkata (+5:30, no
DST), Australia/Lord_Howe (30-minute changes 2026-04-05 and 2026-10-04), and London.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import UTC, date, datetime, time, timedelta
from itertools import pairwise
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bot.availability import (
    DEFAULT_STEP,
    Commitments,
    Interval,
    Labelled,
    Reason,
    Rules,
    TimeOff,
    Why,
    WorkingHours,
    count_fitting,
    fitting_slots,
    format_range,
    free_time,
    free_windows,
    merge,
    nearest_slots,
    reasons,
    subtract,
)

NEW_YORK = ZoneInfo("America/New_York")
KOLKATA = ZoneInfo("Asia/Kolkata")
LORD_HOWE = ZoneInfo("Australia/Lord_Howe")
ZONES = (NEW_YORK, KOLKATA, LORD_HOWE, ZoneInfo("Europe/London"), ZoneInfo("UTC"))

NY_SPRING, NY_FALL = date(2026, 3, 8), date(2026, 11, 1)
LH_FALL, LH_SPRING = date(2026, 4, 5), date(2026, 10, 4)

EVERY_DAY = frozenset(range(7))
HOUR = timedelta(hours=1)
MINUTE = timedelta(minutes=1)


def at(zone: ZoneInfo, day: date, hour: int, minute: int = 0, fold: int = 0) -> datetime:
    return datetime.combine(day, time(hour, minute, fold=fold), tzinfo=zone)


def local(zone: ZoneInfo, day: date, start: tuple[int, int], end: tuple[int, int]) -> Interval:
    return Interval(at(zone, day, *start), at(zone, day, *end))


def utc(day: date, hour: int, minute: int = 0) -> datetime:
    return datetime.combine(day, time(hour, minute), tzinfo=UTC)


def covers(intervals: list[Interval], instant: datetime) -> bool:
    return any(i.start <= instant < i.end for i in intervals)


def all_day(start: tuple[int, int], end: tuple[int, int]) -> WorkingHours:
    return WorkingHours(time(*start), time(*end), EVERY_DAY)


# --- Interval, merge, subtract -----------------------------------------------------------------


def test_an_interval_refuses_naive_datetimes() -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        Interval(datetime(2026, 3, 9, 9), at(NEW_YORK, date(2026, 3, 9), 10))
    with pytest.raises(ValueError, match="timezone-aware"):
        Interval(at(NEW_YORK, date(2026, 3, 9), 9), datetime(2026, 3, 9, 10))


@pytest.mark.parametrize("minutes", [0, -30])
def test_an_interval_must_end_after_it_starts(minutes: int) -> None:
    start = at(NEW_YORK, date(2026, 3, 9), 9)
    with pytest.raises(ValueError, match="end after it starts"):
        Interval(start, start + timedelta(minutes=minutes))


def test_an_interval_holds_instants_whatever_zone_built_it() -> None:
    in_new_york = local(NEW_YORK, date(2026, 3, 9), (9, 0), (10, 0))
    in_kolkata = Interval(
        datetime(2026, 3, 9, 18, 30, tzinfo=KOLKATA), datetime(2026, 3, 9, 19, 30, tzinfo=KOLKATA)
    )
    assert in_new_york == in_kolkata
    assert in_new_york.start == utc(date(2026, 3, 9), 13)
    assert in_new_york.start.tzinfo is UTC


def test_durations_are_elapsed_time_across_a_dst_change() -> None:
    assert local(NEW_YORK, NY_SPRING, (0, 0), (4, 0)).duration == 3 * HOUR
    assert local(NEW_YORK, NY_FALL, (0, 0), (4, 0)).duration == 5 * HOUR
    repeated = Interval(at(NEW_YORK, NY_FALL, 1, 30), at(NEW_YORK, NY_FALL, 1, 30, fold=1))
    assert repeated.duration == HOUR


def test_touching_intervals_do_not_overlap() -> None:
    day = date(2026, 3, 9)
    nine_to_ten = local(NEW_YORK, day, (9, 0), (10, 0))
    assert not nine_to_ten.overlaps(local(NEW_YORK, day, (10, 0), (11, 0)))
    assert nine_to_ten.overlaps(local(NEW_YORK, day, (9, 59), (11, 0)))
    assert nine_to_ten.overlaps(local(NEW_YORK, day, (9, 15), (9, 30)))


def test_merge_joins_overlapping_and_touching_intervals() -> None:
    day = date(2026, 3, 9)
    parts = [
        local(NEW_YORK, day, (13, 0), (14, 0)),
        local(NEW_YORK, day, (9, 0), (10, 0)),
        local(NEW_YORK, day, (9, 30), (10, 30)),
        local(NEW_YORK, day, (10, 30), (11, 0)),
        local(NEW_YORK, day, (13, 15), (13, 45)),
    ]
    assert merge(parts) == [
        local(NEW_YORK, day, (9, 0), (11, 0)),
        local(NEW_YORK, day, (13, 0), (14, 0)),
    ]
    assert merge([]) == []


def test_subtract_leaves_the_uncut_parts() -> None:
    day = date(2026, 3, 9)
    base = [local(NEW_YORK, day, (9, 0), (17, 0))]
    cuts = [
        local(NEW_YORK, day, (8, 0), (9, 30)),
        local(NEW_YORK, day, (12, 0), (13, 0)),
        local(NEW_YORK, day, (12, 30), (14, 0)),
        local(NEW_YORK, day, (16, 0), (18, 0)),
    ]
    assert subtract(base, cuts) == [
        local(NEW_YORK, day, (9, 30), (12, 0)),
        local(NEW_YORK, day, (14, 0), (16, 0)),
    ]
    assert subtract(base, []) == base
    assert subtract([], cuts) == []


# --- working hours -------------------------------------------------------------------------------


def test_default_working_hours_are_nine_to_five_monday_to_friday() -> None:
    hours = WorkingHours()
    assert (hours.start, hours.end, hours.weekdays) == (time(9), time(17), frozenset(range(5)))
    monday, saturday, sunday = date(2026, 3, 9), date(2026, 3, 14), date(2026, 3, 15)
    assert hours.windows(monday, NEW_YORK) == [local(NEW_YORK, monday, (9, 0), (17, 0))]
    assert hours.windows(saturday, NEW_YORK) == []
    assert hours.windows(sunday, NEW_YORK) == []


@pytest.mark.parametrize(
    ("start", "end", "weekdays", "message"),
    [
        (time(22), time(6), EVERY_DAY, "across midnight"),
        (time(18), time(0), EVERY_DAY, "across midnight"),
        (time(9), time(9), EVERY_DAY, "end after they start"),
        (time(9), time(17), frozenset(), "weekdays"),
        (time(9), time(17), frozenset({7}), "weekdays"),
        (time(9), time(17), frozenset({-1, 0}), "weekdays"),
        (time(9, tzinfo=UTC), time(17, tzinfo=UTC), EVERY_DAY, "without a tzinfo"),
    ],
)
def test_working_hours_refuse_what_they_cannot_mean(
    start: time, end: time, weekdays: frozenset[int], message: str
) -> None:
    with pytest.raises(ValueError, match=message):
        WorkingHours(start, end, weekdays)


def utc_windows(text: str) -> list[Interval]:
    """`2026-03-08T13:00/2026-03-08T21:00 …`: ISO 8601 intervals in UTC."""
    spans = [span.split("/") for span in text.split()]
    return [
        Interval(
            datetime.fromisoformat(a).replace(tzinfo=UTC),
            datetime.fromisoformat(b).replace(tzinfo=UTC),
        )
        for a, b in spans
    ]


@pytest.mark.parametrize(
    ("zone", "day", "start", "end", "expected_utc", "elapsed"),
    [
        # The change happens at night: office hours are 8 h, at the right instants.
        (NEW_YORK, NY_SPRING, (9, 0), (17, 0), "2026-03-08T13:00/2026-03-08T21:00", 8 * HOUR),
        (NEW_YORK, NY_FALL, (9, 0), (17, 0), "2026-11-01T14:00/2026-11-01T22:00", 8 * HOUR),
        (LORD_HOWE, LH_FALL, (9, 0), (17, 0), "2026-04-04T22:30/2026-04-05T06:30", 8 * HOUR),
        (LORD_HOWE, LH_SPRING, (9, 0), (17, 0), "2026-10-03T22:00/2026-10-04T06:00", 8 * HOUR),
        (KOLKATA, date(2026, 3, 9), (9, 0), (17, 0), "2026-03-09T03:30/2026-03-09T11:30", 8 * HOUR),
        # The change inside the hours: elapsed time follows the clock.
        (NEW_YORK, NY_SPRING, (0, 0), (8, 0), "2026-03-08T05:00/2026-03-08T12:00", 7 * HOUR),
        (NEW_YORK, NY_FALL, (0, 0), (8, 0), "2026-11-01T04:00/2026-11-01T13:00", 9 * HOUR),
        (LORD_HOWE, LH_FALL, (0, 0), (5, 0), "2026-04-04T13:00/2026-04-04T18:30", 5.5 * HOUR),
        (LORD_HOWE, LH_SPRING, (0, 0), (5, 0), "2026-10-03T13:30/2026-10-03T18:00", 4.5 * HOUR),
        # A start or end that the clock skips: the window turns at the jump.
        (NEW_YORK, NY_SPRING, (2, 30), (5, 0), "2026-03-08T07:00/2026-03-08T09:00", 2 * HOUR),
        (NEW_YORK, NY_SPRING, (1, 0), (2, 30), "2026-03-08T06:00/2026-03-08T07:00", HOUR),
        (LORD_HOWE, LH_SPRING, (2, 15), (4, 0), "2026-10-03T15:30/2026-10-03T17:00", 1.5 * HOUR),
        # Hours that the clock shows twice: a window for each time it shows them.
        (
            NEW_YORK,
            NY_FALL,
            (1, 15),
            (1, 45),
            "2026-11-01T05:15/2026-11-01T05:45 2026-11-01T06:15/2026-11-01T06:45",
            HOUR,
        ),
        (
            NEW_YORK,
            NY_FALL,
            (0, 0),
            (1, 30),
            "2026-11-01T04:00/2026-11-01T05:30 2026-11-01T06:00/2026-11-01T06:30",
            2 * HOUR,
        ),
        (
            LORD_HOWE,
            LH_FALL,
            (1, 40),
            (1, 50),
            "2026-04-04T14:40/2026-04-04T14:50 2026-04-04T15:10/2026-04-04T15:20",
            20 * MINUTE,
        ),
    ],
)
def test_working_windows_follow_the_wall_clock_on_change_days(
    zone: ZoneInfo,
    day: date,
    start: tuple[int, int],
    end: tuple[int, int],
    expected_utc: str,
    elapsed: timedelta,
) -> None:
    windows = all_day(start, end).windows(day, zone)
    assert windows == utc_windows(expected_utc)
    assert sum((w.duration for w in windows), timedelta(0)) == elapsed


def test_a_day_the_clock_skips_has_no_working_hours() -> None:
    apia = ZoneInfo("Pacific/Apia")  # went from 2011-12-29 straight to 2011-12-31
    hours = all_day((9, 0), (17, 0))
    assert hours.windows(date(2011, 12, 30), apia) == []
    assert [w.duration for w in hours.windows(date(2011, 12, 31), apia)] == [8 * HOUR]


# --- free windows ---------------------------------------------------------------------------------


def test_free_windows_subtract_buffered_busy_time_and_respect_notice() -> None:
    monday = date(2026, 3, 9)  # the first weekday after New York's spring change
    busy = [
        local(NEW_YORK, monday, (10, 0), (11, 0)),
        # the same kind of input may arrive in another zone: 13:30-14:00 New York
        Interval(utc(monday, 17, 30), utc(monday, 18, 0)),
        local(NEW_YORK, date(2026, 3, 14), (10, 0), (11, 0)),
    ]
    free = free_windows(
        days=[monday, date(2026, 3, 14)],
        zone=NEW_YORK,
        hours=WorkingHours(),
        busy=busy,
        now=at(NEW_YORK, monday, 8, 0),
        min_notice=2 * HOUR,
        buffer=timedelta(minutes=15),
    )
    assert free == {
        monday: [
            local(NEW_YORK, monday, (11, 15), (13, 15)),
            local(NEW_YORK, monday, (14, 15), (17, 0)),
        ],
        date(2026, 3, 14): [],
    }
    assert [format_range(w, NEW_YORK) for w in free[monday]] == ["11:15–13:15", "14:15–17:00"]


def test_notice_cuts_into_a_window_and_empties_days_before_it() -> None:
    tuesday, wednesday = date(2026, 3, 10), date(2026, 3, 11)
    free = free_windows(
        days=[tuesday, wednesday],
        zone=KOLKATA,
        hours=WorkingHours(),
        busy=[],
        now=at(KOLKATA, tuesday, 16, 0),
        min_notice=timedelta(hours=18, minutes=30),
    )
    assert free == {tuesday: [], wednesday: [local(KOLKATA, wednesday, (10, 30), (17, 0))]}


def test_an_all_day_busy_event_fills_the_day() -> None:
    monday = date(2026, 3, 9)
    all_day_event = Interval(at(NEW_YORK, monday, 0), at(NEW_YORK, date(2026, 3, 10), 0))
    free = free_windows(days=[monday], zone=NEW_YORK, hours=WorkingHours(), busy=[all_day_event])
    assert free == {monday: []}


def test_a_busy_interval_across_the_fall_back() -> None:
    busy = Interval(at(NEW_YORK, NY_FALL, 0, 30), at(NEW_YORK, NY_FALL, 1, 30, fold=1))
    assert busy.duration == 2 * HOUR
    free = free_windows(days=[NY_FALL], zone=NEW_YORK, hours=all_day((0, 0), (3, 0)), busy=[busy])
    assert free[NY_FALL] == [
        local(NEW_YORK, NY_FALL, (0, 0), (0, 30)),
        Interval(at(NEW_YORK, NY_FALL, 1, 30, fold=1), at(NEW_YORK, NY_FALL, 3, 0)),
    ]
    assert [format_range(w, NEW_YORK) for w in free[NY_FALL]] == ["0:00–0:30", "1:30 EST–3:00"]


def test_a_busy_interval_across_the_spring_forward() -> None:
    busy = Interval(at(NEW_YORK, NY_SPRING, 1, 30), at(NEW_YORK, NY_SPRING, 3, 30))
    assert busy.duration == HOUR
    free = free_windows(days=[NY_SPRING], zone=NEW_YORK, hours=all_day((0, 0), (6, 0)), busy=[busy])
    assert [format_range(w, NEW_YORK) for w in free[NY_SPRING]] == ["0:00–1:30", "3:30–6:00"]


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        ({"now": datetime(2026, 3, 9, 9)}, "timezone-aware"),
        ({"min_notice": HOUR}, "min_notice needs now"),
        ({"now": utc(date(2026, 3, 9), 9), "min_notice": -HOUR}, "min_notice must not be negative"),
        ({"buffer": -MINUTE}, "buffer must not be negative"),
    ],
)
def test_free_windows_refuse_programming_errors(arguments: dict[str, object], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        free_windows(
            days=[date(2026, 3, 9)],
            zone=NEW_YORK,
            hours=WorkingHours(),
            busy=[],
            **arguments,  # type: ignore[arg-type]
        )


# --- slots ----------------------------------------------------------------------------------------


def test_slots_start_on_the_step_and_fit_inside() -> None:
    day = date(2026, 3, 9)
    free = [local(NEW_YORK, day, (9, 10), (11, 40)), local(NEW_YORK, day, (13, 0), (13, 50))]
    slots = fitting_slots(free, HOUR, zone=NEW_YORK)
    assert [format_range(s, NEW_YORK) for s in slots] == [
        "9:30–10:30",
        "10:00–11:00",
        "10:30–11:30",
    ]
    assert fitting_slots(free, HOUR, zone=NEW_YORK, limit=2) == slots[:2]
    assert fitting_slots(free, HOUR, zone=NEW_YORK, limit=0) == []
    quarter_hours = fitting_slots(free, 45 * MINUTE, zone=NEW_YORK, step=timedelta(minutes=15))
    assert format_range(quarter_hours[0], NEW_YORK) == "9:15–10:00"
    assert format_range(quarter_hours[-1], NEW_YORK) == "13:00–13:45"


def test_slots_align_to_the_local_clock_in_kolkata() -> None:
    day = date(2026, 3, 9)
    free = [local(KOLKATA, day, (9, 10), (11, 0))]
    slots = fitting_slots(free, HOUR, zone=KOLKATA)
    assert [format_range(s, KOLKATA) for s in slots] == ["9:30–10:30", "10:00–11:00"]
    assert [s.start for s in slots] == [utc(day, 4, 0), utc(day, 4, 30)]


def test_slots_realign_after_lord_howes_half_hour_changes() -> None:
    spring = all_day((0, 0), (5, 0)).windows(LH_SPRING, LORD_HOWE)
    slots = fitting_slots(spring, HOUR, zone=LORD_HOWE, step=HOUR)
    assert [format_range(s, LORD_HOWE, "12h") for s in slots] == [
        "12am–1am",
        "1am–2:30am",  # an hour of elapsed time: 2:00-2:30 never happens
        "3am–4am",
        "4am–5am",
    ]
    fall = all_day((0, 0), (5, 0)).windows(LH_FALL, LORD_HOWE)
    slots = fitting_slots(fall, HOUR, zone=LORD_HOWE, step=HOUR)
    assert [format_range(s, LORD_HOWE) for s in slots] == [
        "0:00–1:00",
        "1:00–1:30 +1030",  # an hour later the clock shows 1:30 for the second time
        "2:00–3:00",
        "3:00–4:00",
        "4:00–5:00",
    ]


def test_slots_in_new_yorks_repeated_hour_are_offered_twice() -> None:
    window = all_day((0, 0), (3, 0)).windows(NY_FALL, NEW_YORK)
    slots = fitting_slots(window, HOUR, zone=NEW_YORK, step=HOUR)
    assert [format_range(s, NEW_YORK) for s in slots] == [
        "0:00–1:00 EDT",
        "1:00 EDT–1:00 EST",
        "1:00 EST–2:00",
        "2:00–3:00",
    ]
    assert all(s.duration == HOUR for s in slots)


def test_touching_free_windows_are_one_stretch_for_slots() -> None:
    day = date(2026, 3, 9)
    free = [local(NEW_YORK, day, (9, 0), (9, 30)), local(NEW_YORK, day, (9, 30), (10, 0))]
    assert fitting_slots(free, HOUR, zone=NEW_YORK) == [local(NEW_YORK, day, (9, 0), (10, 0))]


@pytest.mark.parametrize(
    ("duration", "step", "limit", "message"),
    [
        (timedelta(0), HOUR, None, "duration must be positive"),
        (HOUR, timedelta(0), None, "step must be positive"),
        (HOUR, -HOUR, None, "step must be positive"),
        (HOUR, HOUR, -1, "limit must not be negative"),
    ],
)
def test_fitting_slots_refuse_programming_errors(
    duration: timedelta, step: timedelta, limit: int | None, message: str
) -> None:
    with pytest.raises(ValueError, match=message):
        fitting_slots([], duration, zone=NEW_YORK, step=step, limit=limit)


def test_nearest_slots_after_a_conflict() -> None:
    day = date(2026, 3, 9)
    free = free_windows(
        days=[day],
        zone=NEW_YORK,
        hours=WorkingHours(),
        busy=[local(NEW_YORK, day, (12, 0), (13, 0))],
    )[day]
    wanted = at(NEW_YORK, day, 12)
    offered = nearest_slots(free, HOUR, wanted, zone=NEW_YORK)
    # 11:00 and 13:00 are an hour away; of 10:30 and 13:30, the earlier wins the tie.
    assert [format_range(s, NEW_YORK, "12h") for s in offered] == [
        "10:30am–11:30am",
        "11am–12pm",
        "1pm–2pm",
    ]
    assert nearest_slots(free, HOUR, wanted, 0, zone=NEW_YORK) == []
    assert len(nearest_slots(free, HOUR, wanted, 100, zone=NEW_YORK)) == 12
    with pytest.raises(ValueError, match="timezone-aware"):
        nearest_slots(free, HOUR, datetime(2026, 3, 9, 12), zone=NEW_YORK)
    with pytest.raises(ValueError, match="count"):
        nearest_slots(free, HOUR, wanted, -1, zone=NEW_YORK)


def test_slots_on_a_grid_longer_than_the_repeated_hour_are_offered_in_it_too() -> None:
    # On a 90-minute grid the clock reads 1:30 twice on New York's fall-back day; the
    # second is an hour (not 90 minutes) after the first, and is a slot all the same.
    window = all_day((0, 0), (5, 0)).windows(NY_FALL, NEW_YORK)
    step = timedelta(minutes=90)
    slots = fitting_slots(window, 30 * MINUTE, zone=NEW_YORK, step=step)
    assert [format_range(s, NEW_YORK) for s in slots] == [
        "0:00–0:30",
        "1:30 EDT–1:00 EST",
        "1:30 EST–2:00",
        "3:00–3:30",
        "4:30–5:00",
    ]
    assert count_fitting(window, 30 * MINUTE, zone=NEW_YORK, step=step) == 5


def test_count_fitting_counts_shoots_one_after_another_on_the_grid() -> None:
    day = date(2026, 3, 9)
    free = [local(NEW_YORK, day, (9, 10), (12, 0)), local(NEW_YORK, day, (13, 0), (13, 50))]
    # 9:15-10:15 and 10:15-11:15; 11:15-12:15 runs past noon; 13:00-13:50 is too short.
    assert count_fitting(free, HOUR, zone=NEW_YORK, step=DEFAULT_STEP) == 2
    assert count_fitting(free, HOUR, zone=NEW_YORK, step=HOUR) == 2  # 10:00 and 11:00
    assert count_fitting(free, 45 * MINUTE, zone=NEW_YORK, step=DEFAULT_STEP) == 4
    assert count_fitting([], HOUR, zone=NEW_YORK, step=DEFAULT_STEP) == 0


# --- one person's time: rules, commitments, free time and reasons -------------------------------

TUESDAY = date(2026, 3, 10)
NOW = at(NEW_YORK, date(2026, 3, 9), 12)
"""Monday noon: with a day of notice, Tuesday noon is the earliest bookable time."""
K7Q2MX = Labelled(local(NEW_YORK, TUESDAY, (13, 30), (15, 0)), "K7Q2MX")
RULES = Rules(NEW_YORK, buffer=15 * MINUTE, notice=timedelta(days=1))
HELD = Commitments(
    busy=[local(NEW_YORK, TUESDAY, (13, 0), (15, 0))],
    bookings=[K7Q2MX],
    time_off=[TimeOff(date(2026, 3, 11), date(2026, 3, 11), "dentist")],
)


def shown(found: list[Reason]) -> list[tuple[str, str, str]]:
    """Each reason as (why, its span on New York's clock, label)."""
    return [(r.why.value, format_range(r.span, NEW_YORK), r.label) for r in found]


@pytest.mark.parametrize(
    ("asked", "expected"),
    [
        pytest.param(
            local(NEW_YORK, TUESDAY, (14, 30), (15, 30)),
            [
                ("busy", "13:00–15:00", ""),
                ("booking", "13:30–15:00", "K7Q2MX"),
                ("buffer", "15:00–15:15", "K7Q2MX"),
            ],
            id="the booking, their own calendar and the buffer after",
        ),
        pytest.param(
            local(NEW_YORK, TUESDAY, (12, 30), (13, 15)),
            [("buffer", "12:45–13:00", ""), ("busy", "13:00–15:00", "")],
            id="the buffer before their busy calendar (none inside it before the booking)",
        ),
        pytest.param(
            local(NEW_YORK, TUESDAY, (16, 30), (17, 30)),
            [("outside_hours", "17:00–17:30", "")],
            id="past the end of working hours",
        ),
        pytest.param(
            local(NEW_YORK, date(2026, 3, 11), (10, 0), (11, 0)),
            [("time_off", "0:00–24:00", "dentist")],
            id="time off, with its reason",
        ),
        pytest.param(
            Interval(at(NEW_YORK, TUESDAY, 16, 45), at(NEW_YORK, date(2026, 3, 11), 9, 30)),
            [
                ("outside_hours", "17:00–9:00 (next day)", ""),
                ("time_off", "0:00–24:00", "dentist"),
            ],
            id="across the night into time off: in the order they end",
        ),
        pytest.param(
            local(NEW_YORK, TUESDAY, (11, 0), (12, 0)),
            [("notice", "12:00–12:00 (next day)", "")],
            id="sooner than a day's notice",
        ),
        pytest.param(
            local(NEW_YORK, date(2026, 3, 9), (11, 30), (12, 30)),
            [("past", "11:30–12:00", "")],
            id="started before now",
        ),
        pytest.param(local(NEW_YORK, TUESDAY, (15, 15), (16, 0)), [], id="free"),
    ],
)
def test_reasons_a_time_is_not_free(asked: Interval, expected: list[tuple[str, str, str]]) -> None:
    found = reasons(asked, RULES, HELD, now=NOW)
    assert shown(found) == expected
    free = free_time([TUESDAY, date(2026, 3, 11)], RULES, HELD, now=NOW)
    assert free is not None
    windows = [w for day_windows in free.values() for w in day_windows]
    assert any(w.start <= asked.start and asked.end <= w.end for w in windows) == (not found)


def test_the_earliest_free_time_is_now_plus_the_notice_to_the_microsecond() -> None:
    earliest = NOW + RULES.notice  # Tuesday 12:00
    half_an_hour = Interval(earliest, earliest + 30 * MINUTE)
    assert reasons(half_an_hour, RULES, HELD, now=NOW) == []
    sooner = Interval(earliest - timedelta(microseconds=1), earliest + 30 * MINUTE)
    assert [r.why for r in reasons(sooner, RULES, HELD, now=NOW)] == [Why.NOTICE]
    no_notice = Rules(NEW_YORK)
    assert reasons(Interval(NOW, NOW + HOUR), no_notice, HELD, now=NOW) == []
    started = Interval(NOW - timedelta(microseconds=1), NOW + HOUR)
    assert [r.why for r in reasons(started, no_notice, HELD, now=NOW)] == [Why.PAST]


def test_an_unreadable_calendar_is_a_reason_of_its_own_beside_the_bookings() -> None:
    held = Commitments(busy=None, bookings=[K7Q2MX], unknown="needs_reconnect")
    found = reasons(local(NEW_YORK, TUESDAY, (14, 30), (15, 30)), RULES, held, now=NOW)
    assert shown(found) == [
        ("booking", "13:30–15:00", "K7Q2MX"),
        ("buffer", "15:00–15:15", "K7Q2MX"),
        ("unknown", "14:30–15:30", "needs_reconnect"),
    ]
    free_hour = local(NEW_YORK, TUESDAY, (10, 0), (11, 0))
    assert shown(reasons(free_hour, Rules(NEW_YORK), held, now=NOW)) == [
        ("unknown", "10:00–11:00", "needs_reconnect")
    ]
    assert free_time([TUESDAY], RULES, held, now=NOW) is None


def test_reasons_come_in_the_order_they_end_then_start_then_kind() -> None:
    # The booking's invitation is on their own calendar: the same span twice, the
    # booking first; then a second booking that ends earlier but starts later.
    short = Labelled(local(NEW_YORK, TUESDAY, (14, 0), (14, 30)), "B2C3D4")
    held = Commitments(busy=[K7Q2MX.span], bookings=[K7Q2MX, short])
    asked = local(NEW_YORK, TUESDAY, (13, 45), (14, 15))
    assert shown(reasons(asked, Rules(NEW_YORK), held, now=NOW)) == [
        ("booking", "14:00–14:30", "B2C3D4"),
        ("booking", "13:30–15:00", "K7Q2MX"),
        ("busy", "13:30–15:00", ""),
    ]


def test_a_booking_on_their_own_calendar_has_one_buffer_on_each_side() -> None:
    held = Commitments(busy=[K7Q2MX.span], bookings=[K7Q2MX])
    asked = local(NEW_YORK, TUESDAY, (13, 0), (15, 30))
    found = reasons(asked, Rules(NEW_YORK, buffer=15 * MINUTE), held, now=NOW)
    assert shown(found) == [
        ("buffer", "13:15–13:30", "K7Q2MX"),
        ("booking", "13:30–15:00", "K7Q2MX"),
        ("busy", "13:30–15:00", ""),
        ("buffer", "15:00–15:15", "K7Q2MX"),
    ]


def test_a_buffer_is_kept_around_a_whole_stretch_of_busy_time() -> None:
    # Two bookings back to back and a calendar block overlapping the second: one stretch,
    # 10:00-12:30, with one buffer before it (the first booking's) and one after (the
    # calendar's), none in between.
    first = Labelled(local(NEW_YORK, TUESDAY, (10, 0), (11, 0)), "AAAAAA")
    second = Labelled(local(NEW_YORK, TUESDAY, (11, 0), (12, 0)), "BBBBBB")
    held = Commitments(
        busy=[local(NEW_YORK, TUESDAY, (11, 30), (12, 30))], bookings=[first, second]
    )
    asked = local(NEW_YORK, TUESDAY, (9, 0), (13, 0))
    buffers = [
        r
        for r in reasons(asked, Rules(NEW_YORK, buffer=HOUR), held, now=NOW)
        if r.why is Why.BUFFER
    ]
    assert shown(buffers) == [("buffer", "9:00–10:00", "AAAAAA"), ("buffer", "12:30–13:30", "")]


@pytest.mark.parametrize(
    ("zone", "day", "hours"),
    [
        (NEW_YORK, NY_SPRING, 23),
        (NEW_YORK, NY_FALL, 25),
        (LORD_HOWE, LH_SPRING, 23.5),
        (LORD_HOWE, LH_FALL, 24.5),
        (KOLKATA, NY_SPRING, 24),
    ],
)
def test_time_off_is_midnight_to_midnight_however_long_the_day(
    zone: ZoneInfo, day: date, hours: float
) -> None:
    off = TimeOff(day, day, "moving house")
    span = off.span(zone)
    assert span.start == at(zone, day, 0) and span.end == at(zone, day + timedelta(days=1), 0)
    assert span.duration == hours * HOUR
    rules = Rules(zone, hours=all_day((0, 0), (23, 45)))
    days = [day - timedelta(days=1), day, day + timedelta(days=1)]
    free = free_time(
        days, rules, Commitments(busy=[], time_off=[off]), now=at(zone, day, 0) - 7 * HOUR * 24
    )
    assert free is not None
    assert free[day] == []
    assert free[days[0]] == rules.hours.windows(days[0], zone)
    assert free[days[2]] == rules.hours.windows(days[2], zone)
    asked = Interval(at(zone, day, 12), at(zone, day, 13))
    held = Commitments(busy=[], time_off=[off])
    assert reasons(asked, rules, held, now=span.start - HOUR) == [
        Reason(Why.TIME_OFF, span, "moving house")
    ]


def test_time_off_over_several_days_takes_each_day_as_it_is() -> None:
    off = TimeOff(date(2026, 3, 7), date(2026, 3, 9))  # Saturday to Monday, spring forward inside
    assert off.span(NEW_YORK).duration == 71 * HOUR
    with pytest.raises(ValueError, match="on or after its first day"):
        TimeOff(date(2026, 3, 9), date(2026, 3, 8))


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        ({"buffer": -MINUTE}, "buffer must not be negative"),
        ({"notice": -HOUR}, "notice must not be negative"),
        ({"step": timedelta(0)}, "step must be positive"),
        ({"step": -DEFAULT_STEP}, "step must be positive"),
    ],
)
def test_rules_refuse_what_they_cannot_mean(arguments: dict[str, timedelta], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        Rules(NEW_YORK, **arguments)  # type: ignore[arg-type]


def test_rules_default_to_the_quarter_hour_grid_and_nothing_kept() -> None:
    rules = Rules(KOLKATA)
    assert (rules.hours, rules.buffer, rules.notice, rules.step) == (
        WorkingHours(),
        timedelta(0),
        timedelta(0),
        DEFAULT_STEP,
    )


# --- formatting -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("start", "end", "twenty_four", "twelve"),
    [
        ((9, 0), (10, 0), "9:00–10:00", "9am–10am"),
        ((14, 30), (16, 0), "14:30–16:00", "2:30pm–4pm"),
        ((0, 0), (0, 30), "0:00–0:30", "12am–12:30am"),
        ((11, 45), (12, 15), "11:45–12:15", "11:45am–12:15pm"),
        ((12, 0), (13, 5), "12:00–13:05", "12pm–1:05pm"),
    ],
)
def test_format_range(
    start: tuple[int, int], end: tuple[int, int], twenty_four: str, twelve: str
) -> None:
    interval = local(NEW_YORK, date(2026, 3, 9), start, end)
    assert format_range(interval, NEW_YORK) == twenty_four
    assert format_range(interval, NEW_YORK, "12h") == twelve


def test_format_range_shows_a_range_across_midnight() -> None:
    day, next_day = date(2026, 3, 9), date(2026, 3, 10)
    late = Interval(at(NEW_YORK, day, 22), at(NEW_YORK, next_day, 1))
    assert format_range(late, NEW_YORK) == "22:00–1:00 (next day)"
    assert format_range(late, NEW_YORK, "12h") == "10pm–1am (next day)"
    to_midnight = Interval(at(NEW_YORK, day, 23), at(NEW_YORK, next_day, 0))
    assert format_range(to_midnight, NEW_YORK) == "23:00–24:00"
    assert format_range(to_midnight, NEW_YORK, "12h") == "11pm–12am (next day)"
    long = Interval(at(NEW_YORK, day, 9), at(NEW_YORK, date(2026, 3, 11), 10))
    assert format_range(long, NEW_YORK) == "9:00–10:00 (+2 days)"


def test_format_range_shows_instants_in_the_zone_asked_for() -> None:
    interval = Interval(utc(date(2026, 3, 9), 3, 30), utc(date(2026, 3, 9), 4, 30))
    assert format_range(interval, KOLKATA) == "9:00–10:00"
    assert format_range(interval, NEW_YORK) == "23:30–0:30 (next day)"


def test_format_range_refuses_an_unknown_clock() -> None:
    interval = local(NEW_YORK, date(2026, 3, 9), (9, 0), (10, 0))
    with pytest.raises(ValueError, match="clock"):
        format_range(interval, NEW_YORK, "am/pm")  # type: ignore[arg-type]


# --- properties -----------------------------------------------------------------------------------

zones = st.sampled_from(ZONES)
# Each zone with a day on which its clock changes (Kolkata's never does); London as a fourth.
change_days = st.sampled_from(
    [
        (NEW_YORK, NY_SPRING),
        (NEW_YORK, NY_FALL),
        (LORD_HOWE, LH_FALL),
        (LORD_HOWE, LH_SPRING),
        (ZoneInfo("Europe/London"), date(2026, 3, 29)),
        (ZoneInfo("Europe/London"), date(2026, 10, 25)),
        (KOLKATA, NY_SPRING),
    ]
)
quarter_hours = st.integers(0, 95).map(lambda q: time(q // 4, q % 4 * 15))
night_quarter_hours = st.integers(0, 16).map(lambda q: time(q // 4, q % 4 * 15))
"""00:00 to 04:00, where every change above happens."""


def local_midnight(zone: ZoneInfo, day: date) -> datetime:
    return datetime.combine(day, time(0), tzinfo=zone).astimezone(UTC)


@st.composite
def working_hours(draw: st.DrawFn) -> WorkingHours:
    times = st.one_of(night_quarter_hours, quarter_hours)
    start, end = sorted(draw(st.lists(times, min_size=2, max_size=2, unique=True)))
    weekdays = draw(st.just(EVERY_DAY) | st.frozensets(st.integers(0, 6), min_size=1))
    return WorkingHours(start, end, weekdays)


@st.composite
def busy_intervals(draw: st.DrawFn, zone: ZoneInfo, day: date) -> list[Interval]:
    """Up to 12 busy intervals, to the minute, in the three days around `day`."""
    origin = local_midnight(zone, day - timedelta(days=1))
    intervals = []
    for _ in range(draw(st.integers(0, 12))):
        start = origin + draw(st.integers(0, 3 * 24 * 60)) * MINUTE
        intervals.append(Interval(start, start + draw(st.integers(1, 8 * 60)) * MINUTE))
    return intervals


@dataclass(frozen=True)
class Scenario:
    """The arguments of one `free_windows` call: three days around a change day."""

    days: list[date]
    zone: ZoneInfo
    hours: WorkingHours
    busy: list[Interval]
    now: datetime | None
    min_notice: timedelta
    buffer: timedelta

    def free(self) -> list[Interval]:
        by_day = free_windows(
            days=self.days,
            zone=self.zone,
            hours=self.hours,
            busy=self.busy,
            now=self.now,
            min_notice=self.min_notice,
            buffer=self.buffer,
        )
        assert list(by_day) == self.days
        return [w for day in self.days for w in by_day[day]]

    def working(self) -> list[Interval]:
        return [w for day in self.days for w in self.hours.windows(day, self.zone)]

    def buffered_busy(self) -> list[Interval]:
        return [Interval(b.start - self.buffer, b.end + self.buffer) for b in self.busy]


@st.composite
def scenarios(draw: st.DrawFn) -> Scenario:
    zone, day = draw(change_days)
    minutes = st.integers(-24 * 60, 2 * 24 * 60).map(lambda m: m * MINUTE)
    now = draw(st.none() | minutes.map(lambda m: local_midnight(zone, day) + m))
    notice = st.sampled_from([0, 15, 60, 24 * 60]) if now is not None else st.just(0)
    return Scenario(
        days=[day - timedelta(days=1), day, day + timedelta(days=1)],
        zone=zone,
        hours=draw(working_hours()),
        busy=draw(busy_intervals(zone, day)),
        now=now,
        min_notice=draw(notice) * MINUTE,
        buffer=draw(st.sampled_from([0, 10, 15, 60])) * MINUTE,
    )


def intersect(a: list[Interval], b: list[Interval]) -> list[Interval]:
    return subtract(a, subtract(a, b))


@settings(max_examples=300, deadline=None)
@given(
    zone_day=change_days,
    hours=working_hours(),
    seconds=st.integers(0, 5 * 3600) | st.integers(-6 * 3600, 30 * 3600),
)
def test_working_windows_hold_exactly_the_instants_the_clock_puts_in_hours(
    zone_day: tuple[ZoneInfo, date], hours: WorkingHours, seconds: int
) -> None:
    zone, day = zone_day
    instant = local_midnight(zone, day) + timedelta(seconds=seconds)
    wall = instant.astimezone(zone)
    expected = wall.weekday() in hours.weekdays and hours.start <= wall.time() < hours.end
    assert covers(hours.windows(wall.date(), zone), instant) == expected
    for other in (wall.date() - timedelta(days=1), wall.date() + timedelta(days=1)):
        assert not covers(hours.windows(other, zone), instant)


@settings(max_examples=200, deadline=None)
@given(scenario=scenarios())
def test_free_and_busy_partition_the_working_hours(scenario: Scenario) -> None:
    scenario = replace(scenario, now=None, min_notice=timedelta(0), buffer=timedelta(0))
    free, working = scenario.free(), scenario.working()
    assert merge(free + intersect(scenario.busy, working)) == merge(working)
    assert intersect(free, scenario.busy) == []
    assert merge(free) == free  # disjoint, sorted, never touching


@settings(max_examples=200, deadline=None)
@given(scenario=scenarios())
def test_free_windows_avoid_buffered_busy_time_and_start_after_notice(scenario: Scenario) -> None:
    free = scenario.free()
    assert not any(w.overlaps(b) for w in free for b in scenario.buffered_busy())
    assert subtract(free, scenario.working()) == []
    if scenario.now is not None:
        assert all(w.start >= scenario.now + scenario.min_notice for w in free)


@settings(max_examples=150, deadline=None)
@given(
    scenario=scenarios(),
    duration=st.sampled_from([15, 30, 45, 60, 90, 120]).map(lambda m: m * MINUTE),
    step=st.sampled_from([15, 30, 60]).map(lambda m: m * MINUTE),
)
def test_slots_are_every_aligned_fit_inside_free_time(
    scenario: Scenario, duration: timedelta, step: timedelta
) -> None:
    free = scenario.free()
    slots = fitting_slots(free, duration, zone=scenario.zone, step=step)
    assert all(s.duration == duration for s in slots)
    assert all(any(w.start <= s.start and s.end <= w.end for w in free) for s in slots)
    assert not any(s.overlaps(b) for s in slots for b in scenario.buffered_busy())
    assert slots == sorted(set(slots))

    def aligned(instant: datetime) -> bool:
        wall = instant.astimezone(scenario.zone)
        since_midnight = timedelta(hours=wall.hour, minutes=wall.minute, seconds=wall.second)
        return since_midnight % step == timedelta(0) and wall.microsecond == 0

    # Everything here falls on whole minutes, so a minute-by-minute search finds them all.
    candidates = [
        w.start + n * MINUTE
        for w in free
        if w.duration >= duration
        for n in range((w.duration - duration) // MINUTE + 1)
    ]
    assert [s.start for s in slots] == [c for c in candidates if aligned(c)]


@settings(max_examples=100, deadline=None)
@given(scenario=scenarios(), around=st.integers(-24 * 60, 2 * 24 * 60), count=st.integers(0, 5))
def test_nearest_slots_are_the_nearest_fitting_slots(
    scenario: Scenario, around: int, count: int
) -> None:
    free, zone = scenario.free(), scenario.zone
    target = local_midnight(zone, scenario.days[1]) + around * MINUTE
    every = fitting_slots(free, HOUR, zone=zone)
    offered = nearest_slots(free, HOUR, target, count, zone=zone)
    assert offered == sorted(offered)
    assert len(offered) == min(count, len(every))
    assert set(offered) <= set(every)
    if offered:
        farthest = max(abs(s.start - target) for s in offered)
        assert all(abs(s.start - target) >= farthest for s in set(every) - set(offered))


@settings(max_examples=100, deadline=None)
@given(scenario=scenarios(), data=st.data())
def test_the_same_instants_come_out_whatever_zone_busy_time_is_given_in(
    scenario: Scenario, data: st.DataObject
) -> None:
    elsewhere = [
        Interval(b.start.astimezone(data.draw(zones)), b.end.astimezone(data.draw(zones)))
        for b in scenario.busy
    ]
    assert all(b.start.tzinfo is UTC and b.end.tzinfo is UTC for b in elsewhere)
    assert replace(scenario, busy=elsewhere).free() == scenario.free()


@settings(max_examples=200, deadline=None)
@given(
    a=busy_intervals(NEW_YORK, NY_FALL),
    b=busy_intervals(NEW_YORK, NY_FALL),
    minute=st.integers(-3000, 3000),
)
def test_merge_and_subtract_keep_the_right_instants(
    a: list[Interval], b: list[Interval], minute: int
) -> None:
    instant = local_midnight(NEW_YORK, NY_FALL) + minute * MINUTE
    merged, left = merge(a), subtract(a, b)
    assert covers(merged, instant) == covers(a, instant)
    assert covers(left, instant) == (covers(a, instant) and not covers(b, instant))
    for result in (merged, left):
        assert all(x.end < y.start for x, y in pairwise(result))
