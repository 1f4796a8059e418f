"""A customer's staff and their time: how each is scheduled, and what holds their time.

How: `rules_of` (their working hours, or the business's, with its buffer, notice and slot
step). What holds their time (`Staff.held`): their own calendar's busy time (free/busy,
read live with their own connection's token), the bookings the bot made for them, and
their time off. A calendar that could not be read is *unknown*, never free: whoever
asked is told why (not connected, needs reconnecting, Google not answering), and nothing
is offered in its place. The engine (`bot.availability`) turns these into free time and
reasons.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy.exc import SQLAlchemyError

from bot import when
from bot.availability import (
    Commitments,
    Interval,
    Labelled,
    Reason,
    Rules,
    TimeOff,
    WorkingHours,
    free_time,
    reasons,
    subtract,
)
from bot.calendar.port import (
    READ_DEADLINE,
    CalendarError,
    CalendarProvider,
    MissingPermission,
    NeedsReconnect,
    TokenSet,
)
from bot.together import beside, paced, together
from bot.tokens import TokenCipher
from storage.models import (
    Booking,
    CalendarConnection,
    ConnectionKind,
    ConnectionState,
    Customer,
    Member,
)
from storage.models import TimeOff as TimeOffRow
from storage.repositories import RefreshedTokens, Roster, Store

logger = logging.getLogger(__name__)

READ_BATCH = 25
"""Calendars whose reads are started before the loop is let send them (`paced`)."""


# Why a staff member's time is unknown.
NOT_CONNECTED = "not_connected"
TOO_SLOW = "too_slow"
"""Google didn't answer for this calendar within `READ_DEADLINE`: unknown, never free."""
ONBOARDER = "onboarder"
"""A member's stored role (`bot.people.Role.ONBOARDER`): never counted as staff."""
NEEDS_RECONNECT = "needs_reconnect"
MISSING_PERMISSION = "missing_permission"
UNREADABLE = "unreadable"
"""Google did not answer (or answered with an error for this calendar): try again later."""


Refreshed = tuple[CalendarConnection | None, TokenSet | None]
"""A connection and the tokens a call refreshed for it (None: none), to be stored
(`Staff.keep_tokens`)."""


def working_hours(customer: Customer, member: Member | None = None) -> WorkingHours:
    """The member's own hours when they have set them, else the customer's."""
    if member is not None and member.work_start and member.work_end and member.work_days:
        return _hours(member.work_start, member.work_end, member.work_days)
    return _hours(customer.work_start, customer.work_end, customer.work_days)


def rules_of(customer: Customer, member: Member | None = None) -> Rules:
    """How the customer schedules this member (or anyone, with none): their working hours,
    and the customer's buffer, notice and step."""
    return Rules(
        zone=ZoneInfo(customer.timezone),
        hours=working_hours(customer, member),
        buffer=timedelta(minutes=customer.buffer_minutes or 0),
        notice=timedelta(minutes=customer.notice_minutes or 0),
        step=timedelta(minutes=customer.step_minutes or 15),
    )


def _hours(start: str, end: str, days: str) -> WorkingHours:
    return WorkingHours(
        time.fromisoformat(start), time.fromisoformat(end), frozenset(int(d) for d in days)
    )


def stored_hours(start: time, end: time, weekdays: Iterable[int]) -> tuple[str, str, str]:
    """Working hours as the database keeps them: `HH:MM`, `HH:MM`, weekday digits."""
    return f"{start:%H:%M}", f"{end:%H:%M}", "".join(str(d) for d in sorted(weekdays))


def local_today(customer: Customer, now: datetime) -> date:
    return now.astimezone(ZoneInfo(customer.timezone)).date()


def day_span(days: Sequence[date], zone: ZoneInfo) -> Interval:
    """From the first day's local midnight to the midnight after the last day."""
    start = datetime.combine(days[0], time(0), zone)
    end = datetime.combine(days[-1] + timedelta(days=1), time(0), zone)
    return Interval(start, end)


@dataclass(frozen=True)
class Person:
    """A staff member: who, by what name, how they are scheduled, and their calendar
    connection."""

    user_id: str
    name: str
    rules: Rules
    connection: CalendarConnection | None

    @property
    def hours(self) -> WorkingHours:
        return self.rules.hours

    @property
    def problem(self) -> str:
        """Why their time can't be read without even asking Google; "" when it can be."""
        if self.connection is None:
            return NOT_CONNECTED
        if self.connection.state is ConnectionState.NEEDS_RECONNECT:
            return NEEDS_RECONNECT
        if self.connection.state is ConnectionState.MISSING_PERMISSION:
            return MISSING_PERMISSION
        return ""


@dataclass(frozen=True)
class Busy:
    """One person's own calendar's busy time over a span, as read, or why it is unknown
    (`intervals` None)."""

    intervals: list[Interval] | None
    problem: str = ""
    refreshed: TokenSet | None = None
    """Tokens the read refreshed, to be stored (`Staff.keep_tokens`)."""


@dataclass(frozen=True)
class Held:
    """What holds one person's time over a span (`Staff.held`), and tokens the read
    refreshed, to be stored (`Staff.keep_tokens`)."""

    commitments: Commitments
    refreshed: TokenSet | None = None

    @property
    def problem(self) -> str:
        """Why their own calendar is unknown; "" when it was read."""
        return self.commitments.unknown


def time_off_of(rows: Iterable[TimeOffRow], user_id: str) -> list[TimeOff]:
    """One person's stored time off as the engine takes it."""
    return [
        TimeOff(row.first_day, row.last_day, row.reason)
        for row in rows
        if row.slack_user_id == user_id
    ]


@dataclass(frozen=True)
class PersonAvailability:
    person: Person
    free: dict[date, list[Interval]] | None
    """Each day's free windows; None when their calendar could not be read."""
    problem: str = ""
    time_off: tuple[TimeOff, ...] = ()
    """Their time off that touches the days asked about."""

    def away_on(self, day: date) -> TimeOff | None:
        """Their time off that covers `day`, if any."""
        return next((off for off in self.time_off if off.first <= day <= off.last), None)


@dataclass(frozen=True)
class AvailabilityReport:
    zone: ZoneInfo
    days: tuple[date, ...]
    duration: timedelta | None
    people: list[PersonAvailability]
    read_at: datetime
    asked_for_everyone: bool
    not_connected: tuple[str, ...] = ()
    """Asked for everyone: the channel's people of the customer (no onboarders) with no
    calendar of their own connected, to be named as not connected yet."""
    refreshed: tuple[Refreshed, ...] = ()
    """Tokens the reads refreshed, left to the caller to store (`store_tokens=False`):
    `Staff.keep_tokens` once the answer is out."""

    def named(self, names: dict[str, str]) -> AvailabilityReport:
        """The same report, with the names given for people who had none."""
        people = [
            replace(p, person=replace(p.person, name=names.get(p.person.user_id, "")))
            if not p.person.name
            else p
            for p in self.people
        ]
        return replace(self, people=people)


def _is_onboarder(member: Member | None) -> bool:
    return member is not None and member.role == ONBOARDER


def not_connected_among(
    channel_people: Iterable[str], connected: Iterable[Person], members: Iterable[Member]
) -> tuple[str, ...]:
    """The channel's people of the customer (`People.staff_in`) with no calendar of their
    own connected (not among `connected`), onboarders left out; in channel order, once."""
    have = {person.user_id for person in connected}
    onboarders = {m.slack_user_id for m in members if _is_onboarder(m)}
    return tuple(dict.fromkeys(p for p in channel_people if p not in have and p not in onboarders))


def _people(customer: Customer, user_ids: Sequence[str], roster: Roster) -> list[Person]:
    """The people asked for, in order; with none asked for, every connected staff member
    (an onboarder who connected a calendar of their own is not staff: left out)."""
    by_user = {m.slack_user_id: m for m in roster.members}
    staff = {
        c.owner_key: c
        for c in roster.connections
        if c.kind is ConnectionKind.STAFF
        and (c.owner_key in user_ids or not _is_onboarder(by_user.get(c.owner_key)))
    }
    return [
        Person(
            user_id=user_id,
            name=by_user[user_id].display_name if user_id in by_user else "",
            rules=rules_of(customer, by_user.get(user_id)),
            connection=staff.get(user_id),
        )
        for user_id in list(user_ids) or list(staff)
    ]


def week_works(
    customer: Customer, members: Sequence[Member], user_ids: Sequence[str], now: datetime
) -> Callable[[date], bool]:
    """Whether working time is still ahead on a day, for the people asked about (with
    none, the business and everyone who keeps their own hours): what `this week` means."""
    zone = ZoneInfo(customer.timezone)
    by_user = {m.slack_user_id: m for m in members}
    hours = (
        [working_hours(customer, by_user.get(u)) for u in user_ids]
        if user_ids
        else [
            working_hours(customer),
            *(working_hours(customer, m) for m in members if not _is_onboarder(m)),
        ]
    )

    def works(day: date) -> bool:
        return any(w.end > now for h in set(hours) for w in h.windows(day, zone))

    return works


class Staff:
    def __init__(
        self,
        *,
        store: Store,
        calendar: CalendarProvider,
        cipher: TokenCipher,
    ) -> None:
        self._store = store
        self._calendar = calendar
        self._cipher = cipher

    async def roster(self, customer: Customer, days: Sequence[date]) -> Roster:
        """The customer's members, connections, and bookings on `days`, read at once."""
        return (await self.rosters([(customer, days)]))[customer.id]

    async def rosters(self, wanted: Sequence[tuple[Customer, Sequence[date]]]) -> dict[int, Roster]:
        """`roster` of several customers (by id), in one session."""
        spans = {c.id: day_span(days, ZoneInfo(c.timezone)) for c, days in wanted}
        return await self._store.rosters({i: (s.start, s.end) for i, s in spans.items()})

    async def days_and_roster(
        self, customer: Customer, words: Sequence[str], *, user_ids: Sequence[str], now: datetime
    ) -> tuple[tuple[date, ...], Roster]:
        """The days `[DAY | this week | next week]` names for the people asked about, in the
        customer's timezone at `now` (`when.WhenError` when they name none), and `roster`
        for them, read once. A week's days depend on working hours: its roster is read over
        the days the words name if every day is worked, and cut to its working days; read
        again only if those fall outside (nobody works the rest of this week)."""
        today = local_today(customer, now)
        widest = when.parse_range(words, today=today)
        roster = await self.roster(customer, widest)
        if len(words) < 2:
            return widest, roster
        days = when.parse_range(
            words, today=today, works=week_works(customer, roster.members, user_ids, now)
        )
        if not set(days) <= set(widest):
            return days, await self.roster(customer, days)
        span = day_span(days, ZoneInfo(customer.timezone))
        return days, roster.within((span.start, span.end))

    async def _bookings_and_time_off(
        self, customer: Customer, span: Interval
    ) -> tuple[list[Booking], list[TimeOffRow]]:
        """The customer's bookings over `span`, and their time off on its local days: two
        short reads at once, each in its own session (in a row, the second waited on the
        first's round trips)."""
        zone = ZoneInfo(customer.timezone)
        return await together(
            self._store.bookings_between(customer.id, span.start, span.end),
            self._store.time_off_between(
                customer.id, span.start.astimezone(zone).date(), span.end.astimezone(zone).date()
            ),
        )

    async def people(self, customer: Customer, user_ids: Sequence[str] = ()) -> list[Person]:
        """The people asked for, in order; with none asked for, every connected staff member."""
        return _people(customer, user_ids, await self._store.roster(customer.id))

    async def held(
        self,
        customer: Customer,
        people: Sequence[Person],
        span: Interval,
        *,
        store_tokens: bool = True,
        bookings: Sequence[Booking] | None = None,
        time_off: Sequence[TimeOffRow] | None = None,
        excluding: int | None = None,
    ) -> dict[str, Held]:
        """What holds each person's time over `span`: their own calendar, read live; the
        bookings made for them; their time off. Bookings and time off are read now unless
        the caller has just read them over `span`.

        `excluding` is a booking being moved: it is left out, and so is its span on their
        own calendar, where its invitation sits. Refreshed tokens are stored, unless
        `store_tokens` is False: a caller holding a booking claim stores them after freeing
        it, one answering a person after the answer is out (`Held.refreshed`, `keep_tokens`).
        """
        if bookings is None or time_off is None:
            read_bookings, read_time_off = await self._bookings_and_time_off(customer, span)
            bookings = read_bookings if bookings is None else bookings
            time_off = read_time_off if time_off is None else time_off
        moving = next((b for b in bookings if b.id == excluding), None)
        labelled: dict[str, list[Labelled]] = {}
        for booking in bookings:
            if booking is not moving:
                labelled.setdefault(booking.staff_user_id, []).append(
                    Labelled(Interval(booking.starts_at, booking.ends_at), booking.short_id)
                )
        answers = await paced((self._read(person, span) for person in people), batch=READ_BATCH)
        if store_tokens:
            await self._save_tokens(
                [(p.connection, a.refreshed) for p, a in zip(people, answers, strict=True)]
            )
        held = {}
        for person, answer in zip(people, answers, strict=True):
            busy = answer.intervals
            if busy is not None and moving is not None and moving.staff_user_id == person.user_id:
                busy = subtract(busy, [Interval(moving.starts_at, moving.ends_at)])
            commitments = Commitments(
                busy=busy,
                bookings=labelled.get(person.user_id, []),
                time_off=time_off_of(time_off, person.user_id),
                unknown=answer.problem,
            )
            held[person.user_id] = Held(commitments, answer.refreshed)
        return held

    async def _read(self, person: Person, span: Interval) -> Busy:
        if person.problem or person.connection is None:
            return Busy(None, person.problem)
        connection = person.connection
        tokens = self._cipher.open_tokens(connection.token_ciphertext)
        # Every calendar of a question is asked at once: the adapter's own limits (per
        # account, per instance) are what holds a call back.
        try:
            async with asyncio.timeout(READ_DEADLINE):
                found, fresh = await self._calendar.free_busy(
                    tokens, ["primary"], span.start, span.end
                )
        except TimeoutError:
            logger.info("free/busy of connection %s: no answer in time", connection.id)
            return Busy(None, TOO_SLOW)
        except NeedsReconnect:
            return Busy(None, NEEDS_RECONNECT)
        except MissingPermission:
            return Busy(None, MISSING_PERMISSION)
        except CalendarError as err:
            logger.info("free/busy of connection %s failed: %s", connection.id, err)
            return Busy(None, UNREADABLE)
        intervals = found.get("primary")
        return Busy(
            intervals,
            "" if intervals is not None else UNREADABLE,
            refreshed=fresh if fresh != tokens else None,
        )

    async def keep_tokens(self, *refreshed: Refreshed) -> None:
        """Store tokens calls refreshed, so the next calls needn't refresh them again. They
        are only that: if the database can't take them now, what was done stands, and it
        is logged, never told (the next call refreshes them again)."""
        try:
            await self._save_tokens(refreshed)
        except (SQLAlchemyError, OSError):
            logger.warning("refreshed tokens not kept: the database failed", exc_info=True)

    async def _save_tokens(self, refreshed: Iterable[Refreshed]) -> None:
        """Store tokens calls refreshed (all in one statement); a database failure is raised."""
        await self._store.save_refreshed_tokens(
            [
                RefreshedTokens(
                    connection.id, connection.connected_at, self._cipher.seal_tokens(tokens)
                )
                for connection, tokens in refreshed
                if connection is not None and tokens is not None
            ]
        )

    async def why(
        self,
        customer: Customer,
        user_id: str,
        start: datetime,
        duration: timedelta | None,
        *,
        now: datetime,
    ) -> tuple[Rules, Interval, list[Reason], Refreshed]:
        """Every reason the time from `start` (one slot step long, without a duration) is
        not free for this person, read live; how they are scheduled; the time asked; and
        the tokens the read refreshed, for the caller to store once the answer is out
        (`keep_tokens`)."""
        roster = await self._store.roster(customer.id)
        [person] = _people(customer, [user_id], roster)
        rules = person.rules
        start = start.astimezone(UTC)
        asked = Interval(start, start + (duration or rules.step))
        # Whole local days around it, so that bookings and busy time within a buffer of
        # it are read too.
        zone = rules.zone
        first = (asked.start - rules.buffer).astimezone(zone).date()
        last = (asked.end + rules.buffer).astimezone(zone).date()
        days = [first + timedelta(days=n) for n in range((last - first).days + 1)]
        held = (await self.held(customer, [person], day_span(days, zone), store_tokens=False))[
            user_id
        ]
        found = reasons(asked, rules, held.commitments, now=now)
        return rules, asked, found, (person.connection, held.refreshed)

    async def availability(
        self,
        customer: Customer,
        *,
        user_ids: Sequence[str],
        days: Sequence[date],
        duration: timedelta | None,
        now: datetime,
        roster: Roster | None = None,
        channel_people: Awaitable[Sequence[str] | None] | None = None,
        store_tokens: bool = True,
    ) -> AvailabilityReport:
        """Free time of the people asked for (or every connected staff member) on `days`.

        With a duration, only the windows a booking of that length fits in are kept.
        `roster` is `Staff.roster` for these days, when the caller has read it already.
        `channel_people` lists the customer's people in the channel (`People.staff_in`),
        run while the calendars are read: asked for everyone, those with no calendar
        connected are the report's `not_connected`. Refreshed tokens are stored, unless
        `store_tokens` is False: then they are the report's `refreshed`, for the caller to
        store once the answer is out.
        """
        (roster, people, held), in_channel = await beside(
            self._held_on(customer, user_ids, days, roster, store_tokens=store_tokens),
            channel_people,
        )
        report = []
        for person in people:
            commitments = held[person.user_id].commitments
            away = tuple(
                off for off in commitments.time_off if off.first <= days[-1] and off.last >= days[0]
            )
            free = free_time(days, person.rules, commitments, now=now)
            if free is None:
                report.append(PersonAvailability(person, None, commitments.unknown, away))
                continue
            if duration is not None:
                free = {
                    day: [w for w in windows if w.duration >= duration]
                    for day, windows in free.items()
                }
            report.append(PersonAvailability(person, free, time_off=away))
        return AvailabilityReport(
            zone=ZoneInfo(customer.timezone),
            days=tuple(days),
            duration=duration,
            people=report,
            read_at=now,
            asked_for_everyone=not user_ids,
            not_connected=(
                () if user_ids else not_connected_among(in_channel or (), people, roster.members)
            ),
            refreshed=(
                ()
                if store_tokens
                else tuple(
                    (p.connection, tokens)
                    for p in people
                    if (tokens := held[p.user_id].refreshed) is not None
                )
            ),
        )

    async def _held_on(
        self,
        customer: Customer,
        user_ids: Sequence[str],
        days: Sequence[date],
        roster: Roster | None,
        *,
        store_tokens: bool,
    ) -> tuple[Roster, list[Person], dict[str, Held]]:
        """`availability`'s reads: the roster (unless given), the people asked for, and what
        holds their time on `days`."""
        if roster is None:
            roster = await self.roster(customer, days)
        people = _people(customer, user_ids, roster)
        if not people:
            return roster, people, {}
        held = await self.held(
            customer,
            people,
            day_span(days, ZoneInfo(customer.timezone)),
            store_tokens=store_tokens,
            bookings=roster.bookings,
            time_off=roster.time_off,
        )
        return roster, people, held
