"""The schema (migrations build exactly what the models describe) and the queries whose
races the database settles, on both databases."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from datetime import UTC, date, datetime, timedelta
from typing import Any

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy.engine import Connection

from storage.db import create_engine, migrate, session_factory
from storage.models import Base, Booking, Customer
from storage.repositories import DigestStore, Roster, Store
from storage.repositories.digests import SentDigest


def differences(connection: Connection) -> list[Any]:
    context = MigrationContext.configure(connection, opts={"compare_type": True})
    return list(compare_metadata(context, Base.metadata))


async def test_migrations_match_the_models(database_url: str) -> None:
    engine = create_engine(database_url)
    try:
        await migrate(engine)
        await migrate(engine)  # a second start finds nothing to do
        async with engine.connect() as connection:
            assert await connection.run_sync(differences) == []
    finally:
        await engine.dispose()


@contextlib.asynccontextmanager
async def stores(database_url: str) -> AsyncIterator[tuple[Store, DigestStore]]:
    engine = create_engine(database_url)
    try:
        await migrate(engine)
        yield Store(session_factory(engine)), DigestStore(session_factory(engine))
    finally:
        await engine.dispose()


async def some_customers(store: Store, count: int) -> list[Customer]:
    """Customers of workspace T1 in UTC, in channels C0, C1…"""
    return [
        await store.add_customer(
            team_id="T1", channel_id=f"C{n}", timezone="UTC", registered_by="U1"
        )
        for n in range(count)
    ]


async def test_a_day_s_digest_is_claimed_once_until_its_claim_lapses(database_url: str) -> None:
    now, day = datetime(2026, 12, 1, 13, 30, tzinfo=UTC), date(2026, 12, 1)
    lapse = now + timedelta(minutes=10)
    async with stores(database_url) as (store, digests):
        customer = await store.add_customer(
            team_id="T1", channel_id="C1", timezone="America/New_York", registered_by="U1"
        )

        async def claim(at: datetime) -> bool:
            return await digests.claim(customer.id, day, now=at, until=at + timedelta(minutes=10))

        claims = await asyncio.gather(*(claim(now) for _ in range(8)))
        assert claims.count(True) == 1, "exactly one of senders racing"
        assert not await claim(now + timedelta(minutes=9)), "held by a live sender"
        assert await claim(lapse), "its sender died: the claim lapsed"

        await digests.release(customer.id, day)
        assert await claim(lapse), "given back: taken again at once"
        await digests.mark_sent(customer.id, day, at=lapse, ts="1.000001")
        assert not await claim(lapse + timedelta(days=1)), "sent: never again"
        sent = await digests.sent_on(customer.id, day)
        assert sent is not None and sent.message_ts == "1.000001"


async def test_a_run_claims_many_days_at_once_each_won_by_one(database_url: str) -> None:
    now, day = datetime(2026, 12, 1, 13, 30, tzinfo=UTC), date(2026, 12, 1)
    until = now + timedelta(minutes=10)
    async with stores(database_url) as (store, digests):
        ids = [customer.id for customer in await some_customers(store, 6)]
        assert await digests.claim(ids[0], day, now=now, until=until), "one held already"
        # Two instances' runs, their groups overlapping.
        first, second = await asyncio.gather(
            digests.claim_many([(i, day) for i in ids[:4]], now=now, until=until),
            digests.claim_many([(i, day) for i in ids[2:]], now=now, until=until),
        )
        assert not first & second, "no day won twice"
        assert first | second == {(i, day) for i in ids[1:]}, "every free day won once"

        sent_at = now + timedelta(minutes=1)
        await digests.mark_sent_many([SentDigest(i, day, sent_at, f"1.{i}") for i in ids[1:3]])
        await digests.release_many([(i, day) for i in ids])
        later = now + timedelta(minutes=2)
        again = await digests.claim_many([(i, day) for i in ids], now=later, until=until)
        assert again == {(i, day) for i in (ids[0], *ids[3:])}, "released, not the sent"
        sent = await digests.sent_on(ids[1], day)
        assert sent is not None and sent.message_ts == f"1.{ids[1]}" and sent.sent_at == sent_at
        assert await digests.claim_many([], now=later, until=until) == set()


async def test_posting_stops_for_the_channel_or_the_whole_workspace(database_url: str) -> None:
    at = datetime(2026, 12, 1, tzinfo=UTC)
    async with stores(database_url) as (store, _):
        one = await store.add_customer(
            team_id="T1", channel_id="C1", timezone="UTC", registered_by="U1"
        )
        other = await store.add_customer(
            team_id="T1", channel_id="C2", timezone="UTC", registered_by="U1"
        )
        assert await store.posting_problem(one.id) == ""
        await store.set_channel_problem(one.id, "is_archived", at)
        assert [await store.posting_problem(c.id) for c in (one, other)] == ["is_archived", ""]

        await store.stop_team_posting("T1", "token_revoked", at)
        assert [await store.posting_problem(c.id) for c in (one, other)] == ["token_revoked"] * 2
        await store.resume_team_posting("T1")
        assert [await store.posting_problem(c.id) for c in (one, other)] == ["is_archived", ""]
        assert await store.posting_problem(999_999) == "channel_not_found"
        assert await store.posting_problems([one.id, other.id, 999_999]) == {
            one.id: "is_archived",
            other.id: "",
            999_999: "channel_not_found",
        }


def booking(customer_id: int, n: int, starts: datetime, hours: int, created: datetime) -> Booking:
    return Booking(
        customer_id=customer_id,
        short_id=f"B{customer_id}{n:03d}",
        request_key=f"request-{customer_id}-{n}",
        event_id=f"tonomo{customer_id}x{n}",
        staff_user_id="U2",
        staff_email="u2@example.com",
        title="Shoot",
        starts_at=starts,
        ends_at=starts + timedelta(hours=hours),
        booked_by="U1",
        created_at=created,
    )


async def test_a_role_is_decided_from_the_roles_the_settings_set_and_the_person_s_own_row(
    database_url: str,
) -> None:
    async with stores(database_url) as (store, _):
        acme, other = await some_customers(store, 2)
        for n in range(30):
            await store.record_role(acme.id, f"U{n:02}", "staff", "slack")
        await store.set_member_role(acme.id, "U07", "onboarder", by="U00")
        await store.set_member_role(other.id, "U08", "onboarder", by="U00")

        asked_by_staff = await store.role_members(acme.id, "U21")
        asked_by_the_onboarder = await store.role_members(acme.id, "U07")
        asked_by_a_newcomer = await store.role_members(acme.id, "U99")

    assert [(m.slack_user_id, m.role) for m in asked_by_staff] == [
        ("U07", "onboarder"),
        ("U21", "staff"),
    ]
    assert [m.slack_user_id for m in asked_by_the_onboarder] == ["U07"]
    assert [m.slack_user_id for m in asked_by_a_newcomer] == ["U07"], "no row of theirs yet"


async def test_a_person_arrives_in_one_transaction(database_url: str) -> None:
    """`arrive`: the customer, the person remembered under the name they go by now, the
    workspace's pause lifted, the rows their role is decided from; nothing for a channel
    not registered; four first requests of a new person at once keep one row."""
    at = datetime(2026, 12, 1, tzinfo=UTC)
    async with stores(database_url) as (store, _):
        acme, other = await some_customers(store, 2)
        await store.set_member_role(acme.id, "U07", "onboarder", by="U00")
        await store.stop_team_posting(acme.team_id, "token_revoked", at)
        assert await store.arrive(acme.team_id, "C0NONE", "U21", "olivia") is None

        first = await store.arrive(acme.team_id, acme.channel_id, "U21", "olivia")
        assert first is not None and first.customer.id == acme.id
        assert [(m.slack_user_id, m.role) for m in first.members] == [
            ("U07", "onboarder"),
            ("U21", "staff"),
        ]
        assert await store.posting_problem(acme.id) == ""
        renamed = await store.arrive(acme.team_id, acme.channel_id, "U21", "Olivia Owner")
        unnamed = await store.arrive(acme.team_id, acme.channel_id, "U21", "")
        assert renamed is not None and unnamed is not None
        assert [m.display_name for m in unnamed.members if m.slack_user_id == "U21"] == [
            "Olivia Owner"
        ], "an empty name never replaces one"

        both = await asyncio.gather(
            *(store.arrive(other.team_id, other.channel_id, "U30", "pat") for _ in range(4))
        )
        assert all(a is not None and a.customer.id == other.id for a in both)
        rows = [m for m in await store.list_members(other.id) if m.slack_user_id == "U30"]
        assert [(m.display_name, m.role, m.role_source) for m in rows] == [
            ("pat", "staff", "slack")
        ]
        assert [m.slack_user_id for m in await store.list_members(acme.id)] == ["U07", "U21"]


async def test_customers_are_read_together_each_with_their_own(database_url: str) -> None:
    monday = datetime(2026, 11, 30, 9, tzinfo=UTC)
    async with stores(database_url) as (store, digests):
        one, two, three = await some_customers(store, 3)
        await store.arrive(one.team_id, one.channel_id, "U1", "olivia")
        await store.arrive(two.team_id, two.channel_id, "U2", "alice")
        async with store._sessions.begin() as session:  # bookings as the booking flow leaves them
            session.add_all(
                [
                    booking(
                        one.id,
                        n,
                        monday + timedelta(days=n),
                        1 + n % 3,
                        monday + timedelta(minutes=n),
                    )
                    for n in range(25)
                ]
                + [booking(two.id, 0, monday, 2, monday)]
            )

        rosters = await store.rosters(
            {
                one.id: (monday, monday + timedelta(days=2)),
                two.id: (monday + timedelta(days=1), monday + timedelta(days=2)),
                three.id: None,
            }
        )
        lengths = await digests.recent_booking_lengths([one.id, two.id, three.id], limit=20)

    assert [m.slack_user_id for m in rosters[one.id].members] == ["U1"]
    assert [m.slack_user_id for m in rosters[two.id].members] == ["U2"]
    assert [b.short_id for b in rosters[one.id].bookings] == ["B1000", "B1001"]
    assert rosters[two.id].bookings == [], "theirs is on Monday, outside their span"
    assert rosters[three.id] == Roster([], [], [])
    newest_20 = [timedelta(hours=1 + n % 3) for n in reversed(range(5, 25))]
    assert lengths[one.id] == newest_20, "the latest 20 of 25, newest first"
    assert lengths[two.id] == [timedelta(hours=2)] and lengths[three.id] == []
