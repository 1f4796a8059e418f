"""Daily digests: the `digests` table (each day's claim and whether it was sent).

`DigestStore` also writes the digest settings on `customers`, and the channel facts a
digest read there (`mark_sent_many`); picks the candidates from `customers` and
`slack_teams`, and reads recent `bookings` for their lengths. A day's
digest is claimed with one upsert, so exactly one caller wins it; a run claims many days
in one upsert (`claim_many`) and records many as sent in one statement (`mark_sent_many`).
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import cast

from sqlalchemy import Table, and_, bindparam, func, or_, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession

from storage.models import Booking, BookingStatus, Customer, Digest, SlackTeam
from storage.repositories.base import Repository
from storage.repositories.customers import ChannelFacts, channel_facts_row, keep_facts_statement


@dataclass(frozen=True)
class SentDigest:
    """A day's digest as posted: when, and the first message's ts."""

    customer_id: int
    day: date
    at: datetime
    ts: str
    channel: ChannelFacts | None = None
    """The channel's facts as the digest read them from Slack, to keep (None: none read)."""


class DigestStore(Repository):
    """The daily digests' queries: settings, who may get one, and the claim on each day's."""

    async def set_schedule(self, customer_id: int, *, enabled: bool, at: str | None = None) -> None:
        values: dict[str, object] = {"digest_enabled": enabled}
        if at is not None:
            values["digest_time"] = at
        async with self._sessions.begin() as session:
            await session.execute(update(Customer).where(Customer.id == customer_id).values(values))

    async def candidates(self) -> list[Customer]:
        """Customers with the digest on whose channel and workspace may be posted in."""
        async with self._sessions() as session:
            rows = await session.scalars(
                select(Customer)
                .outerjoin(SlackTeam, SlackTeam.team_id == Customer.team_id)
                .where(
                    Customer.digest_enabled.is_(True),
                    Customer.channel_problem == "",
                    SlackTeam.posting_stopped_at.is_(None),
                )
                .order_by(Customer.id)
            )
            return list(rows)

    async def taken(self, days: set[date], now: datetime) -> set[tuple[int, date]]:
        """(customer, day) pairs whose digest is sent, or claimed by a live sender."""
        if not days:
            return set()
        async with self._sessions() as session:
            rows = await session.execute(
                select(Digest.customer_id, Digest.local_date).where(
                    Digest.local_date.in_(days),
                    or_(Digest.sent_at.is_not(None), Digest.claimed_until > now),
                )
            )
            return {(customer_id, day) for customer_id, day in rows}

    async def claim(self, customer_id: int, day: date, *, now: datetime, until: datetime) -> bool:
        """Take the day's digest to send it: True for exactly one caller, unless it is sent
        already or claimed by a sender whose claim has not lapsed.

        One statement: the day's row is inserted, or, when it exists, taken over only if
        unsent and its claim has lapsed (`INSERT … ON CONFLICT DO UPDATE … WHERE`, which
        SQLite and PostgreSQL both settle atomically against a concurrent claim).
        """
        async with self._sessions.begin() as session:
            claim = _upsert(session)(Digest).values(
                customer_id=customer_id, local_date=day, claimed_until=until
            )
            claimed = await session.scalar(
                claim.on_conflict_do_update(
                    index_elements=[Digest.customer_id, Digest.local_date],
                    set_={"claimed_until": until},
                    where=and_(
                        Digest.sent_at.is_(None),
                        or_(Digest.claimed_until.is_(None), Digest.claimed_until <= now),
                    ),
                ).returning(Digest.id)
            )
        return claimed is not None

    async def claim_many(
        self, days: Collection[tuple[int, date]], *, now: datetime, until: datetime
    ) -> set[tuple[int, date]]:
        """`claim` of many (customer, day) pairs in one statement: those this caller won.

        Their rows are written in one order (customer, then day), so that two callers with
        overlapping pairs wait for each other in turn, never for each other at once."""
        if not days:
            return set()
        async with self._sessions.begin() as session:
            claim = _upsert(session)(Digest).values(
                [
                    {"customer_id": customer_id, "local_date": day, "claimed_until": until}
                    for customer_id, day in sorted(days)
                ]
            )
            rows = await session.execute(
                claim.on_conflict_do_update(
                    index_elements=[Digest.customer_id, Digest.local_date],
                    set_={"claimed_until": until},
                    where=and_(
                        Digest.sent_at.is_(None),
                        or_(Digest.claimed_until.is_(None), Digest.claimed_until <= now),
                    ),
                ).returning(Digest.customer_id, Digest.local_date)
            )
            return {(customer_id, day) for customer_id, day in rows}

    async def mark_sent(self, customer_id: int, day: date, *, at: datetime, ts: str) -> None:
        async with self._sessions.begin() as session:
            await session.execute(
                update(Digest)
                .where(Digest.customer_id == customer_id, Digest.local_date == day)
                .values(sent_at=at, message_ts=ts, claimed_until=None)
            )

    async def mark_sent_many(self, sent: Sequence[SentDigest]) -> None:
        """`mark_sent` of many digests in one transaction (one statement, many rows), and
        the channel facts they read kept (one more), unless an event said since that the
        channel changed."""
        if not sent:
            return
        table = _DIGESTS
        read = [s for s in sent if s.channel is not None and s.channel.ext_shared is not None]
        async with self._sessions.begin() as session:
            await session.execute(
                update(table)
                .where(
                    table.c.customer_id == bindparam("customer"),
                    table.c.local_date == bindparam("day"),
                )
                .values(sent_at=bindparam("at"), message_ts=bindparam("ts"), claimed_until=None),
                [{"customer": s.customer_id, "day": s.day, "at": s.at, "ts": s.ts} for s in sent],
            )
            if read:
                await session.execute(
                    keep_facts_statement(),
                    [channel_facts_row(s.customer_id, s.channel) for s in read if s.channel],
                )

    async def release(self, customer_id: int, day: date) -> None:
        """Give a claim back unsent, so the next round tries again."""
        async with self._sessions.begin() as session:
            await session.execute(
                update(Digest)
                .where(
                    Digest.customer_id == customer_id,
                    Digest.local_date == day,
                    Digest.sent_at.is_(None),
                )
                .values(claimed_until=None)
            )

    async def release_many(self, days: Collection[tuple[int, date]]) -> None:
        """`release` of many (customer, day) pairs in one transaction."""
        if not days:
            return
        table = _DIGESTS
        async with self._sessions.begin() as session:
            await session.execute(
                update(table)
                .where(
                    table.c.customer_id == bindparam("customer"),
                    table.c.local_date == bindparam("day"),
                    table.c.sent_at.is_(None),
                )
                .values(claimed_until=None),
                [{"customer": customer_id, "day": day} for customer_id, day in days],
            )

    async def sent_on(self, customer_id: int, day: date) -> Digest | None:
        async with self._sessions() as session:
            return await session.scalar(
                select(Digest).where(
                    Digest.customer_id == customer_id,
                    Digest.local_date == day,
                    Digest.sent_at.is_not(None),
                )
            )

    async def recent_booking_lengths(
        self, customer_ids: Collection[int], limit: int = 20
    ) -> dict[int, list[timedelta]]:
        """How long each customer's latest `limit` live bookings (not cancelled) were,
        newest first; one query."""
        latest = (
            select(
                Booking.customer_id,
                Booking.starts_at,
                Booking.ends_at,
                func.row_number()
                .over(
                    partition_by=Booking.customer_id,
                    order_by=(Booking.created_at.desc(), Booking.id.desc()),
                )
                .label("newness"),
            )
            .where(
                Booking.customer_id.in_(customer_ids),
                Booking.status == BookingStatus.BOOKED,  # a cancelled shoot didn't happen
            )
            .subquery()
        )
        lengths: dict[int, list[timedelta]] = {customer_id: [] for customer_id in customer_ids}
        async with self._sessions() as session:
            rows = await session.execute(
                select(latest.c.customer_id, latest.c.starts_at, latest.c.ends_at)
                .where(latest.c.newness <= limit)
                .order_by(latest.c.customer_id, latest.c.newness)
            )
            for customer_id, start, end in rows:
                lengths[customer_id].append(end - start)
        return lengths


_DIGESTS = cast(Table, Digest.__table__)
"""The table, for statements run once with many rows of parameters (executemany)."""


def _upsert(session: AsyncSession) -> Callable[[type[Digest]], postgresql.Insert | sqlite.Insert]:
    """The dialect's INSERT, which knows ON CONFLICT (Core's own does not)."""
    if session.get_bind().dialect.name == "postgresql":
        return postgresql.insert
    return sqlite.insert
