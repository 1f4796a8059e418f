"""Fair assignment: who `book anyone` picks, by hand and as properties."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from itertools import pairwise

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bot.assignment import Candidate, fair_order, week_of

HOUR = timedelta(hours=1)
NOW = datetime(2026, 3, 11, 12, tzinfo=UTC)


def ids(order: list[Candidate]) -> list[str]:
    return [c.user_id for c in order]


def test_the_fewest_booked_hours_come_first() -> None:
    order = fair_order(
        [
            Candidate("U1", free=True, booked=3 * HOUR, last_start=NOW - 8 * 24 * HOUR),
            Candidate("U2", free=True, booked=HOUR, last_start=NOW - HOUR),
            Candidate("U3", free=True, booked=2 * HOUR, last_start=None),
        ]
    )
    # U2 was booked an hour ago, but has the fewest hours this week.
    assert ids(order) == ["U2", "U3", "U1"]


def test_ties_go_to_whoever_waited_longest_never_booked_first_then_the_user_id() -> None:
    order = fair_order(
        [
            Candidate("U4", free=True, booked=2 * HOUR, last_start=NOW - 2 * HOUR),
            Candidate("U3", free=True, booked=2 * HOUR, last_start=NOW - 30 * 24 * HOUR),
            Candidate("U2", free=True, booked=2 * HOUR, last_start=None),
            Candidate("U1", free=True, booked=2 * HOUR, last_start=None),
        ]
    )
    assert ids(order) == ["U1", "U2", "U3", "U4"]


def test_only_the_free_are_candidates() -> None:
    busy = Candidate("U1", free=False, booked=timedelta(0), last_start=None)
    free = Candidate("U2", free=True, booked=5 * HOUR, last_start=NOW)
    assert fair_order([busy, free]) == [free]
    assert fair_order([busy]) == []
    assert fair_order([]) == []


def test_a_candidate_refuses_what_it_cannot_mean() -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        Candidate("U1", free=True, booked=HOUR, last_start=datetime(2026, 3, 9, 9))
    with pytest.raises(ValueError, match="negative"):
        Candidate("U1", free=True, booked=-HOUR, last_start=None)


@pytest.mark.parametrize(
    ("day", "monday"),
    [
        (date(2026, 3, 9), date(2026, 3, 9)),  # a Monday is its own week's start
        (date(2026, 3, 11), date(2026, 3, 9)),
        (date(2026, 3, 15), date(2026, 3, 9)),  # Sunday ends the week
        (date(2026, 3, 16), date(2026, 3, 16)),
        (date(2027, 1, 1), date(2026, 12, 28)),  # across a new year
    ],
)
def test_week_of_is_monday_to_the_monday_after(day: date, monday: date) -> None:
    assert week_of(day) == (monday, monday + timedelta(days=7))


# --- properties -----------------------------------------------------------------------------------

candidates = st.builds(
    Candidate,
    user_id=st.sampled_from([f"U{n}" for n in range(8)]),
    free=st.booleans(),
    booked=st.integers(0, 12).map(lambda quarters: quarters * timedelta(minutes=15)),
    last_start=st.none()
    | st.integers(0, 10).map(lambda days: datetime(2026, 3, 1, tzinfo=UTC) + days * 24 * HOUR),
)
"""Few distinct values, so that ties at every level are common."""


@settings(max_examples=300)
@given(pool=st.lists(candidates, max_size=8, unique_by=lambda c: c.user_id))
def test_the_chosen_is_free_and_fairest(pool: list[Candidate]) -> None:
    order = fair_order(pool)
    free = [c for c in pool if c.free]
    assert sorted(order, key=lambda c: c.user_id) == sorted(free, key=lambda c: c.user_id)
    if not free:
        assert order == []
        return
    chosen = order[0]
    assert chosen.free
    assert chosen.booked == min(c.booked for c in free)
    tied = [c for c in free if c.booked == chosen.booked]
    if any(c.last_start is None for c in tied):
        assert chosen.last_start is None
    else:
        assert chosen.last_start == min(c.last_start for c in tied if c.last_start is not None)


@settings(max_examples=200)
@given(pool=st.lists(candidates, max_size=8, unique_by=lambda c: c.user_id), data=st.data())
def test_the_order_does_not_depend_on_the_order_asked(
    pool: list[Candidate], data: st.DataObject
) -> None:
    assert fair_order(data.draw(st.permutations(pool))) == fair_order(pool)


@settings(max_examples=200)
@given(pool=st.lists(candidates, max_size=8, unique_by=lambda c: c.user_id))
def test_each_candidate_is_at_least_as_fair_as_the_next(pool: list[Candidate]) -> None:
    for ahead, behind in pairwise(fair_order(pool)):
        assert ahead.booked <= behind.booked
        if ahead.booked == behind.booked:
            assert behind.last_start is not None or ahead.last_start is None
            if behind.last_start is not None and ahead.last_start is not None:
                assert ahead.last_start <= behind.last_start
            if ahead.last_start == behind.last_start:
                assert ahead.user_id < behind.user_id
