"""`/tonomo`: parse the text, acknowledge at once, then do the work and reply."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from typing import Any

from slack_bolt.async_app import AsyncAck, AsyncApp
from slack_bolt.context.respond.async_respond import AsyncRespond
from slack_sdk.web.async_client import AsyncWebClient

from bot import commands
from bot.messages import Message
from bot.messages.connect import (
    build_connect_link,
    build_disconnect_reply,
    build_disconnected_notice,
)
from bot.messages.help import (
    build_checking,
    build_checking_calendars,
    build_help,
    build_invalid,
    build_not_in_channel,
)
from bot.messages.onboarding import build_checklist_not_posted
from bot.messages.status import StatusView, build_status
from bot.services import Services
from bot.slack import user_timezone
from handlers import digest, scheduling

AFTER_ACK_CONCURRENCY = 8
"""Commands whose work (after the ack) runs at once; the rest wait their turn, holding little.

Under a burst this keeps the heap small, so garbage collection never pauses the acks of
the requests still arriving for long.
"""


def register(app: AsyncApp, services: Services) -> None:
    work_after_ack = asyncio.Semaphore(AFTER_ACK_CONCURRENCY)

    @app.command("/tonomo")
    async def handle_tonomo_command(
        ack: AsyncAck, command: dict[str, Any], respond: AsyncRespond, client: AsyncWebClient
    ) -> None:
        parsed = commands.parse(command.get("text", ""))
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
        if isinstance(parsed, commands.Status):
            await ack(text=(m := build_checking()).text, blocks=m.blocks)
        elif isinstance(parsed, commands.Availability | commands.Book):
            await ack(text=(m := build_checking_calendars()).text, blocks=m.blocks)
        else:
            await ack()
        async with work_after_ack:
            await handle_after_ack(parsed, command, respond, client)

    async def handle_after_ack(
        parsed: commands.Command,
        command: dict[str, Any],
        respond: AsyncRespond,
        client: AsyncWebClient,
    ) -> None:
        channel_id = command["channel_id"]
        user_id = command["user_id"]

        async def lookup_timezone(slack_user_id: str) -> str | None:
            return await user_timezone(client, slack_user_id)

        customer = await services.customers.ensure(
            team_id=command["team_id"],
            channel_id=channel_id,
            slack_user_id=user_id,
            display_name=command.get("user_name", ""),
            lookup_timezone=lookup_timezone,
        )
        customer = await services.poster.resume_after_command(customer, services.directory)

        async def reply(message: Message) -> None:
            await respond(text=message.text, blocks=message.blocks, response_type="ephemeral")

        if isinstance(parsed, commands.ConnectCalendar):
            url = await services.connections.consent_link(customer, user_id, parsed.kind)
            await reply(build_connect_link(parsed.kind, url))
        elif isinstance(parsed, commands.Disconnect):
            done = await services.connections.disconnect(customer, user_id, parsed.kind)
            await reply(build_disconnect_reply(parsed.kind, done))
            if done is not None:
                await services.poster.post(
                    customer, build_disconnected_notice(user_id, parsed.kind, done)
                )
                await services.onboarding.refresh(customer)
        elif isinstance(parsed, commands.Status):
            connections, not_connected = await services.health.live_status(
                customer, services.directory
            )
            view = StatusView(
                connections=connections,
                timezone=customer.timezone,
                check_interval=timedelta(minutes=services.settings.health_check_minutes),
                not_connected=not_connected,
                channel_problem=customer.channel_problem,
            )
            await reply(build_status(view))
        elif isinstance(parsed, commands.Availability):
            await scheduling.availability(services, customer, parsed, user_id, reply)
        elif isinstance(parsed, commands.Book):
            await scheduling.book(
                services,
                customer,
                parsed,
                user_id=user_id,
                # The same request again (a Slack retry) carries the same trigger: one booking.
                request_key=f"command:{command['trigger_id']}",
                reply=reply,
            )
        elif isinstance(parsed, commands.BookForm):
            await scheduling.open_book_form(services, customer, command["trigger_id"], client)
        elif isinstance(parsed, commands.Cancel):
            await scheduling.cancel(
                services, customer, parsed.short_id, user_id=user_id, reply=reply
            )
        elif isinstance(parsed, commands.ShowSettings | commands.SetTimezone | commands.SetHours):
            await scheduling.settings(services, customer, parsed, reply)
        elif isinstance(parsed, commands.DigestSetting):
            await digest.digest_command(services, customer, parsed, reply)
        elif isinstance(parsed, commands.Onboard):
            checklist_ts = await services.onboarding.post(customer)
            if checklist_ts is None:
                await reply(build_checklist_not_posted())
