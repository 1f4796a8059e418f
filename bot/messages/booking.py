"""Messages of booking and cancelling: the booking, conflicts with their offers, refusals."""

from __future__ import annotations

import json
from datetime import date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from slack_sdk.models.blocks import (
    ActionsBlock,
    ButtonElement,
    ConfirmObject,
    ContextBlock,
    DatePickerElement,
    InputBlock,
    MarkdownTextObject,
    PlainTextInputElement,
    SectionBlock,
    TimePickerElement,
    UserSelectElement,
)
from slack_sdk.models.views import View

from bot.availability import Interval, format_range
from bot.booking import (
    BEING_BOOKED,
    BOOKED,
    BUSY,
    GOOGLE_DOWN,
    NO_PRIMARY,
    NOT_FOUND,
    NOT_SAVED,
    NOT_YOURS,
    OUTSIDE_HOURS,
    PAST,
    PRIMARY_BROKEN,
    Booked,
    Cancelled,
    Conflict,
    NotCancelled,
    Refused,
)
from bot.commands import MAX_TITLE
from bot.messages import Message, escape, format_day, mention
from bot.messages.availability import why_unknown
from bot.messages.ids import BOOK_MODAL, BOOK_SLOT, CANCEL_BOOKING
from bot.messages.people import who_can
from bot.staff import NOT_CONNECTED
from bot.when import format_duration
from storage.models import Booking, BookingStatus


def when_text(interval: Interval, zone: ZoneInfo, today: date) -> str:
    """`tomorrow (Wed 25 Nov), 13:00–14:30`."""
    return f"{format_day(interval.start.astimezone(zone).date(), today)}, {format_range(interval, zone)}"


def _booking_interval(booking: Booking) -> Interval:
    return Interval(booking.starts_at, booking.ends_at)


def _summary(booking: Booking, zone: ZoneInfo, today: date) -> str:
    return (
        f"{mention(booking.staff_user_id)}, *{when_text(_booking_interval(booking), zone, today)}*"
        f": {escape(booking.title)}"
    )


def build_booking(
    booking: Booking, zone: ZoneInfo, today: date, note: str | None = None
) -> Message:
    """The booking, posted in the channel, with its id and a Cancel button."""
    if booking.status is BookingStatus.CANCELLED:
        return build_cancelled_booking(booking, zone, today)
    text = f":white_check_mark: Booked {_summary(booking, zone, today)}"
    context = (
        f"Booking `{booking.short_id}` by {mention(booking.booked_by)}. Times in {zone.key}. "
        f"The event is on the primary calendar, with {escape(booking.staff_email)} invited."
    )
    blocks = [
        SectionBlock(
            text=MarkdownTextObject(text=text),
            accessory=ButtonElement(
                text="Cancel",
                action_id=CANCEL_BOOKING,
                value=booking.short_id,
                style="danger",
                confirm=ConfirmObject(
                    title="Cancel this booking?",
                    text=f"The event is deleted from the primary calendar. Booking {booking.short_id}.",
                    confirm="Cancel booking",
                    deny="Keep it",
                    style="danger",
                ),
            ),
        ),
        ContextBlock(elements=[MarkdownTextObject(text=context)]),
    ]
    if note:
        blocks.append(ContextBlock(elements=[MarkdownTextObject(text=escape(note))]))
    return Message.of(f"Booked {booking.short_id}: {escape(booking.title)}", *blocks)


def build_booked_again(outcome: Booked, zone: ZoneInfo, today: date) -> Message:
    """To the person whose request had already booked (a retry, a second click)."""
    booking = outcome.booking
    if booking.status is BookingStatus.CANCELLED:
        return Message.text_only(
            f"That was booked already as `{booking.short_id}`, and has since been cancelled. "
            "To book it again, run `@Tonomo book` anew."
        )
    return Message.text_only(
        f"That's booked already, nothing more to do: `{booking.short_id}`, "
        f"{_summary(booking, zone, today)}."
    )


CONFLICT_TEXT = {
    OUTSIDE_HOURS: "that's outside their working hours",
    BOOKED: "they already have a booking then",
    BUSY: "their own calendar shows them busy then",
}


def build_conflict(
    conflict: Conflict, staff_user_id: str, title: str, zone: ZoneInfo, today: date
) -> Message:
    """To the person booking: why not, and the nearest free slots as buttons that book."""
    why = CONFLICT_TEXT[conflict.kind]
    if conflict.booking is not None:
        why += f" (`{conflict.booking.short_id}`, {format_range(_booking_interval(conflict.booking), zone)})"
    text = (
        f":no_entry: I can't book {mention(staff_user_id)} "
        f"{when_text(conflict.asked, zone, today)}: {why}."
    )
    blocks: list[SectionBlock | ActionsBlock | ContextBlock] = [
        SectionBlock(text=MarkdownTextObject(text=text))
    ]
    length = format_duration(conflict.asked.duration)
    if conflict.slots:
        blocks.append(
            SectionBlock(text=MarkdownTextObject(text=f"The nearest free times for {length}:"))
        )
        blocks.append(
            ActionsBlock(
                elements=[
                    ButtonElement(
                        text=when_text(slot, zone, today)[:75],
                        action_id=f"{BOOK_SLOT}_{n}",
                        value=slot_value(staff_user_id, slot, title),
                    )
                    for n, slot in enumerate(conflict.slots)
                ]
            )
        )
        blocks.append(
            ContextBlock(elements=[MarkdownTextObject(text=f"A click books it: {escape(title)}")])
        )
    else:
        blocks.append(
            SectionBlock(
                text=MarkdownTextObject(
                    text=f"They have no free {length} in the coming week. "
                    "`@Tonomo availability next week` shows the week after."
                )
            )
        )
    return Message.of(f"I can't book that: {why}.", *blocks)


def slot_value(staff_user_id: str, slot: Interval, title: str) -> str:
    """What a suggested slot's button carries: who, when, how long, what for."""
    minutes = int(slot.duration / timedelta(minutes=1))
    return json.dumps(
        {"u": staff_user_id, "s": slot.start.isoformat(), "m": minutes, "t": title},
        separators=(",", ":"),
        ensure_ascii=False,  # escaped, a title of 200 emoji would overflow a button's value
    )


def read_slot_value(value: str) -> tuple[str, datetime, timedelta, str] | None:
    """The booking a slot's button asks for, or None if the value isn't one of ours."""
    try:
        data = json.loads(value)
        start = datetime.fromisoformat(data["s"])
        if start.tzinfo is None:
            return None
        minutes = int(data["m"])
        if minutes <= 0:
            return None
        return str(data["u"]), start, timedelta(minutes=minutes), str(data["t"])
    except (ValueError, KeyError, TypeError, OverflowError):
        return None


REFUSAL_TEXT = {
    PAST: "That time has already passed. Pick a time later than now.",
    NO_PRIMARY: (
        "The business's primary calendar isn't connected yet: it's the calendar that holds "
        "every booking. Connect it with `@Tonomo connect-calendar primary`, then book again."
    ),
    PRIMARY_BROKEN: (
        "The primary calendar needs reconnecting before I can put bookings on it: "
        "`@Tonomo status` has the Reconnect button. Nothing was booked."
    ),
    GOOGLE_DOWN: "Google didn't answer, so nothing was booked. Please try again in a minute.",
    BEING_BOOKED: (
        "Someone else is booking them right now and it's taking a while, so I didn't book "
        "this. Nothing was booked; please try again in a minute."
    ),
    NOT_SAVED: (
        "Something went wrong on my side while saving the booking, so I took the event back "
        "off the calendar. Nothing was booked; please try again."
    ),
}


def build_refused(refused: Refused, staff_user_id: str) -> Message:
    if refused.reason in REFUSAL_TEXT:
        text = REFUSAL_TEXT[refused.reason]
    elif refused.reason == NOT_CONNECTED:
        text = (
            f"I can't book {mention(staff_user_id)}: they haven't connected a calendar yet, so I "
            "can't see when they're free. They connect their own with `@Tonomo connect-calendar`."
        )
    else:  # their calendar is broken or couldn't be read
        text = f"I can't book {mention(staff_user_id)}: their {why_unknown(refused.reason)}."
    return Message.text_only(f":no_entry: {text}")


def build_cancelled_booking(booking: Booking, zone: ZoneInfo, today: date) -> Message:
    """The booking message once cancelled (updated in place, or posted)."""
    by = f" by {mention(booking.cancelled_by)}" if booking.cancelled_by else ""
    text = f":wastebasket: ~Booked {_summary(booking, zone, today)}~ Cancelled{by}."
    return Message.of(
        f"Cancelled {booking.short_id}",
        SectionBlock(text=MarkdownTextObject(text=text)),
        ContextBlock(elements=[MarkdownTextObject(text=f"Booking `{booking.short_id}`.")]),
    )


def build_cancel_notice(outcome: Cancelled, by: str, zone: ZoneInfo, today: date) -> Message:
    booking = outcome.booking
    text = f":wastebasket: {mention(by)} cancelled `{booking.short_id}`: {_summary(booking, zone, today)}."
    if outcome.event_deleted:
        text += " Its event is gone from the primary calendar."
    else:
        text += (
            " I couldn't delete its event, because the primary calendar isn't connected or "
            "needs reconnecting: please delete it in Google Calendar."
        )
    return Message.text_only(text)


def build_not_cancelled(outcome: NotCancelled, short_id: str, owner: str | None = None) -> Message:
    """Why a booking was not cancelled; `owner` is the customer's, who could cancel it."""
    if outcome.reason == NOT_YOURS and outcome.booking is not None:
        booking = outcome.booking
        text = (
            f"Booking `{escape(short_id)}` is {mention(booking.staff_user_id)}'s. You can cancel "
            f"your own bookings; this one only they, {mention(booking.booked_by)} who booked it, "
            f"or {who_can(owner)} can cancel."
        )
    elif outcome.reason == NOT_FOUND:
        text = (
            f"There's no booking `{escape(short_id)}` in this channel. "
            "The id is on the booking's message, like `K7Q2MX`."
        )
    elif outcome.reason == GOOGLE_DOWN:
        text = "Google didn't answer, so the booking stays as it is. Please try again in a minute."
    else:
        text = f"Booking `{escape(short_id)}` was cancelled already."
    return Message.text_only(text)


# The booking modal's blocks; each block's element has the same action id.
FORM_STAFF, FORM_DAY, FORM_TIME, FORM_DURATION, FORM_TITLE = (
    "staff",
    "day",
    "time",
    "duration",
    "title",
)


def build_book_modal(channel_id: str, zone: ZoneInfo, today: date) -> dict[str, Any]:
    """`@Tonomo book` alone: a form for the same booking; the channel rides along."""
    view = View(
        type="modal",
        callback_id=BOOK_MODAL,
        private_metadata=channel_id,
        title="Book a staff member",
        submit="Book",
        close="Cancel",
        blocks=[
            InputBlock(
                block_id=FORM_STAFF,
                label="Who",
                element=UserSelectElement(action_id=FORM_STAFF, placeholder="A photographer"),
            ),
            InputBlock(
                block_id=FORM_DAY,
                label="Day",
                element=DatePickerElement(action_id=FORM_DAY, initial_date=today.isoformat()),
            ),
            InputBlock(
                block_id=FORM_TIME,
                label=f"Start time ({zone.key})",
                element=TimePickerElement(action_id=FORM_TIME, initial_time="09:00"),
            ),
            InputBlock(
                block_id=FORM_DURATION,
                label="Length",
                hint="Like 30m, 1h, 1h30m or 90m",
                element=PlainTextInputElement(action_id=FORM_DURATION, initial_value="1h"),
            ),
            InputBlock(
                block_id=FORM_TITLE,
                label="What for",
                element=PlainTextInputElement(
                    action_id=FORM_TITLE,
                    placeholder="Shoot at 12 Main St",
                    max_length=MAX_TITLE,
                ),
            ),
        ],
    )
    return view.to_dict()
