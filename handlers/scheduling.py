"""Booking, cancelling and settings: from Slack to `bot/` and back.

Used by the `/tonomo` command listener, and registers the buttons and the modal of booking.
"""

from __future__ import annotations

import asyncio
import logging
import re
import time
from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from slack_bolt.async_app import AsyncAck, AsyncApp
from slack_bolt.context.respond.async_respond import AsyncRespond
from slack_sdk.models.blocks import ButtonElement, MarkdownTextObject, SectionBlock
from slack_sdk.web.async_client import AsyncWebClient
from sqlalchemy.exc import SQLAlchemyError

from bot import commands, when
from bot.booking import (
    Booked,
    BookingOutcome,
    BookingRequest,
    Cancelled,
    CancelOutcome,
    Conflict,
    Refused,
    next_working_start,
)
from bot.customers import clock_of
from bot.messages import Message
from bot.messages.booking import (
    DEFAULT_LENGTH,
    FORM_BOOK_OTHERS,
    FORM_DAY,
    FORM_DURATION,
    FORM_STAFF,
    FORM_TIME,
    FORM_TITLE,
    BookFormValues,
    build_book_modal,
    build_book_working,
    build_booked_again,
    build_booking,
    build_cancel_notice,
    build_cancelled_booking,
    build_conflict,
    build_not_cancelled,
    build_refused,
    build_slot_used,
    form_error,
    read_form_slot,
    read_slot_value,
)
from bot.messages.help import build_invalid
from bot.messages.ids import BOOK_MODAL, BOOK_SLOT, CANCEL_BOOKING, MARK_CANCELLED, OPEN_BOOK_FORM
from bot.messages.people import build_refusal
from bot.messages.settings import (
    build_clock_set,
    build_hours_set,
    build_settings,
    build_timezone_set,
)
from bot.people import Act
from bot.services import Services
from bot.staff import local_today, stored_hours, working_hours
from handlers import clicks
from handlers.clicks import NOT_SET_UP, Reply
from handlers.work import AfterAck
from storage.models import Booking, Customer, utcnow

logger = logging.getLogger(__name__)

FORM_FIELDS = (FORM_STAFF, FORM_DAY, FORM_TIME, FORM_DURATION, FORM_TITLE)
NOT_IN_CHANNEL = "Only people in the channel can book from this form."
CANT_CHECK_NOW = (
    "I can't reach my records right now, so nothing was booked. Please submit again in a minute."
)
FORM_CHECK_SECONDS = 1.2
"""Each of the booking form's checks (the channel's customer, who is in it) before its
answer, well within the 3 seconds Slack waits for it."""
FORM_ANSWER_SECONDS = 2.2
"""How long the booking form's answer may take, the booking itself included: Slack waits
3 seconds (https://api.slack.com/surfaces/modals#interactions). A booking that takes longer
(Google is slow) goes on after the answer, "Working on it…", and is told in the channel."""
STALE_BUTTON = "That button doesn't work any more. Please run the command again."
SLOT_ACTION = re.compile(f"^{BOOK_SLOT}_[0-9]+$")
"""The buttons of suggested slots (each of a message's buttons needs its own action id)."""


def _invalid(error: when.WhenError, verb: str) -> Message:
    return build_invalid(error.problem, commands.USAGE[verb])


async def book(
    services: Services,
    customer: Customer,
    asked: commands.Book,
    *,
    user_id: str,
    request_key: str,
    reply: Reply,
) -> None:
    zone = ZoneInfo(customer.timezone)
    try:
        day = when.parse_day(asked.day, today=local_today(customer, utcnow()))
        start = when.local_moment(day, asked.at, zone, clock_of(customer))
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


async def tell_booking(
    services: Services,
    customer: Customer,
    request: BookingRequest,
    outcome: Attempt,
    reply: Reply,
    note: str | None = None,
) -> None:
    """A new booking goes in the channel (its message remembered, to show it cancelled
    later); anything else to the person."""
    zone, today = ZoneInfo(customer.timezone), local_today(customer, utcnow())
    if isinstance(outcome, Message):
        await reply(outcome)
    elif isinstance(outcome, Booked) and not outcome.again:
        message = build_booking(outcome.booking, zone, today, clock_of(customer), note)
        ts = await services.poster.post(customer, message)
        if ts is None:
            await reply(message)  # the channel can't be posted in: at least they know
        else:
            outcome.booking.message_ts = ts
            await services.store.set_booking_message(outcome.booking.id, ts)
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
    start = next_working_start(working_hours(customer), zone, now, DEFAULT_LENGTH)
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


class _FormAttempt:
    """A booking tried before the form's answer: its outcome, if it came in time; after
    `hand_off`, the booking tells the person itself when it is done."""

    def __init__(self) -> None:
        self.outcome: Attempt | None = None
        self.handed_off = False

    async def run(
        self, book: Callable[[], Awaitable[Attempt]], tell: Callable[[Attempt], Awaitable[None]]
    ) -> None:
        outcome = await book()
        if self.handed_off:  # the form was answered "Working on it…": say how it went
            await tell(outcome)
        else:
            self.outcome = outcome


def _form_values(request: BookingRequest) -> BookFormValues:
    return BookFormValues(
        start=request.start,
        duration=request.duration,
        staff_user_id=request.staff_user_id,
        title=request.title,
    )


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
            # The offer is used: its message says which, with no buttons left to click.
            zone, today = ZoneInfo(customer.timezone), local_today(customer, utcnow())
            used = build_slot_used(outcome.booking, zone, today, clock_of(customer))
            await respond(text=used.text, blocks=used.blocks, replace_original=True)

    app.action(CANCEL_BOOKING)(after_ack.listener(cancel_click))
    app.action(MARK_CANCELLED)(after_ack.listener(mark_cancelled_click))
    app.action(SLOT_ACTION)(after_ack.listener(slot_click))

    @app.view(BOOK_MODAL)
    async def handle_book_form(ack: AsyncAck, body: dict[str, Any], client: AsyncWebClient) -> None:
        """The booking form, answered within Slack's 3 seconds: the booking is tried first
        (bounded), so that whatever concerns the form's fields keeps it open with the
        trouble said on the field, and a conflict offers the nearest free times in it."""
        deadline = time.monotonic() + FORM_ANSWER_SECONDS
        view = body["view"]
        channel_id, user_id = str(view.get("private_metadata", "")), body["user"]["id"]
        values = view.get("state", {}).get("values", {})
        parsed = commands.parse_book_form(values, FORM_FIELDS)
        if isinstance(parsed, dict):
            await ack(response_action="errors", errors=parsed)
            return
        # What needs the database and Slack has a bound, so the form is answered within
        # Slack's 3 seconds whatever they do: kept open with the trouble said on it.
        try:
            customer = await asyncio.wait_for(
                clicks.customer_of(services, body, channel_id), FORM_CHECK_SECONDS
            )
            in_channel = customer is not None and await asyncio.wait_for(
                clicks.in_channel(services, channel_id, user_id), FORM_CHECK_SECONDS
            )
        except (SQLAlchemyError, OSError, TimeoutError):
            logger.warning("the booking form could not be checked in time", exc_info=True)
            await ack(response_action="errors", errors={FORM_STAFF: CANT_CHECK_NOW})
            return
        if customer is None:
            await ack(response_action="errors", errors={FORM_STAFF: NOT_SET_UP})
            return
        if not in_channel:
            await ack(response_action="errors", errors={FORM_STAFF: NOT_IN_CHANNEL})
            return
        zone = ZoneInfo(customer.timezone)
        start = read_form_slot(values)  # one of the nearest free times, offered after a conflict
        if start is None:
            try:
                day = when.parse_day(parsed.day, today=local_today(customer, utcnow()))
            except when.WhenError as error:
                await ack(response_action="errors", errors={FORM_DAY: error.problem})
                return
            try:
                start = when.local_moment(day, parsed.at, zone, clock_of(customer))
            except when.WhenError as error:
                await ack(response_action="errors", errors={FORM_TIME: error.problem})
                return
        reply = clicks.ephemeral_in(client, channel_id, user_id)
        request = BookingRequest(
            staff_user_id=parsed.user_id,
            start=start,
            duration=parsed.duration,
            title=parsed.title,
            booked_by=user_id,
            request_key=f"view:{view.get('id', '')}",
        )
        note = when.repeated_time_note(start, clock_of(customer))
        attempt = _FormAttempt()
        task = after_ack.start(
            channel_id,
            lambda: attempt.run(
                lambda: try_booking(services, customer, request),
                lambda outcome: tell_booking(services, customer, request, outcome, reply, note),
            ),
            apologize=reply,
            queue=False,  # the form's answer waits for it
        )
        await asyncio.wait({task}, timeout=max(0.0, deadline - time.monotonic()))
        outcome = attempt.outcome
        if outcome is None:
            attempt.handed_off = True  # nothing awaited since the look: it tells from here
            if task.done():
                await ack()  # it failed, and the person got the apology
            else:
                await ack(response_action="update", view=build_book_working(channel_id))
            return
        if isinstance(outcome, Message):  # they may not book that person
            await ack(response_action="errors", errors={FORM_STAFF: FORM_BOOK_OTHERS})
            return
        if isinstance(outcome, Conflict | Refused):
            field_error = form_error(outcome)
            if field_error is not None:
                await ack(response_action="errors", errors=dict([field_error]))
                return
            if isinstance(outcome, Conflict):
                today = local_today(customer, utcnow())
                modal = build_book_modal(
                    channel_id,
                    zone,
                    today,
                    clock_of(customer),
                    values=_form_values(request),
                    conflict=outcome,
                )
                await ack(response_action="update", view=modal)
                return
        await ack()
        after_ack.start(
            channel_id,
            lambda: tell_booking(services, customer, request, outcome, reply, note),
            apologize=reply,
        )
