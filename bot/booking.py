"""Book, book anyone, move and cancel: the checks under a claim, and exactly one event per
booking.

Booking a staff member:
1. A request already booked (a Slack retry, a double click) gets its booking back.
2. The person is claimed (`Store.claim_booking`): one booking of a person at a time. The
   claim is a row, committed at once, not a transaction held open, because a booking then
   waits for Google (seconds, up to a minute when Google is slow) and no transaction may
   stay open over that: on SQLite it would hold the one writer's lock, and every other
   channel's writes would wait for Google too. A second booking of the same person waits
   for the claim (at most `CLAIM_WAIT`), then sees what the first one booked; a booker
   that crashed holding it leaves a claim that lapses after `CLAIM_LEASE`.
3. Holding the claim, the request is checked again, then against everything that holds
   their time (`Staff.held`: their calendar read live, their bookings, their time off) by
   the customer's rules (working hours, buffer, notice): `bot.availability.reasons`.
4. The event goes on the primary calendar with an id the bot chose, so the client
   library's retries of the insert can't make a second event (Google answers 409, which
   counts as done). Each attempt at a booking has a fresh id: Google keeps a deleted
   event's id taken, and a later attempt must not land on a deleted event.
5. The booking row is saved in a short transaction that locks the person's claim row and
   checks once more for the request and for bookings within the buffer of it: whatever a
   lapsed claim let through, a slot is booked once. If Google refuses the insert, no row is
   saved (and an insert whose answer was lost is deleted again); if the row can't be saved,
   or the last check finds the slot taken, the event is deleted again. A booking row always
   matches exactly one event.

A conflict carries every reason the time is not free, the same reasons `why` gives
(working hours, time off, a booking, their own calendar busy: never the title of their
event; a buffer, the notice), and the nearest free slots on the customer's step, after
the notice, within a week.

Booking anyone (`book_anyone`): every person asked about (or every connected staff member)
is read at once; those free are ordered fairly (`bot.assignment.fair_order`: fewest booked
hours that local week, then longest since their last booking) and booked in that order as
above, each under their own claim and checked again there: the first that books is the one.
Two such bookings at once can't book one person twice (the claim and the save's check); the
second books the next person, or hears that nobody is free, with each one's reasons and the
nearest times when someone is.

Moving (`move`) is a booking's checks on its new time, under the same claim, with the
booking itself left out of what holds the person's time; then its event is moved in place
at Google (the same event, `events.patch`, the attendee told) and the row updated in a short
transaction that checks again. A booking already at the time asked for is "already there"
(a retried move moves once). If Google refuses or doesn't answer, the event is patched back
to where it was (in case the patch landed and only its answer was lost) and nothing moves;
if the row can't be saved, the event is patched back too. A booking whose event's account
is no longer the primary (or needs reconnecting) can't be moved, and says why.

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
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime, timedelta

from sqlalchemy.exc import SQLAlchemyError

from bot.assignment import Candidate, fair_order, week_of
from bot.availability import (
    Commitments,
    Interval,
    Labelled,
    Reason,
    Rules,
    fitting_slots,
    free_time,
    free_windows,
    nearest_slots,
    reasons,
)
from bot.calendar.port import (
    CalendarError,
    CalendarProvider,
    EventGone,
    MissingPermission,
    NeedsReconnect,
    NewEvent,
    TokenSet,
)
from bot.staff import NEEDS_RECONNECT, Held, Person, Refreshed, Staff, day_span
from bot.together import together
from bot.tokens import TokenCipher
from storage.models import Booking, BookingStatus, CalendarConnection, Customer, utcnow
from storage.repositories import Store

logger = logging.getLogger(__name__)

SUGGESTIONS = 3
"""Free slots offered after a conflict."""
SUGGESTION_DAYS = 7
"""Days, from the one asked for, in which the nearest free slots are looked for."""
CLAIM_LEASE = timedelta(minutes=2)
"""How long a claim on booking a person lasts if its holder never frees it (it crashed).
Longer than a booking takes with Google at its slowest (a calendar read, then an insert of
up to four tries of 10 s); a claim that lapses early costs no double booking, only wasted
work and an event taken back (step 5)."""
CLAIM_WAIT = timedelta(seconds=20)
"""How long a booking waits while someone else books the same person, before saying so."""
CLAIM_POLL = (0.05, 0.5)
"""Seconds between looks at a claimed person: the first pause, doubling up to the last."""

# Why a booking (or a move) was refused (besides the staff member's own problems in
# `bot.staff`).
PAST = "past"
NO_PRIMARY = "no_primary"
PRIMARY_BROKEN = "primary_broken"
GOOGLE_DOWN = "google_down"
NOT_SAVED = "not_saved"
BEING_BOOKED = "being_booked"
"""Someone else has been booking the same person for longer than `CLAIM_WAIT`."""
NO_STAFF = "no_staff"
"""`book anyone` with no one to choose from: no staff member has connected a calendar."""

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


def _span_of(start: datetime, duration: timedelta) -> Interval:
    # Elapsed time: adding to an aware local datetime would add wall-clock time, an hour
    # off across a change of the clocks.
    utc = start.astimezone(UTC)
    return Interval(utc, utc + duration)


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
        return _span_of(self.start, self.duration)


@dataclass(frozen=True, kw_only=True)
class AnyoneRequest:
    """`book anyone`: one free person among `user_ids` (none: every connected staff member)."""

    user_ids: tuple[str, ...]
    start: datetime
    duration: timedelta
    title: str
    booked_by: str
    request_key: str

    @property
    def interval(self) -> Interval:
        return _span_of(self.start, self.duration)

    def of(self, user_id: str) -> BookingRequest:
        """The booking of one of them: the same request (one booking, whoever it is)."""
        return BookingRequest(
            staff_user_id=user_id,
            start=self.start,
            duration=self.duration,
            title=self.title,
            booked_by=self.booked_by,
            request_key=self.request_key,
        )


@dataclass(frozen=True)
class Booked:
    booking: Booking
    again: bool = False
    """This same request had already booked it (a retry or a double click)."""


@dataclass(frozen=True)
class Conflict:
    """The time asked for isn't free for the person: every reason, as `why` gives them,
    and the nearest free slots."""

    asked: Interval
    reasons: list[Reason]
    rules: Rules
    """The person's, by which the reasons are worded (hours, buffer, notice)."""
    slots: list[Interval]
    moving: Booking | None = None
    """For a move: the booking that was to move (it stays where it is)."""


@dataclass(frozen=True)
class Refused:
    reason: str


BookingOutcome = Booked | Conflict | Refused


@dataclass(frozen=True)
class Load:
    """One person's booked time in the week of a `book anyone`, for saying why them."""

    user_id: str
    booked: timedelta
    last_start: datetime | None


@dataclass(frozen=True)
class Chosen:
    """`book anyone` booked someone: who, and the others who were free, fairest first."""

    booking: Booking
    chosen: Load
    others: list[Load]
    """The others free then, in fair order (each was free when read)."""
    not_free: list[str]
    """Those who weren't free then (or whose calendar couldn't be read)."""


@dataclass(frozen=True)
class NotFree:
    """One person of a `book anyone` who can't take the time: why, or why it is unknown."""

    user_id: str
    reasons: list[Reason]
    rules: Rules
    problem: str = ""
    """Why they can't be booked at all (not connected, a calendar that can't be read);
    then `reasons` may be empty."""


@dataclass(frozen=True)
class NobodyFree:
    """Nobody among those asked about is free then: each one's reasons, and the nearest
    times when at least one of them is."""

    asked: Interval
    people: list[NotFree]
    slots: list[Interval]


AnyoneOutcome = Chosen | Booked | NobodyFree | Refused


@dataclass(frozen=True)
class Moved:
    booking: Booking
    """As it is now, at its new time."""
    before: Interval
    """Where it was."""
    again: bool = False
    """It was already at the time asked for (a retried move, or asked twice): nothing done."""


@dataclass(frozen=True)
class NotMoved:
    reason: str
    """NOT_FOUND, ALREADY_CANCELLED, NOT_YOURS, EVENT_UNREACHABLE or EVENT_GONE."""
    booking: Booking | None = None
    primary_account: str = ""
    """For EVENT_UNREACHABLE: the account of the primary calendar now ("" when none)."""


MoveOutcome = Moved | NotMoved | Conflict | Refused


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
"""A staff member asked to cancel (or move) a booking neither for them nor made by them."""

EVENT_UNREACHABLE = "event_unreachable"
"""The account that holds the booking's event isn't connected any more (the primary was
replaced by another account, or disconnected), or needs reconnecting: nothing can delete
or move the event. `primary_account` names the primary's account now ("" when none)."""
EVENT_GONE = "event_gone"
"""The booking's event was deleted from its calendar (by hand, in Google Calendar)."""

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

    # --- booking one person --------------------------------------------------------------

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
        primary = await self._primary(customer)
        if isinstance(primary, Refused):
            return primary
        return await self._book_person(customer, request, person, primary, now)

    async def _primary(self, customer: Customer) -> CalendarConnection | Refused:
        primary = await self._store.find_connection(customer.id, "primary")
        if primary is None:
            return Refused(NO_PRIMARY)
        if primary.state.is_broken:
            return Refused(PRIMARY_BROKEN)
        return primary

    async def _book_person(
        self,
        customer: Customer,
        request: BookingRequest,
        person: Person,
        primary: CalendarConnection,
        now: datetime,
        read: tuple[list[date], Held] | None = None,
    ) -> BookingOutcome:
        async with self._claim(customer.id, person.user_id) as claimed:
            if not claimed:
                return Refused(BEING_BOOKED)
            return await self._book_claimed(customer, request, person, primary, now, read)

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
            except (SQLAlchemyError, OSError):
                # What was booked stands, and is told; the claim lapses by itself.
                logger.warning("claim on booking %s left to lapse", staff_user_id, exc_info=True)

    async def _held(
        self,
        customer: Customer,
        people: Sequence[Person],
        asked: Interval,
        rules: Rules,
        *,
        store_tokens: bool,
        excluding: int | None = None,
    ) -> tuple[list[date], dict[str, Held]]:
        """The days suggestions are looked for in (the one asked for and the week after),
        and what holds each person's time over them (and a buffer beyond)."""
        first_day = asked.start.astimezone(rules.zone).date()
        days = [first_day + timedelta(days=n) for n in range(SUGGESTION_DAYS)]
        span = day_span(days, rules.zone)
        span = Interval(span.start - rules.buffer, span.end + rules.buffer)
        held = await self._staff.held(
            customer, people, span, store_tokens=store_tokens, excluding=excluding
        )
        return days, held

    async def _book_claimed(
        self,
        customer: Customer,
        request: BookingRequest,
        person: Person,
        primary: CalendarConnection,
        now: datetime,
        read: tuple[list[date], Held] | None = None,
    ) -> BookingOutcome:
        """Book, holding the claim on `person`: no transaction is open across Google's calls.

        `read` is their time as `book anyone` read it a moment before, everyone's at once:
        their calendar isn't read again, only their bookings are (one made since is in the
        database), and the save checks them once more."""
        digest = request_digest(request.request_key)
        asked, rules = request.interval, person.rules
        refreshed: list[Refreshed] = []
        try:
            # Another booking of this request may have finished while this one waited.
            if (earlier := await self._store.find_booking_for_request(digest)) is not None:
                return Booked(earlier, again=True)
            if read is None:
                days, answers = await self._held(
                    customer, [person], asked, rules, store_tokens=False
                )
                held = answers[person.user_id]
                refreshed.append((person.connection, held.refreshed))
            else:
                days, held = read
                held = replace(held, commitments=await self._rebooked(customer, person, days, held))
            if held.problem:
                return Refused(held.problem)
            found = reasons(asked, rules, held.commitments, now=now)
            if found:
                return _conflict(asked, found, rules, held.commitments, days, now)
            assert person.connection is not None  # a person with a problem was refused
            booking = Booking(
                customer_id=customer.id,
                short_id=short_id(digest),
                request_key=digest,
                event_id=new_event_id(),
                staff_user_id=person.user_id,
                staff_email=person.connection.account_email,
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
            saved = await self._save(customer, primary, booking, rules.buffer)
            if isinstance(saved, Booked | Refused):
                return saved
            # Booked by someone whose claim outlived ours: ours is taken back.
            commitments = _with_bookings(held.commitments, saved)
            found = reasons(asked, rules, commitments, now=now)
            return _conflict(asked, found, rules, commitments, days, now)
        finally:
            await self._staff.keep_tokens(*refreshed)

    async def _rebooked(
        self, customer: Customer, person: Person, days: list[date], held: Held
    ) -> Commitments:
        """What holds their time, with their bookings read again from the database."""
        span = day_span(days, person.rules.zone)
        bookings = await self._store.staff_bookings_between(
            customer.id,
            person.user_id,
            span.start - person.rules.buffer,
            span.end + person.rules.buffer,
        )
        return replace(
            held.commitments,
            bookings=[Labelled(Interval(b.starts_at, b.ends_at), b.short_id) for b in bookings],
        )

    async def _save(
        self,
        customer: Customer,
        primary: CalendarConnection,
        booking: Booking,
        buffer: timedelta,
    ) -> Booked | Refused | list[Booking]:
        """Save the booking whose event is made, checking once more in the same short
        transaction: Booked, a refusal, or the bookings in its way (within `buffer` of it).
        Unless this booking is saved, its event is deleted again."""
        clashes: list[Booking] = []
        earlier: Booking | None = None
        try:
            async with self._store.saving_booking(customer.id, booking.staff_user_id) as saving:
                earlier = await saving.find_for_request(booking.request_key)
                if earlier is None:
                    clashes = await saving.overlapping(
                        customer.id,
                        booking.staff_user_id,
                        booking.starts_at - buffer,
                        booking.ends_at + buffer,
                    )
                if earlier is None and not clashes:
                    saving.add(booking)
        except (SQLAlchemyError, OSError):
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

    # --- booking anyone ------------------------------------------------------------------

    async def book_anyone(
        self, customer: Customer, request: AnyoneRequest, *, now: datetime
    ) -> AnyoneOutcome:
        """Book one free person among those asked about, the fairest first (see the module's
        docstring); nobody free: each one's reasons and the nearest times someone is."""
        digest = request_digest(request.request_key)
        if (earlier := await self._store.find_booking_for_request(digest)) is not None:
            return Booked(earlier, again=True)
        if request.start <= now:
            return Refused(PAST)
        people = await self._staff.people(customer, request.user_ids)
        if not people:
            return Refused(NO_STAFF)
        primary = await self._primary(customer)
        if isinstance(primary, Refused):
            return primary
        asked = request.interval
        rules = people[0].rules
        # Everyone's hours booked that week are read while Google answers, not after.
        (days, held), loads = await together(
            self._held(customer, people, asked, rules, store_tokens=True),
            self._loads(customer, [p.user_id for p in people], asked, rules, now),
        )
        not_free: dict[str, NotFree] = {}
        for person in people:
            commitments = held[person.user_id].commitments
            found = reasons(asked, person.rules, commitments, now=now)
            if found or commitments.busy is None:
                not_free[person.user_id] = NotFree(
                    person.user_id, found, person.rules, commitments.unknown
                )
        order = fair_order(
            [
                Candidate(p.user_id, True, loads[p.user_id].booked, loads[p.user_id].last_start)
                for p in people
                if p.user_id not in not_free
            ]
        )
        by_id = {p.user_id: p for p in people}
        # The nearest slots of those found not free when booked: what was read before is
        # out of date for them.
        rechecked: dict[str, list[Interval]] = {}
        for candidate in order:
            person = by_id[candidate.user_id]
            outcome = await self._book_person(
                customer,
                request.of(person.user_id),
                person,
                primary,
                now,
                read=(days, held[person.user_id]),
            )
            if isinstance(outcome, Booked):
                if outcome.again:
                    return outcome
                others = [
                    loads[c.user_id]
                    for c in order
                    if c.user_id != person.user_id and c.user_id not in not_free
                ]
                return Chosen(outcome.booking, loads[person.user_id], others, list(not_free))
            if isinstance(outcome, Conflict):
                not_free[person.user_id] = NotFree(person.user_id, outcome.reasons, outcome.rules)
                rechecked[person.user_id] = outcome.slots
            elif outcome.reason not in _NOT_THEIRS:
                # Someone else is booking them, or their calendar can't be read now.
                not_free[person.user_id] = NotFree(person.user_id, [], person.rules, outcome.reason)
                rechecked[person.user_id] = []
            else:
                return outcome  # Google, the primary calendar, the database: no one would book
        slots = _anyone_slots(asked, people, held, days, now, rechecked)
        return NobodyFree(asked, [not_free[p.user_id] for p in people], slots)

    async def _loads(
        self,
        customer: Customer,
        user_ids: list[str],
        asked: Interval,
        rules: Rules,
        now: datetime,
    ) -> dict[str, Load]:
        """Each one's booked time in the local Monday-to-Sunday week of the time asked for,
        and when they were last booked."""
        if not user_ids:
            return {}
        monday, next_monday = week_of(asked.start.astimezone(rules.zone).date())
        week = day_span([monday, next_monday - timedelta(days=1)], rules.zone)
        found = await self._store.booking_loads(customer.id, user_ids, week.start, week.end, now)
        return {u: Load(u, found[u].booked, found[u].last_start) for u in user_ids}

    # --- moving --------------------------------------------------------------------------

    async def move(
        self,
        customer: Customer,
        booking_id: str,
        start: datetime,
        *,
        by: str,
        now: datetime,
        may_move_others: bool,
    ) -> MoveOutcome:
        """Move the booking to `start`, keeping its length (see the module's docstring)."""
        booking = await self._store.find_booking(customer.id, booking_id)
        refusal = not_movable(booking, by, may_move_others=may_move_others)
        if refusal is not None or booking is None:
            return refusal or NotMoved(NOT_FOUND)
        before = Interval(booking.starts_at, booking.ends_at)
        asked = _span_of(start, before.duration)
        if asked == before:
            return Moved(booking, before, again=True)
        if asked.start <= now:
            return Refused(PAST)
        primary = await self._store.find_connection(customer.id, "primary")
        if primary is None or primary.state.is_broken or not holds_event(primary, booking):
            now_primary = primary.account_email if primary is not None else ""
            return NotMoved(EVENT_UNREACHABLE, booking, primary_account=now_primary)
        [person] = await self._staff.people(customer, [booking.staff_user_id])
        if person.problem:
            return Refused(person.problem)
        async with self._claim(customer.id, person.user_id) as claimed:
            if not claimed:
                return Refused(BEING_BOOKED)
            return await self._move_claimed(customer, booking, asked, person, primary, now)

    async def _move_claimed(
        self,
        customer: Customer,
        booking: Booking,
        asked: Interval,
        person: Person,
        primary: CalendarConnection,
        now: datetime,
    ) -> MoveOutcome:
        """Move, holding the claim on `person`: no transaction is open across Google's calls."""
        rules = person.rules
        refreshed: list[Refreshed] = []
        try:
            # A move of it (this same one, retried) may have finished while this one waited.
            current = await self._store.find_booking(customer.id, booking.short_id)
            if current is None or current.status is BookingStatus.CANCELLED:
                return NotMoved(ALREADY_CANCELLED, current or booking)
            before = Interval(current.starts_at, current.ends_at)
            if before == asked:
                return Moved(current, before, again=True)
            days, answers = await self._held(
                customer, [person], asked, rules, store_tokens=False, excluding=current.id
            )
            held = answers[person.user_id]
            refreshed.append((person.connection, held.refreshed))
            if held.problem:
                return Refused(held.problem)
            found = reasons(asked, rules, held.commitments, now=now)
            if found:
                conflict = _conflict(asked, found, rules, held.commitments, days, now)
                return replace(conflict, moving=current)
            moved = await self._move_event(customer, primary, current, asked)
            if not isinstance(moved, TokenSet | None):
                return moved
            refreshed.append((primary, moved))
            saved = await self._save_move(customer, primary, current, before, asked, rules.buffer)
            if not isinstance(saved, list):
                return saved
            commitments = _with_bookings(held.commitments, saved)
            found = reasons(asked, rules, commitments, now=now)
            return replace(_conflict(asked, found, rules, commitments, days, now), moving=current)
        finally:
            await self._staff.keep_tokens(*refreshed)

    async def _move_event(
        self, customer: Customer, primary: CalendarConnection, booking: Booking, to: Interval
    ) -> TokenSet | NotMoved | Refused | None:
        """Move the booking's event at Google: refreshed tokens (None: none), or why not.
        A patch Google didn't answer is patched back (its answer may be all that was lost)."""
        try:
            return await self._patch_event(customer, primary, booking, to.start, to.end)
        except EventGone:
            return NotMoved(EVENT_GONE, booking)
        except (NeedsReconnect, MissingPermission):
            return NotMoved(EVENT_UNREACHABLE, booking, primary_account=primary.account_email)
        except CalendarError as err:
            logger.info("events.patch of booking %s failed: %s", booking.short_id, err)
            await self._put_back(customer, primary, booking)
            return Refused(GOOGLE_DOWN)

    async def _put_back(
        self, customer: Customer, primary: CalendarConnection, booking: Booking
    ) -> None:
        """Patch the booking's event back to the booking's times (stored): after a move that
        failed, or whose row couldn't be saved. Patching it where it is changes nothing."""
        try:
            fresh = await self._patch_event(
                customer, primary, booking, booking.starts_at, booking.ends_at
            )
        except CalendarError:
            logger.error(
                "booking %s: its event could not be put back at its time; the booking says "
                "%s, check the event by hand",
                booking.short_id,
                booking.starts_at.isoformat(),
                exc_info=True,
            )
            return
        await self._staff.keep_tokens((primary, fresh))

    async def _patch_event(
        self,
        customer: Customer,
        primary: CalendarConnection,
        booking: Booking,
        start: datetime,
        end: datetime,
    ) -> TokenSet | None:
        """Give the booking's event these times at Google (the same event, its attendee
        told): refreshed tokens (None: none); Google's errors are raised."""
        tokens = self._cipher.open_tokens(primary.token_ciphertext)
        fresh = await self._calendar.move_event(
            tokens,
            booking.event_calendar,
            booking.event_id,
            start,
            end,
            time_zone=customer.timezone,
        )
        return fresh if fresh != tokens else None

    async def _save_move(
        self,
        customer: Customer,
        primary: CalendarConnection,
        booking: Booking,
        before: Interval,
        to: Interval,
        buffer: timedelta,
    ) -> Moved | NotMoved | Refused | list[Booking]:
        """Give the row its new times, checking once more in the same short transaction that
        it is still where it was and nothing else is within `buffer` of the new time: Moved,
        a refusal, or the bookings in its way. Unless the row is saved, its event is put
        back."""
        clashes: list[Booking] = []
        row: Booking | None = None
        where: tuple[datetime, datetime] | None = None
        try:
            async with self._store.saving_booking(customer.id, booking.staff_user_id) as saving:
                row = await saving.find_for_request(booking.request_key)
                where = (row.starts_at, row.ends_at) if row is not None else None
                if (
                    row is not None
                    and row.status is BookingStatus.BOOKED
                    and where == (before.start, before.end)
                ):
                    clashes = await saving.overlapping(
                        customer.id,
                        booking.staff_user_id,
                        to.start - buffer,
                        to.end + buffer,
                        excluding=booking.id,
                    )
                    if not clashes:
                        await saving.move(booking.id, to.start, to.end)
        except (SQLAlchemyError, OSError):
            logger.exception("the move of %s could not be saved: putting it back", booking.short_id)
            await self._put_back(customer, primary, booking)
            return Refused(NOT_SAVED)
        if row is None or row.status is BookingStatus.CANCELLED:
            # Cancelled meanwhile: its event went with it.
            return NotMoved(ALREADY_CANCELLED, booking)
        if where != (before.start, before.end):
            # Moved meanwhile by someone whose claim outlived ours: the row says where.
            await self._put_back(customer, primary, row)
            return Refused(BEING_BOOKED)
        if clashes:
            logger.warning("the move of %s was beaten to its slot", booking.short_id)
            await self._put_back(customer, primary, booking)
            return clashes
        booking.starts_at, booking.ends_at = to.start, to.end
        logger.info("moved %s for customer %s", booking.short_id, customer.id)
        return Moved(booking, before)

    # --- cancelling ----------------------------------------------------------------------

    async def cancel(
        self,
        customer: Customer,
        booking_id: str,
        *,
        by: str,
        now: datetime,
        may_cancel_others: bool,
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
        if not may_change(booking, by, may_change_others=may_cancel_others):
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


_NOT_THEIRS = frozenset({PAST, NO_PRIMARY, PRIMARY_BROKEN, GOOGLE_DOWN, NOT_SAVED})
"""Refusals of a `book anyone` attempt that would refuse anyone else too."""


def may_change(booking: Booking, by: str, *, may_change_others: bool) -> bool:
    """Whether `by` may move or cancel the booking: their own (booked for them or by them),
    or anyone's when they may change others' (the owner and onboarders)."""
    return may_change_others or by in (booking.staff_user_id, booking.booked_by)


def not_movable(booking: Booking | None, by: str, *, may_move_others: bool) -> NotMoved | None:
    """Why `by` can't move this booking whatever the time (None: they may try)."""
    if booking is None:
        return NotMoved(NOT_FOUND)
    if booking.status is BookingStatus.CANCELLED:
        return NotMoved(ALREADY_CANCELLED, booking)
    if not may_change(booking, by, may_change_others=may_move_others):
        return NotMoved(NOT_YOURS, booking)
    return None


def holds_event(connection: CalendarConnection, booking: Booking) -> bool:
    """Whether this connection's account is the one whose calendar holds the booking's event
    (a booking of unknown account is held by none: a guess could delete nothing and say so)."""
    return (
        bool(booking.event_account)
        and connection.account_email.casefold() == booking.event_account.casefold()
        and booking.event_calendar == PRIMARY_CALENDAR
    )


def next_working_start(rules: Rules, now: datetime, duration: timedelta) -> datetime:
    """Where a booking form starts: the first slot of `duration` within working hours, on
    the customer's step and after the notice. On a Sunday evening that is Monday's first
    hour; at 10:07 on a working day with no notice, 10:15 on a 15-minute step. Within a
    fortnight, or (hours too short for `duration`) the next working day's start."""
    today = now.astimezone(rules.zone).date()
    days = [today + timedelta(days=n) for n in range(14)]
    free = free_windows(
        days=days,
        zone=rules.zone,
        hours=rules.hours,
        busy=[],
        now=now,
        min_notice=rules.notice,
    )
    windows = [w for day in days for w in free[day]]
    slots = fitting_slots(windows, duration, zone=rules.zone, step=rules.step, limit=1)
    if slots:
        return slots[0].start
    later = next((w for w in windows if w.start > now), None)
    return later.start if later is not None else now


def _with_bookings(commitments: Commitments, bookings: Sequence[Booking]) -> Commitments:
    """What holds their time, with these bookings (found at the last check) too."""
    known = {b.label for b in commitments.bookings}
    more = [
        Labelled(Interval(b.starts_at, b.ends_at), b.short_id)
        for b in bookings
        if b.short_id not in known
    ]
    return replace(commitments, bookings=[*commitments.bookings, *more])


def _conflict(
    asked: Interval,
    found: list[Reason],
    rules: Rules,
    held: Commitments,
    days: list[date],
    now: datetime,
) -> Conflict:
    """The conflict, with the nearest free slots around the time asked for."""
    free = free_time(days, rules, held, now=now) or {}
    slots = nearest_slots(
        [w for windows in free.values() for w in windows],
        asked.duration,
        asked.start,
        SUGGESTIONS,
        zone=rules.zone,
        step=rules.step,
    )
    return Conflict(asked, found, rules, slots)


def _anyone_slots(
    asked: Interval,
    people: Sequence[Person],
    held: dict[str, Held],
    days: list[date],
    now: datetime,
    rechecked: dict[str, list[Interval]],
) -> list[Interval]:
    """The nearest times when at least one of them is free for the whole time: each one's
    nearest slots (as read before booking, or, for those found not free when booked, as
    found then), the nearest of them all."""
    slots: set[Interval] = set()
    for person in people:
        if person.user_id in rechecked:
            slots.update(rechecked[person.user_id])
            continue
        free = free_time(days, person.rules, held[person.user_id].commitments, now=now)
        if free is not None:
            windows = [w for day_windows in free.values() for w in day_windows]
            slots.update(
                nearest_slots(
                    windows,
                    asked.duration,
                    asked.start,
                    SUGGESTIONS,
                    zone=person.rules.zone,
                    step=person.rules.step,
                )
            )
    nearest = sorted(slots, key=lambda s: (abs(s.start - asked.start), s.start))
    return sorted(nearest[:SUGGESTIONS])
