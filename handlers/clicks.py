"""What every button and modal handler needs: the installing workspace, the channel's
customer, a reply only the person who clicked sees, and what a button's value says."""

from __future__ import annotations

import logging
import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

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
STALE_BUTTON = "That button doesn't work any more. Please run the command again."

Value = TypeVar("Value")


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


def replacing(respond: AsyncRespond) -> Reply:
    """An answer through the `response_url` that replaces the message clicked."""

    async def replace(message: Message) -> None:
        await respond(text=message.text, blocks=message.blocks, replace_original=True)

    return replace


def message_ts(body: dict[str, Any]) -> str:
    """The message whose button was clicked ("" for none)."""
    return str((body.get("container") or {}).get("message_ts", ""))


def numbered(action_id: str) -> re.Pattern[str]:
    """The action ids of a message's row of like buttons (`action_id_0`, `action_id_1`…:
    each of a message's buttons needs its own)."""
    return re.compile(f"^{action_id}_[0-9]+$")


@dataclass(frozen=True)
class Click(Generic[Value]):
    """A click on a channel message's button, in a channel that is a customer."""

    customer: Customer
    value: Value
    """What the button's value says."""
    reply: Reply
    """Answers the person who clicked, and only them."""
    replace: Reply
    """Replaces the message clicked."""


async def read_click(
    services: Services,
    body: dict[str, Any],
    respond: AsyncRespond | None,
    read: Callable[[str], Value | None],
) -> Click[Value] | None:
    """A click on a channel message's button, with what `read` makes of its value. None
    when there is nothing more to do: no `response_url`, a channel that isn't set up, or a
    value `read` doesn't know (an old button); the person is told of the last two."""
    if respond is None:
        return None
    customer, reply = await clicked_in(services, body, respond)
    if customer is None:
        return None
    value = read(str(body["actions"][0].get("value", "")))
    if value is None:
        await reply(Message.text_only(STALE_BUTTON))
        return None
    return Click(customer, value, reply, replacing(respond))
