"""Two real instances of the bot (`python app.py`) sharing one PostgreSQL database split a
health round; one is killed (SIGKILL) in the middle of it, and the other checks what the
dead one held once its leases lapse: every connection's outcome recorded exactly once, no
alert doubled, the survivor's `/healthz` ok throughout. PostgreSQL only: skipped without
it, required under TONOMO_REQUIRE_POSTGRES=1.

Set-up: the emulators run in this process, Google answering every call in `LATENCY` s.
`CONNECTIONS` staff connections of `CONNECTIONS / PER_CUSTOMER` customers are seeded
straight into the database (`bench.scale_out.seed_connections`), all due, their access
tokens fresh (a check is one `calendars/primary` call); every `REVOKED_EVERY`th account's
grant is revoked at Google, so its check finds it needing reconnecting and its customer's
channel gets an alert. A trigger added to the scratch database writes down every lease
taken on a connection and every outcome written to one (`bench.scale_out.CHECK_LOG`). Both
instances start at once; a round begins at start-up. Once the second serves and a third
of the connections are recorded, the second is frozen (SIGSTOP) at a moment when no alert
is being sent, the leases then held are read, and it is killed (SIGKILL).

**Exactly once**, for this round, means all of these:

- Database: the check log holds exactly one outcome written for every connection; each
  ends unleased, with no check failure and its verdict (connected, or needing
  reconnecting for the revoked ones), with exactly one state-change event for each revoked
  connection, its alert marked sent, and none for any other. Every connection was leased
  once, except those the killed instance held at the kill: leased twice, the second time
  only after the first lease had lapsed (nobody checks a connection another holds).
- Google: every account got a `calendars/primary` call. An account got two only if its
  connection was one the killed instance held and the first call arrived before the kill:
  that check was in flight when the instance died, and its outcome never written, so the
  survivor checked again. Repeated at Google, recorded once. None got more than two.
- Slack: each revoked connection's customer channel got exactly one alert (a message with
  a Reconnect button for it); no other connection got any.

**Within one lease of the kill** (`HEALTH_LEASE_SECONDS`, the takeover time promised):
the dead instance's claims were all taken before the kill and held its connections for
the lease less `TAKEOVER`, so each lapses sooner; the survivor's health round, finding them
held, asks to look again just after the first lapses (`AFTER_LAPSE`, not its next tick),
takes them then and checks them. So every connection is recorded within `LEASE_S` of the
kill, which the test asserts.

Each instance is `python app.py` with the lease (5 minutes by default) and the jobs'
period (60 s) set short by its environment: `HEALTH_LEASE_SECONDS` and
`SCHEDULER_TICK_SECONDS`.

A kill between Slack accepting an alert and the database marking it sent would have the
alert posted again once its claim lapses (the outbox's one window; `bot.digest` says the
same of digests), so the instance is killed only at a moment when no alert is claimed and
unsent: what this asserts is that killing a checking instance doubles nothing.
"""

from __future__ import annotations

import asyncio
import contextlib
import signal
import sys
import time
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from aiohttp import ClientError, ClientSession
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncEngine

from bench.scale_out import (
    health_channel,
    install_check_log,
    leases,
    outcomes,
    read_check_log,
    seed_connections,
)
from bot.calendar.port import STAFF_SCOPES
from bot.messages.ids import RECONNECT
from bot.tokens import TokenCipher
from sandbox.fake_google import FakeGoogle
from sandbox.fake_slack import FakeSlack
from storage.db import create_engine, migrate, session_factory
from storage.models import (
    CalendarConnection,
    ConnectionEvent,
    ConnectionState,
    Customer,
    Notice,
)
from tests.conftest import OWNER, SHARED_KEY, _reset_schema, free_port
from tests.test_app_start import ROOT, served_environment, wait_for_health

CONNECTIONS = 320
PER_CUSTOMER = 10
REVOKED_EVERY = 40
"""Every 40th account revoked at Google: 8 connections that break, spread over the round."""
LATENCY = 0.4
"""Seconds Google takes over every call: 320 checks, 32 at a time in each of two
instances, make a round of about 2 s."""
LEASE_S = 10
"""The shortest lease the settings allow: claims hold a connection for 5 s."""
TICK_S = 2
"""The jobs' period here: longer than a round of the survivor's (a job whose last round
is older than two periods makes `/healthz` 503)."""
KILL_AFTER = CONNECTIONS // 3
"""Outcomes written before the second instance is killed."""
PRIMARY_PATH = "/calendar/v3/calendars/primary"


@dataclass
class Instance:
    name: str
    url: str
    process: asyncio.subprocess.Process
    log: Path

    def log_tail(self) -> str:
        return "\n".join(self.log.read_text(errors="replace").splitlines()[-30:])


@contextlib.asynccontextmanager
async def instances(
    tmp_path: Path, google: FakeGoogle, slack: FakeSlack, database_url: str, names: list[str]
) -> AsyncIterator[list[Instance]]:
    """The real bot, one process per name, on one database and these emulators, started
    together; every one still running is stopped on leaving (SIGINT, then SIGKILL)."""
    started: list[Instance] = []
    try:
        for name in names:
            port = free_port()
            env = served_environment(tmp_path, google, slack, port) | {
                "DATABASE_URL": database_url,
                "TOKEN_ENCRYPTION_KEY": SHARED_KEY,  # instances sharing a database share it
                "LOG_LEVEL": "WARNING",
                "PYTHONPATH": str(ROOT),
                "HEALTH_LEASE_SECONDS": str(LEASE_S),
                "SCHEDULER_TICK_SECONDS": str(TICK_S),
            }
            log = tmp_path / f"{name}.log"
            with log.open("wb") as out:
                process = await asyncio.create_subprocess_exec(
                    sys.executable,
                    str(ROOT / "app.py"),
                    cwd=tmp_path,  # no developer's .env
                    env=env,
                    stdout=out,
                    stderr=out,
                )
            started.append(Instance(name, f"http://127.0.0.1:{port}", process, log))
        yield started
    finally:
        for instance in started:
            if instance.process.returncode is None:
                instance.process.send_signal(signal.SIGINT)
                try:
                    await asyncio.wait_for(instance.process.wait(), timeout=15)
                except TimeoutError:
                    instance.process.kill()
                    await instance.process.wait()


async def seed(engine: AsyncEngine, google: FakeGoogle, slack: FakeSlack) -> set[str]:
    """The connections, all due, and their customers' channels; the revoked accounts."""
    accounts, revoked = [], set()
    for number in range(CONNECTIONS):
        email = f"staff{number:05d}@scale.example"
        access, refresh = google.issue_tokens(email, list(STAFF_SCOPES))
        accounts.append({"email": email, "access_token": access, "refresh_token": refresh})
        if number % REVOKED_EVERY == REVOKED_EVERY // 2:
            google.revoke_account_tokens(email)
            revoked.add(email)
    customers = await seed_connections(
        engine, TokenCipher(SHARED_KEY), accounts, per_customer=PER_CUSTOMER
    )
    for number, customer in enumerate(customers):
        slack.add_channel(customer.channel_id, name=f"customer-{number}", members=[OWNER])
    assert [c.channel_id for c in customers] == [health_channel(n) for n in range(len(customers))]
    return revoked


async def healthz(http: ClientSession, instance: Instance) -> tuple[int, Any]:
    async with http.get(instance.url + "/healthz") as response:
        return response.status, await response.json()


async def watch_health(http: ClientSession, instance: Instance, seen: list[str]) -> None:
    """Poll the instance's /healthz every 0.2 s; every answer that isn't ok goes in `seen`."""
    while True:
        try:
            status, body = await healthz(http, instance)
            if status != 200 or body.get("status") != "ok":
                seen.append(f"{status} {body}")
        except ClientError as err:
            seen.append(f"no answer: {err!r}")
        await asyncio.sleep(0.2)


async def alert_in_flight(engine: AsyncEngine) -> bool:
    """Whether some alert is claimed and not yet marked sent (it may be in Slack's hands)."""
    async with session_factory(engine)() as session:
        claimed = await session.scalar(
            select(func.count()).where(
                ConnectionEvent.notice != Notice.NONE,
                ConnectionEvent.notice_claimed_at.is_not(None),
                ConnectionEvent.notice_sent_at.is_(None),
            )
        )
    return bool(claimed)


async def leased_now(engine: AsyncEngine, now: datetime) -> set[int]:
    """The connections under a lease that has not lapsed."""
    async with session_factory(engine)() as session:
        rows = await session.scalars(
            select(CalendarConnection.id).where(CalendarConnection.check_claimed_until > now)
        )
        return set(rows)


async def kill_when_no_alert_is_in_flight(
    engine: AsyncEngine, victim: Instance
) -> tuple[float, set[int]]:
    """Freeze the instance, and kill it if no alert is being sent (else let it go on a
    moment and try again): when it was killed (epoch s), and the leases then held."""
    for _ in range(100):
        victim.process.send_signal(signal.SIGSTOP)
        if not await alert_in_flight(engine):
            at = time.time()
            held = await leased_now(engine, datetime.fromtimestamp(at, UTC))
            victim.process.kill()  # SIGKILL
            await victim.process.wait()
            return at, held
        victim.process.send_signal(signal.SIGCONT)
        await asyncio.sleep(0.02)
    raise AssertionError("an alert was always being sent; the instance was never killed")


def account_of(google: FakeGoogle, request: Any) -> str:
    """The account a Calendar API request was made for (its access token's)."""
    token = request.headers.get("Authorization", "").removeprefix("Bearer ")
    access = google._access_tokens.get(token)
    return access.grant.email if access is not None else ""


def alerts_by_connection(slack: FakeSlack, channels: list[str]) -> dict[str, list[str]]:
    """Each connection id a Reconnect button was posted for: the channels it was posted in."""
    found: dict[str, list[str]] = {}
    for channel in channels:
        for message in slack.messages(channel):
            for block in message.get("blocks") or []:
                for element in block.get("elements") or []:
                    if element.get("action_id") == RECONNECT:
                        found.setdefault(str(element["value"]), []).append(channel)
    return found


async def test_killing_one_of_two_instances_mid_round_checks_everything_exactly_once(
    postgres_database: str, tmp_path: Path, google: FakeGoogle, slack: FakeSlack
) -> None:
    await _reset_schema(postgres_database)
    engine = create_engine(postgres_database)
    try:
        await migrate(engine)
        await install_check_log(engine)
        revoked = await seed(engine, google, slack)
        async with session_factory(engine)() as session:
            rows = await session.execute(
                select(
                    CalendarConnection.id, CalendarConnection.account_email, Customer.channel_id
                ).join(Customer, Customer.id == CalendarConnection.customer_id)
            )
            seeded = rows.all()
        email_of = {cid: email for cid, email, _ in seeded}
        channel_of = {cid: channel for cid, _, channel in seeded}
        google.faults.latency = LATENCY

        async with (
            ClientSession() as http,
            instances(tmp_path, google, slack, postgres_database, ["a", "b"]) as (survivor, victim),
        ):
            for instance in (survivor, victim):
                await wait_for_health(instance.url, instance.process)
            served = time.monotonic()
            not_ok: list[str] = []
            watcher = asyncio.create_task(watch_health(http, survivor, not_ok))
            try:
                await until(lambda: recorded(engine, at_least=KILL_AFTER), within=10.0)
                # The victim has served for at least one Google call's time: it holds leases.
                await asyncio.sleep(max(0.0, served + LATENCY - time.monotonic()))
                killed_at, held = await kill_when_no_alert_is_in_flight(engine, victim)
                recorded_at_kill = len(outcomes(await read_check_log(engine)))
                await until(
                    lambda: recorded(engine, at_least=CONNECTIONS),
                    within=LEASE_S + 5.0,
                    what=survivor.log_tail(),
                )
                # The survivor sends the alerts; then a period more for anything to double.
                await until(lambda: every_alert_sent(engine), within=TICK_S + 1.0)
                await asyncio.sleep(TICK_S + LATENCY)
                status, body = await healthz(http, survivor)
            finally:
                watcher.cancel()
            assert survivor.process.returncode is None, survivor.log_tail()

        log = await read_check_log(engine)
        async with session_factory(engine)() as session:
            final = (await session.execute(select(CalendarConnection))).scalars().all()
            events = (await session.execute(select(ConnectionEvent))).scalars().all()
    finally:
        await engine.dispose()

    # The kill came in the middle of the round, with work in the victim's hands.
    assert KILL_AFTER <= recorded_at_kill < CONNECTIONS
    taken = leases(log)
    twice = {cid for cid, rows in taken.items() if len(rows) == 2}
    assert twice, "the killed instance held no lease at the kill: nothing was taken over"
    assert twice <= held, "only a lease held at the kill is taken again"

    # Database: one outcome each; one lease each, or two with the first lapsed first.
    assert outcomes(log) == Counter(dict.fromkeys(email_of, 1))
    assert {cid: len(rows) for cid, rows in taken.items()} == {
        cid: 2 if cid in twice else 1 for cid in email_of
    }
    for cid in twice:
        first, second = taken[cid]
        assert first.at.timestamp() < killed_at and first.lease_until is not None
        assert second.at >= first.lease_until, (cid, first, second)
    written = {row.connection_id: row.at.timestamp() for row in log if row.what == "record"}
    taken_over_s = max(written[cid] for cid in twice) - killed_at
    assert taken_over_s <= LEASE_S, taken_over_s
    by_email = {email: cid for cid, email in email_of.items()}
    for connection in final:
        assert connection.check_claimed_until is None and connection.check_failures == 0
        expected = (
            ConnectionState.NEEDS_RECONNECT
            if connection.account_email in revoked
            else ConnectionState.CONNECTED
        )
        assert connection.state is expected, connection.account_email
    assert sorted(e.connection_id for e in events) == sorted(by_email[e] for e in revoked)
    assert all(e.notice is Notice.BROKEN and e.notice_sent_at is not None for e in events)

    # Google: a second call only for a connection the victim held, its first before the kill.
    calls: dict[str, list[float]] = {}
    for request in google.requests.matching(f"^{PRIMARY_PATH}$"):
        calls.setdefault(account_of(google, request), []).append(request.at)
    assert set(calls) == set(by_email)
    repeated = {email for email, at in calls.items() if len(at) > 1}
    assert all(len(at) <= 2 for at in calls.values())
    assert {by_email[e] for e in repeated} <= twice
    assert all(min(calls[e]) < killed_at for e in repeated)

    # Slack: one alert for each revoked connection, in its customer's channel.
    alerts = alerts_by_connection(slack, sorted(set(channel_of.values())))
    assert alerts == {str(by_email[e]): [channel_of[by_email[e]]] for e in revoked}

    # The survivor answered ok all along, and still does.
    assert not_ok == [] and status == 200 and body["status"] == "ok", (not_ok, body)
    print(
        f"killed with {recorded_at_kill} of {CONNECTIONS} recorded, holding {len(twice)} "
        f"leases; the last of them recorded {taken_over_s:.1f} s after the kill (lease "
        f"{LEASE_S:g} s, tick {TICK_S:g} s); {len(repeated)} checks repeated at Google"
    )


async def until(check: Callable[[], Awaitable[bool]], *, within: float, what: str = "") -> None:
    """Poll `check` until it holds; fail after `within` seconds, saying `what`."""
    deadline = time.monotonic() + within
    while not await check():
        if time.monotonic() > deadline:
            raise AssertionError(f"not within {within:.1f} s\n{what}")
        await asyncio.sleep(0.05)


async def recorded(engine: AsyncEngine, *, at_least: int) -> bool:
    """Whether at least that many connections have an outcome written."""
    return len(outcomes(await read_check_log(engine))) >= at_least


async def every_alert_sent(engine: AsyncEngine) -> bool:
    async with session_factory(engine)() as session:
        unsent = await session.scalar(
            select(func.count()).where(
                ConnectionEvent.notice != Notice.NONE, ConnectionEvent.notice_sent_at.is_(None)
            )
        )
    return not unsent
