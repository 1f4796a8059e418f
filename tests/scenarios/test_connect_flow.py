"""The connect flow end to end: Slack command -> Google consent -> the bot's callback -> channel."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

from sqlalchemy import select, update

from bot.calendar.port import PRIMARY_SCOPES, STAFF_SCOPES
from bot.tokens import TokenCipher
from sandbox.fake_google import approve_consent
from sandbox.fake_slack import button_urls, text_of
from storage.models import CalendarConnection, ConnectionState, Customer, OAuthState, utcnow
from tests.conftest import ALICE, BOB, CHANNEL, OWNER, TEAM, RunningBot
from tests.helpers import wait_until
from tests.scenarios.flows import command, connect, live_status


async def stored_connections(bot: RunningBot) -> list[CalendarConnection]:
    async with bot.services.store._sessions() as session:
        return list(
            await session.scalars(select(CalendarConnection).order_by(CalendarConnection.id))
        )


def channel_texts(bot: RunningBot) -> list[str]:
    return [text_of(m) for m in bot.slack.messages(CHANNEL)]


async def test_staff_member_connects_their_calendar(bot: RunningBot) -> None:
    reply = await command(bot, "connect-calendar", user=ALICE)

    assert reply.get("response_type", "ephemeral") == "ephemeral"
    (url,) = button_urls(reply["blocks"])
    query = parse_qs(urlsplit(url).query)
    assert url.startswith(bot.google.auth_uri)
    assert query["access_type"] == ["offline"]
    assert query["prompt"] == ["consent"]
    assert query["code_challenge_method"] == ["S256"]
    assert query["redirect_uri"] == [bot.url + "/oauth/google/callback"]
    assert set(query["scope"][0].split()) == set(STAFF_SCOPES)
    assert "Show Advanced" in text_of(reply)

    location = await approve_consent(url, email="alice.lens@gmail.com")
    async with bot.http.get(location) as response:
        page = await response.text()
        assert response.status == 200
    assert "alice.lens@gmail.com" in page
    assert "close this tab" in page

    await wait_until(lambda: channel_texts(bot))
    (notice,) = channel_texts(bot)
    assert f"<@{ALICE}>" in notice and "alice.lens@gmail.com" in notice
    (row,) = await stored_connections(bot)
    assert (row.kind, row.owner_key, row.account_email) == ("staff", ALICE, "alice.lens@gmail.com")
    assert row.state is ConnectionState.CONNECTED
    tokens = TokenCipher(bot.services.settings.token_encryption_key).open_tokens(
        row.token_ciphertext
    )
    assert tokens.refresh_token and tokens.refresh_token not in notice

    shown = text_of(await live_status(bot, user=OWNER))
    assert f"<@{ALICE}>" in shown and "alice.lens@gmail.com" in shown


async def test_primary_with_a_personal_address_gets_the_generic_account_advice(
    bot: RunningBot,
) -> None:
    status, page = await connect(bot, user=OWNER, email="olivia.smith@gmail.com", primary=True)

    assert status == 200
    assert "primary calendar" in page and "shared account" in page
    await wait_until(lambda: channel_texts(bot))
    assert "looks like a person's address" in channel_texts(bot)[0]
    (row,) = await stored_connections(bot)
    assert row.kind == "primary" and set(row.scope_list) == set(PRIMARY_SCOPES)


async def test_primary_with_a_shared_address_gets_no_advice(bot: RunningBot) -> None:
    status, page = await connect(bot, user=OWNER, email="bookings@acme-photo.com", primary=True)

    assert status == 200 and "bookings@acme-photo.com" in page
    assert "person's address" not in page
    await wait_until(lambda: channel_texts(bot))
    assert "person's address" not in channel_texts(bot)[0]


async def test_the_first_command_registers_the_channel_in_the_users_timezone(
    bot: RunningBot,
) -> None:
    await live_status(bot, user=BOB)
    await live_status(bot, user=OWNER)

    async with bot.services.store._sessions() as session:
        (customer,) = list(await session.scalars(select(Customer)))
    assert (customer.team_id, customer.channel_id, customer.timezone) == (
        TEAM,
        CHANNEL,
        "Asia/Kolkata",
    )


async def test_reconnecting_replaces_the_connection(bot: RunningBot) -> None:
    await connect(bot, user=ALICE, email="alice.old@gmail.com")
    await connect(bot, user=ALICE, email="alice.new@gmail.com")

    (row,) = await stored_connections(bot)
    assert row.account_email == "alice.new@gmail.com"


async def test_staff_and_primary_are_separate_slots(bot: RunningBot) -> None:
    await connect(bot, user=OWNER, email="bookings@acme-photo.com", primary=True)
    await connect(bot, user=OWNER, email="olivia@acme-photo.com")
    await connect(bot, user=ALICE, email="alice@acme-photo.com")

    rows = await stored_connections(bot)
    assert sorted((r.kind, r.owner_key) for r in rows) == [
        ("primary", "primary"),
        ("staff", ALICE),
        ("staff", OWNER),
    ]
    text = text_of(await live_status(bot))
    assert "bookings@acme-photo.com" in text and "alice@acme-photo.com" in text


async def test_disconnect_removes_the_connection_and_revokes_it_at_google(bot: RunningBot) -> None:
    await connect(bot, user=ALICE, email="alice@acme-photo.com")
    (row,) = await stored_connections(bot)
    tokens = TokenCipher(bot.services.settings.token_encryption_key).open_tokens(
        row.token_ciphertext
    )

    reply = await command(bot, "disconnect", user=ALICE)

    assert "revoked" in text_of(reply)
    assert await stored_connections(bot) == []
    (revocation,) = bot.google.requests.matching("/revoke$")
    assert parse_qs(revocation.text)["token"] == [tokens.refresh_token]
    async with bot.http.post(
        bot.google.token_uri,
        data={
            "grant_type": "refresh_token",
            "refresh_token": tokens.refresh_token or "",
            "client_id": bot.services.settings.google_client_id,
            "client_secret": bot.services.settings.google_client_secret,
        },
    ) as response:
        assert response.status == 400
        assert (await response.json())["error"] == "invalid_grant"
    await wait_until(lambda: len(channel_texts(bot)) == 2)
    assert "disconnected their calendar" in channel_texts(bot)[1]


async def test_disconnect_still_removes_when_google_cannot_be_reached(bot: RunningBot) -> None:
    await connect(bot, user=OWNER, email="bookings@acme-photo.com", primary=True)
    bot.google.server_error("/revoke", times=None)

    reply = await command(bot, "disconnect primary", user=OWNER)

    assert "myaccount.google.com/permissions" in text_of(reply)
    assert await stored_connections(bot) == []


async def test_disconnect_with_nothing_connected_says_so(bot: RunningBot) -> None:
    reply = await command(bot, "disconnect", user=BOB)
    assert "no calendar connected" in text_of(reply)
    reply = await command(bot, "disconnect primary", user=BOB)
    assert "no primary calendar" in text_of(reply)


async def test_an_unticked_permission_is_recorded_and_explained(bot: RunningBot) -> None:
    status, page = await connect(
        bot, user=ALICE, email="alice@acme-photo.com", scopes=[STAFF_SCOPES[1]]
    )

    assert status == 200 and "left unticked" in page
    (row,) = await stored_connections(bot)
    assert row.state is ConnectionState.MISSING_PERMISSION
    await wait_until(lambda: channel_texts(bot))
    assert "left unticked" in channel_texts(bot)[0]


async def test_the_refresh_token_is_not_readable_in_the_database_file(bot: RunningBot) -> None:
    await connect(bot, user=ALICE, email="alice@acme-photo.com")
    (row,) = await stored_connections(bot)
    tokens = TokenCipher(bot.services.settings.token_encryption_key).open_tokens(
        row.token_ciphertext
    )
    assert tokens.refresh_token

    database = bot.services.settings.database_url
    if database.startswith("sqlite"):
        path = Path(database.removeprefix("sqlite:///"))
        raw = b"".join(p.read_bytes() for p in path.parent.glob(path.name + "*"))
    else:
        async with bot.services.engine.connect() as conn:
            dump = await conn.exec_driver_sql(
                "SELECT row_to_json(c)::text FROM calendar_connections c"
            )
            raw = "".join(r[0] for r in dump).encode()
    assert raw
    assert tokens.refresh_token.encode() not in raw
    assert tokens.access_token.encode() not in raw


# --- bad callbacks: a clear page each, and nothing stored changes ------------------------


async def callback(bot: RunningBot, **query: str) -> tuple[int, str]:
    async with bot.http.get(bot.url + "/oauth/google/callback", params=query) as response:
        return response.status, await response.text()


async def pending_link(bot: RunningBot, user: str = ALICE) -> str:
    reply = await command(bot, "connect-calendar", user=user)
    (url,) = button_urls(reply["blocks"])
    return url


def state_of(url: str) -> str:
    return parse_qs(urlsplit(url).query)["state"][0]


async def test_denied_consent_changes_nothing(bot: RunningBot) -> None:
    await connect(bot, user=ALICE, email="alice@acme-photo.com")

    status, page = await connect(bot, user=ALICE, email="alice.other@gmail.com", allow=False)

    assert status == 200 and "chose not to" in page
    (row,) = await stored_connections(bot)
    assert row.account_email == "alice@acme-photo.com"


async def test_unknown_and_missing_state_get_a_clear_page(bot: RunningBot) -> None:
    status, page = await callback(bot, state="made-up", code="whatever")
    assert status == 400 and "isn't recognised" in page
    status, page = await callback(bot, code="whatever")
    assert status == 400 and "incomplete" in page
    status, page = await callback(bot)
    assert status == 400 and "incomplete" in page
    assert await stored_connections(bot) == []


async def test_missing_code_gets_a_clear_page(bot: RunningBot) -> None:
    url = await pending_link(bot)
    status, page = await callback(bot, state=state_of(url))
    assert status == 400 and "without the sign-in code" in page
    assert await stored_connections(bot) == []


async def test_a_used_link_cannot_be_replayed(bot: RunningBot) -> None:
    url = await pending_link(bot)
    location = await approve_consent(url, email="alice@acme-photo.com")
    async with bot.http.get(location) as response:
        assert response.status == 200
    async with bot.http.get(location) as response:
        assert response.status == 400
        assert "already used" in await response.text()
    assert len(await stored_connections(bot)) == 1


async def test_two_racing_callbacks_connect_once(bot: RunningBot) -> None:
    url = await pending_link(bot)
    location = await approve_consent(url, email="alice@acme-photo.com")

    async def hit() -> int:
        async with bot.http.get(location) as response:
            return response.status

    statuses = await asyncio.gather(hit(), hit(), hit())
    assert sorted(statuses) == [200, 400, 400]
    assert len(await stored_connections(bot)) == 1


async def test_an_expired_link_gets_a_clear_page(bot: RunningBot) -> None:
    url = await pending_link(bot)
    location = await approve_consent(url, email="alice@acme-photo.com")
    async with bot.services.store._sessions.begin() as session:
        await session.execute(update(OAuthState).values(expires_at=utcnow() - timedelta(seconds=1)))

    async with bot.http.get(location) as response:
        assert response.status == 400
        assert "expired" in await response.text()
    assert await stored_connections(bot) == []


async def test_a_failed_code_exchange_changes_nothing(bot: RunningBot) -> None:
    url = await pending_link(bot)
    status, page = await callback(bot, state=state_of(url), code="not-a-real-code")
    assert status == 502 and "didn't confirm" in page
    assert await stored_connections(bot) == []


async def test_a_google_error_on_the_redirect_gets_a_clear_page(bot: RunningBot) -> None:
    url = await pending_link(bot)
    status, page = await callback(bot, state=state_of(url), error="server_error")
    assert status == 400 and "nothing was connected" in page
    assert await stored_connections(bot) == []


async def test_google_down_while_reading_the_account_changes_nothing(bot: RunningBot) -> None:
    url = await pending_link(bot)
    location = await approve_consent(url, email="alice@acme-photo.com")
    bot.google.server_error("/calendar/v3/", times=None)
    bot.services.calendar._num_retries = 0  # the library's backoff would only make this test slow

    async with bot.http.get(location) as response:
        assert response.status == 502
        assert "nothing was connected" in await response.text()
    assert await stored_connections(bot) == []
    assert bot.google.requests.matching("/revoke$"), "tokens that are not kept are revoked"


async def test_states_long_expired_are_dropped_when_new_links_are_made(bot: RunningBot) -> None:
    await pending_link(bot)
    async with bot.services.store._sessions.begin() as session:
        await session.execute(update(OAuthState).values(expires_at=utcnow() - timedelta(days=2)))

    # Clean-ups run at most every quarter of an hour: make the next link come later.
    bot.services.connections._clock = lambda: utcnow() + timedelta(minutes=16)
    await pending_link(bot)

    async with bot.services.store._sessions() as session:
        assert len(list(await session.scalars(select(OAuthState)))) == 1


async def test_a_link_forwarded_to_someone_else_says_whose_slot_it_filled(
    bot: RunningBot,
) -> None:
    # Alice ("alice" in Slack) forwards her personal link; Bob signs in with it, as himself.
    url = await pending_link(bot, user=ALICE)
    location = await approve_consent(url, email="bob.shutter@gmail.com")
    async with bot.http.get(location) as response:
        page = await response.text()
        assert response.status == 200

    assert "Calendar connected for alice" in page
    assert (
        "<strong>bob.shutter@gmail.com</strong> is now connected as <strong>alice</strong>'s calendar"
        in page
    )
    assert "Not alice? This sign-in link was made for them" in page
    assert "<code>@Tonomo disconnect</code>" in page
    await wait_until(lambda: channel_texts(bot))
    (notice,) = channel_texts(bot)
    assert f"Connected for <@{ALICE}> with the Google account bob.shutter@gmail.com" in notice
    assert "doesn't look like yours" in notice and "`@Tonomo disconnect` removes it" in notice
    (row,) = await stored_connections(bot)
    assert (row.owner_key, row.account_email) == (ALICE, "bob.shutter@gmail.com")

    # Alice, the slot's owner, undoes it.
    reply = await command(bot, "disconnect", user=ALICE)
    assert "bob.shutter@gmail.com" in text_of(reply) and "disconnected" in text_of(reply)
    assert await stored_connections(bot) == []


async def test_her_own_account_gets_no_doubt_but_still_the_way_back(bot: RunningBot) -> None:
    status, page = await connect(bot, user=ALICE, email="alice.lens@gmail.com")

    assert status == 200 and "Calendar connected for alice" in page
    await wait_until(lambda: channel_texts(bot))
    (notice,) = channel_texts(bot)
    assert "doesn't look like yours" not in notice
    assert f"Not your account, <@{ALICE}>? `@Tonomo disconnect` removes it." in notice


async def test_the_primary_with_a_permission_left_unticked_is_not_shown_as_connected(
    bot: RunningBot,
) -> None:
    status, page = await connect(
        bot,
        user=OWNER,
        email="bookings@acme-photo.com",
        primary=True,
        scopes=[PRIMARY_SCOPES[0], PRIMARY_SCOPES[1]],  # the events box left unticked
    )

    assert status == 200
    assert "The primary calendar can't be used yet: a permission is missing" in page
    assert "is connected" not in page and "is now the business's primary calendar" not in page
    box = "“See, create, change, and delete events on Google calendars you own”"
    assert f"the box {box} was left unticked" in page
    assert "<code>@Tonomo connect-calendar primary</code>" in page
    (row,) = await stored_connections(bot)
    assert row.kind == "primary" and row.state is ConnectionState.MISSING_PERMISSION
    await wait_until(lambda: channel_texts(bot))
    (notice,) = channel_texts(bot)
    assert box in notice and "`@Tonomo connect-calendar primary`" in notice
