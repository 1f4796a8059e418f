"""Buttons and menus of the connections: a link's click, Reconnect."""

from __future__ import annotations

from typing import Any

from slack_bolt.async_app import AsyncAck, AsyncApp
from slack_bolt.context.respond.async_respond import AsyncRespond

from bot.messages.connect import build_connect_link, build_reconnect_refusal
from bot.messages.ids import CONNECT_LINK, RECONNECT
from bot.messages.people import build_refusal
from bot.people import Act
from bot.services import Services
from handlers import clicks, home
from handlers.work import AfterAck
from storage.models import ConnectionKind


def register(app: AsyncApp, services: Services, after_ack: AfterAck) -> None:
    # A link button opens its URL in the browser, and Slack still reports the click:
    # acknowledging it keeps Slack from showing the person an error.
    @app.action(CONNECT_LINK)
    async def acknowledge_link_click(ack: AsyncAck) -> None:
        await ack()

    async def reconnect(body: dict[str, Any], respond: AsyncRespond | None, *_: Any) -> None:
        value = str((body.get("actions") or [{}])[0].get("value", ""))
        user_id = body["user"]["id"]
        connection_id = int(value) if value.isdigit() else 0
        in_home = home.clicked_in_home(body)  # no response_url there: the tab itself answers
        if in_home:
            team_id = home.team_of(body)
            customer = await services.home.customer_with(team_id, user_id, connection_id)
        elif respond is not None:
            customer, reply = await clicks.clicked_in(services, body, respond)
            if customer is None:
                return
        else:
            return
        connection = await services.store.get_connection(connection_id)
        if (
            customer is not None
            and connection is not None
            and connection.kind is ConnectionKind.PRIMARY
        ):
            refusal = await services.people.refusal(customer, user_id, Act.PRIMARY)
            if refusal is not None:
                if in_home:
                    await services.home.show_notice(team_id, user_id, build_refusal(refusal).text)
                else:
                    await reply(build_refusal(refusal))
                return
        answer = await services.connections.reconnect_link(customer, connection_id, user_id)
        if in_home:
            await services.home.show_reconnect(team_id, user_id, connection_id, answer)
            return
        await reply(
            build_connect_link(answer.kind, answer.url)
            if answer.kind is not None and answer.url is not None
            else build_reconnect_refusal(answer.owner)
        )

    app.action(RECONNECT)(after_ack.listener(reconnect))
