"""Buttons and menus."""

from __future__ import annotations

from typing import Any

from slack_bolt.async_app import AsyncAck, AsyncApp
from slack_bolt.context.respond.async_respond import AsyncRespond

from bot.messages.connect import build_connect_link, build_reconnect_refusal
from bot.messages.ids import CONNECT_LINK, RECONNECT
from bot.services import Services
from handlers import home


def register(app: AsyncApp, services: Services) -> None:
    # A link button opens its URL in the browser, and Slack still reports the click:
    # acknowledging it keeps Slack from showing the person an error.
    @app.action(CONNECT_LINK)
    async def acknowledge_link_click(ack: AsyncAck) -> None:
        await ack()

    @app.action(RECONNECT)
    async def handle_reconnect_click(
        ack: AsyncAck, body: dict[str, Any], respond: AsyncRespond
    ) -> None:
        await ack()
        value = str((body.get("actions") or [{}])[0].get("value", ""))
        user_id = body["user"]["id"]
        connection_id = int(value) if value.isdigit() else 0
        answer = await services.connections.reconnect_link(connection_id, user_id)
        if home.clicked_in_home(body):  # no response_url there: the tab itself answers
            await services.home.show_reconnect(home.team_of(body), user_id, connection_id, answer)
            return
        message = (
            build_connect_link(answer.kind, answer.url)
            if answer.kind is not None and answer.url is not None
            else build_reconnect_refusal(answer.owner)
        )
        await respond(
            text=message.text,
            blocks=message.blocks,
            response_type="ephemeral",
            replace_original=False,
        )
