"""The set-up shared by the benchmarks that time the bot's answers to `availability`.

`bench.availability_answer` (one owner asking, one at a time) and `bench.mention_answer`
(50 asking at once, through both doors) both run the emulators and the real bot
(`start_processes`), talk to the emulators' control API (`Control`), seed the staff's
Google calendars with a fortnight of busy time (`staff_calendars`) and check every answer
they time (`grid_problems`): a fast wrong answer cannot pass.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import random
import signal
import sys
import tempfile
from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any, TypeVar
from zoneinfo import ZoneInfo

import aiohttp

from bench.ack_latency import log_problems
from bench.emulators import TIMEZONES, channel_id
from bench.fleet import (
    HOST,
    REPO,
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
)
from sandbox.fake_slack import text_of

T = TypeVar("T")

ZONE = TIMEZONES[0]  # the customer's Slack timezone; the calendars' too
CHANNEL = channel_id(0)
FREEBUSY_PATH = "/calendar/v3/freeBusy"
REPLY_TIMEOUT_S = 30.0

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
class Processes:
    emulators: Child
    bot: Child
    ports: Ports

    @property
    def control_url(self) -> str:
        return f"http://{HOST}:{self.ports.control}"

    @property
    def events_url(self) -> str:
        return f"http://{HOST}:{self.ports.bot}/slack/events"


def run_on_processes(
    name: str, *, users: int, measure: Callable[[Processes], Coroutine[Any, Any, T]]
) -> tuple[T, list[str]] | int:
    """Start the emulators and the bot in a scratch folder, run `measure` against them,
    and stop them whatever happened: what it measured and the problems the bot logged, or
    the exit code when it could not finish (said in one line on stderr)."""
    signal.signal(signal.SIGTERM, exit_on_sigterm)
    with (
        tempfile.TemporaryDirectory(prefix="tonomo-bench-") as temp,
        contextlib.ExitStack() as stack,
    ):
        processes = start_processes(stack, Path(temp), users=users)
        try:
            measured = asyncio.run(measure(processes))
        except (RuntimeError, aiohttp.ClientError) as err:
            print(f"{name}: {err}", file=sys.stderr)
            return 1
        except KeyboardInterrupt:
            print(f"{name}: interrupted", file=sys.stderr)
            return 130
        return measured, log_problems(processes.bot)


def start_processes(stack: contextlib.ExitStack, work: Path, *, users: int) -> Processes:
    """The emulators and the bot; each is stopped when `stack` closes, whatever happened."""
    # The floor's port is not served: these benchmarks have no floor.
    ports = Ports(*(free_port() for _ in range(5)))

    def start(name: str, argv: list[str], env: dict[str, str], cwd: Path, port: int) -> Child:
        health_url = f"http://{HOST}:{port}/healthz"
        child = start_child(name, argv, env, cwd=cwd, logs=work, health_url=health_url)
        stack.callback(stop_child, child)
        return child

    return Processes(
        emulators=start(
            "emulators",
            emulators_argv(ports, channels=1, users=users),
            base_env(),
            REPO,
            ports.control,
        ),
        # From the temporary directory, so no developer's .env is read.
        bot=start("bot", bot_argv(), bot_env(ports, work), work, ports.bot),
        ports=ports,
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
