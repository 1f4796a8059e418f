"""Repositories: every query the bot makes, one short transaction each.

Races between instances are settled by the database: inserts that may collide rely
on the unique constraints and re-read on `IntegrityError`; the single-use OAuth state
is claimed with one conditional UPDATE, and a day's digest with one upsert, so exactly
one caller wins each.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Collection, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import date, datetime, timedelta

from sqlalchemy import Select, and_, delete, func, or_, select, text, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from storage.models import (
    Booking,
    BookingStatus,
    CalendarConnection,
    ConnectionEvent,
    ConnectionKind,
    ConnectionState,
    Customer,
    Digest,
    Member,
    Notice,
    OAuthState,
    SlackTeam,
)

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
class Roster:
    """A customer's people as stored, read together (`Store.rosters`)."""

    members: list[Member]
    connections: list[CalendarConnection]
    """Primary first, then staff, each kind in the order they connected."""
    bookings: list[Booking]
    """The live bookings over the span asked for, earliest first (none when none was)."""


@dataclass(frozen=True)
class RefreshedTokens:
    connection_id: int
    generation: datetime
    """The connection's `connected_at` when its tokens were read: a reconnect wins."""
    token_ciphertext: bytes


@dataclass(frozen=True, kw_only=True)
class CheckOutcome:
    """What one live check found, ready to be stored."""

    connection_id: int
    generation: datetime
    """The connection's `connected_at` when the check began: a reconnect makes the check moot."""
    from_state: ConnectionState
    to_state: ConnectionState
    reason: str
    failures: int
    at: datetime
    token_ciphertext: bytes | None = None

    def notice_for(self, previous: ConnectionState) -> Notice:
        if self.to_state.is_broken and not previous.is_broken:
            return Notice.BROKEN
        if self.to_state is ConnectionState.CONNECTED and previous.is_broken:
            return Notice.RECOVERED
        return Notice.NONE


class Store:
    """The bot's storage, over an async session factory."""

    def __init__(self, sessions: async_sessionmaker[AsyncSession]) -> None:
        self._sessions = sessions

    async def ping(self) -> None:
        async with self._sessions() as session:
            await session.execute(text("SELECT 1"))

    # --- customers and members -----------------------------------------------------

    async def find_customer(self, team_id: str, channel_id: str) -> Customer | None:
        async with self._sessions() as session:
            return await session.scalar(
                select(Customer).where(
                    Customer.team_id == team_id, Customer.channel_id == channel_id
                )
            )

    async def get_customer(self, customer_id: int) -> Customer | None:
        async with self._sessions() as session:
            return await session.get(Customer, customer_id)

    async def add_customer(
        self, *, team_id: str, channel_id: str, timezone: str, registered_by: str
    ) -> Customer:
        """Register a channel; if another request registered it first, theirs is returned."""
        try:
            async with self._sessions.begin() as session:
                customer = Customer(
                    team_id=team_id,
                    channel_id=channel_id,
                    timezone=timezone,
                    registered_by=registered_by,
                )
                session.add(customer)
            return customer
        except IntegrityError:
            existing = await self.find_customer(team_id, channel_id)
            if existing is None:
                raise
            return existing

    async def remember_member(
        self, customer_id: int, slack_user_id: str, display_name: str
    ) -> None:
        async with self._sessions() as session:
            member = await session.scalar(
                select(Member).where(
                    Member.customer_id == customer_id, Member.slack_user_id == slack_user_id
                )
            )
            if member is not None:
                if display_name and member.display_name != display_name:
                    member.display_name = display_name
                    await session.commit()
                return
            session.add(
                Member(
                    customer_id=customer_id, slack_user_id=slack_user_id, display_name=display_name
                )
            )
            try:
                await session.commit()
            except IntegrityError:
                await session.rollback()  # a concurrent request remembered them first

    async def list_members(self, customer_id: int) -> list[Member]:
        async with self._sessions() as session:
            return list(await session.scalars(_members_of([customer_id])))

    async def roster(self, customer_id: int) -> Roster:
        """The customer's members and calendar connections, in one session."""
        return (await self.rosters({customer_id: None}))[customer_id]

    async def rosters(
        self, bookings_between: Mapping[int, tuple[datetime, datetime] | None]
    ) -> dict[int, Roster]:
        """Each customer's (the keys) members, calendar connections and bookings over their
        span, in one session of three queries: what availability answers and digests read."""
        ids = list(bookings_between)
        spans = [span for span in bookings_between.values() if span]
        async with self._sessions() as session:
            members = await session.scalars(_members_of(ids))
            connections = await session.scalars(_connections_of(ids))
            rosters = {customer_id: Roster([], [], []) for customer_id in ids}
            for member in members:
                rosters[member.customer_id].members.append(member)
            for connection in connections:
                rosters[connection.customer_id].connections.append(connection)
            if spans:
                # One query over all the spans; each customer keeps those over their own.
                start, end = min(s for s, _ in spans), max(e for _, e in spans)
                for booking in await session.scalars(_overlapping(ids, start, end)):
                    span = bookings_between[booking.customer_id]
                    if span and booking.starts_at < span[1] and booking.ends_at > span[0]:
                        rosters[booking.customer_id].bookings.append(booking)
        return rosters

    async def set_timezone(self, customer_id: int, timezone: str) -> None:
        async with self._sessions.begin() as session:
            await session.execute(
                update(Customer).where(Customer.id == customer_id).values(timezone=timezone)
            )

    async def set_checklist_ts(self, customer_id: int, ts: str) -> None:
        """The onboarding checklist now lives in message `ts` (the latest one posted)."""
        async with self._sessions.begin() as session:
            await session.execute(
                update(Customer).where(Customer.id == customer_id).values(checklist_ts=ts)
            )

    async def mark_availability_asked(self, customer_id: int, at: datetime) -> bool:
        """Record the first availability question; True only for the one that was first."""
        async with self._sessions.begin() as session:
            result = await session.execute(
                update(Customer)
                .where(Customer.id == customer_id, Customer.availability_asked_at.is_(None))
                .values(availability_asked_at=at)
            )
            return bool(result.rowcount == 1)  # type: ignore[attr-defined]

    async def set_working_hours(
        self, customer_id: int, hours: tuple[str, str, str], slack_user_id: str | None = None
    ) -> None:
        """The customer's hours (`start`, `end`, `days`), or one member's own when a user is given."""
        start, end, days = hours
        async with self._sessions.begin() as session:
            if slack_user_id is None:
                await session.execute(
                    update(Customer)
                    .where(Customer.id == customer_id)
                    .values(work_start=start, work_end=end, work_days=days)
                )
                return
            member = await session.scalar(
                select(Member).where(
                    Member.customer_id == customer_id, Member.slack_user_id == slack_user_id
                )
            )
            if member is None:
                member = Member(customer_id=customer_id, slack_user_id=slack_user_id)
                session.add(member)
            member.work_start, member.work_end, member.work_days = start, end, days

    # --- OAuth states -------------------------------------------------------------

    async def add_oauth_state(self, state: OAuthState) -> None:
        async with self._sessions.begin() as session:
            session.add(state)

    async def find_oauth_state(self, digest: str) -> OAuthState | None:
        async with self._sessions() as session:
            return await session.get(OAuthState, digest)

    async def claim_oauth_state(self, digest: str, now: datetime) -> bool:
        """Mark an unused, unexpired state used; True for the one caller that did."""
        async with self._sessions.begin() as session:
            result = await session.execute(
                update(OAuthState)
                .where(
                    OAuthState.digest == digest,
                    OAuthState.used_at.is_(None),
                    OAuthState.expires_at > now,
                )
                .values(used_at=now)
            )
            return bool(result.rowcount == 1)  # type: ignore[attr-defined]

    async def forget_expired_oauth_states(self, before: datetime) -> int:
        async with self._sessions.begin() as session:
            result = await session.execute(delete(OAuthState).where(OAuthState.expires_at < before))
            return int(result.rowcount)  # type: ignore[attr-defined]

    # --- connections --------------------------------------------------------------

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

    async def save_refreshed_tokens(self, refreshed: list[RefreshedTokens]) -> None:
        """Keep tokens calendar calls refreshed (one transaction), except on connections
        replaced meanwhile."""
        if not refreshed:
            return
        async with self._sessions.begin() as session:
            for tokens in refreshed:
                await session.execute(
                    update(CalendarConnection)
                    .where(
                        CalendarConnection.id == tokens.connection_id,
                        CalendarConnection.connected_at == tokens.generation,
                    )
                    .values(token_ciphertext=tokens.token_ciphertext)
                )

    # --- health ---------------------------------------------------------------------

    async def claim_due_connections(
        self, *, now: datetime, checked_before: datetime, lease_until: datetime, limit: int
    ) -> list[int]:
        """Lease up to `limit` connections not checked since `checked_before` and not leased."""
        due = (
            select(CalendarConnection.id)
            .where(
                or_(
                    CalendarConnection.last_checked_at.is_(None),
                    CalendarConnection.last_checked_at <= checked_before,
                ),
                or_(
                    CalendarConnection.check_claimed_until.is_(None),
                    CalendarConnection.check_claimed_until < now,
                ),
            )
            .order_by(CalendarConnection.last_checked_at.asc().nulls_first(), CalendarConnection.id)
            .limit(limit)
        )
        return await self._claim(CalendarConnection, due, {"check_claimed_until": lease_until})

    async def record_check(self, outcome: CheckOutcome) -> ConnectionEvent | None:
        """Store a check's outcome; a state change also records its event (and notice).

        The change is a compare-and-set on (generation, state): of two checks racing on
        the same connection, one records the change and the other only its timestamp.
        Returns the event when this call recorded a change.
        """
        expected = outcome.from_state
        for _ in range(3):
            async with self._sessions.begin() as session:
                values: dict[str, object] = {
                    "last_checked_at": outcome.at,
                    "check_failures": outcome.failures,
                    "check_claimed_until": None,
                    "state": outcome.to_state,
                    "state_reason": outcome.reason,
                }
                if outcome.token_ciphertext is not None:
                    values["token_ciphertext"] = outcome.token_ciphertext
                changed = await session.execute(
                    update(CalendarConnection)
                    .where(
                        CalendarConnection.id == outcome.connection_id,
                        CalendarConnection.connected_at == outcome.generation,
                        CalendarConnection.state == expected,
                    )
                    .values(**values)
                    .execution_options(synchronize_session=False)
                )
                if changed.rowcount == 1:  # type: ignore[attr-defined]
                    if expected == outcome.to_state:
                        return None
                    event = ConnectionEvent(
                        connection_id=outcome.connection_id,
                        at=outcome.at,
                        from_state=expected,
                        to_state=outcome.to_state,
                        reason=outcome.reason,
                        notice=outcome.notice_for(expected),
                    )
                    session.add(event)
                    return event
                current = await session.scalar(
                    select(CalendarConnection.state).where(
                        CalendarConnection.id == outcome.connection_id,
                        CalendarConnection.connected_at == outcome.generation,
                    )
                )
                if current is None:
                    return None  # disconnected or reconnected meanwhile: this check is moot
                expected = current
        return None

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

    # --- where the bot may post ---------------------------------------------------------

    async def posting_problem(self, customer_id: int) -> str:
        """Why the bot must not post in this customer's channel now ("" when it may)."""
        async with self._sessions() as session:
            found = await session.execute(
                select(
                    Customer.channel_problem,
                    SlackTeam.posting_stopped_at,
                    SlackTeam.posting_stopped_reason,
                )
                .outerjoin(SlackTeam, SlackTeam.team_id == Customer.team_id)
                .where(Customer.id == customer_id)
            )
            row = found.first()
        if row is None:
            return "channel_not_found"
        channel_problem, team_stopped_at, team_reason = row
        if team_stopped_at is not None:
            return team_reason or "app_uninstalled"
        return str(channel_problem)

    async def set_channel_problem(self, customer_id: int, problem: str, at: datetime) -> None:
        async with self._sessions.begin() as session:
            await session.execute(
                update(Customer)
                .where(Customer.id == customer_id)
                .values(channel_problem=problem, channel_problem_at=at if problem else None)
            )

    async def stop_team_posting(self, team_id: str, reason: str, at: datetime) -> None:
        async with self._sessions() as session:
            team = await session.get(SlackTeam, team_id)
            if team is None:
                session.add(
                    SlackTeam(team_id=team_id, posting_stopped_at=at, posting_stopped_reason=reason)
                )
            else:
                team.posting_stopped_at, team.posting_stopped_reason = at, reason
            try:
                await session.commit()
            except IntegrityError:
                await session.rollback()  # another instance recorded it first

    async def resume_team_posting(self, team_id: str) -> None:
        """Clear a workspace's pause; a read alone when it has none (the common case)."""
        async with self._sessions() as session:
            team = await session.get(SlackTeam, team_id)
            if team is not None and team.posting_stopped_at is not None:
                team.posting_stopped_at, team.posting_stopped_reason = None, ""
                await session.commit()

    # --- bookings -------------------------------------------------------------------

    async def find_booking(self, customer_id: int, short_id: str) -> Booking | None:
        async with self._sessions() as session:
            return await session.scalar(
                select(Booking).where(
                    Booking.customer_id == customer_id, Booking.short_id == short_id
                )
            )

    async def find_booking_for_request(self, request_key: str) -> Booking | None:
        async with self._sessions() as session:
            return await session.scalar(select(Booking).where(Booking.request_key == request_key))

    async def bookings_between(
        self, customer_id: int, start: datetime, end: datetime
    ) -> list[Booking]:
        """The customer's live bookings that overlap `[start, end)`, earliest first."""
        async with self._sessions() as session:
            return list(await session.scalars(_overlapping([customer_id], start, end)))

    async def mark_cancelled(self, booking_id: int, *, at: datetime, by: str) -> bool:
        """Cancel a live booking; False when it was cancelled already."""
        async with self._sessions.begin() as session:
            result = await session.execute(
                update(Booking)
                .where(Booking.id == booking_id, Booking.status == BookingStatus.BOOKED)
                .values(status=BookingStatus.CANCELLED, cancelled_at=at, cancelled_by=by)
            )
            return bool(result.rowcount == 1)  # type: ignore[attr-defined]

    @asynccontextmanager
    async def booking_lock(self, staff_connection_id: int) -> AsyncIterator[BookingTransaction]:
        """A transaction holding the lock on one staff member's bookings; commits on exit.

        The lock is a write to the staff member's connection row: on PostgreSQL it takes
        that row's lock, which a concurrent booking of the same person waits for; SQLite
        lets one writer at a time, so there it serialises every booking. Whatever the
        holder reads after taking it includes every booking committed before.
        """
        async with self._sessions.begin() as session:
            await session.execute(
                text("UPDATE calendar_connections SET owner_key = owner_key WHERE id = :id"),
                {"id": staff_connection_id},
            )
            yield BookingTransaction(session)


class DigestStore:
    """The daily digests' queries: settings, who may get one, and the claim on each day's."""

    def __init__(self, sessions: async_sessionmaker[AsyncSession]) -> None:
        self._sessions = sessions

    async def set_schedule(self, customer_id: int, *, enabled: bool, at: str | None = None) -> None:
        values: dict[str, object] = {"digest_enabled": enabled}
        if at is not None:
            values["digest_time"] = at
        async with self._sessions.begin() as session:
            await session.execute(update(Customer).where(Customer.id == customer_id).values(values))

    async def candidates(self) -> list[Customer]:
        """Customers with the digest on whose channel and workspace may be posted in."""
        async with self._sessions() as session:
            rows = await session.scalars(
                select(Customer)
                .outerjoin(SlackTeam, SlackTeam.team_id == Customer.team_id)
                .where(
                    Customer.digest_enabled.is_(True),
                    Customer.channel_problem == "",
                    SlackTeam.posting_stopped_at.is_(None),
                )
                .order_by(Customer.id)
            )
            return list(rows)

    async def taken(self, days: set[date], now: datetime) -> set[tuple[int, date]]:
        """(customer, day) pairs whose digest is sent, or claimed by a live sender."""
        if not days:
            return set()
        async with self._sessions() as session:
            rows = await session.execute(
                select(Digest.customer_id, Digest.local_date).where(
                    Digest.local_date.in_(days),
                    or_(Digest.sent_at.is_not(None), Digest.claimed_until > now),
                )
            )
            return {(customer_id, day) for customer_id, day in rows}

    async def claim(self, customer_id: int, day: date, *, now: datetime, until: datetime) -> bool:
        """Take the day's digest to send it: True for exactly one caller, unless it is sent
        already or claimed by a sender whose claim has not lapsed.

        One statement: the day's row is inserted, or, when it exists, taken over only if
        unsent and its claim has lapsed (`INSERT … ON CONFLICT DO UPDATE … WHERE`, which
        SQLite and PostgreSQL both settle atomically against a concurrent claim).
        """
        async with self._sessions.begin() as session:
            claim = _upsert(session)(Digest).values(
                customer_id=customer_id, local_date=day, claimed_until=until
            )
            claimed = await session.scalar(
                claim.on_conflict_do_update(
                    index_elements=[Digest.customer_id, Digest.local_date],
                    set_={"claimed_until": until},
                    where=and_(
                        Digest.sent_at.is_(None),
                        or_(Digest.claimed_until.is_(None), Digest.claimed_until <= now),
                    ),
                ).returning(Digest.id)
            )
        return claimed is not None

    async def mark_sent(self, customer_id: int, day: date, *, at: datetime, ts: str) -> None:
        async with self._sessions.begin() as session:
            await session.execute(
                update(Digest)
                .where(Digest.customer_id == customer_id, Digest.local_date == day)
                .values(sent_at=at, message_ts=ts, claimed_until=None)
            )

    async def release(self, customer_id: int, day: date) -> None:
        """Give a claim back unsent, so the next round tries again."""
        async with self._sessions.begin() as session:
            await session.execute(
                update(Digest)
                .where(
                    Digest.customer_id == customer_id,
                    Digest.local_date == day,
                    Digest.sent_at.is_(None),
                )
                .values(claimed_until=None)
            )

    async def sent_on(self, customer_id: int, day: date) -> Digest | None:
        async with self._sessions() as session:
            return await session.scalar(
                select(Digest).where(
                    Digest.customer_id == customer_id,
                    Digest.local_date == day,
                    Digest.sent_at.is_not(None),
                )
            )

    async def recent_booking_lengths(
        self, customer_ids: Collection[int], limit: int = 20
    ) -> dict[int, list[timedelta]]:
        """How long each customer's latest `limit` bookings were, newest first; one query."""
        latest = (
            select(
                Booking.customer_id,
                Booking.starts_at,
                Booking.ends_at,
                func.row_number()
                .over(
                    partition_by=Booking.customer_id,
                    order_by=(Booking.created_at.desc(), Booking.id.desc()),
                )
                .label("newness"),
            )
            .where(Booking.customer_id.in_(customer_ids))
            .subquery()
        )
        lengths: dict[int, list[timedelta]] = {customer_id: [] for customer_id in customer_ids}
        async with self._sessions() as session:
            rows = await session.execute(
                select(latest.c.customer_id, latest.c.starts_at, latest.c.ends_at)
                .where(latest.c.newness <= limit)
                .order_by(latest.c.customer_id, latest.c.newness)
            )
            for customer_id, start, end in rows:
                lengths[customer_id].append(end - start)
        return lengths


def _upsert(session: AsyncSession) -> Callable[[type[Digest]], postgresql.Insert | sqlite.Insert]:
    """The dialect's INSERT, which knows ON CONFLICT (Core's own does not)."""
    if session.get_bind().dialect.name == "postgresql":
        return postgresql.insert
    return sqlite.insert


def _members_of(customer_ids: Collection[int]) -> Select[Member]:
    return select(Member).where(Member.customer_id.in_(customer_ids)).order_by(Member.id)


def _connections_of(customer_ids: Collection[int]) -> Select[CalendarConnection]:
    """Primary first, then staff, each kind in the order they connected."""
    return (
        select(CalendarConnection)
        .where(CalendarConnection.customer_id.in_(customer_ids))
        .order_by(CalendarConnection.kind, CalendarConnection.connected_at)
    )


def _overlapping(customer_ids: Collection[int], start: datetime, end: datetime) -> Select[Booking]:
    """Live bookings of the customers that overlap `[start, end)`, earliest first."""
    return (
        select(Booking)
        .where(
            Booking.customer_id.in_(customer_ids),
            Booking.status == BookingStatus.BOOKED,
            Booking.starts_at < end,
            Booking.ends_at > start,
        )
        .order_by(Booking.starts_at)
    )


class BookingTransaction:
    """What a booking does while it holds the lock (`Store.booking_lock`)."""

    def __init__(self, session: AsyncSession) -> None:
        self._session = session

    async def find_for_request(self, request_key: str) -> Booking | None:
        return await self._session.scalar(select(Booking).where(Booking.request_key == request_key))

    async def overlapping(
        self, customer_id: int, staff_user_id: str, start: datetime, end: datetime
    ) -> list[Booking]:
        query = _overlapping([customer_id], start, end).where(
            Booking.staff_user_id == staff_user_id
        )
        return list(await self._session.scalars(query))

    def add(self, booking: Booking) -> None:
        self._session.add(booking)
