"""Pure: how far a channel's onboarding has come, derived from stored facts.

Every step is read from something the bot keeps anyway (the calendar connections, the
customer's digest setting, the first availability question) and who is in the channel;
there is no "step done" flag of its own that could drift from them. The four steps:

1. the primary calendar is connected (and not broken);
2. each person in the channel has connected their own (staff) calendar;
3. someone has asked `/tonomo availability` here;
4. the daily digest is on.

A connection that needs reconnecting (or lacks a permission) does not count as done: it
is shown as such, so the person knows to act. One that Google can't be reached for at the
moment still counts: that is Google's trouble, not theirs.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable
from dataclasses import dataclass

from storage.models import CalendarConnection, ConnectionKind, Customer

STEPS = 4


class Standing(enum.StrEnum):
    """Where one calendar (the primary, or a person's own) stands."""

    CONNECTED = "connected"
    NEEDS_RECONNECT = "needs_reconnect"
    NOT_YET = "not_yet"


def standing_of(connection: CalendarConnection | None) -> Standing:
    if connection is None:
        return Standing.NOT_YET
    return Standing.NEEDS_RECONNECT if connection.state.is_broken else Standing.CONNECTED


class Reminded(enum.StrEnum):
    """What came of a click on Remind staff."""

    POSTED = "posted"
    NO_ONE_WAITING = "no_one_waiting"
    MEMBERS_UNKNOWN = "members_unknown"
    JUST_DONE = "just_done"
    NOT_POSTED = "not_posted"


@dataclass(frozen=True)
class PersonStanding:
    user_id: str
    standing: Standing


@dataclass(frozen=True, kw_only=True)
class Progress:
    primary: Standing
    primary_email: str | None
    primary_by: str | None
    """Who connected the primary calendar (a Slack user id)."""
    people: tuple[PersonStanding, ...]
    """The channel's people, those who need to act first; when Slack won't list the
    channel, only the people who have connected a calendar."""
    everyone_known: bool
    """False when Slack wouldn't say who is in the channel."""
    availability_asked: bool
    digest_on: bool
    digest_time: str
    """`HH:MM`, in `timezone`."""
    timezone: str

    @property
    def primary_done(self) -> bool:
        return self.primary is Standing.CONNECTED

    @property
    def staff_done(self) -> bool:
        return (
            self.everyone_known
            and bool(self.people)
            and all(p.standing is Standing.CONNECTED for p in self.people)
        )

    @property
    def not_connected(self) -> list[str]:
        """The people in the channel who have never connected a calendar here."""
        return [p.user_id for p in self.people if p.standing is Standing.NOT_YET]

    @property
    def connected_count(self) -> int:
        return sum(p.standing is Standing.CONNECTED for p in self.people)

    @property
    def steps_done(self) -> int:
        return sum((self.primary_done, self.staff_done, self.availability_asked, self.digest_on))

    @property
    def complete(self) -> bool:
        return self.steps_done == STEPS


_ORDER = {Standing.NEEDS_RECONNECT: 0, Standing.NOT_YET: 1, Standing.CONNECTED: 2}


def progress_of(
    customer: Customer,
    connections: Iterable[CalendarConnection],
    people: list[str] | None,
) -> Progress:
    """The checklist's state: `connections` are the customer's, `people` the channel's
    people (no bots), or None when Slack wouldn't list them."""
    primary: CalendarConnection | None = None
    staff: dict[str, CalendarConnection] = {}
    for connection in connections:
        if connection.kind is ConnectionKind.PRIMARY:
            primary = connection
        else:
            staff[connection.owner_key] = connection
    listed = list(dict.fromkeys(people)) if people is not None else list(staff)
    standings = sorted(
        (PersonStanding(user_id, standing_of(staff.get(user_id))) for user_id in listed),
        key=lambda p: _ORDER[p.standing],  # a stable sort: channel order within each kind
    )
    return Progress(
        primary=standing_of(primary),
        primary_email=primary.account_email if primary else None,
        primary_by=primary.slack_user_id if primary else None,
        people=tuple(standings),
        everyone_known=people is not None,
        availability_asked=customer.availability_asked_at is not None,
        digest_on=customer.digest_enabled,
        digest_time=customer.digest_time,
        timezone=customer.timezone,
    )
