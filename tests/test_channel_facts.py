"""A channel's members and sharing kept between digests: when they are trusted
(`kept_facts`), and how they are stored, dropped on an event, and not kept when read before
one (both databases; migration 0010). The digests that use them are in
`tests/scenarios/test_digest.py`."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import sqlalchemy as sa
from hypothesis import given
from hypothesis import strategies as st

from bot.people import CHANNEL_KEPT, kept_facts
from storage.db import create_engine, session_factory
from storage.models import Customer
from storage.repositories import ChannelFacts, Store
from storage.repositories.digests import SentDigest
from tests.test_storage import differences, some_customers, stores
from tests.test_storage_scheduling import add_old_customer, columns_of, move_schema

NOW = datetime(2026, 12, 8, 12, 0, tzinfo=UTC)
DAY = date(2026, 12, 8)


def row(
    members: str | None = "U1 U2 B1",
    ext_shared: bool | None = True,
    read_at: datetime | None = NOW - timedelta(days=1),
    changed_at: datetime | None = None,
) -> Customer:
    return Customer(
        team_id="T0",
        channel_id="C0",
        timezone="UTC",
        channel_members=members,
        channel_ext_shared=ext_shared,
        channel_read_at=read_at,
        channel_changed_at=changed_at,
    )


def test_kept_facts_are_yesterday_s_as_read() -> None:
    assert kept_facts(row(), NOW) == ChannelFacts(("U1", "U2", "B1"), True, NOW - timedelta(days=1))
    assert kept_facts(row(members="", ext_shared=False), NOW) == ChannelFacts(
        (), False, NOW - timedelta(days=1)
    ), "an empty channel is a fact too"


def test_none_kept_when_incomplete_changed_since_or_too_old() -> None:
    assert kept_facts(row(members=None), NOW) is None
    assert kept_facts(row(ext_shared=None), NOW) is None, "Slack did not say if it is shared"
    assert kept_facts(row(read_at=None), NOW) is None
    read = NOW - timedelta(days=1)
    assert kept_facts(row(changed_at=read + timedelta(seconds=1)), NOW) is None
    assert kept_facts(row(changed_at=read), NOW) is None, "a change at the same instant"
    assert kept_facts(row(changed_at=read - timedelta(seconds=1)), NOW) is not None
    assert kept_facts(row(read_at=NOW - CHANNEL_KEPT - timedelta(seconds=1)), NOW) is None
    assert kept_facts(row(read_at=NOW - CHANNEL_KEPT), NOW) is not None


@given(
    read_ago=st.timedeltas(min_value=timedelta(0), max_value=timedelta(days=30)),
    changed_ago=st.one_of(
        st.none(), st.timedeltas(min_value=timedelta(0), max_value=timedelta(days=30))
    ),
)
def test_kept_only_if_read_after_the_last_change_and_within_the_week(
    read_ago: timedelta, changed_ago: timedelta | None
) -> None:
    read_at = NOW - read_ago
    changed_at = None if changed_ago is None else NOW - changed_ago
    kept = kept_facts(row(read_at=read_at, changed_at=changed_at), NOW)
    trusted = read_ago <= CHANNEL_KEPT and (changed_at is None or changed_at < read_at)
    assert (kept is not None) == trusted


async def kept_of(store: Store, customer_id: int) -> ChannelFacts | None:
    customer = await store.get_customer(customer_id)
    assert customer is not None
    return kept_facts(customer, NOW)


async def test_facts_are_kept_with_the_sent_mark_and_dropped_on_a_change(
    database_url: str,
) -> None:
    async with stores(database_url) as (store, digests):
        ids = [customer.id for customer in await some_customers(store, 4)]
        for i in ids:
            assert await digests.claim(i, DAY, now=NOW, until=NOW + timedelta(minutes=5))
        read_at = NOW - timedelta(seconds=2)
        await store.channel_changed("T1", "C2", NOW - timedelta(seconds=1))  # while C2 was read
        facts = ChannelFacts(("U1", "U2"), False, read_at)
        await digests.mark_sent_many(
            [
                SentDigest(ids[0], DAY, NOW, "1.0", facts),
                SentDigest(ids[1], DAY, NOW, "1.1"),
                SentDigest(ids[2], DAY, NOW, "1.2", facts),
                SentDigest(ids[3], DAY, NOW, "1.3", ChannelFacts(("U1",), None, read_at)),
            ]
        )
        assert [(await digests.sent_on(i, DAY)) is not None for i in ids] == [True] * 4
        assert await kept_of(store, ids[0]) == facts
        assert await kept_of(store, ids[1]) is None, "none read"
        assert await kept_of(store, ids[2]) is None, "read before the change: not kept"
        assert await kept_of(store, ids[3]) is None, "Slack did not say if it is shared"

        await store.channel_changed("T9", "C0", NOW)  # another workspace's
        assert await kept_of(store, ids[0]) == facts
        await store.channel_changed("T1", "C0", NOW)
        assert await kept_of(store, ids[0]) is None
        customer = await store.get_customer(ids[0])
        assert customer is not None and customer.channel_members is None
        assert customer.channel_changed_at == NOW
        assert customer.channel_id == "C0" and customer.timezone == "UTC", "the rest as it was"

        # Read again after the change: kept again.
        again = ChannelFacts(("U2",), True, NOW + timedelta(seconds=1))
        await digests.mark_sent_many([SentDigest(ids[0], DAY, NOW, "1.0", again)])
        assert await kept_of(store, ids[0]) == again


async def test_0010_upgrades_with_data_in_place_and_downgrades(database_url: str) -> None:
    engine = create_engine(database_url)
    try:
        async with engine.begin() as connection:
            await connection.run_sync(move_schema, "0009")
            await add_old_customer(connection)
            await connection.run_sync(move_schema, "head")

        store = Store(session_factory(engine))
        customer = await store.get_customer(1)
        assert customer is not None and customer.clock == "24h", "kept as it was"
        assert kept_facts(customer, NOW) is None, "none kept yet: read at the next digest"

        async with engine.begin() as connection:
            await connection.run_sync(move_schema, "0009", down=True)
            customer_columns = await connection.run_sync(columns_of, "customers")
            assert not {c for c in customer_columns if c.startswith("channel_")} - {
                "channel_id",
                "channel_problem",
                "channel_problem_at",
            }
            assert await connection.scalar(sa.text("SELECT count(*) FROM customers")) == 1
            await connection.run_sync(move_schema, "head")
            assert await connection.run_sync(differences) == []
    finally:
        await engine.dispose()
