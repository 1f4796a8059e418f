"""The availability engine: working hours, busy time, time off, buffers and notice -> free
slots, and the reasons a time is not free.

Pure: no I/O, no clock, no Slack, no Google. Every datetime it takes or gives is
timezone-aware; a naive one is a programming error and raises `ValueError`.

Instants and wall clocks
    An `Interval` is a half-open span `[start, end)` of instants, kept in UTC whatever
    zone it was built from, so comparing, sorting and subtracting are exact. (Python
    compares and subtracts two datetimes that share a `tzinfo` by their wall clocks,
    which is wrong across a DST change.) Durations are elapsed time. Local time
    matters in three places only: working hours, the alignment of slot starts, and
    formatting; each uses `zoneinfo`.

Working hours on DST change days
    A business means its wall clock: `WorkingHours.windows` gives exactly the instants
    whose local clock, on that local date, reads from `start` up to (not including)
    `end`. On a day whose change falls outside the hours (every change in New York and
    Lord Howe happens in the night), 09:00-17:00 is 8 h as usual. When the change falls
    inside the hours, the elapsed time follows the clock: 00:00-08:00 on New York's
    spring-forward day is 7 h, on its fall-back day 9 h. A start or end inside the
    skipped hour counts from the moment the clock jumps (02:30-05:00 on spring-forward
    day opens at 03:00). Hours that lie inside the repeated hour of a fall-back day
    (01:15-01:45) give two windows, one for each time the clock shows them. The engine
    assumes the offset changes at most once within one day's hours, as every DST rule
    in use does.

Busy time
    The engine only sees busy intervals: the calendar adapter has already applied
    Google's free/busy semantics (transparent events and declined invitations are free,
    all-day busy events are busy intervals). Busy intervals are widened by the buffer on
    both sides, sorted once and merged in one sweep; each working window finds its
    first cut by bisection. 10,000 busy intervals over a week take milliseconds
    (`python -m bench.availability_engine`).

One person's time
    `Rules` (hours, buffer, notice, step) and `Commitments` (their own calendar's busy
    blocks, their bookings, their time off) are everything the engine needs about one
    person. `free_time` gives their free windows; `reasons` gives every reason one time
    is not free (hours, time off, a booking, their busy calendar, a buffer, the notice,
    the past, a calendar that can't be read), each with the span it holds, so that `why`,
    conflict messages and the grid all read the same reasons. A time is free exactly when
    it has no reason. Time off is whole local days, from midnight to midnight however
    long the days are; it is not widened by the buffer.

Slots
    Slot starts are aligned to `step` on the local wall clock, counted from local
    midnight (:00 and :30 for 30 minutes, also in Kolkata at +5:30 and across Lord
    Howe's 30-minute change), and each slot lasts exactly `duration` of elapsed time.
"""

from __future__ import annotations

import enum
import functools
import heapq
from bisect import bisect_right
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from operator import attrgetter, itemgetter
from zoneinfo import ZoneInfo

from bot.when import Clock

MONDAY_TO_FRIDAY = frozenset(range(5))
DEFAULT_STEP = timedelta(minutes=15)
"""Suggested and counted slots start on the quarter hours unless the customer says otherwise."""
_MICROSECOND = timedelta(microseconds=1)

_Span = tuple[datetime, datetime]
"""A half-open span of UTC instants, for the sweeps (cheaper than building `Interval`s)."""
_START = attrgetter("start")
_FIRST = itemgetter(0)


def _as_utc(value: datetime, name: str) -> datetime:
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError(f"{name} must be timezone-aware, got the naive datetime {value!r}")
    return value if value.tzinfo is UTC else value.astimezone(UTC)


def _require_positive(value: timedelta, name: str) -> None:
    if value <= timedelta(0):
        raise ValueError(f"{name} must be positive, got {value}")


def _require_not_negative(value: timedelta, name: str) -> None:
    if value < timedelta(0):
        raise ValueError(f"{name} must not be negative, got {value}")


@dataclass(frozen=True, order=True, slots=True)
class Interval:
    """The instants from `start` (included) to `end` (excluded); `start < end`.

    Both ends are kept in UTC, so intervals built in different zones compare equal when
    they hold the same instants. Use `format_range` (or `astimezone`) to show one.
    """

    start: datetime
    end: datetime

    def __post_init__(self) -> None:
        if self.start.tzinfo is not UTC:
            object.__setattr__(self, "start", _as_utc(self.start, "start"))
        if self.end.tzinfo is not UTC:
            object.__setattr__(self, "end", _as_utc(self.end, "end"))
        if self.start >= self.end:
            raise ValueError(f"an interval must end after it starts: {self.start} to {self.end}")

    @property
    def duration(self) -> timedelta:
        """Elapsed time from start to end."""
        return self.end - self.start

    def overlaps(self, other: Interval) -> bool:
        """Whether the two share an instant; intervals that only touch do not."""
        return self.start < other.end and other.start < self.end


def _intervals(spans: Iterable[_Span]) -> list[Interval]:
    return [Interval(start, end) for start, end in spans]


def _joined(spans: Iterable[_Span]) -> list[_Span]:
    """Spans given in order of start, joined where they overlap or touch, in one sweep."""
    rest = iter(spans)
    first = next(rest, None)
    if first is None:
        return []
    joined: list[_Span] = []
    start, end = first
    for next_start, next_end in rest:
        if next_start > end:
            joined.append((start, end))
            start, end = next_start, next_end
        elif next_end > end:
            end = next_end
    joined.append((start, end))
    return joined


def _merged(intervals: Iterable[Interval]) -> list[_Span]:
    """The intervals as sorted, disjoint spans: one sort, one sweep."""
    return _joined((i.start, i.end) for i in sorted(intervals, key=_START))


def _subtracted(base: list[_Span], cuts: list[_Span]) -> list[_Span]:
    """The parts of `base` outside `cuts`; both sorted and disjoint, as `_joined` gives."""
    cut_ends = [end for _, end in cuts]
    left: list[_Span] = []
    for start, end in base:
        i = bisect_right(cut_ends, start)  # the first cut that ends after `start`
        while i < len(cuts) and cuts[i][0] < end:
            if cuts[i][0] > start:
                left.append((start, cuts[i][0]))
            start = max(start, cuts[i][1])
            i += 1
        if start < end:
            left.append((start, end))
    return left


def merge(intervals: Iterable[Interval]) -> list[Interval]:
    """The same instants as fewest intervals, sorted: overlapping and touching ones joined."""
    return _intervals(_merged(intervals))


def subtract(base: Iterable[Interval], cuts: Iterable[Interval]) -> list[Interval]:
    """The instants of `base` that are in no cut, as merged, sorted intervals."""
    return _intervals(_subtracted(_merged(base), _merged(cuts)))


# --- working hours --------------------------------------------------------------------------


def _offset_at(instant: datetime, zone: ZoneInfo) -> timedelta | None:
    return instant.astimezone(zone).utcoffset()


def _first_change(start: datetime, end: datetime, zone: ZoneInfo) -> datetime:
    """The first instant in (start, end) whose UTC offset differs from start's.

    Bisection to the microsecond; the caller knows the offset differs before `end`.
    """
    before = _offset_at(start, zone)
    same, different = 0, (end - start) // _MICROSECOND - 1
    while different - same > 1:
        middle = (same + different) // 2
        if _offset_at(start + middle * _MICROSECOND, zone) == before:
            same = middle
        else:
            different = middle
    return start + different * _MICROSECOND


def _where_offset_is(span: _Span, offset: timedelta, zone: ZoneInfo) -> list[_Span]:
    """The part of `span` during which `zone` is at `offset` (at most one change inside)."""
    start, end = span
    at_start = _offset_at(start, zone) == offset
    at_end = _offset_at(end - _MICROSECOND, zone) == offset
    if at_start and at_end:
        return [span]
    if not at_start and not at_end:
        return []
    change = _first_change(start, end, zone)
    return [(start, change)] if at_start else [(change, end)]


@functools.lru_cache(maxsize=4096)
def _wall_clock_spans(day: date, start: time, end: time, zone: ZoneInfo) -> tuple[_Span, ...]:
    """The instants whose clock in `zone` reads from `start` to before `end` on `day`.

    Each UTC offset the zone uses at either end of the hours maps the wall-clock span to
    one span of instants; only the part where the zone really is at that offset counts.
    Remembered: a team shares its hours, and every question asks about the same few days.
    """
    wall_start, wall_end = datetime.combine(day, start), datetime.combine(day, end)
    offsets = {
        wall.replace(tzinfo=zone, fold=fold).utcoffset()
        for wall in (wall_start, wall_end)
        for fold in (0, 1)
    }
    spans: list[_Span] = []
    for offset in offsets:
        if offset is None:
            raise ValueError(f"{zone} gives no UTC offset for {day}")
        span = ((wall_start - offset).replace(tzinfo=UTC), (wall_end - offset).replace(tzinfo=UTC))
        spans += _where_offset_is(span, offset, zone)
    return tuple(_joined(sorted(spans)))


@dataclass(frozen=True)
class WorkingHours:
    """Local wall-clock hours on some weekdays (Monday is 0); 09:00-17:00 Mon-Fri by default.

    `start` and `end` are naive times on the same day with `start < end`: hours that
    cross midnight (22:00-06:00) are refused with `ValueError`, as is an end of 00:00.
    """

    start: time = time(9)
    end: time = time(17)
    weekdays: frozenset[int] = field(default=MONDAY_TO_FRIDAY)

    def __post_init__(self) -> None:
        if self.start.tzinfo is not None or self.end.tzinfo is not None:
            raise ValueError("working hours are wall-clock times: give them without a tzinfo")
        if self.start >= self.end:
            raise ValueError(
                f"working hours must end after they start on the same day, got "
                f"{self.start:%H:%M}-{self.end:%H:%M} (hours across midnight are not supported)"
            )
        if not self.weekdays or not self.weekdays <= frozenset(range(7)):
            raise ValueError(f"weekdays must be some of 0 (Monday) to 6, got {self.weekdays}")

    def windows(self, day: date, zone: ZoneInfo) -> list[Interval]:
        """The working time of the local date `day` in `zone`: usually one window, none on
        a day off, two when the hours lie inside a fall-back day's repeated hour."""
        return _intervals(_working_spans(self, day, zone))


def _working_spans(hours: WorkingHours, day: date, zone: ZoneInfo) -> tuple[_Span, ...]:
    """`hours.windows(day, zone)` as spans."""
    if day.weekday() not in hours.weekdays:
        return ()
    return _wall_clock_spans(day, hours.start, hours.end, zone)


# --- free time and slots ----------------------------------------------------------------------


def _earliest_start(now: datetime | None, min_notice: timedelta) -> datetime | None:
    _require_not_negative(min_notice, "min_notice")
    if now is None:
        if min_notice:
            raise ValueError("min_notice needs now: notice counts from the present moment")
        return None
    return _as_utc(now, "now") + min_notice


def _from(spans: list[_Span], earliest: datetime | None) -> list[_Span]:
    if earliest is None:
        return spans
    return [(max(start, earliest), end) for start, end in spans if end > earliest]


def free_windows(
    *,
    days: Iterable[date],
    zone: ZoneInfo,
    hours: WorkingHours,
    busy: Iterable[Interval],
    now: datetime | None = None,
    min_notice: timedelta = timedelta(0),
    buffer: timedelta = timedelta(0),
    time_off: Iterable[Interval] = (),
) -> dict[date, list[Interval]]:
    """Each local day's working windows minus busy time and time off, from
    `now + min_notice` on.

    Every busy interval is widened by `buffer` on both sides (travel, set-up); time off is
    not (it is whole days already). Every day asked for is a key, in the order given; a
    day off or a full day maps to `[]`.
    """
    _require_not_negative(buffer, "buffer")
    earliest = _earliest_start(now, min_notice)
    cuts = _merged(busy)
    if buffer:  # widening the merged spans widens every interval: fewer sums, no new sort
        cuts = _joined((start - buffer, end + buffer) for start, end in cuts)
    away = _merged(time_off)
    if away:
        cuts = _joined(sorted(cuts + away, key=_FIRST))  # two sorted runs: timsort merges them
    free: dict[date, list[Interval]] = {}
    for day in days:
        working = _from(list(_working_spans(hours, day, zone)), earliest)
        free[day] = _intervals(_subtracted(working, cuts))
    return free


def _aligned_from(instant: datetime, zone: ZoneInfo, step: timedelta) -> Iterator[datetime]:
    """Every instant from `instant` on whose local time of day is a multiple of `step`
    after midnight, in order.

    While the offset holds, the clock moves with elapsed time, so the next aligned reading
    is `behind` (or `step`) away. When the offset changes before then, it looks again from
    the change: a clock that goes back may show an aligned reading sooner (1:30 EST, an
    hour after 1:30 EDT, on a 90-minute grid), and one that jumps by a part of `step`
    (Lord Howe's 30 minutes) realigns."""
    local = instant.astimezone(zone)
    while True:
        midnight = local.replace(hour=0, minute=0, second=0, microsecond=0)
        behind = -(local - midnight) % step  # same tzinfo: a wall-clock difference
        if not behind:
            yield instant
            behind = step
        instant, local = _later(instant, local, behind, zone)


def _later(
    instant: datetime, local: datetime, by: timedelta, zone: ZoneInfo
) -> tuple[datetime, datetime]:
    """`instant + by` and its local reading, or the first instant of a new offset before
    it: a wall-clock step holds only while the offset does."""
    later = instant + by
    later_local = later.astimezone(zone)
    if later_local.utcoffset() != local.utcoffset():
        later = _first_change(instant, later + _MICROSECOND, zone)
        later_local = later.astimezone(zone)
    return later, later_local


def next_on_grid(instant: datetime, zone: ZoneInfo, step: timedelta) -> datetime:
    """The first instant at or after `instant` on the `step` grid of the local clock."""
    return next(_aligned_from(_as_utc(instant, "instant"), zone, step))


def _aligned_starts(
    window: _Span, duration: timedelta, zone: ZoneInfo, step: timedelta
) -> Iterator[datetime]:
    """The aligned instants at which a slot of `duration` starts and fits in `window`."""
    start, end = window
    latest = end - duration
    for candidate in _aligned_from(start, zone, step):
        if candidate > latest:
            return
        yield candidate


def fitting_slots(
    free: Iterable[Interval],
    duration: timedelta,
    *,
    zone: ZoneInfo,
    step: timedelta = timedelta(minutes=30),
    limit: int | None = None,
) -> list[Interval]:
    """Slots of exactly `duration` inside the free time, earliest first, at most `limit`.

    Starts are aligned to `step` on the local clock of `zone`. Touching free windows are
    joined first, so a slot may run across the seam.
    """
    _require_positive(duration, "duration")
    _require_positive(step, "step")
    if limit is not None and limit < 0:
        raise ValueError(f"limit must not be negative, got {limit}")
    slots: list[Interval] = []
    for window in _merged(free):
        if window[1] - window[0] < duration:
            continue
        for start in _aligned_starts(window, duration, zone, step):
            if len(slots) == limit:
                return slots
            slots.append(Interval(start, start + duration))
    return slots


def nearest_slots(
    free: Iterable[Interval],
    duration: timedelta,
    around: datetime,
    count: int = 3,
    *,
    zone: ZoneInfo,
    step: timedelta = timedelta(minutes=30),
) -> list[Interval]:
    """The `count` fitting slots whose starts are nearest to `around`, earliest first.

    Of two equally near, the earlier wins. This is what the bot offers after a conflict.
    """
    target = _as_utc(around, "around")
    if count < 0:
        raise ValueError(f"count must not be negative, got {count}")
    slots = fitting_slots(free, duration, zone=zone, step=step)
    nearest = heapq.nsmallest(count, slots, key=lambda s: (abs(s.start - target), s.start))
    return sorted(nearest)


# --- one person's time: the rules, what holds it, and why a time is not free ----------------


@dataclass(frozen=True)
class Rules:
    """How a customer schedules one person: their hours in the customer's zone, the free
    time kept around each booking and busy block, the least lead time, and the grid on
    which slots start."""

    zone: ZoneInfo
    hours: WorkingHours = field(default_factory=WorkingHours)
    buffer: timedelta = timedelta(0)
    notice: timedelta = timedelta(0)
    step: timedelta = DEFAULT_STEP

    def __post_init__(self) -> None:
        _require_not_negative(self.buffer, "buffer")
        _require_not_negative(self.notice, "notice")
        _require_positive(self.step, "step")


@dataclass(frozen=True)
class Labelled:
    """A span and what people call it: a booking and its short id."""

    span: Interval
    label: str = ""


@dataclass(frozen=True)
class TimeOff:
    """Whole local days off, `first` to `last`, both included, and why."""

    first: date
    last: date
    reason: str = ""

    def __post_init__(self) -> None:
        if self.last < self.first:
            raise ValueError(f"time off must end on or after its first day: {self}")

    def span(self, zone: ZoneInfo) -> Interval:
        """From local midnight of the first day to local midnight after the last, however
        long those days are (23 or 25 hours when the clocks change)."""
        start = datetime.combine(self.first, time(0), zone)
        return Interval(start, datetime.combine(self.last + timedelta(days=1), time(0), zone))


@dataclass(frozen=True)
class Commitments:
    """What holds one person's time: their own calendar's busy blocks (None when it can't
    be read: unknown, never free), the bookings made for them, and their time off."""

    busy: Sequence[Interval] | None
    bookings: Sequence[Labelled] = ()
    time_off: Sequence[TimeOff] = ()
    unknown: str = ""
    """Why `busy` is None, in the caller's words (a problem code)."""


class Why(enum.StrEnum):
    """What keeps a time from being free."""

    PAST = "past"
    NOTICE = "notice"
    """Sooner than the least lead time a booking needs."""
    OUTSIDE_HOURS = "outside_hours"
    TIME_OFF = "time_off"
    BOOKING = "booking"
    BUSY = "busy"
    """Their own calendar is busy (its titles are never read)."""
    BUFFER = "buffer"
    """Free time kept before or after a booking or a busy block."""
    UNKNOWN = "unknown"
    """Their calendar can't be read: unknown is not free."""


_WHY_ORDER = {why: n for n, why in enumerate(Why)}


@dataclass(frozen=True)
class Reason:
    """One reason a time is not free, and the span it holds.

    The span is the whole of what blocks: the booking, the busy block, the days off, the
    buffer on one side, the notice from now; for hours, the part of the asked time outside
    them; for the past, the part before now; for an unreadable calendar, the time asked.
    `label` is a booking's short id (BOOKING, and BUFFER around a booking), the reason
    for time off (TIME_OFF), or why a calendar can't be read (UNKNOWN)."""

    why: Why
    span: Interval
    label: str = ""


def free_time(
    days: Iterable[date], rules: Rules, held: Commitments, *, now: datetime
) -> dict[date, list[Interval]] | None:
    """Each local day's free windows for one person (`free_windows` with every rule and
    all that holds their time), or None when their calendar can't be read."""
    if held.busy is None:
        return None
    return free_windows(
        days=days,
        zone=rules.zone,
        hours=rules.hours,
        busy=[*held.busy, *(booking.span for booking in held.bookings)],
        time_off=[off.span(rules.zone) for off in held.time_off],
        now=now,
        min_notice=rules.notice,
        buffer=rules.buffer,
    )


def reasons(asked: Interval, rules: Rules, held: Commitments, *, now: datetime) -> list[Reason]:
    """Every reason `asked` is not free for one person, in the order they end; none when
    it is free: exactly when `free_time` of the days it touches holds all of it."""
    now = _as_utc(now, "now")
    found = _timing_reasons(asked, rules, now)
    found += [Reason(Why.OUTSIDE_HOURS, part) for part in _outside_hours(asked, rules)]
    for off in held.time_off:
        span = off.span(rules.zone)
        if span.overlaps(asked):
            found.append(Reason(Why.TIME_OFF, span, off.reason))
    found += [
        Reason(Why.BOOKING, booking.span, booking.label)
        for booking in held.bookings
        if booking.span.overlaps(asked)
    ]
    busy: list[_Span] = []
    if held.busy is None:
        found.append(Reason(Why.UNKNOWN, asked, held.unknown))
    else:
        busy = _merged(held.busy)
        found += [Reason(Why.BUSY, Interval(*block)) for block in _reaching(busy, asked)]
    found += _buffer_reasons(asked, rules.buffer, busy, held.bookings)
    return sorted(found, key=lambda r: (r.span.end, r.span.start, _WHY_ORDER[r.why], r.label))


def _timing_reasons(asked: Interval, rules: Rules, now: datetime) -> list[Reason]:
    if asked.start < now:
        return [Reason(Why.PAST, Interval(asked.start, min(asked.end, now)))]
    if asked.start < now + rules.notice:
        return [Reason(Why.NOTICE, Interval(now, now + rules.notice))]
    return []


def _outside_hours(asked: Interval, rules: Rules) -> list[Interval]:
    """The parts of `asked` outside working hours (of every local day it touches)."""
    first = asked.start.astimezone(rules.zone).date() - timedelta(days=1)
    last = asked.end.astimezone(rules.zone).date()
    days = (first + timedelta(days=n) for n in range((last - first).days + 1))
    working = _joined(span for day in days for span in _working_spans(rules.hours, day, rules.zone))
    return _intervals(_subtracted([(asked.start, asked.end)], working))


def _reaching(
    blocks: list[_Span], asked: Interval, buffer: timedelta = timedelta(0)
) -> list[_Span]:
    """The merged blocks that, widened by `buffer`, reach into `asked`."""
    reach_start, reach_end = asked.start - buffer, asked.end + buffer
    first = bisect_right([end for _, end in blocks], reach_start)
    return [block for block in blocks[first:] if block[0] < reach_end]


def _buffer_reasons(
    asked: Interval, buffer: timedelta, busy: list[_Span], bookings: Sequence[Labelled]
) -> list[Reason]:
    """The buffer before and after each stretch of busy time and bookings that reaches into
    `asked`. The stretches are merged first, as `free_windows` widens them, so no buffer
    is reported inside the stretch it surrounds. A side that a booking starts or ends is
    that booking's (a booking is on their own calendar too: one buffer, the booking's)."""
    if not buffer:
        return []
    starting = {booking.span.start: booking.label for booking in reversed(bookings)}
    ending = {booking.span.end: booking.label for booking in reversed(bookings)}
    booked = _merged(booking.span for booking in bookings)
    stretches = _joined(sorted(busy + booked, key=_FIRST))  # two sorted runs: timsort merges them
    found: list[Reason] = []
    for start, end in _reaching(stretches, asked, buffer):
        before = Interval(start - buffer, start)
        if before.overlaps(asked):
            found.append(Reason(Why.BUFFER, before, starting.get(start, "")))
        after = Interval(end, end + buffer)
        if after.overlaps(asked):
            found.append(Reason(Why.BUFFER, after, ending.get(end, "")))
    return found


def count_fitting(
    free: Iterable[Interval], duration: timedelta, *, zone: ZoneInfo, step: timedelta
) -> int:
    """How many slots of `duration`, one after another, fit in the free time, each starting
    on the `step` grid: the digest's count of shoots that still fit."""
    _require_positive(duration, "duration")
    _require_positive(step, "step")
    count = 0
    for start, end in _merged(free):
        candidate = next_on_grid(start, zone, step)
        while candidate + duration <= end:
            count += 1
            candidate = next_on_grid(candidate + duration, zone, step)
    return count


# --- formatting ----------------------------------------------------------------------------


def _is_ambiguous(local: datetime) -> bool:
    """Whether the clock shows this reading twice (the repeated hour of a fall-back)."""
    return local.replace(fold=1 - local.fold).utcoffset() != local.utcoffset()


def _clock_text(local: datetime, clock: Clock) -> str:
    if clock == "24h":
        text = f"{local.hour}:{local.minute:02d}"
    else:
        hour = local.hour % 12 or 12
        minutes = f":{local.minute:02d}" if local.minute else ""
        text = f"{hour}{minutes}{'am' if local.hour < 12 else 'pm'}"
    return f"{text} {local.tzname()}" if _is_ambiguous(local) else text


def _days_later_text(days: int) -> str:
    return "" if days == 0 else " (next day)" if days == 1 else f" (+{days} days)"


def format_range(interval: Interval, zone: ZoneInfo, clock: Clock = "24h") -> str:
    """`9:00–10:00` or `9am–10am`, `2:30pm–4pm`, in `zone`, to the minute, with an en dash.

    A range that ends on a later local day says so (`22:00–1:00 (next day)`), except
    that an end at the following midnight reads `24:00` on the 24-hour clock. A reading
    that the clock shows twice (a fall-back's repeated hour) carries its zone
    abbreviation: `1:30 EDT–1:30 EST`.
    """
    if clock not in ("24h", "12h"):
        raise ValueError(f"clock must be '24h' or '12h', got {clock!r}")
    start, end = interval.start.astimezone(zone), interval.end.astimezone(zone)
    days_later = (end.date() - start.date()).days
    if clock == "24h" and days_later == 1 and end.time() == time(0):
        return f"{_clock_text(start, clock)}–24:00"
    return f"{_clock_text(start, clock)}–{_clock_text(end, clock)}{_days_later_text(days_later)}"
