"""Requests into /slack/events: signatures, malformed bodies, and what is acknowledged."""

from __future__ import annotations

import json
import time
from urllib.parse import urlencode

import pytest
from sqlalchemy import func, select

from bot.messages.ids import CONNECT_LINK
from sandbox.fake_slack import sign, text_of
from storage.models import Customer
from tests.conftest import ALICE, CHANNEL, OWNER, SIGNING_SECRET, TEAM, RunningBot
from tests.scenarios.flows import command

FORM = "application/x-www-form-urlencoded"


def slash_body(text: str = "status") -> str:
    return urlencode(
        {
            "token": "legacy",
            "team_id": TEAM,
            "channel_id": CHANNEL,
            "user_id": OWNER,
            "user_name": "olivia",
            "command": "/tonomo",
            "text": text,
            "response_url": "http://127.0.0.1:9/response/x",
            "trigger_id": "1.2.3",
        }
    )


async def post(
    bot: RunningBot, body: str, headers: dict[str, str], content_type: str = FORM
) -> tuple[int, str]:
    async with bot.http.post(
        bot.events_url, data=body.encode(), headers={"Content-Type": content_type, **headers}
    ) as response:
        return response.status, await response.text()


async def customers(bot: RunningBot) -> int:
    async with bot.services.store._sessions() as session:
        return int(await session.scalar(select(func.count()).select_from(Customer)) or 0)


@pytest.mark.parametrize(
    "headers",
    [
        pytest.param(lambda body: sign("not-the-secret", body), id="forged signature"),
        pytest.param(
            lambda body: sign(SIGNING_SECRET, body, int(time.time()) - 6 * 60), id="stale timestamp"
        ),
        pytest.param(lambda body: {}, id="missing headers"),
        pytest.param(
            lambda body: {"X-Slack-Request-Timestamp": str(int(time.time()))},
            id="missing signature",
        ),
    ],
)
async def test_unsigned_requests_are_refused_and_do_nothing(bot: RunningBot, headers) -> None:  # type: ignore[no-untyped-def]
    body = slash_body("connect-calendar")
    bot.slack.requests.clear()  # start-up asked auth.test
    status, _ = await post(bot, body, headers(body))

    assert status == 401
    assert len(bot.slack.requests) == 0, "no Slack call was made"
    assert await customers(bot) == 0


async def test_an_unsigned_malformed_body_is_refused(bot: RunningBot) -> None:
    body = "payload=%7Bnot-json"
    status, _ = await post(bot, body, sign("wrong", body))
    assert status == 401


@pytest.mark.parametrize(
    ("body", "content_type"),
    [
        pytest.param("payload=%7Bnot-json", FORM, id="broken payload JSON"),
        pytest.param("{not json", "application/json", id="broken JSON body"),
        pytest.param("hello there", "text/plain", id="wrong content type"),
        pytest.param(
            "payload=" + json.dumps({"type": "made_up_interaction", "team": {"id": TEAM}}),
            FORM,
            id="unknown interaction type",
        ),
        pytest.param(
            json.dumps({"type": "made_up_envelope"}), "application/json", id="unknown envelope"
        ),
    ],
)
async def test_signed_malformed_requests_get_no_server_error(
    bot: RunningBot, body: str, content_type: str
) -> None:
    status, _ = await post(bot, body, sign(SIGNING_SECRET, body), content_type)

    assert 200 <= status < 500
    async with bot.http.get(bot.url + "/healthz") as response:
        assert response.status == 200, "the bot keeps running"


async def test_url_verification_echoes_the_challenge(bot: RunningBot) -> None:
    body = json.dumps({"type": "url_verification", "token": "x", "challenge": "abc123"})
    status, text = await post(bot, body, sign(SIGNING_SECRET, body), "application/json")
    assert status == 200 and "abc123" in text


async def test_an_event_no_listener_wants_is_acknowledged(bot: RunningBot) -> None:
    sent = await bot.slack.send_event(
        bot.events_url, {"type": "reaction_added", "user": ALICE, "reaction": "tada"}
    )
    assert sent.status == 200


async def test_clicking_a_link_button_is_acknowledged(bot: RunningBot) -> None:
    sent = await bot.slack.send_block_action(
        bot.events_url, user_id=ALICE, channel_id=CHANNEL, action_id=CONNECT_LINK
    )
    assert sent.status == 200


async def test_help_rides_on_the_ack(bot: RunningBot) -> None:
    for text in ("", "help", "  HELP  "):
        reply = await command(bot, text)
        assert reply.get("response_type", "ephemeral") == "ephemeral"
        assert "/tonomo connect-calendar" in text_of(reply)


async def test_an_unknown_command_gets_the_right_form(bot: RunningBot) -> None:
    reply = await command(bot, "conect-calendar")
    assert "Did you mean" in text_of(reply) and "/tonomo connect-calendar" in text_of(reply)

    reply = await command(bot, "status please")
    assert "/tonomo status" in text_of(reply)

    reply = await command(bot, "<!channel> party")
    assert "<!channel>" not in text_of(reply)
    assert "&lt;!channel&gt;" in text_of(reply)


async def test_a_command_in_a_direct_message_points_to_the_channel(bot: RunningBot) -> None:
    reply = await command(bot, "connect-calendar", channel="D0DIRECT")
    assert "channel" in text_of(reply)
    assert await customers(bot) == 0


async def test_commands_keep_working_when_the_ack_path_is_hammered(bot: RunningBot) -> None:
    for _ in range(5):
        reply = await command(bot, "Status", follow_up=True)
        assert "Calendar connections" in text_of(reply)
    assert await customers(bot) == 1
