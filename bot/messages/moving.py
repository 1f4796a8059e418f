"""Messages of moving a booking: the channel told who moved it, a conflict with the free
times offered as buttons that move it there, refusals, and the move form."""

from __future__ import annotations

import json
from datetime import date, datetime, time
from typing import Any
from zoneinfo import ZoneInfo

from slack_sdk.models.blocks import (
    DatePickerElement,
    InputBlock,
    MarkdownTextObject,
    SectionBlock,
    TimePickerElement,
)
from slack_sdk.models.views import View

from bot import when
from bot.booking import (
    ALREADY_CANCELLED,
    BEING_BOOKED,
    EVENT_GONE,
    GOOGLE_DOWN,
    NOT_FOUND,
    NOT_SAVED,
    NOT_YOURS,
    PAST,
    Conflict,
    Moved,
    NotMoved,
    Refused,
)
from bot.messages import Message, escape, mention
from bot.messages.availability import why_unknown
from bot.messages.booking import (
    PAST_TEXT,
    because,
    booking_interval,
    no_such_booking,
    not_yours,
    offer_blocks,
    reason_lines,
    replaced_by,
    when_text,
)
from bot.messages.booking_form import (
    FORM_DAY,
    FORM_TIME,
    FormTrouble,
    form_trouble_blocks,
    working_view,
)
from bot.messages.ids import MOVE_MODAL, MOVE_SLOT
from bot.staff import NOT_CONNECTED
from bot.when import Clock, format_duration
from storage.models import Booking


def _named(booking: Booking) -> str:
    """`K7Q2MX` (@alice, Listing photos)."""
    return f"`{booking.short_id}` ({mention(booking.staff_user_id)}, {escape(booking.title)})"


def build_moved(moved: Moved, by: str, zone: ZoneInfo, today: date, clock: Clock) -> Message:
    """In the channel: who moved which booking, from when to when."""
    booking = moved.booking
    before = when_text(moved.before, zone, today, clock)
    after = when_text(booking_interval(booking), zone, today, clock)
    text = (
        f":arrow_right: {mention(by)} moved {_named(booking)} from {before} to *{after}*. "
        f"The same event moved on the primary calendar; Google told {escape(booking.staff_email)}."
    )
    return Message.of(
        f"Moved {booking.short_id} to {after}", SectionBlock(text=MarkdownTextObject(text=text))
    )


def build_moved_again(moved: Moved, zone: ZoneInfo, today: date, clock: Clock) -> Message:
    """To the person whose move was already done (a retry), or who asked for where it is."""
    where = when_text(booking_interval(moved.booking), zone, today, clock)
    return Message.text_only(f"{_named(moved.booking)} is already there, {where}: nothing to move.")


def build_move_conflict(
    conflict: Conflict, booking: Booking, zone: ZoneInfo, today: date, clock: Clock
) -> Message:
    """To the person moving: every reason the new time isn't free, and the nearest free
    times as buttons that move the booking there."""
    lines = reason_lines(conflict, today, clock)
    text = (
        f":no_entry: I can't move {_named(booking)} to "
        f"{when_text(conflict.asked, zone, today, clock)}{because(lines)}"
    )
    length = format_duration(conflict.asked.duration)
    offer = offer_blocks(
        conflict.slots,
        [move_slot_value(booking.short_id, slot.start) for slot in conflict.slots],
        MOVE_SLOT,
        zone,
        today,
        clock,
        offer=f"The nearest free times for {length}:",
        click=f"A click moves `{booking.short_id}` there.",
        none=f"They have no free {length} in the coming week, so it stays where it is.",
    )
    return Message.of(
        f"I can't move that: {'; '.join(lines)}.",
        SectionBlock(text=MarkdownTextObject(text=text)),
        *offer,
    )


def build_move_used(moved: Moved, zone: ZoneInfo, today: date, clock: Clock) -> Message:
    """The move conflict's message once one of its times is taken: which, no buttons left."""
    where = when_text(booking_interval(moved.booking), zone, today, clock)
    return Message.text_only(
        f":white_check_mark: Done: {_named(moved.booking)} is now {where}. "
        "The other times are no longer offered."
    )


MOVE_REFUSAL_TEXT = {
    PAST: PAST_TEXT,
    GOOGLE_DOWN: (
        "Google didn't take the change, so the booking stays where it was, its event too. "
        "Please try again in a minute."
    ),
    BEING_BOOKED: (
        "Someone else is booking or moving them right now, so I didn't move this. It stays "
        "where it was; please try again in a minute."
    ),
    NOT_SAVED: (
        "Something went wrong on my side while saving the move, so I put the event back where "
        "it was. Nothing moved; please try again."
    ),
}


def build_move_refused(refused: Refused) -> Message:
    """A move refused for its time, Google, the database, or the person's calendar."""
    text = MOVE_REFUSAL_TEXT.get(refused.reason)
    if text is None:
        if refused.reason == NOT_CONNECTED:
            text = (
                "I can't move it: they haven't connected a calendar, so I can't see when "
                "they're free. It stays where it was."
            )
        else:
            text = f"I can't move it: their {why_unknown(refused.reason)}. It stays where it was."
    return Message.text_only(f":no_entry: {text}")


def build_not_moved(outcome: NotMoved, short_id: str, owner: str | None = None) -> Message:
    """Why a booking was not moved; `owner` is the customer's, who could move it."""
    booking = outcome.booking
    shown = escape(short_id)
    if outcome.reason == NOT_YOURS and booking is not None:
        text = not_yours(booking, short_id, owner, "move")
    elif outcome.reason == NOT_FOUND or booking is None:
        text = no_such_booking(short_id)
    elif outcome.reason == ALREADY_CANCELLED:
        text = f"Booking `{shown}` was cancelled, so there's nothing to move. Book the new time instead."
    elif outcome.reason == EVENT_GONE:
        text = (
            f":warning: I can't move `{shown}`: its event isn't on the primary calendar any more "
            "(someone deleted it in Google Calendar). Nothing changed here. "
            f"`@Tonomo cancel {shown}` cancels the booking too; then book the new time."
        )
    else:  # EVENT_UNREACHABLE
        account, now = booking.event_account, outcome.primary_account
        if account and now.casefold() == account.casefold():
            where = (
                f"its event is on {escape(account)}'s calendar, the primary calendar, which "
                "needs reconnecting: `@Tonomo status` has the Reconnect button, then move it again"
            )
        elif account:
            where = (
                f"its event is on {escape(account)}'s calendar, and that account isn't "
                f"connected any more{replaced_by(now)}. Connect {escape(account)} as the primary "
                "calendar again (`@Tonomo connect-calendar primary`) and move it again, or "
                f"cancel it (`@Tonomo cancel {shown}`) and book the new time"
            )
        else:
            where = (
                "I don't know which Google account holds its event (it was booked before I "
                f"kept that). Cancel it (`@Tonomo cancel {shown}`) and book the new time"
            )
        text = f":warning: I can't move `{shown}`: {where}. Nothing changed."
    return Message.text_only(text)


def move_slot_value(short_id: str, start: datetime) -> str:
    """What a suggested time to move a booking to carries: which booking, and when."""
    return json.dumps({"b": short_id, "s": start.isoformat()}, separators=(",", ":"))


def read_move_slot_value(value: str) -> tuple[str, datetime] | None:
    """The move a suggested time's button asks for, or None if the value isn't ours."""
    try:
        data = json.loads(value)
        start = datetime.fromisoformat(data["s"])
        if start.tzinfo is None:
            return None
        return str(data["b"]), start
    except (ValueError, KeyError, TypeError, OverflowError):
        return None


# --- the move form ------------------------------------------------------------------------


def build_move_modal(
    channel_id: str,
    booking: Booking,
    zone: ZoneInfo,
    today: date,
    clock: Clock,
    *,
    start: datetime | None = None,
    trouble: FormTrouble | None = None,
) -> dict[str, Any]:
    """The Move button's form: the booking, and its new day and time (starting where it
    is, or at `start`); with `trouble`, why that time can't be had and the nearest free
    times to pick from. The channel and the booking ride along."""
    at = (start or booking.starts_at).astimezone(zone)
    summary = (
        f"{_named(booking)}, now *{when_text(booking_interval(booking), zone, today, clock)}*. "
        f"It keeps its length, {format_duration(booking.ends_at - booking.starts_at)}."
    )
    blocks: list[Any] = [SectionBlock(text=MarkdownTextObject(text=summary))]
    if trouble is not None:
        blocks += form_trouble_blocks(trouble, zone, today, clock, verb="move it to")
    blocks += [
        InputBlock(
            block_id=FORM_DAY,
            label="New day",
            element=DatePickerElement(action_id=FORM_DAY, initial_date=at.date().isoformat()),
        ),
        InputBlock(
            block_id=FORM_TIME,
            label=f"New start time ({zone.key})",
            element=TimePickerElement(action_id=FORM_TIME, initial_time=f"{at:%H:%M}"),
        ),
    ]
    view = View(
        type="modal",
        callback_id=MOVE_MODAL,
        private_metadata=move_metadata(channel_id, booking.short_id),
        title=f"Move {booking.short_id}",
        submit="Move",
        close="Cancel",
        blocks=blocks,
    )
    return view.to_dict()


def move_metadata(channel_id: str, short_id: str) -> str:
    return json.dumps({"c": channel_id, "b": short_id}, separators=(",", ":"))


def read_move_metadata(text: str) -> tuple[str, str] | None:
    """The channel and booking a move modal is for, or None if it isn't one of ours."""
    try:
        data = json.loads(text)
        return str(data["c"]), str(data["b"])
    except (ValueError, KeyError, TypeError):
        return None


def read_move_form(
    values: dict[str, dict[str, dict[str, Any]]],
) -> tuple[str, time] | dict[str, str]:
    """The move modal's day (`YYYY-MM-DD`, resolved like a command's DAY) and time, or an
    error per field."""

    def value(block: str, key: str) -> str:
        chosen = values.get(block, {}).get(block, {}).get(key)
        return chosen.strip() if isinstance(chosen, str) else ""

    day = value(FORM_DAY, "selected_date")
    errors = {} if day else {FORM_DAY: "Choose a day."}
    try:
        at = when.parse_time(value(FORM_TIME, "selected_time"))
    except when.WhenError as error:
        errors[FORM_TIME] = error.problem
    return errors or (day, at)


def build_move_working(channel_id: str, short_id: str) -> dict[str, Any]:
    """The move modal once Google took too long to answer within Slack's 3 seconds."""
    return working_view(
        MOVE_MODAL, move_metadata(channel_id, short_id), f"Move {short_id}", "the move"
    )
