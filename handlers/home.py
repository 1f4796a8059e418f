"""The App Home tab: published when its person opens it, and again for a click in it.

`app_home_opened` also fires for the Messages tab (`tab: "messages"`); only the Home tab is
published. Clicks in the tab carry no `response_url`, so `bot/home.py` answers them by
publishing the tab again. A Remind in the onboarder's desk posts the channel's friendly
reminder (`Onboarding.remind`), once `bot/home.py` has found that channel on the clicker's
own desk.
"""

from __future__ import annotations

from typing import Any

from slack_bolt.async_app import AsyncApp

from bot.checklist import Reminded
from bot.messages.ids import CONNECT_HERE, DESK_REMIND
from bot.services import Services
from handlers.work import AfterAck
from storage.models import Customer


def register(app: AsyncApp, services: Services, after_ack: AfterAck) -> None:
    async def home_opened(body: dict[str, Any], *_: Any) -> None:
        event = body["event"]
        if event.get("tab") == "home":
            await services.home.show(str(body.get("team_id", "")), str(event["user"]))

    async def connect_here(body: dict[str, Any], *_: Any) -> None:
        value = str((body.get("actions") or [{}])[0].get("value", ""))
        await services.home.show_connect_link(
            team_of(body), body["user"]["id"], int(value) if value.isdigit() else 0
        )

    async def desk_remind(body: dict[str, Any], *_: Any) -> None:
        user_id = body["user"]["id"]
        value = str((body.get("actions") or [{}])[0].get("value", ""))

        async def remind(customer: Customer) -> tuple[Reminded, int]:
            return await services.onboarding.remind(customer, by=user_id)

        await services.home.remind(
            team_of(body), user_id, int(value) if value.isdigit() else 0, remind
        )

    app.event("app_home_opened")(after_ack.listener(home_opened))
    app.action(CONNECT_HERE)(after_ack.listener(connect_here))
    app.action(DESK_REMIND)(after_ack.listener(desk_remind))


def clicked_in_home(body: dict[str, Any]) -> bool:
    """True for a click in a Home tab (it has a view and no response_url)."""
    container = body.get("container") or {}
    view = body.get("view") or {}
    return container.get("type") == "view" and view.get("type") == "home"


def team_of(body: dict[str, Any]) -> str:
    """The workspace of an interaction."""
    return str((body.get("team") or {}).get("id") or body["user"].get("team_id", ""))
