"""One periodic health round over many connections, with Google answering slowly.

    python -m bench.health_checks [--connections 5000] [--latency 0.1] [--json FILE]
                                  [--database-url postgresql://…] [--status-probe]

The issue's benchmark: check 5,000 connections with Google's emulator answering every
call in 100 ms; report the wall time, the peak memory and the concurrency limit used.
Target: within 2 × (connections × 2 calls × latency ÷ concurrency limit), peak memory
under 300 MB.

Two processes on loopback. The Slack and Google emulators (`bench.emulators`) run in
their own process; Google's issues a grant per account through the control API. This
process is the bot's side, built exactly as production builds it
(`build_services(Settings.from_env(env))`), against a fresh SQLite file in a temporary
directory or, with `--database-url`, a scratch PostgreSQL database created and dropped
here. The connections are seeded straight into the database: staff calendars,
`--per-customer` to a customer, connected, last checked a day ago (so all are due), their
tokens sealed with `TokenCipher` and an access token already expired, so that each check
makes Google's two calls: a token refresh and `calendars/primary`. Only then does the
emulator's latency go up.

What is timed is one `Health.check_due(interval=30 min)`, the scheduler's round. Then
every connection must have been checked and still be connected, with no event recorded
and no lease left, and the emulator must have seen exactly one refresh and one
`calendars/primary` per connection. The peak memory is this process's: its VmHWM is
reset just before the round (`/proc/self/clear_refs`), and a thread samples VmRSS
meanwhile as a cross-check; the RSS before the round is shown too, so that the round's
own share is visible. A task sleeping 50 ms at a time measures how late the event loop
wakes it during the round: what a Slack request to the same process would wait.

`--status-probe` also times what a person's `/tonomo status` costs meanwhile. Two more
customers get `--per-customer` connections each, checked just now (so not due) but with
expired access tokens too. One has them checked live and recorded through
`Health.check_now` and `Health.record_after_answer` (as `status` does) 1 s into the round, the other alone after it. Their checks add their
own Google calls to the expected counts.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import gc
import json
import logging
import math
import os
import secrets
import signal
import sys
import tempfile
import threading
import time
from collections.abc import AsyncIterator, Iterator, Sequence
from dataclasses import asdict, dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import aiohttp
from sqlalchemy import func, select, text
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

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
from bench.report import machine
from bot.calendar.port import STAFF_SCOPES, TokenSet
from bot.config import Settings
from bot.health import Health
from bot.services import Services, build_services
from bot.tokens import TokenCipher
from sandbox.fake_slack import DEFAULT_TEAM_ID
from storage.db import async_url, session_factory
from storage.models import (
    CalendarConnection,
    ConnectionEvent,
    ConnectionKind,
    ConnectionState,
    Customer,
    utcnow,
)

INTERVAL = timedelta(minutes=30)  # HEALTH_CHECK_MINUTES' default
CALLS_PER_CHECK = 2  # a token refresh, then calendars/primary
TIME_FACTOR_TARGET = 2.0
PEAK_RSS_TARGET_MB = 300.0
TOKEN_PATH = "/token"  # noqa: S105 - the emulator's path, not a secret
CALENDAR_PATH = "/calendar/v3/calendars/primary"
RSS_SAMPLE_SECONDS = 0.1
LAG_TICK_SECONDS = 0.05
STATUS_DELAY_SECONDS = 1.0
TEAM_ID = DEFAULT_TEAM_ID
"""The customers' workspace: the one Slack's emulator installed the app in."""


@dataclass(frozen=True)
class Options:
    connections: int
    latency: float
    per_customer: int
    database_url: str | None
    json_path: Path | None
    status_probe: bool

    @property
    def status_connections(self) -> int:
        """Connections of the two customers whose `status` is timed: during the round, alone."""
        return 2 * self.per_customer if self.status_probe else 0


# --- the emulators ------------------------------------------------------------------------


@contextlib.contextmanager
def emulators(work: Path) -> Iterator[tuple[Child, Ports]]:
    """The emulators' process, stopped on leaving (SIGTERM, then SIGKILL)."""
    # Only the Slack, Google and control ports are served; the bot's names PUBLIC_URL.
    ports = Ports(*(free_port() for _ in range(5)))
    child = start_child(
        "emulators",
        emulators_argv(ports, channels=1, users=1),
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

    async def issue_tokens(self, count: int, scopes: Sequence[str]) -> list[dict[str, str]]:
        body = {"count": count, "scopes": list(scopes)}
        async with self.session.post(f"{self.url}/google/tokens", json=body) as answer:
            answer.raise_for_status()
            accounts: list[dict[str, str]] = (await answer.json())["accounts"]
            return accounts

    async def set_google_latency(self, seconds: float) -> None:
        async with self.session.post(f"{self.url}/latency", json={"google": seconds}) as answer:
            answer.raise_for_status()

    async def google_paths(self) -> dict[str, int]:
        """Requests Google's emulator has received so far, by path."""
        async with self.session.get(f"{self.url}/stats") as answer:
            answer.raise_for_status()
            paths: dict[str, int] = (await answer.json())["google_paths"]
            return paths


# --- the database ---------------------------------------------------------------------------


@contextlib.asynccontextmanager
async def scratch_database(server_url: str | None, work: Path) -> AsyncIterator[str]:
    """A fresh database: SQLite in `work`, or one created on the PostgreSQL server and dropped."""
    if server_url is None:
        yield f"sqlite:///{work / 'tonomo.db'}"
        return
    name = f"tonomo_bench_health_{secrets.token_hex(4)}"
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


def connection_row(
    number: int, customer: Customer, account: dict[str, str], sealed: bytes, checked_at: datetime
) -> CalendarConnection:
    """A connected staff calendar, last checked at `checked_at`."""
    person = f"U0STAFF{number:05d}"
    return CalendarConnection(
        customer_id=customer.id,
        kind=ConnectionKind.STAFF,
        owner_key=person,
        slack_user_id=person,
        account_email=account["email"],
        token_ciphertext=sealed,
        scopes=" ".join(STAFF_SCOPES),
        state=ConnectionState.CONNECTED,
        state_reason="",
        connected_at=checked_at - timedelta(days=1),
        updated_at=checked_at,
        last_checked_at=checked_at,
        check_failures=0,
    )


def sealed_tokens(cipher: TokenCipher, account: dict[str, str], expiry: datetime) -> bytes:
    tokens = TokenSet(
        access_token=account["access_token"],
        refresh_token=account["refresh_token"],
        expiry=expiry,
        scopes=STAFF_SCOPES,
    )
    return cipher.seal_tokens(tokens)


async def seed(
    engine: AsyncEngine,
    cipher: TokenCipher,
    accounts: list[dict[str, str]],
    *,
    per_customer: int,
    not_due: int,
) -> list[Customer]:
    """Customers with up to `per_customer` staff connections each, one per account.

    All are due (last checked a day ago) but the last `not_due` accounts, checked just now,
    which go to customers of their own, last. Every access token has expired, so that each
    check refreshes it first.
    """
    now = utcnow()
    split = len(accounts) - not_due
    groups = [
        (accounts[i : min(i + per_customer, split)], now - timedelta(days=1))
        for i in range(0, split, per_customer)
    ] + [(accounts[i : i + per_customer], now) for i in range(split, len(accounts), per_customer)]
    customers = [
        Customer(
            team_id=TEAM_ID,
            channel_id=f"C0HEALTH{i:05d}",
            timezone="UTC",
            registered_by="U0STAFF00000",
        )
        for i in range(len(groups))
    ]
    expired = now - timedelta(hours=1)
    number = 0
    async with session_factory(engine).begin() as session:
        session.add_all(customers)
        await session.flush()
        for customer, (members, checked_at) in zip(customers, groups, strict=True):
            for account in members:
                sealed = sealed_tokens(cipher, account, expired)
                session.add(connection_row(number, customer, account, sealed, checked_at))
                number += 1
    return customers


async def problems_in_database(engine: AsyncEngine, since: datetime, expected: int) -> list[str]:
    """What the round left wrong: unchecked or no longer connected rows, events, leases."""
    async with session_factory(engine)() as session:
        connected = await session.scalar(
            select(func.count()).where(
                CalendarConnection.state == ConnectionState.CONNECTED,
                CalendarConnection.last_checked_at >= since,
                CalendarConnection.check_failures == 0,
            )
        )
        leased = await session.scalar(
            select(func.count()).where(CalendarConnection.check_claimed_until.is_not(None))
        )
        events = await session.scalar(select(func.count()).select_from(ConnectionEvent))
    problems = []
    if connected != expected:
        problems.append(f"{connected} of {expected} connections checked and still connected")
    if leased:
        problems.append(f"{leased} connections still leased after the round")
    if events:
        problems.append(f"{events} state changes recorded (expected none)")
    return problems


# --- memory -----------------------------------------------------------------------------


def reset_peak_rss() -> bool:
    """Reset this process's VmHWM to its VmRSS now (Linux ≥ 4.0, `clear_refs` value 5)."""
    try:
        Path("/proc/self/clear_refs").write_text("5")
    except OSError:
        return False
    return True


class RssWatch:
    """A thread sampling this process's VmRSS every RSS_SAMPLE_SECONDS; the highest seen."""

    def __init__(self) -> None:
        self.highest_mb = 0.0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, name="rss-watch", daemon=True)

    def _sample(self) -> None:
        while True:
            rss = read_rss(os.getpid(), "", 0).rss_mb
            self.highest_mb = max(self.highest_mb, rss)
            if self._stop.wait(RSS_SAMPLE_SECONDS):
                return

    def __enter__(self) -> RssWatch:
        self._thread.start()
        return self

    def __exit__(self, *_exc: object) -> None:
        self._stop.set()
        self._thread.join()


# --- the event loop's lag ------------------------------------------------------------------


class LoopLag:
    """How late the event loop wakes a task sleeping LAG_TICK_SECONDS at a time.

    The bot serves Slack on the same loop, so this is what an ack would wait during a round.
    """

    def __init__(self) -> None:
        self.lags: list[float] = []
        self._task: asyncio.Task[None] | None = None

    async def _watch(self) -> None:
        while True:
            start = time.perf_counter()
            await asyncio.sleep(LAG_TICK_SECONDS)
            self.lags.append(time.perf_counter() - start - LAG_TICK_SECONDS)

    async def __aenter__(self) -> LoopLag:
        self._task = asyncio.create_task(self._watch(), name="loop-lag")
        return self

    async def __aexit__(self, *_exc: object) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    def percentile_ms(self, p: float) -> float:
        """The nearest-rank percentile of the lags, in milliseconds."""
        if not self.lags:
            return 0.0
        ordered = sorted(self.lags)
        return round(ordered[max(0, math.ceil(p / 100 * len(ordered)) - 1)] * 1000, 1)


class GcPauses:
    """The cyclic garbage collector's collections while in the block (`gc.callbacks`):
    how many, and how long they held the process, in all and at most; and the generation
    each collected (0 the young, 2 a full collection)."""

    def __init__(self) -> None:
        self.pauses: list[float] = []
        self.generations: list[int] = []
        self._began = 0.0

    def _note(self, phase: str, info: dict[str, int]) -> None:
        if phase == "start":
            self._began = time.perf_counter()
        else:
            self.pauses.append(time.perf_counter() - self._began)
            self.generations.append(info["generation"])

    def by_generation(self) -> list[tuple[int, float]]:
        """Per generation (young, middle, full): collections, and seconds in all."""
        return [
            (
                self.generations.count(g),
                sum(p for p, n in zip(self.pauses, self.generations, strict=True) if n == g),
            )
            for g in range(3)
        ]

    def __enter__(self) -> GcPauses:
        gc.callbacks.append(self._note)
        return self

    def __exit__(self, *_exc: object) -> None:
        gc.callbacks.remove(self._note)


# --- the round ------------------------------------------------------------------------------


@dataclass
class Result:
    database: str
    connections: int
    customers: int
    google_latency_s: float
    concurrency: int
    checked: int
    wall_s: float
    checks_per_s: float
    ideal_s: float
    """connections × 2 calls × latency ÷ concurrency limit."""
    target_s: float
    meets_time: bool
    cpu_s: float
    """This process's CPU time during the round, every thread together."""
    emulator_cpu_s: float
    rss_before_mb: float
    peak_rss_mb: float
    """VmHWM during the round (reset just before it), else the highest sample."""
    sampled_peak_mb: float
    peak_reset: bool
    peak_before_round_mb: float
    """VmHWM before the round: start-up and seeding."""
    meets_memory: bool
    loop_lag_p50_ms: float
    loop_lag_p99_ms: float
    loop_lag_max_ms: float
    google_calls: dict[str, int]
    status_checks: int = 0
    status_during_round_s: float | None = None
    """A `status` begun STATUS_DELAY_SECONDS into the round: from its start to its answer."""
    status_alone_s: float | None = None


@dataclass(frozen=True)
class Timed:
    checked: int
    wall_s: float
    cpu_s: float
    emulator_cpu_s: float
    rss_before_mb: float
    peak_before_round_mb: float
    peak_rss_mb: float
    sampled_peak_mb: float
    peak_reset: bool
    lag_ms: tuple[float, float, float]  # p50, p99, max
    status_during_s: float | None


async def timed_status(health: Health, customer: Customer, delay: float = 0.0) -> float:
    """Seconds a `status` takes to check the customer's connections live, after `delay`."""
    await asyncio.sleep(delay)
    start = time.perf_counter()
    _, outcomes = await health.check_now(customer)
    await health.record_after_answer(outcomes)
    return time.perf_counter() - start


async def timed_round(services: Services, emulator_pid: int, status: Customer | None) -> Timed:
    """One `check_due`, timed, with this process's memory and both processes' CPU.

    With a `status` customer, its connections are checked live meanwhile, as `status` does.
    """
    before = read_rss(os.getpid(), "before", 0)
    reset = reset_peak_rss()
    emulator_cpu = cpu_seconds(emulator_pid)
    async with LoopLag() as lag:
        with RssWatch() as watch:
            cpu, start = time.process_time(), time.perf_counter()
            probe = (
                asyncio.create_task(timed_status(services.health, status, STATUS_DELAY_SECONDS))
                if status is not None
                else None
            )
            checked = await services.health.check_due(interval=INTERVAL)
            wall, cpu = time.perf_counter() - start, time.process_time() - cpu
            status_during = await probe if probe is not None else None
    after = read_rss(os.getpid(), "after", checked)
    return Timed(
        checked=checked,
        wall_s=wall,
        cpu_s=cpu,
        emulator_cpu_s=cpu_seconds(emulator_pid) - emulator_cpu,
        rss_before_mb=before.rss_mb,
        peak_before_round_mb=before.peak_mb,
        peak_rss_mb=after.peak_mb if reset else watch.highest_mb,
        sampled_peak_mb=watch.highest_mb,
        peak_reset=reset,
        lag_ms=(lag.percentile_ms(50), lag.percentile_ms(99), lag.percentile_ms(100)),
        status_during_s=status_during,
    )


def judge(
    options: Options,
    timed: Timed,
    *,
    database: str,
    customers: int,
    concurrency: int,
    calls: dict[str, int],
    status_alone_s: float | None,
) -> Result:
    ideal = options.connections * CALLS_PER_CHECK * options.latency / concurrency
    target = TIME_FACTOR_TARGET * ideal
    return Result(
        database=database,
        connections=options.connections,
        customers=customers,
        google_latency_s=options.latency,
        concurrency=concurrency,
        checked=timed.checked,
        wall_s=round(timed.wall_s, 2),
        checks_per_s=round(timed.checked / timed.wall_s, 1),
        ideal_s=round(ideal, 2),
        target_s=round(target, 2),
        meets_time=timed.wall_s <= target,
        cpu_s=round(timed.cpu_s, 2),
        emulator_cpu_s=round(timed.emulator_cpu_s, 2),
        rss_before_mb=timed.rss_before_mb,
        peak_rss_mb=timed.peak_rss_mb,
        sampled_peak_mb=timed.sampled_peak_mb,
        peak_reset=timed.peak_reset,
        peak_before_round_mb=timed.peak_before_round_mb,
        meets_memory=timed.peak_rss_mb < PEAK_RSS_TARGET_MB,
        loop_lag_p50_ms=timed.lag_ms[0],
        loop_lag_p99_ms=timed.lag_ms[1],
        loop_lag_max_ms=timed.lag_ms[2],
        google_calls=calls,
        status_checks=options.per_customer if options.status_probe else 0,
        status_during_round_s=rounded(timed.status_during_s),
        status_alone_s=rounded(status_alone_s),
    )


def rounded(seconds: float | None) -> float | None:
    return round(seconds, 2) if seconds is not None else None


def calls_between(before: dict[str, int], after: dict[str, int]) -> dict[str, int]:
    return {p: n - before.get(p, 0) for p, n in sorted(after.items()) if n > before.get(p, 0)}


def problems_with_calls(calls: dict[str, int], expected: int) -> list[str]:
    wanted = {TOKEN_PATH: expected, CALENDAR_PATH: expected}
    return [] if calls == wanted else [f"Google saw {calls}, expected {wanted}"]


@dataclass(frozen=True)
class Measured:
    result: Result
    problems: list[str]


async def measure(options: Options, child: Child, ports: Ports, work: Path) -> Measured:
    async with (
        aiohttp.ClientSession() as session,
        scratch_database(options.database_url, work) as database_url,
    ):
        await wait_ready(session, child)
        control = Control(session, f"http://{HOST}:{ports.control}")
        count = options.connections + options.status_connections
        accounts = await control.issue_tokens(count, STAFF_SCOPES)
        settings = Settings.from_env(bot_env(ports, work) | {"DATABASE_URL": database_url})
        services = await build_services(settings)
        try:
            customers = await seed(
                services.engine,
                TokenCipher(settings.token_encryption_key),
                accounts,
                per_customer=options.per_customer,
                not_due=options.status_connections,
            )
            del accounts  # the bot would not hold them: keep them out of its memory figures
            alone, status = (
                (customers.pop(), customers.pop()) if options.status_probe else (None, None)
            )
            await control.set_google_latency(options.latency)
            paths_before = await control.google_paths()
            began = utcnow()
            timed = await timed_round(services, child.process.pid, status)
            status_alone = await timed_status(services.health, alone) if alone else None
            calls = calls_between(paths_before, await control.google_paths())
            problems = problems_with_calls(calls, options.connections + options.status_connections)
            problems += await problems_in_database(
                services.engine, began, options.connections + options.status_connections
            )
        finally:
            await services.close()
    if timed.checked != options.connections:
        problems.insert(0, f"check_due checked {timed.checked} of {options.connections}")
    result = judge(
        options,
        timed,
        database=make_url(database_url).get_backend_name(),
        customers=len(customers),
        concurrency=services.health.concurrency,
        calls=calls,
        status_alone_s=status_alone,
    )
    return Measured(result=result, problems=problems)


# --- the report -----------------------------------------------------------------------------


def yes_no(value: bool) -> str:
    return "yes" if value else "NO"


def table(r: Result) -> str:
    calls = ", ".join(f"{path} {n}" for path, n in r.google_calls.items())
    peak_how = "VmHWM, reset before the round" if r.peak_reset else "highest sample"
    rows = [
        ("database", r.database),
        ("connections (customers)", f"{r.connections} ({r.customers})"),
        ("Google latency a call", f"{r.google_latency_s:g} s"),
        ("concurrency limit", str(r.concurrency)),
        ("checks done", str(r.checked)),
        ("Google calls", f"{sum(r.google_calls.values())} ({calls})"),
        ("wall time", f"{r.wall_s:g} s ({r.checks_per_s:g} checks/s)"),
        ("ideal: N × 2 × latency ÷ limit", f"{r.ideal_s:g} s"),
        ("target: 2 × ideal", f"{r.target_s:g} s, met: {yes_no(r.meets_time)}"),
        ("CPU of this process in the round", f"{r.cpu_s:g} s"),
        ("CPU of the emulators in the round", f"{r.emulator_cpu_s:g} s"),
        ("RSS before the round", f"{r.rss_before_mb:g} MB"),
        ("peak RSS before the round", f"{r.peak_before_round_mb:g} MB (start-up and seeding)"),
        ("peak RSS during the round", f"{r.peak_rss_mb:g} MB ({peak_how})"),
        ("highest sampled RSS", f"{r.sampled_peak_mb:g} MB"),
        (f"peak under {PEAK_RSS_TARGET_MB:g} MB", yes_no(r.meets_memory)),
        (
            "event loop lag in the round",
            f"p50 {r.loop_lag_p50_ms:g} ms, p99 {r.loop_lag_p99_ms:g} ms, "
            f"max {r.loop_lag_max_ms:g} ms",
        ),
    ]
    if r.status_during_round_s is not None:
        rows += [
            (
                f"status ({r.status_checks} checks), {STATUS_DELAY_SECONDS:g} s into the round",
                f"{r.status_during_round_s:g} s",
            ),
            ("the same status alone", f"{r.status_alone_s:g} s"),
        ]
    width = max(len(name) for name, _ in rows)
    return "\n".join(f"{name:<{width}}  {value}" for name, value in rows)


def report(info: dict[str, Any], measured: Measured, options: Options) -> None:
    print(f"\n{table(measured.result)}\n")
    print(", ".join(f"{k}: {v}" for k, v in info.items()))
    for problem in measured.problems:
        print(f"PROBLEM: {problem}")
    if options.json_path is not None:
        figures = {
            "machine": info,
            "options": {
                "connections": options.connections,
                "latency": options.latency,
                "per_customer": options.per_customer,
                "database": measured.result.database,
                "status_probe": options.status_probe,
            },
            "result": asdict(measured.result),
            "problems": measured.problems,
        }
        options.json_path.write_text(json.dumps(figures, indent=2, ensure_ascii=False) + "\n")


# --- running it -------------------------------------------------------------------------


def parse_options(argv: Sequence[str] | None) -> Options:
    parser = argparse.ArgumentParser(
        prog="python -m bench.health_checks",
        description="Wall time and peak memory of one health round over many connections.",
    )
    add = parser.add_argument
    add("--connections", type=int, default=5000, help="connections to check (5000)")
    add("--latency", type=float, default=0.1, help="seconds Google takes per call (0.1)")
    add("--per-customer", type=int, default=10, help="staff connections a customer (10)")
    add(
        "--database-url",
        default=None,
        metavar="URL",
        help="a PostgreSQL server to create a scratch database on (default: SQLite)",
    )
    add("--json", type=Path, default=None, metavar="FILE", help="also write the figures here")
    add(
        "--status-probe",
        action="store_true",
        help="also time a customer's live status check during the round, and alone",
    )
    args = parser.parse_args(argv)
    if min(args.connections, args.per_customer) < 1 or args.latency < 0:
        parser.error("--connections and --per-customer must be ≥ 1, --latency ≥ 0")
    if args.database_url and make_url(args.database_url).get_backend_name() != "postgresql":
        parser.error("--database-url must be a postgresql:// URL")
    return Options(
        connections=args.connections,
        latency=args.latency,
        per_customer=args.per_customer,
        database_url=args.database_url,
        json_path=args.json,
        status_probe=args.status_probe,
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
            print(f"health_checks: {err}", file=sys.stderr)
            return 1
        except KeyboardInterrupt:
            print("health_checks: interrupted", file=sys.stderr)
            return 130
    report(info, measured, options)
    return 1 if measured.problems else 0


if __name__ == "__main__":
    sys.exit(main())
