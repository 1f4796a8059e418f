"""Customers and their people: the `customers`, `members` and `slack_teams` tables.

Registering a channel and remembering a member rely on the unique constraints and re-read
(or give way) on `IntegrityError`. Where the bot may post lives here too: a channel's
problem is a `customers` column, a workspace's posting pause a `slack_teams` row.

`roster` and `rosters` read across aggregates (members, calendar connections, bookings
and time off) and sit here because what they read is a customer's people, in one session.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime, timedelta
from typing import Any, cast

from sqlalchemy import Select, Table, Update, bindparam, or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from storage.models import (
    Booking,
    CalendarConnection,
    ConnectionKind,
    Customer,
    Member,
    SlackTeam,
    TimeOff,
)
from storage.repositories.base import (
    Repository,
    _connections_of,
    _overlapping,
    _time_off_overlapping,
)
from storage.repositories.people import role_members_of


def connected_staff(connections: Iterable[CalendarConnection]) -> set[str]:
    """The Slack users among `connections` with a staff calendar connected."""
    return {c.owner_key for c in connections if c.kind is ConnectionKind.STAFF}


_ZONE_REACH = timedelta(days=1)
"""How far a local day may lie from the UTC day of the same instant (zones are at most 14
hours off UTC): a span's time off is read this much wider, for callers to cut exactly."""


@dataclass(frozen=True)
class Roster:
    """A customer's people as stored, read together (`Store.rosters`)."""

    members: list[Member]
    connections: list[CalendarConnection]
    """Primary first, then staff, each kind in the order they connected."""
    bookings: list[Booking]
    """The live bookings over the span asked for, earliest first (none when none was)."""
    time_off: list[TimeOff] = field(default_factory=list)
    """The live time off whose local days may touch that span, earliest first (none when no
    span was asked for): read a day wider on each side, since the days are the customer's
    own; callers turn them into instants in its timezone and cut precisely."""

    @property
    def connected_staff(self) -> set[str]:
        """The Slack users with a staff calendar connected."""
        return connected_staff(self.connections)

    def within(self, span: tuple[datetime, datetime] | None) -> Roster:
        """This roster with only the bookings and time off over `span`, part of the span
        read (none without one)."""
        if span is None:
            return replace(self, bookings=[], time_off=[])
        start, end = span
        return replace(
            self,
            bookings=[b for b in self.bookings if b.starts_at < end and b.ends_at > start],
            time_off=[t for t in self.time_off if _touches(t, span)],
        )


@dataclass(frozen=True)
class ChannelFacts:
    """What Slack said of a customer's channel: its members (people, bots…) and whether it
    is shared with another organisation, and when it was asked. Kept on the customer's row
    for later commands and digests (`CustomerRepository.keep_channel_facts`,
    `DigestStore.mark_sent_many`) until an event says they changed
    (`CustomerRepository.channel_changed`)."""

    members: tuple[str, ...]
    ext_shared: bool | None
    """None when Slack would not say (such facts are not kept)."""
    read_at: datetime


def keep_facts_statement() -> Update:
    """Keep a customer's channel facts (bound: `customer`, `members`, `ext_shared`,
    `read_at`; rows from `channel_facts_row`), unless an event said since that the channel
    changed."""
    customers = cast(Table, Customer.__table__)
    return (
        update(customers)
        .where(
            customers.c.id == bindparam("customer"),
            or_(
                customers.c.channel_changed_at.is_(None),
                customers.c.channel_changed_at < bindparam("read_at"),
            ),
        )
        .values(
            channel_members=bindparam("members"),
            channel_ext_shared=bindparam("ext_shared"),
            channel_read_at=bindparam("read_at"),
        )
    )


def channel_facts_row(customer_id: int, facts: ChannelFacts) -> dict[str, Any]:
    """`keep_facts_statement`'s parameters for one customer."""
    return {
        "customer": customer_id,
        "members": " ".join(facts.members),
        "ext_shared": facts.ext_shared,
        "read_at": facts.read_at,
    }


@dataclass(frozen=True)
class Arrival:
    """A person's request in a registered channel, as `CustomerRepository.arrive` found it."""

    customer: Customer
    members: list[Member]
    """The member rows the person's role is decided from (`role_members_of`), theirs
    included."""


class CustomerRepository(Repository):
    """`customers`, `members` and `slack_teams` (workspace posting pauses)."""

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

    async def arrive(
        self, team_id: str, channel_id: str, slack_user_id: str, display_name: str
    ) -> Arrival | None:
        """A person's request in a channel, in one transaction: its customer (None when the
        channel isn't registered), the person remembered as its member under the name they
        go by now, their workspace's posting pause lifted, and the rows their role is
        decided from. Nothing is written when all of it is as stored (the common case)."""
        try:
            return await self._arrive(team_id, channel_id, slack_user_id, display_name)
        except IntegrityError:  # a concurrent request remembered them first: theirs stands
            return await self._arrive(team_id, channel_id, slack_user_id, display_name)

    async def _arrive(
        self, team_id: str, channel_id: str, slack_user_id: str, display_name: str
    ) -> Arrival | None:
        async with self._sessions.begin() as session:
            customer = await session.scalar(
                select(Customer).where(
                    Customer.team_id == team_id, Customer.channel_id == channel_id
                )
            )
            if customer is None:
                return None
            members = list(await session.scalars(role_members_of(customer.id, slack_user_id)))
            theirs = next((m for m in members if m.slack_user_id == slack_user_id), None)
            if theirs is None:
                theirs = Member(
                    customer_id=customer.id,
                    slack_user_id=slack_user_id,
                    display_name=display_name,
                    role="staff",
                    role_source="slack",
                )
                session.add(theirs)
                members.append(theirs)
            elif display_name and theirs.display_name != display_name:
                theirs.display_name = display_name
            await _resume_team(session, team_id)
        return Arrival(customer, members)

    async def list_members(self, customer_id: int) -> list[Member]:
        async with self._sessions() as session:
            return list(await session.scalars(_members_of([customer_id])))

    async def roster(self, customer_id: int) -> Roster:
        """The customer's members and calendar connections, in one session."""
        return (await self.rosters({customer_id: None}))[customer_id]

    async def rosters(
        self, bookings_between: Mapping[int, tuple[datetime, datetime] | None]
    ) -> dict[int, Roster]:
        """Each customer's (the keys) members, calendar connections, and bookings and time
        off over their span, in one session of four queries: what availability answers and
        digests read."""
        ids = list(bookings_between)
        spans = [span for span in bookings_between.values() if span]
        async with self._sessions() as session:
            members = await session.scalars(_members_of(ids))
            connections = await session.scalars(_connections_of(ids))
            rosters = {customer_id: Roster([], [], [], []) for customer_id in ids}
            for member in members:
                rosters[member.customer_id].members.append(member)
            for connection in connections:
                rosters[connection.customer_id].connections.append(connection)
            if spans:
                # One query over all the spans; each customer keeps those over their own.
                start, end = min(s for s, _ in spans), max(e for _, e in spans)
                for booking in await session.scalars(_overlapping(ids, start, end)):
                    rosters[booking.customer_id].bookings.append(booking)
                first_day, last_day = _days_around(start, end)
                for time_off in await session.scalars(
                    _time_off_overlapping(ids, first_day, last_day)
                ):
                    rosters[time_off.customer_id].time_off.append(time_off)
        return {i: roster.within(bookings_between[i]) for i, roster in rosters.items()}

    async def set_timezone(self, customer_id: int, timezone: str) -> None:
        async with self._sessions.begin() as session:
            await session.execute(
                update(Customer).where(Customer.id == customer_id).values(timezone=timezone)
            )

    async def set_clock(self, customer_id: int, clock: str) -> None:
        """How the customer's messages write times from now on: "12h" or "24h"."""
        async with self._sessions.begin() as session:
            await session.execute(
                update(Customer).where(Customer.id == customer_id).values(clock=clock)
            )

    async def set_scheduling(
        self,
        customer_id: int,
        *,
        buffer_minutes: int | None = None,
        notice_minutes: int | None = None,
        step_minutes: int | None = None,
    ) -> None:
        """`settings buffer|notice|step`: sets the ones given, leaves the others as they are."""
        given = {
            "buffer_minutes": buffer_minutes,
            "notice_minutes": notice_minutes,
            "step_minutes": step_minutes,
        }
        values = {name: minutes for name, minutes in given.items() if minutes is not None}
        if not values:
            return
        async with self._sessions.begin() as session:
            await session.execute(update(Customer).where(Customer.id == customer_id).values(values))

    async def channel_changed(self, team_id: str, channel_id: str, at: datetime) -> None:
        """An event said the channel's people or sharing changed at `at`: its kept facts
        are dropped, and facts read before then are not kept afterwards."""
        async with self._sessions.begin() as session:
            await session.execute(
                update(Customer)
                .where(Customer.team_id == team_id, Customer.channel_id == channel_id)
                .values(
                    channel_members=None,
                    channel_ext_shared=None,
                    channel_read_at=None,
                    channel_changed_at=at,
                )
            )

    async def keep_channel_facts(self, customer_id: int, facts: ChannelFacts) -> None:
        """Keep the channel facts a command read from Slack, for every instance's later
        commands and digests (`keep_facts_statement`; facts without the sharing are not
        kept)."""
        if facts.ext_shared is None:
            return
        async with self._sessions.begin() as session:
            await session.execute(keep_facts_statement(), [channel_facts_row(customer_id, facts)])

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

    # --- where the bot may post ---------------------------------------------------------

    async def posting_problem(self, customer_id: int) -> str:
        """Why the bot must not post in this customer's channel now ("" when it may)."""
        return (await self.posting_problems([customer_id]))[customer_id]

    async def posting_problems(self, customer_ids: Collection[int]) -> dict[int, str]:
        """`posting_problem` of each customer, in one query."""
        problems = dict.fromkeys(customer_ids, "channel_not_found")
        if not problems:
            return problems
        async with self._sessions() as session:
            found = await session.execute(
                select(
                    Customer.id,
                    Customer.channel_problem,
                    SlackTeam.posting_stopped_at,
                    SlackTeam.posting_stopped_reason,
                )
                .outerjoin(SlackTeam, SlackTeam.team_id == Customer.team_id)
                .where(Customer.id.in_(problems))
            )
            for customer_id, channel_problem, team_stopped_at, team_reason in found:
                if team_stopped_at is not None:
                    problems[customer_id] = team_reason or "app_uninstalled"
                else:
                    problems[customer_id] = str(channel_problem)
        return problems

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
        async with self._sessions.begin() as session:
            await _resume_team(session, team_id)


async def _resume_team(session: AsyncSession, team_id: str) -> None:
    team = await session.get(SlackTeam, team_id)
    if team is not None and team.posting_stopped_at is not None:
        team.posting_stopped_at, team.posting_stopped_reason = None, ""


def _members_of(customer_ids: Collection[int]) -> Select[Member]:
    return select(Member).where(Member.customer_id.in_(customer_ids)).order_by(Member.id)


def _days_around(start: datetime, end: datetime) -> tuple[date, date]:
    """The days of every zone's clock that the UTC span `[start, end)` may fall on."""
    return start.astimezone(UTC).date() - _ZONE_REACH, end.astimezone(UTC).date() + _ZONE_REACH


def _touches(time_off: TimeOff, span: tuple[datetime, datetime]) -> bool:
    first_day, last_day = _days_around(*span)
    return time_off.first_day <= last_day and time_off.last_day >= first_day
