"""`/tonomo` and `@Tonomo`: two doors into one room.

A slash command reaches members of the installing workspace only; a mention in the channel
reaches everyone, people of another organisation too. Each door only translates: the text
becomes a `bot.commands` command, the request an `Asked` (who, where, how to answer them),
and `run` does the rest, the same for both. A panel button that stands for a command
(connect, status) goes through `run` too.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from slack_bolt.async_app import AsyncAck, AsyncApp, AsyncBoltContext
from slack_bolt.context.respond.async_respond import AsyncRespond
from slack_sdk.web.async_client import AsyncWebClient

from bot import commands
from bot.customers import clock_of
from bot.messages import Message
from bot.messages.booking_form import build_open_book_form
from bot.messages.connect import (
    build_connect_link,
    build_disconnect_reply,
    build_disconnected_notice,
)
from bot.messages.help import (
    SLASH,
    build_checking,
    build_checking_calendars,
    build_help,
    build_invalid,
    build_not_in_channel,
)
from bot.messages.onboarding import build_checklist_not_posted
from bot.messages.people import build_refusal, build_replace_primary, build_role_set
from bot.messages.status import StatusView, build_status
from bot.people import Role, act_of, refusal_of
from bot.services import Services
from bot.slack import user_timezone
from handlers import availability, booking, digest, moving, settings, timeoff
from handlers.clicks import Reply
from handlers.work import AfterAck
from storage.models import ConnectionKind, Customer, Member, utcnow
from storage.repositories import CheckOutcome


@dataclass(frozen=True, kw_only=True)
class Asked:
    """A command as it came through a door: who asked, where, and how to answer them."""

    team_id: str
    """The workspace that installed the app (Bolt's `context.team_id`), whichever
    organisation the person belongs to."""
    channel_id: str
    user_id: str
    user_name: str
    request_key: str
    """The same request again (a Slack retry, a double click) has the same key."""
    reply: Reply
    """Answers the person who asked, and only them."""
    trigger_id: str | None = None
    """Set when a modal may be opened now (a slash command or a click; a mention has none)."""
    door: str = SLASH
    """How the person types commands here: `/tonomo` or `@Tonomo`."""


def register(app: AsyncApp, services: Services, after_ack: AfterAck) -> None:

    @app.command("/tonomo")
    async def handle_tonomo_command(
        ack: AsyncAck,
        command: dict[str, Any],
        respond: AsyncRespond,
        client: AsyncWebClient,
        context: AsyncBoltContext,
    ) -> None:
        # The whole command is checked before the ack, with no I/O (day words against today
        # in UTC): a mistake is the ack's own answer, and only a valid request says "Checking…".
        parsed = commands.parse(command.get("text", ""), around=utcnow().date())
        channel_id = command["channel_id"]
        # Replies that need no I/O ride on the ack itself; everything else comes after it.
        if isinstance(parsed, commands.Help):
            await ack(text=(m := build_help()).text, blocks=m.blocks)
            return
        if isinstance(parsed, commands.Invalid):
            await ack(text=(m := build_invalid(parsed.problem, parsed.usage)).text, blocks=m.blocks)
            return
        if channel_id.startswith("D"):
            await ack(text=(m := build_not_in_channel()).text, blocks=m.blocks)
            return

        async def reply(message: Message) -> None:
            await respond(text=message.text, blocks=message.blocks, response_type="ephemeral")

        trigger_id = command.get("trigger_id") or None
        asked = Asked(
            team_id=context.team_id or command["team_id"],
            channel_id=channel_id,
            user_id=command["user_id"],
            user_name=command.get("user_name", ""),
            # The same request again (a Slack retry) carries the same trigger: one answer.
            # Slack always sends one; a request without is its own request, and can't open
            # a form (it is offered the button instead).
            request_key=f"command:{trigger_id or uuid.uuid4().hex}",
            reply=reply,
            trigger_id=trigger_id,
        )
        if isinstance(parsed, commands.Status):
            await ack(text=(m := build_checking()).text, blocks=m.blocks)
        elif isinstance(
            parsed,
            commands.Availability
            | commands.Book
            | commands.BookAnyone
            | commands.Move
            | commands.Why,
        ):
            await ack(text=(m := build_checking_calendars()).text, blocks=m.blocks)
        else:
            await ack()
        # Nothing but handing the work over after the ack: Bolt answers when this returns.
        # The booking form must open before its trigger expires (3 s): it queues for nothing.
        after_ack.start(
            channel_id,
            lambda: run(services, parsed, asked, client),
            apologize=reply,
            queue=not isinstance(parsed, commands.BookForm),
        )


async def run(
    services: Services, parsed: commands.Command, asked: Asked, client: AsyncWebClient
) -> None:
    """Run a command for the person who asked, whichever door it came through."""
    if isinstance(parsed, commands.Help):
        await asked.reply(build_help(asked.door))
        return
    if isinstance(parsed, commands.Invalid):
        await asked.reply(build_invalid(parsed.problem, parsed.usage, asked.door))
        return
    customer, members = await customer_of(services, asked, client)
    # Who they are here is decided (and recorded) for every command, whatever it asks.
    role = await services.people.role_of(customer, asked.user_id, members=members)
    refusal = refusal_of(role, act_of(parsed, asked.user_id), customer)
    if refusal is not None:
        await asked.reply(build_refusal(refusal))
        return
    reply, user_id = asked.reply, asked.user_id
    if isinstance(parsed, commands.ConnectCalendar):
        await connect(services, customer, asked, parsed.kind)
    elif isinstance(parsed, commands.Disconnect):
        done = await services.connections.disconnect(customer, user_id, parsed.kind)
        await reply(build_disconnect_reply(parsed.kind, done))
        if done is not None:
            await services.poster.post(
                customer, build_disconnected_notice(user_id, parsed.kind, done)
            )
            await services.onboarding.refresh(customer)
    elif isinstance(parsed, commands.Status):
        message, outcomes = await status(services, customer)
        await reply(message)
        await services.health.record_after_answer(outcomes)
    elif isinstance(parsed, commands.Availability):
        await availability.availability(services, customer, parsed, user_id, reply)
    elif isinstance(parsed, commands.Book):
        await booking.book(
            services, customer, parsed, user_id=user_id, request_key=asked.request_key, reply=reply
        )
    elif isinstance(parsed, commands.BookAnyone):
        await booking.book_anyone(
            services, customer, parsed, user_id=user_id, request_key=asked.request_key, reply=reply
        )
    elif isinstance(parsed, commands.Move):
        await moving.move(services, customer, parsed, user_id=user_id, reply=reply)
    elif isinstance(parsed, commands.BookForm):
        if asked.trigger_id is not None:
            await booking.open_book_form(customer, asked.trigger_id, client)
        else:  # a mention can't open a modal: a button can
            await reply(build_open_book_form())
    elif isinstance(parsed, commands.Cancel):
        await booking.cancel(services, customer, parsed.short_id, user_id=user_id, reply=reply)
    elif isinstance(
        parsed,
        commands.ShowSettings
        | commands.SetTimezone
        | commands.SetClock
        | commands.SetHours
        | commands.SetScheduling,
    ):
        await settings.settings(services, customer, parsed, reply)
    elif isinstance(parsed, commands.Why):
        await timeoff.why(services, customer, parsed, reply)
    elif isinstance(parsed, commands.AddTimeOff | commands.ListTimeOff | commands.CancelTimeOff):
        await timeoff.time_off(
            services, customer, parsed, user_id=user_id, request_key=asked.request_key, reply=reply
        )
    elif isinstance(parsed, commands.SetRole):
        role = Role(parsed.role)
        await services.people.set_role(customer, parsed.user_id, role, by=user_id)
        await services.poster.post(customer, build_role_set(parsed.user_id, role, user_id))
        await services.onboarding.refresh(customer)
    elif isinstance(parsed, commands.DigestSetting):
        await digest.digest_command(services, customer, parsed, reply)
    elif isinstance(parsed, commands.Onboard):
        checklist_ts = await services.onboarding.post(customer)
        if checklist_ts is None:
            await reply(build_checklist_not_posted())


async def customer_of(
    services: Services, asked: Asked, client: AsyncWebClient
) -> tuple[Customer, list[Member]]:
    """The channel's customer (registered on its first command), posting there and in its
    workspace resumed, and the member rows the asker's role is decided from."""

    async def lookup_timezone(slack_user_id: str) -> str | None:
        return await user_timezone(client, slack_user_id)

    arrival = await services.customers.arrive(
        team_id=asked.team_id,
        channel_id=asked.channel_id,
        slack_user_id=asked.user_id,
        display_name=asked.user_name,
        lookup_timezone=lookup_timezone,
    )
    customer = await services.poster.resume_channel(arrival.customer, services.directory)
    return customer, arrival.members


async def connect(
    services: Services, customer: Customer, asked: Asked, kind: ConnectionKind
) -> None:
    """A personal sign-in link; replacing a connected primary calendar asks first."""
    if kind is ConnectionKind.PRIMARY:
        current = await services.connections.primary_to_replace(customer, utcnow())
        if current is not None:
            await asked.reply(build_replace_primary(current))
            return
    url = await services.connections.consent_link(customer, asked.user_id, kind)
    await asked.reply(build_connect_link(kind, url))


async def status(services: Services, customer: Customer) -> tuple[Message, list[CheckOutcome]]:
    """The answer to `status`, and what its checks found, to record once it is out."""
    connections, not_connected, outcomes = await services.health.live_status(
        customer, services.people
    )
    view = StatusView(
        connections=connections,
        timezone=customer.timezone,
        check_interval=timedelta(minutes=services.settings.health_check_minutes),
        not_connected=not_connected,
        channel_problem=customer.channel_problem,
    )
    return build_status(view, clock=clock_of(customer)), outcomes
