"""The digest's schedule across timezones and clock changes, its messages within Slack's
limits, and how a run reads ahead."""

from __future__ import annotations

import asyncio
import gc
import weakref
from collections.abc import Callable, Sequence
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given
from hypothesis import strategies as st
from slack_sdk.models.blocks import Block

from bot.availability import Interval, Rules, WorkingHours, free_windows
from bot.digest import USUAL_SHOOT, ReadAhead, SentMarks, Stored, due_date, usual_length
from bot.messages import SECTION_LIMIT
from bot.messages.digest import (
    CONTEXT_LIMIT,
    HEADER_LIMIT,
    MAX_BLOCKS,
    BlockTooLong,
    DigestView,
    build_digest,
    context,
    header,
    primary_button,
    section,
)
from bot.staff import NEEDS_RECONNECT, AvailabilityReport, Person, PersonAvailability
from sandbox.fake_slack import text_of
from storage.models import Customer
from storage.repositories import Roster
from storage.repositories.digests import SentDigest


def customer(zone: str, at: str = "07:00", days: str = "01234", enabled: bool = True) -> Customer:
    return Customer(
        team_id="T1",
        channel_id="C1",
        timezone=zone,
        registered_by="U1",
        work_start="09:00",
        work_end="17:00",
        work_days=days,
        digest_enabled=enabled,
        digest_time=at,
    )


def local(zone: str, day: date, hour: int, minute: int = 0, fold: int = 0) -> datetime:
    return datetime.combine(day, time(hour, minute, fold=fold), ZoneInfo(zone))


@pytest.mark.parametrize("zone", ["America/New_York", "Asia/Kolkata", "Australia/Lord_Howe"])
def test_due_from_its_time_until_midnight_on_working_days(zone: str) -> None:
    tuesday = date(2026, 12, 1)
    shop = customer(zone)
    assert due_date(shop, local(zone, tuesday, 6, 59)) is None
    assert due_date(shop, local(zone, tuesday, 7)) == tuesday
    assert due_date(shop, local(zone, tuesday, 23, 59)) == tuesday
    assert due_date(shop, local(zone, date(2026, 12, 5), 9)) is None, "Saturday"
    assert due_date(customer(zone, enabled=False), local(zone, tuesday, 9)) is None
    assert due_date(customer(zone, days="5"), local(zone, date(2026, 12, 5), 9)) == date(
        2026, 12, 5
    )


def test_the_same_instant_is_a_different_local_day_in_each_zone() -> None:
    instant = datetime(2026, 12, 1, 2, 0, tzinfo=UTC)  # Monday 21:00 in New York
    assert due_date(customer("America/New_York"), instant) == date(2026, 11, 30)
    assert due_date(customer("Asia/Kolkata"), instant) == date(2026, 12, 1)  # 7:30 there


def test_a_time_the_clocks_skip_is_due_when_they_land() -> None:
    zone = "America/New_York"
    spring = date(2027, 3, 15)  # a Monday; 2027-03-14 is the Sunday of the change
    shop = customer(zone, at="02:30", days="0123456")
    change = date(2027, 3, 14)
    assert due_date(shop, local(zone, change, 1, 59)) is None
    assert due_date(shop, local(zone, change, 3, 0)) == change, "02:30 never shows: due at 3:00"
    assert due_date(shop, local(zone, spring, 2, 30)) == spring


def test_a_time_the_clocks_repeat_is_due_the_first_time() -> None:
    zone = "America/New_York"
    change = date(2026, 11, 1)
    shop = customer(zone, at="01:30", days="0123456")
    assert due_date(shop, local(zone, change, 1, 29, fold=0)) is None
    assert due_date(shop, local(zone, change, 1, 30, fold=0)) == change
    # The second 1:30 is the same local date: the day's digest, already claimed then.
    assert due_date(shop, local(zone, change, 1, 30, fold=1)) == change


@given(st.datetimes(min_value=datetime(2026, 1, 1), max_value=datetime(2030, 1, 1)))
def test_due_only_on_the_local_date_of_now(naive: datetime) -> None:
    zone = ZoneInfo("Australia/Lord_Howe")
    now = naive.replace(tzinfo=UTC)
    day = due_date(customer("Australia/Lord_Howe", days="0123456"), now)
    assert day is None or day == now.astimezone(zone).date()


def test_the_usual_length_is_learned_from_bookings() -> None:
    assert usual_length([]) == USUAL_SHOOT
    hour, two = timedelta(hours=1), timedelta(hours=2)
    assert usual_length([hour, two, two]) == two


def view(staff: int, zone: str = "America/New_York") -> DigestView:
    tz = ZoneInfo(zone)
    day = date(2026, 12, 1)
    hours = WorkingHours()
    people = []
    for n in range(staff):
        person = Person(f"U{n:04d}", f"person {n}", Rules(tz, hours), None)
        if n % 7 == 3:
            people.append(PersonAvailability(person, None, NEEDS_RECONNECT))
            continue
        busy = [
            Interval(local(zone, day, 9 + k * 2), local(zone, day, 10 + k * 2))
            for k in range(n % 4)
        ]
        people.append(
            PersonAvailability(person, free_windows(days=[day], zone=tz, hours=hours, busy=busy))
        )
    report = AvailabilityReport(tz, (day,), None, people, local(zone, day, 7), True)
    return DigestView(report, day, timedelta(minutes=90), [f"UNEW{n}" for n in range(staff)])


@pytest.mark.parametrize("staff", [0, 1, 10, 200])
@pytest.mark.parametrize("zone", ["America/New_York", "Asia/Kolkata"])
def test_every_part_is_within_slack_s_limits_and_nobody_is_left_out(staff: int, zone: str) -> None:
    messages = build_digest(view(staff, zone), clock="24h")
    everything = ""
    for message in messages:
        assert 1 <= len(message.blocks) <= MAX_BLOCKS
        for block in message.blocks:
            # Written as JSON directly: exactly what slack_sdk's models build, and valid.
            parsed = Block.parse(block)
            assert parsed is not None and parsed.to_dict() == block
            text = (block.get("text") or {}).get("text", "")
            assert len(text) <= SECTION_LIMIT
        everything += text_of({"text": message.text, "blocks": message.blocks})
    for n in range(staff):
        assert f"<@U{n:04d}>" in everything and f"<@UNEW{n}>" in everything
    assert "Today's availability: Tuesday 1 December" in messages[0].text


@pytest.mark.parametrize(
    ("build", "limit"),
    [(header, HEADER_LIMIT), (section, SECTION_LIMIT), (context, CONTEXT_LIMIT)],
)
def test_a_text_over_slack_s_limit_is_refused_as_the_models_refuse_it(
    build: Callable[[str], dict[str, Any]], limit: int
) -> None:
    block = build("x" * limit)
    parsed = Block.parse(block)
    assert parsed is not None and parsed.to_dict() == block
    with pytest.raises(BlockTooLong):
        build("x" * (limit + 1))
    with pytest.raises(BlockTooLong):
        primary_button("x" * 76, "connect_mine")


def test_one_person_s_day_reads_plainly() -> None:
    (message,) = build_digest(view(3), clock="24h")
    text = text_of({"text": message.text, "blocks": message.blocks})
    assert "<@U0000>: 9:00–17:00  _(5 × 1h30m fit)_" in text
    assert "<@U0002>: 10:00–11:00, 12:00–17:00  _(3 × 1h30m fit)_" in text
    assert "Read live from Google at 7:00 (America/New_York)" in text


def test_no_staff_connected_says_so() -> None:
    (message,) = build_digest(view(0), clock="24h")
    assert "No staff calendar is connected yet" in text_of({"blocks": message.blocks})


class Facts(dict[int, Stored]):
    """A read's answer that a test can hold a weak reference to."""


async def test_a_run_reads_its_customers_facts_a_group_at_a_time_and_lets_them_go() -> None:
    customers = [customer("UTC") for _ in range(10)]
    for number, each in enumerate(customers, start=1):
        each.id = number
    due = [(c, date(2026, 12, 1)) for c in customers]
    reads: list[list[int]] = []
    answers: list[weakref.ref[Facts]] = []

    async def read(group: Sequence[tuple[Customer, date]]) -> dict[int, Stored]:
        reads.append([c.id for c, _ in group])
        # Another instance has customer 2's digest: the read (its claims) leaves it out.
        facts = Facts(
            {
                c.id: Stored(Roster([], [], []), [timedelta(hours=c.id)])
                for c, _ in group
                if c.id != 2
            }
        )
        answers.append(weakref.ref(facts))
        return facts

    ahead = ReadAhead(read, due, size=4)
    taken = await asyncio.gather(*(ahead.take(c) for c in customers[:3]))
    ahead.give_up(customers[3])  # the run stopped before this one
    assert reads == [[1, 2, 3, 4]], "one read for the group, shared"
    assert [s and s.lengths for s in taken] == [[timedelta(hours=1)], None, [timedelta(hours=3)]]
    del taken
    gc.collect()
    assert answers[0]() is None, "every digest of the group done with it: let go"

    for each in customers[4:8]:
        ahead.give_up(each)
    tenth = await ahead.take(customers[9])
    assert tenth is not None and tenth.lengths == [timedelta(hours=10)]
    assert reads == [[1, 2, 3, 4], [9, 10]], "a group nobody needs is never read"


async def test_a_stopping_run_finds_what_its_reads_claimed_for_the_digests_it_never_began() -> None:
    customers = [customer("UTC") for _ in range(6)]
    for number, each in enumerate(customers, start=1):
        each.id = number
    due = [(c, date(2026, 12, 1)) for c in customers]
    reading = asyncio.Event()

    async def read(group: Sequence[tuple[Customer, date]]) -> dict[int, Stored]:
        await reading.wait()
        return {c.id: Stored(Roster([], [], []), []) for c, _ in group if c.id != 3}

    ahead = ReadAhead(read, due, size=4)
    first = asyncio.ensure_future(ahead.take(customers[0]))
    await asyncio.sleep(0)
    first.cancel()  # whoever waited is cancelled: the read goes on
    found = asyncio.ensure_future(ahead.read_for(due[1:]))
    await asyncio.sleep(0)
    assert not found.done(), "waits for the read under way"
    reading.set()
    assert [c.id for c, _ in await found] == [2, 4], "read and claimed; 5 and 6 never read"


async def test_sent_digests_are_recorded_together_while_a_write_is_in_flight() -> None:
    writes: list[list[int]] = []
    gate = asyncio.Event()

    async def write(marks: list[SentDigest]) -> None:
        writes.append([m.customer_id for m in marks])
        await gate.wait()
        if 99 in writes[-1]:
            raise RuntimeError("database gone")

    marks = SentMarks(write)
    day, at = date(2026, 12, 1), datetime(2026, 12, 1, tzinfo=UTC)

    def mark(customer_id: int) -> asyncio.Future[None]:
        return asyncio.ensure_future(marks.mark(SentDigest(customer_id, day, at, "1.1")))

    first = mark(1)
    await asyncio.sleep(0.01)
    second = [mark(2), mark(3)]
    await asyncio.sleep(0.01)
    assert writes == [[1]], "the first write is in flight; the others wait for it"
    second[0].cancel()  # a waiter cancelled: its write goes ahead for the others
    gate.set()
    await first
    await second[1]
    assert writes == [[1], [2, 3]], "one write for all that waited"

    third = [mark(4), mark(99)]
    for each in third:
        with pytest.raises(RuntimeError):
            await each  # a write that fails fails every mark in it
    assert writes[-1] == [4, 99]
    await mark(5)
    assert writes[-1] == [5], "and the next write goes on"


async def test_sent_digests_wait_a_moment_for_others_to_be_recorded_with() -> None:
    writes: list[list[int]] = []

    async def write(marks: list[SentDigest]) -> None:
        writes.append([m.customer_id for m in marks])

    marks = SentMarks(write, wait=0.05)
    day, at = date(2026, 12, 1), datetime(2026, 12, 1, tzinfo=UTC)

    async def mark(customer_id: int, after: float) -> None:
        await asyncio.sleep(after)
        await marks.mark(SentDigest(customer_id, day, at, "1.1"))

    await asyncio.gather(mark(1, 0), mark(2, 0.01), mark(3, 0.02), mark(4, 0.2))
    assert writes == [[1, 2, 3], [4]]
