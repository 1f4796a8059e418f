"""The Google adapter of the calendar port.

- Consent and code exchange: google-auth-oauthlib's `Flow`, with PKCE (the verifier is
  kept with the single-use state), offline access and `prompt=consent`.
- Calendar calls: google-api-python-client with static discovery, in worker threads,
  an `httplib2.Http` per worker thread (it is not thread-safe; one per thread keeps its
  connections open between calls), explicit timeouts and the library's own
  `num_retries` for 429, 5xx and 403 rate limits.
- Free/busy queries are split to fit Google's limits (50 calendars, about 90 days) and
  the pieces merged; events are inserted with the bot's own id, so a retry is harmless,
  and moved in place (`events.patch` of their times only, so patching twice is harmless).
- Every library error is translated here into the port's errors.
"""

from __future__ import annotations

import asyncio
import logging
import os
import select
import threading
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from typing import Any, TypeVar

import aiohttp
import google.auth.exceptions
import google_auth_httplib2
import httplib2
from google.oauth2.credentials import Credentials
from google_auth_oauthlib.flow import Flow
from googleapiclient.discovery import build
from googleapiclient.errors import HttpError
from oauthlib.oauth2.rfc6749.errors import OAuth2Error
from requests import RequestException

from bot.availability import Interval, merge
from bot.calendar.port import (
    ACCOUNT_DELETED,
    CREDENTIALS_REJECTED,
    GRANT_REVOKED,
    Account,
    BusyTimes,
    CalendarError,
    ConsentFailed,
    EventGone,
    MissingPermission,
    NeedsReconnect,
    NewEvent,
    TokenSet,
    Transient,
)

logger = logging.getLogger(__name__)

T = TypeVar("T")

# What google-auth, google-api-python-client and httplib2 raise (socket timeouts are OSErrors).
LIBRARY_ERRORS = (
    google.auth.exceptions.GoogleAuthError,
    HttpError,
    httplib2.HttpLib2Error,
    OSError,
)
RATE_LIMIT_REASONS = frozenset({"rateLimitExceeded", "userRateLimitExceeded", "quotaExceeded"})

# freeBusy.query: "calendarExpansionMax ... Maximum value is 50"
# (https://developers.google.com/calendar/api/v3/reference/freebusy/query), and longer
# ranges are refused with timeRangeTooLong; cal.com splits at 90 days
# (https://github.com/calcom/cal.com/pull/11962).
FREEBUSY_MAX_CALENDARS = 50
FREEBUSY_MAX_RANGE = timedelta(days=90)
# Event ids are unique per calendar (https://developers.google.com/calendar/api/v3/reference/events#id);
# events.insert answers "409: The requested identifier already exists", and events.delete
# 410 "Resource has been deleted" or 404 for an unknown event
# (https://developers.google.com/calendar/api/guides/errors).
ALREADY_INSERTED = frozenset({409})
ALREADY_DELETED = frozenset({404, 410})


class GoogleCalendar:
    """Google Calendar behind the `CalendarProvider` port."""

    def __init__(
        self,
        *,
        client_id: str,
        client_secret: str,
        auth_uri: str,
        token_uri: str,
        revoke_uri: str,
        api_url: str,
        redirect_uri: str,
        timeout: float = 10.0,
        num_retries: int = 3,
        max_workers: int = 16,
        allow_plain_http: bool = False,
    ) -> None:
        self._client_config = {
            "web": {
                "client_id": client_id,
                "client_secret": client_secret,
                "auth_uri": auth_uri,
                "token_uri": token_uri,
            }
        }
        self._client_id = client_id
        self._client_secret = client_secret
        self._token_uri = token_uri
        self._revoke_uri = revoke_uri
        self._api_url = api_url
        self._redirect_uri = redirect_uri
        self._timeout = timeout
        self._num_retries = num_retries
        self._executor = ThreadPoolExecutor(max_workers=max_workers, thread_name_prefix="google")
        self._thread = threading.local()
        # Parsing the discovery document is the costly part of build(), and making a
        # collection's methods the costly part of each call: do both once. They only
        # build requests, so the worker threads share them.
        service = build(
            "calendar",
            "v3",
            http=httplib2.Http(timeout=timeout),
            static_discovery=True,
            cache_discovery=False,
            client_options={"api_endpoint": api_url},
        )
        self._calendars = service.calendars()
        self._events = service.events()
        self._freebusy = service.freebusy()
        # Google may grant fewer scopes than asked (granular consent); the bot checks
        # what was granted itself instead of letting oauthlib raise.
        os.environ["OAUTHLIB_RELAX_TOKEN_SCOPE"] = "1"  # noqa: S105 - a flag, not a secret
        if allow_plain_http:
            # Only ever set for loopback emulators: Settings refuses http:// elsewhere.
            os.environ["OAUTHLIB_INSECURE_TRANSPORT"] = "1"

    def close(self) -> None:
        self._executor.shutdown(wait=False, cancel_futures=True)

    async def _in_thread(self, fn: Callable[[], T]) -> T:
        return await asyncio.get_running_loop().run_in_executor(self._executor, fn)

    # --- consent -------------------------------------------------------------------

    def _flow(self, scopes: tuple[str, ...], code_verifier: str) -> Flow:
        return Flow.from_client_config(
            self._client_config,
            scopes=list(scopes),
            redirect_uri=self._redirect_uri,
            code_verifier=code_verifier,
            autogenerate_code_verifier=False,
        )

    def consent_url(
        self,
        *,
        scopes: tuple[str, ...],
        state: str,
        code_verifier: str,
        login_hint: str | None = None,
    ) -> str:
        extra = {"login_hint": login_hint} if login_hint else {}
        url, _ = self._flow(scopes, code_verifier).authorization_url(
            access_type="offline", prompt="consent", state=state, **extra
        )
        return str(url)

    async def exchange_code(
        self, *, code: str, code_verifier: str, scopes: tuple[str, ...]
    ) -> TokenSet:
        flow = self._flow(scopes, code_verifier)

        def exchange() -> TokenSet:
            flow.fetch_token(code=code, timeout=self._timeout)
            return _token_set(flow.credentials)

        try:
            return await self._in_thread(exchange)
        except OAuth2Error as err:
            raise ConsentFailed(f"Google refused the code: {err.error}") from err
        except (RequestException, OSError) as err:
            raise ConsentFailed("Google could not be reached to finish the sign-in") from err

    # --- calendar calls ------------------------------------------------------------

    def _credentials(self, tokens: TokenSet) -> Credentials:
        return Credentials(  # type: ignore[no-untyped-call]
            token=tokens.access_token,
            refresh_token=tokens.refresh_token,
            # google-auth compares expiry with a naive UTC clock.
            expiry=tokens.expiry.astimezone(UTC).replace(tzinfo=None) if tokens.expiry else None,
            token_uri=self._token_uri,
            client_id=self._client_id,
            client_secret=self._client_secret,
            scopes=list(tokens.scopes),
        )

    def _thread_http(self) -> httplib2.Http:
        """This worker thread's own Http. The library's thread-safety guide asks for an Http
        per thread, as httplib2.Http is not thread-safe; kept, it reuses its connections
        (and reconnects when Google has closed one):
        https://googleapis.github.io/google-api-python-client/docs/thread_safety.html
        """
        http: httplib2.Http | None = getattr(self._thread, "http", None)
        if http is None:
            http = self._thread.http = httplib2.Http(timeout=self._timeout)
        _close_dropped_connections(http)
        return http

    async def _call(
        self,
        tokens: TokenSet,
        request: Callable[[], Any],
        *,
        accept: frozenset[int] = frozenset(),
    ) -> tuple[Any, TokenSet]:
        """Run `request()` in a worker thread; the result and the (maybe refreshed) tokens.

        An HTTP error whose status is in `accept` counts as success, with the result None.
        """
        credentials = self._credentials(tokens)

        def run() -> Any:
            http = google_auth_httplib2.AuthorizedHttp(credentials, http=self._thread_http())
            try:
                return request().execute(http=http, num_retries=self._num_retries)
            except HttpError as err:
                if err.resp.status in accept:
                    return None
                raise

        try:
            result = await self._in_thread(run)
        except LIBRARY_ERRORS as err:
            raise translate_error(err) from err
        refreshed = credentials.token != tokens.access_token
        return result, (_token_set(credentials, previous=tokens) if refreshed else tokens)

    async def fetch_account(self, tokens: TokenSet) -> tuple[Account, TokenSet]:
        body, tokens = await self._call(tokens, lambda: self._calendars.get(calendarId="primary"))
        return Account(email=str(body["id"]), time_zone=body.get("timeZone")), tokens

    async def free_busy(
        self, tokens: TokenSet, calendar_ids: Sequence[str], start: datetime, end: datetime
    ) -> tuple[BusyTimes, TokenSet]:
        start, end = _utc(start), _utc(end)
        if end <= start:
            raise ValueError(f"the range must end after it starts: {start} to {end}")
        ids = list(dict.fromkeys(calendar_ids))
        busy: dict[str, list[Interval]] = {calendar_id: [] for calendar_id in ids}
        unknown: set[str] = set()
        # Sequential, so each piece uses the tokens the one before may have refreshed.
        for chunk in _chunks(ids, FREEBUSY_MAX_CALENDARS):
            for piece_start, piece_end in _pieces(start, end, FREEBUSY_MAX_RANGE):
                answer, tokens = await self._free_busy_piece(tokens, chunk, piece_start, piece_end)
                for calendar_id in chunk:
                    found = _busy_of(answer, calendar_id, start, end)
                    if found is None:
                        unknown.add(calendar_id)
                    else:
                        busy[calendar_id] += found
        return {i: None if i in unknown else merge(busy[i]) for i in ids}, tokens

    async def _free_busy_piece(
        self, tokens: TokenSet, calendar_ids: list[str], start: datetime, end: datetime
    ) -> tuple[dict[str, Any], TokenSet]:
        # https://developers.google.com/calendar/api/v3/reference/freebusy/query
        body = {
            "timeMin": _rfc3339(start),
            "timeMax": _rfc3339(end),
            "timeZone": "UTC",
            "items": [{"id": calendar_id} for calendar_id in calendar_ids],
        }
        answer, tokens = await self._call(tokens, lambda: self._freebusy.query(body=body))
        calendars = answer.get("calendars") or {}
        return calendars, tokens

    async def insert_event(self, tokens: TokenSet, event: NewEvent) -> TokenSet:
        """Insert with the bot's id; an id already taken counts as inserted.

        Google keeps deleted events (as cancelled), so an id once deleted stays taken:
        a new booking needs a new id.
        """
        # https://developers.google.com/calendar/api/v3/reference/events/insert
        body = {
            "id": event.id,
            "summary": event.summary,
            "description": event.description,
            "start": {"dateTime": event.start.isoformat(), "timeZone": event.time_zone},
            "end": {"dateTime": event.end.isoformat(), "timeZone": event.time_zone},
            "attendees": [{"email": email} for email in event.attendees],
        }
        _, tokens = await self._call(
            tokens,
            lambda: self._events.insert(calendarId="primary", body=body, sendUpdates="all"),
            accept=ALREADY_INSERTED,
        )
        return tokens

    async def delete_event(self, tokens: TokenSet, event_id: str) -> TokenSet:
        # https://developers.google.com/calendar/api/v3/reference/events/delete
        _, tokens = await self._call(
            tokens,
            lambda: self._events.delete(calendarId="primary", eventId=event_id, sendUpdates="all"),
            accept=ALREADY_DELETED,
        )
        return tokens

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
        """Patch only the event's times, so its attendees are told of the change (and
        nothing else of it is touched). A deleted event is `EventGone`: Google answers 404
        or 410 for it, or patches it and answers with its status still "cancelled"; it is
        never brought back."""
        # https://developers.google.com/calendar/api/v3/reference/events/patch
        if _utc(end) <= _utc(start):
            raise ValueError(f"an event must end after it starts: {start} to {end}")
        body = {
            "start": {"dateTime": start.isoformat(), "timeZone": time_zone},
            "end": {"dateTime": end.isoformat(), "timeZone": time_zone},
        }
        answer, tokens = await self._call(
            tokens,
            lambda: self._events.patch(
                calendarId=calendar_id, eventId=event_id, body=body, sendUpdates="all"
            ),
            accept=ALREADY_DELETED,
        )
        if answer is None or answer.get("status") == "cancelled":
            raise EventGone(f"event {event_id[:12]} is deleted")
        return tokens

    async def revoke(self, token: str) -> None:
        # https://developers.google.com/identity/protocols/oauth2/web-server#tokenrevoke
        timeout = aiohttp.ClientTimeout(total=self._timeout)
        try:
            async with (
                aiohttp.ClientSession(timeout=timeout) as session,
                session.post(self._revoke_uri, data={"token": token}) as response,
            ):
                if response.status == 200:
                    return
                body = await response.json(content_type=None)
        except (aiohttp.ClientError, TimeoutError, ValueError) as err:
            raise Transient("Google could not be reached to revoke access") from err
        if response.status == 400 and body.get("error") in ("invalid_token", "invalid_request"):
            return  # already revoked or expired: nothing left to revoke
        raise Transient(f"Google answered {response.status} to the revocation")


def _close_dropped_connections(http: httplib2.Http) -> None:
    """Close the kept connections that Google closed while they were idle (an idle socket
    that reads as ready has its end-of-file waiting), so the next request opens a new one
    instead of failing on a dead one: urllib3's `is_connection_dropped`, for httplib2."""
    for connection in http.connections.values():
        if connection.sock is not None:
            ready = select.poll()
            ready.register(connection.sock, select.POLLIN)
            if ready.poll(0):
                connection.close()


def _token_set(credentials: Credentials, previous: TokenSet | None = None) -> TokenSet:
    expiry = credentials.expiry
    granted = getattr(credentials, "granted_scopes", None) or credentials.scopes or ()
    return TokenSet(
        access_token=str(credentials.token),
        # Google sends a refresh token only with consent: never overwrite one with nothing.
        refresh_token=credentials.refresh_token or (previous.refresh_token if previous else None),
        expiry=expiry.replace(tzinfo=UTC) if expiry is not None else None,
        scopes=tuple(granted) if granted else (previous.scopes if previous else ()),
    )


def _chunks(items: list[str], size: int) -> Iterator[list[str]]:
    for i in range(0, len(items), size):
        yield items[i : i + size]


def _pieces(
    start: datetime, end: datetime, longest: timedelta
) -> Iterator[tuple[datetime, datetime]]:
    """[start, end) cut into consecutive pieces no longer than `longest`."""
    while start < end:
        yield start, min(start + longest, end)
        start += longest


def _utc(moment: datetime) -> datetime:
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise ValueError(f"expected a timezone-aware datetime, got {moment!r}")
    return moment.astimezone(UTC)


def _rfc3339(moment: datetime) -> str:
    return _utc(moment).isoformat().replace("+00:00", "Z")


def _busy_of(
    calendars: dict[str, Any], calendar_id: str, start: datetime, end: datetime
) -> list[Interval] | None:
    """One calendar's busy intervals in a freeBusy answer, clipped to [start, end).

    None when Google reported errors for it (notFound, internalError,
    tooManyCalendarsRequested, ...) or left it out: its busy time is unknown.
    """
    entry = calendars.get(calendar_id)
    if entry is None:  # calendar ids are email-like; do not let case lose one
        entry = next((v for k, v in calendars.items() if k.lower() == calendar_id.lower()), None)
    if not isinstance(entry, dict) or entry.get("errors"):
        return None
    busy = []
    for span in entry.get("busy") or []:
        begins = max(_parse_rfc3339(span["start"]), start)
        ends = min(_parse_rfc3339(span["end"]), end)
        if begins < ends:
            busy.append(Interval(begins, ends))
    return busy


def _parse_rfc3339(text: str) -> datetime:
    return datetime.fromisoformat(text).astimezone(UTC)


def translate_error(err: Exception) -> CalendarError:
    """The port's error for a library error (gcal_sync's `_raise_for_status`, in spirit)."""
    if isinstance(err, google.auth.exceptions.RefreshError):
        text = str(err)
        if "invalid_grant" in text:
            deleted = "deleted" in text.lower()
            return NeedsReconnect(text, reason=ACCOUNT_DELETED if deleted else GRANT_REVOKED)
        if "unauthorized_client" in text or "invalid_client" in text:
            return NeedsReconnect(text, reason=CREDENTIALS_REJECTED)
        return Transient(text)
    if isinstance(err, HttpError):
        status = err.resp.status
        reasons = {d.get("reason") for d in (err.error_details or []) if isinstance(d, dict)}
        if status == 401:
            return NeedsReconnect(
                "Google no longer accepts this connection's credentials",
                reason=CREDENTIALS_REJECTED,
            )
        if status == 403 and reasons & RATE_LIMIT_REASONS:
            return Transient("Google is rate-limiting requests")
        if status == 403 and reasons & {
            "insufficientPermissions",
            "ACCESS_TOKEN_SCOPE_INSUFFICIENT",
        }:
            return MissingPermission("the connection lacks a permission this needs")
        if status == 429 or status >= 500:
            return Transient(f"Google answered {status}")
        return CalendarError(f"Google answered {status}: {err.reason}")
    if isinstance(err, google.auth.exceptions.TransportError | OSError | httplib2.HttpLib2Error):
        return Transient(f"Google could not be reached: {type(err).__name__}")
    return CalendarError(f"Google call failed: {type(err).__name__}")
