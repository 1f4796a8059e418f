"""Moving a booking: from Slack to `bot.booking` and back.

Used by the `/tonomo` command listener (`move`), and registers the booking message's Move
button, the move form it opens, and the buttons of the free times offered after a move's
conflict.
"""

from __future__ import annotations

import time
from datetime import datetime
from typing import Any

from slack_bolt.async_app import AsyncAck, AsyncApp
from slack_bolt.context.respond.async_respond import AsyncRespond
from slack_sdk.web.async_client import AsyncWebClient

from bot import commands, when
from bot.booking import (
    NOT_FOUND,
    Conflict,
    Moved,
    MoveOutcome,
    NotMoved,
    Refused,
    not_movable,
)
from bot.messages import Message
from bot.messages.booking import build_booking
from bot.messages.booking_form import FORM_DAY, FORM_TIME, form_error, form_trouble
from bot.messages.ids import MOVE_BOOKING, MOVE_MODAL, MOVE_SLOT
from bot.messages.moving import (
    build_move_conflict,
    build_move_modal,
    build_move_refused,
    build_move_used,
    build_move_working,
    build_moved,
    build_moved_again,
    build_not_moved,
    read_move_form,
    read_move_metadata,
    read_move_slot_value,
)
from bot.people import Act
from bot.services import Services
from handlers import clicks
from handlers.booking import invalid, local, start_of
from handlers.clicks import NOT_SET_UP, Reply
from handlers.forms import (
    CANT_CHECK_NOW,
    FORM_ANSWER_SECONDS,
    NOT_IN_CHANNEL,
    FormAnswer,
    form_checks,
    form_start,
)
from handlers.work import AfterAck
from storage.models import Customer, utcnow

NOT_IN_CHANNEL_TO_MOVE = "Only people in the channel can move its bookings."
CANT_CHECK_MOVE = (
    "I can't reach my records right now, so nothing was moved. Please submit again in a minute."
)
MOVE_SLOT_ACTION = clicks.numbered(MOVE_SLOT)


async def move(
    services: Services, customer: Customer, asked: commands.Move, *, user_id: str, reply: Reply
) -> None:
    try:
        start = start_of(customer, asked.day, asked.at)
    except when.WhenError as error:
        await reply(invalid(error, "move"))
        return
    outcome = await try_move(services, customer, asked.short_id, start, user_id)
    await tell_move(services, customer, asked.short_id, outcome, user_id, reply)


async def may_move_others(services: Services, customer: Customer, user_id: str) -> bool:
    """Whether this person may move anyone's bookings (the owner and onboarders, as
    cancelling), not only their own."""
    return await services.people.refusal(customer, user_id, Act.CANCEL_OTHERS) is None


async def try_move(
    services: Services, customer: Customer, short_id: str, start: datetime, user_id: str
) -> MoveOutcome:
    """Move, if this person may: their own bookings, or anyone's for the owner and
    onboarders."""
    return await services.bookings.move(
        customer,
        short_id,
        start,
        by=user_id,
        now=utcnow(),
        may_move_others=await may_move_others(services, customer, user_id),
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
    zone, today, clock = local(customer, utcnow())
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


def register(app: AsyncApp, services: Services, after_ack: AfterAck) -> None:
    async def move_slot_click(body: dict[str, Any], respond: AsyncRespond | None, *_: Any) -> None:
        """A free time offered after a move's conflict: move the booking there."""
        click = await clicks.read_click(services, body, respond, read_move_slot_value)
        if click is None:
            return
        customer, (short_id, start) = click.customer, click.value
        user_id = body["user"]["id"]
        outcome = await try_move(services, customer, short_id, start, user_id)
        await tell_move(services, customer, short_id, outcome, user_id, click.reply)
        if isinstance(outcome, Moved):
            zone, today, clock = local(customer, utcnow())
            await click.replace(build_move_used(outcome, zone, today, clock))

    app.action(MOVE_SLOT_ACTION)(after_ack.listener(move_slot_click))

    async def open_move_form(
        body: dict[str, Any], respond: AsyncRespond | None, client: AsyncWebClient, *_: Any
    ) -> None:
        """The booking message's Move button: the move form, for someone who may move it
        (the form must open before its trigger expires: it queues for nothing)."""
        channel_id = (body.get("channel") or {}).get("id")
        if not channel_id or respond is None:
            return
        reply = clicks.ephemeral(respond)
        customer = await clicks.customer_of(services, body, channel_id)
        if customer is None:
            await reply(Message.text_only(NOT_SET_UP))
            return
        short_id = str(body["actions"][0].get("value", ""))
        user_id = body["user"]["id"]
        booking = await services.store.find_booking(customer.id, short_id)
        may_others = await may_move_others(services, customer, user_id)
        refusal = not_movable(booking, user_id, may_move_others=may_others)
        if refusal is not None or booking is None:
            refused = refusal or NotMoved(NOT_FOUND)
            await reply(build_not_moved(refused, short_id, customer.owner_user_id))
            return
        zone, today, clock = local(customer, utcnow())
        view = build_move_modal(channel_id, booking, zone, today, clock)
        await client.views_open(trigger_id=body["trigger_id"], view=view)

    app.action(MOVE_BOOKING)(after_ack.listener(open_move_form, queue=False))

    @app.view(MOVE_MODAL)
    async def handle_move_form(ack: AsyncAck, body: dict[str, Any], client: AsyncWebClient) -> None:
        """The move form, answered within Slack's 3 seconds as the booking form is: the
        move is tried first (bounded); a conflict keeps the form open with the nearest free
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
        checked = await form_checks(services, body, channel_id, user_id)
        if isinstance(checked, str):
            said = {CANT_CHECK_NOW: CANT_CHECK_MOVE, NOT_IN_CHANNEL: NOT_IN_CHANNEL_TO_MOVE}
            await ack(response_action="errors", errors={FORM_DAY: said.get(checked, checked)})
            return
        customer = checked
        start = form_start(customer, values, *parsed)
        if isinstance(start, dict):
            await ack(response_action="errors", errors=start)
            return
        reply = clicks.ephemeral_in(client, channel_id, user_id)
        answer: FormAnswer[MoveOutcome] = FormAnswer(
            ack,
            after_ack,
            channel_id,
            reply,
            lambda done: tell_move(services, customer, short_id, done, user_id, reply),
        )
        outcome = await answer.attempt(
            lambda: try_move(services, customer, short_id, start, user_id),
            deadline,
            build_move_working(channel_id, short_id),
        )
        if outcome is None:
            return
        zone, today, clock = local(customer, utcnow())
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
        await answer.close_and_tell(outcome)
