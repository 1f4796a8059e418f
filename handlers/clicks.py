"""What every button handler needs: the channel's customer, and a reply only the clicker
sees; and the connect buttons, which give whoever clicks their own link."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from slack_bolt.async_app import AsyncAck, AsyncApp
from slack_bolt.context.respond.async_respond import AsyncRespond

from bot.messages import Message
from bot.messages.connect import build_connect_link
from bot.messages.ids import CONNECT_MINE, CONNECT_PRIMARY
from bot.services import Services
from storage.models import ConnectionKind, Customer

Reply = Callable[[Message], Awaitable[None]]
"""Sends a message only the person who asked sees."""

NOT_SET_UP = "This channel isn't set up with me yet: type `/tonomo help` in it first."


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


async def customer_of(services: Services, body: dict[str, Any], channel_id: str) -> Customer | None:
    team_id = (body.get("team") or {}).get("id") or body["user"].get("team_id", "")
    return await services.store.find_customer(team_id, channel_id)


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


def register(app: AsyncApp, services: Services) -> None:
    for action_id, kind in (
        (CONNECT_MINE, ConnectionKind.STAFF),
        (CONNECT_PRIMARY, ConnectionKind.PRIMARY),
    ):
        app.action(action_id)(_connect_button(services, kind))


def _connect_button(
    services: Services, kind: ConnectionKind
) -> Callable[[AsyncAck, dict[str, Any], AsyncRespond], Awaitable[None]]:
    async def handle_connect_click(
        ack: AsyncAck, body: dict[str, Any], respond: AsyncRespond
    ) -> None:
        await ack()
        customer, reply = await clicked_in(services, body, respond)
        if customer is not None:
            url = await services.connections.consent_link(customer, body["user"]["id"], kind)
            await reply(build_connect_link(kind, url))

    return handle_connect_click
