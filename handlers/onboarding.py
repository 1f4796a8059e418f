"""Onboarding: people and the bot joining or leaving the channel, and the checklist's Remind
staff button (its other buttons are in `handlers/panel.py`).

`member_joined_channel` (https://api.slack.com/events/member_joined_channel) carries `user`,
`channel`, `channel_type`, `team` and, when someone was invited, `inviter`. Slack sends it
for channels the bot is in, its own joining included; with `channels:read` for public
channels and `groups:read` for private ones. Bolt keeps this event even when the user is
the bot itself (its self-event filter lets member_joined_channel through).
"""

from __future__ import annotations

from typing import Any

from slack_bolt.async_app import AsyncApp, AsyncBoltContext
from slack_bolt.context.respond.async_respond import AsyncRespond
from slack_sdk.web.async_client import AsyncWebClient

from bot.messages.ids import REMIND_STAFF
from bot.messages.onboarding import build_remind_reply
from bot.services import Services
from bot.slack import user_timezone
from handlers import clicks
from handlers.work import AfterAck
from storage.models import utcnow


def register(app: AsyncApp, services: Services, after_ack: AfterAck) -> None:
    async def member_joined(
        body: dict[str, Any],
        _respond: AsyncRespond | None,
        client: AsyncWebClient,
        context: AsyncBoltContext,
    ) -> None:
        event = body["event"]
        # A redelivered event (https://api.slack.com/apis/connections/events-api#retries)
        # is claimed once: one welcome, one checklist.
        if not await services.store.first_delivery(f"event:{body.get('event_id', '')}"):
            return
        # The installing workspace: in a Slack Connect channel the envelope's team_id can be
        # the joining person's own (Bolt reads authorizations[0].team_id for it).
        team_id = context.team_id or str(body.get("team_id", ""))
        channel_id = str(event.get("channel", ""))
        user_id, inviter = str(event.get("user", "")), event.get("inviter")
        if not (team_id and channel_id and user_id) or channel_id.startswith("D"):
            return
        await services.people.channel_changed(team_id, channel_id, utcnow())
        joined_is_bot = user_id == context.bot_user_id
        if not joined_is_bot and not await services.directory.is_person(user_id):
            return  # another app's bot: no welcome, and it is not on the checklist
        # A new channel is in the timezone of whoever added the bot (or the person).
        registered_by = str(inviter or user_id)

        async def lookup_timezone(slack_user_id: str) -> str | None:
            if slack_user_id == context.bot_user_id:
                return None  # a bot's own Slack timezone says nothing about the business
            return await user_timezone(client, slack_user_id)

        customer = await services.customers.find_or_register(
            team_id=team_id,
            channel_id=channel_id,
            registered_by=registered_by,
            lookup_timezone=lookup_timezone,
        )
        if joined_is_bot:
            # Being added (back) shows, as a command there would, that posting works again.
            customer = await services.poster.resume_after_command(customer, services.directory)
            await services.onboarding.bot_added(customer)
        else:
            await services.onboarding.welcome(customer, user_id)

    async def member_left(
        body: dict[str, Any], _respond: AsyncRespond | None, _client: Any, context: AsyncBoltContext
    ) -> None:
        event = body["event"]
        if event.get("user") == context.bot_user_id:
            return  # nothing can be posted or edited there any more
        team_id = context.team_id or str(body.get("team_id", ""))
        channel_id = str(event.get("channel", ""))
        await services.people.channel_changed(team_id, channel_id, utcnow())
        customer = await services.store.find_customer(team_id, channel_id)
        if customer is not None:
            await services.onboarding.refresh(customer)

    async def remind_staff(body: dict[str, Any], respond: AsyncRespond | None, *_: Any) -> None:
        if respond is None:
            return
        customer, reply = await clicks.clicked_in(services, body, respond)
        if customer is not None:
            outcome, count = await services.onboarding.remind(customer, by=body["user"]["id"])
            await reply(build_remind_reply(outcome, count))

    app.event("member_joined_channel")(after_ack.listener(member_joined))
    app.event("member_left_channel")(after_ack.listener(member_left))
    app.action(REMIND_STAFF)(after_ack.listener(remind_staff))
