"""The Google adapter against the Google emulator: refresh, and errors become the port's."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest

from bot.calendar.google import GoogleCalendar
from bot.calendar.port import (
    CALENDARS_READONLY,
    FREEBUSY,
    MissingPermission,
    NeedsReconnect,
    TokenSet,
    Transient,
)
from sandbox.fake_google import FakeGoogle
from tests.conftest import CLIENT_ID, CLIENT_SECRET

EMAIL = "alice@acme-photo.com"


@pytest.fixture
def calendar(google: FakeGoogle) -> Iterator[GoogleCalendar]:
    adapter = GoogleCalendar(
        client_id=CLIENT_ID,
        client_secret=CLIENT_SECRET,
        auth_uri=google.auth_uri,
        token_uri=google.token_uri,
        revoke_uri=google.revoke_uri,
        api_url=google.api_url,
        redirect_uri="http://127.0.0.1:9/oauth/google/callback",
        num_retries=0,
        timeout=5,
        allow_plain_http=True,
    )
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
