"""Buttons and menus."""

from __future__ import annotations

from slack_bolt.async_app import AsyncAck, AsyncApp

from bot.messages.ids import CONNECT_LINK


def register(app: AsyncApp) -> None:
    # A link button opens its URL in the browser, and Slack still reports the click:
    # acknowledging it keeps Slack from showing the person an error.
    @app.action(CONNECT_LINK)
    async def acknowledge_link_click(ack: AsyncAck) -> None:
        await ack()
