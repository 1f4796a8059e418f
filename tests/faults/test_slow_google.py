"""One person's Google hanging: everyone else's answer goes out, theirs says so.

Bob's Calendar API answers two seconds after the deadline (the Google emulator's per-account latency).
An availability answer for the team arrives within the read deadline (`READ_DEADLINE`,
4 s), with Alice's free time and Bob's time shown as not read in time (unknown, never
free), and nothing is stored as broken: a slow Google is not a breakage.
"""

from __future__ import annotations

import time

from bot.calendar.port import READ_DEADLINE
from sandbox.fake_slack import text_of
from storage.models import ConnectionState
from tests.conftest import ALICE, BOB, OWNER, RunningBot
from tests.scenarios.flows import command, connect

ALICE_EMAIL = "alice@acme-photo.com"
BOB_EMAIL = "bob@acme-photo.com"


async def test_a_hanging_google_account_is_shown_as_not_read_in_time(bot: RunningBot) -> None:
    assert (await connect(bot, user=ALICE, email=ALICE_EMAIL))[0] == 200
    assert (await connect(bot, user=BOB, email=BOB_EMAIL))[0] == 200
    bot.google.account_latency[BOB_EMAIL] = READ_DEADLINE + 2.0

    started = time.monotonic()
    answer = text_of(await command(bot, "availability tomorrow", user=OWNER, follow_up=True))
    took = time.monotonic() - started

    assert took < READ_DEADLINE + 1.0
    bob_line = next(line for line in answer.splitlines() if f"<@{BOB}>" in line)
    assert "wasn't read in time" in bob_line and "not free" in bob_line
    assert f"<@{ALICE}>" in answer
    connections = await bot.services.store.list_connections(
        (await bot.services.store.find_customer("T0TEST", "C0PHOTOS")).id  # type: ignore[union-attr]
    )
    assert {c.state for c in connections} == {ConnectionState.CONNECTED}
    bot.google.account_latency.clear()


async def test_status_with_a_hanging_google_account_answers_within_the_deadline(
    bot: RunningBot,
) -> None:
    """The live check of `status` has the same deadline: Bob's shows as not checked just
    now (a transient: nothing stored as broken, no alert), Alice's as connected."""
    assert (await connect(bot, user=ALICE, email=ALICE_EMAIL))[0] == 200
    assert (await connect(bot, user=BOB, email=BOB_EMAIL))[0] == 200
    bot.google.account_latency[BOB_EMAIL] = READ_DEADLINE + 2.0

    started = time.monotonic()
    answer = text_of(await command(bot, "status", user=OWNER, follow_up=True))
    took = time.monotonic() - started

    assert took < READ_DEADLINE + 1.0
    assert "couldn't be checked just now" in answer
    assert not [m for m in bot.slack.messages("C0PHOTOS") if "needs reconnecting" in text_of(m)]
    bot.google.account_latency.clear()
