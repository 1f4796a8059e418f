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
class Cancel:
    short_id: str


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
    | BookForm
    | Cancel
    | ShowSettings
    | SetTimezone
    | SetClock
    | SetHours
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
    "book": "/tonomo book @user DAY TIME DURATION TITLE…",
    "cancel": "/tonomo cancel BOOKING",
    "settings": "/tonomo settings timezone Area/City | settings hours HH:MM-HH:MM [mon-fri] [@user]"
    " | settings clock 12h|24h | settings owner|onboarder|staff @user",
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
    user_ids, _ = when.parse_mentions(args[:1])
    if not user_ids:
        return _not_a_mention("book", args[0]) or _invalid(
            "book", "Start with the person to book, as a mention, like `@alex`."
        )
    if len(args) < 4:
        return _invalid(
            "book",
            "I need the person, the day, the start time and the length, then a title, "
            "like `/tonomo book @alex tomorrow 13:00 1h30m Shoot at 12 Main St`.",
        )
    when.check_day(args[1], around=around)
    day, at, duration = args[1], when.parse_time(args[2]), when.parse_duration(args[3])
    title = plain_text(" ".join(args[4:]))
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
    return Book(user_id=user_ids[0], day=day, at=at, duration=duration, title=title)


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
    if what in ROLES:
        return _role(what, rest)
    return _invalid(
        "settings",
        "I can set `timezone`, `hours`, `clock`, `owner`, `onboarder` or `staff`, "
        f"not `{_shown(args[0])}`.",
    )


ROLES = ("owner", "onboarder", "staff")


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
    values: dict[str, dict[str, dict[str, Any]]], fields: tuple[str, str, str, str, str]
) -> Book | dict[str, str]:
    """The booking modal's `view.state.values` as a `Book`, or an error per field's block id.

    `fields` names the blocks of staff, day, time, duration and title, in that order.
    """
    staff, day, at, duration, title = fields

    def value(block: str, key: str) -> str:
        chosen = values.get(block, {}).get(block, {}).get(key)
        return chosen.strip() if isinstance(chosen, str) else ""

    errors: dict[str, str] = {}
    user_id = value(staff, "selected_user")
    if not user_id:
        errors[staff] = "Choose who to book."
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
    return Book(
        user_id=user_id,
        day=day_text,
        at=parsed[at],
        duration=parsed[duration],
        title=title_text,
    )
