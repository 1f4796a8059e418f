"""How soon `@Tonomo availability` is answered, beside `/tonomo availability`, 50 at once.

    python -m bench.mention_answer [--asks 50] [--rounds 10] [--warmup 1] [--staff 10] [--json FILE]

The issue's target: at 50 concurrent mentions, with the Google emulator answering each
call in 150 ms, the p99 of mention-to-ephemeral is at most 1.5 × the same command's
slash-command answer time (its p99), both measured in one run.

Three processes on loopback, as for `bench.availability_answer`: the Slack and Google
emulators (`bench.emulators`), the bot (`python app.py`, configured from the environment
like a deployment, SQLite in a temporary directory), and this one. One customer channel,
shared with the business's own organisation (Slack Connect): `--staff` photographers of
that organisation, each with a fortnight of busy time on their Google calendar, connected
through the real flow their door allows (`@Tonomo connect-calendar`, the link in the
bot's ephemeral, Google's consent page, the bot's callback); `--asks` full members of the
installing workspace (who may use `/tonomo`); `--asks` more people of the business's
organisation (who may not: Slack gives them no slash commands, only mentions).

Then Google's emulator answers every call in `--latency` seconds, and each round sends
two bursts, one after the other (their order alternating from round to round, so drift
touches both doors alike): `--asks` signed `/tonomo availability next week` at once, one
from each member of the installing workspace, and `--asks` signed `app_mention` events
`@Tonomo availability next week` at once, one from each person of the other organisation.
Both ask the same question about the same staff. Each ask is timed from sending it to
its answer reaching the Slack emulator, by the emulator's own arrival time on the same
clock: for a slash command the post to its `response_url` (its answer, not the
"Checking the calendars…" ack), for a mention the bot's first `chat.postEphemeral` to
that person in the channel. Each answer must be a grid naming every staff member with a
cell for each of the 7 days and none unknown, or the run fails. Every request and event
is built beforehand (the mentions by the emulator's own `send_message`, which posts the
message in the channel and delivers its event to the control API) and signed before the
clock starts, so both doors are sent the same way, from this process.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlencode, urlsplit

import aiohttp

from bench.ack_latency import FORM
from bench.answer_setup import (
    CHANNEL,
    FREEBUSY_PATH,
    REPLY_TIMEOUT_S,
    ZONE,
    Control,
    Processes,
    add_calendar_options,
    aligned,
    grid_problems,
    most_in_flight,
    print_problems,
    ready_control,
    run_on_processes,
    sign_in,
    signed,
    staff_calendars,
    staff_email,
    thread_count,
)
from bench.emulators import channel_name
from bench.fleet import cpu_seconds
from bench.report import machine, percentile

TARGET_RATIO = 1.5
DOORS = ("slash", "mention")
CLIENT_TEAM = {"id": "T0CLIENT", "name": "Bench Photography", "domain": "bench-photography"}
JSON_TYPE = "application/json"
EPHEMERAL_PATH = "/api/chat.postEphemeral"
POLL_S = 0.05  # how often the benchmark asks the emulator how many answers arrived
SETTLE_S = 1.0  # after a burst's last answer, for what the bot does after answering
DAYS = 5  # next week's working days, Monday to Friday (the grid shows working days only)


def staff_user(number: int) -> str:
    """A photographer of the business's organisation, with a connected calendar."""
    return f"U0STAFF{number:04d}"


def inside_user(number: int) -> str:
    """A full member of the installing workspace: may use `/tonomo`."""
    return f"U0INSIDE{number:04d}"


def outside_user(number: int) -> str:
    """A person of the business's organisation: may only mention the bot."""
    return f"U0OUTSIDE{number:04d}"


def name_of(slack_user_id: str) -> str:
    return slack_user_id.removeprefix("U0").lower()


@dataclass(frozen=True)
class Options:
    staff: int
    asks: int
    rounds: int
    warmup: int
    latency: float
    seed: int
    json_path: Path | None

    text = "availability next week"


# --- the customer -------------------------------------------------------------------------


def channel(options: Options) -> dict[str, Any]:
    """The customer's channel, shared with the business's organisation."""

    def member(user: str, team: str | None) -> dict[str, str]:
        found = {"id": user, "name": name_of(user), "tz": ZONE}
        return found | ({"team_id": team} if team else {})

    staff = [member(staff_user(n), CLIENT_TEAM["id"]) for n in range(1, options.staff + 1)]
    inside = [member(inside_user(n), None) for n in range(1, options.asks + 1)]
    outside = [member(outside_user(n), CLIENT_TEAM["id"]) for n in range(1, options.asks + 1)]
    return {
        "id": CHANNEL,
        "name": channel_name(CHANNEL),
        "members": [*staff, *inside, *outside],
        "shared_with": [CLIENT_TEAM["id"]],
    }


# --- talking to the bot -------------------------------------------------------------------


@dataclass(frozen=True)
class Ask:
    """A signed request, ready to send, and how its answer is recognised."""

    door: str
    user: str
    body: bytes
    headers: dict[str, str]
    answer_key: str
    """The answer's response_url path (slash), or the person it is posted to (mention)."""


@dataclass(frozen=True)
class Sent:
    ask: Ask
    at: float
    """When it was sent, `time.time()`: the emulators' clock too."""
    ack_s: float


@dataclass
class Bot:
    session: aiohttp.ClientSession
    control: Control
    processes: Processes

    async def asks(self, door: str, users: list[str], text: str) -> list[Ask]:
        """What Slack would send for each of `users` asking `text` through `door`, signed."""
        if door == "slash":
            commands = await self.control.slash_commands(users, text)
            return [
                Ask(
                    door,
                    fields["user_id"],
                    (body := urlencode(fields)).encode(),
                    signed(body, FORM),
                    urlsplit(fields["response_url"]).path,
                )
                for fields in commands
            ]
        events = await self.control.mentions(users, text)
        return [
            Ask(door, user, body.encode(), signed(body, JSON_TYPE), user)
            for user, body in zip(users, events, strict=True)
        ]

    async def send(self, ask: Ask) -> Sent:
        at, start = time.time(), time.perf_counter()
        async with self.session.post(
            self.processes.events_url, data=ask.body, headers=ask.headers
        ) as response:
            text = await response.text()
            ack_s = time.perf_counter() - start
            if response.status != 200:
                raise RuntimeError(f"the bot answered {response.status} to a {ask.door}: {text}")
        return Sent(ask=ask, at=at, ack_s=ack_s)

    async def answers(self, door: str, since: float) -> dict[str, dict[str, Any]]:
        """The first answer to each ask of `door` since `since`, by its answer key."""
        if door == "slash":
            found = await self.control.requests("slack", "^/response/", since)
            keyed = [(r["path"], r) for r in found]
        else:
            found = await self.control.requests("slack", f"^{EPHEMERAL_PATH}$", since)
            keyed = [(str(json.loads(r["body"]).get("user")), r) for r in found]
        first: dict[str, dict[str, Any]] = {}
        for key, request in keyed:
            first.setdefault(key, request)
        return first

    async def connect_by_mention(self, user: str, email: str) -> None:
        """A photographer's connect flow through their door: `@Tonomo connect-calendar`, the
        link in the bot's ephemeral, Google's consent, the callback."""
        (ask,) = await self.asks("mention", [user], "connect-calendar")
        sent = await self.send(ask)
        deadline = time.monotonic() + REPLY_TIMEOUT_S
        while (reply := (await self.answers("mention", sent.at)).get(user)) is None:
            if time.monotonic() > deadline:
                raise RuntimeError(
                    f"no ephemeral for {user}'s connect-calendar within {REPLY_TIMEOUT_S:.0f} "
                    f"s:\n{self.processes.bot.log_tail()}"
                )
            await asyncio.sleep(POLL_S)
        await sign_in(self.session, json.loads(reply["body"]), user, email)


# --- one burst ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Timed:
    user: str
    total_s: float
    """From sending the request to its answer's arrival."""
    ack_s: float


@dataclass(frozen=True)
class Burst:
    """One door's burst of asks, and what the emulators saw meanwhile."""

    door: str
    round: int
    asks: list[Timed]
    first_answer_s: float
    last_answer_s: float
    """From the burst's first send to the first and last answer's arrival."""
    freebusy_calls: int
    first_freebusy_s: float
    last_freebusy_s: float
    """From the burst's first send to the first and last free/busy call's arrival."""
    most_freebusy_in_flight: int
    slack_calls: dict[str, int]
    """The bot's Web API calls, by method, from the first send to the last answer."""
    bot_cpu_s: float


@dataclass
class Asker:
    bot: Bot
    options: Options
    staff_names: list[str]
    problems: list[str] = field(default_factory=list)

    def users(self, door: str) -> list[str]:
        who = inside_user if door == "slash" else outside_user
        return [who(n) for n in range(1, self.options.asks + 1)]

    async def burst(self, door: str, round_number: int) -> Burst:
        bot, control = self.bot, self.bot.control
        asks = await bot.asks(door, self.users(door), self.options.text)
        counter = "responses" if door == "slash" else "chat.postEphemeral"
        before = answers_counted(await control.stats(), counter)
        pid = bot.processes.bot.process.pid
        cpu_before, start = cpu_seconds(pid), time.time()
        sent = await asyncio.gather(*(bot.send(a) for a in asks))
        deadline = time.monotonic() + REPLY_TIMEOUT_S
        while answers_counted(await control.stats(), counter) < before + len(asks):
            if time.monotonic() > deadline:
                break  # the answers below say which are missing
            await asyncio.sleep(POLL_S)
        cpu = cpu_seconds(pid) - cpu_before
        answers = await bot.answers(door, start)
        missing = [s.ask.user for s in sent if s.ask.answer_key not in answers]
        if missing:
            raise RuntimeError(
                f"round {round_number}, {door}: {len(missing)} asks unanswered within "
                f"{REPLY_TIMEOUT_S:.0f} s, first {missing[:3]}:\n{bot.processes.bot.log_tail()}"
            )
        timed = []
        for s in sent:
            answer = answers[s.ask.answer_key]
            for problem in grid_problems(json.loads(answer["body"]), self.staff_names, DAYS):
                self.problems.append(f"{door}: {problem}")
            timed.append(Timed(s.ask.user, float(answer["at"]) - s.at, s.ack_s))
        last = max(float(answers[s.ask.answer_key]["at"]) for s in sent)
        first = min(float(answers[s.ask.answer_key]["at"]) for s in sent)
        freebusy = [
            float(r["at"])
            for r in await control.requests("google", f"^{FREEBUSY_PATH}$", start)
            if float(r["at"]) <= last
        ]
        slack = Counter(
            str(r["path"]).removeprefix("/api/")
            for r in await control.requests("slack", "^/api/", start)
            if float(r["at"]) <= last
        )
        return Burst(
            door=door,
            round=round_number,
            asks=timed,
            first_answer_s=first - start,
            last_answer_s=last - start,
            freebusy_calls=len(freebusy),
            first_freebusy_s=(min(freebusy) - start) if freebusy else 0.0,
            last_freebusy_s=(max(freebusy) - start) if freebusy else 0.0,
            most_freebusy_in_flight=most_in_flight(freebusy, self.options.latency),
            slack_calls=dict(sorted(slack.items())),
            bot_cpu_s=cpu,
        )

    async def run(self) -> list[Burst]:
        """Warm-up rounds (untimed), then the timed ones; each round both doors in turn."""
        bursts = []
        for number in range(1 - self.options.warmup, self.options.rounds + 1):
            order = DOORS if number % 2 else tuple(reversed(DOORS))
            for door in order:
                burst = await self.burst(door, number)
                if number >= 1:
                    bursts.append(burst)
                await asyncio.sleep(SETTLE_S)
        return bursts


def answers_counted(stats: dict[str, Any], counter: str) -> int:
    if counter == "responses":
        return int(stats["responses"])
    return int(stats["slack_api_calls"].get(counter, 0))


# --- the figures ------------------------------------------------------------------------------


@dataclass
class DoorResult:
    door: str
    asks: int
    concurrency: int
    p50_s: float
    p95_s: float
    p99_s: float
    max_s: float
    mean_s: float
    round_p99_s: list[float]
    ack_p50_ms: float
    ack_p99_ms: float
    first_answer_p50_s: float
    """A burst's first answer, after its first send (median over the rounds)."""
    last_answer_p50_s: float
    first_freebusy_p50_s: float
    last_freebusy_p50_s: float
    freebusy_calls_per_burst: list[int]
    """The fewest and the most."""
    most_freebusy_in_flight: int
    slack_calls_per_burst: dict[str, float]
    """Mean over the rounds, by method."""
    bot_cpu_per_burst_s: float


def seconds(values: Sequence[float], p: float) -> float:
    return round(percentile(values, p), 3)


def median(values: Sequence[float]) -> float:
    return seconds(values, 50)


def summarize(door: str, bursts: list[Burst], options: Options) -> DoorResult:
    mine = [b for b in bursts if b.door == door]
    totals = [t.total_s for b in mine for t in b.asks]
    acks = [t.ack_s * 1000 for b in mine for t in b.asks]
    methods = sorted({m for b in mine for m in b.slack_calls})
    return DoorResult(
        door=door,
        asks=len(totals),
        concurrency=options.asks,
        p50_s=seconds(totals, 50),
        p95_s=seconds(totals, 95),
        p99_s=seconds(totals, 99),
        max_s=round(max(totals), 3),
        mean_s=round(sum(totals) / len(totals), 3),
        round_p99_s=[seconds([t.total_s for t in b.asks], 99) for b in mine],
        ack_p50_ms=round(percentile(acks, 50), 1),
        ack_p99_ms=round(percentile(acks, 99), 1),
        first_answer_p50_s=median([b.first_answer_s for b in mine]),
        last_answer_p50_s=median([b.last_answer_s for b in mine]),
        first_freebusy_p50_s=median([b.first_freebusy_s for b in mine]),
        last_freebusy_p50_s=median([b.last_freebusy_s for b in mine]),
        freebusy_calls_per_burst=[
            min(b.freebusy_calls for b in mine),
            max(b.freebusy_calls for b in mine),
        ],
        most_freebusy_in_flight=max(b.most_freebusy_in_flight for b in mine),
        slack_calls_per_burst={
            m: round(sum(b.slack_calls.get(m, 0) for b in mine) / len(mine), 1) for m in methods
        },
        bot_cpu_per_burst_s=round(sum(b.bot_cpu_s for b in mine) / len(mine), 2),
    )


@dataclass(frozen=True)
class Verdict:
    ratio: float
    """The mentions' p99 over the slash commands' p99."""
    target: float
    met: bool


@dataclass(frozen=True)
class Measured:
    results: list[DoorResult]
    verdict: Verdict
    bursts: list[Burst]
    events: int
    setup_s: float
    bot_threads_after: int
    problems: list[str]


async def measure(processes: Processes, options: Options) -> Measured:
    connector = aiohttp.TCPConnector(limit=options.asks + 10)
    async with aiohttp.ClientSession(connector=connector) as session:
        control = await ready_control(session, processes)
        bot = Bot(session=session, control=control, processes=processes)
        start = time.perf_counter()
        await control.add_channel(channel(options), [CLIENT_TEAM])
        events = await control.add_calendars(staff_calendars(options.staff, options.seed))
        for number in range(1, options.staff + 1):
            await bot.connect_by_mention(staff_user(number), staff_email(number))
        setup_s = time.perf_counter() - start
        await control.set_google_latency(options.latency)
        names = [name_of(staff_user(n)) for n in range(1, options.staff + 1)]
        asker = Asker(bot=bot, options=options, staff_names=names)
        bursts = await asker.run()
        threads = thread_count(processes.bot.process.pid)
    results = [summarize(door, bursts, options) for door in DOORS]
    slash, mention = results
    ratio = round(mention.p99_s / slash.p99_s, 2)
    return Measured(
        results=results,
        verdict=Verdict(ratio=ratio, target=TARGET_RATIO, met=ratio <= TARGET_RATIO),
        bursts=bursts,
        events=events,
        setup_s=setup_s,
        bot_threads_after=threads,
        problems=sorted(set(asker.problems)),
    )


# --- the report -----------------------------------------------------------------------------


def calls_shown(calls: dict[str, float]) -> str:
    return ", ".join(f"{m} {n:g}" for m, n in calls.items()) or "none"


def table(results: list[DoorResult]) -> str:
    rows: list[tuple[str, ...]] = [
        ("", *(f"{r.door} ({r.asks} asks, {r.concurrency} at once)" for r in results)),
        (
            "answer p50 / p95 / p99 / max",
            *(f"{r.p50_s:.3f} / {r.p95_s:.3f} / {r.p99_s:.3f} / {r.max_s:.3f} s" for r in results),
        ),
        ("answer mean", *(f"{r.mean_s:.3f} s" for r in results)),
        ("p99 by round", *(" ".join(f"{p:.2f}" for p in r.round_p99_s) for r in results)),
        ("ack p50 / p99", *(f"{r.ack_p50_ms:g} / {r.ack_p99_ms:g} ms" for r in results)),
        (
            "burst: first / last answer, p50",
            *(f"{r.first_answer_p50_s:.3f} / {r.last_answer_p50_s:.3f} s" for r in results),
        ),
        (
            "burst: first / last free/busy call, p50",
            *(f"{r.first_freebusy_p50_s:.3f} / {r.last_freebusy_p50_s:.3f} s" for r in results),
        ),
        (
            "free/busy calls a burst",
            *("–".join(str(n) for n in sorted(set(r.freebusy_calls_per_burst))) for r in results),
        ),
        ("free/busy calls in flight, most", *(str(r.most_freebusy_in_flight) for r in results)),
        ("Slack calls a burst (mean)", *(calls_shown(r.slack_calls_per_burst) for r in results)),
        ("bot CPU a burst (mean)", *(f"{r.bot_cpu_per_burst_s:g} s" for r in results)),
    ]
    return aligned(rows)


def report(
    info: dict[str, Any], measured: Measured, bot_problems: list[str], options: Options
) -> None:
    print(
        f"\n`{options.text}`, {options.staff} staff calendars ({measured.events} events "
        f"seeded; connecting everyone took {measured.setup_s:.1f} s), Google "
        f"{options.latency:g} s a call, {options.rounds} rounds after {options.warmup} "
        "warm-up\n"
    )
    print(f"{table(measured.results)}\n")
    verdict = measured.verdict
    print(
        f"mention p99 / slash p99 = {verdict.ratio:g} (target ≤ {verdict.target:g}): "
        f"{'PASS' if verdict.met else 'FAIL'}; bot threads afterwards "
        f"{measured.bot_threads_after}"
    )
    print_problems(info, measured.problems, bot_problems)
    if options.json_path is not None:
        figures = {
            "machine": info,
            "options": {k: v for k, v in asdict(options).items() if k != "json_path"},
            "events_seeded": measured.events,
            "setup_s": round(measured.setup_s, 2),
            "results": [asdict(r) for r in measured.results],
            "verdict": asdict(measured.verdict),
            "bursts": [asdict(b) for b in measured.bursts],
            "bot_threads_after": measured.bot_threads_after,
            "problems": measured.problems,
            "bot_log_problems": bot_problems[:20],
        }
        options.json_path.write_text(json.dumps(figures, indent=2, ensure_ascii=False) + "\n")


# --- running it -------------------------------------------------------------------------------


def parse_options(argv: Sequence[str] | None) -> Options:
    parser = argparse.ArgumentParser(
        prog="python -m bench.mention_answer",
        description="p99 of `@Tonomo availability` to its ephemeral, beside the slash command's.",
    )
    add_calendar_options(parser, staff=10)
    add = parser.add_argument
    add("--asks", type=int, default=50, help="asks at once, through each door (50)")
    add("--rounds", type=int, default=10, help="timed bursts through each door (10)")
    add("--warmup", type=int, default=1, help="untimed rounds first (1)")
    args = parser.parse_args(argv)
    if min(args.staff, args.asks, args.rounds) < 1 or args.warmup < 0 or args.latency < 0:
        parser.error("--staff, --asks and --rounds must be ≥ 1, --warmup and --latency ≥ 0")
    return Options(
        staff=args.staff,
        asks=args.asks,
        rounds=args.rounds,
        warmup=args.warmup,
        latency=args.latency,
        seed=args.seed,
        json_path=args.json,
    )


def main(argv: Sequence[str] | None = None) -> int:
    options = parse_options(argv)
    info = machine()  # before the load, so that the load average is the machine's own
    # The emulators' own seeded people are not used: the channel is added afterwards.
    outcome = run_on_processes(
        "mention_answer", users=1, measure=lambda processes: measure(processes, options)
    )
    if isinstance(outcome, int):
        return outcome
    measured, bot_problems = outcome
    report(info, measured, bot_problems, options)
    return 1 if measured.problems else 0


if __name__ == "__main__":
    sys.exit(main())
