"""Recurring events as Google Calendar expands them, with python-dateutil's `rrulestr`.

A recurring event (Google calls it the series' master) carries RFC 5545 lines in its
`recurrence` field: `RRULE:…`, `EXRULE:…`, `RDATE…` and `EXDATE…`. Google expands them
itself, and the emulator must agree with it instance for instance:

- Wall clocks, not instants. A timed series repeats on the wall clock of its start's
  `timeZone`: a weekly 09:00 meeting in New York is at 09:00 local before and after the
  clocks change, so its UTC instant moves by an hour. That is why Google refuses a
  recurring event without a time zone. So the rules are expanded on naive wall-clock
  times (dateutil repeats them as they are), and each instance becomes an instant only
  afterwards, in that zone. An all-day series repeats whole days; its days become
  instants in the calendar's zone, as single all-day events do.
- Every date in the lines is brought onto that wall clock first: `UNTIL=…Z` and
  `EXDATE…Z` (UTC), `EXDATE;TZID=Zone:…` (another zone) and bare dates
  (`EXDATE;VALUE=DATE:20300603`: that day's instance; `UNTIL=20300603`: through that
  day), so dateutil compares like with like.
- The event's own start is always its first instance, even when the rule would skip it
  (an event on a Monday with `BYDAY=TU,TH` shows on that Monday too), as RFC 5545's
  DTSTART is and as Google shows it.
- Endless rules are cut where a query stops (`through`): expanding costs only what the
  window holds, never "all time".

An instance's id is `{eventId}_{original start}`: the start's UTC time
(`20300603T130000Z`) for a timed series, its date (`20300603`) for an all-day one.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from dateutil.parser import isoparse
from dateutil.rrule import rruleset, rrulestr

# Google's calendars repeat daily at the finest; sub-daily rules are refused.
FREQUENCIES = frozenset({"DAILY", "WEEKLY", "MONTHLY", "YEARLY"})
_WALL_CLOCK = "%Y%m%dT%H%M%S"  # how a naive wall-clock time is written back for dateutil
_SLACK = timedelta(days=1)  # a wall clock and an instant differ by less than a day


class RecurrenceError(ValueError):
    """A recurrence Google would refuse: "Invalid recurrence rule."."""


def instance_day(instance: str) -> date | None:
    """The day an instance id names (its original start's UTC date, or its date)."""
    try:
        return datetime.strptime(instance.rpartition("_")[2][:8], "%Y%m%d").date()
    except ValueError:
        return None


def instance_id(event_id: str, original_start: datetime | date) -> str:
    """The id Google gives one instance of a recurring event, from its original start:
    `{id}_{UTC start}` for a timed series (an aware datetime), `{id}_{date}` all day."""
    if isinstance(original_start, datetime):
        if original_start.tzinfo is None:
            raise ValueError("an instance's original start must be timezone-aware")
        return f"{event_id}_{original_start.astimezone(UTC):%Y%m%dT%H%M%SZ}"
    return f"{event_id}_{original_start:%Y%m%d}"


@dataclass(frozen=True)
class Series:
    """A recurring event's instances, each known by its wall-clock original start.

    `rules` yields naive wall-clock starts in `zone` (an all-day series: midnights, in the
    calendar's zone); `length` is an instance's wall-clock length (whole days all day).
    """

    rules: rruleset
    zone: ZoneInfo
    length: timedelta
    all_day: bool

    def wall_clock(self, moment: datetime) -> datetime:
        return moment.astimezone(self.zone).replace(tzinfo=None)

    def span(self, original: datetime) -> tuple[datetime, datetime]:
        """When an instance starts and ends, as instants."""
        return original.replace(tzinfo=self.zone), (original + self.length).replace(
            tzinfo=self.zone
        )

    def instance_id(self, event_id: str, original: datetime) -> str:
        start = original.date() if self.all_day else self.span(original)[0]
        return instance_id(event_id, start)

    def originals(self, time_min: datetime | None, time_max: datetime) -> Iterator[datetime]:
        """The original starts of the instances that overlap [time_min, time_max), in order.

        Bounded by `time_max`: an endless rule costs what the window holds (the series must
        have been parsed `through` at least `time_max` for the rules themselves to stop).
        """
        until = self.wall_clock(time_max) + _SLACK
        if time_min is None:
            candidates: Iterator[datetime] = iter(self.rules)
        else:
            after = self.wall_clock(time_min) - self.length - _SLACK
            candidates = self.rules.xafter(after, inc=True)
        for original in candidates:
            if original > until:
                return
            start, end = self.span(original)
            if (time_min is None or end > time_min) and start < time_max:
                yield original

    def original_of(self, event_id: str, instance: str) -> datetime | None:
        """The original start of the instance with this id, if the series has it."""
        prefix, _, suffix = instance.rpartition("_")
        if prefix != event_id:
            return None
        try:
            if self.all_day:
                named = datetime.strptime(suffix, "%Y%m%d")
            else:
                moment = datetime.strptime(suffix, "%Y%m%dT%H%M%SZ").replace(tzinfo=UTC)
                named = self.wall_clock(moment)
        except ValueError:
            return None
        for original in self.rules.xafter(named - _SLACK, inc=True):
            if original > named + _SLACK:
                return None
            if self.instance_id(event_id, original) == instance:
                return original
        return None


def parse_series(
    lines: Sequence[str],
    *,
    start: datetime,
    end: datetime,
    zone: ZoneInfo,
    all_day: bool,
    through: datetime | None = None,
) -> Series:
    """The series these recurrence lines make of an event from `start` to `end` (instants).

    `zone` is the start's time zone (all day: the calendar's). `through` cuts every rule
    without a COUNT there, so that expanding stops where a query does. Raises
    `RecurrenceError` for anything Google refuses as an invalid recurrence rule.
    """
    first = start.astimezone(zone).replace(tzinfo=None)
    length = end.astimezone(zone).replace(tzinfo=None) - first
    cut = None if through is None else through.astimezone(zone).replace(tzinfo=None) + _SLACK
    text = "\n".join(_wall_clock_line(line, zone, all_day, first, cut) for line in lines)
    try:
        rules = rrulestr(text, dtstart=first, forceset=True)
    except (ValueError, TypeError, KeyError, OverflowError) as err:
        raise RecurrenceError(f"invalid recurrence: {err}") from err
    rules.rdate(first)  # the event itself is always the first instance
    return Series(rules=rules, zone=zone, length=length, all_day=all_day)


def _wall_clock_line(
    line: str, zone: ZoneInfo, all_day: bool, first: datetime, cut: datetime | None
) -> str:
    """One recurrence line with every date on the series' wall clock, as dateutil reads it."""
    name, colon, value = line.strip().partition(":")
    prop, *params = name.split(";")
    prop = prop.strip().upper()
    if not colon or not value:
        raise RecurrenceError(f"not a recurrence line: {line!r}")
    if prop in ("RRULE", "EXRULE"):
        if params:
            raise RecurrenceError(f"{prop} takes no parameters: {line!r}")
        return f"{prop}:{_wall_clock_rule(value, zone, all_day, cut)}"
    if prop in ("RDATE", "EXDATE"):
        moments = _wall_clock_dates(params, value, zone, all_day, first)
        return f"{prop}:" + ",".join(moment.strftime(_WALL_CLOCK) for moment in moments)
    raise RecurrenceError(f"unsupported recurrence property: {prop}")


def _wall_clock_rule(value: str, zone: ZoneInfo, all_day: bool, cut: datetime | None) -> str:
    """A rule's parts checked as Google checks them, UNTIL on the wall clock (and cut)."""
    parts: dict[str, str] = {}
    for part in value.strip().upper().split(";"):
        key, equals, text = part.partition("=")
        if not equals or not text:
            raise RecurrenceError(f"not a rule part: {part!r}")
        parts[key] = text
    if parts.get("FREQ") not in FREQUENCIES:
        raise RecurrenceError(f"unsupported frequency: {parts.get('FREQ')}")
    for key in ("COUNT", "INTERVAL"):
        if key in parts and not (parts[key].isdigit() and int(parts[key]) > 0):
            raise RecurrenceError(f"{key} must be a positive number")
    if "COUNT" in parts and "UNTIL" in parts:
        raise RecurrenceError("COUNT and UNTIL exclude each other (RFC 5545)")
    if "UNTIL" in parts:
        parts["UNTIL"] = _wall_clock_until(parts["UNTIL"], zone, all_day)
    if cut is not None and "COUNT" not in parts:
        parts["UNTIL"] = min(parts.get("UNTIL", "99991231T235959"), cut.strftime(_WALL_CLOCK))
    return ";".join(f"{key}={text}" for key, text in parts.items())


def _wall_clock_until(text: str, zone: ZoneInfo, all_day: bool) -> str:
    moment = _iso(text)
    if moment.tzinfo is not None:
        moment = moment.astimezone(zone).replace(tzinfo=None)
    elif len(text) == 8 and not all_day:  # a bare date bounds a timed series through that day
        moment = datetime.combine(moment.date(), time(23, 59, 59))
    return moment.strftime(_WALL_CLOCK)


def _wall_clock_dates(
    params: list[str], value: str, zone: ZoneInfo, all_day: bool, first: datetime
) -> list[datetime]:
    """RDATE or EXDATE values: UTC, `TZID=`, floating (the series' zone) or bare dates."""
    named_zone: ZoneInfo | None = None
    for param in params:
        key, _, text = param.partition("=")
        key = key.strip().upper()
        if key == "TZID":
            try:
                named_zone = ZoneInfo(text.strip())
            except (ZoneInfoNotFoundError, ValueError) as err:
                raise RecurrenceError(f"unknown time zone: {text}") from err
        elif key != "VALUE" or text.strip().upper() not in ("DATE", "DATE-TIME"):
            raise RecurrenceError(f"unsupported parameter: {param}")
    moments = []
    for text in value.split(","):
        text = text.strip()
        moment = _iso(text)
        if len(text) == 8:  # a date: that day's instance
            moment = datetime.combine(moment.date(), first.time())
        else:
            if named_zone is not None and moment.tzinfo is None:
                moment = moment.replace(tzinfo=named_zone)
            if moment.tzinfo is not None:
                moment = moment.astimezone(zone).replace(tzinfo=None)
            if all_day:
                moment = datetime.combine(moment.date(), time())
        moments.append(moment)
    return moments


def _iso(text: str) -> datetime:
    """An RFC 5545 date or date-time (`20300603`, `20300603T090000`, `…Z`)."""
    try:
        return isoparse(text)
    except (ValueError, OverflowError) as err:
        raise RecurrenceError(f"not a date or date-time: {text!r}") from err
