"""Connection health end to end: live checks, one alert per breakage, reconnect, all-clear."""

from __future__ import annotations

import asyncio
import contextlib
import itertools
from collections.abc import Iterator
from datetime import datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import event, select, update
from sqlalchemy.engine import Connection
from sqlalchemy.exc import OperationalError
from sqlalchemy.ext.asyncio import AsyncEngine

from bot.calendar.port import STAFF_SCOPES
from bot.health import AFTER_LAPSE, TAKEOVER, UNREACHABLE_AFTER
from bot.messages.ids import RECONNECT
from bot.scheduler import Scheduler
from bot.tokens import TokenCipher
from sandbox.fake_google import approve_consent
from sandbox.fake_slack import button_urls, text_of
from sandbox.faults import Fault
from storage.models import CalendarConnection, ConnectionKind, ConnectionState, Notice, utcnow
from storage.repositories import RECONNECTED
from tests.conftest import ALICE, BOB, CHANNEL, OWNER, RunningBot, serve_bot
from tests.helpers import eventually, wait_until
from tests.scenarios.flows import PRIMARY_EMAIL, command, connect, customer, live_status
from tests.scenarios.test_availability_reads import reads_of, statements

ALICE_EMAIL = "alice@acme-photo.com"
BOB_EMAIL = "bob@acme-photo.com"
PRIMARY_PATH = "/calendar/v3/calendars/primary"


async def periodic_round(bot: RunningBot) -> datetime | None:
    """One round of the periodic job, everything due: when it wants the next one sooner."""
    return await Scheduler(health=bot.services.health, interval=timedelta(0)).run_once()


async def connection_of(bot: RunningBot, owner_key: str) -> CalendarConnection:
    async with bot.services.store._sessions() as session:
        row = await session.scalar(
            select(CalendarConnection).where(CalendarConnection.owner_key == owner_key)
        )
    assert row is not None
    return row


async def recorded_since(
    bot: RunningBot, owner_key: str, before: CalendarConnection
) -> CalendarConnection | None:
    """Their connection once a check of it later than `before` is recorded (`status`
    records after answering)."""
    connection = await connection_of(bot, owner_key)
    return connection if connection.last_checked_at != before.last_checked_at else None


def channel_messages(bot: RunningBot) -> list[dict[str, Any]]:
    return list(bot.slack.messages(CHANNEL))


def alerts(bot: RunningBot) -> list[dict[str, Any]]:
    return [m for m in channel_messages(bot) if ":warning:" in text_of(m) or "Fixed:" in text_of(m)]


def reconnect_buttons(message: dict[str, Any]) -> list[dict[str, Any]]:
    found = []
    for block in message.get("blocks") or []:
        for element in [block.get("accessory"), *block.get("elements", [])]:
            if isinstance(element, dict) and element.get("action_id") == RECONNECT:
                found.append(element)
    return found


async def click_reconnect(bot: RunningBot, alert: dict[str, Any], *, user: str) -> dict[str, Any]:
    """Click the alert's Reconnect button as `user`; the reply only they see."""
    responses = len(bot.slack.responses)
    sent = await bot.slack.send_block_action(
        bot.events_url,
        user_id=user,
        channel_id=CHANNEL,
        action_id=RECONNECT,
        message_ts=alert["ts"],
    )
    assert sent.status == 200
    await wait_until(lambda: len(bot.slack.responses) > responses)
    reply: dict[str, Any] = bot.slack.responses[responses]
    return reply


def google_401() -> Fault:
    """The Calendar API refusing the credentials, even freshly refreshed ones."""
    return Fault(
        PRIMARY_PATH,
        status=401,
        body={
            "error": {
                "code": 401,
                "message": "Request had invalid authentication credentials.",
                "errors": [
                    {"message": "Invalid Credentials", "domain": "global", "reason": "authError"}
                ],
                "status": "UNAUTHENTICATED",
            }
        },
    )


async def test_status_checks_every_connection_live(bot: RunningBot) -> None:
    await connect(bot, user=ALICE, email=ALICE_EMAIL)
    await connect(bot, user=BOB, email=BOB_EMAIL)
    bot.google.revoke_account_tokens(BOB_EMAIL)

    reply = await live_status(bot, user=OWNER)

    shown = text_of(reply)
    assert ":white_check_mark: connected: alice@acme-photo.com" in shown
    assert ":warning: needs reconnecting: bob@acme-photo.com" in shown
    assert "security page" in shown and '"Testing"' in shown
    assert [b["value"] for m in [reply] for b in reconnect_buttons(m)] == [
        str((await connection_of(bot, BOB)).id)
    ]
    assert f"Not connected yet: <@{OWNER}>" in shown
    await wait_until(lambda: alerts(bot))
    (alert,) = alerts(bot)
    assert f"<@{BOB}>'s calendar" in text_of(alert) and reconnect_buttons(alert)
    # The answer goes first; the channel's alert for what it found follows it.
    answered = bot.slack.requests.matching("^/response/")[-1]
    announced = bot.slack.requests.matching("^/api/chat.postMessage$")[-1]
    assert "needs reconnecting" in answered.text and "security page" in announced.text
    assert answered.at < announced.at


async def test_a_status_check_recorded_after_a_later_round_s_leaves_the_later_one_be(
    bot: RunningBot,
) -> None:
    """`status` records what it found after it has answered, so a periodic round's later
    check of the same connection may be recorded first: Google failed `status`'s check
    and answered the round's; the later verdict stands, with no failure counted and no
    event, and nothing is announced."""
    await connect(bot, user=ALICE, email=ALICE_EMAIL)
    health = bot.services.health
    bot.services.calendar._num_retries = 0
    bot.google.server_error("/calendar/v3/", times=None)
    _, earlier = await health.check_now(await customer(bot))
    assert [o.failures for o in earlier] == [1]

    bot.google.faults.clear()
    await periodic_round(bot)
    later = await connection_of(bot, ALICE)
    await health.record_after_answer(earlier)

    now = await connection_of(bot, ALICE)
    assert (now.state, now.check_failures, now.last_checked_at) == (
        ConnectionState.CONNECTED,
        0,
        later.last_checked_at,
    )
    assert await bot.services.store.connection_events(now.id) == []
    assert alerts(bot) == []


async def test_a_database_failing_status_s_record_after_its_answer_leaves_the_answer_be(
    bot: RunningBot, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """`status` finds Bob's calendar broken and answers; the database then fails the
    write of what it found: the asker keeps the answer with no apology after it, nothing
    is stored half-made (no state, no event, no alert), and the next round finds the
    breakage again and announces it once."""
    await connect(bot, user=BOB, email=BOB_EMAIL)
    bot.google.revoke_account_tokens(BOB_EMAIL)
    store = bot.services.store
    record = store.record_checks

    async def record_checks(outcomes: Any) -> Any:
        raise OperationalError("UPDATE calendar_connections …", {}, ConnectionResetError())

    monkeypatch.setattr(store, "record_checks", record_checks)
    responses = len(bot.slack.responses)
    before = await connection_of(bot, BOB)

    reply = await live_status(bot, user=OWNER)

    assert ":warning: needs reconnecting: bob@acme-photo.com" in text_of(reply)
    await wait_until(
        lambda: (
            "status's checks not recorded" in caplog.text
            or len(bot.slack.responses) > responses + 1
        )
    )
    assert [text_of(r) for r in bot.slack.responses[responses:]] == [text_of(reply)]
    bob = await connection_of(bot, BOB)
    assert (bob.state, bob.last_checked_at) == (ConnectionState.CONNECTED, before.last_checked_at)
    assert await store.connection_events(bob.id) == []
    await bot.services.health.deliver_notices()
    assert alerts(bot) == []

    monkeypatch.setattr(store, "record_checks", record)
    await periodic_round(bot)
    assert (await connection_of(bot, BOB)).state is ConnectionState.NEEDS_RECONNECT
    assert len(alerts(bot)) == 1


async def test_a_database_failing_the_alert_after_a_status_answer_leaves_the_answer_be(
    bot: RunningBot, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """`status` finds Bob's calendar broken and answers; the database then fails the
    alert's claim: the asker keeps the answer with no apology after it, the breakage stays
    recorded with its notice unsent, and the next delivery posts the alert once."""
    await connect(bot, user=BOB, email=BOB_EMAIL)
    bot.google.revoke_account_tokens(BOB_EMAIL)
    store = bot.services.store
    claim = store.claim_notices

    async def claim_notices(**kwargs: Any) -> Any:
        raise OperationalError("UPDATE connection_events …", {}, ConnectionResetError())

    monkeypatch.setattr(store, "claim_notices", claim_notices)
    responses = len(bot.slack.responses)

    reply = await live_status(bot, user=OWNER)

    assert ":warning: needs reconnecting: bob@acme-photo.com" in text_of(reply)
    # The work ends once the failure is logged, or with an apology after the answer.
    await wait_until(
        lambda: (
            "notices not delivered now" in caplog.text or len(bot.slack.responses) > responses + 1
        )
    )
    assert [text_of(r) for r in bot.slack.responses[responses:]] == [text_of(reply)]
    assert alerts(bot) == []
    bob = await connection_of(bot, BOB)
    assert bob.state is ConnectionState.NEEDS_RECONNECT
    (event,) = await store.connection_events(bob.id)
    assert event.notice is Notice.BROKEN and event.notice_sent_at is None

    monkeypatch.setattr(store, "claim_notices", claim)
    assert await bot.services.health.deliver_notices() == 1
    assert len(alerts(bot)) == 1


@contextlib.contextmanager
def connection_writes(engine: AsyncEngine) -> Iterator[list[tuple[int, str]]]:
    """Every statement that writes `calendar_connections` meanwhile, with the number of the
    database transaction it ran in (SQLAlchemy's events on the engine)."""
    numbers = itertools.count(1)
    writes: list[tuple[int, str]] = []

    def begin(connection: Connection) -> None:
        connection.info["transaction"] = next(numbers)

    def before_cursor_execute(
        connection: Connection, _cursor: Any, statement: str, *_: Any
    ) -> None:
        if statement.lstrip().upper().startswith("UPDATE CALENDAR_CONNECTIONS"):
            writes.append((connection.info["transaction"], statement))

    sync_engine = engine.sync_engine
    event.listen(sync_engine, "begin", begin)
    event.listen(sync_engine, "before_cursor_execute", before_cursor_execute)
    try:
        yield writes
    finally:
        event.remove(sync_engine, "begin", begin)
        event.remove(sync_engine, "before_cursor_execute", before_cursor_execute)


async def test_status_records_every_check_in_one_transaction(bot: RunningBot) -> None:
    await connect(bot, user=OWNER, email="bookings@acme-photo.com", primary=True)
    await connect(bot, user=OWNER, email="olivia@acme-photo.com")
    await connect(bot, user=ALICE, email=ALICE_EMAIL)
    await connect(bot, user=BOB, email=BOB_EMAIL)
    bot.google.expire_access_tokens()  # each check refreshes its token: stored with it
    bot.google.revoke_account_tokens(BOB_EMAIL)
    before = {who: await connection_of(bot, who) for who in (OWNER, ALICE, BOB)}

    with connection_writes(bot.services.engine) as writes:
        shown = text_of(await live_status(bot))
        await wait_until(lambda: alerts(bot))  # sent once the checks are recorded

    assert "3 of 4 calendar connection(s) working" in shown
    assert len({transaction for transaction, _ in writes}) == 1, writes
    # Its leases released and states read; then the outcomes, by primary key: those
    # with a refreshed token, and Bob's without. Not one statement per connection.
    assert len(writes) == 3, writes
    connections = await bot.services.store.list_connections(before[OWNER].customer_id)
    assert len(connections) == 4
    assert all(
        c.last_checked_at and c.last_checked_at > before[ALICE].connected_at for c in connections
    )
    cipher = TokenCipher(bot.services.settings.token_encryption_key)
    for connection in connections:
        if connection.owner_key == BOB:
            assert connection.state is ConnectionState.NEEDS_RECONNECT
            assert connection.token_ciphertext == before[BOB].token_ciphertext
        else:
            assert connection.state is ConnectionState.CONNECTED
            kept = cipher.open_tokens(connection.token_ciphertext)
            assert (
                kept.access_token != cipher.open_tokens(before[ALICE].token_ciphertext).access_token
            )
    primary = next(c for c in connections if c.kind is ConnectionKind.PRIMARY)
    assert primary.account_email == "bookings@acme-photo.com"
    history = await bot.services.store.connection_events(before[BOB].id)
    assert [(e.from_state, e.to_state) for e in history] == [("connected", "needs_reconnect")]
    await wait_until(lambda: alerts(bot))
    assert len(alerts(bot)) == 1


async def test_status_reads_the_connections_once(bot: RunningBot) -> None:
    """After the checks' answers the answer is built from their outcomes, then they are
    recorded: the customer's connections are read whole once, before the checks, not
    again after them."""
    await connect(bot, user=ALICE, email=ALICE_EMAIL)
    await connect(bot, user=BOB, email=BOB_EMAIL)
    bot.google.revoke_account_tokens(BOB_EMAIL)  # a state the answer shows from an outcome
    bot.google.requests.clear()

    with statements(bot.services.engine) as sent:
        reply = await live_status(bot)
        await wait_until(lambda: alerts(bot))  # sent once the checks are recorded

    shown = text_of(reply)
    assert "1 of 2 calendar connection(s) working" in shown
    assert ":white_check_mark: connected: alice@acme-photo.com" in shown and "Checked at" in shown
    assert ":warning: needs reconnecting: bob@acme-photo.com" in shown
    assert [b["value"] for b in reconnect_buttons(reply)] == [
        str((await connection_of(bot, BOB)).id)
    ]
    last_answer = max(r.at for r in bot.google.requests.matching(""))
    (read,) = reads_of(sent, "calendar_connections")
    assert read.at < last_answer, "read once, before the checks"
    after = [s for s in sent if s.at > last_answer]
    assert reads_of(after, "calendar_connections") == []
    writes = [s for s in after if s.sql.startswith("UPDATE calendar_connections")]
    assert len(writes) == 2, writes  # the lock, then the outcomes


async def test_a_connection_removed_while_status_checks_it_is_not_shown(bot: RunningBot) -> None:
    """A check made moot (Alice disconnects while Google answers it) is not recorded, and
    the answer shows the connections as they now stand, read again for it once a light
    read shows one is gone."""
    await connect(bot, user=ALICE, email=ALICE_EMAIL)
    await connect(bot, user=BOB, email=BOB_EMAIL)
    bob = await connection_of(bot, BOB)
    bot.google.requests.clear()
    bot.google.faults.add(Fault(PRIMARY_PATH, latency=1.5))
    answers = len(bot.slack.responses)

    with statements(bot.services.engine) as sent:
        ack = await bot.slack.send_slash_command(
            bot.events_url, user_id=OWNER, channel_id=CHANNEL, text="status"
        )
        assert ack.status == 200
        await wait_until(lambda: len(bot.google.requests.matching(PRIMARY_PATH)) == 2)
        assert "revoked" in text_of(await command(bot, "disconnect", user=ALICE))
        (answer,) = await wait_until(
            lambda: [r for r in bot.slack.responses[answers:] if "working." in text_of(r)]
        )

    shown = text_of(answer)
    assert "1 of 1 calendar connection(s) working" in shown
    assert "alice@acme-photo.com" not in shown and f"<@{ALICE}>" in shown  # not connected
    assert len(reads_of(sent, "calendar_connections")) == 2
    await eventually(lambda: recorded_since(bot, BOB, bob))


async def test_statuses_and_a_round_at_once_record_one_breakage(bot: RunningBot) -> None:
    """Two `status` of the same customer and a periodic round, side by side: each writes
    its checks (the batches lock their rows in one order, so they wait for each other
    rather than deadlock), and Bob's breakage is recorded and announced once."""
    await connect(bot, user=ALICE, email=ALICE_EMAIL)
    await connect(bot, user=BOB, email=BOB_EMAIL)
    bot.google.revoke_account_tokens(BOB_EMAIL)

    await asyncio.gather(live_status(bot), live_status(bot), periodic_round(bot))

    bob = await connection_of(bot, BOB)
    assert bob.state is ConnectionState.NEEDS_RECONNECT
    history = await bot.services.store.connection_events(bob.id)
    assert [(e.from_state, e.to_state) for e in history] == [("connected", "needs_reconnect")]
    assert (await connection_of(bot, ALICE)).state is ConnectionState.CONNECTED
    await wait_until(lambda: alerts(bot))
    await live_status(bot)  # delivers anything still waiting
    assert len(alerts(bot)) == 1


async def test_one_alert_per_breakage_however_many_checks(bot: RunningBot) -> None:
    await connect(bot, user=ALICE, email=ALICE_EMAIL)
    bot.google.revoke_account_tokens(ALICE_EMAIL)

    for _ in range(3):
        await periodic_round(bot)
    await live_status(bot)
    await periodic_round(bot)

    assert len(alerts(bot)) == 1
    connection = await connection_of(bot, ALICE)
    assert connection.state is ConnectionState.NEEDS_RECONNECT
    history = await bot.services.store.connection_events(connection.id)
    assert [(e.from_state, e.to_state) for e in history] == [("connected", "needs_reconnect")]


async def test_reconnecting_keeps_history_and_clears_the_alert(bot: RunningBot) -> None:
    await connect(bot, user=ALICE, email=ALICE_EMAIL)
    before = await connection_of(bot, ALICE)
    bot.google.revoke_account_tokens(ALICE_EMAIL)
    await periodic_round(bot)
    (alert,) = alerts(bot)
    assert len(reconnect_buttons(alert)) == 1

    link = await click_reconnect(bot, alert, user=ALICE)
    assert link["response_type"] in (None, "ephemeral") and link.get("user") == ALICE
    (url,) = button_urls(link["blocks"])
    location = await approve_consent(url, email=ALICE_EMAIL)
    async with bot.http.get(location) as response:
        assert response.status == 200

    after = await connection_of(bot, ALICE)
    assert after.id == before.id and after.state is ConnectionState.CONNECTED
    history = await bot.services.store.connection_events(after.id)
    assert [(e.to_state, e.reason) for e in history][-1] == ("connected", RECONNECTED)

    def the_alert() -> dict[str, Any]:
        (message,) = [m for m in channel_messages(bot) if m["ts"] == alert["ts"]]
        return message

    await wait_until(lambda: "Fixed:" in text_of(the_alert()))
    fixed = the_alert()
    assert not reconnect_buttons(fixed)
    assert any("reconnected their calendar" in text_of(m) for m in channel_messages(bot))
    assert not any(
        "working again" in text_of(m) for m in channel_messages(bot) if m["ts"] != alert["ts"]
    )


async def test_a_breakage_that_heals_gets_one_all_clear(bot: RunningBot) -> None:
    await connect(bot, user=ALICE, email=ALICE_EMAIL)
    bot.google.faults.add(google_401())

    await periodic_round(bot)
    assert (await connection_of(bot, ALICE)).state is ConnectionState.NEEDS_RECONNECT
    bot.google.faults.clear()  # Google takes the credentials again
    await periodic_round(bot)
    await periodic_round(bot)

    assert (await connection_of(bot, ALICE)).state is ConnectionState.CONNECTED
    texts = [text_of(m) for m in channel_messages(bot)]
    assert sum("working again" in t and "Fixed:" not in t for t in texts) == 1
    assert sum("Fixed:" in t for t in texts) == 1, "the alert itself is marked fixed"


async def test_only_the_owner_can_reconnect_a_staff_calendar(bot: RunningBot) -> None:
    await connect(bot, user=ALICE, email=ALICE_EMAIL)
    bot.google.revoke_account_tokens(ALICE_EMAIL)
    await periodic_round(bot)
    (alert,) = alerts(bot)

    refusal = await click_reconnect(bot, alert, user=BOB)
    assert f"Only <@{ALICE}> can reconnect" in text_of(refusal) and not button_urls(
        refusal["blocks"]
    )


async def test_only_the_owner_or_an_onboarder_can_reconnect_the_primary(bot: RunningBot) -> None:
    await connect(bot, user=OWNER, email="bookings@acme-photo.com", primary=True)
    bot.google.revoke_account_tokens("bookings@acme-photo.com")
    await periodic_round(bot)
    (alert,) = alerts(bot)

    refused = await click_reconnect(bot, alert, user=BOB)
    assert button_urls(refused["blocks"]) == []
    assert f"Only <@{OWNER}> (the owner) or an onboarder" in text_of(refused)
    (url,) = button_urls((await click_reconnect(bot, alert, user=OWNER))["blocks"])
    assert url.startswith(bot.google.auth_uri)


async def test_a_deleted_account_is_explained(bot: RunningBot) -> None:
    await connect(bot, user=ALICE, email=ALICE_EMAIL)
    bot.google.delete_account(ALICE_EMAIL)
    bot.google.expire_access_tokens()

    shown = text_of(await live_status(bot))

    assert "account was deleted" in shown


async def test_a_permission_removed_later_is_a_breakage(bot: RunningBot) -> None:
    await connect(bot, user=ALICE, email=ALICE_EMAIL)
    bot.google.faults.add(
        Fault(
            PRIMARY_PATH,
            status=403,
            body={
                "error": {
                    "code": 403,
                    "message": "Request had insufficient authentication scopes.",
                    "errors": [{"domain": "global", "reason": "insufficientPermissions"}],
                    "status": "PERMISSION_DENIED",
                }
            },
        )
    )
    await periodic_round(bot)
    assert (await connection_of(bot, ALICE)).state is ConnectionState.MISSING_PERMISSION
    (alert,) = alerts(bot)
    assert "missing a permission" in text_of(alert)


async def test_an_unticked_box_at_consent_is_explained_in_status(bot: RunningBot) -> None:
    await connect(bot, user=ALICE, email=ALICE_EMAIL, scopes=[STAFF_SCOPES[1]])
    shown = text_of(await live_status(bot))
    assert ":no_entry: missing permission" in shown
    assert "See the availability on Google Calendars" in shown


async def test_a_blocked_calendar_read_at_consent_is_explained(bot: RunningBot) -> None:
    reply = await command(bot, "connect-calendar", user=ALICE)
    (url,) = button_urls(reply["blocks"])
    location = await approve_consent(url, email=ALICE_EMAIL, scopes=[STAFF_SCOPES[0]])
    async with bot.http.get(location) as response:
        assert response.status == 400
        assert "left unticked" in await response.text()
    async with bot.services.store._sessions() as session:
        assert list(await session.scalars(select(CalendarConnection))) == []


async def test_transient_failures_are_retried_and_not_a_breakage(bot: RunningBot) -> None:
    await connect(bot, user=ALICE, email=ALICE_EMAIL)
    bot.services.calendar._num_retries = 0  # each round then sees the failure directly
    bot.google.server_error("/calendar/v3/", times=None)

    for failures in range(1, UNREACHABLE_AFTER):
        await periodic_round(bot)
        connection = await connection_of(bot, ALICE)
        assert connection.state is ConnectionState.CONNECTED
        assert connection.check_failures == failures
    await periodic_round(bot)
    unreachable = await connection_of(bot, ALICE)
    assert unreachable.state is ConnectionState.UNREACHABLE
    shown = text_of(await live_status(bot))
    assert ":grey_question: unreachable" in shown and "Next try at" in shown
    await eventually(lambda: recorded_since(bot, ALICE, unreachable))  # after its answer

    bot.google.faults.clear()
    await periodic_round(bot)
    connection = await connection_of(bot, ALICE)
    assert connection.state is ConnectionState.CONNECTED and connection.check_failures == 0
    assert alerts(bot) == [] and not any(
        "working again" in text_of(m) for m in channel_messages(bot)
    )


async def test_a_rate_limit_is_retried_by_the_library(bot: RunningBot) -> None:
    await connect(bot, user=ALICE, email=ALICE_EMAIL)
    bot.google.rate_limit(PRIMARY_PATH, times=1)

    await periodic_round(bot)

    connection = await connection_of(bot, ALICE)
    assert connection.state is ConnectionState.CONNECTED and connection.check_failures == 0
    assert len(bot.google.requests.matching(PRIMARY_PATH)) >= 3  # connect, limited, retried


async def test_a_refreshed_access_token_is_saved_back(bot: RunningBot) -> None:
    await connect(bot, user=ALICE, email=ALICE_EMAIL)
    cipher = TokenCipher(bot.services.settings.token_encryption_key)
    before = cipher.open_tokens((await connection_of(bot, ALICE)).token_ciphertext)
    bot.google.expire_access_tokens()

    await periodic_round(bot)

    after = cipher.open_tokens((await connection_of(bot, ALICE)).token_ciphertext)
    assert after.access_token != before.access_token
    assert after.refresh_token == before.refresh_token


async def test_two_instances_check_each_connection_once_and_alert_once(
    bot: RunningBot, database_url: str
) -> None:
    await connect(bot, user=ALICE, email=ALICE_EMAIL)
    await connect(bot, user=BOB, email=BOB_EMAIL)
    bot.google.revoke_account_tokens(ALICE_EMAIL)
    checks_before = len(bot.google.requests.matching(PRIMARY_PATH))

    async with serve_bot(bot.google, bot.slack, database_url) as other:
        await asyncio.gather(periodic_round(bot), periodic_round(other))
        checks = len(bot.google.requests.matching(PRIMARY_PATH)) - checks_before
        assert checks == 2, "each connection was checked by one instance"
        await asyncio.gather(periodic_round(bot), periodic_round(other))
        checks = len(bot.google.requests.matching(PRIMARY_PATH)) - checks_before
        assert checks == 4, "and again once each in the next round"

    assert len(alerts(bot)) == 1


async def test_a_timeout_is_transient(bot: RunningBot) -> None:
    await connect(bot, user=ALICE, email=ALICE_EMAIL)
    calendar = bot.services.calendar
    calendar._timeout, calendar._num_retries = 0.3, 0
    bot.google.faults.add(Fault(PRIMARY_PATH, latency=1.0))

    await periodic_round(bot)

    connection = await connection_of(bot, ALICE)
    assert connection.state is ConnectionState.CONNECTED and connection.check_failures == 1
    assert alerts(bot) == []


async def test_status_shows_a_google_timeout_as_not_checked(bot: RunningBot) -> None:
    await connect(bot, user=ALICE, email=ALICE_EMAIL)
    calendar = bot.services.calendar
    calendar._timeout, calendar._num_retries = 0.3, 0
    bot.google.faults.add(Fault(PRIMARY_PATH, latency=1.0))  # Google hangs past the timeout

    alice = await connection_of(bot, ALICE)
    reply = await live_status(bot)

    shown = text_of(reply)
    assert ":grey_question: couldn't be checked just now: alice@acme-photo.com" in shown
    assert "Google didn't answer when I tried at" in shown
    assert "nothing is marked broken; next try at" in shown
    assert ":white_check_mark:" not in shown and "Checked at" not in shown
    assert "0 of 1 calendar connection(s) working. 1 couldn't be checked just now." in shown
    assert reconnect_buttons(reply) == []
    # The stored verdict is unchanged; the failed check is counted once it is recorded.
    connection = await eventually(lambda: recorded_since(bot, ALICE, alice))
    assert connection.state is ConnectionState.CONNECTED and connection.check_failures == 1
    assert alerts(bot) == []

    bot.google.faults.clear()
    shown = text_of(await live_status(bot))
    assert ":white_check_mark: connected: alice@acme-photo.com" in shown and "Checked at" in shown


async def test_a_round_whose_claim_fails_half_way_ends_with_the_error(
    bot: RunningBot, monkeypatch: pytest.MonkeyPatch
) -> None:
    await connect(bot, user=ALICE, email=ALICE_EMAIL)
    await connect(bot, user=BOB, email=BOB_EMAIL)
    health, store = bot.services.health, bot.services.store
    monkeypatch.setattr(health, "concurrency", 1)  # one connection per claim
    claim, claims = store.claim_due_connections, 0

    async def claim_due_connections(**kwargs: Any) -> list[int]:
        nonlocal claims
        claims += 1
        if claims == 2:  # while the first connection is being checked
            raise OperationalError("UPDATE calendar_connections …", {}, ConnectionResetError())
        return await claim(**kwargs)

    monkeypatch.setattr(store, "claim_due_connections", claim_due_connections)
    before = {who: (await connection_of(bot, who)).last_checked_at for who in (ALICE, BOB)}

    with pytest.raises(ExceptionGroup) as failed:  # before the fix: waited forever
        await asyncio.wait_for(health.check_due(interval=timedelta(0)), timeout=5)

    assert [type(e) for e in failed.value.exceptions] == [OperationalError]
    after = {who: (await connection_of(bot, who)).last_checked_at for who in (ALICE, BOB)}
    assert after[ALICE] != before[ALICE], "the connection handed over was checked"
    assert after[BOB] == before[BOB]
    assert await health.check_due(interval=timedelta(0)) == 2  # the next round goes on


async def test_a_round_records_checks_that_end_together_in_one_write(
    bot: RunningBot, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Three checks at once, Google answering them together: one transaction records all
    three outcomes and releases their leases, and Alice's breakage is alerted once."""
    await connect(bot, user=OWNER, email=PRIMARY_EMAIL, primary=True)
    await connect(bot, user=ALICE, email=ALICE_EMAIL)
    await connect(bot, user=BOB, email=BOB_EMAIL)
    bot.google.revoke_account_tokens(ALICE_EMAIL)
    store = bot.services.store
    record, writes = store.record_checks, []

    async def record_checks(outcomes: Any) -> Any:
        writes.append(len(outcomes))
        return await record(outcomes)

    monkeypatch.setattr(store, "record_checks", record_checks)
    before = await checked_at(bot)

    assert await bot.services.health.check_due(interval=timedelta(0)) == 3

    assert writes == [3]
    after = await checked_at(bot)
    assert all(after[email] != before[email] for email in before)
    async with store._sessions() as session:
        leases = await session.scalars(select(CalendarConnection.check_claimed_until))
        assert list(leases) == [None] * 3
    assert (await connection_of(bot, ALICE)).state is ConnectionState.NEEDS_RECONNECT
    await bot.services.health.deliver_notices()
    assert len(alerts(bot)) == 1


async def test_a_round_whose_write_fails_leaves_those_checks_leased_until_they_lapse(
    bot: RunningBot, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The database fails the write of Alice's outcome: the round ends with the error, her
    connection is left as it was and still leased, so no other round checks it before the
    lease lapses; once it has, the next round checks it, and her breakage is alerted once."""
    await connect(bot, user=ALICE, email=ALICE_EMAIL)
    bot.google.revoke_account_tokens(ALICE_EMAIL)
    health, store = bot.services.health, bot.services.store
    record = store.record_checks

    async def record_checks(outcomes: Any) -> Any:
        raise OperationalError("UPDATE calendar_connections …", {}, ConnectionResetError())

    monkeypatch.setattr(store, "record_checks", record_checks)
    before = await connection_of(bot, ALICE)
    calls = len(bot.google.requests.matching(PRIMARY_PATH))

    with pytest.raises(ExceptionGroup) as failed:
        await asyncio.wait_for(health.check_due(interval=timedelta(0)), timeout=5)

    assert [type(e) for e in failed.value.exceptions] == [OperationalError]
    assert len(bot.google.requests.matching(PRIMARY_PATH)) == calls + 1
    kept = await connection_of(bot, ALICE)
    assert (kept.state, kept.last_checked_at) == (before.state, before.last_checked_at)
    assert kept.check_claimed_until is not None and kept.check_claimed_until > utcnow()
    # Held for the lease less a takeover's time, so another instance would finish it in time.
    assert kept.check_claimed_until <= utcnow() + health.lease - TAKEOVER
    monkeypatch.setattr(store, "record_checks", record)
    assert await health.check_due(interval=timedelta(0)) == 0, "still leased: left alone"
    assert alerts(bot) == []

    await lease_as_another_instance(bot, ALICE_EMAIL, utcnow() - timedelta(seconds=1))
    assert await health.check_due(interval=timedelta(0)) == 1
    assert (await connection_of(bot, ALICE)).state is ConnectionState.NEEDS_RECONNECT
    await health.deliver_notices()
    assert len(alerts(bot)) == 1


async def lease_as_another_instance(bot: RunningBot, email: str, until: datetime) -> None:
    """Lease that account's connection until `until`, as another instance's claim does."""
    async with bot.services.store._sessions.begin() as session:
        await session.execute(
            update(CalendarConnection)
            .where(CalendarConnection.account_email == email)
            .values(check_claimed_until=until)
        )


async def checked_at(bot: RunningBot) -> dict[str, datetime | None]:
    """When each account's connection was last checked."""
    async with bot.services.store._sessions() as session:
        rows = await session.execute(
            select(CalendarConnection.account_email, CalendarConnection.last_checked_at)
        )
        return {email: at for email, at in rows}


async def test_a_round_leaves_what_another_instance_holds_and_looks_again_at_the_lapse(
    bot: RunningBot,
) -> None:
    await connect(bot, user=OWNER, email=PRIMARY_EMAIL, primary=True)
    await connect(bot, user=ALICE, email=ALICE_EMAIL)
    await connect(bot, user=BOB, email=BOB_EMAIL)
    first_lapse = utcnow() + timedelta(seconds=40)
    await lease_as_another_instance(bot, ALICE_EMAIL, first_lapse)
    await lease_as_another_instance(bot, PRIMARY_EMAIL, first_lapse + timedelta(minutes=2))
    before = await checked_at(bot)

    # Bob's is checked; the held ones are left alone, and the round asks to look again
    # just after the first of their leases lapses, not a tick later.
    assert await periodic_round(bot) == first_lapse + AFTER_LAPSE
    after = await checked_at(bot)
    assert after[BOB_EMAIL] != before[BOB_EMAIL]
    assert after[ALICE_EMAIL] == before[ALICE_EMAIL]
    assert after[PRIMARY_EMAIL] == before[PRIMARY_EMAIL]
    assert (await connection_of(bot, ALICE)).check_claimed_until == first_lapse

    # Their leases lapse (the other instance died): the next round takes them over, and
    # with nothing leased it asks for nothing sooner than its tick.
    lapsed = utcnow() - timedelta(seconds=1)
    await lease_as_another_instance(bot, ALICE_EMAIL, lapsed)
    await lease_as_another_instance(bot, PRIMARY_EMAIL, lapsed)
    assert await periodic_round(bot) is None
    last = await checked_at(bot)
    assert last[ALICE_EMAIL] != after[ALICE_EMAIL]
    assert last[PRIMARY_EMAIL] != after[PRIMARY_EMAIL]


async def test_the_scheduler_loop_finds_a_breakage_by_itself(bot: RunningBot) -> None:
    await connect(bot, user=ALICE, email=ALICE_EMAIL)
    bot.google.revoke_account_tokens(ALICE_EMAIL)
    scheduler = Scheduler(health=bot.services.health, interval=timedelta(0), tick=0.05)

    scheduler.start()
    try:
        await wait_until(lambda: alerts(bot))
    finally:
        await scheduler.stop()
    assert len(alerts(bot)) == 1
