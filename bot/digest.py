"""The daily availability digest: which channels are due, compose, claim, send.

Schedule: every working day of the customer (their working hours' days), at
`digest_time` on their wall clock. "Due" compares wall-clock times, which is what
people mean across DST: a digest at 02:30 on the night the clocks skip from 2:00 to
3:00 goes at 3:00; on the night they repeat 1:00-2:00, 01:30 goes the first time.
A digest missed while no instance ran is sent as soon as one runs, the same day;
the next day has its own.

Exactly once: each (customer, local date) is claimed in the database before it is
sent (one row per day, unique), whichever instance gets there first. A claim lapses
after `CLAIM` if its sender died, so the digest is sent late rather than never; one
that was sent is never sent again. A digest being sent is shielded from cancellation
and an instance that stops waits for those (`drain`), so stopping one in the middle of
a run neither loses nor doubles a digest: the ones it had not begun are released at
once (claimed with their group, below) and claimed by the next run. Only a kill -9
between Slack's answer and the database write (`MARK_WAIT` and a write: tens of
milliseconds) could double one; a kill -9 otherwise leaves the claims of the digests it
had claimed and not sent (at most `READ_AHEAD` + those under way) to lapse, sent late.

A run reads the calendars of `CONCURRENCY` digests at a time, and has `UNDER_WAY` times
as many under way: while some read, the others wait on Slack (the channel's people, the
post), so Google is kept busy rather than waiting for each digest's Slack round trips.

A run claims its digests and reads what they need from the database (the customer's
people, connections, bookings of the day, recent booking lengths, whether its channel
can be posted in) for `READ_AHEAD` customers at a time as it reaches them (`ReadAhead`):
a few statements for many digests instead of a few sessions for each. The digests it
posts are recorded as sent together too (`SentMarks`): each waits up to `MARK_WAIT` for
others and for the write in flight, then goes in the next write with all that waited,
its place among the digests under way already given to the next digest.

The channel's members and whether it is shared, which a digest needs to name the
people with no calendar connected, are kept on the customer's row from one digest to the
next (`bot.people.kept_facts`, `CHANNEL_KEPT`), and read from Slack again once an event
says they changed: a digest then asks Slack only to post.

A channel that can't be posted in (not in it, archived, gone, app uninstalled) is
paused by `Poster` and left out until it is back; `status` says why.
"""

from __future__ import annotations

import asyncio
import collections
import functools
import logging
import statistics
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, replace
from datetime import date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from bot.customers import clock_of
from bot.messages.digest import DigestView, build_digest
from bot.people import People, kept_facts
from bot.slack import Poster
from bot.staff import (
    AvailabilityReport,
    Staff,
    local_today,
    not_connected_among,
    working_hours,
)
from bot.together import beside
from storage.models import Customer, utcnow
from storage.repositories import ChannelFacts, DigestStore, Roster
from storage.repositories.digests import SentDigest

logger = logging.getLogger(__name__)

CLAIM = timedelta(minutes=10)
"""How long a sender holds a day's digest; a crashed sender's claim lapses after it."""
CONCURRENCY = 16
"""Digests reading their staff's calendars at once, each all of them at once (within the
calendar adapter's limit for the instance): what a run asks of Google at a time."""
UNDER_WAY = 4
"""Digests under way (begun, not yet posted) for each one reading calendars. A digest is
at Google for one round trip of about three in a row (Slack's lookups beside the reads,
then its post), so four keep the readers busy while the others wait on Slack."""
USUAL_SHOOT = timedelta(minutes=90)
"""A shoot's length when the customer has no bookings yet to learn it from."""
READ_AHEAD = 64
"""Customers whose digests a run claims and reads the facts of together."""
DRAIN_SECONDS = 30.0
"""How long a stopping instance waits for the digests it is sending."""
MARK_WAIT = 0.05
"""Seconds a posted digest waits for others to be recorded as sent in the same write."""
PART_PAUSE = 1.0
"""Seconds between the parts of one long digest: Slack takes about one message a second
per channel (https://api.slack.com/methods/chat.postMessage#rate_limiting)."""


def _set_on_done(event: asyncio.Event, _done: asyncio.Future[Any]) -> None:
    event.set()


def due_date(customer: Customer, now: datetime) -> date | None:
    """The local date whose digest is due at `now`, or None (digest off, a day off, too early)."""
    if not customer.digest_enabled:
        return None
    local = now.astimezone(ZoneInfo(customer.timezone))
    if local.weekday() not in working_hours(customer).weekdays:
        return None
    if local.time().replace(fold=0) < time.fromisoformat(customer.digest_time):
        return None
    return local.date()


def usual_length(lengths: list[timedelta]) -> timedelta:
    """The median of the customer's recent booking lengths, or `USUAL_SHOOT`."""
    return statistics.median_low(lengths) if lengths else USUAL_SHOOT


@dataclass(frozen=True)
class RunResult:
    sent: int
    failed: int


@dataclass(frozen=True)
class Stored:
    """What a digest reads from the database."""

    roster: Roster
    """The customer's members, calendar connections and bookings of the day."""
    lengths: list[timedelta]
    """How long their recent bookings were."""
    posting_problem: str = ""
    """Why its channel can't be posted in, as read with the rest ("" when it can)."""
    channel: ChannelFacts | None = None
    """The channel's members and sharing as kept from an earlier digest, if still trusted
    (`kept_facts`); None: Slack is asked."""


Due = tuple[Customer, date]


class ReadAhead:
    """The stored facts of a run's digests, read for `size` customers at once, in the
    run's order: the first digest of a group to need its facts starts the group's read,
    the others share it. A read may leave digests out (another instance has them). A group
    is let go once each of its digests has taken its facts or given them up.

    A read, once started, finishes even if whoever awaits it is cancelled: what it did
    (claims) is known either way (`read_for`)."""

    def __init__(
        self,
        read: Callable[[Sequence[Due]], Awaitable[dict[int, Stored]]],
        due: Sequence[Due],
        size: int,
    ) -> None:
        self._read = read
        self._groups = [due[i : i + size] for i in range(0, len(due), size)]
        self._group_of = {customer.id: n // size for n, (customer, _) in enumerate(due)}
        self._pending = [{customer.id for customer, _ in group} for group in self._groups]
        self._reads: dict[int, asyncio.Future[dict[int, Stored]]] = {}

    async def take(self, customer: Customer) -> Stored | None:
        """The customer's facts, or None when its group's read left it out."""
        group = self._group_of[customer.id]
        if group not in self._reads:
            self._reads[group] = asyncio.ensure_future(self._read(self._groups[group]))
        read = self._reads[group]
        self.give_up(customer)
        return (await asyncio.shield(read)).get(customer.id)

    async def read_for(self, due: Sequence[Due]) -> list[Due]:
        """Those of `due` whose group's read has started and has them (waiting for reads
        under way), each given up: for a run that stops before it begins them."""
        found = []
        for group in sorted({self._group_of[customer.id] for customer, _ in due}):
            read = self._reads.get(group)
            if read is None:
                continue
            await asyncio.wait([read])
            if read.cancelled() or read.exception() is not None:
                continue  # a read that failed has released what it claimed
            facts = read.result()
            found += [(c, d) for c, d in due if self._group_of[c.id] == group and c.id in facts]
        for customer, _ in due:
            self.give_up(customer)
        return found

    def give_up(self, customer: Customer) -> None:
        group = self._group_of[customer.id]
        self._pending[group].discard(customer.id)
        if not self._pending[group]:
            self._reads.pop(group, None)


class SentMarks:
    """Records digests as sent, many in one write: a digest's mark waits `wait` seconds
    for others and for the write in flight, if any, then goes in the next one with every
    mark that waited beside it. A mark returns once its write is committed (or raises
    what the write raised); a write once begun is not stopped by cancelling whoever waits
    for it."""

    def __init__(
        self, write: Callable[[list[SentDigest]], Awaitable[None]], *, wait: float = 0.0
    ) -> None:
        self._write = write
        self._wait = wait
        self._writing: asyncio.Task[None] | None = None
        """The last write begun."""
        self._next: tuple[list[SentDigest], asyncio.Task[None]] | None = None
        """The marks waiting for the next write, and that write."""

    async def mark(self, sent: SentDigest) -> None:
        if self._next is None:
            marks: list[SentDigest] = []
            self._next = (marks, asyncio.ensure_future(self._write_after(self._writing, marks)))
        marks, write = self._next
        marks.append(sent)
        await asyncio.shield(write)

    async def written(self, within: float) -> None:
        """Wait, at most `within` seconds, for the writes begun or waiting to begin
        (shutting down: digests posted are recorded before the engine goes)."""
        writes = [w for w in (self._writing, self._next and self._next[1]) if w is not None]
        if writes:
            await asyncio.wait(writes, timeout=within)

    async def _write_after(
        self, previous: asyncio.Task[None] | None, marks: list[SentDigest]
    ) -> None:
        if self._wait:
            await asyncio.sleep(self._wait)
        if previous is not None:
            await asyncio.wait([previous])
        self._next, self._writing = None, asyncio.current_task()  # later marks: the next write
        await self._write(marks)


class Digests:
    def __init__(
        self,
        *,
        digests: DigestStore,
        staff: Staff,
        poster: Poster,
        people: People,
        clock: Callable[[], datetime] = utcnow,
        concurrency: int = CONCURRENCY,
        under_way: int | None = None,
        part_pause: float = PART_PAUSE,
    ) -> None:
        self._digests = digests
        self._staff = staff
        self._poster = poster
        self._people = people
        self._clock = clock
        self._reading = asyncio.Semaphore(concurrency)
        self.under_way = UNDER_WAY * concurrency if under_way is None else under_way
        """Digests under way at once in a run (begun, not yet posted)."""
        self._part_pause = part_pause
        self._sending: set[asyncio.Future[Any]] = set()
        self._marks = SentMarks(digests.mark_sent_many, wait=MARK_WAIT)

    async def run_due(self) -> RunResult:
        """Send every digest due now that nobody has sent or is sending."""
        now = self._clock()
        due = [(c, d) for c in await self._digests.candidates() if (d := due_date(c, now))]
        taken = await self._digests.taken({day for _, day in due}, now)
        queue = [(c, d) for c, d in due if (c.id, d) not in taken]
        ahead = ReadAhead(self._claim_and_read, queue, READ_AHEAD)
        waiting = collections.deque(queue)
        sending: set[asyncio.Task[bool | None]] = set()
        results: list[bool | None] = []
        failures: list[BaseException] = []

        def done(task: asyncio.Task[bool | None]) -> None:
            sending.discard(task)
            if task.cancelled():
                return
            failure = task.exception()
            if failure is None:
                results.append(task.result())
            else:
                failures.append(failure)

        async def composer() -> None:
            """One of `under_way` places: a digest at a time while any wait, each giving
            its place to the next once posted (it is recorded as sent meanwhile)."""
            while waiting:
                customer, day = waiting.popleft()
                place = asyncio.Event()
                task = self._start_sending(customer, day, ahead, place.set)
                task.add_done_callback(functools.partial(_set_on_done, place))
                sending.add(task)
                task.add_done_callback(done)
                await place.wait()

        try:
            await asyncio.gather(*(composer() for _ in range(self.under_way)))
            if sending:
                await asyncio.wait(set(sending))
        except asyncio.CancelledError:
            # Stopping: the digests not begun may have been claimed with their group;
            # those claims are released at once, for the next run (`drain` waits for it).
            unbegun = list(waiting)
            waiting.clear()
            self._keep_until_done(asyncio.ensure_future(self._release_unbegun(ahead, unbegun)))
            raise
        if failures:
            raise failures[0]
        return RunResult(sent=results.count(True), failed=results.count(False))

    async def _release_unbegun(self, ahead: ReadAhead, unbegun: Sequence[Due]) -> None:
        claimed = await ahead.read_for(unbegun)
        await self._digests.release_many([(customer.id, day) for customer, day in claimed])

    def _keep_until_done(self, work: asyncio.Future[Any]) -> None:
        """Work a stopping instance waits for (`drain`)."""
        self._sending.add(work)
        work.add_done_callback(self._sending.discard)

    async def _claim_and_read(self, due: Sequence[Due]) -> dict[int, Stored]:
        """Claim the digests of `due` (in one statement) and read the facts of those
        claimed; another instance has the others."""
        now = self._clock()
        claimed = await self._digests.claim_many(
            [(customer.id, day) for customer, day in due], now=now, until=now + CLAIM
        )
        try:
            return await self._read_stored([(c, d) for c, d in due if (c.id, d) in claimed])
        except BaseException:
            await self._digests.release_many(claimed)
            raise

    async def _read_stored(self, due: Sequence[Due]) -> dict[int, Stored]:
        if not due:
            return {}
        rosters = await self._staff.rosters([(customer, [day]) for customer, day in due])
        lengths = await self._digests.recent_booking_lengths(list(rosters))
        problems = await self._poster.posting_problems([customer for customer, _ in due])
        now = self._clock()
        kept = {customer.id: kept_facts(customer, now) for customer, _ in due}
        return {
            i: Stored(roster, lengths[i], problems[i], kept[i]) for i, roster in rosters.items()
        }

    def _start_sending(
        self, customer: Customer, day: date, ahead: ReadAhead, posted: Callable[[], None]
    ) -> asyncio.Task[bool | None]:
        """The digest claimed and sent: True when sent, False when it failed (it will be
        tried again), None when another instance has it. `posted` is called once it has
        been posted (or won't be), before it is recorded."""
        # Claiming and sending run as one task that cancelling the run doesn't stop: a
        # claim is never left held by a sender that gave up.
        sending = asyncio.ensure_future(self._claim_and_send(customer, day, ahead, posted))
        self._keep_until_done(sending)
        return sending

    async def _claim_and_send(
        self, customer: Customer, day: date, ahead: ReadAhead, posted: Callable[[], None]
    ) -> bool | None:
        try:
            stored = await ahead.take(customer)  # claimed with its group, or another's
            if stored is None:
                return None
            try:
                return await self._compose_and_post(
                    customer, day, stored, record=True, posted=posted
                )
            except Exception:
                logger.exception(
                    "the digest of customer %s failed; it will be tried again", customer.id
                )
                await self._digests.release(customer.id, day)
                return False
        finally:
            posted()

    async def drain(self) -> None:
        """Wait for the digests being sent (a stopping instance finishes what it began),
        and for their records of being sent, at most `DRAIN_SECONDS` each."""
        if self._sending:
            await asyncio.wait(set(self._sending), timeout=DRAIN_SECONDS)
        await self._marks.written(within=DRAIN_SECONDS)

    async def post_now(self, customer: Customer) -> bool:
        """`digest now`: today's digest at once. It counts as today's, so the scheduled one
        is not sent again, unless that one went out already (then this is one more)."""
        now = self._clock()
        today = local_today(customer, now)
        claimed = await self._digests.claim(customer.id, today, now=now, until=now + CLAIM)
        try:
            stored = (await self._read_stored([(customer, today)]))[customer.id]
            return await self._compose_and_post(customer, today, stored, record=claimed)
        except BaseException:
            if claimed:
                await self._digests.release(customer.id, today)
            raise

    async def _compose_and_post(
        self,
        customer: Customer,
        day: date,
        stored: Stored,
        *,
        record: bool,
        posted: Callable[[], None] = lambda: None,
    ) -> bool:
        view, read = await self.compose(customer, day, stored)
        messages = build_digest(view, clock=clock_of(customer))
        first_ts = None
        for n, message in enumerate(messages):
            if n:
                await asyncio.sleep(self._part_pause)
            ts = await self._poster.post(customer, message, problem=stored.posting_problem)
            if ts is None:
                break
            first_ts = first_ts or ts
        posted()
        if first_ts is None:
            if record:
                await self._digests.release(customer.id, day)
            return False
        if record:
            await self._marks.mark(SentDigest(customer.id, day, self._clock(), first_ts, read))
        logger.info("digest for customer %s (%s) posted", customer.id, day)
        return True

    async def compose(
        self, customer: Customer, day: date, stored: Stored
    ) -> tuple[DigestView, ChannelFacts | None]:
        """Everything the day's digest says: the calendars read now, the channel's people
        while Google answers (from the facts kept, else from Slack); and the channel's
        facts if they were read from Slack, to keep."""
        now = self._clock()
        roster = stored.roster

        async def channel_people() -> tuple[list[str] | None, ChannelFacts | None]:
            facts, read = stored.channel, None
            if facts is None:
                facts = read = await self._people.read_facts(customer, now)
            if facts is None:
                return None, None  # Slack won't list the channel
            # Everyone of the customer in the channel with no calendar of their own is
            # named, whoever connected the primary calendar (a shared account) included.
            people = await self._people.staff_in(
                customer, known_people=roster.connected_staff, members=roster.members, facts=facts
            )
            return people, read

        report, found = await beside(
            self._read_calendars(customer, day, now, roster), channel_people()
        )
        people, read = found or (None, None)
        if people is not None:
            connected = [each.person for each in report.people]
            report = replace(
                report, not_connected=not_connected_among(people, connected, roster.members)
            )
        view = DigestView(
            report=report,
            day=day,
            shoot=usual_length(stored.lengths),
            not_connected=None if people is None else list(report.not_connected),
        )
        return view, read

    async def _read_calendars(
        self, customer: Customer, day: date, now: datetime, roster: Roster
    ) -> AvailabilityReport:
        """The day's free time from the staff's calendars, among `concurrency` digests."""
        async with self._reading:
            return await self._staff.availability(
                customer, user_ids=(), days=[day], duration=None, now=now, roster=roster
            )
