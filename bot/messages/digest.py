"""The daily digest: "Today's availability", in one message or, when long, several.

Who is free when and how many shoots of the usual length still fit; who is fully
booked; whose calendar can't be read and why; who hasn't connected yet (with a gentle
nudge and a button); and when the calendars were read.

Its blocks are written as Slack's JSON directly, not through slack_sdk's models as the
other messages are: a run builds thousands of digests, and the models' validation of
every block cost about as much as the rest of composing one. The digest has four
fixed shapes (a header, mrkdwn sections, one button, a context line); the limits any of
them could exceed are checked here as the models would check them (`BlockTooLong`), and
tests hold the JSON to what the models build.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, time, timedelta
from typing import Any

from bot.availability import count_fitting, format_range
from bot.messages import SECTION_LIMIT, Message, escape, mention, pack_lines
from bot.messages.availability import why_unknown
from bot.messages.ids import CONNECT_MINE
from bot.staff import AvailabilityReport
from bot.when import Clock, format_duration, format_time

MAX_BLOCKS = 50
"""Blocks in one message (Slack's limit); a longer digest goes out in parts."""
HEADER_LIMIT = 150
"""Characters of a header's text (Slack's limit)."""
CONTEXT_LIMIT = 3000
"""Characters of a context block's text element (Slack's limit for a text object)."""
BUTTON_LIMIT = 75
"""Characters of a button's text (Slack's limit)."""

Block = dict[str, Any]


class BlockTooLong(ValueError):
    """A text over Slack's limit for where it goes (as slack_sdk's models would refuse it)."""


def _checked(text: str, limit: int, where: str) -> str:
    if len(text) > limit:
        raise BlockTooLong(f"{where} text cannot exceed {limit} characters ({len(text)})")
    return text


def header(text: str) -> Block:
    text = _checked(text, HEADER_LIMIT, "header")
    return {"text": {"emoji": True, "text": text, "type": "plain_text"}, "type": "header"}


def section(mrkdwn: str) -> Block:
    text = _checked(mrkdwn, SECTION_LIMIT, "section")
    return {"text": {"text": text, "type": "mrkdwn"}, "type": "section"}


def context(mrkdwn: str) -> Block:
    text = _checked(mrkdwn, CONTEXT_LIMIT, "context")
    return {"elements": [{"text": text, "type": "mrkdwn"}], "type": "context"}


def primary_button(text: str, action_id: str) -> Block:
    """An actions block of one primary button."""
    button = {
        "action_id": action_id,
        "style": "primary",
        "text": {
            "emoji": True,
            "text": _checked(text, BUTTON_LIMIT, "button"),
            "type": "plain_text",
        },
        "type": "button",
    }
    return {"elements": [button], "type": "actions"}


@dataclass(frozen=True)
class DigestView:
    report: AvailabilityReport
    day: date
    shoot: timedelta
    """The usual length of a shoot: how many still fit is counted in these."""
    not_connected: list[str] | None
    """The channel's people with no calendar connected; None when Slack wouldn't list them."""


def digest_lines(view: DigestView, clock: Clock) -> tuple[list[str], list[str], list[str]]:
    """Lines of the free, the fully booked (or off, or away), and those whose calendars
    can't be read."""
    report, zone = view.report, view.report.zone
    free, booked, unknown = [], [], []
    for person in report.people:
        who = mention(person.person.user_id)
        away = person.away_on(view.day)
        if away is not None:
            free.append(f"• {who}: time off" + (f" ({escape(away.reason)})" if away.reason else ""))
            continue
        if person.free is None:
            unknown.append(f"• {who}: {why_unknown(person.problem)}")
            continue
        windows = person.free[view.day]
        if not windows:
            off = view.day.weekday() not in person.person.hours.weekdays
            booked.append(f"{who} (day off)" if off else who)
            continue
        step = person.person.rules.step
        fits = count_fitting(windows, view.shoot, zone=zone, step=step)
        ranges = ", ".join(format_range(w, zone, clock) for w in windows)
        count = f"{fits} × {format_duration(view.shoot)} fit" if fits else "no full shoot fits"
        free.append(f"• {who}: {ranges}  _({count})_")
    return free, booked, unknown


def build_digest(view: DigestView, *, clock: Clock) -> list[Message]:
    report = view.report
    title = f"Today's availability: {view.day:%A} {view.day.day} {view.day:%B}"
    free, booked, unknown = digest_lines(view, clock)
    blocks: list[Block] = [header(title)]
    if not report.people:
        blocks.append(section("No staff calendar is connected yet, so I can't say who is free."))
    for text in pack_lines(free):
        blocks.append(section(text))
    if booked:
        for text in pack_lines([f"*No free time today:* {', '.join(booked)}"]):
            blocks.append(section(text))
    if unknown:
        lines = ["*Calendars I couldn't read:*", *unknown]
        for text in pack_lines(lines):
            blocks.append(section(text))
    if view.not_connected:
        people = ", ".join(mention(u) for u in view.not_connected)
        nudge = (
            f"*Not connected yet:* {people}. When you have a minute, connect your calendar "
            "so the team can see when you're free. I only ever see busy or free, never "
            "what your events are."
        )
        for text in pack_lines([nudge]):
            blocks.append(section(text))
        blocks.append(primary_button("Connect my calendar", CONNECT_MINE))
    read = format_time(report.read_at.astimezone(report.zone).time(), clock)
    footer = (
        f"Read live from Google at {read} ({report.zone.key}). "
        f"Shoots counted at {format_duration(view.shoot)}, your usual length. "
        "`@Tonomo digest off` stops this; "
        f"`@Tonomo digest at {format_time(time(7, 30), clock)}` moves it."
    )
    blocks.append(context(footer))
    return _in_parts(title, blocks)


def _in_parts(title: str, blocks: list[Block]) -> list[Message]:
    parts = [blocks[i : i + MAX_BLOCKS] for i in range(0, len(blocks), MAX_BLOCKS)]
    if len(parts) == 1:
        return [Message(title, parts[0])]
    return [
        Message(f"{title} ({n} of {len(parts)})", part) for n, part in enumerate(parts, start=1)
    ]
