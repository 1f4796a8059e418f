"""Events API listeners."""

from __future__ import annotations

import re
from typing import Any

from slack_bolt.async_app import AsyncAck, AsyncApp

from bot.services import Services
from handlers.work import AfterAck


def register(app: AsyncApp, services: Services, after_ack: AfterAck) -> None:
    async def app_uninstalled(body: dict[str, Any], *_: Any) -> None:
        await services.poster.stop_team(str(body.get("team_id", "")), "app_uninstalled")

    async def tokens_revoked(body: dict[str, Any], *_: Any) -> None:
        if ((body.get("event") or {}).get("tokens") or {}).get("bot"):
            await services.poster.stop_team(str(body.get("team_id", "")), "tokens_revoked")

    app.event("app_uninstalled")(after_ack.listener(app_uninstalled))
    app.event("tokens_revoked")(after_ack.listener(tokens_revoked))


def register_fallback(app: AsyncApp) -> None:
    """Acknowledge every event no listener took: Slack expects a 2xx for each one it sends.

    Registered last, because Bolt runs the first listener that matches.
    """

    @app.event(re.compile(".*"))
    async def acknowledge_other_events(ack: AsyncAck) -> None:
        await ack()
