"""The App Home tab: published when its person opens it, and again for a click in it.

`app_home_opened` also fires for the Messages tab (`tab: "messages"`); only the Home tab is
published. Clicks in the tab carry no `response_url`, so `bot/home.py` answers them by
publishing the tab again.
"""

from __future__ import annotations

from typing import Any

from slack_bolt.async_app import AsyncAck, AsyncApp

from bot.messages.ids import CONNECT_HERE
from bot.services import Services


def register(app: AsyncApp, services: Services) -> None:
    @app.event("app_home_opened")
    async def handle_app_home_opened(
        ack: AsyncAck, body: dict[str, Any], event: dict[str, Any]
    ) -> None:
        await ack()
        if event.get("tab") != "home":
            return
        await services.home.show(str(body.get("team_id", "")), str(event["user"]))

    @app.action(CONNECT_HERE)
    async def handle_connect_here_click(ack: AsyncAck, body: dict[str, Any]) -> None:
        await ack()
        value = str((body.get("actions") or [{}])[0].get("value", ""))
        await services.home.show_connect_link(
            team_of(body), body["user"]["id"], int(value) if value.isdigit() else 0
        )


def clicked_in_home(body: dict[str, Any]) -> bool:
    """True for a click in a Home tab (it has a view and no response_url)."""
    container = body.get("container") or {}
    view = body.get("view") or {}
    return container.get("type") == "view" and view.get("type") == "home"


def team_of(body: dict[str, Any]) -> str:
    """The workspace of an interaction."""
    return str((body.get("team") or {}).get("id") or body["user"].get("team_id", ""))
