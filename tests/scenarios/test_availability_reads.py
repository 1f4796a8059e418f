"""What an availability answer reads and writes, end to end: signed commands into the real
server, the real Google client against the emulator, SQLite and PostgreSQL.

Tokens refreshed while reading are stored in one statement once the answer is out (never
over a reconnect, and a failure to store them is only logged); the roster is read once;
the channel's people, when not kept from an earlier read, are listed from Slack while
Google answers."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import pytest
from sqlalchemy import event
from sqlalchemy.engine import Connection
from sqlalchemy.exc import OperationalError
from sqlalchemy.ext.asyncio import AsyncEngine

from bot.tokens import TokenCipher
from handlers.work import APOLOGY
from sandbox.fake_slack import text_of
from sandbox.faults import Fault
from tests.conftest import ALICE, BOB, CHANNEL, OWNER, TEAM, RunningBot
from tests.helpers import eventually, wait_until
from tests.scenarios.flows import ALICE_EMAIL, command, connect, next_weekday, team, why

__all__ = ["team"]  # the fixture, used by name

TOKEN_WRITE = re.compile(
    r"^UPDATE calendar_connections SET token_ciphertext=.* WHERE .*connected_at = ", re.I
)
"""The statement that stores refreshed tokens, and only it (a reconnect's goes by id)."""


@dataclass(frozen=True)
class Statement:
    sql: str
    at: float
    """`time.time()` when it was sent, on the emulators' clock."""
    executemany: bool


@contextlib.contextmanager
def statements(
    engine: AsyncEngine, *, failing: re.Pattern[str] | None = None
) -> Iterator[list[Statement]]:
    """Every SQL statement the bot sends meanwhile (SQLAlchemy's events on the engine).
    With `failing`, a statement it matches fails as with the database gone away."""
    sent: list[Statement] = []

    def before_cursor_execute(
        _connection: Connection,
        _cursor: Any,
        statement: str,
        _parameters: Any,
        _context: Any,
        executemany: bool,
    ) -> None:
        sent.append(Statement(statement, time.time(), executemany))
        if failing is not None and failing.search(" ".join(statement.split())):
            raise OperationalError(statement, None, ConnectionError("the database went away"))

    sync_engine = engine.sync_engine
    event.listen(sync_engine, "before_cursor_execute", before_cursor_execute)
    try:
        yield sent
    finally:
        event.remove(sync_engine, "before_cursor_execute", before_cursor_execute)


def token_writes(sent: list[Statement]) -> list[Statement]:
    return [s for s in sent if TOKEN_WRITE.search(" ".join(s.sql.split()))]


def reads_of(sent: list[Statement], table: str) -> list[Statement]:
    """The reads of a customer's whole `table` (as the roster reads it)."""
    whole = f" {table} WHERE {table}.customer_id IN "
    return [s for s in sent if s.sql.startswith("SELECT") and whole in " ".join(s.sql.split())]


async def stored_tokens(bot: RunningBot) -> dict[str, tuple[bytes, str]]:
    """Each connection's stored ciphertext and the access token in it, by owner."""
    cipher = TokenCipher(bot.services.settings.token_encryption_key)
    customer = await bot.services.store.find_customer(TEAM, CHANNEL)
    assert customer is not None
    return {
        c.owner_key: (c.token_ciphertext, cipher.open_tokens(c.token_ciphertext).access_token)
        for c in await bot.services.store.list_connections(customer.id)
    }


async def stored_once(
    bot: RunningBot, done: Callable[[dict[str, tuple[bytes, str]]], bool]
) -> dict[str, tuple[bytes, str]]:
    """`stored_tokens` once `done` holds of them (a write seen sent may not be committed)."""

    async def stored() -> dict[str, tuple[bytes, str]] | None:
        tokens = await stored_tokens(bot)
        return tokens if done(tokens) else None

    return await eventually(stored)


async def ask(bot: RunningBot, text: str) -> tuple[str, float]:
    """`/tonomo text` by the owner: the answer that follows the ack, and when it reached
    Slack (the emulator's arrival clock)."""
    answer = await command(bot, text, follow_up=True)
    posted = bot.slack.requests.matching(f"/response/{answer['response_url_id']}$")[-1]
    return text_of(answer), posted.at


# --- refreshed tokens ---------------------------------------------------------------------


async def test_refreshed_tokens_are_stored_in_one_statement_after_the_answer(
    team: RunningBot,
) -> None:
    before = await stored_tokens(team)
    team.google.expire_access_tokens()
    team.google.requests.clear()

    with statements(team.services.engine) as sent:
        answer, answered_at = await ask(team, f"availability {next_weekday().isoformat()}")
        (write,) = await wait_until(lambda: token_writes(sent))

    assert f"<@{ALICE}>: 9am–5pm" in answer and f"<@{BOB}>: 9am–5pm" in answer
    assert write.at > answered_at, "stored once the answer was out"
    assert write.executemany, "Alice's and Bob's tokens in one statement"
    after = await stored_once(team, lambda now: now[BOB][0] != before[BOB][0])
    for who in (ALICE, BOB):
        assert after[who][0] != before[who][0] and after[who][1] != before[who][1]
    assert after["primary"] == before["primary"], "only the calendars read were refreshed"
    assert len(team.google.requests.matching("/token$")) == 2

    # Kept: the next answer needs no refresh.
    await ask(team, f"availability {next_weekday().isoformat()}")
    assert len(team.google.requests.matching("/token$")) == 2


async def test_a_calendar_reconnected_meanwhile_keeps_its_new_tokens(team: RunningBot) -> None:
    before = await stored_tokens(team)
    team.google.expire_access_tokens()
    # The answer takes 2 s to reach Slack: Alice reconnects while it is on its way.
    team.slack.faults.add(Fault("^/response/", latency=2.0, times=1))
    responses = len(team.slack.responses)
    posts = len(team.slack.requests.matching("^/response/"))

    with statements(team.services.engine) as sent:
        sent_at = time.monotonic()
        ack = await team.slack.send_slash_command(
            team.events_url,
            user_id=OWNER,
            channel_id=CHANNEL,
            text=f"availability {next_weekday().isoformat()}",
        )
        assert ack.status == 200
        await wait_until(lambda: len(team.slack.requests.matching("^/response/")) > posts)
        assert (await connect(team, user=ALICE, email=ALICE_EMAIL))[0] == 200
        reconnected_at = time.time()
        assert time.monotonic() - sent_at < 2.0, "reconnected before the answer was out"
        reconnected = (await stored_tokens(team))[ALICE]
        (write,) = await wait_until(lambda: token_writes(sent))

    assert write.at > reconnected_at
    assert any("9am–5pm" in text_of(r) for r in team.slack.responses[responses:])
    after = await stored_once(team, lambda now: now[BOB][0] != before[BOB][0])
    assert after[ALICE] == reconnected, "the reconnect's tokens, not the older refreshed ones"
    assert after[ALICE][0] != before[ALICE][0]


async def test_tokens_the_database_can_t_take_leave_the_answer_and_no_apology(
    team: RunningBot, caplog: pytest.LogCaptureFixture
) -> None:
    before = await stored_tokens(team)
    team.google.expire_access_tokens()
    responses = len(team.slack.responses)

    with (
        caplog.at_level(logging.WARNING, logger="bot.staff"),
        statements(team.services.engine, failing=TOKEN_WRITE) as sent,
    ):
        answer, _ = await ask(team, f"availability {next_weekday().isoformat()}")
        await wait_until(lambda: "refreshed tokens not kept" in caplog.text)

    assert f"<@{ALICE}>: 9am–5pm" in answer
    assert len(token_writes(sent)) == 1
    assert len(team.slack.responses) == responses + 1, "the answer, and nothing after it"
    assert APOLOGY not in str(team.slack.responses)
    assert await stored_tokens(team) == before
    # Nothing else is the worse for it: the next answer refreshes again, and keeps them.
    answer, _ = await ask(team, f"availability {next_weekday().isoformat()}")
    assert f"<@{BOB}>: 9am–5pm" in answer
    await stored_once(team, lambda now: now[BOB][0] != before[BOB][0])


async def test_why_stores_refreshed_tokens_after_its_answer(team: RunningBot) -> None:
    before = await stored_tokens(team)
    team.google.expire_access_tokens()
    day = next_weekday()

    with statements(team.services.engine) as sent:
        answer = await why(team, f"<@{ALICE}|alice> {day.isoformat()} 10:00 1h")
        (write,) = await wait_until(lambda: token_writes(sent))

    assert f"<@{ALICE}> is free" in text_of(answer)
    (posted,) = team.slack.requests.matching(f"/response/{answer['response_url_id']}$")
    assert write.at > posted.at
    after = await stored_once(team, lambda now: now[ALICE][0] != before[ALICE][0])
    assert after[ALICE][0] != before[ALICE][0] and after[BOB] == before[BOB]


# --- the roster and the channel -----------------------------------------------------------


@pytest.mark.parametrize("when", ["next week", "this week", "tomorrow"])
async def test_the_roster_is_read_once(team: RunningBot, when: str) -> None:
    # The first answer's work goes on to tick the checklist's step, reading more; the
    # second's only notes that it is ticked.
    for _ in range(2):
        await ask(team, "availability tomorrow")

    with statements(team.services.engine) as sent:
        await ask(team, f"availability {when}")
        read = list(sent)  # up to the answer

    assert len(reads_of(read, "calendar_connections")) == 1, read
    # The roster; the asker's role (decided for every command) reads only the rows that
    # decide it, not the whole team's.
    assert len(reads_of(read, "members")) == 1, read
    role_reads = [s for s in read if "members.role_source = " in " ".join(s.sql.split())]
    assert len(role_reads) == 1, read


async def test_before_google_is_asked_each_table_is_read_once_and_nothing_written(
    team: RunningBot,
) -> None:
    with statements(team.services.engine) as sent:
        for _ in range(2):  # the asker's role recorded, the checklist's step ticked
            await ask(team, "availability tomorrow")
        while True:  # their work after the answers done: nothing sent for 0.2 s
            seen = len(sent)
            await asyncio.sleep(0.2)
            if len(sent) == seen:
                break
        team.google.requests.clear()
        start = len(sent)
        await ask(team, "availability next week")
        asked_at = min(r.at for r in team.google.requests.matching("freeBusy"))
        before = [" ".join(s.sql.split()) for s in sent[start:] if s.at < asked_at]

    tables = [m[1] if (m := re.search(r" FROM (\w+)", sql)) else sql for sql in before]
    assert all(sql.startswith("SELECT") for sql in before), before
    # The customer, the members who decide the asker's role (their own row among them:
    # their name and role unchanged, so no write) and their workspace's posting pause; then
    # the roster (its members and connections, the week's bookings and time off).
    read_once = ["customers", "slack_teams", "calendar_connections", "bookings", "time_off"]
    assert sorted(tables) == sorted([*read_once, "members", "members"]), before


async def test_the_channel_is_listed_while_google_answers(team: RunningBot) -> None:
    await ask(team, "availability tomorrow")  # the channel's people known, as on any day
    # What that kept of the channel dropped (as when someone joins), so it is read again.
    await team.services.people.channel_changed(TEAM, CHANNEL, datetime.now(UTC))
    team.slack.faults.add(Fault("conversations.members", latency=0.5))
    team.google.faults.add(Fault("freeBusy", latency=0.5))
    team.google.requests.clear()
    team.slack.requests.clear()

    started = time.time()
    answer, answered_at = await ask(team, f"availability {next_weekday().isoformat()}")

    assert f"<@{ALICE}>: 9am–5pm" in answer
    (listed,) = team.slack.requests.matching("conversations.members")
    reads = team.google.requests.matching("freeBusy")
    assert len(reads) == 2
    assert min(r.at for r in reads) < listed.at + 0.5, "Google asked while Slack answers"
    assert answered_at - started < 0.95, "one 0.5 s wait, not two in a row"
