"""People's time off (`time_off`): whole local days away, added, listed and cancelled.

A retried Slack request adds nothing: each row keeps its request's key (unique), and an
add that finds it, or loses the race to insert it, answers with the row already there.
Short ids are drawn at random; the unique constraint settles two adds drawing the same
one at once, and the loser draws again.
"""

from __future__ import annotations

import secrets
from datetime import date, datetime

from sqlalchemy import ColumnElement, and_, select, update
from sqlalchemy.exc import IntegrityError

from storage.models import TimeOff
from storage.repositories.base import Repository, _time_off_overlapping

SHORT_ID_ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
"""Crockford's base 32: no I, L, O or U, so an id read aloud or retyped is not misread."""
SHORT_ID_LENGTH = 4
REASON_LENGTH = 200
"""The longest reason stored (`time_off.reason`)."""
_ADD_ATTEMPTS = 20
"""Draws of a short id before giving up: with 32⁴ ids, only a customer holding nearly all
of them would see 20 collisions in a row."""


class TimeOffRepository(Repository):
    """`time_off`: each customer's people's days away."""

    async def add_time_off(
        self,
        customer_id: int,
        slack_user_id: str,
        first_day: date,
        last_day: date,
        reason: str,
        *,
        by: str,
        request_key: str,
        now: datetime,
    ) -> tuple[TimeOff, bool]:
        """The new row and True; or the row this request added already and False."""
        if last_day < first_day:
            raise ValueError(f"time off ends ({last_day}) before it starts ({first_day})")
        if len(reason) > REASON_LENGTH:
            raise ValueError(f"a time off reason is at most {REASON_LENGTH} characters")
        for _ in range(_ADD_ATTEMPTS):
            existing = await self._time_off_for_request(request_key)
            if existing is not None:
                return existing, False
            row = TimeOff(
                customer_id=customer_id,
                slack_user_id=slack_user_id,
                first_day=first_day,
                last_day=last_day,
                reason=reason,
                short_id=_new_short_id(),
                request_key=request_key,
                created_by=by,
                created_at=now,
            )
            try:
                async with self._sessions.begin() as session:
                    session.add(row)
                return row, True
            except IntegrityError:
                # The short id was taken, or a concurrent retry of this request added it
                # first: the next round finds that row, or draws another id.
                continue
        raise RuntimeError(f"no free time off short id for customer {customer_id}")

    async def upcoming_time_off(self, customer_id: int, from_day: date) -> list[TimeOff]:
        """Live time off not over before `from_day`, earliest first, then by person."""
        async with self._sessions() as session:
            return list(
                await session.scalars(_time_off_overlapping([customer_id], from_day, date.max))
            )

    async def time_off_between(
        self, customer_id: int, first_day: date, last_day: date
    ) -> list[TimeOff]:
        """Live time off sharing a day with `[first_day, last_day]` (both included)."""
        async with self._sessions() as session:
            return list(
                await session.scalars(_time_off_overlapping([customer_id], first_day, last_day))
            )

    async def find_time_off(self, customer_id: int, short_id: str) -> TimeOff | None:
        """The customer's time off named `short_id` (any case), cancelled or not."""
        async with self._sessions() as session:
            return await session.scalar(select(TimeOff).where(_named(customer_id, short_id)))

    async def cancel_time_off(
        self, customer_id: int, short_id: str, *, by: str, now: datetime
    ) -> TimeOff | None:
        """Mark it cancelled, once: cancelling it again leaves who and when as they were.
        None when the customer has no time off of that id."""
        async with self._sessions.begin() as session:
            await session.execute(
                update(TimeOff)
                .where(_named(customer_id, short_id), TimeOff.cancelled_at.is_(None))
                .values(cancelled_at=now, cancelled_by=by)
            )
            return await session.scalar(select(TimeOff).where(_named(customer_id, short_id)))

    async def _time_off_for_request(self, request_key: str) -> TimeOff | None:
        async with self._sessions() as session:
            return await session.scalar(select(TimeOff).where(TimeOff.request_key == request_key))


def _new_short_id() -> str:
    return "".join(secrets.choice(SHORT_ID_ALPHABET) for _ in range(SHORT_ID_LENGTH))


def _named(customer_id: int, short_id: str) -> ColumnElement[bool]:
    """Short ids are stored in capitals; people may type them in any case."""
    return and_(TimeOff.customer_id == customer_id, TimeOff.short_id == short_id.upper())
