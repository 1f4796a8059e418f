"""The bot's services, built once from `Settings` and shared by every handler."""

from __future__ import annotations

import gc
from dataclasses import dataclass
from datetime import timedelta

import aiohttp
from slack_sdk.web.async_client import AsyncWebClient
from sqlalchemy.ext.asyncio import AsyncEngine

from bot.booking import Bookings
from bot.calendar.google import GoogleCalendar
from bot.config import ConfigError, Settings
from bot.connections import Connections
from bot.customers import Customers
from bot.digest import Digests
from bot.health import Health
from bot.home import Home
from bot.onboarding import Onboarding
from bot.people import People
from bot.slack import BotIdentity, Directory, InvalidToken, Poster, web_client
from bot.staff import Staff
from bot.timeoff import TimeOffs
from bot.tokens import TokenCipher
from storage.db import create_engine, migrate, session_factory
from storage.repositories import DigestStore, Store

HEALTH_CONCURRENCY = 32
"""Connections a periodic round leases at a time and checks at once (its workers). The
Google calls they make are bounded by the calendar adapter's own limits (per account and
per instance), which by default leave room for a round beside a 500-person answer."""


@dataclass(frozen=True, kw_only=True)
class Services:
    settings: Settings
    engine: AsyncEngine
    store: Store
    slack: AsyncWebClient
    identity: BotIdentity
    calendar: GoogleCalendar
    customers: Customers
    connections: Connections
    poster: Poster
    directory: Directory
    people: People
    health: Health
    staff: Staff
    bookings: Bookings
    time_off: TimeOffs
    digest_store: DigestStore
    digests: Digests
    onboarding: Onboarding
    home: Home

    async def close(self) -> None:
        await self.digests.drain()  # `digest now` may have left its record of being sent
        await self.calendar.close()
        if self.slack.session is not None:  # the one `web_client` was given
            await self.slack.session.close()
        await self.engine.dispose()


GC_YOUNG_THRESHOLD = 10_000
"""Objects made (net of those freed) between the garbage collector's young collections;
Python's default is 700. Nearly everything a command or a digest makes is freed by
reference counting, so at 700 the collector ran some 1,450 times in a 1,000-digest run and
walked the survivors into the older generations, whose collections took most of its
0.78–1.0 s there (15 % of the run's CPU). At 10,000: about 30 collections and 0.16–0.30 s
(bench/README.md, `digest_run`)."""


def freeze_start_up() -> None:
    """Once the services are built: what start-up made lives as long as the process, so
    the garbage collector is told to stop rescanning it in every full collection (shorter
    pauses for acks, less CPU in a busy run: bench/README.md), and to collect the young
    less often (`GC_YOUNG_THRESHOLD`)."""
    gc.collect()
    gc.freeze()
    _, older, oldest = gc.get_threshold()
    gc.set_threshold(GC_YOUNG_THRESHOLD, older, oldest)


def google_calendar(settings: Settings) -> GoogleCalendar:
    """The Google adapter as configured: its endpoints, OAuth client and limits."""
    return GoogleCalendar(
        client_id=settings.google_client_id,
        client_secret=settings.google_client_secret,
        auth_uri=settings.google_auth_uri,
        token_uri=settings.google_token_uri,
        revoke_uri=settings.google_revoke_uri,
        api_url=settings.google_api_url,
        redirect_uri=settings.oauth_redirect_uri,
        calls_per_account=settings.google_calls_per_account,
        calls_at_once=settings.google_calls_at_once,
        allow_plain_http=settings.google_uses_plain_http,
    )


async def build_services(settings: Settings) -> Services:
    """Connect to the database (migrating it) and wire the services together."""
    engine = create_engine(settings.database_url)
    await migrate(engine)
    store = Store(session_factory(engine))
    calendar = google_calendar(settings)
    cipher = TokenCipher(settings.token_encryption_key)
    slack = web_client(
        token=settings.slack_bot_token,
        base_url=settings.slack_api_url,
        session=aiohttp.ClientSession(),
    )
    identity = BotIdentity(slack)
    try:
        await identity.learn()
    except InvalidToken as err:
        if slack.session is not None:
            await slack.session.close()
        await engine.dispose()
        raise ConfigError(
            f"SLACK_BOT_TOKEN: Slack refuses this token ({err}); expected the app's Bot User "
            "OAuth Token (xoxb-…) from its OAuth & Permissions page"
        ) from err
    poster = Poster(client=slack, store=store)
    staff = Staff(store=store, calendar=calendar, cipher=cipher)
    directory = Directory(slack)
    people = People(store=store, directory=directory)
    connections = Connections(store=store, calendar=calendar, cipher=cipher)
    digest_store = DigestStore(session_factory(engine))
    return Services(
        settings=settings,
        engine=engine,
        store=store,
        slack=slack,
        identity=identity,
        calendar=calendar,
        customers=Customers(store=store),
        connections=connections,
        poster=poster,
        directory=directory,
        people=people,
        health=Health(
            store=store,
            calendar=calendar,
            cipher=cipher,
            poster=poster,
            concurrency=HEALTH_CONCURRENCY,
            lease=timedelta(seconds=settings.health_lease_seconds),
        ),
        staff=staff,
        bookings=Bookings(store=store, calendar=calendar, cipher=cipher, staff=staff),
        time_off=TimeOffs(store=store),
        digest_store=digest_store,
        digests=Digests(
            digests=digest_store,
            staff=staff,
            poster=poster,
            people=people,
        ),
        onboarding=Onboarding(store=store, poster=poster, people=people),
        home=Home(
            store=store,
            directory=directory,
            people=people,
            connections=connections,
            slack=slack,
            check_interval=timedelta(minutes=settings.health_check_minutes),
        ),
    )
