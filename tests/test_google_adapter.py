"""The Google adapter against the Google emulator: refresh, free/busy, events, errors."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta

import pytest

from bot.availability import Interval
from bot.calendar.google import GoogleCalendar
from bot.calendar.port import (
    CALENDARS_READONLY,
    FREEBUSY,
    PRIMARY_SCOPES,
    STAFF_SCOPES,
    CalendarError,
    EventGone,
    MissingPermission,
    NeedsReconnect,
    NewEvent,
    TokenSet,
    Transient,
)
from sandbox.fake_google import FakeGoogle
from sandbox.faults import Fault
from tests.conftest import CLIENT_ID, CLIENT_SECRET

EMAIL = "alice@acme-photo.com"
GUEST = "client@example.com"
DAY = datetime(2030, 6, 3, tzinfo=UTC)


def at(hours: float) -> datetime:
    return DAY + timedelta(hours=hours)


def make_adapter(
    google: FakeGoogle, *, num_retries: int = 0, max_workers: int = 16
) -> GoogleCalendar:
    return GoogleCalendar(
        client_id=CLIENT_ID,
        client_secret=CLIENT_SECRET,
        auth_uri=google.auth_uri,
        token_uri=google.token_uri,
        revoke_uri=google.revoke_uri,
        api_url=google.api_url,
        redirect_uri="http://127.0.0.1:9/oauth/google/callback",
        num_retries=num_retries,
        max_workers=max_workers,
        timeout=5,
        allow_plain_http=True,
    )


@pytest.fixture
def calendar(google: FakeGoogle) -> Iterator[GoogleCalendar]:
    adapter = make_adapter(google)
    yield adapter
    adapter.close()


@pytest.fixture
def retrying_calendar(google: FakeGoogle) -> Iterator[GoogleCalendar]:
    """An adapter that retries once (the library sleeps up to 2 s before the retry)."""
    adapter = make_adapter(google, num_retries=1)
    yield adapter
    adapter.close()


def tokens_for(google: FakeGoogle, scopes: list[str], *, expired: bool = False) -> TokenSet:
    access, refresh = google.issue_tokens(EMAIL, scopes)
    expiry = datetime.now(UTC) + (timedelta(seconds=-5) if expired else timedelta(hours=1))
    return TokenSet(access_token=access, refresh_token=refresh, expiry=expiry, scopes=tuple(scopes))


async def test_the_account_is_learned_from_the_primary_calendar(
    google: FakeGoogle, calendar: GoogleCalendar
) -> None:
    tokens = tokens_for(google, [FREEBUSY, CALENDARS_READONLY])
    account, after = await calendar.fetch_account(tokens)
    assert account.email == EMAIL
    assert after == tokens, "nothing to refresh"


async def test_an_expired_access_token_is_refreshed_and_the_refresh_token_kept(
    google: FakeGoogle, calendar: GoogleCalendar
) -> None:
    tokens = tokens_for(google, [FREEBUSY, CALENDARS_READONLY], expired=True)
    google.expire_access_tokens()

    account, after = await calendar.fetch_account(tokens)

    assert account.email == EMAIL
    assert after.access_token != tokens.access_token
    assert after.refresh_token == tokens.refresh_token
    assert after.expiry is not None and after.expiry.tzinfo is not None
    assert after.expiry > datetime.now(UTC)
    assert google.requests.matching("/token$")


async def test_a_revoked_grant_needs_reconnecting(
    google: FakeGoogle, calendar: GoogleCalendar
) -> None:
    tokens = tokens_for(google, [FREEBUSY, CALENDARS_READONLY])
    google.revoke_account_tokens(EMAIL)
    with pytest.raises(NeedsReconnect):
        await calendar.fetch_account(tokens)


async def test_a_missing_scope_is_a_missing_permission(
    google: FakeGoogle, calendar: GoogleCalendar
) -> None:
    tokens = tokens_for(google, [FREEBUSY])
    with pytest.raises(MissingPermission):
        await calendar.fetch_account(tokens)


@pytest.mark.parametrize("status", [429, 403])
async def test_rate_limits_are_transient(
    google: FakeGoogle, calendar: GoogleCalendar, status: int
) -> None:
    tokens = tokens_for(google, [FREEBUSY, CALENDARS_READONLY])
    google.rate_limit("/calendar/v3/", status=status)
    with pytest.raises(Transient):
        await calendar.fetch_account(tokens)


async def test_server_errors_are_transient(google: FakeGoogle, calendar: GoogleCalendar) -> None:
    tokens = tokens_for(google, [FREEBUSY, CALENDARS_READONLY])
    google.server_error("/calendar/v3/")
    with pytest.raises(Transient):
        await calendar.fetch_account(tokens)


async def test_calls_in_a_row_share_a_connection_and_outlive_google_closing_it(
    google: FakeGoogle,
) -> None:
    calendar = make_adapter(google, max_workers=1)  # one worker thread, so one Http
    tokens = tokens_for(google, [FREEBUSY, CALENDARS_READONLY])
    google.add_event(EMAIL, start=at(9), end=at(10))

    def connections() -> set[str]:
        return {r.peer for r in google.requests.matching("/freeBusy$")}

    try:
        for _ in range(5):
            await calendar.free_busy(tokens, ["primary"], at(0), at(24))
        assert len(connections()) == 1, "one connection, kept open"

        await google.drop_connections()  # Google closes it while it is idle
        busy, _ = await calendar.free_busy(tokens, ["primary"], at(0), at(24))
    finally:
        calendar.close()
    assert busy == {"primary": [Interval(at(9), at(10))]}
    assert len(connections()) == 2
    assert len(google.requests.matching("/freeBusy$")) == 6, "each read asked once"


async def test_revoking_twice_is_fine(google: FakeGoogle, calendar: GoogleCalendar) -> None:
    tokens = tokens_for(google, [FREEBUSY, CALENDARS_READONLY])
    await calendar.revoke(tokens.refresh_token or "")
    await calendar.revoke(tokens.refresh_token or "")
    with pytest.raises(NeedsReconnect):
        await calendar.fetch_account(tokens)


async def test_google_unreachable_on_revoke_is_transient(
    google: FakeGoogle, calendar: GoogleCalendar
) -> None:
    google.server_error("/revoke")
    with pytest.raises(Transient):
        await calendar.revoke("whatever")


# --- free/busy -------------------------------------------------------------------------


async def test_only_time_really_taken_is_busy(google: FakeGoogle, calendar: GoogleCalendar) -> None:
    google.add_account(EMAIL, time_zone="America/Chicago")
    google.add_event(EMAIL, start=at(14), end=at(15), summary="shoot")
    google.add_event(EMAIL, start=at(16), end=at(17), transparency="transparent")
    google.add_event(
        EMAIL,
        start=at(17),
        end=at(18),
        attendees=[{"email": EMAIL, "responseStatus": "declined"}],
    )
    google.add_event(EMAIL, start=at(19), end=at(20), status="cancelled")
    google.add_event(EMAIL, start=date(2030, 6, 4), end=date(2030, 6, 5), summary="vacation")
    tokens = tokens_for(google, list(STAFF_SCOPES))

    busy, after = await calendar.free_busy(tokens, ["primary"], at(0), at(48))

    assert busy == {
        "primary": [
            Interval(at(14), at(15)),
            # all day in Chicago: local midnight to midnight, CDT (-5)
            Interval(at(24 + 5), at(48)),
        ]
    }
    assert all(i.start.tzinfo is UTC for i in busy["primary"] or [])
    assert after == tokens, "nothing to refresh"


async def test_more_than_fifty_calendars_are_asked_in_chunks(
    google: FakeGoogle, calendar: GoogleCalendar
) -> None:
    google.add_event(EMAIL, start=at(9), end=at(10))
    google.add_event(EMAIL, start=at(11), end=at(12), calendar_id="team@acme-photo.com")
    unknown = [f"nobody{i}@example.com" for i in range(58)]
    ids = ["primary", *unknown, "team@acme-photo.com"]
    tokens = tokens_for(google, list(STAFF_SCOPES))

    busy, _ = await calendar.free_busy(tokens, ids, at(0), at(24))

    assert list(busy) == ids
    assert busy["primary"] == [Interval(at(9), at(10))]  # first chunk
    assert busy["team@acme-photo.com"] == [Interval(at(11), at(12))]  # second chunk
    assert all(busy[i] is None for i in unknown)
    asked = [r.json()["items"] for r in google.requests.matching("/freeBusy$")]
    assert [len(items) for items in asked] == [50, 10]


async def test_a_long_range_is_split_and_merged_back(
    google: FakeGoogle, calendar: GoogleCalendar
) -> None:
    split = at(24 * 90)
    google.add_event(EMAIL, start=split - timedelta(hours=1), end=split + timedelta(hours=2))
    google.add_event(EMAIL, start=at(24 * 150), end=at(24 * 150 + 1))
    tokens = tokens_for(google, list(STAFF_SCOPES))

    busy, _ = await calendar.free_busy(tokens, ["primary"], at(0), at(24 * 200))

    assert busy["primary"] == [
        Interval(split - timedelta(hours=1), split + timedelta(hours=2)),  # one, not two
        Interval(at(24 * 150), at(24 * 150 + 1)),
    ]
    ranges = [
        (datetime.fromisoformat(b["timeMin"]), datetime.fromisoformat(b["timeMax"]))
        for b in (r.json() for r in google.requests.matching("/freeBusy$"))
    ]
    assert ranges == [(at(0), split), (split, at(24 * 180)), (at(24 * 180), at(24 * 200))]


async def test_a_calendar_google_reports_an_error_for_is_unknown_not_free(
    google: FakeGoogle, calendar: GoogleCalendar
) -> None:
    google.add_event(EMAIL, start=at(9), end=at(10))
    answer = {
        "kind": "calendar#freeBusy",
        "timeMin": "2030-06-03T00:00:00.000Z",
        "timeMax": "2030-06-04T00:00:00.000Z",
        "calendars": {
            "primary": {"busy": [{"start": "2030-06-03T09:00:00Z", "end": "2030-06-03T10:00:00Z"}]},
            "bob@acme-photo.com": {
                "errors": [{"domain": "global", "reason": "internalError"}],
                "busy": [],
            },
        },
    }
    google.faults.add(Fault("/freeBusy$", status=200, body=answer, times=1))
    tokens = tokens_for(google, list(STAFF_SCOPES))
    ids = ["primary", "bob@acme-photo.com", "ghost@acme-photo.com"]

    busy, _ = await calendar.free_busy(tokens, ids, at(0), at(24))

    assert busy == {
        "primary": [Interval(at(9), at(10))],
        "bob@acme-photo.com": None,  # internalError
        "ghost@acme-photo.com": None,  # left out of the answer
    }
    busy, _ = await calendar.free_busy(tokens, ["ghost@acme-photo.com"], at(0), at(24))
    assert busy == {"ghost@acme-photo.com": None}  # notFound


async def test_no_calendars_ask_nothing_and_an_empty_range_is_refused(
    google: FakeGoogle, calendar: GoogleCalendar
) -> None:
    tokens = tokens_for(google, list(STAFF_SCOPES))

    assert await calendar.free_busy(tokens, [], at(0), at(24)) == ({}, tokens)
    assert not google.requests.matching("/calendar/v3/")
    with pytest.raises(ValueError, match="end after"):
        await calendar.free_busy(tokens, ["primary"], at(1), at(1))


async def test_an_expired_token_is_refreshed_once_for_all_the_pieces(
    google: FakeGoogle, calendar: GoogleCalendar
) -> None:
    tokens = tokens_for(google, list(STAFF_SCOPES), expired=True)
    google.expire_access_tokens()

    busy, after = await calendar.free_busy(tokens, ["primary"], at(0), at(24 * 200))

    assert busy == {"primary": []}
    assert after.access_token != tokens.access_token
    assert after.refresh_token == tokens.refresh_token
    assert len(google.requests.matching("/token$")) == 1
    assert len(google.requests.matching("/freeBusy$")) == 3


# --- events ----------------------------------------------------------------------------


def booking(event_id: str = "tonomo0booking0001") -> NewEvent:
    return NewEvent(
        id=event_id,
        summary="Shoot: 12 Elm St",
        description="Booked by the Tonomo bot.",
        start=datetime(2030, 6, 3, 10, tzinfo=UTC),
        end=datetime(2030, 6, 3, 11, 30, tzinfo=UTC),
        time_zone="America/New_York",
        attendees=(GUEST,),
    )


async def test_an_event_is_inserted_with_our_id_and_its_guests_invited(
    google: FakeGoogle, calendar: GoogleCalendar
) -> None:
    tokens = tokens_for(google, list(PRIMARY_SCOPES))

    after = await calendar.insert_event(tokens, booking())

    assert after == tokens
    [event] = google.events(EMAIL)
    assert event["id"] == "tonomo0booking0001"
    assert event["summary"] == "Shoot: 12 Elm St"
    assert event["description"] == "Booked by the Tonomo bot."
    assert event["start"] == {
        "dateTime": "2030-06-03T06:00:00-04:00",
        "timeZone": "America/New_York",
    }
    assert event["end"] == {"dateTime": "2030-06-03T07:30:00-04:00", "timeZone": "America/New_York"}
    assert [a["email"] for a in event["attendees"]] == [GUEST]
    [request] = google.requests.matching("/events$", method="POST")
    assert request.query["sendUpdates"] == "all"


async def test_inserting_the_same_event_twice_makes_one_event(
    google: FakeGoogle, calendar: GoogleCalendar
) -> None:
    tokens = tokens_for(google, list(PRIMARY_SCOPES))

    await calendar.insert_event(tokens, booking())
    await calendar.insert_event(tokens, booking())  # Google answers 409

    assert [e["id"] for e in google.events(EMAIL)] == ["tonomo0booking0001"]
    assert len(google.requests.matching("/events$", method="POST")) == 2


async def test_deleting_twice_is_fine_and_the_event_is_gone(
    google: FakeGoogle, calendar: GoogleCalendar
) -> None:
    tokens = tokens_for(google, list(PRIMARY_SCOPES))
    await calendar.insert_event(tokens, booking())

    await calendar.delete_event(tokens, "tonomo0booking0001")
    await calendar.delete_event(tokens, "tonomo0booking0001")  # Google answers 410
    await calendar.delete_event(tokens, "tonomo0never0made")  # Google answers 404

    assert google.events(EMAIL) == []
    deletes = google.requests.matching("/events/", method="DELETE")
    assert [r.query["sendUpdates"] for r in deletes] == ["all"] * 3


async def test_events_refresh_an_expired_token(
    google: FakeGoogle, calendar: GoogleCalendar
) -> None:
    tokens = tokens_for(google, list(PRIMARY_SCOPES), expired=True)
    google.expire_access_tokens()

    inserted = await calendar.insert_event(tokens, booking())
    deleted = await calendar.delete_event(inserted, "tonomo0booking0001")

    assert inserted.access_token != tokens.access_token
    assert inserted.refresh_token == tokens.refresh_token
    assert deleted == inserted
    assert len(google.requests.matching("/token$")) == 1


async def test_staff_scopes_read_free_busy_but_cannot_write_events(
    google: FakeGoogle, calendar: GoogleCalendar
) -> None:
    tokens = tokens_for(google, list(STAFF_SCOPES))

    busy, _ = await calendar.free_busy(tokens, ["primary"], at(0), at(24))

    assert busy == {"primary": []}
    with pytest.raises(MissingPermission):
        await calendar.insert_event(tokens, booking())
    with pytest.raises(MissingPermission):
        await calendar.delete_event(tokens, "tonomo0booking0001")
    assert google.events(EMAIL) == []


async def test_an_event_is_moved_in_place_and_its_guests_told(
    google: FakeGoogle, calendar: GoogleCalendar
) -> None:
    google.add_account(GUEST)
    tokens = tokens_for(google, list(PRIMARY_SCOPES))
    await calendar.insert_event(tokens, booking())
    start, end = datetime(2030, 6, 4, 18, tzinfo=UTC), datetime(2030, 6, 4, 19, 30, tzinfo=UTC)

    after = await calendar.move_event(
        tokens, "primary", "tonomo0booking0001", start, end, time_zone="America/New_York"
    )

    assert after == tokens
    [event] = google.events(EMAIL)
    assert event["id"] == "tonomo0booking0001", "the same event"
    assert event["start"] == {
        "dateTime": "2030-06-04T14:00:00-04:00",
        "timeZone": "America/New_York",
    }
    assert event["end"] == {"dateTime": "2030-06-04T15:30:00-04:00", "timeZone": "America/New_York"}
    assert event["summary"] == "Shoot: 12 Elm St" and event["sequence"] == 1
    assert [a["email"] for a in event["attendees"]] == [GUEST], "only the times were sent"
    [invited] = google.events(GUEST)
    assert invited["start"]["dateTime"] == "2030-06-04T14:00:00-04:00", "the guest sees it moved"
    [request] = google.requests.matching("/events/tonomo0booking0001$", method="PATCH")
    assert request.query["sendUpdates"] == "all"
    assert set(request.json()) == {"start", "end"}

    # Moving it where it is changes nothing.
    await calendar.move_event(
        tokens, "primary", "tonomo0booking0001", start, end, time_zone="America/New_York"
    )
    [event] = google.events(EMAIL)
    assert event["sequence"] == 1


async def test_moving_a_deleted_or_unknown_event_is_event_gone_and_brings_nothing_back(
    google: FakeGoogle, calendar: GoogleCalendar
) -> None:
    tokens = tokens_for(google, list(PRIMARY_SCOPES))
    await calendar.insert_event(tokens, booking())
    await calendar.delete_event(tokens, "tonomo0booking0001")
    start, end = datetime(2030, 6, 4, 18, tzinfo=UTC), datetime(2030, 6, 4, 19, tzinfo=UTC)

    # The emulator patches a cancelled event and answers it still cancelled.
    with pytest.raises(EventGone):
        await calendar.move_event(
            tokens, "primary", "tonomo0booking0001", start, end, time_zone="UTC"
        )
    assert google.events(EMAIL) == [], "still deleted"
    with pytest.raises(EventGone):  # 404
        await calendar.move_event(
            tokens, "primary", "tonomo0never0made", start, end, time_zone="UTC"
        )
    google.faults.add(Fault("/events/tonomo0booking0001$", status=410, times=1))
    with pytest.raises(EventGone):  # 410, as Google answers for some deleted events
        await calendar.move_event(
            tokens, "primary", "tonomo0booking0001", start, end, time_zone="UTC"
        )


async def test_a_refused_move_is_an_error_and_leaves_the_event_where_it_was(
    google: FakeGoogle, calendar: GoogleCalendar
) -> None:
    tokens = tokens_for(google, list(PRIMARY_SCOPES))
    await calendar.insert_event(tokens, booking())
    start, end = datetime(2030, 6, 4, 18, tzinfo=UTC), datetime(2030, 6, 4, 19, tzinfo=UTC)

    google.faults.add(Fault("/events/", method="PATCH", status=400, times=1))
    with pytest.raises(CalendarError) as refused:
        await calendar.move_event(
            tokens, "primary", "tonomo0booking0001", start, end, time_zone="UTC"
        )
    assert not isinstance(refused.value, EventGone | Transient)
    google.server_error("/events/", times=1)
    with pytest.raises(Transient):
        await calendar.move_event(
            tokens, "primary", "tonomo0booking0001", start, end, time_zone="UTC"
        )
    [event] = google.events(EMAIL)
    assert event["start"]["dateTime"] == "2030-06-03T06:00:00-04:00"

    staff = tokens_for(google, list(STAFF_SCOPES))
    with pytest.raises(MissingPermission):
        await calendar.move_event(
            staff, "primary", "tonomo0booking0001", start, end, time_zone="UTC"
        )
    with pytest.raises(ValueError, match="end after"):
        await calendar.move_event(
            tokens, "primary", "tonomo0booking0001", end, start, time_zone="UTC"
        )


def test_a_new_event_must_have_a_google_id_and_aware_times() -> None:
    with pytest.raises(ValueError, match="event id"):
        booking("Not-Base32hex")
    with pytest.raises(ValueError, match="event id"):
        booking("abcd")
    with pytest.raises(ValueError, match="timezone-aware"):
        NewEvent(
            id="tonomo0booking0001",
            summary="",
            description="",
            start=datetime(2030, 6, 3, 10),
            end=datetime(2030, 6, 3, 11),
            time_zone="UTC",
            attendees=(),
        )


# --- retries ---------------------------------------------------------------------------


def inject(google: FakeGoogle, fault: str, path: str) -> None:
    if fault == "503":
        google.server_error(path)
    elif fault == "429":
        google.rate_limit(path)
    else:
        google.rate_limit(path, status=403, reason=fault)


@pytest.mark.parametrize("fault", ["429", "rateLimitExceeded", "503"])
async def test_the_library_retries_rate_limits_and_server_errors(
    google: FakeGoogle, retrying_calendar: GoogleCalendar, fault: str
) -> None:
    google.add_event(EMAIL, start=at(9), end=at(10))
    tokens = tokens_for(google, list(PRIMARY_SCOPES))
    inject(google, fault, "/freeBusy$")
    inject(google, fault, "/events$")

    busy, _ = await retrying_calendar.free_busy(tokens, ["primary"], at(0), at(24))
    await retrying_calendar.insert_event(tokens, booking())

    assert busy == {"primary": [Interval(at(9), at(10))]}
    assert len(google.requests.matching("/freeBusy$")) == 2
    assert len(google.requests.matching("/events$", method="POST")) == 2
    assert "tonomo0booking0001" in [e["id"] for e in google.events(EMAIL)]


@pytest.mark.parametrize("fault", ["429", "rateLimitExceeded", "userRateLimitExceeded", "503"])
async def test_rate_limits_and_server_errors_are_transient_when_retries_run_out(
    google: FakeGoogle, calendar: GoogleCalendar, fault: str
) -> None:
    tokens = tokens_for(google, list(PRIMARY_SCOPES))
    for path in ("/freeBusy$", "/events$", "/events/"):
        inject(google, fault, path)

    with pytest.raises(Transient):
        await calendar.free_busy(tokens, ["primary"], at(0), at(24))
    with pytest.raises(Transient):
        await calendar.insert_event(tokens, booking())
    with pytest.raises(Transient):
        await calendar.delete_event(tokens, "tonomo0booking0001")
    assert google.events(EMAIL) == []
