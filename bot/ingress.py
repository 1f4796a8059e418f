"""What arrives at `/slack/events`, checked before Bolt (or anything else) reads it.

Slack signs the raw bytes of every request it sends
(https://api.slack.com/authentication/verifying-requests-from-slack): the header
`X-Slack-Signature` is `v0=` and the hex HMAC-SHA256, keyed with the signing secret, of
`v0:{X-Slack-Request-Timestamp}:{body}`. `signed` checks exactly that on the bytes as they
came, before they are decoded or parsed, and refuses a timestamp that is not a number or is
more than five minutes from now (a replay). Nothing taken from a request is used before it.

`problem` then says why a signed body still can't be a request Bolt should see: not UTF-8,
compressed, not JSON or a form, JSON that is not an object, a `payload` that is not one, an
interaction without a user, an event without its object, a slash command without its
channel or user. Each such request gets a 400, so the bot's own code only meets the shapes
Slack sends.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Mapping
from typing import Any
from urllib.parse import parse_qs

MAX_AGE_SECONDS = 5 * 60
"""How far a request's timestamp may be from now (Slack's advice)."""

FORM = "application/x-www-form-urlencoded"
JSON = "application/json"


def signed(body: bytes, headers: Mapping[str, str], secret: str, now: float) -> bool:
    """True when Slack signed these very bytes, recently."""
    timestamp = headers.get("X-Slack-Request-Timestamp", "")
    signature = headers.get("X-Slack-Signature", "")
    if not (timestamp.isascii() and timestamp.isdigit()) or not signature:
        return False
    if abs(now - int(timestamp)) > MAX_AGE_SECONDS:
        return False
    base = b"v0:" + timestamp.encode() + b":" + body
    expected = "v0=" + hmac.new(secret.encode(), base, hashlib.sha256).hexdigest()
    return hmac.compare_digest(expected, signature)


def problem(body: bytes, headers: Mapping[str, str]) -> str | None:
    """Why a signed request can't be one of Slack's that the bot handles; None when it can."""
    if headers.get("Content-Encoding", "identity").strip().lower() not in ("", "identity"):
        return "compressed bodies are not accepted"
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError:
        return "the body is not UTF-8"
    content_type = headers.get("Content-Type", "").split(";")[0].strip().lower()
    if content_type == JSON:
        return _json_problem(text)
    if content_type == FORM:
        return _form_problem(text)
    return f"unsupported content type {content_type or '(none)'}"


def _json_problem(text: str) -> str | None:
    """An Events API callback, or the URL verification handshake."""
    data = _json_object(text)
    if data is None:
        return "the body is not a JSON object"
    kind = data.get("type")
    if kind == "url_verification":
        return None if isinstance(data.get("challenge"), str) else "no challenge"
    if kind == "event_callback":
        event = data.get("event")
        if not isinstance(event, dict) or not isinstance(event.get("type"), str):
            return "an event callback without its event"
        if data.get("authorizations") is not None and not _list_of_objects(data["authorizations"]):
            return "authorizations that are not a list of objects"
        # The events the bot takes name their user and channel by id.
        for name in ("user", "channel", "team", "user_team", "thread_ts", "tab"):
            if event.get(name) is not None and not isinstance(event[name], str):
                return f"an event whose {name} is not a string"
        if not all(isinstance(data.get(n), str | None) for n in ("team_id", "event_id")):
            return "an envelope whose ids are not strings"
        return None
    if kind == "app_rate_limited":  # Slack's notice that events were dropped: acknowledged
        return None if "event" not in data else "an unexpected event"
    return "an unknown envelope type"


def _form_problem(text: str) -> str | None:
    """A slash command, an interaction (its JSON in `payload`) or Slack's SSL check."""
    form = {k: v[-1] for k, v in parse_qs(text, keep_blank_values=True).items()}
    if "payload" in form:
        return _interaction_problem(form["payload"])
    if form.get("ssl_check") == "1":
        return None
    missing = [f for f in ("command", "team_id", "channel_id", "user_id") if not form.get(f)]
    return f"a command without {', '.join(missing)}" if missing else None


def _interaction_problem(payload: str) -> str | None:
    data = _json_object(payload)
    if data is None:
        return "the payload is not a JSON object"
    if not isinstance(data.get("type"), str):
        return "an interaction without a type"
    user = data.get("user")
    if not isinstance(user, dict) or not isinstance(user.get("id"), str):
        return "an interaction without its user"
    for name in ("team", "channel", "container", "view", "message", "enterprise"):
        if data.get(name) is not None and not isinstance(data[name], dict):
            return f"an interaction whose {name} is not an object"
    for name in ("user", "team", "channel"):
        ident = (data.get(name) or {}).get("id")
        if ident is not None and not isinstance(ident, str):
            return f"an interaction whose {name} id is not a string"
    for name in ("response_url", "trigger_id"):
        if data.get(name) is not None and not isinstance(data[name], str):
            return f"an interaction whose {name} is not a string"
    view = data.get("view")
    if view is not None and not isinstance(view.get("type"), str):
        return "a view without a type"
    if data.get("actions") is not None and not _list_of_objects(data["actions"]):
        return "actions that are not a list of objects"
    return None


def _list_of_objects(value: Any) -> bool:
    return isinstance(value, list) and all(isinstance(item, dict) for item in value)


def _json_object(text: str) -> dict[str, Any] | None:
    try:
        data = json.loads(text)
    except ValueError:
        return None
    return data if isinstance(data, dict) else None
