"""Time off: whole local days when a person is not free, whatever their calendar says.

Days are the customer's local dates, both ends included (`bot.availability.TimeOff` turns
them into instants, midnight to midnight, however long the days are). Time off counts
wherever free time does: availability, booking, moving, `why`, grids and digests, all
through `Staff.held`.

Staff set and remove their own; setting or removing someone else's is for the owner and
onboarders (`Act.TIME_OFF_OTHERS`). The same request again (a Slack retry) adds nothing.
Bookings already made in those days are not touched: whoever set the time off is told
which there are, to move or cancel them.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

from bot import when
from bot.availability import TimeOff as Days
from bot.booking import request_digest
from bot.staff import local_today
from storage.models import Booking, Customer, TimeOff
from storage.repositories import Store

LONGEST = timedelta(days=366)
"""The longest time off one command sets (a year, leap day included)."""
FORM = "timeoff @user DAY[..DAY] [REASON…]"


@dataclass(frozen=True)
class Added:
    time_off: TimeOff
    again: bool
    """This same request had already added it (a retry)."""
    bookings: list[Booking]
    """Their live bookings within those days, left as they are: to move or cancel."""


@dataclass(frozen=True)
class Removed:
    time_off: TimeOff
    again: bool
    """It had been removed already."""


NOT_FOUND = "not_found"
NOT_YOURS = "not_yours"


@dataclass(frozen=True)
class NotRemoved:
    reason: str
    """NOT_FOUND or NOT_YOURS."""
    time_off: TimeOff | None = None


class TimeOffs:
    def __init__(self, *, store: Store) -> None:
        self._store = store

    async def add(
        self,
        customer: Customer,
        user_id: str,
        first_word: str,
        last_word: str,
        reason: str,
        *,
        by: str,
        request_key: str,
        now: datetime,
    ) -> Added:
        """Add their time off (`when.WhenError` when the days are not days to be off)."""
        first, last = days_of(first_word, last_word, today=local_today(customer, now))
        same = await self._same(customer, user_id, first, last, reason)
        if same is not None:  # asked again in other words (a retry after a failure): once
            return Added(same, again=True, bookings=await self._bookings(customer, same))
        row, added = await self._store.add_time_off(
            customer.id,
            user_id,
            first,
            last,
            reason,
            by=by,
            request_key=request_digest(request_key),
            now=now,
        )
        return Added(row, again=not added, bookings=await self._bookings(customer, row))

    async def _same(
        self, customer: Customer, user_id: str, first: date, last: date, reason: str
    ) -> TimeOff | None:
        """Live time off of theirs for exactly these days and reason, if any."""
        return next(
            (
                row
                for row in await self._store.time_off_between(customer.id, first, last)
                if (row.slack_user_id, row.first_day, row.last_day, row.reason)
                == (user_id, first, last, reason)
            ),
            None,
        )

    async def _bookings(self, customer: Customer, row: TimeOff) -> list[Booking]:
        """Their live bookings within the time off's days."""
        span = Days(row.first_day, row.last_day).span(ZoneInfo(customer.timezone))
        return [
            booking
            for booking in await self._store.bookings_between(customer.id, span.start, span.end)
            if booking.staff_user_id == row.slack_user_id
        ]

    async def upcoming(self, customer: Customer, now: datetime) -> list[TimeOff]:
        """Time off that hasn't ended yet, the soonest first."""
        return await self._store.upcoming_time_off(customer.id, local_today(customer, now))

    async def remove(
        self, customer: Customer, short_id: str, *, by: str, may_others: bool, now: datetime
    ) -> Removed | NotRemoved:
        """Remove time off: one's own, or anyone's for those who may."""
        found = await self._store.find_time_off(customer.id, short_id)
        if found is None:
            return NotRemoved(NOT_FOUND)
        if found.slack_user_id != by and not may_others:
            return NotRemoved(NOT_YOURS, found)
        if found.cancelled_at is not None:
            return Removed(found, again=True)
        removed = await self._store.cancel_time_off(customer.id, short_id, by=by, now=now)
        return Removed(removed or found, again=False)


def days_of(first_word: str, last_word: str, *, today: date) -> tuple[date, date]:
    """The local dates `DAY[..DAY]` names, checked: not past, in order, at most a year."""
    first = when.parse_day(first_word, today=today)
    # `friday..monday` is Friday to the Monday after it, even when this week's Monday is
    # still to come: a weekday at the end counts from the first day.
    last = when.parse_day(last_word, today=first if _is_weekday(last_word) else today)
    if last < first:
        raise when.WhenError(
            f"The time off ends ({last:%a} {last.day} {last:%b}) before it starts "
            f"({first:%a} {first.day} {first:%b}). Give the first day, then the last, like "
            "`2026-12-24..2026-12-26`.",
            FORM,
        )
    if last - first >= LONGEST:
        raise when.WhenError(
            "That is more than a year of time off. Set at most a year at a time.", FORM
        )
    return first, last


def _is_weekday(word: str) -> bool:
    """A weekday's name (`monday`, `fri`), not `today`, `tomorrow` or a date."""
    key = word.strip().lower()
    return key.isalpha() and key not in ("today", "tomorrow")
