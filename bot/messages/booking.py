"""Messages of booking, booking anyone and cancelling: the booking, conflicts with their
offers (worded as `why` words its reasons), why `book anyone` chose someone, refusals.

Moving's are `bot.messages.moving`; the booking form's `bot.messages.booking_form`."""

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
    MarkdownTextObject,
    SectionBlock,
)

from bot.availability import Interval, format_range
from bot.booking import (
    BEING_BOOKED,
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
    NobodyFree,
    NotCancelled,
    NotFree,
    Refused,
)
from bot.messages import Message, escape, format_day, mention, pack_lines
from bot.messages.availability import why_unknown
from bot.messages.ids import (
    BOOK_ANYONE_SLOT,
    BOOK_SLOT,
    CANCEL_BOOKING,
    MARK_CANCELLED,
    MOVE_BOOKING,
)
from bot.messages.people import who_can
from bot.messages.reasons import reasons_in_words
from bot.staff import NOT_CONNECTED
from bot.when import Clock, format_duration
from storage.models import Booking, BookingStatus


def when_text(interval: Interval, zone: ZoneInfo, today: date, clock: Clock) -> str:
    """`tomorrow (Wed 25 Nov), 13:00–14:30`."""
    return f"{format_day(interval.start.astimezone(zone).date(), today)}, {format_range(interval, zone, clock)}"


def booking_interval(booking: Booking) -> Interval:
    return Interval(booking.starts_at, booking.ends_at)


def _summary(booking: Booking, zone: ZoneInfo, today: date, clock: Clock) -> str:
    return (
        f"{mention(booking.staff_user_id)}, *{when_text(booking_interval(booking), zone, today, clock)}*"
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


def because(lines: list[str]) -> str:
    """One reason after a colon; several as a list below."""
    if len(lines) == 1:
        return f": {lines[0]}."
    return ":\n" + "\n".join(f"• {line}" for line in lines)


def offer_blocks(
    slots: list[Interval],
    values: list[str],
    action: str,
    zone: ZoneInfo,
    today: date,
    clock: Clock,
    *,
    offer: str,
    click: str,
    none: str,
) -> list[SectionBlock | ActionsBlock | ContextBlock]:
    """The nearest free times offered after a conflict: `offer`, a button for each (action
    ids `action_0`, `action_1`…, as each of a message's buttons needs its own; each carries
    its value), and what a `click` does; `none` when there are none."""
    if not slots:
        return [SectionBlock(text=MarkdownTextObject(text=none))]
    return [
        SectionBlock(text=MarkdownTextObject(text=offer)),
        ActionsBlock(
            elements=[
                ButtonElement(
                    text=when_text(slot, zone, today, clock)[:75],
                    action_id=f"{action}_{n}",
                    value=value,
                )
                for n, (slot, value) in enumerate(zip(slots, values, strict=True))
            ]
        ),
        ContextBlock(elements=[MarkdownTextObject(text=click)]),
    ]


def build_conflict(
    conflict: Conflict, staff_user_id: str, title: str, zone: ZoneInfo, today: date, clock: Clock
) -> Message:
    """To the person booking: every reason not, and the nearest free slots as buttons that
    book."""
    lines = reason_lines(conflict, today, clock)
    text = (
        f":no_entry: I can't book {mention(staff_user_id)} "
        f"{when_text(conflict.asked, zone, today, clock)}{because(lines)}"
    )
    length = format_duration(conflict.asked.duration)
    offer = offer_blocks(
        conflict.slots,
        [slot_value(staff_user_id, slot, title) for slot in conflict.slots],
        BOOK_SLOT,
        zone,
        today,
        clock,
        offer=f"The nearest free times for {length}:",
        click=f"A click books it: {escape(title)}",
        none=f"They have no free {length} in the coming week. "
        "`@Tonomo availability next week` shows the week after.",
    )
    return Message.of(
        f"I can't book that: {'; '.join(lines)}.",
        SectionBlock(text=MarkdownTextObject(text=text)),
        *offer,
    )


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
    return _slot_json({"u": staff_user_id}, slot, title)


def read_slot_value(value: str) -> tuple[str, datetime, timedelta, str] | None:
    """The booking a slot's button asks for, or None if the value isn't one of ours."""
    try:
        data = json.loads(value)
        slot = _slot_of(data)
        if slot is None:
            return None
        return str(data["u"]), *slot, str(data["t"])
    except (ValueError, KeyError, TypeError, OverflowError):
        return None


def anyone_slot_value(user_ids: tuple[str, ...], slot: Interval, title: str) -> str:
    """What a suggested time of `book anyone` carries: among whom (none: everyone), when,
    how long, what for."""
    return _slot_json({"a": list(user_ids)}, slot, title)


def read_anyone_slot_value(value: str) -> tuple[tuple[str, ...], datetime, timedelta, str] | None:
    """The `book anyone` a suggested time's button asks for, or None if it isn't ours."""
    try:
        data = json.loads(value)
        people, slot = data["a"], _slot_of(data)
        if not isinstance(people, list) or slot is None:
            return None
        return tuple(str(p) for p in people), *slot, str(data["t"])
    except (ValueError, KeyError, TypeError, OverflowError):
        return None


def _slot_json(who: dict[str, Any], slot: Interval, title: str) -> str:
    minutes = int(slot.duration / timedelta(minutes=1))
    return json.dumps(
        {**who, "s": slot.start.isoformat(), "m": minutes, "t": title},
        separators=(",", ":"),
        ensure_ascii=False,  # escaped, a title of 200 emoji would overflow a button's value
    )


def _slot_of(data: dict[str, Any]) -> tuple[datetime, timedelta] | None:
    """The start and length a slot's value carries (None: not an aware start and a length)."""
    start = datetime.fromisoformat(data["s"])
    minutes = int(data["m"])
    if start.tzinfo is None or minutes <= 0:
        return None
    return start, timedelta(minutes=minutes)


PAST_TEXT = "That time has already passed. Pick a time later than now."

REFUSAL_TEXT = {
    PAST: PAST_TEXT,
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
        where = (
            f"its event is on {escape(account)}'s calendar, and that account isn't connected "
            f"any more{replaced_by(now)}"
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


def replaced_by(account: str) -> str:
    """What the primary calendar is now, said after "that account isn't connected any more"."""
    if account:
        return f" (the primary calendar is now {escape(account)})"
    return " (no primary calendar is connected)"


def not_yours(booking: Booking, short_id: str, owner: str | None, verb: str) -> str:
    """A staff member asked to `verb` (cancel, move) someone else's booking: who can."""
    return (
        f"Booking `{escape(short_id)}` is {mention(booking.staff_user_id)}'s. You can {verb} "
        f"your own bookings; this one only they, {mention(booking.booked_by)} who booked it, "
        f"or {who_can(owner)} can {verb}."
    )


def no_such_booking(short_id: str) -> str:
    return (
        f"There's no booking `{escape(short_id)}` in this channel. "
        "The id is on the booking's message, like `K7Q2MX`."
    )


def build_not_cancelled(outcome: NotCancelled, short_id: str, owner: str | None = None) -> Message:
    """Why a booking was not cancelled; `owner` is the customer's, who could cancel it."""
    if outcome.reason == EVENT_UNREACHABLE:
        return _unreachable(outcome, short_id)
    if outcome.reason == NOT_YOURS and outcome.booking is not None:
        text = not_yours(outcome.booking, short_id, owner, "cancel")
    elif outcome.reason == NOT_FOUND:
        text = no_such_booking(short_id)
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


def not_free_line(person: NotFree, day: date, today: date, clock: Clock) -> str:
    """`@alice: reasons…`: why one of those asked about can't take the time."""
    lines = reasons_in_words(person.reasons, person.rules, day, today, clock)
    if person.problem == NOT_CONNECTED:
        lines.append("they haven't connected a calendar yet")
    elif person.problem == BEING_BOOKED:
        lines.append("someone else is booking them right now")
    elif person.problem and not lines:
        lines.append(f"their {why_unknown(person.problem)}")
    return f"{mention(person.user_id)}: {'; '.join(lines)}"


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
    lines = [f"• {not_free_line(p, day, today, clock)}" for p in outcome.people]
    among = "Nobody I asked about" if user_ids else "Nobody"
    head = f":no_entry: {among} is free {when_text(asked, zone, today, clock)}:"
    blocks: list[SectionBlock | ActionsBlock | ContextBlock] = [
        SectionBlock(text=MarkdownTextObject(text=text)) for text in pack_lines([head, *lines])
    ]
    length = format_duration(asked.duration)
    blocks += offer_blocks(
        outcome.slots,
        [anyone_slot_value(user_ids, slot, title) for slot in outcome.slots],
        BOOK_ANYONE_SLOT,
        zone,
        today,
        clock,
        offer=f"The nearest times when someone is free for {length}:",
        click=f"A click books whoever is free then, chosen fairly: {escape(title)}",
        none=f"Nobody has a free {length} in the coming week. "
        "`@Tonomo availability next week` shows the week after.",
    )
    return Message.of(f"Nobody is free {format_range(asked, zone, clock)}.", *blocks)
