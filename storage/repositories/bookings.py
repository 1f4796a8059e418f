"""Bookings: the `bookings` table.

A booking is made inside `booking_lock`, which holds a lock taken by writing the staff
member's `calendar_connections` row; `BookingTransaction` is what it may do meanwhile.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import datetime

from sqlalchemy import func, select, text, update
from sqlalchemy.ext.asyncio import AsyncSession

from storage.models import Booking, BookingStatus
from storage.repositories.base import Repository, _overlapping


class BookingRepository(Repository):
    """`bookings`: finding, listing and cancelling them, and the lock to make one."""

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
