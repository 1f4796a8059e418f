"""Scale-out on PostgreSQL: one health round and one digest run done by one instance of the
bot, then by several sharing the database; then one of them killed in the middle of a round.

    python -m bench.scale_out [--connections 30000] [--customers 3000] [--instances 3]
                              [--database-url postgresql://…] [--lease S] [--tick S]
                              [--phases health,digest,kill] [--shared] [--json FILE]

The issue's benchmark: several instances sharing PostgreSQL run one health round over
30,000 connections and one digest run over 3,000 customers; the round finishes within 1.3 ×
(the single instance's time ÷ the instances), every connection checked exactly once, every
digest posted exactly once, no alert doubled; then one instance is killed (SIGKILL) in the
middle of a round and the others finish its share within one lease period, still exactly
once.

Real processes on loopback: the emulators (`python -m bench.emulators`) and `python app.py`
once per instance, all with the same configuration (`DATABASE_URL` a scratch PostgreSQL
database made here and dropped afterwards; one `TOKEN_ENCRYPTION_KEY`), each on its own
port. Everything is seeded straight into the database first:

- the digest customers as `bench.digest_run` seeds them (its `seed`, its calendars and its
  check of every post), each in a fixed-offset zone (`Etc/GMT…`) where it is now between
  4:00 and 8:00 (the whole working day ahead, as digest_run's stopped clock has it), its
  `digest_time` the local minute of seeding, every day a working day and a 24-hour clock
  (the form digest_run's check writes times in); their digests off until their phase;
- the health connections as `bench.health_checks` seeds them (its `connection_row`,
  `--per-customer` to a customer), all due, but with fresh access tokens: a check is one
  `calendars/primary` call. Every `--revoked-every`th account's grant is revoked at
  Google (its own `/revoke`), so its check finds it needing reconnecting and its
  customer's channel gets one alert.

A trigger added to the scratch database writes down every lease taken on a connection and
every outcome written to one (`CHECK_LOG`): exactly once is judged from it, from the
emulators' records of every call (with the account each Google call was for, and the
connection it came on, which names the instance that made it) and from what Slack's
emulator accepted.

The phases, each with its own processes, started together and stopped after:

1. **health ×1, health ×N**: every health connection due; the instances start and their
   first round begins at start-up. The round's time is the Google emulator's own: from
   the first `calendars/primary` call's arrival to the last one's answer (its arrival +
   the latency). Google's latency is high enough (`--health-latency`) that one instance
   is held by Google, not by the CPU (see the README).
2. **digest ×1, digest ×N**: the digest customers' digests on (and any day's row gone);
   the run's time is from the first of its Slack or Google calls to the last post's
   answer.
3. **kill**: health ×N again; once a `KILL_AT` share of the connections is recorded, the
   last instance is frozen (SIGSTOP) at a moment when no alert is claimed and unsent, the
   leases then held are read, and it is killed (SIGKILL). The survivors finish the round
   and, once its leases lapse, check what it held. Measured: when the last of those was
   recorded, against the lease. `--lease` and `--tick` run this phase's instances with
   the lease (5 min) and the jobs' period (60 s) set to other values, through the bot's
   `HEALTH_LEASE_SECONDS` and `SCHEDULER_TICK_SECONDS`.

Exactly once, in every phase (and what the run fails on otherwise):

- health: the check log holds exactly one outcome for every connection; each ends
  unleased with its verdict and no check failure; one state-change event and one alert
  (a Reconnect button, in its customer's channel) for each revoked connection, none for
  the others; each connection leased once, except in the kill phase those the killed
  instance held: leased twice, the second after the first lapsed. Google saw one
  `calendars/primary` call per account, except that an account whose connection the
  killed instance held may have a second if the first arrived before the kill (its check
  in flight when it died: repeated at Google, recorded once);
- digest: one `digests` row per customer, sent, no claim left (`digest_run`'s check);
  exactly one post in each channel, naming every staff member with the free time their
  seeded calendar leaves (`digest_run`'s check); one free/busy call per staff calendar.

`/healthz` of every instance is asked every `SAMPLE_S` seconds; answers other than ok are
reported. Beside the times: each instance's share (by the connection each call came on,
matched to the instance's sockets in /proc), how much later than the first each began,
the CPU of each process and how busy the machine's cores were during the round
(/proc/stat), and the load average before each phase.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import math
import os
import signal
import sys
import tempfile
import time
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from dataclasses import asdict, dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import aiohttp
from sqlalchemy import delete, func, select, text, update
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncEngine

from bench import digest_run
from bench.fleet import (
    HOST,
    REPO,
    Child,
    Ports,
    base_env,
    bot_argv,
    bot_env,
    cpu_seconds,
    emulators_argv,
    exit_on_sigterm,
    free_port,
    machine_cpu,
    read_rss,
    start_child,
    stop_child,
    tcp_ports,
    wait_ready,
)
from bench.health_checks import TEAM_ID, connection_row, scratch_database, sealed_tokens
from bench.report import machine
from bot.calendar.google import CALLS_AT_ONCE
from bot.calendar.port import STAFF_SCOPES
from bot.digest import CONCURRENCY as DIGEST_CONCURRENCY
from bot.digest import UNDER_WAY
from bot.health import LEASE
from bot.messages.ids import RECONNECT
from bot.scheduler import TICK_SECONDS
from bot.services import HEALTH_CONCURRENCY
from bot.tokens import TokenCipher
from storage.db import create_engine, migrate, session_factory
from storage.models import (
    CalendarConnection,
    ConnectionEvent,
    ConnectionState,
    Customer,
    Digest,
    Notice,
    utcnow,
)

DEFAULT_SERVER = "postgresql://postgres@127.0.0.1:5432/postgres"
PRIMARY_PATH = "/calendar/v3/calendars/primary"
TOKEN_PATH = "/token"  # noqa: S105 - the emulator's path, not a secret
DIGEST_SLACK_CALLS = "^/api/(?!auth\\.test$)"
"""A digest run's Slack calls: every Web API call but start-up's `auth.test`."""
TARGET_FACTOR = 1.3
"""The issue's target: N instances within 1.3 × (one instance's time ÷ N)."""
KILL_AT = 0.4
"""The share of the round recorded when an instance is killed."""
SAMPLE_S = 0.5
"""How often each instance's /healthz, sockets and the machine's CPU are read."""
PHASE_TIMEOUT_S = 1200.0
DIGEST_CHANNELS = "C0DIGEST"
"""digest_run's customers' channels."""
DIGEST_LOCAL_HOURS = (4, 5, 6, 7)
"""Where each digest customer's clock stands at seeding: their working day (9:00–17:00)
all ahead, for the length of any run."""


# --- the check log: every lease and every outcome, written down by the database itself -------

CHECK_LOG = "bench_check_log"
"""A table the benchmark (and `tests/faults/test_scale_out.py`) adds to its scratch
PostgreSQL database, with a trigger on `calendar_connections`: each lease taken on a
connection (`check_claimed_until` set) and each check's outcome written to it
(`last_checked_at` changed) is a row, with the database's own clock and the backend
that wrote it. The bot knows nothing of it; exactly once is judged from it."""

_CHECK_LOG_DDL = (
    """
    CREATE TABLE bench_check_log (
        id bigserial PRIMARY KEY,
        connection_id integer NOT NULL,
        what text NOT NULL,
        lease_until timestamptz,
        at timestamptz NOT NULL DEFAULT clock_timestamp(),
        backend integer NOT NULL DEFAULT pg_backend_pid()
    )
    """,
    """
    CREATE FUNCTION bench_check_log_write() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
        IF NEW.last_checked_at IS DISTINCT FROM OLD.last_checked_at THEN
            INSERT INTO bench_check_log (connection_id, what) VALUES (NEW.id, 'record');
        ELSIF NEW.check_claimed_until IS NOT NULL
              AND NEW.check_claimed_until IS DISTINCT FROM OLD.check_claimed_until THEN
            INSERT INTO bench_check_log (connection_id, what, lease_until)
            VALUES (NEW.id, 'lease', NEW.check_claimed_until);
        END IF;
        RETURN NULL;
    END $$
    """,
    """
    CREATE TRIGGER bench_check_log AFTER UPDATE ON calendar_connections
        FOR EACH ROW EXECUTE FUNCTION bench_check_log_write()
    """,
)


@dataclass(frozen=True)
class Logged:
    """One row of the check log."""

    connection_id: int
    what: str
    """"lease" (taken until `lease_until`) or "record" (an outcome written)."""
    lease_until: datetime | None
    at: datetime
    """When the database wrote it (`clock_timestamp()`, this machine's clock)."""
    backend: int


async def install_check_log(engine: AsyncEngine) -> None:
    """The check log and its trigger, on a migrated PostgreSQL database."""
    async with engine.begin() as connection:
        for statement in _CHECK_LOG_DDL:
            await connection.execute(text(statement))


async def clear_check_log(engine: AsyncEngine) -> None:
    async with engine.begin() as connection:
        await connection.execute(text("TRUNCATE bench_check_log"))


async def read_check_log(engine: AsyncEngine) -> list[Logged]:
    async with engine.connect() as connection:
        rows = await connection.execute(
            text(
                "SELECT connection_id, what, lease_until, at, backend FROM bench_check_log ORDER BY id"
            )
        )
        return [Logged(*row) for row in rows]


def outcomes(log: list[Logged]) -> Counter[int]:
    """How many outcomes were written to each connection."""
    return Counter(row.connection_id for row in log if row.what == "record")


def leases(log: list[Logged]) -> dict[int, list[Logged]]:
    """The leases taken on each connection, oldest first."""
    taken: dict[int, list[Logged]] = {}
    for row in log:
        if row.what == "lease":
            taken.setdefault(row.connection_id, []).append(row)
    return taken


# --- the connections --------------------------------------------------------------------------


async def seed_connections(
    engine: AsyncEngine,
    cipher: TokenCipher,
    accounts: list[dict[str, str]],
    *,
    per_customer: int,
) -> list[Customer]:
    """Customers with `per_customer` staff connections each, one per account, as
    `bench.health_checks` seeds them (its `connection_row`: connected, last checked a day
    ago, so all due), but with fresh access tokens: a check is one `calendars/primary`
    call. Their digests are off: only the health round runs for them."""
    now = utcnow()
    fresh = now + timedelta(minutes=55)  # the emulator's tokens last an hour
    groups = [accounts[i : i + per_customer] for i in range(0, len(accounts), per_customer)]
    customers = [
        Customer(
            team_id=TEAM_ID,
            channel_id=health_channel(i),
            timezone="UTC",
            registered_by="U0STAFF00000",
            digest_enabled=False,
        )
        for i in range(len(groups))
    ]
    async with session_factory(engine).begin() as session:
        session.add_all(customers)
        await session.flush()
        number = 0
        for customer, members in zip(customers, groups, strict=True):
            for account in members:
                sealed = sealed_tokens(cipher, account, fresh)
                row = connection_row(number, customer, account, sealed, now - timedelta(days=1))
                session.add(row)
                number += 1
    return customers


HEALTH_CHANNELS = "C0HEALTH"
"""The seeded customers' channels (`bench.health_checks` names them so; digest_run's are
C0DIGEST…)."""


def health_channel(number: int) -> str:
    """The channel of the `number`th seeded customer."""
    return f"{HEALTH_CHANNELS}{number:05d}"


# --- the digest customers -----------------------------------------------------------------


@dataclass(frozen=True)
class DigestChannel(digest_run.Channel):
    """A digest customer whose digest is due at `at` (the real clock's moment of seeding)
    rather than at digest_run's stopped clock."""

    at: datetime = field(kw_only=True)

    @property
    def day(self) -> date:
        return self.at.astimezone(ZoneInfo(self.zone)).date()

    @property
    def digest_time(self) -> str:
        return f"{self.at.astimezone(ZoneInfo(self.zone)):%H:%M}"


def zones_at(now: datetime) -> list[str]:
    """Fixed-offset zones in which it is `DIGEST_LOCAL_HOURS` o'clock (and some minutes) now."""
    zones = []
    for hour in DIGEST_LOCAL_HOURS:
        offset = (hour - now.astimezone(UTC).hour) % 24
        offset = offset - 24 if offset > 14 else offset  # zones run from UTC-12 to UTC+14
        # POSIX's sign: Etc/GMT-5 is five hours ahead of UTC.
        zones.append("Etc/GMT" if offset == 0 else f"Etc/GMT{-offset:+d}")
    return zones


def digest_channels(
    customers: int, staff: int, now: datetime, *, shared: bool = False
) -> list[DigestChannel]:
    zones = zones_at(now)
    return [
        DigestChannel(i, zones[i % len(zones)], digest_run.staff_numbers(i, staff), shared, at=now)
        for i in range(customers)
    ]


async def seed_digests(
    engine: AsyncEngine, control: Control, cipher: TokenCipher, channels: list[DigestChannel]
) -> int:
    """digest_run's customers (their Slack channels, their staff's Google calendars and
    grants, their rows), every day a working day and a 24-hour clock, digests off; their
    connections never due in this run. How many events were seeded."""
    await control.add_channels(list(channels))
    events = await control.add_calendars(digest_run.calendars(list(channels), seed=1))
    staff = [n for channel in channels for n in channel.staff]
    accounts = await control.issue_tokens([digest_run.staff_email(n) for n in staff])
    await digest_run.seed(engine, cipher, list(channels), accounts)
    async with session_factory(engine).begin() as session:
        await session.execute(
            update(Customer)
            .where(Customer.channel_id.startswith(DIGEST_CHANNELS))
            .values(work_days="0123456", clock="24h", digest_enabled=False)
        )
        await session.execute(
            update(CalendarConnection)
            .where(CalendarConnection.id.in_(of_customers(DIGEST_CHANNELS)))
            .values(last_checked_at=utcnow() + timedelta(days=1))
        )
    return events


async def digests_on(engine: AsyncEngine, on: bool) -> None:
    """The digest customers' digests on (every day's row gone, so today's is due) or off."""
    customers = select(Customer.id).where(Customer.channel_id.startswith(DIGEST_CHANNELS))
    async with session_factory(engine).begin() as session:
        if on:
            await session.execute(delete(Digest).where(Digest.customer_id.in_(customers)))
        await session.execute(
            update(Customer)
            .where(Customer.channel_id.startswith(DIGEST_CHANNELS))
            .values(digest_enabled=on)
        )


# --- the health connections ---------------------------------------------------------------


@dataclass(frozen=True)
class HealthSeed:
    ids: list[int]
    email_of: dict[int, str]
    channel_of: dict[int, str]
    revoked: set[int]


async def seed_health(
    engine: AsyncEngine, control: Control, cipher: TokenCipher, options: Options
) -> HealthSeed:
    """The connections (`seed_connections`), the revoked ones' grants revoked at Google and
    their customers' channels in Slack (where their alerts go)."""
    accounts = await control.issue_tokens_for(options.connections)
    await seed_connections(engine, cipher, accounts, per_customer=options.per_customer)
    async with session_factory(engine)() as session:
        rows = await session.execute(
            select(
                CalendarConnection.id,
                CalendarConnection.account_email,
                Customer.channel_id,
            )
            .join(Customer, Customer.id == CalendarConnection.customer_id)
            .where(Customer.channel_id.startswith(HEALTH_CHANNELS))
            .order_by(CalendarConnection.id)
        )
        seeded = rows.all()
    revoked = {cid for n, (cid, _, _) in enumerate(seeded) if n % options.revoked_every == 0}
    email_of = {cid: email for cid, email, _ in seeded}
    channel_of = {cid: channel for cid, _, channel in seeded}
    refresh = {a["email"]: a["refresh_token"] for a in accounts}
    await control.revoke([refresh[email_of[cid]] for cid in revoked])
    await control.add_alert_channels(sorted({channel_of[cid] for cid in revoked}))
    return HealthSeed(sorted(email_of), email_of, channel_of, revoked)


def of_customers(prefix: str) -> Any:
    """The ids of the connections of the customers whose channel ids start so."""
    customers = select(Customer.id).where(Customer.channel_id.startswith(prefix))
    return select(CalendarConnection.id).where(CalendarConnection.customer_id.in_(customers))


async def health_due(engine: AsyncEngine, seed: HealthSeed, due: bool) -> None:
    """The health connections as seeded (connected, last checked a day ago, no event, an
    empty check log) or, after a phase, never due in this run."""
    health = of_customers(HEALTH_CHANNELS)
    async with session_factory(engine).begin() as session:
        connections = update(CalendarConnection).where(CalendarConnection.id.in_(health))
        if not due:
            await session.execute(connections.values(last_checked_at=utcnow() + timedelta(days=1)))
            return
        await session.execute(
            connections.values(
                last_checked_at=utcnow() - timedelta(days=1),
                check_claimed_until=None,
                check_failures=0,
                state=ConnectionState.CONNECTED,
                state_reason="",
            )
        )
        await session.execute(
            delete(ConnectionEvent).where(ConnectionEvent.connection_id.in_(health))
        )
    await clear_check_log(engine)


# --- the emulators ------------------------------------------------------------------------


@dataclass(frozen=True)
class Call:
    emulator: str
    path: str
    at: float
    port: int
    """The client's port: which process made it."""
    account: str


@dataclass(frozen=True)
class Control(digest_run.Control):
    """The emulators' control API, with what this benchmark adds to digest_run's."""

    google_url: str = ""

    async def issue_tokens_for(self, count: int) -> list[dict[str, str]]:
        """`count` new Google accounts, each with a grant of the staff scopes."""
        body = {"count": count, "scopes": list(STAFF_SCOPES)}
        accounts: list[dict[str, str]] = (await self._post("/google/tokens", body))["accounts"]
        return accounts

    async def revoke(self, refresh_tokens: list[str]) -> None:
        """Each grant revoked at Google's own endpoint, as its owner would."""
        for token in refresh_tokens:
            async with self.session.post(
                f"{self.google_url}/revoke", data={"token": token}
            ) as answer:
                answer.raise_for_status()

    async def add_alert_channels(self, channels: list[str]) -> None:
        wanted = [
            {
                "id": c,
                "name": c.lower(),
                "members": [{"id": "U0ONBOARD", "name": "sam", "tz": "UTC"}],
            }
            for c in channels
        ]
        await self._post("/slack/channels", {"channels": wanted})

    async def latency(self, *, google: float, slack: float) -> None:
        await self._post("/latency", {"google": google, "slack": slack})

    async def calls(self, emulator: str, path: str, since: float) -> list[Call]:
        query = {"emulator": emulator, "path": path, "since": repr(since)}
        async with self.session.get(f"{self.url}/calls", params=query) as answer:
            answer.raise_for_status()
            found = (await answer.json())["calls"]
        return [
            Call(emulator, c["path"], c["at"], int(c["peer"].rpartition(":")[2] or 0), c["account"])
            for c in found
        ]

    async def messages(self, channels: list[str], since: float) -> dict[str, list[dict[str, Any]]]:
        query = {"channels": ",".join(channels), "since": repr(since)}
        async with self.session.get(f"{self.url}/slack/messages", params=query) as answer:
            answer.raise_for_status()
            found: dict[str, list[dict[str, Any]]] = (await answer.json())["messages"]
            return found


def reconnect_buttons(messages: dict[str, list[dict[str, Any]]]) -> dict[int, list[str]]:
    """Each connection a Reconnect button was posted for: the channels it was posted in."""
    found: dict[int, list[str]] = {}
    for channel, posted in messages.items():
        for message in posted:
            for block in message.get("blocks") or []:
                for element in block.get("elements") or []:
                    if element.get("action_id") == RECONNECT:
                        found.setdefault(int(element["value"]), []).append(channel)
    return found


# --- the instances ------------------------------------------------------------------------


@dataclass
class Instance:
    child: Child
    url: str
    ready_s: float | None = None
    """From the phase's start to its first ok /healthz."""
    cpu_at_ready: float = 0.0
    cpu_at_end: float = 0.0
    peak_rss_mb: float = 0.0
    google_ports: set[int] = field(default_factory=set)
    slack_ports: set[int] = field(default_factory=set)
    not_ok: list[str] = field(default_factory=list)
    """/healthz answers other than 200 ok: seconds into the phase, and what it said."""
    killed: bool = False

    def gone(self) -> bool:
        """Killed (or being killed) by the benchmark."""
        return self.killed


@dataclass
class Phase:
    """A phase's processes, and what is read from them while it runs."""

    bench: Bench
    name: str
    instances: list[Instance]
    started: float
    """`time.time()` when the processes were started: the emulators' clock too."""
    cpu: list[tuple[float, float, float]] = field(default_factory=list)
    """(when, busy, total) seconds of the machine's CPU, every SAMPLE_S."""
    where_cpu_went: dict[str, float] = field(default_factory=dict)
    """CPU seconds of the whole phase (processes started to done), by whom."""
    backends: dict[int, float] = field(default_factory=dict)
    """The most CPU seen of each PostgreSQL backend serving the instances, by its pid."""

    async def watch(self) -> None:
        """Every SAMPLE_S: each live instance's sockets and /healthz, the machine's CPU,
        the CPU of the database's backends serving the instances."""
        timeout = aiohttp.ClientTimeout(total=2.0)
        while True:
            self.cpu.append((time.time(), *machine_cpu()))
            for pid, cpu in (await backends_cpu(self.bench.engine)).items():
                self.backends[pid] = max(self.backends.get(pid, 0.0), cpu)
            for instance in self.instances:
                if instance.killed or instance.child.process.poll() is not None:
                    continue
                pid = instance.child.process.pid
                instance.google_ports |= tcp_ports(pid, self.bench.ports.google)
                instance.slack_ports |= tcp_ports(pid, self.bench.ports.slack)
                if instance.ready_s is None:
                    continue
                said = None
                try:
                    async with self.bench.session.get(
                        instance.child.health_url, timeout=timeout
                    ) as response:
                        body = await response.json()
                        if response.status != 200 or body.get("status") != "ok":
                            said = f"{response.status} {body.get('problems', body)}"
                except (aiohttp.ClientError, TimeoutError) as err:
                    said = repr(err)
                if said is not None and not instance.gone():  # not asked as it was killed
                    instance.not_ok.append(f"{time.time() - self.started:.0f} s: {said}")
            await asyncio.sleep(SAMPLE_S)

    def busy(self, first: float, last: float) -> float | None:
        """How busy the machine's cores were between two moments (0–1), from the samples
        nearest inside them."""
        inside = [s for s in self.cpu if first <= s[0] <= last]
        if len(inside) < 2:
            return None
        (_, busy0, total0), (_, busy1, total1) = inside[0], inside[-1]
        return (busy1 - busy0) / (total1 - total0) if total1 > total0 else None

    def owner(self, call: Call) -> int | None:
        """The instance that made the call: whose socket to that emulator had its port (its
        index; None when no one's, or more than one's, as a port may be used again)."""
        owners = [
            i
            for i, instance in enumerate(self.instances)
            if call.port
            in (instance.google_ports if call.emulator == "google" else instance.slack_ports)
        ]
        return owners[0] if len(owners) == 1 else None


@contextlib.asynccontextmanager
async def running(
    bench: Bench, name: str, count: int, settings: dict[str, str] | None = None
) -> AsyncIterator[Phase]:
    """`count` instances started together (with `settings` added to their environment),
    watched while the phase runs, stopped after."""
    argv = bot_argv()
    with contextlib.ExitStack() as stack:
        started = time.time()
        instances = []
        for i in range(count):
            port = free_port()
            env = bench.env | (settings or {})
            env |= {"PORT": str(port), "PUBLIC_URL": f"http://{HOST}:{port}"}
            child = start_child(
                f"{name}-{i + 1}",
                argv,
                env,
                cwd=bench.work,  # no developer's .env
                logs=bench.work,
                health_url=f"http://{HOST}:{port}/healthz",
            )
            stack.callback(stop_child, child)
            instances.append(Instance(child, f"http://{HOST}:{port}"))
        phase = Phase(bench, name, instances, started)
        machine_before, mine_before = machine_cpu()[0], time.process_time()
        emulators_before = cpu_seconds(bench.emulators.process.pid)
        watcher = asyncio.create_task(phase.watch())
        try:

            async def ready(instance: Instance) -> None:
                await wait_ready(bench.session, instance.child)
                instance.ready_s = time.time() - started
                instance.cpu_at_ready = cpu_seconds(instance.child.process.pid)

            await asyncio.gather(*(ready(i) for i in instances))
            yield phase
            for instance in instances:
                if not instance.killed:
                    pid = instance.child.process.pid
                    instance.cpu_at_end = cpu_seconds(pid)
                    instance.peak_rss_mb = read_rss(pid, "end", 0).peak_mb
            ours = {
                "instances (start-up included)": sum(
                    i.cpu_at_end or i.cpu_at_ready for i in instances
                ),
                "emulators": cpu_seconds(bench.emulators.process.pid) - emulators_before,
                "PostgreSQL (the instances' backends)": sum(phase.backends.values()),
                "this benchmark": time.process_time() - mine_before,
            }
            busy = machine_cpu()[0] - machine_before
            phase.where_cpu_went = {k: round(v, 1) for k, v in ours.items()} | {
                "everything else on the machine": round(busy - sum(ours.values()), 1),
                "the machine's cores, busy": round(busy, 1),
                "the machine's cores, in all": round(
                    (time.time() - started) * (os.cpu_count() or 1), 1
                ),
            }
        finally:
            watcher.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await watcher


async def until(
    done: Callable[[], Awaitable[bool]], *, within: float, phase: Phase, every: float = 0.5
) -> None:
    """Poll `done` until it holds; a RuntimeError with the instances' logs after `within` s."""
    deadline = time.monotonic() + within
    while not await done():
        for instance in phase.instances:
            if not instance.killed and instance.child.process.poll() is not None:
                raise RuntimeError(f"{instance.child.name} exited:\n{instance.child.log_tail()}")
        if time.monotonic() > deadline:
            tails = "\n".join(f"{i.child.name}:\n{i.child.log_tail()}" for i in phase.instances)
            raise RuntimeError(f"{phase.name}: not done within {within:.0f} s\n{tails}")
        await asyncio.sleep(every)


# --- the database's counts ------------------------------------------------------------------


async def backends_cpu(engine: AsyncEngine) -> dict[int, float]:
    """The CPU seconds so far of each PostgreSQL backend serving the scratch database, by
    pid, this benchmark's own left out: in a phase, the instances' (sampled every
    SAMPLE_S, as a pool closes the connections it has no room for when they come back,
    and a killed instance's end with it: the last half second of those is missed)."""
    async with engine.connect() as connection:
        rows = await connection.execute(
            text(
                "SELECT pid, client_port FROM pg_stat_activity "
                "WHERE datname = current_database() AND backend_type = 'client backend'"
            )
        )
        backends = rows.all()
    mine = tcp_ports(os.getpid(), make_url(str(engine.url)).port or 5432)
    found = {}
    for pid, client in backends:
        if client not in mine:
            with contextlib.suppress(OSError):  # ended meanwhile
                found[pid] = cpu_seconds(pid)
    return found


async def recorded_count(engine: AsyncEngine) -> int:
    """Connections with an outcome written (the check log's distinct ones)."""
    async with engine.connect() as connection:
        found = await connection.scalar(
            text("SELECT count(DISTINCT connection_id) FROM bench_check_log WHERE what = 'record'")
        )
        return int(found or 0)


async def unsent_notices(engine: AsyncEngine) -> int:
    async with session_factory(engine)() as session:
        found = await session.scalar(
            select(func.count()).where(
                ConnectionEvent.notice != Notice.NONE, ConnectionEvent.notice_sent_at.is_(None)
            )
        )
        return int(found or 0)


async def alert_in_flight(engine: AsyncEngine) -> bool:
    """Whether an alert is claimed and not marked sent: it may be in Slack's hands."""
    async with session_factory(engine)() as session:
        found = await session.scalar(
            select(func.count()).where(
                ConnectionEvent.notice != Notice.NONE,
                ConnectionEvent.notice_claimed_at.is_not(None),
                ConnectionEvent.notice_sent_at.is_(None),
            )
        )
        return bool(found)


async def leased_at(engine: AsyncEngine, moment: float) -> set[int]:
    async with session_factory(engine)() as session:
        rows = await session.scalars(
            select(CalendarConnection.id).where(
                CalendarConnection.check_claimed_until > datetime.fromtimestamp(moment, UTC)
            )
        )
        return set(rows)


async def digests_sent(engine: AsyncEngine) -> tuple[int, int]:
    """Digests recorded as sent, and claims held on unsent ones."""
    async with session_factory(engine)() as session:
        sent = await session.scalar(
            select(func.count()).where(Digest.sent_at.is_not(None), Digest.claimed_until.is_(None))
        )
        held = await session.scalar(
            select(func.count()).where(Digest.sent_at.is_(None), Digest.claimed_until.is_not(None))
        )
        return int(sent or 0), int(held or 0)


async def health_state(engine: AsyncEngine, seed: HealthSeed) -> list[str]:
    """What the database says is wrong with the health connections after a round."""
    async with session_factory(engine)() as session:
        rows = (
            await session.execute(
                select(
                    CalendarConnection.id,
                    CalendarConnection.state,
                    CalendarConnection.check_failures,
                    CalendarConnection.check_claimed_until,
                ).where(CalendarConnection.id.in_(of_customers(HEALTH_CHANNELS)))
            )
        ).all()
        events = (
            await session.execute(
                select(
                    ConnectionEvent.connection_id,
                    ConnectionEvent.notice,
                    ConnectionEvent.notice_sent_at,
                )
            )
        ).all()
    problems = []
    wrong = [
        cid
        for cid, state, failures, lease in rows
        if failures
        or lease is not None
        or state
        is not (
            ConnectionState.NEEDS_RECONNECT if cid in seed.revoked else ConnectionState.CONNECTED
        )
    ]
    if wrong:
        problems.append(f"{len(wrong)} connections not as checked (first ids {wrong[:5]})")
    changed = Counter(cid for cid, _, _ in events)
    if changed != Counter(dict.fromkeys(seed.revoked, 1)):
        problems.append(f"state changes {dict(changed)} (expected one per revoked connection)")
    unsent = [cid for cid, notice, sent in events if notice is not Notice.BROKEN or sent is None]
    if unsent:
        problems.append(f"events without their alert sent: {unsent[:5]}")
    return problems


# --- the phases ---------------------------------------------------------------------------


@dataclass
class Bench:
    options: Options
    work: Path
    session: aiohttp.ClientSession
    control: Control
    ports: Ports
    emulators: Child
    engine: AsyncEngine
    env: dict[str, str]
    health: HealthSeed
    channels: list[DigestChannel]


@dataclass
class InstanceFigures:
    name: str
    ready_s: float
    """From the phase's start (every process started) to its first ok /healthz."""
    first_call_after_s: float | None
    """Its first call of the round, after the round's very first."""
    share: int
    """Checks (health) or digests posted it did."""
    cpu_s: float
    """Its CPU from ready to the end, or to its kill (start-up's own CPU left out)."""
    start_up_cpu_s: float
    peak_rss_mb: float
    healthz_not_ok: list[str]
    killed: bool


@dataclass
class PhaseFigures:
    name: str
    instances: int
    load_average: list[float]
    """`os.getloadavg()` just before the phase: anything else running shows here."""
    time_s: float
    """The round (or run) by the emulators' clock: its first call's arrival to its last
    call's answer."""
    ideal_s: float
    calls: dict[str, int]
    unattributed_calls: int
    per_instance: list[InstanceFigures]
    machine_busy: float | None
    """How busy the machine's cores were during the round (0–1, /proc/stat)."""
    cpu_s: dict[str, float]
    """CPU seconds of the whole phase (the processes started to done), by whom."""
    checked: dict[str, Any]
    problems: list[str]
    kill: dict[str, Any] | None = None


async def health_phase(bench: Bench, count: int, *, kill: bool) -> PhaseFigures:
    options, engine, seed = bench.options, bench.engine, bench.health
    await health_due(engine, seed, True)
    await bench.control.latency(google=options.health_latency, slack=0.0)
    settings = {}
    if kill and options.lease_s is not None:
        settings["HEALTH_LEASE_SECONDS"] = str(options.lease_s)
    if kill and options.tick_s is not None:
        settings["SCHEDULER_TICK_SECONDS"] = str(options.tick_s)
    name = "kill" if kill else f"health-x{count}"
    load = os.getloadavg()
    killing: dict[str, Any] | None = None
    async with running(bench, name, count, settings) as phase:
        if kill:
            killing = await kill_one(bench, phase)
        total = len(seed.ids)

        async def done() -> bool:
            return await recorded_count(engine) >= total and not await unsent_notices(engine)

        await until(done, within=PHASE_TIMEOUT_S, phase=phase)
    log = await read_check_log(engine)
    problems = await health_state(engine, seed)
    await health_due(engine, seed, False)
    calls = await bench.control.calls("google", f"^({PRIMARY_PATH}|{TOKEN_PATH})$", phase.started)
    primary = [c for c in calls if c.path == PRIMARY_PATH]
    messages = await bench.control.messages(
        sorted({seed.channel_of[cid] for cid in seed.revoked}), phase.started
    )
    posts = await bench.control.calls("slack", "^/api/chat\\.postMessage$", phase.started)
    verdict = judge_health(seed, log, primary, reconnect_buttons(messages), killing)
    problems += verdict.pop("problems")
    if len(posts) != len(seed.revoked):
        problems.append(f"{len(posts)} chat.postMessage calls, {len(seed.revoked)} alerts due")
    first, last = min(c.at for c in primary), max(c.at for c in primary)
    if killing is not None:
        killing.update(takeover(log, killing, options))
        problems += killing.pop("problems")
    return figures(
        phase,
        calls,
        first,
        last + options.health_latency,
        ideal=len(seed.ids) * options.health_latency / (HEALTH_CONCURRENCY * count),
        load=load,
        checked=verdict,
        problems=problems,
        kill=killing,
        share_of=primary,
    )


async def kill_one(bench: Bench, phase: Phase) -> dict[str, Any]:
    """Once KILL_AT of the round is recorded: the last instance frozen (SIGSTOP) at a moment
    when no alert is being sent (else let go on a moment), the leases then held read, and
    killed (SIGKILL). When, and what it held."""
    engine = bench.engine
    total = len(bench.health.ids)

    async def far_enough() -> bool:
        return await recorded_count(engine) >= KILL_AT * total

    await until(far_enough, within=PHASE_TIMEOUT_S, phase=phase, every=0.05)
    victim = phase.instances[-1]
    victim.killed = True  # from here on its /healthz is not asked
    pid = victim.child.process.pid
    for _ in range(200):
        os.kill(pid, signal.SIGSTOP)
        if not await alert_in_flight(engine):
            break
        os.kill(pid, signal.SIGCONT)
        await asyncio.sleep(0.05)
    else:
        raise RuntimeError("an alert was always being sent: the instance was never killed")
    at = time.time()
    victim.google_ports |= tcp_ports(pid, bench.ports.google)
    victim.cpu_at_end = cpu_seconds(pid)
    victim.peak_rss_mb = read_rss(pid, "killed", 0).peak_mb
    held = await leased_at(engine, at)
    recorded = await recorded_count(engine)
    os.kill(pid, signal.SIGKILL)
    victim.child.process.wait()
    return {
        "instance": victim.child.name,
        "at": at,
        "after_start_s": round(at - phase.started, 2),
        "recorded_at_kill": recorded,
        "leased_at_kill": len(held),
        "held": sorted(held),
    }


def takeover(log: list[Logged], killing: dict[str, Any], options: Options) -> dict[str, Any]:
    """When the survivors took over what the killed instance held, and recorded the last."""
    at = killing.pop("at")
    held = set(killing.pop("held"))
    taken = leases(log)
    twice = {cid for cid, rows in taken.items() if len(rows) == 2}
    written = {row.connection_id: row.at.timestamp() for row in log if row.what == "record"}
    problems = []
    if not twice:
        problems.append("the killed instance held no lease at the kill: nothing was taken over")
    if not twice <= held:
        problems.append(f"leased twice but not held at the kill: {sorted(twice - held)[:5]}")
    lease_s = LEASE.total_seconds() if options.lease_s is None else options.lease_s
    tick_s = TICK_SECONDS if options.tick_s is None else options.tick_s
    lapsed = [t.timestamp() for cid in twice if (t := taken[cid][0].lease_until) is not None]
    retaken = [taken[cid][1].at.timestamp() for cid in twice]
    last = max((written.get(cid, math.inf) for cid in twice), default=at)
    everything = max(written.values(), default=at)
    return {
        "lease_s": lease_s,
        "tick_s": tick_s,
        "taken_over": len(twice),
        "leases_lapsed_s": (
            [round(min(lapsed) - at, 2), round(max(lapsed) - at, 2)] if lapsed else None
        ),
        "first_retaken_s": round(min(retaken) - at, 2) if retaken else None,
        "last_taken_over_recorded_s": round(last - at, 2),
        "round_done_s": round(everything - at, 2),
        "within_one_lease": last - at <= lease_s,
        "problems": problems,
    }


def judge_health(
    seed: HealthSeed,
    log: list[Logged],
    primary: list[Call],
    alerts: dict[int, list[str]],
    killing: dict[str, Any] | None,
) -> dict[str, Any]:
    """Exactly once, from the check log, Google's calls and Slack's posts (module doc)."""
    problems = []
    written = outcomes(log)
    missing = [cid for cid in seed.ids if written[cid] == 0]
    doubled = {cid: n for cid, n in written.items() if n > 1}
    strangers = [cid for cid in written if cid not in seed.email_of]
    if missing or doubled or strangers:
        problems.append(
            f"outcomes: {len(missing)} connections none, {len(doubled)} more than one "
            f"({dict(list(doubled.items())[:5])}), {len(strangers)} not seeded"
        )
    taken = leases(log)
    kill_at = killing["at"] if killing else None
    twice = {cid: rows for cid, rows in taken.items() if len(rows) > 1}
    bad_leases = [
        cid
        for cid, rows in twice.items()
        if kill_at is None
        or len(rows) > 2
        or rows[0].at.timestamp() >= kill_at
        or rows[0].lease_until is None
        or rows[1].at < rows[0].lease_until
    ]
    if bad_leases:
        problems.append(f"leased again while leased, or without a kill: {bad_leases[:5]}")
    by_account: dict[str, list[float]] = {}
    for call in primary:
        by_account.setdefault(call.account, []).append(call.at)
    cid_of = {email: cid for cid, email in seed.email_of.items()}
    unchecked = [email for email in cid_of if email not in by_account]
    repeated = {email: at for email, at in by_account.items() if len(at) > 1}
    bad_repeats = [
        email
        for email, at in repeated.items()
        if kill_at is None or len(at) > 2 or cid_of.get(email) not in twice or min(at) >= kill_at
    ]
    if unchecked or bad_repeats or set(by_account) - set(cid_of):
        problems.append(
            f"Google: {len(unchecked)} accounts not called, {len(bad_repeats)} called again "
            f"without a killed check in flight, {len(set(by_account) - set(cid_of))} not seeded"
        )
    wanted = {cid: [seed.channel_of[cid]] for cid in seed.revoked}
    if alerts != wanted:
        wrong = {
            cid: alerts.get(cid)
            for cid in set(alerts) | set(wanted)
            if alerts.get(cid) != wanted.get(cid)
        }
        problems.append(f"alerts not one each in their channels: {dict(list(wrong.items())[:5])}")
    return {
        "connections": len(seed.ids),
        "outcomes_written_once": sum(1 for cid in seed.ids if written[cid] == 1),
        "leased_twice": len(twice),
        "google_accounts_called_once": sum(1 for at in by_account.values() if len(at) == 1),
        "google_accounts_called_twice": len(repeated),
        "revoked": len(seed.revoked),
        "alerts_posted_once": sum(1 for cid in seed.revoked if alerts.get(cid) == wanted[cid]),
        "problems": problems,
    }


async def digest_phase(bench: Bench, count: int) -> PhaseFigures:
    options, engine = bench.options, bench.engine
    await digests_on(engine, True)
    await bench.control.latency(google=options.digest_latency, slack=options.slack_latency)
    load = os.getloadavg()
    async with running(bench, f"digest-x{count}", count) as phase:

        async def done() -> bool:
            sent, held = await digests_sent(engine)
            return sent >= options.customers and not held

        await until(done, within=PHASE_TIMEOUT_S, phase=phase)
    await digests_on(engine, False)
    since = phase.started
    freebusy = await bench.control.calls("google", f"^{digest_run.FREEBUSY_PATH}$", since)
    slack = await bench.control.calls("slack", DIGEST_SLACK_CALLS, since)
    posts = await bench.control.requests("slack", "^/api/chat\\.postMessage$", since)
    verified, problems = digest_run.problems_in_posts(posts, list(bench.channels), seed=1)
    problems = await digest_run.problems_in_database(engine, options.customers) + problems
    per_account = Counter(c.account for c in freebusy)
    staff = {digest_run.staff_email(n) for channel in bench.channels for n in channel.staff}
    if per_account != Counter(dict.fromkeys(staff, 1)):
        odd = {a: n for a, n in per_account.items() if n != 1 or a not in staff}
        problems.append(
            f"free/busy calls: {len(staff - set(per_account))} calendars not read, "
            f"{len(odd)} read more than once or not seeded ({dict(list(odd.items())[:5])})"
        )
    post_calls = [c for c in slack if c.path.endswith("chat.postMessage")]
    first = min(c.at for c in (*freebusy, *slack))
    last = max(c.at for c in post_calls) + options.slack_latency
    calls = Counter(c.path.removeprefix("/api/") for c in (*freebusy, *slack))
    return figures(
        phase,
        [*freebusy, *slack],
        first,
        last,
        ideal=options.customers
        * options.staff
        * options.digest_latency
        / (min(CALLS_AT_ONCE, DIGEST_CONCURRENCY * options.staff) * count),
        load=load,
        checked={
            "customers": options.customers,
            "digests_verified": verified,
            "posts": len(posts),
            "freebusy_calls": len(freebusy),
            "calls": dict(sorted(calls.items())),
        },
        problems=problems,
        kill=None,
        share_of=post_calls,
    )


def figures(
    phase: Phase,
    calls: Sequence[Call],
    first: float,
    last: float,
    *,
    ideal: float,
    load: tuple[float, float, float],
    checked: dict[str, Any],
    problems: list[str],
    kill: dict[str, Any] | None,
    share_of: Sequence[Call],
) -> PhaseFigures:
    """A phase's figures: the time by the emulators' clock, each instance's share (the
    calls `share_of` that came on its sockets to that emulator) and its start."""
    starts: dict[int, float] = {}
    for call in calls:
        owner = phase.owner(call)
        if owner is not None:
            starts[owner] = min(starts.get(owner, math.inf), call.at)
    shares = Counter(phase.owner(c) for c in share_of)
    per_instance = [
        InstanceFigures(
            name=instance.child.name,
            ready_s=round(instance.ready_s or 0.0, 2),
            first_call_after_s=round(starts[i] - first, 2) if i in starts else None,
            share=shares.get(i, 0),
            cpu_s=round(instance.cpu_at_end - instance.cpu_at_ready, 2),
            start_up_cpu_s=round(instance.cpu_at_ready, 2),
            peak_rss_mb=instance.peak_rss_mb,
            healthz_not_ok=instance.not_ok,
            killed=instance.killed,
        )
        for i, instance in enumerate(phase.instances)
    ]
    return PhaseFigures(
        name=phase.name,
        instances=len(phase.instances),
        load_average=[round(x, 2) for x in load],
        time_s=round(last - first, 2),
        ideal_s=round(ideal, 2),
        calls=dict(Counter(c.path for c in calls)),
        unattributed_calls=shares.get(None, 0),
        per_instance=per_instance,
        machine_busy=phase.busy(first, last),
        cpu_s=phase.where_cpu_went,
        checked=checked,
        problems=problems,
        kill=kill,
    )


# --- running it -------------------------------------------------------------------------


@dataclass(frozen=True)
class Options:
    connections: int
    per_customer: int
    customers: int
    staff: int
    instances: int
    health_latency: float
    digest_latency: float
    slack_latency: float
    revoked_every: int
    lease_s: int | None
    tick_s: int | None
    phases: tuple[str, ...]
    database_url: str
    json_path: Path | None
    shared: bool = False
    """The digest customers' channels shared with their own organisations (digest_run's
    `--shared`)."""


async def measure(options: Options, work: Path) -> list[PhaseFigures]:
    ports = Ports(*(free_port() for _ in range(5)))
    with contextlib.ExitStack() as stack:
        emulators = start_child(
            "emulators",
            emulators_argv(ports, channels=0, users=0),
            base_env(),
            cwd=REPO,
            logs=work,
            health_url=f"http://{HOST}:{ports.control}/healthz",
        )
        stack.callback(stop_child, emulators)
        async with (
            aiohttp.ClientSession() as session,
            scratch_database(options.database_url, work) as database_url,
        ):
            await wait_ready(session, emulators)
            control = Control(
                session,
                f"http://{HOST}:{ports.control}",
                google_url=f"http://{HOST}:{ports.google}",
            )
            env = bot_env(ports, work) | {"DATABASE_URL": database_url}
            cipher = TokenCipher(env["TOKEN_ENCRYPTION_KEY"])
            engine = create_engine(database_url)
            try:
                await migrate(engine)
                await install_check_log(engine)
                seeding = time.perf_counter()
                channels = digest_channels(
                    options.customers, options.staff, utcnow(), shared=options.shared
                )
                events = await seed_digests(engine, control, cipher, channels)
                health = await seed_health(engine, control, cipher, options)
                print(
                    f"seeded {options.customers} digest customers ({events} events) and "
                    f"{options.connections} connections in {time.perf_counter() - seeding:.0f} s",
                    flush=True,
                )
                bench = Bench(
                    options,
                    work,
                    session,
                    control,
                    ports,
                    emulators,
                    engine,
                    env,
                    health,
                    channels,
                )
                done = []
                plan: list[tuple[str, Callable[[], Awaitable[PhaseFigures]]]] = []
                if "health" in options.phases:
                    plan += [
                        ("health", lambda: health_phase(bench, 1, kill=False)),
                        ("health", lambda: health_phase(bench, options.instances, kill=False)),
                    ]
                if "digest" in options.phases:
                    plan += [
                        ("digest", lambda: digest_phase(bench, 1)),
                        ("digest", lambda: digest_phase(bench, options.instances)),
                    ]
                if "kill" in options.phases:
                    plan.append(("kill", lambda: health_phase(bench, options.instances, kill=True)))
                for _, run in plan:
                    result = await run()
                    print(f"{result.name}: {result.time_s:g} s{problems_said(result)}", flush=True)
                    done.append(result)
                return done
            finally:
                await engine.dispose()


def problems_said(result: PhaseFigures) -> str:
    return f" ({len(result.problems)} problems)" if result.problems else ""


def verdicts(results: list[PhaseFigures], options: Options) -> list[str]:
    """Each target, met or not, in words."""
    said = []
    by_name = {r.name: r for r in results}
    n = options.instances
    for what in ("health", "digest"):
        one, many = by_name.get(f"{what}-x1"), by_name.get(f"{what}-x{n}")
        if one and many:
            target = TARGET_FACTOR * one.time_s / n
            met = many.time_s <= target
            said.append(
                f"{what}: {n} instances {many.time_s:g} s against 1.3 × {one.time_s:g} s ÷ {n} "
                f"= {target:.1f} s: {'MET' if met else 'MISSED'} (speed-up "
                f"{one.time_s / many.time_s:.2f} × of {n})"
            )
    kill = by_name.get("kill")
    if kill and kill.kill:
        k = kill.kill
        said.append(
            f"kill: the killed instance's {k['taken_over']} held connections recorded "
            f"{k['last_taken_over_recorded_s']:g} s after the kill, against a lease of "
            f"{k['lease_s']:g} s (tick {k['tick_s']:g} s): "
            f"{'within' if k['within_one_lease'] else 'NOT within'} one lease period"
        )
    for r in results:
        said.append(f"{r.name}: exactly once {'MET' if not r.problems else 'MISSED'}")
    return said


def table(r: PhaseFigures) -> str:
    busy = "" if r.machine_busy is None else f"{r.machine_busy * 100:.0f} %"
    rows = [
        ("phase", f"{r.name} (load average before {r.load_average[0]:g})"),
        ("time, by the emulators' clock", f"{r.time_s:g} s (ideal {r.ideal_s:g} s)"),
        ("calls", ", ".join(f"{p} {n}" for p, n in sorted(r.calls.items()))),
        ("machine's cores busy in the round", busy),
        ("CPU in the phase, s", ", ".join(f"{k} {v:g}" for k, v in r.cpu_s.items())),
    ]
    for i in r.per_instance:
        after = "" if i.first_call_after_s is None else f", first call +{i.first_call_after_s:g} s"
        rows.append(
            (
                f"  {i.name}" + (" (killed)" if i.killed else ""),
                f"share {i.share}, ready at {i.ready_s:g} s{after}, CPU {i.cpu_s:g} s "
                f"(+{i.start_up_cpu_s:g} s start-up), peak RSS {i.peak_rss_mb:g} MB, "
                f"/healthz not ok {len(i.healthz_not_ok)}"
                + (f" (first: {i.healthz_not_ok[0][:120]})" if i.healthz_not_ok else ""),
            )
        )
    if r.unattributed_calls:
        rows.append(("  calls matched to no instance", str(r.unattributed_calls)))
    rows += [(k, str(v)) for k, v in r.checked.items()]
    if r.kill:
        rows += [(f"kill: {k}", str(v)) for k, v in r.kill.items()]
    width = max(len(name) for name, _ in rows)
    return "\n".join(f"{name:<{width}}  {value}" for name, value in rows)


def report(info: dict[str, Any], results: list[PhaseFigures], options: Options) -> None:
    for result in results:
        print(f"\n{table(result)}")
        for problem in result.problems:
            print(f"PROBLEM: {problem}")
    print()
    for line in verdicts(results, options):
        print(line)
    print(", ".join(f"{k}: {v}" for k, v in info.items()))
    if options.json_path is not None:
        wanted = {k: v for k, v in asdict(options).items() if k not in ("json_path",)}
        wanted["database_url"] = make_url(options.database_url).render_as_string()
        figures = {
            "machine": info,
            "options": wanted,
            "bot": {
                "health_concurrency": HEALTH_CONCURRENCY,
                "google_calls_at_once": CALLS_AT_ONCE,
                "digest_concurrency": DIGEST_CONCURRENCY,
                "digests_under_way_per_reader": UNDER_WAY,
                "lease_s": LEASE.total_seconds(),
                "tick_s": TICK_SECONDS,
            },
            "phases": [asdict(r) for r in results],
            "verdicts": verdicts(results, options),
        }
        options.json_path.write_text(json.dumps(figures, indent=2, ensure_ascii=False) + "\n")


def parse_options(argv: Sequence[str] | None) -> Options:
    parser = argparse.ArgumentParser(
        prog="python -m bench.scale_out",
        description="One health round and one digest run on 1 then N instances sharing PostgreSQL.",
    )
    add = parser.add_argument
    add("--connections", type=int, default=30_000, help="health connections (30000)")
    add("--per-customer", type=int, default=10, help="health connections a customer (10)")
    add("--customers", type=int, default=3_000, help="digest customers (3000)")
    add("--staff", type=int, default=10, help="staff calendars a digest customer (10)")
    add("--instances", type=int, default=3, help="instances beside the single one (3)")
    add("--health-latency", type=float, default=0.2, help="Google's seconds a call, health (0.2)")
    add("--digest-latency", type=float, default=0.2, help="Google's seconds a call, digests (0.2)")
    add("--slack-latency", type=float, default=0.05, help="Slack's seconds a call, digests (0.05)")
    add("--revoked-every", type=int, default=1000, help="one connection in N revoked (1000)")
    add("--lease", type=int, default=None, help="the kill phase's lease, s (the bot's: 300)")
    add("--tick", type=int, default=None, help="the kill phase's jobs' period, s (the bot's: 60)")
    add("--phases", default="health,digest,kill", help="which: health, digest, kill (all)")
    add("--database-url", default=DEFAULT_SERVER, metavar="URL", help="the PostgreSQL server")
    add(
        "--shared",
        action="store_true",
        help="digest customers' channels shared with their organisations, an onboarder in each",
    )
    add("--json", type=Path, default=None, metavar="FILE", help="also write the figures here")
    args = parser.parse_args(argv)
    phases = tuple(p.strip() for p in args.phases.split(",") if p.strip())
    if not set(phases) <= {"health", "digest", "kill"}:
        parser.error("--phases takes health, digest and kill")
    if min(args.connections, args.per_customer, args.customers, args.staff, args.revoked_every) < 1:
        parser.error("sizes must be ≥ 1")
    if args.instances < 2:
        parser.error("--instances must be ≥ 2")
    if args.customers * args.staff > 99_999:
        parser.error("at most 99,999 digest staff (digest_run's ids)")
    if make_url(args.database_url).get_backend_name() != "postgresql":
        parser.error("--database-url must be a postgresql:// URL")
    return Options(
        connections=args.connections,
        per_customer=args.per_customer,
        customers=args.customers,
        staff=args.staff,
        instances=args.instances,
        health_latency=args.health_latency,
        digest_latency=args.digest_latency,
        slack_latency=args.slack_latency,
        revoked_every=args.revoked_every,
        lease_s=args.lease,
        tick_s=args.tick,
        phases=phases,
        database_url=args.database_url,
        json_path=args.json,
        shared=args.shared,
    )


def main(argv: Sequence[str] | None = None) -> int:
    options = parse_options(argv)
    info = machine()  # before the load, so that the load average is the machine's own
    signal.signal(signal.SIGTERM, exit_on_sigterm)
    with tempfile.TemporaryDirectory(prefix="tonomo-bench-") as temp:
        try:
            results = asyncio.run(measure(options, Path(temp)))
        except (RuntimeError, aiohttp.ClientError) as err:
            print(f"scale_out: {err}", file=sys.stderr)
            return 1
        except KeyboardInterrupt:
            print("scale_out: interrupted", file=sys.stderr)
            return 130
    info["load average at end"] = round(os.getloadavg()[0], 2)
    report(info, results, options)
    return 1 if any(r.problems for r in results) else 0


if __name__ == "__main__":
    sys.exit(main())
