"""Why a time is not free, in words: the answer to `why`, and the lines of every conflict.

The engine (`bot.availability.reasons`) gives the reasons; this module only words them, so
that `why`, a booking's conflict and a move's conflict say the same thing the same way. A
person's own calendar is only ever "busy": its titles are never read.
"""

from __future__ import annotations

from datetime import date, timedelta

from slack_sdk.models.blocks import ContextBlock, MarkdownTextObject, SectionBlock

from bot.availability import Interval, Reason, Rules, Why, format_range, merge, next_on_grid
from bot.messages import Message, escape, format_day, mention
from bot.messages.settings import describe_hours, describe_length
from bot.staff import MISSING_PERMISSION, NEEDS_RECONNECT, NOT_CONNECTED, TOO_SLOW
from bot.when import Clock, format_duration, format_time

_CANT_READ = {
    NEEDS_RECONNECT: "their calendar can't be read: it needs reconnecting "
    "(see `@Tonomo status`), so their time is unknown, not free",
    MISSING_PERMISSION: "their calendar can't be read: it is missing a permission "
    "(see `@Tonomo status`), so their time is unknown, not free",
    TOO_SLOW: "their calendar can't be read right now: Google didn't answer in time, so "
    "their time is unknown, not free (try again soon)",
}
_CANT_READ_NOW = (
    "their calendar can't be read right now: Google didn't answer, so their time is "
    "unknown, not free (try again soon)"
)


def reason_line(reason: Reason, rules: Rules, day: date, today: date, clock: Clock) -> str:
    """One reason in words; `day` is the local day asked about (other days are named)."""
    span = _span(reason.span, rules, day, today, clock)
    label = escape(reason.label)
    if reason.why is Why.PAST:
        return "that time has passed"
    if reason.why is Why.NOTICE:
        earliest = next_on_grid(reason.span.end, rules.zone, rules.step).astimezone(rules.zone)
        when = format_time(earliest.time(), clock)
        if earliest.date() != day:
            when = f"{format_day(earliest.date(), today)} {when}"
        return (
            f"too soon: bookings need {describe_length(rules.notice)} notice, "
            f"so the earliest is {when}"
        )
    if reason.why is Why.OUTSIDE_HOURS:
        return f"outside working hours ({describe_hours(rules.hours, clock)})"
    if reason.why is Why.TIME_OFF:
        days = _days(reason.span, rules, today)
        return f"time off ({label}, {days})" if label else f"time off ({days})"
    if reason.why is Why.BOOKING:
        return f"booking {label} {span}"
    if reason.why is Why.BUSY:
        return f"busy on their own calendar {span}"
    if reason.why is Why.BUFFER:
        around = f"booking {label}" if label else "busy time on their own calendar"
        return f"{format_duration(rules.buffer)} kept free around {around} ({span})"
    if reason.label == NOT_CONNECTED:
        return "they haven't connected a calendar yet: their time is unknown, not free"
    return _CANT_READ.get(reason.label, _CANT_READ_NOW)


def reasons_in_words(
    found: list[Reason], rules: Rules, day: date, today: date, clock: Clock
) -> list[str]:
    """Every reason worth saying (`worth_saying`), in words, in their order."""
    return [reason_line(r, rules, day, today, clock) for r in worth_saying(found)]


def worth_saying(found: list[Reason]) -> list[Reason]:
    """The reasons to show, in their order: a booking's own invitation sits on their
    calendar too, so busy time that their bookings wholly account for is said once, as the
    bookings (busy time beyond them still shows, whole)."""
    booked = merge(r.span for r in found if r.why is Why.BOOKING)
    return [
        r
        for r in found
        if r.why is not Why.BUSY
        or not any(b.start <= r.span.start and r.span.end <= b.end for b in booked)
    ]


def _span(span: Interval, rules: Rules, day: date, today: date, clock: Clock) -> str:
    text = format_range(span, rules.zone, clock)
    starts = span.start.astimezone(rules.zone).date()
    return text if starts == day else f"{format_day(starts, today)} {text}"


def _days(span: Interval, rules: Rules, today: date) -> str:
    first = span.start.astimezone(rules.zone).date()
    last = (span.end.astimezone(rules.zone) - timedelta(microseconds=1)).date()
    if first == last:
        return format_day(first, today)
    return f"{format_day(first, today)} to {format_day(last, today)}"


def build_why(
    user_id: str,
    asked: Interval,
    found: list[Reason],
    rules: Rules,
    today: date,
    clock: Clock,
) -> Message:
    """The answer to `why @user DAY TIME [DURATION]`: free, or every reason it isn't."""
    day = asked.start.astimezone(rules.zone).date()
    when = f"{format_day(day, today)} {format_range(asked, rules.zone, clock)}"
    who = mention(user_id)
    said = reasons_in_words(found, rules, day, today, clock)
    if not said:
        text = f"{who} is free {when}."
        return Message.of(text, SectionBlock(text=MarkdownTextObject(text=f"✅ {text}")))
    title = f"{who} isn't free {when}:"
    footer = f"Times in {rules.zone.key}. Calendars read live from Google; titles never shown."
    return Message.of(
        f"{title} {'; '.join(said)}",
        SectionBlock(text=MarkdownTextObject(text="\n".join([title, *(f"• {r}" for r in said)]))),
        ContextBlock(elements=[MarkdownTextObject(text=footer)]),
    )
