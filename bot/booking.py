"""Book and cancel: the conflict check under a claim, and exactly one event per booking.

Booking a staff member:
1. A request already booked (a Slack retry, a double click) gets its booking back.
2. The person is claimed (`Store.claim_booking`): one booking of a person at a time. The
   claim is a row, committed at once, not a transaction held open, because a booking then
   waits for Google (seconds, up to a minute when Google is slow) and no transaction may
   stay open over that: on SQLite it would hold the one writer's lock, and every other
   channel's writes would wait for Google too. A second booking of the same person waits
   for the claim (at most `CLAIM_WAIT`), then sees what the first one booked; a booker
   that crashed holding it leaves a claim that lapses after `CLAIM_LEASE`.
3. Holding the claim, the request is checked again, then against their working hours,
   their bookings, and their calendar read live.
4. The event goes on the primary calendar with an id the bot chose, so the client
   library's retries of the insert can't make a second event (Google answers 409, which
   counts as done). Each attempt at a booking has a fresh id: Google keeps a deleted
   event's id taken, and a later attempt must not land on a deleted event.
5. The booking row is saved in a short transaction that locks the person's claim row and
   checks once more for the request and for overlapping bookings: whatever a lapsed claim
   let through, a slot is booked once. If Google refuses the insert, no row is saved (and
   an insert whose answer was lost is deleted again); if the row can't be saved, or the
   last check finds the slot taken, the event is deleted again. A booking row always
   matches exactly one event.

A conflict says what kind it is (outside working hours, another booking, busy on their
own calendar: never the title of their event) and offers the nearest free slots.

Cancelling acts where the event is. A booking keeps the account (and calendar) that held
the primary calendar when it was booked; if the primary has since been replaced by another
account, that account's connection is gone and the bot can't reach the event. Asking the
new primary to delete it would be wrong twice over: it isn't there, and Google's 404 would
read as "already deleted". So the booking stays as it is and the person is offered what can
be done: connect that account as the primary again, or mark the booking cancelled here and
delete its event by hand (`cancel(..., by_hand=True)`).
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import secrets
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy.exc import SQLAlchemyError

from bot.availability import Interval, WorkingHours, fitting_slots, free_windows, nearest_slots
from bot.calendar.port import (
    CalendarError,
    CalendarProvider,
    MissingPermission,
    NeedsReconnect,
    NewEvent,
    TokenSet,
)
from bot.staff import NEEDS_RECONNECT, Person, Staff, day_span
from bot.tokens import TokenCipher
from storage.models import Booking, BookingStatus, CalendarConnection, Customer, utcnow
from storage.repositories import Store

logger = logging.getLogger(__name__)

SUGGESTIONS = 3
"""Free slots offered after a conflict."""
SUGGESTION_DAYS = 7
"""Days, from the one asked for, in which the nearest free slots are looked for."""
SLOT_STEP = timedelta(minutes=30)
"""Suggested slots start on the hour or the half hour, local time."""
CLAIM_LEASE = timedelta(minutes=2)
"""How long a claim on booking a person lasts if its holder never frees it (it crashed).
Longer than a booking takes with Google at its slowest (a calendar read, then an insert of
up to four tries of 10 s); a claim that lapses early costs no double booking, only wasted
work and an event taken back (step 5)."""
CLAIM_WAIT = timedelta(seconds=20)
"""How long a booking waits while someone else books the same person, before saying so."""
CLAIM_POLL = (0.05, 0.5)
"""Seconds between looks at a claimed person: the first pause, doubling up to the last."""

# Why a booking was refused (besides the staff member's own problems in `bot.staff`).
PAST = "past"
NO_PRIMARY = "no_primary"
PRIMARY_BROKEN = "primary_broken"
GOOGLE_DOWN = "google_down"
NOT_SAVED = "not_saved"
BEING_BOOKED = "being_booked"
"""Someone else has been booking the same person for longer than `CLAIM_WAIT`."""

# Kinds of conflict.
OUTSIDE_HOURS = "outside_hours"
BOOKED = "booked"
BUSY = "busy"

_SHORT_ID_ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"  # Crockford's base 32: no I, L, O, U
SHORT_ID_LENGTH = 6


def request_digest(request_key: str) -> str:
    """The stored form of a request key."""
    return hashlib.sha256(request_key.encode()).hexdigest()


def new_event_id() -> str:
    """A fresh Google event id: hex digits are base32hex, as Google asks."""
    return secrets.token_hex(16)


def short_id(digest: str) -> str:
    """The booking's id for people: six characters that are easy to read and type."""
    number = int(digest[:16], 16)
    chars = []
    for _ in range(SHORT_ID_LENGTH):
        number, index = divmod(number, len(_SHORT_ID_ALPHABET))
        chars.append(_SHORT_ID_ALPHABET[index])
    return "".join(chars)


@dataclass(frozen=True, kw_only=True)
class BookingRequest:
    staff_user_id: str
    start: datetime
    duration: timedelta
    title: str
    booked_by: str
    request_key: str
    """What Slack request asks for it: a command's trigger, a button on a message, a modal."""

    @property
    def interval(self) -> Interval:
        # Elapsed time: adding to an aware local datetime would add wall-clock time,
        # an hour off across a change of the clocks.
        start = self.start.astimezone(UTC)
        return Interval(start, start + self.duration)


@dataclass(frozen=True)
class Booked:
    booking: Booking
    again: bool = False
    """This same request had already booked it (a retry or a double click)."""


@dataclass(frozen=True)
class Conflict:
    kind: str
    asked: Interval
    slots: list[Interval]
    booking: Booking | None = None
    """The booking in the way, for a conflict of kind BOOKED."""


@dataclass(frozen=True)
class Refused:
    reason: str


BookingOutcome = Booked | Conflict | Refused


@dataclass(frozen=True)
class Cancelled:
    booking: Booking
    event_deleted: bool
    """False when the booking was marked cancelled here and its event is left behind, to be
    deleted by hand in `booking.event_account`'s calendar."""


@dataclass(frozen=True)
class NotCancelled:
    reason: str
    booking: Booking | None = None
    primary_account: str = ""
    """For EVENT_UNREACHABLE: the account of the primary calendar now ("" when none)."""


NOT_FOUND = "not_found"
ALREADY_CANCELLED = "already_cancelled"
NOT_YOURS = "not_yours"
"""A staff member asked to cancel a booking neither for them nor made by them."""

EVENT_UNREACHABLE = "event_unreachable"
"""The account that holds the booking's event isn't connected any more (the primary was
replaced by another account, or disconnected), or needs reconnecting: nothing can delete
the event. `NotCancelled.account` names it ("" when unknown)."""

PRIMARY_CALENDAR = "primary"
"""The calendar of the primary account on which bookings are made."""

CancelOutcome = Cancelled | NotCancelled


class Bookings:
    def __init__(
        self, *, store: Store, calendar: CalendarProvider, cipher: TokenCipher, staff: Staff
    ) -> None:
        self._store = store
        self._calendar = calendar
        self._cipher = cipher
        self._staff = staff

    async def book(
        self, customer: Customer, request: BookingRequest, *, now: datetime
    ) -> BookingOutcome:
        digest = request_digest(request.request_key)
        if (earlier := await self._store.find_booking_for_request(digest)) is not None:
            return Booked(earlier, again=True)
        if request.start <= now:
            return Refused(PAST)
        [person] = await self._staff.people(customer, [request.staff_user_id])
        if person.problem or person.connection is None:
            return Refused(person.problem)
        primary = await self._store.find_connection(customer.id, "primary")
        if primary is None:
            return Refused(NO_PRIMARY)
        if primary.state.is_broken:
            return Refused(PRIMARY_BROKEN)
        async with self._claim(customer.id, person.user_id) as claimed:
            if not claimed:
                return Refused(BEING_BOOKED)
            return await self._book_claimed(
                customer, request, person, person.connection, primary, now
            )

    @asynccontextmanager
    async def _claim(self, customer_id: int, staff_user_id: str) -> AsyncIterator[bool]:
        """Hold the claim on booking this person (True), or False when someone else held it
        for all of `CLAIM_WAIT`. Freed on exit; each look at it is its own short write."""
        holder = secrets.token_hex(8)
        deadline = time.monotonic() + CLAIM_WAIT.total_seconds()
        pause, longest = CLAIM_POLL
        while True:
            now = utcnow()
            if await self._store.claim_booking(
                customer_id, staff_user_id, holder=holder, now=now, until=now + CLAIM_LEASE
            ):
                break
            left = deadline - time.monotonic()
            if left <= 0:
                logger.info("booking %s for customer %s: still claimed", staff_user_id, customer_id)
                yield False
                return
            await asyncio.sleep(min(pause, left))
            pause = min(2 * pause, longest)
        try:
            yield True
        finally:
            try:
                await self._store.release_booking_claim(customer_id, staff_user_id, holder)
            except SQLAlchemyError:
                # What was booked stands, and is told; the claim lapses by itself.
                logger.warning("claim on booking %s left to lapse", staff_user_id, exc_info=True)

    async def _book_claimed(
        self,
        customer: Customer,
        request: BookingRequest,
        person: Person,
        staff_connection: CalendarConnection,
        primary: CalendarConnection,
        now: datetime,
    ) -> BookingOutcome:
        """Book, holding the claim on `person`: no transaction is open across Google's calls."""
        digest = request_digest(request.request_key)
        zone = ZoneInfo(customer.timezone)
        asked = request.interval
        first_day = asked.start.astimezone(zone).date()
        days = [first_day + timedelta(days=n) for n in range(SUGGESTION_DAYS)]
        refreshed: list[tuple[CalendarConnection, TokenSet | None]] = []
        try:
            # Another booking of this request may have finished while this one waited.
            if (earlier := await self._store.find_booking_for_request(digest)) is not None:
                return Booked(earlier, again=True)
            clashes = await self._store.staff_bookings_between(
                customer.id, person.user_id, asked.start, asked.end
            )
            span = day_span(days, zone)
            answers = await self._staff.busy(customer, [person], span, store_tokens=False)
            busy = answers[person.user_id]
            refreshed.append((staff_connection, busy.refreshed))
            if busy.intervals is None:
                return Refused(busy.problem)
            kind = _conflict(asked, person, zone, clashes, busy.intervals)
            if kind is not None:
                return _conflict_outcome(
                    kind, request, person, zone, days, busy.intervals, clashes, now
                )
            booking = Booking(
                customer_id=customer.id,
                short_id=short_id(digest),
                request_key=digest,
                event_id=new_event_id(),
                staff_user_id=person.user_id,
                staff_email=staff_connection.account_email,
                event_account=primary.account_email,
                event_calendar=PRIMARY_CALENDAR,
                title=request.title,
                starts_at=asked.start,
                ends_at=asked.end,
                booked_by=request.booked_by,
                created_at=now,
                status=BookingStatus.BOOKED,
            )
            answer = await self._insert_event(customer, primary, booking)
            if isinstance(answer, Refused):
                return answer
            refreshed.append((primary, answer))
            saved = await self._save(customer, primary, booking)
            if isinstance(saved, Booked | Refused):
                return saved
            # Booked by someone whose claim outlived ours: ours is taken back.
            return _conflict_outcome(
                BOOKED, request, person, zone, days, busy.intervals, saved, now
            )
        finally:
            await self._staff.keep_tokens(*refreshed)

    async def _save(
        self, customer: Customer, primary: CalendarConnection, booking: Booking
    ) -> Booked | Refused | list[Booking]:
        """Save the booking whose event is made, checking once more in the same short
        transaction: Booked, a refusal, or the bookings in its way. Unless this booking is
        saved, its event is deleted again."""
        clashes: list[Booking] = []
        earlier: Booking | None = None
        try:
            async with self._store.saving_booking(customer.id, booking.staff_user_id) as saving:
                earlier = await saving.find_for_request(booking.request_key)
                if earlier is None:
                    clashes = await saving.overlapping(
                        customer.id, booking.staff_user_id, booking.starts_at, booking.ends_at
                    )
                if earlier is None and not clashes:
                    saving.add(booking)
        except SQLAlchemyError:
            logger.exception("booking %s could not be saved: removing its event", booking.short_id)
            await self._delete_event(primary, booking.event_id)
            return Refused(NOT_SAVED)
        if earlier is not None or clashes:
            logger.warning(
                "booking %s was beaten to its slot: removing its event", booking.short_id
            )
            await self._delete_event(primary, booking.event_id)
            return Booked(earlier, again=True) if earlier is not None else clashes
        logger.info("booked %s for customer %s", booking.short_id, customer.id)
        return Booked(booking)

    async def _insert_event(
        self, customer: Customer, primary: CalendarConnection, booking: Booking
    ) -> Refused | TokenSet | None:
        """Put the booking's event on the primary calendar: refreshed tokens, or a refusal."""
        event = NewEvent(
            id=booking.event_id,
            summary=booking.title,
            description=f"Booked from Slack with Tonomo. Booking {booking.short_id}.",
            start=booking.starts_at,
            end=booking.ends_at,
            time_zone=customer.timezone,
            attendees=(booking.staff_email,),
        )
        tokens = self._cipher.open_tokens(primary.token_ciphertext)
        try:
            fresh = await self._calendar.insert_event(tokens, event)
        except (NeedsReconnect, MissingPermission):
            return Refused(PRIMARY_BROKEN)
        except CalendarError as err:
            logger.info("events.insert for customer %s failed: %s", customer.id, err)
            # Google may have made the event and lost only its answer: take it back.
            await self._delete_event(primary, booking.event_id)
            return Refused(GOOGLE_DOWN)
        return fresh if fresh != tokens else None

    async def _delete_event(self, primary: CalendarConnection, event_id: str) -> str:
        """Delete a booking's event: "" when done, else why not (NEEDS_RECONNECT, GOOGLE_DOWN)."""
        tokens = self._cipher.open_tokens(primary.token_ciphertext)
        try:
            fresh = await self._calendar.delete_event(tokens, event_id)
        except (NeedsReconnect, MissingPermission):
            return NEEDS_RECONNECT
        except CalendarError as err:
            logger.info("events.delete of %s failed: %s", event_id[:12], err)
            return GOOGLE_DOWN
        await self._staff.keep_tokens((primary, fresh if fresh != tokens else None))
        return ""

    async def cancel(
        self,
        customer: Customer,
        booking_id: str,
        *,
        by: str,
        now: datetime,
        may_cancel_others: bool = True,
        by_hand: bool = False,
    ) -> CancelOutcome:
        """Delete the booking's event where it is, then mark it cancelled.

        If Google doesn't answer, nothing changes and the person is asked to try again.
        If the account holding the event can't be reached (its connection is gone, or needs
        reconnecting), nothing changes either (EVENT_UNREACHABLE), unless `by_hand`: then the
        booking is cancelled here and its event is left for the person to delete.
        """
        booking = await self._store.find_booking(customer.id, booking_id)
        if booking is None:
            return NotCancelled(NOT_FOUND)
        if booking.status is BookingStatus.CANCELLED:
            return NotCancelled(ALREADY_CANCELLED, booking)
        if not may_cancel_others and by not in (booking.staff_user_id, booking.booked_by):
            return NotCancelled(NOT_YOURS, booking)
        primary = await self._store.find_connection(customer.id, "primary")
        holder = primary if primary is not None and holds_event(primary, booking) else None
        problem = await self._delete_event(holder, booking.event_id) if holder else NO_PRIMARY
        if problem == GOOGLE_DOWN:
            return NotCancelled(GOOGLE_DOWN, booking)
        if problem and not by_hand:
            now_primary = primary.account_email if primary is not None else ""
            return NotCancelled(EVENT_UNREACHABLE, booking, primary_account=now_primary)
        if not await self._store.mark_cancelled(booking.id, at=now, by=by):
            return NotCancelled(ALREADY_CANCELLED, booking)
        booking.status, booking.cancelled_at, booking.cancelled_by = (
            BookingStatus.CANCELLED,
            now,
            by,
        )
        logger.info("cancelled %s for customer %s", booking.short_id, customer.id)
        return Cancelled(booking, event_deleted=not problem)


def holds_event(connection: CalendarConnection, booking: Booking) -> bool:
    """Whether this connection's account is the one whose calendar holds the booking's event
    (a booking of unknown account is held by none: a guess could delete nothing and say so)."""
    return (
        bool(booking.event_account)
        and connection.account_email.casefold() == booking.event_account.casefold()
        and booking.event_calendar == PRIMARY_CALENDAR
    )


def next_working_start(
    hours: WorkingHours, zone: ZoneInfo, now: datetime, duration: timedelta
) -> datetime:
    """Where a booking form starts: the first slot of `duration` within working hours,
    on the suggestions' grid (`SLOT_STEP`) and not before `now`. On a Sunday evening that
    is Monday's first hour; at 10:07 on a working day, 10:30. Within a fortnight, or (hours
    too short for `duration`) the next working day's start."""
    today = now.astimezone(zone).date()
    days = [today + timedelta(days=n) for n in range(14)]
    free = free_windows(days=days, zone=zone, hours=hours, busy=[], now=now)
    windows = [w for day in days for w in free[day]]
    slots = fitting_slots(windows, duration, zone=zone, step=SLOT_STEP, limit=1)
    if slots:
        return slots[0].start
    later = next((w for w in windows if w.start > now), None)
    return later.start if later is not None else now


def _conflict(
    asked: Interval,
    person: Person,
    zone: ZoneInfo,
    clashes: list[Booking],
    busy: list[Interval],
) -> str | None:
    """What is in the way of `asked`, or None when it is free."""
    day = asked.start.astimezone(zone).date()
    if not any(
        w.start <= asked.start and asked.end <= w.end for w in person.hours.windows(day, zone)
    ):
        return OUTSIDE_HOURS
    if clashes:
        return BOOKED
    if any(interval.overlaps(asked) for interval in busy):
        return BUSY
    return None


def _conflict_outcome(
    kind: str,
    request: BookingRequest,
    person: Person,
    zone: ZoneInfo,
    days: list[date],
    busy: list[Interval],
    clashes: list[Booking],
    now: datetime,
) -> Conflict:
    """The conflict, with the nearest free slots around the time asked for."""
    asked = request.interval
    taken = [Interval(c.starts_at, c.ends_at) for c in clashes]
    free = free_windows(days=days, zone=zone, hours=person.hours, busy=busy + taken, now=now)
    slots = nearest_slots(
        [w for windows in free.values() for w in windows],
        request.duration,
        asked.start,
        SUGGESTIONS,
        zone=zone,
        step=SLOT_STEP,
    )
    return Conflict(kind, asked, slots, clashes[0] if clashes else None)
