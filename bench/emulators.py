"""The Slack and Google emulators in one process, seeded and controllable, for the benchmarks.

    python -m bench.emulators --slack-port N --google-port N --control-port N

Slack's emulator gets a workspace of `--channels` channels, each with every one of
`--users` people. A small control API on its own port (loopback, outside both emulators,
so it is neither recorded nor slowed by their fault injection) lets the benchmark:

- `GET /healthz`: 200 once everything listens;
- `POST /slash-commands` `{"commands": [{"channel_id", "user_id", "text"}, …]}`: the form
  fields of each slash command exactly as the emulator would send them, with a
  `response_url` and `trigger_id` it has issued and will accept, so that the benchmark
  can sign and send them itself without the emulator on the measured path;
- `POST /latency` `{"google": S, "slack": S}`: seconds added to every emulator request;
- `POST /google/tokens` `{"count": N, "scopes": […]}`: N new Google accounts, each with
  a grant of those scopes, as if its owner had consented; their `email`,
  `access_token` and `refresh_token`. With `"emails": […]` instead of a count, a grant
  for each of those accounts (created if new), in that order;
- `GET /stats`: how many requests each emulator received (Google's also by path), how
  many of Slack's were `response_url` posts, and Slack's Web API calls by method;
- `POST /google/calendars` `{"accounts": [{"email", "time_zone", "events": […]}, …]}`:
  each account (created with its primary calendar in that zone if new) and the events
  put on its primary calendar, each `{"start", "end", "summary", "transparency"}` with
  `start` and `end` RFC 3339 times, or dates for all-day events;
- `POST /google/expire-tokens` `{"lifetime": S}`: every access token issued so far
  expires now, and those issued from now on last S seconds (when given);
- `POST /slack/channels` `{"channels": [{"id", "name", "members": [{"id", "name",
  "tz"}, …]}, …]}`: each channel, with the bot and those people as its members; each
  person is added to the workspace (or replaced) with their name and Slack timezone.
  People of another organisation (Slack Connect): `"teams": [{"id", "name", "domain"}]`
  beside `channels` adds those organisations' workspaces, a member's `"team_id"` names
  their own, and a channel's `"shared_with": [team ids]` shares it with them;
- `POST /mentions` `{"mentions": [{"channel_id", "user_id", "text"}, …]}`: each person
  posts `@Tonomo text` in the channel (`FakeSlack.send_message`, the text in Slack's wire
  form `<@BOT> text`), and the body of the `app_mention` event Slack delivers for it is
  returned, `{"mentions": [{"ts", "body"}, …]}`, for the benchmark to sign and send
  itself (the emulator delivers it to this control API, which only acknowledges it);
- `GET /requests?emulator=slack|google&path=REGEX&since=T&wait=S`: the requests that
  emulator received at or after T (seconds since the epoch, as `time.time()` counts
  them) whose path matches, oldest first: method, path, query, when it arrived and the
  body.
  With `wait`, the answer waits up to S seconds for at least one, or until the asker
  hangs up;
- `POST /slack/faults` `{"path_pattern", "status", "body", "headers", "latency", "times",
  "method", "body_contains"}`: a `sandbox.faults.Fault` on Slack's emulator (first match
  wins), e.g. one channel's `chat.postMessage` answered 429 with `Retry-After`;
- `POST /faults/clear` `{"emulator": "slack"|"google"}`: that emulator's faults removed
  (its added latency kept), and for Google every account's own latency too;
- `POST /google/account-latency` `{"accounts": {email: S, …}}`: seconds each Calendar API
  call of that account waits before it is answered (one person's Google hanging); 0
  removes it;
- `GET /slack/messages?channels=C1,C2&since=T`: what was posted in each channel and
  accepted (a post answered with a fault is not), oldest first, each message as the
  emulator keeps it; its `ts` is when it was accepted, and only those at or after T.
- `GET /calls?emulator=slack|google&path=REGEX&since=T`: the same requests as
  `/requests`, without their bodies, each with the client's end of its connection
  (`peer`, `host:port`: which process sent it) and, for Google, the account it was made
  for (`account`: the access token's, or for `/token` the refresh token's; "" when the
  token is unknown).

`GOOGLE_CLIENT_ID`, `GOOGLE_CLIENT_SECRET`, `SLACK_BOT_TOKEN` and `SLACK_SIGNING_SECRET`
in the environment name the credentials the emulators accept.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import re
import signal
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any
from urllib.parse import parse_qs

from aiohttp import web

from sandbox.fake_google import FakeGoogle
from sandbox.fake_slack import (
    APP_ID,
    DEFAULT_BOT_TOKEN,
    DEFAULT_SIGNING_SECRET,
    VERIFICATION_TOKEN,
    FakeSlack,
)
from sandbox.faults import Fault, RecordedRequest

TIMEZONES = ("America/New_York", "America/Chicago", "America/Los_Angeles", "Europe/London")
WAIT_TICK_SECONDS = 0.005  # how often `GET /requests?wait=…` looks again


def channel_id(index: int) -> str:
    return f"C0BENCH{index:04d}"


def user_id(index: int) -> str:
    return f"U0BENCH{index:04d}"


def user_name(slack_user_id: str) -> str:
    return "user" + slack_user_id.removeprefix("U0BENCH")


def channel_name(slack_channel_id: str) -> str:
    return "customer-" + slack_channel_id.removeprefix("C0BENCH")


def seed(slack: FakeSlack, *, channels: int, users: int) -> None:
    people = [user_id(i) for i in range(users)]
    for i, person in enumerate(people):
        slack.add_user(person, name=user_name(person), tz=TIMEZONES[i % len(TIMEZONES)])
    for i in range(channels):
        slack.add_channel(channel_id(i), name=channel_name(channel_id(i)), members=people)


@dataclass
class Emulators:
    slack: FakeSlack
    google: FakeGoogle

    def slash_command_fields(self, channel: str, user: str, text: str) -> dict[str, str]:
        """What Slack posts for a slash command (the fields of `FakeSlack.send_slash_command`)."""
        slack = self.slack
        return {
            "token": VERIFICATION_TOKEN,
            "team_id": slack.team_id,
            "team_domain": slack.team_domain,
            "channel_id": channel,
            "channel_name": channel_name(channel),
            "user_id": user,
            "user_name": user_name(user),
            "command": "/tonomo",
            "text": text,
            "api_app_id": APP_ID,
            "is_enterprise_install": "false",
            # The emulator accepts posts only to response_urls it issued itself.
            "response_url": slack._issue_response_url(channel, user, None),
            "trigger_id": slack._issue_trigger(user),
        }

    def control_app(self) -> web.Application:
        app = web.Application()
        app.router.add_get("/healthz", self._healthz)
        app.router.add_post("/slash-commands", self._slash_commands)
        app.router.add_post("/latency", self._latency)
        app.router.add_post("/google/tokens", self._google_tokens)
        app.router.add_get("/stats", self._stats)
        app.router.add_post("/google/calendars", self._google_calendars)
        app.router.add_post("/google/expire-tokens", self._google_expire_tokens)
        app.router.add_post("/slack/channels", self._slack_channels)
        app.router.add_get("/requests", self._requests)
        app.router.add_post("/mentions", self._mentions)
        app.router.add_post("/delivered", self._delivered)
        app.router.add_post("/slack/faults", self._slack_faults)
        app.router.add_post("/faults/clear", self._clear_faults)
        app.router.add_post("/google/account-latency", self._account_latency)
        app.router.add_get("/slack/messages", self._slack_messages)
        app.router.add_get("/calls", self._calls)
        return app

    async def _healthz(self, _request: web.Request) -> web.Response:
        return web.json_response({"status": "ok"})

    async def _slash_commands(self, request: web.Request) -> web.Response:
        wanted: list[dict[str, Any]] = (await request.json())["commands"]
        fields = [
            self.slash_command_fields(str(c["channel_id"]), str(c["user_id"]), str(c["text"]))
            for c in wanted
        ]
        return web.json_response({"commands": fields})

    async def _latency(self, request: web.Request) -> web.Response:
        wanted: dict[str, Any] = await request.json()
        self.google.faults.latency = float(wanted.get("google", self.google.faults.latency))
        self.slack.faults.latency = float(wanted.get("slack", self.slack.faults.latency))
        return web.json_response(
            {"google": self.google.faults.latency, "slack": self.slack.faults.latency}
        )

    async def _google_tokens(self, request: web.Request) -> web.Response:
        wanted: dict[str, Any] = await request.json()
        scopes = [str(s) for s in wanted["scopes"]]
        if "emails" in wanted:
            emails = [str(e) for e in wanted["emails"]]
        else:
            first = len(self.google.accounts)
            count = int(wanted["count"])
            emails = [f"staff{number:05d}@bench.example" for number in range(first, first + count)]
        accounts = []
        for email in emails:
            access, refresh = self.google.issue_tokens(email, scopes)
            accounts.append({"email": email, "access_token": access, "refresh_token": refresh})
        return web.json_response({"accounts": accounts})

    async def _stats(self, _request: web.Request) -> web.Response:
        methods = Counter(
            r.path.removeprefix("/api/") for r in self.slack.requests if r.path.startswith("/api/")
        )
        return web.json_response(
            {
                "responses": len(self.slack.responses),
                "slack_requests": len(self.slack.requests),
                "google_requests": len(self.google.requests),
                "google_paths": dict(Counter(r.path for r in self.google.requests)),
                "slack_api_calls": dict(sorted(methods.items())),
            }
        )

    async def _google_calendars(self, request: web.Request) -> web.Response:
        wanted: list[dict[str, Any]] = (await request.json())["accounts"]
        events = 0
        for account in wanted:
            email = str(account["email"])
            self.google.add_account(email, time_zone=str(account.get("time_zone", "UTC")))
            for event in account.get("events", []):
                self.google.add_event(
                    email,
                    start=event_moment(str(event["start"])),
                    end=event_moment(str(event["end"])),
                    summary=str(event.get("summary", "")),
                    transparency=str(event.get("transparency", "opaque")),
                )
                events += 1
        return web.json_response({"accounts": len(wanted), "events": events})

    async def _google_expire_tokens(self, request: web.Request) -> web.Response:
        wanted: dict[str, Any] = await request.json() if request.can_read_body else {}
        self.google.expire_access_tokens()
        if "lifetime" in wanted:
            self.google.access_token_lifetime = int(wanted["lifetime"])
        return web.json_response({"lifetime": self.google.access_token_lifetime})

    async def _slack_channels(self, request: web.Request) -> web.Response:
        body: dict[str, Any] = await request.json()
        for team in body.get("teams", []):
            self.slack.add_team(str(team["id"]), name=str(team["name"]), domain=str(team["domain"]))
        wanted: list[dict[str, Any]] = body["channels"]
        people = 0
        for channel in wanted:
            members = [dict(m) for m in channel["members"]]
            for member in members:
                self.slack.add_user(
                    str(member["id"]),
                    name=str(member["name"]),
                    tz=str(member["tz"]),
                    team_id=str(member["team_id"]) if "team_id" in member else None,
                )
            self.slack.add_channel(
                str(channel["id"]),
                name=str(channel["name"]),
                members=[str(m["id"]) for m in members],
                shared_with=[str(t) for t in channel.get("shared_with", [])],
            )
            people += len(members)
        return web.json_response({"channels": len(wanted), "members": people})

    async def _mentions(self, request: web.Request) -> web.Response:
        wanted: list[dict[str, Any]] = (await request.json())["mentions"]
        # The emulator delivers each event here, to `_delivered`; the benchmark sends it on.
        here = f"{request.url.origin()}/delivered"
        mentions = []
        for mention in wanted:
            message, sent = await self.slack.send_message(
                here,
                user_id=str(mention["user_id"]),
                channel_id=str(mention["channel_id"]),
                text=f"<@{self.slack.bot_user_id}> {mention['text']}",
            )
            if sent is None:
                raise web.HTTPBadRequest(text=f"no app_mention for {mention}")
            mentions.append({"ts": message["ts"], "body": sent.request_body})
        return web.json_response({"mentions": mentions})

    async def _delivered(self, _request: web.Request) -> web.Response:
        return web.Response()

    async def _slack_faults(self, request: web.Request) -> web.Response:
        wanted: dict[str, Any] = await request.json()
        times = wanted.get("times")
        fault = Fault(
            path_pattern=str(wanted["path_pattern"]),
            status=None if wanted.get("status") is None else int(wanted["status"]),
            body=wanted.get("body"),
            headers={str(k): str(v) for k, v in (wanted.get("headers") or {}).items()},
            latency=float(wanted.get("latency", 0.0)),
            times=None if times is None else int(times),
            method=None if wanted.get("method") is None else str(wanted["method"]),
            body_contains=(
                None if wanted.get("body_contains") is None else str(wanted["body_contains"])
            ),
        )
        self.slack.faults.add(fault)
        return web.json_response({"added": fault.path_pattern})

    async def _clear_faults(self, request: web.Request) -> web.Response:
        wanted: dict[str, Any] = await request.json()
        emulator = self.google if wanted.get("emulator") == "google" else self.slack
        latency = emulator.faults.latency
        emulator.faults.clear()  # it resets the added latency too: keep that
        emulator.faults.latency = latency
        if emulator is self.google:
            self.google.account_latency.clear()
        return web.json_response({"cleared": wanted.get("emulator", "slack")})

    async def _account_latency(self, request: web.Request) -> web.Response:
        wanted: dict[str, Any] = (await request.json())["accounts"]
        for email, seconds in wanted.items():
            if float(seconds) > 0:
                self.google.account_latency[str(email)] = float(seconds)
            else:
                self.google.account_latency.pop(str(email), None)
        return web.json_response({"accounts": self.google.account_latency})

    async def _slack_messages(self, request: web.Request) -> web.Response:
        since = float(request.query.get("since", 0))
        found = {
            channel: [m for m in self.slack.messages(channel) if float(m["ts"]) >= since]
            for channel in request.query["channels"].split(",")
        }
        return web.json_response({"messages": found})

    async def _requests(self, request: web.Request) -> web.Response:
        query = request.query
        emulator = self.google if query.get("emulator") == "google" else self.slack
        path = re.compile(query.get("path", ""))
        since = float(query.get("since", 0))
        deadline = time.monotonic() + float(query.get("wait", 0))
        while True:
            found = [r for r in emulator.requests if r.at >= since and path.search(r.path)]
            gone = request.transport is None or request.transport.is_closing()
            if found or gone or time.monotonic() >= deadline:  # gone: nobody waits any more
                break
            await asyncio.sleep(WAIT_TICK_SECONDS)
        shown = [
            {"method": r.method, "path": r.path, "query": r.query, "at": r.at, "body": r.text}
            for r in found
        ]
        return web.json_response({"requests": shown})

    async def _calls(self, request: web.Request) -> web.Response:
        query = request.query
        google = query.get("emulator") == "google"
        emulator = self.google if google else self.slack
        path = re.compile(query.get("path", ""))
        since = float(query.get("since", 0))
        found = [r for r in emulator.requests if r.at >= since and path.search(r.path)]
        # The emulator's own books (as `slash_command_fields` reads Slack's): who holds a token.
        by_refresh = (
            {g.refresh_token: g.email for g in self.google._grants if g.refresh_token}
            if google
            else {}
        )

        def account(r: RecordedRequest) -> str:
            if not google:
                return ""
            bearer = next(
                (v for k, v in r.headers.items() if k.lower() == "authorization"), ""
            ).removeprefix("Bearer ")
            if bearer in self.google._access_tokens:
                return self.google._access_tokens[bearer].grant.email
            refresh = parse_qs(r.text).get("refresh_token", [""])[0]
            return by_refresh.get(refresh, "")

        shown = [{"path": r.path, "at": r.at, "peer": r.peer, "account": account(r)} for r in found]
        return web.json_response({"calls": shown})


def event_moment(text: str) -> datetime | date:
    """An RFC 3339 time, or a date (an all-day event's)."""
    if len(text) == len("2026-01-31"):
        return date.fromisoformat(text)
    return datetime.fromisoformat(text)


async def serve(args: argparse.Namespace) -> None:
    slack = FakeSlack(
        bot_token=os.environ.get("SLACK_BOT_TOKEN") or DEFAULT_BOT_TOKEN,
        signing_secret=os.environ.get("SLACK_SIGNING_SECRET") or DEFAULT_SIGNING_SECRET,
    )
    google = FakeGoogle(
        client_id=os.environ.get("GOOGLE_CLIENT_ID") or None,
        client_secret=os.environ.get("GOOGLE_CLIENT_SECRET") or None,
    )
    seed(slack, channels=args.channels, users=args.users)
    emulators = Emulators(slack=slack, google=google)
    google.faults.latency = args.google_latency
    control = web.AppRunner(emulators.control_app(), access_log=None)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop.set)
    await slack.start(args.host, args.slack_port)
    await google.start(args.host, args.google_port)
    await control.setup()
    await web.TCPSite(control, args.host, args.control_port).start()
    try:
        await stop.wait()
    finally:
        await control.cleanup()
        await google.stop()
        await slack.stop()


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        prog="python -m bench.emulators",
        description="Serve the Slack and Google emulators, seeded, with a control API.",
    )
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--slack-port", type=int, required=True)
    parser.add_argument("--google-port", type=int, required=True)
    parser.add_argument("--control-port", type=int, required=True)
    parser.add_argument("--channels", type=int, default=10)
    parser.add_argument("--users", type=int, default=50)
    parser.add_argument("--google-latency", type=float, default=0.0)
    asyncio.run(serve(parser.parse_args(argv)))


if __name__ == "__main__":
    main()
