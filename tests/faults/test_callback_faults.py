"""The OAuth callback when Slack fails after the connection is saved: the page tells the
truth (connected), Slack's error is logged, and the used link stays used (not a 500)."""

from __future__ import annotations

import logging

import pytest
from sqlalchemy import select

from sandbox.fake_google import approve_consent
from sandbox.fake_slack import button_urls
from sandbox.faults import Fault
from storage.models import CalendarConnection, ConnectionState
from tests.conftest import ALICE, CHANNEL, RunningBot
from tests.scenarios.flows import command

# A proxy's error page where Slack's JSON should be (served as JSON, it isn't).
BAD_GATEWAY = "<html><body><h1>502 Bad Gateway</h1></body></html>"


async def test_slack_answering_a_non_json_502_after_the_connection_is_saved(
    bot: RunningBot, caplog: pytest.LogCaptureFixture
) -> None:
    reply = await command(bot, "connect-calendar", user=ALICE)
    (url,) = button_urls(reply["blocks"])
    location = await approve_consent(url, email="alice@acme-photo.com")
    bot.slack.faults.add(
        Fault(
            r"^/api/chat\.postMessage$",
            status=502,
            body=BAD_GATEWAY,
            headers={"Content-Type": "application/json"},
        )
    )
    caplog.set_level(logging.WARNING)

    async with bot.http.get(location) as response:
        page = await response.text()
        assert response.status == 200, page
    assert "Your calendar is connected" in page or "Calendar connected for" in page
    assert "alice@acme-photo.com" in page

    async with bot.services.store._sessions() as session:
        (row,) = list(await session.scalars(select(CalendarConnection)))
    assert (row.owner_key, row.account_email, row.state) == (
        ALICE,
        "alice@acme-photo.com",
        ConnectionState.CONNECTED,
    )
    assert len(bot.slack.requests.matching(r"^/api/chat\.postMessage$")) == 1
    assert bot.slack.messages(CHANNEL) == []  # Slack never took the notice
    assert "502" in caplog.text, "Slack's error is logged"

    # Reloading the page: the link was used, and the page says so (and that it connected).
    async with bot.http.get(location) as response:
        assert response.status == 400
        assert "already used" in await response.text()
    async with bot.services.store._sessions() as session:
        assert len(list(await session.scalars(select(CalendarConnection)))) == 1
