"""One digest run over many customers, with Slack and Google answering slowly.

    python -m bench.digest_run [--customers 10000] [--staff 10] [--latency 0.05] [--json FILE]
                               [--database-url postgresql://…] [--concurrency 16]
                               [--under-way N] [--seed 1]
                               [--slack-latency S] [--warm-directory] [--shared]
                               [--profile FILE]

The issue's benchmark: a digest run over 10,000 customers × 10 staff with the emulators
answering each call in 50 ms; report the wall time, the CPU per digest, the peak memory
and the Slack calls per second. Targets: a wall time within 1.3 × (Google calls × latency
÷ the Google calls the run can have in flight: the digests reading at once × staff, or
the adapter's `CALLS_AT_ONCE` if lower), CPU per digest (the process's CPU time over the
run ÷ digests) at most 4 ms, peak memory under 300 MB. Beside them, what bounds the wall
time besides Google: each digest's Slack and Google calls made one after another,
measured from the emulators' arrival times.

Two processes on loopback. The Slack and Google emulators (`bench.emulators`) run in
their own process. Slack's gets a private channel per customer with its owner, its
staff and the bot (`POST /slack/channels`); Google's an account per staff member with
its day's events (`POST /google/calendars`) and a grant (`POST /google/tokens`). This
process is the bot's side, built exactly as production builds it
(`build_services(Settings.from_env(env))`), against a fresh SQLite file in a temporary
directory or, with `--database-url`, a scratch PostgreSQL database created and dropped
here. The customers are seeded straight into the database: each in one of four US
timezones with its `digest_time` set to its wall-clock time at `CLOCK` (so every one is
due then), its owner and staff as members (as their first commands would have left
them), and a connected staff calendar per staff member, its tokens sealed with
`TokenCipher` and fresh (each read is one free/busy call). Only then does the
emulators' latency go up.

What is timed is one `Digests.run_due()`, the scheduler's digest job, on the services'
own store, digest store, `Staff`, `Poster` and `Directory` (`services.digests` wired
again with its clock stopped at `CLOCK`). Then it must have sent every digest and failed
none; the database must hold each day's digest as sent; Google's emulator must have
seen exactly one free/busy call per staff member; Slack's exactly one
`chat.postMessage` per channel, and each of those must name every one of the channel's
staff with the free time worked out here from the events seeded on their calendar
(working hours minus the busy events, or in "No free time today"), and none whose
calendar could not be read. With `--shared`, each channel is a Slack Connect channel
shared with the customer's own organisation, whose people the owner and staff are, and
the vendor's onboarder is in every one, never named. The peak memory is this process's, as `bench.health_checks`
measures it: VmHWM reset just before the run, cross-checked by sampling VmRSS.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import cProfile
import ctypes
import gc
import json
import logging
import os
import random
import re
import resource
import secrets
import signal
import sys
import tempfile
import time
from collections.abc import AsyncIterator, Iterator, Sequence
from dataclasses import asdict, dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any, TypeVar
from zoneinfo import ZoneInfo

import aiohttp
from sqlalchemy import func, select, text
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from bench.answer_setup import SUMMARIES, most_in_flight, thread_count
from bench.fleet import (
    HOST,
    REPO,
    Child,
    Ports,
    base_env,
    bot_env,
    cpu_seconds,
    emulators_argv,
    exit_on_sigterm,
    free_port,
    read_rss,
    start_child,
    stop_child,
    wait_ready,
)
from bench.health_checks import (
    TEAM_ID,
    GcPauses,
    LoopLag,
    RssWatch,
    connection_row,
    reset_peak_rss,
    sealed_tokens,
)
from bench.report import machine, percentile
from bot.calendar.google import CALLS_AT_ONCE
from bot.calendar.port import STAFF_SCOPES
from bot.config import Settings
from bot.digest import CONCURRENCY, UNDER_WAY, Digests, RunResult
from bot.services import Services, build_services, freeze_start_up
from bot.tokens import TokenCipher
from sandbox.fake_slack import text_of
from storage.db import async_url, session_factory
from storage.models import Customer, Digest, Member, utcnow
from storage.repositories.digests import SentDigest

CLOCK = datetime(2026, 12, 1, 13, 30, tzinfo=UTC)
"""The run's moment, a Tuesday: 8:30 in New York, 7:30 in Chicago, 6:30 in Denver and
5:30 in Los Angeles, so every customer's digest is due and the whole working day ahead."""
ZONES = ("America/New_York", "America/Chicago", "America/Denver", "America/Los_Angeles")
WORK_START, WORK_END = 9 * 60, 17 * 60  # the customers' default hours, in minutes
TIME_FACTOR_TARGET = 1.3
PEAK_RSS_TARGET_MB = 300.0
CPU_PER_DIGEST_TARGET_MS = 4.0
FREEBUSY_PATH = "/calendar/v3/freeBusy"
SLACK_METHODS = ("conversations.members", "conversations.info", "users.info", "chat.postMessage")
"""The Slack calls a digest makes: list the channel and whether it is shared, ask about its
people (each once a process: `Directory` keeps the answers), post."""
SLACK_PATHS = "^/api/(" + "|".join(re.escape(m) for m in SLACK_METHODS) + ")$"
CHANNELS_A_REQUEST = 100  # seeding requests stay under aiohttp's 1 MiB body limit
ACCOUNTS_A_REQUEST = 500
FREE_LINE = re.compile(r"^• <@(\w+)>: (.+?)  _\(", re.MULTILINE)
BOOKED_LINE = re.compile(r"^\*No free time today:\* (.+)$", re.MULTILINE)
MENTION = re.compile(r"<@(\w+)>")
UNREADABLE_HEADING = "*Calendars I couldn't read:*"

T = TypeVar("T")


@dataclass(frozen=True)
class Options:
    customers: int
    staff: int
    latency: float
    concurrency: int
    """Digests reading their calendars at once (`Digests`' concurrency)."""
    seed: int
    database_url: str | None
    json_path: Path | None
    profile_path: Path | None = None
    slack_latency: float | None = None
    """Seconds Slack's emulator takes a call, when not `latency`."""
    warm_directory: bool = False
    """Before the run, the bot's `Directory` is told about every person (untimed), as an
    instance that has run a day already knows them."""
    shared: bool = False
    """Each channel is shared with its customer's own organisation (Slack Connect), whose
    people the owner and staff are, and has the vendor's onboarder in it."""
    under_way: int | None = None
    """Digests under way at once, when not the bot's `UNDER_WAY` × `concurrency`."""

    @property
    def slack_s(self) -> float:
        return self.latency if self.slack_latency is None else self.slack_latency

    @property
    def calendars(self) -> int:
        return self.customers * self.staff

    @property
    def google_at_once(self) -> int:
        """Google calls the run can have in flight: each digest reads its staff's calendars
        all at once, `concurrency` digests at a time, within the adapter's limit for the
        instance (one call per account, so its limit per account never binds)."""
        return min(self.concurrency * self.staff, CALLS_AT_ONCE)

    @property
    def google_bound(self) -> str:
        """Which limit bounds Google calls in flight."""
        if self.concurrency * self.staff < CALLS_AT_ONCE:
            return f"the digests': {self.concurrency} reading at once × {self.staff} staff"
        return f"the adapter's CALLS_AT_ONCE ({CALLS_AT_ONCE})"


# --- the workspace ------------------------------------------------------------------------


def staff_user(number: int) -> str:
    return f"U0STAFF{number:05d}"  # as `bench.health_checks.connection_row` names them


ONBOARDER = "U0ONBOARDER"
"""The vendor's onboarder, of the installing workspace, in every shared channel."""


def staff_email(number: int) -> str:
    return f"staff{number:05d}@bench.example"


@dataclass(frozen=True)
class Channel:
    """A customer's channel: its owner, its staff (by number) and its timezone."""

    number: int
    zone: str
    staff: range
    shared: bool = False
    """Shared with the customer's own organisation (`team`), with `ONBOARDER` in it."""

    @property
    def id(self) -> str:
        return f"C0DIGEST{self.number:04d}"

    @property
    def owner(self) -> str:
        return f"U0OWNER{self.number:04d}"

    @property
    def team(self) -> str | None:
        """The customer's own organisation's workspace, when the channel is shared with it."""
        return f"T0CUST{self.number:05d}" if self.shared else None

    @property
    def people(self) -> tuple[str, ...]:
        """The customer's owner and staff."""
        return (self.owner, *map(staff_user, self.staff))

    @property
    def day(self) -> date:
        return CLOCK.astimezone(ZoneInfo(self.zone)).date()

    @property
    def digest_time(self) -> str:
        """Its wall-clock time at CLOCK: due then, to the minute."""
        return f"{CLOCK.astimezone(ZoneInfo(self.zone)):%H:%M}"

    @property
    def clock(self) -> str:
        """How its digest writes times: 12-hour in `ZONES` (the United States'), else (the
        customers `bench.scale_out` sets to 24-hour) 24-hour."""
        return "12h" if self.zone in ZONES else "24h"


def staff_numbers(customer: int, staff: int) -> range:
    """The numbers of the `customer`th customer's staff, `staff` to each customer."""
    return range(customer * staff, (customer + 1) * staff)


def workspace(options: Options) -> list[Channel]:
    return [
        Channel(i, ZONES[i % len(ZONES)], staff_numbers(i, options.staff), shared=options.shared)
        for i in range(options.customers)
    ]


def day_events(seed: int, number: int, day: date, zone: ZoneInfo) -> list[dict[str, str]]:
    """A photographer's day: 2–4 events, some marked free; now and then out of office all
    day, or a reminder all day marked free. The same for the same seed."""
    rng = random.Random(f"{seed}:{staff_email(number)}")
    events: list[dict[str, str]] = []
    if rng.random() < 0.07:
        events.append(all_day(day, "Out of office", "opaque"))
    if rng.random() < 0.1:
        events.append(all_day(day, "Reminder: invoices", "transparent"))
    for _ in range(rng.randint(2, 4)):
        start = datetime.combine(day, datetime.min.time(), zone) + timedelta(
            hours=8, minutes=15 * rng.randrange(40)
        )
        length = timedelta(minutes=rng.choice((30, 45, 60, 90, 120, 180)))
        events.append(
            {
                "start": start.isoformat(),
                "end": (start + length).isoformat(),
                "summary": rng.choice(SUMMARIES),
                "transparency": "transparent" if rng.random() < 0.15 else "opaque",
            }
        )
    return events


def all_day(day: date, summary: str, transparency: str) -> dict[str, str]:
    end = day + timedelta(days=1)
    return {
        "start": day.isoformat(),
        "end": end.isoformat(),
        "summary": summary,
        "transparency": transparency,
    }


def expected_free(events: list[dict[str, str]], zone: ZoneInfo, clock: str = "12h") -> str:
    """The free time a digest must show for these events ("9am–10:30am, 1pm–5pm" on a
    12-hour clock, "9:00–10:30, 13:00–17:00" on a 24-hour one), or "" for none: the working
    hours minus the busy (opaque) events, worked out here apart from the bot."""
    busy = []
    for event in events:
        if event["transparency"] != "opaque":
            continue
        if len(event["start"]) == len("2026-12-01"):
            return ""  # busy all day
        began, ended = (datetime.fromisoformat(event[k]).astimezone(zone) for k in ("start", "end"))
        busy.append((began.hour * 60 + began.minute, ended.hour * 60 + ended.minute))
    free, cursor = [], WORK_START
    for start, end in sorted(busy):
        if start > cursor:
            free.append((cursor, min(start, WORK_END)))
        cursor = max(cursor, end)
        if cursor >= WORK_END:
            break
    if cursor < WORK_END:
        free.append((cursor, WORK_END))
    shown = clock_12h if clock == "12h" else clock_24h
    return ", ".join(f"{shown(start)}–{shown(end)}" for start, end in free)


def clock_12h(minutes: int) -> str:
    """Minutes after midnight as a 12-hour clock writes them: `9am`, `10:30am`, `5pm`."""
    hour, minute = divmod(minutes, 60)
    shown = f"{hour % 12 or 12}" + (f":{minute:02d}" if minute else "")
    return shown + ("am" if hour < 12 else "pm")


def clock_24h(minutes: int) -> str:
    """Minutes after midnight as a 24-hour clock writes them: `9:00`, `17:00`."""
    return f"{minutes // 60}:{minutes % 60:02d}"


def chunks(items: Sequence[T], size: int) -> Iterator[Sequence[T]]:
    for i in range(0, len(items), size):
        yield items[i : i + size]


# --- the emulators ------------------------------------------------------------------------


@contextlib.contextmanager
def emulators(work: Path) -> Iterator[tuple[Child, Ports]]:
    """The emulators' process, with an empty workspace, stopped on leaving."""
    # Only the Slack, Google and control ports are served; the bot's names PUBLIC_URL.
    ports = Ports(*(free_port() for _ in range(5)))
    child = start_child(
        "emulators",
        emulators_argv(ports, channels=0, users=0),
        base_env(),
        cwd=REPO,
        logs=work,
        health_url=f"http://{HOST}:{ports.control}/healthz",
    )
    try:
        yield child, ports
    finally:
        stop_child(child)


@dataclass(frozen=True)
class Control:
    """The emulators' control API."""

    session: aiohttp.ClientSession
    url: str

    async def _post(self, path: str, body: dict[str, Any]) -> dict[str, Any]:
        async with self.session.post(f"{self.url}{path}", json=body) as answer:
            answer.raise_for_status()
            found: dict[str, Any] = await answer.json()
            return found

    async def add_channels(self, channels: list[Channel]) -> None:
        """Each channel in Slack's emulator, with its owner and staff as its members (and,
        shared, the onboarder; the owner and staff then of the customer's own workspace)."""
        for some in chunks(channels, CHANNELS_A_REQUEST):
            wanted = [
                {
                    "id": channel.id,
                    "name": f"customer-{channel.number:04d}",
                    "members": [
                        {"id": person, "name": person.lower(), "tz": channel.zone}
                        | ({"team_id": channel.team} if channel.team else {})
                        for person in channel.people
                    ]
                    + (
                        [{"id": ONBOARDER, "name": "onboarder", "tz": "America/New_York"}]
                        if channel.team
                        else []
                    ),
                    "shared_with": [channel.team] if channel.team else [],
                }
                for channel in some
            ]
            teams = [
                {"id": c.team, "name": f"Customer {c.number}", "domain": f"customer-{c.number}"}
                for c in some
                if c.team
            ]
            await self._post("/slack/channels", {"teams": teams, "channels": wanted})

    async def add_calendars(self, accounts: list[dict[str, Any]]) -> int:
        """Google accounts with their events; how many events."""
        events = 0
        for some in chunks(accounts, ACCOUNTS_A_REQUEST):
            events += int((await self._post("/google/calendars", {"accounts": some}))["events"])
        return events

    async def issue_tokens(self, emails: list[str]) -> list[dict[str, str]]:
        """A grant for each account, as if its owner had consented: its tokens."""
        accounts: list[dict[str, str]] = []
        for some in chunks(emails, ACCOUNTS_A_REQUEST):
            body = {"emails": list(some), "scopes": list(STAFF_SCOPES)}
            accounts += (await self._post("/google/tokens", body))["accounts"]
        return accounts

    async def set_latency(self, seconds: float, slack: float | None = None) -> None:
        """Google's latency, and Slack's (the same unless given)."""
        await self._post(
            "/latency", {"google": seconds, "slack": seconds if slack is None else slack}
        )

    async def stats(self) -> dict[str, Any]:
        async with self.session.get(f"{self.url}/stats") as answer:
            answer.raise_for_status()
            found: dict[str, Any] = await answer.json()
            return found

    async def account_calls(self, path: str, since: float) -> list[dict[str, Any]]:
        """Google's calls as `requests` gives them, without bodies, each with the account it
        was made for."""
        query = {"emulator": "google", "path": path, "since": repr(since)}
        async with self.session.get(f"{self.url}/calls", params=query) as answer:
            answer.raise_for_status()
            found: list[dict[str, Any]] = (await answer.json())["calls"]
            return found

    async def requests(self, emulator: str, path: str, since: float) -> list[dict[str, Any]]:
        """What the emulator received at or after `since` (epoch s) on matching paths."""
        query = {"emulator": emulator, "path": path, "since": repr(since)}
        async with self.session.get(f"{self.url}/requests", params=query) as answer:
            answer.raise_for_status()
            found: list[dict[str, Any]] = (await answer.json())["requests"]
            return found


def calendars(channels: list[Channel], seed: int) -> list[dict[str, Any]]:
    """Every staff member's Google account, in their customer's zone, with the day's events."""
    accounts = []
    for channel in channels:
        zone = ZoneInfo(channel.zone)
        for number in channel.staff:
            events = day_events(seed, number, channel.day, zone)
            accounts.append(
                {"email": staff_email(number), "time_zone": channel.zone, "events": events}
            )
    return accounts


# --- the database ---------------------------------------------------------------------------


@contextlib.asynccontextmanager
async def scratch_database(server_url: str | None, work: Path) -> AsyncIterator[str]:
    """A fresh database: SQLite in `work`, or one created on the PostgreSQL server and dropped."""
    if server_url is None:
        yield f"sqlite:///{work / 'tonomo.db'}"
        return
    name = f"tonomo_bench_digest_{secrets.token_hex(4)}"
    admin = create_async_engine(async_url(server_url), isolation_level="AUTOCOMMIT")
    try:
        async with admin.connect() as connection:
            await connection.execute(text(f'CREATE DATABASE "{name}"'))
        try:
            yield make_url(server_url).set(database=name).render_as_string(hide_password=False)
        finally:
            async with admin.connect() as connection:
                await connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    finally:
        await admin.dispose()


async def seed(
    engine: AsyncEngine,
    cipher: TokenCipher,
    channels: list[Channel],
    accounts: list[dict[str, str]],
) -> None:
    """Each channel's customer, due at CLOCK, with its people as members and a connected
    calendar per staff member (`accounts`, in staff order), its access token fresh."""
    now = utcnow()
    expiry = now + timedelta(minutes=55)  # the emulator's tokens last an hour
    async with session_factory(engine).begin() as session:
        customers = [
            Customer(
                team_id=TEAM_ID,
                channel_id=channel.id,
                timezone=channel.zone,
                registered_by=channel.owner,
                digest_time=channel.digest_time,
            )
            for channel in channels
        ]
        session.add_all(customers)
        await session.flush()
        for customer, channel in zip(customers, channels, strict=True):
            for person in channel.people:
                session.add(
                    Member(
                        customer_id=customer.id, slack_user_id=person, display_name=person.lower()
                    )
                )
            for number in channel.staff:
                account = accounts[number]
                sealed = sealed_tokens(cipher, account, expiry)
                session.add(connection_row(number, customer, account, sealed, now))


async def problems_in_database(engine: AsyncEngine, customers: int) -> list[str]:
    """What the run left wrong: a day's digest not recorded as sent, or still claimed."""
    async with session_factory(engine)() as session:
        rows = await session.scalar(select(func.count()).select_from(Digest))
        sent = await session.scalar(
            select(func.count()).where(
                Digest.sent_at.is_not(None),
                Digest.message_ts.is_not(None),
                Digest.claimed_until.is_(None),
            )
        )
    problems = []
    if rows != customers or sent != customers:
        problems.append(f"{sent} of {customers} digests recorded as sent ({rows} rows)")
    return problems


# --- checking what was posted ---------------------------------------------------------------


def problems_in_posts(
    posts: list[dict[str, Any]], channels: list[Channel], seed: int
) -> tuple[int, list[str]]:
    """How many channels got exactly the digest their staff's calendars call for, and
    what was wrong with the others (the first few of each kind)."""
    by_channel: dict[str, list[dict[str, Any]]] = {}
    for post in posts:
        body = json.loads(post["body"])
        by_channel.setdefault(str(body.get("channel")), []).append(body)
    problems: dict[str, list[str]] = {}
    verified = 0
    for channel in channels:
        got = by_channel.pop(channel.id, [])
        if len(got) != 1:
            problems.setdefault("posts", []).append(f"{channel.id} got {len(got)} posts")
            continue
        wrong = digest_problems(text_of(got[0]), channel, seed)
        for kind, what in wrong:
            problems.setdefault(kind, []).append(f"{channel.id}: {what}")
        verified += not wrong
    if by_channel:
        problems["posts"] = [f"posts in channels not seeded: {sorted(by_channel)[:5]}"]
    shown = [
        f"{len(found)} × {found[0]}" + (" …" if len(found) > 1 else "")
        for found in problems.values()
    ]
    return verified, shown


def digest_problems(message: str, channel: Channel, seed: int) -> list[tuple[str, str]]:
    """What differs between a posted digest and its staff's calendars."""
    title = f"Today's availability: {channel.day:%A} {channel.day.day} {channel.day:%B}"
    wrong = [] if title in message else [("title", f"no title {title!r}")]
    if UNREADABLE_HEADING in message:
        wrong.append(("unreadable", "some calendars could not be read"))
    free = dict(FREE_LINE.findall(message))
    booked = [m for line in BOOKED_LINE.findall(message) for m in MENTION.findall(line)]
    zone = ZoneInfo(channel.zone)
    for number in channel.staff:
        person = staff_user(number)
        expected = expected_free(day_events(seed, number, channel.day, zone), zone, channel.clock)
        shown = free.pop(person, None)
        if expected and shown != expected:
            wrong.append(("free", f"{person} shown {shown!r}, expected {expected!r}"))
        elif not expected and person not in booked:
            wrong.append(("booked", f"{person} not under 'No free time today'"))
    if free:
        wrong.append(("others", f"free lines for people not on its staff: {sorted(free)}"))
    if channel.shared and f"<@{ONBOARDER}>" in message:
        wrong.append(("onboarder", "the onboarder is named"))
    return wrong


# --- the run --------------------------------------------------------------------------------


@dataclass
class Result:
    started: str
    """When the run began, UTC (the machine's clock)."""
    load_average: float
    """The 1-minute load average just before the run: anything else running shows here."""
    database: str
    customers: int
    staff_per_customer: int
    latency_s: float
    slack_latency_s: float
    warm_directory: bool
    shared: bool
    """Slack Connect channels, an onboarder in each (`--shared`)."""
    """The bot's Directory knew every person before the run (its second day)."""
    google_limit: int
    """`bot.calendar.google.CALLS_AT_ONCE`: Google calls at once, all customers together."""
    digest_concurrency: int
    """Digests reading their calendars at once (`Digests`' concurrency)."""
    digests_under_way: int
    """Digests under way at once (begun, not yet posted)."""
    google_at_once: int
    """Google calls the run can have in flight: the lower of digests at once × staff and
    the adapter's limit."""
    google_bound: str
    """Which of those two it is."""
    sent: int
    failed: int
    verified: int
    """Digests that named every staff member with the free time their calendar calls for."""
    wall_s: float
    ideal_s: float
    """The issue's: Google calls × latency ÷ Google calls in flight at most."""
    target_s: float
    meets_time: bool
    calls_in_a_row: tuple[int, int, int]
    """A digest's Slack and Google calls each sent after an earlier one's answer: the
    calls of the run of them that takes the most time, per digest: p50, p95, max."""
    digest_span_s: tuple[float, float, float]
    """From a digest's first call's arrival to its post's answer: p50, p95, max."""
    latency_floor_s: float
    """Σ each digest's calls in a row × their latency ÷ digests under way: the least wall
    time those round trips allow with that many under way, whatever the CPU."""
    slack_calls: dict[str, int]
    slack_calls_per_s: float
    """The calls of SLACK_METHODS, a second of the run."""
    google_calls: dict[str, int]
    google_calls_per_s: float
    google_most_in_flight: int
    google_mean_in_flight: float
    """calls × latency ÷ wall time: how busy the Google limit was kept on average."""
    first_call_s: float
    """From the start of the run to the first Slack or Google call's arrival."""
    last_post_s: float
    """From the start to the last chat.postMessage's arrival."""
    digest_spread_s: tuple[float, float, float]
    """Seconds from the start to each digest's post arriving: p50, p95, max."""
    cpu_s: float
    """CPU time of this process (the bot, all its threads) over the run (getrusage)."""
    cpu_user_s: float
    cpu_system_s: float
    cpu_per_digest_ms: float
    """`cpu_s` ÷ digests sent."""
    meets_cpu: bool
    profiled: bool
    """The run ran under cProfile (`--profile`): its CPU and times are inflated."""
    emulator_cpu_s: float
    rss_before_mb: float
    peak_before_run_mb: float
    """VmHWM before the run: start-up and seeding."""
    peak_rss_mb: float
    """VmHWM during the run (reset just before it), else the highest sample."""
    sampled_peak_mb: float
    peak_reset: bool
    meets_memory: bool
    loop_lag_p50_ms: float
    loop_lag_p99_ms: float
    loop_lag_max_ms: float
    gc_collections: int
    gc_pause_s: float
    """The cyclic garbage collector's pauses over the run, in all."""
    gc_longest_ms: float
    gc_by_generation: list[tuple[int, float]]
    """Collections and seconds of each generation (young, middle, full)."""
    threads_after: int


@dataclass(frozen=True)
class Timed:
    outcome: RunResult
    started_at: float
    """`time.time()` at the start: the emulators' clock too."""
    load_average: float
    wall_s: float
    cpu_user_s: float
    cpu_system_s: float
    emulator_cpu_s: float
    rss_before_mb: float
    peak_before_run_mb: float
    peak_rss_mb: float
    sampled_peak_mb: float
    peak_reset: bool
    lag_ms: tuple[float, float, float]  # p50, p99, max
    gc_pauses: list[float]
    gc_by_generation: list[tuple[int, float]]
    under_way: int
    """The run's digests under way at once (`Digests.under_way`)."""
    threads_after: int


def give_back_freed_memory() -> None:
    """Collect the seeding's garbage and hand the heap's free pages back to the system
    (glibc's `malloc_trim`), so that the RSS before the run is what this process holds,
    not the high-water mark of seeding 100,000 calendars."""
    gc.collect()
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL("libc.so.6").malloc_trim(0)


async def warm_directory(services: Services, channels: list[Channel]) -> None:
    """The bot as its second day of digests finds it: what `users.info` says of every
    member of the channels, asked through the bot's own `Directory`, which keeps the
    answers for the life of the process; and each channel's members and sharing as the
    first day's digest kept them on its customer's row (read through `People.read_facts`
    and recorded through `DigestStore.mark_sent_many`, the first day's own path, a day
    before CLOCK)."""
    await services.directory.people_in(channels[0].id)  # the bot's own user among them
    people = [p for c in channels for p in c.people] + [ONBOARDER] * any(c.shared for c in channels)
    for some in chunks(people, 1000):
        await asyncio.gather(*(services.directory.user(p) for p in some))
    yesterday = CLOCK - timedelta(days=1)
    for customers in chunks(await services.digest_store.candidates(), 1000):
        facts = await asyncio.gather(*(services.people.read_facts(c, yesterday) for c in customers))
        await services.digest_store.mark_sent_many(
            [
                SentDigest(c.id, yesterday.date(), yesterday, "", read)
                for c, read in zip(customers, facts, strict=True)
            ]
        )


def stopped_digests(services: Services, concurrency: int, under_way: int | None) -> Digests:
    """`services.digests` as `build_services` wires it, with its clock stopped at CLOCK."""
    return Digests(
        digests=services.digest_store,
        staff=services.staff,
        poster=services.poster,
        people=services.people,
        clock=lambda: CLOCK,
        concurrency=concurrency,
        under_way=under_way,
    )


def cpu_times() -> tuple[float, float]:
    """This process's user and system CPU seconds so far, all threads."""
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime, usage.ru_stime


async def timed_run(digests: Digests, emulator_pid: int, profile: Path | None) -> Timed:
    """One `run_due`, timed, with this process's memory and both processes' CPU (under
    cProfile, written to `profile`, when given)."""
    before = read_rss(os.getpid(), "before", 0)
    load_average = os.getloadavg()[0]
    reset = reset_peak_rss()
    emulator_cpu = cpu_seconds(emulator_pid)
    profiler = cProfile.Profile() if profile is not None else None
    async with LoopLag() as lag:
        with RssWatch() as watch, GcPauses() as collections:
            started_at = time.time()
            (user, system), start = cpu_times(), time.perf_counter()
            if profiler is not None:
                profiler.enable()
            outcome = await digests.run_due()
            if profiler is not None:
                profiler.disable()
            wall = time.perf_counter() - start
            user_after, system_after = cpu_times()
    if profiler is not None and profile is not None:
        profiler.dump_stats(profile)
    after = read_rss(os.getpid(), "after", outcome.sent)
    return Timed(
        outcome=outcome,
        started_at=started_at,
        load_average=load_average,
        wall_s=wall,
        cpu_user_s=user_after - user,
        cpu_system_s=system_after - system,
        emulator_cpu_s=cpu_seconds(emulator_pid) - emulator_cpu,
        rss_before_mb=before.rss_mb,
        peak_before_run_mb=before.peak_mb,
        peak_rss_mb=after.peak_mb if reset else watch.highest_mb,
        sampled_peak_mb=watch.highest_mb,
        peak_reset=reset,
        lag_ms=(lag.percentile_ms(50), lag.percentile_ms(99), lag.percentile_ms(100)),
        gc_pauses=collections.pauses,
        gc_by_generation=collections.by_generation(),
        under_way=digests.under_way,
        threads_after=thread_count(os.getpid()),
    )


def calls_between(before: dict[str, int], after: dict[str, int]) -> dict[str, int]:
    return {k: n - before.get(k, 0) for k, n in sorted(after.items()) if n > before.get(k, 0)}


@dataclass(frozen=True)
class Arrivals:
    """When the emulators received the run's calls (epoch s)."""

    freebusy: list[float]
    posts: list[float]
    first_slack: float
    by_channel: dict[str, list[tuple[float, float]]]
    """Each channel's Slack and Google calls (those that name a channel, or a person or an
    account of one; the bot's own `users.info`, once, names none): arrival and latency."""


def channel_of_call(
    call: dict[str, Any], owners: dict[str, str], staff_channel: dict[str, str]
) -> str | None:
    """The channel a Slack call (`GET /requests`) or a Google call (`GET /calls`) was for."""
    if "account" in call:
        return staff_channel.get(call["account"])
    query = call.get("query") or {}
    if "channel" in query:
        return str(query["channel"])
    if "user" in query:
        return owners.get(query["user"]) or staff_channel.get(query["user"])
    if call.get("body", "").startswith("{"):
        channel = json.loads(call["body"]).get("channel")
        return str(channel) if channel else None
    return None


def calls_by_channel(
    channels: list[Channel], calls: list[dict[str, Any]], *, google: float, slack: float
) -> dict[str, list[tuple[float, float]]]:
    """Each channel's calls: their arrival times and latencies (Google's or Slack's)."""
    owners = {channel.owner: channel.id for channel in channels}
    staff_channel = {
        who: channel.id
        for channel in channels
        for number in channel.staff
        for who in (staff_user(number), staff_email(number))
    }
    found: dict[str, list[tuple[float, float]]] = {}
    for call in calls:
        channel = channel_of_call(call, owners, staff_channel)
        if channel is not None:
            latency = google if "account" in call else slack
            found.setdefault(channel, []).append((call["at"], latency))
    return found


def longest_in_a_row(calls: Sequence[tuple[float, float]]) -> tuple[int, float]:
    """The run of `calls` (arrival, latency) each sent after an earlier one's answer that
    takes the most time: its calls and its time (the round trips one after another). A
    call is "after" another sent at least 90 % of that one's latency before it: the
    emulator answers `latency` after the arrival it records, give or take its clock."""
    ordered = sorted(calls)
    best: list[tuple[float, int]] = []  # per call: the most time of a run ending with it
    for at, latency in ordered:
        before = [
            run
            for run, (earlier, took) in zip(best, ordered, strict=False)
            if at - earlier >= 0.9 * took
        ]
        time, count = max(before, default=(0.0, 0))
        best.append((time + latency, count + 1))
    time, count = max(best, default=(0.0, 0))
    return count, time


def judge(
    options: Options,
    timed: Timed,
    arrivals: Arrivals,
    *,
    database: str,
    verified: int,
    slack: dict[str, int],
    google: dict[str, int],
) -> Result:
    at_once = options.google_at_once
    ideal = options.calendars * options.latency / at_once
    target = TIME_FACTOR_TARGET * ideal
    wall, start = timed.wall_s, timed.started_at
    cpu = timed.cpu_user_s + timed.cpu_system_s
    per_digest = cpu / timed.outcome.sent * 1000 if timed.outcome.sent else 0.0
    posted = [at - start for at in arrivals.posts] or [0.0]
    google_total = sum(google.values())
    runs = [longest_in_a_row(calls) for calls in arrivals.by_channel.values()] or [(0, 0.0)]
    in_a_row = [count for count, _ in runs]
    spans = [
        max(at + latency for at, latency in calls) - min(at for at, _ in calls)
        for calls in arrivals.by_channel.values()
    ] or [0.0]
    return Result(
        started=datetime.fromtimestamp(start, UTC).strftime("%Y-%m-%d %H:%M:%S UTC"),
        load_average=round(timed.load_average, 2),
        database=database,
        customers=options.customers,
        staff_per_customer=options.staff,
        latency_s=options.latency,
        slack_latency_s=options.slack_s,
        warm_directory=options.warm_directory,
        shared=options.shared,
        google_limit=CALLS_AT_ONCE,
        digest_concurrency=options.concurrency,
        digests_under_way=timed.under_way,
        google_at_once=at_once,
        google_bound=options.google_bound,
        sent=timed.outcome.sent,
        failed=timed.outcome.failed,
        verified=verified,
        wall_s=round(wall, 2),
        ideal_s=round(ideal, 2),
        target_s=round(target, 2),
        meets_time=wall <= target,
        calls_in_a_row=(
            round(percentile(in_a_row, 50)),
            round(percentile(in_a_row, 95)),
            max(in_a_row),
        ),
        digest_span_s=(
            round(percentile(spans, 50), 3),
            round(percentile(spans, 95), 3),
            round(max(spans), 3),
        ),
        latency_floor_s=round(sum(time for _, time in runs) / timed.under_way, 2),
        slack_calls=slack,
        slack_calls_per_s=round(sum(slack.get(m, 0) for m in SLACK_METHODS) / wall, 1),
        google_calls=google,
        google_calls_per_s=round(google_total / wall, 1),
        google_most_in_flight=(
            most_in_flight(arrivals.freebusy, options.latency) if options.latency > 0 else 0
        ),
        google_mean_in_flight=round(google_total * options.latency / wall, 1),
        first_call_s=round(min([arrivals.first_slack, *arrivals.freebusy]) - start, 3),
        last_post_s=round(max(posted), 2),
        digest_spread_s=(
            round(percentile(posted, 50), 2),
            round(percentile(posted, 95), 2),
            round(max(posted), 2),
        ),
        cpu_s=round(cpu, 2),
        cpu_user_s=round(timed.cpu_user_s, 2),
        cpu_system_s=round(timed.cpu_system_s, 2),
        cpu_per_digest_ms=round(per_digest, 2),
        meets_cpu=per_digest <= CPU_PER_DIGEST_TARGET_MS,
        profiled=options.profile_path is not None,
        emulator_cpu_s=round(timed.emulator_cpu_s, 2),
        rss_before_mb=timed.rss_before_mb,
        peak_before_run_mb=timed.peak_before_run_mb,
        peak_rss_mb=timed.peak_rss_mb,
        sampled_peak_mb=timed.sampled_peak_mb,
        peak_reset=timed.peak_reset,
        meets_memory=timed.peak_rss_mb < PEAK_RSS_TARGET_MB,
        loop_lag_p50_ms=timed.lag_ms[0],
        loop_lag_p99_ms=timed.lag_ms[1],
        loop_lag_max_ms=timed.lag_ms[2],
        gc_collections=len(timed.gc_pauses),
        gc_pause_s=round(sum(timed.gc_pauses), 3),
        gc_longest_ms=round(max(timed.gc_pauses, default=0.0) * 1000, 1),
        gc_by_generation=[(n, round(s, 3)) for n, s in timed.gc_by_generation],
        threads_after=timed.threads_after,
    )


def problems_with_calls(
    options: Options, outcome: RunResult, slack: dict[str, int], google: dict[str, int]
) -> list[str]:
    problems = []
    if outcome.sent != options.customers or outcome.failed:
        problems.append(
            f"run_due sent {outcome.sent} of {options.customers}, {outcome.failed} failed"
        )
    if google != {FREEBUSY_PATH: options.calendars}:
        problems.append(f"Google saw {google}, expected {FREEBUSY_PATH} {options.calendars}")
    if slack.get("chat.postMessage", 0) != options.customers:
        problems.append(f"Slack saw {slack}, expected {options.customers} chat.postMessage")
    return problems


@dataclass(frozen=True)
class Measured:
    result: Result
    events: int
    setup_s: float
    problems: list[str]


async def measure(options: Options, child: Child, ports: Ports, work: Path) -> Measured:
    channels = workspace(options)
    async with (
        aiohttp.ClientSession() as session,
        scratch_database(options.database_url, work) as database_url,
    ):
        await wait_ready(session, child)
        control = Control(session, f"http://{HOST}:{ports.control}")
        setup = time.perf_counter()
        await control.add_channels(channels)
        events = await control.add_calendars(calendars(channels, options.seed))
        accounts = await control.issue_tokens([staff_email(n) for n in range(options.calendars)])
        settings = Settings.from_env(bot_env(ports, work) | {"DATABASE_URL": database_url})
        services = await build_services(settings)
        try:
            await seed(
                services.engine, TokenCipher(settings.token_encryption_key), channels, accounts
            )
            del accounts  # the bot would not hold them: keep them out of its memory figures
            give_back_freed_memory()
            setup_s = time.perf_counter() - setup
            if options.warm_directory:
                await warm_directory(services, channels)
            await control.set_latency(options.latency, options.slack_s)
            before = await control.stats()
            freeze_start_up()  # as `app.py` does once the services are built
            timed = await timed_run(
                stopped_digests(services, options.concurrency, options.under_way),
                child.process.pid,
                options.profile_path,
            )
            after = await control.stats()
            problems = await problems_in_database(services.engine, options.customers)
        finally:
            await services.close()
        await control.set_latency(0)
        slack = calls_between(before["slack_api_calls"], after["slack_api_calls"])
        google = calls_between(before["google_paths"], after["google_paths"])
        problems = problems_with_calls(options, timed.outcome, slack, google) + problems
        start = timed.started_at
        slack_calls = await control.requests("slack", SLACK_PATHS, start)
        freebusy = await control.account_calls(f"^{FREEBUSY_PATH}$", start)
    posts = [r for r in slack_calls if r["path"] == "/api/chat.postMessage"]
    verified, wrong = problems_in_posts(posts, channels, options.seed)
    problems += wrong
    arrivals = Arrivals(
        freebusy=[r["at"] for r in freebusy],
        posts=[r["at"] for r in posts],
        first_slack=min((r["at"] for r in slack_calls), default=start),
        by_channel=calls_by_channel(
            channels, [*slack_calls, *freebusy], google=options.latency, slack=options.slack_s
        ),
    )
    del slack_calls, freebusy
    result = judge(
        options,
        timed,
        arrivals,
        database=make_url(database_url).get_backend_name(),
        verified=verified,
        slack=slack,
        google=google,
    )
    return Measured(result=result, events=events, setup_s=setup_s, problems=problems)


# --- the report -----------------------------------------------------------------------------


def pass_fail(value: bool) -> str:
    return "PASS" if value else "FAIL"


def table(r: Result) -> str:
    slack = ", ".join(f"{method} {n}" for method, n in r.slack_calls.items())
    google = ", ".join(f"{path} {n}" for path, n in r.google_calls.items())
    peak_how = "VmHWM, reset before the run" if r.peak_reset else "highest sample"
    p50, p95, last = r.digest_spread_s
    rows = [
        ("run started", f"{r.started} (load average {r.load_average:g})"),
        ("database", r.database),
        ("customers × staff", f"{r.customers} × {r.staff_per_customer}"),
        ("Google and Slack latency a call", f"{r.latency_s:g} s, {r.slack_latency_s:g} s"),
        (
            "the bot's Directory before the run",
            "knew everyone (second day)" if r.warm_directory else "empty (first run)",
        ),
        (
            "channels",
            "shared with each customer's organisation, an onboarder in each"
            if r.shared
            else "of the installing workspace only",
        ),
        ("digests reading calendars at once (Digests)", str(r.digest_concurrency)),
        ("digests under way at once", str(r.digests_under_way)),
        ("Google limit (CALLS_AT_ONCE)", str(r.google_limit)),
        ("Google calls in flight at most", f"{r.google_at_once}, bound by {r.google_bound}"),
        ("digests sent, failed", f"{r.sent}, {r.failed}"),
        ("digests verified against the calendars", str(r.verified)),
        ("wall time", f"{r.wall_s:g} s"),
        ("ideal: Google calls × latency ÷ in flight", f"{r.ideal_s:g} s"),
        (
            f"target: {TIME_FACTOR_TARGET:g} × ideal",
            f"{r.target_s:g} s: {pass_fail(r.meets_time)}",
        ),
        ("a digest's calls in a row (p50, p95, max)", "{}, {}, {}".format(*r.calls_in_a_row)),
        (
            "a digest's span, first call to post (p50, p95, max)",
            "{:g} s, {:g} s, {:g} s".format(*r.digest_span_s),
        ),
        ("Σ calls in a row × latency ÷ under way", f"{r.latency_floor_s:g} s"),
        (
            "CPU per digest",
            f"{r.cpu_per_digest_ms:g} ms (target ≤ {CPU_PER_DIGEST_TARGET_MS:g}): "
            f"{pass_fail(r.meets_cpu)}" + (" (under cProfile)" if r.profiled else ""),
        ),
        ("Slack calls", slack),
        ("Slack calls a second (the three above)", f"{r.slack_calls_per_s:g}"),
        ("Google calls", google),
        ("Google calls a second", f"{r.google_calls_per_s:g}"),
        (
            "Google calls in flight: mean, most",
            f"{r.google_mean_in_flight:g}, {r.google_most_in_flight}",
        ),
        ("first call after the start", f"{r.first_call_s * 1000:.0f} ms"),
        ("digests posted by (p50, p95, last)", f"{p50:g} s, {p95:g} s, {last:g} s"),
        (
            "CPU of this process in the run",
            f"{r.cpu_s:g} s (user {r.cpu_user_s:g}, system {r.cpu_system_s:g})",
        ),
        ("CPU of the emulators in the run", f"{r.emulator_cpu_s:g} s"),
        ("RSS before the run", f"{r.rss_before_mb:g} MB"),
        ("peak RSS before the run", f"{r.peak_before_run_mb:g} MB (start-up and seeding)"),
        ("peak RSS during the run", f"{r.peak_rss_mb:g} MB ({peak_how})"),
        ("highest sampled RSS", f"{r.sampled_peak_mb:g} MB"),
        (f"peak under {PEAK_RSS_TARGET_MB:g} MB", pass_fail(r.meets_memory)),
        (
            "event loop lag in the run",
            f"p50 {r.loop_lag_p50_ms:g} ms, p99 {r.loop_lag_p99_ms:g} ms, "
            f"max {r.loop_lag_max_ms:g} ms",
        ),
        (
            "garbage collections in the run",
            f"{r.gc_collections}, {r.gc_pause_s:g} s in all, the longest {r.gc_longest_ms:g} ms",
        ),
        (
            "  young, middle, full",
            ", ".join(f"{n} in {s:g} s" for n, s in r.gc_by_generation),
        ),
        ("threads after the run", str(r.threads_after)),
    ]
    width = max(len(name) for name, _ in rows)
    return "\n".join(f"{name:<{width}}  {value}" for name, value in rows)


def report(info: dict[str, Any], measured: Measured, options: Options) -> None:
    print(
        f"\n{options.customers} customers, {options.calendars} staff calendars "
        f"({measured.events} events seeded; seeding took {measured.setup_s:.1f} s)\n"
    )
    print(f"{table(measured.result)}\n")
    print(", ".join(f"{k}: {v}" for k, v in info.items()))
    for problem in measured.problems:
        print(f"PROBLEM: {problem}")
    if options.json_path is not None:
        figures = {
            "machine": info,
            "options": {
                "customers": options.customers,
                "staff": options.staff,
                "latency": options.latency,
                "slack_latency": options.slack_s,
                "warm_directory": options.warm_directory,
                "shared": options.shared,
                "concurrency": options.concurrency,
                "under_way": measured.result.digests_under_way,
                "seed": options.seed,
                "database": measured.result.database,
                "clock": CLOCK.isoformat(),
            },
            "events_seeded": measured.events,
            "setup_s": round(measured.setup_s, 2),
            "result": asdict(measured.result),
            "problems": measured.problems,
        }
        options.json_path.write_text(json.dumps(figures, indent=2, ensure_ascii=False) + "\n")


# --- running it -------------------------------------------------------------------------


def parse_options(argv: Sequence[str] | None) -> Options:
    parser = argparse.ArgumentParser(
        prog="python -m bench.digest_run",
        description="Wall time, CPU per digest, peak memory and Slack calls a second of one digest run.",
    )
    add = parser.add_argument
    add("--customers", type=int, default=10_000, help="customers, all due (10000)")
    add("--staff", type=int, default=10, help="staff with a connected calendar a customer (10)")
    add("--latency", type=float, default=0.05, help="seconds Slack and Google take a call (0.05)")
    add(
        "--slack-latency",
        type=float,
        default=None,
        metavar="S",
        help="seconds Slack takes a call, when not --latency",
    )
    add(
        "--concurrency",
        type=int,
        default=CONCURRENCY,
        help=f"digests reading their calendars at once (the bot's: {CONCURRENCY})",
    )
    add(
        "--under-way",
        type=int,
        default=None,
        metavar="N",
        help=f"digests under way at once (the bot's: {UNDER_WAY} × --concurrency)",
    )
    add("--seed", type=int, default=1, help="of the calendars' random events (1)")
    add(
        "--database-url",
        default=None,
        metavar="URL",
        help="a PostgreSQL server to create a scratch database on (default: SQLite)",
    )
    add(
        "--warm-directory",
        action="store_true",
        help="the bot knows every person and channel already, as on its second day (untimed)",
    )
    add(
        "--shared",
        action="store_true",
        help="each channel shared with its customer's organisation, an onboarder in it",
    )
    add("--json", type=Path, default=None, metavar="FILE", help="also write the figures here")
    add(
        "--profile",
        type=Path,
        default=None,
        metavar="FILE",
        help="diagnosis: run under cProfile and write its stats here (inflates the CPU)",
    )
    args = parser.parse_args(argv)
    under_way = 1 if args.under_way is None else args.under_way
    if min(args.customers, args.staff, args.concurrency, under_way) < 1:
        parser.error("--customers, --staff, --concurrency and --under-way must be ≥ 1")
    if args.latency < 0:
        parser.error("--latency must be ≥ 0")
    if args.slack_latency is not None and args.slack_latency < 0:
        parser.error("--slack-latency must be ≥ 0")
    if args.customers > 10_000 or args.customers * args.staff > 100_000:
        parser.error("at most 10,000 customers and 100,000 staff (the seeded ids' widths)")
    if args.database_url and make_url(args.database_url).get_backend_name() != "postgresql":
        parser.error("--database-url must be a postgresql:// URL")
    return Options(
        customers=args.customers,
        staff=args.staff,
        latency=args.latency,
        concurrency=args.concurrency,
        seed=args.seed,
        database_url=args.database_url,
        json_path=args.json,
        profile_path=args.profile,
        slack_latency=args.slack_latency,
        warm_directory=args.warm_directory,
        shared=args.shared,
        under_way=args.under_way,
    )


def main(argv: Sequence[str] | None = None) -> int:
    options = parse_options(argv)
    info = machine()  # before the load, so that the load average is the machine's own
    signal.signal(signal.SIGTERM, exit_on_sigterm)
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    with (
        tempfile.TemporaryDirectory(prefix="tonomo-bench-") as temp,
        emulators(Path(temp)) as (child, ports),
    ):
        try:
            measured = asyncio.run(measure(options, child, ports, Path(temp)))
        except (RuntimeError, aiohttp.ClientError) as err:
            print(f"digest_run: {err}", file=sys.stderr)
            return 1
        except KeyboardInterrupt:
            print("digest_run: interrupted", file=sys.stderr)
            return 130
    report(info, measured, options)
    return 1 if measured.problems else 0


if __name__ == "__main__":
    sys.exit(main())
