"""The Google adapter of the calendar port.

- Consent and code exchange: google-auth-oauthlib's `Flow`, with PKCE (the verifier is
  kept with the single-use state), offline access and `prompt=consent`. Rare, and built
  on requests: the exchange runs in a thread.
- Calendar calls: asyncio HTTP over one `aiohttp.ClientSession` per instance (its pool
  keeps connections open between calls), no thread per call. google-api-python-client,
  built once from its static discovery document, still describes every call: its
  `HttpRequest` gives the method, the URI with its query, the JSON body and the headers,
  and interprets the answer (`postproc`, `HttpError` with Google's error reasons). Only
  the sending is ours. That keeps the adapter smaller and as faithful as before: writing
  the five calls against the REST API would mean building URIs (calendar ids are
  emails, escaped in the path), bodies and error parsing by hand, which the library
  already does from the same document Google publishes.
- Tokens: an access token within google-auth's clock skew of its expiry
  (`REFRESH_THRESHOLD`, 3 min 45 s) is refreshed before the call, as google-auth does;
  a 401 refreshes once and sends again, as `google_auth_httplib2.AuthorizedHttp` did.
  The refresh is google-auth's async token client (`google.oauth2._client_async`),
  sent over the same session. Not `google.oauth2._credentials_async.Credentials`: its
  retries of the token endpoint sleep with `time.sleep`, blocking the event loop for
  1 s and 2 s; so the client is called without its retries (`can_retry=False`) and the
  retries are google-auth's own async backoff (`AsyncExponentialBackoff`, the same
  three attempts). Nor `google.auth.aio`, which has no credentials for a user's refresh
  token yet. `invalid_grant` comes back as google-auth's `RefreshError`, as before.
  Calls of one grant that find its token expired at once share one refresh.
- Retries: as the library's `execute(num_retries=…)`, whose rules they reuse
  (`_should_retry_response`: 5xx, 429, 403 with a rate-limit reason), with its backoff
  (a random share of 2**n seconds before retry n), and retrying dropped connections and
  timeouts as it retries socket errors. Each attempt has its own timeout.
- Limits: at most `calls_per_account` calls of one grant at Google at once (Google's
  per-user quota, and its limit on writing one calendar in quick succession), and at
  most `calls_at_once` of the whole instance (its connection pool). A slot is held while
  a request is at Google, not while a retry waits.
- Free/busy queries are split to fit Google's limits (50 calendars, about 90 days) and
  the pieces merged; events are inserted with the bot's own id, so a retry is harmless,
  and moved in place (`events.patch` of their times only, so patching twice is harmless).
- Every library and transport error is translated here into the port's errors.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import hashlib
import logging
import os
import random
from collections.abc import AsyncIterator, Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import aiohttp
import google.auth.exceptions
import httplib2
from google.auth import _helpers
from google.auth._exponential_backoff import AsyncExponentialBackoff
from google.oauth2 import _client_async
from google.oauth2.credentials import Credentials
from google_auth_oauthlib.flow import Flow
from googleapiclient.discovery import build
from googleapiclient.errors import HttpError
from googleapiclient.http import HttpRequest, _should_retry_response
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
from bot.together import Shared

logger = logging.getLogger(__name__)

# What google-auth, google-api-python-client and aiohttp raise (aiohttp's connection
# errors are OSErrors too; its timeouts are TimeoutErrors).
LIBRARY_ERRORS = (
    google.auth.exceptions.GoogleAuthError,
    HttpError,
    aiohttp.ClientError,
    TimeoutError,
    OSError,
)
# What the library's `_retry_request` retries besides answers: SSL errors, socket
# timeouts, connection errors (refused, reset, aborted) and an unknown host. aiohttp's
# `ClientConnectionError` is all of those, a server that closed a kept connection too.
RETRIED_ERRORS = (aiohttp.ClientConnectionError, TimeoutError)
RATE_LIMIT_REASONS = frozenset({"rateLimitExceeded", "userRateLimitExceeded", "quotaExceeded"})

CALLS_PER_ACCOUNT = 4
"""Calls of one Google account at Google at once, by default (`GOOGLE_CALLS_PER_ACCOUNT`).
Google's Calendar quota is 600 requests a minute per user (and 10,000 per project), on a
sliding minute
(https://developers.google.com/workspace/calendar/api/guides/quota), and writing one
calendar in quick succession is rate-limited too. The bot asks each account little at a
time (one free/busy read a question, one event a booking), so 4 leaves room for a few
questions or bookings at once on the shared primary account while a burst at about
150 ms a call (some 27 a second) stays a burst the minute absorbs. A first guess, for
the benchmarks to size."""
CALLS_AT_ONCE = 1024
"""Calls of the whole instance at Google at once, and its connection pool, by default
(`GOOGLE_CALLS_AT_ONCE`): a 500-person availability answer in one wave beside a health
round's 32 checks, on one event loop that only waits meanwhile. Measured (bench/README.md,
`availability_answer`): at 256, 500 staff went in 2–6 waves and the Google part took
423–465 ms; at 1,024, one wave and 192 ms (Google's own floor 180 ms). Each call at once
is one connection (HTTP/1.1), so one open file (app.py raises the soft limit to fit), and a
cold connection costs a TLS handshake of CPU on the loop."""
KEEPALIVE = 120.0
"""Seconds an idle connection is kept (aiohttp's default is 15): answers come in bursts
minutes apart, and a kept connection saves the new one's handshakes. Google closes idle
connections itself after a while; the pool notices and opens a new one."""

# freeBusy.query: "calendarExpansionMax ... Maximum value is 50"
# (https://developers.google.com/calendar/api/v3/reference/freebusy/query), and longer
# ranges are refused with timeRangeTooLong; cal.com splits at 90 days
# (https://github.com/calcom/cal.com/pull/11962).
FREEBUSY_MAX_CALENDARS = 50
FREEBUSY_MAX_RANGE = timedelta(days=90)
FREE_BUSY_REQUESTS_KEPT = 64
"""freeBusy requests kept described (`GoogleCalendar._free_busy_request`): one for each
span and calendars asked about lately (the questions and digests of the moment)."""
# Event ids are unique per calendar (https://developers.google.com/calendar/api/v3/reference/events#id);
# events.insert answers "409: The requested identifier already exists", and events.delete
# 410 "Resource has been deleted" or 404 for an unknown event
# (https://developers.google.com/calendar/api/guides/errors).
ALREADY_INSERTED = frozenset({409})
ALREADY_DELETED = frozenset({404, 410})


@dataclass
class _Limit:
    """One account's slots, and how many calls hold or wait for one (its entry goes when
    none do)."""

    slots: asyncio.Semaphore
    users: int = 0


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
        calls_per_account: int = CALLS_PER_ACCOUNT,
        calls_at_once: int = CALLS_AT_ONCE,
        allow_plain_http: bool = False,
    ) -> None:
        if calls_per_account < 1 or calls_at_once < 1:
            raise ValueError("the limits of calls at once must be at least 1")
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
        """Seconds each attempt (a request and its answer) may take."""
        self._num_retries = num_retries
        self._rand: Callable[[], float] = random.random
        """The share of 2**n seconds waited before retry n (the library's `_rand`)."""
        self.calls_per_account = calls_per_account
        self.calls_at_once = calls_at_once
        self._accounts: dict[str, _Limit] = {}
        self._instance = asyncio.Semaphore(calls_at_once)
        self._refreshing: Shared[str, TokenSet] = Shared()
        """The refresh under way of each grant (by account)."""
        self._session: aiohttp.ClientSession | None = None
        # Parsing the discovery document is the costly part of build(), and making a
        # collection's methods the costly part of each call: do both once. They only
        # describe requests (building one takes some 10 µs); the Http the library wants
        # is never used to send one.
        service = build(
            "calendar",
            "v3",
            http=httplib2.Http(timeout=timeout),
            static_discovery=True,
            cache_discovery=False,
            client_options={"api_endpoint": api_url},
        )
        # `calendars/primary` has no parameter that varies: it is one request, described
        # once here and sent as it is by every call (only ever read). Describing it anew
        # took some 14 µs of the loop's time a call, paid in a row by `status`'s checks.
        self._primary_calendar = service.calendars().get(calendarId="primary")
        self._events = service.events()
        self._freebusy = service.freebusy()
        # A freeBusy request varies only with its calendars and span, which every read of
        # one question shares (availability for 50 staff: 50 calls, one span): each is
        # described once and sent with every call's own token, as `calendars/primary` is.
        # Describing it took some 12 µs a call (measured apart), paid before any call was sent.
        self._free_busy_request = functools.lru_cache(maxsize=FREE_BUSY_REQUESTS_KEPT)(
            self._describe_free_busy
        )
        # Google may grant fewer scopes than asked (granular consent); the bot checks
        # what was granted itself instead of letting oauthlib raise.
        os.environ["OAUTHLIB_RELAX_TOKEN_SCOPE"] = "1"  # noqa: S105 - a flag, not a secret
        if allow_plain_http:
            # Only ever set for loopback emulators: Settings refuses http:// elsewhere.
            os.environ["OAUTHLIB_INSECURE_TRANSPORT"] = "1"

    def _http(self) -> aiohttp.ClientSession:
        """The instance's session, made in the running loop on first use."""
        if self._session is None:
            connector = aiohttp.TCPConnector(
                limit=self.calls_at_once, limit_per_host=0, keepalive_timeout=KEEPALIVE
            )
            self._session = aiohttp.ClientSession(connector=connector)
        elif self._session.closed:  # the bot is stopping: no new connections
            raise Transient("the calendar adapter is closed")
        return self._session

    async def close(self) -> None:
        """Stop the refreshes under way and close the connections."""
        await self._refreshing.cancel()
        if self._session is not None:
            await self._session.close()

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
            return await asyncio.to_thread(exchange)
        except OAuth2Error as err:
            raise ConsentFailed(f"Google refused the code: {err.error}") from err
        except (RequestException, OSError) as err:
            raise ConsentFailed("Google could not be reached to finish the sign-in") from err

    # --- sending -------------------------------------------------------------------

    @contextlib.asynccontextmanager
    async def _slot(self, account: str) -> AsyncIterator[None]:
        """Hold one of the account's slots, then one of the instance's (always in that
        order, so a call waiting for its account's turn holds none of the instance's)."""
        limit = self._accounts.get(account)
        if limit is None:
            limit = self._accounts[account] = _Limit(asyncio.Semaphore(self.calls_per_account))
        limit.users += 1
        try:
            async with limit.slots, self._instance:
                yield
        finally:
            limit.users -= 1
            if not limit.users:
                del self._accounts[account]

    async def _send(
        self, account: str, request: HttpRequest, tokens: TokenSet
    ) -> tuple[httplib2.Response, bytes]:
        """One attempt: the request as the library built it, with the access token."""
        headers = {**request.headers, "authorization": f"Bearer {tokens.access_token}"}
        body = request.body.encode() if isinstance(request.body, str) else request.body
        async with (
            self._slot(account),
            self._http().request(
                request.method,
                request.uri,
                data=body,
                headers=headers,
                timeout=aiohttp.ClientTimeout(total=self._timeout),
            ) as answer,
        ):
            content = await answer.read()
        # The library reads answers as httplib2 gives them: a dict of lower-case headers.
        response = httplib2.Response(
            {**{k.lower(): v for k, v in answer.headers.items()}, "status": str(answer.status)}
        )
        response.reason = answer.reason or ""
        return response, content

    async def _execute(
        self, tokens: TokenSet, request: HttpRequest
    ) -> tuple[httplib2.Response, bytes, TokenSet]:
        """Send with retries, as `HttpRequest.execute(num_retries=…)` over an
        `AuthorizedHttp`: the answer (maybe an error's), and the tokens it was sent with."""
        account = _account_of(tokens)
        if not _fresh(tokens):
            tokens = await self._refresh(account, tokens)
        retry = 0
        while True:
            try:
                response, content = await self._send(account, request, tokens)
                if response.status == 401:  # the token was refused: refresh once, send again
                    tokens = await self._refresh(account, tokens)
                    response, content = await self._send(account, request, tokens)
            except RETRIED_ERRORS as err:
                if retry == self._num_retries:
                    raise
                failed = type(err).__name__
            else:
                if retry == self._num_retries or not _should_retry_response(
                    response.status, content
                ):
                    return response, content, tokens
                failed = str(response.status)
            retry += 1
            wait = self._rand() * 2**retry
            logger.warning(
                "Google %s: %s; retry %d of %d in %.2f s",
                request.methodId,
                failed,
                retry,
                self._num_retries,
                wait,
            )
            await asyncio.sleep(wait)

    async def _call(
        self,
        tokens: TokenSet,
        request: HttpRequest,
        *,
        accept: frozenset[int] = frozenset(),
    ) -> tuple[Any, TokenSet]:
        """The answer to `request` and the (maybe refreshed) tokens.

        An HTTP error whose status is in `accept` counts as success, with the result None.
        """
        try:
            response, content, tokens = await self._execute(tokens, request)
            if response.status in accept:
                return None, tokens
            if response.status >= 300:
                raise HttpError(response, content, uri=request.uri)
            return request.postproc(response, content), tokens
        except LIBRARY_ERRORS as err:
            raise translate_error(err) from err

    # --- refreshing ----------------------------------------------------------------

    async def _refresh(self, account: str, tokens: TokenSet) -> TokenSet:
        """The tokens refreshed. Calls of one grant that need it at once share one
        refresh, which goes on if one of them stops waiting (its deadline passed)."""
        return await self._refreshing.get(account, lambda: self._refresh_grant(account, tokens))

    async def _refresh_grant(self, account: str, tokens: TokenSet) -> TokenSet:
        """google-auth's refresh-token grant over the session, tried as google-auth's
        `Credentials.refresh` tries it: again after a retryable answer (5xx, 429, or a
        `server_error`), three attempts in all, with its backoff between them."""
        if tokens.refresh_token is None:
            raise google.auth.exceptions.RefreshError(  # type: ignore[no-untyped-call]
                "The credentials do not contain the necessary fields need to refresh the "
                "access token. You must specify refresh_token, token_uri, client_id, and "
                "client_secret."
            )
        endpoint = _TokenEndpoint(self._http(), self._timeout)
        attempts = AsyncExponentialBackoff()  # type: ignore[no-untyped-call]
        async for attempt in attempts:
            try:
                async with self._slot(account):
                    access, refresh, expiry, answer = await _client_async.refresh_grant(  # type: ignore[no-untyped-call]
                        endpoint,
                        self._token_uri,
                        tokens.refresh_token,
                        self._client_id,
                        self._client_secret,
                        scopes=list(tokens.scopes) or None,
                        can_retry=False,
                    )
            except google.auth.exceptions.RefreshError as err:
                if not err.retryable or attempt >= attempts.total_attempts:
                    raise
                logger.warning("Google's token endpoint failed for now; trying again")
                continue
            granted = answer.get("scope")
            return TokenSet(
                access_token=str(access),
                # Google sends a refresh token only with consent: never lose the one we have.
                refresh_token=refresh or tokens.refresh_token,
                expiry=expiry.replace(tzinfo=UTC) if expiry is not None else None,
                # As google-auth's Credentials: what Google says it granted, else as
                # before (a scope no longer granted then shows as missing to the checks).
                scopes=tuple(granted.split()) if isinstance(granted, str) else tokens.scopes,
            )
        raise AssertionError("google-auth's backoff stopped before its last attempt")

    # --- calendar calls ------------------------------------------------------------

    async def fetch_account(self, tokens: TokenSet) -> tuple[Account, TokenSet]:
        body, tokens = await self._call(tokens, self._primary_calendar)
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
        request = self._free_busy_request(tuple(calendar_ids), start, end)
        answer, tokens = await self._call(tokens, request)
        calendars = answer.get("calendars") or {}
        return calendars, tokens

    def _describe_free_busy(
        self, calendar_ids: tuple[str, ...], start: datetime, end: datetime
    ) -> HttpRequest:
        # https://developers.google.com/calendar/api/v3/reference/freebusy/query
        body = {
            "timeMin": _rfc3339(start),
            "timeMax": _rfc3339(end),
            "timeZone": "UTC",
            "items": [{"id": calendar_id} for calendar_id in calendar_ids],
        }
        return self._freebusy.query(body=body)

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
            self._events.insert(calendarId="primary", body=body, sendUpdates="all"),
            accept=ALREADY_INSERTED,
        )
        return tokens

    async def delete_event(self, tokens: TokenSet, event_id: str) -> TokenSet:
        # https://developers.google.com/calendar/api/v3/reference/events/delete
        _, tokens = await self._call(
            tokens,
            self._events.delete(calendarId="primary", eventId=event_id, sendUpdates="all"),
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
            self._events.patch(
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
            async with self._http().post(
                self._revoke_uri, data={"token": token}, timeout=timeout
            ) as response:
                if response.status == 200:
                    return
                body = await response.json(content_type=None)
        except (aiohttp.ClientError, TimeoutError, ValueError) as err:
            raise Transient("Google could not be reached to revoke access") from err
        if response.status == 400 and body.get("error") in ("invalid_token", "invalid_request"):
            return  # already revoked or expired: nothing left to revoke
        raise Transient(f"Google answered {response.status} to the revocation")


class _TokenEndpoint:
    """A `google.auth.transport.Request` over the adapter's session: what google-auth's
    async token client sends with (it reads `status` and `await content()`)."""

    def __init__(self, session: aiohttp.ClientSession, timeout: float) -> None:
        self._session = session
        self._timeout = timeout

    async def __call__(
        self,
        url: str,
        method: str = "GET",
        body: bytes | None = None,
        headers: Mapping[str, str] | None = None,
        timeout: float | None = None,  # noqa: ASYNC109 - google-auth's Request takes one
        **kwargs: Any,
    ) -> _TokenAnswer:
        try:
            async with self._session.request(
                method,
                url,
                data=body,
                headers=headers,
                timeout=aiohttp.ClientTimeout(total=timeout or self._timeout),
                **kwargs,
            ) as answer:
                return _TokenAnswer(answer.status, dict(answer.headers), await answer.read())
        except (aiohttp.ClientError, TimeoutError) as err:
            raise google.auth.exceptions.TransportError(err) from err  # type: ignore[no-untyped-call]


@dataclass(frozen=True)
class _TokenAnswer:
    """A `google.auth.transport.Response`, read in full."""

    status: int
    headers: dict[str, str]
    data: bytes

    async def content(self) -> bytes:
        return self.data


def _account_of(tokens: TokenSet) -> str:
    """The key of the grant the tokens belong to: its refresh token's digest (the same for
    every call of one connection until it reconnects; never the token itself). A person
    connected twice has two grants, each with its own slots. The digest takes about
    0.5 µs a call: not worth a cache."""
    secret = tokens.refresh_token or tokens.access_token
    return hashlib.sha256(secret.encode()).hexdigest()


def _fresh(tokens: TokenSet) -> bool:
    """Whether the access token can be sent as it is: google-auth's own test
    (`Credentials.valid`), so a token within `REFRESH_THRESHOLD` of its expiry (the clock
    skew) is refreshed first, and one without an expiry never expires.

    Written out with google-auth's clock and threshold rather than asked of a
    `Credentials` built for it: building one took some 4.6 µs of the loop's time a call,
    this 2 µs (`tests/test_google_adapter.py` holds the two to the same answers)."""
    if tokens.expiry is None:
        return True
    # google-auth compares expiry with a naive UTC clock.
    expiry = tokens.expiry.astimezone(UTC).replace(tzinfo=None)
    return bool(_helpers.utcnow() < expiry - _helpers.REFRESH_THRESHOLD)  # type: ignore[no-untyped-call]


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
    if isinstance(
        err, google.auth.exceptions.TransportError | aiohttp.ClientError | TimeoutError | OSError
    ):
        return Transient(f"Google could not be reached: {type(err).__name__}")
    return CalendarError(f"Google call failed: {type(err).__name__}")
