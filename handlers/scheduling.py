"""Booking, booking anyone, moving, cancelling and settings: from Slack to `bot/` and back.

Used by the `/tonomo` command listener, and registers the buttons and the modals of booking
and moving.
"""

from __future__ import annotations

import asyncio
import logging
import re
import time
from collections.abc import Awaitable, Callable
from datetime import datetime
from datetime import time as dt_time
from typing import Any, Generic, TypeVar
from zoneinfo import ZoneInfo

from slack_bolt.async_app import AsyncAck, AsyncApp
from slack_bolt.context.respond.async_respond import AsyncRespond
from slack_sdk.models.blocks import ButtonElement, MarkdownTextObject, SectionBlock
from slack_sdk.web.async_client import AsyncWebClient
from sqlalchemy.exc import SQLAlchemyError

from bot import commands, when
from bot.booking import (
    NOT_FOUND,
    AnyoneOutcome,
    AnyoneRequest,
    Booked,
    BookingOutcome,
    BookingRequest,
    Cancelled,
    CancelOutcome,
    Chosen,
    Conflict,
    Moved,
    MoveOutcome,
    NobodyFree,
    NotMoved,
    Refused,
    next_working_start,
    not_movable,
)
from bot.customers import clock_of
from bot.messages import Message
from bot.messages.booking import (
    DEFAULT_LENGTH,
    FORM_ANYONE,
    FORM_BOOK_OTHERS,
    FORM_DAY,
    FORM_STAFF,
    FORM_TIME,
    BookFormValues,
    build_book_modal,
    build_book_working,
    build_booked_again,
    build_booking,
    build_cancel_notice,
    build_cancelled_booking,
    build_conflict,
    build_move_conflict,
    build_move_modal,
    build_move_refused,
    build_move_used,
    build_move_working,
    build_moved,
    build_moved_again,
    build_nobody_free,
    build_not_cancelled,
    build_not_moved,
    build_refused,
    build_slot_used,
    form_error,
    form_trouble,
    read_anyone_slot_value,
    read_book_form,
    read_form_slot,
    read_move_form,
    read_move_metadata,
    read_move_slot_value,
    read_slot_value,
    why_chosen,
)
from bot.messages.help import build_invalid
from bot.messages.ids import (
    BOOK_ANYONE_SLOT,
    BOOK_MODAL,
    BOOK_SLOT,
    CANCEL_BOOKING,
    MARK_CANCELLED,
    MOVE_BOOKING,
    MOVE_MODAL,
    MOVE_SLOT,
    OPEN_BOOK_FORM,
)
from bot.messages.people import build_refusal
from bot.messages.settings import (
    build_clock_set,
    build_hours_set,
    build_settings,
    build_timezone_set,
)
from bot.people import Act
from bot.services import Services
from bot.staff import local_today, rules_of, stored_hours, working_hours
from handlers import clicks
from handlers.clicks import NOT_SET_UP, Reply
from handlers.work import AfterAck
from storage.models import Booking, Customer, utcnow

logger = logging.getLogger(__name__)

NOT_IN_CHANNEL = "Only people in the channel can book from this form."
NOT_IN_CHANNEL_TO_MOVE = "Only people in the channel can move its bookings."
CANT_CHECK_NOW = (
    "I can't reach my records right now, so nothing was booked. Please submit again in a minute."
)
CANT_CHECK_MOVE = (
    "I can't reach my records right now, so nothing was moved. Please submit again in a minute."
)
FORM_CHECK_SECONDS = 1.2
"""Each of a form's checks (the channel's customer, who is in it) before its answer, well
within the 3 seconds Slack waits for it."""
FORM_ANSWER_SECONDS = 2.2
"""How long a form's answer may take, the booking (or move) itself included: Slack waits
3 seconds (https://api.slack.com/surfaces/modals#interactions). One that takes longer
(Google is slow) goes on after the answer, "Working on it…", and is told in the channel."""
STALE_BUTTON = "That button doesn't work any more. Please run the command again."
SLOT_ACTION = re.compile(f"^{BOOK_SLOT}_[0-9]+$")
"""The buttons of suggested slots (each of a message's buttons needs its own action id)."""
ANYONE_SLOT_ACTION = re.compile(f"^{BOOK_ANYONE_SLOT}_[0-9]+$")
MOVE_SLOT_ACTION = re.compile(f"^{MOVE_SLOT}_[0-9]+$")


def _invalid(error: when.WhenError, verb: str) -> Message:
    return build_invalid(error.problem, commands.USAGE[verb])


def _start_of(customer: Customer, day_word: str, at: dt_time) -> datetime:
    """The local moment a command's DAY and TIME name (`when.WhenError` when none)."""
    day = when.parse_day(day_word, today=local_today(customer, utcnow()))
    return when.local_moment(day, at, ZoneInfo(customer.timezone), clock_of(customer))


# --- book -------------------------------------------------------------------------------


async def book(
    services: Services,
    customer: Customer,
    asked: commands.Book,
    *,
    user_id: str,
    request_key: str,
    reply: Reply,
) -> None:
    try:
        start = _start_of(customer, asked.day, asked.at)
    except when.WhenError as error:
        await reply(_invalid(error, "book"))
        return
    request = BookingRequest(
        staff_user_id=asked.user_id,
        start=start,
        duration=asked.duration,
        title=asked.title,
        booked_by=user_id,
        request_key=request_key,
    )
    note = when.repeated_time_note(start, clock_of(customer))
    await run_booking(services, customer, request, reply, note=note)


Attempt = BookingOutcome | Message
"""What trying a booking came to: the outcome, or a refusal of the person asking (a Message)."""


async def try_booking(services: Services, customer: Customer, request: BookingRequest) -> Attempt:
    """Book, if this person may: booking someone else is for the owner and onboarders
    (whatever the door: a command, a slot, the form)."""
    if request.staff_user_id != request.booked_by:
        refusal = await services.people.refusal(customer, request.booked_by, Act.BOOK_OTHERS)
        if refusal is not None:
            return build_refusal(refusal)
    return await services.bookings.book(customer, request, now=utcnow())


async def run_booking(
    services: Services,
    customer: Customer,
    request: BookingRequest,
    reply: Reply,
    note: str | None = None,
) -> Attempt:
    """Book, then tell: a new booking in the channel, anything else to the person."""
    outcome = await try_booking(services, customer, request)
    await tell_booking(services, customer, request, outcome, reply, note)
    return outcome


async def post_booking(
    services: Services, customer: Customer, booking: Booking, message: Message, reply: Reply
) -> None:
    """A new booking's message in the channel, remembered (to show it moved or cancelled
    later); if the channel can't be posted in, at least the person knows."""
    ts = await services.poster.post(customer, message)
    if ts is None:
        await reply(message)
    else:
        booking.message_ts = ts
        await services.store.set_booking_message(booking.id, ts)


async def tell_booking(
    services: Services,
    customer: Customer,
    request: BookingRequest,
    outcome: Attempt,
    reply: Reply,
    note: str | None = None,
) -> None:
    """A new booking goes in the channel; anything else to the person."""
    zone, today = ZoneInfo(customer.timezone), local_today(customer, utcnow())
    if isinstance(outcome, Message):
        await reply(outcome)
    elif isinstance(outcome, Booked) and not outcome.again:
        message = build_booking(outcome.booking, zone, today, clock_of(customer), note)
        await post_booking(services, customer, outcome.booking, message, reply)
    elif isinstance(outcome, Booked):
        await reply(build_booked_again(outcome, zone, today, clock_of(customer)))
    elif isinstance(outcome, Conflict):
        await reply(
            build_conflict(
                outcome, request.staff_user_id, request.title, zone, today, clock_of(customer)
            )
        )
    else:
        await reply(build_refused(outcome, request.staff_user_id))


# --- book anyone ---------------------------------------------------------------------------


async def book_anyone(
    services: Services,
    customer: Customer,
    asked: commands.BookAnyone,
    *,
    user_id: str,
    request_key: str,
    reply: Reply,
) -> None:
    try:
        start = _start_of(customer, asked.day, asked.at)
    except when.WhenError as error:
        await reply(_invalid(error, "book"))
        return
    request = AnyoneRequest(
        user_ids=asked.user_ids,
        start=start,
        duration=asked.duration,
        title=asked.title,
        booked_by=user_id,
        request_key=request_key,
    )
    note = when.repeated_time_note(start, clock_of(customer))
    outcome = await try_anyone(services, customer, request)
    await tell_anyone(services, customer, request, outcome, reply, note)


AnyoneAttempt = AnyoneOutcome | Message


async def try_anyone(
    services: Services, customer: Customer, request: AnyoneRequest
) -> AnyoneAttempt:
    """Book anyone free, if this person may: choosing among others (anyone but themselves
    alone) is for the owner and onboarders, whatever the door."""
    if request.user_ids != (request.booked_by,):
        refusal = await services.people.refusal(customer, request.booked_by, Act.BOOK_OTHERS)
        if refusal is not None:
            return build_refusal(refusal)
    return await services.bookings.book_anyone(customer, request, now=utcnow())


async def tell_anyone(
    services: Services,
    customer: Customer,
    request: AnyoneRequest,
    outcome: AnyoneAttempt,
    reply: Reply,
    note: str | None = None,
) -> None:
    """Who was booked, and why them, in the channel; anything else to the person."""
    zone, today, clock = (
        ZoneInfo(customer.timezone),
        local_today(customer, utcnow()),
        clock_of(customer),
    )
    if isinstance(outcome, Message):
        await reply(outcome)
    elif isinstance(outcome, Chosen):
        chosen = why_chosen(outcome, zone, today)
        message = build_booking(outcome.booking, zone, today, clock, note, chosen=chosen)
        await post_booking(services, customer, outcome.booking, message, reply)
    elif isinstance(outcome, Booked):
        await reply(build_booked_again(outcome, zone, today, clock))
    elif isinstance(outcome, NobodyFree):
        await reply(build_nobody_free(outcome, request.user_ids, request.title, zone, today, clock))
    else:
        await reply(build_refused(outcome, ""))


# --- move -------------------------------------------------------------------------------


async def move(
    services: Services, customer: Customer, asked: commands.Move, *, user_id: str, reply: Reply
) -> None:
    try:
        start = _start_of(customer, asked.day, asked.at)
    except when.WhenError as error:
        await reply(_invalid(error, "move"))
        return
    outcome = await try_move(services, customer, asked.short_id, start, user_id)
    await tell_move(services, customer, asked.short_id, outcome, user_id, reply)


async def try_move(
    services: Services, customer: Customer, short_id: str, start: datetime, user_id: str
) -> MoveOutcome:
    """Move, if this person may: their own bookings, or anyone's for the owner and
    onboarders (as cancelling)."""
    may_move_others = await services.people.refusal(customer, user_id, Act.CANCEL_OTHERS) is None
    return await services.bookings.move(
        customer, short_id, start, by=user_id, now=utcnow(), may_move_others=may_move_others
    )


async def tell_move(
    services: Services,
    customer: Customer,
    short_id: str,
    outcome: MoveOutcome,
    user_id: str,
    reply: Reply,
) -> None:
    """A move is told in the channel, and the booking's message there shows its new time;
    anything else to the person."""
    zone, today, clock = (
        ZoneInfo(customer.timezone),
        local_today(customer, utcnow()),
        clock_of(customer),
    )
    if isinstance(outcome, Moved) and not outcome.again:
        booking = outcome.booking
        if booking.message_ts:
            shown = build_booking(booking, zone, today, clock, moved=(user_id, outcome.before))
            await services.poster.update(customer, booking.message_ts, shown)
        notice = build_moved(outcome, user_id, zone, today, clock)
        if await services.poster.post(customer, notice) is None:
            await reply(notice)
    elif isinstance(outcome, Moved):
        await reply(build_moved_again(outcome, zone, today, clock))
    elif isinstance(outcome, Conflict) and outcome.moving is not None:
        await reply(build_move_conflict(outcome, outcome.moving, zone, today, clock))
    elif isinstance(outcome, NotMoved):
        await reply(build_not_moved(outcome, short_id, customer.owner_user_id))
    elif isinstance(outcome, Refused):
        await reply(build_move_refused(outcome))


# --- cancel -----------------------------------------------------------------------------


async def cancel(
    services: Services, customer: Customer, short_id: str, *, user_id: str, reply: Reply
) -> None:
    now = utcnow()
    zone, today = ZoneInfo(customer.timezone), local_today(customer, now)
    outcome = await cancel_booking(services, customer, short_id, user_id, now)
    if isinstance(outcome, Cancelled):
        await show_cancelled(services, customer, outcome.booking)
        notice = build_cancel_notice(outcome, user_id, zone, today, clock_of(customer))
        if await services.poster.post(customer, notice) is None:
            await reply(notice)
    else:
        await reply(build_not_cancelled(outcome, short_id, customer.owner_user_id))


async def cancel_booking(
    services: Services,
    customer: Customer,
    short_id: str,
    user_id: str,
    now: datetime,
    *,
    by_hand: bool = False,
) -> CancelOutcome:
    """Cancel, if this person may: their own bookings, or anyone's for the owner and
    onboarders."""
    may_cancel_others = await services.people.refusal(customer, user_id, Act.CANCEL_OTHERS) is None
    return await services.bookings.cancel(
        customer,
        short_id,
        by=user_id,
        now=now,
        may_cancel_others=may_cancel_others,
        by_hand=by_hand,
    )


async def show_cancelled(
    services: Services, customer: Customer, booking: Booking, *, shown_at: str = ""
) -> None:
    """Update the booking's message in the channel to show it cancelled (whatever door
    cancelled it), unless it is the message `shown_at`, already replaced by the click."""
    if booking.message_ts and booking.message_ts != shown_at:
        zone, today = ZoneInfo(customer.timezone), local_today(customer, utcnow())
        await services.poster.update(
            customer,
            booking.message_ts,
            build_cancelled_booking(booking, zone, today, clock_of(customer)),
        )


def build_open_book_form() -> Message:
    """`book` alone through a door that can't open a modal (a mention): a button that can."""
    return Message.of(
        "Open the booking form.",
        SectionBlock(
            text=MarkdownTextObject(text="The booking form opens from this button."),
            accessory=ButtonElement(text="Open the booking form", action_id=OPEN_BOOK_FORM),
        ),
    )


async def open_book_form(
    services: Services, customer: Customer, trigger_id: str, client: AsyncWebClient
) -> None:
    """The booking form, starting at the next working slot (who is booked isn't known yet,
    so the customer's working hours)."""
    now, zone = utcnow(), ZoneInfo(customer.timezone)
    start = next_working_start(rules_of(customer), now, DEFAULT_LENGTH)
    view = build_book_modal(
        customer.channel_id,
        zone,
        local_today(customer, now),
        clock_of(customer),
        values=BookFormValues(start=start),
    )
    await client.views_open(trigger_id=trigger_id, view=view)


async def settings(
    services: Services, customer: Customer, asked: commands.Command, reply: Reply
) -> None:
    store = services.store
    if isinstance(asked, commands.SetTimezone):
        await store.set_timezone(customer.id, asked.name)
        customer.timezone = asked.name  # the default clock follows the new timezone
        await reply(build_timezone_set(asked.name, working_hours(customer), clock_of(customer)))
    elif isinstance(asked, commands.SetClock):
        await store.set_clock(customer.id, asked.clock)
        customer.clock = asked.clock
        await reply(build_clock_set(asked.clock, working_hours(customer)))
    elif isinstance(asked, commands.SetHours):
        hours = stored_hours(asked.start, asked.end, asked.weekdays)
        await store.set_working_hours(customer.id, hours, asked.user_id)
        updated = await store.get_customer(customer.id) or customer
        members = {m.slack_user_id: m for m in await store.list_members(customer.id)}
        shown = working_hours(updated, members.get(asked.user_id or ""))
        await reply(build_hours_set(shown, customer.timezone, clock_of(customer), asked.user_id))
    else:
        own = [
            (member, working_hours(customer, member))
            for member in await store.list_members(customer.id)
            if member.work_start
        ]
        await reply(build_settings(customer, working_hours(customer), own, clock_of(customer)))


T = TypeVar("T")


class _FormAttempt(Generic[T]):
    """Work tried before a form's answer: its outcome, if it came in time; after
    `hand_off`, the work tells the person itself when it is done."""

    def __init__(self) -> None:
        self.outcome: T | None = None
        self.handed_off = False

    async def run(
        self, work: Callable[[], Awaitable[T]], tell: Callable[[T], Awaitable[None]]
    ) -> None:
        outcome = await work()
        if self.handed_off:  # the form was answered "Working on it…": say how it went
            await tell(outcome)
        else:
            self.outcome = outcome

    async def until(
        self,
        deadline: float,
        after_ack: AfterAck,
        channel_id: str,
        work: Callable[[], Awaitable[T]],
        tell: Callable[[T], Awaitable[None]],
        reply: Reply,
    ) -> bool:
        """Start `work` and wait for it until `deadline` (its outcome is `self.outcome`);
        when it isn't done by then, it tells the person itself. True when it failed (the
        person got the apology)."""
        task = after_ack.start(
            channel_id,
            lambda: self.run(work, tell),
            apologize=reply,
            queue=False,  # the form's answer waits for it
        )
        await asyncio.wait({task}, timeout=max(0.0, deadline - time.monotonic()))
        if self.outcome is None:
            self.handed_off = True  # nothing awaited since the look: it tells from here
        return task.done() and self.outcome is None


async def _form_checks(
    services: Services, body: dict[str, Any], channel_id: str, user_id: str
) -> Customer | str:
    """The form's channel's customer, with the person in that channel; else what to say on
    the form. Each check has a bound, so the form is answered within Slack's 3 seconds
    whatever the database and Slack do."""
    try:
        customer = await asyncio.wait_for(
            clicks.customer_of(services, body, channel_id), FORM_CHECK_SECONDS
        )
        in_channel = customer is not None and await asyncio.wait_for(
            clicks.in_channel(services, channel_id, user_id), FORM_CHECK_SECONDS
        )
    except (SQLAlchemyError, OSError, TimeoutError):
        logger.warning("a form could not be checked in time", exc_info=True)
        return CANT_CHECK_NOW
    if customer is None:
        return NOT_SET_UP
    if not in_channel:
        return NOT_IN_CHANNEL
    return customer


def _form_start(
    customer: Customer, values: dict[str, Any], day_text: str, at: dt_time
) -> datetime | dict[str, str]:
    """The time a form asks for: one of the nearest free times it offered, if one was
    picked, else its day and time; or the error on the field."""
    start = read_form_slot(values)
    if start is not None:
        return start
    try:
        day = when.parse_day(day_text, today=local_today(customer, utcnow()))
    except when.WhenError as error:
        return {FORM_DAY: error.problem}
    try:
        return when.local_moment(day, at, ZoneInfo(customer.timezone), clock_of(customer))
    except when.WhenError as error:
        return {FORM_TIME: error.problem}


def register(app: AsyncApp, services: Services, after_ack: AfterAck) -> None:
    async def cancel_click(body: dict[str, Any], respond: AsyncRespond | None, *_: Any) -> None:
        if respond is None:
            return
        customer, reply = await clicks.clicked_in(services, body, respond)
        if customer is None:
            return
        short_id = str(body["actions"][0].get("value", ""))
        user_id = body["user"]["id"]
        now = utcnow()
        outcome = await cancel_booking(services, customer, short_id, user_id, now)
        if isinstance(outcome, Cancelled):
            zone, today = ZoneInfo(customer.timezone), local_today(customer, now)
            message = build_cancelled_booking(outcome.booking, zone, today, clock_of(customer))
            await respond(text=message.text, blocks=message.blocks, replace_original=True)
            clicked = (body.get("container") or {}).get("message_ts", "")
            await show_cancelled(services, customer, outcome.booking, shown_at=clicked)
        else:
            await reply(build_not_cancelled(outcome, short_id, customer.owner_user_id))

    async def mark_cancelled_click(
        body: dict[str, Any], respond: AsyncRespond | None, *_: Any
    ) -> None:
        """ "Mark cancelled here": the booking whose event can't be reached is cancelled in
        the bot; the person deletes the event by hand (the notice says where)."""
        if respond is None:
            return
        customer, reply = await clicks.clicked_in(services, body, respond)
        if customer is None:
            return
        short_id = str(body["actions"][0].get("value", ""))
        user_id = body["user"]["id"]
        now = utcnow()
        outcome = await cancel_booking(services, customer, short_id, user_id, now, by_hand=True)
        if not isinstance(outcome, Cancelled):
            await reply(build_not_cancelled(outcome, short_id, customer.owner_user_id))
            return
        zone, today = ZoneInfo(customer.timezone), local_today(customer, now)
        notice = build_cancel_notice(outcome, user_id, zone, today, clock_of(customer))
        await respond(text=notice.text, blocks=notice.blocks, replace_original=True)
        await show_cancelled(services, customer, outcome.booking)
        await services.poster.post(customer, notice)

    async def slot_click(body: dict[str, Any], respond: AsyncRespond | None, *_: Any) -> None:
        if respond is None:
            return
        customer, reply = await clicks.clicked_in(services, body, respond)
        action = body["actions"][0]
        slot = read_slot_value(str(action.get("value", "")))
        if customer is None:
            return
        if slot is None:
            await reply(Message.text_only(STALE_BUTTON))
            return
        staff_user_id, start, duration, title = slot
        # The same button clicked twice is one request: one booking.
        message_ts = (body.get("container") or {}).get("message_ts", "")
        request = BookingRequest(
            staff_user_id=staff_user_id,
            start=start,
            duration=duration,
            title=title,
            booked_by=body["user"]["id"],
            request_key=f"slot:{body['channel']['id']}:{message_ts}:{action.get('value')}",
        )
        outcome = await run_booking(services, customer, request, reply)
        if isinstance(outcome, Booked) and not outcome.again:
            await used(customer, outcome.booking, respond)

    async def used(customer: Customer, booking: Booking, respond: AsyncRespond) -> None:
        """The offer is used: its message says which, with no buttons left to click."""
        zone, today = ZoneInfo(customer.timezone), local_today(customer, utcnow())
        message = build_slot_used(booking, zone, today, clock_of(customer))
        await respond(text=message.text, blocks=message.blocks, replace_original=True)

    async def anyone_slot_click(
        body: dict[str, Any], respond: AsyncRespond | None, *_: Any
    ) -> None:
        """A time when someone is free, offered after nobody was: book anyone then, among
        the same people."""
        if respond is None:
            return
        customer, reply = await clicks.clicked_in(services, body, respond)
        action = body["actions"][0]
        slot = read_anyone_slot_value(str(action.get("value", "")))
        if customer is None:
            return
        if slot is None:
            await reply(Message.text_only(STALE_BUTTON))
            return
        user_ids, start, duration, title = slot
        message_ts = (body.get("container") or {}).get("message_ts", "")
        request = AnyoneRequest(
            user_ids=user_ids,
            start=start,
            duration=duration,
            title=title,
            booked_by=body["user"]["id"],
            request_key=f"slot:{body['channel']['id']}:{message_ts}:{action.get('value')}",
        )
        outcome = await try_anyone(services, customer, request)
        await tell_anyone(services, customer, request, outcome, reply)
        if isinstance(outcome, Chosen):
            await used(customer, outcome.booking, respond)

    async def move_slot_click(body: dict[str, Any], respond: AsyncRespond | None, *_: Any) -> None:
        """A free time offered after a move's conflict: move the booking there."""
        if respond is None:
            return
        customer, reply = await clicks.clicked_in(services, body, respond)
        slot = read_move_slot_value(str(body["actions"][0].get("value", "")))
        if customer is None:
            return
        if slot is None:
            await reply(Message.text_only(STALE_BUTTON))
            return
        short_id, start = slot
        user_id = body["user"]["id"]
        outcome = await try_move(services, customer, short_id, start, user_id)
        await tell_move(services, customer, short_id, outcome, user_id, reply)
        if isinstance(outcome, Moved):
            zone, today = ZoneInfo(customer.timezone), local_today(customer, utcnow())
            done = build_move_used(outcome, zone, today, clock_of(customer))
            await respond(text=done.text, blocks=done.blocks, replace_original=True)

    app.action(CANCEL_BOOKING)(after_ack.listener(cancel_click))
    app.action(MARK_CANCELLED)(after_ack.listener(mark_cancelled_click))
    app.action(SLOT_ACTION)(after_ack.listener(slot_click))
    app.action(ANYONE_SLOT_ACTION)(after_ack.listener(anyone_slot_click))
    app.action(MOVE_SLOT_ACTION)(after_ack.listener(move_slot_click))

    @app.action(MOVE_BOOKING)
    async def handle_move_button(
        ack: AsyncAck, body: dict[str, Any], respond: AsyncRespond, client: AsyncWebClient
    ) -> None:
        """The booking message's Move button: the move modal, for someone who may move it
        (the modal must open before its trigger expires: it queues for nothing)."""
        await ack()
        channel_id = (body.get("channel") or {}).get("id")
        if not channel_id:
            return
        reply = clicks.ephemeral(respond)

        async def open_move_form() -> None:
            customer = await clicks.customer_of(services, body, channel_id)
            if customer is None:
                await reply(Message.text_only(NOT_SET_UP))
                return
            short_id = str(body["actions"][0].get("value", ""))
            user_id = body["user"]["id"]
            booking = await services.store.find_booking(customer.id, short_id)
            may_others = await services.people.refusal(customer, user_id, Act.CANCEL_OTHERS) is None
            refusal = not_movable(booking, user_id, may_move_others=may_others)
            if refusal is not None or booking is None:
                await reply(
                    build_not_moved(
                        refusal or NotMoved(NOT_FOUND), short_id, customer.owner_user_id
                    )
                )
                return
            zone, today = ZoneInfo(customer.timezone), local_today(customer, utcnow())
            view = build_move_modal(channel_id, booking, zone, today, clock_of(customer))
            await client.views_open(trigger_id=body["trigger_id"], view=view)

        after_ack.start(channel_id, open_move_form, apologize=reply, queue=False)

    @app.view(MOVE_MODAL)
    async def handle_move_form(ack: AsyncAck, body: dict[str, Any], client: AsyncWebClient) -> None:
        """The move modal, answered within Slack's 3 seconds as the booking form is: the
        move is tried first (bounded); a conflict keeps the modal open with the nearest free
        times in it, a past time says so on its field."""
        deadline = time.monotonic() + FORM_ANSWER_SECONDS
        view = body["view"]
        meta = read_move_metadata(str(view.get("private_metadata", "")))
        if meta is None:
            await ack()
            return
        channel_id, short_id = meta
        user_id = body["user"]["id"]
        values = view.get("state", {}).get("values", {})
        parsed = read_move_form(values)
        if isinstance(parsed, dict):
            await ack(response_action="errors", errors=parsed)
            return
        checked = await _form_checks(services, body, channel_id, user_id)
        if isinstance(checked, str):
            said = {CANT_CHECK_NOW: CANT_CHECK_MOVE, NOT_IN_CHANNEL: NOT_IN_CHANNEL_TO_MOVE}
            await ack(response_action="errors", errors={FORM_DAY: said.get(checked, checked)})
            return
        customer = checked
        start = _form_start(customer, values, *parsed)
        if isinstance(start, dict):
            await ack(response_action="errors", errors=start)
            return
        reply = clicks.ephemeral_in(client, channel_id, user_id)
        attempt: _FormAttempt[MoveOutcome] = _FormAttempt()
        failed = await attempt.until(
            deadline,
            after_ack,
            channel_id,
            lambda: try_move(services, customer, short_id, start, user_id),
            lambda done: tell_move(services, customer, short_id, done, user_id, reply),
            reply,
        )
        outcome = attempt.outcome
        if outcome is None:
            if failed:
                await ack()
            else:
                await ack(response_action="update", view=build_move_working(channel_id, short_id))
            return
        zone, today, clock = (
            ZoneInfo(customer.timezone),
            local_today(customer, utcnow()),
            clock_of(customer),
        )
        if isinstance(outcome, Refused | Conflict):
            field_error = form_error(outcome, today, clock)
            if field_error is not None and field_error[0] == FORM_TIME:
                await ack(response_action="errors", errors=dict([field_error]))
                return
        if isinstance(outcome, Conflict) and outcome.moving is not None and outcome.slots:
            modal = build_move_modal(
                channel_id,
                outcome.moving,
                zone,
                today,
                clock,
                start=start,
                trouble=form_trouble(outcome, today, clock),
            )
            await ack(response_action="update", view=modal)
            return
        await ack()
        after_ack.start(
            channel_id,
            lambda: tell_move(services, customer, short_id, outcome, user_id, reply),
            apologize=reply,
        )

    @app.view(BOOK_MODAL)
    async def handle_book_form(ack: AsyncAck, body: dict[str, Any], client: AsyncWebClient) -> None:
        """The booking form, answered within Slack's 3 seconds: the booking is tried first
        (bounded), so that whatever concerns the form's fields keeps it open with the
        trouble said on the field, and a conflict (or nobody free) offers the nearest free
        times in it."""
        deadline = time.monotonic() + FORM_ANSWER_SECONDS
        view = body["view"]
        channel_id, user_id = str(view.get("private_metadata", "")), body["user"]["id"]
        values = view.get("state", {}).get("values", {})
        parsed = read_book_form(values)
        if isinstance(parsed, dict):
            await ack(response_action="errors", errors=parsed)
            return
        checked = await _form_checks(services, body, channel_id, user_id)
        if isinstance(checked, str):
            await ack(response_action="errors", errors={FORM_STAFF: checked})
            return
        customer = checked
        start = _form_start(customer, values, parsed.day, parsed.at)
        if isinstance(start, dict):
            await ack(response_action="errors", errors=start)
            return
        reply = clicks.ephemeral_in(client, channel_id, user_id)
        note = when.repeated_time_note(start, clock_of(customer))
        request_key = f"view:{view.get('id', '')}"
        if isinstance(parsed, commands.BookAnyone):
            anyone = AnyoneRequest(
                user_ids=(),
                start=start,
                duration=parsed.duration,
                title=parsed.title,
                booked_by=user_id,
                request_key=request_key,
            )
            await _answer_anyone_form(ack, customer, anyone, reply, note, deadline)
            return
        request = BookingRequest(
            staff_user_id=parsed.user_id,
            start=start,
            duration=parsed.duration,
            title=parsed.title,
            booked_by=user_id,
            request_key=request_key,
        )
        attempt: _FormAttempt[Attempt] = _FormAttempt()
        failed = await attempt.until(
            deadline,
            after_ack,
            channel_id,
            lambda: try_booking(services, customer, request),
            lambda done: tell_booking(services, customer, request, done, reply, note),
            reply,
        )
        outcome = attempt.outcome
        if outcome is None:
            await ack() if failed else await ack(
                response_action="update", view=build_book_working(channel_id)
            )
            return
        if isinstance(outcome, Message):  # they may not book that person
            await ack(response_action="errors", errors={FORM_STAFF: FORM_BOOK_OTHERS})
            return
        today, clock = local_today(customer, utcnow()), clock_of(customer)
        if isinstance(outcome, Conflict | Refused):
            field_error = form_error(outcome, today, clock)
            if field_error is not None:
                await ack(response_action="errors", errors=dict([field_error]))
                return
            if isinstance(outcome, Conflict):
                values_now = BookFormValues(
                    start=request.start,
                    duration=request.duration,
                    staff_user_id=request.staff_user_id,
                    title=request.title,
                )
                modal = build_book_modal(
                    channel_id,
                    ZoneInfo(customer.timezone),
                    today,
                    clock,
                    values=values_now,
                    trouble=form_trouble(outcome, today, clock),
                )
                await ack(response_action="update", view=modal)
                return
        await ack()
        after_ack.start(
            channel_id,
            lambda: tell_booking(services, customer, request, outcome, reply, note),
            apologize=reply,
        )

    async def _answer_anyone_form(
        ack: AsyncAck,
        customer: Customer,
        request: AnyoneRequest,
        reply: Reply,
        note: str | None,
        deadline: float,
    ) -> None:
        """The booking form with Anyone free ticked: as with a person, nobody free keeps it
        open with each one's reasons and the nearest times someone is free."""
        channel_id = customer.channel_id
        attempt: _FormAttempt[AnyoneAttempt] = _FormAttempt()
        failed = await attempt.until(
            deadline,
            after_ack,
            channel_id,
            lambda: try_anyone(services, customer, request),
            lambda done: tell_anyone(services, customer, request, done, reply, note),
            reply,
        )
        outcome = attempt.outcome
        if outcome is None:
            await ack() if failed else await ack(
                response_action="update", view=build_book_working(channel_id)
            )
            return
        if isinstance(outcome, Message):  # they may not choose among others
            await ack(response_action="errors", errors={FORM_ANYONE: FORM_BOOK_OTHERS})
            return
        today, clock = local_today(customer, utcnow()), clock_of(customer)
        if isinstance(outcome, Refused):
            field_error = form_error(outcome, today, clock)
        if isinstance(outcome, NobodyFree):
            field_error = form_error(outcome, today, clock)
            if field_error is not None:
                await ack(response_action="errors", errors=dict([field_error]))
                return
            values_now = BookFormValues(
                start=request.start, duration=request.duration, anyone=True, title=request.title
            )
            modal = build_book_modal(
                channel_id,
                ZoneInfo(customer.timezone),
                today,
                clock,
                values=values_now,
                trouble=form_trouble(outcome, today, clock),
            )
            await ack(response_action="update", view=modal)
            return
        await ack()
        after_ack.start(
            channel_id,
            lambda: tell_anyone(services, customer, request, outcome, reply, note),
            apologize=reply,
        )
