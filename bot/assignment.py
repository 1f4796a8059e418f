"""Who gets a booking asked of "anyone": the fairest free person.

Pure: no I/O, no clock. The caller works out, for each candidate, whether the asked time
is free for them (no reason from `bot.availability.reasons`), their live bookings' length
in the asked time's local week, and when their latest live booking started.

Why this order
    `book anyone` spreads the work (CONTRACT: "chosen fairly: fewest booked hours in that
    local Monday–Sunday week (cancelled bookings don't count), then longest since their
    last booking"). Hours booked that week come first, because that is what people
    compare when they ask whether the work is shared out evenly. Among equals, whoever has
    waited longest since their last booking goes first (someone never booked has waited
    longest of all), so ties rotate instead of always landing on the same person. The
    user id settles what is left, so the same question always gets the same answer.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta


@dataclass(frozen=True)
class Candidate:
    """One person who might take the booking, as the fair order sees them."""

    user_id: str
    free: bool
    """No reason keeps the asked time from them."""
    booked: timedelta
    """Their live bookings' length in the asked time's local Monday–Sunday week."""
    last_start: datetime | None
    """The start of their latest live booking at or before now; None: never booked."""

    def __post_init__(self) -> None:
        if self.booked < timedelta(0):
            raise ValueError(f"booked time must not be negative, got {self.booked}")
        if self.last_start is not None and self.last_start.utcoffset() is None:
            raise ValueError(f"last_start must be timezone-aware, got {self.last_start!r}")


_NEVER = datetime.min.replace(tzinfo=UTC)
"""Someone never booked sorts as if their last booking were the longest ago of all."""


def _fairness(candidate: Candidate) -> tuple[timedelta, datetime, str]:
    last = _NEVER if candidate.last_start is None else candidate.last_start
    return (candidate.booked, last, candidate.user_id)


def fair_order(candidates: Iterable[Candidate]) -> list[Candidate]:
    """The free candidates, fairest first: fewest booked, then longest since their last
    booking (never booked first), then user id (so the order is stable)."""
    return sorted((c for c in candidates if c.free), key=_fairness)


def week_of(day: date) -> tuple[date, date]:
    """The local Monday of `day`'s week and the Monday after."""
    monday = day - timedelta(days=day.weekday())
    return monday, monday + timedelta(days=7)
