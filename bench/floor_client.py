"""The floor of an answer that reads every connected calendar: what the machine itself takes.

`/tonomo availability` reads each staff member's calendar (one free/busy call) and
`/tonomo status` checks each connection (one `calendars/primary` call), each after a
token refresh where the token has expired. With hundreds of people the calls at once
cost CPU (opening and reading hundreds of connections, the emulator answering them, the
answers parsed) on the same two cores as everything else, so the answer's limit is not
the round trips alone. `FloorClient` measures that floor: a bare asyncio client (one
aiohttp session, no bot, no database, no Slack) that makes the same calls against the
same Google emulator, all at once as the bot would, with grants of its own for the same
accounts. Its garbage collector is paused while it asks, and its connections are kept
between asks as the bot's are: the floor is the best a client can do on this machine.

The benchmarks that use it (`bench.availability_answer`, `bench.status_answer`) time its
asks the same way as the bot's answers, from before the first call to the last answer
read, by `time.time()` (the emulators' clock), and split them around the Google calls the
emulator received (`analyse`), in the same run, ask by ask, so that drift on a busy
machine touches both alike.
"""

from __future__ import annotations

import asyncio
import bisect
import json
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import aiohttp

from bench.ack_latency import collector_paused
from bench.answer_setup import Control
from bench.fleet import CLIENT_ID, CLIENT_SECRET, HOST

TOKEN_PATH = "/token"  # noqa: S105 - a path, not a secret
FREEBUSY_PATH = "/calendar/v3/freeBusy"
CALENDAR_PATH = "/calendar/v3/calendars/primary"
KEEPALIVE_S = 120.0  # as the bot's adapter keeps its idle connections


@dataclass(frozen=True)
class Call:
    """The one call made for each account: `POST freeBusy` with the bot's own body, or
    `GET calendars/primary`."""

    method: str
    path: str
    body: bytes | None = None


@dataclass
class Floor:
    """One ask of the floor: its time and what it made."""

    start: float
    """When its first call was made (epoch s)."""
    total_s: float
    calls: int
    failures: list[str] = field(default_factory=list)
    cpu_s: float = 0.0
    """This process's CPU time during the ask (the client's own)."""


class FloorClient:
    """A bare asyncio client over one session, with grants of its own (`grants`)."""

    def __init__(self, google_port: int, tokens: dict[str, tuple[str, str]]) -> None:
        """`tokens`: each account's access and refresh token."""
        self._url = f"http://{HOST}:{google_port}"
        self._access = {email: access for email, (access, _) in tokens.items()}
        self._refresh = {email: refresh for email, (_, refresh) in tokens.items()}
        self._session = aiohttp.ClientSession(
            # No limit: every call at once, each on its own connection, kept between asks.
            connector=aiohttp.TCPConnector(limit=0, keepalive_timeout=KEEPALIVE_S)
        )

    async def close(self) -> None:
        await self._session.close()

    async def ask(self, emails: Sequence[str], call: Call, *, refresh: bool) -> Floor:
        """For every account at once: a token refresh first when `refresh`, then `call`."""
        cpu = time.process_time()
        with collector_paused():
            start = time.time()
            outcomes = await asyncio.gather(*(self._one(e, call, refresh) for e in emails))
            total = time.time() - start
        failures = [f for f in outcomes if f]
        calls = len(emails) * (2 if refresh else 1)
        return Floor(start, total, calls, failures, time.process_time() - cpu)

    async def _one(self, email: str, call: Call, refresh: bool) -> str:
        """One account's calls; "" when they went as they should, else what went wrong."""
        if refresh:
            form = {
                "grant_type": "refresh_token",
                "refresh_token": self._refresh[email],
                "client_id": CLIENT_ID,
                "client_secret": CLIENT_SECRET,
            }
            async with self._session.post(f"{self._url}{TOKEN_PATH}", data=form) as answer:
                content = await answer.read()
                if answer.status != 200:
                    return f"{email}: the refresh was answered {answer.status}"
                self._access[email] = json.loads(content)["access_token"]
        headers = {"Authorization": f"Bearer {self._access[email]}"}
        if call.body is not None:
            headers["Content-Type"] = "application/json"
        async with self._session.request(
            call.method, f"{self._url}{call.path}", data=call.body, headers=headers
        ) as answer:
            content = await answer.read()
            if answer.status != 200:
                return f"{email}: {call.path} was answered {answer.status}"
        found = json.loads(content)  # as a client reads it
        if call.path == FREEBUSY_PATH and found["calendars"]["primary"].get("errors"):
            return f"{email}: free/busy answered {found['calendars']['primary']['errors']}"
        if call.path == CALENDAR_PATH and found.get("id") != email:
            return f"{email}: calendars/primary is {found.get('id')!r}"
        return ""


async def floor_tokens(
    control: Control, accounts: dict[str, Sequence[str]]
) -> dict[str, tuple[str, str]]:
    """A new grant of each account (email: its scopes) from Google's emulator, as if its
    owner had consented once more: each one's access and refresh token."""
    tokens: dict[str, tuple[str, str]] = {}
    by_scopes: dict[tuple[str, ...], list[str]] = {}
    for email, scopes in accounts.items():
        by_scopes.setdefault(tuple(scopes), []).append(email)
    for scopes, emails in by_scopes.items():
        body = {"emails": emails, "scopes": list(scopes)}
        async with control.session.post(f"{control.url}/google/tokens", json=body) as answer:
            answer.raise_for_status()
            for account in (await answer.json())["accounts"]:
                tokens[account["email"]] = (account["access_token"], account["refresh_token"])
    return tokens


# --- what the emulator saw ------------------------------------------------------------------


@dataclass(frozen=True)
class Split:
    """An ask's time around the Google calls it made, from the emulator's arrival times."""

    before_s: float
    """From the start (the command sent, or the floor's first call made) to the first
    Google call's arrival."""
    google_s: float
    """From the first call's arrival to the last one's answer (its arrival + latency)."""
    after_s: float
    """From the last Google call's answer to the end (the answer's arrival, or the floor's
    last answer read)."""
    in_a_row: int
    """Google calls in a row: each arrived after an earlier one's answer."""
    spread_s: float
    """From the first to the last arrival of the per-person calls of the first wave (those
    not in a row after another of them)."""
    most_in_flight: int
    """Most Google calls arrived within one latency of each other: in flight at once."""
    calls: dict[str, int]
    """By path."""
    steps: list[dict[str, Any]]
    """Each call in a row's depth: its calls by path, its first and last arrival (ms)."""


def analyse(
    google: Sequence[dict[str, Any]], start: float, end: float, latency: float, call_path: str
) -> Split | None:
    """The split of an ask from `start` to `end` (epoch s) from the Google requests
    (`Control.requests`) between them; None if there were none."""
    if not google:
        return None
    ordered = sorted(google, key=lambda r: float(r["at"]))
    ats = [float(r["at"]) for r in ordered]
    depths = depths_of(ats, latency)
    calls: dict[str, int] = {}
    for r in ordered:
        calls[r["path"]] = calls.get(r["path"], 0) + 1
    steps = []
    for depth in range(1, max(depths) + 1):
        at_depth = [(r, at) for r, at, d in zip(ordered, ats, depths, strict=True) if d == depth]
        paths: dict[str, int] = {}
        for r, _ in at_depth:
            paths[r["path"]] = paths.get(r["path"], 0) + 1
        steps.append(
            {
                "first_at_ms": round((at_depth[0][1] - start) * 1000, 1),
                "last_at_ms": round((at_depth[-1][1] - start) * 1000, 1),
                "calls": paths,
            }
        )
    reads = [d for r, d in zip(ordered, depths, strict=True) if r["path"] == call_path]
    first_wave = [
        at
        for r, at, d in zip(ordered, ats, depths, strict=True)
        if r["path"] == call_path and d == min(reads)
    ]
    answered = ats[-1] + latency
    return Split(
        before_s=ats[0] - start,
        google_s=answered - ats[0],
        after_s=end - answered,
        in_a_row=max(depths),
        spread_s=(first_wave[-1] - first_wave[0]) if first_wave else 0.0,
        most_in_flight=most_in_flight(ats, latency),
        calls=dict(sorted(calls.items())),
        steps=steps,
    )


def depths_of(ats: Sequence[float], latency: float) -> list[int]:
    """Each call's depth (`ats` in order): 1 + the deepest of the calls answered (arrival
    + latency) before it arrived."""
    depths: list[int] = []
    deepest_before: list[int] = []  # the deepest of depths[: i + 1]
    for i, at in enumerate(ats):
        answered = min(i, bisect.bisect_right(ats, at - latency))  # calls 0 … answered - 1
        depth = 1 + (deepest_before[answered - 1] if answered else 0)
        depths.append(depth)
        deepest_before.append(max(depth, deepest_before[-1] if deepest_before else 0))
    return depths


def most_in_flight(ats: Sequence[float], latency: float) -> int:
    """Most calls (`ats` in order) that arrived within one latency of each other."""
    most, first = 0, 0
    for last, at in enumerate(ats):
        while ats[first] <= at - latency:
            first += 1
        most = max(most, last - first + 1)
    return most


async def google_calls(control: Control, start: float, end: float) -> list[dict[str, Any]]:
    """What Google's emulator received from `start` to `end` (epoch s)."""
    return [r for r in await control.requests("google", "", start) if float(r["at"]) <= end]
