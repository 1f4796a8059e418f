"""`python app.py --sandbox`: the whole bot on this machine, in a browser, with Slack and
Google emulated.

It starts both emulators, a fresh SQLite database and the bot's real server, with its
production code paths (only the URLs differ), then seeds a demo customer: the Slack Connect
channel #acme-photo-onboarding, in the vendor's workspace (Tonomo Onboarding, which
installed the app) with its onboarder, and shared with Acme Photo's own organisation, whose
owner and three photographers join from there. Their Google calendars hold two weeks of
realistic busy time, and recurring events that go on after it. People of another organisation have no slash command, so the primary
calendar (a shared bookings@ account, connected by Olivia, who thereby becomes the owner)
and two of the photographers' are connected as they would do it: a click on the channel
panel's connect button, Google's consent pages, the bot's own callback. The third
photographer is left to connect.

The page that plays Slack (`sandbox/ui.py`, `sandbox/web/`) is served by the same server,
under `/sandbox/`, and `/` leads there: the one URL to open.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
import sys
import tempfile
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any, TypeVar
from zoneinfo import ZoneInfo

from aiohttp import ClientError, ClientSession, web
from cryptography.fernet import Fernet

from bot.config import Settings
from bot.messages.ids import CONNECT_MINE, CONNECT_PRIMARY
from bot.server import create_web_app
from bot.services import build_services
from sandbox.fake_google import ConsentPageError, FakeGoogle, approve_consent
from sandbox.fake_slack import FakeSlack, button_urls
from sandbox.google_recurrence import instance_id
from sandbox.ui import Person, SandboxUI, find_element

CLIENT_ID = "tonomo-sandbox.apps.googleusercontent.com"
CLIENT_SECRET = "tonomo-sandbox-secret"  # noqa: S105 - the emulator's own client
VENDOR_TEAM = "T0TONOMO"
VENDOR = "Tonomo Onboarding"
"""The installing workspace: the vendor's, whose onboarders help each customer."""
VENDOR_DOMAIN = "tonomo-onboarding"
CUSTOMER_TEAM = "T0ACMEPHOTO"
CUSTOMER = "Acme Photo"
"""The customer's own organisation, which the channel is shared with (Slack Connect)."""
CUSTOMER_DOMAIN = "acme-photo"
WORKSPACE = VENDOR
CHANNEL = "C0ACMEPHOTO"
CHANNEL_NAME = "acme-photo-onboarding"
ZONE = "America/New_York"
DOMAIN = "acme-photo.com"
PRIMARY_EMAIL = f"bookings@{DOMAIN}"
"""The primary calendar: a shared account, as the bot advises, not the owner's own."""
OWNER = "U0OLIVIA"
ALICE = "U0ALICE"
BOB = "U0BOB"
CARMEN = "U0CARMEN"
ONBOARDER = "U0SAM"
CUSTOMER_PEOPLE = [
    Person(OWNER, "olivia", "Olivia Owner", "Owner", CUSTOMER),
    Person(ALICE, "alice", "Alice Lens", "Photographer", CUSTOMER),
    Person(BOB, "bob", "Bob Shutter", "Photographer", CUSTOMER),
    Person(CARMEN, "carmen", "Carmen Flash", "Photographer", CUSTOMER),
]
SAM = Person(ONBOARDER, "sam", "Sam Onboarder", "Onboarder", VENDOR)
PEOPLE = [*CUSTOMER_PEOPLE, SAM]
"""Who the page can act as: Acme Photo's people first (Olivia is who the page starts as),
then the vendor's onboarder."""
EMAILS = {person.user_id: f"{person.name}@{DOMAIN}" for person in CUSTOMER_PEOPLE}
ONBOARDER_EMAIL = f"sam@{VENDOR_DOMAIN}.com"
CONNECTED_STAFF = (ALICE, BOB)
"""Connected at start-up; Carmen is not."""
PARTNER = "jordan@harborhomes.com"
"""A realtor outside the business who invites the photographers to things."""

BOT_NAME = "Tonomo"
SEED_TIMEOUT = 10.0
T = TypeVar("T")


def bot_environment(
    *, slack: FakeSlack, google: FakeGoogle, public_url: str, database_url: str
) -> dict[str, str]:
    """The bot's configuration for these emulators, as environment variables (a fresh key)."""
    return {
        "SLACK_BOT_TOKEN": slack.bot_token,
        "SLACK_SIGNING_SECRET": slack.signing_secret,
        "SLACK_API_URL": slack.api_url,
        "GOOGLE_CLIENT_ID": google.client_id or "any-client.apps.googleusercontent.com",
        "GOOGLE_CLIENT_SECRET": google.client_secret or "any-secret",
        "GOOGLE_AUTH_URI": google.auth_uri,
        "GOOGLE_TOKEN_URI": google.token_uri,
        "GOOGLE_REVOKE_URI": google.revoke_uri,
        "GOOGLE_API_URL": google.api_url,
        "PUBLIC_URL": public_url,
        "DATABASE_URL": database_url,
        "TOKEN_ENCRYPTION_KEY": Fernet.generate_key().decode(),
    }


# ---------------------------------------------------------------------------------------------
# The demo customer
# ---------------------------------------------------------------------------------------------


def new_slack() -> FakeSlack:
    """The Slack emulator, its workspace the vendor's: the one that installed the app."""
    return FakeSlack(team_id=VENDOR_TEAM, team_name=VENDOR, team_domain=VENDOR_DOMAIN)


def seed_workspace(slack: FakeSlack) -> None:
    """The onboarder in the vendor's workspace, Acme Photo's people in their own, and the
    channel between them (shared with Acme Photo), the bot already in it."""
    slack.add_team(CUSTOMER_TEAM, name=CUSTOMER, domain=CUSTOMER_DOMAIN)
    slack.add_user(
        ONBOARDER, name=SAM.name, real_name=SAM.real_name, tz=ZONE, email=ONBOARDER_EMAIL
    )
    for person in CUSTOMER_PEOPLE:
        slack.add_user(
            person.user_id,
            name=person.name,
            real_name=person.real_name,
            tz=ZONE,
            email=EMAILS[person.user_id],
            team_id=CUSTOMER_TEAM,
        )
    slack.add_channel(
        CHANNEL,
        name=CHANNEL_NAME,
        members=[p.user_id for p in PEOPLE],
        shared_with=[CUSTOMER_TEAM],
    )


def seed_calendars(google: FakeGoogle, today: date) -> None:
    """Two weeks of busy time from `today` on, in New York: shoots, travel, a day off, an
    all-day expo, time marked available, and an invitation declined; and two recurring
    events that go on after them: the weekly team call (next week's moved to the Tuesday,
    the one after cancelled) and Bob's school run on weekday afternoons."""
    zone = ZoneInfo(ZONE)
    for email in [PRIMARY_EMAIL, *EMAILS.values(), PARTNER]:
        google.add_account(email, time_zone=ZONE)
    days = [today + timedelta(days=n) for n in range(14)]
    workdays = [day for day in days if day.weekday() < 5]

    def at(day: date, hhmm: str) -> datetime:
        hours, minutes = map(int, hhmm.split(":"))
        return datetime(day.year, day.month, day.day, hours, minutes, tzinfo=zone)

    def busy(email: str, day: date, start: str, end: str, summary: str, **extra: Any) -> None:
        google.add_event(email, start=at(day, start), end=at(day, end), summary=summary, **extra)

    alice, bob, carmen = EMAILS[ALICE], EMAILS[BOB], EMAILS[CARMEN]
    seed_weekly_call(google, next(day for day in days if day.weekday() == 0), at)
    # Bob's partner does the school run on the day of the expo (workday 4, below).
    google.add_event(
        bob,
        start=at(workdays[0], "15:00"),
        end=at(workdays[0], "15:45"),
        summary="School run",
        recurrence=[
            "RRULE:FREQ=WEEKLY;BYDAY=MO,TU,WE,TH,FR",
            f"EXDATE;TZID={ZONE}:{at(workdays[4], '15:00'):%Y%m%dT%H%M%S}",
        ],
    )
    for n, day in enumerate(workdays):
        if n == 7:
            google.add_event(alice, start=day, end=day + timedelta(days=1), summary="Day off")
        elif n % 5 == 0:
            busy(alice, day, "09:30", "11:00", "Shoot: 14 Oak Lane (listing photos)")
            busy(alice, day, "11:00", "11:45", "Drive to Greenwich")
            busy(alice, day, "12:00", "13:30", "Shoot: 9 Shore Rd, Greenwich")
        elif n % 5 == 1:
            busy(alice, day, "13:00", "14:30", "Shoot: 221 Park Ave S, unit 5B")
        elif n % 5 == 2:
            busy(alice, day, "10:00", "12:30", "Drone shoot: Maple Farm estate")
            busy(alice, day, "14:00", "16:00", "Editing (available)", transparency="transparent")
        elif n % 5 == 3:
            busy(alice, day, "09:00", "10:30", "Shoot: 48 Elm St")
            google.add_event(  # on Alice's calendar too, as Google delivers invitations
                PARTNER,
                start=at(day, "15:00"),
                end=at(day, "16:00"),
                summary="Open house walkthrough (Harbor Homes)",
                attendees=[
                    {"email": PARTNER, "responseStatus": "accepted"},
                    {"email": alice, "responseStatus": "declined"},
                ],
            )
        else:
            busy(alice, day, "12:00", "13:00", "Lunch with Dana")
            busy(alice, day, "14:00", "15:30", "Shoot: 77 Bayview Terrace")

        if n == 4:
            google.add_event(
                bob,
                start=day,
                end=day + timedelta(days=1),
                summary="Real-estate expo (Javits Center)",
            )
        elif n % 4 == 0:
            busy(bob, day, "09:00", "10:30", "Shoot: 3 Birch Court")
            busy(bob, day, "10:30", "11:30", "Travel to Stamford")
            busy(bob, day, "11:30", "13:00", "Shoot: 150 Main St, Stamford")
        elif n % 4 == 1:
            busy(bob, day, "09:00", "10:00", "Dentist")
            busy(bob, day, "12:30", "14:00", "Shoot: 60 River Rd")
        elif n % 4 == 2:
            busy(bob, day, "10:00", "12:00", "Virtual tour scan: 12 Hill St")
            busy(bob, day, "16:00", "17:00", "Client call: Harbor Homes")
        else:
            busy(bob, day, "10:00", "11:30", "Shoot: 5 Cedar Lane")

        if n in (8, 9):
            google.add_event(carmen, start=day, end=day + timedelta(days=1), summary="Vacation")
        elif n % 3 == 0:
            busy(carmen, day, "10:00", "11:30", "Shoot: 400 Ocean Blvd")
            busy(carmen, day, "13:00", "14:00", "Drive to Montauk")
        elif n % 3 == 1:
            busy(carmen, day, "09:00", "12:00", "Commercial shoot: The Loft Café")
        else:
            busy(carmen, day, "14:30", "16:00", "Shoot: 19 Willow Way")


def seed_weekly_call(google: FakeGoogle, monday: date, at: Callable[[date, str], datetime]) -> None:
    """The weekly call on the shared calendar from `monday` on, everyone invited: next
    week's moved to the Tuesday, the one after cancelled, as people change a series in
    Google Calendar (each instance by its own id)."""
    call = google.add_event(
        PRIMARY_EMAIL,
        start=at(monday, "08:30"),
        end=at(monday, "09:00"),
        summary="Weekly team call",
        attendees=[
            {"email": EMAILS[person], "responseStatus": "accepted"}
            for person in (ALICE, BOB, CARMEN)
        ],
        recurrence=["RRULE:FREQ=WEEKLY;BYDAY=MO"],
    )
    moved, cancelled = monday + timedelta(days=7), monday + timedelta(days=14)
    tuesday = moved + timedelta(days=1)
    google.patch_event(
        PRIMARY_EMAIL,
        instance_id(call["id"], at(moved, "08:30")),
        {
            "start": {"dateTime": at(tuesday, "08:30").isoformat(), "timeZone": ZONE},
            "end": {"dateTime": at(tuesday, "09:00").isoformat(), "timeZone": ZONE},
        },
    )
    google.delete_event(PRIMARY_EMAIL, instance_id(call["id"], at(cancelled, "08:30")))


async def seed_customer(sandbox: Sandbox) -> None:
    """The onboarder adds the bot to the channel (the checklist, its panel, is posted); then
    the primary calendar and two photographers' are connected through the real connect
    flow, from the panel's buttons: people of Acme Photo have no `/tonomo`."""
    slack, events_url = sandbox.slack, sandbox.bot_url + "/slack/events"
    added = {
        "type": "member_joined_channel",
        "user": slack.bot_user_id,
        "channel": CHANNEL,
        "channel_type": "G",
        "team": slack.team_id,
        "inviter": ONBOARDER,
    }
    await slack.send_event(events_url, added)
    await _wait_for(lambda: slack.messages(CHANNEL))
    async with ClientSession() as http:
        await connect(sandbox, http, OWNER, PRIMARY_EMAIL, primary=True)
        for user_id in CONNECTED_STAFF:
            await connect(sandbox, http, user_id, EMAILS[user_id])


async def connect(
    sandbox: Sandbox, http: ClientSession, user_id: str, email: str, *, primary: bool = False
) -> None:
    """A click on the panel's "Connect primary calendar" or "Connect my calendar", the link
    the bot answers with (only that person sees it), Google's pages, the bot's callback."""
    slack = sandbox.slack
    action_id = CONNECT_PRIMARY if primary else CONNECT_MINE
    panel, block_id = _panel_button(slack, action_id)
    before = len(slack.ephemerals(CHANNEL, user_id))
    sent = await slack.send_block_action(
        sandbox.bot_url + "/slack/events",
        user_id=user_id,
        channel_id=CHANNEL,
        action_id=action_id,
        block_id=block_id,
        message_ts=panel["ts"],
    )
    if sent.status != 200:
        raise SeedError(f"the bot answered the click with HTTP {sent.status}")

    def link() -> str | None:
        for answer in slack.ephemerals(CHANNEL, user_id)[before:]:
            urls = [
                u for u in button_urls(answer["blocks"]) if u.startswith(sandbox.google.auth_uri)
            ]
            if urls:
                return urls[0]
        return None

    location = await approve_consent(await _wait_for(link), email=email)
    async with http.get(location) as page:
        if page.status != 200:
            raise SeedError(f"the bot's callback answered HTTP {page.status}")


def _panel_button(slack: FakeSlack, action_id: str) -> tuple[dict[str, Any], str]:
    """The channel's panel (the checklist message) and the block holding that button."""
    for message in slack.messages(CHANNEL):
        for block in message.get("blocks") or []:
            block_id = str(block.get("block_id", ""))
            if find_element([block], block_id, action_id) is not None:
                return message, block_id
    raise SeedError(f"the channel's panel has no {action_id} button")


class SeedError(Exception):
    """The demo customer could not be set up as planned."""


async def _wait_for(predicate: Callable[[], T | None], timeout: float = SEED_TIMEOUT) -> T:  # noqa: ASYNC109
    deadline = time.monotonic() + timeout
    while (result := predicate()) is None or not result:
        if time.monotonic() > deadline:
            raise SeedError(f"the bot did not answer within {timeout:.0f} s")
        await asyncio.sleep(0.01)
    return result


# ---------------------------------------------------------------------------------------------
# Running it
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Sandbox:
    google: FakeGoogle
    slack: FakeSlack
    ui: SandboxUI
    bot_url: str

    @property
    def url(self) -> str:
        """The page: where a person starts."""
        return self.bot_url + "/"


@contextlib.asynccontextmanager
async def running_sandbox(port: int, *, seed: bool = True) -> AsyncIterator[Sandbox]:
    """Both emulators and the bot's real server on 127.0.0.1:`port` with a fresh database,
    and the page under `/sandbox/`; with `seed`, the demo customer set up first."""
    # Google's pages name the app by its consent screen's app name, as they do for real.
    google = FakeGoogle(client_id=CLIENT_ID, client_secret=CLIENT_SECRET, app_name=BOT_NAME)
    slack = new_slack()
    seed_workspace(slack)
    seed_calendars(google, datetime.now(ZoneInfo(ZONE)).date())
    await google.start()
    await slack.start()
    bot_url = f"http://127.0.0.1:{port}"
    try:
        with tempfile.TemporaryDirectory(prefix="tonomo-sandbox-") as data:
            database_url = f"sqlite:///{Path(data) / 'tonomo.db'}"
            environment = bot_environment(
                slack=slack, google=google, public_url=bot_url, database_url=database_url
            )
            services = await build_services(Settings.from_env(environment))
            app = create_web_app(services)
            ui = SandboxUI(
                slack=slack,
                bot_url=bot_url,
                channel_id=CHANNEL,
                channel_name=CHANNEL_NAME,
                people=PEOPLE,
                workspace=WORKSPACE,
                bot_name=BOT_NAME,
            )
            app.add_subapp("/sandbox/", ui.app)
            app.router.add_get("/", _to_the_page)
            # No access log: the page polls, and the console stays readable.
            runner = web.AppRunner(app, access_log=None, shutdown_timeout=5)
            await runner.setup()
            try:
                await web.TCPSite(runner, "127.0.0.1", port).start()
                sandbox = Sandbox(google=google, slack=slack, ui=ui, bot_url=bot_url)
                if seed:
                    await seed_customer(sandbox)
                    ui.hide_earlier_ephemerals()  # the seed's sign-in links were used up
                yield sandbox
            finally:
                await runner.cleanup()
    finally:
        await slack.stop()
        await google.stop()


async def _to_the_page(request: web.Request) -> web.Response:
    query = request.query_string
    raise web.HTTPFound("/sandbox/" + (f"?{query}" if query else ""))


def describe(sandbox: Sandbox) -> str:
    """What runs where, the page first."""
    staff = " and ".join(
        f"{p.real_name.split()[0]}'s" for p in PEOPLE if p.user_id in CONNECTED_STAFF
    )
    return (
        "\nThe Tonomo sandbox is running. Open it in your browser:\n\n"
        f"    {sandbox.url}\n\n"
        f"It is #{CHANNEL_NAME}, a Slack Connect channel of {VENDOR}'s workspace\n"
        f"shared with {CUSTOMER}. Act as Olivia (the owner) or her photographers Alice, Bob\n"
        f"and Carmen: of another organisation, they have no /tonomo and no Home tab, so they\n"
        f"mention the app (@{BOT_NAME} help) or use its panel's buttons. Or act as Sam, the\n"
        f"onboarder of {VENDOR}, who can also type /tonomo help. The primary calendar\n"
        f"({PRIMARY_EMAIL}) and {staff} calendars are connected; Carmen's is not.\n\n"
        f"  bot              {sandbox.bot_url}  (Slack calls /slack/events; health at /healthz)\n"
        f"  Slack emulator   {sandbox.slack.api_url}\n"
        f"  Google emulator  {sandbox.google.base_url}  (sign-in pages open from the bot's links)\n"
        "  database         a fresh SQLite file, deleted when the sandbox stops\n\n"
        "Ctrl-C stops it.\n"
    )


async def run_sandbox(port: int | None = None) -> int:
    bot_port = port or 3000
    print("Starting the Tonomo sandbox…", flush=True)
    logging.getLogger("alembic").setLevel(logging.WARNING)  # a fresh database: no news
    stop = _stop_on_signals()
    try:
        async with running_sandbox(bot_port, seed=False) as sandbox:
            try:
                await seed_customer(sandbox)
            except (SeedError, ConsentPageError, ClientError, TimeoutError, ValueError) as err:
                print(f"(The demo calendars could not all be connected: {err})", flush=True)
            sandbox.ui.hide_earlier_ephemerals()
            print(describe(sandbox), flush=True)
            await stop.wait()
            print("\nStopping the sandbox…", flush=True)
    except OSError as err:
        print(
            f"tonomo sandbox: could not start on port {bot_port} ({err.strerror or err}); "
            f"try --port {bot_port + 100}",
            file=sys.stderr,
        )
        return 1
    return 0


def _stop_on_signals() -> asyncio.Event:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    return stop
