"""Customers: a Slack channel is one customer, registered by the first command in it, or
when the bot is added to it (or someone joins it) before any command.

Its timezone starts as the Slack timezone of the person who registered it (the one who
added the bot: `users.info` → `user.tz`), and is UTC when Slack gives none the bot can use.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from bot.when import CLOCKS, Clock, default_clock
from storage.models import Customer
from storage.repositories import Arrival, Store

logger = logging.getLogger(__name__)

FALLBACK_TIMEZONE = "UTC"

TimezoneLookup = Callable[[str], Awaitable[str | None]]
"""The Slack timezone of a user id, or None."""


def valid_timezone(name: str | None) -> str | None:
    """`name` when it is an IANA zone zoneinfo knows, else None."""
    if not name:
        return None
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        return None
    return name


def clock_of(customer: Customer) -> Clock:
    """How every message to `customer` writes times: theirs if they chose one, else the
    convention of their timezone's country."""
    chosen = customer.clock
    for clock in CLOCKS:
        if chosen == clock:
            return clock
    return default_clock(customer.timezone)


class Customers:
    def __init__(self, *, store: Store) -> None:
        self._store = store
        self._registering: dict[tuple[str, str], asyncio.Lock] = {}

    async def arrive(
        self,
        *,
        team_id: str,
        channel_id: str,
        slack_user_id: str,
        display_name: str,
        lookup_timezone: TimezoneLookup,
    ) -> Arrival:
        """A person's request in the channel (`Store.arrive`, one transaction), registering
        the channel's customer on its first command."""
        arrival = await self._store.arrive(team_id, channel_id, slack_user_id, display_name)
        while arrival is None:
            await self._register(team_id, channel_id, slack_user_id, lookup_timezone)
            arrival = await self._store.arrive(team_id, channel_id, slack_user_id, display_name)
        return arrival

    async def find_or_register(
        self,
        *,
        team_id: str,
        channel_id: str,
        registered_by: str,
        lookup_timezone: TimezoneLookup,
    ) -> Customer:
        """The channel's customer, registering it when the bot is added to the channel (or
        someone joins it) before any command there; the timezone is `registered_by`'s."""
        customer = await self._store.find_customer(team_id, channel_id)
        if customer is None:
            customer = await self._register(team_id, channel_id, registered_by, lookup_timezone)
        return customer

    async def _register(
        self, team_id: str, channel_id: str, slack_user_id: str, lookup_timezone: TimezoneLookup
    ) -> Customer:
        # A burst of first commands in a new channel asks Slack for a timezone once (per
        # instance); across instances the database's unique constraint keeps one customer.
        key = (team_id, channel_id)
        async with self._registering.setdefault(key, asyncio.Lock()):
            customer = await self._store.find_customer(team_id, channel_id)
            if customer is None:
                timezone = valid_timezone(await lookup_timezone(slack_user_id)) or FALLBACK_TIMEZONE
                customer = await self._store.add_customer(
                    team_id=team_id,
                    channel_id=channel_id,
                    timezone=timezone,
                    registered_by=slack_user_id,
                )
                logger.info("registered channel %s (team %s) in %s", channel_id, team_id, timezone)
        self._registering.pop(key, None)
        return customer
