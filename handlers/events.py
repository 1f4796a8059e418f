"""Events API listeners: the app removed from a workspace, and a channel shared with
another organisation or no longer (`channel_shared`, `channel_unshared`, sent for the
channels the bot is in; https://docs.slack.dev/reference/events/channel_shared). Sharing
decides who is an onboarder, and digests keep whether a channel is shared: both are read
afresh after either event."""

from __future__ import annotations

import re
from typing import Any

from slack_bolt.async_app import AsyncAck, AsyncApp, AsyncBoltContext

from bot.services import Services
from handlers.work import AfterAck
from storage.models import utcnow


def register(app: AsyncApp, services: Services, after_ack: AfterAck) -> None:
    async def app_uninstalled(body: dict[str, Any], *_: Any) -> None:
        await services.poster.stop_team(str(body.get("team_id", "")), "app_uninstalled")

    async def tokens_revoked(body: dict[str, Any], *_: Any) -> None:
        if ((body.get("event") or {}).get("tokens") or {}).get("bot"):
            await services.poster.stop_team(str(body.get("team_id", "")), "tokens_revoked")

    async def sharing_changed(
        body: dict[str, Any], _respond: Any, _client: Any, context: AsyncBoltContext
    ) -> None:
        # The installing workspace, as for member events (Bolt reads it from authorizations).
        team_id = context.team_id or str(body.get("team_id", ""))
        channel_id = str((body.get("event") or {}).get("channel") or "")
        if team_id and channel_id:
            await services.people.channel_changed(team_id, channel_id, utcnow())

    app.event("app_uninstalled")(after_ack.listener(app_uninstalled))
    app.event("channel_shared")(after_ack.listener(sharing_changed))
    app.event("channel_unshared")(after_ack.listener(sharing_changed))
    app.event("tokens_revoked")(after_ack.listener(tokens_revoked))


def register_fallback(app: AsyncApp) -> None:
    """Acknowledge every event no listener took: Slack expects a 2xx for each one it sends.

    Registered last, because Bolt runs the first listener that matches.
    """

    @app.event(re.compile(".*"))
    async def acknowledge_other_events(ack: AsyncAck) -> None:
        await ack()
