"""The App Home tab end to end: opened, read, and clicked, through the real server."""

from __future__ import annotations

import asyncio
import time
from typing import Any

from bot.messages.ids import CONNECT_HERE, CONNECT_LINK, DESK_REMIND, RECONNECT
from sandbox.fake_google import approve_consent
from sandbox.fake_slack import button_urls, text_of
from storage.models import Customer
from tests.conftest import ALICE, BOB, CHANNEL, OWNER, TEAM, RunningBot
from tests.helpers import eventually, wait_until
from tests.scenarios.flows import checked_now, command, connect, customer
from tests.scenarios.test_people import mention

ALICE_EMAIL = "alice@acme-photo.com"
BOB_EMAIL = "bob@acme-photo.com"
PRIMARY_EMAIL = "bookings@acme-photo.com"
STUDIO = "C0STUDIO"


def home_of(bot: RunningBot, user: str) -> dict[str, Any] | None:
    shown = [v for v in bot.slack.views(user) if v["type"] == "home"]
    return shown[0] if shown else None


async def open_home(bot: RunningBot, user: str) -> dict[str, Any]:
    """The person opens the Home tab; the tab the bot publishes for it."""
    before = home_of(bot, user)
    sent = await bot.slack.send_event(bot.events_url, bot.slack.app_home_opened(user))
    assert sent.status == 200
    return await republished(bot, user, before)


async def republished(bot: RunningBot, user: str, before: dict[str, Any] | None) -> dict[str, Any]:
    def fresh() -> dict[str, Any]:
        view = home_of(bot, user)
        return view if view and (before is None or view["hash"] != before["hash"]) else {}

    return await wait_until(fresh)


async def click(bot: RunningBot, user: str, view: dict[str, Any], action_id: str) -> dict[str, Any]:
    """Click the button `action_id` in the person's Home tab; the tab published in answer."""
    sent = await bot.slack.send_block_action(
        bot.events_url, user_id=user, channel_id=None, action_id=action_id, view_id=view["id"]
    )
    assert sent.status == 200
    return await republished(bot, user, view)


def buttons(view: dict[str, Any], action_id: str) -> list[dict[str, Any]]:
    found = []
    for block in view["blocks"]:
        for element in [block.get("accessory"), *block.get("elements", [])]:
            if isinstance(element, dict) and element.get("action_id") == action_id:
                found.append(element)
    return found


def index_of(view: dict[str, Any], action_id: str) -> int:
    """The position of the block whose accessory is the button `action_id`."""
    [index] = [
        i
        for i, block in enumerate(view["blocks"])
        if (block.get("accessory") or {}).get("action_id") == action_id
    ]
    return index


async def sign_in(bot: RunningBot, url: str, email: str) -> None:
    location = await approve_consent(url, email=email)
    async with bot.http.get(location) as response:
        assert response.status == 200, await response.text()


async def test_nothing_yet_explains_how_to_start(bot: RunningBot) -> None:
    view = await open_home(bot, BOB)
    text = text_of(view)
    assert "Welcome to Tonomo" in text
    assert "`/tonomo connect-calendar`" in text and "your company's channel" in text
    assert not buttons(view, RECONNECT) and not buttons(view, CONNECT_HERE)


async def test_a_fresh_connection_shows_healthy(bot: RunningBot) -> None:
    status, _ = await connect(bot, user=ALICE, email=ALICE_EMAIL)
    assert status == 200
    view = await open_home(bot, ALICE)
    text = text_of(view)
    assert f"<#{CHANNEL}>" in text
    assert f"*Your calendar*: :white_check_mark: connected, {ALICE_EMAIL}." in text
    assert "Checked at " in text and "(Chicago time)" in text  # Alice registered the channel
    assert "Nothing for you to do* (1)" in text
    assert not buttons(view, RECONNECT) and not buttons(view, CONNECT_HERE)


async def test_a_broken_connection_reconnects_from_the_home_tab(bot: RunningBot) -> None:
    await connect(bot, user=ALICE, email=ALICE_EMAIL)
    bot.google.revoke_account_tokens(ALICE_EMAIL)
    await checked_now(bot, await customer(bot))

    view = await open_home(bot, ALICE)
    assert ":warning: needs reconnecting" in text_of(view)
    assert "Google no longer accepts this connection" in text_of(view)
    [reconnect] = buttons(view, RECONNECT)
    connection = await bot.services.store.find_connection((await customer(bot)).id, ALICE)
    assert connection is not None and reconnect["value"] == str(connection.id)

    responses = len(bot.slack.responses)
    answered = await click(bot, ALICE, view, RECONNECT)
    [link] = buttons(answered, CONNECT_LINK)
    assert link["text"]["text"] == "Open Google sign-in"
    assert "expires in 10 minutes" in text_of(answered) and "Show Advanced" in text_of(answered)
    assert f"Sign in with {ALICE_EMAIL}" in text_of(answered)
    # The link sits right under the row that was clicked, and is the only one.
    assert index_of(answered, CONNECT_LINK) == index_of(answered, RECONNECT) + 1
    assert button_urls(answered["blocks"]) == [link["url"]]
    assert len(bot.slack.responses) == responses, "no response_url there: none was used"

    await sign_in(bot, link["url"], ALICE_EMAIL)
    # The tab left open shows the connection working again, without a link or a button.
    healed = await republished(bot, ALICE, answered)
    assert ":white_check_mark: connected" in text_of(healed)
    assert not buttons(healed, RECONNECT) and not button_urls(healed["blocks"])
    await wait_until(
        lambda: any("reconnected their calendar" in text_of(m) for m in bot.slack.messages(CHANNEL))
    )


async def test_connections_in_two_channels_are_both_shown(bot: RunningBot) -> None:
    bot.slack.add_channel(STUDIO, name="studio-onboarding", members=[OWNER, ALICE])
    await connect(bot, user=ALICE, email=ALICE_EMAIL)
    reply = await command(bot, "connect-calendar primary", user=ALICE, channel=STUDIO)
    (url,) = button_urls(reply["blocks"])
    await sign_in(bot, url, PRIMARY_EMAIL)

    text = text_of(await open_home(bot, ALICE))
    assert f"<#{CHANNEL}>" in text and f"<#{STUDIO}>" in text
    assert ALICE_EMAIL in text and PRIMARY_EMAIL in text
    assert "*The business's primary calendar* (you connected it)" in text
    # In the studio channel Alice connected only the primary: her own calendar is offered.
    assert "Needs you* (1)" in text and "Nothing for you to do* (1)" in text


async def test_a_member_without_a_calendar_connects_from_the_home_tab(bot: RunningBot) -> None:
    await command(bot, "settings", user=BOB)  # Bob uses the bot in the channel: a member
    view = await open_home(bot, BOB)
    assert "not connected yet" in text_of(view)
    [offer] = buttons(view, CONNECT_HERE)
    assert offer["text"]["text"] == "Connect my calendar"
    assert offer["value"] == str((await customer(bot)).id)

    answered = await click(bot, BOB, view, CONNECT_HERE)
    [link] = buttons(answered, CONNECT_LINK)
    text = text_of(answered)
    assert "Show Advanced" in text and "Admin console" in text  # the tips of the connect flow
    await sign_in(bot, link["url"], BOB_EMAIL)

    healed = await republished(bot, BOB, answered)
    assert f"*Your calendar*: :white_check_mark: connected, {BOB_EMAIL}." in text_of(healed)
    assert not buttons(healed, CONNECT_HERE)
    stored = await bot.services.store.find_connection((await customer(bot)).id, BOB)
    assert stored is not None and stored.account_email == BOB_EMAIL


async def test_a_stale_reconnect_click_says_the_connection_is_gone(bot: RunningBot) -> None:
    await connect(bot, user=ALICE, email=ALICE_EMAIL)
    bot.google.revoke_account_tokens(ALICE_EMAIL)
    await checked_now(bot, await customer(bot))
    view = await open_home(bot, ALICE)
    await command(bot, "disconnect", user=ALICE)

    answered = await click(bot, ALICE, view, RECONNECT)
    assert "That connection no longer exists" in text_of(answered)
    assert not button_urls(answered["blocks"]) and not buttons(answered, RECONNECT)


async def test_the_messages_tab_publishes_nothing(bot: RunningBot) -> None:
    publishes = bot.slack.requests.matching(r"/api/views\.publish$")
    sent = await bot.slack.send_event(
        bot.events_url, bot.slack.app_home_opened(OWNER, tab="messages")
    )
    assert sent.status == 200
    await open_home(bot, OWNER)  # the Home tab, opened after it, is published
    assert len(bot.slack.requests.matching(r"/api/views\.publish$")) == len(publishes) + 1


# --- the onboarder's desk -----------------------------------------------------------------------
#
# A channel shared with Acme Photo's own organisation (Slack Connect): Alice, of the workspace
# that installed the app, is its onboarder; Olivia (the owner) and Pat (a photographer) join
# from Acme Photo, where they have no /tonomo and no Home tab.

ACME = "T0ACME"
OLIVIA, PAT = "W0OLIVIA", "W0PAT"
SHARED = "C0SHARED"
PAT_EMAIL = "pat@acme-photo.com"


async def shared_channel(bot: RunningBot) -> Customer:
    """The shared channel, its checklist posted by Alice; Olivia connected the primary
    calendar and Pat his own."""
    bot.slack.add_team(ACME, name="Acme Photo", domain="acme-photo")
    bot.slack.add_user(OLIVIA, name="olivia", tz="America/New_York", team_id=ACME)
    bot.slack.add_user(PAT, name="pat", tz="America/New_York", team_id=ACME)
    bot.slack.add_channel(
        SHARED, name="acme-photo-onboarding", members=[ALICE, OLIVIA, PAT], shared_with=[ACME]
    )
    await bot.slack.send_slash_command(
        bot.events_url, user_id=ALICE, channel_id=SHARED, text="onboard"
    )
    await wait_until(lambda: bot.slack.messages(SHARED))  # the checklist
    for user, text, email in (
        (OLIVIA, "connect-calendar primary", PRIMARY_EMAIL),
        (PAT, "connect-calendar", PAT_EMAIL),
    ):
        (url,) = button_urls((await mention(bot, user, text))["blocks"])
        await sign_in(bot, url, email)
    return await customer(bot, SHARED)


def desk_row_of(view: dict[str, Any], channel: str) -> dict[str, Any]:
    found: list[dict[str, Any]] = [
        b
        for b in view["blocks"]
        if b["type"] == "section" and f"<#{channel}>" in text_of({"blocks": [b]})
    ]
    assert len(found) == 1
    return found[0]


async def test_the_onboarder_sees_their_desk_and_reminds_the_channel(bot: RunningBot) -> None:
    shared = await shared_channel(bot)
    view = await open_home(bot, ALICE)
    text = text_of(view)
    assert "Your desk" in text
    row = desk_row_of(view, SHARED)
    line = text_of({"blocks": [row]})
    assert f"Primary calendar: :white_check_mark: connected, {PRIMARY_EMAIL}." in line
    # Olivia and Pat are the business's; Alice, the onboarder, is not counted.
    assert "Staff: 1 of 2 connected." in line
    assert f"Never connected: <@{OLIVIA}>." in line and f"<@{ALICE}>" not in line
    assert "Daily digest: on, at 7am on working days; it hasn't gone yet." in line
    assert "Broken" not in line
    [remind] = buttons(view, DESK_REMIND)
    assert remind["value"] == str(shared.id) and remind["text"]["text"] == "Remind"
    # Not staff there: the tab doesn't ask her to connect a calendar of her own.
    assert not buttons(view, CONNECT_HERE)

    before = len(bot.slack.messages(SHARED))
    answered = await click(bot, ALICE, view, DESK_REMIND)
    assert f"<#{SHARED}>: Done: I reminded 1 person" in text_of(answered)
    posted = await wait_until(lambda: bot.slack.messages(SHARED)[before:])
    reminder = text_of(posted[-1])
    assert f"<@{OLIVIA}>" in reminder and "please connect your Google calendar" in reminder
    assert f"<@{PAT}>" not in reminder.split("asks you")[0]
    assert f"<@{ALICE}> asks you to connect" in reminder


async def test_a_breakage_and_the_digest_show_on_the_desk(bot: RunningBot) -> None:
    shared = await shared_channel(bot)
    bot.google.revoke_account_tokens(PAT_EMAIL)
    await checked_now(bot, shared)
    await bot.slack.send_slash_command(
        bot.events_url, user_id=ALICE, channel_id=SHARED, text="digest now"
    )
    deadline = time.monotonic() + 5
    while (await bot.services.store.desk_of(TEAM, ALICE))[0].digest_sent_at is None:
        assert time.monotonic() < deadline, "the digest was not sent"
        await asyncio.sleep(0.01)

    line = text_of({"blocks": [desk_row_of(await open_home(bot, ALICE), SHARED)]})
    assert f":red_circle: *<#{SHARED}>*" in line
    # (today, unless the test ran across midnight in Chicago, Alice's timezone)
    assert f"Broken: <@{PAT}>'s calendar, needs reconnecting since " in line
    assert "Staff: 0 of 2 connected." in line
    assert "Daily digest: on, at 7am on working days; last went " in line


async def test_a_forged_remind_for_another_customer_is_refused(bot: RunningBot) -> None:
    await shared_channel(bot)
    # In the photo channel (no other organisation, no guests) Alice is staff, not onboarder.
    await command(bot, "settings", user=ALICE)
    photos = await customer(bot)
    view = await open_home(bot, ALICE)
    assert [b["value"] for b in buttons(view, DESK_REMIND)] != [str(photos.id)]

    before = len(bot.slack.messages(CHANNEL)), len(bot.slack.messages(SHARED))
    sent = await bot.slack.send_block_action(
        bot.events_url,
        user_id=ALICE,
        channel_id=None,
        action_id=DESK_REMIND,
        value=str(photos.id),
        view_id=view["id"],
    )
    assert sent.status == 200
    answered = await republished(bot, ALICE, view)
    assert "isn't one where you're the onboarder" in text_of(answered)
    assert (len(bot.slack.messages(CHANNEL)), len(bot.slack.messages(SHARED))) == before


async def test_staff_of_a_channel_have_no_desk(bot: RunningBot) -> None:
    await command(bot, "settings", user=BOB)
    text = text_of(await open_home(bot, BOB))
    assert "Your desk" not in text and not buttons(await open_home(bot, BOB), DESK_REMIND)


def lookups_of(bot: RunningBot, channel: str) -> int:
    """How often Slack has been asked who is in `channel` and whether it is shared."""
    return sum(
        channel in (r.query.get("channel", "") + r.text)
        for r in bot.slack.requests.matching(r"^/api/conversations\.(members|info)$")
    )


async def test_the_desk_uses_what_is_kept_of_each_channel(bot: RunningBot) -> None:
    """The commands in the shared channel kept its members and sharing, so Alice's desk asks
    Slack nothing about it. Quinn joins from Acme: the checklist's refresh reads the
    channel again (once) and keeps it, and the desk counts Quinn without asking again."""
    await shared_channel(bot)
    asked = lookups_of(bot, SHARED)
    line = text_of({"blocks": [desk_row_of(await open_home(bot, ALICE), SHARED)]})
    assert "Staff: 1 of 2 connected." in line
    assert lookups_of(bot, SHARED) == asked, "nothing asked of a channel already read"

    quinn = "W0QUINN"
    bot.slack.add_user(quinn, name="quinn", tz="America/New_York", team_id=ACME)
    bot.slack.add_member(SHARED, quinn)
    joined = {"type": "member_joined_channel", "user": quinn, "channel": SHARED, "team": TEAM}
    assert (await bot.slack.send_event(bot.events_url, joined)).status == 200

    async def kept_with_quinn() -> bool:
        members = (await customer(bot, SHARED)).channel_members
        return members is not None and quinn in members.split()

    await eventually(kept_with_quinn)
    assert lookups_of(bot, SHARED) == asked + 2, "read once for the checklist, and kept"
    line = text_of({"blocks": [desk_row_of(await open_home(bot, ALICE), SHARED)]})
    assert "Staff: 1 of 3 connected." in line and f"<@{quinn}>" in line
    assert lookups_of(bot, SHARED) == asked + 2
