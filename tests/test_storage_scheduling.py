"""Storage for scheduling in depth, on both databases: migration 0009, people's time off, the
scheduling settings, moving a booking, and the booking loads `book anyone` chooses by."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta

import pytest
import sqlalchemy as sa
from alembic import command
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import AsyncConnection

from storage.db import alembic_config, create_engine, session_factory
from storage.models import Booking, BookingStatus, Customer, UTCDateTime
from storage.repositories import BookingLoad, Store, timeoff
from tests.test_storage import differences, stores

NOW = datetime(2026, 12, 2, 15, 0, tzinfo=UTC)


def move_schema(connection: Connection, revision: str, *, down: bool = False) -> None:
    config = alembic_config()
    config.attributes["connection"] = connection
    (command.downgrade if down else command.upgrade)(config, revision)


# The customers and members tables as migration 0008 left them (the models are newer).
customers_0008 = sa.table(
    "customers",
    sa.column("id", sa.Integer),
    sa.column("team_id", sa.String),
    sa.column("channel_id", sa.String),
    sa.column("timezone", sa.String),
    sa.column("registered_by", sa.String),
    sa.column("created_at", UTCDateTime),
    sa.column("clock", sa.String),
)
members_0008 = sa.table(
    "members",
    sa.column("customer_id", sa.Integer),
    sa.column("slack_user_id", sa.String),
    sa.column("display_name", sa.String),
    sa.column("created_at", UTCDateTime),
)


async def add_old_customer(connection: AsyncConnection) -> None:
    """Customer 1 (Paris, a 24-hour clock) in the `customers` table as 0008 left it."""
    await connection.execute(
        customers_0008.insert().values(
            id=1,
            team_id="T1",
            channel_id="C1",
            timezone="Europe/Paris",
            registered_by="U1",
            created_at=NOW,
            clock="24h",
        )
    )


def columns_of(connection: Connection, table: str) -> set[str]:
    return {column["name"] for column in sa.inspect(connection).get_columns(table)}


def has_table(connection: Connection, table: str) -> bool:
    return sa.inspect(connection).has_table(table)


async def test_0009_upgrades_with_data_in_place_and_downgrades(database_url: str) -> None:
    engine = create_engine(database_url)
    try:
        async with engine.begin() as connection:
            await connection.run_sync(move_schema, "0008")
            await add_old_customer(connection)
            await connection.execute(
                members_0008.insert().values(
                    customer_id=1, slack_user_id="U2", display_name="alice", created_at=NOW
                )
            )
            await connection.run_sync(move_schema, "head")

        store = Store(session_factory(engine))
        customer = await store.get_customer(1)
        assert customer is not None and customer.clock == "24h", "kept as it was"
        assert (customer.buffer_minutes, customer.notice_minutes, customer.step_minutes) == (
            0,
            0,
            15,
        ), "as before these could be chosen"
        assert [m.display_name for m in await store.list_members(1)] == ["alice"]
        await store.add_time_off(
            1, "U2", date(2026, 12, 24), date(2026, 12, 26), "", by="U1", request_key="r", now=NOW
        )

        async with engine.begin() as connection:
            await connection.run_sync(move_schema, "0008", down=True)
            assert not await connection.run_sync(has_table, "time_off")
            customer_columns = await connection.run_sync(columns_of, "customers")
            assert {"clock", "timezone"} <= customer_columns
            assert not {"buffer_minutes", "notice_minutes", "step_minutes"} & customer_columns
            # Nothing else went with them (a rebuilt `customers` would cascade its deletion).
            assert await connection.scalar(sa.text("SELECT count(*) FROM customers")) == 1
            assert await connection.scalar(sa.text("SELECT count(*) FROM members")) == 1

            await connection.run_sync(move_schema, "head")
            assert await connection.run_sync(differences) == []
    finally:
        await engine.dispose()


async def customer_of(store: Store, channel: str = "C1") -> Customer:
    return await store.add_customer(
        team_id="T1", channel_id=channel, timezone="Europe/Paris", registered_by="U1"
    )


async def test_time_off_is_added_once_per_request_listed_found_and_cancelled(
    database_url: str,
) -> None:
    day = date(2026, 12, 21)
    async with stores(database_url) as (store, _):
        customer, other = await customer_of(store), await customer_of(store, "C2")

        async def add(
            user: str, first: int, last: int, key: str, customer_id: int = customer.id
        ) -> tuple[str, bool]:
            row, added = await store.add_time_off(
                customer_id,
                user,
                day + timedelta(days=first),
                day + timedelta(days=last),
                f"away {key}",
                by="U1",
                request_key=key,
                now=NOW,
            )
            return row.short_id, added

        holiday, added = await add("U2", 3, 5, "holiday")  # the 24th to the 26th
        assert added and len(holiday) == 4 and set(holiday) <= set(timeoff.SHORT_ID_ALPHABET)
        assert await add("U2", 3, 5, "holiday") == (holiday, False), "a retry adds nothing"
        retried_elsewhere = await add("U9", 0, 0, "holiday")
        assert retried_elsewhere == (holiday, False), "the request's row, whatever is asked"
        before, _ = await add("U3", 0, 2, "before")  # the 21st to the 23rd
        after, _ = await add("U3", 6, 6, "after")  # the 27th alone
        ended, _ = await add("U4", -5, -1, "ended")  # over by the 21st
        cancelled, _ = await add("U5", 4, 4, "cancelled")
        theirs, _ = await add("U2", 3, 5, "theirs", other.id)

        cancel = await store.cancel_time_off(customer.id, cancelled.lower(), by="U6", now=NOW)
        assert cancel is not None and (cancel.cancelled_at, cancel.cancelled_by) == (NOW, "U6")
        again = await store.cancel_time_off(
            customer.id, cancelled, by="U7", now=NOW + timedelta(hours=1)
        )
        assert again is not None and (again.cancelled_at, again.cancelled_by) == (NOW, "U6")
        assert await store.cancel_time_off(customer.id, theirs, by="U6", now=NOW) is None
        assert await store.cancel_time_off(customer.id, "ZZZZZ", by="U6", now=NOW) is None

        upcoming = await store.upcoming_time_off(customer.id, day)
        assert [t.short_id for t in upcoming] == [before, holiday, after]
        assert [(t.first_day, t.last_day, t.reason) for t in upcoming[1:2]] == [
            (date(2026, 12, 24), date(2026, 12, 26), "away holiday")
        ]
        assert [
            t.short_id for t in await store.upcoming_time_off(customer.id, day - timedelta(1))
        ] == [
            ended,
            before,
            holiday,
            after,
        ], "ended on the day asked from: still upcoming"

        async def between(first: int, last: int) -> list[str]:
            found = await store.time_off_between(
                customer.id, day + timedelta(days=first), day + timedelta(days=last)
            )
            return [t.short_id for t in found]

        assert await between(2, 3) == [before, holiday], (
            "the last day of one, the first of the other"
        )
        assert await between(5, 6) == [holiday, after]
        assert await between(4, 4) == [holiday], "inside one; the cancelled one is left out"
        assert await between(7, 30) == []

        found = await store.find_time_off(customer.id, cancelled.lower())
        assert found is not None and found.cancelled_by == "U6", "cancelled ones are found too"
        assert (await store.find_time_off(other.id, theirs.lower())) is not None
        assert await store.find_time_off(customer.id, theirs) is None, "another customer's"


async def test_adds_at_once_from_different_requests_get_different_short_ids(
    database_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    random_draw = timeoff._new_short_id

    def draws() -> Iterator[str]:
        yield from ("7777", "7777", "7777")  # every add draws this first: they collide
        while True:
            yield random_draw()

    drawn = draws()
    monkeypatch.setattr(timeoff, "_new_short_id", lambda: next(drawn))
    async with stores(database_url) as (store, _):
        customer = await customer_of(store)
        added = await asyncio.gather(
            *(
                store.add_time_off(
                    customer.id,
                    f"U{n}",
                    date(2026, 12, 24),
                    date(2026, 12, 24),
                    "",
                    by="U1",
                    request_key=f"request-{n}",
                    now=NOW,
                )
                for n in range(3)
            )
        )
        ids = [row.short_id for row, _ in added]
        assert len(set(ids)) == 3 and "7777" in ids
        assert all(new for _, new in added)
        stored = await store.upcoming_time_off(customer.id, date(2026, 12, 1))
        assert sorted(t.short_id for t in stored) == sorted(ids)


async def test_time_off_must_end_on_or_after_its_first_day(database_url: str) -> None:
    async with stores(database_url) as (store, _):
        customer = await customer_of(store)
        with pytest.raises(ValueError, match="ends"):
            await store.add_time_off(
                customer.id,
                "U2",
                date(2026, 12, 24),
                date(2026, 12, 23),
                "",
                by="U1",
                request_key="backwards",
                now=NOW,
            )
        assert await store.upcoming_time_off(customer.id, date(2026, 12, 1)) == []


async def test_scheduling_settings_are_set_one_at_a_time(database_url: str) -> None:
    async with stores(database_url) as (store, _):
        customer, other = await customer_of(store), await customer_of(store, "C2")

        async def settings(customer_id: int) -> tuple[int, int, int]:
            found = await store.get_customer(customer_id)
            assert found is not None
            return found.buffer_minutes, found.notice_minutes, found.step_minutes

        assert await settings(customer.id) == (0, 0, 15)
        await store.set_scheduling(customer.id, buffer_minutes=10)
        assert await settings(customer.id) == (10, 0, 15)
        await store.set_scheduling(customer.id, notice_minutes=120, step_minutes=30)
        assert await settings(customer.id) == (10, 120, 30)
        await store.set_scheduling(customer.id, buffer_minutes=0)
        assert await settings(customer.id) == (0, 120, 30), "zero is a value, not nothing"
        await store.set_scheduling(customer.id)
        assert await settings(customer.id) == (0, 120, 30)
        assert await settings(other.id) == (0, 0, 15)


def booking(
    customer_id: int,
    key: str,
    staff: str,
    starts: datetime,
    length: timedelta,
    status: BookingStatus = BookingStatus.BOOKED,
) -> Booking:
    return Booking(
        customer_id=customer_id,
        short_id=key[:8],
        request_key=f"request-{customer_id}-{key}",
        event_id=f"tonomo{customer_id}x{key}",
        staff_user_id=staff,
        staff_email=f"{staff.lower()}@example.com",
        title="Shoot",
        starts_at=starts,
        ends_at=starts + length,
        booked_by="U1",
        created_at=NOW,
        status=status,
    )


async def test_booking_loads_count_the_week_s_live_bookings_and_the_last_start(
    database_url: str,
) -> None:
    monday = datetime(2026, 11, 30, tzinfo=UTC)  # NOW is Wednesday afternoon
    week_end = monday + timedelta(days=7)
    hour = timedelta(hours=1)
    async with stores(database_url) as (store, _):
        customer, other = await customer_of(store), await customer_of(store, "C2")
        async with store._sessions.begin() as session:
            session.add_all(
                [
                    booking(customer.id, "a1", "UA", monday + 9 * hour, 2 * hour),
                    booking(customer.id, "a2", "UA", monday + 33 * hour, hour / 2),
                    booking(customer.id, "a3", "UA", NOW + 2 * hour, 3 * hour),  # later on
                    booking(
                        customer.id, "a4", "UA", monday - 2 * hour, 5 * hour
                    ),  # the week before
                    booking(customer.id, "a5", "UA", week_end, hour),  # the week after
                    booking(customer.id, "b1", "UB", NOW, hour),  # starts right now
                    booking(customer.id, "b2", "UB", NOW - hour, 4 * hour, BookingStatus.CANCELLED),
                    booking(customer.id, "c1", "UC", monday - 30 * hour, hour),
                    booking(customer.id, "d1", "UD", NOW + hour, hour),  # none started yet
                    booking(other.id, "e1", "UE", monday + 9 * hour, hour),  # another customer
                ]
            )

        loads = await store.booking_loads(
            customer.id, ["UA", "UB", "UC", "UD", "UE", "UF"], monday, week_end, NOW
        )

    assert loads == {
        "UA": BookingLoad(booked=timedelta(hours=5, minutes=30), last_start=monday + 33 * hour),
        "UB": BookingLoad(booked=hour, last_start=NOW),
        "UC": BookingLoad(booked=timedelta(), last_start=monday - 30 * hour),
        "UD": BookingLoad(booked=hour, last_start=None),
        "UE": BookingLoad(booked=timedelta(), last_start=None),
        "UF": BookingLoad(booked=timedelta(), last_start=None),
    }
    assert all(load.last_start is None or load.last_start.tzinfo for load in loads.values())


async def test_a_moved_booking_keeps_its_new_times_and_never_clashes_with_itself(
    database_url: str,
) -> None:
    start = datetime(2026, 12, 3, 9, tzinfo=UTC)
    hour = timedelta(hours=1)
    async with stores(database_url) as (store, _):
        customer = await customer_of(store)
        async with store._sessions.begin() as session:
            session.add_all(
                [
                    booking(customer.id, "MOVED", "U2", start, 2 * hour),
                    booking(customer.id, "NEXT", "U2", start + 3 * hour, hour),
                    booking(customer.id, "ALICE", "U3", start + hour, 2 * hour),
                ]
            )
        moved = await store.find_booking(customer.id, "MOVED")
        assert moved is not None

        # An hour later: over where it was, and up to the next one.
        new_start, new_end = start + hour, start + 3 * hour
        assert [
            b.short_id
            for b in await store.staff_bookings_between(customer.id, "U2", new_start, new_end)
        ] == ["MOVED"]
        async with store.saving_booking(customer.id, "U2") as saving:
            assert [
                b.short_id for b in await saving.overlapping(customer.id, "U2", new_start, new_end)
            ] == ["MOVED"], "as before, without excluding"
            clashes = await saving.overlapping(
                customer.id, "U2", new_start, new_end, excluding=moved.id
            )
            assert clashes == []
            clashes = await saving.overlapping(
                customer.id, "U2", new_start, new_end + hour, excluding=moved.id
            )
            assert [b.short_id for b in clashes] == ["NEXT"], "the others still clash"
            await saving.move(moved.id, new_start, new_end)

        again = await store.find_booking(customer.id, "MOVED")
        assert again is not None and (again.starts_at, again.ends_at) == (new_start, new_end)
        assert again.status == BookingStatus.BOOKED and again.request_key == moved.request_key
        alice = await store.find_booking(customer.id, "ALICE")
        assert alice is not None and alice.starts_at == start + hour, "nobody else moved"
        assert [
            b.short_id
            for b in await store.staff_bookings_between(customer.id, "U2", start, start + hour)
        ] == [], "its old place is free"


async def test_a_roster_carries_the_time_off_of_its_span(database_url: str) -> None:
    async with stores(database_url) as (store, _):
        one, two, three = [await customer_of(store, f"C{n}") for n in range(3)]

        async def off(customer: Customer, user: str, first: date, last: date, key: str) -> str:
            row, _ = await store.add_time_off(
                customer.id, user, first, last, "", by="U1", request_key=key, now=NOW
            )
            return row.short_id

        # The span is the 10th, 00:00 to 24:00 UTC: read as the 9th to the 12th (a day
        # around the dates of its ends), since it is the 9th to the 11th on some clocks.
        span = (datetime(2026, 12, 10, tzinfo=UTC), datetime(2026, 12, 11, tzinfo=UTC))
        day_before = await off(one, "U2", date(2026, 12, 1), date(2026, 12, 9), "before")
        await off(one, "U2", date(2026, 12, 1), date(2026, 12, 8), "too early")
        on_it = await off(one, "U3", date(2026, 12, 10), date(2026, 12, 10), "on")
        day_after = await off(one, "U2", date(2026, 12, 11), date(2026, 12, 20), "after")
        await off(one, "U4", date(2026, 12, 13), date(2026, 12, 20), "too late")
        cancelled = await off(one, "U5", date(2026, 12, 10), date(2026, 12, 10), "cancelled")
        await store.cancel_time_off(one.id, cancelled, by="U1", now=NOW)
        await off(two, "U2", date(2026, 12, 10), date(2026, 12, 10), "theirs, elsewhen")
        await off(three, "U2", date(2026, 12, 10), date(2026, 12, 10), "no span asked")

        rosters = await store.rosters(
            {
                one.id: span,
                two.id: (span[0] + timedelta(days=5), span[1] + timedelta(days=5)),
                three.id: None,
            }
        )
        roster_of_three = await store.roster(three.id)

    assert [t.short_id for t in rosters[one.id].time_off] == [day_before, on_it, day_after]
    assert rosters[two.id].time_off == []
    assert rosters[three.id].time_off == [] and roster_of_three.time_off == []
