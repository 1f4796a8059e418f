"""Replies to `settings`: what the business's settings are, and what was just changed."""

from __future__ import annotations

from datetime import time, timedelta

from slack_sdk.models.blocks import MarkdownTextObject, SectionBlock

from bot.availability import WorkingHours
from bot.messages import Message, mention, pack_lines
from bot.staff import working_hours
from bot.when import Clock, format_duration, format_time
from storage.models import Customer, Member

_DAY_NAMES = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")


def describe_days(weekdays: frozenset[int]) -> str:
    """`Mon–Fri`, `Tue–Sat`, `Mon, Wed, Fri`, `every day`."""
    days = sorted(weekdays)
    if len(days) == 7:
        return "every day"
    if len(days) > 2 and days == list(range(days[0], days[-1] + 1)):
        return f"{_DAY_NAMES[days[0]]}–{_DAY_NAMES[days[-1]]}"
    return ", ".join(_DAY_NAMES[d] for d in days)


def describe_hours(hours: WorkingHours, clock: Clock) -> str:
    end = "24:00" if clock == "24h" and hours.end == time(0) else format_time(hours.end, clock)
    return f"{format_time(hours.start, clock)}–{end}, {describe_days(hours.weekdays)}"


HOW_TO_CHANGE = (
    "Change them with `@Tonomo settings timezone Area/City` and "
    "`@Tonomo settings hours 9:00-17:00 mon-fri` (add `@person` for one person's own hours); "
    "`@Tonomo settings clock 12h` or `24h` for how times are written; "
    "`@Tonomo settings buffer 30m`, `notice 2h` and `step 15m` for how bookings are spaced."
)


def describe_length(length: timedelta) -> str:
    """A length as people say it: `30m`, `1h30m`, and whole days as days (`2 days`, `1 day
    6h`), never `336h`."""
    days, rest = divmod(length, timedelta(days=1))
    if not days:
        return format_duration(length)
    text = f"{days} day{'s' if days > 1 else ''}"
    return f"{text} {format_duration(rest)}" if rest else text


def describe_scheduling(what: str, minutes: int) -> str:
    """A scheduling setting (`buffer`, `notice`, `step`) in words."""
    length = describe_length(timedelta(minutes=minutes))
    if what == "buffer":
        if not minutes:
            return "none: bookings may follow busy time back to back"
        return f"{length} kept free before and after every booking and busy block"
    if what == "notice":
        if not minutes:
            return "none: anything from now on can be booked"
        return f"bookings start at least {length} from now"
    return f"suggested times and counted shoots start every {length}, counted from midnight"


def _scheduling(customer: Customer) -> list[tuple[str, str, int]]:
    return [
        ("buffer", "Buffer", customer.buffer_minutes),
        ("notice", "Minimum notice", customer.notice_minutes),
        ("step", "Slot step", customer.step_minutes),
    ]


def build_scheduling_set(what: str, minutes: int) -> Message:
    """`settings buffer|notice|step`: what it is now, and what it changes."""
    name = {"buffer": "buffer", "notice": "minimum notice", "step": "slot step"}[what]
    return Message.text_only(
        f":white_check_mark: The {name} is now: {describe_scheduling(what, minutes)}. "
        "Availability, bookings, moves, `why` and the digest all follow it from now on."
    )


def describe_clock(clock: Clock) -> str:
    """`12-hour (2:30pm)` or `24-hour (14:30)`."""
    return f"{clock[:2]}-hour ({format_time(time(14, 30), clock)})"


def build_settings(
    customer: Customer,
    hours: WorkingHours,
    own: list[tuple[Member, WorkingHours]],
    clock: Clock,
) -> Message:
    chosen = "" if customer.clock else ", as usual in the timezone's country"
    lines = [
        f"*Timezone:* {customer.timezone}",
        f"*Clock:* {describe_clock(clock)}{chosen}",
        f"*Working hours:* {describe_hours(hours, clock)}",
        *(
            f"*{name}:* {describe_scheduling(what, minutes)}"
            for what, name, minutes in _scheduling(customer)
        ),
        f"*Daily digest:* {describe_digest(customer, clock)}",
    ]
    lines += [f"• {mention(member.slack_user_id)}: {describe_hours(h, clock)}" for member, h in own]
    lines.append(HOW_TO_CHANGE)
    # Many people's own hours don't fit in one section: one per 3000 characters.
    sections = [SectionBlock(text=MarkdownTextObject(text=text)) for text in pack_lines(lines)]
    return Message.of("\n".join(lines[:2]), *sections)


def build_timezone_set(timezone: str, hours: WorkingHours, clock: Clock) -> Message:
    return Message.text_only(
        f":white_check_mark: The timezone is now *{timezone}*. Working hours "
        f"({describe_hours(hours, clock)}), availability and bookings are in this timezone "
        "from now on."
    )


def build_clock_set(clock: Clock, hours: WorkingHours) -> Message:
    """`settings clock`: what the clock is now, shown on the working hours."""
    return Message.text_only(
        f":white_check_mark: Times are now written on the *{describe_clock(clock)}* clock in "
        f"every message here: working hours read {describe_hours(hours, clock)}."
    )


def build_hours_set(
    hours: WorkingHours, timezone: str, clock: Clock, user_id: str | None
) -> Message:
    whose = f"{mention(user_id)}'s own working hours are" if user_id else "Working hours are"
    return Message.text_only(
        f":white_check_mark: {whose} now *{describe_hours(hours, clock)}* ({timezone})."
    )


def describe_digest(customer: Customer, clock: Clock) -> str:
    if not customer.digest_enabled:
        return "off (`@Tonomo digest on` turns it on)"
    at = format_time(time.fromisoformat(customer.digest_time), clock)
    days = describe_days(working_hours(customer).weekdays)
    return f"on, at {at} on working days ({days}), {customer.timezone}"


def build_digest_set(customer: Customer, clock: Clock) -> Message:
    return Message.text_only(
        f":white_check_mark: The daily digest is {describe_digest(customer, clock)}. "
        "`@Tonomo digest now` posts today's at once."
    )
