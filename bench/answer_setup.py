"""The set-up shared by the benchmarks that time the bot's answers.

`bench.availability_answer` (one owner asking, one at a time), `bench.mention_answer`
(50 asking at once, through both doors) and `bench.scheduling_answer` (`why` and `book
anyone`) run the emulators and the real bot (`run_on_processes`, on SQLite or a scratch
PostgreSQL database), talk to the emulators' control API (`Control`), seed the staff's
Google calendars with a fortnight of busy time (`staff_calendars`) and check every answer
they time (`grid_problems` for a grid): a fast wrong answer cannot pass. The owner's
benchmarks send signed commands and read their answers through `Bot`, connect everyone
through the real flow (`connect_everyone`), and split an answer's time around its Google
calls (`google_split`), with fresh and expired tokens (`SCENARIOS`). Every one signs its requests as Slack does (`signed`), follows a
sign-in link through Google's consent to the bot's callback (`sign_in`), and ends its
report with a table (`aligned`) and what went wrong (`print_problems`).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import random
import re
import signal
import sys
import tempfile
import time
from collections.abc import Callable, Coroutine, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import urlencode, urlsplit
from zoneinfo import ZoneInfo

import aiohttp

from bench.ack_latency import FORM, USER_AGENT, log_problems
from bench.emulators import TIMEZONES, channel_id, user_id
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
from bench.report import percentile
from sandbox.fake_google import approve_consent
from sandbox.fake_slack import button_urls, sign, text_of

T = TypeVar("T")

ZONE = TIMEZONES[0]  # the customer's Slack timezone; the calendars' too
CHANNEL = channel_id(0)
FREEBUSY_PATH = "/calendar/v3/freeBusy"
REPLY_TIMEOUT_S = 30.0
OWNER = user_id(0)
OWNER_EMAIL = "bookings@bench.example"
EXPIRED_LIFETIME_S = 120  # under google-auth's 3 min 45 s margin: expired on arrival
CALENDARS_AT_ONCE = 100  # seeded accounts per request to the control API

SEEDED_DAYS = 16  # from yesterday: this week and next week, whatever today is
SUMMARIES = (
    "Shoot: 14 Oak St",
    "Shoot: 220 Harbor Rd",
    "Twilight shoot: 9 Pine Ave",
    "Drone: 31 Lake View Dr",
    "Floor plan: 7 Elm Ct",
    "Client walkthrough",
    "Editing",
    "Travel",
)


# --- the processes --------------------------------------------------------------------------


@dataclass(frozen=True)
class Scenario:
    """The staff's Google tokens while answers are timed."""

    name: str
    expired_tokens: bool
    """Before each ask, every access token is expired and new ones are issued for 2
    minutes, which the bot reads as expired already."""
    calls_each: int
    """Google calls each of the bot's calls to Google takes, one after the other (with
    expired tokens, a refresh first)."""


SCENARIOS = (
    Scenario("fresh tokens", expired_tokens=False, calls_each=1),
    Scenario("expired tokens", expired_tokens=True, calls_each=2),
)


@dataclass(frozen=True)
class Processes:
    emulators: Child
    bot: Child
    ports: Ports
    database_url: str = ""
    """The bot's `DATABASE_URL`."""

    @property
    def control_url(self) -> str:
        return f"http://{HOST}:{self.ports.control}"

    @property
    def events_url(self) -> str:
        return f"http://{HOST}:{self.ports.bot}/slack/events"


def run_on_processes(
    name: str,
    *,
    users: int,
    measure: Callable[[Processes], Coroutine[Any, Any, T]],
    database_server: str | None = None,
) -> tuple[T, list[str]] | int:
    """Start the emulators and the bot in a scratch folder, run `measure` against them,
    and stop them whatever happened: what it measured and the problems the bot logged, or
    the exit code when it could not finish (said in one line on stderr). The bot's database
    is SQLite in that folder or, with `database_server` (a PostgreSQL URL), a scratch
    database created there and dropped afterwards."""
    signal.signal(signal.SIGTERM, exit_on_sigterm)
    with tempfile.TemporaryDirectory(prefix="tonomo-bench-") as temp:
        try:
            return asyncio.run(_measure_on(Path(temp), users, database_server, measure))
        except (RuntimeError, aiohttp.ClientError) as err:
            print(f"{name}: {err}", file=sys.stderr)
            return 1
        except KeyboardInterrupt:
            print(f"{name}: interrupted", file=sys.stderr)
            return 130


async def _measure_on(
    work: Path,
    users: int,
    database_server: str | None,
    measure: Callable[[Processes], Coroutine[Any, Any, T]],
) -> tuple[T, list[str]]:
    async with scratch_database(database_server, work) as database_url:
        with contextlib.ExitStack() as stack:
            processes = start_processes(stack, work, users=users, database_url=database_url)
            try:
                measured = await measure(processes)
                problems = log_problems(processes.bot)
            finally:
                stop_child(processes.bot)  # before its database is dropped
            return measured, problems


def start_processes(
    stack: contextlib.ExitStack, work: Path, *, users: int, database_url: str | None = None
) -> Processes:
    """The emulators and the bot (on `database_url`, by default SQLite in `work`); each is
    stopped when `stack` closes, whatever happened."""
    # The floor's port is not served: these benchmarks have no floor.
    ports = Ports(*(free_port() for _ in range(5)))

    def start(name: str, argv: list[str], env: dict[str, str], cwd: Path, port: int) -> Child:
        health_url = f"http://{HOST}:{port}/healthz"
        child = start_child(name, argv, env, cwd=cwd, logs=work, health_url=health_url)
        stack.callback(stop_child, child)
        return child

    env = bot_env(ports, work)
    if database_url is not None:
        env["DATABASE_URL"] = database_url
    return Processes(
        emulators=start(
            "emulators",
            emulators_argv(ports, channels=1, users=users),
            base_env(),
            REPO,
            ports.control,
        ),
        # From the temporary directory, so no developer's .env is read.
        bot=start("bot", bot_argv(), env, work, ports.bot),
        ports=ports,
        database_url=env["DATABASE_URL"],
    )


@dataclass(frozen=True)
class Control:
    """The emulators' control API."""

    session: aiohttp.ClientSession
    url: str

    async def slash_command(self, user: str, text: str) -> dict[str, str]:
        """The form fields Slack would post for `/tonomo text`, with a response_url it accepts."""
        return (await self.slash_commands([user], text))[0]

    async def slash_commands(self, users: list[str], text: str) -> list[dict[str, str]]:
        """`slash_command` for each of `users`, in one request."""
        wanted = {"commands": [{"channel_id": CHANNEL, "user_id": u, "text": text} for u in users]}
        async with self.session.post(f"{self.url}/slash-commands", json=wanted) as answer:
            answer.raise_for_status()
            fields: list[dict[str, str]] = (await answer.json())["commands"]
            return fields

    async def mentions(self, users: list[str], text: str) -> list[str]:
        """Each of `users` posts `@Tonomo text` in the channel: the body of the app_mention
        event Slack delivers for each, for the benchmark to sign and send itself."""
        wanted = {"mentions": [{"channel_id": CHANNEL, "user_id": u, "text": text} for u in users]}
        async with self.session.post(f"{self.url}/mentions", json=wanted) as answer:
            answer.raise_for_status()
            return [str(m["body"]) for m in (await answer.json())["mentions"]]

    async def add_channel(self, channel: dict[str, Any], teams: list[dict[str, str]]) -> None:
        """The channel, with its members (of the installing workspace or of `teams`)."""
        body = {"teams": teams, "channels": [channel]}
        async with self.session.post(f"{self.url}/slack/channels", json=body) as answer:
            answer.raise_for_status()

    async def stats(self) -> dict[str, Any]:
        """The emulators' request counts (`GET /stats`)."""
        async with self.session.get(f"{self.url}/stats") as answer:
            answer.raise_for_status()
            found: dict[str, Any] = await answer.json()
            return found

    async def set_google_latency(self, seconds: float) -> None:
        async with self.session.post(f"{self.url}/latency", json={"google": seconds}) as answer:
            answer.raise_for_status()

    async def add_calendars(self, accounts: list[dict[str, Any]]) -> int:
        """Google accounts with their events; how many events."""
        body = {"accounts": accounts}
        async with self.session.post(f"{self.url}/google/calendars", json=body) as answer:
            answer.raise_for_status()
            return int((await answer.json())["events"])

    async def expire_google_tokens(self, lifetime: int) -> None:
        body = {"lifetime": lifetime}
        async with self.session.post(f"{self.url}/google/expire-tokens", json=body) as answer:
            answer.raise_for_status()

    async def requests(
        self, emulator: str, path: str, since: float, wait: float = 0.0
    ) -> list[dict[str, Any]]:
        """What the emulator received at or after `since` (epoch s) on matching paths."""
        query = {"emulator": emulator, "path": path, "since": repr(since), "wait": str(wait)}
        async with self.session.get(f"{self.url}/requests", params=query) as answer:
            answer.raise_for_status()
            found: list[dict[str, Any]] = (await answer.json())["requests"]
            return found


# --- talking to the bot -------------------------------------------------------------------


async def ready_control(session: aiohttp.ClientSession, processes: Processes) -> Control:
    """The emulators' control API, once the emulators and the bot both answer."""
    for child in (processes.emulators, processes.bot):
        await wait_ready(session, child)
    return Control(session, processes.control_url)


def signed(body: str, content_type: str) -> dict[str, str]:
    """The headers of a request to the bot as Slack sends it, signed."""
    return {"Content-Type": content_type, "User-Agent": USER_AGENT, **sign(SIGNING_SECRET, body)}


async def sign_in(
    session: aiohttp.ClientSession, message: dict[str, Any], user: str, email: str
) -> None:
    """The one sign-in link in the bot's `message` to `user`: Google's consent as `email`,
    then the bot's callback, which must answer 200."""
    urls = button_urls(message.get("blocks") or [])
    if len(urls) != 1:
        raise RuntimeError(f"expected one link in the answer to {user}, got {urls}")
    location = await approve_consent(urls[0], email=email)
    async with session.get(location) as page:
        if page.status != 200:
            raise RuntimeError(f"the callback for {email} answered {page.status}")


@dataclass(frozen=True)
class Sent:
    fields: dict[str, str]
    at: float
    """When it was sent, `time.time()`: the emulators' clock too."""
    ack_s: float
    ack: str

    @property
    def response_path(self) -> str:
        return urlsplit(self.fields["response_url"]).path


@dataclass
class Bot:
    session: aiohttp.ClientSession
    control: Control
    processes: Processes

    async def send(self, user: str, text: str) -> Sent:
        """A signed `/tonomo text` from `user`, built and signed before the clock starts."""
        fields = await self.control.slash_command(user, text)
        body = urlencode(fields)
        headers = signed(body, FORM)
        at, start = time.time(), time.perf_counter()
        async with self.session.post(
            self.processes.events_url, data=body.encode(), headers=headers
        ) as response:
            ack = await response.text()
            ack_s = time.perf_counter() - start
            if response.status != 200:
                raise RuntimeError(f"the bot answered {response.status} to `{text}`: {ack}")
        return Sent(fields=fields, at=at, ack_s=ack_s, ack=ack)

    async def reply(self, sent: Sent) -> dict[str, Any]:
        """The post to the command's response_url: method, path, at (epoch s), body."""
        path = f"^{re.escape(sent.response_path)}$"
        found = await self.control.requests("slack", path, sent.at, wait=REPLY_TIMEOUT_S)
        if not found:
            raise RuntimeError(
                f"no reply to `{sent.fields['text']}` within {REPLY_TIMEOUT_S:.0f} s:\n"
                f"{self.processes.bot.log_tail()}"
            )
        return found[0]

    async def connect(self, user: str, email: str, *, primary: bool = False) -> None:
        """The connect flow: the link in the bot's reply, Google's consent, the callback."""
        sent = await self.send(user, "connect-calendar primary" if primary else "connect-calendar")
        reply = json.loads((await self.reply(sent))["body"])
        await sign_in(self.session, reply, user, email)


async def connect_everyone(bot: Bot, *, staff: int, seed: int) -> int:
    """The owner's primary calendar (empty) and staff members 1 to `staff`'s (busy) seeded,
    then everyone connected through the real flow, the owner's primary calendar first; how
    many events were seeded. The channel's daily digest is turned off first: due at 07:00
    in the customer's zone, it would otherwise be sent in the middle of a run started after
    that hour, its Google calls and CPU counted against the answers measured."""
    await bot.reply(await bot.send(OWNER, "digest off"))
    owner = {"email": OWNER_EMAIL, "time_zone": ZONE, "events": []}
    accounts = [owner, *staff_calendars(staff, seed)]
    events = 0
    for first in range(0, len(accounts), CALENDARS_AT_ONCE):  # under the control API's 1 MiB
        events += await bot.control.add_calendars(accounts[first : first + CALENDARS_AT_ONCE])
    await bot.connect(OWNER, OWNER_EMAIL, primary=True)
    for number in range(1, staff + 1):
        await bot.connect(user_id(number), staff_email(number))
    return events


@dataclass(frozen=True)
class GoogleSplit:
    """An answer's time around the Google calls it made."""

    before_s: float
    """From sending the command to the first Google call's arrival."""
    google_s: float
    """From the first Google call's arrival to the last one's answer (arrival + latency)."""
    after_s: float
    """From the last Google call's answer to the answer's arrival."""
    calls: dict[str, int]
    """By path."""


def google_split(
    google: Sequence[dict[str, Any]], sent_at: float, arrived: float, latency: float
) -> GoogleSplit | None:
    """The split of an answer sent at `sent_at` that arrived at `arrived`, from the Google
    requests (`Control.requests`) between them; None if there were none."""
    if not google:
        return None
    first = min(r["at"] for r in google)
    answered = max(r["at"] for r in google) + latency
    calls: dict[str, int] = {}
    for r in google:
        calls[r["path"]] = calls.get(r["path"], 0) + 1
    return GoogleSplit(
        before_s=first - sent_at,
        google_s=answered - first,
        after_s=arrived - answered,
        calls=dict(sorted(calls.items())),
    )


# --- the calendars ------------------------------------------------------------------------


def staff_email(number: int) -> str:
    return f"photographer{number:02d}@bench.example"


def staff_events(rng: random.Random, first: date, zone: ZoneInfo) -> list[dict[str, str]]:
    """A photographer's fortnight: 2–4 events a working day, some all-day, some marked free."""
    events: list[dict[str, str]] = []

    def timed(day: date, minutes_after_8: int, length: int, transparency: str) -> None:
        start = datetime.combine(day, datetime.min.time(), zone) + timedelta(
            hours=8, minutes=minutes_after_8
        )
        events.append(
            {
                "start": start.isoformat(),
                "end": (start + timedelta(minutes=length)).isoformat(),
                "summary": rng.choice(SUMMARIES),
                "transparency": transparency,
            }
        )

    def all_day(day: date, summary: str, transparency: str) -> None:
        end = day + timedelta(days=1)
        events.append(
            {
                "start": day.isoformat(),
                "end": end.isoformat(),
                "summary": summary,
                "transparency": transparency,
            }
        )

    for offset in range(SEEDED_DAYS):
        day = first + timedelta(days=offset)
        if day.weekday() >= 5:
            if rng.random() < 0.2:  # a weekend shoot now and then
                timed(day, 120, rng.choice((60, 120, 180)), "opaque")
            continue
        if rng.random() < 0.07:
            all_day(day, "Out of office", "opaque")
        if rng.random() < 0.1:
            all_day(day, "Reminder: invoices", "transparent")
        for _ in range(rng.randint(2, 4)):
            transparency = "transparent" if rng.random() < 0.15 else "opaque"
            timed(day, 15 * rng.randrange(40), rng.choice((30, 45, 60, 90, 120, 180)), transparency)
    return events


def staff_calendars(staff: int, seed: int) -> list[dict[str, Any]]:
    """Staff members 1 to `staff`'s Google accounts, each with a fortnight of busy time."""
    zone = ZoneInfo(ZONE)
    yesterday = datetime.now(zone).date() - timedelta(days=1)
    accounts: list[dict[str, Any]] = []
    for number in range(1, staff + 1):
        rng = random.Random(f"{seed}:{staff_email(number)}")
        events = staff_events(rng, yesterday, zone)
        accounts.append({"email": staff_email(number), "time_zone": ZONE, "events": events})
    return accounts


def add_calendar_options(parser: argparse.ArgumentParser, *, staff: int) -> None:
    """The options both benchmarks take: the staff, Google's latency, the seed, the JSON."""
    add = parser.add_argument
    add("--staff", type=int, default=staff, help=f"staff with a connected calendar ({staff})")
    add("--latency", type=float, default=0.15, help="seconds Google takes per call (0.15)")
    add("--seed", type=int, default=1, help="of the calendars' random events (1)")
    add("--json", type=Path, default=None, metavar="FILE", help="also write the figures here")


# --- the answers ---------------------------------------------------------------------------


def grid_problems(message: dict[str, Any], names: list[str], days: int) -> list[str]:
    """What is wrong with an answer that should show every name in `names` over `days` days."""
    text = text_of(message)
    if not text.startswith("Availability"):
        return [f"the answer is not an availability grid: {text[:200]!r}"]
    rows: dict[str, list[str]] = {}
    for line in text.splitlines():
        words = line.strip("`").split()
        if words and words[0] in names:
            rows[words[0]] = words[1:]
    problems = []
    missing = [n for n in names if n not in rows]
    if missing:
        problems.append(f"{len(missing)} staff missing from the grid, first {missing[:3]}")
    short = [n for n, cells in rows.items() if len(cells) != days]
    if short:
        problems.append(f"{len(short)} rows without {days} cells, first {short[:3]}")
    unknown = [n for n, cells in rows.items() if "?" in cells]
    if unknown:
        problems.append(f"{len(unknown)} staff unknown (`?`), first {unknown[:3]}")
    return problems


def most_in_flight(arrivals: list[float], latency: float) -> int:
    ordered = sorted(arrivals)
    most, first = 0, 0
    for last, at in enumerate(ordered):
        while ordered[first] <= at - latency:
            first += 1
        most = max(most, last - first + 1)
    return most


def thread_count(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("Threads:"):
            return int(line.split()[1])
    return 0


# --- the report ----------------------------------------------------------------------------


def ms(values: Sequence[float], p: float) -> float:
    return round(percentile(values, p) * 1000, 1)


def yes_no(value: bool) -> str:
    return "yes" if value else "NO"


def calls_shown(calls: dict[str, list[int]]) -> str:
    """Google calls by path, each the fewest and the most one answer made."""
    parts = []
    for path, (fewest, most) in calls.items():
        count = str(fewest) if fewest == most else f"{fewest}–{most}"
        parts.append(f"{path.removeprefix('/calendar/v3')} {count}")
    return ", ".join(parts) or "none"


def aligned(rows: Sequence[Sequence[str]]) -> str:
    """A report's table: each column as wide as its widest cell."""
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    return "\n".join(
        "  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip() for row in rows
    )


def print_problems(info: dict[str, Any], problems: list[str], bot_problems: list[str]) -> None:
    """A report's last lines: the machine, each problem found in the answers, and the first
    warning or error the bot logged."""
    print(", ".join(f"{k}: {v}" for k, v in info.items()))
    for problem in problems:
        print(f"PROBLEM: {problem}")
    if bot_problems:
        print(
            f"\nthe bot logged {len(bot_problems)} warnings or errors; the first:\n{bot_problems[0]}"
        )
