"""Ack latency and resident memory of the bot under concurrent signed slash commands.

    python -m bench.ack_latency [--requests 1000] [--concurrency 50] [--rounds 3] [--json FILE]

Four processes on loopback: the Slack and Google emulators (`bench.emulators`), the bot
(`python app.py`, configured from the environment like a deployment, SQLite in a temporary
directory), the framework's floor (`bench.floor_app`: a Bolt `AsyncApp` that only acks,
served the same way), and this one, the load generator.

Scenarios: the floor; `/tonomo help` (answered in the ack itself); `/tonomo
connect-calendar` (acked at once, then database work and a reply to the `response_url`)
with the Google emulator answering at once, and again with `--google-latency` seconds
added to every Google call; then, Google still that slow, `/tonomo availability next
week` and `/tonomo status`, which call Google after the ack (every staff calendar's
free/busy; every connection checked): before the first round, `--calendars` staff
members of each channel and its owner (the primary calendar) connect their calendars
through the real flow, so that each of those commands makes that many Google calls. Each
round runs every scenario in turn, so that drift on a busy machine touches the floor and
the bot alike; the figures pool all rounds.

Each scenario sends `--warmup` untimed requests, then `--requests` timed ones with
`--concurrency` in flight, each timed from sending it to reading the whole HTTP response
(the ack). Requests are built and signed beforehand, so only the HTTP exchange is timed.
Before the next scenario, every reply the bot owes must have reached the Slack emulator,
so one scenario's background work never slows the next. The bot's VmRSS is read from
/proc when idle after start-up and after each scenario of the first round and each round.

For diagnosis: `--rate N` also paces the requests (at most N a second), to tell a backlog
the bot cannot keep up with from what one command costs; `--bot-gc off|freeze` runs the
bot with Python's cyclic garbage collector off or frozen after its imports; `--profile
FILE` runs it under cProfile.

The bot's Bolt app answers each ack as soon as its listener returns
(`process_before_response=True`). The floor is Bolt as it comes, which looks for the ack
every 10 ms, unless `--ack-inline` builds it as the bot's is: the floor can be measured
both ways.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import gc
import json
import os
import random
import re
import signal
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence
from dataclasses import asdict, dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlencode, urlsplit
from zoneinfo import ZoneInfo

import aiohttp

from bench.emulators import channel_id, user_id
from bench.fleet import (
    BOT_GC_MODES,
    SIGNING_SECRET,
    Child,
    Fleet,
    RssSample,
    bot_argv,
    cpu_seconds,
    exit_on_sigterm,
    read_rss,
    start_fleet,
    wait_ready,
)
from bench.report import machine, percentile
from sandbox.fake_google import approve_consent
from sandbox.fake_slack import button_urls, sign

FORM = "application/x-www-form-urlencoded"
USER_AGENT = "Slackbot 1.0 (+https://api.slack.com/robots)"
ACK_TIMEOUT = 3.0  # Slack gives up on an ack after 3 seconds
FLOOR_RATIO_TARGET = 1.5
P99_TARGET_MS = 100.0
RSS_TARGET_MB = 150.0
FLOOR_INLINE_ENV = "FLOOR_PROCESS_BEFORE_RESPONSE"


@dataclass(frozen=True)
class Options:
    requests: int
    concurrency: int
    rounds: int
    rate: float | None
    warmup: int
    google_latency: float
    channels: int
    users: int
    calendars: int
    drain_timeout: float
    json_path: Path | None
    profile: Path | None
    bot_gc: str
    ack_inline: bool = False


# --- the load ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Scenario:
    name: str
    target: str  # "bot" or "floor"
    text: str
    google_latency: float
    follow_ups: bool  # does the bot post to the response_url after the ack?


@dataclass(frozen=True)
class SignedRequest:
    body: bytes
    headers: dict[str, str]


@dataclass
class Samples:
    """What the rounds of one scenario measured, pooled."""

    times: list[float] = field(default_factory=list)
    round_p99_ms: list[float] = field(default_factory=list)
    failures: int = 0
    rounds: int = 0
    replies_done: float = 0.0  # seconds from the first request to the last reply, summed
    cpu: float = 0.0  # the server's CPU seconds, summed
    google_calls: int = 0  # requests the Google emulator received, summed


def scenarios(options: Options) -> list[Scenario]:
    slow = options.google_latency
    return [
        Scenario("floor: Bolt ack only", "floor", "help", 0.0, follow_ups=False),
        Scenario("help", "bot", "help", 0.0, follow_ups=False),
        Scenario("connect-calendar", "bot", "connect-calendar", 0.0, follow_ups=True),
        Scenario(f"connect-calendar, Google +{slow:g} s", "bot", "connect-calendar", slow, True),
        # These two call Google after the ack (with calendars connected).
        Scenario(f"availability, Google +{slow:g} s", "bot", "availability next week", slow, True),
        Scenario(f"status, Google +{slow:g} s", "bot", "status", slow, True),
    ]


async def build_requests(
    session: aiohttp.ClientSession, control_url: str, text: str, count: int, options: Options
) -> list[SignedRequest]:
    """`count` slash commands, spread over the seeded channels and people, signed now."""
    wanted = [
        {
            "channel_id": channel_id(i % options.channels),
            "user_id": user_id(i % options.users),
            "text": text,
        }
        for i in range(count)
    ]
    async with session.post(f"{control_url}/slash-commands", json={"commands": wanted}) as answer:
        answer.raise_for_status()
        commands: list[dict[str, str]] = (await answer.json())["commands"]
    requests = []
    for fields in commands:
        body = urlencode(fields)
        headers = {"Content-Type": FORM, "User-Agent": USER_AGENT, **sign(SIGNING_SECRET, body)}
        requests.append(SignedRequest(body.encode(), headers))
    return requests


async def send_all(
    session: aiohttp.ClientSession,
    url: str,
    requests: list[SignedRequest],
    concurrency: int,
    rate: float | None = None,
) -> tuple[list[float], int]:
    """Send with `concurrency` in flight: each one's seconds to its whole response, and failures.

    Each request goes as soon as an earlier one is answered, or with `rate`, also no
    sooner than its turn at `rate` a second. A request that fails, or is not answered
    200 within Slack's 3 s, counts as a failure; its time is the time it took to fail.
    """
    pending: Iterator[tuple[int, SignedRequest]] = enumerate(requests)
    times: list[float] = []
    failures = 0
    timeout = aiohttp.ClientTimeout(total=ACK_TIMEOUT)
    began = time.perf_counter()

    async def worker() -> None:
        nonlocal failures
        for index, request in pending:
            if rate is not None:
                await asyncio.sleep(max(0.0, began + index / rate - time.perf_counter()))
            start = time.perf_counter()
            ok = False
            with contextlib.suppress(aiohttp.ClientError, TimeoutError):
                async with session.post(
                    url, data=request.body, headers=request.headers, timeout=timeout
                ) as response:
                    await response.read()
                    ok = response.status == 200
            times.append(time.perf_counter() - start)
            failures += not ok

    await asyncio.gather(*(worker() for _ in range(concurrency)))
    return times, failures


@contextlib.contextmanager
def collector_paused() -> Iterator[None]:
    """This process's cyclic garbage collector off for the block, as `timeit` does."""
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


@dataclass
class Runner:
    """Runs scenarios against the fleet, keeping count of what the bot has been sent."""

    session: aiohttp.ClientSession
    fleet: Fleet
    options: Options
    bot_commands: int = 0
    replies_owed: int = 0
    rss: list[RssSample] = field(default_factory=list)

    async def set_google_latency(self, seconds: float) -> None:
        url = f"{self.fleet.control_url}/latency"
        async with self.session.post(url, json={"google": seconds}) as answer:
            answer.raise_for_status()

    async def emulator_stats(self) -> dict[str, Any]:
        """Requests each emulator received; of Slack's, the response_url posts and API calls."""
        async with self.session.get(f"{self.fleet.control_url}/stats") as answer:
            answer.raise_for_status()
            stats: dict[str, Any] = await answer.json()
            return stats

    async def replies_received(self) -> int:
        return int((await self.emulator_stats())["responses"])

    async def drain(self) -> None:
        """Wait until the Slack emulator has every response_url post the bot owes."""
        deadline = time.monotonic() + self.options.drain_timeout
        while (received := await self.replies_received()) < self.replies_owed:
            if time.monotonic() > deadline:
                raise RuntimeError(
                    f"the bot posted {received} of {self.replies_owed} replies within "
                    f"{self.options.drain_timeout:.0f} s:\n{self.fleet.bot.log_tail()}"
                )
            await asyncio.sleep(0.02)

    async def send(self, scenario: Scenario, count: int) -> tuple[list[float], int]:
        requests = await build_requests(
            self.session, self.fleet.control_url, scenario.text, count, self.options
        )
        url = self.fleet.events_url(scenario.target)
        if scenario.target == "bot":
            self.bot_commands += count
            self.replies_owed += count if scenario.follow_ups else 0
        with collector_paused():  # the load generator's own GC pauses would count as latency
            return await send_all(
                self.session, url, requests, self.options.concurrency, self.options.rate
            )

    async def run(self, scenario: Scenario, samples: Samples) -> None:
        await self.set_google_latency(scenario.google_latency)
        if self.options.warmup:
            await self.send(scenario, self.options.warmup)
            await self.drain()
        pid = self.fleet.server(scenario.target).process.pid
        google_before = (await self.emulator_stats())["google_requests"]
        cpu_before, start = cpu_seconds(pid), time.perf_counter()
        times, failures = await self.send(scenario, self.options.requests)
        await self.drain()
        samples.replies_done += time.perf_counter() - start
        samples.cpu += cpu_seconds(pid) - cpu_before
        samples.google_calls += (await self.emulator_stats())["google_requests"] - google_before
        samples.times += times
        samples.round_p99_ms.append(round(percentile(times, 99) * 1000, 1))
        samples.failures += failures
        samples.rounds += 1

    def sample_rss(self, moment: str) -> None:
        self.rss.append(read_rss(self.fleet.bot.process.pid, moment, self.bot_commands))

    async def connect_calendars(self) -> int:
        """In each channel its owner (the first person) connects the primary calendar and
        the next `--calendars` people their own, through the real flow, Google answering at
        once; each staff calendar has a fortnight of busy time. How many connected."""
        # answer_setup imports this module: imported here, once both are loaded.
        from bench.answer_setup import ZONE, staff_events

        zone = ZoneInfo(ZONE)
        yesterday = datetime.now(zone).date() - timedelta(days=1)
        plan = []
        for channel in range(self.options.channels):
            plan.append((channel, 0, f"bookings.c{channel:02d}@bench.example", True))
            for number in range(1, self.options.calendars + 1):
                email = f"photographer{number:02d}.c{channel:02d}@bench.example"
                plan.append((channel, number, email, False))
        accounts = [
            {
                "email": email,
                "time_zone": ZONE,
                "events": [] if primary else staff_events(random.Random(email), yesterday, zone),
            }
            for _, _, email, primary in plan
        ]
        url = self.fleet.control_url
        async with self.session.post(f"{url}/google/calendars", json={"accounts": accounts}) as a:
            a.raise_for_status()
        for channel, number, email, primary in plan:
            await self.connect(channel_id(channel), user_id(number), email, primary=primary)
        # Their replies are in: the scenarios' follow-ups are counted from here.
        self.replies_owed = await self.replies_received()
        return len(plan)

    async def connect(self, channel: str, user: str, email: str, *, primary: bool) -> None:
        """A signed `connect-calendar`, the link in the bot's reply, Google's consent page
        and the bot's callback."""
        text = "connect-calendar primary" if primary else "connect-calendar"
        url = self.fleet.control_url
        wanted = {"commands": [{"channel_id": channel, "user_id": user, "text": text}]}
        async with self.session.post(f"{url}/slash-commands", json=wanted) as answer:
            answer.raise_for_status()
            fields: dict[str, str] = (await answer.json())["commands"][0]
        body = urlencode(fields)
        headers = {"Content-Type": FORM, "User-Agent": USER_AGENT, **sign(SIGNING_SECRET, body)}
        since = time.time()
        async with self.session.post(
            self.fleet.events_url("bot"), data=body.encode(), headers=headers
        ) as response:
            await response.read()
            if response.status != 200:
                raise RuntimeError(f"the bot answered {response.status} to `{text}`")
        query = {
            "emulator": "slack",
            "path": f"^{re.escape(urlsplit(fields['response_url']).path)}$",
            "since": repr(since),
            "wait": "30",
        }
        async with self.session.get(f"{url}/requests", params=query) as answer:
            answer.raise_for_status()
            found = (await answer.json())["requests"]
        links = button_urls(json.loads(found[0]["body"]).get("blocks") or []) if found else []
        if len(links) != 1:
            raise RuntimeError(f"no sign-in link for {email}:\n{self.fleet.bot.log_tail()}")
        location = await approve_consent(links[0], email=email)
        async with self.session.get(location) as page:
            if page.status != 200:
                raise RuntimeError(f"the callback for {email} answered {page.status}")


# --- the figures ------------------------------------------------------------------------


@dataclass
class Result:
    scenario: str
    target: str
    google_latency_s: float
    requests: int
    concurrency: int
    p50_ms: float
    p99_ms: float
    round_p99_ms: list[float]
    mean_ms: float
    max_ms: float
    failures: int
    replies_done_s: float | None  # per round, from the first request to the last reply
    cpu_ms_per_command: float
    google_calls_per_command: float
    floor_p99_ms: float | None = None
    ratio: float | None = None
    meets_ratio: bool | None = None
    meets_100ms: bool | None = None


def summarize(scenario: Scenario, samples: Samples, options: Options) -> Result:
    ms = [t * 1000 for t in samples.times]
    return Result(
        scenario=scenario.name,
        target=scenario.target,
        google_latency_s=scenario.google_latency,
        requests=len(ms),
        concurrency=options.concurrency,
        p50_ms=round(percentile(ms, 50), 1),
        p99_ms=round(percentile(ms, 99), 1),
        round_p99_ms=samples.round_p99_ms,
        mean_ms=round(sum(ms) / len(ms), 1),
        max_ms=round(max(ms), 1),
        failures=samples.failures,
        replies_done_s=(
            round(samples.replies_done / samples.rounds, 2) if scenario.follow_ups else None
        ),
        cpu_ms_per_command=round(samples.cpu * 1000 / len(ms), 2),
        google_calls_per_command=round(samples.google_calls / len(ms), 2),
    )


def judge(results: list[Result]) -> None:
    floor = next(r for r in results if r.target == "floor")
    for result in results:
        if result.target != "bot":
            continue
        result.floor_p99_ms = floor.p99_ms
        result.ratio = round(result.p99_ms / floor.p99_ms, 2)
        result.meets_ratio = result.ratio <= FLOOR_RATIO_TARGET and result.failures == 0
        result.meets_100ms = result.p99_ms < P99_TARGET_MS and result.failures == 0


@dataclass(frozen=True)
class Measured:
    results: list[Result]
    rss: list[RssSample]
    emulator_stats: dict[str, Any]


async def measure(fleet: Fleet, options: Options) -> Measured:
    plan = scenarios(options)
    pooled = [Samples() for _ in plan]
    connector = aiohttp.TCPConnector(limit=options.concurrency + 5)
    async with aiohttp.ClientSession(connector=connector) as session:
        for child in (fleet.emulators, fleet.floor, fleet.bot):
            await wait_ready(session, child)
        runner = Runner(session=session, fleet=fleet, options=options)
        runner.sample_rss("idle after start-up")
        connected = await runner.connect_calendars()
        runner.sample_rss(f"after {connected} calendars connected")
        for round_number in range(1, options.rounds + 1):
            for scenario, samples in zip(plan, pooled, strict=True):
                await runner.run(scenario, samples)
                if round_number == 1 and scenario.target == "bot":
                    runner.sample_rss(f"after {scenario.name} (round 1)")
            if round_number > 1:
                runner.sample_rss(f"after round {round_number}")
        stats = await runner.emulator_stats()
    results = [summarize(s, p, options) for s, p in zip(plan, pooled, strict=True)]
    judge(results)
    return Measured(results=results, rss=runner.rss, emulator_stats=stats)


# --- the report -------------------------------------------------------------------------


def shown(value: float | bool | None) -> str:
    if value is None:
        return "-"
    if isinstance(value, bool):
        return "yes" if value else "NO"
    return f"{value:g}"


def results_table(results: list[Result]) -> str:
    header = (
        "scenario",
        "requests",
        "conc.",
        "p50 ms",
        "p99 ms",
        "p99 by round",
        "floor p99",
        "ratio",
        "≤1.5×floor",
        "<100 ms",
        "failed",
        "replies done s",
        "CPU ms/cmd",
        "Google/cmd",
    )
    rows = [header] + [
        (
            r.scenario,
            str(r.requests),
            str(r.concurrency),
            shown(r.p50_ms),
            shown(r.p99_ms),
            "/".join(f"{p:.0f}" for p in r.round_p99_ms),
            shown(r.floor_p99_ms),
            shown(r.ratio),
            shown(r.meets_ratio),
            shown(r.meets_100ms),
            str(r.failures),
            shown(r.replies_done_s),
            shown(r.cpu_ms_per_command),
            shown(r.google_calls_per_command),
        )
        for r in results
    ]
    widths = [max(len(row[i]) for row in rows) for i in range(len(header))]
    return "\n".join(
        "  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)) for row in rows
    )


def rss_table(samples: list[RssSample]) -> str:
    lines = [f"{'bot memory':<52} {'commands':>8} {'VmRSS MB':>9} {'VmHWM MB':>9}"]
    lines += [f"{s.moment:<52} {s.commands:>8} {s.rss_mb:>9} {s.peak_mb:>9}" for s in samples]
    worst = max(s.rss_mb for s in samples)
    verdict = "yes" if worst < RSS_TARGET_MB else "NO"
    lines.append(f"highest VmRSS {worst} MB; under {RSS_TARGET_MB:g} MB: {verdict}")
    return "\n".join(lines)


def log_problems(child: Child) -> list[str]:
    text = child.log.read_text(errors="replace") if child.log.exists() else ""
    return [line for line in text.splitlines() if " WARNING " in line or " ERROR " in line]


def report(info: dict[str, Any], measured: Measured, problems: list[str], options: Options) -> None:
    if options.rate is not None:
        print(f"\nPaced: at most {options.rate:g} requests a second.")
    if options.bot_gc != "on":
        print(f"\nDIAGNOSIS RUN: the bot's garbage collector was {options.bot_gc} after imports.")
    if options.ack_inline:
        print("\nThe floor's Bolt app with process_before_response, as the bot's.")
    print(f"\n{results_table(measured.results)}\n\n{rss_table(measured.rss)}\n")
    stats = measured.emulator_stats
    print(
        f"The Slack emulator received {stats['responses']} response_url posts and these Web "
        f"API calls: {stats['slack_api_calls']}; the Google emulator "
        f"{stats['google_requests']} requests."
    )
    print(", ".join(f"{k}: {v}" for k, v in info.items()))
    if problems:
        print(f"\nthe bot logged {len(problems)} warnings or errors; the first:\n{problems[0]}")
    if options.json_path is not None:
        figures = {
            "machine": info,
            "options": {
                k: v for k, v in asdict(options).items() if k not in ("json_path", "profile")
            },
            "results": [asdict(r) for r in measured.results],
            "rss": [asdict(s) for s in measured.rss],
            "emulator_stats": measured.emulator_stats,
            "bot_log_problems": problems[:20],
        }
        options.json_path.write_text(json.dumps(figures, indent=2, ensure_ascii=False) + "\n")


# --- running it -------------------------------------------------------------------------


def parse_options(argv: Sequence[str] | None) -> Options:
    parser = argparse.ArgumentParser(
        prog="python -m bench.ack_latency",
        description="Ack latency (p50, p99) and memory of the bot, beside a bare Bolt app.",
    )
    add = parser.add_argument
    add("--requests", type=int, default=1000, help="timed, per scenario and round (1000)")
    add("--concurrency", type=int, default=50, help="requests in flight (50)")
    add("--rounds", type=int, default=3, help="times every scenario runs, pooled (3)")
    add("--rate", type=float, default=None, help="at most this many requests a second")
    add("--warmup", type=int, default=100, help="untimed requests before each scenario (100)")
    add("--google-latency", type=float, default=2.0, help="seconds, for the slow-Google run (2)")
    add("--channels", type=int, default=10, help="customer channels the commands come from (10)")
    add("--users", type=int, default=50, help="people sending them (50)")
    add(
        "--calendars",
        type=int,
        default=5,
        help="staff calendars connected in each channel, beside its primary (5)",
    )
    add("--drain-timeout", type=float, default=300.0, help="seconds to wait for replies (300)")
    add("--json", type=Path, default=None, metavar="FILE", help="also write the figures here")
    add(
        "--ack-inline",
        action="store_true",
        help="the floor's Bolt app with process_before_response, as the bot's",
    )
    diagnose = parser.add_mutually_exclusive_group()
    diagnose.add_argument(
        "--profile", type=Path, default=None, metavar="FILE", help="cProfile the bot into FILE"
    )
    diagnose.add_argument(
        "--bot-gc",
        choices=list(BOT_GC_MODES),
        default="on",
        help="diagnosis: the bot's garbage collector left on (default), frozen after "
        "imports, or off",
    )
    args = parser.parse_args(argv)
    if min(args.requests, args.concurrency, args.rounds, args.channels, args.users) < 1:
        parser.error("--requests, --concurrency, --rounds, --channels and --users must be ≥ 1")
    if not 1 <= args.calendars < args.users:
        parser.error("--calendars must be ≥ 1 and below --users")
    return Options(
        requests=args.requests,
        concurrency=args.concurrency,
        rounds=args.rounds,
        rate=args.rate,
        warmup=args.warmup,
        google_latency=args.google_latency,
        channels=args.channels,
        users=args.users,
        calendars=args.calendars,
        drain_timeout=args.drain_timeout,
        json_path=args.json,
        profile=args.profile,
        bot_gc=args.bot_gc,
        ack_inline=args.ack_inline,
    )


def main(argv: Sequence[str] | None = None) -> int:
    options = parse_options(argv)
    info = machine()  # before the load, so that the load average is the machine's own
    signal.signal(signal.SIGTERM, exit_on_sigterm)
    with (
        tempfile.TemporaryDirectory(prefix="tonomo-bench-") as temp,
        contextlib.ExitStack() as stack,
    ):
        bot = bot_argv(bot_gc=options.bot_gc, profile=options.profile)
        if options.ack_inline:  # the floor reads it from its environment (`bench.floor_app`)
            os.environ[FLOOR_INLINE_ENV] = "1"
        fleet = start_fleet(
            stack, Path(temp), channels=options.channels, users=options.users, bot=bot
        )
        try:
            measured = asyncio.run(measure(fleet, options))
        except (RuntimeError, aiohttp.ClientError) as err:
            print(f"ack_latency: {err}", file=sys.stderr)
            return 1
        except KeyboardInterrupt:
            print("ack_latency: interrupted", file=sys.stderr)
            return 130
        problems = log_problems(fleet.bot)
    report(info, measured, problems, options)
    return 0


if __name__ == "__main__":
    sys.exit(main())
