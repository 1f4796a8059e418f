"""Calendar connections and their health: the `calendar_connections` and
`connection_events` tables.

Saving a connection, refreshed tokens, the leases of health checks
(`check_claimed_until`), each check's outcome and the events it records, and the claims
on those events' notices (the alerts a breakage or recovery posts). `places_of` reads
`customers` and `members` too, joined to a person's connections; `notice_context` reads
the event's connection and customer.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import ColumnElement, Select, and_, bindparam, delete, or_, select, tuple_, update
from sqlalchemy.exc import IntegrityError

from storage.models import (
    CalendarConnection,
    ConnectionEvent,
    ConnectionKind,
    ConnectionState,
    Customer,
    Member,
    Notice,
)
from storage.repositories.base import Repository, _connections_of

RECONNECTED = "reconnected"
"""The reason of the event a person's reconnect records."""


@dataclass(frozen=True, kw_only=True)
class NewConnection:
    customer_id: int
    kind: ConnectionKind
    owner_key: str
    slack_user_id: str
    account_email: str
    token_ciphertext: bytes
    scopes: str
    state: ConnectionState
    state_reason: str
    at: datetime


@dataclass(frozen=True)
class PersonsPlace:
    """A customer where a person has a calendar connected or is a member (`Store.places_of`)."""

    customer: Customer
    connections: list[CalendarConnection]
    """Theirs here: their own staff calendar, and the primary calendar if they connected it."""
    is_member: bool


@dataclass(frozen=True)
class RefreshedTokens:
    connection_id: int
    generation: datetime
    """The connection's `connected_at` when its tokens were read: a reconnect wins."""
    token_ciphertext: bytes


@dataclass(frozen=True)
class RecordedChecks:
    """What `record_checks` did."""

    events: list[ConnectionEvent]
    """The changes of state it recorded, in the outcomes' order."""
    moot: int
    """The outcomes it left alone: their connection was disconnected or reconnected
    meanwhile."""


@dataclass(frozen=True, kw_only=True)
class CheckOutcome:
    """What one live check found, ready to be stored."""

    connection_id: int
    generation: datetime
    """The connection's `connected_at` when the check began: a reconnect makes the check moot."""
    to_state: ConnectionState
    reason: str
    failures: int
    at: datetime
    token_ciphertext: bytes | None = None

    def columns(self) -> dict[str, object]:
        """The connection's columns that recording this outcome writes."""
        values: dict[str, object] = {
            "last_checked_at": self.at,
            "check_failures": self.failures,
            "state": self.to_state,
            "state_reason": self.reason,
        }
        if self.token_ciphertext is not None:
            values["token_ciphertext"] = self.token_ciphertext
        return values

    def apply_to(self, connection: CalendarConnection) -> None:
        """Give `connection` (as read before the check, and no longer in a session) what
        `record_checks` wrote for this outcome: its new state, its lease released."""
        for column, value in self.columns().items():
            setattr(connection, column, value)
        connection.check_claimed_until = None

    def notice_for(self, previous: ConnectionState) -> Notice:
        if self.to_state.is_broken and not previous.is_broken:
            return Notice.BROKEN
        if self.to_state is ConnectionState.CONNECTED and previous.is_broken:
            return Notice.RECOVERED
        return Notice.NONE


class ConnectionRepository(Repository):
    """`calendar_connections` and `connection_events`: connections, checks, notices."""

    async def find_connection(self, customer_id: int, owner_key: str) -> CalendarConnection | None:
        async with self._sessions() as session:
            return await session.scalar(
                select(CalendarConnection).where(
                    CalendarConnection.customer_id == customer_id,
                    CalendarConnection.owner_key == owner_key,
                )
            )

    async def list_connections(self, customer_id: int) -> list[CalendarConnection]:
        async with self._sessions() as session:
            return list(await session.scalars(_connections_of([customer_id])))

    async def generations(self, customer_id: int) -> set[tuple[int, datetime]]:
        """Each of the customer's connections as (id, `connected_at`): whether checks are
        still of the connections as they stand, without reading them whole."""
        table = CalendarConnection
        async with self._sessions() as session:
            rows = await session.execute(
                select(table.id, table.connected_at).where(table.customer_id == customer_id)
            )
            return {(connection_id, connected_at) for connection_id, connected_at in rows}

    async def places_of(self, team_id: str, slack_user_id: str) -> list[PersonsPlace]:
        """Every customer of the workspace where the person has a calendar of theirs
        connected (their staff calendar, or a primary calendar they connected) or is a
        member, oldest customer first: one query."""
        theirs = or_(
            CalendarConnection.owner_key == slack_user_id,
            and_(
                CalendarConnection.kind == ConnectionKind.PRIMARY,
                CalendarConnection.slack_user_id == slack_user_id,
            ),
        )
        query = (
            select(Customer, CalendarConnection, Member.id)
            .outerjoin(
                CalendarConnection, and_(CalendarConnection.customer_id == Customer.id, theirs)
            )
            .outerjoin(
                Member,
                and_(Member.customer_id == Customer.id, Member.slack_user_id == slack_user_id),
            )
            .where(
                Customer.team_id == team_id,
                or_(CalendarConnection.id.is_not(None), Member.id.is_not(None)),
            )
            .order_by(Customer.id, CalendarConnection.id)
        )
        places: dict[int, PersonsPlace] = {}
        async with self._sessions() as session:
            for customer, connection, member_id in await session.execute(query):
                place = places.setdefault(
                    customer.id, PersonsPlace(customer, [], is_member=member_id is not None)
                )
                if connection is not None:
                    place.connections.append(connection)
        return list(places.values())

    async def save_connection(self, new: NewConnection) -> CalendarConnection:
        """Insert the connection of a slot, or replace the one it has (a reconnect)."""
        for _ in range(2):
            async with self._sessions() as session:
                row = await session.scalar(
                    select(CalendarConnection).where(
                        CalendarConnection.customer_id == new.customer_id,
                        CalendarConnection.owner_key == new.owner_key,
                    )
                )
                if row is None:
                    row = CalendarConnection(
                        customer_id=new.customer_id, kind=new.kind, owner_key=new.owner_key
                    )
                    session.add(row)
                row.slack_user_id = new.slack_user_id
                row.account_email = new.account_email
                row.token_ciphertext = new.token_ciphertext
                row.scopes = new.scopes
                if row.id is not None and row.state.is_broken:
                    # A reconnect: the history says so, and the alert it raised gets cleared.
                    session.add(
                        ConnectionEvent(
                            connection_id=row.id,
                            at=new.at,
                            from_state=row.state,
                            to_state=new.state,
                            reason=RECONNECTED,
                            notice=Notice.RECOVERED if not new.state.is_broken else Notice.NONE,
                        )
                    )
                row.state = new.state
                row.state_reason = new.state_reason
                row.connected_at = new.at
                row.updated_at = new.at
                row.last_checked_at = new.at  # the connect flow itself just proved it works
                row.check_failures = 0
                row.check_claimed_until = None
                try:
                    await session.commit()
                    return row
                except IntegrityError:
                    await session.rollback()  # a concurrent insert won the slot: update it
        raise RuntimeError("could not save the connection after a concurrent insert")

    async def delete_connection(self, connection_id: int) -> bool:
        async with self._sessions.begin() as session:
            result = await session.execute(
                delete(CalendarConnection).where(CalendarConnection.id == connection_id)
            )
            return bool(result.rowcount == 1)  # type: ignore[attr-defined]

    async def connections_by_ids(self, ids: list[int]) -> list[CalendarConnection]:
        async with self._sessions() as session:
            rows = await session.scalars(
                select(CalendarConnection)
                .where(CalendarConnection.id.in_(ids))
                .order_by(CalendarConnection.id)
            )
            return list(rows)

    async def get_connection(self, connection_id: int) -> CalendarConnection | None:
        async with self._sessions() as session:
            return await session.get(CalendarConnection, connection_id)

    async def save_refreshed_tokens(self, refreshed: Sequence[RefreshedTokens]) -> None:
        """Keep tokens calendar calls refreshed, in one statement however many (executemany),
        except on connections replaced meanwhile (their `connected_at` is another)."""
        if not refreshed:
            return
        table = CalendarConnection
        rows = [
            {
                "refreshed_id": tokens.connection_id,
                "generation": tokens.generation,
                "ciphertext": tokens.token_ciphertext,
            }
            for tokens in refreshed
        ]
        async with self._sessions.begin() as session:
            await session.execute(
                update(table)
                .where(
                    table.id == bindparam("refreshed_id"),
                    table.connected_at == bindparam("generation"),
                )
                .values(token_ciphertext=bindparam("ciphertext"))
                # As Core's executemany: the ORM's bulk UPDATE would match by primary key only.
                .execution_options(dml_strategy="core_only"),
                rows,
            )

    # --- health ---------------------------------------------------------------------

    async def claim_due_connections(
        self, *, now: datetime, checked_before: datetime, lease_until: datetime, limit: int
    ) -> list[int]:
        """Lease up to `limit` connections not checked since `checked_before` and not leased."""
        due = (
            select(CalendarConnection.id)
            .where(
                _not_checked_since(checked_before),
                or_(
                    CalendarConnection.check_claimed_until.is_(None),
                    CalendarConnection.check_claimed_until < now,
                ),
            )
            .order_by(CalendarConnection.last_checked_at.asc().nulls_first(), CalendarConnection.id)
            .limit(limit)
        )
        return await self._claim(CalendarConnection, due, {"check_claimed_until": lease_until})

    async def first_lease_lapse(self, *, checked_before: datetime) -> datetime | None:
        """When the first lease held on a connection not checked since `checked_before`
        lapses (or lapsed: it may be past); None when none of them is leased."""
        async with self._sessions() as session:
            return await session.scalar(
                select(CalendarConnection.check_claimed_until)
                .where(
                    _not_checked_since(checked_before),
                    CalendarConnection.check_claimed_until.is_not(None),
                )
                .order_by(CalendarConnection.check_claimed_until)
                .limit(1)
            )

    async def record_checks(self, outcomes: Sequence[CheckOutcome]) -> RecordedChecks:
        """Store checks' outcomes in one transaction, in a few statements whatever their
        number (`status` of a customer's whole staff, a periodic round's recent checks);
        a state change also records its event (and notice). Returns the events of the
        changes this call recorded, in the outcomes' order, and how many outcomes were
        moot.

        The rows of the checks' generations are locked first, their leases released and
        their states read in the same statement (PostgreSQL locks them in id order, so
        two of these at once wait for each other instead of deadlocking; SQLite has one
        writer, this one from that statement on). With no state able to change before
        the commit, each outcome replaces the state read: of two checks racing on the
        same connection, the first records the change and the second finds it made. A
        connection disconnected or reconnected meanwhile is left alone, and so is one
        whose recorded check ended later than this one (`status` records after it has
        answered, so a round's later check may be recorded first).
        """
        if not outcomes:
            return RecordedChecks([], 0)
        table = CalendarConnection
        checked = {(o.connection_id, o.generation) for o in outcomes}
        theirs = (
            select(table.id)
            .where(tuple_(table.id, table.connected_at).in_(checked))
            .order_by(table.id)
            .with_for_update()
        )
        async with self._sessions.begin() as session:
            locked = await session.execute(
                update(table)
                .where(table.id.in_(theirs.scalar_subquery()))
                .values(check_claimed_until=None)
                .returning(table.id, table.state, table.last_checked_at)
                .execution_options(synchronize_session=False)
            )
            states: dict[int, ConnectionState] = {}
            checked_at: dict[int, datetime | None] = {}
            for row in locked:
                states[row.id], checked_at[row.id] = row.state, row.last_checked_at
            rows: list[dict[str, object]] = []
            events: list[ConnectionEvent] = []
            for outcome in outcomes:
                previous = states.get(outcome.connection_id)
                if previous is None:
                    continue  # disconnected or reconnected meanwhile: this check is moot
                stored_at = checked_at[outcome.connection_id]
                if stored_at is not None and stored_at >= outcome.at:
                    continue  # a later check is recorded already: this one is moot too
                rows.append({"id": outcome.connection_id, **outcome.columns()})
                if previous != outcome.to_state:
                    events.append(
                        ConnectionEvent(
                            connection_id=outcome.connection_id,
                            at=outcome.at,
                            from_state=previous,
                            to_state=outcome.to_state,
                            reason=outcome.reason,
                            notice=outcome.notice_for(previous),
                        )
                    )
                states[outcome.connection_id] = outcome.to_state
            if rows:  # by primary key, as executemany: one statement per set of columns
                await session.execute(update(table), rows)
            session.add_all(events)
        return RecordedChecks(events, len(outcomes) - len(rows))

    async def connection_events(self, connection_id: int) -> list[ConnectionEvent]:
        async with self._sessions() as session:
            rows = await session.scalars(
                select(ConnectionEvent)
                .where(ConnectionEvent.connection_id == connection_id)
                .order_by(ConnectionEvent.id)
            )
            return list(rows)

    async def claim_notices(
        self, *, now: datetime, stale_before: datetime, limit: int
    ) -> list[int]:
        """Claim unsent notices (and ones claimed long ago by an instance that died)."""
        pending = (
            select(ConnectionEvent.id)
            .where(
                ConnectionEvent.notice != Notice.NONE,
                ConnectionEvent.notice_sent_at.is_(None),
                or_(
                    ConnectionEvent.notice_claimed_at.is_(None),
                    ConnectionEvent.notice_claimed_at < stale_before,
                ),
            )
            .order_by(ConnectionEvent.id)
            .limit(limit)
        )
        return await self._claim(ConnectionEvent, pending, {"notice_claimed_at": now})

    async def _claim(
        self,
        model: type[CalendarConnection] | type[ConnectionEvent],
        candidates: Select[int],
        values: dict[str, object],
    ) -> list[int]:
        """Set `values` on the candidate rows nobody else is claiming; the ids claimed.

        On PostgreSQL the candidates are locked with SKIP LOCKED, so instances claiming at
        the same moment split the rows instead of waiting or doubling up; SQLite runs one
        writer at a time anyway.
        """
        async with self._sessions.begin() as session:
            result = await session.execute(
                update(model)
                .where(model.id.in_(candidates.with_for_update(skip_locked=True).scalar_subquery()))
                .values(**values)
                .returning(model.id)
                .execution_options(synchronize_session=False)
            )
            return sorted(result.scalars())

    async def notice_context(
        self, event_id: int
    ) -> tuple[ConnectionEvent, CalendarConnection, Customer] | None:
        async with self._sessions() as session:
            event = await session.get(ConnectionEvent, event_id)
            if event is None:
                return None
            connection = await session.get(CalendarConnection, event.connection_id)
            if connection is None:
                return None
            customer = await session.get(Customer, connection.customer_id)
            return (event, connection, customer) if customer else None

    async def release_notice(self, event_id: int) -> None:
        async with self._sessions.begin() as session:
            await session.execute(
                update(ConnectionEvent)
                .where(ConnectionEvent.id == event_id)
                .values(notice_claimed_at=None)
            )

    async def mark_notice_sent(self, event_id: int, *, at: datetime, ts: str) -> None:
        async with self._sessions.begin() as session:
            await session.execute(
                update(ConnectionEvent)
                .where(ConnectionEvent.id == event_id)
                .values(notice_sent_at=at, notice_ts=ts)
            )

    async def last_breakage(
        self, connection_id: int, *, before_event_id: int
    ) -> ConnectionEvent | None:
        """The newest breakage event of the connection before the given event."""
        async with self._sessions() as session:
            return await session.scalar(
                select(ConnectionEvent)
                .where(
                    ConnectionEvent.connection_id == connection_id,
                    ConnectionEvent.notice == Notice.BROKEN,
                    ConnectionEvent.id < before_event_id,
                )
                .order_by(ConnectionEvent.id.desc())
                .limit(1)
            )


def _not_checked_since(checked_before: datetime) -> ColumnElement[bool]:
    """A connection due for its periodic check: never checked, or not since `checked_before`."""
    return or_(
        CalendarConnection.last_checked_at.is_(None),
        CalendarConnection.last_checked_at <= checked_before,
    )
