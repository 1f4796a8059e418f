"""`@Tonomo TEXT` in a channel: the door for everyone, people of another organisation too.

Slack gives people of another organisation (Slack Connect) none of the installing
workspace's slash commands, but it delivers their messages: a mention of the bot arrives as
an `app_mention` event (https://api.slack.com/events/app_mention) and takes the whole
`/tonomo` grammar. What a slash command answers to one person goes to whoever mentioned,
as an ephemeral message (in the thread when the mention was in one); what it posts in the
channel, it posts in the channel. Slack redelivers an event it thinks was not received
(`X-Slack-Retry-Num`, the same `event_id`): the first delivery is claimed in the database,
so a redelivery, on any instance, is answered by nobody.
"""

from __future__ import annotations

import logging
import re
from typing import Any

from slack_bolt.async_app import AsyncAck, AsyncApp, AsyncBoltContext
from slack_sdk.web.async_client import AsyncWebClient

from bot import commands
from bot.messages.help import MENTION, build_not_in_channel
from bot.services import Services
from handlers.clicks import Reply, ephemeral_in
from handlers.commands import Asked, run
from handlers.work import AfterAck
from storage.models import utcnow

logger = logging.getLogger(__name__)

SLASH_WORD = re.compile(r"^\s*/tonomo\b", re.IGNORECASE)


def command_text(text: str, bot_user_id: str | None) -> str:
    """What follows the bot's mention: `<@U0BOT> book …` → `book …`. A `/tonomo` typed after
    the mention, out of habit, is dropped; text before the mention is ignored."""
    mentioned = re.search(rf"<@{re.escape(bot_user_id or '')}(?:\|[^>]*)?>", text or "")
    after = (text or "")[mentioned.end() :] if mentioned else (text or "")
    return SLASH_WORD.sub("", after, count=1)


def register(app: AsyncApp, services: Services, after_ack: AfterAck) -> None:
    @app.event("app_mention")
    async def handle_app_mention(
        ack: AsyncAck,
        body: dict[str, Any],
        event: dict[str, Any],
        context: AsyncBoltContext,
        client: AsyncWebClient,
    ) -> None:
        await ack()  # first: an event is answered 200 whatever; what follows only reads it
        channel_id, user_id = str(event.get("channel", "")), str(event.get("user", ""))
        event_id = str(body.get("event_id", ""))
        if channel_id and user_id and event_id:
            reply = ephemeral_in(client, channel_id, user_id, thread_ts=event.get("thread_ts"))
            text = command_text(str(event.get("text", "")), context.bot_user_id)
            parsed = commands.parse(text, around=utcnow().date())
            # A mistake (or help) is answered at once: it waits behind no one's work.
            after_ack.start(
                channel_id,
                lambda: answer(body, event, context, client, reply, parsed),
                apologize=reply,
                queue=not isinstance(parsed, commands.Invalid | commands.Help),
            )

    async def answer(
        body: dict[str, Any],
        event: dict[str, Any],
        context: AsyncBoltContext,
        client: AsyncWebClient,
        reply: Reply,
        parsed: commands.Command,
    ) -> None:
        channel_id, user_id = str(event["channel"]), str(event["user"])
        event_id = str(body["event_id"])
        if not await services.store.first_delivery(f"event:{event_id}"):
            logger.info("app_mention %s was redelivered: answered already", event_id)
            return
        if channel_id.startswith("D"):
            await reply(build_not_in_channel(MENTION))
            return
        asked = Asked(
            team_id=context.team_id or str(body.get("team_id", "")),
            channel_id=channel_id,
            user_id=user_id,
            user_name=await services.directory.name_of(user_id),
            request_key=f"event:{event_id}",
            reply=reply,
            door=MENTION,
        )
        await run(services, parsed, asked, client)
