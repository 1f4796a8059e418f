"""The sandbox's page: a Slack channel in the browser, fed by the Slack emulator.

`SandboxUI.app` is a small aiohttp application serving `sandbox/web/` (plain HTML, CSS and
JavaScript, no build step) and a JSON API for it. Everything the page shows is what the bot
really did, as the Slack emulator recorded it (`chat.postMessage`, `chat.postEphemeral`,
`chat.update`, `views.*`, response_url answers); everything the person does on the page is
sent to the bot as Slack sends it, signed, by the emulator: slash commands, messages (with an
`app_mention` event when they mention the bot), `block_actions`, `view_submission`,
`app_home_opened`.

The channel may be a Slack Connect channel: people of another organisation than the
workspace that installed the app are told, as Slack tells them, that they have no slash
command of this app and no Home tab for it; they mention the bot (`@Tonomo …`) instead.

The API, all JSON, the person named by `as` (a user id or a name):

    GET  api/state?as=U…[&since=N]  what that person sees (no one named: the first person);
                                    with `since`, waits (up to 25 s) until the version
                                    differs from N (long polling)
    POST api/send    {as, text, thread_ts?}          the composer: `/tonomo …` or a message
                                                     (in the thread of `thread_ts`);
                                                     `@Tonomo …` mentions the bot
    POST api/action  {as, action_id, block_id, message_ts | view_id, selected?}
    POST api/home    {as}                            the person opens the app's Home tab
    POST api/submit  {as, view_id, values}           submits a modal
    POST api/close   {as, view_id}                   closes a modal

`selected` says what was picked in a menu or picker: `{"option": VALUE}`,
`{"options": [VALUE…]}`, `{"user": ID}`, `{"users": [ID…]}`, `{"date": "YYYY-MM-DD"}`,
`{"time": "HH:MM"}`, `{"conversation": ID}` or `{"channel": ID}`; `values` is what each
input of the modal holds, by block and action id, as typed (the server turns it into
Slack's `view.state.values`, element by element).
"""

from __future__ import annotations

import asyncio
import contextlib
import copy
import json
import re
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from aiohttp import ClientError, web

from sandbox.fake_slack import FakeSlack, SentRequest, SlashCommandUnavailable

JsonDict = dict[str, Any]

WEB_ROOT = Path(__file__).with_name("web")
ASSETS = {"app.css": "text/css", "app.js": "text/javascript"}
LONG_POLL_SECONDS = 25.0
POLL_INTERVAL = 0.05
SLACKBOT_ID = "USLACKBOT"
SLACKBOT: JsonDict = {"id": SLACKBOT_ID, "name": "Slackbot", "is_bot": True}
"""Who Slack's own notes are from."""

# What Slack's client says itself, in its own words, when a command or a click fails
# (https://api.slack.com/interactivity/slash-commands#responding_with_errors).
REQUIRED_FIELD = "Please complete this required field."
NOT_A_COMMAND = (
    "{command} is not a valid command. In Slack, all messages that start with the "
    '"/" character are interpreted as commands.'
)
COMMAND_FAILED = '{command} failed with the error "{error}"'
NO_ANSWER = "The app didn't respond in time. Please try again."
ERROR_ANSWER = "The app answered with an error (HTTP {status})."
MODAL_TROUBLE = "We had some trouble connecting. Try again?"
NO_HOME = (
    "{app} is an app of {workspace}, another organization's workspace, so it has no Home tab "
    "for you. Mention @{app} in a channel you share, or use the buttons of its messages."
)

# Inputs a person fills in, and the field of `view.state.values` that holds each.
_INPUT_KEYS = {
    "plain_text_input": "value",
    "number_input": "value",
    "email_text_input": "value",
    "url_text_input": "value",
    "datepicker": "selected_date",
    "timepicker": "selected_time",
    "datetimepicker": "selected_date_time",
    "users_select": "selected_user",
    "multi_users_select": "selected_users",
    "conversations_select": "selected_conversation",
    "multi_conversations_select": "selected_conversations",
    "channels_select": "selected_channel",
    "multi_channels_select": "selected_channels",
    "static_select": "selected_option",
    "radio_buttons": "selected_option",
    "overflow": "selected_option",
    "multi_static_select": "selected_options",
    "checkboxes": "selected_options",
}
# What the page sends for a pick, by the field it fills.
_PICKS = {
    "selected_user": "user",
    "selected_users": "users",
    "selected_date": "date",
    "selected_time": "time",
    "selected_conversation": "conversation",
    "selected_channel": "channel",
    "selected_option": "option",
    "selected_options": "options",
}


class BadRequest(Exception):
    """The page asked for something that makes no sense: 400 with the reason."""


class Gone(Exception):
    """The message or view the page acted on is no longer there: 409."""


@dataclass(frozen=True)
class Person:
    """Someone the page can act as."""

    user_id: str
    name: str
    """Their Slack handle, as typed after @."""
    real_name: str
    title: str = ""
    organisation: str = ""
    """The organisation they belong to (their own Slack workspace's name)."""

    def as_json(self) -> JsonDict:
        return {
            "id": self.user_id,
            "name": self.name,
            "real_name": self.real_name,
            "title": self.title,
            "organisation": self.organisation,
        }


class SandboxUI:
    """The page and its API, for one channel of the Slack emulator's workspace."""

    def __init__(
        self,
        *,
        slack: FakeSlack,
        bot_url: str,
        channel_id: str,
        channel_name: str,
        people: Sequence[Person],
        workspace: str = "Sandbox",
        bot_name: str = "Tonomo",
    ) -> None:
        self.slack = slack
        self.events_url = bot_url + "/slack/events"
        self.channel_id = channel_id
        self.channel_name = channel_name
        self.people = list(people)
        self.workspace = workspace
        self.bot_name = bot_name
        self.ephemerals_since = 0.0
        """Ephemeral messages older than this (a Slack ts) are not shown."""
        self._local: list[JsonDict] = []
        """What Slack's own client shows that the emulator doesn't keep: the answers that
        came with the acknowledgement of a slash command, and Slack's own error notes."""
        self._local_changes = 0
        self._last_local_ts = 0.0
        self._closing = asyncio.Event()

        self.app = web.Application()
        self.app.router.add_get("/", self._index)
        for name in ASSETS:
            self.app.router.add_get(f"/{name}", self._asset)
        self.app.router.add_get("/api/state", self._state)
        self.app.router.add_post("/api/send", self._send)
        self.app.router.add_post("/api/action", self._action)
        self.app.router.add_post("/api/home", self._home)
        self.app.router.add_post("/api/submit", self._submit)
        self.app.router.add_post("/api/close", self._close)
        self.app.on_shutdown.append(self._shutdown)

    # -- what the page shows ------------------------------------------------------------------

    @property
    def version(self) -> int:
        """Changes whenever anything any person sees changes."""
        return self.slack.changes + self._local_changes

    def hide_earlier_ephemerals(self) -> None:
        """From now on, show only ephemeral messages posted after this moment (as in Slack,
        where they don't outlive the session they were posted in)."""
        self.ephemerals_since = time.time()

    def is_external(self, user_id: str) -> bool:
        """Whether they belong to another organisation than the installing workspace."""
        try:
            return self.slack.is_external(user_id)
        except KeyError:
            return False

    def no_home(self, person: Person) -> str | None:
        """Why `person` has no Home tab of the app (Slack's explanation), or None."""
        if not self.is_external(person.user_id):
            return None
        return NO_HOME.format(app=self.bot_name, workspace=self.slack.team_name)

    def person_json(self, person: Person) -> JsonDict:
        external = self.is_external(person.user_id)
        return person.as_json() | {
            "external": external,
            "organisation": person.organisation or (self.slack.team_name if not external else ""),
            "home": not external,
            "slash_commands": not external,
        }

    def person(self, who: Any) -> Person:
        text = str(who or "").strip().lower().removeprefix("@")
        for person in self.people:
            if text in (person.user_id.lower(), person.name.lower()):
                return person
        raise BadRequest(f"nobody called {who!r} here")

    def state(self, person: Person) -> JsonDict:
        """Everything `person` sees: the channel with their ephemerals, their Home tab and
        the modal they have open."""
        views = self.slack.views(person.user_id)
        modals = [v for v in views if v.get("type") == "modal"]
        homes = [v for v in views if v.get("type") == "home"]
        people = [self.person_json(p) for p in self.people]
        return {
            "version": self.version,
            "me": self.person_json(person) | {"no_home": self.no_home(person)},
            "people": people,
            "workspace": self.workspace,
            "bot": {"id": self.slack.bot_user_id, "name": self.bot_name},
            "channel": {
                "id": self.channel_id,
                "name": self.channel_name,
                "members": len(self.people),
                "shared": any(p["external"] for p in people),
                "organisations": list(dict.fromkeys(p["organisation"] for p in people)),
            },
            "users": self._user_names(),
            "channels": {self.channel_id: self.channel_name},
            "messages": self.messages(person),
            "modal": modals[-1] if modals else None,
            "home": homes[-1] if homes else None,
        }

    def messages(self, person: Person) -> list[JsonDict]:
        """The channel's messages and `person`'s ephemeral ones, oldest first; thread
        replies among them (their `thread_ts` names their parent, which has `reply_count`)."""
        shown = [
            self._message_json(m, ephemeral=False) for m in self.slack.messages(self.channel_id)
        ]
        shown += [
            self._message_json(e, ephemeral=True)
            for e in self.slack.ephemerals(self.channel_id, person.user_id)
            if float(e["ts"]) > self.ephemerals_since
        ]
        shown += [copy.deepcopy(m["message"]) for m in self._local if m["user"] == person.user_id]
        return sorted(shown, key=lambda m: float(m["ts"]))

    def _user_names(self) -> dict[str, str]:
        names = {p.user_id: p.real_name for p in self.people}
        names[self.slack.bot_user_id] = self.bot_name
        names[SLACKBOT_ID] = str(SLACKBOT["name"])
        return names

    def _author(self, user_id: str) -> JsonDict:
        if user_id == self.slack.bot_user_id:
            return {"id": user_id, "name": self.bot_name, "is_bot": True}
        person = next((p for p in self.people if p.user_id == user_id), None)
        return {
            "id": user_id,
            "name": self._user_names().get(user_id, user_id),
            "is_bot": False,
            "external": self.is_external(user_id),
            "organisation": self.person_json(person)["organisation"] if person else "",
        }

    def _message_json(self, message: JsonDict, *, ephemeral: bool) -> JsonDict:
        # Only apps post ephemeral messages; the emulator's `user` there is who sees it.
        author = self.slack.bot_user_id if ephemeral else str(message.get("user", ""))
        return {
            "ts": message["ts"],
            "author": self._author(author),
            "text": message.get("text") or "",
            "blocks": message.get("blocks") or [],
            "edited": "edited" in message,
            "ephemeral": ephemeral,
            "thread_ts": message.get("thread_ts"),
            "reply_count": message.get("reply_count", 0),
            "reply_users": list(message.get("reply_users") or []),
            "latest_reply": message.get("latest_reply"),
        }

    def _add_local(
        self,
        person: Person,
        text: str,
        blocks: Any,
        author: JsonDict,
        thread_ts: str | None = None,
    ) -> None:
        ts = max(time.time(), self._last_local_ts + 0.000001)
        self._last_local_ts = ts
        message = {
            "ts": f"{ts:.6f}",
            "author": author,
            "text": text,
            "blocks": blocks if isinstance(blocks, list) else [],
            "edited": False,
            "ephemeral": True,
            "thread_ts": thread_ts,
            "reply_count": 0,
            "reply_users": [],
            "latest_reply": None,
        }
        self._local.append({"user": person.user_id, "message": message})
        self._local_changes += 1

    def _local_message(self, person: Person, ts: str) -> JsonDict | None:
        for local in self._local:
            if local["user"] == person.user_id and local["message"]["ts"] == ts:
                message: JsonDict = local["message"]
                return message
        return None

    # -- what the person does -----------------------------------------------------------------

    async def send(self, person: Person, typed: str, thread_ts: str | None = None) -> JsonDict:
        """The composer (in the thread of `thread_ts`, if given): a slash command goes to the
        bot, anything else is a message, which Slack delivers to the bot as an `app_mention`
        when it mentions it (`@Tonomo …`)."""
        text = typed.strip()
        if not text:
            raise BadRequest("nothing to send")
        if not text.startswith("/"):
            return await self._post_message(person, text, thread_ts)
        command, _, rest = text.partition(" ")
        command = command.lower()
        if command != "/tonomo":
            note = NOT_A_COMMAND.format(command=command)
            self._add_local(person, note, [], SLACKBOT, thread_ts)
            return {"ok": False, "kind": "command", "error": "not a command"}
        try:
            sent = await self.slack.send_slash_command(
                self.events_url,
                user_id=person.user_id,
                channel_id=self.channel_id,
                text=self.encode_typed(rest.strip()),
            )
        except SlashCommandUnavailable as refused:
            # People of another organisation have none of this workspace's commands: Slack
            # sends the app nothing and tells them so, visible only to them.
            self._add_local(person, refused.message, [], SLACKBOT, thread_ts)
            return {"ok": False, "kind": "command", "error": refused.message}
        except (TimeoutError, ClientError) as err:
            error = "operation_timeout" if isinstance(err, TimeoutError) else "dispatch_failed"
            note = COMMAND_FAILED.format(command=command, error=error)
            self._add_local(person, note, [], SLACKBOT, thread_ts)
            return {"ok": False, "kind": "command", "error": error}
        if sent.status != 200:
            note = COMMAND_FAILED.format(command=command, error="dispatch_failed")
            self._add_local(person, note, [], SLACKBOT, thread_ts)
            return {"ok": False, "kind": "command", "error": "dispatch_failed"}
        reply = ack_reply(sent)
        if reply is not None:
            # Slack shows what came with the acknowledgement only to the person who typed
            # the command (https://api.slack.com/interactivity/slash-commands#responding_immediate_response).
            self._add_local(
                person,
                reply.get("text", ""),
                reply.get("blocks"),
                self._author(self.slack.bot_user_id),
                thread_ts,
            )
        return {"ok": True, "kind": "command", "reply": reply}

    async def _post_message(self, person: Person, text: str, thread_ts: str | None) -> JsonDict:
        try:
            message, sent = await self.slack.send_message(
                self.events_url,
                user_id=person.user_id,
                channel_id=self.channel_id,
                text=self.encode_typed(text, links=True),
                thread_ts=thread_ts,
            )
        except ValueError as err:
            raise Gone(str(err)) from err
        except (TimeoutError, ClientError):
            # The message is posted; the bot did not take Slack's event in time (Slack tells
            # the person nothing, and retries the event).
            return {"ok": True, "kind": "message", "mention": True, "delivered": False}
        answer: JsonDict = {"ok": True, "kind": "message", "ts": message["ts"]}
        if sent is not None:
            answer.update(mention=True, delivered=sent.status == 200)
        return answer

    def encode_typed(self, text: str, *, links: bool = False) -> str:
        """Typed text as Slack sends it: `&`, `<`, `>` escaped, `@name` (the bot's too) and
        `#channel` as mentions: `<@U…|name>` in a command (it has `should_escape: true`);
        with `links`, as in a message, `<@U…>` and web addresses as links."""
        escaped = text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
        if links:
            escaped = re.sub(r"\bhttps?://[^\s<>|]+", lambda m: f"<{m.group(0)}>", escaped)
        names = {p.name.lower(): p.user_id for p in self.people}
        names.setdefault(self.bot_name.lower(), self.slack.bot_user_id)

        def user(match: re.Match[str]) -> str:
            user_id = names.get(match.group(1).lower())
            if user_id is None:
                return match.group(0)
            return f"<@{user_id}>" if links else self.slack.mention(user_id)

        def channel(match: re.Match[str]) -> str:
            if match.group(1).lower() != self.channel_name.lower():
                return match.group(0)
            return f"<#{self.channel_id}|{self.channel_name}>"

        escaped = re.sub(r"(?<![\w@])@([\w.\-]+)", user, escaped)
        return re.sub(r"(?<![\w#&])#([\w\-]+)", channel, escaped)

    async def act(self, person: Person, request: JsonDict) -> JsonDict:
        """A click or a pick on an element of a message, the Home tab or a modal."""
        action_id = _required_str(request, "action_id")
        block_id = _required_str(request, "block_id")
        view_id = _optional_str(request, "view_id")
        message_ts = _optional_str(request, "message_ts")
        local = None
        if view_id is not None:
            blocks = self._view_blocks(person, view_id)
        elif message_ts is not None:
            local = self._local_message(person, message_ts)
            blocks = local["blocks"] if local else self._message_blocks(person, message_ts)
        else:
            raise BadRequest("say where: message_ts or view_id")
        element = find_element(blocks, block_id, action_id)
        if element is None:
            raise Gone(f"no element {action_id!r} in block {block_id!r} there any more")
        selected = picked(element, request.get("selected"))
        try:
            sent = await self.slack.send_block_action(
                self.events_url,
                user_id=person.user_id,
                channel_id=None if view_id else self.channel_id,
                action_id=action_id,
                block_id=block_id,
                value=element.get("value"),
                # Slack's own answers to a command are not messages the emulator keeps: the
                # click is sent as from an ephemeral message whose content Slack leaves out.
                message_ts=None if local else message_ts,
                view_id=view_id,
                selected=selected,
            )
        except ValueError as err:
            raise Gone(str(err)) from err
        except (TimeoutError, ClientError):
            return {"ok": False, "error": NO_ANSWER}
        if sent.status != 200:
            return {"ok": False, "error": ERROR_ANSWER.format(status=sent.status)}
        return {"ok": True}

    async def open_home(self, person: Person) -> JsonDict:
        note = self.no_home(person)
        if note is not None:
            return {"ok": False, "error": note, "no_home": True}
        try:
            sent = await self.slack.send_event(
                self.events_url, self.slack.app_home_opened(person.user_id)
            )
        except ValueError as err:  # the emulator's word: no App Home for this person
            return {"ok": False, "error": str(err), "no_home": True}
        except (TimeoutError, ClientError):
            return {"ok": False, "error": NO_ANSWER}
        return {"ok": sent.status == 200}

    async def submit(self, person: Person, view_id: str, typed: Any) -> JsonDict:
        """Submit the person's open modal with what its inputs hold."""
        view = self._open_modal(person, view_id)
        if not isinstance(typed, dict):
            raise BadRequest("values must be an object")
        values, missing = state_values(view, typed)
        if missing:
            # Slack's client checks required inputs itself and sends nothing.
            return {"ok": False, "errors": missing}
        try:
            sent = await self.slack.send_view_submission(
                self.events_url, user_id=person.user_id, view_id=view_id, values=values
            )
        except ValueError as err:
            raise Gone(str(err)) from err
        except (TimeoutError, ClientError):
            return {"ok": False, "error": MODAL_TROUBLE}
        if sent.status != 200:
            return {"ok": False, "error": MODAL_TROUBLE}
        answer = ack_reply(sent) or {}
        if answer.get("response_action") == "errors":
            errors = answer.get("errors")
            return {"ok": False, "errors": errors if isinstance(errors, dict) else {}}
        return {"ok": True}

    async def close(self, person: Person, view_id: str) -> JsonDict:
        self._open_modal(person, view_id)
        try:
            await self.slack.close_view(self.events_url, user_id=person.user_id, view_id=view_id)
        except ValueError as err:
            raise Gone(str(err)) from err
        except (TimeoutError, ClientError):
            pass  # the modal is closed all the same; the bot's answer to it changes nothing
        return {"ok": True}

    def _view_blocks(self, person: Person, view_id: str) -> list[JsonDict]:
        for view in self.slack.views(person.user_id):
            if view.get("id") == view_id:
                return list(view.get("blocks") or [])
        raise Gone(f"{person.name} has no open view {view_id!r}")

    def _open_modal(self, person: Person, view_id: str) -> JsonDict:
        for view in self.slack.views(person.user_id):
            if view.get("id") == view_id and view.get("type") == "modal":
                return view
        raise Gone(f"{person.name} has no open modal {view_id!r}")

    def _message_blocks(self, person: Person, ts: str) -> list[JsonDict]:
        seen = self.slack.messages(self.channel_id) + self.slack.ephemerals(
            self.channel_id, person.user_id
        )
        for message in seen:
            if message["ts"] == ts:
                return list(message.get("blocks") or [])
        raise Gone(f"{person.name} sees no message {ts}")

    # -- HTTP ---------------------------------------------------------------------------------

    async def _index(self, _request: web.Request) -> web.StreamResponse:
        return _file(WEB_ROOT / "index.html", "text/html")

    async def _asset(self, request: web.Request) -> web.StreamResponse:
        name = request.path.rsplit("/", 1)[-1]
        return _file(WEB_ROOT / name, ASSETS[name])

    async def _state(self, request: web.Request) -> web.Response:
        with _answers() as answer:
            who = request.query.get("as")
            person = self.person(who) if who else self.people[0]
            since = request.query.get("since")
            if since is not None:
                await self._wait_for_change(_int(since))
            answer.update(self.state(person))
        return _reply(answer)

    async def _wait_for_change(self, since: int) -> None:
        deadline = time.monotonic() + LONG_POLL_SECONDS
        while self.version == since and time.monotonic() < deadline:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._closing.wait(), POLL_INTERVAL)
            if self._closing.is_set():
                return

    async def _send(self, request: web.Request) -> web.Response:
        with _answers() as answer:
            body = await _json(request)
            person, text = self.person(body.get("as")), _required_str(body, "text")
            answer.update(await self.send(person, text, _optional_str(body, "thread_ts")))
        return _reply(answer)

    async def _action(self, request: web.Request) -> web.Response:
        with _answers() as answer:
            body = await _json(request)
            answer.update(await self.act(self.person(body.get("as")), body))
        return _reply(answer)

    async def _home(self, request: web.Request) -> web.Response:
        with _answers() as answer:
            body = await _json(request)
            answer.update(await self.open_home(self.person(body.get("as"))))
        return _reply(answer)

    async def _submit(self, request: web.Request) -> web.Response:
        with _answers() as answer:
            body = await _json(request)
            person = self.person(body.get("as"))
            view_id = _required_str(body, "view_id")
            answer.update(await self.submit(person, view_id, body.get("values", {})))
        return _reply(answer)

    async def _close(self, request: web.Request) -> web.Response:
        with _answers() as answer:
            body = await _json(request)
            person = self.person(body.get("as"))
            answer.update(await self.close(person, _required_str(body, "view_id")))
        return _reply(answer)

    async def _shutdown(self, _app: web.Application) -> None:
        self._closing.set()  # long polls answer at once, so stopping doesn't wait for them


# ---------------------------------------------------------------------------------------------
# Block Kit: elements, picks and a modal's state
# ---------------------------------------------------------------------------------------------


def elements_of(blocks: list[JsonDict]) -> Iterator[tuple[str, JsonDict]]:
    """Every element of the blocks with its block's id."""
    for block in blocks:
        block_id = str(block.get("block_id", ""))
        found = [block.get("accessory"), block.get("element"), *(block.get("elements") or [])]
        for element in found:
            if isinstance(element, dict):
                yield block_id, element


def find_element(blocks: list[JsonDict], block_id: str, action_id: str) -> JsonDict | None:
    for found_block, element in elements_of(blocks):
        if found_block == block_id and element.get("action_id") == action_id:
            return element
    return None


def options_of(element: JsonDict) -> list[JsonDict]:
    options = list(element.get("options") or [])
    for group in element.get("option_groups") or []:
        options += group.get("options") or []
    return [o for o in options if isinstance(o, dict)]


def _option(element: JsonDict, value: Any) -> JsonDict:
    for option in options_of(element):
        if option.get("value") == value:
            return copy.deepcopy(option)
    raise BadRequest(f"no option {value!r} in {element.get('action_id')!r}")


def _typed_value(element: JsonDict, key: str, raw: Any) -> Any:
    """What a pick or an input holds, in the shape Slack gives it in `key`."""
    if key == "selected_option":
        return None if raw in (None, "") else _option(element, raw)
    if key == "selected_options":
        return [_option(element, value) for value in _strings(raw)]
    if key in ("selected_users", "selected_conversations", "selected_channels"):
        return _strings(raw)
    if key == "selected_date_time":
        return int(raw) if str(raw or "").isdigit() else None
    return None if raw in (None, "") else str(raw)


def picked(element: JsonDict, selected: Any) -> JsonDict:
    """The fields a block_actions payload carries for a pick on `element`
    (https://api.slack.com/reference/interaction-payloads/block-actions)."""
    kind = element.get("type")
    key = _INPUT_KEYS.get(str(kind))
    if kind == "button" or key is None:
        return {}
    if not isinstance(selected, dict) or _PICKS.get(key) not in selected:
        raise BadRequest(f"a {kind} needs selected.{_PICKS.get(key, 'option')}")
    return {key: _typed_value(element, key, selected[_PICKS[key]])}


def state_values(view: JsonDict, typed: JsonDict) -> tuple[JsonDict, dict[str, str]]:
    """A modal's `state.values` from what its inputs hold, by block and action id; and the
    required inputs left empty, with Slack's words for them."""
    values: JsonDict = {}
    missing: dict[str, str] = {}
    for block in view.get("blocks") or []:
        element = block.get("element")
        if block.get("type") != "input" or not isinstance(element, dict):
            continue
        block_id, action_id = str(block.get("block_id")), str(element.get("action_id"))
        kind = str(element.get("type"))
        key = _INPUT_KEYS.get(kind)
        if key is None:
            continue
        by_action = typed.get(block_id)
        raw = by_action.get(action_id) if isinstance(by_action, dict) else None
        value = _typed_value(element, key, raw)
        values[block_id] = {action_id: {"type": kind, key: value}}
        problem = _input_problem(element, value, optional=bool(block.get("optional")))
        if problem:
            missing[block_id] = problem
    return values, missing


def _input_problem(element: JsonDict, value: Any, *, optional: bool) -> str | None:
    if value in (None, "", []):
        return None if optional else REQUIRED_FIELD
    if isinstance(value, str):
        low, high = element.get("min_length"), element.get("max_length")
        if isinstance(low, int) and len(value) < low:
            return f"Please enter at least {low} characters."
        if isinstance(high, int) and len(value) > high:
            return f"Please enter no more than {high} characters."
    return None


def ack_reply(sent: SentRequest) -> JsonDict | None:
    """What the bot answered with its acknowledgement, if anything: a JSON message, or
    plain text (which Slack shows as a message too)."""
    body = sent.body.strip()
    if not body:
        return None
    try:
        answer = json.loads(body)
    except ValueError:
        return {"text": body}
    return answer if isinstance(answer, dict) else {"text": body}


# ---------------------------------------------------------------------------------------------
# HTTP helpers
# ---------------------------------------------------------------------------------------------


@contextlib.contextmanager
def _answers() -> Iterator[JsonDict]:
    """The answer being built; a BadRequest or Gone raised inside becomes its error."""
    answer: JsonDict = {}
    try:
        yield answer
    except BadRequest as err:
        answer.clear()
        answer.update(ok=False, error=str(err), status=400)
    except Gone as err:
        answer.clear()
        answer.update(ok=False, error=str(err), status=409)


def _reply(answer: JsonDict) -> web.Response:
    status = int(answer.pop("status", 200))
    return web.json_response(answer, status=status, headers={"Cache-Control": "no-store"})


def _file(path: Path, content_type: str) -> web.StreamResponse:
    return web.FileResponse(
        path,
        headers={"Content-Type": f"{content_type}; charset=utf-8", "Cache-Control": "no-cache"},
    )


async def _json(request: web.Request) -> JsonDict:
    try:
        body = await request.json()
    except ValueError:
        raise BadRequest("send a JSON object") from None
    if not isinstance(body, dict):
        raise BadRequest("send a JSON object")
    return body


def _required_str(body: JsonDict, name: str) -> str:
    value = body.get(name)
    if not isinstance(value, str) or not value:
        raise BadRequest(f"{name} is required")
    return value


def _optional_str(body: JsonDict, name: str) -> str | None:
    value = body.get(name)
    if value in (None, ""):
        return None
    if not isinstance(value, str):
        raise BadRequest(f"{name} must be a string")
    return value


def _int(text: str) -> int:
    try:
        return int(text)
    except ValueError:
        raise BadRequest(f"not a number: {text!r}") from None


def _strings(raw: Any) -> list[str]:
    if raw in (None, ""):
        return []
    items = raw if isinstance(raw, list) else [raw]
    return [str(item) for item in items]
