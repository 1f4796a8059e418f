"""Messages of booking and cancelling: the booking, conflicts with their offers, refusals."""

from __future__ import annotations

import json
from dataclasses import dataclass
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
    Option,
    PlainTextInputElement,
    RadioButtonsElement,
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
    EVENT_UNREACHABLE,
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
from bot.messages.ids import BOOK_MODAL, BOOK_SLOT, CANCEL_BOOKING, MARK_CANCELLED
from bot.messages.people import who_can
from bot.staff import NOT_CONNECTED
from bot.when import Clock, format_duration
from storage.models import Booking, BookingStatus


def when_text(interval: Interval, zone: ZoneInfo, today: date, clock: Clock) -> str:
    """`tomorrow (Wed 25 Nov), 13:00–14:30`."""
    return f"{format_day(interval.start.astimezone(zone).date(), today)}, {format_range(interval, zone, clock)}"


def _booking_interval(booking: Booking) -> Interval:
    return Interval(booking.starts_at, booking.ends_at)


def _summary(booking: Booking, zone: ZoneInfo, today: date, clock: Clock) -> str:
    return (
        f"{mention(booking.staff_user_id)}, *{when_text(_booking_interval(booking), zone, today, clock)}*"
        f": {escape(booking.title)}"
    )


def build_booking(
    booking: Booking, zone: ZoneInfo, today: date, clock: Clock, note: str | None = None
) -> Message:
    """The booking, posted in the channel, with its id and a Cancel button."""
    if booking.status is BookingStatus.CANCELLED:
        return build_cancelled_booking(booking, zone, today, clock)
    text = f":white_check_mark: Booked {_summary(booking, zone, today, clock)}"
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


def build_booked_again(outcome: Booked, zone: ZoneInfo, today: date, clock: Clock) -> Message:
    """To the person whose request had already booked (a retry, a second click)."""
    booking = outcome.booking
    if booking.status is BookingStatus.CANCELLED:
        return Message.text_only(
            f"That was booked already as `{booking.short_id}`, and has since been cancelled. "
            "To book it again, run `@Tonomo book` anew."
        )
    return Message.text_only(
        f"That's booked already, nothing more to do: `{booking.short_id}`, "
        f"{_summary(booking, zone, today, clock)}."
    )


CONFLICT_TEXT = {
    OUTSIDE_HOURS: "that's outside their working hours",
    BOOKED: "they already have a booking then",
    BUSY: "their own calendar shows them busy then",
}


def build_conflict(
    conflict: Conflict, staff_user_id: str, title: str, zone: ZoneInfo, today: date, clock: Clock
) -> Message:
    """To the person booking: why not, and the nearest free slots as buttons that book."""
    why = CONFLICT_TEXT[conflict.kind]
    if conflict.booking is not None:
        why += f" (`{conflict.booking.short_id}`, {format_range(_booking_interval(conflict.booking), zone, clock)})"
    text = (
        f":no_entry: I can't book {mention(staff_user_id)} "
        f"{when_text(conflict.asked, zone, today, clock)}: {why}."
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
                        text=when_text(slot, zone, today, clock)[:75],
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


def build_slot_used(booking: Booking, zone: ZoneInfo, today: date, clock: Clock) -> Message:
    """The conflict's message once one of its slots is booked (replacing it): which one,
    and no buttons left to click. (Its words leave "Booked" to the channel's message.)"""
    text = (
        f":white_check_mark: Done: you took {_summary(booking, zone, today, clock)}, booking "
        f"`{booking.short_id}`. It's in the channel, with its Cancel button; the other times "
        "are no longer offered."
    )
    return Message.of(
        f"You took {booking.short_id}: {escape(booking.title)}",
        SectionBlock(text=MarkdownTextObject(text=text)),
    )


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


def build_cancelled_booking(booking: Booking, zone: ZoneInfo, today: date, clock: Clock) -> Message:
    """The booking message once cancelled (updated in place, or posted)."""
    by = f" by {mention(booking.cancelled_by)}" if booking.cancelled_by else ""
    text = f":wastebasket: ~Booked {_summary(booking, zone, today, clock)}~ Cancelled{by}."
    return Message.of(
        f"Cancelled {booking.short_id}",
        SectionBlock(text=MarkdownTextObject(text=text)),
        ContextBlock(elements=[MarkdownTextObject(text=f"Booking `{booking.short_id}`.")]),
    )


def _calendar_of(account: str) -> str:
    return (
        f"{escape(account)}'s Google Calendar" if account else "the Google Calendar that holds it"
    )


def build_cancel_notice(
    outcome: Cancelled, by: str, zone: ZoneInfo, today: date, clock: Clock
) -> Message:
    booking = outcome.booking
    if outcome.event_deleted:
        text = (
            f":wastebasket: {mention(by)} cancelled `{booking.short_id}`: "
            f"{_summary(booking, zone, today, clock)}. Its event is gone from the primary calendar"
            + (f" ({escape(booking.event_account)})." if booking.event_account else ".")
        )
    else:
        text = (
            f":wastebasket: {mention(by)} marked `{booking.short_id}` cancelled here: "
            f"{_summary(booking, zone, today, clock)}. Its event is still in "
            f"{_calendar_of(booking.event_account)}, which I can't reach: please delete it "
            "there by hand."
        )
    return Message.text_only(text)


def _unreachable(outcome: NotCancelled, short_id: str) -> Message:
    """Why the event can't be deleted, and the two ways on: reconnect, or mark cancelled
    here (a button) and delete the event by hand."""
    booking = outcome.booking
    account = booking.event_account if booking is not None else ""
    now = outcome.primary_account
    if not account:
        where = (
            "I don't know which Google account holds its event (it was booked before I kept "
            "that, with no primary calendar connected since)"
        )
        reconnect = ""
    elif now.casefold() == account.casefold():
        where = (
            f"its event is on {escape(account)}'s calendar, the primary calendar, which needs "
            "reconnecting"
        )
        reconnect = (
            f"• reconnect {escape(account)} (`@Tonomo status` has the Reconnect button), then "
            "cancel again and I'll delete the event;"
        )
    else:
        replaced = (
            f" (the primary calendar is now {escape(now)})"
            if now
            else " (no primary calendar is connected)"
        )
        where = (
            f"its event is on {escape(account)}'s calendar, and that account isn't connected "
            f"any more{replaced}"
        )
        reconnect = (
            f"• connect {escape(account)} as the primary calendar again "
            "(`@Tonomo connect-calendar primary`), then cancel again and I'll delete the event;"
        )
    text = f":warning: I can't cancel `{escape(short_id)}` yet: {where}. Nothing changed."
    ways = "\n".join(
        line
        for line in (
            "What you can do:",
            reconnect,
            f"• *Mark cancelled here*: the booking is cancelled in Tonomo and you delete its "
            f"event by hand in {_calendar_of(account)}.",
        )
        if line
    )
    value = booking.short_id if booking is not None else short_id
    return Message.of(
        f"I can't cancel {short_id} yet: its event's calendar isn't connected.",
        SectionBlock(text=MarkdownTextObject(text=text)),
        SectionBlock(text=MarkdownTextObject(text=ways)),
        ActionsBlock(
            elements=[
                ButtonElement(
                    text="Mark cancelled here",
                    action_id=MARK_CANCELLED,
                    value=value,
                    confirm=ConfirmObject(
                        title="Mark it cancelled here?",
                        text=(
                            "The booking is cancelled in Tonomo; its event stays in "
                            f"{_calendar_of(account)} until you delete it there."
                        )[:300],
                        confirm="Mark cancelled",
                        deny="Keep it",
                    ),
                )
            ]
        ),
    )


def build_not_cancelled(outcome: NotCancelled, short_id: str, owner: str | None = None) -> Message:
    """Why a booking was not cancelled; `owner` is the customer's, who could cancel it."""
    if outcome.reason == EVENT_UNREACHABLE:
        return _unreachable(outcome, short_id)
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
FORM_SLOT = "slot"
"""After a conflict: the nearest free times, as radio buttons (chosen, it wins over the
day and time)."""

DEFAULT_LENGTH = timedelta(hours=1)
"""The booking form's length until someone types another."""


@dataclass(frozen=True, kw_only=True)
class BookFormValues:
    """What the booking form shows in its fields: its defaults, or what was typed."""

    start: datetime
    duration: timedelta = DEFAULT_LENGTH
    staff_user_id: str | None = None
    title: str = ""


def build_book_modal(
    channel_id: str,
    zone: ZoneInfo,
    today: date,
    clock: Clock,
    *,
    values: BookFormValues | None = None,
    conflict: Conflict | None = None,
) -> dict[str, Any]:
    """`@Tonomo book` alone: a form for the same booking; the channel rides along.

    `values` fills the fields (without, today at 09:00); with a `conflict`, the form says
    why that time can't be booked and offers the nearest free times to pick from."""
    start = values.start.astimezone(zone) if values is not None else None
    day = start.date() if start is not None else today
    at = f"{start:%H:%M}" if start is not None else "09:00"
    duration = format_duration(values.duration if values is not None else DEFAULT_LENGTH)
    staff: dict[str, Any] = {}
    if values is not None and values.staff_user_id:
        staff["initial_user"] = values.staff_user_id
    title: dict[str, Any] = {}
    if values is not None and values.title:
        title["initial_value"] = values.title
    blocks: list[Any] = []
    if conflict is not None:
        blocks += _form_conflict_blocks(conflict, zone, today, clock)
    blocks += [
        InputBlock(
            block_id=FORM_STAFF,
            label="Who",
            element=UserSelectElement(action_id=FORM_STAFF, placeholder="A photographer", **staff),
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


def _form_conflict_blocks(
    conflict: Conflict, zone: ZoneInfo, today: date, clock: Clock
) -> list[Any]:
    why = CONFLICT_TEXT[conflict.kind]
    if conflict.booking is not None:
        why += f" (`{conflict.booking.short_id}`, {format_range(_booking_interval(conflict.booking), zone, clock)})"
    text = f":no_entry: I can't book {when_text(conflict.asked, zone, today, clock)}: {why}."
    length = format_duration(conflict.asked.duration)
    text += f" Pick one of the nearest free times for {length}, or change the day and time."
    return [
        SectionBlock(text=MarkdownTextObject(text=text)),
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
                    for slot in conflict.slots
                ],
            ),
        ),
    ]


def read_form_slot(values: dict[str, dict[str, dict[str, Any]]]) -> datetime | None:
    """The nearest free time chosen on the form after a conflict, if one was."""
    chosen = (values.get(FORM_SLOT, {}).get(FORM_SLOT, {}).get("selected_option") or {}).get(
        "value"
    )
    try:
        start = datetime.fromisoformat(str(chosen)) if chosen else None
    except ValueError:
        return None
    return start if start is not None and start.tzinfo is not None else None


def build_book_working(channel_id: str) -> dict[str, Any]:
    """The booking form once Google took too long to answer within Slack's 3 seconds: the
    booking goes on, and its answer comes in the channel."""
    view = View(
        type="modal",
        callback_id=BOOK_MODAL,
        private_metadata=channel_id,
        title="Book a staff member",
        close="Close",
        blocks=[
            SectionBlock(
                text=MarkdownTextObject(
                    text=":hourglass_flowing_sand: Working on it… Google is slow to answer. "
                    "I'll tell you in the channel how it went (only you see that). "
                    "You can close this."
                )
            )
        ],
    )
    return view.to_dict()


FORM_ERROR_TEXT = {
    PAST: "That time has already passed. Pick a time later than now.",
    OUTSIDE_HOURS: "That's outside their working hours. Pick a time within them.",
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


def form_error(outcome: Conflict | Refused) -> tuple[str, str] | None:
    """A refusal that concerns the form's fields: the field's block id and what to say on
    it; None for one that doesn't (the primary calendar, Google), told as a message."""
    if isinstance(outcome, Conflict):
        if outcome.kind == OUTSIDE_HOURS:
            return FORM_TIME, FORM_ERROR_TEXT[OUTSIDE_HOURS]
        if not outcome.slots:
            length = format_duration(outcome.asked.duration)
            return (
                FORM_TIME,
                f"{CONFLICT_TEXT[outcome.kind].capitalize()}, and they have no free {length} in the coming week.",
            )
        return None
    if outcome.reason in (PAST, NOT_CONNECTED, BEING_BOOKED):
        field = FORM_TIME if outcome.reason == PAST else FORM_STAFF
        return field, FORM_ERROR_TEXT[outcome.reason]
    if outcome.reason in REFUSAL_TEXT:
        return None
    return FORM_STAFF, f"I can't book them: their {why_unknown(outcome.reason)}."
