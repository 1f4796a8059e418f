"""People of two organisations: mentions, the panel, roles and who may do what.

The channel here is shared (Slack Connect): Sam, the vendor's onboarder, is a member of the
workspace that installed the app; Olivia (the owner) and the photographers Alice and Bob
join from Acme Photo's own organisation, where no `/tonomo` and no Home tab reach them.
Everything they do goes through a mention, the checklist's panel or a modal.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import date, timedelta
from typing import Any

import pytest

from bot.messages.availability import ASK_LENGTH, ASK_WHEN, ASK_WHO
from bot.messages.booking_form import FORM_DAY, FORM_DURATION, FORM_STAFF, FORM_TIME, FORM_TITLE
from bot.messages.ids import (
    AVAILABILITY_MODAL,
    BOOK_MODAL,
    CONNECT_MINE,
    OPEN_AVAILABILITY_FORM,
    OPEN_BOOK_FORM,
    RECONNECT,
    REPLACE_PRIMARY,
    SHOW_STATUS,
)
from bot.staff import local_today
from sandbox.fake_google import FakeGoogle, approve_consent
from sandbox.fake_slack import (
    FakeSlack,
    SentRequest,
    SlashCommandUnavailable,
    button_urls,
    text_of,
)
from storage.models import Booking, ConnectionState, Customer, Member, utcnow
from tests.conftest import BOT_TOKEN, SIGNING_SECRET, TEAM, RunningBot, serve_bot
from tests.helpers import eventually, wait_until
from tests.scenarios import flows
from tests.scenarios.flows import command, rows

ACME = "T0ACME"
SAM = "U0SAM"
"""The vendor's onboarder: a member of the installing workspace."""
OLIVIA, ALICE, BOB = "W0OLIVIA", "W0ALICE", "W0BOB"
"""Acme Photo's owner and photographers, of their own organisation."""
CHANNEL = "C0SHARED"
OTHER_CHANNEL = "C0OTHER"
PRIMARY_EMAIL = "bookings@acme-photo.com"


def next_weekday() -> date:
    day = date.today() + timedelta(days=2)
    while day.weekday() >= 5:
        day += timedelta(days=1)
    return day


def shared_slack() -> FakeSlack:
    """Slack with this module's shared channel and people (not started yet)."""
    fake = FakeSlack(bot_token=BOT_TOKEN, signing_secret=SIGNING_SECRET, team_id=TEAM)
    fake.add_team(ACME, name="Acme Photo", domain="acme-photo")
    fake.add_user(SAM, name="sam", real_name="Sam Onboarder", tz="America/New_York")
    for user_id, name in ((OLIVIA, "olivia"), (ALICE, "alice"), (BOB, "bob")):
        fake.add_user(user_id, name=name, tz="America/New_York", team_id=ACME)
    fake.add_channel(
        CHANNEL, name="acme-photo-onboarding", members=[SAM, OLIVIA, ALICE, BOB], shared_with=[ACME]
    )
    fake.add_channel(OTHER_CHANNEL, name="other-customer", members=[SAM])
    return fake


@pytest.fixture
async def slack() -> AsyncIterator[FakeSlack]:
    fake = shared_slack()
    await fake.start()
    yield fake
    await fake.stop()


@pytest.fixture
async def bot(google: FakeGoogle, slack: FakeSlack, database_url: str) -> AsyncIterator[RunningBot]:
    async with serve_bot(google, slack, database_url) as running:
        yield running


@pytest.fixture
async def shared_channel(google: FakeGoogle, database_url: str) -> AsyncIterator[RunningBot]:
    """The bot in this module's shared channel, for another module's tests of the door people
    of another organisation use (there `bot` is the New York team's)."""
    fake = shared_slack()
    await fake.start()
    try:
        async with serve_bot(google, fake, database_url) as running:
            yield running
    finally:
        await fake.stop()


# --- steps ----------------------------------------------------------------------------------


async def mention(
    bot: RunningBot, user: str, text: str, *, thread_ts: str | None = None
) -> dict[str, Any]:
    """`@Tonomo text` in the shared channel; the answer only `user` sees."""
    return await flows.mention(bot, text, user=user, channel=CHANNEL, thread_ts=thread_ts)


async def say(bot: RunningBot, user: str, text: str) -> SentRequest:
    """`@Tonomo text` in the shared channel, only sent (`flows.say`)."""
    return await flows.say(bot, text, user=user, channel=CHANNEL)


async def sign_in(bot: RunningBot, answer: dict[str, Any], email: str) -> str:
    """Follow the personal link in an answer through Google's consent to the callback page."""
    (url,) = button_urls(answer["blocks"])
    location = await approve_consent(url, email=email)
    async with bot.http.get(location) as response:
        assert response.status == 200
        return await response.text()


async def connect_by_mention(
    bot: RunningBot, user: str, email: str, *, primary: bool = False
) -> None:
    answer = await mention(bot, user, "connect-calendar primary" if primary else "connect-calendar")
    await sign_in(bot, answer, email)


async def onboard(bot: RunningBot) -> dict[str, Any]:
    """The onboarder posts the checklist (the panel) in the channel."""
    await say(bot, SAM, "onboard")
    posted = await wait_until(
        lambda: [m for m in bot.slack.messages(CHANNEL) if "Getting started" in text_of(m)]
    )
    return posted[-1]


async def click(
    bot: RunningBot,
    user: str,
    action_id: str,
    message: dict[str, Any] | None,
    value: str | None = None,
) -> dict[str, Any]:
    """Click a button of the shared channel's message; the answer only `user` sees."""
    return await flows.click(
        bot, user=user, action_id=action_id, message=message, channel=CHANNEL, value=value
    )


async def open_modal(
    bot: RunningBot, user: str, action_id: str, panel: dict[str, Any]
) -> dict[str, Any]:
    sent = await bot.slack.send_block_action(
        bot.events_url,
        user_id=user,
        channel_id=CHANNEL,
        action_id=action_id,
        message_ts=panel["ts"],
    )
    assert sent.status == 200
    views = await wait_until(lambda: [v for v in bot.slack.views(user) if v["type"] == "modal"])
    return views[-1]


def channel_texts(bot: RunningBot) -> list[str]:
    return [text_of(m) for m in bot.slack.messages(CHANNEL)]


# --- mentions -------------------------------------------------------------------------------


async def test_a_slash_command_never_reaches_the_bot_from_another_organisation(
    bot: RunningBot,
) -> None:
    with pytest.raises(SlashCommandUnavailable):
        await bot.slack.send_slash_command(
            bot.events_url, user_id=ALICE, channel_id=CHANNEL, text="help"
        )


async def test_an_external_photographer_connects_through_a_mention(bot: RunningBot) -> None:
    answer = await mention(bot, ALICE, "connect-calendar")
    assert "Connect your Google calendar" in text_of(answer)
    assert answer["thread_ts"] is None
    page = await sign_in(bot, answer, "alice@acme-photo.com")

    assert "alice@acme-photo.com" in page
    await wait_until(
        lambda: any(f"<@{ALICE}> connected their calendar" in t for t in channel_texts(bot))
    )
    (connection,) = await bot.services.store.list_connections((await customer(bot)).id)
    assert connection.owner_key == ALICE and connection.account_email == "alice@acme-photo.com"
    # Nobody else saw the link.
    assert all(
        e["user"] == ALICE for e in bot.slack.ephemerals(CHANNEL) if button_urls(e["blocks"])
    )


async def test_an_external_owner_asks_status_by_mention_and_the_channel_is_told_after(
    bot: RunningBot,
) -> None:
    """Olivia, of Acme's own organisation, asks `@Tonomo status` (twice delivered) while
    Alice's calendar is broken: only she sees the answer, it comes before the channel's
    alert, the breakage is stored once and alerted once."""
    await connect_by_mention(bot, OLIVIA, PRIMARY_EMAIL, primary=True)
    await connect_by_mention(bot, ALICE, "alice@acme-photo.com")
    bot.google.revoke_account_tokens("alice@acme-photo.com")
    before = len(bot.slack.ephemerals(CHANNEL, OLIVIA))

    sent = await say(bot, OLIVIA, "status")
    again = await bot.slack.redeliver(bot.events_url, sent, retry_num=1)
    assert again.status == 200
    (answer,) = await wait_until(
        lambda: [
            e
            for e in bot.slack.ephemerals(CHANNEL, OLIVIA)[before:]
            if "calendar connection(s) working" in text_of(e)
        ]
    )
    assert "1 of 2 calendar connection(s) working" in text_of(answer)
    assert ":warning: needs reconnecting: alice@acme-photo.com" in text_of(answer)
    alerts = await wait_until(
        lambda: [m for m in bot.slack.messages(CHANNEL) if "needs reconnecting" in text_of(m)]
    )
    await mention(bot, OLIVIA, "help")  # a later mention answered: so was the redelivery
    assert len([m for m in bot.slack.messages(CHANNEL) if "needs reconnecting" in text_of(m)]) == 1
    assert float(answer["ts"]) < float(alerts[0]["ts"])
    assert all("working" not in text_of(e) for e in bot.slack.ephemerals(CHANNEL, ALICE))
    connections = await bot.services.store.list_connections((await customer(bot)).id)
    (alice,) = [c for c in connections if c.owner_key == ALICE]
    assert alice.state is ConnectionState.NEEDS_RECONNECT
    events = await bot.services.store.connection_events(alice.id)
    assert [(e.from_state, e.to_state) for e in events] == [("connected", "needs_reconnect")]


async def test_a_mention_in_a_thread_is_answered_in_that_thread(bot: RunningBot) -> None:
    parent, _ = await bot.slack.send_message(
        bot.events_url, user_id=BOB, channel_id=CHANNEL, text="Morning!"
    )
    answer = await mention(bot, BOB, "help", thread_ts=parent["ts"])
    assert answer["thread_ts"] == parent["ts"]
    assert "@Tonomo" in text_of(answer)


async def test_a_redelivered_mention_is_answered_once(bot: RunningBot) -> None:
    sent = await say(bot, ALICE, "connect-calendar")
    await wait_until(lambda: bot.slack.ephemerals(CHANNEL, ALICE))
    again = await bot.slack.redeliver(bot.events_url, sent, retry_num=1)
    third = await bot.slack.redeliver(bot.events_url, sent, retry_num=2)
    assert again.status == third.status == 200
    # A later mention is answered, so the redeliveries had their chance to be answered too.
    await mention(bot, ALICE, "help")
    links = [e for e in bot.slack.ephemerals(CHANNEL, ALICE) if button_urls(e["blocks"])]
    assert len(links) == 1


async def test_bad_mentions_get_kind_answers(bot: RunningBot) -> None:
    assert "Tonomo calendar bot" in text_of(await mention(bot, BOB, ""))
    unknown = text_of(await mention(bot, BOB, "availabilty tomorrow"))
    assert "Did you mean" in unknown and "@Tonomo availability" in unknown
    habit = text_of(await mention(bot, BOB, "/tonomo help"))
    assert "Tonomo calendar bot" in habit
    nobody = text_of(await mention(bot, BOB, "availability @nobody"))
    assert "can't tell who" in nobody


# --- roles and permissions ------------------------------------------------------------------


async def customer(bot: RunningBot) -> Customer:
    found = await bot.services.store.find_customer(TEAM, CHANNEL)
    assert found is not None
    return found


async def test_the_first_to_connect_the_primary_becomes_owner_and_roles_are_kept(
    bot: RunningBot,
) -> None:
    await connect_by_mention(bot, OLIVIA, PRIMARY_EMAIL, primary=True)
    assert (await customer(bot)).owner_user_id == OLIVIA
    await mention(bot, ALICE, "status")
    await command(bot, "status", user=SAM, channel=CHANNEL, follow_up=True)
    roles = {m.slack_user_id: (m.role, m.role_source) for m in await rows(bot, Member)}
    assert roles[OLIVIA] == ("owner", "primary")
    assert roles[ALICE] == ("staff", "slack")
    assert roles[SAM] == ("onboarder", "slack")


async def test_a_staff_member_cannot_replace_the_primary_and_is_told_who_can(
    bot: RunningBot,
) -> None:
    await connect_by_mention(bot, OLIVIA, PRIMARY_EMAIL, primary=True)

    refused = await mention(bot, BOB, "connect-calendar primary")
    assert button_urls(refused["blocks"]) == []
    assert f"Only <@{OLIVIA}> (the owner) or an onboarder" in text_of(refused)
    refused = await mention(bot, BOB, "disconnect primary")
    assert f"Only <@{OLIVIA}> (the owner)" in text_of(refused)
    (primary,) = await bot.services.store.list_connections((await customer(bot)).id)
    assert primary.account_email == PRIMARY_EMAIL


async def test_the_owner_replaces_the_primary_after_confirming_and_the_channel_is_told(
    bot: RunningBot,
) -> None:
    await connect_by_mention(bot, OLIVIA, PRIMARY_EMAIL, primary=True)
    await connect_by_mention(bot, ALICE, "alice@acme-photo.com")
    await say(
        bot, OLIVIA, f"book <@{ALICE}> {next_weekday().isoformat()} 10:00 1h Shoot at 5 Elm St"
    )
    await wait_until(lambda: any("Booked" in t for t in channel_texts(bot)))

    ask = await mention(bot, OLIVIA, "connect-calendar primary")
    shown = text_of(ask)
    assert "replaces bookings@acme-photo.com, which holds 1 upcoming booking" in shown
    assert button_urls(ask["blocks"]) == []  # no link before confirming
    (button,) = [e for b in ask["blocks"] if b["type"] == "actions" for e in b["elements"]]
    assert button["action_id"] == REPLACE_PRIMARY and "confirm" in button

    sent = await bot.slack.send_block_action(
        bot.events_url,
        user_id=OLIVIA,
        channel_id=CHANNEL,
        action_id=REPLACE_PRIMARY,
        message_ts=ask["ts"],
    )
    assert sent.status == 200
    link = (
        await wait_until(
            lambda: [r for r in bot.slack.responses if button_urls(r.get("blocks", []))]
        )
    )[-1]
    await sign_in(bot, link, "scheduling@acme-photo.com")

    told = await wait_until(lambda: [t for t in channel_texts(bot) if "It replaces" in t])
    assert f"<@{OLIVIA}> connected the primary calendar (scheduling@acme-photo.com)" in told[-1]
    assert "It replaces bookings@acme-photo.com" in told[-1]
    # The booking's event stays where it was made.
    assert len(bot.google.events(PRIMARY_EMAIL)) == 1


async def test_a_staff_member_books_only_themselves_and_cancels_only_their_own(
    bot: RunningBot,
) -> None:
    await connect_by_mention(bot, OLIVIA, PRIMARY_EMAIL, primary=True)
    await connect_by_mention(bot, ALICE, "alice@acme-photo.com")
    await connect_by_mention(bot, BOB, "bob@acme-photo.com")
    day = next_weekday().isoformat()

    refused = text_of(await mention(bot, ALICE, f"book <@{BOB}> {day} 10:00 1h Shoot"))
    assert "You can book yourself" in refused and f"<@{OLIVIA}> (the owner)" in refused
    assert bot.google.events(PRIMARY_EMAIL) == []

    await say(bot, ALICE, f"book <@{ALICE}> {day} 10:00 1h Her own shoot")
    await say(bot, OLIVIA, f"book <@{BOB}> {day} 13:00 1h Bob's shoot")
    await wait_until(lambda: sum("Booked" in t for t in channel_texts(bot)) == 2)
    ids = {b.staff_user_id: b.short_id for b in await rows(bot, Booking)}

    not_hers = text_of(await mention(bot, ALICE, f"cancel {ids[BOB]}"))
    assert f"is <@{BOB}>'s" in not_hers and f"<@{OLIVIA}> (the owner)" in not_hers
    await say(bot, ALICE, f"cancel {ids[ALICE]}")
    await wait_until(
        lambda: any(f"`{ids[ALICE]}`" in t and "ancelled" in t for t in channel_texts(bot))
    )
    statuses = {b.staff_user_id: b.status.value for b in await rows(bot, Booking)}
    assert statuses == {ALICE: "cancelled", BOB: "booked"}
    assert len(bot.google.events(PRIMARY_EMAIL)) == 1


async def test_settings_are_for_the_owner_and_onboarders(bot: RunningBot) -> None:
    await connect_by_mention(bot, OLIVIA, PRIMARY_EMAIL, primary=True)
    refused = text_of(await mention(bot, BOB, "settings timezone Europe/London"))
    assert "change settings" in refused
    assert (await customer(bot)).timezone == "America/New_York"
    await mention(bot, OLIVIA, "settings timezone Europe/London")
    await wait_until(lambda: True)
    assert (await customer(bot)).timezone == "Europe/London"


async def test_roles_are_corrected_with_settings(bot: RunningBot) -> None:
    await connect_by_mention(bot, OLIVIA, PRIMARY_EMAIL, primary=True)
    # Bob is really a second onboarder; Alice takes the business over.
    await say(bot, SAM, f"settings onboarder <@{BOB}|bob>")
    await wait_until(lambda: any(f"set <@{BOB}> as an onboarder" in t for t in channel_texts(bot)))
    await say(bot, SAM, f"settings owner <@{ALICE}|alice>")
    await wait_until(lambda: any(f"set <@{ALICE}> as the owner" in t for t in channel_texts(bot)))

    assert (await customer(bot)).owner_user_id == ALICE
    roles = {m.slack_user_id: (m.role, m.role_source) for m in await rows(bot, Member)}
    assert roles[BOB] == ("onboarder", "settings")
    assert roles[OLIVIA][0] == "staff"
    # Olivia is staff now: settings are not hers to change any more; Bob's now.
    assert "change settings" in text_of(await mention(bot, OLIVIA, "settings hours 8:00-16:00"))
    assert "change settings" not in text_of(await mention(bot, BOB, "settings hours 8:00-16:00"))
    # And Bob, an onboarder, is no longer waited for.
    status = await command(bot, "status", user=SAM, channel=CHANNEL, follow_up=True)
    assert f"<@{BOB}>" not in text_of(status).split("Not connected yet")[-1]


async def test_the_onboarder_is_absent_from_every_staff_list(bot: RunningBot) -> None:
    await connect_by_mention(bot, OLIVIA, PRIMARY_EMAIL, primary=True)
    await connect_by_mention(bot, ALICE, "alice@acme-photo.com")

    status = text_of(await command(bot, "status", user=SAM, channel=CHANNEL, follow_up=True))
    assert f"<@{BOB}>" in status and f"<@{SAM}>" not in status
    checklist = text_of(await onboard(bot))
    assert f"<@{BOB}>" in checklist and f"<@{SAM}>" not in checklist
    assert await bot.services.digests.post_now(await customer(bot))
    digest = [t for t in channel_texts(bot) if "availability" in t.lower()][-1]
    assert f"<@{BOB}>" in digest and f"<@{SAM}>" not in digest
    _, count = await bot.services.onboarding.remind(await customer(bot), by=SAM)
    reminder = channel_texts(bot)[-1]
    assert count == 2 and f"<@{SAM}>" not in reminder.splitlines()[0]


async def test_an_external_owner_posts_today_s_digest_by_mention(bot: RunningBot) -> None:
    await connect_by_mention(bot, OLIVIA, PRIMARY_EMAIL, primary=True)
    await connect_by_mention(bot, ALICE, "alice@acme-photo.com")

    await say(bot, OLIVIA, "digest now")
    posted = await wait_until(
        lambda: [t for t in channel_texts(bot) if "Today's availability" in t], timeout=10
    )
    assert len(posted) == 1, "one digest"
    assert f"<@{ALICE}>" in posted[0] and f"<@{SAM}>" not in posted[0]
    assert f"<@{BOB}>" in posted[0].split("Not connected yet")[-1]
    shop = await customer(bot)
    today = local_today(shop, utcnow())
    await eventually(lambda: bot.services.digest_store.sent_on(shop.id, today))  # counted


async def test_a_restarted_bot_asks_slack_only_about_the_people_it_must_tell_apart(
    google: FakeGoogle, slack: FakeSlack, database_url: str
) -> None:
    """A process's first digest in a shared channel: the channel is mixed by its sharing, and
    the photographers with a calendar connected are in the digest whatever Slack says of
    them, so Slack is asked who someone is only about the others: the owner and Bob, who
    have no calendar of their own, Sam (an onboarder, left out) and the bot."""
    async with serve_bot(google, slack, database_url) as first:
        await connect_by_mention(first, OLIVIA, PRIMARY_EMAIL, primary=True)
        await connect_by_mention(first, ALICE, "alice@acme-photo.com")
    async with serve_bot(google, slack, database_url) as restarted:
        slack.requests.clear()
        assert await restarted.services.digests.post_now(await customer(restarted))
        asked = {r.query["user"] for r in slack.requests.matching("/api/users.info$")}
        assert asked == {OLIVIA, BOB, SAM, slack.bot_user_id}
        digest = [t for t in channel_texts(restarted) if "availability" in t.lower()][-1]
        waiting = digest.split("Not connected yet")[-1]
        assert f"<@{BOB}>" in waiting and f"<@{OLIVIA}>" in waiting
        assert f"<@{SAM}>" not in digest and f"<@{ALICE}>" not in waiting


async def test_a_restarted_bot_tells_its_people_apart_when_slack_wont_describe_the_channel(
    google: FakeGoogle, slack: FakeSlack, database_url: str
) -> None:
    """Olivia, of Acme's own organisation, asks `@Tonomo availability` of a restarted bot
    while Slack fails every `conversations.info`, just after Slack said the channel was
    shared (so what the first bot kept of it is read again). Not told the channel is
    shared, the bot asks Slack about everyone in it, Alice too, and finds it mixed from its
    people (Acme's are of another organisation): Sam the onboarder is left out and Bob, with
    no calendar, is named; Alice's day is read; her connection is stored as it was; and
    nothing of the channel is kept, since Slack would not say whether it is shared."""
    async with serve_bot(google, slack, database_url) as first:
        await connect_by_mention(first, ALICE, "alice@acme-photo.com")
    async with serve_bot(google, slack, database_url) as restarted:
        slack.server_error("conversations.info", times=None)
        event = {"type": "channel_shared", "connected_team_id": ACME, "channel": CHANNEL}
        assert (await slack.send_event(restarted.events_url, event)).status == 200

        async def dropped() -> bool:
            return (await customer(restarted)).channel_members is None

        await eventually(dropped)
        slack.requests.clear()
        answer = text_of(
            await mention(restarted, OLIVIA, f"availability {next_weekday().isoformat()}")
        )

        assert slack.requests.matching("/api/conversations.info$"), "Slack was asked, and failed"
        asked = {r.query["user"] for r in slack.requests.matching("/api/users.info$")}
        assert {ALICE, OLIVIA, BOB, SAM} <= asked
        assert f"<@{ALICE}>" in answer and f"<@{BOB}>" in answer
        assert f"<@{SAM}>" not in answer
        (connection,) = await restarted.services.store.list_connections(
            (await customer(restarted)).id
        )
        assert (connection.owner_key, connection.state) == (ALICE, ConnectionState.CONNECTED)
        assert (await customer(restarted)).channel_members is None


async def test_only_a_member_of_the_installing_workspace_needs_the_channel_read(
    bot: RunningBot,
) -> None:
    """Whether the channel is mixed only tells a full member of the installing workspace
    an onboarder. After the channel changed (its kept facts dropped), Alice (of Acme) is
    given a sign-in link with nothing asked of the channel; Sam, of the vendor's
    workspace, is told apart by reading it once, and it is kept for the next command."""
    lookups = r"^/api/conversations\.(members|info)$"
    await bot.services.people.channel_changed(TEAM, CHANNEL, utcnow())
    bot.slack.requests.clear()
    answer = await mention(bot, ALICE, "connect-calendar")
    assert button_urls(answer["blocks"]), "her own sign-in link"
    assert not bot.slack.requests.matching(lookups)

    answered = text_of(await mention(bot, SAM, "settings timezone America/Chicago"))
    assert len(bot.slack.requests.matching(lookups)) == 2, "members and sharing, once"
    assert "America/Chicago" in answered, "an onboarder may change settings"
    assert (await customer(bot)).channel_ext_shared is True
    await mention(bot, SAM, "status")
    assert len(bot.slack.requests.matching(lookups)) == 2, "kept for the next command"


async def test_an_onboarder_with_a_calendar_of_their_own_is_still_not_staff(
    bot: RunningBot,
) -> None:
    await connect_by_mention(bot, SAM, "sam@vendor.example")
    await connect_by_mention(bot, ALICE, "alice@acme-photo.com")
    week = text_of(await mention(bot, OLIVIA, "availability this week"))
    assert f"<@{ALICE}>" in week or "alice" in week
    assert f"<@{SAM}>" not in week and "sam" not in week
    assert await bot.services.digests.post_now(await customer(bot))
    digest = [t for t in channel_texts(bot) if "availability" in t.lower()][-1]
    assert f"<@{ALICE}>" in digest and f"<@{SAM}>" not in digest
    # Asked for by name, the onboarder's own calendar is read like anyone's.
    assert "Nobody" not in text_of(await mention(bot, OLIVIA, f"availability <@{SAM}> tomorrow"))


async def test_a_guest_in_a_channel_that_is_not_shared(
    google: FakeGoogle, database_url: str
) -> None:
    """No Slack Connect, but a guest: the workspace's own members are the onboarders."""
    fake = FakeSlack(bot_token=BOT_TOKEN, signing_secret=SIGNING_SECRET, team_id=TEAM)
    fake.add_user(SAM, name="sam", tz="America/New_York")
    fake.add_user("U0GUEST", name="gina", tz="America/New_York", guest="single")
    fake.add_channel(CHANNEL, name="guest-channel", members=[SAM, "U0GUEST"])
    await fake.start()
    try:
        async with serve_bot(google, fake, database_url) as running:
            status = text_of(
                await command(running, "status", user=SAM, channel=CHANNEL, follow_up=True)
            )
            assert "<@U0GUEST>" in status and f"<@{SAM}>" not in status
            # The guest has a slash command here (the same workspace) and is staff.
            refused = await command(
                running, "settings timezone Europe/Paris", user="U0GUEST", channel=CHANNEL
            )
            assert "Europe/Paris" in text_of(refused)  # no owner yet: anyone may
    finally:
        await fake.stop()


async def test_a_business_that_installed_the_app_itself_is_all_staff(
    bot: RunningBot, google: FakeGoogle
) -> None:
    """The other channel has only the installing workspace's people: nobody is an onboarder."""
    bot.slack.add_user("U0KIM", name="kim", tz="America/New_York")
    bot.slack.add_member(OTHER_CHANNEL, "U0KIM")
    status = text_of(await command(bot, "status", user=SAM, channel=OTHER_CHANNEL, follow_up=True))
    assert f"<@{SAM}>" in status and "<@U0KIM>" in status


# --- the panel ------------------------------------------------------------------------------


async def test_an_external_owner_books_through_the_panels_form(bot: RunningBot) -> None:
    await connect_by_mention(bot, OLIVIA, PRIMARY_EMAIL, primary=True)
    await connect_by_mention(bot, ALICE, "alice@acme-photo.com")
    panel = await onboard(bot)

    form = await open_modal(bot, OLIVIA, OPEN_BOOK_FORM, panel)
    assert form["callback_id"] == BOOK_MODAL
    assert form["app_installed_team_id"] == TEAM
    day = next_weekday().isoformat()
    values = {
        FORM_STAFF: {FORM_STAFF: {"type": "users_select", "selected_user": ALICE}},
        FORM_DAY: {FORM_DAY: {"type": "datepicker", "selected_date": day}},
        FORM_TIME: {FORM_TIME: {"type": "timepicker", "selected_time": "11:00"}},
        FORM_DURATION: {FORM_DURATION: {"type": "plain_text_input", "value": "1h30m"}},
        FORM_TITLE: {FORM_TITLE: {"type": "plain_text_input", "value": "Listing at 5 Elm St"}},
    }
    sent = await bot.slack.send_view_submission(
        bot.events_url, user_id=OLIVIA, view_id=form["id"], values=values
    )
    assert sent.status == 200
    await wait_until(lambda: any("Listing at 5 Elm St" in t for t in channel_texts(bot)))
    (event,) = bot.google.events(PRIMARY_EMAIL)
    assert [a["email"] for a in event["attendees"]] == ["alice@acme-photo.com"]


async def test_availability_and_status_from_the_panel_answer_whoever_clicked(
    bot: RunningBot,
) -> None:
    await connect_by_mention(bot, ALICE, "alice@acme-photo.com")
    panel = await onboard(bot)

    form = await open_modal(bot, BOB, OPEN_AVAILABILITY_FORM, panel)
    assert form["callback_id"] == AVAILABILITY_MODAL
    values = {
        ASK_WHO: {ASK_WHO: {"type": "multi_users_select", "selected_users": [ALICE]}},
        ASK_WHEN: {ASK_WHEN: {"type": "static_select", "selected_option": {"value": "tomorrow"}}},
        ASK_LENGTH: {ASK_LENGTH: {"type": "plain_text_input", "value": "2 hours please"}},
    }
    wrong = await bot.slack.send_view_submission(
        bot.events_url, user_id=BOB, view_id=form["id"], values=values
    )
    assert ASK_LENGTH in wrong.json()["errors"]  # the form stays open, the field says why
    values[ASK_LENGTH] = {ASK_LENGTH: {"type": "plain_text_input", "value": "1h"}}
    sent = await bot.slack.send_view_submission(
        bot.events_url, user_id=BOB, view_id=form["id"], values=values
    )
    assert sent.status == 200
    answer = (await wait_until(lambda: bot.slack.ephemerals(CHANNEL, BOB)))[-1]
    assert "Alice" in text_of(answer) or f"<@{ALICE}>" in text_of(answer)
    assert bot.slack.ephemerals(CHANNEL, ALICE) == [] or all(
        "Availability" not in text_of(e) for e in bot.slack.ephemerals(CHANNEL, ALICE)
    )

    status = await click(bot, BOB, SHOW_STATUS, panel)
    assert f"<@{ALICE}>" in text_of(status) and status["user"] == BOB

    mine = await click(bot, BOB, CONNECT_MINE, panel)
    assert "Connect your Google calendar" in text_of(mine) and mine["user"] == BOB


async def test_a_forged_reconnect_for_another_channels_connection_is_refused(
    bot: RunningBot,
) -> None:
    # Another customer, with its own primary calendar.
    await command(bot, "connect-calendar primary", user=SAM, channel=OTHER_CHANNEL)
    answer = bot.slack.responses[-1]
    (url,) = button_urls(answer["blocks"])
    location = await approve_consent(url, email="boss@other.example")
    async with bot.http.get(location) as response:
        assert response.status == 200
    other = await bot.services.store.find_customer(TEAM, OTHER_CHANNEL)
    assert other is not None
    (theirs,) = await bot.services.store.list_connections(other.id)
    await mention(bot, OLIVIA, "status")  # her channel is a customer too
    # Buttons no message of this channel has, carrying the other customer's connection id.
    forged = await click(bot, OLIVIA, RECONNECT, None, value=str(theirs.id))
    assert button_urls(forged.get("blocks", [])) == []
    assert "no longer exists" in text_of(forged)
    forged = await click(bot, OLIVIA, REPLACE_PRIMARY, None, value=str(theirs.id))
    # Olivia may connect the primary of her own channel (no owner yet), never the other's.
    for url in button_urls(forged.get("blocks", [])):
        location = await approve_consent(url, email="olivia@acme-photo.com")
        async with bot.http.get(location) as response:
            assert response.status == 200
    (still,) = await bot.services.store.list_connections(other.id)
    assert still.account_email == "boss@other.example"


# --- faults ---------------------------------------------------------------------------------


async def test_a_mention_whose_answer_slack_refuses_leaves_the_bot_answering(
    bot: RunningBot,
) -> None:
    """chat.postEphemeral fails once (a 503): that answer is lost and logged, nothing is
    stored half-way, and the next mention is answered."""
    bot.slack.server_error("chat.postEphemeral")
    await say(bot, ALICE, "connect-calendar")
    await wait_until(lambda: bot.slack.requests.matching("^/api/chat.postEphemeral$"))
    answer = await mention(bot, ALICE, "connect-calendar")
    assert "Connect your Google calendar" in text_of(answer)
    assert len(bot.slack.ephemerals(CHANNEL, ALICE)) == 1


async def test_when_slack_wont_say_who_someone_is_they_get_the_least_powers(
    bot: RunningBot,
) -> None:
    """users.info failing for Sam: he can't be told from the business's people, so he is
    taken as staff (never an onboarder by default), and the owner's rules apply to him."""
    bot.slack.server_error("users.info", times=None)
    await connect_by_mention(bot, OLIVIA, PRIMARY_EMAIL, primary=True)
    assert (await customer(bot)).owner_user_id == OLIVIA
    refused = text_of(await mention(bot, SAM, "settings timezone Europe/London"))
    assert f"Only <@{OLIVIA}> (the owner) or an onboarder" in refused
    # Registered in UTC (Slack wouldn't give Olivia's timezone), and left so.
    assert (await customer(bot)).timezone == "UTC"
