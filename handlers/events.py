"""Events API listeners."""

from __future__ import annotations

import re
from typing import Any

from slack_bolt.async_app import AsyncAck, AsyncApp

from bot.services import Services


def register(app: AsyncApp, services: Services) -> None:
    @app.event("app_uninstalled")
    async def handle_app_uninstalled(ack: AsyncAck, body: dict[str, Any]) -> None:
        await ack()
        await services.poster.stop_team(str(body.get("team_id", "")), "app_uninstalled")

    @app.event("tokens_revoked")
    async def handle_tokens_revoked(
        ack: AsyncAck, body: dict[str, Any], event: dict[str, Any]
    ) -> None:
        await ack()
        if (event.get("tokens") or {}).get("bot"):
            await services.poster.stop_team(str(body.get("team_id", "")), "tokens_revoked")


def register_fallback(app: AsyncApp) -> None:
    """Acknowledge every event no listener took: Slack expects a 2xx for each one it sends.

    Registered last, because Bolt runs the first listener that matches.
    """

    @app.event(re.compile(".*"))
    async def acknowledge_other_events(ack: AsyncAck) -> None:
        await ack()
