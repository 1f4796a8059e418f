"""A faithful emulator of the parts of Slack that the bot uses.

`FakeSlack` is a real aiohttp server. It answers Slack's Web API under `/api/` in Slack's own
wire format, so the real `slack_sdk` and `slack_bolt` run against it with only the base URL
changed: HTTP 200 with `{"ok": false, "error": ...}` for API errors, HTTP 429 with Retry-After
and `{"ok": false, "error": "ratelimited"}` when rate limited
(https://api.slack.com/apis/rate-limits).

It also plays Slack's other role: it sends signed slash commands, interactions and Events API
callbacks to the bot, exactly as Slack does, and serves the `response_url`s and `trigger_id`s it
hands out with them. What the bot did is readable as a person in Slack would see it:
`messages()`, `ephemerals()`, `views()` and `responses`.

Every request is recorded and faults apply through `sandbox.faults`.

Run it alone with `python -m sandbox.fake_slack --port 3001`.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import binascii
import copy
import hashlib
import hmac
import json
import os
import re
import secrets
import string
import sys
import time
import uuid
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from urllib.parse import urlencode
from zoneinfo import ZoneInfo

from aiohttp import ClientSession, ClientTimeout, web
from slack_sdk.errors import SlackObjectFormationError
from slack_sdk.models.blocks import Block, BlockElement

from sandbox.faults import Emulator, Fault

# The sandbox's well-known credentials: they guard nothing real.
DEFAULT_BOT_TOKEN = "xoxb-sandbox-token"  # noqa: S105
DEFAULT_SIGNING_SECRET = "sandbox-signing-secret"  # noqa: S105
DEFAULT_TEAM_ID = "T0SANDBOX"
"""The installing workspace, unless told otherwise."""
APP_ID = "A0SANDBOX"
BOT_ID = "B0SANDBOX"
BOT_NAME = "tonomo"
# The deprecated verification token Slack still puts in every payload.
VERIFICATION_TOKEN = "sandbox-verification-token"  # noqa: S105
USER_AGENT = "Slackbot 1.0 (+https://api.slack.com/robots)"
FORM = "application/x-www-form-urlencoded"

# Block Kit limits: https://api.slack.com/reference/block-kit/blocks (50 blocks in a message,
# 100 in a modal or Home tab) and https://api.slack.com/reference/surfaces/views (title, submit
# and close at most 24 characters, private_metadata 3000, callback_id and external_id 255).
MESSAGE_BLOCK_LIMIT = 50
VIEW_BLOCK_LIMIT = 100
VIEW_TEXT_LIMIT = 24
PRIVATE_METADATA_LIMIT = 3000
VIEW_ID_LIMIT = 255
# chat.postMessage truncates past 40,000 characters; beyond that it answers msg_too_long
# (https://api.slack.com/methods/chat.postMessage#truncating).
MESSAGE_TEXT_LIMIT = 40_000
# A response_url takes up to 5 posts within 30 minutes
# (https://api.slack.com/interactivity/handling#message_responses).
RESPONSE_URL_USES = 5
MEMBERS_PAGE_LIMIT = 1000
# The methods that change what people see (counted in `FakeSlack.changes`).
CHANGING_METHODS = frozenset(
    {
        "chat.postMessage",
        "chat.postEphemeral",
        "chat.update",
        "chat.delete",
        "views.open",
        "views.update",
        "views.publish",
    }
)

# Long names Slack gives in users.info `tz_label`, by the zone's abbreviation.
TZ_LABELS = {
    "EST": "Eastern Standard Time",
    "EDT": "Eastern Daylight Time",
    "CST": "Central Standard Time",
    "CDT": "Central Daylight Time",
    "MST": "Mountain Standard Time",
    "MDT": "Mountain Daylight Time",
    "PST": "Pacific Standard Time",
    "PDT": "Pacific Daylight Time",
    "AKST": "Alaska Standard Time",
    "AKDT": "Alaska Daylight Time",
    "HST": "Hawaii-Aleutian Standard Time",
    "GMT": "Greenwich Mean Time",
    "UTC": "Coordinated Universal Time",
    "BST": "British Summer Time",
    "WET": "Western European Time",
    "WEST": "Western European Summer Time",
    "CET": "Central European Time",
    "CEST": "Central European Summer Time",
    "EET": "Eastern European Time",
    "EEST": "Eastern European Summer Time",
    "IST": "India Standard Time",
    "JST": "Japan Standard Time",
    "AEST": "Australian Eastern Standard Time",
    "AEDT": "Australian Eastern Daylight Time",
}

# Where a block keeps its interactive elements.
_ELEMENT_FIELDS = {
    "actions": "elements",
    "context": "elements",
    "section": "accessory",
    "input": "element",
}

JsonDict = dict[str, Any]
ApiMethod = Callable[[JsonDict], JsonDict]


def sign(signing_secret: str, body: str, timestamp: int | None = None) -> dict[str, str]:
    """Slack's request signature headers for `body`.

    https://api.slack.com/authentication/verifying-requests-from-slack
    """
    ts = str(int(time.time()) if timestamp is None else timestamp)
    basestring = f"v0:{ts}:{body}".encode()
    digest = hmac.new(signing_secret.encode(), basestring, hashlib.sha256).hexdigest()
    return {"X-Slack-Request-Timestamp": ts, "X-Slack-Signature": f"v0={digest}"}


@dataclass
class SentRequest:
    """A request the emulator sent to the bot, and the bot's answer."""

    status: int
    body: str
    headers: dict[str, str]
    response_url: str | None = None
    trigger_id: str | None = None
    payload: JsonDict = field(default_factory=dict)
    """What Slack sent: the form fields, the interaction payload or the event envelope."""
    request_body: str = ""
    content_type: str = ""

    def json(self) -> Any:
        return json.loads(self.body)


class SlashCommandUnavailable(ValueError):
    """Slack did not deliver a slash command: the person may not use it (e.g. someone of another
    organisation in a Slack Connect channel). `message` is what Slack shows them instead."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class _ApiError(Exception):
    """An answer `{"ok": false, "error": ...}`, with Slack's validation messages if any."""

    def __init__(self, error: str, messages: Sequence[str] = ()) -> None:
        super().__init__(error)
        self.error = error
        self.messages = list(messages)

    def body(self) -> JsonDict:
        body: JsonDict = {"ok": False, "error": self.error}
        if self.messages:
            # Shape of a real answer, e.g. in https://github.com/grafana/oncall/pull/5121:
            # chat.* list the bare messages in `errors` too; views.* only in response_metadata.
            if self.error == "invalid_blocks":
                body["errors"] = self.messages
            body["response_metadata"] = {"messages": [f"[ERROR] {m}" for m in self.messages]}
        return body


@dataclass
class _Team:
    id: str
    name: str
    domain: str


@dataclass
class _User:
    id: str
    name: str
    real_name: str
    tz: str
    is_bot: bool
    email: str | None
    team_id: str = ""
    guest: str | None = None


@dataclass
class _Channel:
    id: str
    name: str
    members: list[str]
    is_private: bool
    created: int
    is_archived: bool = False
    deleted: bool = False
    shared_with: list[str] = field(default_factory=list)


@dataclass
class _Trigger:
    user_id: str
    issued: float
    used: bool = False


@dataclass
class _ResponseUrl:
    id: str
    channel_id: str
    user_id: str
    issued: float
    original_ts: str | None = None
    uses: int = 0


@dataclass
class _View:
    user_id: str
    view: JsonDict
    open: bool = True


# ---------------------------------------------------------------------------------------------
# Block Kit validation, answered with Slack's messages and JSON pointers
# ---------------------------------------------------------------------------------------------


def block_errors(blocks: list[Any], *, pointer: str, limit: int) -> list[str]:
    """Slack's complaints about a blocks array (empty when it is valid)."""
    if len(blocks) > limit:
        return [f"no more than {limit} items allowed [json-pointer:{pointer}]"]
    return [
        error
        for index, block in enumerate(blocks)
        for error in _one_block_errors(block, f"{pointer}/{index}")
    ]


def _one_block_errors(block: Any, pointer: str) -> list[str]:
    if not isinstance(block, dict):
        return [f"must provide an object [json-pointer:{pointer}]"]
    schema_error = f"failed to match all allowed schemas [json-pointer:{pointer}]"
    try:
        parsed = Block.parse(block)
        if parsed is None:
            return [schema_error]
        parsed.validate_json()
    except SlackObjectFormationError as err:
        return [f"{err} [json-pointer:{pointer}]"]
    except (TypeError, ValueError, AttributeError):
        return [schema_error]
    return _element_errors(block, pointer) + list(_empty_texts(block, pointer))


def _element_errors(block: JsonDict, pointer: str) -> list[str]:
    key = _ELEMENT_FIELDS.get(block["type"])
    value = block.get(key) if key else None
    if value is None:
        return []
    elements = value if isinstance(value, list) else [value]
    where = f"{pointer}/{key}" + ("/{}" if isinstance(value, list) else "")
    return [
        f"failed to match all allowed schemas [json-pointer:{where.format(index)}]"
        for index, element in enumerate(elements)
        if not isinstance(element, dict) or BlockElement.parse(element) is None
    ]


def _empty_texts(value: Any, pointer: str) -> Iterator[str]:
    if isinstance(value, dict):
        if value.get("type") in ("plain_text", "mrkdwn") and value.get("text") == "":
            yield f"must be more than 0 characters [json-pointer:{pointer}/text]"
        for key, child in value.items():
            yield from _empty_texts(child, f"{pointer}/{key}")
    elif isinstance(value, list):
        for index, child in enumerate(value):
            yield from _empty_texts(child, f"{pointer}/{index}")


def view_errors(view: Any, *, kind: str) -> list[str]:
    """Slack's complaints about a view of type `kind` ("modal" or "home")."""
    if not isinstance(view, dict):
        return ["must provide an object [json-pointer:/view]"]
    if view.get("type") != kind:
        return [f"must be {kind} [json-pointer:/view/type]"]
    errors: list[str] = []
    if kind == "modal":
        errors += _view_text_errors(view, "title", required=True)
        errors += _view_text_errors(view, "submit")
        errors += _view_text_errors(view, "close")
    errors += _length_errors(view, "private_metadata", PRIVATE_METADATA_LIMIT)
    errors += _length_errors(view, "callback_id", VIEW_ID_LIMIT)
    errors += _length_errors(view, "external_id", VIEW_ID_LIMIT)
    blocks = view.get("blocks")
    if not isinstance(blocks, list):
        return [*errors, "missing required field: blocks [json-pointer:/view]"]
    errors += block_errors(blocks, pointer="/view/blocks", limit=VIEW_BLOCK_LIMIT)
    has_input = any(isinstance(b, dict) and b.get("type") == "input" for b in blocks)
    if kind == "modal" and has_input and view.get("submit") is None:
        errors.append("must provide submit when the view has input blocks [json-pointer:/view]")
    return errors


def _view_text_errors(view: JsonDict, name: str, *, required: bool = False) -> list[str]:
    value = view.get(name)
    if value is None:
        return [f"missing required field: {name} [json-pointer:/view]"] if required else []
    text = value.get("text") if isinstance(value, dict) else None
    if not isinstance(text, str) or value.get("type") != "plain_text":
        return [f"must be a plain_text object [json-pointer:/view/{name}]"]
    if not text:
        return [f"must be more than 0 characters [json-pointer:/view/{name}/text]"]
    if len(text) > VIEW_TEXT_LIMIT:
        return [
            f"must be less than {VIEW_TEXT_LIMIT + 1} characters [json-pointer:/view/{name}/text]"
        ]
    return []


def _length_errors(view: JsonDict, name: str, limit: int) -> list[str]:
    value = view.get(name)
    if value is None:
        return []
    if not isinstance(value, str):
        return [f"must be a string [json-pointer:/view/{name}]"]
    if len(value) > limit:
        return [f"must be less than {limit + 1} characters [json-pointer:/view/{name}]"]
    return []


# ---------------------------------------------------------------------------------------------
# Small helpers for arguments and ids
# ---------------------------------------------------------------------------------------------


def _new_id(prefix: str, length: int = 10) -> str:
    alphabet = string.ascii_uppercase + string.digits
    return prefix + "".join(secrets.choice(alphabet) for _ in range(length))


def _new_block_id() -> str:
    alphabet = string.ascii_letters + string.digits
    return "".join(secrets.choice(alphabet) for _ in range(5))


def _new_hash() -> str:
    return f"{int(time.time())}.{secrets.token_hex(4)}"


def _with_block_ids(blocks: list[JsonDict]) -> list[JsonDict]:
    """A copy of the blocks where every block has a block_id, as Slack stores them."""
    return [{**copy.deepcopy(b), "block_id": b.get("block_id") or _new_block_id()} for b in blocks]


def _without_none(values: JsonDict) -> JsonDict:
    return {key: value for key, value in copy.deepcopy(values).items() if value is not None}


def _str_or_none(value: Any) -> str | None:
    return str(value) if value not in (None, "") else None


def _json_value(value: Any, error: str) -> Any:
    if not isinstance(value, str):
        return value
    try:
        return json.loads(value)
    except ValueError:
        raise _ApiError(error) from None


def _blocks_value(value: Any) -> list[JsonDict]:
    """Blocks from an argument (a JSON string in forms, a list in JSON bodies), validated."""
    if value in (None, ""):
        return []
    blocks = _json_value(value, "invalid_blocks_format")
    if not isinstance(blocks, list):
        raise _ApiError("invalid_blocks_format")
    errors = block_errors(blocks, pointer="/blocks", limit=MESSAGE_BLOCK_LIMIT)
    if errors:
        raise _ApiError("invalid_blocks", errors)
    return blocks


def _limit(value: Any) -> int:
    if value in (None, ""):
        return 100
    try:
        return min(max(int(value), 1), MEMBERS_PAGE_LIMIT)
    except (TypeError, ValueError):
        raise _ApiError("invalid_limit") from None


def _encode_cursor(user_id: str) -> str:
    # Slack's cursors are base64 of "user:<next id>" (https://api.slack.com/docs/pagination).
    return base64.b64encode(f"user:{user_id}".encode()).decode()


def _cursor_start(members: list[str], cursor: Any) -> int:
    if cursor in (None, ""):
        return 0
    try:
        decoded = base64.b64decode(str(cursor), validate=True).decode()
    except (binascii.Error, UnicodeDecodeError):
        raise _ApiError("invalid_cursor") from None
    user_id = decoded.removeprefix("user:")
    if not decoded.startswith("user:") or user_id not in members:
        raise _ApiError("invalid_cursor")
    return members.index(user_id)


_ANGLE_TOKEN = re.compile(r"<([^<>]*)>")
_BROADCASTS = ("here", "channel", "everyone")


def _unescape(text: str) -> str:
    # Message text escapes only these three (https://api.slack.com/reference/surfaces/formatting#escaping).
    return text.replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&")


def _rich_text_element(token: str) -> JsonDict:
    """The rich_text element Slack builds for one `<...>` of a message's wire text."""
    target, _, label = token.partition("|")
    if target.startswith("@"):
        return {"type": "user", "user_id": target[1:]}
    if target.startswith("#"):
        return {"type": "channel", "channel_id": target[1:]}
    if target.startswith("!subteam^"):
        return {"type": "usergroup", "usergroup_id": target.removeprefix("!subteam^")}
    if target[1:] in _BROADCASTS and target.startswith("!"):
        return {"type": "broadcast", "range": target[1:]}
    link: JsonDict = {"type": "link", "url": _unescape(target)}
    if label:
        link["text"] = _unescape(label)
    return link


def rich_text_blocks(text: str) -> list[JsonDict]:
    """The `blocks` Slack gives a message a person typed: one rich_text block whose section
    holds `text` runs and a `user` element per mention, and so on
    (https://api.slack.com/reference/block-kit/blocks#rich_text)."""
    elements: list[JsonDict] = []
    position = 0
    for match in _ANGLE_TOKEN.finditer(text):
        if match.start() > position:
            elements.append({"type": "text", "text": _unescape(text[position : match.start()])})
        elements.append(_rich_text_element(match.group(1)))
        position = match.end()
    if position < len(text):
        elements.append({"type": "text", "text": _unescape(text[position:])})
    return [
        {
            "type": "rich_text",
            "block_id": _new_block_id(),
            "elements": [{"type": "rich_text_section", "elements": elements}],
        }
    ]


def _retry_headers(retry_num: int | None, retry_reason: str | None) -> dict[str, str]:
    # https://api.slack.com/apis/connections/events-api#retries
    if retry_num is None:
        return {}
    return {
        "X-Slack-Retry-Num": str(retry_num),
        "X-Slack-Retry-Reason": retry_reason or "http_timeout",
    }


def _find_element(blocks: list[JsonDict], action_id: str) -> tuple[str, JsonDict] | None:
    """The block_id and element whose action_id is `action_id`."""
    for block in blocks:
        key = _ELEMENT_FIELDS.get(block.get("type", ""))
        value = block.get(key) if key else None
        elements = value if isinstance(value, list) else [value]
        for element in elements:
            if isinstance(element, dict) and element.get("action_id") == action_id:
                return block["block_id"], element
    return None


def _response_action(sent: SentRequest) -> tuple[str | None, JsonDict]:
    """The `response_action` of a view_submission acknowledgement, and the whole answer."""
    if not sent.body.strip():
        return None, {}
    try:
        answer = sent.json()
    except ValueError:
        return None, {}
    if not isinstance(answer, dict):
        return None, {}
    return answer.get("response_action"), answer


def _bearer(request: web.Request) -> str | None:
    scheme, _, token = request.headers.get("Authorization", "").partition(" ")
    return token.strip() if scheme.lower() == "bearer" and token.strip() else None


async def _read_params(request: web.Request) -> JsonDict:
    """Arguments from the query, a form body or a JSON body, as slack_sdk sends them."""
    params: JsonDict = dict(request.query)
    if request.method != "POST" or not request.body_exists:
        return params
    if request.content_type == "application/json":
        try:
            body = await request.json()
        except ValueError:
            raise _ApiError("invalid_json") from None
        if not isinstance(body, dict):
            raise _ApiError("invalid_json")
        params.update(body)
    else:
        form = await request.post()
        params.update({key: value for key, value in form.items() if isinstance(value, str)})
    return params


# ---------------------------------------------------------------------------------------------
# The emulator
# ---------------------------------------------------------------------------------------------


class FakeSlack(Emulator):
    """Slack's Web API, response_urls and request sender for one workspace with one bot."""

    def __init__(
        self,
        *,
        bot_token: str = DEFAULT_BOT_TOKEN,
        signing_secret: str = DEFAULT_SIGNING_SECRET,
        team_id: str = DEFAULT_TEAM_ID,
        team_domain: str = "sandbox",
        team_name: str = "Sandbox",
        bot_user_id: str = "U0BOT",
    ) -> None:
        super().__init__()
        self.bot_token = bot_token
        self.signing_secret = signing_secret
        self.team_id = team_id
        """The installing workspace: the app's own."""
        self.team_domain = team_domain
        self.team_name = team_name
        self.bot_user_id = bot_user_id
        self.trigger_ttl = 3.0
        """Seconds a trigger_id stays usable (https://api.slack.com/docs/triggers)."""
        self.response_url_ttl = 30 * 60.0
        """Seconds a response_url stays usable."""
        self.ack_timeout = 3.0
        """Seconds Slack waits for the bot to acknowledge a request it sent."""
        self.responses: list[JsonDict] = []
        """Every accepted response_url post, oldest first."""
        self.changes = 0
        """How many times what people see changed (messages, ephemerals, views): a client
        that shows them (the sandbox's page) watches this number."""

        self._created = int(time.time())
        self._revoked = False
        self._last_ts_us = 0
        self._teams: dict[str, _Team] = {team_id: _Team(team_id, team_name, team_domain)}
        self._users: dict[str, _User] = {}
        self._channels: dict[str, _Channel] = {}
        self._shared_with_team: dict[str, list[_Channel]] = {}
        """Per other organisation, the channels shared with it: the only ones its people
        can be in."""
        self._messages: dict[str, list[JsonDict]] = {}
        self._ephemerals: list[JsonDict] = []
        self._views: dict[str, _View] = {}
        self._home_view_ids: dict[str, str] = {}
        self._triggers: dict[str, _Trigger] = {}
        self._response_urls: dict[str, _ResponseUrl] = {}
        self._deliveries: dict[str, JsonDict] = {}
        self._users[bot_user_id] = _User(
            bot_user_id, BOT_NAME, "Tonomo", "America/Los_Angeles", True, None, team_id
        )

        self._methods: dict[str, ApiMethod] = {
            "auth.test": self._auth_test,
            "users.info": self._users_info,
            "conversations.info": self._conversations_info,
            "conversations.members": self._conversations_members,
            "chat.postMessage": self._chat_post_message,
            "chat.postEphemeral": self._chat_post_ephemeral,
            "chat.update": self._chat_update,
            "chat.delete": self._chat_delete,
            "views.open": self._views_open,
            "views.update": self._views_update,
            "views.publish": self._views_publish,
        }
        self.app.router.add_route("*", "/api/{method}", self._handle_api)
        self.app.router.add_post("/response/{id}", self._handle_response_url)

    @property
    def api_url(self) -> str:
        return self.base_url + "/api/"

    # -- the workspace ------------------------------------------------------------------------

    def add_team(self, team_id: str, *, name: str, domain: str) -> None:
        """Another organisation's workspace, whose people can join channels shared with it
        (Slack Connect: https://api.slack.com/apis/channels-between-orgs)."""
        if team_id == self.team_id:
            raise ValueError(f"{team_id} is the installing workspace")
        self._teams[team_id] = _Team(team_id, name, domain)

    def add_user(
        self,
        user_id: str,
        *,
        name: str,
        real_name: str | None = None,
        tz: str = "America/New_York",
        is_bot: bool = False,
        email: str | None = None,
        team_id: str | None = None,
        guest: str | None = None,
    ) -> JsonDict:
        """A person. `team_id` is their home workspace (default: the installing one; another
        must be added with `add_team` first); `guest` is None, "multi" (a multi-channel guest)
        or "single" (a single-channel guest): users.info `is_restricted` and, for a
        single-channel guest, `is_ultra_restricted` (https://api.slack.com/types/user)."""
        ZoneInfo(tz)  # an unknown zone fails here, not in the middle of a test
        home = team_id or self.team_id
        if home not in self._teams:
            raise ValueError(f"unknown team {home!r}: add_team it first")
        if guest not in (None, "multi", "single"):
            raise ValueError(f'guest must be None, "multi" or "single", not {guest!r}')
        user = _User(user_id, name, real_name or name, tz, is_bot, email, home, guest)
        self._users[user_id] = user
        return self._user_object(user)

    def is_external(self, user_id: str) -> bool:
        """Whether the person belongs to another organisation than the installing workspace."""
        return self._users[user_id].team_id != self.team_id

    def add_channel(
        self,
        channel_id: str,
        *,
        name: str,
        members: list[str],
        is_private: bool = True,
        bot_is_member: bool = True,
        shared_with: Sequence[str] = (),
    ) -> JsonDict:
        """A channel of the installing workspace; `shared_with` names the other organisations'
        teams it is shared with (a Slack Connect channel), whose people may then be members."""
        for team_id in shared_with:
            if team_id == self.team_id or team_id not in self._teams:
                raise ValueError(f"cannot share with {team_id!r}: add_team it first")
        everyone = [m for m in members if m != self.bot_user_id]
        if bot_is_member:
            everyone.append(self.bot_user_id)
        channel = _Channel(
            channel_id,
            name,
            everyone,
            is_private,
            int(time.time()),
            shared_with=list(dict.fromkeys(shared_with)),
        )
        for user_id in everyone:
            self._check_may_join(channel, user_id)
        replaced = self._channels.get(channel_id)
        if replaced is not None:
            for team_id in replaced.shared_with:
                self._shared_with_team[team_id].remove(replaced)
        self._channels[channel_id] = channel
        for team_id in channel.shared_with:
            self._shared_with_team.setdefault(team_id, []).append(channel)
        return self._channel_object(channel)

    def add_member(self, channel_id: str, user_id: str) -> None:
        """Someone (the bot too: `bot_user_id`) joins the channel."""
        channel = self._channels[channel_id]
        self._check_may_join(channel, user_id)
        if user_id not in channel.members:
            channel.members.append(user_id)

    def _check_may_join(self, channel: _Channel, user_id: str) -> None:
        """People of another organisation join only channels shared with it."""
        user = self._users.get(user_id)
        if user is None or user.team_id == self.team_id:
            return
        if user.team_id not in channel.shared_with:
            raise ValueError(
                f"{user_id} belongs to {user.team_id}: {channel.id} is not shared with it"
            )

    def remove_member(self, channel_id: str, user_id: str) -> None:
        """Someone leaves the channel (or is removed from it)."""
        members = self._channels[channel_id].members
        if user_id in members:
            members.remove(user_id)

    def add_message(
        self, channel_id: str, *, user_id: str, text: str, thread_ts: str | None = None
    ) -> JsonDict:
        """A person posts in the channel (the bot cannot edit or delete it)."""
        if channel_id not in self._channels:
            raise KeyError(channel_id)
        message = self._post(channel_id, user_id, text, [], thread_ts)
        self.changes += 1
        return copy.deepcopy(message)

    def mention(self, user_id: str) -> str:
        """A mention as Slack delivers it in a command with should_escape: true."""
        return f"<@{user_id}|{self._users[user_id].name}>"

    # -- what the bot did ---------------------------------------------------------------------

    def messages(self, channel_id: str) -> list[JsonDict]:
        """Everything posted in the channel, oldest first: top-level messages and, as before,
        thread replies (their `thread_ts` names the parent); `replies` gives one thread."""
        return copy.deepcopy(self._messages.get(channel_id, []))

    def replies(self, channel_id: str, thread_ts: str) -> list[JsonDict]:
        """The replies in the thread of the message `thread_ts`, oldest first (the parent
        itself left out, unlike conversations.replies)."""
        return [
            copy.deepcopy(m)
            for m in self._messages.get(channel_id, [])
            if m.get("thread_ts") == thread_ts and m["ts"] != thread_ts
        ]

    def ephemerals(
        self, channel_id: str | None = None, user_id: str | None = None
    ) -> list[JsonDict]:
        return [
            copy.deepcopy(e)
            for e in self._ephemerals
            if channel_id in (None, e["channel"]) and user_id in (None, e["user"])
        ]

    def views(self, user_id: str | None = None) -> list[JsonDict]:
        """Open modals and published Home tabs."""
        return [
            copy.deepcopy(v.view)
            for v in self._views.values()
            if v.open and user_id in (None, v.user_id)
        ]

    # -- faults -------------------------------------------------------------------------------

    def rate_limit(self, method: str, *, retry_after: int = 1, times: int | None = 1) -> Fault:
        return self.faults.add(
            Fault(
                path_pattern=f"^/api/{re.escape(method)}$",
                status=429,
                body={"ok": False, "error": "ratelimited"},
                headers={"Retry-After": str(retry_after)},
                times=times,
            )
        )

    def server_error(self, method: str, *, status: int = 503, times: int | None = 1) -> Fault:
        return self.faults.add(
            Fault(path_pattern=f"^/api/{re.escape(method)}$", status=status, times=times)
        )

    def archive_channel(self, channel_id: str) -> None:
        self._channels[channel_id].is_archived = True

    def unarchive_channel(self, channel_id: str) -> None:
        self._channels[channel_id].is_archived = False

    def remove_bot_from_channel(self, channel_id: str) -> None:
        members = self._channels[channel_id].members
        if self.bot_user_id in members:
            members.remove(self.bot_user_id)

    def delete_channel(self, channel_id: str) -> None:
        self._channels[channel_id].deleted = True

    def revoke_token(self) -> None:
        self._revoked = True

    # -- the Web API --------------------------------------------------------------------------

    async def _handle_api(self, request: web.Request) -> web.Response:
        method = request.match_info["method"]
        handler = self._methods.get(method)
        if handler is None:
            return web.json_response({"ok": False, "error": "unknown_method", "req_method": method})
        try:
            params = await _read_params(request)
            self._authenticate(request, params)
            answer = handler(params)
            if method in CHANGING_METHODS:
                self.changes += 1
            return web.json_response({"ok": True, **answer})
        except _ApiError as err:
            return web.json_response(err.body())

    def _authenticate(self, request: web.Request, params: JsonDict) -> None:
        token = _bearer(request) or params.get("token")
        if not token:
            raise _ApiError("not_authed")
        if token != self.bot_token:
            raise _ApiError("invalid_auth")
        if self._revoked:
            raise _ApiError("token_revoked")

    def _auth_test(self, params: JsonDict) -> JsonDict:
        return {
            "url": f"https://{self.team_domain}.slack.com/",
            "team": self.team_name,
            "user": BOT_NAME,
            "team_id": self.team_id,
            "user_id": self.bot_user_id,
            "bot_id": BOT_ID,
            "is_enterprise_install": False,
        }

    def _users_info(self, params: JsonDict) -> JsonDict:
        user = self._users.get(params.get("user", ""))
        if user is None:
            raise _ApiError("user_not_found")
        return {"user": self._user_object(user)}

    def _conversations_info(self, params: JsonDict) -> JsonDict:
        return {"channel": self._channel_object(self._visible_channel(params.get("channel")))}

    def _conversations_members(self, params: JsonDict) -> JsonDict:
        members = self._visible_channel(params.get("channel")).members
        start = _cursor_start(members, params.get("cursor"))
        end = start + _limit(params.get("limit"))
        next_cursor = _encode_cursor(members[end]) if end < len(members) else ""
        return {"members": members[start:end], "response_metadata": {"next_cursor": next_cursor}}

    def _chat_post_message(self, params: JsonDict) -> JsonDict:
        channel = self._postable_channel(params.get("channel"))
        text, blocks = self._content(params)
        thread_ts = _str_or_none(params.get("thread_ts"))
        message = self._post(channel.id, self.bot_user_id, text, blocks, thread_ts)
        return {"channel": channel.id, "ts": message["ts"], "message": _without_none(message)}

    def _chat_post_ephemeral(self, params: JsonDict) -> JsonDict:
        channel = self._postable_channel(params.get("channel"))
        user_id = params.get("user", "")
        if user_id not in self._users:
            raise _ApiError("user_not_found")
        if user_id not in channel.members:
            raise _ApiError("user_not_in_channel")
        text, blocks = self._content(params)
        thread_ts = _str_or_none(params.get("thread_ts"))
        ephemeral = self._post_ephemeral(channel.id, user_id, text, blocks, thread_ts)
        return {"message_ts": ephemeral["ts"]}

    def _chat_update(self, params: JsonDict) -> JsonDict:
        channel = self._postable_channel(params.get("channel"))
        message = self._bot_message(channel.id, params.get("ts"), "cant_update_message")
        if not any(params.get(key) not in (None, "") for key in ("text", "blocks", "attachments")):
            raise _ApiError("no_text")
        blocks = _blocks_value(params.get("blocks"))
        # Fields left out keep their value (https://api.slack.com/methods/chat.update).
        if "text" in params:
            message["text"] = str(params["text"])
        if "blocks" in params:
            message["blocks"] = _with_block_ids(blocks)
        message["edited"] = {"user": self.bot_user_id, "ts": self._next_ts()}
        return {
            "channel": channel.id,
            "ts": message["ts"],
            "text": message["text"],
            "message": _without_none(message),
        }

    def _chat_delete(self, params: JsonDict) -> JsonDict:
        channel = self._postable_channel(params.get("channel"))
        message = self._bot_message(channel.id, params.get("ts"), "cant_delete_message")
        self._messages[channel.id].remove(message)
        return {"channel": channel.id, "ts": message["ts"]}

    def _views_open(self, params: JsonDict) -> JsonDict:
        view = self._checked_view(params, kind="modal")
        trigger = self._exchange_trigger(
            params.get("trigger_id") or params.get("interactivity_pointer")
        )
        external_id = view.get("external_id")
        if external_id and self._view_by_external_id(external_id) is not None:
            raise _ApiError("duplicate_external_id")
        return {"view": copy.deepcopy(self._open_view(view, trigger.user_id).view)}

    def _views_update(self, params: JsonDict) -> JsonDict:
        record = self._view_to_update(params)
        view = self._checked_view(params, kind=record.view["type"])
        if params.get("hash") and params["hash"] != record.view["hash"]:
            raise _ApiError("hash_conflict")
        record.view = self._render_view(view, record.view["id"], record.user_id)
        return {"view": copy.deepcopy(record.view)}

    def _views_publish(self, params: JsonDict) -> JsonDict:
        user_id = params.get("user_id", "")
        if user_id not in self._users:
            raise _ApiError("user_not_found")
        if self.is_external(user_id):
            # People of another organisation have no App Home for an app of this workspace.
            # Slack documents no error for publishing to one
            # (https://api.slack.com/methods/views.publish#errors); `access_denied` is the
            # documented error of that list that says it: the person is known, but the Home
            # tab is not theirs to see.
            raise _ApiError("access_denied")
        view = self._checked_view(params, kind="home")
        view_id = self._home_view_ids.get(user_id)
        current = self._views.get(view_id) if view_id else None
        if current and params.get("hash") and params["hash"] != current.view["hash"]:
            raise _ApiError("hash_conflict")
        record = self._open_view(view, user_id, view_id)
        self._home_view_ids[user_id] = record.view["id"]
        return {"view": copy.deepcopy(record.view)}

    # -- Web API helpers ----------------------------------------------------------------------

    def _visible_channel(self, channel_id: Any) -> _Channel:
        """The channel as the bot can see it: a private channel it is not in does not exist."""
        channel = self._channels.get(channel_id) if isinstance(channel_id, str) else None
        if channel is None or channel.deleted:
            raise _ApiError("channel_not_found")
        if channel.is_private and self.bot_user_id not in channel.members:
            raise _ApiError("channel_not_found")
        return channel

    def _postable_channel(self, channel_id: Any) -> _Channel:
        channel = self._visible_channel(channel_id)
        if channel.is_archived:
            raise _ApiError("is_archived")
        if self.bot_user_id not in channel.members:
            raise _ApiError("not_in_channel")
        return channel

    def _content(self, params: JsonDict) -> tuple[str, list[JsonDict]]:
        text = str(params.get("text") or "")
        blocks = _blocks_value(params.get("blocks"))
        if not text and not blocks and not params.get("attachments"):
            raise _ApiError("no_text")
        if len(text) > MESSAGE_TEXT_LIMIT:
            raise _ApiError("msg_too_long")
        return text, blocks

    def _bot_message(self, channel_id: str, ts: Any, not_yours: str) -> JsonDict:
        message = next((m for m in self._messages.get(channel_id, []) if m["ts"] == ts), None)
        if message is None:
            raise _ApiError("message_not_found")
        if message["user"] != self.bot_user_id:
            raise _ApiError(not_yours)
        return message

    def _checked_view(self, params: JsonDict, *, kind: str) -> JsonDict:
        view = _json_value(params.get("view"), "invalid_arguments")
        errors = view_errors(view, kind=kind)
        if errors or not isinstance(view, dict):
            raise _ApiError("invalid_arguments", errors)
        return view

    def _exchange_trigger(self, trigger_id: Any) -> _Trigger:
        trigger = self._triggers.get(trigger_id) if isinstance(trigger_id, str) else None
        if trigger is None:
            raise _ApiError("invalid_trigger_id")
        if trigger.used:
            raise _ApiError("exchanged_trigger_id")
        if time.monotonic() - trigger.issued >= self.trigger_ttl:
            raise _ApiError("expired_trigger_id")
        trigger.used = True
        return trigger

    def _view_by_external_id(self, external_id: str) -> _View | None:
        return next(
            (v for v in self._views.values() if v.open and v.view["external_id"] == external_id),
            None,
        )

    def _view_to_update(self, params: JsonDict) -> _View:
        view_id, external_id = params.get("view_id"), params.get("external_id")
        if view_id:
            record = self._views.get(view_id)
        elif external_id:
            record = self._view_by_external_id(external_id)
        else:
            raise _ApiError("invalid_arguments", ["must provide view_id or external_id"])
        if record is None or not record.open:
            raise _ApiError("not_found")
        return record

    def _open_view(self, view: JsonDict, user_id: str, view_id: str | None = None) -> _View:
        record = _View(user_id, self._render_view(view, view_id or _new_id("V"), user_id))
        self._views[record.view["id"]] = record
        return record

    def _render_view(self, view: JsonDict, view_id: str, user_id: str) -> JsonDict:
        """The view as Slack stores and returns it.

        `team_id` is the workspace of the person who sees it, `app_installed_team_id` the app's:
        they differ for a person of another organisation in a Slack Connect channel, as in the
        real payload bolt-python's tests/scenario_tests/test_view_submission.py replays.
        """
        return {
            "id": view_id,
            "team_id": self._team_of(user_id),
            "type": view["type"],
            "blocks": _with_block_ids(view["blocks"]),
            "private_metadata": view.get("private_metadata", ""),
            "callback_id": view.get("callback_id", ""),
            "state": {"values": {}},
            "hash": _new_hash(),
            "title": view.get("title"),
            "clear_on_close": bool(view.get("clear_on_close", False)),
            "notify_on_close": bool(view.get("notify_on_close", False)),
            "close": view.get("close"),
            "submit": view.get("submit"),
            "previous_view_id": None,
            "root_view_id": view_id,
            "app_id": APP_ID,
            "external_id": view.get("external_id", ""),
            "app_installed_team_id": self.team_id,
            "bot_id": BOT_ID,
        }

    def _next_ts(self) -> str:
        """A message ts: unique and increasing, like Slack's."""
        self._last_ts_us = max(time.time_ns() // 1000, self._last_ts_us + 1)
        seconds, micros = divmod(self._last_ts_us, 1_000_000)
        return f"{seconds}.{micros:06d}"

    def _post(
        self,
        channel_id: str,
        user_id: str,
        text: str,
        blocks: list[JsonDict],
        thread_ts: str | None,
    ) -> JsonDict:
        message: JsonDict = {
            "type": "message",
            "ts": self._next_ts(),
            "user": user_id,
            "text": text,
            "blocks": _with_block_ids(blocks),
            "team": self._team_of(user_id),
            "thread_ts": thread_ts,
        }
        if user_id == self.bot_user_id:
            message.update(bot_id=BOT_ID, app_id=APP_ID)
        parent = self._thread_parent(channel_id, thread_ts)
        if parent is not None:
            message["parent_user_id"] = parent["user"]
            self._count_reply(parent, message)
        self._messages.setdefault(channel_id, []).append(message)
        return message

    def _thread_parent(self, channel_id: str, thread_ts: str | None) -> JsonDict | None:
        if thread_ts is None:
            return None
        return next((m for m in self._messages.get(channel_id, []) if m["ts"] == thread_ts), None)

    @staticmethod
    def _count_reply(parent: JsonDict, reply: JsonDict) -> None:
        """A thread's parent says so, as in conversations.history
        (https://api.slack.com/messaging/retrieving#finding_threads)."""
        users = [u for u in parent.get("reply_users", []) if u != reply["user"]]
        users.append(reply["user"])
        parent.update(
            thread_ts=parent["ts"],
            reply_count=parent.get("reply_count", 0) + 1,
            reply_users=users,
            reply_users_count=len(users),
            latest_reply=reply["ts"],
        )

    def _post_ephemeral(
        self,
        channel_id: str,
        user_id: str,
        text: str,
        blocks: list[JsonDict],
        thread_ts: str | None = None,
    ) -> JsonDict:
        ephemeral: JsonDict = {
            "channel": channel_id,
            "user": user_id,
            "ts": self._next_ts(),
            "text": text,
            "blocks": _with_block_ids(blocks),
            "thread_ts": thread_ts,
        }
        self._ephemerals.append(ephemeral)
        return ephemeral

    def _user_object(self, user: _User) -> JsonDict:
        now = datetime.now(ZoneInfo(user.tz))
        offset = now.utcoffset()
        abbreviation = now.tzname() or ""
        profile: JsonDict = {
            "real_name": user.real_name,
            "real_name_normalized": user.real_name,
            "display_name": user.name,
            "display_name_normalized": user.name,
            "status_text": "",
            "status_emoji": "",
            "team": user.team_id or self.team_id,
        }
        if user.email:
            profile["email"] = user.email
        # A person of another organisation (Slack Connect) answers with their own team
        # (https://api.slack.com/apis/channels-between-orgs); guests are "restricted"
        # (https://api.slack.com/types/user).
        answer: JsonDict = {
            "id": user.id,
            "team_id": user.team_id or self.team_id,
            "name": user.name,
            "deleted": False,
            "real_name": user.real_name,
            "tz": user.tz,
            "tz_label": TZ_LABELS.get(abbreviation, abbreviation),
            "tz_offset": int(offset.total_seconds()) if offset is not None else 0,
            "profile": profile,
            "is_admin": False,
            "is_owner": False,
            "is_primary_owner": False,
            "is_restricted": user.guest is not None,
            "is_ultra_restricted": user.guest == "single",
            "is_bot": user.is_bot,
            "is_app_user": False,
            "updated": self._created,
        }
        if user.team_id not in ("", self.team_id) and not self._shares_a_channel(user.id):
            # "If true, this user belongs to a different workspace than the one associated
            # with your app's token, and isn't in any shared channels visible to your app"
            # (https://api.slack.com/types/user); absent otherwise.
            answer["is_stranger"] = True
        return answer

    def _shares_a_channel(self, user_id: str) -> bool:
        """Whether a person of another organisation is in a channel with the bot."""
        return any(
            not c.deleted and user_id in c.members and self.bot_user_id in c.members
            for c in self._shared_with_team.get(self._users[user_id].team_id, ())
        )

    def _channel_object(self, channel: _Channel) -> JsonDict:
        shared = bool(channel.shared_with)
        return {
            "id": channel.id,
            "name": channel.name,
            "name_normalized": channel.name,
            "is_channel": True,
            "is_group": False,
            "is_im": False,
            "is_mpim": False,
            "is_private": channel.is_private,
            "is_archived": channel.is_archived,
            "is_general": False,
            "is_shared": shared,
            "is_ext_shared": shared,
            "is_org_shared": False,
            "is_pending_ext_shared": False,
            "is_member": self.bot_user_id in channel.members,
            "created": channel.created,
            "creator": channel.members[0] if channel.members else "",
            "topic": {"value": "", "creator": "", "last_set": 0},
            "purpose": {"value": "", "creator": "", "last_set": 0},
            "previous_names": [],
            # The teams, as Slack lists them (https://api.slack.com/types/channel and
            # https://docs.slack.dev/reference/objects/channel-object): the answer is in the
            # context of the token's team; the channel lives in (is hosted by) the installing
            # workspace and is connected to every other organisation's team it is shared with.
            # A recorded shared channel's answer lists the host among connected_team_ids too
            # (slack-go/slack, channels_test.go), so every team is there.
            "context_team_id": self.team_id,
            "shared_team_ids": [self.team_id],
            "internal_team_ids": [],
            "connected_team_ids": [self.team_id, *channel.shared_with] if shared else [],
            "connected_limited_team_ids": [],
            "pending_shared": [],
            "pending_connected_team_ids": [],
            "conversation_host_id": self.team_id if shared else "",
        }

    # -- response_urls ------------------------------------------------------------------------

    async def _handle_response_url(self, request: web.Request) -> web.Response:
        url = self._response_urls.get(request.match_info["id"])
        if url is None:
            return web.json_response({"ok": False, "error": "no_service"}, status=404)
        if time.monotonic() - url.issued >= self.response_url_ttl:
            return web.json_response({"ok": False, "error": "expired_url"}, status=404)
        if url.uses >= RESPONSE_URL_USES:
            return web.json_response({"ok": False, "error": "used_url"}, status=404)
        try:
            body = await request.json()
        except ValueError:
            body = None
        if not isinstance(body, dict):
            return web.json_response({"ok": False, "error": "invalid_payload"}, status=400)
        try:
            self._respond(url, body)
        except _ApiError as err:
            return web.json_response(err.body(), status=400)
        url.uses += 1
        self.changes += 1
        return web.json_response({"ok": True})

    def _respond(self, url: _ResponseUrl, body: JsonDict) -> None:
        text = str(body.get("text") or "")
        blocks = _blocks_value(body.get("blocks"))
        response_type = body.get("response_type") or "ephemeral"
        replace = body.get("replace_original") is True
        delete = body.get("delete_original") is True
        if not (text or blocks or delete):
            raise _ApiError("no_text")
        if delete:
            self._delete_original(url)
        elif replace and url.original_ts is not None:
            self._replace_original(url, text, blocks)
        elif response_type == "in_channel":
            self._post(url.channel_id, self.bot_user_id, text, blocks, None)
        else:
            self._post_ephemeral(url.channel_id, url.user_id, text, blocks)
        self.responses.append(
            {
                "response_url_id": url.id,
                "channel": url.channel_id,
                "user": url.user_id,
                "text": text,
                "blocks": blocks,
                "response_type": response_type,
                "replace_original": replace,
                "delete_original": delete,
            }
        )

    def _original(self, url: _ResponseUrl) -> tuple[list[JsonDict], JsonDict]:
        """The message an interaction came from, and the list that holds it."""
        for holder in (self._messages.get(url.channel_id, []), self._ephemerals):
            for message in holder:
                if message["ts"] == url.original_ts:
                    return holder, message
        raise _ApiError("message_not_found")

    def _replace_original(self, url: _ResponseUrl, text: str, blocks: list[JsonDict]) -> None:
        _, message = self._original(url)
        message.update(text=text, blocks=_with_block_ids(blocks))

    def _delete_original(self, url: _ResponseUrl) -> None:
        if url.original_ts is not None:
            holder, message = self._original(url)
            holder.remove(message)

    # -- driving the bot, as Slack does -------------------------------------------------------

    async def send_slash_command(
        self,
        bot_url: str,
        *,
        user_id: str,
        channel_id: str,
        text: str,
        command: str = "/tonomo",
        retry_num: int | None = None,
    ) -> SentRequest:
        """A slash command, form-encoded (https://api.slack.com/interactivity/slash-commands).

        A person of another organisation cannot use it: the app's commands belong to the
        workspace that installed it (Slack's help centre on apps in Slack Connect channels:
        custom apps and slash commands created for a workspace can only be used by members of
        that organization). Slack then delivers nothing and shows them a message instead:
        `SlashCommandUnavailable` carries it (its wording is ours, in Slack's manner).
        """
        if user_id in self._users and self.is_external(user_id):
            raise SlashCommandUnavailable(
                f"{command} isn't available to you. It belongs to an app installed in "
                f"{self.team_name}, another organization's workspace, and only members of "
                "that organization can use it."
            )
        fields = {
            "token": VERIFICATION_TOKEN,
            "team_id": self.team_id,
            "team_domain": self.team_domain,
            "channel_id": channel_id,
            "channel_name": self._channel_name(channel_id),
            "user_id": user_id,
            "user_name": self._user_name(user_id),
            "command": command,
            "text": text,
            "api_app_id": APP_ID,
            "is_enterprise_install": "false",
            "response_url": self._issue_response_url(channel_id, user_id, None),
            "trigger_id": self._issue_trigger(user_id),
        }
        headers = _retry_headers(retry_num, None)
        return await self._deliver(bot_url, urlencode(fields), FORM, headers, fields)

    async def send_block_action(
        self,
        bot_url: str,
        *,
        user_id: str,
        channel_id: str | None,
        action_id: str,
        value: str | None = None,
        block_id: str | None = None,
        message_ts: str | None = None,
        view_id: str | None = None,
        selected: dict[str, Any] | None = None,
    ) -> SentRequest:
        """A click on an element of a message (message_ts) or a view (view_id).

        The element is looked up in that message or view, so its block_id, type, text and value
        are filled in as Slack would; `value`, `block_id` and `selected` (e.g.
        `{"selected_option": {...}}`) override them.
        https://api.slack.com/reference/interaction-payloads/block-actions
        """
        payload = self._interaction("block_actions", user_id, in_view=view_id is not None)
        blocks = self._action_source(payload, user_id, channel_id, message_ts, view_id)
        if channel_id is not None and view_id is None:
            payload["channel"] = {"id": channel_id, "name": self._channel_name(channel_id)}
            payload["response_url"] = self._issue_response_url(channel_id, user_id, message_ts)
        has_source = message_ts is not None or view_id is not None
        action = _action(blocks, action_id, has_source=has_source)
        if value is not None:
            action["value"] = value
        if block_id is not None:
            action["block_id"] = block_id
        action.update(selected or {})
        payload["actions"] = [action]
        return await self._deliver_interaction(bot_url, payload)

    async def send_view_submission(
        self, bot_url: str, *, user_id: str, view_id: str, values: dict[str, Any]
    ) -> SentRequest:
        """The user submits an open modal; `values` is `view.state.values`.

        The modal then closes, updates, or stays open with errors, as the bot's answer says
        (https://api.slack.com/surfaces/modals#interactions).
        """
        record = self._views.get(view_id)
        if record is None or not record.open or record.view["type"] != "modal":
            raise ValueError(f"no open modal {view_id!r}")
        payload = self._interaction("view_submission", user_id, in_view=True)
        payload["view"] = {**copy.deepcopy(record.view), "state": {"values": values}}
        payload["response_urls"] = []
        sent = await self._deliver_interaction(bot_url, payload)
        self._apply_view_answer(record, sent)
        return sent

    async def close_view(self, bot_url: str, *, user_id: str, view_id: str) -> SentRequest | None:
        """The user closes an open modal (its close button): it closes, and the bot is told
        with a `view_closed` interaction only when the view asked for it (`notify_on_close`).

        https://api.slack.com/reference/interaction-payloads/views#view_closed
        """
        record = self._views.get(view_id)
        if (
            record is None
            or not record.open
            or record.view["type"] != "modal"
            or record.user_id != user_id
        ):
            raise ValueError(f"{user_id} has no open modal {view_id!r}")
        record.open = False
        self.changes += 1
        if not record.view.get("notify_on_close"):
            return None
        payload = self._interaction("view_closed", user_id, in_view=True)
        del payload["trigger_id"]  # closing a view opens nothing
        payload["view"] = copy.deepcopy(record.view)
        payload["is_cleared"] = False
        return await self._deliver_interaction(bot_url, payload)

    def app_home_opened(self, user_id: str, *, tab: str = "home") -> JsonDict:
        """The event of `user_id` opening the app's Home (or Messages) tab, for `send_event`.

        Its `view` is the Home tab as published, when one was
        (https://api.slack.com/events/app_home_opened). People of another organisation have no
        App Home for an app of this workspace: ValueError.
        """
        if user_id in self._users and self.is_external(user_id):
            raise ValueError(f"{user_id} belongs to another organisation: no App Home here")
        event: JsonDict = {
            "type": "app_home_opened",
            "user": user_id,
            "channel": "D" + user_id.removeprefix("U"),  # their conversation with the app
            "tab": tab,
        }
        view_id = self._home_view_ids.get(user_id)
        if tab == "home" and view_id is not None:
            event["view"] = copy.deepcopy(self._views[view_id].view)
        return event

    async def send_event(
        self,
        bot_url: str,
        event: dict[str, Any],
        *,
        retry_num: int | None = None,
        retry_reason: str | None = None,
    ) -> SentRequest:
        """An Events API callback; a retry (retry_num set) repeats the same event_id.

        https://api.slack.com/apis/connections/events-api#callback-field
        """
        key = json.dumps(event, sort_keys=True)
        envelope = self._deliveries.get(key) if retry_num is not None else None
        if envelope is None:
            envelope = self._event_envelope(event)
            self._deliveries[key] = envelope
        headers = _retry_headers(retry_num, retry_reason)
        return await self._deliver(
            bot_url, json.dumps(envelope), "application/json", headers, envelope
        )

    async def send_message(
        self,
        bot_url: str,
        *,
        user_id: str,
        channel_id: str,
        text: str,
        thread_ts: str | None = None,
    ) -> tuple[JsonDict, SentRequest | None]:
        """A person posts `text` (Slack's wire form: "<@U0BOT> availability tomorrow") in the
        channel, or replies in the thread of `thread_ts`. The message, and Slack's delivery of
        an `app_mention` event to the bot when the text mentions it and the bot is in the
        channel (https://api.slack.com/events/app_mention); None when nothing was delivered.
        """
        channel = self._channels.get(channel_id)
        if channel is None or channel.deleted:
            raise ValueError(f"no channel {channel_id!r}")
        if user_id not in channel.members:
            raise ValueError(f"{user_id} is not a member of {channel_id}")
        if channel.is_archived:
            raise ValueError(f"{channel_id} is archived")
        parent = self._thread_parent(channel_id, thread_ts)
        if thread_ts is not None and (parent is None or parent.get("parent_user_id")):
            raise ValueError(f"no message {thread_ts} to reply to in {channel_id}")
        message = self._post(channel_id, user_id, text, rich_text_blocks(text), thread_ts)
        message["client_msg_id"] = str(uuid.uuid4())
        self.changes += 1
        mentioned = re.search(rf"<@{re.escape(self.bot_user_id)}(\|[^>]*)?>", text)
        if mentioned is None or self.bot_user_id not in channel.members:
            return copy.deepcopy(message), None
        envelope = self._event_envelope(
            self._app_mention(channel, message), is_ext_shared_channel=bool(channel.shared_with)
        )
        sent = await self._deliver(bot_url, json.dumps(envelope), "application/json", {}, envelope)
        return copy.deepcopy(message), sent

    def _app_mention(self, channel: _Channel, message: JsonDict) -> JsonDict:
        """The app_mention event of a message.

        For a person of another organisation, Slack names the channel's side in `team` and
        the person's own workspace in `user_team` and `source_team` (and `user_profile.team`),
        as the Slack Connect payloads bolt-python's tests replay
        (tests/slack_bolt/request/test_internals.py) and its extract_actor_team_id reads.
        """
        user = self._users.get(message["user"])
        event: JsonDict = {
            "client_msg_id": message["client_msg_id"],
            "type": "app_mention",
            "text": message["text"],
            "user": message["user"],
            "ts": message["ts"],
            "blocks": copy.deepcopy(message["blocks"]),
            "team": self.team_id,
            "channel": channel.id,
            "event_ts": message["ts"],
        }
        if message.get("thread_ts") is not None:
            event["thread_ts"] = message["thread_ts"]
            event["parent_user_id"] = message.get("parent_user_id")
        if user is not None and user.team_id != self.team_id:
            event["user_team"] = user.team_id
            event["source_team"] = user.team_id
            event["user_profile"] = {
                "real_name": user.real_name,
                "display_name": user.name,
                "name": user.name,
                "team": user.team_id,
                "is_restricted": user.guest is not None,
                "is_ultra_restricted": user.guest == "single",
            }
        return event

    async def send_url_verification(
        self, bot_url: str, challenge: str | None = None
    ) -> SentRequest:
        """The handshake Slack sends when the Events API request URL is set."""
        payload = {
            "token": VERIFICATION_TOKEN,
            "challenge": challenge or secrets.token_urlsafe(24),
            "type": "url_verification",
        }
        return await self._deliver(bot_url, json.dumps(payload), "application/json", {}, payload)

    # -- sending helpers ----------------------------------------------------------------------

    def _issue_trigger(self, user_id: str) -> str:
        trigger_id = (
            f"{secrets.randbelow(10**10)}.{secrets.randbelow(10**10)}.{secrets.token_hex(16)}"
        )
        self._triggers[trigger_id] = _Trigger(user_id, time.monotonic())
        return trigger_id

    def _issue_response_url(self, channel_id: str, user_id: str, original_ts: str | None) -> str:
        url_id = f"{self.team_id}-{secrets.token_hex(12)}"
        self._response_urls[url_id] = _ResponseUrl(
            url_id, channel_id, user_id, time.monotonic(), original_ts
        )
        return f"{self.base_url}/response/{url_id}"

    def _channel_name(self, channel_id: str) -> str:
        channel = self._channels.get(channel_id)
        return channel.name if channel else "directmessage"

    def _user_name(self, user_id: str) -> str:
        user = self._users.get(user_id)
        return user.name if user else user_id.lower()

    def _team_of(self, user_id: str) -> str:
        user = self._users.get(user_id)
        return user.team_id if user is not None and user.team_id else self.team_id

    def _interaction(self, kind: str, user_id: str, *, in_view: bool = False) -> JsonDict:
        """The common fields of an interaction payload.

        `user.team_id` is always the person's own workspace. `team` is the installing
        workspace for a click on a message, even for a person of another organisation in a
        Slack Connect channel (https://github.com/slackapi/java-slack-sdk/issues/1041); a view
        (modal) is shown in the person's own workspace, so there `team` is theirs and the view
        says which workspace installed the app (`view.app_installed_team_id`), as in the
        Slack Connect payload of bolt-python's tests/scenario_tests/test_view_submission.py.
        """
        home = self._team_of(user_id)
        team = self._teams[home] if in_view else self._teams[self.team_id]
        return {
            "type": kind,
            "user": {
                "id": user_id,
                "username": self._user_name(user_id),
                "name": self._user_name(user_id),
                "team_id": home,
            },
            "api_app_id": APP_ID,
            "token": VERIFICATION_TOKEN,
            "trigger_id": self._issue_trigger(user_id),
            "team": {"id": team.id, "domain": team.domain},
            "enterprise": None,
            "is_enterprise_install": False,
        }

    def _action_source(
        self,
        payload: JsonDict,
        user_id: str,
        channel_id: str | None,
        message_ts: str | None,
        view_id: str | None,
    ) -> list[JsonDict]:
        """Fill in where the click happened; the blocks of that message or view."""
        payload["state"] = {"values": {}}
        if view_id is not None:
            record = self._views.get(view_id)
            # A modal or a Home tab is shown to its one user only.
            if record is None or not record.open or record.user_id != user_id:
                raise ValueError(f"{user_id} has no open view {view_id!r}")
            payload["container"] = {"type": "view", "view_id": view_id}
            payload["view"] = copy.deepcopy(record.view)
            return list(record.view["blocks"])
        if message_ts is None or channel_id is None:
            return []
        message, is_ephemeral = self._clicked_message(channel_id, user_id, message_ts)
        payload["container"] = {
            "type": "message",
            "message_ts": message_ts,
            "channel_id": channel_id,
            "is_ephemeral": is_ephemeral,
        }
        if not is_ephemeral:  # Slack does not send the content of an ephemeral message
            payload["message"] = _without_none(message)
        return list(message["blocks"])

    def _clicked_message(self, channel_id: str, user_id: str, ts: str) -> tuple[JsonDict, bool]:
        for message in self._messages.get(channel_id, []):
            if message["ts"] == ts:
                return message, False
        for ephemeral in self.ephemerals(channel_id, user_id):
            if ephemeral["ts"] == ts:
                return ephemeral, True
        raise ValueError(f"{user_id} sees no message {ts} in {channel_id}")

    def _apply_view_answer(self, record: _View, sent: SentRequest) -> None:
        if sent.status != 200:
            return  # Slack shows an error and the modal stays open
        self.changes += 1
        action, answer = _response_action(sent)
        if action is None:
            record.open = False
        elif action == "clear":
            for view in self._views.values():
                if view.user_id == record.user_id and view.view["type"] == "modal":
                    view.open = False
        elif action == "update" and not view_errors(answer.get("view"), kind="modal"):
            record.view = self._render_view(answer["view"], record.view["id"], record.user_id)
        # "errors": the modal stays open and shows them ("push" is not emulated)

    def _event_envelope(
        self, event: dict[str, Any], *, is_ext_shared_channel: bool = False
    ) -> JsonDict:
        """The Events API envelope. `team_id` and `authorizations` name the installing
        workspace, also for an event in a Slack Connect channel (where bolt reads
        authorizations[0]: https://api.slack.com/apis/connections/events-api#authorizations)."""
        now = time.time()
        return {
            "token": VERIFICATION_TOKEN,
            "team_id": self.team_id,
            "api_app_id": APP_ID,
            "event": {"event_ts": f"{now:.6f}", **copy.deepcopy(event)},
            "type": "event_callback",
            "event_id": _new_id("Ev"),
            "event_time": int(now),
            "authorizations": [
                {
                    "enterprise_id": None,
                    "team_id": self.team_id,
                    "user_id": self.bot_user_id,
                    "is_bot": True,
                    "is_enterprise_install": False,
                }
            ],
            "is_ext_shared_channel": is_ext_shared_channel,
            "event_context": f"4-{secrets.token_urlsafe(32)}",
        }

    async def _deliver_interaction(self, bot_url: str, payload: JsonDict) -> SentRequest:
        """Interactions arrive form-encoded with the JSON in a `payload` field."""
        body = urlencode({"payload": json.dumps(payload)})
        return await self._deliver(bot_url, body, FORM, {}, payload)

    async def _deliver(
        self,
        bot_url: str,
        body: str,
        content_type: str,
        extra_headers: Mapping[str, str],
        payload: JsonDict,
    ) -> SentRequest:
        headers = {
            "Content-Type": content_type,
            "User-Agent": USER_AGENT,
            **sign(self.signing_secret, body),
            **extra_headers,
        }
        timeout = ClientTimeout(total=self.ack_timeout)
        async with (
            ClientSession(timeout=timeout) as session,
            session.post(bot_url, data=body.encode(), headers=headers) as response,
        ):
            return SentRequest(
                status=response.status,
                body=await response.text(),
                headers=dict(response.headers),
                response_url=payload.get("response_url"),
                trigger_id=payload.get("trigger_id"),
                payload=payload,
                request_body=body,
                content_type=content_type,
            )

    async def redeliver(
        self,
        bot_url: str,
        sent: SentRequest,
        *,
        retry_num: int = 1,
        retry_reason: str = "http_timeout",
    ) -> SentRequest:
        """The same request once more, as Slack retries one whose answer it didn't get:
        the same body, signed anew, with `X-Slack-Retry-Num` and `X-Slack-Retry-Reason`."""
        headers = _retry_headers(retry_num, retry_reason)
        return await self._deliver(
            bot_url, sent.request_body, sent.content_type, headers, sent.payload
        )


def _action(blocks: list[JsonDict], action_id: str, *, has_source: bool) -> JsonDict:
    """The `actions[0]` of a block_actions payload for the element `action_id`."""
    found = _find_element(blocks, action_id)
    if found is None and has_source:
        raise ValueError(f"no element with action_id {action_id!r} there")
    block_id, element = found or (_new_block_id(), {"type": "button"})
    action: JsonDict = {
        "action_id": action_id,
        "block_id": block_id,
        "type": element.get("type", "button"),
        "action_ts": f"{time.time():.6f}",
    }
    for key in ("text", "value", "style"):
        if key in element:
            action[key] = copy.deepcopy(element[key])
    return action


# ---------------------------------------------------------------------------------------------
# Running it alone
# ---------------------------------------------------------------------------------------------


# -- reading messages, as a person sees them -------------------------------------------------


def button_urls(blocks: list[dict[str, Any]]) -> list[str]:
    """Every URL button in a message, in order."""
    urls = []
    for block in blocks:
        elements = [block.get("accessory"), *block.get("elements", [])]
        urls += [
            e["url"]
            for e in elements
            if isinstance(e, dict) and e.get("type") == "button" and "url" in e
        ]
    return urls


def text_of(message: dict[str, Any]) -> str:
    """The text a person reads: the fallback text and every text object in the blocks."""
    parts = [message.get("text") or ""]

    def walk(node: Any) -> None:
        if isinstance(node, dict):
            if node.get("type") in ("mrkdwn", "plain_text") and isinstance(node.get("text"), str):
                parts.append(node["text"])
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for item in node:
                walk(item)

    walk(message.get("blocks") or [])
    return "\n".join(parts)


async def _serve(fake: FakeSlack, host: str, port: int) -> int:
    """Serve until SIGINT or SIGTERM (`Emulator.serve_until_stopped`)."""
    return await fake.serve_until_stopped(
        host,
        port,
        name="Fake Slack",
        listening=lambda: (
            f"Fake Slack listening on {fake.base_url} (Web API at {fake.api_url}); Ctrl-C stops it"
        ),
    )


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m sandbox.fake_slack", description="Serve the Slack emulator."
    )
    parser.add_argument("--port", type=int, required=True, help="port to listen on (0: any)")
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on")
    parser.add_argument(
        "--latency", type=float, default=0.0, help="seconds added to every request (default 0)"
    )
    args = parser.parse_args(argv)
    fake = FakeSlack(
        bot_token=os.environ.get("SLACK_BOT_TOKEN") or DEFAULT_BOT_TOKEN,
        signing_secret=os.environ.get("SLACK_SIGNING_SECRET") or DEFAULT_SIGNING_SECRET,
    )
    fake.faults.latency = args.latency
    try:
        return asyncio.run(_serve(fake, args.host, args.port))
    except KeyboardInterrupt:  # Ctrl-C before the handlers were in place
        return 130


if __name__ == "__main__":
    sys.exit(main())
