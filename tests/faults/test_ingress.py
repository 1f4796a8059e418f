"""What comes in at `/slack/events` when Slack, the database or a stranger misbehave.

Each test sends real requests to the real server and checks the whole outcome: the status
and how fast it came, what each person saw, what Slack was asked, what is stored.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import os
import time
from contextlib import AbstractAsyncContextManager
from typing import Any
from urllib.parse import urlencode

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import func, select

from bot.config import ConfigError, Settings
from bot.services import build_services
from sandbox import faults
from sandbox.fake_google import FakeGoogle
from sandbox.fake_slack import FakeSlack, text_of
from sandbox.faults import Fault
from sandbox.run import bot_environment
from storage.models import Customer
from tests.conftest import (
    CHANNEL,
    OWNER,
    POSTGRES_URL,
    SIGNING_SECRET,
    TEAM,
    RunningBot,
    serve_bot,
)
from tests.helpers import wait_until
from tests.scenarios.flows import command

FORM = "application/x-www-form-urlencoded"
JSON = "application/json"
ACK_LIMIT = 3.0
"""Seconds Slack waits for an ack."""


async def post(
    bot: RunningBot, body: bytes, headers: dict[str, str], content_type: str = FORM
) -> tuple[int, float]:
    """POST to /slack/events: the status and the seconds the answer took."""
    started = time.monotonic()
    async with bot.http.post(
        bot.events_url, data=body, headers={"Content-Type": content_type, **headers}
    ) as response:
        await response.read()
        return response.status, time.monotonic() - started


def slash(text: str, *, channel: str = CHANNEL, user: str = OWNER, **extra: str) -> dict[str, str]:
    return {
        "command": "/tonomo",
        "text": text,
        "team_id": TEAM,
        "channel_id": channel,
        "user_id": user,
        "user_name": "olivia",
        "response_url": "",
        "trigger_id": f"1.2.{time.monotonic_ns()}",
        **extra,
    }


async def customers(bot: RunningBot) -> int:
    async with bot.services.store._sessions() as session:
        return int(await session.scalar(select(func.count()).select_from(Customer)) or 0)


async def answers_help(bot: RunningBot) -> bool:
    reply = await command(bot, "help")
    return "Tonomo calendar bot" in text_of(reply)


# --- 1. nothing from an unsigned request is used --------------------------------------------


@pytest.mark.parametrize("timestamp", ["soon", "", "1e9", "-5", "１２３"])
async def test_a_bad_timestamp_is_401_and_its_response_url_is_never_called(
    bot: RunningBot, timestamp: str
) -> None:
    trap = f"{bot.slack.base_url}/response/trap"
    body = urlencode(slash("status", response_url=trap)).encode()
    headers = {"X-Slack-Request-Timestamp": timestamp, "X-Slack-Signature": "v0=00"}
    bot.slack.requests.clear()

    status, took = await post(bot, body, headers)

    assert status == 401 and took < ACK_LIMIT
    await asyncio.sleep(0.2)  # anything the request had set off would have happened by now
    assert list(bot.slack.requests) == []
    assert await customers(bot) == 0


# --- 6. signed but malformed: 4xx, never 5xx; unsigned: 401 --------------------------------

MALFORMED: list[tuple[str, bytes, str, dict[str, str]]] = [
    ("a JSON array", b"[1, 2]", JSON, {}),
    ("JSON null", b"null", JSON, {}),
    ("a JSON string", b'"hello"', JSON, {}),
    ("payload=[]", b"payload=%5B%5D", FORM, {}),
    ("payload=null", b"payload=null", FORM, {}),
    ('payload="str"', b"payload=%22str%22", FORM, {}),
    (
        "a view without its type",
        urlencode(
            {
                "payload": json.dumps(
                    {"type": "view_submission", "user": {"id": OWNER}, "view": {"id": "V1"}}
                )
            }
        ).encode(),
        FORM,
        {},
    ),
    ('"event": "x"', json.dumps({"type": "event_callback", "event": "x"}).encode(), JSON, {}),
    (
        "a command without channel_id",
        urlencode({k: v for k, v in slash("help").items() if k != "channel_id"}).encode(),
        FORM,
        {},
    ),
    (
        "a command without user_id",
        urlencode({k: v for k, v in slash("help").items() if k != "user_id"}).encode(),
        FORM,
        {},
    ),
    ("invalid UTF-8", b"text=\xff\xfe\xfd&command=/tonomo", FORM, {}),
    ("an unknown Content-Encoding", b"text=help", FORM, {"Content-Encoding": "x-squish"}),
    ("no content type", b"text=help", "", {}),
]


@pytest.mark.parametrize(
    ("body", "content_type", "extra"),
    [pytest.param(b, c, e, id=name) for name, b, c, e in MALFORMED],
)
async def test_signed_malformed_requests_are_4xx_and_unsigned_ones_401(
    bot: RunningBot, body: bytes, content_type: str, extra: dict[str, str]
) -> None:
    headers = _signed_bytes(body, extra)
    status, took = await post(bot, body, headers, content_type)
    assert 400 <= status < 500 and took < ACK_LIMIT

    status, _ = await post(bot, body, {"X-Slack-Signature": "v0=bad", **extra}, content_type)
    assert status == 401
    assert await answers_help(bot)
    assert await customers(bot) == 0


def _signed_bytes(body: bytes, extra: dict[str, str]) -> dict[str, str]:
    """Slack's signature over the raw bytes (they may not be text)."""
    timestamp = str(int(time.time()))
    base = b"v0:" + timestamp.encode() + b":" + body
    signature = "v0=" + hmac.new(SIGNING_SECRET.encode(), base, hashlib.sha256).hexdigest()
    return {"X-Slack-Request-Timestamp": timestamp, "X-Slack-Signature": signature, **extra}


ANY_JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=12),
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=6), inner, max_size=3)
    ),
    max_leaves=8,
)
INTERACTIONS = st.fixed_dictionaries(
    {
        "type": st.sampled_from(
            ["block_actions", "view_submission", "view_closed", "shortcut", "message_action", "x"]
        ),
        "user": st.one_of(
            ANY_JSON,
            st.fixed_dictionaries({"id": st.text(max_size=8)}, optional={"team_id": ANY_JSON}),
        ),
    },
    optional={
        "team": ANY_JSON,
        "channel": st.one_of(ANY_JSON, st.fixed_dictionaries({"id": ANY_JSON})),
        "actions": st.lists(
            st.fixed_dictionaries(
                {"action_id": st.sampled_from(["connect_mine", "reconnect", "book_slot_0", "x"])},
                optional={"value": ANY_JSON},
            ),
            max_size=2,
        ),
        "view": st.fixed_dictionaries(
            {"type": st.sampled_from(["modal", "home"])},
            optional={
                "callback_id": st.sampled_from(["book_modal", "availability_modal"]),
                "private_metadata": ANY_JSON,
                "state": ANY_JSON,
                "id": ANY_JSON,
            },
        ),
        "container": ANY_JSON,
        "response_url": ANY_JSON,
        "trigger_id": ANY_JSON,
    },
).map(lambda payload: urlencode({"payload": json.dumps(payload)}).encode())
EVENTS = st.fixed_dictionaries(
    {
        "type": st.just("event_callback"),
        "event": st.fixed_dictionaries(
            {
                "type": st.sampled_from(
                    [
                        "app_mention",
                        "member_joined_channel",
                        "member_left_channel",
                        "app_home_opened",
                        "tokens_revoked",
                        "app_uninstalled",
                        "message",
                    ]
                )
            },
            optional={
                "user": ANY_JSON,
                "channel": ANY_JSON,
                "text": ANY_JSON,
                "tab": ANY_JSON,
                "tokens": ANY_JSON,
                "thread_ts": ANY_JSON,
            },
        ),
    },
    optional={"event_id": ANY_JSON, "team_id": ANY_JSON, "authorizations": ANY_JSON},
).map(lambda envelope: json.dumps(envelope).encode())
HOSTILE_BODIES = st.one_of(
    INTERACTIONS,
    EVENTS,
    st.binary(max_size=300),
    st.text(max_size=300).map(str.encode),
    st.recursive(
        st.none() | st.booleans() | st.integers() | st.text(max_size=20),
        lambda inner: (
            st.lists(inner, max_size=4)
            | st.dictionaries(
                st.sampled_from(
                    ["type", "event", "user", "view", "actions", "team", "channel", "x"]
                ),
                inner,
                max_size=5,
            )
        ),
        max_leaves=12,
    ).map(lambda value: json.dumps(value).encode()),
    st.dictionaries(
        st.sampled_from(
            ["payload", "command", "text", "channel_id", "user_id", "team_id", "trigger_id"]
        ),
        st.text(max_size=40),
        max_size=6,
    ).map(lambda form: urlencode(form).encode()),
)


@settings(
    max_examples=int(os.environ.get("TONOMO_HOSTILE_EXAMPLES", "60")),
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(
    body=HOSTILE_BODIES,
    content_type=st.sampled_from([FORM, JSON, "text/plain", ""]),
    is_signed=st.booleans(),
)
async def test_no_hostile_body_gets_a_5xx_or_a_slow_answer(
    bot: RunningBot, body: bytes, content_type: str, is_signed: bool
) -> None:
    headers = _signed_bytes(body, {}) if is_signed else {"X-Slack-Signature": "v0=nope"}
    status, took = await post(bot, body, headers, content_type)
    assert status < 500 and took < ACK_LIMIT
    if not is_signed:
        assert status == 401


async def test_after_hostile_requests_the_bot_still_answers_help(bot: RunningBot) -> None:
    for body in (b"[]", b"payload=null", b"\xff"):
        await post(bot, body, _signed_bytes(body, {}), JSON)
    assert await answers_help(bot)


async def test_a_command_without_a_trigger_is_still_answered(bot: RunningBot) -> None:
    """Slack always sends a trigger_id; a hand-made request without one is answered all the
    same (a request of its own), and `book` alone offers the form's button instead of
    opening the form."""
    for text, expected in (("status", "working"), ("book", "Open the booking form")):
        fields = slash(text)
        del fields["trigger_id"]
        fields["response_url"] = bot.slack._issue_response_url(CHANNEL, OWNER, None)
        before = len(bot.slack.responses)
        body = urlencode(fields).encode()
        status, _ = await post(bot, body, _signed_bytes(body, {}), FORM)
        assert status == 200
        await wait_until(lambda: len(bot.slack.responses) > before)  # noqa: B023
        assert expected in text_of(bot.slack.responses[before])
    assert not bot.slack.views(), "no form was opened without a trigger"


# --- 3. the database down: every command still acknowledged ---------------------------------


def database_down(bot: RunningBot, database_url: str) -> AbstractAsyncContextManager[None]:
    return faults.database_down(bot.services.engine, database_url, admin_url=POSTGRES_URL)


async def test_with_the_database_down_every_command_is_acknowledged_and_explained(
    bot: RunningBot, database_url: str
) -> None:
    await command(bot, "settings")  # the channel is a customer
    async with database_down(bot, database_url):
        before = len(bot.slack.responses)
        sent = await asyncio.gather(
            *(
                bot.slack.send_slash_command(
                    bot.events_url, user_id=OWNER, channel_id=CHANNEL, text=text
                )
                for text in ["status"] * 10 + ["availability"] * 10
            )
        )
        assert all(s.status == 200 for s in sent)
        await wait_until(lambda: len(bot.slack.responses) >= before + 20, timeout=20)
        answers = bot.slack.responses[before:]
        assert all("can't reach my records" in text_of(a) for a in answers)
    # And once it is back, the same command works.
    assert "Calendar connections" in text_of(await command(bot, "status", follow_up=True))


# --- 8. Slack at start-up -------------------------------------------------------------------


async def test_a_token_slack_refuses_stops_start_up_with_one_line(
    google: FakeGoogle, slack: FakeSlack, database_url: str
) -> None:
    slack.revoke_token()
    environment = bot_environment(
        slack=slack, google=google, public_url="http://127.0.0.1:1", database_url=database_url
    )
    with pytest.raises(ConfigError, match="SLACK_BOT_TOKEN"):
        await build_services(Settings.from_env(environment))


async def test_slack_unreachable_at_start_up_never_delays_an_ack(
    google: FakeGoogle, slack: FakeSlack, database_url: str
) -> None:
    slack.server_error("auth.test", times=None)
    async with serve_bot(google, slack, database_url) as bot:
        started = time.monotonic()
        answer = await bot.slack.send_slash_command(
            bot.events_url, user_id=OWNER, channel_id=CHANNEL, text="help"
        )
        assert answer.status == 200 and time.monotonic() - started < 1.0
        assert "Tonomo calendar bot" in answer.body
        # Slack is back: the bot learns who it is, in the background, from the next request.
        slack.faults.clear()
        await bot.slack.send_slash_command(
            bot.events_url, user_id=OWNER, channel_id=CHANNEL, text="help"
        )
        await wait_until(lambda: bot.services.identity.bot_user_id == slack.bot_user_id)


# --- 9. one channel waiting out Slack's rate limit doesn't hold the others ------------------


async def test_a_rate_limited_channel_does_not_hold_another_channels_answers(
    google: FakeGoogle, slack: FakeSlack, database_url: str
) -> None:
    slack.add_channel("C0BUSY", name="busy-customer", members=[OWNER])
    async with serve_bot(google, slack, database_url) as bot:
        await command(bot, "settings", channel="C0BUSY")
        await command(bot, "settings")
        # Every post in the busy channel is rate-limited for 30 s (slack_sdk waits it out).
        slack.faults.add(
            Fault(
                path_pattern="^/api/chat.postMessage$",
                status=429,
                body={"ok": False, "error": "ratelimited"},
                headers={"Retry-After": "30"},
                body_contains="C0BUSY",
            )
        )
        await asyncio.gather(
            *(
                slack.send_slash_command(
                    bot.events_url, user_id=OWNER, channel_id="C0BUSY", text="onboard"
                )
                for _ in range(8)
            )
        )
        await wait_until(lambda: bot.slack.requests.matching("^/api/chat.postMessage$"))
        started = time.monotonic()
        reply = await command(bot, "status", follow_up=True)
        assert "Calendar connections" in text_of(reply)
        assert time.monotonic() - started < ACK_LIMIT
        slack.faults.clear()


# --- 10 and 8: the booking form and its trigger ---------------------------------------------


async def test_the_booking_form_opens_while_the_channel_is_busy(
    google: FakeGoogle, slack: FakeSlack, database_url: str
) -> None:
    async with serve_bot(google, slack, database_url) as bot:
        await command(bot, "settings")
        slack.faults.add(
            Fault(
                path_pattern="^/api/chat.postMessage$",
                status=429,
                body={"ok": False, "error": "ratelimited"},
                headers={"Retry-After": "30"},
            )
        )
        for _ in range(8):
            await slack.send_slash_command(
                bot.events_url, user_id=OWNER, channel_id=CHANNEL, text="onboard"
            )
        await slack.send_slash_command(
            bot.events_url, user_id=OWNER, channel_id=CHANNEL, text="book"
        )
        # views.open succeeds only within the trigger's 3 seconds (the emulator checks).
        await wait_until(lambda: [v for v in slack.views() if v["type"] == "modal"], timeout=3)
        slack.faults.clear()


async def test_the_booking_form_is_answered_in_time_with_the_database_down(
    bot: RunningBot, database_url: str
) -> None:
    await bot.slack.send_slash_command(
        bot.events_url, user_id=OWNER, channel_id=CHANNEL, text="book"
    )
    (view,) = await wait_until(lambda: [v for v in bot.slack.views() if v["type"] == "modal"])
    values = _form_values()
    async with database_down(bot, database_url):
        started = time.monotonic()
        sent = await bot.slack.send_view_submission(
            bot.events_url, user_id=OWNER, view_id=view["id"], values=values
        )
        assert time.monotonic() - started < ACK_LIMIT
    assert sent.status == 200
    errors = sent.json()["errors"]
    assert "can't reach my records" in errors["staff"]
    assert [v for v in bot.slack.views() if v["type"] == "modal"]  # the form stays open


def _form_values() -> dict[str, Any]:
    return {
        "staff": {"staff": {"type": "users_select", "selected_user": OWNER}},
        "day": {"day": {"type": "datepicker", "selected_date": "2030-01-07"}},
        "time": {"time": {"type": "timepicker", "selected_time": "10:00"}},
        "duration": {"duration": {"type": "plain_text_input", "value": "1h"}},
        "title": {"title": {"type": "plain_text_input", "value": "Shoot"}},
    }


# --- 11. a redelivered member_joined_channel is answered once -------------------------------


async def test_a_redelivered_join_posts_one_welcome(bot: RunningBot) -> None:
    await command(bot, "settings")
    bot.slack.add_user("U0NEW", name="nina", tz="America/New_York")
    bot.slack.add_member(CHANNEL, "U0NEW")
    event = {"type": "member_joined_channel", "user": "U0NEW", "channel": CHANNEL, "team": TEAM}
    first = await bot.slack.send_event(bot.events_url, event)
    again = [
        await bot.slack.send_event(bot.events_url, event, retry_num=n, retry_reason="http_timeout")
        for n in (1, 2)
    ]
    assert first.status == 200 and all(a.status == 200 for a in again)
    await wait_until(lambda: bot.slack.ephemerals(CHANNEL, "U0NEW"))
    await command(bot, "settings")  # later work in the channel is done: the retries were too
    assert len(bot.slack.ephemerals(CHANNEL, "U0NEW")) == 1
