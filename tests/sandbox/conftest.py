"""Fixtures for the emulator tests: a started FakeGoogle and plain-HTTP OAuth for loopback."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from sandbox.fake_google import FakeGoogle

GOOGLE_CLIENT_ID = "emulator-test.apps.googleusercontent.com"
GOOGLE_CLIENT_SECRET = "emulator-test-secret"


@pytest.fixture
async def fake_google() -> AsyncIterator[FakeGoogle]:
    fake = FakeGoogle(client_id=GOOGLE_CLIENT_ID, client_secret=GOOGLE_CLIENT_SECRET)
    await fake.start()
    yield fake
    await fake.stop()


@pytest.fixture
def loopback_oauth(monkeypatch: pytest.MonkeyPatch) -> None:
    """oauthlib refuses plain HTTP and narrowed scopes unless told: the emulator is loopback."""
    monkeypatch.setenv("OAUTHLIB_INSECURE_TRANSPORT", "1")
    monkeypatch.setenv("OAUTHLIB_RELAX_TOKEN_SCOPE", "1")
