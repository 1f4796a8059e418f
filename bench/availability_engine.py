"""The availability engine on heavy weeks: one person's, and a team's with every rule.

    python -m bench.availability_engine [--runs 200] [--warmup 10] [--busy 10000] [--seed 1]

Everything happens in America/New_York, the week of 2026-03-05 to 2026-03-11 (the
spring-forward Sunday inside it), with default working hours (09:00-17:00 Mon-Fri) and an
hour of notice. Busy intervals start anywhere in the week, uniformly at random (a fixed
seed).

One person's week: `free_windows` then `fitting_slots` (1 h, on :00 and :30). Each
scenario draws the busy intervals' lengths differently:

- dense: 15 min to 2 h with 15 min of buffer, so they overlap heavily and nothing is free;
- fragmented: 20 s to 2 min and no buffer, so about a third of the week is free in
  thousands of short gaps, the most windows for the slot search to look through;
- typical: only 40 intervals of 30 min to 3 h with 15 min of buffer, a busy
  photographer's real week.

A team's week, every input of one person's time (`Rules`, `Commitments`): 50 people
sharing the busy intervals (200 each, 5 to 45 min, their own calendars), 10 bookings each
(1 h, 1 h 30 or 2 h on the quarter hour inside working hours), time off (every fifth
person a day, every tenth from the third a weekend and the Monday after), a buffer of
15 min, an hour of notice, and the 15-minute grid. For each person a run does
`free_time` over the 7 days, `fitting_slots` for 1 h on their free windows, and
`reasons` for one asked hour (a random working hour of the week).

Each run is timed with `time.perf_counter_ns` after the warm-up runs, with the garbage
collector on as in the bot. Building the busy `Interval` values from UTC datetimes is the
calendar adapter's work and is not in a run; it is timed apart. The target is a median
under 20 ms per run.
"""

from __future__ import annotations

import argparse
import random
import statistics
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime, time, timedelta
from time import perf_counter_ns
from zoneinfo import ZoneInfo

from bench.report import machine, percentile
from bot.availability import (
    DEFAULT_STEP,
    Commitments,
    Interval,
    Labelled,
    Rules,
    TimeOff,
    WorkingHours,
    fitting_slots,
    free_time,
    free_windows,
    reasons,
)

ZONE = ZoneInfo("America/New_York")
FIRST_DAY = date(2026, 3, 5)
DAYS = [FIRST_DAY + timedelta(days=n) for n in range(7)]
WEEK_START = datetime(2026, 3, 5, tzinfo=ZONE).astimezone(UTC)
WEEK_SECONDS = 7 * 24 * 3600
NOW = WEEK_START + timedelta(hours=8)
SLOT = timedelta(hours=1)
BUFFER = timedelta(minutes=15)
TARGET_MS = 20.0
PEOPLE = 50
BOOKINGS_EACH = 10
TEAM_RULES = Rules(ZONE, buffer=BUFFER, notice=timedelta(hours=1), step=DEFAULT_STEP)


@dataclass(frozen=True)
class Scenario:
    name: str
    busy: int
    shortest: timedelta
    longest: timedelta
    buffer: timedelta


@dataclass(frozen=True)
class Result:
    scenario: Scenario
    free_windows: int
    slots: int
    build_ms: float
    run_ms: list[float]


def scenarios(busy: int) -> list[Scenario]:
    return [
        Scenario("dense", busy, timedelta(minutes=15), timedelta(hours=2), BUFFER),
        Scenario("fragmented", busy, timedelta(seconds=20), timedelta(minutes=2), timedelta(0)),
        Scenario("typical", 40, timedelta(minutes=30), timedelta(hours=3), BUFFER),
    ]


def random_busy(scenario: Scenario, rng: random.Random) -> list[tuple[datetime, datetime]]:
    shortest, longest = (
        int(scenario.shortest.total_seconds()),
        int(scenario.longest.total_seconds()),
    )
    spans = []
    for _ in range(scenario.busy):
        start = WEEK_START + timedelta(seconds=rng.randrange(WEEK_SECONDS))
        spans.append((start, start + timedelta(seconds=rng.randint(shortest, longest))))
    return spans


def one_run(busy: list[Interval], buffer: timedelta) -> tuple[int, int]:
    free = free_windows(
        days=DAYS,
        zone=ZONE,
        hours=WorkingHours(),
        busy=busy,
        now=NOW,
        min_notice=timedelta(hours=1),
        buffer=buffer,
    )
    windows = [w for day in DAYS for w in free[day]]
    return len(windows), len(fitting_slots(windows, SLOT, zone=ZONE))


def timed_ms(action: Callable[[], object]) -> float:
    started = perf_counter_ns()
    action()
    return (perf_counter_ns() - started) / 1e6


def measure(scenario: Scenario, *, runs: int, warmup: int, seed: int) -> Result:
    spans = random_busy(scenario, random.Random(seed))
    built: list[Interval] = []
    build_ms = timed_ms(lambda: built.extend(Interval(s, e) for s, e in spans))
    for _ in range(warmup):
        one_run(built, scenario.buffer)
    run_ms = [timed_ms(lambda: one_run(built, scenario.buffer)) for _ in range(runs)]
    windows, slots = one_run(built, scenario.buffer)
    return Result(scenario, windows, slots, build_ms, run_ms)


@dataclass(frozen=True)
class Person:
    """One member of the team: what holds their time, and the hour asked about."""

    held: Commitments
    asked: Interval


@dataclass(frozen=True)
class TeamResult:
    people: int
    busy: int
    bookings: int
    days_off: int
    free_windows: int
    slots: int
    reasons: int
    asked_free: int
    build_ms: float
    run_ms: list[float]


def _working_hour(rng: random.Random, length: timedelta) -> Interval:
    """A span of `length` starting on a random quarter hour of a working day of the week,
    ending by 17:00."""
    day = rng.choice([d for d in DAYS if d.weekday() < 5])
    start = datetime.combine(day, time(9), ZONE) + timedelta(minutes=15) * rng.randrange(
        (timedelta(hours=8) - length) // timedelta(minutes=15) + 1
    )
    return Interval(start, start + length)


def _time_off(person: int) -> list[TimeOff]:
    if person % 5 == 0:
        day = DAYS[person % 7]
        return [TimeOff(day, day, "day off")]
    if person % 10 == 3:  # Saturday 2026-03-07 to Monday 2026-03-09, across the change
        return [TimeOff(date(2026, 3, 7), date(2026, 3, 9), "long weekend")]
    return []


def random_team(
    busy: int, rng: random.Random
) -> tuple[list[list[tuple[datetime, datetime]]], list[Person]]:
    """The busy spans of each person (not yet `Interval`s), and each person without them."""
    lengths = [timedelta(hours=1), timedelta(minutes=90), timedelta(hours=2)]
    spans: list[list[tuple[datetime, datetime]]] = [[] for _ in range(PEOPLE)]
    for n in range(busy):
        start = WEEK_START + timedelta(seconds=rng.randrange(WEEK_SECONDS))
        spans[n % PEOPLE].append((start, start + timedelta(minutes=rng.randint(5, 45))))
    people = [
        Person(
            Commitments(
                busy=[],
                bookings=[
                    Labelled(_working_hour(rng, rng.choice(lengths)), f"B{p:02d}{k:04d}")
                    for k in range(BOOKINGS_EACH)
                ],
                time_off=_time_off(p),
            ),
            asked=_working_hour(rng, timedelta(hours=1)),
        )
        for p in range(PEOPLE)
    ]
    return spans, people


def team_run(team: list[Person]) -> tuple[int, int, int, int]:
    """Free windows, 1 h slots, reasons and free asked hours over the whole team."""
    windows = slots = found = asked_free = 0
    for person in team:
        free = free_time(DAYS, TEAM_RULES, person.held, now=NOW)
        assert free is not None
        theirs = [w for day in DAYS for w in free[day]]
        windows += len(theirs)
        slots += len(fitting_slots(theirs, SLOT, zone=ZONE, step=TEAM_RULES.step))
        why = reasons(person.asked, TEAM_RULES, person.held, now=NOW)
        found += len(why)
        asked_free += not why
    return windows, slots, found, asked_free


def measure_team(*, busy: int, runs: int, warmup: int, seed: int) -> TeamResult:
    spans, people = random_team(busy, random.Random(seed))
    team: list[Person] = []

    def build() -> None:
        team.extend(
            Person(replace(p.held, busy=[Interval(s, e) for s, e in theirs]), p.asked)
            for p, theirs in zip(people, spans, strict=True)
        )

    build_ms = timed_ms(build)
    for _ in range(warmup):
        team_run(team)
    run_ms = [timed_ms(lambda: team_run(team)) for _ in range(runs)]
    windows, slots, found, asked_free = team_run(team)
    return TeamResult(
        people=len(team),
        busy=sum(len(theirs) for theirs in spans),
        bookings=sum(len(p.held.bookings) for p in team),
        days_off=sum(len(p.held.time_off) for p in team),
        free_windows=windows,
        slots=slots,
        reasons=found,
        asked_free=asked_free,
        build_ms=build_ms,
        run_ms=run_ms,
    )


def machine_line() -> str:
    m = machine()
    return (
        f"{m['date']}; nproc {m['nproc']}; {m['cpu']}; Python {m['python']}; "
        f"load average {m['load average at start']:.2f}"
    )


def aligned(rows: list[tuple[str, ...]]) -> str:
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    return "\n".join(
        "  ".join(c.rjust(w) for c, w in zip(row, widths, strict=True)) for row in rows
    )


def timings(run_ms: list[float]) -> tuple[str, ...]:
    median = statistics.median(run_ms)
    return (
        f"{median:.2f}",
        f"{percentile(run_ms, 95):.2f}",
        f"{min(run_ms):.2f}",
        f"{max(run_ms):.2f}",
        "yes" if median < TARGET_MS else "NO",
    )


TIMINGS = ("median ms", "p95 ms", "min ms", "max ms", "< 20 ms")


def table(results: list[Result]) -> str:
    header = ("scenario", "busy", "free windows", "1 h slots", *TIMINGS, "build busy ms")
    return aligned(
        [header]
        + [
            (
                r.scenario.name,
                f"{r.scenario.busy:,}",
                str(r.free_windows),
                str(r.slots),
                *timings(r.run_ms),
                f"{r.build_ms:.2f}",
            )
            for r in results
        ]
    )


def team_table(r: TeamResult) -> str:
    header = (
        "people",
        "busy",
        "bookings",
        "time off",
        "free windows",
        "1 h slots",
        "reasons",
        "asked free",
        *TIMINGS,
        "build busy ms",
    )
    row = (
        str(r.people),
        f"{r.busy:,}",
        str(r.bookings),
        str(r.days_off),
        f"{r.free_windows:,}",
        f"{r.slots:,}",
        str(r.reasons),
        str(r.asked_free),
        *timings(r.run_ms),
        f"{r.build_ms:.2f}",
    )
    return aligned([header, row])


def parse_options(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--runs", type=int, default=200, help="timed runs per scenario")
    parser.add_argument("--warmup", type=int, default=10, help="untimed runs first")
    parser.add_argument(
        "--busy", type=int, default=10_000, help="busy intervals (dense, fragmented)"
    )
    parser.add_argument("--seed", type=int, default=1, help="seed of the random week")
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    options = parse_options(argv)
    print(machine_line())
    print(f"{options.runs} runs per scenario after {options.warmup} warm-up runs\n")
    results = [
        measure(s, runs=options.runs, warmup=options.warmup, seed=options.seed)
        for s in scenarios(options.busy)
    ]
    print("One person's week\n")
    print(table(results))
    team = measure_team(
        busy=options.busy, runs=options.runs, warmup=options.warmup, seed=options.seed
    )
    print(f"\nA team's week: free_time, 1 h fitting_slots and reasons for each of {PEOPLE}\n")
    print(team_table(team))
    medians = [statistics.median(r.run_ms) for r in results] + [statistics.median(team.run_ms)]
    return 0 if all(median < TARGET_MS for median in medians) else 1


if __name__ == "__main__":
    sys.exit(main())
