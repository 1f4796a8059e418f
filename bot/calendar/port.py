"""The calendar port: what the bot needs from a calendar service, and its own errors.

The bot talks to calendars only through `CalendarProvider`; `google.py` is the adapter
for Google. Library errors never cross this line: the adapter translates them into
the `CalendarError` tree below (`raise … from err`), so handlers never see `HttpError`.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Protocol

from bot.availability import Interval

SCOPE_PREFIX = "https://www.googleapis.com/auth/"
FREEBUSY = SCOPE_PREFIX + "calendar.freebusy"
CALENDARS_READONLY = SCOPE_PREFIX + "calendar.calendars.readonly"
EVENTS_OWNED = SCOPE_PREFIX + "calendar.events.owned"
EVENTS = SCOPE_PREFIX + "calendar.events"

STAFF_SCOPES = (FREEBUSY, CALENDARS_READONLY)
PRIMARY_SCOPES = (FREEBUSY, CALENDARS_READONLY, EVENTS_OWNED)


@dataclass(frozen=True, kw_only=True)
class TokenSet:
    """The OAuth tokens of one connected account. Never logged, never sent to Slack."""

    access_token: str
    refresh_token: str | None
    expiry: datetime | None
    scopes: tuple[str, ...] = field(default=())

    def __repr__(self) -> str:  # keep tokens out of logs and tracebacks
        return f"TokenSet(scopes={self.scopes!r}, expiry={self.expiry!r}, tokens=<hidden>)"


@dataclass(frozen=True, kw_only=True)
class Account:
    """A connected Google account, as learned from `calendars/primary`."""

    email: str
    time_zone: str | None = None


# https://developers.google.com/calendar/api/v3/reference/events#id
EVENT_ID = re.compile(r"[0-9a-v]{5,1024}")


@dataclass(frozen=True, kw_only=True)
class NewEvent:
    """An event the bot puts on the primary calendar; `id` is chosen by the bot (base32hex: 0-9 a-v, 5-1024 chars) so a retry never makes a second event."""

    id: str
    summary: str
    description: str
    start: datetime  # aware
    end: datetime  # aware
    time_zone: str  # IANA name of the customer's zone, sent as start.timeZone/end.timeZone
    attendees: tuple[str, ...]  # emails

    def __post_init__(self) -> None:
        if not EVENT_ID.fullmatch(self.id):
            raise ValueError(f"an event id is 5 to 1024 characters of 0-9 and a-v, got {self.id!r}")
        for name, value in (("start", self.start), ("end", self.end)):
            if value.tzinfo is None or value.utcoffset() is None:
                raise ValueError(f"{name} must be timezone-aware, got {value!r}")
        if self.end <= self.start:
            raise ValueError(f"an event must end after it starts: {self.start} to {self.end}")


BusyTimes = dict[str, list[Interval] | None]
"""Busy intervals per calendar id asked for; None when Google reported an error for that calendar: unknown, never free."""


READ_DEADLINE = 4.0
"""Seconds one person's calendar may take (a token refresh, the adapter's retries and
backoff, and any wait for a turn under its limits of calls at once included) while
someone waits for an answer; past it, their calendar is
reported as not read (or not checked) in time, never as free or broken. One hanging
Google account never holds everyone else's answer."""


class CalendarError(Exception):
    """Anything that went wrong talking to the calendar service."""


class NeedsReconnect(CalendarError):
    """The grant is gone (revoked, expired, password changed): the person must reconnect.

    `reason` is one of GRANT_REVOKED, ACCOUNT_DELETED, CREDENTIALS_REJECTED.
    """

    def __init__(self, message: str, *, reason: str) -> None:
        super().__init__(message)
        self.reason = reason


GRANT_REVOKED = "grant_revoked"
"""`invalid_grant`: access removed, password changed, six months unused, or a Testing app's 7 days."""
ACCOUNT_DELETED = "account_deleted"
CREDENTIALS_REJECTED = "credentials_rejected"
"""The Calendar API answered 401 even with a fresh access token."""
MISSING_SCOPES = "missing_scopes"
"""Followed by the scopes that were not granted, space-separated."""
GOOGLE_UNREACHABLE = "google_unreachable"


def missing_scopes_reason(scopes: Iterable[str]) -> str:
    return " ".join([MISSING_SCOPES, *scopes])


class MissingPermission(CalendarError):
    """The grant lacks a scope the call needs (a box was unticked at consent)."""


class Transient(CalendarError):
    """Rate limits, 5xx, timeouts: worth trying again later."""


class ConsentFailed(CalendarError):
    """The authorization code could not be exchanged for tokens."""


class EventGone(CalendarError):
    """The event isn't on the calendar any more (deleted there, by hand or otherwise)."""


class CalendarProvider(Protocol):
    """What the bot needs from a calendar service."""

    def consent_url(
        self,
        *,
        scopes: tuple[str, ...],
        state: str,
        code_verifier: str,
        login_hint: str | None = None,
    ) -> str:
        """The URL of the consent page (offline access, consent prompt, PKCE)."""
        ...

    async def exchange_code(
        self, *, code: str, code_verifier: str, scopes: tuple[str, ...]
    ) -> TokenSet:
        """Tokens for an authorization code. Raises `ConsentFailed`."""
        ...

    async def fetch_account(self, tokens: TokenSet) -> tuple[Account, TokenSet]:
        """The account behind the tokens, and the tokens (refreshed if they had to be)."""
        ...

    async def revoke(self, token: str) -> None:
        """Revoke a grant at the provider. A token that is already invalid counts as revoked."""
        ...

    async def free_busy(
        self, tokens: TokenSet, calendar_ids: Sequence[str], start: datetime, end: datetime
    ) -> tuple[BusyTimes, TokenSet]:
        """Busy time in [start, end) on each calendar, merged and in UTC; a key for every id."""
        ...

    async def insert_event(self, tokens: TokenSet, event: NewEvent) -> TokenSet:
        """Put the event on the primary calendar and invite its attendees; idempotent by `id`."""
        ...

    async def delete_event(self, tokens: TokenSet, event_id: str) -> TokenSet:
        """Delete a primary-calendar event and tell its attendees; an event already gone is fine."""
        ...

    async def move_event(
        self,
        tokens: TokenSet,
        calendar_id: str,
        event_id: str,
        start: datetime,
        end: datetime,
        *,
        time_zone: str,
    ) -> TokenSet:
        """Give an event new times, in place (the same event, its attendees told as Google
        tells them); `time_zone` is the IANA name sent with both, as `NewEvent.time_zone`.
        Moving it to where it is already changes nothing. Raises `EventGone` when the event
        was deleted."""
        ...
