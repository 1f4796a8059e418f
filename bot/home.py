"""The App Home tab: an onboarder's desk, and each person's own calendar connections across
customers, published.

What is a person's (`Store.places_of`): their staff calendar in each channel, the primary
calendars they connected, and the channels they are a member of with no calendar of their
own yet, where they are offered to connect one. The tab shows what the last health check
found (opening it costs no call to Google).

The desk: of the customers the person is a member of (`Store.desk_of`), the channels where
they are the onboarder (`bot.people`'s decision, from Slack's facts), each with its
checklist's progress, what is broken and since when, and its digest. Only members of the
installing workspace have a Home tab, and only they can be onboarders. Each channel's
members and sharing are those kept on its customer's row (`People.facts`), read from Slack
(a few channels at a time) only where nothing is kept; people are asked about once (the
`Directory` keeps them). It decides the person's role and counts the customer's people
from them, as `People.role_of` and `People.staff_in` would.
In a desk channel the person is not offered to connect a calendar of their own:
onboarders are never counted as staff.

A click in a Home tab comes with no `response_url` (Slack sends one only for clicks in
messages: https://api.slack.com/reference/interaction-payloads/block-actions), so the
answer to one is the tab itself, published again with a fresh sign-in link right where the
person clicked.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta

import aiohttp
from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

from bot.checklist import Reminded, progress_of
from bot.connections import Connections, Reconnect
from bot.messages.connect import build_reconnect_refusal
from bot.messages.home import (
    GONE_CHANNEL,
    NOT_YOUR_DESK,
    BrokenConnection,
    DeskRow,
    HomeView,
    Place,
    SignInLink,
    build_already_connected,
    build_desk_remind_notice,
    build_home,
)
from bot.people import People, Role, channel_is_mixed, channel_of
from bot.slack import Directory, slack_error
from bot.together import together
from storage.models import ConnectionKind, Customer, utcnow
from storage.repositories import Store
from storage.repositories.desk import DeskFacts

logger = logging.getLogger(__name__)

CHANNELS_READ_AT_ONCE = 8
"""Channels whose people the desk reads from Slack at once."""

Reminder = Callable[[Customer], Awaitable[tuple[Reminded, int]]]
"""Posts the friendly reminder in a customer's channel (`Onboarding.remind`, with its `by`)."""


class Home:
    """Builds and publishes people's Home tabs."""

    def __init__(
        self,
        *,
        store: Store,
        connections: Connections,
        slack: AsyncWebClient,
        check_interval: timedelta,
        directory: Directory,
        people: People,
        clock: Callable[[], datetime] = utcnow,
    ) -> None:
        self._store = store
        self._people = people
        self._connections = connections
        self._slack = slack
        self._check_interval = check_interval
        self._directory = directory
        self._clock = clock
        self._reads = asyncio.Semaphore(CHANNELS_READ_AT_ONCE)

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

    async def desk(self, team_id: str, slack_user_id: str) -> list[DeskRow]:
        """The channels where the person is the onboarder, oldest customer first."""
        facts = await self._store.desk_of(team_id, slack_user_id)
        rows = await together(*(self._desk_row(f, slack_user_id) for f in facts))
        return [row for row in rows if row is not None]

    async def _desk_row(self, facts: DeskFacts, slack_user_id: str) -> DeskRow | None:
        """The customer's row, when the person is its onboarder; else None."""
        customer = facts.customer
        async with self._reads:
            found = await self._people.facts(customer)
            people = None if found is None else await self._directory.people_among(found.members)
            users = await together(*(self._directory.user(p) for p in people or ()))
        if people is None:
            # Slack won't list the channel: what was last decided for them stands.
            theirs = next((m for m in facts.members if m.slack_user_id == slack_user_id), None)
            if theirs is None or theirs.role != Role.ONBOARDER:
                return None
            staff = None
        else:
            if slack_user_id not in people:
                return None  # no longer in the channel
            mixed = channel_is_mixed(
                ext_shared=bool(found and found.ext_shared),
                people=[u for u in users if u is not None],
                install_team=customer.team_id,
            )
            channel = channel_of(customer, facts.members, mixed=mixed)
            roles = {p: channel.role(p, u)[0] for p, u in zip(people, users, strict=True)}
            if roles[slack_user_id] is not Role.ONBOARDER:
                return None
            staff = [p for p in people if roles[p] is not Role.ONBOARDER]
        return DeskRow(
            customer=customer,
            progress=progress_of(customer, facts.connections, staff),
            primary=next((c for c in facts.connections if c.kind is ConnectionKind.PRIMARY), None),
            broken=[
                BrokenConnection(connection=c, since=facts.broken_since.get(c.id, c.connected_at))
                for c in facts.connections
                if c.state.is_broken
            ],
            digest_sent_at=facts.digest_sent_at,
        )

    async def show(self, team_id: str, slack_user_id: str) -> None:
        """Publish the person's Home tab as things stand."""
        await self._publish(team_id, slack_user_id, await self.places(team_id, slack_user_id))

    async def remind(
        self, team_id: str, slack_user_id: str, customer_id: int, reminder: Reminder
    ) -> None:
        """A Remind click in the desk: the reminder posted in that channel, if it is one of
        the person's own desk (a value naming any other customer is refused), and the tab
        again saying what came of it."""
        places, desk = await together(
            self.places(team_id, slack_user_id), self.desk(team_id, slack_user_id)
        )
        row = next((r for r in desk if r.customer.id == customer_id), None)
        if row is None:
            notice = NOT_YOUR_DESK
        else:
            outcome, count = await reminder(row.customer)
            notice = build_desk_remind_notice(row.customer.channel_id, outcome, count)
        await self._publish(team_id, slack_user_id, places, desk=desk, notice=notice)

    async def refresh(self, team_id: str, slack_user_id: str) -> None:
        """Publish it again after something changed (a connection completed), so a tab left
        open shows it; a failure is logged, never passed on to what changed it."""
        try:
            await self.show(team_id, slack_user_id)
        except SlackApiError as err:
            logger.warning("views.publish for %s failed: %s", slack_user_id, slack_error(err))
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
        places = await self.places(team_id, slack_user_id)
        await self._publish(team_id, slack_user_id, places, notice=notice)

    async def show_reconnect(
        self, team_id: str, slack_user_id: str, connection_id: int, answer: Reconnect
    ) -> None:
        """The answer to a Reconnect click in the tab (decided by `Connections.reconnect_link`):
        the link beside that connection, or why there is none."""
        places = await self.places(team_id, slack_user_id)
        if answer.kind is None or answer.url is None:
            notice = build_reconnect_refusal(answer.owner).text
            await self._publish(team_id, slack_user_id, places, notice=notice)
            return
        found = next(((p, c) for p in places for c in p.connections if c.id == connection_id), None)
        link = SignInLink(
            customer_id=found[0].customer.id if found else None,
            kind=answer.kind,
            url=answer.url,
            account_email=found[1].account_email if found else "",
        )
        await self._publish(team_id, slack_user_id, places, link=link)

    async def show_connect_link(self, team_id: str, slack_user_id: str, customer_id: int) -> None:
        """The answer to "Connect my calendar" in the tab: a link for their own calendar in
        that channel, if they are a member there without one."""
        places = await self.places(team_id, slack_user_id)
        place = next((p for p in places if p.customer.id == customer_id), None)
        if place is not None and any(c.kind is ConnectionKind.STAFF for c in place.connections):
            notice = build_already_connected(place.customer.channel_id)
            await self._publish(team_id, slack_user_id, places, notice=notice)
        elif place is None or not place.can_connect:
            await self._publish(team_id, slack_user_id, places, notice=GONE_CHANNEL)
        else:
            url = await self._connections.consent_link(
                place.customer, slack_user_id, ConnectionKind.STAFF
            )
            link = SignInLink(customer_id=customer_id, kind=ConnectionKind.STAFF, url=url)
            await self._publish(team_id, slack_user_id, places, link=link)

    async def _publish(
        self,
        team_id: str,
        slack_user_id: str,
        places: list[Place],
        *,
        desk: list[DeskRow] | None = None,
        link: SignInLink | None = None,
        notice: str = "",
    ) -> None:
        if desk is None:
            desk = await self.desk(team_id, slack_user_id)
        view = HomeView(
            places=_without_offers_in(places, {row.customer.id for row in desk}),
            now=self._clock(),
            check_interval=self._check_interval,
            link=link,
            notice=notice,
            desk=desk,
        )
        await self._slack.views_publish(user_id=slack_user_id, view=build_home(view))


def _without_offers_in(places: list[Place], desk: set[int]) -> list[Place]:
    """The places, with no offer to connect their own calendar in the channels where they
    are the onboarder (never staff there); a place left with nothing to show is left out."""
    kept = []
    for place in places:
        if place.customer.id in desk and place.can_connect:
            place = Place(customer=place.customer, connections=place.connections)
        if place.connections or place.can_connect:
            kept.append(place)
    return kept
