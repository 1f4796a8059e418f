"""Bookings: the `bookings` table, and `booking_claims`, one row per staff member booked.

A booking of a person is made in three short steps, none of them open while Google is
asked anything: `claim_booking` takes the person's claim row (one upsert, committed at
once), the caller reads their calendar and writes the event at Google, then `saving_booking`
opens the transaction that checks again and saves the row, and `release_booking_claim`
frees the claim. `BookingTransaction` is what that last transaction may do; moving a
booking is the same three steps, its transaction checking the new times against every
booking of the person but the one moved.

`booking_loads` is what choosing fairly among staff reads: each one's booked time in a
week, and when they were last booked.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import ColumnElement, Select, and_, func, or_, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession

from storage.models import Booking, BookingClaim, BookingStatus
from storage.repositories.base import Repository, _overlapping


@dataclass(frozen=True)
class BookingLoad:
    """How much one staff member has been booked (`BookingRepository.booking_loads`)."""

    booked: timedelta
    """The total length of their live bookings starting in the week asked about."""
    last_start: datetime | None
    """When their latest live booking started, at or before the moment asked about; None
    when they have none."""


class BookingRepository(Repository):
    """`bookings`: finding, listing and cancelling them; `booking_claims`: making one."""

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

    async def count_upcoming_bookings(self, customer_id: int, now: datetime) -> int:
        """Live bookings of the customer that haven't ended by `now`."""
        async with self._sessions() as session:
            count = await session.scalar(
                select(func.count())
                .select_from(Booking)
                .where(
                    Booking.customer_id == customer_id,
                    Booking.status == BookingStatus.BOOKED,
                    Booking.ends_at > now,
                )
            )
            return int(count or 0)

    async def mark_cancelled(self, booking_id: int, *, at: datetime, by: str) -> bool:
        """Cancel a live booking; False when it was cancelled already."""
        async with self._sessions.begin() as session:
            result = await session.execute(
                update(Booking)
                .where(Booking.id == booking_id, Booking.status == BookingStatus.BOOKED)
                .values(status=BookingStatus.CANCELLED, cancelled_at=at, cancelled_by=by)
            )
            return bool(result.rowcount == 1)  # type: ignore[attr-defined]

    async def set_booking_message(self, booking_id: int, ts: str) -> None:
        """Remember the booking's message in the channel (to show it cancelled later)."""
        async with self._sessions.begin() as session:
            await session.execute(
                update(Booking).where(Booking.id == booking_id).values(message_ts=ts)
            )

    async def staff_bookings_between(
        self, customer_id: int, staff_user_id: str, start: datetime, end: datetime
    ) -> list[Booking]:
        """One staff member's live bookings that overlap `[start, end)`, earliest first."""
        query = _staff_overlapping(customer_id, staff_user_id, start, end)
        async with self._sessions() as session:
            return list(await session.scalars(query))

    async def booking_loads(
        self,
        customer_id: int,
        user_ids: Sequence[str],
        week_start: datetime,
        week_end: datetime,
        now: datetime,
    ) -> dict[str, BookingLoad]:
        """For each of `user_ids` (each one a key): the length of their live bookings that
        start in `[week_start, week_end)`, and the start of their latest live booking that
        started by `now`. Two queries, however many people: `book anyone` asks of them all.
        """
        if not user_ids:
            return {}
        live = (
            Booking.customer_id == customer_id,
            Booking.status == BookingStatus.BOOKED,
            Booking.staff_user_id.in_(user_ids),
        )
        booked = dict.fromkeys(user_ids, timedelta())
        async with self._sessions() as session:
            # Summed here: SQLite and PostgreSQL subtract timestamps in different ways.
            week = await session.execute(
                select(Booking.staff_user_id, Booking.starts_at, Booking.ends_at).where(
                    *live, Booking.starts_at >= week_start, Booking.starts_at < week_end
                )
            )
            for user_id, starts_at, ends_at in week:
                booked[user_id] += ends_at - starts_at
            latest = await session.execute(
                select(Booking.staff_user_id, func.max(Booking.starts_at))
                .where(*live, Booking.starts_at <= now)
                .group_by(Booking.staff_user_id)
            )
            last_start: dict[str, datetime] = {user_id: at for user_id, at in latest}
        return {
            user_id: BookingLoad(booked=booked[user_id], last_start=last_start.get(user_id))
            for user_id in user_ids
        }

    async def claim_booking(
        self, customer_id: int, staff_user_id: str, *, holder: str, now: datetime, until: datetime
    ) -> bool:
        """Take the claim on booking this staff member until `until`: True unless someone
        else holds a claim that has not lapsed by `now`.

        One statement, committed at once: the person's row is inserted, or taken over only
        when free or lapsed (`INSERT … ON CONFLICT DO UPDATE … WHERE`, which SQLite and
        PostgreSQL both settle atomically against a concurrent claim).
        """
        async with self._sessions.begin() as session:
            insert = postgresql.insert if _is_postgresql(session) else sqlite.insert
            claim = insert(BookingClaim).values(
                customer_id=customer_id,
                staff_user_id=staff_user_id,
                holder=holder,
                claimed_until=until,
            )
            taken = await session.scalar(
                claim.on_conflict_do_update(
                    index_elements=[BookingClaim.customer_id, BookingClaim.staff_user_id],
                    set_={"holder": holder, "claimed_until": until},
                    where=or_(
                        BookingClaim.claimed_until.is_(None), BookingClaim.claimed_until <= now
                    ),
                ).returning(BookingClaim.holder)
            )
            return taken == holder

    async def release_booking_claim(
        self, customer_id: int, staff_user_id: str, holder: str
    ) -> None:
        """Free the claim, if `holder` still holds it (a lapsed one may be someone else's)."""
        async with self._sessions.begin() as session:
            await session.execute(
                update(BookingClaim)
                .where(_claim_of(customer_id, staff_user_id), BookingClaim.holder == holder)
                .values(claimed_until=None)
            )

    @asynccontextmanager
    async def saving_booking(
        self, customer_id: int, staff_user_id: str
    ) -> AsyncIterator[BookingTransaction]:
        """A short transaction to check and save a booking of one staff member; commits on
        exit. Nothing else is awaited while it is open.

        It starts by writing the person's claim row (made by `claim_booking`), so a second
        save of the same person waits for this one to commit: on PostgreSQL that row's
        lock, on SQLite the one writer's lock, taken at once instead of upgraded from a
        read. Whatever it reads then includes every booking committed before.
        """
        async with self._sessions.begin() as session:
            await session.execute(
                update(BookingClaim)
                .where(_claim_of(customer_id, staff_user_id))
                .values(holder=BookingClaim.holder)
            )
            yield BookingTransaction(session)


class BookingTransaction:
    """What saving a booking does in its short transaction (`Store.saving_booking`)."""

    def __init__(self, session: AsyncSession) -> None:
        self._session = session

    async def find_for_request(self, request_key: str) -> Booking | None:
        return await self._session.scalar(select(Booking).where(Booking.request_key == request_key))

    async def overlapping(
        self,
        customer_id: int,
        staff_user_id: str,
        start: datetime,
        end: datetime,
        *,
        excluding: int | None = None,
    ) -> list[Booking]:
        """The person's live bookings over `[start, end)`, but the one of id `excluding`
        (a booking being moved doesn't clash with where it was)."""
        query = _staff_overlapping(customer_id, staff_user_id, start, end, excluding)
        return list(await self._session.scalars(query))

    def add(self, booking: Booking) -> None:
        self._session.add(booking)

    async def move(self, booking_id: int, starts_at: datetime, ends_at: datetime) -> None:
        """Give the booking its new times (its event was moved at Google already)."""
        await self._session.execute(
            update(Booking)
            .where(Booking.id == booking_id)
            .values(starts_at=starts_at, ends_at=ends_at)
        )


def _staff_overlapping(
    customer_id: int,
    staff_user_id: str,
    start: datetime,
    end: datetime,
    excluding: int | None = None,
) -> Select[Booking]:
    """Live bookings of one staff member that overlap `[start, end)`, earliest first, but
    the one of id `excluding`."""
    query = _overlapping([customer_id], start, end).where(Booking.staff_user_id == staff_user_id)
    return query if excluding is None else query.where(Booking.id != excluding)


def _claim_of(customer_id: int, staff_user_id: str) -> ColumnElement[bool]:
    return and_(
        BookingClaim.customer_id == customer_id, BookingClaim.staff_user_id == staff_user_id
    )


def _is_postgresql(session: AsyncSession) -> bool:
    return session.get_bind().dialect.name == "postgresql"
