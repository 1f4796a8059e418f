"""Slack listeners. `register(app, services)` is the one place every listener is wired.

Handlers translate: a Slack payload becomes a call on `bot/`, and what comes back
becomes a message built by `bot/messages/`. They decide nothing themselves. A slash
command, a mention, a panel button and a modal are doors into the same command objects
(`handlers.commands.run`); who may do what is `bot.people`'s to say, asked by every door.
"""

from __future__ import annotations

import logging

from slack_bolt.async_app import AsyncApp
from slack_bolt.context.respond.async_respond import AsyncRespond
from slack_bolt.request.async_request import AsyncBoltRequest
from slack_bolt.response import BoltResponse

from bot.services import Services
from handlers import actions, booking, commands, events, home, mentions, moving, onboarding, panel
from handlers.work import APOLOGY, AfterAck

logger = logging.getLogger(__name__)


def register(app: AsyncApp, services: Services) -> AfterAck:
    """Every listener acknowledges, then leaves its work to one fair queue (handlers.work),
    returned so that shutting down can wait for it."""
    after_ack = AfterAck()
    commands.register(app, services, after_ack)
    mentions.register(app, services, after_ack)
    panel.register(app, services, after_ack)
    actions.register(app, services, after_ack)
    booking.register(app, services, after_ack)
    moving.register(app, services, after_ack)
    onboarding.register(app, services, after_ack)
    home.register(app, services, after_ack)
    events.register(app, services, after_ack)
    events.register_fallback(app)
    app.error(handle_error)
    return after_ack


async def handle_error(
    error: Exception, request: AsyncBoltRequest, respond: AsyncRespond | None
) -> BoltResponse | None:
    """Anything unexpected: logged with its traceback; the person gets a short apology.

    Bolt would answer Slack with a 500; a listener that had acknowledged already keeps its
    ack as the answer (what Slack shows stays what the ack said). One that hadn't gets
    Bolt's 500, as before."""
    logger.error("unhandled error in a listener", exc_info=error)
    if respond is not None:
        try:
            await respond(text=APOLOGY, response_type="ephemeral", replace_original=False)
        except Exception:
            logger.warning("could not send the apology", exc_info=True)
    return request.context.ack.response
