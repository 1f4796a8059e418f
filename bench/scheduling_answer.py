"""How soon `/tonomo why` and `/tonomo book anyone` for 50 staff are answered, Google slow.

    python -m bench.scheduling_answer [--rounds 20] [--warmup 2] [--latency 0.15]
                                      [--database-url postgresql://…] [--json FILE]

The issue's target: `why` and `book anyone` for 50 staff, with the Google emulator
answering each call in 150 ms, answer within 1.3 × one Google round trip plus the
booking insert. Read as: `why @user DAY TIME` (one person's free/busy, read live) within
1.3 × one round trip, 0.195 s; `book anyone DAY TIME DURATION TITLE` (every candidate's
calendar read at once, then the event inserted on the primary calendar) within 1.3 × two
round trips, 0.39 s. PASS means p95 within it.

The processes and the set-up are `availability_answer`'s (`bench.answer_setup`): the
Slack and Google emulators (`bench.emulators`), the bot (`python app.py`, configured from
the environment like a deployment, SQLite in a temporary directory or, with
`--database-url`, a scratch PostgreSQL database), and this one. One customer channel with
its owner and `--staff` staff members, each staff calendar seeded with a fortnight of busy
time, and everyone connected through the real consent flow, the owner's primary calendar
first. Then Google's emulator answers every call in `--latency` seconds, and the owner
asks, one command at a time, `--warmup` untimed then `--rounds` timed times each:

- `why @user DAY TIME`: every ask about the same staff member and time, the start of one
  of their own busy (opaque) events next week, within working hours (the same person, so
  that with expired tokens the bot knows theirs is expired, as it would in use). Timed to
  its answer, the post to the command's `response_url`, which must say the person isn't
  free and that they are busy on their own calendar.
- `book anyone DAY TIME 30m TITLE`: among all connected staff, each ask at its own slot
  next week (Monday to Friday, 9:00 to 16:30 on the half hour), so every ask books someone.
  Timed to the booking's message in the channel (`chat.postMessage`); an answer to the
  asker instead (nobody free, a refusal) fails the run. The message must name the person
  booked (their mention and their calendar's address), who must be free then on their
  seeded calendar; at the end every booking's event must be on the primary calendar at its
  time, with that person invited (read from Google's emulator with a grant of the owner's
  account).

Each in two scenarios, as for `availability_answer`: *fresh tokens* (both commands), then
*expired tokens*: before each ask every access token is expired and new ones are issued
for 2 minutes, which the bot reads as expired already, so every calendar read and the
insert refresh their token first. The target is judged on fresh tokens.

Times are by the emulators' arrival clock, the same as `time.time()` at the send. The
Google requests that arrived between the command and its answer are counted by path, and
split the answer's time: before the first Google call, Google (to the last call's answer)
and after it. Within the Google part, the calls *in a row* (each arriving after an earlier
one's answer) times the latency is Google's own share; the rest is the bot working
between two calls.
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import json
import re
import sys
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import aiohttp

from bench.answer_setup import (
    EXPIRED_LIFETIME_S,
    FREEBUSY_PATH,
    OWNER,
    OWNER_EMAIL,
    REPLY_TIMEOUT_S,
    SCENARIOS,
    ZONE,
    Bot,
    Control,
    Processes,
    Scenario,
    Sent,
    add_calendar_options,
    aligned,
    calls_shown,
    connect_everyone,
    google_split,
    most_in_flight,
    ms,
    print_problems,
    ready_control,
    run_on_processes,
    staff_calendars,
    staff_email,
    thread_count,
    yes_no,
)
from bench.emulators import user_id, user_name
from bench.fleet import HOST, cpu_seconds
from bench.report import machine, percentile
from sandbox.fake_slack import text_of

TARGET_FACTOR = 1.3
WHY, BOOK_ANYONE = "why", "book anyone"
COMMANDS = (WHY, BOOK_ANYONE)
ROUND_TRIPS = {WHY: 1, BOOK_ANYONE: 2}
"""Google round trips in a row each command needs with fresh tokens: the issue's budget."""
PAUSE_S = 0.25  # between asks, so that nothing of one is still running at the next
BOOKING_LENGTH = timedelta(minutes=30)
WORK_START, WORK_END = 9, 17  # the customer's working hours (the bot's default)
POST_MESSAGE_PATH = "/api/chat.postMessage"
READ_SCOPE = "https://www.googleapis.com/auth/calendar.readonly"
STAFF_EMAIL = re.compile(r"photographer([0-9]{2})@bench\.example")


@dataclass(frozen=True)
class Options:
    staff: int
    rounds: int
    warmup: int
    latency: float
    seed: int
    commands: tuple[str, ...]
    database_server: str | None
    json_path: Path | None


# --- what is asked -----------------------------------------------------------------------------


def next_monday(today: date) -> date:
    return today + timedelta(days=7 - today.weekday())


@dataclass(frozen=True)
class Interval:
    start: datetime
    end: datetime

    def overlaps(self, other: Interval) -> bool:
        return self.start < other.end and other.start < self.end


def seeded_busy(options: Options) -> dict[int, list[Interval]]:
    """Each staff member's opaque events, as `staff_calendars` seeds them."""
    zone = ZoneInfo(ZONE)
    busy: dict[int, list[Interval]] = {}
    for number, account in enumerate(staff_calendars(options.staff, options.seed), start=1):
        found = busy.setdefault(number, [])
        for event in account["events"]:
            if event["transparency"] != "opaque":
                continue
            start, end = event["start"], event["end"]
            if len(start) == len("2026-01-31"):  # all day, in the calendar's zone
                found.append(
                    Interval(
                        datetime.combine(date.fromisoformat(start), datetime.min.time(), zone),
                        datetime.combine(date.fromisoformat(end), datetime.min.time(), zone),
                    )
                )
            else:
                found.append(Interval(datetime.fromisoformat(start), datetime.fromisoformat(end)))
    return busy


def why_question(busy: dict[int, list[Interval]]) -> tuple[int, datetime]:
    """The first staff member with an opaque timed event on a working day next week that
    starts within working hours, and its start: a time that is busy for them."""
    zone = ZoneInfo(ZONE)
    monday = next_monday(datetime.now(zone).date())
    for number, intervals in sorted(busy.items()):
        starts = sorted(
            i.start
            for i in intervals
            if i.end - i.start < timedelta(days=1)
            and monday <= i.start.date() < monday + timedelta(days=5)
            and WORK_START <= i.start.hour < WORK_END
        )
        if starts:
            return number, starts[0]
    raise RuntimeError("no staff member is busy next week: nothing to ask `why` about")


def booking_slots() -> list[datetime]:
    """Every half-hour slot of next week's working days, each day's in turn (Monday 9:00,
    Tuesday 9:00, …), so that consecutive asks fall on different days."""
    zone = ZoneInfo(ZONE)
    monday = next_monday(datetime.now(zone).date())
    per_day = (WORK_END - WORK_START) * 2
    slots = []
    for n in range(per_day):
        for day in range(5):
            at = datetime.combine(monday + timedelta(days=day), datetime.min.time(), zone)
            slots.append(at + timedelta(hours=WORK_START, minutes=30 * n))
    return slots


def slack_mention(number: int) -> str:
    person = user_id(number)
    return f"<@{person}|{user_name(person)}>"


def when_words(at: datetime) -> str:
    return f"{at.date().isoformat()} {at.hour}:{at.minute:02d}"


# --- one ask ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Answer:
    command: str
    total_s: float
    """From sending the command to its answer reaching Slack's emulator."""
    ack_s: float
    before_google_s: float
    google_s: float
    after_google_s: float
    in_a_row: int
    """Google calls in a row: each arrived after an earlier one's answer."""
    between_calls_s: float
    """The Google part less `in_a_row` × latency: the bot's own time between calls (the
    spread of each step's calls, and the gaps)."""
    gaps_s: float
    """From each step's last call's answer to the next step's first call, summed: the bot
    working with nothing at Google."""
    freebusy_spread_s: float
    """From the first free/busy call's arrival to the last one's, of the first in a row."""
    most_in_flight: int
    google_calls: dict[str, int]
    steps: list[dict[str, Any]]
    """Each call in a row's depth: when its first call arrived (ms after the send), by path."""
    bot_cpu_s: float
    asked: str
    booked: str = ""
    """`book anyone`: the staff member booked."""


@dataclass(frozen=True)
class Booking:
    title: str
    start: datetime
    number: int


def chained(google: list[dict[str, Any]], latency: float) -> list[int]:
    """Each call's depth: 1 + the deepest call whose answer came before it arrived."""
    ats = [float(r["at"]) for r in google]
    depths: list[int] = []
    for i, at in enumerate(ats):
        before = [depths[j] for j in range(i) if ats[j] + latency <= at]
        depths.append(1 + max(before, default=0))
    return depths


def steps_of(
    google: list[dict[str, Any]], depths: list[int], sent_at: float
) -> list[dict[str, Any]]:
    steps: list[dict[str, Any]] = []
    for depth in range(1, max(depths, default=0) + 1):
        calls = [r for r, d in zip(google, depths, strict=True) if d == depth]
        paths: dict[str, int] = {}
        for r in calls:
            paths[r["path"]] = paths.get(r["path"], 0) + 1
        first = min(float(r["at"]) for r in calls)
        last = max(float(r["at"]) for r in calls)
        steps.append(
            {
                "at_ms": round((first - sent_at) * 1000, 1),
                "last_at_ms": round((last - sent_at) * 1000, 1),
                "calls": paths,
            }
        )
    return steps


def gaps(steps: list[dict[str, Any]], latency: float) -> float:
    """From each step's last call's answer to the next step's first call, summed (s)."""
    return sum(
        (float(after["at_ms"]) - float(before["last_at_ms"])) / 1000 - latency
        for before, after in itertools.pairwise(steps)
    )


@dataclass
class Asker:
    bot: Bot
    options: Options
    busy: dict[int, list[Interval]]
    why: tuple[int, datetime]
    slots: list[datetime]
    problems: list[str] = field(default_factory=list)
    bookings: list[Booking] = field(default_factory=list)

    def problem(self, scenario: Scenario, command: str, text: str) -> None:
        self.problems.append(f"{command}, {scenario.name}: {text}")

    async def ask(self, scenario: Scenario, command: str) -> Answer:
        control, latency = self.bot.control, self.options.latency
        if command == WHY:
            number, at = self.why
            text = f"why {slack_mention(number)} {when_words(at)}"
        else:
            at = self.slots[len(self.bookings)]
            title = f"Bench shoot {len(self.bookings) + 1:02d}"
            text = f"book anyone {when_words(at)} 30m {title}"
        if scenario.expired_tokens:
            await control.expire_google_tokens(EXPIRED_LIFETIME_S)
        pid = self.bot.processes.bot.process.pid
        cpu_before = cpu_seconds(pid)
        sent = await self.bot.send(OWNER, text)
        booked = ""
        if command == WHY:
            reply = await self.bot.reply(sent)
            self.check_why(scenario, number, json.loads(reply["body"]))
        else:
            reply, booked = await self.booking_answer(scenario, sent, title, at)
        cpu = cpu_seconds(pid) - cpu_before
        arrived = float(reply["at"])
        google = [r for r in await control.requests("google", "", sent.at) if r["at"] <= arrived]
        google.sort(key=lambda r: float(r["at"]))
        split = google_split(google, sent.at, arrived, latency)
        if split is None:
            self.problem(scenario, command, "an answer made no Google call")
            return Answer(
                command, arrived - sent.at, sent.ack_s, 0, 0, 0, 0, 0, 0, 0, 0, {}, [], cpu, text
            )
        depths = chained(google, latency)
        steps = steps_of(google, depths, sent.at)
        # The first free/busy calls (the candidates' read), not a later one's.
        reads = [d for r, d in zip(google, depths, strict=True) if r["path"] == FREEBUSY_PATH]
        free_busy = [
            float(r["at"])
            for r, d in zip(google, depths, strict=True)
            if r["path"] == FREEBUSY_PATH and d == min(reads)
        ] or [0.0]
        return Answer(
            command=command,
            total_s=arrived - sent.at,
            ack_s=sent.ack_s,
            before_google_s=split.before_s,
            google_s=split.google_s,
            after_google_s=split.after_s,
            in_a_row=max(depths),
            between_calls_s=split.google_s - max(depths) * latency,
            gaps_s=gaps(steps, latency),
            freebusy_spread_s=max(free_busy) - min(free_busy),
            most_in_flight=most_in_flight([float(r["at"]) for r in google], latency),
            google_calls=split.calls,
            steps=steps,
            bot_cpu_s=cpu,
            asked=text,
            booked=booked,
        )

    def check_why(self, scenario: Scenario, number: int, message: dict[str, Any]) -> None:
        text = text_of(message)
        wanted = (f"<@{user_id(number)}>", "isn't free", "busy on their own calendar")
        missing = [w for w in wanted if w not in text]
        if missing:
            self.problem(scenario, WHY, f"the answer lacks {missing}: {text[:300]!r}")

    async def booking_answer(
        self, scenario: Scenario, sent: Sent, title: str, at: datetime
    ) -> tuple[dict[str, Any], str]:
        """The booking's message in the channel (or, failing, the answer to the asker), and
        who it booked."""
        path = f"^({re.escape(POST_MESSAGE_PATH)}|{re.escape(sent.response_path)})$"
        deadline = time.monotonic() + REPLY_TIMEOUT_S
        since = sent.at
        while time.monotonic() < deadline:
            found = await self.bot.control.requests("slack", path, since, wait=1.0)
            for request in found:
                since = max(since, float(request["at"]) + 1e-6)
                message = json.loads(request["body"])
                text = text_of(message)
                if request["path"] != POST_MESSAGE_PATH:
                    self.problem(scenario, BOOK_ANYONE, f"no booking: {text[:300]!r}")
                    return request, ""
                if title in text:
                    return request, self.check_booking(scenario, text, title, at)
        raise RuntimeError(
            f"no answer to `{sent.fields['text']}` within {REPLY_TIMEOUT_S:.0f} s:\n"
            f"{self.bot.processes.bot.log_tail()}"
        )

    def check_booking(self, scenario: Scenario, text: str, title: str, at: datetime) -> str:
        """Who the booking's message names, checked: one staff member, free then."""
        numbers = sorted({int(n) for n in STAFF_EMAIL.findall(text)})
        if len(numbers) != 1:
            self.problem(scenario, BOOK_ANYONE, f"not one person booked: {text[:300]!r}")
            return ""
        [number] = numbers
        if f"<@{user_id(number)}" not in text:
            self.problem(scenario, BOOK_ANYONE, f"the booking doesn't name {user_id(number)}")
        slot = Interval(at, at + BOOKING_LENGTH)
        if any(slot.overlaps(busy) for busy in self.busy.get(number, [])):
            self.problem(scenario, BOOK_ANYONE, f"{staff_email(number)} was busy at {at}")
        self.bookings.append(Booking(title, at, number))
        return staff_email(number)

    async def run(self, scenario: Scenario, command: str) -> list[Answer]:
        for _ in range(self.options.warmup):
            await self.ask(scenario, command)
            await asyncio.sleep(PAUSE_S)
        answers = []
        for _ in range(self.options.rounds):
            answers.append(await self.ask(scenario, command))
            await asyncio.sleep(PAUSE_S)
        return answers


async def booking_problems(
    control: Control, processes: Processes, bookings: list[Booking]
) -> list[str]:
    """Every booking's event on the primary calendar, at its time, the person invited:
    read from Google's emulator with a new grant of the owner's account."""
    if not bookings:
        return []
    body = {"emails": [OWNER_EMAIL], "scopes": [READ_SCOPE]}
    async with control.session.post(f"{control.url}/google/tokens", json=body) as answer:
        answer.raise_for_status()
        token = (await answer.json())["accounts"][0]["access_token"]
    url = f"http://{HOST}:{processes.ports.google}/calendar/v3/calendars/primary/events"
    query = {
        "timeMin": min(b.start for b in bookings).isoformat(),
        "timeMax": (max(b.start for b in bookings) + BOOKING_LENGTH).isoformat(),
        "maxResults": "2500",
    }
    events: list[dict[str, Any]] = []
    while True:
        headers = {"Authorization": f"Bearer {token}"}
        async with control.session.get(url, params=query, headers=headers) as answer:
            answer.raise_for_status()
            page = await answer.json()
        events += page.get("items", [])
        if not page.get("nextPageToken"):
            break
        query["pageToken"] = page["nextPageToken"]
    on_calendar = {
        (
            e.get("summary", ""),
            datetime.fromisoformat(e["start"]["dateTime"]),
            frozenset(a["email"] for a in e.get("attendees", [])),
        )
        for e in events
        if "dateTime" in e.get("start", {})
    }
    problems = []
    for booking in bookings:
        found = [
            guests
            for summary, start, guests in on_calendar
            if summary == booking.title and start == booking.start
        ]
        if not found:
            problems.append(f"{booking.title!r} at {booking.start} is not on the primary calendar")
        elif not any(staff_email(booking.number) in guests for guests in found):
            problems.append(f"{booking.title!r}: {staff_email(booking.number)} is not invited")
        elif len(found) > 1:
            problems.append(f"{booking.title!r} is on the primary calendar {len(found)} times")
    return problems


# --- the figures ------------------------------------------------------------------------------


@dataclass
class Result:
    command: str
    scenario: str
    expired_tokens: bool
    staff: int
    google_latency_s: float
    answers: int
    p50_s: float
    p95_s: float
    max_s: float
    mean_s: float
    ideal_s: float
    """Google calls in a row the command needs × latency: no answer can beat it."""
    target_s: float
    """1.3 × the ideal: with fresh tokens, the issue's target."""
    meets_target: bool
    """p95 within the target."""
    all_within_target: bool
    ack_p50_ms: float
    before_google_p50_ms: float
    google_p50_ms: float
    after_google_p50_ms: float
    between_calls_p50_ms: float
    gaps_p50_ms: float
    in_a_row: list[int]
    """The fewest and the most Google calls in a row of one answer."""
    freebusy_spread_p50_ms: float
    most_in_flight_min: int
    google_calls: dict[str, list[int]]
    """By path, the fewest and the most one answer made."""
    bot_cpu_p50_ms: float
    bot_threads_after: int
    people_booked: int
    """`book anyone`: how many different staff members the answers booked."""


def summarize(
    command: str, scenario: Scenario, answers: list[Answer], options: Options, threads: int
) -> Result:
    totals = [a.total_s for a in answers]
    paths = sorted({path for a in answers for path in a.google_calls})
    ideal = ROUND_TRIPS[command] * scenario.calls_each * options.latency
    target = TARGET_FACTOR * ideal
    p95 = percentile(totals, 95)
    return Result(
        command=command,
        scenario=scenario.name,
        expired_tokens=scenario.expired_tokens,
        staff=options.staff,
        google_latency_s=options.latency,
        answers=len(answers),
        p50_s=round(percentile(totals, 50), 3),
        p95_s=round(p95, 3),
        max_s=round(max(totals), 3),
        mean_s=round(sum(totals) / len(totals), 3),
        ideal_s=round(ideal, 3),
        target_s=round(target, 3),
        meets_target=p95 <= target,
        all_within_target=max(totals) <= target,
        ack_p50_ms=ms([a.ack_s for a in answers], 50),
        before_google_p50_ms=ms([a.before_google_s for a in answers], 50),
        google_p50_ms=ms([a.google_s for a in answers], 50),
        after_google_p50_ms=ms([a.after_google_s for a in answers], 50),
        between_calls_p50_ms=ms([a.between_calls_s for a in answers], 50),
        gaps_p50_ms=ms([a.gaps_s for a in answers], 50),
        in_a_row=[min(a.in_a_row for a in answers), max(a.in_a_row for a in answers)],
        freebusy_spread_p50_ms=ms([a.freebusy_spread_s for a in answers], 50),
        most_in_flight_min=min(a.most_in_flight for a in answers),
        google_calls={
            path: [
                min(a.google_calls.get(path, 0) for a in answers),
                max(a.google_calls.get(path, 0) for a in answers),
            ]
            for path in paths
        },
        bot_cpu_p50_ms=ms([a.bot_cpu_s for a in answers], 50),
        bot_threads_after=threads,
        people_booked=len({a.booked for a in answers if a.booked}),
    )


@dataclass(frozen=True)
class Measured:
    results: list[Result]
    answers: dict[str, list[Answer]]
    events: int
    setup_s: float
    problems: list[str]


async def measure(processes: Processes, options: Options) -> Measured:
    async with aiohttp.ClientSession() as session:
        control = await ready_control(session, processes)
        bot = Bot(session=session, control=control, processes=processes)
        start = time.perf_counter()
        events = await connect_everyone(bot, staff=options.staff, seed=options.seed)
        setup_s = time.perf_counter() - start
        await control.set_google_latency(options.latency)
        busy = seeded_busy(options)
        asker = Asker(
            bot=bot,
            options=options,
            busy=busy,
            why=why_question(busy),
            slots=booking_slots(),
        )
        results, answers = [], {}
        # Both commands with fresh tokens first: the expired scenario leaves the bot tokens
        # it reads as expired.
        for scenario in SCENARIOS:
            for command in options.commands:
                name = f"{command}, {scenario.name}"
                answers[name] = await asker.run(scenario, command)
                threads = thread_count(processes.bot.process.pid)
                results.append(summarize(command, scenario, answers[name], options, threads))
        asker.problems += await booking_problems(control, processes, asker.bookings)
    return Measured(
        results=results,
        answers=answers,
        events=events,
        setup_s=setup_s,
        problems=sorted(set(asker.problems)),
    )


# --- the report -----------------------------------------------------------------------------


def table(results: list[Result]) -> str:
    def each(show: Any) -> list[str]:
        return [show(r) for r in results]

    def verdict(r: Result) -> str:
        passed = "PASS" if r.meets_target else "FAIL"
        return f"{r.target_s:.3f} s: {passed} (every answer: {yes_no(r.all_within_target)})"

    rows: list[list[str]] = [
        ["", *each(lambda r: r.command)],
        ["scenario", *each(lambda r: r.scenario)],
        ["staff, Google latency a call", *each(lambda r: f"{r.staff}, {r.google_latency_s:g} s")],
        ["answers timed", *each(lambda r: str(r.answers))],
        [
            "answer p50 / p95 / max",
            *each(lambda r: f"{r.p50_s:.3f} / {r.p95_s:.3f} / {r.max_s:.3f} s"),
        ],
        ["answer mean", *each(lambda r: f"{r.mean_s:.3f} s")],
        ["ideal: calls in a row × latency", *each(lambda r: f"{r.ideal_s:g} s")],
        ["target: p95 ≤ 1.3 × ideal", *each(verdict)],
        ["ack p50", *each(lambda r: f"{r.ack_p50_ms:g} ms")],
        ["before the first Google call, p50", *each(lambda r: f"{r.before_google_p50_ms:g} ms")],
        ["Google, to the last call's answer, p50", *each(lambda r: f"{r.google_p50_ms:g} ms")],
        [
            "  of which the bot between calls, p50",
            *each(lambda r: f"{r.between_calls_p50_ms:g} ms"),
        ],
        [
            "    of which from an answer to the next call, p50",
            *each(lambda r: f"{r.gaps_p50_ms:g} ms"),
        ],
        ["after the last Google answer, p50", *each(lambda r: f"{r.after_google_p50_ms:g} ms")],
        [
            "Google calls in a row",
            *each(lambda r: "–".join(str(n) for n in sorted(set(r.in_a_row)))),
        ],
        [
            "free/busy calls' arrival spread, p50",
            *each(lambda r: f"{r.freebusy_spread_p50_ms:g} ms"),
        ],
        ["Google calls in flight at once, fewest", *each(lambda r: str(r.most_in_flight_min))],
        ["Google calls per answer", *each(lambda r: calls_shown(r.google_calls))],
        [
            "different people booked",
            *each(lambda r: str(r.people_booked) if r.people_booked else ""),
        ],
        ["bot CPU per answer, p50", *each(lambda r: f"{r.bot_cpu_p50_ms:g} ms")],
        ["bot threads after", *each(lambda r: str(r.bot_threads_after))],
    ]
    return aligned(rows)


def report(
    info: dict[str, Any], measured: Measured, bot_problems: list[str], options: Options
) -> None:
    database = "SQLite" if options.database_server is None else "PostgreSQL"
    print(
        f"\n`why` and `book anyone`, {options.staff} staff calendars on {database} "
        f"({measured.events} events seeded; connecting everyone took {measured.setup_s:.1f} s)\n"
    )
    print(f"{table(measured.results)}\n")
    print_problems(info, measured.problems, bot_problems)
    if options.json_path is not None:
        figures = {
            "machine": info,
            "database": database,
            "options": {
                k: v
                for k, v in asdict(options).items()
                if k not in ("json_path", "database_server")
            },
            "events_seeded": measured.events,
            "setup_s": round(measured.setup_s, 2),
            "results": [asdict(r) for r in measured.results],
            "answers": {
                name: [asdict(a) for a in answers] for name, answers in measured.answers.items()
            },
            "problems": measured.problems,
            "bot_log_problems": bot_problems[:20],
        }
        options.json_path.write_text(
            json.dumps(figures, indent=2, ensure_ascii=False, default=str) + "\n"
        )


# --- running it -------------------------------------------------------------------------------


def parse_options(argv: Sequence[str] | None) -> Options:
    parser = argparse.ArgumentParser(
        prog="python -m bench.scheduling_answer",
        description="Time from `/tonomo why` and `/tonomo book anyone` to their answers, 50 staff, Google slow.",
    )
    add_calendar_options(parser, staff=50)
    add = parser.add_argument
    add("--rounds", type=int, default=20, help="timed asks per command and scenario (20)")
    add("--warmup", type=int, default=2, help="untimed asks before each (2)")
    add(
        "--only",
        choices=COMMANDS,
        default=None,
        help="time only this command (both by default)",
    )
    add("--database-url", default=None, help="a PostgreSQL server for a scratch database")
    args = parser.parse_args(argv)
    if min(args.staff, args.rounds) < 1 or args.warmup < 0 or args.latency < 0:
        parser.error("--staff and --rounds must be ≥ 1, --warmup and --latency ≥ 0")
    bookings = len(SCENARIOS) * (args.rounds + args.warmup)
    if args.only != WHY and bookings > len(booking_slots()):
        parser.error(f"`book anyone` has {len(booking_slots())} slots next week: fewer rounds")
    return Options(
        staff=args.staff,
        rounds=args.rounds,
        warmup=args.warmup,
        latency=args.latency,
        seed=args.seed,
        commands=COMMANDS if args.only is None else (args.only,),
        database_server=args.database_url,
        json_path=args.json,
    )


def main(argv: Sequence[str] | None = None) -> int:
    options = parse_options(argv)
    info = machine()  # before the load, so that the load average is the machine's own
    outcome = run_on_processes(
        "scheduling_answer",
        users=options.staff + 1,
        measure=lambda processes: measure(processes, options),
        database_server=options.database_server,
    )
    if isinstance(outcome, int):
        return outcome
    measured, bot_problems = outcome
    report(info, measured, bot_problems, options)
    return 1 if measured.problems else 0


if __name__ == "__main__":
    sys.exit(main())
