"""Fifty commands from ten channels while Slack, Google or the database misbehave.

    python -m bench.faults [--rounds 3] [--database-url postgresql://…] [--json FILE]

The issue's benchmark: 50 concurrent commands from 10 channels (5 each), in three runs
beside a run with no fault:

- **no fault**: the reference;
- **(a) Slack rate-limits one channel**: every `chat.postMessage` in the last channel is
  answered 429 `ratelimited` with `Retry-After: 30`. Target: the other nine channels'
  answers within 1.5 × the no-fault run's (p99 against p99, the same nine channels);
- **(b) one staff member's Google hangs for 20 s**: every Calendar API call of one
  person's account, a staff member in the first three channels, waits 20 s. Target:
  every answer that includes them arrives within `bot.calendar.port.READ_DEADLINE` (4 s) of its
  command, showing that calendar as not read in time, and every other answer within
  1.5 × the no-fault run's (p99 against p99, the same commands);
- **(c) the database gone for 10 s**: the bot's database refuses every connection for
  10 s (PostgreSQL: `ALTER DATABASE … ALLOW_CONNECTIONS false` and every backend of it
  terminated; SQLite: the file moved away and a directory put at its path), the 50
  commands sent half a second in. Targets: 100 % of acks within 3 s, each person told
  plainly ("I can't reach my records right now…"), and every periodic job running again
  within one period after the database returns. The outage is timed so that each job's
  next round falls inside it, and `/healthz` (each job's last successful round, its
  failures in a row) is polled through the outage until each job has completed a round
  after it.

Three processes on loopback, as for the other answer benchmarks: the Slack and Google
emulators (`bench.emulators`, whose control API sets the faults), the bot (`python
app.py`, configured from the environment like a deployment, SQLite in a temporary
directory or a scratch PostgreSQL database), and this one. Each channel has an owner (who
connects the primary calendar, an empty one) and `--staff` staff members, each with a
fortnight of busy time on their Google calendar; the slow staff member is in the first
three channels too. Everyone connects through the real flow (`/tonomo connect-calendar`,
the link in the bot's reply, Google's consent page, the bot's callback), and each owner
turns the scheduled digest off, so that every digest posted is one asked for.

A burst is one signed `/tonomo` command from each channel's owner for each of
`COMMANDS` (two `availability next week`, `status`, two `digest now`): 50, sent at once,
each built and signed before the clock starts. The ack is timed by this process (sending
to reading the whole HTTP response). The answer is timed from sending to its arrival at
the Slack emulator, by the emulator's clock: for `availability` and `status` the post to
the command's `response_url`; for `digest now` the digest accepted in the channel (a
post refused with 429 is not an answer), or a post to its `response_url` if that comes
first (an apology). Every answer is checked: availability a grid of the channel's staff
with every day known (except the slow person in (b), who must be shown as not read in
time), status the channel's connections, a digest naming the staff; in (c) each must be
the plain "can't reach my records" answer. A fast wrong answer cannot pass.

Each scenario runs `--rounds` bursts (after one untimed warm-up burst before the first),
the figures pooled; between rounds the fault is lifted and what it held back is drained,
so rounds are independent. (c) runs once, last.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import random
import re
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import asdict, dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlencode, urlsplit
from zoneinfo import ZoneInfo

import aiohttp
from sqlalchemy import text
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import create_async_engine

from bench.ack_latency import FORM, USER_AGENT, log_problems
from bench.answer_setup import ZONE, Control, grid_problems, staff_events
from bench.fleet import (
    HOST,
    REPO,
    SIGNING_SECRET,
    Child,
    Ports,
    base_env,
    bot_argv,
    bot_env,
    emulators_argv,
    exit_on_sigterm,
    free_port,
    start_child,
    stop_child,
    wait_ready,
)
from bench.health_checks import scratch_database
from bench.report import machine, percentile
from bot.calendar.port import READ_DEADLINE
from bot.scheduler import TICK_SECONDS
from handlers.work import NO_RECORDS
from sandbox.fake_google import approve_consent
from sandbox.fake_slack import button_urls, sign, text_of
from storage.db import async_url

COMMANDS = (
    "availability next week",
    "status",
    "digest now",
    "availability next week",
    "digest now",
)
DAYS = 5  # next week's working days, Monday to Friday (the grid shows working days only)
ACK_LIMIT_S = 3.0  # Slack's: an ack later than this is an error shown to the person
TARGET_RATIO = 1.5
RETRY_AFTER_S = 30
HANG_S = 20.0
OUTAGE_S = 10.0
SLOW_CHANNELS = 3  # the slow staff member is staff in the first three channels
SLOW_USER = "U0SLOWSTAFF"
SLOW_EMAIL = "slow.staff@bench.example"
NOT_READ = "wasn't read in time"
NO_RECORDS_START = NO_RECORDS.split(",")[0]  # "I can't reach my records right now"
DIGEST_TITLE = "Today's availability"
ANSWER_TIMEOUT_S = 40.0
SLOW_ANSWER_TIMEOUT_S = 3 * HANG_S + 10
ISSUE_BOUND_S = 5.0
"""The named bound for an answer that includes the slow person (the issue's "at most
5 s"): the calendar read's own deadline, `READ_DEADLINE` (4 s), plus the answer's work."""
SEND_TIMEOUT_S = 15.0
POLL_S = 0.2
SETTLE_S = 1.0
HEALTH_POLL_S = 0.5
EARLY_S = 2.0  # the outage starts this long before the periodic jobs' next round
BURST_DELAY_S = 0.5  # the commands are sent this long into the outage


def channel_id(index: int) -> str:
    return f"C0FAULT{index:02d}"


def name_of(user: str) -> str:
    """A person's Slack handle: `owner00`, `staff001`, `slowstaff`."""
    return user.removeprefix("U0").lower()


def owner_of(channel: str) -> str:
    return "U0OWNER" + channel.removeprefix("C0FAULT")


def staff_of(channel: str, staff: int) -> list[tuple[str, str, str]]:
    """(Slack id, name, Google account) of each staff member of the channel."""
    number = channel.removeprefix("C0FAULT")
    people = [
        (f"U0STAFF{number}{j}", f"staff{number}{j}", f"staff{number}{j}@bench.example")
        for j in range(1, staff + 1)
    ]
    if int(number) < SLOW_CHANNELS:
        people.append((SLOW_USER, name_of(SLOW_USER), SLOW_EMAIL))
    return people


def includes_slow(channel: str) -> bool:
    return int(channel.removeprefix("C0FAULT")) < SLOW_CHANNELS


@dataclass(frozen=True)
class Options:
    channels: int
    staff: int
    rounds: int
    latency: float
    seed: int
    database_url: str | None
    json_path: Path | None

    @property
    def limited_channel(self) -> str:
        return channel_id(self.channels - 1)


# --- the processes --------------------------------------------------------------------------


@dataclass(frozen=True)
class Processes:
    emulators: Child
    bot: Child
    ports: Ports
    database_url: str

    @property
    def control_url(self) -> str:
        return f"http://{HOST}:{self.ports.control}"

    @property
    def events_url(self) -> str:
        return f"http://{HOST}:{self.ports.bot}/slack/events"

    @property
    def health_url(self) -> str:
        return f"http://{HOST}:{self.ports.bot}/healthz"


def start_processes(stack: contextlib.ExitStack, work: Path, database_url: str) -> Processes:
    """The emulators and the bot; each is stopped when `stack` closes, whatever happened."""
    ports = Ports(*(free_port() for _ in range(5)))  # the floor's port is not served

    def start(name: str, argv: list[str], env: dict[str, str], cwd: Path, port: int) -> Child:
        health_url = f"http://{HOST}:{port}/healthz"
        child = start_child(name, argv, env, cwd=cwd, logs=work, health_url=health_url)
        stack.callback(stop_child, child)
        return child

    env = bot_env(ports, work) | {"DATABASE_URL": database_url}
    return Processes(
        emulators=start(
            "emulators", emulators_argv(ports, channels=0, users=0), base_env(), REPO, ports.control
        ),
        # From the temporary directory, so no developer's .env is read.
        bot=start("bot", bot_argv(), env, work, ports.bot),
        ports=ports,
        database_url=database_url,
    )


@dataclass(frozen=True)
class FaultControl(Control):
    """The emulators' control API, with the fault switches."""

    async def commands(self, wanted: list[dict[str, str]]) -> list[dict[str, str]]:
        """The form fields of each `{"channel_id", "user_id", "text"}`, as Slack posts them."""
        body = {"commands": wanted}
        async with self.session.post(f"{self.url}/slash-commands", json=body) as answer:
            answer.raise_for_status()
            fields: list[dict[str, str]] = (await answer.json())["commands"]
            return fields

    async def add_channels(self, channels: list[dict[str, Any]]) -> None:
        async with self.session.post(
            f"{self.url}/slack/channels", json={"channels": channels}
        ) as answer:
            answer.raise_for_status()

    async def rate_limit(self, channel: str, retry_after: int) -> None:
        """Every `chat.postMessage` in `channel` answered 429, as Slack does."""
        fault = {
            "path_pattern": "^/api/chat.postMessage$",
            "status": 429,
            "body": {"ok": False, "error": "ratelimited"},
            "headers": {"Retry-After": str(retry_after)},
            "body_contains": channel,
        }
        async with self.session.post(f"{self.url}/slack/faults", json=fault) as answer:
            answer.raise_for_status()

    async def clear_faults(self, emulator: str) -> None:
        body = {"emulator": emulator}
        async with self.session.post(f"{self.url}/faults/clear", json=body) as answer:
            answer.raise_for_status()

    async def account_latency(self, email: str, seconds: float) -> None:
        body = {"accounts": {email: seconds}}
        async with self.session.post(f"{self.url}/google/account-latency", json=body) as answer:
            answer.raise_for_status()

    async def messages(self, channels: list[str], since: float) -> dict[str, list[dict[str, Any]]]:
        query = {"channels": ",".join(channels), "since": repr(since)}
        async with self.session.get(f"{self.url}/slack/messages", params=query) as answer:
            answer.raise_for_status()
            found: dict[str, list[dict[str, Any]]] = (await answer.json())["messages"]
            return found


# --- talking to the bot -----------------------------------------------------------------------


@dataclass(frozen=True)
class Prepared:
    channel: str
    user: str
    text: str
    body: bytes
    headers: dict[str, str]
    response_path: str

    @classmethod
    def of(cls, fields: dict[str, str]) -> Prepared:
        body = urlencode(fields)
        headers = {"Content-Type": FORM, "User-Agent": USER_AGENT, **sign(SIGNING_SECRET, body)}
        return cls(
            channel=fields["channel_id"],
            user=fields["user_id"],
            text=fields["text"],
            body=body.encode(),
            headers=headers,
            response_path=urlsplit(fields["response_url"]).path,
        )


@dataclass(frozen=True)
class Sent:
    command: Prepared
    at: float
    """When it was sent, `time.time()`: the emulators' clock too."""
    ack_s: float
    """Sending to reading the whole response; infinite when none came."""
    status: int


@dataclass
class Bot:
    session: aiohttp.ClientSession
    control: FaultControl
    processes: Processes

    async def prepare(self, wanted: list[tuple[str, str, str]]) -> list[Prepared]:
        fields = await self.control.commands(
            [{"channel_id": c, "user_id": u, "text": t} for c, u, t in wanted]
        )
        # The person's own handle, as Slack sends it (the emulator's is for its own people).
        return [Prepared.of(f | {"user_name": name_of(f["user_id"])}) for f in fields]

    async def send(self, command: Prepared) -> Sent:
        at, start = time.time(), time.perf_counter()
        try:
            async with self.session.post(
                self.processes.events_url,
                data=command.body,
                headers=command.headers,
                timeout=aiohttp.ClientTimeout(total=SEND_TIMEOUT_S),
            ) as response:
                await response.read()
                return Sent(command, at, time.perf_counter() - start, response.status)
        except (aiohttp.ClientError, TimeoutError):
            return Sent(command, at, float("inf"), 0)

    async def reply(self, sent: Sent) -> dict[str, Any]:
        path = f"^{re.escape(sent.command.response_path)}$"
        found = await self.control.requests("slack", path, sent.at, wait=ANSWER_TIMEOUT_S)
        if not found:
            raise RuntimeError(
                f"no reply to `{sent.command.text}` in {sent.command.channel} within "
                f"{ANSWER_TIMEOUT_S:.0f} s:\n{self.processes.bot.log_tail()}"
            )
        return found[0]

    async def command(self, channel: str, user: str, text: str) -> dict[str, Any]:
        """`/tonomo text` from `user` in `channel`, and its reply."""
        (prepared,) = await self.prepare([(channel, user, text)])
        sent = await self.send(prepared)
        if sent.status != 200:
            raise RuntimeError(f"the bot answered {sent.status} to `{text}` in {channel}")
        return await self.reply(sent)

    async def connect(self, channel: str, user: str, email: str, *, primary: bool) -> None:
        """The connect flow: the link in the bot's reply, Google's consent, the callback."""
        text = "connect-calendar primary" if primary else "connect-calendar"
        reply = json.loads((await self.command(channel, user, text))["body"])
        urls = button_urls(reply.get("blocks") or [])
        if len(urls) != 1:
            raise RuntimeError(f"expected one link in the reply to {user} in {channel}: {urls}")
        location = await approve_consent(urls[0], email=email)
        async with self.session.get(location) as page:
            if page.status != 200:
                raise RuntimeError(f"the callback for {email} answered {page.status}")

    async def healthz(self) -> dict[str, Any]:
        async with self.session.get(self.processes.health_url) as answer:
            found: dict[str, Any] = await answer.json()
            return found


# --- the customers ------------------------------------------------------------------------------


def channels_and_calendars(options: Options) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    zone = ZoneInfo(ZONE)
    yesterday = datetime.now(zone).date() - timedelta(days=1)
    channels: list[dict[str, Any]] = []
    calendars: list[dict[str, Any]] = []
    emails: set[str] = set()
    for index in range(options.channels):
        channel = channel_id(index)
        owner = owner_of(channel)
        members: list[dict[str, str]] = [{"id": owner, "name": name_of(owner), "tz": ZONE}]
        calendars.append(
            {"email": f"{owner.lower()}@bench.example", "time_zone": ZONE, "events": []}
        )
        for user, name, email in staff_of(channel, options.staff):
            members.append({"id": user, "name": name, "tz": ZONE})
            if email not in emails:
                emails.add(email)
                rng = random.Random(f"{options.seed}:{email}")
                events = staff_events(rng, yesterday, zone)
                calendars.append({"email": email, "time_zone": ZONE, "events": events})
        channels.append({"id": channel, "name": f"customer-{index:02d}", "members": members})
    return channels, calendars


async def set_up(bot: Bot, options: Options) -> None:
    channels, calendars = channels_and_calendars(options)
    await bot.control.add_channels(channels)
    await bot.control.add_calendars(calendars)

    async def customer(channel: str) -> None:
        owner = owner_of(channel)
        await bot.connect(channel, owner, f"{owner.lower()}@bench.example", primary=True)
        for user, _name, email in staff_of(channel, options.staff):
            await bot.connect(channel, user, email, primary=False)
        await bot.command(channel, owner, "digest off")

    await asyncio.gather(*(customer(channel_id(i)) for i in range(options.channels)))


# --- one burst --------------------------------------------------------------------------------


@dataclass(frozen=True)
class Answered:
    channel: str
    text: str
    ack_s: float
    ack_status: int
    answer_s: float | None
    """From sending to the answer's arrival; None when none came in time."""
    answer_text: str


@dataclass
class Burst:
    scenario: str
    round: int
    commands: list[Answered]
    problems: list[str] = field(default_factory=list)


async def collect(
    bot: Bot,
    sent: list[Sent],
    since: float,
    *,
    needed: Callable[[Sent], bool],
    within: float,
) -> dict[int, tuple[float, str]]:
    """Each command's answer (by its index in `sent`): its arrival and what it says. Waits
    until every command `needed` says must be answered is, or for `within` seconds."""
    channels = sorted({s.command.channel for s in sent})
    deadline = time.monotonic() + within
    while True:
        found: dict[int, tuple[float, str]] = {}
        responses: dict[str, dict[str, Any]] = {}
        for request in await bot.control.requests("slack", "^/response/", since):
            responses.setdefault(str(request["path"]), request)
        posted = await bot.control.messages(channels, since)
        for channel in channels:
            mine = [i for i, s in enumerate(sent) if s.command.channel == channel]
            digests_waiting = []
            for i in mine:
                response = responses.get(sent[i].command.response_path)
                if response is not None:
                    message = json.loads(response["body"])
                    found[i] = (float(response["at"]), text_of(message))
                elif sent[i].command.text == "digest now":
                    digests_waiting.append(i)
            digests = [m for m in posted[channel] if text_of(m).startswith(DIGEST_TITLE)]
            # The channel's digests, in the order they were accepted, answer the `digest
            # now`s that have no other answer, in the order they were sent.
            digests_waiting.sort(key=lambda i: sent[i].at)
            for i, message in zip(digests_waiting, digests, strict=False):
                found[i] = (float(message["ts"]), text_of(message))
        missing = [i for i, s in enumerate(sent) if needed(s) and i not in found]
        if not missing or time.monotonic() > deadline:
            return found
        await asyncio.sleep(POLL_S)


def burst_commands(options: Options) -> list[tuple[str, str, str]]:
    return [
        (channel_id(i), owner_of(channel_id(i)), text)
        for i in range(options.channels)
        for text in COMMANDS
    ]


async def send_burst(bot: Bot, options: Options) -> tuple[list[Sent], float]:
    prepared = await bot.prepare(burst_commands(options))
    start = time.time()
    sent = await asyncio.gather(*(bot.send(p) for p in prepared))
    return list(sent), start


def answered(sent: list[Sent], found: dict[int, tuple[float, str]]) -> list[Answered]:
    result = []
    for i, s in enumerate(sent):
        answer = found.get(i)
        result.append(
            Answered(
                channel=s.command.channel,
                text=s.command.text,
                ack_s=s.ack_s,
                ack_status=s.status,
                answer_s=None if answer is None else answer[0] - s.at,
                answer_text="" if answer is None else answer[1],
            )
        )
    return result


def answer_problems(
    command: Answered, options: Options, *, slow_hangs: bool = False, records_down: bool = False
) -> list[str]:
    """What is wrong with an answer, for the scenario it was given in."""
    where = f"{command.channel} `{command.text}`"
    if command.ack_status != 200:
        return [f"{where}: ack {command.ack_status or 'none'}"]
    if command.answer_s is None:
        return [f"{where}: no answer"]
    said = command.answer_text
    if records_down:
        return [] if NO_RECORDS_START in said else [f"{where}: not told plainly: {said[:120]!r}"]
    staff = staff_of(command.channel, options.staff)
    slow_here = slow_hangs and includes_slow(command.channel)
    names = [name for user, name, _e in staff if not (slow_here and user == SLOW_USER)]
    problems = []
    if command.text.startswith("availability"):
        message = {"text": said}
        problems += [f"{where}: {p}" for p in grid_problems(message, names, DAYS)]
    elif command.text == "status":
        if "calendar connection(s) working" not in said:
            problems.append(f"{where}: not a status: {said[:120]!r}")
    elif not said.startswith(DIGEST_TITLE):
        problems.append(f"{where}: not a digest: {said[:120]!r}")
    else:
        missing = [user for user, _n, _e in staff if f"<@{user}>" not in said]
        if missing:
            problems.append(f"{where}: the digest leaves out {missing}")
    if slow_here and command.text != "status" and NOT_READ not in said:
        problems.append(f"{where}: the slow calendar is not shown as not read in time")
    return problems


# --- the scenarios ---------------------------------------------------------------------------


@dataclass
class Runner:
    bot: Bot
    options: Options
    bursts: list[Burst] = field(default_factory=list)

    async def plain(self, scenario: str, round_number: int) -> Burst:
        sent, start = await send_burst(self.bot, self.options)
        found = await collect(self.bot, sent, start, needed=lambda _s: True, within=30.0)
        burst = Burst(scenario, round_number, answered(sent, found))
        for command in burst.commands:
            burst.problems += answer_problems(command, self.options)
        return burst

    async def rate_limited(self, round_number: int) -> Burst:
        limited = self.options.limited_channel
        await self.bot.control.rate_limit(limited, RETRY_AFTER_S)
        try:
            sent, start = await send_burst(self.bot, self.options)
            others = await collect(
                self.bot,
                sent,
                start,
                needed=lambda s: s.command.channel != limited,
                within=30.0,
            )
        finally:
            await self.bot.control.clear_faults("slack")
        # What the limit held back: sent once Retry-After has passed.
        found = await collect(
            self.bot, sent, start, needed=lambda _s: True, within=3 * RETRY_AFTER_S + 10
        )
        found.update(others)
        burst = Burst("rate limit", round_number, answered(sent, found))
        for command in burst.commands:
            burst.problems += answer_problems(command, self.options)
        return burst

    async def slow_google(self, round_number: int) -> Burst:
        await self.bot.control.account_latency(SLOW_EMAIL, HANG_S)
        try:
            sent, start = await send_burst(self.bot, self.options)
            # `status` may wait out the Google client's own timeouts and retries: see them.
            found = await collect(
                self.bot, sent, start, needed=lambda _s: True, within=SLOW_ANSWER_TIMEOUT_S
            )
        finally:
            await self.bot.control.clear_faults("google")
        burst = Burst("slow Google", round_number, answered(sent, found))
        for command in burst.commands:
            burst.problems += answer_problems(command, self.options, slow_hangs=True)
        # The emulator's hung calls end HANG_S after they arrived: let them, before the next.
        await asyncio.sleep(max(0.0, start + HANG_S + SETTLE_S - time.time()))
        return burst

    async def run(self) -> None:
        await self.plain("warm-up", 0)
        await asyncio.sleep(SETTLE_S)
        for number in range(1, self.options.rounds + 1):
            self.bursts.append(await self.plain("no fault", number))
            await asyncio.sleep(SETTLE_S)
        for number in range(1, self.options.rounds + 1):
            self.bursts.append(await self.rate_limited(number))
            await asyncio.sleep(SETTLE_S)
        for number in range(1, self.options.rounds + 1):
            self.bursts.append(await self.slow_google(number))
            await asyncio.sleep(SETTLE_S)


# --- (c) the database gone ----------------------------------------------------------------------


@contextlib.asynccontextmanager
async def database_gone(database_url: str, server_url: str | None) -> AsyncIterator[None]:
    """The bot's database refuses every connection until the block ends."""
    url = make_url(database_url)
    if url.get_backend_name() == "sqlite":
        path = Path(url.database or "")
        moved = [p for p in (path, Path(f"{path}-wal"), Path(f"{path}-shm")) if p.exists()]
        for p in moved:
            os.rename(p, f"{p}.away")
        os.mkdir(path)  # a directory where the file was: SQLite can't open it
        try:
            yield
        finally:
            os.rmdir(path)
            for p in moved:
                os.rename(f"{p}.away", p)
        return
    if server_url is None:
        raise RuntimeError("a PostgreSQL database needs its server's URL")
    admin = create_async_engine(async_url(server_url), isolation_level="AUTOCOMMIT")
    name = url.database
    try:
        async with admin.connect() as connection:
            await connection.execute(text(f'ALTER DATABASE "{name}" ALLOW_CONNECTIONS false'))
            await connection.execute(
                text(
                    "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                    "WHERE datname = :name AND pid <> pg_backend_pid()"
                ),
                {"name": name},
            )
            try:
                yield
            finally:
                await connection.execute(text(f'ALTER DATABASE "{name}" ALLOW_CONNECTIONS true'))
    finally:
        await admin.dispose()


@dataclass
class JobRecovery:
    name: str
    period_s: float
    failures_seen: int
    """The most failed rounds in a row `/healthz` reported during and after the outage."""
    errors_seen: list[str]
    back_after_s: float | None
    """From the database's return to the end of the job's next successful round."""
    within_one_period: bool


@dataclass
class Outage:
    burst: Burst
    outage_s: float
    started_before_round_s: float
    jobs: list[JobRecovery]
    healthz_statuses: dict[str, int]
    """`/healthz`'s answers during the watch, by its `status` field."""


def parse_moment(value: str | None) -> float | None:
    return None if value is None else datetime.fromisoformat(value).timestamp()


async def next_round(bot: Bot) -> tuple[float, dict[str, float]]:
    """When the periodic jobs' next round starts (epoch s), and each job's period."""
    jobs: dict[str, Any] = (await bot.healthz())["jobs"]
    if not jobs:
        raise RuntimeError("/healthz reports no periodic job: nothing to watch")
    periods = {name: float(job["period_seconds"]) for name, job in jobs.items()}
    nexts = []
    for name, job in jobs.items():
        last = parse_moment(job["last_success"])
        if last is None:
            raise RuntimeError(f"periodic job {name} has not completed a round yet")
        nexts.append(last + periods[name])
    return min(nexts), periods


async def database_outage(bot: Bot, options: Options) -> Outage:
    upcoming, periods = await next_round(bot)
    start_at = upcoming - EARLY_S
    while start_at < time.time() + SETTLE_S:  # too close: the round after
        start_at += min(periods.values())
    round_at = start_at + EARLY_S
    await asyncio.sleep(start_at - time.time())
    seen: dict[str, int] = dict.fromkeys(periods, 0)
    errors: dict[str, set[str]] = {name: set() for name in periods}
    statuses: dict[str, int] = {}
    back = float("inf")
    recovered: dict[str, float] = {}

    async def watch() -> None:
        limit = time.time() + OUTAGE_S + 2.5 * max(periods.values())
        while time.time() < limit:
            with contextlib.suppress(aiohttp.ClientError, TimeoutError, ValueError):
                report = await bot.healthz()
                statuses[str(report.get("status"))] = statuses.get(str(report.get("status")), 0) + 1
                for name, job in report["jobs"].items():
                    seen[name] = max(seen[name], int(job["failures_in_a_row"]))
                    if job["last_error"]:
                        errors[name].add(str(job["last_error"]))
                    last = parse_moment(job["last_success"])
                    if last is not None and last > back and name not in recovered:
                        recovered[name] = last
                if len(recovered) == len(periods):
                    return
            await asyncio.sleep(HEALTH_POLL_S)

    watcher = asyncio.create_task(watch())
    began = time.time()
    async with database_gone(bot.processes.database_url, options.database_url):
        await asyncio.sleep(BURST_DELAY_S)
        sent, start = await send_burst(bot, options)
        found = await collect(
            bot,
            sent,
            start,
            needed=lambda _s: True,
            within=max(0.0, began + OUTAGE_S - time.time()),
        )
        await asyncio.sleep(max(0.0, began + OUTAGE_S - time.time()))
    back = time.time()
    # Answers that came after the database was back are the bot's answers too.
    found.update(
        {
            i: answer
            for i, answer in (
                await collect(bot, sent, start, needed=lambda _s: True, within=ANSWER_TIMEOUT_S)
            ).items()
            if i not in found
        }
    )
    await watcher
    burst = Burst("database gone", 1, answered(sent, found))
    for command in burst.commands:
        burst.problems += answer_problems(command, options, records_down=True)
    jobs = []
    for name, period in periods.items():
        after = recovered.get(name)
        back_after = None if after is None else round(after - back, 2)
        jobs.append(
            JobRecovery(
                name=name,
                period_s=period,
                failures_seen=seen[name],
                errors_seen=sorted(errors[name]),
                back_after_s=back_after,
                within_one_period=back_after is not None and back_after <= period,
            )
        )
    return Outage(
        burst=burst,
        outage_s=round(back - began, 2),
        started_before_round_s=round(round_at - began, 2),
        jobs=jobs,
        healthz_statuses=statuses,
    )


# --- the figures ------------------------------------------------------------------------------


@dataclass
class Figures:
    scenario: str
    commands: int
    acks_within_3s: int
    ack_p50_ms: float
    ack_p99_ms: float
    ack_max_ms: float
    answered: int
    answer_p50_s: float | None
    answer_p99_s: float | None
    answer_max_s: float | None
    per_channel: dict[str, list[float | None]]
    """Each channel's answers: p50, max (s)."""


def seconds(values: Sequence[float], p: float) -> float | None:
    return round(percentile(values, p), 3) if values else None


def figures(scenario: str, commands: list[Answered]) -> Figures:
    acks = [c.ack_s for c in commands]
    done = [c.answer_s for c in commands if c.answer_s is not None]
    per_channel = {}
    for channel in sorted({c.channel for c in commands}):
        mine = [c.answer_s for c in commands if c.channel == channel and c.answer_s is not None]
        per_channel[channel] = [seconds(mine, 50), round(max(mine), 3) if mine else None]
    return Figures(
        scenario=scenario,
        commands=len(commands),
        acks_within_3s=sum(a <= ACK_LIMIT_S for a in acks),
        ack_p50_ms=round(percentile(acks, 50) * 1000, 1),
        ack_p99_ms=round(percentile(acks, 99) * 1000, 1),
        ack_max_ms=round(max(acks) * 1000, 1),
        answered=len(done),
        answer_p50_s=seconds(done, 50),
        answer_p99_s=seconds(done, 99),
        answer_max_s=round(max(done), 3) if done else None,
        per_channel=per_channel,
    )


@dataclass
class Check:
    what: str
    measured: str
    target: str
    met: bool


def p99(commands: list[Answered], keep: Callable[[Answered], bool]) -> float | None:
    return seconds([c.answer_s for c in commands if keep(c) and c.answer_s is not None], 99)


def ratio_check(
    what: str, fault: list[Answered], reference: list[Answered], keep: Callable[[Answered], bool]
) -> Check:
    mine, theirs = p99(fault, keep), p99(reference, keep)
    unanswered = sum(c.answer_s is None for c in fault if keep(c))
    if mine is None or theirs is None or unanswered:
        return Check(what, f"{unanswered} unanswered", f"≤ {TARGET_RATIO} × no fault", False)
    ratio = round(mine / theirs, 2)
    return Check(
        what,
        f"p99 {mine:.2f} s against {theirs:.2f} s: {ratio:g} ×",
        f"≤ {TARGET_RATIO:g} ×",
        ratio <= TARGET_RATIO,
    )


def checks(bursts: list[Burst], outage: Outage, options: Options) -> list[Check]:
    def of(scenario: str) -> list[Answered]:
        return [c for b in bursts if b.scenario == scenario for c in b.commands]

    reference, limited = of("no fault"), options.limited_channel
    slow = of("slow Google")
    with_slow = [c for c in slow if includes_slow(c.channel)]
    times = [float("inf") if c.answer_s is None else c.answer_s for c in with_slow]
    latest = max(times, default=float("inf"))
    in_deadline = sum(t <= READ_DEADLINE for t in times)
    in_bound = sum(t <= ISSUE_BOUND_S for t in times)
    gone = outage.burst.commands
    acks_ok = sum(c.ack_s <= ACK_LIMIT_S for c in gone)
    plain = sum(NO_RECORDS_START in c.answer_text for c in gone)
    found = [
        ratio_check(
            "(a) the other nine channels' answers",
            of("rate limit"),
            reference,
            lambda c: c.channel != limited,
        ),
        Check(
            "(b) answers that include the slow person",
            f"{in_deadline} of {len(times)} within {READ_DEADLINE:g} s, {in_bound} within "
            f"{ISSUE_BOUND_S:g} s; latest {latest:.2f} s",
            f"≤ {ISSUE_BOUND_S:g} s (the read's own deadline is READ_DEADLINE, "
            f"{READ_DEADLINE:g} s)",
            latest <= ISSUE_BOUND_S,
        ),
        ratio_check(
            "(b) every other answer", slow, reference, lambda c: not includes_slow(c.channel)
        ),
        Check(
            "(c) acks within 3 s",
            f"{acks_ok} of {len(gone)}",
            "100 %",
            acks_ok == len(gone),
        ),
        Check(
            '(c) told plainly ("I can\'t reach my records…")',
            f"{plain} of {len(gone)}",
            "every one",
            plain == len(gone),
        ),
    ]
    for job in outage.jobs:
        measured = "no round after" if job.back_after_s is None else f"{job.back_after_s:.1f} s"
        found.append(
            Check(
                f"(c) periodic job {job.name} again ({job.failures_seen} failed round(s) seen)",
                measured,
                f"≤ one period, {job.period_s:g} s",
                job.within_one_period,
            )
        )
    return found


# --- the report -----------------------------------------------------------------------------


def figures_table(rows: list[Figures]) -> str:
    def shown(value: float | None, unit: str = "s") -> str:
        return "–" if value is None else f"{value:.2f} {unit}"

    lines = [
        "| run | commands | acks within 3 s | ack p50 / p99 / max ms | answered | "
        "answer p50 / p99 / max |",
        "| --- | --- | --- | --- | --- | --- |",
    ]
    for f in rows:
        lines.append(
            f"| {f.scenario} | {f.commands} | {f.acks_within_3s} "
            f"({100 * f.acks_within_3s / f.commands:.0f} %) | {f.ack_p50_ms:g} / "
            f"{f.ack_p99_ms:g} / {f.ack_max_ms:g} | {f.answered} | {shown(f.answer_p50_s)} / "
            f"{shown(f.answer_p99_s)} / {shown(f.answer_max_s)} |"
        )
    return "\n".join(lines)


def channel_table(rows: list[Figures]) -> str:
    lines = [
        "| channel | " + " | ".join(f.scenario for f in rows) + " |",
        "| --- |" + " --- |" * len(rows),
    ]
    for channel in rows[0].per_channel:
        cells = []
        for f in rows:
            p50, most = f.per_channel.get(channel, [None, None])
            cells.append("–" if p50 is None or most is None else f"{p50:.2f} / {most:.2f}")
        lines.append(f"| {channel} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def check_table(found: list[Check]) -> str:
    lines = ["| target | measured | allowed | met? |", "| --- | --- | --- | --- |"]
    for c in found:
        lines.append(f"| {c.what} | {c.measured} | {c.target} | {'yes' if c.met else 'NO'} |")
    return "\n".join(lines)


@dataclass(frozen=True)
class Measured:
    bursts: list[Burst]
    outage: Outage
    rows: list[Figures]
    checks: list[Check]
    setup_s: float


KEPT_TEXT = 200  # characters of each answer kept in the JSON


def shortened(burst: dict[str, Any]) -> dict[str, Any]:
    for command in burst["commands"]:
        command["answer_text"] = command["answer_text"][:KEPT_TEXT]
    return burst


def report(
    info: dict[str, Any], measured: Measured, bot_problems: list[str], options: Options
) -> None:
    database = "SQLite" if options.database_url is None else "PostgreSQL"
    print(
        f"\n{database}; {options.channels} channels × {len(COMMANDS)} commands at once, "
        f"{options.staff} staff each (+ the slow one in {SLOW_CHANNELS}), Google "
        f"{options.latency:g} s a call, {options.rounds} round(s) a scenario; set-up took "
        f"{measured.setup_s:.1f} s\n"
    )
    print(figures_table(measured.rows) + "\n")
    print("answer p50 / max (s) by channel:\n")
    print(channel_table(measured.rows) + "\n")
    print(check_table(measured.checks) + "\n")
    outage = measured.outage
    print(
        f"(c) the database was gone {outage.outage_s:g} s, from {outage.started_before_round_s:g} s "
        f"before the jobs' next round; /healthz said {outage.healthz_statuses}"
    )
    for job in outage.jobs:
        print(f"    {job.name}: errors seen {job.errors_seen or 'none'}")
    print(", ".join(f"{k}: {v}" for k, v in info.items()))
    problems = [p for b in [*measured.bursts, outage.burst] for p in b.problems]
    for problem in sorted(set(problems))[:30]:
        print(f"PROBLEM: {problem}")
    if bot_problems:
        print(
            f"\nthe bot logged {len(bot_problems)} warnings or errors; the first: {bot_problems[0]}"
        )
    if options.json_path is not None:
        body = {
            "machine": info,
            "options": {k: v for k, v in asdict(options).items() if k != "json_path"},
            "read_deadline_s": READ_DEADLINE,
            "job_period_s": TICK_SECONDS,
            "figures": [asdict(r) for r in measured.rows],
            "checks": [asdict(c) for c in measured.checks],
            "outage": {k: v for k, v in asdict(outage).items() if k != "burst"},
            "bursts": [shortened(asdict(b)) for b in [*measured.bursts, outage.burst]],
            "bot_log_problems": bot_problems[:20],
        }
        options.json_path.write_text(json.dumps(body, indent=2, ensure_ascii=False) + "\n")


# --- running it -----------------------------------------------------------------------------


async def measure(processes: Processes, options: Options) -> Measured:
    connector = aiohttp.TCPConnector(limit=len(COMMANDS) * options.channels + 20)
    async with aiohttp.ClientSession(connector=connector) as session:
        for child in (processes.emulators, processes.bot):
            await wait_ready(session, child)
        control = FaultControl(session, processes.control_url)
        bot = Bot(session=session, control=control, processes=processes)
        started = time.perf_counter()
        await set_up(bot, options)
        setup_s = time.perf_counter() - started
        await control.set_google_latency(options.latency)
        runner = Runner(bot=bot, options=options)
        await runner.run()
        outage = await database_outage(bot, options)
    scenarios = ("no fault", "rate limit", "slow Google")
    rows = [
        figures(s, [c for b in runner.bursts if b.scenario == s for c in b.commands])
        for s in scenarios
    ]
    rows.append(figures("database gone", outage.burst.commands))
    return Measured(
        bursts=runner.bursts,
        outage=outage,
        rows=rows,
        checks=checks(runner.bursts, outage, options),
        setup_s=setup_s,
    )


def parse_options(argv: Sequence[str] | None) -> Options:
    parser = argparse.ArgumentParser(
        prog="python -m bench.faults",
        description="50 commands from 10 channels, beside Slack, Google and the database failing.",
    )
    add = parser.add_argument
    add("--channels", type=int, default=10, help="channels, 5 commands each (10)")
    add("--staff", type=int, default=3, help="staff with a connected calendar a channel (3)")
    add("--rounds", type=int, default=3, help="bursts a scenario, (c) apart (3)")
    add("--latency", type=float, default=0.1, help="seconds Google takes per call (0.1)")
    add("--seed", type=int, default=1, help="of the calendars' random events (1)")
    add("--database-url", default=None, help="a PostgreSQL server for a scratch database")
    add("--json", type=Path, default=None, metavar="FILE", help="also write the figures here")
    args = parser.parse_args(argv)
    if args.channels <= SLOW_CHANNELS or min(args.staff, args.rounds) < 1:
        parser.error(f"--channels must be > {SLOW_CHANNELS}, --staff and --rounds ≥ 1")
    return Options(
        channels=args.channels,
        staff=args.staff,
        rounds=args.rounds,
        latency=args.latency,
        seed=args.seed,
        database_url=args.database_url,
        json_path=args.json,
    )


async def with_database(options: Options, work: Path) -> tuple[Measured, list[str]]:
    async with scratch_database(options.database_url, work) as database_url:
        with contextlib.ExitStack() as stack:
            processes = start_processes(stack, work, database_url)
            try:
                measured = await measure(processes, options)
            finally:
                stop_child(processes.bot)  # before its database is dropped
            return measured, log_problems(processes.bot)


def main(argv: Sequence[str] | None = None) -> int:
    options = parse_options(argv)
    info = machine()  # before the load, so that the load average is the machine's own
    info["commit"] = subprocess.run(  # noqa: S603 - our own repository
        ["git", "-C", str(REPO), "rev-parse", "--short", "HEAD"],  # noqa: S607
        capture_output=True,
        text=True,
        check=False,
    ).stdout.strip()
    signal.signal(signal.SIGTERM, exit_on_sigterm)
    with tempfile.TemporaryDirectory(prefix="tonomo-bench-") as temp:
        try:
            measured, bot_problems = asyncio.run(with_database(options, Path(temp)))
        except (RuntimeError, aiohttp.ClientError) as err:
            print(f"faults: {err}", file=sys.stderr)
            return 1
        except KeyboardInterrupt:
            print("faults: interrupted", file=sys.stderr)
            return 130
    report(info, measured, bot_problems, options)
    return 0 if all(c.met for c in measured.checks) else 1


if __name__ == "__main__":
    sys.exit(main())
