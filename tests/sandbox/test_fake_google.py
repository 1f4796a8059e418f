"""The Google emulator, driven by the real client libraries over HTTP.

google-auth-oauthlib's Flow (PKCE), google-auth's Credentials, google-api-python-client,
gcsa and gcal_sync all run unchanged against FakeGoogle, only their base URLs pointed at
it. Blocking library calls run in threads: the emulator serves on this test's event loop.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import socket
import sys
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import parse_qs, urlencode, urlsplit

import aiohttp
import gcal_sync.api
import gcal_sync.model
import google.auth.exceptions
import google.auth.transport.requests
import google_auth_httplib2
import httplib2
import pytest
from gcal_sync.auth import AbstractAuth
from gcsa.event import Event as GcsaEvent
from gcsa.google_calendar import GoogleCalendar
from google.oauth2.credentials import Credentials
from google_auth_oauthlib.flow import Flow
from googleapiclient.discovery import build
from googleapiclient.errors import HttpError
from oauthlib.oauth2.rfc6749.errors import InvalidGrantError

import sandbox.fake_google as fake_google_module
from sandbox.fake_google import (
    AUTH_PATH,
    CHOOSE_ACCOUNT_PATH,
    CONSENT_PATH,
    WARNING_PATH,
    ConsentPageError,
    FakeGoogle,
    approve_consent,
)
from tests.sandbox.conftest import GOOGLE_CLIENT_ID, GOOGLE_CLIENT_SECRET

T = TypeVar("T")

pytestmark = pytest.mark.usefixtures("loopback_oauth")

AUTH = "https://www.googleapis.com/auth/"
FREEBUSY = AUTH + "calendar.freebusy"
CALENDARS_READONLY = AUTH + "calendar.calendars.readonly"
EVENTS_OWNED = AUTH + "calendar.events.owned"
CALENDAR = AUTH + "calendar"
PRIMARY_SCOPES = [FREEBUSY, CALENDARS_READONLY, EVENTS_OWNED]
REDIRECT_URI = "http://127.0.0.1:3000/oauth/google/callback"
DAY = datetime(2030, 6, 3, tzinfo=UTC)  # a Monday
REPO_ROOT = Path(__file__).resolve().parents[2]


def at(hour: float, day: datetime = DAY) -> datetime:
    return day + timedelta(hours=hour)


async def in_thread(fn: Callable[[], T]) -> T:
    return await asyncio.to_thread(fn)


def flow(fake: FakeGoogle, scopes: list[str], **kwargs: Any) -> Flow:
    config = {
        "web": {
            "client_id": GOOGLE_CLIENT_ID,
            "client_secret": GOOGLE_CLIENT_SECRET,
            "auth_uri": fake.auth_uri,
            "token_uri": fake.token_uri,
        }
    }
    return Flow.from_client_config(config, scopes=scopes, redirect_uri=REDIRECT_URI, **kwargs)


def consent_url(oauth: Flow, email: str = "alice@example.com") -> str:
    url, _ = oauth.authorization_url(access_type="offline", prompt="consent", login_hint=email)
    return str(url)


async def get(session: aiohttp.ClientSession, url: str) -> tuple[int, str, str]:
    """A page as a browser shows it, redirects followed: status, final URL, HTML."""
    async with session.get(url) as page:
        return page.status, str(page.url), await page.text()


async def post(
    session: aiohttp.ClientSession, url: str, data: Any, *, follow: bool = True
) -> tuple[int, str, str]:
    """A form submitted: status, the final URL (or, not following, the Location), HTML."""
    async with session.post(url, data=data, allow_redirects=follow) as page:
        where = str(page.url) if follow else page.headers.get("Location", "")
        return page.status, where, await page.text()


def pending_of(url: str) -> str:
    """The id a sign-in waits under, from one of its pages' URLs."""
    return parse_qs(urlsplit(url).query)["pending"][0]


def credentials(fake: FakeGoogle, email: str, scopes: list[str]) -> Credentials:
    access, refresh = fake.issue_tokens(email, scopes)
    return Credentials(  # type: ignore[no-untyped-call]
        token=access,
        refresh_token=refresh,
        token_uri=fake.token_uri,
        client_id=GOOGLE_CLIENT_ID,
        client_secret=GOOGLE_CLIENT_SECRET,
        scopes=scopes,
    )


def refresh(creds: Credentials) -> None:
    creds.refresh(google.auth.transport.requests.Request())  # type: ignore[no-untyped-call]


def service(fake: FakeGoogle, creds: Credentials, *, refresh_on_401: bool = True) -> Any:
    """google-api-python-client with static discovery, its endpoint the emulator."""
    http = google_auth_httplib2.AuthorizedHttp(
        creds,
        http=httplib2.Http(timeout=5),
        refresh_status_codes=(401,) if refresh_on_401 else (),
    )
    return build(
        "calendar",
        "v3",
        http=http,
        static_discovery=True,
        cache_discovery=False,
        client_options={"api_endpoint": fake.api_url},
    )


def reasons(err: HttpError) -> list[str]:
    """The reasons in Google's `errors` list (googleapiclient prefers `details` when present)."""
    return [item["reason"] for item in json.loads(err.content)["error"]["errors"]]


async def http_error(call: Callable[[], Any]) -> HttpError:
    with pytest.raises(HttpError) as caught:
        await in_thread(call)
    return caught.value


def no_wait(request: Any) -> Any:
    """A request whose retries do not sleep (googleapiclient sleeps rand() * 2**n between them)."""
    request._sleep = lambda seconds: None
    return request


# --- OAuth ---------------------------------------------------------------------------


async def test_the_full_consent_flow_with_pkce_gives_working_offline_tokens(
    fake_google: FakeGoogle,
) -> None:
    oauth = flow(fake_google, PRIMARY_SCOPES, autogenerate_code_verifier=True)
    url, state = oauth.authorization_url(access_type="offline", prompt="consent")
    assert parse_qs(urlsplit(url).query)["code_challenge_method"] == ["S256"]

    location = await approve_consent(url, email="Alice@Example.com")

    assert location.startswith(REDIRECT_URI + "?")
    answer = parse_qs(urlsplit(location).query)
    assert answer["state"] == [state]
    assert answer["scope"][0].split() == PRIMARY_SCOPES
    await in_thread(lambda: oauth.fetch_token(authorization_response=location))
    creds = oauth.credentials
    assert creds.token.startswith("ya29.") and creds.refresh_token
    calendar = await in_thread(
        lambda: service(fake_google, creds).calendars().get(calendarId="primary").execute()
    )
    assert calendar["id"] == "alice@example.com"
    assert "alice@example.com" in fake_google.accounts


async def test_the_first_page_chooses_an_account_with_the_hinted_one_preselected(
    fake_google: FakeGoogle,
) -> None:
    fake_google.add_account("alice@example.com")
    fake_google.add_account("carol@example.com")
    url = consent_url(flow(fake_google, PRIMARY_SCOPES), email="Alice@Example.com")

    async with aiohttp.ClientSession() as session:
        status, at, text = await get(session, url)

    assert status == 200 and urlsplit(at).path == CHOOSE_ACCOUNT_PATH
    assert "<h1>Choose an account</h1>" in text and "<script" not in text
    assert f"to continue to {GOOGLE_CLIENT_ID}" in text
    assert (
        '<button type="submit" class="account hinted" name="email" value="alice@example.com"'
        " autofocus>" in text
    )
    assert '<button type="submit" class="account" name="email" value="carol@example.com">' in text
    assert "Use another account" in text and '<input type="email" name="email" value=""' in text


async def test_a_login_hint_for_a_new_account_prefills_the_email_field(
    fake_google: FakeGoogle,
) -> None:
    url = consent_url(flow(fake_google, PRIMARY_SCOPES), email="bob@example.com")

    async with aiohttp.ClientSession() as session:
        status, _, text = await get(session, url)

    assert status == 200
    assert "<h1>Sign in</h1>" in text and 'class="account' not in text
    assert '<input type="email" name="email" value="bob@example.com"' in text
    assert not fake_google.accounts  # created on its first sign-in, not before


async def test_an_invalid_email_is_asked_for_again(fake_google: FakeGoogle) -> None:
    url = consent_url(flow(fake_google, PRIMARY_SCOPES), email="")
    async with aiohttp.ClientSession() as session:
        _, at, _ = await get(session, url)
        status, _, text = await post(
            session, at, {"pending": pending_of(at), "email": "not-an-email"}
        )

    assert status == 400
    assert "Enter a valid email." in text and 'value="not-an-email"' in text
    assert not fake_google.accounts


async def test_signing_in_shows_googles_unverified_app_warning(fake_google: FakeGoogle) -> None:
    url = consent_url(flow(fake_google, PRIMARY_SCOPES), email="bob@example.com")
    async with aiohttp.ClientSession() as session:
        _, at, _ = await get(session, url)
        pending = pending_of(at)
        status, at, text = await post(session, at, {"pending": pending, "email": "Bob@Example.com"})
        assert "bob@example.com" in fake_google.accounts  # created on its first sign-in

        assert status == 200 and urlsplit(at).path == WARNING_PATH
        assert "Google hasn\u2019t verified this app" in text
        assert "The app is requesting access to sensitive info in your Google Account" in text
        assert "bob@example.com" in text
        assert 'name="action" value="back">Back to safety</button>' in text
        assert ">Show Advanced</a>" in text and "(unsafe)" not in text

        advanced = f"{fake_google.base_url}{WARNING_PATH}?pending={pending}&advanced=1"
        assert f'href="{WARNING_PATH}?pending={pending}&amp;advanced=1"' in text
        status, _, text = await get(session, advanced)

    assert status == 200 and ">Hide Advanced</a>" in text
    assert "Continue only if you understand the risks and trust the developer." in text
    assert 'name="action" value="continue">Go to 127.0.0.1 (unsafe)</button>' in text


async def test_the_consent_page_has_one_ticked_box_per_scope(fake_google: FakeGoogle) -> None:
    fake_google.app_name = "Tonomo"
    url = consent_url(flow(fake_google, PRIMARY_SCOPES), email="bob@example.com")
    async with aiohttp.ClientSession() as session:
        _, at, _ = await get(session, url)
        pending = pending_of(at)
        await post(session, at, {"pending": pending, "email": "bob@example.com"})
        warning = fake_google.base_url + WARNING_PATH
        status, at, text = await post(session, warning, {"pending": pending, "action": "continue"})

    assert status == 200 and urlsplit(at).path == CONSENT_PATH
    assert "<h1>Tonomo wants access to your Google Account</h1>" in text
    assert "Select what Tonomo can access" in text and "bob@example.com" in text
    for scope in PRIMARY_SCOPES:
        assert f'type="checkbox" name="granted_scope" value="{scope}" checked>' in text
    assert text.count('type="checkbox"') == 3
    assert "View your availability in your calendars" in text
    assert 'value="deny">Cancel</button>' in text and 'value="allow">Allow</button>' in text


async def test_unticking_a_box_on_the_page_grants_fewer_scopes(fake_google: FakeGoogle) -> None:
    oauth = flow(fake_google, PRIMARY_SCOPES, autogenerate_code_verifier=True)
    async with aiohttp.ClientSession() as session:
        _, at, _ = await get(session, consent_url(oauth))
        pending = pending_of(at)
        await post(session, at, {"pending": pending, "email": "alice@example.com"})
        await post(
            session, fake_google.base_url + WARNING_PATH, {"pending": pending, "action": "continue"}
        )
        answer = [
            ("pending", pending),
            ("granted_scope", FREEBUSY),
            ("granted_scope", EVENTS_OWNED),
        ]
        status, location, _ = await post(
            session,
            fake_google.base_url + CONSENT_PATH,
            [*answer, ("action", "allow")],
            follow=False,
        )

    assert status == 302 and location.startswith(REDIRECT_URI + "?")
    assert parse_qs(urlsplit(location).query)["scope"] == [f"{FREEBUSY} {EVENTS_OWNED}"]
    token = await in_thread(lambda: oauth.fetch_token(authorization_response=location))
    assert token["scope"] == [FREEBUSY, EVENTS_OWNED]


async def test_back_to_safety_ends_the_sign_in_with_access_denied(
    fake_google: FakeGoogle,
) -> None:
    url, state = flow(fake_google, PRIMARY_SCOPES).authorization_url(access_type="offline")

    location = await approve_consent(url, email="alice@example.com", back_to_safety=True)

    assert location.startswith(REDIRECT_URI + "?")
    assert parse_qs(urlsplit(location).query) == {"state": [state], "error": ["access_denied"]}
    assert not fake_google.requests.matching(CONSENT_PATH)


async def test_approve_consent_walks_every_page(fake_google: FakeGoogle) -> None:
    fake_google.add_account("alice@example.com")
    oauth = flow(fake_google, PRIMARY_SCOPES, autogenerate_code_verifier=True)

    location = await approve_consent(consent_url(oauth), email="alice@example.com")

    assert "code" in parse_qs(urlsplit(location).query)
    assert [(r.method, r.path) for r in fake_google.requests] == [
        ("GET", AUTH_PATH),
        ("GET", CHOOSE_ACCOUNT_PATH),
        ("POST", CHOOSE_ACCOUNT_PATH),  # the account's own button
        ("GET", WARNING_PATH),
        ("GET", WARNING_PATH),  # Show Advanced
        ("POST", WARNING_PATH),  # Go to … (unsafe)
        ("GET", CONSENT_PATH),
        ("POST", CONSENT_PATH),  # Allow
    ]
    assert [r.query.get("advanced") for r in fake_google.requests.matching(WARNING_PATH)] == [
        None,
        "1",
        None,
    ]


async def test_a_verified_app_goes_straight_from_the_account_to_consent(
    fake_google: FakeGoogle,
) -> None:
    fake_google.verified_app = True
    oauth = flow(fake_google, [FREEBUSY], autogenerate_code_verifier=True)

    location = await approve_consent(consent_url(oauth), email="alice@example.com")

    assert parse_qs(urlsplit(location).query)["scope"] == [FREEBUSY]
    assert not fake_google.requests.matching(WARNING_PATH)
    with pytest.raises(ConsentPageError, match="no unverified-app warning"):
        await approve_consent(consent_url(oauth), email="alice@example.com", back_to_safety=True)


async def test_an_unknown_expired_or_used_sign_in_gets_an_error_page(
    fake_google: FakeGoogle, monkeypatch: pytest.MonkeyPatch
) -> None:
    base = fake_google.base_url
    unknown = "This sign-in is unknown or has expired."
    async with aiohttp.ClientSession() as session:
        _, at, _ = await get(session, consent_url(flow(fake_google, PRIMARY_SCOPES)))
        pending = pending_of(at)
        for path in (CHOOSE_ACCOUNT_PATH, WARNING_PATH, CONSENT_PATH):
            status, _, text = await get(session, f"{base}{path}?pending={pending}x")
            assert (status, "Error 400: invalid_request") == (400, text.split("<h2>")[1][:26])
            assert unknown in text
            status, _, text = await post(session, base + path, {"pending": "", "action": "allow"})
            assert status == 400 and unknown in text

        # The steps go in order: consent is neither shown nor taken before the warning.
        await post(session, at, {"pending": pending, "email": "alice@example.com"})
        status, at, _ = await get(session, f"{base}{CONSENT_PATH}?pending={pending}")
        assert status == 200 and urlsplit(at).path == WARNING_PATH
        consent = {"pending": pending, "granted_scope": FREEBUSY, "action": "allow"}
        status, _, text = await post(session, base + CONSENT_PATH, consent, follow=False)
        assert status == 400 and "before its earlier steps are done" in text

        # Once answered, a sign-in is gone.
        await post(session, base + WARNING_PATH, {"pending": pending, "action": "continue"})
        status, _, _ = await post(session, base + CONSENT_PATH, consent, follow=False)
        assert status == 302
        status, _, text = await post(session, base + CONSENT_PATH, consent, follow=False)
        assert status == 400 and unknown in text

        # An hour later, one left waiting is gone too.
        _, at, _ = await get(session, consent_url(flow(fake_google, PRIMARY_SCOPES)))
        later = datetime.now(UTC) + timedelta(hours=1, seconds=1)
        monkeypatch.setattr(fake_google_module, "utcnow", lambda: later)
        status, _, text = await get(session, at)
        assert status == 400 and unknown in text


async def test_a_wrong_code_verifier_is_refused(fake_google: FakeGoogle) -> None:
    asked = flow(fake_google, PRIMARY_SCOPES, code_verifier="a" * 64)
    location = await approve_consent(consent_url(asked), email="alice@example.com")
    other = flow(fake_google, PRIMARY_SCOPES, code_verifier="b" * 64)

    with pytest.raises(InvalidGrantError) as caught:
        await in_thread(lambda: other.fetch_token(authorization_response=location))

    assert caught.value.description == "Invalid code verifier."


async def test_a_code_works_once(fake_google: FakeGoogle) -> None:
    oauth = flow(fake_google, PRIMARY_SCOPES, autogenerate_code_verifier=True)
    location = await approve_consent(consent_url(oauth), email="alice@example.com")
    await in_thread(lambda: oauth.fetch_token(authorization_response=location))

    with pytest.raises(InvalidGrantError) as caught:
        await in_thread(lambda: oauth.fetch_token(authorization_response=location))

    assert caught.value.description == "Bad Request"


async def test_a_code_expires_after_ten_minutes(
    fake_google: FakeGoogle, monkeypatch: pytest.MonkeyPatch
) -> None:
    oauth = flow(fake_google, PRIMARY_SCOPES, autogenerate_code_verifier=True)
    location = await approve_consent(consent_url(oauth), email="alice@example.com")
    later = datetime.now(UTC) + timedelta(minutes=10, seconds=1)
    monkeypatch.setattr(fake_google_module, "utcnow", lambda: later)

    with pytest.raises(InvalidGrantError):
        await in_thread(lambda: oauth.fetch_token(authorization_response=location))


async def test_a_refresh_token_comes_with_first_consent_or_prompt_consent(
    fake_google: FakeGoogle,
) -> None:
    async def sign_in(**params: str) -> dict[str, Any]:
        oauth = flow(fake_google, [FREEBUSY], autogenerate_code_verifier=True)
        url, _ = oauth.authorization_url(**params)
        location = await approve_consent(url, email="alice@example.com")
        return dict(await in_thread(lambda: oauth.fetch_token(authorization_response=location)))

    assert "refresh_token" in await sign_in(access_type="offline")
    assert "refresh_token" not in await sign_in(access_type="offline")
    assert "refresh_token" in await sign_in(access_type="offline", prompt="consent")
    assert "refresh_token" not in await sign_in(access_type="online", prompt="consent")


async def test_token_endpoint_errors_are_googles(fake_google: FakeGoogle) -> None:
    async def post(data: dict[str, str], headers: dict[str, str] | None = None) -> tuple[int, Any]:
        async with (
            aiohttp.ClientSession() as session,
            session.post(fake_google.token_uri, data=data, headers=headers) as response,
        ):
            return response.status, await response.json()

    client = {"client_id": GOOGLE_CLIENT_ID, "client_secret": GOOGLE_CLIENT_SECRET}
    code = {"grant_type": "authorization_code", "redirect_uri": REDIRECT_URI}
    assert await post(client | code | {"code": "4/0nope"}) == (
        400,
        {"error": "invalid_grant", "error_description": "Bad Request"},
    )
    assert (
        await post(
            code | {"code": "x"},
            {"Authorization": aiohttp.encode_basic_auth(GOOGLE_CLIENT_ID, "wrong")},
        )
    )[1] == {
        "error": "invalid_client",
        "error_description": "Unauthorized",
    }
    assert (await post({"grant_type": "refresh_token", "client_id": "other"}))[0] == 401
    assert await post(client | {"grant_type": "password"}) == (
        400,
        {"error": "unsupported_grant_type", "error_description": "Invalid grant_type: password"},
    )


async def test_denied_consent_redirects_with_access_denied(fake_google: FakeGoogle) -> None:
    oauth = flow(fake_google, PRIMARY_SCOPES)
    url, state = oauth.authorization_url(access_type="offline")

    location = await approve_consent(url, email="alice@example.com", allow=False)

    assert parse_qs(urlsplit(location).query) == {"state": [state], "error": ["access_denied"]}


async def test_an_unticked_scope_is_not_granted(fake_google: FakeGoogle) -> None:
    oauth = flow(fake_google, PRIMARY_SCOPES, autogenerate_code_verifier=True)

    location = await approve_consent(
        consent_url(oauth), email="alice@example.com", scopes=[FREEBUSY]
    )

    assert parse_qs(urlsplit(location).query)["scope"] == [FREEBUSY]
    token = await in_thread(lambda: oauth.fetch_token(authorization_response=location))
    assert token["scope"] == [FREEBUSY]
    err = await http_error(
        lambda: (
            service(fake_google, oauth.credentials).calendars().get(calendarId="primary").execute()
        )
    )
    assert err.status_code == 403
    assert reasons(err) == ["insufficientPermissions"]


async def test_bad_authorization_requests_get_googles_error_pages(fake_google: FakeGoogle) -> None:
    base = {"redirect_uri": REDIRECT_URI, "response_type": "code", "scope": FREEBUSY}
    cases = [
        (base | {"client_id": "someone-else"}, 401, "Error 401: invalid_client"),
        (
            base | {"client_id": GOOGLE_CLIENT_ID, "scope": ""},
            400,
            "Missing required parameter: scope",
        ),
        (base | {"client_id": GOOGLE_CLIENT_ID, "scope": "nope"}, 400, "Error 400: invalid_scope"),
        ({"client_id": GOOGLE_CLIENT_ID, "scope": FREEBUSY}, 400, "Error 400: invalid_request"),
    ]
    for params, status, words in cases:
        with pytest.raises(ConsentPageError) as caught:
            await approve_consent(f"{fake_google.auth_uri}?{urlencode(params)}", email="a@b.com")
        assert caught.value.status == status and words in caught.value.text
    assert not fake_google.accounts


async def test_refresh_works_until_the_account_revokes_it(fake_google: FakeGoogle) -> None:
    creds = credentials(fake_google, "alice@example.com", PRIMARY_SCOPES)
    first = creds.token

    await in_thread(lambda: refresh(creds))

    assert creds.token != first and creds.valid
    fake_google.revoke_account_tokens("alice@example.com")
    with pytest.raises(google.auth.exceptions.RefreshError) as caught:
        await in_thread(lambda: refresh(creds))
    assert "invalid_grant" in str(caught.value)
    assert "Token has been expired or revoked." in str(caught.value)
    api = service(fake_google, creds, refresh_on_401=False)
    err = await http_error(lambda: api.calendars().get(calendarId="primary").execute())
    assert err.status_code == 401


async def test_a_deleted_account_can_neither_refresh_nor_call(fake_google: FakeGoogle) -> None:
    creds = credentials(fake_google, "gone@example.com", PRIMARY_SCOPES)
    fake_google.delete_account("gone@example.com")

    with pytest.raises(google.auth.exceptions.RefreshError, match="Account has been deleted"):
        await in_thread(lambda: refresh(creds))
    api = service(fake_google, creds, refresh_on_401=False)
    err = await http_error(lambda: api.calendars().get(calendarId="primary").execute())
    assert err.status_code == 401


async def test_revoking_the_access_token_revokes_the_refresh_token(fake_google: FakeGoogle) -> None:
    creds = credentials(fake_google, "alice@example.com", PRIMARY_SCOPES)

    async with aiohttp.ClientSession() as session:
        async with session.post(fake_google.revoke_uri, data={"token": creds.token}) as response:
            assert response.status == 200
        async with session.post(fake_google.revoke_uri, data={"token": creds.token}) as again:
            assert again.status == 400
            assert await again.json() == {
                "error": "invalid_token",
                "error_description": "Token expired or revoked",
            }

    with pytest.raises(google.auth.exceptions.RefreshError, match="invalid_grant"):
        await in_thread(lambda: refresh(creds))


async def test_an_expired_access_token_is_refreshed_by_the_client(fake_google: FakeGoogle) -> None:
    creds = credentials(fake_google, "alice@example.com", PRIMARY_SCOPES)
    fake_google.expire_access_tokens()

    calendar = await in_thread(
        lambda: service(fake_google, creds).calendars().get(calendarId="primary").execute()
    )

    assert calendar["id"] == "alice@example.com"
    assert [r.path for r in fake_google.requests] == [
        "/calendar/v3/calendars/primary",
        "/token",
        "/calendar/v3/calendars/primary",
    ]


# --- Calendar API errors -------------------------------------------------------------


async def test_bad_credentials_get_googles_401(fake_google: FakeGoogle) -> None:
    creds = Credentials(token="ya29.forged")  # type: ignore[no-untyped-call]
    api = service(fake_google, creds, refresh_on_401=False)
    err = await http_error(lambda: api.calendars().get(calendarId="primary").execute())
    assert err.status_code == 401 and reasons(err) == ["authError"]
    assert "invalid authentication credentials" in err.reason

    async with (
        aiohttp.ClientSession() as session,
        session.get(fake_google.api_url + "users/me/calendarList") as response,
    ):
        body = await response.json()
    assert response.status == 401
    assert body["error"]["status"] == "UNAUTHENTICATED"
    assert body["error"]["errors"][0]["reason"] == "required"


async def test_each_method_wants_its_own_scopes(fake_google: FakeGoogle) -> None:
    staff = service(
        fake_google, credentials(fake_google, "s@example.com", [FREEBUSY, CALENDARS_READONLY])
    )

    calendar = await in_thread(lambda: staff.calendars().get(calendarId="primary").execute())
    assert calendar["id"] == "s@example.com"
    for call in (
        lambda: staff.calendarList().list().execute(),
        lambda: staff.events().list(calendarId="primary").execute(),
        lambda: staff.events().insert(calendarId="primary", body={}).execute(),
    ):
        err = await http_error(call)
        assert err.status_code == 403 and reasons(err) == ["insufficientPermissions"]
        assert err.error_details[0]["reason"] == "ACCESS_TOKEN_SCOPE_INSUFFICIENT"


async def test_rate_limits_surface_and_num_retries_retries_them(fake_google: FakeGoogle) -> None:
    api = service(fake_google, credentials(fake_google, "alice@example.com", [CALENDAR]))
    fake_google.rate_limit("/calendars/", retry_after=7)

    err = await http_error(lambda: api.calendars().get(calendarId="primary").execute())

    assert err.status_code == 429 and reasons(err) == ["rateLimitExceeded"]
    assert err.resp["retry-after"] == "7"
    fake_google.rate_limit("/calendars/", times=2, status=403, reason="userRateLimitExceeded")
    request = no_wait(api.calendars().get(calendarId="primary"))
    calendar = await in_thread(lambda: request.execute(num_retries=2))
    assert calendar["id"] == "alice@example.com"
    assert len(fake_google.requests.matching("/calendars/primary$")) == 4


async def test_server_errors_surface_and_num_retries_retries_them(fake_google: FakeGoogle) -> None:
    api = service(fake_google, credentials(fake_google, "alice@example.com", [CALENDAR]))
    fake_google.server_error("/freeBusy", times=3, status=500)
    body = {
        "timeMin": at(0).isoformat(),
        "timeMax": at(24).isoformat(),
        "items": [{"id": "primary"}],
    }

    err = await http_error(lambda: api.freebusy().query(body=body).execute())
    assert err.status_code == 500 and reasons(err) == ["backendError"]

    request = no_wait(api.freebusy().query(body=body))
    answer = await in_thread(lambda: request.execute(num_retries=2))
    assert answer["calendars"]["primary"] == {"busy": []}


async def test_latency_is_added_to_every_call(fake_google: FakeGoogle) -> None:
    creds = credentials(fake_google, "alice@example.com", [CALENDAR])
    fake_google.faults.latency = 0.3
    http = google_auth_httplib2.AuthorizedHttp(creds, http=httplib2.Http(timeout=0.05))
    api = build(
        "calendar",
        "v3",
        http=http,
        static_discovery=True,
        client_options={"api_endpoint": fake_google.api_url},
    )

    with pytest.raises(TimeoutError):
        await in_thread(lambda: api.calendars().get(calendarId="primary").execute())


# --- freeBusy ------------------------------------------------------------------------


async def test_freebusy_counts_only_time_the_person_is_really_busy(fake_google: FakeGoogle) -> None:
    fake_google.add_account("alice@example.com", time_zone="America/New_York")
    add = fake_google.add_event
    add("alice@example.com", start=at(13), end=at(14), summary="shoot")
    add("alice@example.com", start=at(13.5), end=at(15), summary="overlapping")
    add("alice@example.com", start=at(16), end=at(17), transparency="transparent")
    add("alice@example.com", start=at(17), end=at(18), status="cancelled")
    add(
        "alice@example.com",
        start=at(18),
        end=at(19),
        attendees=[{"email": "alice@example.com", "responseStatus": "declined"}],
    )
    add("owner@example.com", start=at(20), end=at(21), attendees=[{"email": "alice@example.com"}])
    add("alice@example.com", start=date(2030, 6, 4), end=date(2030, 6, 5), summary="vacation")
    api = service(fake_google, credentials(fake_google, "alice@example.com", [FREEBUSY]))
    body = {
        "timeMin": at(0).isoformat(),
        "timeMax": at(30).isoformat(),
        "timeZone": "America/New_York",
        "items": [{"id": "primary"}, {"id": "owner@example.com"}],
    }

    answer = await in_thread(lambda: api.freebusy().query(body=body).execute())

    assert answer["kind"] == "calendar#freeBusy"
    assert answer["timeMin"] == "2030-06-03T00:00:00.000Z"
    assert answer["calendars"]["primary"]["busy"] == [
        {"start": "2030-06-03T09:00:00-04:00", "end": "2030-06-03T11:00:00-04:00"},
        {"start": "2030-06-03T16:00:00-04:00", "end": "2030-06-03T17:00:00-04:00"},  # invitation
        {
            "start": "2030-06-04T00:00:00-04:00",
            "end": "2030-06-04T02:00:00-04:00",
        },  # all day, clipped
    ]
    assert answer["calendars"]["owner@example.com"] == {
        "errors": [{"domain": "global", "reason": "notFound"}],
        "busy": [],
    }


async def test_freebusy_limits_are_googles(fake_google: FakeGoogle) -> None:
    api = service(fake_google, credentials(fake_google, "alice@example.com", [FREEBUSY]))

    def query(hours: float, items: int = 1) -> Callable[[], Any]:
        body = {
            "timeMin": at(0).isoformat(),
            "timeMax": at(hours).isoformat(),
            "items": [{"id": "primary"}] * items,
        }
        return lambda: api.freebusy().query(body=body).execute()

    assert reasons(await http_error(query(0))) == ["timeRangeEmpty"]
    assert reasons(await http_error(query(24 * 91))) == ["timeRangeTooLong"]
    many = await in_thread(query(1, items=51))
    assert many["calendars"]["primary"]["errors"][0]["reason"] == "tooManyCalendarsRequested"


# --- events --------------------------------------------------------------------------


async def test_events_insert_with_a_client_id_is_idempotent(fake_google: FakeGoogle) -> None:
    api = service(fake_google, credentials(fake_google, "booking@example.com", PRIMARY_SCOPES))
    body = {
        "id": "tonomo0booking0001",
        "summary": "Shoot: 12 Elm St",
        "start": {"dateTime": at(14).isoformat()},
        "end": {"dateTime": at(15).isoformat()},
    }

    created = await in_thread(
        lambda: api.events().insert(calendarId="primary", body=body).execute()
    )

    assert created["id"] == "tonomo0booking0001" and created["status"] == "confirmed"
    assert created["organizer"] == {"email": "booking@example.com", "self": True}
    err = await http_error(lambda: api.events().insert(calendarId="primary", body=body).execute())
    assert err.status_code == 409 and reasons(err) == ["duplicate"]
    assert "The requested identifier already exists." in err.reason
    bad = await http_error(
        lambda: (
            api.events().insert(calendarId="primary", body=body | {"id": "UPPER-case"}).execute()
        )
    )
    assert bad.status_code == 400
    assert [e["summary"] for e in fake_google.events("booking@example.com")] == ["Shoot: 12 Elm St"]


async def test_delete_then_again_is_gone(fake_google: FakeGoogle) -> None:
    fake_google.add_event("booking@example.com", start=at(9), end=at(10), event_id="abcde12345")
    api = service(fake_google, credentials(fake_google, "booking@example.com", PRIMARY_SCOPES))

    answer = await in_thread(
        lambda: api.events().delete(calendarId="primary", eventId="abcde12345").execute()
    )

    assert answer == ""
    assert fake_google.requests.matching("abcde12345$", "DELETE")
    err = await http_error(
        lambda: api.events().delete(calendarId="primary", eventId="abcde12345").execute()
    )
    assert err.status_code == 410 and reasons(err) == ["deleted"]
    missing = await http_error(
        lambda: api.events().delete(calendarId="primary", eventId="nothere1").execute()
    )
    assert missing.status_code == 404 and reasons(missing) == ["notFound"]
    assert fake_google.events("booking@example.com") == []


async def test_an_invitation_lands_on_the_guests_calendar(fake_google: FakeGoogle) -> None:
    fake_google.add_account("alice@example.com")
    booking = service(fake_google, credentials(fake_google, "booking@example.com", PRIMARY_SCOPES))
    body = {
        "id": "shoot00001",
        "summary": "Shoot",
        "start": {"dateTime": "2030-06-03T10:00:00", "timeZone": "Europe/Paris"},
        "end": {"dateTime": "2030-06-03T11:00:00", "timeZone": "Europe/Paris"},
        "attendees": [{"email": "alice@example.com"}, {"email": "client@elsewhere.com"}],
    }

    created = await in_thread(
        lambda: booking.events().insert(calendarId="primary", body=body).execute()
    )

    assert created["start"] == {"dateTime": "2030-06-03T10:00:00+02:00", "timeZone": "Europe/Paris"}
    (invitation,) = fake_google.events("alice@example.com")
    assert invitation["id"] == "shoot00001"
    (alice,) = [a for a in invitation["attendees"] if a.get("self")]
    assert alice == {"email": "alice@example.com", "self": True}
    alice_api = service(fake_google, credentials(fake_google, "alice@example.com", [CALENDAR]))
    await in_thread(
        lambda: alice_api.events().delete(calendarId="primary", eventId="shoot00001").execute()
    )
    kept = await in_thread(
        lambda: booking.events().get(calendarId="primary", eventId="shoot00001").execute()
    )
    assert kept["status"] == "confirmed"
    assert kept["attendees"][0] == {"email": "alice@example.com", "responseStatus": "declined"}


async def test_events_list_pages_orders_and_searches(fake_google: FakeGoogle) -> None:
    for hour in (15, 9, 12):
        fake_google.add_event(
            "a@example.com", start=at(hour), end=at(hour + 1), summary=f"at {hour}"
        )
    fake_google.add_event("a@example.com", start=at(40), end=at(41), summary="later")
    api = service(fake_google, credentials(fake_google, "a@example.com", [CALENDAR]))

    def list_all(**params: Any) -> list[str]:
        events, request = [], api.events().list(calendarId="primary", **params)
        while request is not None:
            page = request.execute()
            events += [e["summary"] for e in page["items"]]
            request = api.events().list_next(request, page)
        return events

    window = {"timeMin": at(0).isoformat(), "timeMax": at(24).isoformat()}
    ordered = await in_thread(
        lambda: list_all(singleEvents=True, orderBy="startTime", maxResults=2, **window)
    )
    assert ordered == ["at 9", "at 12", "at 15"]
    assert await in_thread(lambda: list_all(q="LATER")) == ["later"]
    err = await http_error(
        lambda: api.events().list(calendarId="primary", orderBy="startTime").execute()
    )
    assert err.status_code == 400


async def test_patch_merges_and_sync_tokens_give_only_changes(fake_google: FakeGoogle) -> None:
    fake_google.add_event(
        "a@example.com", start=at(9), end=at(10), summary="one", event_id="event00001"
    )
    fake_google.add_event(
        "a@example.com", start=at(11), end=at(12), summary="two", event_id="event00002"
    )
    api = service(fake_google, credentials(fake_google, "a@example.com", [CALENDAR]))
    first = await in_thread(lambda: api.events().list(calendarId="primary").execute())
    assert "nextPageToken" not in first and first["nextSyncToken"]

    patch = {"start": {"timeZone": "Europe/Paris"}, "location": "12 Elm St"}
    patched = await in_thread(
        lambda: api.events().patch(calendarId="primary", eventId="event00001", body=patch).execute()
    )
    await in_thread(
        lambda: api.events().delete(calendarId="primary", eventId="event00002").execute()
    )
    changes = await in_thread(
        lambda: api.events().list(calendarId="primary", syncToken=first["nextSyncToken"]).execute()
    )

    assert patched["start"] == {"dateTime": "2030-06-03T11:00:00+02:00", "timeZone": "Europe/Paris"}
    assert patched["location"] == "12 Elm St" and patched["summary"] == "one"
    assert [(e["id"], e["status"]) for e in changes["items"]] == [
        ("event00001", "confirmed"),
        ("event00002", "cancelled"),
    ]
    gone = await http_error(
        lambda: api.events().list(calendarId="primary", syncToken="not-a-token").execute()
    )
    assert gone.status_code == 410 and reasons(gone) == ["fullSyncRequired"]


# --- other clients of the same REST API ----------------------------------------------


async def test_gcsa_lists_and_creates_events(fake_google: FakeGoogle) -> None:
    fake_google.add_event("a@example.com", start=at(9), end=at(10), summary="seeded")
    creds = credentials(fake_google, "a@example.com", [CALENDAR])

    def use_gcsa() -> list[str]:
        gc = GoogleCalendar(credentials=creds)
        # gcsa builds its service without client_options; swap in one whose endpoint is the emulator.
        gc.service = service(fake_google, creds)
        gc.add_event(GcsaEvent("made by gcsa", start=at(11), end=at(12), timezone="UTC"))
        events = gc.get_events(
            time_min=at(0), time_max=at(24), single_events=True, order_by="startTime"
        )
        return [str(e.summary) for e in events]

    assert await in_thread(use_gcsa) == ["seeded", "made by gcsa"]


class StaticTokenAuth(AbstractAuth):
    """gcal_sync's auth with a fixed token; `host` points it at the emulator."""

    def __init__(self, session: aiohttp.ClientSession, host: str, token: str) -> None:
        super().__init__(session, host)
        self._token = token

    async def async_get_access_token(self) -> str:
        return self._token


async def test_gcal_sync_lists_and_creates_events(fake_google: FakeGoogle) -> None:
    fake_google.add_event("a@example.com", start=at(9), end=at(10), summary="seeded")
    token, _ = fake_google.issue_tokens("a@example.com", [CALENDAR])

    async with aiohttp.ClientSession() as session:
        calendar = gcal_sync.api.GoogleCalendarService(
            StaticTokenAuth(session, fake_google.api_url.rstrip("/"), token)
        )
        await calendar.async_create_event(
            "primary",
            gcal_sync.model.Event(
                summary="made by gcal_sync",
                start=gcal_sync.model.DateOrDatetime.parse(at(11)),
                end=gcal_sync.model.DateOrDatetime.parse(at(12)),
            ),
        )
        primary = await calendar.async_get_calendar("primary")
        listed = await calendar.async_list_events(
            gcal_sync.api.ListEventsRequest(calendarId="primary", timeMin=at(0), timeMax=at(24))
        )

    assert primary.id == "a@example.com"
    assert [e.summary for e in listed.items] == ["seeded", "made by gcal_sync"]


# --- running alone -------------------------------------------------------------------


async def test_it_runs_as_a_program() -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    env = os.environ | {"GOOGLE_CLIENT_ID": "cli-client", "GOOGLE_CLIENT_SECRET": "cli-secret"}
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "sandbox.fake_google", "--port", str(port),
        cwd=REPO_ROOT, env=env, stdout=asyncio.subprocess.PIPE,
    )  # fmt: skip
    try:
        assert process.stdout is not None
        banner = await asyncio.wait_for(process.stdout.readline(), timeout=10)
        assert f"http://127.0.0.1:{port}" in banner.decode()
        base = f"http://127.0.0.1:{port}"
        query = urlencode(
            {
                "client_id": "other",
                "redirect_uri": REDIRECT_URI,
                "response_type": "code",
                "scope": FREEBUSY,
            }
        )
        async with aiohttp.ClientSession() as session:
            async with session.get(f"{base}/calendar/v3/users/me/calendarList") as response:
                assert response.status == 401
            async with session.get(f"{base}/o/oauth2/auth?{query}") as page:
                assert page.status == 401
        process.send_signal(signal.SIGINT)
        assert await asyncio.wait_for(process.wait(), timeout=10) == 0
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()


# Python ignores SIGINT in a process started with it ignored (a shell's `cmd &`) unless the
# program installs its own handler: run the emulator as such a child would be.
IGNORING_SIGINT = (
    "import os, signal, sys; signal.signal(signal.SIGINT, signal.SIG_IGN); "
    "os.execv(sys.executable, [sys.executable, *sys.argv[1:]])"
)


async def start_emulator(
    module: str, *args: str, sigint_ignored: bool = False
) -> tuple[asyncio.subprocess.Process, str]:
    """`python -m module args…`, and the first line it prints (where it listens)."""
    command = ["-c", IGNORING_SIGINT] if sigint_ignored else []
    process = await asyncio.create_subprocess_exec(
        sys.executable, *command, "-m", module, *args,
        cwd=REPO_ROOT, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    assert process.stdout is not None
    try:
        line = await asyncio.wait_for(process.stdout.readline(), timeout=10)
    except BaseException:
        process.kill()
        await process.wait()
        raise
    return process, line.decode()


async def stops_on(process: asyncio.subprocess.Process, signum: signal.Signals) -> int:
    process.send_signal(signum)
    try:
        return await asyncio.wait_for(process.wait(), timeout=10)
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM])
async def test_it_stops_on_sigint_and_sigterm_even_started_with_sigint_ignored(
    signum: signal.Signals,
) -> None:
    process, line = await start_emulator("sandbox.fake_google", "--port", "0", sigint_ignored=True)
    assert " listening on http://127.0.0.1:" in line
    assert await stops_on(process, signum) == 0


async def test_a_busy_port_is_one_line_and_exit_code_1() -> None:
    await refuses_a_busy_port("sandbox.fake_google")


async def refuses_a_busy_port(module: str) -> None:
    """One line on stderr naming the port, exit code 1, nothing on stdout."""
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        process, line = await start_emulator(module, "--port", str(port))
        assert process.stderr is not None
        stderr = (await asyncio.wait_for(process.stderr.read(), timeout=10)).decode()
        assert await asyncio.wait_for(process.wait(), timeout=10) == 1
    assert line == ""
    assert stderr.count("\n") == 1 and "Traceback" not in stderr
    assert f"could not listen on 127.0.0.1:{port}: Address already in use" in stderr
