"""Properties of one person's time: rules (hours, buffer, notice, step) and commitments (busy
calendar, bookings, time off) in, free time and reasons out.

Every scenario is three local days around a day on which the clock changes: New York
(23 h on 2026-03-08, 25 h on 2026-11-01), London (23 h on 2026-03-29, 25 h on
2026-10-25), Lord Howe (30 minutes: 24.5 h on 2026-04-05, 23.5 h on 2026-10-04), and
Kolkata (+5:30, no change) for comparison.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from hypothesis import given, settings
from hypothesis import strategies as st

from bot.availability import (
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
    free_time,
    merge,
    nearest_slots,
    reasons,
    subtract,
)

NEW_YORK = ZoneInfo("America/New_York")
LONDON = ZoneInfo("Europe/London")
LORD_HOWE = ZoneInfo("Australia/Lord_Howe")
KOLKATA = ZoneInfo("Asia/Kolkata")

CHANGE_DAYS = {
    NEW_YORK: (date(2026, 3, 8), date(2026, 11, 1)),
    LONDON: (date(2026, 3, 29), date(2026, 10, 25)),
    LORD_HOWE: (date(2026, 10, 4), date(2026, 4, 5)),
}
"""Each zone's spring-forward and fall-back days in 2026."""

MINUTE = timedelta(minutes=1)
HOUR = timedelta(hours=1)
DAY = timedelta(days=1)
MICROSECOND = timedelta(microseconds=1)
EVERY_DAY = frozenset(range(7))


def midnight(zone: ZoneInfo, day: date) -> datetime:
    """Local midnight as an instant in UTC (so that adding to it adds elapsed time)."""
    return datetime.combine(day, time(0), tzinfo=zone).astimezone(UTC)


def flat(by_day: dict[date, list[Interval]]) -> list[Interval]:
    return [w for windows in by_day.values() for w in windows]


def days_from(first: date, last: date) -> list[date]:
    return [first + n * DAY for n in range((last - first).days + 1)]


def whys(found: list[Reason]) -> set[Why]:
    return {r.why for r in found}


# --- generators -------------------------------------------------------------------------------

change_days = st.sampled_from(
    [(zone, day) for zone, days in CHANGE_DAYS.items() for day in days]
    + [(KOLKATA, date(2026, 3, 8))]
)
quarter_hours = st.integers(0, 95).map(lambda q: time(q // 4, q % 4 * 15))
night_quarter_hours = st.integers(0, 16).map(lambda q: time(q // 4, q % 4 * 15))
"""00:00 to 04:00, where every change above happens."""
steps = st.sampled_from([5, 10, 15, 20, 30, 45, 60, 90]).map(lambda m: m * MINUTE)
"""Grids that divide every change's 30 or 60 minutes (5, 10, 15, 30) and grids that don't."""
durations = st.sampled_from([15, 30, 45, 60, 90, 120]).map(lambda m: m * MINUTE)


@st.composite
def working_hours(draw: st.DrawFn, every_day: bool = False) -> WorkingHours:
    """Hours that often start or end in the night, where the clocks change."""
    times = st.one_of(night_quarter_hours, quarter_hours)
    start, end = sorted(draw(st.lists(times, min_size=2, max_size=2, unique=True)))
    some_days = st.frozensets(st.integers(0, 6), min_size=1)
    weekdays = EVERY_DAY if every_day else draw(st.just(EVERY_DAY) | some_days)
    return WorkingHours(start, end, weekdays)


@st.composite
def spans(draw: st.DrawFn, origin: datetime, count: int) -> list[Interval]:
    """Up to `count` spans in the three days from `origin`, on minutes or on quarter hours
    (so that they often touch, repeat and line up with the hours)."""
    grain = draw(st.sampled_from([MINUTE, 15 * MINUTE]))
    whole = 3 * DAY // grain
    found = []
    for _ in range(draw(st.integers(0, count))):
        start = origin + draw(st.integers(0, whole)) * grain
        found.append(Interval(start, start + draw(st.integers(1, 8 * HOUR // grain)) * grain))
    return found


@dataclass(frozen=True)
class Person:
    """One person's rules and commitments, `now`, and the days around a change day."""

    rules: Rules
    held: Commitments
    now: datetime
    days: list[date]

    @property
    def origin(self) -> datetime:
        return midnight(self.rules.zone, self.days[0])

    def free(
        self, *, buffer: timedelta | None = None, notice: timedelta | None = None
    ) -> dict[date, list[Interval]]:
        """`free_time` over the scenario's days, with another buffer or notice if given."""
        rules = replace(
            self.rules,
            buffer=self.rules.buffer if buffer is None else buffer,
            notice=self.rules.notice if notice is None else notice,
        )
        free = free_time(self.days, rules, self.held, now=self.now)
        assert free is not None, "only for a person whose calendar was read"
        return free


@st.composite
def people(draw: st.DrawFn, readable: bool = False) -> Person:
    zone, day = draw(change_days)
    days = [day - DAY, day, day + DAY]
    origin = midnight(zone, days[0])
    rules = Rules(
        zone,
        hours=draw(working_hours()),
        buffer=draw(st.integers(0, 24)) * 5 * MINUTE,
        notice=draw(st.integers(0, 2 * 24 * 4)) * 15 * MINUTE,
        step=draw(steps),
    )
    unreadable = not readable and draw(st.integers(0, 9)) == 7  # (0 would come too often)
    labels = st.sampled_from(["K7Q2MX", "B2C3D4", "Z9Y8X7"])
    held = Commitments(
        busy=None if unreadable else draw(spans(origin, 8)),
        bookings=[Labelled(span, draw(labels)) for span in draw(spans(origin, 3))],
        time_off=[
            TimeOff(
                first, first + draw(st.integers(0, 1)) * DAY, draw(st.sampled_from(["", "ill"]))
            )
            for first in draw(st.lists(st.sampled_from(days), max_size=2))
        ],
        unknown="needs_reconnect" if unreadable else "",
    )
    now = origin + draw(st.integers(-24 * 60, 3 * 24 * 60)) * MINUTE
    return Person(rules, held, now, days)


@st.composite
def asked_times(draw: st.DrawFn, person: Person) -> Interval:
    """A time to ask about: anywhere, or inside a free window, or one sticking out of one
    by a minute or a microsecond (the edges are where the two could disagree)."""
    readable = person.held.busy is not None
    # Free windows with the notice, or without it (so that some ask too soon).
    notice = person.rules.notice if draw(st.booleans()) else timedelta(0)
    windows = flat(person.free(notice=notice)) if readable else []
    near_a_window: bool = draw(st.booleans())
    if windows and near_a_window:
        # Often the window that the notice (or now) cuts: it starts at the earliest time.
        cut = [w for w in windows if w.start == person.now + notice] or windows
        window = draw(st.sampled_from(cut) | st.sampled_from(windows))
        minutes = window.duration // MINUTE
        first = draw(st.just(0) | st.integers(0, minutes - 1))  # often the window's very edges
        last = draw(st.just(minutes) | st.integers(first + 1, minutes))
        start, end = window.start + first * MINUTE, window.start + last * MINUTE
        nudge = draw(st.sampled_from([timedelta(0), timedelta(0), MINUTE, MICROSECOND]))
        if draw(st.booleans()):
            start -= nudge
        else:
            end += nudge
        return Interval(start, end)
    start = person.origin + draw(st.integers(-6 * 60, 3 * 24 * 60)) * MINUTE
    return Interval(start, start + draw(st.integers(1, 10 * 60)) * MINUTE)


# --- a time is free exactly when it has no reason -----------------------------------------------


@settings(max_examples=300, deadline=None)
@given(person=people(), data=st.data())
def test_a_time_is_free_exactly_when_it_has_no_reason(person: Person, data: st.DataObject) -> None:
    asked = data.draw(asked_times(person))
    rules, held = person.rules, person.held
    found = reasons(asked, rules, held, now=person.now)

    assert all(r.span.overlaps(asked) for r in found)
    assert [r.span.end for r in found] == sorted(r.span.end for r in found)
    if held.busy is None:
        assert whys(found) >= {Why.UNKNOWN}
        assert free_time(person.days, rules, held, now=person.now) is None
        return

    zone = rules.zone
    touched = days_from(
        asked.start.astimezone(zone).date(), (asked.end - MICROSECOND).astimezone(zone).date()
    )
    free = free_time(touched, rules, held, now=person.now)
    assert free is not None
    inside_one_window = any(w.start <= asked.start and asked.end <= w.end for w in flat(free))
    assert (found == []) == inside_one_window

    if not {Why.PAST, Why.NOTICE} & whys(found):
        # Each reason holds its span: together they hold exactly the part not free.
        held_parts = [
            Interval(max(r.span.start, asked.start), min(r.span.end, asked.end)) for r in found
        ]
        assert merge(held_parts) == subtract([asked], flat(free))


@settings(max_examples=50, deadline=None)
@given(person=people(), data=st.data())
def test_an_unreadable_calendar_is_never_free(person: Person, data: st.DataObject) -> None:
    unreadable = replace(person.held, busy=None, unknown="unreadable")
    asked = data.draw(asked_times(person))
    found = reasons(asked, person.rules, unreadable, now=person.now)
    assert Reason(Why.UNKNOWN, asked, "unreadable") in found
    assert free_time(person.days, person.rules, unreadable, now=person.now) is None


# --- buffers, notice, time off --------------------------------------------------------------------


@settings(max_examples=200, deadline=None)
@given(person=people(readable=True))
def test_buffers_never_create_free_time(person: Person) -> None:
    with_buffer, without = person.free(), person.free(buffer=timedelta(0))
    for day in person.days:
        assert subtract(with_buffer[day], without[day]) == []
    # ...and a longer one never frees anything either.
    longer = person.free(buffer=person.rules.buffer + 30 * MINUTE)
    for day in person.days:
        assert subtract(longer[day], with_buffer[day]) == []


@settings(max_examples=150, deadline=None)
@given(
    person=people(readable=True),
    duration=durations,
    around=st.integers(0, 3 * 24 * 60),
    count=st.integers(0, 5),
)
def test_notice_never_moves_a_suggestion_earlier(
    person: Person, duration: timedelta, around: int, count: int
) -> None:
    zone, step = person.rules.zone, person.rules.step
    earliest = person.now + person.rules.notice
    with_notice = flat(person.free())
    without = fitting_slots(flat(person.free(notice=timedelta(0))), duration, zone=zone, step=step)

    slots = fitting_slots(with_notice, duration, zone=zone, step=step)
    assert all(s.start >= earliest for s in slots)
    assert set(slots) <= set(without)

    offered = nearest_slots(
        with_notice, duration, person.origin + around * MINUTE, count, zone=zone, step=step
    )
    assert all(s.start >= earliest for s in offered)
    assert set(offered) <= set(slots)


@settings(max_examples=200, deadline=None)
@given(person=people(readable=True))
def test_no_free_instant_falls_in_time_off(person: Person) -> None:
    zone = person.rules.zone
    free = flat(person.free())
    for off in person.held.time_off:
        span = off.span(zone)
        assert not any(w.overlaps(span) for w in free)
        # Exactly local midnight to local midnight: the first instant of the first day...
        assert span.start.astimezone(zone).date() == off.first
        assert span.start.astimezone(zone).time() == time(0)
        assert (span.start - MICROSECOND).astimezone(zone).date() == off.first - DAY
        # ...to the first instant of the day after the last, however long the days were.
        assert span.end.astimezone(zone).date() == off.last + DAY
        assert span.end.astimezone(zone).time() == time(0)
        assert (span.end - MICROSECOND).astimezone(zone).date() == off.last
        days = (off.last - off.first).days + 1
        offsets = span.start.astimezone(zone).utcoffset(), span.end.astimezone(zone).utcoffset()
        assert offsets[0] is not None and offsets[1] is not None
        assert span.duration == days * DAY + offsets[0] - offsets[1]


# --- slots: counting and the grid -----------------------------------------------------------------


@settings(max_examples=200, deadline=None)
@given(
    zone_day=change_days,
    data=st.data(),
    duration=durations,
    step=steps,
)
def test_count_fitting_is_a_greedy_earliest_first_pass_over_the_slots(
    zone_day: tuple[ZoneInfo, date], data: st.DataObject, duration: timedelta, step: timedelta
) -> None:
    zone, day = zone_day
    origin, days = midnight(zone, day - DAY), [day - DAY, day, day + DAY]
    hours = data.draw(working_hours())
    working = [w for d in days for w in hours.windows(d, zone)]
    free = data.draw(st.just(working) | spans(origin, 10))
    free = subtract(free, data.draw(spans(origin, 4)))
    slots = fitting_slots(free, duration, zone=zone, step=step)

    taken, free_from = 0, None
    for slot in slots:
        if free_from is None or slot.start >= free_from:
            taken, free_from = taken + 1, slot.end
    assert count_fitting(free, duration, zone=zone, step=step) == taken

    # The slots are every whole-minute start on the grid of the local clock that fits
    # (every span here is on whole minutes, so a search minute by minute finds them all).
    def on_grid(instant: datetime) -> bool:
        wall = instant.astimezone(zone)
        return timedelta(hours=wall.hour, minutes=wall.minute) % step == timedelta(0)

    fitting = [
        w.start + n * MINUTE
        for w in merge(free)
        for n in range((w.duration - duration) // MINUTE + 1)
        if w.duration >= duration
    ]
    assert [s.start for s in slots] == [start for start in fitting if on_grid(start)]


# --- the same local inputs give the same local answers in every zone -----------------------------
#
# A business means its wall clock, so hours, busy blocks given as local times and days off
# should give the same free time read on the local clock, whatever the zone and whether
# or not its clock changes that night. Two things are elapsed time, not wall clock: the
# buffer, and busy blocks once they are instants. The generator keeps them clear of the
# changes instead of building them specially: every busy boundary (and `now`) is a
# reading between 05:00 and 22:00, at least 2 hours (the longest buffer) from every change
# here, all of which happen between 01:00 and 03:00. Hours may start or end anywhere,
# in a skipped or a repeated hour too. Notice, elapsed time counted from `now`, is left
# out here (a day's notice across a change ends at another reading); other tests cover it.

CROSS_ZONES = (NEW_YORK, LONDON, LORD_HOWE, KOLKATA)
SKIPPED = {
    NEW_YORK: (date(2026, 3, 8), time(2), time(3)),
    LONDON: (date(2026, 3, 29), time(1), time(2)),
    LORD_HOWE: (date(2026, 10, 4), time(2), time(2, 30)),
}
"""The readings each zone's clock skips in spring (the repeated ones in autumn need nothing:
read on the clock, a repeated reading is the same reading)."""
BAND = st.integers(5 * 12, 22 * 12).map(lambda n: time(n // 12, n % 12 * 5))
"""05:00 to 22:00 in 5 minutes."""


def as_range(first: datetime, last: datetime) -> Interval:
    """Two naive clock readings as an interval, so that `merge` and `subtract` can do the
    arithmetic on readings (labelled UTC, which has no changes)."""
    return Interval(first.replace(tzinfo=UTC), last.replace(tzinfo=UTC))


def reading(instant: datetime, zone: ZoneInfo) -> datetime:
    return instant.astimezone(zone).replace(tzinfo=None, fold=0)


@dataclass(frozen=True)
class LocalDays:
    """Wall-clock inputs, meaning the same in any zone."""

    days: list[date]
    hours: WorkingHours
    busy: list[tuple[datetime, datetime]]
    """Naive local readings."""
    time_off: list[TimeOff]
    buffer: timedelta
    now: datetime
    """A naive local reading."""

    def free_on_the_clock(self, zone: ZoneInfo) -> list[Interval]:
        """The free time in `zone`, read on its clock (repeated readings once), leaving out
        the readings any of the zones compared skips."""
        rules = Rules(zone, hours=self.hours, buffer=self.buffer)
        held = Commitments(
            busy=[Interval(s.replace(tzinfo=zone), e.replace(tzinfo=zone)) for s, e in self.busy],
            time_off=self.time_off,
        )
        free = free_time(self.days, rules, held, now=self.now.replace(tzinfo=zone))
        assert free is not None
        # A window read on the clock ends where its last instant reads (a window that ends
        # as the clock goes back, from 2:00 to 1:00, ends at 2:00 on the clock, not 1:00).
        on_the_clock = [
            as_range(reading(w.start, zone), reading(w.end - MICROSECOND, zone) + MICROSECOND)
            for w in flat(free)
        ]
        skipped = [
            as_range(datetime.combine(day, first), datetime.combine(day, last))
            for day, first, last in SKIPPED.values()
        ]
        return subtract(on_the_clock, skipped)


@st.composite
def local_days(draw: st.DrawFn) -> LocalDays:
    day = draw(st.sampled_from(sorted({d for days in CHANGE_DAYS.values() for d in days})))
    days = [day - DAY, day, day + DAY]

    busy = []
    for _ in range(draw(st.integers(0, 4))):
        # Mostly within one day; sometimes across a night (and so across a change).
        first_day = draw(st.sampled_from(days))
        last_day = first_day + draw(st.sampled_from([0, 0, 0, 1])) * DAY
        first, last = (
            datetime.combine(first_day, draw(BAND)),
            datetime.combine(last_day, draw(BAND)),
        )
        if first < last:
            busy.append((first, last))
    return LocalDays(
        days=days,
        hours=draw(working_hours(every_day=True)),
        busy=busy,
        time_off=[
            TimeOff(first, first + draw(st.integers(0, 1)) * DAY)
            for first in draw(st.lists(st.sampled_from(days), max_size=1))
        ],
        buffer=draw(st.integers(0, 24)) * 5 * MINUTE,
        now=datetime.combine(draw(st.sampled_from([days[0] - DAY, days[0]])), draw(BAND)),
    )


@settings(max_examples=300, deadline=None)
@given(inputs=local_days())
def test_the_same_local_inputs_give_the_same_local_free_time_in_every_zone(
    inputs: LocalDays,
) -> None:
    expected = inputs.free_on_the_clock(CROSS_ZONES[0])
    for zone in CROSS_ZONES[1:]:
        assert inputs.free_on_the_clock(zone) == expected, zone.key


def test_the_skipped_readings_are_the_ones_each_clock_skips() -> None:
    def exists(day: date, clock: time, zone: ZoneInfo) -> bool:
        local = datetime.combine(day, clock, tzinfo=zone)
        return reading(local.astimezone(UTC), zone) == local.replace(tzinfo=None)

    for zone, (day, first, last) in SKIPPED.items():
        before = (datetime.combine(day, first) - MINUTE).time()
        assert exists(day, before, zone) and exists(day, last, zone)
        assert not exists(day, first, zone)
        assert not exists(day, (datetime.combine(day, last) - MINUTE).time(), zone)
