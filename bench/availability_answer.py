"""How soon `/tonomo availability` for 10 to 500 staff over 7 days is answered, Google
slow, beside the floor of the same Google calls.

    python -m bench.availability_answer [--staff 10 50 200 500] [--rounds 20] [--warmup 2]
        [--latency 0.15] [--database-url postgresql://…] [--json FILE]

The issue's targets, the Google emulator answering each call in 150 ms:

- 10 and 50 staff: the answer within 1.3 × one Google round trip (0.195 s), and within
  1.3 × two (0.39 s) with every token expired;
- 200 and 500 staff, where the machine's own CPU enters the limit: within 1.3 × the
  floor measured in the same run (`bench.floor_client`: a bare asyncio client making the
  same calls against the same emulator, all at once: a token refresh where the token has
  expired, then one free/busy call per person), and never more than 1.3 × the round trips
  where the floor is below them; read as 1.3 × the larger of the two;
- the bot's memory under 200 MB during the 500-staff answers.

PASS means the bot's p95 within the target; the floor's p95 is the one compared.

Each size runs on its own processes, on loopback: the Slack and Google emulators
(`bench.emulators`), the bot (`python app.py`, configured from the environment like a
deployment, on SQLite in a temporary directory or, with `--database-url`, a scratch
PostgreSQL database), and this one (the floor's client included). Slack's emulator holds
one customer channel with its owner and that many staff members. Each staff member's
Google calendar gets a fortnight of busy time (2–4 events a working day, some all-day,
some marked free); everyone connects through the real flow (a signed `/tonomo
connect-calendar`, the link in the bot's reply, Google's consent page, the bot's
callback), the owner's primary calendar first. The floor gets a grant of its own for each
of the same accounts.

Then Google's emulator answers every call in `--latency` seconds, and the owner asks
`/tonomo availability next week` (Monday to Sunday), one ask at a time: the bot's answer,
then the floor's, `--warmup` untimed rounds then `--rounds` timed ones. The bot's answer
is timed from sending the signed command to the moment it (the post to the command's
`response_url`, not the "checking…" ack) reaches the Slack emulator, by the emulator's
own arrival time on the same clock; the floor's from its first call to its last answer
read. Every answer must name every staff member in its grid with a cell for each day and
none unknown, and each timed one must have made one free/busy call per person (one
refresh each too with expired tokens), or the run fails. The Google requests that arrived
meanwhile are counted by path and split each ask's time: before the first Google call,
Google (to the last call's answer), and after it; the calls in a row show how many waves
the calls went out in.

Two scenarios, in this order: *fresh tokens*, as right after connecting, and *expired
tokens*: before each ask every access token is expired and new ones are issued for 2
minutes, which the bot reads as expired already (google-auth refreshes 3 min 45 s
early), so each read refreshes its token first and the bot stores the new tokens; the
floor refreshes too. The bot's resident memory peak (VmHWM, reset through
/proc/PID/clear_refs after connecting and before each scenario) is read after each.

`bench.status_answer` is the same benchmark for `/tonomo status`.
"""

from __future__ import annotations

import argparse
import asyncio
import functools
import json
import os
import sys
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

import aiohttp

from bench.answer_setup import (
    EXPIRED_LIFETIME_S,
    OWNER,
    OWNER_EMAIL,
    SCENARIOS,
    Bot,
    Processes,
    Scenario,
    aligned,
    calls_shown,
    connect_everyone,
    grid_problems,
    ms,
    ready_control,
    run_on_processes,
    staff_email,
    thread_count,
    yes_no,
)
from bench.emulators import user_id, user_name
from bench.fleet import cpu_seconds, read_rss
from bench.floor_client import (
    FREEBUSY_PATH,
    TOKEN_PATH,
    Call,
    FloorClient,
    Split,
    analyse,
    floor_tokens,
    google_calls,
)
from bench.report import machine, percentile
from bot.calendar.port import PRIMARY_SCOPES, STAFF_SCOPES

TARGET_FACTOR = 1.3
ROUND_TRIPS_UP_TO = 50
"""Sizes up to this are held to the round trips alone; larger ones to the floor as well."""
MEMORY_LIMIT_MB = 200.0
PAUSE_S = 0.25  # between asks, so that nothing of one is still running at the next


# --- what is asked ----------------------------------------------------------------------------


@dataclass(frozen=True)
class Asked:
    """One answer of the bot's, for its question's check."""

    message: dict[str, Any]
    staff: int
    names: list[str]
    sent_at: float
    processes: Processes


@dataclass(frozen=True)
class Question:
    """A command that reads every connected calendar, and how its answer is checked."""

    name: str
    text: str
    call: Call
    """The call made for each calendar (the bot's body is read from its first answer)."""
    with_primary: bool
    """The owner's primary calendar is one of those read."""
    check: Callable[[Asked], Awaitable[list[str]]]
    default_staff: tuple[int, ...]


async def grid_check(asked: Asked) -> list[str]:
    return grid_problems(asked.message, asked.names, days=5)  # next week's working days


AVAILABILITY = Question(
    name="availability",
    text="availability next week",
    call=Call("POST", FREEBUSY_PATH),
    with_primary=False,
    check=grid_check,
    default_staff=(10, 50, 200, 500),
)


@dataclass(frozen=True)
class Options:
    question: str
    staff: tuple[int, ...]
    rounds: int
    warmup: int
    latency: float
    seed: int
    database_server: str | None
    json_path: Path | None


# --- one ask ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Answer:
    """One ask, the bot's or the floor's."""

    total_s: float
    """The bot's: from sending the command to its answer reaching the response_url. The
    floor's: from its first call made to its last answer read."""
    ack_s: float
    """The bot's "checking…" ack (0 for the floor)."""
    before_google_s: float
    google_s: float
    after_google_s: float
    in_a_row: int
    spread_s: float
    most_in_flight: int
    google_calls: dict[str, int]
    slack_calls: dict[str, int]
    """The bot's Web API calls to Slack during the answer, by method."""
    cpu_s: float
    """The bot's process, or this one's while the floor asked."""
    emulators_cpu_s: float
    steps: list[dict[str, Any]]


def answer_of(
    split: Split | None, total: float, ack: float, cpu: float, emulators: float
) -> Answer:
    if split is None:
        return Answer(total, ack, 0.0, 0.0, 0.0, 0, 0.0, 0, {}, {}, cpu, emulators, [])
    return Answer(
        total_s=total,
        ack_s=ack,
        before_google_s=split.before_s,
        google_s=split.google_s,
        after_google_s=split.after_s,
        in_a_row=split.in_a_row,
        spread_s=split.spread_s,
        most_in_flight=split.most_in_flight,
        google_calls=split.calls,
        slack_calls={},
        cpu_s=cpu,
        emulators_cpu_s=emulators,
        steps=split.steps,
    )


@dataclass
class Asker:
    bot: Bot
    floor: FloorClient
    question: Question
    options: Options
    staff: int
    emails: list[str]
    """The accounts whose calendars are read: the floor calls these."""
    names: list[str]
    body: bytes | None = None
    """The bot's own body of the per-calendar call, which the floor sends too."""
    problems: list[str] = field(default_factory=list)

    def problem(self, scenario: Scenario, who: str, text: str) -> None:
        self.problems.append(f"{self.staff} staff, {scenario.name}, {who}: {text}")

    def check_calls(self, scenario: Scenario, who: str, calls: dict[str, int]) -> None:
        """Every calendar read once (and its token refreshed once, when expired)."""
        wanted = {self.question.call.path: len(self.emails)}
        if scenario.expired_tokens:
            wanted[TOKEN_PATH] = len(self.emails)
        if calls != wanted:
            self.problem(scenario, who, f"Google calls {calls}, not {wanted}")

    async def ask_bot(self, scenario: Scenario, *, timed: bool) -> Answer:
        control, processes = self.bot.control, self.bot.processes
        if scenario.expired_tokens:
            await control.expire_google_tokens(EXPIRED_LIFETIME_S)
        pid, emulators = processes.bot.process.pid, processes.emulators.process.pid
        cpu, emulators_cpu = cpu_seconds(pid), cpu_seconds(emulators)
        sent = await self.bot.send(OWNER, self.question.text)
        reply = await self.bot.reply(sent)
        cpu, emulators_cpu = cpu_seconds(pid) - cpu, cpu_seconds(emulators) - emulators_cpu
        arrived = float(reply["at"])
        google = await google_calls(control, sent.at, arrived)
        slack = [
            r for r in await control.requests("slack", "^/api/", sent.at) if r["at"] <= arrived
        ]
        asked = Asked(json.loads(reply["body"]), self.staff, self.names, sent.at, processes)
        for found in await self.question.check(asked):
            self.problem(scenario, "the bot", found)
        if self.body is None and self.question.call.method == "POST":
            self.body = next(
                (r["body"].encode() for r in google if r["path"] == self.question.call.path),
                None,
            )
        split = analyse(google, sent.at, arrived, self.options.latency, self.question.call.path)
        if split is None:
            self.problem(scenario, "the bot", "an answer made no Google call")
        elif timed:
            self.check_calls(scenario, "the bot", split.calls)
        slack_calls: dict[str, int] = {}
        for r in slack:
            method = str(r["path"]).removeprefix("/api/")
            slack_calls[method] = slack_calls.get(method, 0) + 1
        answer = answer_of(split, arrived - sent.at, sent.ack_s, cpu, emulators_cpu)
        return Answer(**{**asdict(answer), "slack_calls": dict(sorted(slack_calls.items()))})

    async def ask_floor(self, scenario: Scenario, *, timed: bool) -> Answer:
        control = self.bot.control
        if scenario.expired_tokens:
            await control.expire_google_tokens(EXPIRED_LIFETIME_S)
        emulators = self.bot.processes.emulators.process.pid
        emulators_cpu = cpu_seconds(emulators)
        call = Call(self.question.call.method, self.question.call.path, self.body)
        floor = await self.floor.ask(self.emails, call, refresh=scenario.expired_tokens)
        emulators_cpu = cpu_seconds(emulators) - emulators_cpu
        end = floor.start + floor.total_s
        for failure in floor.failures[:3]:
            self.problem(scenario, "the floor", failure)
        google = await google_calls(control, floor.start, end)
        split = analyse(google, floor.start, end, self.options.latency, self.question.call.path)
        if split is None:
            self.problem(scenario, "the floor", "an ask made no Google call")
        elif timed:
            self.check_calls(scenario, "the floor", split.calls)
        return answer_of(split, floor.total_s, 0.0, floor.cpu_s, emulators_cpu)

    async def run(self, scenario: Scenario) -> tuple[list[Answer], list[Answer]]:
        """The bot's answer then the floor's, ask by ask: the timed ones of each."""
        bot: list[Answer] = []
        floor: list[Answer] = []
        for number in range(self.options.warmup + self.options.rounds):
            timed = number >= self.options.warmup
            answer = await self.ask_bot(scenario, timed=timed)
            await asyncio.sleep(PAUSE_S)
            floor_answer = await self.ask_floor(scenario, timed=timed)
            await asyncio.sleep(PAUSE_S)
            if timed:
                bot.append(answer)
                floor.append(floor_answer)
        return bot, floor


# --- memory -----------------------------------------------------------------------------------


def reset_peak(pid: int) -> None:
    """VmHWM (the peak resident set) of `pid` starts again from its VmRSS now (proc(5):
    writing 5 to /proc/PID/clear_refs)."""
    Path(f"/proc/{pid}/clear_refs").write_text("5")


# --- the figures ------------------------------------------------------------------------------


@dataclass
class Result:
    question: str
    scenario: str
    expired_tokens: bool
    staff: int
    google_latency_s: float
    answers: int
    p50_s: float
    p95_s: float
    max_s: float
    mean_s: float
    floor_p50_s: float
    floor_p95_s: float
    floor_max_s: float
    ideal_s: float
    """Google calls one read makes one after the other × latency: no answer can beat it."""
    target_s: float
    target_basis: str
    """"round trips" (1.3 × the ideal) or "floor" (1.3 × the floor's p95)."""
    meets_target: bool
    """The bot's p95 within the target."""
    all_within_target: bool
    ratio_to_floor_p95: float
    ratio_to_floor_p50: float
    ack_p50_ms: float
    before_google_p50_ms: float
    google_p50_ms: float
    after_google_p50_ms: float
    floor_before_google_p50_ms: float
    floor_google_p50_ms: float
    floor_after_google_p50_ms: float
    in_a_row: list[int]
    """The fewest and the most Google calls in a row of one answer."""
    floor_in_a_row: list[int]
    spread_p50_ms: float
    """The first wave of per-calendar calls: from the first one's arrival to the last's."""
    floor_spread_p50_ms: float
    most_in_flight_min: int
    floor_most_in_flight_min: int
    google_calls: dict[str, list[int]]
    """By path, the fewest and the most one answer made."""
    floor_google_calls: dict[str, list[int]]
    slack_calls: dict[str, list[int]]
    bot_cpu_p50_ms: float
    floor_cpu_p50_ms: float
    emulators_cpu_p50_ms: float
    """The emulators' process during the bot's answer."""
    floor_emulators_cpu_p50_ms: float
    bot_peak_mb: float
    """The bot's VmHWM over this scenario's asks (reset before them)."""
    bot_rss_after_mb: float
    under_memory_limit: bool
    bot_threads_after: int


def fewest_most(counts: Sequence[dict[str, int]]) -> dict[str, list[int]]:
    paths = sorted({path for c in counts for path in c})
    return {p: [min(c.get(p, 0) for c in counts), max(c.get(p, 0) for c in counts)] for p in paths}


def summarize(
    question: Question,
    scenario: Scenario,
    staff: int,
    bot: list[Answer],
    floor: list[Answer],
    options: Options,
    memory: tuple[float, float],
    threads: int,
) -> Result:
    totals = [a.total_s for a in bot]
    floors = [a.total_s for a in floor]
    p95, floor_p95 = percentile(totals, 95), percentile(floors, 95)
    ideal = scenario.calls_each * options.latency
    if staff <= ROUND_TRIPS_UP_TO or floor_p95 <= ideal:
        basis, limit = "round trips", ideal
    else:
        basis, limit = "floor", floor_p95
    target = TARGET_FACTOR * limit
    peak, rss = memory
    return Result(
        question=question.name,
        scenario=scenario.name,
        expired_tokens=scenario.expired_tokens,
        staff=staff,
        google_latency_s=options.latency,
        answers=len(bot),
        p50_s=round(percentile(totals, 50), 3),
        p95_s=round(p95, 3),
        max_s=round(max(totals), 3),
        mean_s=round(sum(totals) / len(totals), 3),
        floor_p50_s=round(percentile(floors, 50), 3),
        floor_p95_s=round(floor_p95, 3),
        floor_max_s=round(max(floors), 3),
        ideal_s=round(ideal, 3),
        target_s=round(target, 3),
        target_basis=basis,
        meets_target=p95 <= target,
        all_within_target=max(totals) <= target,
        ratio_to_floor_p95=round(p95 / floor_p95, 2),
        ratio_to_floor_p50=round(percentile(totals, 50) / percentile(floors, 50), 2),
        ack_p50_ms=ms([a.ack_s for a in bot], 50),
        before_google_p50_ms=ms([a.before_google_s for a in bot], 50),
        google_p50_ms=ms([a.google_s for a in bot], 50),
        after_google_p50_ms=ms([a.after_google_s for a in bot], 50),
        floor_before_google_p50_ms=ms([a.before_google_s for a in floor], 50),
        floor_google_p50_ms=ms([a.google_s for a in floor], 50),
        floor_after_google_p50_ms=ms([a.after_google_s for a in floor], 50),
        in_a_row=[min(a.in_a_row for a in bot), max(a.in_a_row for a in bot)],
        floor_in_a_row=[min(a.in_a_row for a in floor), max(a.in_a_row for a in floor)],
        spread_p50_ms=ms([a.spread_s for a in bot], 50),
        floor_spread_p50_ms=ms([a.spread_s for a in floor], 50),
        most_in_flight_min=min(a.most_in_flight for a in bot),
        floor_most_in_flight_min=min(a.most_in_flight for a in floor),
        google_calls=fewest_most([a.google_calls for a in bot]),
        floor_google_calls=fewest_most([a.google_calls for a in floor]),
        slack_calls=fewest_most([a.slack_calls for a in bot]),
        bot_cpu_p50_ms=ms([a.cpu_s for a in bot], 50),
        floor_cpu_p50_ms=ms([a.cpu_s for a in floor], 50),
        emulators_cpu_p50_ms=ms([a.emulators_cpu_s for a in bot], 50),
        floor_emulators_cpu_p50_ms=ms([a.emulators_cpu_s for a in floor], 50),
        bot_peak_mb=peak,
        bot_rss_after_mb=rss,
        under_memory_limit=peak < MEMORY_LIMIT_MB,
        bot_threads_after=threads,
    )


@dataclass(frozen=True)
class Measured:
    """One size's run."""

    staff: int
    results: list[Result]
    answers: dict[str, dict[str, list[Answer]]]
    """By scenario, the bot's and the floor's."""
    events: int
    setup_s: float
    problems: list[str]
    bot_log_problems: list[str] = field(default_factory=list)


async def measure(
    processes: Processes, options: Options, question: Question, staff: int
) -> Measured:
    async with aiohttp.ClientSession() as session:
        control = await ready_control(session, processes)
        bot = Bot(session=session, control=control, processes=processes)
        start = time.perf_counter()
        events = await connect_everyone(bot, staff=staff, seed=options.seed)
        setup_s = time.perf_counter() - start
        accounts: dict[str, Sequence[str]] = {
            staff_email(n): STAFF_SCOPES for n in range(1, staff + 1)
        }
        if question.with_primary:
            accounts = {OWNER_EMAIL: PRIMARY_SCOPES, **accounts}
        floor = FloorClient(processes.ports.google, await floor_tokens(control, accounts))
        try:
            await control.set_google_latency(options.latency)
            asker = Asker(
                bot=bot,
                floor=floor,
                question=question,
                options=options,
                staff=staff,
                emails=list(accounts),
                names=[user_name(user_id(n)) for n in range(1, staff + 1)],
            )
            pid = processes.bot.process.pid
            results, answers = [], {}
            for scenario in SCENARIOS:
                reset_peak(pid)
                bot_answers, floor_answers = await asker.run(scenario)
                rss = read_rss(pid, scenario.name, 0)
                answers[scenario.name] = {"bot": bot_answers, "floor": floor_answers}
                results.append(
                    summarize(
                        question,
                        scenario,
                        staff,
                        bot_answers,
                        floor_answers,
                        options,
                        (rss.peak_mb, rss.rss_mb),
                        thread_count(pid),
                    )
                )
        finally:
            await floor.close()
    return Measured(
        staff=staff,
        results=results,
        answers=answers,
        events=events,
        setup_s=setup_s,
        problems=sorted(set(asker.problems)),
    )


# --- the report -------------------------------------------------------------------------------


def table(results: list[Result]) -> str:
    def both(bot: float, floor: float, unit: str = "ms") -> str:
        return f"{bot:g} / {floor:g} {unit}"

    def in_a_row(pair: list[int]) -> str:
        return str(pair[0]) if pair[0] == pair[1] else f"{pair[0]}–{pair[1]}"

    rows: list[tuple[str, ...]] = [
        ("scenario", *(r.scenario for r in results)),
        ("answers timed", *(str(r.answers) for r in results)),
        (
            "bot answer p50 / p95 / max",
            *(f"{r.p50_s:.3f} / {r.p95_s:.3f} / {r.max_s:.3f} s" for r in results),
        ),
        (
            "floor p50 / p95 / max",
            *(
                f"{r.floor_p50_s:.3f} / {r.floor_p95_s:.3f} / {r.floor_max_s:.3f} s"
                for r in results
            ),
        ),
        ("ideal: calls in a row × latency", *(f"{r.ideal_s:g} s" for r in results)),
        (
            "bot ÷ floor, p95 (p50)",
            *(f"{r.ratio_to_floor_p95:g} ({r.ratio_to_floor_p50:g})" for r in results),
        ),
        (
            "target: p95 ≤",
            *(f"{r.target_s:.3f} s (1.3 × {r.target_basis})" for r in results),
        ),
        (
            "verdict",
            *(
                f"{'PASS' if r.meets_target else 'FAIL'} (every answer: {yes_no(r.all_within_target)})"
                for r in results
            ),
        ),
        ("ack p50", *(f"{r.ack_p50_ms:g} ms" for r in results)),
        (
            "before the first Google call, p50: bot / floor",
            *(both(r.before_google_p50_ms, r.floor_before_google_p50_ms) for r in results),
        ),
        (
            "Google, to the last call's answer, p50",
            *(both(r.google_p50_ms, r.floor_google_p50_ms) for r in results),
        ),
        (
            "after the last Google answer, p50",
            *(both(r.after_google_p50_ms, r.floor_after_google_p50_ms) for r in results),
        ),
        (
            "Google calls in a row",
            *(f"{in_a_row(r.in_a_row)} / {in_a_row(r.floor_in_a_row)}" for r in results),
        ),
        (
            "first wave's arrival spread, p50",
            *(both(r.spread_p50_ms, r.floor_spread_p50_ms) for r in results),
        ),
        (
            "Google calls in flight at once, fewest",
            *(f"{r.most_in_flight_min} / {r.floor_most_in_flight_min}" for r in results),
        ),
        ("bot's Google calls per answer", *(calls_shown(r.google_calls) for r in results)),
        ("floor's", *(calls_shown(r.floor_google_calls) for r in results)),
        ("bot's Slack calls per answer", *(calls_shown(r.slack_calls) for r in results)),
        (
            "CPU per ask, p50: bot's / floor client's",
            *(both(r.bot_cpu_p50_ms, r.floor_cpu_p50_ms) for r in results),
        ),
        (
            "emulators' CPU per ask, p50",
            *(both(r.emulators_cpu_p50_ms, r.floor_emulators_cpu_p50_ms) for r in results),
        ),
        (
            f"bot's peak memory (VmHWM), < {MEMORY_LIMIT_MB:g} MB",
            *(f"{r.bot_peak_mb:g} MB: {yes_no(r.under_memory_limit)}" for r in results),
        ),
        ("bot threads after", *(str(r.bot_threads_after) for r in results)),
    ]
    return aligned(rows)


def summary(sizes: list[Measured]) -> str:
    lines = ["staff  scenario        bot p95   floor p95  target            verdict  peak MB"]
    for size in sizes:
        for r in size.results:
            lines.append(
                f"{r.staff:<6} {r.scenario:<15} {r.p95_s:.3f} s   {r.floor_p95_s:.3f} s    "
                f"{r.target_s:.3f} s ({r.target_basis[:5]})  "
                f"{'PASS' if r.meets_target else 'FAIL':<7}  {r.bot_peak_mb:g}"
            )
    return "\n".join(lines)


def report(
    info: dict[str, Any], sizes: list[Measured], options: Options, question: Question
) -> None:
    database = "SQLite" if options.database_server is None else "PostgreSQL"
    for size in sizes:
        print(
            f"\n`/tonomo {question.text}`, {size.staff} staff on {database} "
            f"({size.events} events seeded; connecting everyone took {size.setup_s:.1f} s); "
            f"bot / floor\n"
        )
        print(table(size.results))
        for problem in size.problems:
            print(f"PROBLEM: {problem}")
        if size.bot_log_problems:
            print(
                f"the bot logged {len(size.bot_log_problems)} warnings or errors; the first:\n"
                f"{size.bot_log_problems[0]}"
            )
    print(f"\n{summary(sizes)}\n")
    print(", ".join(f"{k}: {v}" for k, v in info.items()))
    if options.json_path is not None:
        figures = {
            "machine": info,
            "database": database,
            "question": question.text,
            "options": {
                k: v
                for k, v in asdict(options).items()
                if k not in ("json_path", "database_server")
            },
            "sizes": [
                {
                    "staff": size.staff,
                    "events_seeded": size.events,
                    "setup_s": round(size.setup_s, 2),
                    "results": [asdict(r) for r in size.results],
                    "answers": {
                        scenario: {
                            who: [asdict(a) for a in answers] for who, answers in both.items()
                        }
                        for scenario, both in size.answers.items()
                    },
                    "problems": size.problems,
                    "bot_log_problems": size.bot_log_problems[:20],
                }
                for size in sizes
            ],
        }
        options.json_path.write_text(json.dumps(figures, indent=2, ensure_ascii=False) + "\n")


# --- running it -------------------------------------------------------------------------------


def parse_options(argv: Sequence[str] | None, question: Question, prog: str) -> Options:
    parser = argparse.ArgumentParser(
        prog=f"python -m {prog}",
        description=f"Time from `/tonomo {question.text}` to its answer, beside the floor.",
    )
    add = parser.add_argument
    default = " ".join(str(n) for n in question.default_staff)
    add("--staff", type=int, nargs="+", default=list(question.default_staff),
        help=f"staff with a connected calendar, one run each ({default})")  # fmt: skip
    add("--rounds", type=int, default=20, help="timed asks per scenario and size (20)")
    add("--warmup", type=int, default=2, help="untimed asks before each scenario (2)")
    add("--latency", type=float, default=0.15, help="seconds Google takes per call (0.15)")
    add("--seed", type=int, default=1, help="of the calendars' random events (1)")
    add("--database-url", default=None, help="a PostgreSQL server for a scratch database")
    add("--json", type=Path, default=None, metavar="FILE", help="also write the figures here")
    args = parser.parse_args(argv)
    if min(*args.staff, args.rounds) < 1 or args.warmup < 0 or args.latency <= 0:
        parser.error("--staff and --rounds must be ≥ 1, --warmup ≥ 0 and --latency > 0")
    return Options(
        question=question.name,
        staff=tuple(args.staff),
        rounds=args.rounds,
        warmup=args.warmup,
        latency=args.latency,
        seed=args.seed,
        database_server=args.database_url,
        json_path=args.json,
    )


def run(question: Question, argv: Sequence[str] | None, prog: str) -> int:
    options = parse_options(argv, question, prog)
    info = machine()  # before the load, so that the load average is the machine's own
    sizes = []
    for staff in options.staff:
        outcome = run_on_processes(
            prog.rpartition(".")[2],
            users=staff + 1,
            measure=functools.partial(measure, options=options, question=question, staff=staff),
            database_server=options.database_server,
        )
        if isinstance(outcome, int):
            return outcome
        measured, bot_problems = outcome
        sizes.append(replace(measured, bot_log_problems=bot_problems))
    info["load average at end"] = round(os.getloadavg()[0], 2)
    report(info, sizes, options, question)
    return 1 if any(size.problems for size in sizes) else 0


def main(argv: Sequence[str] | None = None) -> int:
    return run(AVAILABILITY, argv, "bench.availability_answer")


if __name__ == "__main__":
    sys.exit(main())
