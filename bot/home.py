"""The App Home tab: each person's own calendar connections across customers, published.

What is a person's (`Store.places_of`): their staff calendar in each channel, the primary
calendars they connected, and the channels they are a member of with no calendar of their
own yet, where they are offered to connect one. The tab shows what the last health check
found (opening it costs no call to Google).

A click in a Home tab comes with no `response_url` (Slack sends one only for clicks in
messages: https://api.slack.com/reference/interaction-payloads/block-actions), so the
answer to one is the tab itself, published again with a fresh sign-in link right where the
person clicked.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime, timedelta

import aiohttp
from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

from bot.connections import Connections, Reconnect
from bot.messages.connect import build_reconnect_refusal
from bot.messages.home import (
    GONE_CHANNEL,
    HomeView,
    Place,
    SignInLink,
    build_already_connected,
    build_home,
)
from storage.models import ConnectionKind, Customer, utcnow
from storage.repositories import Store

logger = logging.getLogger(__name__)


class Home:
    """Builds and publishes people's Home tabs."""

    def __init__(
        self,
        *,
        store: Store,
        connections: Connections,
        slack: AsyncWebClient,
        check_interval: timedelta,
        clock: Callable[[], datetime] = utcnow,
    ) -> None:
        self._store = store
        self._connections = connections
        self._slack = slack
        self._check_interval = check_interval
        self._clock = clock

    async def places(self, team_id: str, slack_user_id: str) -> list[Place]:
        """The person's places in the workspace, oldest customer first."""
        return [
            Place(
                customer=found.customer,
                connections=found.connections,
                can_connect=found.is_member
                and not any(c.kind is ConnectionKind.STAFF for c in found.connections),
            )
            for found in await self._store.places_of(team_id, slack_user_id)
        ]

    async def show(self, team_id: str, slack_user_id: str) -> None:
        """Publish the person's Home tab as things stand."""
        await self._publish(slack_user_id, await self.places(team_id, slack_user_id))

    async def refresh(self, team_id: str, slack_user_id: str) -> None:
        """Publish it again after something changed (a connection completed), so a tab left
        open shows it; a failure is logged, never passed on to what changed it."""
        try:
            await self.show(team_id, slack_user_id)
        except SlackApiError as err:
            logger.warning(
                "views.publish for %s failed: %s", slack_user_id, err.response.get("error")
            )
        except (aiohttp.ClientError, TimeoutError) as err:
            logger.warning("views.publish for %s failed: %s", slack_user_id, type(err).__name__)

    async def customer_with(
        self, team_id: str, slack_user_id: str, connection_id: int
    ) -> Customer | None:
        """The customer whose connection a Reconnect in this person's tab names, when the tab
        shows it (one of their own); None otherwise."""
        for place in await self.places(team_id, slack_user_id):
            if any(c.id == connection_id for c in place.connections):
                return place.customer
        return None

    async def show_notice(self, team_id: str, slack_user_id: str, notice: str) -> None:
        """The tab again, with a line for the person at its top (a refusal, say)."""
        await self._publish(slack_user_id, await self.places(team_id, slack_user_id), notice=notice)

    async def show_reconnect(
        self, team_id: str, slack_user_id: str, connection_id: int, answer: Reconnect
    ) -> None:
        """The answer to a Reconnect click in the tab (decided by `Connections.reconnect_link`):
        the link beside that connection, or why there is none."""
        places = await self.places(team_id, slack_user_id)
        if answer.kind is None or answer.url is None:
            notice = build_reconnect_refusal(answer.owner).text
            await self._publish(slack_user_id, places, notice=notice)
            return
        found = next(((p, c) for p in places for c in p.connections if c.id == connection_id), None)
        link = SignInLink(
            customer_id=found[0].customer.id if found else None,
            kind=answer.kind,
            url=answer.url,
            account_email=found[1].account_email if found else "",
        )
        await self._publish(slack_user_id, places, link=link)

    async def show_connect_link(self, team_id: str, slack_user_id: str, customer_id: int) -> None:
        """The answer to "Connect my calendar" in the tab: a link for their own calendar in
        that channel, if they are a member there without one."""
        places = await self.places(team_id, slack_user_id)
        place = next((p for p in places if p.customer.id == customer_id), None)
        if place is not None and any(c.kind is ConnectionKind.STAFF for c in place.connections):
            notice = build_already_connected(place.customer.channel_id)
            await self._publish(slack_user_id, places, notice=notice)
        elif place is None or not place.can_connect:
            await self._publish(slack_user_id, places, notice=GONE_CHANNEL)
        else:
            url = await self._connections.consent_link(
                place.customer, slack_user_id, ConnectionKind.STAFF
            )
            link = SignInLink(customer_id=customer_id, kind=ConnectionKind.STAFF, url=url)
            await self._publish(slack_user_id, places, link=link)

    async def _publish(
        self,
        slack_user_id: str,
        places: list[Place],
        *,
        link: SignInLink | None = None,
        notice: str = "",
    ) -> None:
        view = HomeView(
            places=places,
            now=self._clock(),
            check_interval=self._check_interval,
            link=link,
            notice=notice,
        )
        await self._slack.views_publish(user_id=slack_user_id, view=build_home(view))
