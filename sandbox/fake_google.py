"""A faithful emulator of Google's OAuth 2.0 endpoints and the Calendar v3 API.

`FakeGoogle` is a real aiohttp server speaking Google's wire formats, so the real client
libraries (google-auth-oauthlib's `Flow` with PKCE, google-auth's `Credentials.refresh`,
google-api-python-client, gcsa, gcal_sync) run against it unchanged but for base URLs:

- `GET /o/oauth2/auth` checks the request and shows Google's error page, or walks a person
  through Google's sign-in pages, plain HTML forms: choose an account, the unverified-app
  warning ("Show Advanced", "Go to … (unsafe)", "Back to safety"), then consent with one
  box per scope. The request waits server-side under a random id between the pages; the
  last one redirects back with a single-use code (or `access_denied`).
- `POST /token` exchanges codes (client auth, redirect URI and PKCE checked) and refresh
  tokens; `POST /revoke` revokes a whole grant.
- `/calendar/v3/` serves calendars, calendarList, freeBusy and events, enforcing Bearer
  tokens and each method's scopes, with Google-shaped error bodies. Recurring events are
  expanded as Google does (`sandbox.google_recurrence`): listed as their instances with
  `singleEvents`, and by `events.instances`; an instance changed or deleted by its id
  becomes an exception; freeBusy counts every instance.

Accounts and events are seeded and inspected in process (`add_account`, `add_event`,
`patch_event`, `delete_event`, `events`), and faults are injected through `sandbox.faults`
(every request is recorded in `requests`). `approve_consent` does over HTTP what a person does on those pages.
`python -m sandbox.fake_google --port N` runs it alone.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import binascii
import copy
import hashlib
import html
import itertools
import os
import re
import secrets
import sys
import zlib
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from html.parser import HTMLParser
from typing import Any
from urllib.parse import unquote_plus, urlencode, urljoin, urlsplit
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import aiohttp
from aiohttp import web

from sandbox.faults import Emulator, Fault
from sandbox.google_recurrence import (
    RecurrenceError,
    Series,
    instance_day,
    parse_series,
)

JSON = dict[str, Any]

AUTH_PATH = "/o/oauth2/auth"
# The sign-in steps after it, each a page (GET) and its form's answer (POST).
CHOOSE_ACCOUNT_PATH = "/o/oauth2/auth/oauthchooseaccount"
WARNING_PATH = "/signin/oauth/warning"
CONSENT_PATH = "/signin/oauth/consent"
_STEPS = (CHOOSE_ACCOUNT_PATH, WARNING_PATH, CONSENT_PATH)
TOKEN_PATH = "/token"  # noqa: S105 - a path, not a secret
REVOKE_PATH = "/revoke"
API_PREFIX = "/calendar/v3"

CODE_LIFETIME = timedelta(minutes=10)
SIGN_IN_LIFETIME = timedelta(hours=1)  # how long a started sign-in waits between its pages
BASE32HEX = "0123456789abcdefghijklmnopqrstuv"
EVENT_ID = re.compile(r"[0-9a-v]{5,1024}")
PKCE_VERIFIER = re.compile(r"[A-Za-z0-9\-._~]{43,128}")

# --- scopes ------------------------------------------------------------------------

_AUTH = "https://www.googleapis.com/auth/"
CALENDAR = _AUTH + "calendar"
CALENDAR_READONLY = _AUTH + "calendar.readonly"
CALENDARS = _AUTH + "calendar.calendars"
CALENDARS_READONLY = _AUTH + "calendar.calendars.readonly"
CALENDARLIST = _AUTH + "calendar.calendarlist"
CALENDARLIST_READONLY = _AUTH + "calendar.calendarlist.readonly"
EVENTS = _AUTH + "calendar.events"
EVENTS_READONLY = _AUTH + "calendar.events.readonly"
EVENTS_OWNED = _AUTH + "calendar.events.owned"
EVENTS_OWNED_READONLY = _AUTH + "calendar.events.owned.readonly"
EVENTS_FREEBUSY = _AUTH + "calendar.events.freebusy"
FREEBUSY = _AUTH + "calendar.freebusy"

# What each scope lets a person grant, as Google's consent screen words it
# (https://developers.google.com/calendar/api/auth).
SCOPE_DESCRIPTIONS = {
    CALENDAR: "See, edit, share, and permanently delete all the calendars you can access using Google Calendar",
    CALENDAR_READONLY: "See and download any calendar you can access using your Google Calendar",
    CALENDARS: "See and change the properties of Google calendars you have access to, and create secondary calendars",
    CALENDARS_READONLY: "See the title, description, default time zone, and other properties of Google calendars you have access to",
    CALENDARLIST: "See, add, and remove Google calendars you're subscribed to",
    CALENDARLIST_READONLY: "See the list of Google calendars you're subscribed to",
    EVENTS: "View and edit events on all your calendars",
    EVENTS_READONLY: "View events on all your calendars",
    EVENTS_OWNED: "See, create, change, and delete events on Google calendars you own",
    EVENTS_OWNED_READONLY: "See the events on Google calendars you own",
    EVENTS_FREEBUSY: "See the availability on Google calendars you have access to",
    FREEBUSY: "View your availability in your calendars",
    _AUTH + "calendar.acls": "See and change the sharing permissions of Google calendars you own",
    _AUTH + "calendar.acls.readonly": "See the sharing permissions of Google calendars you own",
    _AUTH
    + "calendar.app.created": "Make secondary Google calendars, and see, create, change, and delete events on them",
    _AUTH + "calendar.events.public.readonly": "See the events on public calendars",
    _AUTH + "calendar.settings": "See and change your Google Calendar settings",
    _AUTH + "calendar.settings.readonly": "View your Calendar settings",
    "openid": "Associate you with your personal info on Google",
    "email": "See your primary Google Account email address",
    "profile": "See your personal info, including any personal info you've made publicly available",
    _AUTH + "userinfo.email": "See your primary Google Account email address",
    _AUTH
    + "userinfo.profile": "See your personal info, including any personal info you've made publicly available",
}

# The scopes each method accepts, from its reference page's "Authorization" section
# (e.g. https://developers.google.com/calendar/api/v3/reference/freebusy/query#auth).
# Left out: calendar.app.created (only calendars the app created: the emulator has none),
# calendar.events.public.readonly (public calendars only) and, for reading events,
# calendar.events.freebusy (it reveals availability, not events).
_READ_EVENTS = frozenset(
    {CALENDAR, CALENDAR_READONLY, EVENTS, EVENTS_READONLY, EVENTS_OWNED, EVENTS_OWNED_READONLY}
)
_WRITE_EVENTS = frozenset({CALENDAR, EVENTS, EVENTS_OWNED})
METHOD_SCOPES: dict[str, frozenset[str]] = {
    "calendar.v3.Calendars.Get": frozenset(
        {CALENDAR, CALENDAR_READONLY, CALENDARS, CALENDARS_READONLY}
    ),
    "calendar.v3.CalendarList.List": frozenset(
        {CALENDAR, CALENDAR_READONLY, CALENDARLIST, CALENDARLIST_READONLY}
    ),
    "calendar.v3.CalendarList.Get": frozenset(
        {CALENDAR, CALENDAR_READONLY, CALENDARLIST, CALENDARLIST_READONLY}
    ),
    "calendar.v3.Freebusy.Query": frozenset(
        {CALENDAR, CALENDAR_READONLY, EVENTS_FREEBUSY, FREEBUSY}
    ),
    "calendar.v3.Events.List": _READ_EVENTS,
    "calendar.v3.Events.Instances": _READ_EVENTS,
    "calendar.v3.Events.Get": _READ_EVENTS,
    "calendar.v3.Events.Insert": _WRITE_EVENTS,
    "calendar.v3.Events.Patch": _WRITE_EVENTS,
    "calendar.v3.Events.Update": _WRITE_EVENTS,
    "calendar.v3.Events.Delete": _WRITE_EVENTS,
}


def utcnow() -> datetime:
    """The emulator's clock (tests may replace it)."""
    return datetime.now(UTC)


# --- seeded state --------------------------------------------------------------------


@dataclass
class Calendar:
    id: str
    owner: str
    summary: str
    time_zone: str
    events: dict[str, StoredEvent] = field(default_factory=dict)

    @property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.time_zone)

    @property
    def etag(self) -> str:
        return _etag(zlib.crc32(self.id.encode()))


@dataclass
class StoredEvent:
    """An event as Google keeps it: one resource, shown on the organizer's and guests' calendars."""

    resource: JSON
    organizer: Calendar
    seq: int = 0


@dataclass
class Account:
    """A Google account: its primary calendar's id is its email."""

    email: str
    time_zone: str
    calendars: dict[str, Calendar] = field(default_factory=dict)
    consented_clients: set[str] = field(default_factory=set)

    @property
    def primary(self) -> Calendar:
        return self.calendars[self.email]


@dataclass
class Grant:
    """What one consent gave one client: scopes, and maybe a refresh token."""

    email: str
    client_id: str | None
    scopes: tuple[str, ...]
    refresh_token: str | None
    revoked: bool = False


@dataclass
class AccessToken:
    grant: Grant
    scopes: tuple[str, ...]
    expires_at: datetime


@dataclass(frozen=True)
class AuthorizationRequest:
    """The parameters of a valid request to the authorization endpoint."""

    client_id: str
    redirect_uri: str
    scopes: tuple[str, ...]
    state: str | None
    code_challenge: str | None
    code_challenge_method: str | None
    access_type: str
    prompt: str
    login_hint: str


@dataclass
class PendingSignIn:
    """An authorization request between its sign-in pages, and how far the person got."""

    request: AuthorizationRequest
    expires_at: datetime
    email: str | None = None  # the account chosen on the first page
    warned: bool = False  # past the unverified-app warning


@dataclass
class AuthorizationCode:
    request: AuthorizationRequest
    email: str
    scopes: tuple[str, ...]
    expires_at: datetime
    used: bool = False


# --- errors --------------------------------------------------------------------------


class ApiError(Exception):
    """A Calendar API error, answered in Google's JSON error shape."""

    def __init__(
        self,
        status: int,
        reason: str,
        message: str,
        *,
        domain: str = "global",
        location: str | None = None,
        location_type: str = "parameter",
    ) -> None:
        super().__init__(message)
        self.status = status
        self.reason = reason
        self.message = message
        self.domain = domain
        self.location = location
        self.location_type = location_type

    def body(self) -> JSON:
        # https://developers.google.com/calendar/api/guides/errors
        item: JSON = {"domain": self.domain, "reason": self.reason, "message": self.message}
        if self.location is not None:
            item |= {"locationType": self.location_type, "location": self.location}
        return {"error": {"errors": [item], "code": self.status, "message": self.message}}


def api_error_body(status: int, reason: str, message: str, *, domain: str = "global") -> JSON:
    return ApiError(status, reason, message, domain=domain).body()


def not_found() -> ApiError:
    return ApiError(404, "notFound", "Not Found")


def bad_request(message: str = "Bad Request", *, location: str | None = None) -> ApiError:
    return ApiError(400, "badRequest", message, location=location)


class OAuthError(Exception):
    """An OAuth endpoint error: `{"error", "error_description"}` as Google sends it."""

    def __init__(self, status: int, error: str, description: str) -> None:
        super().__init__(description)
        self.status = status
        self.error = error
        self.description = description

    def response(self) -> web.Response:
        body = {"error": self.error, "error_description": self.description}
        return web.json_response(body, status=self.status)


class ConsentPageError(Exception):
    """Google showed an error page instead of a consent form."""

    def __init__(self, status: int, text: str) -> None:
        super().__init__(f"{status}: {text}")
        self.status = status
        self.text = text


class AuthorizationPageError(Exception):
    """A bad authorization request: Google shows an error page and redirects nowhere."""

    def __init__(self, status: int, error: str, description: str) -> None:
        super().__init__(description)
        self.status = status
        self.error = error
        self.description = description


def _invalid_request(description: str) -> AuthorizationPageError:
    return AuthorizationPageError(400, "invalid_request", description)


def _unauthenticated(*, missing: bool) -> web.Response:
    # Google's 401 bodies, missing and bad credentials alike (seen in the wild, e.g.
    # https://github.com/googleapis/google-api-nodejs-client/issues/3592 and
    # https://github.com/spatie/laravel-google-calendar/issues/184).
    expected = (
        "Expected OAuth 2 access token, login cookie or other valid authentication credential. "
        "See https://developers.google.com/identity/sign-in/web/devconsole-project."
    )
    if missing:
        message = "Request is missing required authentication credential. " + expected
        item = {"message": "Login Required.", "domain": "global", "reason": "required"}
    else:
        message = "Request had invalid authentication credentials. " + expected
        item = {"message": "Invalid Credentials", "domain": "global", "reason": "authError"}
    item |= {"location": "Authorization", "locationType": "header"}
    body = {
        "error": {"code": 401, "message": message, "errors": [item], "status": "UNAUTHENTICATED"}
    }
    headers = {"WWW-Authenticate": 'Bearer realm="https://accounts.google.com/"'}
    if not missing:
        headers["WWW-Authenticate"] += ', error="invalid_token"'
    return web.json_response(body, status=401, headers=headers)


def _insufficient_scope(method: str) -> web.Response:
    # https://github.com/analogdotnow/Analog/issues/296 shows Google's body verbatim.
    body = {
        "error": {
            "code": 403,
            "message": "Request had insufficient authentication scopes.",
            "errors": [
                {
                    "message": "Insufficient Permission",
                    "domain": "global",
                    "reason": "insufficientPermissions",
                }
            ],
            "status": "PERMISSION_DENIED",
            "details": [_error_info("ACCESS_TOKEN_SCOPE_INSUFFICIENT", method)],
        }
    }
    scope = " ".join(sorted(METHOD_SCOPES[method]))
    challenge = (
        f'Bearer realm="https://accounts.google.com/", error="insufficient_scope", scope="{scope}"'
    )
    return web.json_response(body, status=403, headers={"WWW-Authenticate": challenge})


def _error_info(reason: str, method: str) -> JSON:
    return {
        "@type": "type.googleapis.com/google.rpc.ErrorInfo",
        "reason": reason,
        "domain": "googleapis.com",
        "metadata": {"service": "calendar-json.googleapis.com", "method": method},
    }


# Usage-limit errors (https://developers.google.com/calendar/api/guides/errors).
RATE_LIMIT_MESSAGES = {
    "rateLimitExceeded": "Rate Limit Exceeded",
    "userRateLimitExceeded": "User Rate Limit Exceeded",
    "quotaExceeded": "Calendar usage limits exceeded.",
}


# --- time ----------------------------------------------------------------------------


def rfc3339_utc(moment: datetime) -> str:
    """Google's timestamp form: UTC, milliseconds, `Z`."""
    return (
        moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"
    )


def rfc3339_in(moment: datetime, zone: ZoneInfo) -> str:
    local = moment.astimezone(zone).replace(microsecond=0)
    text = local.isoformat()
    return text[:-6] + "Z" if text.endswith("+00:00") else text


def parse_rfc3339(text: Any, name: str) -> datetime:
    """A query or body timestamp; Google insists on an offset."""
    if not isinstance(text, str):
        raise bad_request(location=name)
    try:
        moment = datetime.fromisoformat(text)
    except ValueError as err:
        raise bad_request(location=name) from err
    if moment.tzinfo is None:
        raise bad_request(location=name)
    return moment


def parse_zone(name: Any) -> ZoneInfo:
    if not isinstance(name, str):
        raise ApiError(400, "invalid", "Invalid time zone definition.")
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError) as err:
        raise ApiError(400, "invalid", f"Invalid time zone definition: {name}") from err


def event_time(value: Any, which: str, calendar_zone: ZoneInfo) -> datetime:
    """The instant an event's `start` or `end` stands for (all-day: midnight in the calendar's zone)."""
    if not isinstance(value, dict) or not (value.get("dateTime") or value.get("date")):
        raise ApiError(400, "required", f"Missing {which} time.")
    zone = parse_zone(value["timeZone"]) if value.get("timeZone") else None
    if value.get("date"):
        try:
            day = date.fromisoformat(value["date"])
        except (TypeError, ValueError) as err:
            raise bad_request(f"Invalid {which} time.") from err
        return datetime.combine(day, time(), calendar_zone)
    try:
        moment = datetime.fromisoformat(value["dateTime"])
    except (TypeError, ValueError) as err:
        raise bad_request(f"Invalid {which} time.") from err
    if moment.tzinfo is None:
        if zone is None:
            raise ApiError(400, "required", f"Missing time zone definition for {which} time.")
        moment = moment.replace(tzinfo=zone)
    return moment


def event_span(resource: JSON, calendar_zone: ZoneInfo) -> tuple[datetime, datetime]:
    return (
        event_time(resource.get("start"), "start", calendar_zone),
        event_time(resource.get("end"), "end", calendar_zone),
    )


def merge_intervals(
    spans: Iterable[tuple[datetime, datetime]],
) -> list[tuple[datetime, datetime]]:
    merged: list[tuple[datetime, datetime]] = []
    for start, end in sorted(spans):
        if merged and start <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(merged[-1][1], end))
        else:
            merged.append((start, end))
    return merged


# --- HTML pages ----------------------------------------------------------------------


# Plain HTML and CSS, no script: a clean card in the manner of Google's sign-in pages.
_STYLE = """
body { margin: 0; min-height: 100vh; display: flex; flex-direction: column;
  align-items: center; justify-content: center; background: #f0f4f9; color: #1f1f1f;
  font-family: "Google Sans", Roboto, "Segoe UI", Arial, sans-serif; font-size: 14px; }
main { box-sizing: border-box; width: min(450px, calc(100% - 32px)); margin: 24px 0 8px;
  padding: 36px 40px; background: #fff; border: 1px solid #dadce0; border-radius: 28px;
  overflow-wrap: anywhere; }
h1 { margin: 0 0 8px; font-size: 24px; font-weight: 400; line-height: 1.3; }
h2 { margin: 24px 0 8px; font-size: 16px; font-weight: 500; }
p { line-height: 1.5; }
a, .link { color: #0b57d0; font-weight: 500; text-decoration: none; }
.sub { margin: 0 0 16px; font-size: 16px; }
.chip { display: inline-block; margin: 8px 0; padding: 4px 12px; border: 1px solid #dadce0;
  border-radius: 16px; }
.alert { margin: 0 0 8px; color: #b3261e; font-size: 32px; }
.accounts, .scopes { margin: 16px 0 0; padding: 0; list-style: none;
  border-top: 1px solid #dadce0; }
.accounts li, .scopes li { border-bottom: 1px solid #dadce0; }
.scopes li { padding: 12px 4px; }
.scopes label { display: flex; gap: 12px; align-items: flex-start; cursor: pointer; }
.account { display: flex; gap: 12px; align-items: center; width: 100%; padding: 12px 8px;
  border: 0; background: none; color: inherit; font: inherit; text-align: left;
  cursor: pointer; }
.account:hover, .account:focus, .account.hinted { background: #e8f0fe; }
.avatar { display: inline-flex; align-items: center; justify-content: center; flex: none;
  width: 28px; height: 28px; border-radius: 50%; background: #0b57d0; color: #fff; }
.field { display: block; margin: 8px 0; }
.field input { display: block; box-sizing: border-box; width: 100%; margin-top: 6px;
  padding: 13px 15px; border: 1px solid #747775; border-radius: 4px; font: inherit;
  font-size: 16px; }
.invalid { color: #b3261e; }
.actions { display: flex; align-items: center; justify-content: space-between; gap: 8px;
  margin-top: 32px; }
.actions.end { justify-content: flex-end; }
button.primary { padding: 10px 24px; border: 0; border-radius: 20px; background: #0b57d0;
  color: #fff; font: inherit; font-weight: 500; cursor: pointer; }
button.text, button.link { padding: 10px 12px; border: 0; border-radius: 20px;
  background: none; color: #0b57d0; font: inherit; font-weight: 500; cursor: pointer; }
button.link { padding: 0; text-decoration: underline; }
footer { margin-bottom: 24px; color: #444746; font-size: 12px; }
"""


def render_page(title: str, body: str) -> str:
    return (
        "<!doctype html>\n"
        '<html lang="en">\n'
        "<head>\n"
        '<meta charset="utf-8">\n'
        '<meta name="viewport" content="width=device-width, initial-scale=1">\n'
        f"<title>{html.escape(title)}</title>\n"
        f"<style>{_STYLE}</style>\n"
        "</head>\n"
        "<body>\n"
        f"<main>\n{body}</main>\n"
        "<footer>Google emulator: no real Google account is used.</footer>\n"
        "</body>\n"
        "</html>\n"
    )


def render_error_page(status: int, error: str, description: str) -> str:
    """Google's "Authorization Error" page, e.g. "Error 400: invalid_request"."""
    return render_page(
        "Error",
        "<h1>Authorization Error</h1>\n"
        f"<h2>Error {status}: {html.escape(error)}</h2>\n"
        f"<p>{html.escape(description)}</p>\n",
    )


def render_hidden_fields(params: dict[str, str]) -> str:
    return "".join(
        f'<input type="hidden" name="{html.escape(name)}" value="{html.escape(value)}">\n'
        for name, value in params.items()
    )


def render_scope_choices(scopes: Iterable[str]) -> str:
    """One ticked checkbox per scope: Google's granular consent lets people untick them."""
    items = "".join(
        "<li><label>"
        f'<input type="checkbox" name="granted_scope" value="{html.escape(scope)}" checked> '
        f"<span>{html.escape(SCOPE_DESCRIPTIONS.get(scope, scope))}</span>"
        "</label></li>\n"
        for scope in scopes
    )
    return f'<ul class="scopes">\n{items}</ul>\n'


def _step_url(path: str, pending_id: str, **extra: str) -> str:
    return f"{path}?{urlencode({'pending': pending_id} | extra)}"


def render_account_chooser(
    pending_id: str,
    app: str,
    accounts: Iterable[str],
    *,
    login_hint: str = "",
    typed: str | None = None,
    invalid: str = "",
) -> str:
    """Step 1: the known accounts, each a button, and "Use another account" (an email field).

    `login_hint` pre-selects its account if known, else pre-fills the field; `typed` and
    `invalid` show the field again with what was typed and why it was refused.
    """
    emails = list(accounts)
    hint = login_hint.strip().lower()
    hidden = render_hidden_fields({"pending": pending_id})
    body = (
        f"<h1>{'Choose an account' if emails else 'Sign in'}</h1>\n"
        f'<p class="sub">to continue to {html.escape(app)}</p>\n'
    )
    if emails:
        buttons = "".join(
            f'<li><button type="submit" class="account{" hinted" if email == hint else ""}"'
            f' name="email" value="{html.escape(email)}"{" autofocus" if email == hint else ""}>'
            f'<span class="avatar">{html.escape(email[:1].upper())}</span>'
            f"<span>{html.escape(email)}</span></button></li>\n"
            for email in emails
        )
        body += (
            f'<form method="post" action="{CHOOSE_ACCOUNT_PATH}">\n{hidden}'
            f'<ul class="accounts">\n{buttons}</ul>\n</form>\n'
        )
    prefill = typed if typed is not None else ("" if hint in emails else login_hint)
    focus = " autofocus" if typed is not None or hint not in emails else ""
    error = f'<p class="invalid">{html.escape(invalid)}</p>\n' if invalid else ""
    body += (
        f'<form method="post" action="{CHOOSE_ACCOUNT_PATH}">\n{hidden}'
        f"{'<h2>Use another account</h2>' if emails else ''}\n"
        '<label class="field">Email or phone'
        f'<input type="email" name="email" value="{html.escape(prefill)}"'
        f' autocomplete="username" required{focus}></label>\n'
        f"{error}"
        '<div class="actions end"><button type="submit" class="primary">Next</button></div>\n'
        "</form>\n"
    )
    return render_page("Sign in - Google Accounts", body)


def render_unverified_warning(
    pending_id: str, email: str, redirect_uri: str, *, advanced: bool
) -> str:
    """Step 2: "Google hasn't verified this app", as Google shows for unverified apps.

    "Back to safety" ends the sign-in; "Show Advanced" is a link to the same page with the
    advanced part shown, whose "Go to … (unsafe)" goes on to consent.
    """
    host = urlsplit(redirect_uri).hostname or redirect_uri
    if advanced:
        toggle = f'<a href="{html.escape(_step_url(WARNING_PATH, pending_id))}">Hide Advanced</a>'
        more = (
            "<p>Continue only if you understand the risks and trust the developer.</p>\n"
            '<p><button type="submit" class="link" name="action" value="continue">'
            f"Go to {html.escape(host)} (unsafe)</button></p>\n"
        )
    else:
        url = _step_url(WARNING_PATH, pending_id, advanced="1")
        toggle = f'<a href="{html.escape(url)}">Show Advanced</a>'
        more = ""
    body = (
        '<p class="alert" aria-hidden="true">&#9888;</p>\n'
        "<h1>Google hasn\u2019t verified this app</h1>\n"
        f'<p class="chip">{html.escape(email)}</p>\n'
        "<p>The app is requesting access to sensitive info in your Google Account. "
        "Until the developer verifies this app with Google, you shouldn't use it.</p>\n"
        "<p>If you're the developer, submit a verification request to remove this screen.</p>\n"
        f'<form method="post" action="{WARNING_PATH}">\n'
        f"{render_hidden_fields({'pending': pending_id})}"
        f'<div class="actions">{toggle}\n'
        '<button type="submit" class="primary" name="action" value="back">'
        "Back to safety</button></div>\n"
        f"{more}"
        "</form>\n"
    )
    return render_page("Google hasn\u2019t verified this app", body)


def render_consent_page(pending_id: str, app: str, email: str, scopes: Iterable[str]) -> str:
    """Step 3: what the app asks for, one ticked box per scope, Cancel or Allow."""
    name = html.escape(app)
    body = (
        f"<h1>{name} wants access to your Google Account</h1>\n"
        f'<p class="chip">{html.escape(email)}</p>\n'
        f'<form method="post" action="{CONSENT_PATH}">\n'
        f"{render_hidden_fields({'pending': pending_id})}"
        f"<h2>Select what {name} can access</h2>\n"
        f"{render_scope_choices(scopes)}"
        f"<h2>Make sure you trust {name}</h2>\n"
        "<p>You may be sharing sensitive info with this site or app. "
        "You can always see or remove access in your Google Account.</p>\n"
        '<div class="actions end">'
        '<button type="submit" class="text" name="action" value="deny">Cancel</button>\n'
        '<button type="submit" class="primary" name="action" value="allow">Allow</button>'
        "</div>\n"
        "</form>\n"
    )
    return render_page("Sign in - Google Accounts", body)


def html_response(text: str, status: int = 200) -> web.Response:
    return web.Response(text=text, status=status, content_type="text/html")


def _error_response(err: AuthorizationPageError) -> web.Response:
    return html_response(render_error_page(err.status, err.error, err.description), err.status)


def _see_other(location: str, status: int = 303) -> web.Response:
    """The next page of the sign-in, on this server."""
    return web.Response(status=status, headers={"Location": location})


# --- the emulator --------------------------------------------------------------------


class FakeGoogle(Emulator):
    """Google's OAuth endpoints and Calendar v3 API, served over HTTP on loopback."""

    def __init__(
        self,
        *,
        client_id: str | None = None,
        client_secret: str | None = None,
        access_token_lifetime: int = 3600,
        app_name: str | None = None,
        verified_app: bool = False,
    ) -> None:
        super().__init__()
        self.client_id = client_id
        self.client_secret = client_secret
        self.access_token_lifetime = access_token_lifetime
        # The name the consent pages give the app (Google's "OAuth consent screen"): the
        # client id when unset. An unverified app (the default, as an app in Testing is)
        # gets Google's "hasn't verified this app" warning before consent.
        self.app_name = app_name
        self.verified_app = verified_app
        self.accounts: dict[str, Account] = {}
        self.account_latency: dict[str, float] = {}
        """Seconds each Calendar API call of that account's waits before it is answered
        (a fault: one person's Google hanging while everyone else's answers)."""
        self._sign_ins: dict[str, PendingSignIn] = {}
        self._codes: dict[str, AuthorizationCode] = {}
        self._grants: list[Grant] = []
        self._access_tokens: dict[str, AccessToken] = {}
        self._seq = itertools.count(1)
        self._add_routes()

    @property
    def auth_uri(self) -> str:
        return self.base_url + AUTH_PATH

    @property
    def token_uri(self) -> str:
        return self.base_url + TOKEN_PATH

    @property
    def revoke_uri(self) -> str:
        return self.base_url + REVOKE_PATH

    @property
    def api_url(self) -> str:
        return self.base_url + API_PREFIX + "/"

    def _add_routes(self) -> None:
        api = API_PREFIX
        event = api + "/calendars/{calendarId}/events/{eventId}"
        self.app.router.add_routes(
            [
                web.get(AUTH_PATH, self._authorize),
                web.get(CHOOSE_ACCOUNT_PATH, self._chooser_page),
                web.post(CHOOSE_ACCOUNT_PATH, self._choose_account),
                web.get(WARNING_PATH, self._warning_page),
                web.post(WARNING_PATH, self._leave_warning),
                web.get(CONSENT_PATH, self._consent_page),
                web.post(CONSENT_PATH, self._consent),
                web.post(TOKEN_PATH, self._token),
                web.post(REVOKE_PATH, self._revoke),
                web.get(REVOKE_PATH, self._revoke),
                web.get(
                    api + "/calendars/{calendarId}", self._api("Calendars.Get", self._calendar_get)
                ),
                web.get(
                    api + "/users/me/calendarList",
                    self._api("CalendarList.List", self._calendar_list),
                ),
                web.get(
                    api + "/users/me/calendarList/{calendarId}",
                    self._api("CalendarList.Get", self._calendar_list_get),
                ),
                web.post(api + "/freeBusy", self._api("Freebusy.Query", self._freebusy)),
                web.get(
                    api + "/calendars/{calendarId}/events",
                    self._api("Events.List", self._events_list),
                ),
                web.post(
                    api + "/calendars/{calendarId}/events",
                    self._api("Events.Insert", self._events_insert),
                ),
                web.get(event, self._api("Events.Get", self._events_get)),
                web.get(
                    event + "/instances", self._api("Events.Instances", self._events_instances)
                ),
                web.patch(event, self._api("Events.Patch", self._events_patch)),
                web.put(event, self._api("Events.Update", self._events_update)),
                web.delete(event, self._api("Events.Delete", self._events_delete)),
            ]
        )

    # --- seeding and inspection ---

    def add_account(self, email: str, *, time_zone: str = "UTC") -> Account:
        """The account for `email`, created with its primary calendar if new."""
        email = email.strip().lower()
        if email not in self.accounts:
            ZoneInfo(time_zone)  # fail fast on a bad zone
            account = Account(email=email, time_zone=time_zone)
            account.calendars[email] = Calendar(
                id=email, owner=email, summary=email, time_zone=time_zone
            )
            self.accounts[email] = account
        return self.accounts[email]

    def add_event(
        self,
        email: str,
        *,
        start: datetime | date,
        end: datetime | date,
        summary: str = "",
        transparency: str = "opaque",
        status: str = "confirmed",
        attendees: list[dict[str, Any]] | None = None,
        calendar_id: str = "primary",
        event_id: str | None = None,
        visibility: str = "default",
        recurrence: list[str] | None = None,
        time_zone: str | None = None,
    ) -> JSON:
        """Put an event on one of the account's calendars, as events.insert would; return it.

        With `recurrence` (RFC 5545 lines, e.g. `["RRULE:FREQ=WEEKLY;BYDAY=MO"]`) it is a
        recurring event from `start` to `end` the first time. Its times then need a
        `time_zone`, the wall clock it repeats on: by default the start's own zone (a
        `ZoneInfo`), else the calendar's.
        """
        account = self.add_account(email)
        calendar = self._seed_calendar(account, calendar_id)
        if recurrence and isinstance(start, datetime) and time_zone is None:
            own = start.tzinfo
            time_zone = own.key if isinstance(own, ZoneInfo) else calendar.time_zone
        body: JSON = {
            "summary": summary,
            "start": _seed_time(start, time_zone),
            "end": _seed_time(end, time_zone),
            "transparency": transparency,
            "status": status,
            "visibility": visibility,
        }
        if attendees is not None:
            body["attendees"] = attendees
        if event_id is not None:
            body["id"] = event_id
        if recurrence is not None:
            body["recurrence"] = list(recurrence)
        stored = self._insert_event(account, calendar, body)
        return self._render_event(stored, calendar)

    def patch_event(
        self, email: str, event_id: str, changes: JSON, *, calendar_id: str = "primary"
    ) -> JSON:
        """Change an event as events.patch would (an instance id of a recurring event makes
        that instance an exception, e.g. moved); return it. Raises `ApiError` as Google
        would answer."""
        account = self.accounts[email.strip().lower()]
        calendar = self._calendar(account, calendar_id)
        return self._render_event(self._change(calendar, event_id, changes), calendar)

    def delete_event(self, email: str, event_id: str, *, calendar_id: str = "primary") -> None:
        """Delete an event as events.delete would (an instance id cancels that instance only).
        Raises `ApiError` as Google would answer."""
        account = self.accounts[email.strip().lower()]
        self._delete(self._calendar(account, calendar_id), event_id)

    def events(self, email: str, calendar_id: str = "primary") -> list[JSON]:
        """The events on one of the account's calendars, deleted ones left out."""
        account = self.accounts[email.strip().lower()]
        calendar = account.calendars[_calendar_key(account, calendar_id)]
        return [
            self._render_event(stored, calendar)
            for stored in calendar.events.values()
            if stored.resource.get("status") != "cancelled"
        ]

    def issue_tokens(self, email: str, scopes: list[str]) -> tuple[str, str]:
        """An (access, refresh) token pair for the account, as if it had consented."""
        account = self.add_account(email)
        grant = self._new_grant(account, self.client_id, tuple(scopes), offline=True)
        assert grant.refresh_token is not None
        return self._new_access_token(grant, grant.scopes), grant.refresh_token

    def _seed_calendar(self, account: Account, calendar_id: str) -> Calendar:
        key = _calendar_key(account, calendar_id)
        return account.calendars.setdefault(
            key, Calendar(id=key, owner=account.email, summary=key, time_zone=account.time_zone)
        )

    # --- fault injection ---

    def revoke_account_tokens(self, email: str) -> None:
        """Every grant of the account revoked: refresh -> invalid_grant, access -> 401."""
        for grant in self._grants:
            if grant.email == email.strip().lower():
                grant.revoked = True

    def delete_account(self, email: str) -> None:
        self.accounts.pop(email.strip().lower(), None)

    def expire_access_tokens(self) -> None:
        now = utcnow()
        for token in self._access_tokens.values():
            token.expires_at = min(token.expires_at, now)

    def rate_limit(
        self,
        path_pattern: str = ".*",
        *,
        times: int | None = 1,
        status: int = 429,
        reason: str = "rateLimitExceeded",
        retry_after: int | None = None,
    ) -> Fault:
        """429, or 403 with a usageLimits reason, on matching requests."""
        if status not in (403, 429) or reason not in RATE_LIMIT_MESSAGES:
            raise ValueError(f"not a Google rate-limit answer: {status} {reason}")
        headers = {"Retry-After": str(retry_after)} if retry_after is not None else {}
        body = api_error_body(status, reason, RATE_LIMIT_MESSAGES[reason], domain="usageLimits")
        return self.faults.add(
            Fault(path_pattern, status=status, body=body, headers=headers, times=times)
        )

    def server_error(
        self, path_pattern: str = ".*", *, times: int | None = 1, status: int = 503
    ) -> Fault:
        """Google's backendError on matching requests."""
        if status < 500:
            raise ValueError(f"not a server error: {status}")
        body = api_error_body(status, "backendError", "Backend Error")
        return self.faults.add(Fault(path_pattern, status=status, body=body, times=times))

    # --- OAuth: authorization endpoint ---

    async def _authorize(self, request: web.Request) -> web.Response:
        """Check the request before any page, then start the sign-in at the account chooser."""
        try:
            auth = self._authorization_request(dict(request.query))
        except AuthorizationPageError as err:
            return _error_response(err)
        now = utcnow()
        for stale in [key for key, s in self._sign_ins.items() if now >= s.expires_at]:
            del self._sign_ins[stale]
        pending_id = secrets.token_urlsafe(24)
        self._sign_ins[pending_id] = PendingSignIn(request=auth, expires_at=now + SIGN_IN_LIFETIME)
        return _see_other(_step_url(CHOOSE_ACCOUNT_PATH, pending_id), status=302)

    # Each step: its page (GET) shows once the earlier steps are done, else the step the
    # person is at; its answer (POST) is taken only then. A sign-in that is unknown,
    # tampered with or expired gets an error page.

    async def _chooser_page(self, request: web.Request) -> web.Response:
        return self._step(request.query.get("pending", ""), CHOOSE_ACCOUNT_PATH, self._chooser)

    async def _choose_account(self, request: web.Request) -> web.Response:
        form = await request.post()
        pending_id = str(form.get("pending", ""))
        try:
            pending = self._pending(pending_id, CHOOSE_ACCOUNT_PATH)
        except AuthorizationPageError as err:
            return _error_response(err)
        typed = str(form.get("email", ""))
        email = typed.strip().lower()
        if not re.fullmatch(r"[^@\s]+@[^@\s]+\.[^@\s]+", email):
            page = self._chooser(pending_id, pending, typed=typed, invalid="Enter a valid email.")
            return html_response(page, 400)
        # Signing in to an account the emulator has not seen creates it.
        self.add_account(email)
        pending.email, pending.warned = email, False
        return _see_other(_step_url(self._reached(pending), pending_id))

    async def _warning_page(self, request: web.Request) -> web.Response:
        advanced = request.query.get("advanced") == "1"
        return self._step(
            request.query.get("pending", ""),
            WARNING_PATH,
            lambda pending_id, pending: render_unverified_warning(
                pending_id, pending.email or "", pending.request.redirect_uri, advanced=advanced
            ),
        )

    async def _leave_warning(self, request: web.Request) -> web.Response:
        form = await request.post()
        pending_id = str(form.get("pending", ""))
        try:
            pending = self._pending(pending_id, WARNING_PATH)
        except AuthorizationPageError as err:
            return _error_response(err)
        if form.get("action") == "continue":
            pending.warned = True
            return _see_other(_step_url(self._reached(pending), pending_id))
        # "Back to safety" ends the sign-in as a refusal.
        del self._sign_ins[pending_id]
        return _redirect(pending.request, {"error": "access_denied"})

    async def _consent_page(self, request: web.Request) -> web.Response:
        return self._step(
            request.query.get("pending", ""),
            CONSENT_PATH,
            lambda pending_id, pending: render_consent_page(
                pending_id,
                self._app_name(pending.request),
                pending.email or "",
                pending.request.scopes,
            ),
        )

    async def _consent(self, request: web.Request) -> web.Response:
        form = await request.post()
        pending_id = str(form.get("pending", ""))
        try:
            pending = self._pending(pending_id, CONSENT_PATH)
        except AuthorizationPageError as err:
            return _error_response(err)
        del self._sign_ins[pending_id]
        auth, email = pending.request, pending.email or ""
        ticked = {str(v) for v in form.getall("granted_scope", [])}
        granted = tuple(s for s in auth.scopes if s in ticked)
        if form.get("action") != "allow" or not granted:
            # Nothing granted is a refusal too: there is nothing to hand a token for.
            return _redirect(auth, {"error": "access_denied"})
        code = "4/0" + secrets.token_urlsafe(32)
        self._codes[code] = AuthorizationCode(
            request=auth, email=email, scopes=granted, expires_at=utcnow() + CODE_LIFETIME
        )
        # https://developers.google.com/identity/protocols/oauth2/web-server#handlingresponse
        return _redirect(
            auth,
            {"code": code, "scope": " ".join(granted), "authuser": "0", "prompt": "consent"},
        )

    def _step(
        self,
        pending_id: str,
        path: str,
        render: Callable[[str, PendingSignIn], str],
    ) -> web.Response:
        try:
            pending = self._pending(pending_id, None)
        except AuthorizationPageError as err:
            return _error_response(err)
        reached = self._reached(pending)
        if _STEPS.index(reached) < _STEPS.index(path):
            return _see_other(_step_url(reached, pending_id))
        return html_response(render(pending_id, pending))

    def _pending(self, pending_id: str, step: str | None) -> PendingSignIn:
        """The sign-in waiting under this id; with `step`, only if it has reached that step."""
        pending = self._sign_ins.get(pending_id)
        if pending is not None and utcnow() >= pending.expires_at:
            del self._sign_ins[pending_id]
            pending = None
        if pending is None:
            raise _invalid_request(
                "This sign-in is unknown or has expired. "
                "Go back to the app and ask it for a new sign-in link."
            )
        if step is not None and _STEPS.index(self._reached(pending)) < _STEPS.index(step):
            raise _invalid_request("This sign-in step comes before its earlier steps are done.")
        return pending

    def _reached(self, pending: PendingSignIn) -> str:
        """The path of the furthest step the person has reached."""
        if pending.email is None:
            return CHOOSE_ACCOUNT_PATH
        if not pending.warned and not self.verified_app:
            return WARNING_PATH
        return CONSENT_PATH

    def _chooser(
        self,
        pending_id: str,
        pending: PendingSignIn,
        *,
        typed: str | None = None,
        invalid: str = "",
    ) -> str:
        return render_account_chooser(
            pending_id,
            self._app_name(pending.request),
            self.accounts,
            login_hint=pending.request.login_hint,
            typed=typed,
            invalid=invalid,
        )

    def _app_name(self, auth: AuthorizationRequest) -> str:
        return self.app_name or auth.client_id

    def _authorization_request(self, params: dict[str, str]) -> AuthorizationRequest:
        """Validate the parameters as Google does before it shows any consent screen."""
        # https://developers.google.com/identity/protocols/oauth2/web-server#creatingclient
        client_id = params.get("client_id", "")
        if not client_id:
            raise _invalid_request("Missing required parameter: client_id")
        if self.client_id is not None and client_id != self.client_id:
            raise AuthorizationPageError(401, "invalid_client", "The OAuth client was not found.")
        redirect_uri = _checked_redirect_uri(params.get("redirect_uri", ""))
        response_type = params.get("response_type", "")
        if not response_type:
            raise _invalid_request("Required parameter is missing: response_type")
        if response_type != "code":
            raise AuthorizationPageError(
                400, "unsupported_response_type", f"Invalid response_type: {response_type}"
            )
        method = params.get("code_challenge_method")
        challenge = params.get("code_challenge")
        if method is not None and method not in ("S256", "plain"):
            raise _invalid_request("Invalid code_challenge_method value.")
        if method is not None and not challenge:
            raise _invalid_request("Missing required parameter: code_challenge")
        return AuthorizationRequest(
            client_id=client_id,
            redirect_uri=redirect_uri,
            scopes=_checked_scopes(params.get("scope", "")),
            state=params.get("state"),
            code_challenge=challenge or None,
            code_challenge_method=(method or "plain") if challenge else None,
            access_type=params.get("access_type", "online"),
            prompt=params.get("prompt", ""),
            login_hint=params.get("login_hint", ""),
        )

    # --- OAuth: token endpoint ---

    async def _token(self, request: web.Request) -> web.Response:
        form = {key: str(value) for key, value in (await request.post()).items()}
        try:
            client_id = self._authenticate_client(request, form)
            grant_type = form.get("grant_type", "")
            if grant_type == "authorization_code":
                return web.json_response(self._exchange_code(client_id, form))
            if grant_type == "refresh_token":
                return web.json_response(self._refresh(client_id, form))
            raise OAuthError(400, "unsupported_grant_type", f"Invalid grant_type: {grant_type}")
        except OAuthError as err:
            return err.response()

    def _authenticate_client(self, request: web.Request, form: dict[str, str]) -> str:
        """The client, authenticated by HTTP Basic or by the form body (RFC 6749 §2.3.1)."""
        client_id, secret = _basic_credentials(request) or (
            form.get("client_id", ""),
            form.get("client_secret", ""),
        )
        if not client_id:
            raise OAuthError(400, "invalid_request", "Could not determine client ID from request.")
        if self.client_id is not None and client_id != self.client_id:
            raise OAuthError(401, "invalid_client", "The OAuth client was not found.")
        if self.client_secret is not None and secret != self.client_secret:
            raise OAuthError(401, "invalid_client", "Unauthorized")
        return client_id

    def _exchange_code(self, client_id: str, form: dict[str, str]) -> JSON:
        code_text = form.get("code", "")
        if not code_text:
            raise OAuthError(400, "invalid_request", "Missing required parameter: code")
        code = self._codes.get(code_text)
        if code is None:
            description = "Bad Request" if code_text.startswith("4/") else "Malformed auth code."
            raise OAuthError(400, "invalid_grant", description)
        if code.used or utcnow() >= code.expires_at or code.request.client_id != client_id:
            raise OAuthError(400, "invalid_grant", "Bad Request")
        code.used = True
        if form.get("redirect_uri", "") != code.request.redirect_uri:
            raise OAuthError(400, "redirect_uri_mismatch", "Bad Request")
        _check_verifier(code.request, form.get("code_verifier"))
        account = self.accounts.get(code.email)
        if account is None:
            raise OAuthError(400, "invalid_grant", "Account has been deleted")
        # Google sends a refresh token with offline access on first consent, or when
        # prompt=consent asked again (https://developers.google.com/identity/protocols/oauth2/web-server#offline).
        offline = code.request.access_type == "offline" and (
            "consent" in code.request.prompt.split()
            or code.request.client_id not in account.consented_clients
        )
        account.consented_clients.add(code.request.client_id)
        grant = self._new_grant(account, client_id, code.scopes, offline=offline)
        answer = self._token_answer(grant, grant.scopes)
        if grant.refresh_token is not None:
            answer["refresh_token"] = grant.refresh_token
        return answer

    def _refresh(self, client_id: str, form: dict[str, str]) -> JSON:
        grant = self._grant_for_refresh(form.get("refresh_token", ""))
        if grant is None or grant.revoked:
            raise OAuthError(400, "invalid_grant", "Token has been expired or revoked.")
        if grant.client_id is not None and grant.client_id != client_id:
            raise OAuthError(400, "unauthorized_client", "Unauthorized")
        if grant.email not in self.accounts:
            raise OAuthError(400, "invalid_grant", "Account has been deleted")
        scopes = tuple(form["scope"].split()) if form.get("scope") else grant.scopes
        if not set(scopes) <= set(grant.scopes):
            raise OAuthError(400, "invalid_scope", "Bad Request")
        return self._token_answer(grant, scopes)

    def _grant_for_refresh(self, refresh_token: str) -> Grant | None:
        return next((g for g in self._grants if g.refresh_token == refresh_token), None)

    def _token_answer(self, grant: Grant, scopes: tuple[str, ...]) -> JSON:
        return {
            "access_token": self._new_access_token(grant, scopes),
            "expires_in": self.access_token_lifetime,
            "scope": " ".join(scopes),
            "token_type": "Bearer",
        }

    def _new_grant(
        self, account: Account, client_id: str | None, scopes: tuple[str, ...], *, offline: bool
    ) -> Grant:
        refresh = "1//0" + secrets.token_urlsafe(40) if offline else None
        grant = Grant(
            email=account.email, client_id=client_id, scopes=scopes, refresh_token=refresh
        )
        self._grants.append(grant)
        return grant

    def _new_access_token(self, grant: Grant, scopes: tuple[str, ...]) -> str:
        token = "ya29." + secrets.token_urlsafe(48)
        expires_at = utcnow() + timedelta(seconds=self.access_token_lifetime)
        self._access_tokens[token] = AccessToken(grant=grant, scopes=scopes, expires_at=expires_at)
        return token

    # --- OAuth: revocation ---

    async def _revoke(self, request: web.Request) -> web.Response:
        # https://developers.google.com/identity/protocols/oauth2/web-server#tokenrevoke:
        # revoking an access token revokes its refresh token too, and the other way round.
        form = await request.post()
        token = str(form.get("token") or request.query.get("token", ""))
        grant = self._grant_for_refresh(token) if token else None
        if grant is None and token in self._access_tokens:
            grant = self._access_tokens[token].grant
        if grant is None or grant.revoked:
            return OAuthError(400, "invalid_token", "Token expired or revoked").response()
        grant.revoked = True
        return web.json_response({})

    # --- Calendar API plumbing ---

    def _api(
        self, method: str, handler: Callable[[web.Request, Account], Awaitable[web.Response]]
    ) -> Callable[[web.Request], Awaitable[web.Response]]:
        """Wrap a Calendar method: Bearer token, its scopes, Google-shaped errors."""
        name = "calendar.v3." + method

        async def serve(request: web.Request) -> web.Response:
            token = _bearer_token(request)
            if token is None:
                return _unauthenticated(missing=True)
            access = self._access_tokens.get(token)
            account = self.accounts.get(access.grant.email) if access else None
            if (
                access is None
                or account is None
                or access.grant.revoked
                or utcnow() >= access.expires_at
            ):
                return _unauthenticated(missing=False)
            if not METHOD_SCOPES[name] & set(access.scopes):
                return _insufficient_scope(name)
            delay = self.account_latency.get(account.email, 0.0)
            if delay:
                await asyncio.sleep(delay)  # this account's Calendar answers slowly (a fault)
            try:
                return await handler(request, account)
            except ApiError as err:
                return web.json_response(err.body(), status=err.status)

        return serve

    def _calendar(self, account: Account, calendar_id: str) -> Calendar:
        """One of the account's own calendars; other people's are not found."""
        calendar = account.calendars.get(_calendar_key(account, calendar_id))
        if calendar is None:
            raise not_found()
        return calendar

    # --- calendars and calendarList ---

    async def _calendar_get(self, request: web.Request, account: Account) -> web.Response:
        calendar = self._calendar(account, request.match_info["calendarId"])
        return web.json_response(self._calendar_resource(calendar))

    async def _calendar_list(self, request: web.Request, account: Account) -> web.Response:
        items = [self._calendar_list_entry(account, c) for c in account.calendars.values()]
        return web.json_response(
            {
                "kind": "calendar#calendarList",
                "etag": _etag(len(items)),
                "nextSyncToken": _sync_token(next(self._seq)),
                "items": items,
            }
        )

    async def _calendar_list_get(self, request: web.Request, account: Account) -> web.Response:
        calendar = self._calendar(account, request.match_info["calendarId"])
        return web.json_response(self._calendar_list_entry(account, calendar))

    def _calendar_resource(self, calendar: Calendar) -> JSON:
        return {
            "kind": "calendar#calendar",
            "etag": calendar.etag,
            "id": calendar.id,
            "summary": calendar.summary,
            "timeZone": calendar.time_zone,
            "conferenceProperties": {"allowedConferenceSolutionTypes": ["hangoutsMeet"]},
        }

    def _calendar_list_entry(self, account: Account, calendar: Calendar) -> JSON:
        entry = self._calendar_resource(calendar) | {
            "kind": "calendar#calendarListEntry",
            "colorId": "14",
            "backgroundColor": "#9fe1e7",
            "foregroundColor": "#000000",
            "selected": True,
            "accessRole": "owner",
            "defaultReminders": [{"method": "popup", "minutes": 10}],
        }
        if calendar.id == account.email:
            entry["primary"] = True
        return entry

    # --- freeBusy ---

    async def _freebusy(self, request: web.Request, account: Account) -> web.Response:
        # https://developers.google.com/calendar/api/v3/reference/freebusy/query
        body = await _json_body(request)
        time_min = parse_rfc3339(body.get("timeMin"), "timeMin")
        time_max = parse_rfc3339(body.get("timeMax"), "timeMax")
        if time_max <= time_min:
            raise ApiError(
                400, "timeRangeEmpty", "The specified time range is empty.",
                domain="calendar", location="timeMax",
            )  # fmt: skip
        if time_max - time_min > FREEBUSY_MAX_RANGE:
            raise ApiError(
                400, "timeRangeTooLong", "The requested time range is too long.",
                domain="calendar", location="timeMax",
            )  # fmt: skip
        zone = parse_zone(body.get("timeZone", "UTC"))
        items = body.get("items", [])
        if not isinstance(items, list):
            raise bad_request(location="items")
        ids = [str(item.get("id", "")) for item in items if isinstance(item, dict)]
        # calendarExpansionMax: "Maximum value is 50."
        expansion_max = min(
            _int_param(body.get("calendarExpansionMax"), "calendarExpansionMax", 50), 50
        )
        too_many = len(ids) > expansion_max
        calendars = {
            calendar_id: self._freebusy_entry(
                account, calendar_id, time_min, time_max, zone, too_many
            )
            for calendar_id in ids
        }
        return web.json_response(
            {
                "kind": "calendar#freeBusy",
                "timeMin": rfc3339_utc(time_min),
                "timeMax": rfc3339_utc(time_max),
                "calendars": calendars,
            }
        )

    def _freebusy_entry(
        self,
        account: Account,
        calendar_id: str,
        time_min: datetime,
        time_max: datetime,
        zone: ZoneInfo,
        too_many: bool,
    ) -> JSON:
        if too_many:
            return {
                "errors": [{"domain": "global", "reason": "tooManyCalendarsRequested"}],
                "busy": [],
            }
        try:
            calendar = self._calendar(account, calendar_id)
        except ApiError:
            return {"errors": [{"domain": "global", "reason": "notFound"}], "busy": []}
        busy = busy_intervals(calendar, time_min, time_max)
        return {
            "busy": [{"start": rfc3339_in(s, zone), "end": rfc3339_in(e, zone)} for s, e in busy]
        }

    # --- events ---

    async def _events_list(self, request: web.Request, account: Account) -> web.Response:
        # https://developers.google.com/calendar/api/v3/reference/events/list
        calendar = self._calendar(account, request.match_info["calendarId"])
        items = self._matching_events(calendar, request.query)
        return web.json_response(self._events_page(calendar, items, request.query, sync=True))

    async def _events_instances(self, request: web.Request, account: Account) -> web.Response:
        # https://developers.google.com/calendar/api/v3/reference/events/instances
        calendar = self._calendar(account, request.match_info["calendarId"])
        stored = self._stored_event(calendar, request.match_info["eventId"])
        query = request.query
        window = _window(query)
        if _is_master(stored.resource):
            exceptions = [
                e
                for e in calendar.events.values()
                if e.resource.get("recurringEventId") == stored.resource["id"]
            ]
            items = instances(calendar, stored, exceptions, window)
        else:  # not a recurring event: its one occurrence, the event itself
            items = (
                [stored] if _in_window(event_span(stored.resource, calendar.zone), window) else []
            )
        if query.get("showDeleted") != "true":
            items = [i for i in items if i.resource.get("status") != "cancelled"]
        if query.get("originalStart"):
            wanted = parse_rfc3339(query["originalStart"], "originalStart")
            items = [i for i in items if _original_start(i, calendar.zone) == wanted]
        return web.json_response(self._events_page(calendar, items, query, sync=False))

    def _events_page(
        self, calendar: Calendar, items: list[StoredEvent], query: Mapping[str, str], *, sync: bool
    ) -> JSON:
        """One page of events as Google answers a listing; the last page of events.list
        carries a sync token."""
        page_size = min(_int_param(query.get("maxResults"), "maxResults", 250), 2500)
        offset = _page_offset(query.get("pageToken"))
        page = items[offset : offset + page_size]
        answer: JSON = {
            "kind": "calendar#events",
            "etag": _etag(next(self._seq)),
            "summary": calendar.summary,
            "description": "",
            "updated": rfc3339_utc(utcnow()),
            "timeZone": calendar.time_zone,
            "accessRole": "owner",
            "defaultReminders": [{"method": "popup", "minutes": 10}],
            "items": [self._render_event(stored, calendar) for stored in page],
        }
        if offset + page_size < len(items):
            answer["nextPageToken"] = _page_token(offset + page_size)
        elif sync:
            answer["nextSyncToken"] = _sync_token(next(self._seq))
        return answer

    def _matching_events(self, calendar: Calendar, query: Mapping[str, str]) -> list[StoredEvent]:
        """What events.list answers. Without `singleEvents` a recurring event is listed once
        (with its `recurrence`) and its exceptions beside it, cancelled ones even without
        `showDeleted`, as Google does; with it, each instance in the window instead."""
        since = _sync_seq(query["syncToken"]) if query.get("syncToken") else None
        if since is not None and (query.get("timeMin") or query.get("timeMax") or query.get("q")):
            raise bad_request("Sync token cannot be used with other filters.")
        single = query.get("singleEvents") == "true"
        order_by = query.get("orderBy")
        if order_by == "startTime" and not single:
            raise bad_request("The requested ordering is not available for the particular query.")
        show_deleted = query.get("showDeleted") == "true" or since is not None
        window = _window(query)
        if single:
            candidates = single_events(calendar, window)
        else:
            candidates = [s for s in calendar.events.values() if _occurs_in(s, calendar, window)]
        items = [
            stored
            for stored in candidates
            if (
                show_deleted
                or stored.resource.get("status") != "cancelled"
                or (not single and _is_cancelled_instance(stored, calendar))
            )
            and (since is None or stored.seq > since)
            and _matches_text(stored.resource, query.get("q"))
        ]
        if order_by == "startTime":
            items.sort(key=lambda stored: event_span(stored.resource, calendar.zone)[0])
        elif order_by == "updated":
            items.sort(key=lambda stored: stored.seq)
        return items

    async def _events_get(self, request: web.Request, account: Account) -> web.Response:
        calendar = self._calendar(account, request.match_info["calendarId"])
        # The get method always returns cancelled (deleted) events.
        stored = self._stored_event(calendar, request.match_info["eventId"])
        return web.json_response(self._render_event(stored, calendar))

    async def _events_insert(self, request: web.Request, account: Account) -> web.Response:
        # https://developers.google.com/calendar/api/v3/reference/events/insert
        calendar = self._calendar(account, request.match_info["calendarId"])
        stored = self._insert_event(account, calendar, await _json_body(request))
        return web.json_response(self._render_event(stored, calendar))

    async def _events_patch(self, request: web.Request, account: Account) -> web.Response:
        return await self._change_event(request, account, replace=False)

    async def _events_update(self, request: web.Request, account: Account) -> web.Response:
        return await self._change_event(request, account, replace=True)

    async def _events_delete(self, request: web.Request, account: Account) -> web.Response:
        calendar = self._calendar(account, request.match_info["calendarId"])
        self._delete(calendar, request.match_info["eventId"])
        return web.Response(status=204)

    def _delete(self, calendar: Calendar, event_id: str) -> None:
        """The organizer cancels the event (a recurring one with its exceptions; an instance
        alone, as a cancelled exception); a guest leaves it."""
        stored = self._stored_event(calendar, event_id)
        if stored.resource.get("status") == "cancelled":
            raise ApiError(410, "deleted", "Resource has been deleted")
        for each in [self._materialized(calendar, stored), *self._exceptions(calendar, stored)]:
            if each.organizer is calendar:
                each.resource["status"] = "cancelled"
                self._touch(each)
            else:
                self._leave_event(each, calendar)

    def _stored_event(self, calendar: Calendar, event_id: str) -> StoredEvent:
        """The event with this id, or the instance of a recurring event it names (unsaved
        until it changes: see `_materialized`)."""
        stored = calendar.events.get(event_id) or _unchanged_instance(calendar, event_id)
        if stored is None:
            raise not_found()
        return stored

    def _materialized(self, calendar: Calendar, stored: StoredEvent) -> StoredEvent:
        """The event itself, saved: an unchanged instance about to change becomes an
        exception, kept where its recurring event is (the organizer's calendar, and so its
        guests'), or on this calendar alone if the guest has left the series."""
        if calendar.events.get(stored.resource["id"]) is stored:
            return stored
        exception = StoredEvent(copy.deepcopy(stored.resource), stored.organizer)
        self._touch(exception)
        master_id = stored.resource["recurringEventId"]
        organizers = stored.organizer.events
        if calendar.events.get(master_id) is organizers.get(master_id):
            organizers[exception.resource["id"]] = exception
            self._send_invitations(exception)
        else:
            calendar.events[exception.resource["id"]] = exception
        return exception

    def _exceptions(self, calendar: Calendar, stored: StoredEvent) -> list[StoredEvent]:
        """A recurring event's live exceptions on this calendar (none for other events)."""
        if not _is_master(stored.resource):
            return []
        return [
            e
            for e in calendar.events.values()
            if e.resource.get("recurringEventId") == stored.resource["id"]
            and e.resource.get("status") != "cancelled"
        ]

    def _insert_event(self, account: Account, calendar: Calendar, body: JSON) -> StoredEvent:
        event_id = str(body.get("id") or _new_event_id())
        if not EVENT_ID.fullmatch(event_id):
            raise ApiError(400, "invalid", "Invalid resource id value.")
        if event_id in calendar.events:
            raise ApiError(409, "duplicate", "The requested identifier already exists.")
        resource = _event_fields(body)
        _check_span(resource, calendar.zone)
        _check_recurrence(resource, calendar.zone)
        now = rfc3339_utc(utcnow())
        person = {"email": calendar.id}
        resource |= {
            "kind": "calendar#event",
            "id": event_id,
            "status": resource.get("status", "confirmed"),
            "htmlLink": f"https://www.google.com/calendar/event?eid={event_id}",
            "created": now,
            "updated": now,
            "creator": {"email": account.email},
            "organizer": person,
            "iCalUID": f"{event_id}@google.com",
            "sequence": 0,
            "reminders": resource.get("reminders", {"useDefault": True}),
            "eventType": resource.get("eventType", "default"),
        }
        stored = StoredEvent(resource=resource, organizer=calendar)
        self._touch(stored)
        calendar.events[event_id] = stored
        self._send_invitations(stored)
        return stored

    async def _change_event(
        self, request: web.Request, account: Account, *, replace: bool
    ) -> web.Response:
        calendar = self._calendar(account, request.match_info["calendarId"])
        event_id = request.match_info["eventId"]
        self._stored_event(calendar, event_id)  # unknown: 404 before the body is read
        body = await _json_body(request)
        stored = self._change(calendar, event_id, body, replace=replace)
        return web.json_response(self._render_event(stored, calendar))

    def _change(
        self, calendar: Calendar, event_id: str, body: JSON, *, replace: bool = False
    ) -> StoredEvent:
        """Patch (or, replacing, update) an event; an instance changed becomes an exception."""
        stored = self._stored_event(calendar, event_id)
        if stored.organizer is not calendar:
            # A guest changes only their own answer; the rest is the organizer's.
            stored = self._materialized(calendar, stored)
            self._answer_invitation(stored, calendar, body)
            return stored
        invited_before = _guests(stored.resource)
        kept = {key: stored.resource[key] for key in _SERVER_FIELDS if key in stored.resource}
        changes = _event_fields(body)
        if stored.resource.get("recurringEventId") and changes.get("recurrence"):
            raise ApiError(
                400, "invalid", "An instance of a recurring event cannot have a recurrence."
            )
        if replace:
            resource = kept | {"status": "confirmed", "reminders": {"useDefault": True}} | changes
        else:
            resource = _patched(stored.resource, changes)
        _check_span(resource, calendar.zone)
        _check_recurrence(resource, calendar.zone)
        if any(resource.get(key) != stored.resource.get(key) for key in ("start", "end")):
            resource["sequence"] = int(stored.resource.get("sequence", 0)) + 1
        stored = self._materialized(calendar, stored)
        stored.resource = resource
        self._touch(stored)
        self._send_invitations(stored, invited_before)
        return stored

    def _touch(self, stored: StoredEvent) -> None:
        stored.seq = next(self._seq)
        stored.resource["updated"] = rfc3339_utc(utcnow())
        stored.resource["etag"] = _etag(stored.seq)

    def _send_invitations(
        self, stored: StoredEvent, invited_before: frozenset[str] = frozenset()
    ) -> None:
        """Guests who are accounts here see the event on their primary calendar, as Google does;
        guests no longer invited (of `invited_before`) see it leave theirs."""
        event_id = stored.resource["id"]
        guests = _guests(stored.resource)
        for email in sorted(guests | invited_before):
            account = self.accounts.get(email)
            if account is None:
                continue
            calendar = account.primary
            current = calendar.events.get(event_id)
            if email == stored.organizer.owner or (
                current and current.organizer is not stored.organizer
            ):
                continue
            if email in guests and current is not stored:
                calendar.events[event_id] = stored
            elif email not in guests and current is stored:
                self._leave_event(stored, calendar)

    def _leave_event(self, stored: StoredEvent, calendar: Calendar) -> None:
        """The event leaves a guest's calendar: they see it cancelled, the organizer sees them decline."""
        gone = StoredEvent(copy.deepcopy(stored.resource), stored.organizer)
        gone.resource["status"] = "cancelled"
        self._touch(gone)
        calendar.events[gone.resource["id"]] = gone
        for attendee in stored.resource.get("attendees", []):
            if str(attendee.get("email", "")).lower() == calendar.owner:
                attendee["responseStatus"] = "declined"
        self._touch(stored)

    def _answer_invitation(self, stored: StoredEvent, calendar: Calendar, body: JSON) -> None:
        answers = [
            a
            for a in body.get("attendees", [])
            if str(a.get("email", "")).lower() == calendar.owner
        ]
        for attendee in stored.resource.get("attendees", []):
            if answers and str(attendee.get("email", "")).lower() == calendar.owner:
                attendee["responseStatus"] = answers[0].get("responseStatus", "needsAction")
        self._touch(stored)

    def _render_event(self, stored: StoredEvent, calendar: Calendar) -> JSON:
        """The event as this calendar's owner sees it: `self` marks, times in the event's zone."""
        resource = copy.deepcopy(stored.resource)
        viewers = {calendar.owner, calendar.id}
        for person in [
            resource.get("creator"),
            resource.get("organizer"),
            *resource.get("attendees", []),
        ]:
            if isinstance(person, dict) and str(person.get("email", "")).lower() in viewers:
                person["self"] = True
        for which in ("start", "end"):
            resource[which] = _render_time(resource.get(which), which, calendar.zone)
        # Google leaves out fields that hold their default values.
        if resource.get("transparency") == "opaque":
            del resource["transparency"]
        if resource.get("visibility") == "default":
            del resource["visibility"]
        return resource


# --- helpers of the Calendar API -----------------------------------------------------

# freeBusy refuses long ranges; scheduling tools split their queries at about three
# months (https://github.com/calcom/cal.com/pull/11962).
FREEBUSY_MAX_RANGE = timedelta(days=90)

# Read-only on an event: kept through a full update (PUT). An instance keeps which
# recurring event it belongs to and where it was.
_SERVER_FIELDS = (
    "kind", "etag", "id", "htmlLink", "created", "updated", "creator",
    "organizer", "iCalUID", "sequence", "eventType", "recurringEventId", "originalStartTime",
)  # fmt: skip
_CLIENT_FIELDS = frozenset(
    {
        "summary", "description", "location", "start", "end", "status", "transparency",
        "visibility", "attendees", "reminders", "colorId", "recurrence", "extendedProperties",
        "guestsCanInviteOthers", "guestsCanModify", "guestsCanSeeOtherGuests", "source",
        "anyoneCanAddSelf", "locked", "eventType",
    }
)  # fmt: skip

OPEN_ENDED_EXPANSION = timedelta(days=2 * 365)
"""How far a listing without timeMax expands a recurring event: to this long past the
latest of now, timeMin and its first instance. Google stops somewhere too (paging
through an endless series ends), where it does is not documented."""


def busy_intervals(
    calendar: Calendar, time_min: datetime, time_max: datetime
) -> list[tuple[datetime, datetime]]:
    """Busy time on the calendar, clipped to the range and merged.

    Busy: confirmed or tentative, opaque events the owner has not declined, all-day ones
    included, and each instance of a recurring event in the range (moved ones where they
    are now). Free: transparent ("Available"), cancelled and declined events and instances.
    """
    spans = []
    for stored in single_events(calendar, (time_min, time_max)):
        if not _blocks_time(stored.resource, calendar.owner):
            continue
        start, end = event_span(stored.resource, calendar.zone)
        start, end = max(start, time_min), min(end, time_max)
        if start < end:
            spans.append((start, end))
    return merge_intervals(spans)


def _blocks_time(resource: JSON, owner: str) -> bool:
    if resource.get("status") == "cancelled" or resource.get("transparency") == "transparent":
        return False
    own_answers = [
        a.get("responseStatus")
        for a in resource.get("attendees", [])
        if isinstance(a, dict) and str(a.get("email", "")).lower() == owner
    ]
    return "declined" not in own_answers


# --- recurring events (the expansion itself is sandbox.google_recurrence's) ---


def _is_master(resource: JSON) -> bool:
    """A recurring event itself, not one of its instances."""
    return bool(resource.get("recurrence")) and not resource.get("recurringEventId")


def series_of(resource: JSON, calendar_zone: ZoneInfo, through: datetime | None = None) -> Series:
    """A recurring event's series, checked as Google checks it (400 otherwise).

    Timed: its start and end must name their `timeZone`, the wall clock it repeats on.
    `through` cuts endless rules there, so expanding costs only what a window holds.
    """
    lines = resource.get("recurrence")
    if not isinstance(lines, list) or not all(isinstance(line, str) for line in lines):
        raise ApiError(400, "invalid", "Invalid recurrence rule.")
    start, end = event_span(resource, calendar_zone)
    all_day = bool(resource["start"].get("date"))
    if not all_day:
        for which in ("start", "end"):
            if not resource[which].get("timeZone"):
                raise ApiError(400, "required", f"Missing time zone definition for {which} time.")
    zone = calendar_zone if all_day else parse_zone(resource["start"]["timeZone"])
    try:
        return parse_series(
            lines, start=start, end=end, zone=zone, all_day=all_day, through=through
        )
    except RecurrenceError as err:
        raise ApiError(400, "invalid", "Invalid recurrence rule.") from err


def _check_recurrence(resource: JSON, calendar_zone: ZoneInfo) -> None:
    if _is_master(resource):
        series_of(resource, calendar_zone)


def instance_event(master: StoredEvent, series: Series, original: datetime) -> StoredEvent:
    """One unchanged instance as Google shows it (not stored): the recurring event's fields
    but `recurrence`, its own id and times, `recurringEventId` and `originalStartTime`."""
    resource = master.resource
    event_id = series.instance_id(resource["id"], original)
    start, end = series.span(original)
    times: JSON = {}
    for which, moment in (("start", start), ("end", end)):
        if series.all_day:
            times[which] = {"date": moment.date().isoformat()}
        else:
            zone = resource[which]["timeZone"]
            times[which] = {"dateTime": rfc3339_in(moment, parse_zone(zone)), "timeZone": zone}
    copied = {key: copy.deepcopy(value) for key, value in resource.items() if key != "recurrence"}
    copied |= times | {
        "id": event_id,
        "htmlLink": f"https://www.google.com/calendar/event?eid={event_id}",
        "recurringEventId": resource["id"],
        "originalStartTime": dict(times["start"]),
    }
    return StoredEvent(resource=copied, organizer=master.organizer, seq=master.seq)


def instances(
    calendar: Calendar,
    master: StoredEvent,
    exceptions: Iterable[StoredEvent],
    window: tuple[datetime | None, datetime | None],
) -> list[StoredEvent]:
    """A recurring event's instances overlapping the window, by start: its exceptions
    (moved or cancelled) where they are now, and the unchanged ones in between."""
    time_min, time_max = window
    end = time_max or _open_ended(master.resource, calendar.zone, time_min)
    series = series_of(master.resource, calendar.zone, through=end)
    changed = {e.resource["id"]: e for e in exceptions}
    items = [
        e for e in changed.values() if _in_window(event_span(e.resource, calendar.zone), window)
    ]
    for original in series.originals(time_min, end):
        if series.instance_id(master.resource["id"], original) not in changed:
            items.append(instance_event(master, series, original))
    items.sort(key=lambda stored: event_span(stored.resource, calendar.zone)[0])
    return items


def single_events(
    calendar: Calendar, window: tuple[datetime | None, datetime | None]
) -> list[StoredEvent]:
    """The calendar's events in the window as `singleEvents=true` lists them, in its order:
    each recurring event as its instances, every other event as it is. Cancelled ones are
    kept: the caller decides."""
    masters = {event_id for event_id, s in calendar.events.items() if _is_master(s.resource)}
    exceptions: dict[str, list[StoredEvent]] = {}
    for stored in calendar.events.values():
        master_id = stored.resource.get("recurringEventId")
        if master_id in masters:
            exceptions.setdefault(master_id, []).append(stored)
    items: list[StoredEvent] = []
    for event_id, stored in calendar.events.items():
        if event_id in masters:
            items += instances(calendar, stored, exceptions.get(event_id, []), window)
        elif stored.resource.get("recurringEventId") not in masters and _in_window(
            event_span(stored.resource, calendar.zone), window
        ):
            items.append(stored)
    return items


def _open_ended(resource: JSON, calendar_zone: ZoneInfo, time_min: datetime | None) -> datetime:
    """Where a listing without timeMax stops expanding a recurring event."""
    first = event_span(resource, calendar_zone)[0]
    return max(utcnow(), first, time_min or first) + OPEN_ENDED_EXPANSION


def _occurs_in(
    stored: StoredEvent, calendar: Calendar, window: tuple[datetime | None, datetime | None]
) -> bool:
    """Whether an event is in the window: a recurring one if any of its instances is."""
    if not _is_master(stored.resource):
        return _in_window(event_span(stored.resource, calendar.zone), window)
    time_min, time_max = window
    end = time_max or _open_ended(stored.resource, calendar.zone, time_min)
    series = series_of(stored.resource, calendar.zone, through=end)
    return next(series.originals(time_min, end), None) is not None


def _is_cancelled_instance(stored: StoredEvent, calendar: Calendar) -> bool:
    """A cancelled instance of a recurring event still live on this calendar."""
    master = calendar.events.get(str(stored.resource.get("recurringEventId") or ""))
    return master is not None and master.resource.get("status") != "cancelled"


def _unchanged_instance(calendar: Calendar, event_id: str) -> StoredEvent | None:
    """The instance an id like `{recurring event id}_{original start}` names, if the
    recurring event is on this calendar and has that instance."""
    master_id, _, _ = event_id.rpartition("_")
    master = calendar.events.get(master_id)
    day = instance_day(event_id)
    if master is None or day is None or not _is_master(master.resource):
        return None
    through = datetime.combine(day, time(), UTC) + timedelta(days=2)
    series = series_of(master.resource, calendar.zone, through=through)
    original = series.original_of(master_id, event_id)
    return None if original is None else instance_event(master, series, original)


def _original_start(stored: StoredEvent, calendar_zone: ZoneInfo) -> datetime | None:
    original = stored.resource.get("originalStartTime")
    return event_time(original, "originalStart", calendar_zone) if original else None


def _calendar_key(account: Account, calendar_id: str) -> str:
    """Where a calendar id points: "primary" is the account's email; ids ignore case."""
    return account.email if calendar_id == "primary" else calendar_id.strip().lower()


def _guests(resource: JSON) -> frozenset[str]:
    """The emails an event invites, lower-cased."""
    return frozenset(
        str(a.get("email", "")).lower()
        for a in resource.get("attendees", [])
        if isinstance(a, dict)
    )


def _event_fields(body: JSON) -> JSON:
    """The fields of an event body a client may set, attendees checked."""
    attendees = body.get("attendees", [])
    if not isinstance(attendees, list) or not all(isinstance(a, dict) for a in attendees):
        raise bad_request(location="attendees")
    if not all(a.get("email") for a in attendees):
        raise ApiError(400, "required", "Missing attendee email.")
    return {key: copy.deepcopy(value) for key, value in body.items() if key in _CLIENT_FIELDS}


def _patched(old: JSON, changes: JSON) -> JSON:
    """Patch semantics: nested objects merge, arrays and values replace, null deletes."""
    merged = dict(old)
    for key, value in changes.items():
        if value is None:
            merged.pop(key, None)
        elif isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = _patched(merged[key], value)
        else:
            merged[key] = value
    return merged


def _check_span(resource: JSON, zone: ZoneInfo) -> None:
    start, end = event_span(resource, zone)
    if end < start:
        raise ApiError(
            400, "timeRangeEmpty", "The specified time range is empty.", domain="calendar"
        )


def _render_time(value: Any, which: str, calendar_zone: ZoneInfo) -> Any:
    """A dateTime shown in the event's own time zone, or else the calendar's."""
    if not isinstance(value, dict) or "dateTime" not in value:
        return value
    zone = parse_zone(value["timeZone"]) if value.get("timeZone") else calendar_zone
    return value | {"dateTime": rfc3339_in(event_time(value, which, calendar_zone), zone)}


def _window(query: Mapping[str, str]) -> tuple[datetime | None, datetime | None]:
    def bound(name: str) -> datetime | None:
        return parse_rfc3339(query[name], name) if query.get(name) else None

    return bound("timeMin"), bound("timeMax")


def _in_window(
    span: tuple[datetime, datetime], window: tuple[datetime | None, datetime | None]
) -> bool:
    """timeMin bounds an event's end, timeMax its start, both exclusive."""
    (start, end), (time_min, time_max) = span, window
    return (time_min is None or end > time_min) and (time_max is None or start < time_max)


def _int_param(value: Any, name: str, default: int) -> int:
    if value is None or value == "":
        return default
    try:
        number = int(value)
    except (TypeError, ValueError) as err:
        raise ApiError(400, "invalid", f"Invalid value for: {name}", location=name) from err
    if number < 1:
        raise ApiError(400, "invalid", f"Invalid value for: {name}", location=name)
    return number


def _matches_text(resource: JSON, text: str | None) -> bool:
    if not text:
        return True
    people = [resource.get("organizer", {}), *resource.get("attendees", [])]
    haystack = [str(resource.get(key, "")) for key in ("summary", "description", "location")] + [
        str(p.get(key, ""))
        for p in people
        if isinstance(p, dict)
        for key in ("email", "displayName")
    ]
    return text.lower() in " ".join(haystack).lower()


def _new_event_id() -> str:
    return "".join(secrets.choice(BASE32HEX) for _ in range(26))


def _etag(number: int) -> str:
    return f'"{number}"'


def _page_token(offset: int) -> str:
    return base64.urlsafe_b64encode(f"page:{offset}".encode()).decode()


def _page_offset(token: str | None) -> int:
    if not token:
        return 0
    try:
        return int(base64.urlsafe_b64decode(token).decode().removeprefix("page:"))
    except (ValueError, binascii.Error) as err:
        raise ApiError(400, "invalid", "Invalid page token value.", location="pageToken") from err


def _sync_token(seq: int) -> str:
    return base64.urlsafe_b64encode(f"sync:{seq}".encode()).decode()


def _sync_seq(token: str) -> int:
    try:
        return int(base64.urlsafe_b64decode(token).decode().removeprefix("sync:"))
    except (ValueError, binascii.Error) as err:
        raise ApiError(
            410, "fullSyncRequired", "Sync token is no longer valid, a full sync is required.",
            domain="calendar",
        ) from err  # fmt: skip


async def _json_body(request: web.Request) -> JSON:
    try:
        body = await request.json()
    except ValueError as err:
        raise ApiError(400, "parseError", "Parse Error") from err
    if not isinstance(body, dict):
        raise ApiError(400, "parseError", "Parse Error")
    return body


def _bearer_token(request: web.Request) -> str | None:
    scheme, _, token = request.headers.get("Authorization", "").partition(" ")
    return token.strip() if scheme.lower() == "bearer" and token.strip() else None


def _seed_time(value: datetime | date, time_zone: str | None = None) -> JSON:
    if isinstance(value, datetime):
        if value.tzinfo is None:
            raise ValueError("seeded event times must be timezone-aware")
        return {"dateTime": value.isoformat()} | ({"timeZone": time_zone} if time_zone else {})
    return {"date": value.isoformat()}


# --- helpers of the OAuth endpoints --------------------------------------------------


def _checked_redirect_uri(uri: str) -> str:
    if not uri:
        raise _invalid_request("Missing required parameter: redirect_uri")
    parts = urlsplit(uri)
    if not parts.scheme:
        raise _invalid_request(f"Invalid parameter value for redirect_uri: Missing scheme: {uri}")
    if not parts.netloc:
        raise _invalid_request(
            f"Invalid parameter value for redirect_uri: Missing authority: {uri}"
        )
    return uri


def _checked_scopes(text: str) -> tuple[str, ...]:
    scopes = tuple(dict.fromkeys(text.split()))
    if not scopes:
        raise _invalid_request("Missing required parameter: scope")
    invalid = [s for s in scopes if s not in SCOPE_DESCRIPTIONS]
    if invalid:
        valid = [s for s in scopes if s in SCOPE_DESCRIPTIONS]
        raise AuthorizationPageError(
            400,
            "invalid_scope",
            f"Some requested scopes were invalid. {{valid=[{', '.join(valid)}], invalid=[{', '.join(invalid)}]}}",
        )
    return scopes


def _check_verifier(auth: AuthorizationRequest, verifier: str | None) -> None:
    """PKCE (RFC 7636), with Google's descriptions."""
    if auth.code_challenge is None:
        if verifier:
            raise OAuthError(400, "invalid_grant", "code_verifier or verifier is not needed.")
        return
    if not verifier:
        raise OAuthError(400, "invalid_grant", "Missing code verifier.")
    if not PKCE_VERIFIER.fullmatch(verifier) or _challenge(verifier, auth) != auth.code_challenge:
        raise OAuthError(400, "invalid_grant", "Invalid code verifier.")


def _challenge(verifier: str, auth: AuthorizationRequest) -> str:
    if auth.code_challenge_method == "plain":
        return verifier
    digest = hashlib.sha256(verifier.encode("ascii")).digest()
    return base64.urlsafe_b64encode(digest).decode().rstrip("=")


def _basic_credentials(request: web.Request) -> tuple[str, str] | None:
    scheme, _, encoded = request.headers.get("Authorization", "").partition(" ")
    if scheme.lower() != "basic":
        return None
    try:
        client_id, _, secret = base64.b64decode(encoded).decode().partition(":")
    except (ValueError, binascii.Error):
        return None
    # RFC 6749 §2.3.1 form-encodes both parts; requests' HTTPBasicAuth does not.
    return unquote_plus(client_id), unquote_plus(secret)


def _redirect(auth: AuthorizationRequest, params: dict[str, str]) -> web.Response:
    answer = ({"state": auth.state} if auth.state is not None else {}) | params
    separator = "&" if urlsplit(auth.redirect_uri).query else "?"
    location = auth.redirect_uri + separator + urlencode(answer)
    return web.Response(status=302, headers={"Location": location})


# --- a person at the sign-in pages ---------------------------------------------------


@dataclass
class _Form:
    action: str = ""
    fields: list[tuple[str, str]] = field(default_factory=list)
    checkboxes: list[str] = field(default_factory=list)
    buttons: list[tuple[str, str]] = field(default_factory=list)


@dataclass
class _Page:
    """A page as a person acts on it: its forms and its links (href, text)."""

    url: str
    text: str
    forms: list[_Form] = field(default_factory=list)
    links: list[tuple[str, str]] = field(default_factory=list)

    def forms_to(self, path: str) -> list[_Form]:
        return [f for f in self.forms if urlsplit(urljoin(self.url, f.action)).path == path]

    def link(self, text: str) -> str | None:
        return next((urljoin(self.url, h) for h, t in self.links if t == text), None)


class _PageParser(HTMLParser):
    """Every form of a page (where it posts, its fields, checkboxes and buttons) and link."""

    def __init__(self) -> None:
        super().__init__()
        self.forms: list[_Form] = []
        self.links: list[tuple[str, str]] = []
        self._form: _Form | None = None
        self._link: list[str] | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        attr = {key: value or "" for key, value in attrs}
        if tag == "form":
            self._form = _Form(action=attr.get("action", ""))
            self.forms.append(self._form)
        elif tag == "a" and "href" in attr:
            self._link = [attr["href"]]
        if self._form is None:
            return
        if tag == "input" and attr.get("type") == "checkbox":
            self._form.checkboxes.append(attr.get("value", ""))
        elif tag == "input" and attr.get("name"):
            self._form.fields.append((attr["name"], attr.get("value", "")))
        elif tag == "button" and attr.get("name"):
            self._form.buttons.append((attr["name"], attr.get("value", "")))

    def handle_data(self, data: str) -> None:
        if self._link is not None:
            self._link.append(data)

    def handle_endtag(self, tag: str) -> None:
        if tag == "form":
            self._form = None
        elif tag == "a" and self._link is not None:
            href, *words = self._link
            self.links.append((href, " ".join("".join(words).split())))
            self._link = None


def _parse_page(url: str, text: str) -> _Page:
    parser = _PageParser()
    parser.feed(text)
    parser.close()
    return _Page(url=url, text=text, forms=parser.forms, links=parser.links)


class _Browser:
    """Follows the emulator's own redirects; a redirect anywhere else ends the walk."""

    def __init__(self, session: aiohttp.ClientSession, start: str) -> None:
        self._session = session
        parts = urlsplit(start)
        self._origin = (parts.scheme, parts.netloc)

    async def open(self, url: str) -> _Page | str:
        return await self._fetch("GET", url, None)

    async def submit(self, page: _Page, form: _Form, answer: list[tuple[str, str]]) -> _Page | str:
        return await self._fetch("POST", urljoin(page.url, form.action), answer)

    async def _fetch(
        self, method: str, url: str, data: list[tuple[str, str]] | None
    ) -> _Page | str:
        for _ in range(10):
            async with self._session.request(
                method, url, data=data, allow_redirects=False
            ) as response:
                text = await response.text()
                if response.status in (301, 302, 303, 307, 308):
                    location = urljoin(url, response.headers["Location"])
                    parts = urlsplit(location)
                    if (parts.scheme, parts.netloc) != self._origin:
                        return location
                    method, url, data = "GET", location, None
                    continue
                if response.status != 200:
                    raise ConsentPageError(response.status, text)
                return _parse_page(url, text)
        raise ConsentPageError(302, f"too many redirects at {url}")


def _account_choice(page: _Page, email: str) -> tuple[_Form, list[tuple[str, str]]]:
    """The account's own button if the chooser lists it, else "Use another account"."""
    forms = page.forms_to(CHOOSE_ACCOUNT_PATH)
    for form in forms:
        if ("email", email.strip().lower()) in form.buttons:
            return form, [*form.fields, ("email", email.strip().lower())]
    for form in forms:
        if any(name == "email" for name, _ in form.fields):
            return form, [(n, email if n == "email" else v) for n, v in form.fields]
    raise ConsentPageError(200, "the sign-in page offers no account to choose")


def _press(page: _Page, path: str, name: str, value: str) -> tuple[_Form, list[tuple[str, str]]]:
    for form in page.forms_to(path):
        if (name, value) in form.buttons:
            return form, [*form.fields, (name, value)]
    raise ConsentPageError(200, f"the page has no {value!r} button")


def _consent_answer(
    page: _Page, scopes: list[str] | None, allow: bool
) -> tuple[_Form, list[tuple[str, str]]]:
    form, answer = _press(page, CONSENT_PATH, "action", "allow" if allow else "deny")
    ticked = form.checkboxes if scopes is None else scopes
    unknown = set(ticked) - set(form.checkboxes)
    if unknown:
        raise ValueError(f"the consent page does not offer {sorted(unknown)}")
    return form, answer[:-1] + [("granted_scope", s) for s in ticked] + answer[-1:]


async def approve_consent(
    auth_url: str,
    *,
    email: str,
    scopes: list[str] | None = None,
    allow: bool = True,
    back_to_safety: bool = False,
) -> str:
    """Walk Google's sign-in pages as a person does; return where they send the browser.

    Choose the account `email` (its button, or "Use another account"); on the
    unverified-app warning, "Show Advanced" then "Go to … (unsafe)", or with
    `back_to_safety` press "Back to safety" there; on the consent page tick `scopes`
    (None: all) and press Allow, or Cancel unless `allow`.

    Returns the final redirect's Location (the app's callback) without following it.
    Raises `ConsentPageError` when Google shows an error page instead, or a step is missing.
    """
    async with aiohttp.ClientSession() as session:
        browser = _Browser(session, auth_url)
        page = await browser.open(auth_url)
        if isinstance(page, str):
            return page
        page = await browser.submit(page, *_account_choice(page, email))
        if isinstance(page, str):
            return page
        if page.forms_to(WARNING_PATH):
            if back_to_safety:
                page = await browser.submit(page, *_press(page, WARNING_PATH, "action", "back"))
            else:
                advanced = page.link("Show Advanced")
                if advanced is None:
                    raise ConsentPageError(200, "the warning has no Show Advanced link")
                page = await browser.open(advanced)
                if isinstance(page, str):
                    return page
                page = await browser.submit(page, *_press(page, WARNING_PATH, "action", "continue"))
        elif back_to_safety:
            raise ConsentPageError(200, "no unverified-app warning was shown")
        if isinstance(page, str):
            return page
        page = await browser.submit(page, *_consent_answer(page, scopes, allow))
        if isinstance(page, str):
            return page
        raise ConsentPageError(200, f"the consent page did not send the browser back: {page.url}")


# --- running it alone ----------------------------------------------------------------


async def _serve(
    host: str,
    port: int,
    latency: float = 0.0,
    *,
    app_name: str | None = None,
    verified_app: bool = False,
) -> int:
    """Serve until SIGINT or SIGTERM (`Emulator.serve_until_stopped`)."""
    fake = FakeGoogle(
        client_id=os.environ.get("GOOGLE_CLIENT_ID") or None,
        client_secret=os.environ.get("GOOGLE_CLIENT_SECRET") or None,
        app_name=app_name,
        verified_app=verified_app,
    )
    fake.faults.latency = latency
    return await fake.serve_until_stopped(
        host,
        port,
        name="Fake Google",
        listening=lambda: (
            f"Fake Google listening on {fake.base_url} (Calendar API at {fake.api_url})"
        ),
    )


def main(argv: Sequence[str] | None = None) -> int:
    """`python -m sandbox.fake_google --port N [--host H] [--latency S] [--app-name NAME]
    [--verified]`; Ctrl-C (or SIGTERM) stops it."""
    parser = argparse.ArgumentParser(
        prog="python -m sandbox.fake_google",
        description="Serve the Google OAuth and Calendar emulator.",
    )
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0, help="port to listen on (0: any)")
    parser.add_argument(
        "--latency", type=float, default=0.0, help="seconds added to every request (default 0)"
    )
    parser.add_argument(
        "--app-name", default=None, help="the app's name on the consent pages (default: client id)"
    )
    parser.add_argument(
        "--verified",
        action="store_true",
        help='a verified app: no "Google hasn\'t verified this app" warning',
    )
    args = parser.parse_args(argv)
    try:
        return asyncio.run(
            _serve(
                args.host,
                args.port,
                args.latency,
                app_name=args.app_name,
                verified_app=args.verified,
            )
        )
    except KeyboardInterrupt:  # Ctrl-C before the handlers were in place
        return 130


if __name__ == "__main__":
    sys.exit(main())
