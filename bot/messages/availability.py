"""The answer to `availability`: one day as a list of free ranges, a week as a grid.

One day: a line per staff member with their free ranges (`9:00–10:30, 13:00–17:00`).
Several days: a monospace grid of staff × days whose cells are the free hours, so a week
reads at a glance; a cell is `—` when nothing is free, `off` on a day off, `away` on a day of time off.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, timedelta
from typing import Any

from slack_sdk.models.blocks import (
    ActionsBlock,
    Block,
    ButtonElement,
    ContextBlock,
    InputBlock,
    MarkdownTextObject,
    Option,
    PlainTextInputElement,
    SectionBlock,
    StaticSelectElement,
    UserMultiSelectElement,
)
from slack_sdk.models.views import View

from bot.availability import Interval, format_range
from bot.messages import Message, escape, format_day, mention, pack_lines
from bot.messages.ids import AVAILABILITY_MODAL, CONNECT_MINE
from bot.staff import (
    MISSING_PERMISSION,
    NEEDS_RECONNECT,
    NOT_CONNECTED,
    TOO_SLOW,
    AvailabilityReport,
    PersonAvailability,
)
from bot.when import Clock, format_duration, format_time

MAX_BLOCKS = 50
NUDGE_LIMIT = 20
"""People named in one nudge to connect; more are counted."""
NAME_WIDTH = 14
CELL_WIDTH = 7

WHY_UNKNOWN = {
    NOT_CONNECTED: "hasn't connected a calendar yet",
    NEEDS_RECONNECT: "calendar needs reconnecting (see `@Tonomo status`)",
    MISSING_PERMISSION: "calendar is missing a permission (see `@Tonomo status`)",
    TOO_SLOW: "calendar wasn't read in time (Google didn't answer within seconds); "
    "their time is unknown, not free: try again soon",
}
UNREADABLE_TEXT = "calendar couldn't be read just now (Google didn't answer); try again soon"


def why_unknown(problem: str) -> str:
    return WHY_UNKNOWN.get(problem, UNREADABLE_TEXT)


def build_availability(report: AvailabilityReport, today: date, *, clock: Clock) -> Message:
    if not report.people:
        return build_nobody_connected(report.asked_for_everyone, report.not_connected)
    title = _title(report, today)
    lines = (
        [_day_line(p, report, clock) for p in report.people]
        if len(report.days) == 1
        else _grid(report, today)
    )
    if report.not_connected:
        lines.append(not_connected_line(report.not_connected))
    blocks: list[Block] = [SectionBlock(text=MarkdownTextObject(text=f"*{title}*"))]
    blocks += [SectionBlock(text=MarkdownTextObject(text=text)) for text in pack_lines(lines)]
    footer = f"Times in {report.zone.key}. Read live from Google at {_read_at(report, clock)}."
    if len(report.days) > 1:
        footer += " Cells are free hours; ask for one day to see the times."
    footer += " `@Tonomo why @person DAY TIME` says what holds a time that isn't free."
    blocks = [*blocks[: MAX_BLOCKS - 1], ContextBlock(elements=[MarkdownTextObject(text=footer)])]
    return Message.of(title, *blocks)


def _title(report: AvailabilityReport, today: date) -> str:
    days = report.days
    # A range says its dates plainly: "today" is for one day, and only when it is.
    when = (
        format_day(days[0], today)
        if len(days) == 1
        else f"{_plain_day(days[0], today)} to {_plain_day(days[-1], today)}"
    )
    fits = f", where {format_duration(report.duration)} fits" if report.duration else ""
    return f"Availability {when}{fits}"


def _plain_day(day: date, today: date) -> str:
    year = f" {day.year}" if day.year != today.year else ""
    return f"{day:%a} {day.day} {day:%b}{year}"


def not_connected_line(user_ids: Sequence[str]) -> str:
    """The people with no calendar connected, named where the team is listed."""
    people = ", ".join(mention(u) for u in user_ids[:NUDGE_LIMIT])
    if len(user_ids) > NUDGE_LIMIT:
        people += f" and {len(user_ids) - NUDGE_LIMIT} more"
    return f"*Not connected yet:* {people}"


def _read_at(report: AvailabilityReport, clock: Clock) -> str:
    return format_time(report.read_at.astimezone(report.zone).time(), clock)


def _day_line(person: PersonAvailability, report: AvailabilityReport, clock: Clock) -> str:
    who = mention(person.person.user_id)
    day = report.days[0]
    away = person.away_on(day)
    if away is not None:
        return f"• {who}: time off" + (f" ({escape(away.reason)})" if away.reason else "")
    if person.free is None:
        return f"• {who}: {why_unknown(person.problem)}"
    windows = person.free[day]
    if windows:
        ranges = ", ".join(format_range(w, report.zone, clock) for w in windows)
        return f"• {who}: {ranges}"
    working = person.person.hours.windows(day, report.zone)
    if not working:
        return f"• {who}: day off"
    if all(w.end <= report.read_at for w in working):
        return f"• {who}: done for the day (working hours are over)"
    return f"• {who}: fully booked" + (
        f" (nothing of {format_duration(report.duration)} free)" if report.duration else ""
    )


def _grid(report: AvailabilityReport, today: date) -> list[str]:
    header = " " * NAME_WIDTH + "".join(
        f"{day:%a} {day.day}".rjust(CELL_WIDTH) for day in report.days
    )
    rows = [header]
    notes = []
    for person in report.people:
        name = _short_name(person)
        notes += [
            f"• {mention(person.person.user_id)}: time off {_plain_day(off.first, today)}"
            + (f" to {_plain_day(off.last, today)}" if off.last > off.first else "")
            + (f" ({escape(off.reason)})" if off.reason else "")
            for off in person.time_off
        ]
        if person.free is None:
            rows.append(name + "?".rjust(CELL_WIDTH))
            notes.append(f"• {mention(person.person.user_id)}: {why_unknown(person.problem)}")
            continue
        cells = [
            "away"
            if person.away_on(day)
            else _cell(person.free[day], day.weekday() in person.person.hours.weekdays)
            for day in report.days
        ]
        rows.append(name + "".join(c.rjust(CELL_WIDTH) for c in cells))
    # Each code block is packed on its own, so a long grid splits between rows; rows are
    # escaped first, as escaping lengthens them.
    chunks = pack_lines([escape(row) for row in rows], limit=2990)
    return [f"```{chunk}```" for chunk in chunks] + notes


def _short_name(person: PersonAvailability) -> str:
    # A backtick would end the code block the grid is in.
    name = (person.person.name or person.person.user_id).replace("`", "'")
    name = name if len(name) < NAME_WIDTH else name[: NAME_WIDTH - 2] + "…"
    return name.ljust(NAME_WIDTH)


def _cell(windows: list[Interval], working: bool) -> str:
    if not working:
        return "off"
    free = sum((w.duration for w in windows), timedelta())
    if not free:
        return "—"
    hours, rest = divmod(free, timedelta(hours=1))
    minutes = int(rest / timedelta(minutes=1))
    if hours and minutes:
        return f"{hours}h{minutes:02d}"
    return f"{hours}h" if hours else f"{minutes}m"


def build_nobody_connected(asked_for_everyone: bool, not_connected: Sequence[str] = ()) -> Message:
    if not asked_for_everyone:
        return Message.text_only("I couldn't find those people.")
    text = (
        "No staff member has connected a calendar yet, so I can't tell who is free. "
        "Each photographer runs `@Tonomo connect-calendar` in this channel to connect their own."
    )
    if not not_connected:
        return Message.text_only(text)
    return Message.of(
        text,
        SectionBlock(text=MarkdownTextObject(text=text)),
        *(
            SectionBlock(text=MarkdownTextObject(text=part))
            for part in pack_lines([not_connected_line(not_connected)])
        ),
    )


def build_connect_nudge(user_ids: list[str], asked_by: str) -> Message:
    """Posted in the channel: the people asked about whose calendars aren't connected,
    never the person who asked (who has their answer already)."""
    others = [u for u in user_ids if u != asked_by]
    people = ", ".join(mention(u) for u in others[:NUDGE_LIMIT])
    if len(others) > NUDGE_LIMIT:
        people += f" and {len(others) - NUDGE_LIMIT} more"
    text = (
        f"{people}: {mention(asked_by)} asked when you're free, but I can't see your calendar yet. "
        "Connect it from your own Slack account and I'll answer from it: I only ever see when "
        "you're busy, never what your events are."
    )
    return Message.of(
        text,
        SectionBlock(text=MarkdownTextObject(text=text)),
        ActionsBlock(
            elements=[
                ButtonElement(text="Connect my calendar", action_id=CONNECT_MINE, style="primary")
            ]
        ),
    )


# The availability modal's blocks; each block's element has the same action id.
ASK_WHO, ASK_WHEN, ASK_LENGTH = "who", "when", "length"
WHEN_CHOICES = ("today", "tomorrow", "this week", "next week")


def build_availability_modal(channel_id: str) -> dict[str, Any]:
    """The panel's Availability form: who (everyone when left empty), when, how long; the
    channel rides along. Its answer is the same as `availability`'s, to whoever submitted."""
    options = [Option(value=w, label=w.capitalize()) for w in WHEN_CHOICES]
    view = View(
        type="modal",
        callback_id=AVAILABILITY_MODAL,
        private_metadata=channel_id,
        title="Who is free?",
        submit="Show",
        close="Cancel",
        blocks=[
            InputBlock(
                block_id=ASK_WHO,
                label="Who",
                optional=True,
                hint="Leave it empty for everyone",
                element=UserMultiSelectElement(action_id=ASK_WHO, placeholder="Everyone"),
            ),
            InputBlock(
                block_id=ASK_WHEN,
                label="When",
                element=StaticSelectElement(
                    action_id=ASK_WHEN, options=options, initial_option=options[0]
                ),
            ),
            InputBlock(
                block_id=ASK_LENGTH,
                label="Only where this fits",
                optional=True,
                hint="Like 30m, 1h, 1h30m or 90m",
                element=PlainTextInputElement(action_id=ASK_LENGTH, placeholder="1h30m"),
            ),
        ],
    )
    return view.to_dict()
