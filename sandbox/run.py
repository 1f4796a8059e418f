"""`python app.py --sandbox`: the whole bot on this machine, with Slack and Google emulated.

It starts both emulators, a fresh SQLite database, and the bot's real server with its
production code paths (only the URLs differ), seeds a demo customer channel, and
prints where everything runs. On a terminal it is also a small Slack stand-in: type a
`/tonomo …` command (prefix `as alice:` to act as someone else) and read what the bot
posts; its sign-in links open the Google emulator's consent page in a browser.
"""

from __future__ import annotations

import asyncio
import contextlib
import signal
import sys
import tempfile
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from aiohttp import web
from cryptography.fernet import Fernet

from bot.config import Settings
from bot.server import create_web_app
from bot.services import build_services
from sandbox.fake_google import FakeGoogle
from sandbox.fake_slack import FakeSlack

CLIENT_ID = "tonomo-sandbox.apps.googleusercontent.com"
CLIENT_SECRET = "tonomo-sandbox-secret"  # noqa: S105 - the emulator's own client
CHANNEL = "C0ACMEPHOTO"
CHANNEL_NAME = "acme-photo-onboarding"
PEOPLE = {
    # Slack user id: (name, real name, timezone)
    "U0OLIVIA": ("olivia", "Olivia Owner (owner)", "America/New_York"),
    "U0ALICE": ("alice", "Alice Lens (photographer)", "America/New_York"),
    "U0BOB": ("bob", "Bob Shutter (photographer)", "America/New_York"),
    "U0CARMEN": ("carmen", "Carmen Flash (photographer)", "America/New_York"),
}
OWNER = "U0OLIVIA"


def seed(slack: FakeSlack) -> None:
    for user_id, (name, real_name, tz) in PEOPLE.items():
        slack.add_user(user_id, name=name, real_name=real_name, tz=tz)
    slack.add_channel(CHANNEL, name=CHANNEL_NAME, members=list(PEOPLE))


def bot_environment(
    *, slack: FakeSlack, google: FakeGoogle, public_url: str, database_url: str
) -> dict[str, str]:
    """The bot's configuration for these emulators, as environment variables (a fresh key)."""
    return {
        "SLACK_BOT_TOKEN": slack.bot_token,
        "SLACK_SIGNING_SECRET": slack.signing_secret,
        "SLACK_API_URL": slack.api_url,
        "GOOGLE_CLIENT_ID": google.client_id or "any-client.apps.googleusercontent.com",
        "GOOGLE_CLIENT_SECRET": google.client_secret or "any-secret",
        "GOOGLE_AUTH_URI": google.auth_uri,
        "GOOGLE_TOKEN_URI": google.token_uri,
        "GOOGLE_REVOKE_URI": google.revoke_uri,
        "GOOGLE_API_URL": google.api_url,
        "PUBLIC_URL": public_url,
        "DATABASE_URL": database_url,
        "TOKEN_ENCRYPTION_KEY": Fernet.generate_key().decode(),
    }


def render(message: dict[str, Any]) -> str:
    """A message as plain lines: its texts, then its buttons and their links."""
    lines: list[str] = []

    def walk(node: Any) -> None:
        if isinstance(node, dict):
            if node.get("type") == "button":
                label = node.get("text", {}).get("text", "")
                lines.append(f"  [{label}] {node['url']}" if node.get("url") else f"  [{label}]")
                return
            if node.get("type") in ("mrkdwn", "plain_text") and isinstance(node.get("text"), str):
                lines.append(node["text"])
                return
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for item in node:
                walk(item)

    walk(message.get("blocks") or [])
    return "\n".join(lines) or str(message.get("text", ""))


@dataclass
class Console:
    """Prints what the bot posts, and sends what is typed as slash commands."""

    slack: FakeSlack
    bot_url: str
    seen_messages: int = 0
    seen_responses: int = 0
    names: dict[str, str] = field(default_factory=lambda: {v[0]: k for k, v in PEOPLE.items()})

    def print_new(self) -> None:
        messages = self.slack.messages(CHANNEL)
        for message in messages[self.seen_messages :]:
            print(f"\n#{CHANNEL_NAME}:\n{render(message)}\n", flush=True)
        self.seen_messages = len(messages)
        responses = self.slack.responses
        for response in responses[self.seen_responses :]:
            who = PEOPLE.get(str(response.get("user")), ("someone",))[0]
            if response.get("response_type") == "in_channel":
                continue  # shown with the channel's messages
            print(f"\n(only visible to {who}):\n{render(response)}\n", flush=True)
        self.seen_responses = len(responses)

    async def send(self, line: str) -> None:
        user = OWNER
        if line.lower().startswith("as ") and ":" in line:
            name, line = line[3:].split(":", 1)
            if name.strip().lower() not in self.names:
                print(f"Nobody called {name.strip()!r} here; try {', '.join(self.names)}.")
                return
            user = self.names[name.strip().lower()]
        text = line.strip()
        if not text.startswith("/tonomo"):
            print("Type a command like: /tonomo help   (or: as alice: /tonomo connect-calendar)")
            return
        sent = await self.slack.send_slash_command(
            self.bot_url + "/slack/events",
            user_id=user,
            channel_id=CHANNEL,
            text=text[len("/tonomo") :],
        )
        if sent.body.strip():
            print(f"\n(only visible to {PEOPLE[user][0]}):\n{render(sent.json())}\n", flush=True)

    async def watch(self) -> None:
        while True:
            self.print_new()
            await asyncio.sleep(0.2)

    async def read_commands(self) -> None:
        while True:
            line = await asyncio.to_thread(sys.stdin.readline)
            if not line:
                return
            if line.strip():
                await self.send(line)


@dataclass(frozen=True)
class Sandbox:
    google: FakeGoogle
    slack: FakeSlack
    bot_url: str


@contextlib.asynccontextmanager
async def running_sandbox(port: int) -> AsyncIterator[Sandbox]:
    """Both emulators, seeded, and the bot's real server on 127.0.0.1:`port`, with a fresh database."""
    google = FakeGoogle(client_id=CLIENT_ID, client_secret=CLIENT_SECRET)
    slack = FakeSlack()
    seed(slack)
    await google.start()
    await slack.start()
    bot_url = f"http://127.0.0.1:{port}"
    try:
        with tempfile.TemporaryDirectory(prefix="tonomo-sandbox-") as data:
            database_url = f"sqlite:///{Path(data) / 'tonomo.db'}"
            environment = bot_environment(
                slack=slack, google=google, public_url=bot_url, database_url=database_url
            )
            services = await build_services(Settings.from_env(environment))
            runner = web.AppRunner(create_web_app(services))
            await runner.setup()
            try:
                await web.TCPSite(runner, "127.0.0.1", port).start()
                yield Sandbox(google=google, slack=slack, bot_url=bot_url)
            finally:
                await runner.cleanup()
    finally:
        await slack.stop()
        await google.stop()


async def run_sandbox(port: int | None = None) -> int:
    bot_port = port or 3000
    try:
        async with running_sandbox(bot_port) as sandbox:
            print(
                "Tonomo sandbox is running (Ctrl-C stops it):\n"
                f"  bot              {sandbox.bot_url}   (health: {sandbox.bot_url}/healthz)\n"
                f"  Slack emulator   {sandbox.slack.api_url}\n"
                f"  Google emulator  {sandbox.google.base_url}   (its consent pages open from the bot's links)\n"
                f"  channel          #{CHANNEL_NAME} with {', '.join(v[0] for v in PEOPLE.values())}\n"
                "Type /tonomo commands as olivia (the owner); 'as alice: /tonomo connect-calendar' acts as alice.",
                flush=True,
            )
            await serve_console(Console(slack=sandbox.slack, bot_url=sandbox.bot_url))
    except OSError as err:
        print(
            f"tonomo sandbox: could not start on port {bot_port} ({err.strerror or err}); try --port 3100",
            file=sys.stderr,
        )
        return 1
    return 0


async def serve_console(console: Console) -> None:
    """Show what the bot posts (and read commands on a terminal) until SIGINT or SIGTERM."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    tasks = [asyncio.create_task(console.watch())]
    if sys.stdin.isatty():
        tasks.append(asyncio.create_task(console.read_commands()))
    await stop.wait()
    print("\nStopping the sandbox…", flush=True)
    for task in tasks:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
