"""Booking, booking anyone and cancelling: from Slack to `bot.booking` and back.

Used by the `/tonomo` command listener (`book`, `book anyone`, `cancel`, the booking form),
and registers their buttons (Cancel, Mark cancelled here, the offered slots) and the booking
form's submission. Moving is `handlers.moving`.
"""

from __future__ import annotations

import time
from datetime import date, datetime
from datetime import time as dt_time
from typing import Any
from zoneinfo import ZoneInfo

from slack_bolt.async_app import AsyncAck, AsyncApp
from slack_bolt.context.respond.async_respond import AsyncRespond
from slack_sdk.web.async_client import AsyncWebClient

from bot import commands, when
from bot.booking import (
    PAST,
    AnyoneOutcome,
    AnyoneRequest,
    Booked,
    BookingOutcome,
    BookingRequest,
    Cancelled,
    CancelOutcome,
    Chosen,
    Conflict,
    NobodyFree,
    Refused,
    next_working_start,
)
from bot.customers import clock_of
from bot.messages import Message
from bot.messages.booking import (
    build_booked_again,
    build_booking,
    build_cancel_notice,
    build_cancelled_booking,
    build_conflict,
    build_nobody_free,
    build_not_cancelled,
    build_refused,
    build_slot_used,
    read_anyone_slot_value,
    read_slot_value,
    why_chosen,
)
from bot.messages.booking_form import (
    DEFAULT_LENGTH,
    FORM_ANYONE,
    FORM_BOOK_OTHERS,
    FORM_STAFF,
    BookFormValues,
    build_book_modal,
    build_book_working,
    form_error,
    form_trouble,
    read_book_form,
)
from bot.messages.help import build_invalid
from bot.messages.ids import BOOK_ANYONE_SLOT, BOOK_MODAL, BOOK_SLOT, CANCEL_BOOKING, MARK_CANCELLED
from bot.messages.people import build_refusal
from bot.people import Act
from bot.services import Services
from bot.staff import local_today, rules_of
from bot.when import Clock
from handlers import clicks
from handlers.clicks import Reply
from handlers.forms import FORM_ANSWER_SECONDS, FormAnswer, form_checks, form_start
from handlers.work import AfterAck
from storage.models import Booking, Customer, utcnow

SLOT_ACTION = clicks.numbered(BOOK_SLOT)
"""The buttons of suggested slots (each of a message's buttons needs its own action id)."""
ANYONE_SLOT_ACTION = clicks.numbered(BOOK_ANYONE_SLOT)


def local(customer: Customer, now: datetime) -> tuple[ZoneInfo, date, Clock]:
    """What every message of times needs: the customer's timezone, today there at `now`,
    and its clock."""
    return ZoneInfo(customer.timezone), local_today(customer, now), clock_of(customer)


def start_of(customer: Customer, day_word: str, at: dt_time) -> datetime:
    """The local moment a command's DAY and TIME name (`when.WhenError` when none)."""
    day = when.parse_day(day_word, today=local_today(customer, utcnow()))
    return when.local_moment(day, at, ZoneInfo(customer.timezone), clock_of(customer))


def invalid(error: when.WhenError, verb: str) -> Message:
    return build_invalid(error.problem, commands.USAGE[verb])


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
        start = start_of(customer, asked.day, asked.at)
    except when.WhenError as error:
        await reply(invalid(error, "book"))
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
    zone, today, clock = local(customer, utcnow())
    if isinstance(outcome, Message):
        await reply(outcome)
    elif isinstance(outcome, Booked) and not outcome.again:
        message = build_booking(outcome.booking, zone, today, clock, note)
        await post_booking(services, customer, outcome.booking, message, reply)
    elif isinstance(outcome, Booked):
        await reply(build_booked_again(outcome, zone, today, clock))
    elif isinstance(outcome, Conflict):
        await reply(
            build_conflict(outcome, request.staff_user_id, request.title, zone, today, clock)
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
        start = start_of(customer, asked.day, asked.at)
    except when.WhenError as error:
        await reply(invalid(error, "book"))
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
    zone, today, clock = local(customer, utcnow())
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


# --- cancel -----------------------------------------------------------------------------


async def cancel(
    services: Services, customer: Customer, short_id: str, *, user_id: str, reply: Reply
) -> None:
    now = utcnow()
    zone, today, clock = local(customer, now)
    outcome = await cancel_booking(services, customer, short_id, user_id, now)
    if isinstance(outcome, Cancelled):
        await show_cancelled(services, customer, outcome.booking)
        notice = build_cancel_notice(outcome, user_id, zone, today, clock)
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
        zone, today, clock = local(customer, utcnow())
        await services.poster.update(
            customer, booking.message_ts, build_cancelled_booking(booking, zone, today, clock)
        )


# --- the booking form ----------------------------------------------------------------------


async def open_book_form(customer: Customer, trigger_id: str, client: AsyncWebClient) -> None:
    """The booking form, starting at the next working slot (who is booked isn't known yet,
    so the customer's working hours)."""
    now = utcnow()
    zone, today, clock = local(customer, now)
    start = next_working_start(rules_of(customer), now, DEFAULT_LENGTH)
    view = build_book_modal(
        customer.channel_id, zone, today, clock, values=BookFormValues(start=start)
    )
    await client.views_open(trigger_id=trigger_id, view=view)


# --- the buttons and the form's submission ---------------------------------------------------


def register(app: AsyncApp, services: Services, after_ack: AfterAck) -> None:
    async def cancel_click(body: dict[str, Any], respond: AsyncRespond | None, *_: Any) -> None:
        click = await clicks.read_click(services, body, respond, str)
        if click is None:
            return
        customer, short_id, now = click.customer, click.value, utcnow()
        outcome = await cancel_booking(services, customer, short_id, body["user"]["id"], now)
        if isinstance(outcome, Cancelled):
            zone, today, clock = local(customer, now)
            await click.replace(build_cancelled_booking(outcome.booking, zone, today, clock))
            shown_at = clicks.message_ts(body)
            await show_cancelled(services, customer, outcome.booking, shown_at=shown_at)
        else:
            await click.reply(build_not_cancelled(outcome, short_id, customer.owner_user_id))

    async def mark_cancelled_click(
        body: dict[str, Any], respond: AsyncRespond | None, *_: Any
    ) -> None:
        """ "Mark cancelled here": the booking whose event can't be reached is cancelled in
        the bot; the person deletes the event by hand (the notice says where)."""
        click = await clicks.read_click(services, body, respond, str)
        if click is None:
            return
        customer, short_id, now = click.customer, click.value, utcnow()
        user_id = body["user"]["id"]
        outcome = await cancel_booking(services, customer, short_id, user_id, now, by_hand=True)
        if not isinstance(outcome, Cancelled):
            await click.reply(build_not_cancelled(outcome, short_id, customer.owner_user_id))
            return
        zone, today, clock = local(customer, now)
        notice = build_cancel_notice(outcome, user_id, zone, today, clock)
        await click.replace(notice)
        await show_cancelled(services, customer, outcome.booking)
        await services.poster.post(customer, notice)

    async def slot_click(body: dict[str, Any], respond: AsyncRespond | None, *_: Any) -> None:
        click = await clicks.read_click(services, body, respond, read_slot_value)
        if click is None:
            return
        staff_user_id, start, duration, title = click.value
        request = BookingRequest(
            staff_user_id=staff_user_id,
            start=start,
            duration=duration,
            title=title,
            booked_by=body["user"]["id"],
            request_key=slot_request_key(body),
        )
        outcome = await run_booking(services, click.customer, request, click.reply)
        if isinstance(outcome, Booked) and not outcome.again:
            await show_slot_used(click, outcome.booking)

    async def anyone_slot_click(
        body: dict[str, Any], respond: AsyncRespond | None, *_: Any
    ) -> None:
        """A time when someone is free, offered after nobody was: book anyone then, among
        the same people."""
        click = await clicks.read_click(services, body, respond, read_anyone_slot_value)
        if click is None:
            return
        user_ids, start, duration, title = click.value
        request = AnyoneRequest(
            user_ids=user_ids,
            start=start,
            duration=duration,
            title=title,
            booked_by=body["user"]["id"],
            request_key=slot_request_key(body),
        )
        outcome = await try_anyone(services, click.customer, request)
        await tell_anyone(services, click.customer, request, outcome, click.reply)
        if isinstance(outcome, Chosen):
            await show_slot_used(click, outcome.booking)

    app.action(CANCEL_BOOKING)(after_ack.listener(cancel_click))
    app.action(MARK_CANCELLED)(after_ack.listener(mark_cancelled_click))
    app.action(SLOT_ACTION)(after_ack.listener(slot_click))
    app.action(ANYONE_SLOT_ACTION)(after_ack.listener(anyone_slot_click))

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
        checked = await form_checks(services, body, channel_id, user_id)
        if isinstance(checked, str):
            await ack(response_action="errors", errors={FORM_STAFF: checked})
            return
        customer = checked
        start = form_start(customer, values, parsed.day, parsed.at)
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
            await answer_anyone_form(ack, customer, anyone, reply, note, deadline)
            return
        request = BookingRequest(
            staff_user_id=parsed.user_id,
            start=start,
            duration=parsed.duration,
            title=parsed.title,
            booked_by=user_id,
            request_key=request_key,
        )
        answer: FormAnswer[Attempt] = FormAnswer(
            ack,
            after_ack,
            channel_id,
            reply,
            lambda done: tell_booking(services, customer, request, done, reply, note),
        )
        outcome = await answer.attempt(
            lambda: try_booking(services, customer, request),
            deadline,
            build_book_working(channel_id),
        )
        if outcome is None:
            return
        if isinstance(outcome, Message):  # they may not book that person
            await ack(response_action="errors", errors={FORM_STAFF: FORM_BOOK_OTHERS})
            return
        zone, today, clock = local(customer, utcnow())
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
                    zone,
                    today,
                    clock,
                    values=values_now,
                    trouble=form_trouble(outcome, today, clock),
                )
                await ack(response_action="update", view=modal)
                return
        await answer.close_and_tell(outcome)

    async def answer_anyone_form(
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
        answer: FormAnswer[AnyoneAttempt] = FormAnswer(
            ack,
            after_ack,
            channel_id,
            reply,
            lambda done: tell_anyone(services, customer, request, done, reply, note),
        )
        outcome = await answer.attempt(
            lambda: try_anyone(services, customer, request),
            deadline,
            build_book_working(channel_id),
        )
        if outcome is None:
            return
        if isinstance(outcome, Message):  # they may not choose among others
            await ack(response_action="errors", errors={FORM_ANYONE: FORM_BOOK_OTHERS})
            return
        zone, today, clock = local(customer, utcnow())
        # A past time is the form's to say; other refusals (no one connected, the primary
        # calendar, Google) are told as a message.
        if isinstance(outcome, NobodyFree) or (
            isinstance(outcome, Refused) and outcome.reason == PAST
        ):
            field_error = form_error(outcome, today, clock)
            if field_error is not None:
                await ack(response_action="errors", errors=dict([field_error]))
                return
        if isinstance(outcome, NobodyFree):
            values_now = BookFormValues(
                start=request.start, duration=request.duration, anyone=True, title=request.title
            )
            modal = build_book_modal(
                channel_id,
                zone,
                today,
                clock,
                values=values_now,
                trouble=form_trouble(outcome, today, clock),
            )
            await ack(response_action="update", view=modal)
            return
        await answer.close_and_tell(outcome)


def slot_request_key(body: dict[str, Any]) -> str:
    """An offered slot's click as a request: the same button clicked twice is one request,
    one booking."""
    value = body["actions"][0].get("value")
    return f"slot:{body['channel']['id']}:{clicks.message_ts(body)}:{value}"


async def show_slot_used(click: clicks.Click[Any], booking: Booking) -> None:
    """The offer is used: its message says which, with no buttons left to click."""
    zone, today, clock = local(click.customer, utcnow())
    await click.replace(build_slot_used(booking, zone, today, clock))
