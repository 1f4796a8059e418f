"""What every button and modal handler needs: the installing workspace, the channel's
customer, and a reply only the person who clicked sees."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import Any

from slack_bolt.context.respond.async_respond import AsyncRespond
from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

from bot.messages import Message
from bot.services import Services
from bot.slack import slack_error
from storage.models import Customer

logger = logging.getLogger(__name__)

Reply = Callable[[Message], Awaitable[None]]
"""Sends a message only the person who asked sees."""

NOT_SET_UP = (
    "This channel isn't set up with me yet: mention me in it first (`@Tonomo help`), "
    "or type `/tonomo help`."
)


def ephemeral(respond: AsyncRespond) -> Reply:
    """A reply through the `response_url`, to the person only, leaving the message as is."""

    async def reply(message: Message) -> None:
        await respond(
            text=message.text,
            blocks=message.blocks,
            response_type="ephemeral",
            replace_original=False,
        )

    return reply


def ephemeral_in(
    client: AsyncWebClient, channel_id: str, user_id: str, *, thread_ts: str | None = None
) -> Reply:
    """A reply only `user_id` sees in the channel (`chat.postEphemeral`, in the thread when
    given): for a mention or a modal, which have no `response_url`. A failure is logged."""

    async def reply(message: Message) -> None:
        try:
            await client.chat_postEphemeral(
                channel=channel_id,
                user=user_id,
                text=message.text,
                blocks=message.blocks,
                thread_ts=thread_ts,
            )
        except SlackApiError as err:
            logger.warning("chat.postEphemeral in %s failed: %s", channel_id, slack_error(err))

    return reply


def installed_team(body: dict[str, Any]) -> str:
    """The workspace that installed the app, for any interaction: a view carries it as
    `app_installed_team_id` (a modal opened in a Slack Connect channel may belong to another
    workspace), other interactions as `team.id`; `user.team_id` is the person's own
    workspace, another organisation's for people of Slack Connect."""
    view = body.get("view") or {}
    team = body.get("team") or {}
    return str(
        view.get("app_installed_team_id")
        or team.get("id")
        or (body.get("user") or {}).get("team_id", "")
    )


async def customer_of(services: Services, body: dict[str, Any], channel_id: str) -> Customer | None:
    return await services.store.find_customer(installed_team(body), channel_id)


async def in_channel(services: Services, channel_id: str, user_id: str) -> bool:
    """The person is in the channel now (a modal's channel rides in its metadata: only its
    own people may act on that channel's customer)."""
    return user_id in (await services.directory.people_in(channel_id) or [])


async def clicked_in(
    services: Services, body: dict[str, Any], respond: AsyncRespond
) -> tuple[Customer | None, Reply]:
    """The customer of the channel a button was clicked in (the person is told if there is
    none), and the way to answer the person who clicked."""
    reply = ephemeral(respond)
    customer = await customer_of(services, body, body["channel"]["id"])
    if customer is None:
        await reply(Message.text_only(NOT_SET_UP))
    return customer, reply
