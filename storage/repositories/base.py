"""What every repository shares: the session factory and the query builders more than
one aggregate uses.

`Repository` holds the async session factory; each aggregate's repository (and `Store`,
which is all of them at once) opens one short transaction per query from it. The
builders here are one query each, whatever the number of customers: the connections of
customers (`calendar_connections`), their live bookings over a span (`bookings`) and their
live time off over some days (`time_off`), read by their own repositories and by `rosters`.
"""

from __future__ import annotations

from collections.abc import Collection
from datetime import date, datetime

from sqlalchemy import Select, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from storage.models import Booking, BookingStatus, CalendarConnection, TimeOff


class Repository:
    """Queries over an async session factory, opened one short transaction each."""

    def __init__(self, sessions: async_sessionmaker[AsyncSession]) -> None:
        self._sessions = sessions


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


def _time_off_overlapping(
    customer_ids: Collection[int], first_day: date, last_day: date
) -> Select[TimeOff]:
    """Live (not cancelled) time off of the customers that shares a day with
    `[first_day, last_day]`, both included; earliest first, then by person."""
    return (
        select(TimeOff)
        .where(
            TimeOff.customer_id.in_(customer_ids),
            TimeOff.cancelled_at.is_(None),
            TimeOff.first_day <= last_day,
            TimeOff.last_day >= first_day,
        )
        .order_by(TimeOff.first_day, TimeOff.slack_user_id, TimeOff.id)
    )
