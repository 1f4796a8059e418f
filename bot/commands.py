"""The text of a `/tonomo` command -> a typed command.

Pure: no Slack payloads, no I/O, no clock. Words are case-insensitive and extra spaces
are ignored; a Slack entity (`<@U123|ana>`) is one word. Anything that is not a command
gets an `Invalid` that says what was wrong and shows the right form; `parse` never
raises. Day words stay as typed (which date `tomorrow` is depends on the customer's
timezone, and `this week` on their working hours); `bot/` resolves them with `bot.when`.
Whether they are days at all is checked here, so that a mistake is the acknowledgement's
own answer: given `around` (today's date in UTC), a date that is past, or too far ahead, in
every timezone is refused too.
"""

from __future__ import annotations

import calendar
import difflib
import re
import zoneinfo
from dataclasses import dataclass
from datetime import date, time, timedelta
from decimal import Decimal
from typing import Any

from bot import when
from storage.models import ConnectionKind


@dataclass(frozen=True)
class Help:
    pass


@dataclass(frozen=True)
class ConnectCalendar:
    kind: ConnectionKind


@dataclass(frozen=True)
class Disconnect:
    kind: ConnectionKind


@dataclass(frozen=True)
class Status:
    pass


@dataclass(frozen=True)
class Availability:
    """`availability [@user …] [DAY | this week | next week] [DURATION]`.

    `when` keeps the day words as typed: which date `tomorrow` is depends on the
    customer's timezone, so `bot/` resolves them with `when.parse_range`.
    """

    user_ids: tuple[str, ...] = ()
    when: tuple[str, ...] = ()
    duration: timedelta | None = None


@dataclass(frozen=True)
class Book:
    """`book @user DAY TIME DURATION TITLE…`; `day` is resolved like `Availability.when`."""

    user_id: str
    day: str
    at: time
    duration: timedelta
    title: str


@dataclass(frozen=True)
class BookForm:
    """`book` alone: the booking modal."""


@dataclass(frozen=True)
class BookAnyone:
    """`book anyone [@user …] DAY TIME DURATION TITLE…`: one free person among them, chosen
    fairly by `bot/`; `day` is resolved like `Book.day`."""

    user_ids: tuple[str, ...]
    """Whom to choose among; () for every connected staff member."""
    day: str
    at: time
    duration: timedelta
    title: str


@dataclass(frozen=True)
class Cancel:
    short_id: str


@dataclass(frozen=True)
class Move:
    """`move BOOKING DAY TIME`: the booking keeps its length; `day` is resolved like `Book.day`."""

    short_id: str
    """Upper-cased, like `Cancel.short_id`."""
    day: str
    at: time


@dataclass(frozen=True)
class Why:
    """`why @user DAY TIME [DURATION]`: every reason that time is, or is not, free for them."""

    user_id: str
    day: str
    at: time
    duration: timedelta | None = None
    """None: one slot step (the customer's `settings step`)."""


@dataclass(frozen=True)
class AddTimeOff:
    """`timeoff [@user] DAY[..DAY] [REASON…]`: whole local days off, both ends included."""

    user_id: str | None
    """None: the person asking (written without a mention)."""
    first: str
    """Day words as typed (`2026-12-24`, `monday`, `tomorrow`), resolved like `Book.day`."""
    last: str
    """== `first` for one day."""
    reason: str
    """Plain text (`plain_text`), at most `MAX_REASON` characters; may be empty."""


@dataclass(frozen=True)
class ListTimeOff:
    """`timeoff` alone: the upcoming time off, each with its id."""


@dataclass(frozen=True)
class CancelTimeOff:
    """`timeoff cancel ID`."""

    short_id: str
    """Upper-cased."""


@dataclass(frozen=True)
class ShowSettings:
    pass


@dataclass(frozen=True)
class SetTimezone:
    name: str
    """A zone `zoneinfo` knows, spelled as it spells it."""


@dataclass(frozen=True)
class SetClock:
    """`settings clock 12h|24h`: how every message to the customer writes times."""

    clock: when.Clock


@dataclass(frozen=True)
class SetHours:
    start: time
    end: time
    weekdays: frozenset[int]
    user_id: str | None = None
    """Whose own hours these are; None for the whole business."""


@dataclass(frozen=True)
class SetScheduling:
    """`settings buffer|notice|step DURATION`."""

    what: str
    """"buffer" (free time kept around each booking and busy block), "notice" (the least
    lead time a booking needs) or "step" (the grid suggested and counted slots start on)."""
    duration: timedelta


@dataclass(frozen=True)
class SetRole:
    """`settings owner|onboarder|staff @user`: corrects the role the bot guessed."""

    role: str
    """"owner", "onboarder" or "staff"."""
    user_id: str


@dataclass(frozen=True)
class DigestSetting:
    """`digest on | off | now | at HH:MM`."""

    action: str
    """"on", "off", "now" or "at"."""
    at: time | None = None


@dataclass(frozen=True)
class Onboard:
    pass


@dataclass(frozen=True)
class Invalid:
    """Not a command the bot can run: why, and the form to use instead."""

    problem: str
    usage: str | None = None


Command = (
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

USAGE = {
    "help": "/tonomo help",
    "connect-calendar": "/tonomo connect-calendar [primary]",
    "disconnect": "/tonomo disconnect [primary]",
    "status": "/tonomo status",
    "availability": "/tonomo availability [@user …] [DAY | this week | next week] [DURATION]",
    "book": "/tonomo book @user DAY TIME DURATION TITLE… | book anyone [@user …] DAY TIME DURATION TITLE…",
    "move": "/tonomo move BOOKING DAY TIME",
    "cancel": "/tonomo cancel BOOKING",
    "why": "/tonomo why @user DAY TIME [DURATION]",
    "timeoff": "/tonomo timeoff [@user] DAY[..DAY] [REASON…] | timeoff | timeoff cancel ID",
    "settings": "/tonomo settings timezone Area/City | settings hours HH:MM-HH:MM [mon-fri] [@user]"
    " | settings clock 12h|24h | settings buffer|notice|step DURATION"
    " | settings owner|onboarder|staff @user",
    "digest": "/tonomo digest on | off | now | at HH:MM",
    "onboard": "/tonomo onboard",
}

MAX_TITLE = 200
"""Characters of a booking title: enough for an address and a client's name."""

BOOKING_ID = re.compile(r"#?([A-Za-z0-9]{4,12})")
WEEKDAY_NAMES = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
_DAY_WORDS = {
    **{name: n for n, name in enumerate(WEEKDAY_NAMES)},
    **{calendar.day_name[n].lower(): n for n in range(7)},
    "tues": 1,
    "thur": 3,
    "thurs": 3,
}
_DAY_SETS = {
    "weekdays": frozenset(range(5)),
    "weekends": frozenset({5, 6}),
    "daily": frozenset(range(7)),
    "everyday": frozenset(range(7)),
}
_LOOKS_LIKE_DURATION = re.compile(r"-?[0-9.]+\s*(h|m|min)[0-9a-z]*", re.IGNORECASE)
_ZONES = {name.lower(): name for name in zoneinfo.available_timezones()}


def parse(text: str, *, around: date | None = None) -> Command:
    """The command `text` says; `around`, today's date in UTC, lets dates be checked too."""
    words = when.tokenize(text)
    if not words:
        return Help()
    verb, args = words[0].lower(), words[1:]
    lowered = [w.lower() for w in args]
    if verb == "help":
        return Help()
    if verb == "status":
        return Status() if not args else _extra(verb, lowered)
    if verb in ("connect-calendar", "disconnect"):
        kind = _kind(lowered)
        if kind is None:
            return _extra(verb, lowered)
        return ConnectCalendar(kind) if verb == "connect-calendar" else Disconnect(kind)
    try:
        if verb == "availability":
            return _availability(args, around)
        if verb == "book":
            return _book(args, around)
        if verb == "cancel":
            return _cancel(args)
        if verb == "move":
            return _move(args, around)
        if verb == "why":
            return _why(args, around)
        if verb == "timeoff":
            return _timeoff(args, around)
        if verb == "settings":
            return _settings(args)
        if verb == "digest":
            return _digest(lowered)
    except when.WhenError as error:
        return Invalid(problem=error.problem, usage=USAGE[verb])
    if verb == "onboard":
        return Onboard() if not args else _extra(verb, lowered)
    return _unknown(words[0])


def _kind(args: list[str]) -> ConnectionKind | None:
    if not args:
        return ConnectionKind.STAFF
    if args == ["primary"]:
        return ConnectionKind.PRIMARY
    return None


def _extra(verb: str, args: list[str]) -> Invalid:
    return Invalid(
        problem=f"`{verb}` doesn't take `{_shown(' '.join(args))}`.",
        usage=USAGE[verb],
    )


def _unknown(word: str) -> Invalid:
    shown = _shown(word)
    close = difflib.get_close_matches(word.lower(), list(USAGE), n=1, cutoff=0.6)
    if close:
        return Invalid(problem=f"I don't know `{shown}`. Did you mean this?", usage=USAGE[close[0]])
    return Invalid(problem=f"I don't know `{shown}`.")


def _shown(word: str) -> str:
    return word if len(word) <= 40 else word[:40] + "…"


def _invalid(verb: str, problem: str) -> Invalid:
    return Invalid(problem=problem, usage=USAGE[verb])


def _not_a_mention(verb: str, word: str) -> Invalid | None:
    """A typed `@name` that Slack did not turn into a mention (a person it doesn't know)."""
    if word.startswith("@"):
        return _invalid(
            verb,
            f"I can't tell who `{_shown(word)}` is. Pick the person from the list Slack shows "
            "as you type @, so the name becomes a mention.",
        )
    return None


def _availability(args: list[str], around: date | None = None) -> Command:
    user_ids, rest = when.parse_mentions(args)
    for word in rest:
        if (problem := _not_a_mention("availability", word)) is not None:
            return problem
    duration = None
    if rest and _LOOKS_LIKE_DURATION.fullmatch(rest[-1]):
        duration = when.parse_duration(rest[-1])
        rest = rest[:-1]
    if len(rest) > 2:
        return _invalid(
            "availability",
            f"I don't understand `{_shown(' '.join(rest))}`. Give at most one day "
            "(or this week / next week) and one length, after the people.",
        )
    when.check_range(rest, around=around)
    return Availability(tuple(user_ids), tuple(rest), duration)


def _book(args: list[str], around: date | None = None) -> Command:
    if not args:
        return BookForm()
    if args[0].lower() == "anyone":
        return _book_anyone(args[1:], around)
    user_ids, _ = when.parse_mentions(args[:1])
    if not user_ids:
        return _not_a_mention("book", args[0]) or _invalid(
            "book", "Start with the person to book, as a mention, like `@alex`."
        )
    if len(args) < 4:
        return _invalid(
            "book",
            "I need the person, the day, the start time and the length, then a title, "
            f"like `/tonomo book @alex {_BOOKING_EXAMPLE}`.",
        )
    booking = _booking(args[1:], around)
    if isinstance(booking, Invalid):
        return booking
    day, at, duration, title = booking
    return Book(user_id=user_ids[0], day=day, at=at, duration=duration, title=title)


def _book_anyone(args: list[str], around: date | None) -> Command:
    user_ids, rest = _leading_mentions(args)
    if rest and (problem := _not_a_mention("book", rest[0])) is not None:
        return problem
    if len(rest) < 3:
        return _invalid(
            "book",
            "After `anyone` (and the people to choose among, if not everyone), I need the day, "
            "the start time and the length, then a title, "
            f"like `/tonomo book anyone {_BOOKING_EXAMPLE}`.",
        )
    booking = _booking(rest, around)
    if isinstance(booking, Invalid):
        return booking
    day, at, duration, title = booking
    return BookAnyone(tuple(user_ids), day=day, at=at, duration=duration, title=title)


_BOOKING_EXAMPLE = "tomorrow 13:00 1h30m Shoot at 12 Main St"


def _booking(args: list[str], around: date | None) -> tuple[str, time, timedelta, str] | Invalid:
    """`DAY TIME DURATION TITLE…`, as `book` and `book anyone` take them (at least three
    words): the day as typed, the time, the length and the title as plain text."""
    when.check_day(args[0], around=around)
    day, at, duration = args[0], when.parse_time(args[1]), when.parse_duration(args[2])
    title = plain_text(" ".join(args[3:]))
    if not title:
        return _invalid(
            "book",
            "What is the booking for? Add a title after the length, like `Shoot at 12 Main St`.",
        )
    if len(title) > MAX_TITLE:
        return _invalid(
            "book",
            f"That title is {len(title):,} characters long; keep it to {MAX_TITLE}. "
            "Put the address and the client's name, and the details in the calendar event.",
        )
    return day, at, duration, title


def _leading_mentions(args: list[str]) -> tuple[list[str], list[str]]:
    """The people mentioned before any other word (ids in order, once each), and the words
    after them, untouched (a mention among those is text, like a title's)."""
    count = 0
    while count < len(args) and when.parse_mentions(args[count : count + 1])[0]:
        count += 1
    return when.parse_mentions(args[:count])[0], args[count:]


def _is_day(word: str) -> bool:
    """`word` is a DAY (`today`, `friday`, a real date), whatever today is."""
    try:
        when.check_day(word, around=None)
    except when.WhenError:
        return False
    return True


def _cancel(args: list[str]) -> Command:
    match = BOOKING_ID.fullmatch(args[0]) if len(args) == 1 else None
    if match is None:
        return _invalid(
            "cancel",
            "Give the id of one booking, as the booking message shows it, like `/tonomo cancel K7Q2MX`."
            if not args
            else f"`{_shown(' '.join(args))}` doesn't look like a booking id (like K7Q2MX).",
        )
    return Cancel(match[1].upper())


_MOVE_EXAMPLE = "like `/tonomo move K7Q2MX friday 14:00`"


def _move(args: list[str], around: date | None) -> Command:
    if len(args) == 4 and _LOOKS_LIKE_DURATION.fullmatch(args[3]):
        return _invalid(
            "move",
            f"A move keeps the booking's length, so leave out `{_shown(args[3])}`: give the "
            f"booking, the new day and the new start time, {_MOVE_EXAMPLE}. For another "
            "length, cancel it and book again.",
        )
    if len(args) > 3:
        return _invalid(
            "move",
            f"I take the booking, the new day and the new start time, nothing more; "
            f"`{_shown(' '.join(args[3:]))}` is extra.",
        )
    if len(args) < 3:
        return _invalid(
            "move",
            "Give the booking's id, as the booking message shows it, then the new day and the "
            f"new start time, {_MOVE_EXAMPLE}.",
        )
    if _is_day(args[0]):
        return _invalid(
            "move",
            f"Start with the booking's id, then the new day and start time, {_MOVE_EXAMPLE}.",
        )
    match = BOOKING_ID.fullmatch(args[0])
    if match is None:
        return _invalid(
            "move", f"`{_shown(args[0])}` doesn't look like a booking id (like K7Q2MX)."
        )
    when.check_day(args[1], around=around)
    return Move(match[1].upper(), day=args[1], at=when.parse_time(args[2]))


_WHY_EXAMPLE = "like `/tonomo why @alex tomorrow 10:00` (or `… 10:00 1h` for a length)"


def _why(args: list[str], around: date | None) -> Command:
    user_ids, rest = when.parse_mentions(args)
    for word in rest:
        if (problem := _not_a_mention("why", word)) is not None:
            return problem
    if not user_ids:
        return _invalid(
            "why",
            f"Name the person to look at, as a mention, then the day and time, {_WHY_EXAMPLE}.",
        )
    if len(user_ids) > 1:
        return _invalid("why", f"Ask about one person at a time, {_WHY_EXAMPLE}.")
    if len(rest) not in (2, 3):
        return _invalid(
            "why",
            f"After the person, give the day and the time, and a length if you like, {_WHY_EXAMPLE}."
            if len(rest) < 2
            else f"I take a day, a time and a length, nothing more; `{_shown(' '.join(rest[3:]))}` "
            "is extra.",
        )
    when.check_day(rest[0], around=around)
    at = when.parse_time(rest[1])
    duration = when.parse_duration(rest[2]) if len(rest) == 3 else None
    return Why(user_ids[0], day=rest[0], at=at, duration=duration)


MAX_REASON = 200
"""Characters of a time off's reason: a few words, like `Holidays` or `Dentist`."""

MAX_TIME_OFF_DAYS = 366
"""The most days one time off covers, both ends included."""

TIME_OFF_ID = re.compile(r"#?([A-Za-z0-9]{4,8})")
_DAY_RANGE = re.compile(r"(\S+?)\s*(?:\.\.|–|—)\s*(\S*)")
"""`DAY..DAY` (or an en or em dash between), spaces around the mark or not."""
_ISO_DATE = re.compile(r"([0-9]{4})-([0-9]{1,2})-([0-9]{1,2})")
_TIME_OFF_EXAMPLE = (
    "like `/tonomo timeoff @alex friday` or `/tonomo timeoff 2026-12-24..2026-12-26 Holidays`"
)


def _timeoff(args: list[str], around: date | None) -> Command:
    if not args:
        return ListTimeOff()
    if args[0].lower() == "cancel":
        return _cancel_time_off(args[1:])
    user_ids, rest = _leading_mentions(args)
    if len(user_ids) > 1:
        return _invalid("timeoff", "Set one person's time off at a time.")
    if rest and (problem := _not_a_mention("timeoff", rest[0])) is not None:
        return problem
    if not rest:
        return _invalid(
            "timeoff", f"Give the day off, or the first and last days, {_TIME_OFF_EXAMPLE}."
        )
    days = _days_off(rest)
    if isinstance(days, Invalid):
        return days
    first, last, reason = days
    when.check_day(first, around=around)
    when.check_day(last, around=around)
    if (problem := _out_of_order(first, last)) is not None:
        return problem
    if len(reason) > MAX_REASON:
        return _invalid(
            "timeoff",
            f"That reason is {len(reason):,} characters long; keep it to {MAX_REASON}, "
            "like `Holidays` or `Dentist`.",
        )
    return AddTimeOff(user_ids[0] if user_ids else None, first=first, last=last, reason=reason)


def _days_off(words: list[str]) -> tuple[str, str, str] | Invalid:
    """`DAY [REASON…]` or `DAY..DAY [REASON…]`: the first and last day words as typed, and
    the reason as plain text."""
    text = " ".join(words)
    days = _DAY_RANGE.match(text)
    if days is None:
        if not _is_day(words[0]) and _is_day_pair(words[0]):
            return _invalid(
                "timeoff",
                f"Write a range of days with `..` between them, like "
                f"`{words[0].replace('-', '..')}`.",
            )
        return words[0], words[0], plain_text(" ".join(words[1:]))
    if not days[2]:
        return _invalid(
            "timeoff", f"Give the last day after `{_shown(days[0])}`, {_TIME_OFF_EXAMPLE}."
        )
    return days[1], days[2], plain_text(text[days.end() :])


def _out_of_order(first: str, last: str) -> Invalid | None:
    """When both ends are dates: the last must not be before the first, nor too far after.
    (Weekday words are put in order by `bot/`, which knows the customer's today.)"""
    first_date, last_date = _iso_date(first), _iso_date(last)
    if first_date is None or last_date is None:
        return None
    if last_date < first_date:
        return _invalid(
            "timeoff",
            f"The last day, {last_date.isoformat()}, is before the first, "
            f"{first_date.isoformat()}. Give the first day first.",
        )
    count = (last_date - first_date).days + 1
    if count > MAX_TIME_OFF_DAYS:
        return _invalid(
            "timeoff",
            f"That is {count:,} days; one time off covers at most {MAX_TIME_OFF_DAYS}. "
            "Give it in parts.",
        )
    return None


def _is_day_pair(word: str) -> bool:
    """`monday-friday`: two day words joined by a hyphen (as `settings hours` takes days),
    where `timeoff` takes `..`."""
    ends = word.split("-")
    return len(ends) == 2 and all(_is_day(end) for end in ends)


def _iso_date(word: str) -> date | None:
    """The date a `YYYY-MM-DD` word names (checked by `when.check_day` first); None for
    other day words, whose date depends on the customer's today."""
    match = _ISO_DATE.fullmatch(word.strip())
    return date(int(match[1]), int(match[2]), int(match[3])) if match else None


def _cancel_time_off(args: list[str]) -> Command:
    match = TIME_OFF_ID.fullmatch(args[0]) if len(args) == 1 else None
    if match is None:
        return _invalid(
            "timeoff",
            "Give the id of the time off to remove, as `timeoff` lists it, "
            "like `/tonomo timeoff cancel 7QX2`."
            if not args
            else f"`{_shown(' '.join(args))}` doesn't look like a time-off id (like 7QX2): "
            "`timeoff` alone lists them with their ids.",
        )
    return CancelTimeOff(match[1].upper())


def _digest(args: list[str]) -> Command:
    if args in (["on"], ["off"], ["now"]):
        return DigestSetting(args[0])
    if len(args) == 2 and args[0] == "at":
        return DigestSetting("at", when.parse_time(args[1]))
    return _invalid(
        "digest",
        "Say `on`, `off`, `now`, or `at` and a time, like `/tonomo digest at 7:30`.",
    )


def _settings(args: list[str]) -> Command:
    if not args:
        return ShowSettings()
    what, rest = args[0].lower(), args[1:]
    if what in ("timezone", "tz", "time-zone"):
        return _timezone(rest)
    if what == "hours":
        return _hours(rest)
    if what == "clock":
        return _clock(rest)
    if what in _SCHEDULING:
        return _scheduling(what, rest)
    if what in ROLES:
        return _role(what, rest)
    return _invalid(
        "settings",
        "I can set `timezone`, `hours`, `clock`, `buffer`, `notice`, `step`, `owner`, "
        f"`onboarder` or `staff`, not `{_shown(args[0])}`.",
    )


ROLES = ("owner", "onboarder", "staff")


@dataclass(frozen=True)
class _Length:
    """What a scheduling setting takes: its limits, and how a reply names and shows it."""

    about: str
    """What it is, as a sentence that starts with `the buffer`, `the notice` or `the step`."""
    least: timedelta
    most: timedelta
    most_shown: str
    forms: str


MAX_BUFFER = timedelta(hours=4)
MAX_NOTICE = timedelta(days=14)
MIN_STEP = timedelta(minutes=5)
MAX_STEP = timedelta(hours=4)
STEP_UNIT = timedelta(minutes=5)
"""Slot steps are whole multiples of this."""

_SCHEDULING = {
    "buffer": _Length(
        "the buffer is the free time kept around each booking and busy block",
        timedelta(0),
        MAX_BUFFER,
        "4h",
        "Use 0 (none) to 4h, like `settings buffer 15m`.",
    ),
    "notice": _Length(
        "the notice is the least lead time a booking needs",
        timedelta(0),
        MAX_NOTICE,
        "14 days",
        "Use 0 (none) to 14 days, in hours, minutes or days, like `settings notice 2h`, "
        "`settings notice 48h` or `settings notice 2d`.",
    ),
    "step": _Length(
        "the step is the grid on which suggested slots start",
        MIN_STEP,
        MAX_STEP,
        "4h",
        "Use 5m to 4h, a whole number of 5 minutes, like `settings step 15m` or "
        "`settings step 30m`.",
    ),
}
_NO_TIME = ("0", "none", "off")
_SETTING_LENGTH = re.compile(r"(?:([0-9]+)d)?(?:([0-9]+(?:\.[0-9]+)?)h)?(?:([0-9]+)(?:m|min))?")
"""A scheduling setting's DURATION: `15m`, `1h30m`, `1.5h`, and days (`2d`) for the notice."""


def _scheduling(what: str, args: list[str]) -> Command:
    """`settings buffer|notice|step DURATION` (see `_SCHEDULING` for each one's limits)."""
    length = _SCHEDULING[what]
    if len(args) != 1:
        return _invalid("settings", f"Give one length: {length.about}. {length.forms}")
    word = args[0]
    shown = _shown(word)
    key = word.lower()
    minutes = Decimal(0)
    if key not in _NO_TIME:
        unsigned = key.removeprefix("-")
        match = _SETTING_LENGTH.fullmatch(unsigned)
        if not unsigned or match is None or (match[1] and what != "notice"):
            return _invalid(
                "settings", f"I don't understand `{shown}` as a length of time. {length.forms}"
            )
        if unsigned != key:
            return _invalid("settings", f"`{shown}` is a negative length. {length.forms}")
        days, hours, rest = (Decimal(part or 0) for part in match.groups())
        minutes = days * 24 * 60 + hours * 60 + rest
    if minutes != minutes.to_integral_value():
        return _invalid("settings", f"`{shown}` isn't a whole number of minutes. {length.forms}")
    if minutes > length.most / timedelta(minutes=1):
        return _invalid(
            "settings",
            f"`{shown}` is more than {length.most_shown}, the most I take for the {what}. "
            f"{length.forms}",
        )
    if minutes < length.least / timedelta(minutes=1):
        return _invalid(
            "settings",
            f"`{shown}` is less than {when.format_duration(length.least)}, the least I take "
            f"for the {what}. {length.forms}",
        )
    duration = timedelta(minutes=int(minutes))
    if what == "step" and duration % STEP_UNIT:
        below = max(duration - duration % STEP_UNIT, MIN_STEP)
        above = min(below + STEP_UNIT, MAX_STEP)
        return _invalid(
            "settings",
            f"`{shown}` isn't a whole number of 5 minutes: try "
            f"`settings step {when.format_duration(below)}` or "
            f"`settings step {when.format_duration(above)}`.",
        )
    return SetScheduling(what, duration)


def _role(role: str, args: list[str]) -> Command:
    user_ids, rest = when.parse_mentions(args)
    if len(user_ids) == 1 and not rest:
        return SetRole(role, user_ids[0])
    for word in rest:
        if (problem := _not_a_mention("settings", word)) is not None:
            return problem
    return _invalid("settings", f"Name one person, like `settings {role} @alex`.")


_CLOCK_WORDS: dict[str, when.Clock] = {
    "12h": "12h",
    "12": "12h",
    "12-hour": "12h",
    "am/pm": "12h",
    "ampm": "12h",
    "24h": "24h",
    "24": "24h",
    "24-hour": "24h",
}


def _clock(args: list[str]) -> Command:
    if len(args) != 1:
        return _invalid(
            "settings",
            "Say which clock: `settings clock 12h` (like 2:30pm) or `settings clock 24h` "
            "(like 14:30).",
        )
    clock = _CLOCK_WORDS.get(args[0].lower())
    if clock is None:
        return _invalid(
            "settings",
            f"I can write times as `12h` (like 2:30pm) or `24h` (like 14:30), not "
            f"`{_shown(args[0])}`. Try `settings clock 12h` or `settings clock 24h`.",
        )
    return SetClock(clock)


def _timezone(args: list[str]) -> Command:
    if len(args) != 1:
        return _invalid(
            "settings", "Give one timezone, like `America/New_York` or `Europe/London`."
        )
    name = _ZONES.get(args[0].lower())
    if name is None:
        close = difflib.get_close_matches(args[0].lower(), list(_ZONES), n=1, cutoff=0.7)
        hint = f" Did you mean `{_ZONES[close[0]]}`?" if close else ""
        return _invalid(
            "settings",
            f"I don't know the timezone `{_shown(args[0])}`.{hint} Use an Area/City name "
            "from the IANA list, like `America/New_York`, `Europe/London` or `Asia/Kolkata`.",
        )
    return SetTimezone(name)


def _hours(args: list[str]) -> Command:
    user_ids, rest = when.parse_mentions(args)
    if len(user_ids) > 1:
        return _invalid("settings", "Set one person's hours at a time.")
    for word in rest:
        if (problem := _not_a_mention("settings", word)) is not None:
            return problem
    if not 1 <= len(rest) <= 2 or rest[0].count("-") != 1:
        return _invalid(
            "settings",
            "Give the hours as start-end, then the days if they aren't Monday to Friday, "
            "like `settings hours 9:00-17:00 mon-fri`.",
        )
    start_word, end_word = rest[0].split("-")
    start, end = when.parse_time(start_word), when.parse_time(end_word)
    if start >= end:
        return _invalid(
            "settings",
            f"Working hours must end after they start on the same day; "
            f"`{_shown(rest[0])}` doesn't. Hours across midnight aren't supported.",
        )
    weekdays = parse_weekdays(rest[1]) if len(rest) == 2 else frozenset(range(5))
    if weekdays is None:
        return _invalid(
            "settings",
            f"I don't understand `{_shown(rest[1])}` as days. Use a range like `mon-fri` or "
            "`tue-sat`, a list like `mon,wed,fri`, or `daily`.",
        )
    return SetHours(start, end, weekdays, user_ids[0] if user_ids else None)


def parse_weekdays(word: str) -> frozenset[int] | None:
    """`mon-fri`, `tue-sat`, `mon,wed,fri`, `sat-sun`, `weekdays`, `daily`; None if not days."""
    key = word.lower()
    if key in _DAY_SETS:
        return _DAY_SETS[key]
    days: set[int] = set()
    for part in key.split(","):
        ends = part.split("-")
        if len(ends) > 2 or not all(end in _DAY_WORDS for end in ends):
            return None
        first, last = _DAY_WORDS[ends[0]], _DAY_WORDS[ends[-1]]
        days.update((first + n) % 7 for n in range((last - first) % 7 + 1))
    return frozenset(days)


_ENTITY = re.compile(r"<([^<>|]*)(?:\|([^<>]*))?>")


def plain_text(slack_text: str) -> str:
    """Slack's escaped text as a person would read it: `<@U1|ana>` → `@ana`, `<!channel>` →
    `@channel`, `<https://x|label>` → `label`, `&amp;` → `&`; whitespace collapsed."""

    def readable(match: re.Match[str]) -> str:
        target, label = match[1], match[2]
        if target.startswith("!subteam^"):
            return label or "@group"
        if target.startswith("!date^"):
            return label or "a date"
        if target.startswith("!"):
            return "@" + target[1:]
        if target.startswith(("@", "#")):
            return (target[0] + label.lstrip("@#")) if label else target
        return label or target

    text = _ENTITY.sub(readable, slack_text)
    text = text.replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&")
    return " ".join(text.split())


def parse_book_form(
    values: dict[str, dict[str, dict[str, Any]]],
    fields: tuple[str, str, str, str, str],
    *,
    anyone: str | None = None,
) -> Book | BookAnyone | dict[str, str]:
    """The booking modal's `view.state.values` as a `Book` (or, with the `anyone` checkbox
    ticked, a `BookAnyone`), or an error per field's block id.

    `fields` names the blocks of staff, day, time, duration and title, in that order;
    `anyone` the block of the "Anyone free" checkbox, when the form has one. A person or
    Anyone free must be chosen, not both (the error goes on the staff block).
    """
    staff, day, at, duration, title = fields

    def value(block: str, key: str) -> str:
        chosen = values.get(block, {}).get(block, {}).get(key)
        return chosen.strip() if isinstance(chosen, str) else ""

    errors: dict[str, str] = {}
    user_id = value(staff, "selected_user")
    ticked = anyone is not None and bool(
        values.get(anyone, {}).get(anyone, {}).get("selected_options")
    )
    if ticked and user_id:
        errors[staff] = "Choose a person or tick Anyone free, not both."
    elif not ticked and not user_id:
        errors[staff] = (
            "Choose who to book, or tick Anyone free." if anyone else "Choose who to book."
        )
    day_text = value(day, "selected_date")
    if not day_text:
        errors[day] = "Choose a day."
    parsed: dict[str, Any] = {}
    for block, key, parser in (
        (at, "selected_time", when.parse_time),
        (duration, "value", when.parse_duration),
    ):
        try:
            parsed[block] = parser(value(block, key))
        except when.WhenError as error:
            errors[block] = error.problem
    title_text = " ".join(value(title, "value").split())  # typed in a form: not Slack-escaped
    if not title_text:
        errors[title] = "Say what the booking is for, like Shoot at 12 Main St."
    elif len(title_text) > MAX_TITLE:
        errors[title] = f"Keep the title to {MAX_TITLE} characters."
    if errors:
        return errors
    if ticked:
        return BookAnyone(
            user_ids=(), day=day_text, at=parsed[at], duration=parsed[duration], title=title_text
        )
    return Book(
        user_id=user_id,
        day=day_text,
        at=parsed[at],
        duration=parsed[duration],
        title=title_text,
    )
