"""The Slack emulator, driven by the real slack_sdk and slack_bolt."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import sys
import time
from collections.abc import AsyncIterator, Awaitable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl

import pytest
from aiohttp import ClientSession, web
from slack_bolt.async_app import AsyncApp
from slack_bolt.context.ack.async_ack import AsyncAck
from slack_bolt.context.async_context import AsyncBoltContext
from slack_bolt.context.respond.async_respond import AsyncRespond
from slack_bolt.context.say.async_say import AsyncSay
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError
from slack_sdk.http_retry.builtin_async_handlers import AsyncRateLimitErrorRetryHandler
from slack_sdk.signature import SignatureVerifier
from slack_sdk.web.async_client import AsyncWebClient
from slack_sdk.webhook.async_client import AsyncWebhookClient

from sandbox.fake_slack import (
    FakeSlack,
    SentRequest,
    SlashCommandUnavailable,
    rich_text_blocks,
    sign,
)
from tests.helpers import wait_until
from tests.sandbox.test_fake_google import refuses_a_busy_port, start_emulator, stops_on

TOKEN = "xoxb-fake-slack-test"
SECRET = "fake-slack-test-secret"
OWNER = "U0OWNER"
ALICE = "U0ALICE"
OUTSIDER = "U0OUTSIDER"
CHANNEL = "C0PRIVATE"
PUBLIC = "C0PUBLIC"
ROOT = Path(__file__).resolve().parents[2]

BUTTON_BLOCKS: list[dict[str, Any]] = [
    {"type": "section", "text": {"type": "mrkdwn", "text": "Connect your calendar"}},
    {
        "type": "actions",
        "block_id": "connect",
        "elements": [
            {
                "type": "button",
                "action_id": "connect_staff",
                "text": {"type": "plain_text", "text": "Connect"},
                "value": "staff",
            }
        ],
    },
]


def modal(title: str = "Book a shoot", **extra: Any) -> dict[str, Any]:
    return {
        "type": "modal",
        "callback_id": "book",
        "title": {"type": "plain_text", "text": title},
        "submit": {"type": "plain_text", "text": "Book"},
        "blocks": [
            {
                "type": "input",
                "block_id": "when",
                "label": {"type": "plain_text", "text": "When"},
                "element": {"type": "plain_text_input", "action_id": "day"},
            },
            {
                "type": "actions",
                "block_id": "who",
                "elements": [{"type": "users_select", "action_id": "staff"}],
            },
        ],
        **extra,
    }


def home(text: str = "Welcome home") -> dict[str, Any]:
    return {
        "type": "home",
        "blocks": [{"type": "section", "text": {"type": "mrkdwn", "text": text}}],
    }


def section(text: str) -> dict[str, Any]:
    return {"type": "section", "text": {"type": "mrkdwn", "text": text}}


async def api_error(call: Awaitable[Any]) -> Any:
    """The response of a Web API call that must fail."""
    with pytest.raises(SlackApiError) as caught:
        await call
    return caught.value.response


@pytest.fixture
async def fake() -> AsyncIterator[FakeSlack]:
    slack = FakeSlack(bot_token=TOKEN, signing_secret=SECRET, team_id="T0TEST")
    slack.add_user(OWNER, name="olivia", real_name="Olivia Owner", email="olivia@example.com")
    slack.add_user(ALICE, name="alice", real_name="Alice Lens", tz="Asia/Kolkata")
    slack.add_user(OUTSIDER, name="oscar")
    slack.add_channel(CHANNEL, name="acme-onboarding", members=[OWNER, ALICE])
    slack.add_channel(
        PUBLIC, name="general", members=[OWNER], is_private=False, bot_is_member=False
    )
    await slack.start()
    yield slack
    await slack.stop()


@pytest.fixture
def client(fake: FakeSlack) -> AsyncWebClient:
    return AsyncWebClient(token=TOKEN, base_url=fake.api_url)


@dataclass
class Received:
    headers: dict[str, str]
    body: str
    signed: bool

    def form(self) -> dict[str, str]:
        return dict(parse_qsl(self.body, keep_blank_values=True))

    def payload(self) -> Any:
        return json.loads(self.form()["payload"])


@dataclass
class Receiver:
    """A stand-in for the bot: verifies Slack's signature and answers as told."""

    url: str = ""
    received: list[Received] = field(default_factory=list)
    status: int = 200
    answer: str = ""
    content_type: str = "text/plain"

    async def handle(self, request: web.Request) -> web.Response:
        body = await request.text()
        signed = SignatureVerifier(SECRET).is_valid(
            body=body,
            timestamp=request.headers.get("X-Slack-Request-Timestamp", ""),
            signature=request.headers.get("X-Slack-Signature", ""),
        )
        self.received.append(Received(dict(request.headers), body, signed))
        if not signed:
            return web.Response(status=401)
        return web.Response(status=self.status, text=self.answer, content_type=self.content_type)


async def serve(app: web.Application) -> tuple[web.AppRunner, str]:
    runner = web.AppRunner(app)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0).start()
    return runner, f"http://127.0.0.1:{runner.addresses[0][1]}/slack/events"


@pytest.fixture
async def receiver() -> AsyncIterator[Receiver]:
    bot = Receiver()
    app = web.Application()
    app.router.add_post("/slack/events", bot.handle)
    runner, bot.url = await serve(app)
    yield bot
    await runner.cleanup()


async def command(fake: FakeSlack, receiver: Receiver, user_id: str = OWNER) -> SentRequest:
    return await fake.send_slash_command(receiver.url, user_id=user_id, channel_id=CHANNEL, text="")


async def open_modal(fake: FakeSlack, receiver: Receiver, client: AsyncWebClient) -> str:
    sent = await command(fake, receiver)
    response = await client.views_open(trigger_id=sent.trigger_id or "", view=modal())
    view_id: str = response["view"]["id"]
    return view_id


# -- Web API: authentication and plumbing ----------------------------------------------------


async def test_auth_test_answers_as_the_bot(fake: FakeSlack, client: AsyncWebClient) -> None:
    response = await client.auth_test()
    assert response["user_id"] == fake.bot_user_id
    assert response["team_id"] == "T0TEST"
    assert response["bot_id"]
    assert fake.requests.matching(r"^/api/auth\.test$", "POST")


async def test_tokens_are_checked(fake: FakeSlack, client: AsyncWebClient) -> None:
    assert (await api_error(AsyncWebClient(base_url=fake.api_url).auth_test()))[
        "error"
    ] == "not_authed"
    wrong = AsyncWebClient(token="xoxb-wrong", base_url=fake.api_url)
    assert (await api_error(wrong.auth_test()))["error"] == "invalid_auth"
    fake.revoke_token()
    assert (await api_error(client.auth_test()))["error"] == "token_revoked"
    assert (await api_error(client.users_info(user=OWNER)))["error"] == "token_revoked"


async def test_token_may_come_as_a_form_field(fake: FakeSlack) -> None:
    async with (
        ClientSession() as http,
        http.post(fake.api_url + "auth.test", data={"token": TOKEN}) as response,
    ):
        assert response.status == 200
        assert (await response.json())["ok"] is True


async def test_unknown_method(client: AsyncWebClient) -> None:
    response = await api_error(client.api_call("chat.teleport"))
    assert response.status_code == 200
    assert response["error"] == "unknown_method"


async def test_malformed_arguments(fake: FakeSlack) -> None:
    auth = {"Authorization": f"Bearer {TOKEN}"}

    async def error(method: str, **kwargs: Any) -> str:
        async with (
            ClientSession(headers=auth) as http,
            http.post(fake.api_url + method, **kwargs) as response,
        ):
            assert response.status == 200
            return str((await response.json())["error"])

    json_type = {"Content-Type": "application/json"}
    assert await error("auth.test", data="{not json", headers=json_type) == "invalid_json"
    blocks = {"channel": CHANNEL, "text": "x", "blocks": "[not json"}
    assert await error("chat.postMessage", data=blocks) == "invalid_blocks_format"
    members = {"channel": CHANNEL, "limit": "many"}
    assert await error("conversations.members", data=members) == "invalid_limit"
    sent = await fake.send_url_verification(fake.base_url + "/nowhere")
    assert sent.status == 404


async def test_response_url_wants_a_json_object(fake: FakeSlack, receiver: Receiver) -> None:
    sent = await command(fake, receiver)
    async with (
        ClientSession() as http,
        http.post(sent.response_url or "", data="text=hi") as response,
    ):
        assert (response.status, (await response.json())["error"]) == (400, "invalid_payload")


async def test_get_requests_are_served(client: AsyncWebClient) -> None:
    response = await client.api_call("users.info", http_verb="GET", params={"user": OWNER})
    assert response["user"]["name"] == "olivia"


async def test_the_sync_web_client_works_too(fake: FakeSlack) -> None:
    sync = WebClient(token=TOKEN, base_url=fake.api_url)
    response = await asyncio.to_thread(sync.chat_postMessage, channel=CHANNEL, text="sync hello")
    assert response["ts"] == fake.messages(CHANNEL)[-1]["ts"]
    with pytest.raises(SlackApiError) as caught:
        await asyncio.to_thread(sync.users_info, user="U0NOBODY")
    assert caught.value.response["error"] == "user_not_found"


# -- users and conversations -----------------------------------------------------------------


async def test_users_info(client: AsyncWebClient) -> None:
    owner = (await client.users_info(user=OWNER))["user"]
    assert owner["tz"] == "America/New_York"
    assert owner["tz_label"] in ("Eastern Standard Time", "Eastern Daylight Time")
    assert owner["tz_offset"] in (-5 * 3600, -4 * 3600)
    assert owner["is_bot"] is False
    assert owner["deleted"] is False
    assert owner["profile"]["email"] == "olivia@example.com"
    assert owner["profile"]["real_name"] == "Olivia Owner"
    alice = (await client.users_info(user=ALICE))["user"]
    assert (alice["tz_label"], alice["tz_offset"]) == ("India Standard Time", 19800)
    assert "email" not in alice["profile"]
    assert (await api_error(client.users_info(user="U0NOBODY")))["error"] == "user_not_found"


async def test_users_info_knows_the_bot(fake: FakeSlack, client: AsyncWebClient) -> None:
    assert (await client.users_info(user=fake.bot_user_id))["user"]["is_bot"] is True


async def test_conversations_info(fake: FakeSlack, client: AsyncWebClient) -> None:
    private = (await client.conversations_info(channel=CHANNEL))["channel"]
    assert (private["is_private"], private["is_member"], private["is_archived"]) == (
        True,
        True,
        False,
    )
    public = (await client.conversations_info(channel=PUBLIC))["channel"]
    assert (public["is_private"], public["is_member"]) == (False, False)
    fake.archive_channel(CHANNEL)
    assert (await client.conversations_info(channel=CHANNEL))["channel"]["is_archived"] is True
    fake.unarchive_channel(CHANNEL)
    assert (await client.conversations_info(channel=CHANNEL))["channel"]["is_archived"] is False


async def test_channels_the_bot_cannot_see(fake: FakeSlack, client: AsyncWebClient) -> None:
    assert (await api_error(client.conversations_info(channel="C0NOPE")))[
        "error"
    ] == "channel_not_found"
    fake.remove_bot_from_channel(CHANNEL)
    assert (await api_error(client.conversations_info(channel=CHANNEL)))[
        "error"
    ] == "channel_not_found"
    fake.add_member(CHANNEL, fake.bot_user_id)
    assert (await client.conversations_info(channel=CHANNEL))["channel"]["is_member"] is True
    fake.delete_channel(CHANNEL)
    assert (await api_error(client.conversations_members(channel=CHANNEL)))[
        "error"
    ] == "channel_not_found"


async def test_conversations_members_paginates(fake: FakeSlack, client: AsyncWebClient) -> None:
    people = [f"U0P{n}" for n in range(5)]
    fake.add_channel("C0BIG", name="big", members=people)
    first = await client.conversations_members(channel="C0BIG", limit=4)
    cursor = first["response_metadata"]["next_cursor"]
    assert first["members"] == people[:4] and cursor
    second = await client.conversations_members(channel="C0BIG", limit=4, cursor=cursor)
    assert second["members"] == [people[4], fake.bot_user_id]
    assert second["response_metadata"]["next_cursor"] == ""
    bad = client.conversations_members(channel="C0BIG", cursor="not-a-cursor")
    assert (await api_error(bad))["error"] == "invalid_cursor"


# -- chat ------------------------------------------------------------------------------------


async def test_post_message(fake: FakeSlack, client: AsyncWebClient) -> None:
    response = await client.chat_postMessage(channel=CHANNEL, text="Connect", blocks=BUTTON_BLOCKS)
    assert response["channel"] == CHANNEL
    assert response["message"]["user"] == fake.bot_user_id
    reply = await client.chat_postMessage(
        channel=CHANNEL, text="in thread", thread_ts=response["ts"]
    )
    first, second = fake.messages(CHANNEL)
    assert (first["ts"], first["text"]) == (response["ts"], "Connect")
    # A thread's parent says so, as Slack's conversations.history does.
    assert (first["thread_ts"], first["reply_count"]) == (response["ts"], 1)
    assert (first["reply_users"], first["latest_reply"]) == ([fake.bot_user_id], reply["ts"])
    assert first["blocks"][1]["block_id"] == "connect"
    assert first["blocks"][0]["block_id"]  # Slack gives every block an id
    assert (second["ts"], second["thread_ts"]) == (reply["ts"], response["ts"])
    assert second["parent_user_id"] == fake.bot_user_id
    assert fake.replies(CHANNEL, response["ts"]) == [second]
    assert first["ts"] < second["ts"]


@pytest.mark.filterwarnings("ignore:The top-level `text` argument is missing")
async def test_post_message_errors(fake: FakeSlack, client: AsyncWebClient) -> None:
    async def error(channel: str, text: str = "hi") -> str:
        return str((await api_error(client.chat_postMessage(channel=channel, text=text)))["error"])

    assert await error("C0NOPE") == "channel_not_found"
    assert await error(PUBLIC) == "not_in_channel"
    assert await error(CHANNEL, text="") == "no_text"
    assert await error(CHANNEL, text="x" * 40_001) == "msg_too_long"
    fake.archive_channel(CHANNEL)
    assert await error(CHANNEL) == "is_archived"
    assert fake.messages(CHANNEL) == []


async def test_more_than_50_blocks_are_invalid(client: AsyncWebClient) -> None:
    blocks = [section(f"row {n}") for n in range(51)]
    response = await api_error(client.chat_postMessage(channel=CHANNEL, text="x", blocks=blocks))
    assert response["error"] == "invalid_blocks"
    assert response["response_metadata"]["messages"] == [
        "[ERROR] no more than 50 items allowed [json-pointer:/blocks]"
    ]
    assert response["errors"] == ["no more than 50 items allowed [json-pointer:/blocks]"]


async def test_unknown_and_malformed_blocks_are_invalid(
    fake: FakeSlack, client: AsyncWebClient
) -> None:
    blocks = [
        section("fine"),
        {"type": "hologram"},
        section(""),
        {"type": "actions", "elements": [{"type": "x"}]},
    ]
    response = await api_error(client.chat_postMessage(channel=CHANNEL, text="x", blocks=blocks))
    assert response["error"] == "invalid_blocks"
    assert response["response_metadata"]["messages"] == [
        "[ERROR] failed to match all allowed schemas [json-pointer:/blocks/1]",
        "[ERROR] must be more than 0 characters [json-pointer:/blocks/2/text/text]",
        "[ERROR] failed to match all allowed schemas [json-pointer:/blocks/3/elements/0]",
    ]
    too_long = [section("x" * 3001)]
    response = await api_error(client.chat_postMessage(channel=CHANNEL, text="x", blocks=too_long))
    assert response["response_metadata"]["messages"][0].endswith("[json-pointer:/blocks/0]")
    assert fake.messages(CHANNEL) == []


async def test_post_ephemeral(fake: FakeSlack, client: AsyncWebClient) -> None:
    response = await client.chat_postEphemeral(channel=CHANNEL, user=ALICE, text="only you")
    [ephemeral] = fake.ephemerals(CHANNEL, ALICE)
    assert (ephemeral["ts"], ephemeral["text"]) == (response["message_ts"], "only you")
    assert fake.ephemerals(user_id=OWNER) == []
    assert fake.messages(CHANNEL) == []
    outsider = client.chat_postEphemeral(channel=CHANNEL, user=OUTSIDER, text="hi")
    assert (await api_error(outsider))["error"] == "user_not_in_channel"


async def test_update_and_delete(fake: FakeSlack, client: AsyncWebClient) -> None:
    posted = await client.chat_postMessage(channel=CHANNEL, text="before", blocks=BUTTON_BLOCKS)
    await client.chat_update(channel=CHANNEL, ts=posted["ts"], text="after")
    [message] = fake.messages(CHANNEL)
    assert (message["text"], message["edited"]["user"]) == ("after", fake.bot_user_id)
    assert message["blocks"][1]["block_id"] == "connect"  # left out: kept
    await client.chat_update(channel=CHANNEL, ts=posted["ts"], text="after", blocks=[])
    assert fake.messages(CHANNEL)[0]["blocks"] == []
    missing = client.chat_update(channel=CHANNEL, ts="1.000001", text="x")
    assert (await api_error(missing))["error"] == "message_not_found"
    theirs = fake.add_message(CHANNEL, user_id=OWNER, text="mine")
    not_ours = client.chat_update(channel=CHANNEL, ts=theirs["ts"], text="x")
    assert (await api_error(not_ours))["error"] == "cant_update_message"
    not_deletable = client.chat_delete(channel=CHANNEL, ts=theirs["ts"])
    assert (await api_error(not_deletable))["error"] == "cant_delete_message"
    await client.chat_delete(channel=CHANNEL, ts=posted["ts"])
    assert [m["text"] for m in fake.messages(CHANNEL)] == ["mine"]
    gone = client.chat_delete(channel=CHANNEL, ts=posted["ts"])
    assert (await api_error(gone))["error"] == "message_not_found"


# -- faults ----------------------------------------------------------------------------------


async def test_rate_limit_is_retried_by_the_sdk_handler(fake: FakeSlack) -> None:
    fake.rate_limit("chat.postMessage", retry_after=0)
    client = AsyncWebClient(
        token=TOKEN,
        base_url=fake.api_url,
        retry_handlers=[AsyncRateLimitErrorRetryHandler(max_retry_count=1)],
    )
    await client.chat_postMessage(channel=CHANNEL, text="eventually")
    assert len(fake.requests.matching(r"^/api/chat\.postMessage$")) == 2
    assert [m["text"] for m in fake.messages(CHANNEL)] == ["eventually"]


async def test_rate_limit_answer(fake: FakeSlack, client: AsyncWebClient) -> None:
    fake.rate_limit("users.info", retry_after=7)
    response = await api_error(client.users_info(user=OWNER))
    assert response.status_code == 429
    assert response.headers["Retry-After"] == "7"
    assert response["error"] == "ratelimited"
    assert (await client.users_info(user=OWNER))["ok"] is True


async def test_server_error(fake: FakeSlack, client: AsyncWebClient) -> None:
    fake.server_error("chat.postMessage", times=1)
    response = await api_error(client.chat_postMessage(channel=CHANNEL, text="x"))
    assert response.status_code == 503
    assert (await client.chat_postMessage(channel=CHANNEL, text="x"))["ok"] is True


async def test_latency(fake: FakeSlack, client: AsyncWebClient) -> None:
    fake.faults.latency = 0.2
    started = time.monotonic()
    await client.auth_test()
    assert time.monotonic() - started >= 0.2


# -- views -----------------------------------------------------------------------------------


async def test_views_open_takes_a_fresh_trigger(
    fake: FakeSlack, receiver: Receiver, client: AsyncWebClient
) -> None:
    sent = await command(fake, receiver)
    assert sent.trigger_id
    view = (await client.views_open(trigger_id=sent.trigger_id, view=modal()))["view"]
    assert (view["type"], view["callback_id"], view["root_view_id"]) == (
        "modal",
        "book",
        view["id"],
    )
    assert [v["id"] for v in fake.views(OWNER)] == [view["id"]]
    assert fake.views(ALICE) == []
    again = client.views_open(trigger_id=sent.trigger_id, view=modal())
    assert (await api_error(again))["error"] == "exchanged_trigger_id"
    bogus = client.views_open(trigger_id="1.2.abc", view=modal())
    assert (await api_error(bogus))["error"] == "invalid_trigger_id"


async def test_trigger_expires(fake: FakeSlack, receiver: Receiver, client: AsyncWebClient) -> None:
    fake.trigger_ttl = 0.2
    sent = await command(fake, receiver)
    issued = time.monotonic()
    await wait_until(lambda: time.monotonic() - issued > 0.2)
    late = client.views_open(trigger_id=sent.trigger_id or "", view=modal())
    assert (await api_error(late))["error"] == "expired_trigger_id"


@pytest.mark.parametrize(
    ("view", "message"),
    [
        (modal(title="x" * 25), "must be less than 25 characters [json-pointer:/view/title/text]"),
        (
            modal(private_metadata="x" * 3001),
            "must be less than 3001 characters [json-pointer:/view/private_metadata]",
        ),
        (
            {**modal(), "blocks": [section("x")] * 101},
            "no more than 100 items allowed [json-pointer:/view/blocks]",
        ),
        (
            {**modal(), "blocks": [{"type": "hologram"}]},
            "failed to match all allowed schemas [json-pointer:/view/blocks/0]",
        ),
        (
            {**modal(), "submit": None},
            "must provide submit when the view has input blocks [json-pointer:/view]",
        ),
        (home(), "must be modal [json-pointer:/view/type]"),
    ],
)
async def test_views_open_validates_the_view(
    fake: FakeSlack, receiver: Receiver, client: AsyncWebClient, view: dict[str, Any], message: str
) -> None:
    sent = await command(fake, receiver)
    response = await api_error(client.views_open(trigger_id=sent.trigger_id or "", view=view))
    assert response["error"] == "invalid_arguments"
    assert response["response_metadata"]["messages"] == [f"[ERROR] {message}"]
    assert fake.views() == []


async def test_views_update(fake: FakeSlack, receiver: Receiver, client: AsyncWebClient) -> None:
    sent = await command(fake, receiver)
    opened = (
        await client.views_open(trigger_id=sent.trigger_id or "", view=modal(external_id="b-1"))
    )["view"]
    updated = (
        await client.views_update(view_id=opened["id"], view=modal("Step 2"), hash=opened["hash"])
    )["view"]
    assert (updated["id"], updated["title"]["text"]) == (opened["id"], "Step 2")
    stale = client.views_update(view_id=opened["id"], view=modal("Step 3"), hash=opened["hash"])
    assert (await api_error(stale))["error"] == "hash_conflict"
    assert fake.views(OWNER)[0]["title"]["text"] == "Step 2"
    missing = client.views_update(external_id="nope", view=modal())
    assert (await api_error(missing))["error"] == "not_found"
    invalid = client.views_update(view_id=opened["id"], view=modal("x" * 30))
    assert (await api_error(invalid))["error"] == "invalid_arguments"


async def test_views_update_by_external_id(
    fake: FakeSlack, receiver: Receiver, client: AsyncWebClient
) -> None:
    sent = await command(fake, receiver)
    await client.views_open(trigger_id=sent.trigger_id or "", view=modal(external_id="b-2"))
    updated = (
        await client.views_update(external_id="b-2", view=modal("Again", external_id="b-2"))
    )["view"]
    assert updated["title"]["text"] == "Again"
    twin = await command(fake, receiver)
    duplicate = client.views_open(trigger_id=twin.trigger_id or "", view=modal(external_id="b-2"))
    assert (await api_error(duplicate))["error"] == "duplicate_external_id"


async def test_views_publish(fake: FakeSlack, client: AsyncWebClient) -> None:
    first = (await client.views_publish(user_id=ALICE, view=home()))["view"]
    second = (await client.views_publish(user_id=ALICE, view=home("Again"), hash=first["hash"]))[
        "view"
    ]
    assert second["id"] == first["id"]
    [shown] = fake.views(ALICE)
    assert (shown["type"], shown["blocks"][0]["text"]["text"]) == ("home", "Again")
    stale = client.views_publish(user_id=ALICE, view=home(), hash=first["hash"])
    assert (await api_error(stale))["error"] == "hash_conflict"
    assert (await api_error(client.views_publish(user_id="U0NOBODY", view=home())))[
        "error"
    ] == "user_not_found"
    not_home = client.views_publish(user_id=ALICE, view=modal())
    assert (await api_error(not_home))["error"] == "invalid_arguments"


# -- response_urls ---------------------------------------------------------------------------


async def test_response_url_ephemeral_and_in_channel(fake: FakeSlack, receiver: Receiver) -> None:
    sent = await command(fake, receiver, user_id=ALICE)
    webhook = AsyncWebhookClient(sent.response_url or "")
    first = await webhook.send(text="just for you")
    assert (first.status_code, json.loads(first.body)) == (200, {"ok": True})
    await webhook.send(
        text="for everyone", blocks=[section("hello all")], response_type="in_channel"
    )
    assert [e["text"] for e in fake.ephemerals(CHANNEL, ALICE)] == ["just for you"]
    [message] = fake.messages(CHANNEL)
    assert (message["text"], message["user"]) == ("for everyone", fake.bot_user_id)
    assert [(r["user"], r["response_type"], r["text"]) for r in fake.responses] == [
        (ALICE, "ephemeral", "just for you"),
        (ALICE, "in_channel", "for everyone"),
    ]
    assert fake.responses[0]["response_url_id"] == fake.responses[1]["response_url_id"]


async def test_response_url_replaces_and_deletes_the_original(
    fake: FakeSlack, receiver: Receiver, client: AsyncWebClient
) -> None:
    posted = await client.chat_postMessage(channel=CHANNEL, text="Connect", blocks=BUTTON_BLOCKS)
    click = await fake.send_block_action(
        receiver.url,
        user_id=ALICE,
        channel_id=CHANNEL,
        action_id="connect_staff",
        message_ts=posted["ts"],
    )
    await AsyncWebhookClient(click.response_url or "").send(text="Connected", replace_original=True)
    [message] = fake.messages(CHANNEL)
    assert (message["ts"], message["text"], message["blocks"]) == (posted["ts"], "Connected", [])
    await AsyncWebhookClient(click.response_url or "").send(delete_original=True)
    assert fake.messages(CHANNEL) == []
    assert [r["delete_original"] for r in fake.responses] == [False, True]


async def test_response_url_on_an_ephemeral_message(fake: FakeSlack, receiver: Receiver) -> None:
    sent = await command(fake, receiver, user_id=ALICE)
    await AsyncWebhookClient(sent.response_url or "").send(text="Connect", blocks=BUTTON_BLOCKS)
    [ephemeral] = fake.ephemerals(CHANNEL, ALICE)
    click = await fake.send_block_action(
        receiver.url,
        user_id=ALICE,
        channel_id=CHANNEL,
        action_id="connect_staff",
        message_ts=ephemeral["ts"],
    )
    payload = receiver.received[-1].payload()
    assert payload["container"]["is_ephemeral"] is True
    assert "message" not in payload  # Slack does not send an ephemeral message back
    await AsyncWebhookClient(click.response_url or "").send(text="Done", replace_original=True)
    assert [e["text"] for e in fake.ephemerals(CHANNEL, ALICE)] == ["Done"]


async def test_response_url_limits(fake: FakeSlack, receiver: Receiver) -> None:
    sent = await command(fake, receiver)
    webhook = AsyncWebhookClient(sent.response_url or "")
    invalid = await webhook.send(text="x", blocks=[{"type": "hologram"}])
    assert (invalid.status_code, json.loads(invalid.body)["error"]) == (400, "invalid_blocks")
    assert json.loads((await webhook.send(text="")).body)["error"] == "no_text"
    for n in range(5):
        assert (await webhook.send(text=f"reply {n}")).status_code == 200
    sixth = await webhook.send(text="one too many")
    assert (sixth.status_code, json.loads(sixth.body)["error"]) == (404, "used_url")
    assert len(fake.responses) == 5
    unknown = await AsyncWebhookClient(fake.base_url + "/response/nope").send(text="x")
    assert unknown.status_code == 404


async def test_response_url_expires(fake: FakeSlack, receiver: Receiver) -> None:
    fake.response_url_ttl = 0.2
    sent = await command(fake, receiver)
    issued = time.monotonic()
    await wait_until(lambda: time.monotonic() - issued > 0.2)
    late = await AsyncWebhookClient(sent.response_url or "").send(text="too late")
    assert (late.status_code, json.loads(late.body)["error"]) == (404, "expired_url")
    assert fake.ephemerals() == []


# -- sending requests to the bot -------------------------------------------------------------


def test_sign_matches_the_sdk_verifier() -> None:
    headers = sign(SECRET, "a=b", timestamp=int(time.time()))
    verifier = SignatureVerifier(SECRET)
    assert verifier.is_valid(
        "a=b", headers["X-Slack-Request-Timestamp"], headers["X-Slack-Signature"]
    )
    assert not verifier.is_valid(
        "a=c", headers["X-Slack-Request-Timestamp"], headers["X-Slack-Signature"]
    )


def test_mention(fake: FakeSlack) -> None:
    assert fake.mention(ALICE) == "<@U0ALICE|alice>"


async def test_slash_command(fake: FakeSlack, receiver: Receiver) -> None:
    receiver.answer = "ok"
    text = f"availability {fake.mention(ALICE)} tomorrow"
    sent = await fake.send_slash_command(receiver.url, user_id=OWNER, channel_id=CHANNEL, text=text)
    assert (sent.status, sent.body) == (200, "ok")
    [request] = receiver.received
    assert request.signed
    assert request.headers["Content-Type"] == "application/x-www-form-urlencoded"
    assert "X-Slack-Retry-Num" not in request.headers
    form = request.form()
    assert form == sent.payload
    assert form["command"] == "/tonomo" and form["text"] == text
    assert (form["user_id"], form["user_name"], form["channel_id"]) == (OWNER, "olivia", CHANNEL)
    assert (form["team_id"], form["channel_name"]) == ("T0TEST", "acme-onboarding")
    assert form["response_url"] == sent.response_url
    assert sent.response_url and sent.response_url.startswith(fake.base_url + "/response/")
    assert form["trigger_id"] == sent.trigger_id
    await fake.send_slash_command(
        receiver.url, user_id=OWNER, channel_id=CHANNEL, text="", retry_num=1
    )
    assert receiver.received[-1].headers["X-Slack-Retry-Num"] == "1"


async def test_block_action_on_a_message(
    fake: FakeSlack, receiver: Receiver, client: AsyncWebClient
) -> None:
    posted = await client.chat_postMessage(channel=CHANNEL, text="Connect", blocks=BUTTON_BLOCKS)
    sent = await fake.send_block_action(
        receiver.url,
        user_id=ALICE,
        channel_id=CHANNEL,
        action_id="connect_staff",
        message_ts=posted["ts"],
    )
    payload = receiver.received[-1].payload()
    assert receiver.received[-1].signed and payload == sent.payload
    assert payload["type"] == "block_actions"
    assert payload["user"]["id"] == ALICE and payload["team"]["id"] == "T0TEST"
    assert payload["channel"] == {"id": CHANNEL, "name": "acme-onboarding"}
    assert payload["container"] == {
        "type": "message",
        "message_ts": posted["ts"],
        "channel_id": CHANNEL,
        "is_ephemeral": False,
    }
    assert payload["message"]["ts"] == posted["ts"]
    [action] = payload["actions"]
    assert (action["action_id"], action["block_id"], action["value"], action["type"]) == (
        "connect_staff",
        "connect",
        "staff",
        "button",
    )
    assert payload["response_url"] == sent.response_url and payload["trigger_id"] == sent.trigger_id
    with pytest.raises(ValueError, match="no element"):
        await fake.send_block_action(
            receiver.url,
            user_id=ALICE,
            channel_id=CHANNEL,
            action_id="nope",
            message_ts=posted["ts"],
        )


async def test_block_action_in_a_modal(
    fake: FakeSlack, receiver: Receiver, client: AsyncWebClient
) -> None:
    view_id = await open_modal(fake, receiver, client)
    sent = await fake.send_block_action(
        receiver.url,
        user_id=OWNER,
        channel_id=None,
        action_id="staff",
        view_id=view_id,
        selected={"selected_user": ALICE},
    )
    payload = receiver.received[-1].payload()
    assert payload["container"] == {"type": "view", "view_id": view_id}
    assert payload["view"]["id"] == view_id
    assert "response_url" not in payload and sent.response_url is None
    [action] = payload["actions"]
    assert (action["type"], action["block_id"], action["selected_user"]) == (
        "users_select",
        "who",
        ALICE,
    )


async def test_block_action_in_a_home_tab(
    fake: FakeSlack, receiver: Receiver, client: AsyncWebClient
) -> None:
    tab = home()
    tab["blocks"].append(
        {
            "type": "actions",
            "block_id": "fix",
            "elements": [
                {
                    "type": "button",
                    "action_id": "reconnect",
                    "text": {"type": "plain_text", "text": "Reconnect"},
                    "value": "7",
                }
            ],
        }
    )
    assert "view" not in fake.app_home_opened(ALICE), "no view before the first publish"
    view = (await client.views_publish(user_id=ALICE, view=tab))["view"]
    opened = fake.app_home_opened(ALICE)
    assert (opened["type"], opened["user"], opened["tab"]) == ("app_home_opened", ALICE, "home")
    assert opened["view"]["id"] == view["id"] and opened["channel"].startswith("D")
    assert "view" not in fake.app_home_opened(ALICE, tab="messages")

    sent = await fake.send_block_action(
        receiver.url, user_id=ALICE, channel_id=None, action_id="reconnect", view_id=view["id"]
    )
    payload = receiver.received[-1].payload()
    assert payload["container"] == {"type": "view", "view_id": view["id"]}
    assert (payload["view"]["id"], payload["view"]["type"]) == (view["id"], "home")
    assert "channel" not in payload and "response_url" not in payload
    assert sent.response_url is None and payload["trigger_id"]
    [action] = payload["actions"]
    assert (action["action_id"], action["block_id"], action["value"]) == ("reconnect", "fix", "7")
    with pytest.raises(ValueError, match="no open view"):  # only Alice sees her Home tab
        await fake.send_block_action(
            receiver.url, user_id=OWNER, channel_id=None, action_id="reconnect", view_id=view["id"]
        )


async def test_view_submission_closes_the_modal(
    fake: FakeSlack, receiver: Receiver, client: AsyncWebClient
) -> None:
    view_id = await open_modal(fake, receiver, client)
    values = {"when": {"day": {"type": "plain_text_input", "value": "tomorrow"}}}
    sent = await fake.send_view_submission(
        receiver.url, user_id=OWNER, view_id=view_id, values=values
    )
    payload = receiver.received[-1].payload()
    assert payload["type"] == "view_submission" and payload == sent.payload
    assert (payload["view"]["id"], payload["view"]["callback_id"]) == (view_id, "book")
    assert payload["view"]["state"] == {"values": values}
    assert payload["trigger_id"] and payload["response_urls"] == []
    assert fake.views(OWNER) == []
    with pytest.raises(ValueError, match="no open modal"):
        await fake.send_view_submission(receiver.url, user_id=OWNER, view_id=view_id, values={})


@pytest.mark.parametrize(
    ("answer", "title"),
    [
        ({"response_action": "errors", "errors": {"when": "Pick a weekday"}}, "Book a shoot"),
        ({"response_action": "update", "view": modal("Booked")}, "Booked"),
    ],
)
async def test_view_submission_answers(
    fake: FakeSlack, receiver: Receiver, client: AsyncWebClient, answer: dict[str, Any], title: str
) -> None:
    view_id = await open_modal(fake, receiver, client)
    receiver.answer, receiver.content_type = json.dumps(answer), "application/json"
    await fake.send_view_submission(receiver.url, user_id=OWNER, view_id=view_id, values={})
    [view] = fake.views(OWNER)
    assert (view["id"], view["title"]["text"]) == (view_id, title)


async def test_view_submission_clear_closes_every_modal(
    fake: FakeSlack, receiver: Receiver, client: AsyncWebClient
) -> None:
    view_id = await open_modal(fake, receiver, client)
    await open_modal(fake, receiver, client)
    receiver.answer, receiver.content_type = '{"response_action": "clear"}', "application/json"
    await fake.send_view_submission(receiver.url, user_id=OWNER, view_id=view_id, values={})
    assert fake.views(OWNER) == []


async def test_events(fake: FakeSlack, receiver: Receiver) -> None:
    event = {"type": "member_joined_channel", "user": fake.bot_user_id, "channel": CHANNEL}
    first = await fake.send_event(receiver.url, event)
    request = receiver.received[-1]
    assert request.signed and request.headers["Content-Type"] == "application/json"
    envelope = json.loads(request.body)
    assert envelope == first.payload
    assert (envelope["type"], envelope["team_id"]) == ("event_callback", "T0TEST")
    assert envelope["event"]["type"] == "member_joined_channel" and envelope["event"]["event_ts"]
    assert envelope["authorizations"][0]["user_id"] == fake.bot_user_id
    retry = await fake.send_event(receiver.url, event, retry_num=1, retry_reason="http_error")
    assert retry.payload["event_id"] == envelope["event_id"]
    headers = receiver.received[-1].headers
    assert (headers["X-Slack-Retry-Num"], headers["X-Slack-Retry-Reason"]) == ("1", "http_error")
    fresh = await fake.send_event(receiver.url, event)
    assert fresh.payload["event_id"] != envelope["event_id"]


async def test_a_bot_that_is_slow_to_acknowledge(fake: FakeSlack) -> None:
    async def slow(request: web.Request) -> web.Response:
        await asyncio.sleep(1)
        return web.Response()

    app = web.Application()
    app.router.add_post("/slack/events", slow)
    runner, url = await serve(app)
    fake.ack_timeout = 0.1
    with pytest.raises(TimeoutError):
        await fake.send_slash_command(url, user_id=OWNER, channel_id=CHANNEL, text="")
    await runner.cleanup()


# -- the real Bolt against the emulator ------------------------------------------------------


@pytest.fixture
async def bolt(fake: FakeSlack) -> AsyncIterator[tuple[AsyncApp, str]]:
    app = AsyncApp(signing_secret=SECRET, client=AsyncWebClient(token=TOKEN, base_url=fake.api_url))
    runner, url = await serve(app.web_app())
    yield app, url
    await runner.cleanup()


async def test_bolt_round_trip(fake: FakeSlack, bolt: tuple[AsyncApp, str]) -> None:
    app, url = bolt

    @app.command("/tonomo")
    async def on_command(
        ack: AsyncAck, body: dict[str, Any], respond: AsyncRespond, client: AsyncWebClient
    ) -> None:
        await ack()
        await respond(text=f"you said {body['text']}", blocks=BUTTON_BLOCKS)
        await client.views_open(trigger_id=body["trigger_id"], view=modal())

    @app.action("connect_staff")
    async def on_click(ack: AsyncAck, respond: AsyncRespond) -> None:
        await ack()
        await respond(text="Link sent", replace_original=True)

    @app.view("book")
    async def on_submit(ack: AsyncAck) -> None:
        await ack(response_action="errors", errors={"when": "Pick a weekday"})

    @app.event("member_joined_channel")
    async def on_join(say: AsyncSay) -> None:
        await say("Hello, channel")

    sent = await fake.send_slash_command(url, user_id=ALICE, channel_id=CHANNEL, text="hi")
    assert sent.status == 200
    [ephemeral] = await wait_until(lambda: fake.ephemerals(CHANNEL, ALICE))
    assert ephemeral["text"] == "you said hi"
    [view] = await wait_until(lambda: fake.views(ALICE))
    click = await fake.send_block_action(
        url,
        user_id=ALICE,
        channel_id=CHANNEL,
        action_id="connect_staff",
        message_ts=ephemeral["ts"],
    )
    assert click.status == 200
    await wait_until(lambda: [e["text"] for e in fake.ephemerals()] == ["Link sent"])
    submitted = await fake.send_view_submission(url, user_id=ALICE, view_id=view["id"], values={})
    assert submitted.json() == {"response_action": "errors", "errors": {"when": "Pick a weekday"}}
    assert fake.views(ALICE)
    event = {"type": "member_joined_channel", "user": ALICE, "channel": CHANNEL}
    assert (await fake.send_event(url, event)).status == 200
    await wait_until(lambda: [m["text"] for m in fake.messages(CHANNEL)] == ["Hello, channel"])


async def test_bolt_rejects_a_wrong_signature(bolt: tuple[AsyncApp, str]) -> None:
    _, url = bolt
    impostor = FakeSlack(signing_secret="not-the-secret")
    await impostor.start()
    sent = await impostor.send_slash_command(url, user_id=OWNER, channel_id=CHANNEL, text="")
    await impostor.stop()
    assert sent.status == 401


async def test_bolt_answers_url_verification(fake: FakeSlack, bolt: tuple[AsyncApp, str]) -> None:
    _, url = bolt
    sent = await fake.send_url_verification(url, challenge="c-123")
    assert (sent.status, sent.json()) == (200, {"challenge": "c-123"})


# -- Slack Connect and guests ---------------------------------------------------------------

CUSTOMER_TEAM = "T0CUST"
CUSTOMER = "U0CUSTOMER"
PHOTOGRAPHER = "U0PHOTO"
GUEST = "U0GUEST"
SINGLE = "U0SINGLE"
SHARED = "C0SHARED"


def connect(fake: FakeSlack) -> None:
    """A customer's organisation, and a channel of the installing workspace shared with it."""
    fake.add_team(CUSTOMER_TEAM, name="Acme Photo", domain="acme-photo")
    fake.add_user(CUSTOMER, name="carla", real_name="Carla Customer", team_id=CUSTOMER_TEAM)
    fake.add_user(PHOTOGRAPHER, name="pete", team_id=CUSTOMER_TEAM)
    fake.add_user(GUEST, name="gina", guest="multi")
    fake.add_user(SINGLE, name="sam", guest="single")
    fake.add_channel(
        SHARED,
        name="acme-photo-onboarding",
        members=[OWNER, CUSTOMER, GUEST],
        shared_with=[CUSTOMER_TEAM],
    )


async def test_people_of_another_organisation_and_guests(
    fake: FakeSlack, client: AsyncWebClient
) -> None:
    connect(fake)
    customer = (await client.users_info(user=CUSTOMER))["user"]
    assert (customer["team_id"], customer["profile"]["team"]) == (CUSTOMER_TEAM, CUSTOMER_TEAM)
    assert (customer["is_restricted"], customer["is_ultra_restricted"]) == (False, False)
    assert "is_stranger" not in customer  # they share a channel with the app
    stranger = (await client.users_info(user=PHOTOGRAPHER))["user"]
    assert stranger["team_id"] == CUSTOMER_TEAM and stranger["is_stranger"] is True
    guest = (await client.users_info(user=GUEST))["user"]
    assert (guest["team_id"], guest["is_restricted"], guest["is_ultra_restricted"]) == (
        "T0TEST",
        True,
        False,
    )
    single = (await client.users_info(user=SINGLE))["user"]
    assert (single["is_restricted"], single["is_ultra_restricted"]) == (True, True)
    owner = (await client.users_info(user=OWNER))["user"]
    assert (owner["team_id"], owner["is_restricted"]) == ("T0TEST", False)
    assert [fake.is_external(u) for u in (CUSTOMER, PHOTOGRAPHER, GUEST, OWNER)] == [
        True,
        True,
        False,
        False,
    ]
    assert (await client.auth_test())["team"] == "Sandbox"
    with pytest.raises(ValueError, match="add_team"):
        fake.add_user("U0NEW", name="nobody", team_id="T0UNKNOWN")
    with pytest.raises(ValueError, match="guest"):
        fake.add_user("U0NEW", name="nobody", guest="triple")


async def test_a_shared_channel(fake: FakeSlack, client: AsyncWebClient) -> None:
    connect(fake)
    shared = (await client.conversations_info(channel=SHARED))["channel"]
    assert (shared["is_shared"], shared["is_ext_shared"], shared["is_org_shared"]) == (
        True,
        True,
        False,
    )
    assert (shared["context_team_id"], shared["conversation_host_id"]) == ("T0TEST", "T0TEST")
    assert shared["connected_team_ids"] == ["T0TEST", CUSTOMER_TEAM]
    assert shared["shared_team_ids"] == ["T0TEST"]
    own = (await client.conversations_info(channel=CHANNEL))["channel"]
    assert (own["is_shared"], own["is_ext_shared"], own["connected_team_ids"]) == (
        False,
        False,
        [],
    )
    members = (await client.conversations_members(channel=SHARED))["members"]
    assert members == [OWNER, CUSTOMER, GUEST, fake.bot_user_id]  # every team's people


def test_people_of_another_organisation_join_only_shared_channels(fake: FakeSlack) -> None:
    connect(fake)
    with pytest.raises(ValueError, match="not shared"):
        fake.add_channel("C0OWN", name="own", members=[OWNER, CUSTOMER])
    with pytest.raises(ValueError, match="not shared"):
        fake.add_member(CHANNEL, CUSTOMER)
    with pytest.raises(ValueError, match="add_team"):
        fake.add_channel("C0X", name="x", members=[OWNER], shared_with=["T0UNKNOWN"])
    fake.add_member(SHARED, PHOTOGRAPHER)
    fake.add_member(CHANNEL, GUEST)  # a guest belongs to the installing workspace


async def test_no_slash_command_for_another_organisation(
    fake: FakeSlack, receiver: Receiver
) -> None:
    connect(fake)
    with pytest.raises(SlashCommandUnavailable) as caught:
        await fake.send_slash_command(
            receiver.url, user_id=CUSTOMER, channel_id=SHARED, text="availability"
        )
    assert isinstance(caught.value, ValueError)
    assert caught.value.message.startswith("/tonomo isn't available to you")
    assert "another organization's workspace" in caught.value.message
    assert receiver.received == []
    sent = await fake.send_slash_command(receiver.url, user_id=GUEST, channel_id=SHARED, text="")
    assert sent.payload["user_id"] == GUEST


def test_rich_text_blocks() -> None:
    [block] = rich_text_blocks(
        "<@U0BOT> book <#C0X|general> &lt;now&gt; <https://x.test|x> <!here>"
    )
    assert block["type"] == "rich_text" and block["block_id"]
    [section] = block["elements"]
    assert section["type"] == "rich_text_section"
    assert section["elements"] == [
        {"type": "user", "user_id": "U0BOT"},
        {"type": "text", "text": " book "},
        {"type": "channel", "channel_id": "C0X"},
        {"type": "text", "text": " <now> "},
        {"type": "link", "url": "https://x.test", "text": "x"},
        {"type": "text", "text": " "},
        {"type": "broadcast", "range": "here"},
    ]


async def test_a_mention_from_another_organisation(fake: FakeSlack, receiver: Receiver) -> None:
    connect(fake)
    text = f"<@{fake.bot_user_id}> availability tomorrow"
    message, sent = await fake.send_message(
        receiver.url, user_id=CUSTOMER, channel_id=SHARED, text=text
    )
    assert sent is not None and sent.status == 200
    [request] = receiver.received
    assert request.signed and request.headers["Content-Type"] == "application/json"
    envelope = json.loads(request.body)
    assert envelope == sent.payload
    assert (envelope["type"], envelope["team_id"], envelope["is_ext_shared_channel"]) == (
        "event_callback",
        "T0TEST",
        True,
    )
    assert envelope["event_id"].startswith("Ev")
    [authorization] = envelope["authorizations"]
    assert (authorization["team_id"], authorization["user_id"]) == ("T0TEST", fake.bot_user_id)
    event = envelope["event"]
    assert (event["type"], event["user"], event["text"], event["channel"]) == (
        "app_mention",
        CUSTOMER,
        text,
        SHARED,
    )
    assert event["ts"] == event["event_ts"] == message["ts"]
    assert (event["team"], event["user_team"], event["source_team"]) == (
        "T0TEST",
        CUSTOMER_TEAM,
        CUSTOMER_TEAM,
    )
    assert event["user_profile"]["team"] == CUSTOMER_TEAM
    assert "thread_ts" not in event
    assert event["blocks"][0]["elements"][0]["elements"] == [
        {"type": "user", "user_id": fake.bot_user_id},
        {"type": "text", "text": " availability tomorrow"},
    ]
    [posted] = fake.messages(SHARED)
    assert (posted["user"], posted["team"], posted["text"]) == (CUSTOMER, CUSTOMER_TEAM, text)
    assert posted == message

    retry = await fake.redeliver(receiver.url, sent, retry_num=1, retry_reason="http_timeout")
    assert retry.payload["event_id"] == envelope["event_id"]
    assert receiver.received[-1].body == request.body and receiver.received[-1].signed
    headers = receiver.received[-1].headers
    assert (headers["X-Slack-Retry-Num"], headers["X-Slack-Retry-Reason"]) == ("1", "http_timeout")
    _, again = await fake.send_message(receiver.url, user_id=CUSTOMER, channel_id=SHARED, text=text)
    assert again is not None and again.payload["event_id"] != envelope["event_id"]


async def test_a_mention_in_a_thread(fake: FakeSlack, receiver: Receiver) -> None:
    parent, none = await fake.send_message(
        receiver.url, user_id=OWNER, channel_id=CHANNEL, text="Shoot on Friday?"
    )
    assert none is None and receiver.received == []  # no mention, nothing delivered
    reply, sent = await fake.send_message(
        receiver.url,
        user_id=ALICE,
        channel_id=CHANNEL,
        text=f"<@{fake.bot_user_id}|tonomo> status",
        thread_ts=parent["ts"],
    )
    assert sent is not None
    event = sent.payload["event"]
    assert (event["thread_ts"], event["team"], event["user"]) == (parent["ts"], "T0TEST", ALICE)
    assert "user_team" not in event and "source_team" not in event
    assert sent.payload["is_ext_shared_channel"] is False
    assert fake.replies(CHANNEL, parent["ts"]) == [reply]
    top = fake.messages(CHANNEL)[0]
    assert (top["ts"], top["thread_ts"], top["reply_count"], top["reply_users"]) == (
        parent["ts"],
        parent["ts"],
        1,
        [ALICE],
    )
    with pytest.raises(ValueError, match="reply to"):
        await fake.send_message(
            receiver.url, user_id=ALICE, channel_id=CHANNEL, text="x", thread_ts="1.000001"
        )


async def test_messages_only_from_members(fake: FakeSlack, receiver: Receiver) -> None:
    connect(fake)
    with pytest.raises(ValueError, match="not a member"):
        await fake.send_message(receiver.url, user_id=OUTSIDER, channel_id=CHANNEL, text="hi")
    fake.remove_bot_from_channel(PUBLIC)
    _, sent = await fake.send_message(
        receiver.url, user_id=OWNER, channel_id=PUBLIC, text=f"<@{fake.bot_user_id}> hi"
    )
    assert sent is None and receiver.received == []  # the app is not in the channel
    assert fake.messages(SHARED) == []


async def test_ephemeral_in_a_thread_for_another_organisation(
    fake: FakeSlack, client: AsyncWebClient
) -> None:
    connect(fake)
    parent = (await client.chat_postMessage(channel=SHARED, text="Checklist"))["ts"]
    await client.chat_postEphemeral(
        channel=SHARED, user=CUSTOMER, text="Only you", thread_ts=parent
    )
    [ephemeral] = fake.ephemerals(SHARED, CUSTOMER)
    assert (ephemeral["text"], ephemeral["thread_ts"]) == ("Only you", parent)
    fake.add_channel("C0OTHER", name="other", members=[OWNER], shared_with=[CUSTOMER_TEAM])
    absent = client.chat_postEphemeral(channel="C0OTHER", user=CUSTOMER, text="x")
    assert (await api_error(absent))["error"] == "user_not_in_channel"


async def test_interactions_of_another_organisation(
    fake: FakeSlack, receiver: Receiver, client: AsyncWebClient
) -> None:
    connect(fake)
    posted = await client.chat_postMessage(channel=SHARED, text="Connect", blocks=BUTTON_BLOCKS)
    click = await fake.send_block_action(
        receiver.url,
        user_id=CUSTOMER,
        channel_id=SHARED,
        action_id="connect_staff",
        message_ts=posted["ts"],
    )
    payload = receiver.received[-1].payload()
    assert (payload["user"]["team_id"], payload["team"]["id"]) == (CUSTOMER_TEAM, "T0TEST")

    view = (
        await client.views_open(trigger_id=click.trigger_id or "", view=modal(notify_on_close=True))
    )["view"]
    assert (view["team_id"], view["app_installed_team_id"]) == (CUSTOMER_TEAM, "T0TEST")
    await fake.send_block_action(
        receiver.url, user_id=CUSTOMER, channel_id=None, action_id="staff", view_id=view["id"]
    )
    in_modal = receiver.received[-1].payload()
    assert (in_modal["user"]["team_id"], in_modal["team"]["id"]) == (CUSTOMER_TEAM, CUSTOMER_TEAM)
    assert (in_modal["view"]["team_id"], in_modal["view"]["app_installed_team_id"]) == (
        CUSTOMER_TEAM,
        "T0TEST",
    )
    update = {"response_action": "update", "view": modal("Step 2", notify_on_close=True)}
    receiver.answer, receiver.content_type = json.dumps(update), "application/json"
    await fake.send_view_submission(receiver.url, user_id=CUSTOMER, view_id=view["id"], values={})
    submitted = receiver.received[-1].payload()
    assert (submitted["user"]["team_id"], submitted["team"]["id"]) == (
        CUSTOMER_TEAM,
        CUSTOMER_TEAM,
    )
    assert submitted["view"]["app_installed_team_id"] == "T0TEST"
    assert submitted["view"]["team_id"] == CUSTOMER_TEAM
    [updated] = fake.views(CUSTOMER)
    assert (updated["team_id"], updated["app_installed_team_id"]) == (CUSTOMER_TEAM, "T0TEST")
    receiver.answer = ""
    await fake.close_view(receiver.url, user_id=CUSTOMER, view_id=view["id"])
    closed = receiver.received[-1].payload()
    assert (closed["type"], closed["view"]["app_installed_team_id"]) == ("view_closed", "T0TEST")
    # The installing workspace's own people see their own team everywhere.
    own = await fake.send_block_action(
        receiver.url,
        user_id=OWNER,
        channel_id=SHARED,
        action_id="connect_staff",
        message_ts=posted["ts"],
    )
    assert (own.payload["user"]["team_id"], own.payload["team"]["id"]) == ("T0TEST", "T0TEST")


async def test_no_app_home_for_another_organisation(
    fake: FakeSlack, client: AsyncWebClient
) -> None:
    connect(fake)
    with pytest.raises(ValueError, match="App Home"):
        fake.app_home_opened(CUSTOMER)
    refused = client.views_publish(user_id=CUSTOMER, view=home())
    assert (await api_error(refused))["error"] == "access_denied"
    assert fake.views(CUSTOMER) == []
    assert fake.app_home_opened(GUEST)["user"] == GUEST


async def test_bolt_answers_a_mention_from_another_organisation(
    fake: FakeSlack, bolt: tuple[AsyncApp, str]
) -> None:
    app, url = bolt
    connect(fake)
    seen: list[tuple[str | None, str | None]] = []

    @app.event("app_mention")
    async def on_mention(
        event: dict[str, Any], context: AsyncBoltContext, client: AsyncWebClient
    ) -> None:
        seen.append((context.team_id, context.actor_team_id))
        await client.chat_postEphemeral(
            channel=event["channel"],
            user=event["user"],
            text="Free tomorrow",
            thread_ts=event.get("thread_ts") or event["ts"],
        )

    message, sent = await fake.send_message(
        url, user_id=CUSTOMER, channel_id=SHARED, text=f"<@{fake.bot_user_id}> availability"
    )
    assert sent is not None and sent.status == 200
    [ephemeral] = await wait_until(lambda: fake.ephemerals(SHARED, CUSTOMER))
    assert (ephemeral["text"], ephemeral["thread_ts"]) == ("Free tomorrow", message["ts"])
    assert seen == [("T0TEST", CUSTOMER_TEAM)]


# -- running alone ---------------------------------------------------------------------------


async def test_runs_as_a_module() -> None:
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "sandbox.fake_slack",
        "--port",
        "0",
        cwd=ROOT,
        stdout=asyncio.subprocess.PIPE,
        env={**os.environ, "SLACK_BOT_TOKEN": TOKEN},
    )
    try:
        assert process.stdout is not None
        line = (await asyncio.wait_for(process.stdout.readline(), timeout=10)).decode()
        base_url = line.split(" on ", 1)[1].split()[0]
        response = await AsyncWebClient(token=TOKEN, base_url=base_url + "/api/").auth_test()
        assert response["ok"] is True
    finally:
        process.send_signal(signal.SIGINT)
        returncode = await asyncio.wait_for(process.wait(), timeout=10)
    assert returncode == 0


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM])
async def test_it_stops_on_sigint_and_sigterm_even_started_with_sigint_ignored(
    signum: signal.Signals,
) -> None:
    process, line = await start_emulator("sandbox.fake_slack", "--port", "0", sigint_ignored=True)
    assert line.startswith("Fake Slack listening on http://127.0.0.1:")
    assert await stops_on(process, signum) == 0


async def test_a_busy_port_is_one_line_and_exit_code_1() -> None:
    await refuses_a_busy_port("sandbox.fake_slack")
