"""Work after the ack: its own task, fair between channels, never in Bolt's way.

A listener acknowledges first, then hands the rest to `AfterAck.start` and returns: nothing
after its ack awaits anything, touches the network or the database, or can raise. Bolt
answers with the ack as soon as the listener returns (`process_before_response`, in
`bot.server`), whatever the work then meets (a database that is down, a Google or Slack
that hangs): an exception in the work can't drop the ack or turn it into a 500, because it
is not raised in the listener (https://api.slack.com/interactivity/handling#acknowledgment_response:
Slack waits 3 seconds).

Fairness: each channel may have `PER_CHANNEL` pieces of work running, and the instance
`TOTAL` (figures in bench/README.md, `bench.faults`); the rest wait their turn holding nothing but a small closure. A channel whose
work waits out Slack's Retry-After holds at most its own share, so another channel's
`status` still runs at once. Anything unexpected is logged with its traceback and the
person gets a short apology, as Bolt's error handler would have done.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import Any

from slack_bolt.async_app import AsyncAck, AsyncBoltContext
from slack_bolt.context.respond.async_respond import AsyncRespond
from slack_sdk.web.async_client import AsyncWebClient
from sqlalchemy.exc import SQLAlchemyError

from bot.messages import Message
from handlers.clicks import ephemeral

logger = logging.getLogger(__name__)

PER_CHANNEL = 6
"""Pieces of work one channel may have running at once: a burst of a few commands in one
channel runs side by side, and a channel stuck waiting (on Slack's Retry-After, on a
hanging Google account) holds at most this many of the instance's."""
TOTAL = 24
"""Pieces of work the instance runs at once. Under a burst this keeps the heap small, so
garbage collection never pauses the acks of the requests still arriving for long."""

RESTART_NOTICE_WITHIN = 2.0
"""Seconds shutting down waits for Slack to take a cancelled piece of work's apology."""

APOLOGY = "Sorry, something went wrong on my side and I couldn't finish that. Please try again in a minute."

RESTARTING = "Sorry, I'm restarting and couldn't finish that. Please ask again in a minute."

NO_RECORDS = (
    "I can't reach my records right now, so I couldn't finish that. Please try again in a minute."
)

Apologize = Callable[[Message], Awaitable[None]]


class AfterAck:
    def __init__(self, *, per_channel: int = PER_CHANNEL, total: int = TOTAL) -> None:
        self._per_channel = per_channel
        self._total = asyncio.Semaphore(total)
        self._channels: dict[str, tuple[asyncio.Semaphore, int]] = {}
        """Each channel's limit and how many pieces of work it has started or queued."""
        self._tasks: set[asyncio.Task[None]] = set()
        self._closing = False

    def start(
        self,
        channel_id: str,
        work: Callable[[], Awaitable[None]],
        *,
        apologize: Apologize | None = None,
        queue: bool = True,
    ) -> asyncio.Task[None]:
        """Run `work` in its own task, after the channel's and the instance's earlier work
        (`queue=False`: at once, for what must beat a deadline, like opening a modal before
        its trigger expires)."""
        task = asyncio.create_task(self._run(channel_id, work, apologize, queue))
        self._tasks.add(task)  # a strong reference until it is done
        task.add_done_callback(self._tasks.discard)
        return task

    async def _run(
        self,
        channel_id: str,
        work: Callable[[], Awaitable[None]],
        apologize: Apologize | None,
        queue: bool,
    ) -> None:
        try:
            if not queue:
                await work()
                return
            limit = self._enter(channel_id)
            try:
                async with limit, self._total:
                    await work()
            finally:
                self._leave(channel_id)
        except asyncio.CancelledError:
            if self._closing and apologize is not None:
                await self._tell_restarting(apologize)
            raise
        except Exception as err:
            logger.exception("unhandled error in work after an ack (channel %s)", channel_id)
            if apologize is not None:
                records_down = isinstance(err, SQLAlchemyError | OSError)
                try:
                    await apologize(Message.text_only(NO_RECORDS if records_down else APOLOGY))
                except Exception:
                    logger.warning("could not send the apology", exc_info=True)

    async def close(self, grace: float) -> None:
        """Let the work running or queued finish for up to `grace` seconds, then cancel the
        rest and wait for it to unwind: a transaction it had open is rolled back and its
        database connection given back before the engine is disposed, never left open on
        the server holding its locks."""
        self._closing = True
        if self._tasks and grace > 0:
            await asyncio.wait(set(self._tasks), timeout=grace)
        unfinished = set(self._tasks)
        if unfinished:
            logger.warning("shutting down: %d pieces of work cancelled", len(unfinished))
        for task in unfinished:
            task.cancel()
        await asyncio.gather(*unfinished, return_exceptions=True)

    @staticmethod
    async def _tell_restarting(apologize: Apologize) -> None:
        """The person whose work shutting down cancelled hears so, if Slack answers at once."""
        try:
            async with asyncio.timeout(RESTART_NOTICE_WITHIN):
                await apologize(Message.text_only(RESTARTING))
        except Exception:
            logger.warning("could not say the work was cancelled by a restart", exc_info=True)

    def _enter(self, channel_id: str) -> asyncio.Semaphore:
        limit, users = self._channels.get(channel_id, (asyncio.Semaphore(self._per_channel), 0))
        self._channels[channel_id] = (limit, users + 1)
        return limit

    def _leave(self, channel_id: str) -> None:
        limit, users = self._channels[channel_id]
        if users <= 1:
            del self._channels[channel_id]  # nothing of that channel left: forget it
        else:
            self._channels[channel_id] = (limit, users - 1)

    def listener(self, work: Work, *, queue: bool = True) -> Callable[..., Awaitable[None]]:
        """A Bolt listener that acknowledges at once, then runs `work` in its own task,
        queued behind the channel's earlier work (`queue=False`: at once, as `start` says);
        a person who can be answered (a click's `response_url`) gets the apology if it
        fails."""

        async def acknowledge_then_work(
            ack: AsyncAck,
            body: dict[str, Any],
            respond: AsyncRespond | None,
            client: AsyncWebClient,
            context: AsyncBoltContext,
        ) -> None:
            await ack()
            apologize = None
            if respond is not None and respond.response_url is not None:
                apologize = ephemeral(respond)  # (Bolt gives events a `respond` with no URL)
            self.start(
                channel_of(body),
                lambda: work(body, respond, client, context),
                apologize=apologize,
                queue=queue,
            )

        return acknowledge_then_work


Work = Callable[
    [dict[str, Any], "AsyncRespond | None", AsyncWebClient, AsyncBoltContext], Awaitable[None]
]
"""What a listener does after its ack, with what Bolt gave it."""


def channel_of(body: dict[str, Any]) -> str:
    """The channel a request came from (a click's, an event's), or "" (a Home tab, or
    anything else): it never raises, as it runs after the ack."""
    event = body.get("event")
    channel = body.get("channel") or (event.get("channel") if isinstance(event, dict) else None)
    if isinstance(channel, dict):
        channel = channel.get("id")
    return channel if isinstance(channel, str) else ""
