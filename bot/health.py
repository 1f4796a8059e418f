"""Connection health: live checks, every state change recorded, one notice per change.

A check refreshes the access token if it has expired and makes one cheap Calendar call
(`calendars/primary`). The calendar adapter retries 429s and 5xx with backoff and jitter
inside that call, as Google's own client library does; what still fails is *transient*.
Verdicts:

- ok -> connected;
- `invalid_grant`, or 401 with fresh credentials -> needs reconnecting;
- a required scope not granted, or 403 insufficient permissions -> missing permission;
- transient -> the state stays as it is, until `UNREACHABLE_AFTER` checks in a row have
  failed: then a connected connection becomes unreachable. That is Google's trouble, not a
  breakage, so it raises no alert.

A periodic round records its checks in batches, the outcomes that end within
`RECORD_WAIT` of each other in one short transaction; `status` checks a customer's
connections side by side, answers, then records them all in one. A change to a
broken state records an event with a notice: one alert in the channel with a Reconnect
button, however many checks follow. A change from broken back to
connected records an all-clear. Notices are an outbox in the database: whoever records
the change commits the notice with it, and sending claims it first, so each is sent
once even with several instances.

The instance's own health (`/healthz`) is here too: `probe_database` asks the database
for a read and a write (rolled back), since a database that reads but refuses writes (a
read-only file, a PostgreSQL replica or `default_transaction_read_only`) would accept
every command's reads and fail its saves; `InstanceHealth` adds the periodic jobs, each
of which must have completed a round within twice its period.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from sqlalchemy import text
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncEngine

from bot.calendar.port import (
    GOOGLE_UNREACHABLE,
    READ_DEADLINE,
    CalendarError,
    CalendarProvider,
    MissingPermission,
    NeedsReconnect,
    missing_scopes_reason,
)
from bot.connections import scopes_for
from bot.messages.health import build_alert, build_alert_resolved, build_all_clear
from bot.people import People
from bot.slack import Poster
from bot.together import together
from bot.tokens import TokenCipher
from storage.models import (
    CalendarConnection,
    ConnectionEvent,
    ConnectionState,
    Customer,
    Notice,
    utcnow,
)
from storage.repositories import RECONNECTED, CheckOutcome, RecordedChecks, Store, connected_staff

if TYPE_CHECKING:
    from bot.scheduler import JobStatus

logger = logging.getLogger(__name__)

UNREACHABLE_AFTER = 3
"""Checks in a row that Google must fail before a connection is reported unreachable."""
LEASE = timedelta(minutes=5)
"""How soon, by default (`HEALTH_LEASE_SECONDS`), the connections a stopped or crashed
instance was checking are checked by the others. A claim holds a connection for this
less `TAKEOVER`, so that the lease lapses early enough for the others to take it over
and check it within this."""
RECORD_WAIT = 0.05
"""Seconds a periodic round's outcome waits for others to be recorded in the same write."""
AFTER_LAPSE = timedelta(seconds=0.25)
"""How long after a lease lapses a round looks again (`Health.next_look`): by then the
lease is past on this instance's clock (the instances' clocks agree to within NTP's
milliseconds), so the claim takes it."""
TAKEOVER = timedelta(seconds=5)
"""Room, once a stopped instance's leases lapse, for the others to check what it held:
`AFTER_LAPSE`, the claim, the checks (it held at most three batches of `concurrency`,
each check one or two of Google's round trips of well under a second, or one batch
that waits out `READ_DEADLINE`), `RECORD_WAIT` and the write."""
MIN_LEASE = 2 * TAKEOVER
"""The shortest lease allowed: a claim then still holds a connection for `TAKEOVER`,
longer than one check may take, so that no connection is checked twice."""


@dataclass(frozen=True)
class Finding:
    """What a live check found: a state (None when Google could not say) and why."""

    state: ConnectionState | None
    reason: str = ""
    token_ciphertext: bytes | None = None


class Health:
    """Checks connections, records what changed, and delivers the notices that calls for."""

    def __init__(
        self,
        *,
        store: Store,
        calendar: CalendarProvider,
        cipher: TokenCipher,
        poster: Poster,
        concurrency: int = 32,
        lease: timedelta = LEASE,
        clock: Callable[[], datetime] = utcnow,
    ) -> None:
        self._store = store
        self._calendar = calendar
        self._cipher = cipher
        self._poster = poster
        self._clock = clock
        self.concurrency = concurrency
        if lease < MIN_LEASE:
            raise ValueError(f"the lease must be at least {MIN_LEASE.total_seconds():g} s")
        self.lease = lease
        """How soon another instance finishes the checks of one that stopped (and how
        long a claimed notice is held before another may send it)."""

    @property
    def hold(self) -> timedelta:
        """How long a claim holds a connection to check."""
        return self.lease - TAKEOVER

    async def probe(self, connection: CalendarConnection) -> Finding:
        """The live check itself: one refresh if needed, one Calendar call."""
        tokens = self._cipher.open_tokens(connection.token_ciphertext)
        try:
            async with asyncio.timeout(READ_DEADLINE):
                _, fresh = await self._calendar.fetch_account(tokens)
        except TimeoutError:
            logger.info("check of connection %s: no answer in time", connection.id)
            return Finding(None, GOOGLE_UNREACHABLE)
        except NeedsReconnect as err:
            return Finding(ConnectionState.NEEDS_RECONNECT, err.reason)
        except MissingPermission:
            missing = [s for s in scopes_for(connection.kind) if s not in tokens.scopes]
            return Finding(ConnectionState.MISSING_PERMISSION, missing_scopes_reason(missing))
        except CalendarError as err:  # Transient, or an answer Google did not explain
            logger.info("check of connection %s: Google did not answer (%s)", connection.id, err)
            return Finding(None, GOOGLE_UNREACHABLE)
        sealed = self._cipher.seal_tokens(fresh) if fresh != tokens else None
        missing = [s for s in scopes_for(connection.kind) if s not in fresh.scopes]
        if missing:
            return Finding(
                ConnectionState.MISSING_PERMISSION, missing_scopes_reason(missing), sealed
            )
        return Finding(ConnectionState.CONNECTED, "", sealed)

    def outcome(self, connection: CalendarConnection, finding: Finding) -> CheckOutcome:
        """What a check's finding makes of the connection, ready to be recorded."""
        failures = 0 if finding.state is not None else connection.check_failures + 1
        state = finding.state or connection.state
        reason = finding.reason if finding.state is not None else connection.state_reason
        if (
            finding.state is None
            and failures >= UNREACHABLE_AFTER
            and not connection.state.is_broken
        ):
            state, reason = ConnectionState.UNREACHABLE, GOOGLE_UNREACHABLE
        return CheckOutcome(
            connection_id=connection.id,
            generation=connection.connected_at,
            to_state=state,
            reason=reason,
            failures=failures,
            at=self._clock(),
            token_ciphertext=finding.token_ciphertext,
        )

    async def _record(self, outcomes: Sequence[CheckOutcome]) -> RecordedChecks:
        """Record checks' outcomes (and any change of state) in one transaction."""
        recorded = await self._store.record_checks(outcomes)
        for event in recorded.events:
            _log_change(event)
        return recorded

    async def check_now(
        self, customer: Customer
    ) -> tuple[list[CalendarConnection], list[CheckOutcome]]:
        """Check every connection of a customer now, side by side: them as the checks
        found them (each given its outcome, not yet recorded), and the outcomes to record.

        These checks do not queue behind a periodic round: a person is waiting for them.
        """
        connections = await self._store.list_connections(customer.id)
        findings = await together(*(self.probe(c) for c in connections))
        outcomes = [self.outcome(c, f) for c, f in zip(connections, findings, strict=True)]
        # Only `updated_at`, which no answer shows, is left as it was read.
        for connection, outcome in zip(connections, outcomes, strict=True):
            outcome.apply_to(connection)
        return connections, outcomes

    async def live_status(
        self, customer: Customer, people: People
    ) -> tuple[list[CalendarConnection], list[str] | None, list[CheckOutcome]]:
        """What `status` shows: every connection checked now, and the customer's people
        in the channel with no calendar connected (no onboarders; None when Slack won't
        list them); and the checks' outcomes, for `record_after_answer` once the answer
        is out."""
        (connections, outcomes), staff_in = await together(
            self.check_now(customer), people.staff_in(customer)
        )
        checked = {(o.connection_id, o.generation): o for o in outcomes}
        if await self._store.generations(customer.id) != checked.keys():
            # One was disconnected, reconnected or added meanwhile: show them as they now
            # stand, each still of its check given what the check found.
            connections = await self._store.list_connections(customer.id)
            for connection in connections:
                outcome = checked.get((connection.id, connection.connected_at))
                if outcome is not None:
                    outcome.apply_to(connection)
        staff = connected_staff(connections)
        not_connected = None if staff_in is None else [p for p in staff_in if p not in staff]
        return connections, not_connected, outcomes

    async def record_after_answer(self, outcomes: Sequence[CheckOutcome]) -> None:
        """What `status` found, recorded once its answer is out (in one transaction), and
        any breakage among it announced in the channel. A database failure now is logged,
        not told: the asker has their answer, and the next round checks again."""
        try:
            await self._record(outcomes)
        except (SQLAlchemyError, OSError):
            logger.warning("status's checks not recorded: the database failed", exc_info=True)
            return
        try:
            await self.deliver_notices()
        except (SQLAlchemyError, OSError):
            logger.warning("notices not delivered now: the database failed", exc_info=True)

    async def check_due(self, *, interval: timedelta) -> int:
        """One periodic round: check every due connection, `concurrency` at a time.

        One claimer leases due connections as workers free up and hands them over through
        a short queue, so a slow account holds up only the worker checking it, and a lease
        (`hold`, under five minutes by default) outlasts the little time a connection
        waits in the queue and its check. Leasing is what lets several instances share a
        round without doubling checks; a connection another instance holds is left to it
        until its lease lapses (`next_look` says when). A worker hands its outcome to one
        recorder and takes the next connection: the recorder writes the outcomes that
        arrived within `RECORD_WAIT` of each other in one transaction, which releases
        their leases.

        The claimer, the workers and the recorder live in one task group, so the round
        always ends: when claiming fails half-way (the database gone), the connections
        already handed over are checked and recorded, the idle workers are let go and the
        error is raised; when a check or a write fails, or the round is cancelled, every
        other task is cancelled with it (what was not recorded stays leased until its
        lease lapses, and is checked then).
        """
        # Due means "not checked since this round began, less the interval": a connection
        # checked during this round is not due again within it.
        checked_before = self._clock() - interval
        queue: asyncio.Queue[CalendarConnection] = asyncio.Queue(maxsize=self.concurrency)
        found: asyncio.Queue[CheckOutcome] = asyncio.Queue()
        checked = 0

        async def claim() -> None:
            while True:
                now = self._clock()
                ids = await self._store.claim_due_connections(
                    now=now,
                    checked_before=checked_before,
                    lease_until=now + self.hold,
                    limit=self.concurrency,
                )
                if not ids:
                    return
                for connection in await self._store.connections_by_ids(ids):
                    await queue.put(connection)

        async def work() -> None:
            while True:
                connection = await queue.get()
                try:
                    found.put_nowait(self.outcome(connection, await self.probe(connection)))
                finally:
                    queue.task_done()

        async def record() -> None:
            nonlocal checked
            while True:
                outcomes = [await found.get()]
                await asyncio.sleep(RECORD_WAIT)
                while not found.empty():
                    outcomes.append(found.get_nowait())
                try:
                    await self._record(outcomes)
                    checked += len(outcomes)
                finally:
                    for _ in outcomes:
                        found.task_done()

        async def checked_and_recorded() -> None:
            await queue.join()
            await found.join()

        async with asyncio.TaskGroup() as group:
            helpers = [group.create_task(work()) for _ in range(self.concurrency)]
            helpers.append(group.create_task(record()))
            try:
                try:
                    await claim()
                except Exception:
                    await checked_and_recorded()  # what was leased, before the error goes up
                    raise
                await checked_and_recorded()
            finally:
                for helper in helpers:  # idle now, or the round is ending anyway
                    helper.cancel()
        return checked

    async def next_look(self, *, interval: timedelta) -> datetime | None:
        """When the next round should look again, sooner than the scheduler's tick: just
        after the first lease on a due connection lapses; None when none is leased.

        Asked once a round has ended, so its own leases are released: what is still leased
        is another instance's, checking it now or killed since. Looking again at the lapse,
        not a tick later, finishes a killed instance's share within `lease` of its death:
        its claims held for `hold`, then `TAKEOVER` at most. The moment may be past (a
        lease that lapsed as the round ended): the next round is then due at once.
        """
        lapse = await self._store.first_lease_lapse(checked_before=self._clock() - interval)
        return None if lapse is None else lapse + AFTER_LAPSE

    async def deliver_notices(self, *, batch: int = 50) -> int:
        """Send the notices nobody has sent yet; each is claimed before it is sent.

        A notice that cannot be posted now (the channel or the workspace refuses posts)
        is released, and tried again on a later round or after the next command there.
        """
        sent = 0
        while True:
            now = self._clock()
            ids = await self._store.claim_notices(
                now=now, stale_before=now - self.lease, limit=batch
            )
            held = 0
            for event_id in ids:
                context = await self._store.notice_context(event_id)
                ts = await self.deliver(*context) if context is not None else ""
                if ts is None:
                    await self._store.release_notice(event_id)
                    held += 1
                else:
                    await self._store.mark_notice_sent(event_id, at=self._clock(), ts=ts)
                    sent += 1
            if len(ids) < batch or held:
                return sent

    async def deliver(
        self, event: ConnectionEvent, connection: CalendarConnection, customer: Customer
    ) -> str | None:
        """Post one notice: the ts it is known by ("" when nothing needed posting), or None."""
        if event.notice is Notice.BROKEN:
            if not connection.state.is_broken:
                return ""  # fixed before the alert could go out
            return await self._poster.post(customer, build_alert(connection))
        breakage = await self._store.last_breakage(connection.id, before_event_id=event.id)
        if breakage is None or breakage.notice_ts is None:
            return ""  # no alert was posted, so there is nothing to clear
        if not await self._poster.update(
            customer, breakage.notice_ts, build_alert_resolved(connection)
        ):
            return None
        if event.reason == RECONNECTED:
            return breakage.notice_ts  # the channel was already told who reconnected
        return await self._poster.post(customer, build_all_clear(connection))


def _log_change(event: ConnectionEvent) -> None:
    logger.info(
        "connection %s: %s -> %s (%s)",
        event.connection_id,
        event.from_state,
        event.to_state,
        event.reason,
    )


# --- the instance's own health -----------------------------------------------------

DATABASE_OK = "ok"
DATABASE_UNREACHABLE = "unreachable"
DATABASE_READ_ONLY = "read-only"
DATABASE_TOO_SLOW = "too slow"

# The migrations' own one-row table: on every database, and touched by nothing else.
_READ = text("SELECT version_num FROM alembic_version")
# Matches no row, yet needs write access: SQLite takes its write lock, PostgreSQL refuses
# it in a read-only transaction. Rolled back either way.
_WRITE = text("UPDATE alembic_version SET version_num = version_num WHERE 1 = 0")


async def probe_database(engine: AsyncEngine, *, within: float) -> str:
    """DATABASE_OK when the database answers a read and a write within `within` seconds;
    otherwise what is wrong (the cause is logged)."""

    async def read_then_write() -> str:
        async with engine.connect() as connection:
            await connection.execute(_READ)
            try:
                await connection.execute(_WRITE)
            except SQLAlchemyError:
                logger.warning("health check: the database refuses writes", exc_info=True)
                return DATABASE_READ_ONLY
            finally:
                await connection.rollback()
        return DATABASE_OK

    try:
        return await asyncio.wait_for(read_then_write(), timeout=within)
    except TimeoutError:
        logger.warning("health check: the database did not answer within %.1f s", within)
        return DATABASE_TOO_SLOW
    except (SQLAlchemyError, OSError):
        logger.warning("health check: the database does not answer", exc_info=True)
        return DATABASE_UNREACHABLE


@dataclass(frozen=True, kw_only=True)
class InstanceHealth:
    """What `/healthz` says: the database's answer and every periodic job's last round."""

    database: str
    jobs: Sequence[JobStatus] = ()
    """The periodic jobs running here (none when this instance runs no periodic jobs)."""

    @property
    def problems(self) -> list[str]:
        found = []
        if self.database != DATABASE_OK:
            found.append(f"database: {self.database}")
        for job in self.jobs:
            if job.overdue:
                found.append(
                    f"periodic job {job.name}: no round completed in "
                    f"{2 * job.period.total_seconds():g} s"
                    + (f" ({job.last_error})" if job.last_error else "")
                )
        return found

    @property
    def ok(self) -> bool:
        return not self.problems

    def as_json(self) -> dict[str, object]:
        body: dict[str, object] = {
            "status": "ok" if self.ok else "unavailable",
            "database": self.database,
            "jobs": {job.name: job.as_json() for job in self.jobs},
        }
        if not self.ok:
            body["problems"] = self.problems
        return body
