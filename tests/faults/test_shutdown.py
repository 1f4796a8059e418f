"""Shutting down with work in flight: it finishes within the grace, or is cancelled cleanly.

A deploy stops the bot while someone's command is still being answered. Work that ends
within the grace (`bot.server.SHUTDOWN_GRACE`) is answered as usual. Work that doesn't is
cancelled: the person is told the bot is restarting, and a transaction it had open is
rolled back, its connection closed, before the engine is disposed. A connection left
open would hold its locks on the shared PostgreSQL for as long as the process lives, and
every other instance's writes (and a migration's DROP) would wait behind it.
"""

from __future__ import annotations

import asyncio
import logging
import time

import asyncpg
import pytest

from bot.staff import local_today
from handlers.work import RESTARTING
from sandbox.fake_google import FakeGoogle
from sandbox.fake_slack import FakeSlack, text_of
from storage.models import utcnow
from tests.conftest import ALICE, CHANNEL, OWNER, _asyncpg_dsn, _reset_schema, serve_bot
from tests.helpers import eventually, wait_until
from tests.scenarios import test_people as shared
from tests.scenarios.flows import ALICE_EMAIL, connect
from tests.scenarios.flows import customer as customer_of


async def test_work_in_flight_is_answered_within_the_grace(
    google: FakeGoogle, slack: FakeSlack, database_url: str
) -> None:
    async with serve_bot(google, slack, database_url, shutdown_grace=10) as bot:
        assert (await connect(bot, user=ALICE, email=ALICE_EMAIL))[0] == 200
        google.account_latency[ALICE_EMAIL] = 1.0
        before = len(slack.responses)
        sent = await slack.send_slash_command(
            bot.events_url, user_id=OWNER, channel_id=CHANNEL, text="availability tomorrow"
        )
        assert sent.status == 200 and sent.body.strip(), "the ack says it is checking"
        assert len(slack.responses) == before, "Google is still answering"
        stopping = time.monotonic()
    stopped_within = time.monotonic() - stopping

    (answer,) = [text_of(response) for response in slack.responses[before:]]
    assert f"<@{ALICE}>" in answer and RESTARTING not in answer
    assert stopped_within < 5.0


async def _bot_sessions(admin: asyncpg.Connection, *, besides: list[int]) -> list[asyncpg.Record]:
    rows: list[asyncpg.Record] = await admin.fetch(
        "SELECT pid, state, wait_event_type FROM pg_stat_activity"
        " WHERE datname = current_database() AND pid <> ALL($1::int[])",
        besides,
    )
    return rows


async def test_work_cut_off_by_shutdown_rolls_back_and_tells_the_person(
    postgres_database: str, google: FakeGoogle, slack: FakeSlack
) -> None:
    """PostgreSQL: the work waits on a lock inside its transaction when the bot stops."""
    await _reset_schema(postgres_database)
    dsn = _asyncpg_dsn(postgres_database)
    admin = await asyncpg.connect(dsn)
    locker = await asyncpg.connect(dsn)
    try:
        ours = [admin.get_server_pid(), locker.get_server_pid()]
        async with serve_bot(google, slack, postgres_database, shutdown_grace=0.5) as bot:
            assert (await connect(bot, user=ALICE, email=ALICE_EMAIL))[0] == 200
            holding = locker.transaction()
            await holding.start()
            await locker.execute("LOCK TABLE customers IN ACCESS EXCLUSIVE MODE")
            before = len(slack.responses)
            sent = await slack.send_slash_command(
                bot.events_url, user_id=OWNER, channel_id=CHANNEL, text="availability tomorrow"
            )
            assert sent.status == 200 and sent.body.strip(), "acked without the database"

            async def waiting_on_the_lock() -> bool:
                sessions = await _bot_sessions(admin, besides=ours)
                return any(row["wait_event_type"] == "Lock" for row in sessions)

            await eventually(waiting_on_the_lock)
            stopping = time.monotonic()
        stopped_within = time.monotonic() - stopping
        await holding.rollback()

        async def no_bot_session_left() -> bool:
            return not await _bot_sessions(admin, besides=ours)

        await eventually(no_bot_session_left)
        assert stopped_within < 4.0, "the grace, then the cancelled work's apology"
        # The person heard why no answer came, and nothing else came after it.
        assert [r.get("text") for r in slack.responses[before:]] == [RESTARTING]
        # Nothing stored was lost, and nothing still holds a lock on it.
        await admin.execute("SET lock_timeout = '1s'")
        async with admin.transaction():
            await admin.execute("LOCK TABLE customers IN ACCESS EXCLUSIVE MODE")
        assert await admin.fetchval("SELECT count(*) FROM calendar_connections") == 1
        assert await admin.fetchval("SELECT count(*) FROM customers") == 1
        await asyncio.sleep(0.5)
        assert [r.get("text") for r in slack.responses[before:]] == [RESTARTING]
    finally:
        await locker.close()
        await admin.close()


async def test_a_photographer_of_another_organisation_hears_of_the_restart(
    google: FakeGoogle, database_url: str
) -> None:
    """The mention door: Alice, of Acme's own workspace, asks by `@Tonomo`; her Google
    hangs, the bot stops while her answer waits, and the one message she then sees says
    why."""
    slack = shared.shared_slack()
    await slack.start()
    try:
        async with serve_bot(google, slack, database_url, shutdown_grace=0.5) as bot:
            await shared.connect_by_mention(bot, shared.ALICE, ALICE_EMAIL)
            google.account_latency[ALICE_EMAIL] = 3.0  # past the 0.5 s grace
            seen = len(slack.ephemerals(shared.CHANNEL, shared.ALICE))
            _, sent = await slack.send_message(
                bot.events_url,
                user_id=shared.ALICE,
                channel_id=shared.CHANNEL,
                text=f"<@{slack.bot_user_id}> availability tomorrow",
            )
            assert sent is not None and sent.status == 200
            await wait_until(lambda: google.requests.matching("/freeBusy$"))
        assert _left_running() == [], "nothing of her question still running"
        told = await wait_until(lambda: slack.ephemerals(shared.CHANNEL, shared.ALICE)[seen:])
        assert [e.get("text") for e in told] == [RESTARTING]
        # Her connection is as it was (the engine, disposed, connects again to read it).
        customer = await shared.customer(bot)
        (connection,) = await bot.services.store.list_connections(customer.id)
        assert connection.owner_key == shared.ALICE
        await bot.services.engine.dispose()
    finally:
        await slack.stop()


def _left_running() -> list[asyncio.Task[object]]:
    """The tasks still running, but for this test's own and the emulators' servers'."""
    return [
        task
        for task in asyncio.all_tasks()
        if task is not asyncio.current_task()
        and not task.done()
        and not getattr(task.get_coro(), "__qualname__", "").startswith("RequestHandler.")
    ]


async def test_stopping_in_the_middle_of_commands_leaves_none_of_their_work_running(
    google: FakeGoogle, slack: FakeSlack, database_url: str
) -> None:
    """Stopped again and again while several commands are under way, each time at a
    later point of them: once the bot has stopped, nothing of theirs is still running.
    (A read left running, still holding its database connection, outlived the engine; on
    SQLite, cancelled again as the process ended, it could hang it for good.)"""
    commands = ["availability tomorrow", "status", "availability this week", "digest now"]
    for attempt in range(6):
        async with serve_bot(google, slack, database_url) as bot:
            if attempt == 0:
                assert (await connect(bot, user=ALICE, email=ALICE_EMAIL))[0] == 200
            acks = await asyncio.gather(
                *(
                    slack.send_slash_command(
                        bot.events_url, user_id=OWNER, channel_id=CHANNEL, text=text
                    )
                    for text in commands
                )
            )
            assert [ack.status for ack in acks] == [200] * len(commands)
            await asyncio.sleep(0.005 * attempt)
        assert _left_running() == [], f"stopped {0.005 * attempt:.3f} s after the acks"


async def test_a_digest_posted_just_before_stopping_is_recorded_as_sent(
    google: FakeGoogle, slack: FakeSlack, database_url: str
) -> None:
    """`digest now` posts, and the bot stops before the digest's record of being sent is
    written (records wait a moment to go in together): it is written before the bot
    stops, so the day's scheduled digest is not sent again."""
    async with serve_bot(google, slack, database_url) as bot:
        assert (await connect(bot, user=ALICE, email=ALICE_EMAIL))[0] == 200
        posted = len(slack.messages(CHANNEL))
        await slack.send_slash_command(
            bot.events_url, user_id=OWNER, channel_id=CHANNEL, text="digest now"
        )
        (digest,) = await wait_until(lambda: slack.messages(CHANNEL)[posted:])
        customer = await customer_of(bot)
        day = local_today(customer, utcnow())
    assert _left_running() == []
    stored = await bot.services.digest_store.sent_on(customer.id, day)
    assert stored is not None and stored.message_ts == digest["ts"]
    await bot.services.engine.dispose()


async def test_an_event_cut_off_by_shutdown_is_cancelled_quietly(
    google: FakeGoogle, slack: FakeSlack, database_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    """An event has nobody to answer (Bolt's `respond` for it has no `response_url`): its
    work is cancelled without trying to apologize, and without a warning of failing to."""
    async with serve_bot(google, slack, database_url, shutdown_grace=0) as bot:
        slack.add_user("U0CAROL", name="carol")
        slack.add_member(CHANNEL, "U0CAROL")
        slack.faults.latency = 2.0  # `users.info` about her is still under way at the stop
        event = {"type": "member_joined_channel", "user": "U0CAROL", "channel": CHANNEL}
        sent = await slack.send_event(bot.events_url, event | {"channel_type": "G"})
        assert sent.status == 200
        await wait_until(lambda: slack.requests.matching(r"^/api/users\.info$"))
        before = len(slack.requests)
    slack.faults.latency = 0
    assert "shutting down: 1 pieces of work cancelled" in caplog.text
    assert "could not say the work was cancelled" not in caplog.text
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR]
    assert len(slack.requests) == before, "nothing sent to anyone after the stop"
