"""The channel's panel: the checklist message's buttons (connect, availability, book,
status) and the modals they open, for everyone in the channel, people of another
organisation too (they have no `/tonomo` and no Home tab, but Slack delivers their clicks
and their modal submissions). A button that stands for a command runs it through the same
room as `/tonomo` and `@Tonomo` (`handlers.commands.run`), answered to whoever clicked.
"""

from __future__ import annotations

from typing import Any

from slack_bolt.async_app import AsyncAck, AsyncApp
from slack_bolt.context.respond.async_respond import AsyncRespond
from slack_sdk.web.async_client import AsyncWebClient

from bot import commands
from bot.messages import Message
from bot.messages.availability import (
    ASK_LENGTH,
    ASK_WHEN,
    ASK_WHO,
    WHEN_CHOICES,
    build_availability_modal,
)
from bot.messages.connect import build_connect_link
from bot.messages.help import MENTION, SLASH
from bot.messages.ids import (
    AVAILABILITY_MODAL,
    CONNECT_MINE,
    CONNECT_PRIMARY,
    OPEN_AVAILABILITY_FORM,
    OPEN_BOOK_FORM,
    REPLACE_PRIMARY,
    SHOW_STATUS,
)
from bot.messages.people import build_refusal
from bot.people import Act
from bot.services import Services
from bot.when import WhenError, parse_duration
from handlers import clicks
from handlers.commands import Asked, run
from handlers.work import AfterAck, Work
from storage.models import ConnectionKind

STALE_REPLACE = (
    "The primary calendar has changed since that message. Ask again to see what a new one "
    "would replace."
)
NOT_IN_CHANNEL = "Only people in the channel can use this form. Please ask there."


def door_of(body: dict[str, Any]) -> str:
    """How the person who clicked types commands: people of another organisation (their
    `user.team_id` differs from the installing `team.id`) and guests mention the bot."""
    user = body.get("user") or {}
    return MENTION if user.get("team_id") != clicks.installed_team(body) else SLASH


def asked_by_click(body: dict[str, Any], respond: AsyncRespond) -> Asked:
    user = body["user"]
    container = body.get("container") or {}
    action = (body.get("actions") or [{}])[0]
    return Asked(
        team_id=clicks.installed_team(body),
        channel_id=body["channel"]["id"],
        user_id=user["id"],
        user_name=str(user.get("username") or user.get("name") or ""),
        request_key=f"click:{container.get('message_ts', '')}:{action.get('action_ts', '')}",
        reply=clicks.ephemeral(respond),
        trigger_id=body.get("trigger_id"),
        door=door_of(body),
    )


def register(app: AsyncApp, services: Services, after_ack: AfterAck) -> None:
    def runs(command: commands.Command) -> Work:
        """A button that runs `command` for whoever clicks it."""

        async def handle_panel_click(
            body: dict[str, Any], respond: AsyncRespond | None, client: AsyncWebClient, *_: Any
        ) -> None:
            if (body.get("channel") or {}).get("id") and respond is not None:
                await run(services, command, asked_by_click(body, respond), client)

        return handle_panel_click

    for action_id, command in (
        (CONNECT_MINE, commands.ConnectCalendar(ConnectionKind.STAFF)),
        (CONNECT_PRIMARY, commands.ConnectCalendar(ConnectionKind.PRIMARY)),
        (SHOW_STATUS, commands.Status()),
    ):
        app.action(action_id)(after_ack.listener(runs(command)))
    # The booking form must open before its trigger expires (3 s): it queues for nothing.
    app.action(OPEN_BOOK_FORM)(after_ack.listener(runs(commands.BookForm()), queue=False))

    async def replace_primary(body: dict[str, Any], respond: AsyncRespond | None, *_: Any) -> None:
        """Confirmed: the sign-in link that replaces the primary calendar (if the one the
        message named is still the primary here, and this person may replace it)."""
        if respond is None:
            return
        customer, reply = await clicks.clicked_in(services, body, respond)
        if customer is None:
            return
        user_id = body["user"]["id"]
        refusal = await services.people.refusal(customer, user_id, Act.PRIMARY)
        if refusal is not None:
            await reply(build_refusal(refusal))
            return
        value = str((body.get("actions") or [{}])[0].get("value", ""))
        primary = await services.store.find_connection(customer.id, "primary")
        if primary is not None and str(primary.id) != value:
            await reply(Message.text_only(STALE_REPLACE))
            return
        url = await services.connections.consent_link(customer, user_id, ConnectionKind.PRIMARY)
        await reply(build_connect_link(ConnectionKind.PRIMARY, url))

    app.action(REPLACE_PRIMARY)(after_ack.listener(replace_primary))

    async def open_availability_form(
        body: dict[str, Any], _respond: AsyncRespond | None, client: AsyncWebClient, *_: Any
    ) -> None:
        """The availability form, opened at once, queued behind nothing (its trigger
        expires in 3 s): no I/O but Slack's."""
        channel_id = (body.get("channel") or {}).get("id")
        if channel_id:
            await client.views_open(
                trigger_id=body["trigger_id"], view=build_availability_modal(channel_id)
            )

    app.action(OPEN_AVAILABILITY_FORM)(after_ack.listener(open_availability_form, queue=False))

    @app.view(AVAILABILITY_MODAL)
    async def handle_availability_form(
        ack: AsyncAck, body: dict[str, Any], client: AsyncWebClient
    ) -> None:
        view, user = body["view"], body["user"]
        values = (view.get("state") or {}).get("values") or {}
        asked = availability_asked(values)
        if isinstance(asked, dict):
            await ack(response_action="errors", errors=asked)
            return
        channel_id = str(view.get("private_metadata", ""))
        reply = clicks.ephemeral_in(client, channel_id, user["id"])

        async def answer() -> None:
            if not await clicks.in_channel(services, channel_id, user["id"]):
                await reply(Message.text_only(NOT_IN_CHANNEL))
                return
            who = Asked(
                team_id=clicks.installed_team(body),
                channel_id=channel_id,
                user_id=user["id"],
                user_name=str(user.get("username") or user.get("name") or ""),
                request_key=f"view:{view.get('id', '')}",
                reply=reply,
                door=door_of(body),
            )
            await run(services, asked, who, client)

        await ack()
        after_ack.start(channel_id, answer, apologize=reply)


def availability_asked(values: dict[str, Any]) -> commands.Availability | dict[str, str]:
    """The availability form's `view.state.values` as the command, or an error per block."""
    users = (values.get(ASK_WHO) or {}).get(ASK_WHO, {}).get("selected_users") or []
    chosen = (values.get(ASK_WHEN) or {}).get(ASK_WHEN, {}).get("selected_option") or {}
    when_words = str(chosen.get("value", "today"))
    if when_words not in WHEN_CHOICES:
        return {ASK_WHEN: "Choose when from the list."}
    length = str((values.get(ASK_LENGTH) or {}).get(ASK_LENGTH, {}).get("value") or "").strip()
    try:
        duration = parse_duration(length) if length else None
    except WhenError as error:
        return {ASK_LENGTH: error.problem}
    return commands.Availability(tuple(str(u) for u in users), tuple(when_words.split()), duration)
