"""Messages of booking, booking anyone, moving and cancelling: the booking, conflicts with
their offers (worded as `why` words its reasons), refusals, and the booking and move forms."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from slack_sdk.models.blocks import (
    ActionsBlock,
    ButtonElement,
    CheckboxesElement,
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

from bot import when
from bot.availability import Interval, Why, format_range
from bot.booking import (
    ALREADY_CANCELLED,
    BEING_BOOKED,
    EVENT_GONE,
    EVENT_UNREACHABLE,
    GOOGLE_DOWN,
    NO_PRIMARY,
    NO_STAFF,
    NOT_FOUND,
    NOT_SAVED,
    NOT_YOURS,
    PAST,
    PRIMARY_BROKEN,
    Booked,
    Cancelled,
    Chosen,
    Conflict,
    Load,
    Moved,
    NobodyFree,
    NotCancelled,
    NotFree,
    NotMoved,
    Refused,
)
from bot.commands import MAX_TITLE, Book, BookAnyone, parse_book_form
from bot.messages import Message, escape, format_day, mention, pack_lines
from bot.messages.availability import why_unknown
from bot.messages.ids import (
    BOOK_ANYONE_SLOT,
    BOOK_MODAL,
    BOOK_SLOT,
    CANCEL_BOOKING,
    MARK_CANCELLED,
    MOVE_BOOKING,
    MOVE_MODAL,
    MOVE_SLOT,
)
from bot.messages.people import who_can
from bot.messages.reasons import reasons_in_words
from bot.messages.settings import describe_hours
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
    booking: Booking,
    zone: ZoneInfo,
    today: date,
    clock: Clock,
    note: str | None = None,
    *,
    chosen: str | None = None,
    moved: tuple[str, Interval] | None = None,
) -> Message:
    """The booking, posted in the channel, with its id and its Move and Cancel buttons.

    `chosen` says why `book anyone` chose this person (mrkdwn, `why_chosen`); `moved` is
    who moved it and from where, once it has been (the message is updated in place)."""
    if booking.status is BookingStatus.CANCELLED:
        return build_cancelled_booking(booking, zone, today, clock)
    text = f":white_check_mark: Booked {_summary(booking, zone, today, clock)}"
    context = (
        f"Booking `{booking.short_id}` by {mention(booking.booked_by)}. Times in {zone.key}. "
        f"The event is on the primary calendar, with {escape(booking.staff_email)} invited."
    )
    blocks: list[SectionBlock | ActionsBlock | ContextBlock] = [
        SectionBlock(text=MarkdownTextObject(text=text)),
        ActionsBlock(
            elements=[
                ButtonElement(text="Move", action_id=MOVE_BOOKING, value=booking.short_id),
                ButtonElement(
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
            ]
        ),
        ContextBlock(elements=[MarkdownTextObject(text=context)]),
    ]
    if chosen:
        blocks.append(ContextBlock(elements=[MarkdownTextObject(text=f"Chosen: {chosen}")]))
    if moved is not None:
        by, before = moved
        was = when_text(before, zone, today, clock)
        blocks.append(
            ContextBlock(
                elements=[MarkdownTextObject(text=f"Moved by {mention(by)}; it was {was}.")]
            )
        )
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


def reason_lines(conflict: Conflict, today: date, clock: Clock) -> list[str]:
    """Every reason of the conflict in words, as `why` says them."""
    day = conflict.asked.start.astimezone(conflict.rules.zone).date()
    return reasons_in_words(conflict.reasons, conflict.rules, day, today, clock)


def _because(lines: list[str]) -> str:
    """One reason after a colon; several as a list below."""
    if len(lines) == 1:
        return f": {lines[0]}."
    return ":\n" + "\n".join(f"• {line}" for line in lines)


def _slot_buttons(
    slots: list[Interval], zone: ZoneInfo, today: date, clock: Clock, action: str, values: list[str]
) -> ActionsBlock:
    return ActionsBlock(
        elements=[
            ButtonElement(
                text=when_text(slot, zone, today, clock)[:75],
                action_id=f"{action}_{n}",
                value=value,
            )
            for n, (slot, value) in enumerate(zip(slots, values, strict=True))
        ]
    )


def build_conflict(
    conflict: Conflict, staff_user_id: str, title: str, zone: ZoneInfo, today: date, clock: Clock
) -> Message:
    """To the person booking: every reason not, and the nearest free slots as buttons that
    book."""
    lines = reason_lines(conflict, today, clock)
    text = (
        f":no_entry: I can't book {mention(staff_user_id)} "
        f"{when_text(conflict.asked, zone, today, clock)}{_because(lines)}"
    )
    blocks: list[SectionBlock | ActionsBlock | ContextBlock] = [
        SectionBlock(text=MarkdownTextObject(text=text))
    ]
    length = format_duration(conflict.asked.duration)
    if conflict.slots:
        blocks.append(
            SectionBlock(text=MarkdownTextObject(text=f"The nearest free times for {length}:"))
        )
        values = [slot_value(staff_user_id, slot, title) for slot in conflict.slots]
        blocks.append(_slot_buttons(conflict.slots, zone, today, clock, BOOK_SLOT, values))
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
    return Message.of(f"I can't book that: {'; '.join(lines)}.", *blocks)


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


def anyone_slot_value(user_ids: tuple[str, ...], slot: Interval, title: str) -> str:
    """What a suggested time of `book anyone` carries: among whom (none: everyone), when,
    how long, what for."""
    minutes = int(slot.duration / timedelta(minutes=1))
    return json.dumps(
        {"a": list(user_ids), "s": slot.start.isoformat(), "m": minutes, "t": title},
        separators=(",", ":"),
        ensure_ascii=False,
    )


def read_anyone_slot_value(value: str) -> tuple[tuple[str, ...], datetime, timedelta, str] | None:
    """The `book anyone` a suggested time's button asks for, or None if it isn't ours."""
    try:
        data = json.loads(value)
        people = data["a"]
        if not isinstance(people, list):
            return None
        start = datetime.fromisoformat(data["s"])
        minutes = int(data["m"])
        if start.tzinfo is None or minutes <= 0:
            return None
        return tuple(str(p) for p in people), start, timedelta(minutes=minutes), str(data["t"])
    except (ValueError, KeyError, TypeError, OverflowError):
        return None


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
    NO_STAFF: (
        "No one has connected a calendar yet, so there's no one I can see free to book. "
        "Each photographer connects their own with `@Tonomo connect-calendar`."
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


# --- book anyone ------------------------------------------------------------------------


def _booked_hours(length: timedelta) -> str:
    return format_duration(length) if length else "0h"


def _and(items: list[str]) -> str:
    return items[0] if len(items) == 1 else ", ".join(items[:-1]) + " and " + items[-1]


def _last_booked(load: Load, zone: ZoneInfo, today: date) -> str:
    if load.last_start is None:
        return "never booked"
    return f"last booked {format_day(load.last_start.astimezone(zone).date(), today)}"


def why_chosen(chosen: Chosen, zone: ZoneInfo, today: date) -> str:
    """Who `book anyone` chose and why them (mrkdwn): free, and the fewest hours booked in
    that week against each other one free; between equals, the one booked longest ago."""
    me = chosen.chosen
    who = mention(me.user_id)
    if not chosen.others:
        if not chosen.not_free:
            return f"{who}: free then."
        names = _and([mention(u) for u in chosen.not_free])
        return f"{who}: the only one free then ({names} {'is' if len(chosen.not_free) == 1 else 'are'}n't)."
    text = f"{who}: free, and {_booked_hours(me.booked)} booked this week against {_against(chosen.others)}"
    equals = [o for o in chosen.others if o.booked == me.booked]
    if equals and len(equals) <= NAMED_OTHERS:
        others = _and([f"{mention(o.user_id)} {_last_booked(o, zone, today)}" for o in equals])
        text += f"; {who} was {_last_booked(me, zone, today)}, {others}"
    elif equals:
        text += (
            f"; {who} was {_last_booked(me, zone, today)}, longest of the {len(equals)} as booked"
        )
    return text + "."


NAMED_OTHERS = 3
"""Others free named in why `book anyone` chose someone; more are summed up."""


def _against(others: list[Load]) -> str:
    """The others free and their hours: each named when few, else the range."""
    if len(others) <= NAMED_OTHERS:
        return _and([f"{mention(o.user_id)}'s {_booked_hours(o.booked)}" for o in others])
    least, most = min(o.booked for o in others), max(o.booked for o in others)
    spread = (
        _booked_hours(least)
        if least == most
        else f"{_booked_hours(least)} to {_booked_hours(most)}"
    )
    return f"{spread} for each of the {len(others)} others free"


def _not_free_line(person: NotFree, day: date, today: date, clock: Clock) -> str:
    lines = reasons_in_words(person.reasons, person.rules, day, today, clock)
    if person.problem == NOT_CONNECTED:
        lines.append("they haven't connected a calendar yet")
    elif person.problem == BEING_BOOKED:
        lines.append("someone else is booking them right now")
    elif person.problem and not lines:
        lines.append(f"their {why_unknown(person.problem)}")
    return f"• {mention(person.user_id)}: {'; '.join(lines)}"


def build_nobody_free(
    outcome: NobodyFree,
    user_ids: tuple[str, ...],
    title: str,
    zone: ZoneInfo,
    today: date,
    clock: Clock,
) -> Message:
    """`book anyone` found nobody free: each one's reasons, and the nearest times when
    someone is, as buttons that book anyone free among the same people then."""
    asked = outcome.asked
    day = asked.start.astimezone(zone).date()
    lines = [_not_free_line(p, day, today, clock) for p in outcome.people]
    among = "Nobody I asked about" if user_ids else "Nobody"
    head = f":no_entry: {among} is free {when_text(asked, zone, today, clock)}:"
    blocks: list[SectionBlock | ActionsBlock | ContextBlock] = [
        SectionBlock(text=MarkdownTextObject(text=text)) for text in pack_lines([head, *lines])
    ]
    length = format_duration(asked.duration)
    if outcome.slots:
        blocks.append(
            SectionBlock(
                text=MarkdownTextObject(
                    text=f"The nearest times when someone is free for {length}:"
                )
            )
        )
        values = [anyone_slot_value(user_ids, slot, title) for slot in outcome.slots]
        blocks.append(_slot_buttons(outcome.slots, zone, today, clock, BOOK_ANYONE_SLOT, values))
        blocks.append(
            ContextBlock(
                elements=[
                    MarkdownTextObject(
                        text=f"A click books whoever is free then, chosen fairly: {escape(title)}"
                    )
                ]
            )
        )
    else:
        blocks.append(
            SectionBlock(
                text=MarkdownTextObject(
                    text=f"Nobody has a free {length} in the coming week. "
                    "`@Tonomo availability next week` shows the week after."
                )
            )
        )
    return Message.of(f"Nobody is free {format_range(asked, zone, clock)}.", *blocks)


# --- moving ------------------------------------------------------------------------------


def _named(booking: Booking) -> str:
    """`K7Q2MX` (@alice, Listing photos)."""
    return f"`{booking.short_id}` ({mention(booking.staff_user_id)}, {escape(booking.title)})"


def build_moved(moved: Moved, by: str, zone: ZoneInfo, today: date, clock: Clock) -> Message:
    """In the channel: who moved which booking, from when to when."""
    booking = moved.booking
    before = when_text(moved.before, zone, today, clock)
    after = when_text(_booking_interval(booking), zone, today, clock)
    text = (
        f":arrow_right: {mention(by)} moved {_named(booking)} from {before} to *{after}*. "
        f"The same event moved on the primary calendar; Google told {escape(booking.staff_email)}."
    )
    return Message.of(
        f"Moved {booking.short_id} to {after}", SectionBlock(text=MarkdownTextObject(text=text))
    )


def build_moved_again(moved: Moved, zone: ZoneInfo, today: date, clock: Clock) -> Message:
    """To the person whose move was already done (a retry), or who asked for where it is."""
    where = when_text(_booking_interval(moved.booking), zone, today, clock)
    return Message.text_only(f"{_named(moved.booking)} is already there, {where}: nothing to move.")


def build_move_conflict(
    conflict: Conflict, booking: Booking, zone: ZoneInfo, today: date, clock: Clock
) -> Message:
    """To the person moving: every reason the new time isn't free, and the nearest free
    times as buttons that move the booking there."""
    lines = reason_lines(conflict, today, clock)
    text = (
        f":no_entry: I can't move {_named(booking)} to "
        f"{when_text(conflict.asked, zone, today, clock)}{_because(lines)}"
    )
    blocks: list[SectionBlock | ActionsBlock | ContextBlock] = [
        SectionBlock(text=MarkdownTextObject(text=text))
    ]
    length = format_duration(conflict.asked.duration)
    if conflict.slots:
        blocks.append(
            SectionBlock(text=MarkdownTextObject(text=f"The nearest free times for {length}:"))
        )
        values = [move_slot_value(booking.short_id, slot.start) for slot in conflict.slots]
        blocks.append(_slot_buttons(conflict.slots, zone, today, clock, MOVE_SLOT, values))
        blocks.append(
            ContextBlock(
                elements=[MarkdownTextObject(text=f"A click moves `{booking.short_id}` there.")]
            )
        )
    else:
        blocks.append(
            SectionBlock(
                text=MarkdownTextObject(
                    text=f"They have no free {length} in the coming week, so it stays where it is."
                )
            )
        )
    return Message.of(f"I can't move that: {'; '.join(lines)}.", *blocks)


def build_move_used(moved: Moved, zone: ZoneInfo, today: date, clock: Clock) -> Message:
    """The move conflict's message once one of its times is taken: which, no buttons left."""
    where = when_text(_booking_interval(moved.booking), zone, today, clock)
    return Message.text_only(
        f":white_check_mark: Done: {_named(moved.booking)} is now {where}. "
        "The other times are no longer offered."
    )


MOVE_REFUSAL_TEXT = {
    PAST: "That time has already passed. Pick a time later than now.",
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
        text = (
            f"Booking `{shown}` is {mention(booking.staff_user_id)}'s. You can move your own "
            f"bookings; this one only they, {mention(booking.booked_by)} who booked it, or "
            f"{who_can(owner)} can move."
        )
    elif outcome.reason == NOT_FOUND or booking is None:
        text = (
            f"There's no booking `{shown}` in this channel. "
            "The id is on the booking's message, like `K7Q2MX`."
        )
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
            replaced = (
                f" (the primary calendar is now {escape(now)})"
                if now
                else " (no primary calendar is connected)"
            )
            where = (
                f"its event is on {escape(account)}'s calendar, and that account isn't "
                f"connected any more{replaced}. Connect {escape(account)} as the primary "
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
    lines = [_not_free_line(p, day, today, clock).removeprefix("• ") for p in outcome.people]
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
        blocks += _form_trouble_blocks(trouble, zone, today, clock, verb="book")
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


def _form_trouble_blocks(
    trouble: FormTrouble, zone: ZoneInfo, today: date, clock: Clock, *, verb: str
) -> list[Any]:
    lines = trouble.lines
    why = f": {lines[0]}." if len(lines) == 1 else ":\n" + "\n".join(f"• {line}" for line in lines)
    text = f":no_entry: I can't {verb} {when_text(trouble.asked, zone, today, clock)}{why}"
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


def _working(callback_id: str, channel_id: str, title: str, what: str) -> dict[str, Any]:
    view = View(
        type="modal",
        callback_id=callback_id,
        private_metadata=channel_id,
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
    return _working(BOOK_MODAL, channel_id, "Book a staff member", "it")


# --- the move modal ------------------------------------------------------------------------


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
        f"{_named(booking)}, now *{when_text(_booking_interval(booking), zone, today, clock)}*. "
        f"It keeps its length, {format_duration(booking.ends_at - booking.starts_at)}."
    )
    blocks: list[Any] = [SectionBlock(text=MarkdownTextObject(text=summary))]
    if trouble is not None:
        blocks += _form_trouble_blocks(trouble, zone, today, clock, verb="move it to")
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
    return _working(MOVE_MODAL, move_metadata(channel_id, short_id), f"Move {short_id}", "the move")


# --- field errors ------------------------------------------------------------------------

FORM_ERROR_TEXT = {
    PAST: "That time has already passed. Pick a time later than now.",
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
