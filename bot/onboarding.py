"""Onboarding: the checklist in the channel, kept up to date; the welcome; the reminder.

The checklist is posted when the bot is added to a channel and on `/tonomo onboard` (each
time a new message, which becomes the one kept up to date: its ts is stored on the
customer). Whatever changes a fact behind it calls `refresh`, which rebuilds it from the
facts as they are now (`bot.checklist`) and edits that message in place (`chat.update`):
a connection completed or removed, the first availability question, the digest turned on
or off, someone joining or leaving the channel.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

from bot.checklist import Progress, Reminded, progress_of, standing_of
from bot.connections import owner_key
from bot.customers import clock_of
from bot.messages.onboarding import build_checklist, build_reminder, build_welcome
from bot.people import People
from bot.slack import Poster
from bot.together import together
from storage.models import ConnectionKind, Customer, utcnow
from storage.repositories import Store

logger = logging.getLogger(__name__)

ADDED_AGAIN_WITHIN = timedelta(minutes=10)
"""The bot "added" again this soon after a checklist was posted (Slack redelivering the
event, https://api.slack.com/apis/connections/events-api#retries) updates that checklist
instead of posting another."""
REMIND_AGAIN_AFTER = timedelta(minutes=1)
"""A second click on Remind staff sooner than this (a double click) posts nothing more."""


def posted_at(ts: str | None) -> datetime | None:
    """When a Slack message was posted: its ts is seconds since the epoch."""
    try:
        return datetime.fromtimestamp(float(ts), UTC) if ts else None
    except (ValueError, OverflowError):
        return None


class Onboarding:
    def __init__(
        self,
        *,
        store: Store,
        poster: Poster,
        people: People,
        clock: Callable[[], datetime] = utcnow,
    ) -> None:
        self._store = store
        self._poster = poster
        self._people = people
        self._clock = clock
        self._reminded_at: dict[int, datetime] = {}

    async def progress(self, customer: Customer) -> Progress:
        """How far the channel has come, from the stored facts and who of the customer's
        people is in it now (onboarders aren't on the checklist)."""
        connections, people = await together(
            self._store.list_connections(customer.id),
            self._people.staff_in(customer),
        )
        return progress_of(customer, connections, people)

    async def post(self, customer: Customer) -> str | None:
        """Post a new checklist and keep it up to date from now on; its ts, or None."""
        ts = await self._poster.post(
            customer, build_checklist(await self.progress(customer), clock=clock_of(customer))
        )
        if ts is not None:
            await self._store.set_checklist_ts(customer.id, ts)
        return ts

    async def refresh(self, customer: Customer) -> bool:
        """Rebuild the channel's checklist from the facts now and edit it in place.

        Call it after changing anything the checklist shows. Nothing happens (False) when
        the channel has no checklist, or Slack refused the edit.
        """
        current = await self._store.get_customer(customer.id)
        if current is None or current.checklist_ts is None:
            return False
        message = build_checklist(await self.progress(current), clock=clock_of(current))
        return await self._poster.update(current, current.checklist_ts, message)

    async def bot_added(self, customer: Customer) -> None:
        """The bot joined the channel: the checklist, unless one was posted moments ago."""
        current = await self._store.get_customer(customer.id) or customer
        last = posted_at(current.checklist_ts)
        if last is not None and self._clock() - last < ADDED_AGAIN_WITHIN:
            await self.refresh(current)
        else:
            await self.post(current)

    async def availability_asked(self, customer: Customer) -> None:
        """Someone asked for availability: the first time ticks step 3."""
        if await self._store.mark_availability_asked(customer.id, self._clock()):
            await self.refresh(customer)

    async def welcome(self, customer: Customer, user_id: str) -> bool:
        """A person joined the channel: a welcome only they see (with their connect button),
        and the checklist lists them. False when the welcome could not be posted."""
        connection = await self._store.find_connection(
            customer.id, owner_key(ConnectionKind.STAFF, user_id)
        )
        message = build_welcome(
            user_id, standing_of(connection), connection.account_email if connection else None
        )
        welcomed = await self._poster.post_ephemeral(customer, user_id, message)
        await self.refresh(customer)
        return welcomed

    async def remind(self, customer: Customer, by: str) -> tuple[Reminded, int]:
        """Post one reminder naming the channel's people with no calendar connected, asked
        by `by`; what came of it and how many were named. Nobody is asked by themselves:
        `by` is named only when nobody else is waiting (and then not asked by anyone)."""
        progress = await self.progress(customer)
        if not progress.everyone_known:
            return Reminded.MEMBERS_UNKNOWN, 0
        waiting = [u for u in progress.not_connected if u != by] or progress.not_connected
        if not waiting:
            return Reminded.NO_ONE_WAITING, 0
        # Checked and set with no await between: a double click reaching this instance
        # posts once. (Clicks that reach two instances could each post one.)
        now = self._clock()
        last = self._reminded_at.get(customer.id)
        if last is not None and now - last < REMIND_AGAIN_AFTER:
            return Reminded.JUST_DONE, 0
        self._reminded_at[customer.id] = now
        if await self._poster.post(customer, build_reminder(waiting, by)) is None:
            self._reminded_at.pop(customer.id, None)
            return Reminded.NOT_POSTED, 0
        logger.info("reminded %d people in %s", len(waiting), customer.channel_id)
        return Reminded.POSTED, len(waiting)
