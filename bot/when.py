"""The words of a `/tonomo` command that say when: days, weeks, times, durations, mentions.

Pure: no Slack payloads, no I/O, no clock (the caller passes `today`, the customer's local
date). Words are case-insensitive. Every parser returns a value or raises `WhenError`, whose
`problem` is a short plain-text sentence for a non-technical person that shows the right form,
and whose `usage` is the accepted forms, ready for `Invalid(problem, usage)`. A problem may
quote the user's word (shortened, otherwise untouched): escape it before it goes into mrkdwn,
as `build_invalid` does, so a typed `<!channel>` pings no one.

Decisions:
- DAY: `today`, `tomorrow`, a weekday (`monday`, `mon`; also `tues`, `thur`, `thurs`) meaning
  its next occurrence with today included, or `YYYY-MM-DD` (`2026-12-1` accepted too). Every
  DAY is refused when it is before `today` or more than `MAX_DAYS_AHEAD` days after it: no
  command of the bot looks at the past, and a year ahead is as far as a booking goes.
- WEEK: `this week` is what is left of this Monday-to-Sunday week, from the first day with
  working time still ahead (`works`, which the caller builds from working hours and the
  time now) to its last working day; when none is left (a Sunday, a Friday evening) it is
  the coming working week. `next week` is the week after that one. Without `works`, every
  day counts: today to Sunday, and next Monday to Sunday.
- Before the customer's timezone is known (a request not yet acknowledged), `check_range`
  says whether the words are days at all, against `around`, a UTC date: it refuses what is
  wrong in every timezone, and leaves the rest to `parse_range`.
- TIME: `H:MM`/`HH:MM` on a 24-hour clock (`0:00`-`23:59`, no `24:00`), or `9am`, `9:30am`,
  with `12am` midnight and `12pm` noon. A bare number (`9`) is refused as ambiguous.
- DURATION: hours and minutes, `30m`, `1h`, `1h30m`, `90m`, `30min`, and decimal hours that
  make whole minutes (`1.5h`). From 1 minute to `MAX_DURATION` (12 hours) inclusive.
- Local moments: a wall time that doesn't exist (clocks jump forward) is refused, suggesting
  the time the clocks show right after the jump; one that happens twice (clocks go back) is
  the first occurrence (`fold=0`, before the change), and `repeated_time_note` says so.
- CLOCK: how times are written to a customer, `12h` (`2:30pm`) or `24h` (`14:30`). Unless
  the customer chose one (`settings clock`), it follows the country of their timezone: the
  zone's country in tzdata's `zone.tab` (shipped with the `tzdata` package), and 12-hour
  only in the countries where that is how people write times (`TWELVE_HOUR_COUNTRIES`: the
  US and its territories, Canada, Australia, New Zealand, India, Pakistan, Bangladesh, the
  Philippines, Malaysia, Egypt, Saudi Arabia); everywhere else, UTC and unknown zones
  included, 24-hour. Slack gives a timezone, not a locale, so the zone is what there is.
- Mentions: every `<@U…>` / `<@U…|name>` word is taken, in order, once each; other words,
  `<!channel>` included, come back untouched.
"""

from __future__ import annotations

import calendar
import difflib
import re
from collections.abc import Callable, Iterable, Sequence
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from functools import cache
from importlib import resources
from typing import Literal, get_args
from zoneinfo import ZoneInfo

Clock = Literal["12h", "24h"]
"""How times are written: `2:30pm` or `14:30`."""
CLOCKS: tuple[Clock, ...] = get_args(Clock)

TWELVE_HOUR_COUNTRIES = frozenset(
    {"US", "PR", "GU", "VI", "AS", "MP", "UM", "CA", "AU", "NZ", "IN", "PK", "BD", "PH", "MY"}
    | {"EG", "SA"}
)
"""ISO country codes whose people write times on the 12-hour clock."""

_LEGACY_ZONE_COUNTRIES = {"US/": "US", "Canada/": "CA", "Australia/": "AU", "NZ": "NZ"}
"""Old zone names (links, not in `zone.tab`) by prefix."""
_LEGACY_ZONES = {"Asia/Calcutta": "IN", "Asia/Dacca": "BD"}

MAX_DAYS_AHEAD = 366
"""The furthest DAY, in days after today: the same date next year always fits."""

MAX_DURATION = timedelta(hours=12)
"""The longest booking or free slot asked for."""
_MAX_MINUTES = MAX_DURATION // timedelta(minutes=1)

TIME_FORMS = "9:00 | 13:30 | 9am | 2:30pm"
DURATION_FORMS = "30m | 1h | 1h30m | 90m"

_WEEKDAYS = {
    name: number
    for number, names in enumerate(
        [
            ("monday", "mon"),
            ("tuesday", "tue", "tues"),
            ("wednesday", "wed"),
            ("thursday", "thu", "thur", "thurs"),
            ("friday", "fri"),
            ("saturday", "sat"),
            ("sunday", "sun"),
        ]
    )
    for name in names
}
_RELATIVE_DAYS = {"today": 0, "tomorrow": 1}
_EXAMPLE_DAY = date(2026, 1, 1)
"""The day examples are drawn from when a word is checked without knowing today."""
_DAY_WORDS = [*_RELATIVE_DAYS, *_WEEKDAYS]

_ISO_DATE = re.compile(r"([0-9]{4})-([0-9]{1,2})-([0-9]{1,2})")
_CLOCK_24H = re.compile(r"([0-9]{1,2}):([0-9]{2})")
_CLOCK_12H = re.compile(r"([0-9]{1,2})(?::([0-9]{2}))?(am|pm)")
_DURATION = re.compile(r"(?:([0-9]+(?:\.[0-9]+)?)h)?(?:([0-9]+)(?:m|min))?")
_MENTION = re.compile(r"<@([UW][A-Z0-9]+)(?:\|[^<>]*)?>")
_WORD = re.compile(r"<[^<>]*>|\S+")


class WhenError(ValueError):
    """A word that isn't a day, time or duration the bot takes: why, and the forms it takes."""

    def __init__(self, problem: str, usage: str) -> None:
        super().__init__(problem)
        self.problem = problem
        self.usage = usage


def tokenize(text: str) -> list[str]:
    """The words of a command; extra spaces ignored, a Slack `<…>` entity kept as one word."""
    return _WORD.findall(text)


def parse_mentions(words: Iterable[str]) -> tuple[list[str], list[str]]:
    """The user ids mentioned (in order, once each) and the other words, untouched.

    Every mention counts: to keep mentions inside free text (a booking title), pass only
    the words before it.
    """
    user_ids: list[str] = []
    rest: list[str] = []
    for word in words:
        match = _MENTION.fullmatch(word)
        if match is None:
            rest.append(word)
        elif match[1] not in user_ids:
            user_ids.append(match[1])
    return user_ids, rest


def parse_day(word: str, *, today: date) -> date:
    """The date a DAY word names, from `today` (the customer's local date) on."""
    key = word.strip().lower()
    if key in _RELATIVE_DAYS:
        return today + timedelta(days=_RELATIVE_DAYS[key])
    if key in _WEEKDAYS:
        return today + timedelta(days=(_WEEKDAYS[key] - today.weekday()) % 7)
    match = _ISO_DATE.fullmatch(key)
    if match is None:
        raise _unknown_day(word, today)
    year, month, day = (int(part) for part in match.groups())
    return _bookable(word, _valid_date(word, year, month, day, today), today)


Works = Callable[[date], bool]
"""Whether some working time is still ahead on a day (none on a day off, nor after hours)."""


def parse_week(
    words: Sequence[str], *, today: date, works: Works | None = None
) -> tuple[date, ...]:
    """The days of `this week` or `next week` (see the module's decisions)."""
    key = [word.lower() for word in words]
    if key not in (["this", "week"], ["next", "week"]):
        raise _unknown_range(words, today)
    works = works or (lambda _: True)
    monday = today - timedelta(days=today.weekday())
    rest = [day for day in _days(today, 7 - today.weekday()) if works(day)]
    if not rest:
        monday += timedelta(days=7)
        rest = [day for day in _days(monday, 7) if works(day)]
    if key[0] == "this" and rest:
        return _days(rest[0], (rest[-1] - rest[0]).days + 1)
    if key[0] == "next":
        monday += timedelta(days=7)
    week = _days(monday, 7)
    working = [day for day in week if works(day)]
    return _days(working[0], (working[-1] - working[0]).days + 1) if working else week


def parse_range(
    words: Sequence[str], *, today: date, works: Works | None = None
) -> tuple[date, ...]:
    """The days of `[DAY | this week | next week]`: no words is today.

    A DAY's `WhenError` keeps its problem, and its usage gains the week forms.
    """
    if not words:
        return (today,)
    if len(words) > 1:
        return parse_week(words, today=today, works=works)
    try:
        return (parse_day(words[0], today=today),)
    except WhenError as error:
        raise WhenError(error.problem, f"{error.usage} | this week | next week") from None


def check_day(word: str, *, around: date | None) -> None:
    """Raise `WhenError` unless `word` is a DAY on some timezone's today, `around` being
    the date in UTC (every timezone's date is within a day of it); with `around` None,
    unless it is a word for a day or a real date."""
    key = word.strip().lower()
    if key in _RELATIVE_DAYS or key in _WEEKDAYS:
        return
    example = around or _EXAMPLE_DAY
    match = _ISO_DATE.fullmatch(key)
    if match is None:
        raise _unknown_day(word, example)
    year, month, day = (int(part) for part in match.groups())
    named = _valid_date(word, year, month, day, example, past=False)
    if around is None:
        return
    if named < around - timedelta(days=1):
        raise WhenError(
            f"`{_shown(word)}` is in the past. Pick today or a later day.", _day_forms(around)
        )
    _bookable(word, named, around + timedelta(days=1))


def check_range(words: Sequence[str], *, around: date | None) -> None:
    """Raise `WhenError` unless `words` are `[DAY | this week | next week]` on some
    timezone's today (`around` is the date in UTC), as `parse_range` would."""
    if len(words) > 1:
        parse_week(words, today=around or _EXAMPLE_DAY)
    elif words:
        try:
            check_day(words[0], around=around)
        except WhenError as error:
            raise WhenError(error.problem, f"{error.usage} | this week | next week") from None


def parse_time(word: str) -> time:
    """The time of day a TIME word names: `13:30`, `9:00`, `9am`, `2:30pm`."""
    key = word.strip().lower()
    if match := _CLOCK_24H.fullmatch(key):
        return _clock_time(word, int(match[1]), int(match[2]))
    if match := _CLOCK_12H.fullmatch(key):
        hour, minute = int(match[1]), int(match[2] or 0)
        if not 1 <= hour <= 12:
            raise _bad_12h_hour(word, hour, minute)
        return _clock_time(word, hour % 12 + (12 if match[3] == "pm" else 0), minute)
    raise WhenError(
        f"I don't understand `{_shown(word)}` as a time. "
        "Use a 24-hour time like 13:30, or am/pm like 9am or 2:30pm.",
        TIME_FORMS,
    )


def parse_duration(word: str) -> timedelta:
    """The length a DURATION word names: `30m`, `1h`, `1h30m`, `90m`, `1.5h`."""
    key = word.strip().lower()
    unsigned = key.removeprefix("-")
    match = _DURATION.fullmatch(unsigned)
    if not unsigned or match is None:
        raise _duration_error(f"I don't understand `{_shown(word)}` as a length of time.")
    if unsigned != key:
        raise _duration_error(f"`{_shown(word)}` is a negative length.")
    minutes = Decimal(match[1] or 0) * 60 + Decimal(match[2] or 0)
    if minutes > _MAX_MINUTES:
        raise _duration_error(
            f"`{_shown(word)}` is longer than {format_duration(MAX_DURATION)}, the longest I take."
        )
    if minutes != minutes.to_integral_value():
        raise _duration_error(f"`{_shown(word)}` isn't a whole number of minutes.")
    if minutes == 0:
        raise _duration_error(f"`{_shown(word)}` is no time at all.")
    return timedelta(minutes=int(minutes))


def local_moment(day: date, at: time, zone: ZoneInfo, clock: Clock = "24h") -> datetime:
    """The aware moment the clocks in `zone` show `at` on `day`.

    A time that happens twice is the first one (see `repeated_time_note`); one that doesn't
    happen, because the clocks jump forward over it, raises `WhenError` (its times written
    on `clock`). `day` is one that `parse_day` gives (within a year of today), far from the
    ends of `datetime`'s range.
    """
    wall = datetime.combine(day, at.replace(tzinfo=None, fold=0))
    moment = wall.replace(tzinfo=zone)
    if moment.astimezone(UTC).astimezone(zone).replace(tzinfo=None) != wall:
        raise _skipped_time(wall, zone, clock)
    return moment


def repeated_time_note(moment: datetime, clock: Clock = "24h") -> str | None:
    """For a moment from `local_moment` whose time happens twice: which one it is."""
    zone = moment.tzinfo
    if not isinstance(zone, ZoneInfo) or moment.utcoffset() == moment.replace(fold=1).utcoffset():
        return None
    wall = moment.replace(tzinfo=None)
    before, after = _clock_change(wall, zone)
    return (
        f"{format_time(wall.time(), clock)} happens twice on {wall.date().isoformat()} in "
        f"{zone}: the clocks go back from {format_time(before.time(), clock)} to "
        f"{format_time(after.time(), clock)}. I used the first one, before they go back."
    )


def format_time_24h(at: time) -> str:
    """`9:00`, `13:30`: the 24-hour form `parse_time` takes."""
    return f"{at.hour}:{at.minute:02d}"


def format_time_12h(at: time) -> str:
    """`9am`, `2:30pm`, `12am` (midnight), `12pm` (noon): the am/pm form `parse_time` takes."""
    minutes = f":{at.minute:02d}" if at.minute else ""
    return f"{at.hour % 12 or 12}{minutes}{'am' if at.hour < 12 else 'pm'}"


def format_time(at: time, clock: Clock) -> str:
    """`at` as `clock` writes it: `14:30` or `2:30pm`."""
    return format_time_12h(at) if clock == "12h" else format_time_24h(at)


def default_clock(timezone_name: str) -> Clock:
    """The clock people write times on where `timezone_name` is (see CLOCK above)."""
    country = _zone_countries().get(timezone_name) or _LEGACY_ZONES.get(timezone_name)
    if country is None:
        prefix = next((p for p in _LEGACY_ZONE_COUNTRIES if timezone_name.startswith(p)), None)
        country = _LEGACY_ZONE_COUNTRIES[prefix] if prefix else None
    return "12h" if country in TWELVE_HOUR_COUNTRIES else "24h"


@cache
def _zone_countries() -> dict[str, str]:
    """Zone name → ISO country code, from tzdata's `zone.tab` (one country per zone)."""
    try:
        text = resources.files("tzdata").joinpath("zoneinfo", "zone.tab").read_text("utf-8")
    except (ModuleNotFoundError, OSError):
        return {}
    countries = {}
    for line in text.splitlines():
        if line and not line.startswith("#"):
            code, _, zone = line.split("\t")[:3]
            countries[zone] = code
    return countries


def format_duration(length: timedelta) -> str:
    """`30m`, `1h`, `1h30m`: the canonical DURATION form, in whole minutes."""
    hours, minutes = divmod(int(length / timedelta(minutes=1)), 60)
    return (f"{hours}h" if hours else "") + (f"{minutes}m" if minutes or not hours else "")


def _shown(word: str) -> str:
    word = word.strip()
    return word if len(word) <= 40 else word[:40] + "…"


def _day_forms(today: date) -> str:
    return f"today | tomorrow | friday | {(today + timedelta(days=1)).isoformat()}"


def _date_form(today: date) -> str:
    return f"Use YYYY-MM-DD, like {(today + timedelta(days=1)).isoformat()}."


def _unknown_day(word: str, today: date) -> WhenError:
    key = word.strip().lower()
    close = difflib.get_close_matches(key, _DAY_WORDS, n=1) if len(key) < 20 else []
    hint = (
        f" Did you mean `{close[0]}`?"
        if close
        else " Use today, tomorrow, a weekday like friday, or a date as YYYY-MM-DD."
    )
    return WhenError(f"I don't understand `{_shown(word)}` as a day.{hint}", _day_forms(today))


def _valid_date(
    word: str, year: int, month: int, day: int, today: date, *, past: bool = True
) -> date:
    if not 1 <= month <= 12:
        raise WhenError(
            f"`{_shown(word)}` isn't a date: months go from 01 to 12. {_date_form(today)}",
            _day_forms(today),
        )
    length = calendar.monthrange(year, month)[1]
    if not 1 <= day <= length:
        raise WhenError(
            f"`{_shown(word)}` isn't a date: {calendar.month_name[month]} {year} has {length} days. "
            f"{_date_form(today)}",
            _day_forms(today),
        )
    if past and (year, month, day) < (today.year, today.month, today.day):
        raise _past(word, today)
    return date(year, month, day)


def _bookable(word: str, day: date, today: date) -> date:
    last = today + timedelta(days=MAX_DAYS_AHEAD)
    if day > last:
        raise WhenError(
            f"`{_shown(word)}` is more than a year away: I look as far as {last.isoformat()}.",
            _day_forms(today),
        )
    return day


def _past(word: str, today: date) -> WhenError:
    return WhenError(
        f"`{_shown(word)}` is in the past. Pick today ({today.isoformat()}) or a later day.",
        _day_forms(today),
    )


def _days(first: date, count: int) -> tuple[date, ...]:
    return tuple(first + timedelta(days=n) for n in range(count))


def _unknown_range(words: Sequence[str], today: date) -> WhenError:
    return WhenError(
        f"I don't understand `{_shown(' '.join(words))}` as days. "
        "Use a day (today, tomorrow, friday or a YYYY-MM-DD date), this week or next week.",
        f"{_day_forms(today)} | this week | next week",
    )


def _clock_time(word: str, hour: int, minute: int) -> time:
    if hour > 23:
        raise WhenError(
            f"`{_shown(word)}` isn't a time: hours go from 0 to 23 (midnight is 0:00).",
            TIME_FORMS,
        )
    if minute > 59:
        raise WhenError(f"`{_shown(word)}` isn't a time: minutes go from 00 to 59.", TIME_FORMS)
    return time(hour, minute)


def _bad_12h_hour(word: str, hour: int, minute: int) -> WhenError:
    hint = ""
    if hour < 24 and minute < 60:
        meant = time(hour, minute)
        hint = f" Did you mean {format_time_24h(meant)} ({format_time_12h(meant)})?"
    return WhenError(
        f"`{_shown(word)}` isn't a time: with am or pm, hours go from 1 to 12.{hint}",
        TIME_FORMS,
    )


def _duration_error(problem: str) -> WhenError:
    return WhenError(
        f"{problem} Use a length from 1m to {format_duration(MAX_DURATION)}, "
        "like 30m, 1h, 1h30m or 90m.",
        DURATION_FORMS,
    )


def _skipped_time(wall: datetime, zone: ZoneInfo, clock: Clock) -> WhenError:
    before, after = _clock_change(wall, zone)
    return WhenError(
        f"{format_time(wall.time(), clock)} doesn't exist on {wall.date().isoformat()} in "
        f"{zone}: the clocks jump forward from {format_time(before.time(), clock)} to "
        f"{format_time(after.time(), clock)}. The nearest time that does is "
        f"{format_time(after.time(), clock)}.",
        format_time_24h(after.time()),
    )


def _clock_change(wall: datetime, zone: ZoneInfo) -> tuple[datetime, datetime]:
    """The wall clock just before and just after the change of UTC offset around `wall`."""
    early, late = sorted(int(wall.replace(tzinfo=zone, fold=fold).timestamp()) for fold in (0, 1))
    new_offset = _offset(late, zone)
    while late - early > 1:
        middle = (early + late) // 2
        if _offset(middle, zone) == new_offset:
            late = middle
        else:
            early = middle
    change = datetime.fromtimestamp(late, UTC).replace(tzinfo=None)
    return change + _offset(early, zone), change + new_offset


def _offset(timestamp: int, zone: ZoneInfo) -> timedelta:
    offset = datetime.fromtimestamp(timestamp, zone).utcoffset()
    assert offset is not None
    return offset
