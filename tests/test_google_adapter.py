"""The Google adapter against the Google emulator over HTTP: refresh, free/busy, events,
errors, retries, the connection pool and the limits of calls at once.

Every request the adapter sends to the Calendar API is checked against Google's discovery
document (`requests_conform`): a method with that HTTP verb and path, only the query
parameters it declares (with their types and values), and a body of the method's request
schema, with every field the schema requires of that method.
"""

from __future__ import annotations

import asyncio
import json
import re
import time
from collections.abc import AsyncIterator, Iterator
from dataclasses import replace
from datetime import UTC, date, datetime, timedelta, timezone, tzinfo
from pathlib import Path
from typing import Any
from unittest import mock
from urllib.parse import parse_qsl, urlsplit
from zoneinfo import ZoneInfo

import googleapiclient
import httplib2
import pytest
from google.auth import _helpers
from google.oauth2.credentials import Credentials
from googleapiclient.discovery import build
from hypothesis import given, settings
from hypothesis import strategies as st

from bot.availability import Interval
from bot.calendar.google import GoogleCalendar, _fresh
from bot.calendar.port import (
    ACCOUNT_DELETED,
    CALENDARS_READONLY,
    CREDENTIALS_REJECTED,
    FREEBUSY,
    GRANT_REVOKED,
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
from bot.config import Settings
from bot.services import google_calendar
from sandbox.fake_google import FakeGoogle
from sandbox.fake_slack import FakeSlack
from sandbox.faults import Fault, RecordedRequest
from sandbox.run import bot_environment
from tests.conftest import CLIENT_ID, CLIENT_SECRET
from tests.helpers import most_at_once

EMAIL = "alice@acme-photo.com"
GUEST = "client@example.com"
DAY = datetime(2030, 6, 3, tzinfo=UTC)
API = "/calendar/v3/"
PRIMARY = "/calendar/v3/calendars/primary$"


def at(hours: float) -> datetime:
    return DAY + timedelta(hours=hours)


def make_adapter(
    google: FakeGoogle,
    *,
    num_retries: int = 0,
    timeout: float = 5,
    calls_per_account: int = 4,
    calls_at_once: int = 256,
) -> GoogleCalendar:
    adapter = GoogleCalendar(
        client_id=CLIENT_ID,
        client_secret=CLIENT_SECRET,
        auth_uri=google.auth_uri,
        token_uri=google.token_uri,
        revoke_uri=google.revoke_uri,
        api_url=google.api_url,
        redirect_uri="http://127.0.0.1:9/oauth/google/callback",
        num_retries=num_retries,
        timeout=timeout,
        calls_per_account=calls_per_account,
        calls_at_once=calls_at_once,
        allow_plain_http=True,
    )
    adapter._rand = lambda: 0.05  # retry n waits 0.05 × 2**n s, not up to 2**n s
    return adapter


@pytest.fixture
async def calendar(google: FakeGoogle) -> AsyncIterator[GoogleCalendar]:
    adapter = make_adapter(google)
    yield adapter
    await adapter.close()


@pytest.fixture
async def retrying_calendar(google: FakeGoogle) -> AsyncIterator[GoogleCalendar]:
    """An adapter that retries once."""
    adapter = make_adapter(google, num_retries=1)
    yield adapter
    await adapter.close()


def tokens_for(
    google: FakeGoogle, scopes: list[str], *, expired: bool = False, email: str = EMAIL
) -> TokenSet:
    access, refresh = google.issue_tokens(email, scopes)
    expiry = datetime.now(UTC) + (timedelta(seconds=-5) if expired else timedelta(hours=1))
    return TokenSet(access_token=access, refresh_token=refresh, expiry=expiry, scopes=tuple(scopes))


# --- conformance to the discovery document ------------------------------------------

DISCOVERY: dict[str, Any] = json.loads(
    (
        Path(googleapiclient.__file__).parent / "discovery_cache/documents/calendar.v3.json"
    ).read_text()
)


def _methods(resources: dict[str, Any]) -> Iterator[dict[str, Any]]:
    for resource in resources.values():
        yield from resource.get("methods", {}).values()
        yield from _methods(resource.get("resources", {}))


def _path_pattern(template: str) -> re.Pattern[str]:
    parts = re.split(r"(\{[^}]+\})", template)
    return re.compile(
        "".join(
            f"(?P<{part[1:-1]}>[^/]+)" if part.startswith("{") else re.escape(part)
            for part in parts
        )
    )


def _value_problems(name: str, value: str, spec: dict[str, Any]) -> list[str]:
    if "enum" in spec and value not in spec["enum"]:
        return [f"{name}={value!r} is none of {spec['enum']}"]
    if spec.get("type") == "boolean" and value not in ("true", "false"):
        return [f"{name}={value!r} is not a boolean"]
    if spec.get("type") == "integer" and not re.fullmatch(r"-?\d+", value):
        return [f"{name}={value!r} is not an integer"]
    if "pattern" in spec and not re.fullmatch(spec["pattern"], value):
        return [f"{name}={value!r} does not match {spec['pattern']}"]
    return []


def _body_problems(value: Any, schema: dict[str, Any], method_id: str, where: str) -> list[str]:
    if "$ref" in schema:
        schema = DISCOVERY["schemas"][schema["$ref"]]
    kind = schema.get("type")
    if kind == "object" and "properties" in schema:
        if not isinstance(value, dict):
            return [f"{where} is not an object"]
        problems = [
            f"{where}.{key} is not in the schema"
            for key in value
            if key not in schema["properties"]
        ]
        for key, spec in schema["properties"].items():
            if key in value:
                problems += _body_problems(value[key], spec, method_id, f"{where}.{key}")
            elif method_id in spec.get("annotations", {}).get("required", []):
                problems.append(f"{where}.{key} is required by {method_id}")
        return problems
    if kind == "array":
        if not isinstance(value, list):
            return [f"{where} is not an array"]
        return [
            p
            for i, item in enumerate(value)
            for p in _body_problems(item, schema["items"], method_id, f"{where}[{i}]")
        ]
    expected = {"string": str, "boolean": bool, "integer": int}.get(kind or "")
    if expected is not None and not isinstance(value, expected):
        return [f"{where} is not a {kind}"]
    return []


def conformance_problems(request: RecordedRequest) -> list[str]:
    """What in a Calendar API request the discovery document does not allow."""
    relative = request.path.removeprefix(API)
    for method in _methods(DISCOVERY["resources"]):
        found = _path_pattern(method["path"]).fullmatch(relative)
        if method["httpMethod"] == request.method and found:
            break
    else:
        return [f"{request.method} {request.path}: no such method"]
    where = f"{method['id']} ({request.method} {request.path})"
    problems = []
    declared = method.get("parameters", {})
    for name, value in found.groupdict().items():
        problems += _value_problems(name, value, declared[name])
    for name, value in request.query.items():
        spec = declared.get(name) or DISCOVERY["parameters"].get(name)
        if spec is None or spec.get("location") != "query":
            problems.append(f"query parameter {name} is not declared")
        else:
            problems += _value_problems(name, value, spec)
    problems += [
        f"query parameter {name} is required"
        for name, spec in declared.items()
        if spec.get("location") == "query" and spec.get("required") and name not in request.query
    ]
    if not request.headers.get("Authorization", "").startswith("Bearer "):
        problems.append("no Bearer token")
    if "request" in method:
        if not request.headers.get("Content-Type", "").startswith("application/json"):
            problems.append("the body is not sent as JSON")
        problems += _body_problems(request.json(), method["request"], method["id"], "body")
    elif request.body:
        problems.append("a body where the method takes none")
    return [f"{where}: {problem}" for problem in problems]


@pytest.fixture(autouse=True)
def requests_conform(google: FakeGoogle) -> Iterator[None]:
    """After each test: every Calendar API request it sent conforms."""
    yield
    problems = [p for r in google.requests.matching("^" + API) for p in conformance_problems(r)]
    assert problems == []


def test_the_conformance_check_finds_what_the_discovery_document_does_not_allow() -> None:
    def sent(method: str, path: str, query: dict[str, str], body: Any = None) -> RecordedRequest:
        headers = {"Authorization": "Bearer ya29.x", "Content-Type": "application/json"}
        data = b"" if body is None else json.dumps(body).encode()
        return RecordedRequest(method, path, query, headers, data, at=0.0)

    assert conformance_problems(sent("GET", API + "calendars/primary", {"alt": "json"})) == []
    assert conformance_problems(sent("POST", API + "calendars/primary", {})) == [
        f"POST {API}calendars/primary: no such method"
    ]
    patch = API + "calendars/primary/events/tonomo0booking0001"
    assert conformance_problems(sent("PATCH", patch, {"sendUpdates": "everyone"}, {})) == [
        f"calendar.events.patch (PATCH {patch}): sendUpdates='everyone' is none of ['all', 'externalOnly', 'none']"
    ]
    insert = API + "calendars/primary/events"
    problems = conformance_problems(sent("POST", insert, {"colour": "1"}, {"start": {"when": 1}}))
    assert [p.split(": ", 1)[1] for p in problems] == [
        "query parameter colour is not declared",
        "body.end is required by calendar.events.insert",
        "body.start.when is not in the schema",
    ]


# --- the calls -----------------------------------------------------------------------


async def test_the_account_is_learned_from_the_primary_calendar(
    google: FakeGoogle, calendar: GoogleCalendar
) -> None:
    tokens = tokens_for(google, [FREEBUSY, CALENDARS_READONLY])
    account, after = await calendar.fetch_account(tokens)
    assert account.email == EMAIL
    assert after == tokens, "nothing to refresh"


async def test_a_free_busy_request_is_described_once_for_its_span_and_sent_with_each_token(
    google: FakeGoogle, calendar: GoogleCalendar
) -> None:
    alice = tokens_for(google, [FREEBUSY, CALENDARS_READONLY])
    bob = tokens_for(google, [FREEBUSY, CALENDARS_READONLY], email="bob@acme-photo.com")
    google.add_event(EMAIL, start=at(9), end=at(10))
    google.add_event("bob@acme-photo.com", start=at(11), end=at(12))
    new_york = ZoneInfo("America/New_York")

    with mock.patch.object(
        calendar._freebusy, "query", wraps=calendar._freebusy.query
    ) as described:
        reads = [
            await calendar.free_busy(alice, ["primary"], at(0), at(24)),
            await calendar.free_busy(bob, ["primary"], at(0), at(24)),
            # The same span written in another zone is the same request.
            await calendar.free_busy(
                alice, ["primary"], at(0).astimezone(new_york), at(24).astimezone(new_york)
            ),
            await calendar.free_busy(alice, ["primary"], at(24), at(48)),
        ]

    assert described.call_count == 2, "once for each span"
    assert [busy for busy, _ in reads] == [
        {"primary": [Interval(at(9), at(10))]},
        {"primary": [Interval(at(11), at(12))]},
        {"primary": [Interval(at(9), at(10))]},
        {"primary": []},
    ]
    sent = google.requests.matching("/freeBusy$")
    assert [r.headers["Authorization"] for r in sent] == [
        f"Bearer {t.access_token}" for t in (alice, bob, alice, alice)
    ]
    assert [(r.json()["timeMin"], r.json()["timeMax"]) for r in sent] == [
        ("2030-06-03T00:00:00Z", "2030-06-04T00:00:00Z")
    ] * 3 + [("2030-06-04T00:00:00Z", "2030-06-05T00:00:00Z")]


async def test_the_primary_calendar_is_described_once_and_sent_with_each_calls_token(
    google: FakeGoogle, calendar: GoogleCalendar
) -> None:
    service = build(
        "calendar",
        "v3",
        http=httplib2.Http(),
        static_discovery=True,
        cache_discovery=False,
        client_options={"api_endpoint": google.api_url},
    )
    described = service.calendars().get(calendarId="primary")
    alice = tokens_for(google, [FREEBUSY, CALENDARS_READONLY])
    bob = tokens_for(google, [FREEBUSY, CALENDARS_READONLY], email="bob@acme-photo.com")

    accounts = [(await calendar.fetch_account(t))[0].email for t in (alice, bob, alice)]

    assert accounts == [EMAIL, "bob@acme-photo.com", EMAIL]
    sent = google.requests.matching(PRIMARY)
    assert [r.headers["Authorization"] for r in sent] == [
        f"Bearer {t.access_token}" for t in (alice, bob, alice)
    ]
    for request in sent:  # what the library describes now, nothing kept from another call
        uri = urlsplit(described.uri)
        assert (request.method, request.path, request.query) == (
            described.method,
            uri.path,
            dict(parse_qsl(uri.query)),
        )
        assert not request.body and described.body is None
        headers = {k.lower(): v for k, v in request.headers.items()}
        assert {k: headers.get(k) for k in described.headers} == described.headers


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
    assert after.scopes == tokens.scopes
    [refresh] = google.requests.matching("/token$")
    assert refresh.at < google.requests.matching(PRIMARY)[0].at, "refreshed before the call"
    [call] = google.requests.matching(PRIMARY)
    assert refresh.peer == call.peer, "the refresh went over the calls' own connection"


async def test_a_revoked_grant_needs_reconnecting(
    google: FakeGoogle, calendar: GoogleCalendar
) -> None:
    tokens = tokens_for(google, [FREEBUSY, CALENDARS_READONLY])
    google.revoke_account_tokens(EMAIL)
    with pytest.raises(NeedsReconnect) as refused:  # 401, then invalid_grant on refreshing
        await calendar.fetch_account(tokens)
    assert refused.value.reason == GRANT_REVOKED
    assert len(google.requests.matching("/token$")) == 1


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
    google: FakeGoogle, calendar: GoogleCalendar
) -> None:
    tokens = tokens_for(google, [FREEBUSY, CALENDARS_READONLY])
    google.add_event(EMAIL, start=at(9), end=at(10))

    def connections() -> set[str]:
        return {r.peer for r in google.requests.matching("/freeBusy$")}

    for _ in range(5):
        await calendar.free_busy(tokens, ["primary"], at(0), at(24))
    assert len(connections()) == 1, "one connection of the pool, kept open"

    await google.drop_connections()  # Google closes it while it is idle
    busy, _ = await calendar.free_busy(tokens, ["primary"], at(0), at(24))

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


# --- freshness ---------------------------------------------------------------------------

NOW = datetime(2030, 6, 3, 12, tzinfo=UTC)


def google_auth_says_valid(tokens: TokenSet, now: datetime) -> bool:
    """google-auth's own verdict on the tokens at `now`: a `Credentials`' `valid`."""
    naive = tokens.expiry.astimezone(UTC).replace(tzinfo=None) if tokens.expiry else None
    credentials = Credentials(token=tokens.access_token, expiry=naive)  # type: ignore[no-untyped-call]
    with mock.patch.object(_helpers, "utcnow", return_value=now.replace(tzinfo=None)):
        return bool(credentials.valid)


def fresh_at(tokens: TokenSet, now: datetime) -> bool:
    with mock.patch.object(_helpers, "utcnow", return_value=now.replace(tzinfo=None)):
        return _fresh(tokens)


def expiring(at: datetime | None) -> TokenSet:
    return TokenSet(access_token="ya29.a", refresh_token="1//r", expiry=at)


@pytest.mark.parametrize(
    ("expiry", "fresh"),
    [
        (None, True),  # no expiry: never expires
        (NOW + _helpers.REFRESH_THRESHOLD + timedelta(microseconds=1), True),
        (NOW + _helpers.REFRESH_THRESHOLD, False),  # at the threshold: expired already
        (NOW + _helpers.REFRESH_THRESHOLD - timedelta(microseconds=1), False),
        (NOW, False),
        (NOW - timedelta(hours=1), False),
        # The same moments in another zone: compared as instants.
        ((NOW + _helpers.REFRESH_THRESHOLD).astimezone(ZoneInfo("America/New_York")), False),
        (
            (NOW + _helpers.REFRESH_THRESHOLD + timedelta(seconds=1)).astimezone(
                timezone(timedelta(hours=5, minutes=30))
            ),
            True,
        ),
    ],
)
def test_a_token_is_fresh_until_google_auths_threshold_before_its_expiry(
    expiry: datetime | None, fresh: bool
) -> None:
    tokens = expiring(expiry)
    assert fresh_at(tokens, NOW) is fresh
    assert google_auth_says_valid(tokens, NOW) is fresh


@settings(max_examples=300, deadline=None)
@given(
    offset=st.one_of(
        st.timedeltas(min_value=timedelta(hours=-2), max_value=timedelta(hours=2)),
        st.integers(min_value=-2_000, max_value=2_000).map(
            lambda us: _helpers.REFRESH_THRESHOLD + timedelta(microseconds=us)
        ),
    ),
    zone=st.sampled_from(
        [UTC, ZoneInfo("America/New_York"), ZoneInfo("Asia/Kolkata"), timezone(timedelta(hours=-3))]
    ),
    now=st.datetimes(
        min_value=datetime(2020, 1, 1), max_value=datetime(2040, 1, 1), timezones=st.just(UTC)
    ),
)
def test_freshness_is_google_auths_credentials_valid(
    offset: timedelta, zone: tzinfo, now: datetime
) -> None:
    tokens = expiring((now + offset).astimezone(zone))
    assert fresh_at(tokens, now) == google_auth_says_valid(tokens, now)


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


@pytest.mark.parametrize("fault", ["429", "503"])
async def test_retries_back_off_exponentially_then_succeed(google: FakeGoogle, fault: str) -> None:
    calendar = make_adapter(google, num_retries=3)
    tokens = tokens_for(google, list(STAFF_SCOPES))
    for _ in range(2):
        inject(google, fault, "/freeBusy$")
    try:
        busy, _ = await calendar.free_busy(tokens, ["primary"], at(0), at(24))
    finally:
        await calendar.close()

    assert busy == {"primary": []}
    sent = [r.at for r in google.requests.matching("/freeBusy$")]
    assert len(sent) == 3, "two refused, the third answered"
    # The library's backoff: a random share of 2**n s before retry n (0.05 here).
    assert sent[1] - sent[0] >= 0.1 and sent[2] - sent[1] >= 0.2


async def test_every_attempt_refused_is_transient_after_the_last_retry(
    google: FakeGoogle,
) -> None:
    calendar = make_adapter(google, num_retries=2)
    tokens = tokens_for(google, list(STAFF_SCOPES))
    google.server_error("/freeBusy$", times=None)
    try:
        with pytest.raises(Transient):
            await calendar.free_busy(tokens, ["primary"], at(0), at(24))
    finally:
        await calendar.close()
    assert len(google.requests.matching("/freeBusy$")) == 3


@pytest.mark.parametrize("num_retries", [0, 1])
async def test_no_answer_within_the_timeout_is_transient(
    google: FakeGoogle, num_retries: int
) -> None:
    """A timed-out attempt is tried again, as the library retries a socket timeout."""
    calendar = make_adapter(google, num_retries=num_retries, timeout=0.2)
    tokens = tokens_for(google, list(STAFF_SCOPES))
    google.faults.add(Fault("/freeBusy$", latency=1.0))
    started = time.monotonic()
    try:
        with pytest.raises(Transient, match="TimeoutError"):
            await calendar.free_busy(tokens, ["primary"], at(0), at(24))
    finally:
        await calendar.close()
    assert time.monotonic() - started < 0.2 * (num_retries + 1) + 0.5
    assert len(google.requests.matching("/freeBusy$")) == num_retries + 1


async def test_a_403_that_is_no_rate_limit_is_not_retried(
    google: FakeGoogle, retrying_calendar: GoogleCalendar
) -> None:
    tokens = tokens_for(google, list(STAFF_SCOPES))
    with pytest.raises(MissingPermission):
        await retrying_calendar.insert_event(tokens, booking())
    assert len(google.requests.matching("/events$")) == 1


# --- tokens --------------------------------------------------------------------------


def authentication_error() -> dict[str, Any]:
    return {
        "error": {
            "code": 401,
            "message": "Request had invalid authentication credentials.",
            "errors": [
                {"message": "Invalid Credentials", "domain": "global", "reason": "authError"}
            ],
            "status": "UNAUTHENTICATED",
        }
    }


async def test_a_refused_token_is_refreshed_once_and_the_call_sent_again(
    google: FakeGoogle, calendar: GoogleCalendar
) -> None:
    tokens = tokens_for(google, list(STAFF_SCOPES))  # not expired by its own account
    google.expire_access_tokens()  # but Google no longer takes it

    account, after = await calendar.fetch_account(tokens)

    assert account.email == EMAIL
    assert after.access_token != tokens.access_token
    assert after.refresh_token == tokens.refresh_token
    sent = [r.path for r in google.requests if r.path != "/favicon.ico"]
    assert sent == ["/calendar/v3/calendars/primary", "/token", "/calendar/v3/calendars/primary"]
    first, _, second = google.requests
    assert first.headers["Authorization"] == f"Bearer {tokens.access_token}"
    assert second.headers["Authorization"] == f"Bearer {after.access_token}"


async def test_a_token_refused_even_when_fresh_needs_reconnecting(
    google: FakeGoogle, calendar: GoogleCalendar
) -> None:
    tokens = tokens_for(google, list(STAFF_SCOPES))
    google.faults.add(Fault(PRIMARY, status=401, body=authentication_error()))

    with pytest.raises(NeedsReconnect) as refused:
        await calendar.fetch_account(tokens)

    assert refused.value.reason == CREDENTIALS_REJECTED
    assert len(google.requests.matching("/token$")) == 1, "refreshed once, not again"
    assert len(google.requests.matching(PRIMARY)) == 2


@pytest.mark.parametrize(
    ("fault", "reason"), [("revoked", GRANT_REVOKED), ("deleted", ACCOUNT_DELETED)]
)
async def test_invalid_grant_on_refreshing_needs_reconnecting(
    google: FakeGoogle, calendar: GoogleCalendar, fault: str, reason: str
) -> None:
    tokens = tokens_for(google, list(STAFF_SCOPES), expired=True)
    if fault == "revoked":
        google.revoke_account_tokens(EMAIL)
    else:
        google.delete_account(EMAIL)

    with pytest.raises(NeedsReconnect) as refused:
        await calendar.free_busy(tokens, ["primary"], at(0), at(24))

    assert refused.value.reason == reason
    assert "invalid_grant" in str(refused.value)
    assert len(google.requests.matching("/token$")) == 1
    assert not google.requests.matching(API), "no call with a token known to be expired"


async def test_a_token_endpoint_in_trouble_is_tried_again_without_blocking_the_loop(
    google: FakeGoogle, calendar: GoogleCalendar
) -> None:
    """google-auth's own retry of the token endpoint, but asleep on the event loop (about
    a second, its backoff) while everything else goes on."""
    tokens = tokens_for(google, list(STAFF_SCOPES), expired=True)
    google.server_error("/token$", times=1)
    ticks = 0

    async def tick() -> None:
        nonlocal ticks
        while True:
            await asyncio.sleep(0.02)
            ticks += 1

    ticking = asyncio.create_task(tick())
    try:
        started = time.monotonic()
        _, after = await calendar.fetch_account(tokens)
        took = time.monotonic() - started
    finally:
        ticking.cancel()

    assert after.access_token != tokens.access_token
    assert len(google.requests.matching("/token$")) == 2
    assert 0.85 <= took < 2.0, "google-auth's backoff: 1 s ± 10 %"
    assert ticks >= 0.5 * took / 0.02, "the loop went on meanwhile"


async def test_an_answer_of_the_token_endpoint_not_worth_retrying_is_transient(
    google: FakeGoogle, calendar: GoogleCalendar
) -> None:
    tokens = tokens_for(google, list(STAFF_SCOPES), expired=True)
    google.faults.add(Fault("/token$", status=400, body={"error": "invalid_request"}))

    with pytest.raises(Transient):
        await calendar.fetch_account(tokens)
    assert len(google.requests.matching("/token$")) == 1, "a 503 is tried again, a 400 not"


async def test_calls_of_one_expired_token_at_once_share_one_refresh(
    google: FakeGoogle, calendar: GoogleCalendar
) -> None:
    tokens = tokens_for(google, list(STAFF_SCOPES), expired=True)
    google.expire_access_tokens()
    google.faults.add(Fault("/token$", latency=0.1))  # they all find it expired meanwhile

    answers = await asyncio.gather(*(calendar.fetch_account(tokens) for _ in range(5)))

    assert len(google.requests.matching("/token$")) == 1
    assert len({after.access_token for _, after in answers}) == 1
    assert answers[0][1].access_token != tokens.access_token
    assert len(google.requests.matching(PRIMARY)) == 5
    assert not calendar._refreshing, "nothing left behind"

    # Later calls with the old tokens (not stored yet) refresh anew: nothing is cached.
    await calendar.fetch_account(tokens)
    assert len(google.requests.matching("/token$")) == 2


async def test_a_caller_that_stops_waiting_leaves_the_shared_refresh_to_the_others(
    google: FakeGoogle, calendar: GoogleCalendar
) -> None:
    tokens = tokens_for(google, list(STAFF_SCOPES), expired=True)
    google.faults.add(Fault("/token$", latency=0.3))

    impatient = asyncio.create_task(calendar.fetch_account(tokens))
    await asyncio.sleep(0.05)
    patient = asyncio.create_task(calendar.fetch_account(tokens))
    await asyncio.sleep(0.05)
    impatient.cancel()
    _, after = await patient

    assert impatient.cancelled()
    assert after.access_token != tokens.access_token
    assert len(google.requests.matching("/token$")) == 1


# --- the connection pool and the limits ---------------------------------------------

LATENCY = 0.2


def sent_with(
    google: FakeGoogle, tokens: TokenSet, path: str = "/freeBusy$"
) -> list[RecordedRequest]:
    bearer = f"Bearer {tokens.access_token}"
    return [r for r in google.requests.matching(path) if r.headers.get("Authorization") == bearer]


async def test_calls_of_one_account_at_once_are_held_to_its_limit_and_others_go_by(
    google: FakeGoogle,
) -> None:
    calendar = make_adapter(google, calls_per_account=2)
    alice = tokens_for(google, list(STAFF_SCOPES))
    bob = tokens_for(google, list(STAFF_SCOPES), email="bob@acme-photo.com")
    google.account_latency[EMAIL] = google.account_latency["bob@acme-photo.com"] = LATENCY

    def read(tokens: TokenSet) -> Any:
        return calendar.free_busy(tokens, ["primary"], at(0), at(24))

    try:
        started = time.time()
        answers = await asyncio.gather(*(read(alice) for _ in range(6)), read(bob), read(bob))
    finally:
        await calendar.close()

    assert all(busy == {"primary": []} for busy, _ in answers)
    alices, bobs = sent_with(google, alice), sent_with(google, bob)
    assert len(alices) == 6 and most_at_once(alices, within=0.8 * LATENCY) == 2, "two at a time"
    assert max(r.at for r in alices) - started >= 2 * LATENCY, "in three waves"
    assert all(r.at - started < LATENCY / 2 for r in bobs), "Bob's went at once"
    assert not calendar._accounts, "no account's slots kept once its calls are done"


async def test_the_instance_holds_all_its_calls_to_its_limit(google: FakeGoogle) -> None:
    calendar = make_adapter(google, calls_at_once=3)
    people = [
        tokens_for(google, list(STAFF_SCOPES), email=f"person{i}@acme-photo.com") for i in range(9)
    ]
    for i in range(9):
        google.account_latency[f"person{i}@acme-photo.com"] = LATENCY

    try:
        started = time.time()
        await asyncio.gather(
            *(calendar.free_busy(tokens, ["primary"], at(0), at(24)) for tokens in people)
        )
    finally:
        await calendar.close()

    sent = google.requests.matching("/freeBusy$")
    assert len(sent) == 9 and most_at_once(sent, within=0.8 * LATENCY) == 3
    assert max(r.at for r in sent) - started >= 2 * LATENCY, "in three waves"
    assert len({r.peer for r in sent}) == 3, "three connections, each used three times"


async def test_the_adapter_built_from_settings_keeps_their_limits(
    google: FakeGoogle, slack: FakeSlack
) -> None:
    environment = bot_environment(
        slack=slack, google=google, public_url="http://127.0.0.1:9", database_url="sqlite://"
    )
    settings = Settings.from_env(
        environment | {"GOOGLE_CALLS_PER_ACCOUNT": "1", "GOOGLE_CALLS_AT_ONCE": "3"}
    )
    calendar = google_calendar(settings)
    alice = tokens_for(google, list(STAFF_SCOPES))
    google.account_latency[EMAIL] = LATENCY

    try:
        await asyncio.gather(
            *(calendar.free_busy(alice, ["primary"], at(0), at(24)) for _ in range(2))
        )
    finally:
        await calendar.close()

    first, second = sorted(sent_with(google, alice), key=lambda r: r.at)
    assert second.at >= first.at + LATENCY, "the second read waited for the first's answer"
    assert (calendar.calls_per_account, calendar.calls_at_once) == (1, 3)


async def test_a_refresh_takes_one_of_its_accounts_slots(google: FakeGoogle) -> None:
    calendar = make_adapter(google, calls_per_account=1)
    fresh = tokens_for(google, list(STAFF_SCOPES))
    expired = replace(fresh, expiry=datetime.now(UTC) - timedelta(seconds=5))  # the same grant
    other = tokens_for(google, list(STAFF_SCOPES))  # the same account, another grant
    google.account_latency[EMAIL] = LATENCY

    try:
        first = asyncio.create_task(calendar.fetch_account(fresh))
        await asyncio.sleep(LATENCY / 4)  # at Google now, holding the grant's one slot
        await asyncio.gather(first, calendar.fetch_account(expired), calendar.fetch_account(other))
    finally:
        await calendar.close()

    [call] = sent_with(google, fresh, PRIMARY)
    [refresh] = google.requests.matching("/token$")
    [others] = sent_with(google, other, PRIMARY)
    assert refresh.at >= call.at + LATENCY, "the refresh waited for the slot"
    assert others.at < call.at + LATENCY / 2, "another grant has slots of its own"
