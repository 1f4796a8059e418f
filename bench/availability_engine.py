"""The availability engine on one person's heavy week: free windows and fitting 1 h slots.

    python -m bench.availability_engine [--runs 200] [--warmup 10] [--busy 10000] [--seed 1]

One person in America/New_York, the week of 2026-03-05 to 2026-03-11 (the spring-forward
Sunday inside it), default working hours (09:00-17:00 Mon-Fri) and an hour of notice.
Busy intervals start anywhere in the week, uniformly at random (a
fixed seed); each scenario draws their lengths differently:

- dense: 15 min to 2 h with 15 min of buffer, so they overlap heavily and nothing is free;
- fragmented: 20 s to 2 min and no buffer, so about a third of the week is free in
  thousands of short gaps, the most windows for the slot search to look through;
- typical: only 40 intervals of 30 min to 3 h with 15 min of buffer, a busy
  photographer's real week.

One run is `free_windows` then `fitting_slots` (1 h, on :00 and :30), timed with
`time.perf_counter_ns` after the warm-up runs, with the garbage collector on as in the
bot. Building the busy `Interval` values from UTC datetimes is the calendar adapter's
work and is not in a run; it is timed apart. The target is a median under 20 ms.
"""

from __future__ import annotations

import argparse
import random
import statistics
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

from bench.report import machine, percentile
from bot.availability import Interval, WorkingHours, fitting_slots, free_windows

ZONE = ZoneInfo("America/New_York")
FIRST_DAY = date(2026, 3, 5)
DAYS = [FIRST_DAY + timedelta(days=n) for n in range(7)]
WEEK_START = datetime(2026, 3, 5, tzinfo=ZONE).astimezone(UTC)
WEEK_SECONDS = 7 * 24 * 3600
NOW = WEEK_START + timedelta(hours=8)
SLOT = timedelta(hours=1)
BUFFER = timedelta(minutes=15)
TARGET_MS = 20.0


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
    started = time.perf_counter_ns()
    action()
    return (time.perf_counter_ns() - started) / 1e6


def measure(scenario: Scenario, *, runs: int, warmup: int, seed: int) -> Result:
    spans = random_busy(scenario, random.Random(seed))
    built: list[Interval] = []
    build_ms = timed_ms(lambda: built.extend(Interval(s, e) for s, e in spans))
    for _ in range(warmup):
        one_run(built, scenario.buffer)
    run_ms = [timed_ms(lambda: one_run(built, scenario.buffer)) for _ in range(runs)]
    windows, slots = one_run(built, scenario.buffer)
    return Result(scenario, windows, slots, build_ms, run_ms)


def machine_line() -> str:
    m = machine()
    return (
        f"{m['date']}; nproc {m['nproc']}; {m['cpu']}; Python {m['python']}; "
        f"load average {m['load average at start']:.2f}"
    )


def table(results: list[Result]) -> str:
    header = (
        "scenario",
        "busy",
        "free windows",
        "1 h slots",
        "median ms",
        "p95 ms",
        "min ms",
        "max ms",
        "< 20 ms",
        "build busy ms",
    )
    rows = [header] + [
        (
            r.scenario.name,
            f"{r.scenario.busy:,}",
            str(r.free_windows),
            str(r.slots),
            f"{statistics.median(r.run_ms):.2f}",
            f"{percentile(r.run_ms, 95):.2f}",
            f"{min(r.run_ms):.2f}",
            f"{max(r.run_ms):.2f}",
            "yes" if statistics.median(r.run_ms) < TARGET_MS else "NO",
            f"{r.build_ms:.2f}",
        )
        for r in results
    ]
    widths = [max(len(row[i]) for row in rows) for i in range(len(header))]
    return "\n".join(
        "  ".join(c.rjust(w) for c, w in zip(row, widths, strict=True)) for row in rows
    )


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
    results = [
        measure(s, runs=options.runs, warmup=options.warmup, seed=options.seed)
        for s in scenarios(options.busy)
    ]
    print(f"{options.runs} runs per scenario after {options.warmup} warm-up runs\n")
    print(table(results))
    return 0 if all(statistics.median(r.run_ms) < TARGET_MS for r in results) else 1


if __name__ == "__main__":
    sys.exit(main())
