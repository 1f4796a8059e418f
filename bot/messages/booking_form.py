"""The booking form, and what a submitted form says inside itself (the move form says it
too): why that time can't be had with the nearest free times to pick from, an error on a
field, and "Working on it…" when Google is slower than Slack waits."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from slack_sdk.models.blocks import (
    ButtonElement,
    CheckboxesElement,
    DatePickerElement,
    InputBlock,
    MarkdownTextObject,
    Option,
    PlainTextInputElement,
    RadioButtonsElement,
    SectionBlock,
    TimePickerElement,
    UserSelectElement,
)
from slack_sdk.models.views import View

from bot.availability import Interval, Why
from bot.booking import BEING_BOOKED, PAST, Conflict, NobodyFree, Refused
from bot.commands import MAX_TITLE, Book, BookAnyone, parse_book_form
from bot.messages import Message, pack_lines
from bot.messages.availability import why_unknown
from bot.messages.booking import (
    PAST_TEXT,
    REFUSAL_TEXT,
    because,
    not_free_line,
    reason_lines,
    when_text,
)
from bot.messages.ids import BOOK_MODAL, OPEN_BOOK_FORM
from bot.messages.settings import describe_hours
from bot.staff import NOT_CONNECTED
from bot.when import Clock, format_duration

# The booking modal's blocks; each block's element has the same action id.
FORM_STAFF, FORM_DAY, FORM_TIME, FORM_DURATION, FORM_TITLE = (
    "staff",
    "day",
    "time",
    "duration",
    "title",
)
FORM_ANYONE = "anyone"
"""Beside Who: a checkbox, "Anyone free" (a users_select can't hold an option of its own)."""
FORM_SLOT = "slot"
"""After a conflict: the nearest free times, as radio buttons (chosen, it wins over the
day and time)."""
FORM_FIELDS = (FORM_STAFF, FORM_DAY, FORM_TIME, FORM_DURATION, FORM_TITLE)

DEFAULT_LENGTH = timedelta(hours=1)
"""The booking form's length until someone types another."""


@dataclass(frozen=True, kw_only=True)
class BookFormValues:
    """What the booking form shows in its fields: its defaults, or what was typed."""

    start: datetime
    duration: timedelta = DEFAULT_LENGTH
    staff_user_id: str | None = None
    anyone: bool = False
    title: str = ""


@dataclass(frozen=True)
class FormTrouble:
    """What keeps a submitted form from booking, said in the form itself: why, and the
    nearest free times to pick from."""

    asked: Interval
    lines: list[str]
    """Each reason (or, for anyone, each person and their reasons), in words."""
    slots: list[Interval]


def form_trouble(outcome: Conflict | NobodyFree, today: date, clock: Clock) -> FormTrouble:
    if isinstance(outcome, Conflict):
        return FormTrouble(outcome.asked, reason_lines(outcome, today, clock), outcome.slots)
    day = outcome.asked.start.astimezone(outcome.people[0].rules.zone).date()
    lines = [not_free_line(p, day, today, clock) for p in outcome.people]
    return FormTrouble(outcome.asked, lines, outcome.slots)


def read_book_form(
    values: dict[str, dict[str, dict[str, Any]]],
) -> Book | BookAnyone | dict[str, str]:
    """The booking form's `view.state.values`: a booking of the person chosen, of anyone
    free, or an error per field's block id."""
    return parse_book_form(values, FORM_FIELDS, anyone=FORM_ANYONE)


def build_book_modal(
    channel_id: str,
    zone: ZoneInfo,
    today: date,
    clock: Clock,
    *,
    values: BookFormValues | None = None,
    trouble: FormTrouble | None = None,
) -> dict[str, Any]:
    """`@Tonomo book` alone: a form for the same booking; the channel rides along.

    `values` fills the fields (without, today at 09:00); with `trouble`, the form says why
    that time can't be booked and offers the nearest free times to pick from."""
    start = values.start.astimezone(zone) if values is not None else None
    day = start.date() if start is not None else today
    at = f"{start:%H:%M}" if start is not None else "09:00"
    duration = format_duration(values.duration if values is not None else DEFAULT_LENGTH)
    staff: dict[str, Any] = {}
    if values is not None and values.staff_user_id:
        staff["initial_user"] = values.staff_user_id
    anyone_option = Option(text="Anyone free (chosen fairly)", value=FORM_ANYONE)
    anyone: dict[str, Any] = {}
    if values is not None and values.anyone:
        anyone["initial_options"] = [anyone_option]
    title: dict[str, Any] = {}
    if values is not None and values.title:
        title["initial_value"] = values.title
    blocks: list[Any] = []
    if trouble is not None:
        blocks += form_trouble_blocks(trouble, zone, today, clock, verb="book")
    blocks += [
        InputBlock(
            block_id=FORM_STAFF,
            label="Who",
            optional=True,
            hint="Or tick Anyone free below.",
            element=UserSelectElement(action_id=FORM_STAFF, placeholder="A photographer", **staff),
        ),
        InputBlock(
            block_id=FORM_ANYONE,
            label="Anyone free",
            optional=True,
            hint="Books whoever is free then: the fewest hours booked that week, then the "
            "longest since their last booking.",
            element=CheckboxesElement(action_id=FORM_ANYONE, options=[anyone_option], **anyone),
        ),
        InputBlock(
            block_id=FORM_DAY,
            label="Day",
            element=DatePickerElement(action_id=FORM_DAY, initial_date=day.isoformat()),
        ),
        InputBlock(
            block_id=FORM_TIME,
            label=f"Start time ({zone.key})",
            element=TimePickerElement(action_id=FORM_TIME, initial_time=at),
        ),
        InputBlock(
            block_id=FORM_DURATION,
            label="Length",
            hint="Like 30m, 1h, 1h30m or 90m",
            element=PlainTextInputElement(action_id=FORM_DURATION, initial_value=duration),
        ),
        InputBlock(
            block_id=FORM_TITLE,
            label="What for",
            element=PlainTextInputElement(
                action_id=FORM_TITLE,
                placeholder="Shoot at 12 Main St",
                max_length=MAX_TITLE,
                **title,
            ),
        ),
    ]
    view = View(
        type="modal",
        callback_id=BOOK_MODAL,
        private_metadata=channel_id,
        title="Book a staff member",
        submit="Book",
        close="Cancel",
        blocks=blocks,
    )
    return view.to_dict()


def form_trouble_blocks(
    trouble: FormTrouble, zone: ZoneInfo, today: date, clock: Clock, *, verb: str
) -> list[Any]:
    text = f":no_entry: I can't {verb} {when_text(trouble.asked, zone, today, clock)}"
    text += because(trouble.lines)
    length = format_duration(trouble.asked.duration)
    text += f"\nPick one of the nearest free times for {length}, or change the day and time."
    return [
        *(SectionBlock(text=MarkdownTextObject(text=part)) for part in pack_lines([text])),
        InputBlock(
            block_id=FORM_SLOT,
            label="Nearest free times",
            optional=True,
            element=RadioButtonsElement(
                action_id=FORM_SLOT,
                options=[
                    Option(
                        text=when_text(slot, zone, today, clock)[:75], value=slot.start.isoformat()
                    )
                    for slot in trouble.slots
                ],
            ),
        ),
    ]


def read_form_slot(values: dict[str, dict[str, dict[str, Any]]]) -> datetime | None:
    """The nearest free time chosen on a form after a conflict, if one was."""
    chosen = (values.get(FORM_SLOT, {}).get(FORM_SLOT, {}).get("selected_option") or {}).get(
        "value"
    )
    try:
        start = datetime.fromisoformat(str(chosen)) if chosen else None
    except ValueError:
        return None
    return start if start is not None and start.tzinfo is not None else None


def working_view(callback_id: str, private_metadata: str, title: str, what: str) -> dict[str, Any]:
    """A form once Google took too long to answer within Slack's 3 seconds: `what` goes on,
    and how it went is told in the channel."""
    view = View(
        type="modal",
        callback_id=callback_id,
        private_metadata=private_metadata,
        title=title,
        close="Close",
        blocks=[
            SectionBlock(
                text=MarkdownTextObject(
                    text=":hourglass_flowing_sand: Working on it… Google is slow to answer. "
                    f"I'll tell you in the channel how {what} went (only you see that). "
                    "You can close this."
                )
            )
        ],
    )
    return view.to_dict()


def build_book_working(channel_id: str) -> dict[str, Any]:
    """The booking form once Google took too long to answer within Slack's 3 seconds: the
    booking goes on, and its answer comes in the channel."""
    return working_view(BOOK_MODAL, channel_id, "Book a staff member", "it")


# --- field errors ------------------------------------------------------------------------

FORM_ERROR_TEXT = {
    PAST: PAST_TEXT,
    BEING_BOOKED: "Someone else is booking them right now. Please submit again in a minute.",
    NOT_CONNECTED: (
        "They haven't connected a calendar yet, so I can't see when they're free. "
        "They connect their own with @Tonomo connect-calendar."
    ),
}


FORM_BOOK_OTHERS = (
    "Only the owner or an onboarder can book someone else here. Choose yourself, or ask them."
)
"""On the form's Who: a staff member chose someone else (errors are plain text: no names)."""


def _outside_hours_only(conflict: Conflict) -> bool:
    return all(r.why is Why.OUTSIDE_HOURS for r in conflict.reasons)


def form_error(
    outcome: Conflict | NobodyFree | Refused, today: date, clock: Clock
) -> tuple[str, str] | None:
    """A refusal that concerns the form's fields: the field's block id and what to say on
    it; None for one that doesn't (the primary calendar, Google), told as a message, or a
    conflict with free times to offer in the form."""
    if isinstance(outcome, NobodyFree):
        if outcome.slots:
            return None
        length = format_duration(outcome.asked.duration)
        return (
            FORM_TIME,
            f"Nobody is free then, and nobody has a free {length} in the coming week.",
        )
    if isinstance(outcome, Conflict):
        if _outside_hours_only(outcome):
            hours = describe_hours(outcome.rules.hours, clock)
            return (
                FORM_TIME,
                f"That's outside their working hours ({hours}). Pick a time within them.",
            )
        if not outcome.slots:
            # A field's error is short: the first reason (the message lists them all).
            length = format_duration(outcome.asked.duration)
            first = reason_lines(outcome, today, clock)[0]
            return (
                FORM_TIME,
                f"Not free then ({first}), and they have no free {length} in the coming week.",
            )
        return None
    if outcome.reason in (PAST, NOT_CONNECTED, BEING_BOOKED):
        field = FORM_TIME if outcome.reason == PAST else FORM_STAFF
        return field, FORM_ERROR_TEXT[outcome.reason]
    if outcome.reason in REFUSAL_TEXT:
        return None
    return FORM_STAFF, f"I can't book them: their {why_unknown(outcome.reason)}."


def build_open_book_form() -> Message:
    """`book` alone through a door that can't open a modal (a mention): a button that can."""
    return Message.of(
        "Open the booking form.",
        SectionBlock(
            text=MarkdownTextObject(text="The booking form opens from this button."),
            accessory=ButtonElement(text="Open the booking form", action_id=OPEN_BOOK_FORM),
        ),
    )
