"""Onboarding end to end: the checklist when the bot is added and on `onboard`, updated in
place as steps get done; its buttons; the reminder; the welcome of someone joining.

Events, clicks and commands are signed and sent through the real server; the Slack
emulator does not deliver events by itself, so each test sends the one Slack would.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

from bot.messages.connect import GENERIC_ACCOUNT_ADVICE, UNVERIFIED_TIP, WORKSPACE_TIP
from bot.messages.ids import CONNECT_MINE, CONNECT_PRIMARY, REMIND_STAFF
from bot.messages.onboarding import PANEL_ACTIONS
from sandbox.fake_google import approve_consent
from sandbox.fake_slack import button_urls, text_of
from storage.models import Customer
from tests.conftest import ALICE, BOB, CHANNEL, OWNER, TEAM, RunningBot
from tests.helpers import wait_until
from tests.scenarios import flows
from tests.scenarios.flows import command, connect

ALICE_EMAIL = "alice@acme-photo.com"
BOB_EMAIL = "bob@acme-photo.com"
PRIMARY_EMAIL = "bookings@acme-photo.com"
CAROL = "U0CAROL"
NEW_CHANNEL = "C0NEWCUSTOMER"
TITLE = "Getting started with Tonomo"


def checklists(bot: RunningBot, channel: str = CHANNEL) -> list[dict[str, Any]]:
    return [m for m in bot.slack.messages(channel) if TITLE in text_of(m)]


def current(bot: RunningBot, ts: str) -> str:
    """What the message `ts` reads now."""
    (message,) = [m for m in bot.slack.messages(CHANNEL) if m["ts"] == ts]
    return text_of(message)


def welcomes(bot: RunningBot, user: str, channel: str = CHANNEL) -> list[dict[str, Any]]:
    return [e for e in bot.slack.ephemerals(channel, user) if "Welcome" in text_of(e)]


def action_ids(message: dict[str, Any]) -> list[str]:
    return [
        e["action_id"]
        for b in message.get("blocks") or []
        if b["type"] == "actions"
        for e in b["elements"]
    ]


def asked_about(bot: RunningBot, user: str) -> bool:
    """Whether the bot asked Slack who `user` is (users.info)."""
    asked = bot.slack.requests.matching(r"/api/users\.info$")
    return any(r.query.get("user") == user or f"user={user}" in r.text for r in asked)


async def stored_customer(bot: RunningBot, channel: str = CHANNEL) -> Customer:
    customer = await bot.services.store.find_customer(TEAM, channel)
    assert customer is not None
    return customer


async def onboard(bot: RunningBot) -> dict[str, Any]:
    """`/tonomo onboard`: the new checklist it posts in the channel."""
    before = len(checklists(bot))
    sent = await bot.slack.send_slash_command(
        bot.events_url, user_id=OWNER, channel_id=CHANNEL, text="onboard"
    )
    assert sent.status == 200 and not sent.body.strip()  # all of it is in the channel
    await wait_until(lambda: len(checklists(bot)) > before)
    checklist = checklists(bot)[-1]
    await checklist_kept(bot, checklist["ts"])
    return checklist


async def checklist_kept(bot: RunningBot, ts: str, channel: str = CHANNEL) -> None:
    """Wait until the customer's stored checklist is message `ts` (it is stored once posted)."""
    deadline = time.monotonic() + 5
    while (await stored_customer(bot, channel)).checklist_ts != ts:
        assert time.monotonic() < deadline, f"the checklist {ts} was not stored"
        await asyncio.sleep(0.01)


def joined(user: str, channel: str = CHANNEL, inviter: str | None = OWNER) -> dict[str, Any]:
    """A member_joined_channel event (https://api.slack.com/events/member_joined_channel)."""
    event = {"type": "member_joined_channel", "user": user, "channel": channel}
    event |= {"channel_type": "G", "team": TEAM}
    return event | ({"inviter": inviter} if inviter else {})


async def click(
    bot: RunningBot, message: dict[str, Any], action_id: str, *, user: str
) -> dict[str, Any]:
    """Click a button of a message as `user`; the reply only they see."""
    reply = await flows.click(bot, user=user, action_id=action_id, message=message)
    assert reply.get("response_type") == "ephemeral" and not reply.get("replace_original")
    return reply


# --- the bot added to a channel --------------------------------------------------------------


async def test_the_bot_added_to_a_channel_registers_it_and_posts_the_checklist(
    bot: RunningBot,
) -> None:
    bot.slack.add_channel(
        NEW_CHANNEL, name="new-customer", members=[OWNER, ALICE], bot_is_member=False
    )
    bot.slack.add_member(NEW_CHANNEL, bot.slack.bot_user_id)
    sent = await bot.slack.send_event(bot.events_url, joined(bot.slack.bot_user_id, NEW_CHANNEL))
    assert sent.status == 200

    (checklist,) = await wait_until(lambda: checklists(bot, NEW_CHANNEL))
    text = text_of(checklist)
    for step in (
        "1. Connect the primary calendar",
        "2. Everyone connects their own calendar",
        "3. Try `@Tonomo availability`",
        "4. The daily digest is on",
    ):
        assert step in text
    assert f":hourglass_flowing_sand: <@{OWNER}>" in text
    assert f":hourglass_flowing_sand: <@{ALICE}>" in text
    assert f"<@{BOB}>" not in text  # not in this channel
    assert action_ids(checklist) == list(PANEL_ACTIONS)
    await checklist_kept(bot, checklist["ts"], NEW_CHANNEL)
    assert (await stored_customer(bot, NEW_CHANNEL)).timezone == "America/New_York"  # inviter's


async def test_the_bot_added_by_no_one_in_particular_starts_in_utc(bot: RunningBot) -> None:
    bot.slack.add_channel(NEW_CHANNEL, name="new-customer", members=[OWNER])
    await bot.slack.send_event(
        bot.events_url, joined(bot.slack.bot_user_id, NEW_CHANNEL, inviter=None)
    )
    await wait_until(lambda: checklists(bot, NEW_CHANNEL))
    assert (await stored_customer(bot, NEW_CHANNEL)).timezone == "UTC"


async def test_slack_redelivering_the_bot_added_event_posts_one_checklist(
    bot: RunningBot,
) -> None:
    event = joined(bot.slack.bot_user_id)
    await bot.slack.send_event(bot.events_url, event)
    (checklist,) = await wait_until(lambda: checklists(bot))
    await checklist_kept(bot, checklist["ts"])  # Slack's first retry comes seconds later
    for retry in (1, 2):
        sent = await bot.slack.send_event(
            bot.events_url, event, retry_num=retry, retry_reason="http_timeout"
        )
        assert sent.status == 200
    # The redeliveries were claimed already: answered by nobody. A later event is answered.
    bot.slack.add_user(CAROL, name="carol", tz="America/New_York")
    bot.slack.add_member(CHANNEL, CAROL)
    await bot.slack.send_event(bot.events_url, joined(CAROL))
    await wait_until(lambda: bot.slack.ephemerals(CHANNEL, CAROL))
    assert [m["ts"] for m in checklists(bot)] == [checklist["ts"]]
    assert len(bot.slack.ephemerals(CHANNEL, CAROL)) == 1


async def test_the_bot_invited_back_resumes_posting_and_updates_its_checklist(
    bot: RunningBot,
) -> None:
    await onboard(bot)
    bot.slack.remove_bot_from_channel(CHANNEL)
    await connect(bot, user=ALICE, email=ALICE_EMAIL)  # its notice finds the bot gone: paused
    assert (await stored_customer(bot)).channel_problem  # private: "channel_not_found"

    bot.slack.add_member(CHANNEL, bot.slack.bot_user_id)
    await bot.slack.send_event(bot.events_url, joined(bot.slack.bot_user_id))

    # Posting there works again; the checklist, posted minutes ago, is brought up to date.
    await wait_until(lambda: f":white_check_mark: <@{ALICE}>" in text_of(checklists(bot)[-1]))
    assert (await stored_customer(bot)).channel_problem == ""


# --- /tonomo onboard, and the checklist kept up to date ------------------------------------------


async def test_onboard_posts_the_checklist_with_four_steps_and_three_buttons(
    bot: RunningBot,
) -> None:
    checklist = await onboard(bot)
    text = text_of(checklist)
    assert "1 of 4 steps done" in text  # the digest is on from the start
    assert GENERIC_ACCOUNT_ADVICE in text
    for person in (OWNER, ALICE, BOB):
        assert f":hourglass_flowing_sand: <@{person}>" in text
    assert action_ids(checklist) == list(PANEL_ACTIONS)


async def test_the_checklist_updates_in_place_as_a_staff_member_connects(bot: RunningBot) -> None:
    checklist = await onboard(bot)

    status, _page = await connect(bot, user=ALICE, email=ALICE_EMAIL)

    assert status == 200
    await wait_until(lambda: f":white_check_mark: <@{ALICE}>" in current(bot, checklist["ts"]))
    text = current(bot, checklist["ts"])
    assert f":hourglass_flowing_sand: <@{BOB}>" in text
    assert "1 of 3 connected." in text
    assert len(checklists(bot)) == 1  # the same message, edited


async def test_the_primary_calendar_connecting_ticks_step_one(bot: RunningBot) -> None:
    checklist = await onboard(bot)

    await connect(bot, user=OWNER, email=PRIMARY_EMAIL, primary=True)

    await wait_until(
        lambda: (
            ":white_check_mark: *1. Connect the primary calendar*" in current(bot, checklist["ts"])
        )
    )
    text = current(bot, checklist["ts"])
    assert f"Connected by <@{OWNER}>: {PRIMARY_EMAIL}." in text
    assert "2 of 4 steps done" in text


async def test_asking_for_availability_ticks_step_three(bot: RunningBot) -> None:
    checklist = await onboard(bot)
    assert ":white_large_square: *3." in text_of(checklist)

    await command(bot, "availability", follow_up=True)

    await wait_until(lambda: ":white_check_mark: *3." in current(bot, checklist["ts"]))
    assert (await stored_customer(bot)).availability_asked_at is not None


async def test_everything_done_reads_all_done(bot: RunningBot) -> None:
    checklist = await onboard(bot)
    await connect(bot, user=OWNER, email=PRIMARY_EMAIL, primary=True)
    for user, email in ((OWNER, "olivia@acme-photo.com"), (ALICE, ALICE_EMAIL), (BOB, BOB_EMAIL)):
        await connect(bot, user=user, email=email)
    await command(bot, "availability", follow_up=True)

    await wait_until(lambda: "All 4 steps done" in current(bot, checklist["ts"]))


async def test_disconnecting_puts_the_person_back_to_waiting(bot: RunningBot) -> None:
    await connect(bot, user=ALICE, email=ALICE_EMAIL)
    checklist = await onboard(bot)
    assert f":white_check_mark: <@{ALICE}>" in text_of(checklist)

    await command(bot, "disconnect", user=ALICE)

    await wait_until(
        lambda: f":hourglass_flowing_sand: <@{ALICE}>" in current(bot, checklist["ts"])
    )


async def test_onboard_again_posts_a_new_checklist_and_keeps_that_one_up_to_date(
    bot: RunningBot,
) -> None:
    first = await onboard(bot)
    second = await onboard(bot)
    assert second["ts"] != first["ts"]
    assert (await stored_customer(bot)).checklist_ts == second["ts"]

    await connect(bot, user=ALICE, email=ALICE_EMAIL)

    await wait_until(lambda: f":white_check_mark: <@{ALICE}>" in current(bot, second["ts"]))
    assert f":hourglass_flowing_sand: <@{ALICE}>" in current(bot, first["ts"])


async def test_a_connection_with_no_checklist_edits_nothing(bot: RunningBot) -> None:
    await connect(bot, user=ALICE, email=ALICE_EMAIL)
    await wait_until(lambda: bot.slack.messages(CHANNEL))  # the connected notice
    assert bot.slack.requests.matching(r"/api/chat\.update$") == []


# --- the checklist's buttons -----------------------------------------------------------------


async def test_connect_primary_gives_the_clicker_their_own_link_with_the_advice(
    bot: RunningBot,
) -> None:
    checklist = await onboard(bot)

    reply = await click(bot, checklist, CONNECT_PRIMARY, user=BOB)

    text = text_of(reply)
    for advice in (GENERIC_ACCOUNT_ADVICE, UNVERIFIED_TIP, WORKSPACE_TIP):
        assert advice in text
    (url,) = button_urls(reply["blocks"])
    location = await approve_consent(url, email=PRIMARY_EMAIL)
    async with bot.http.get(location) as page:
        assert page.status == 200
    # The link was Bob's: the primary calendar is connected by him.
    await wait_until(lambda: f"Connected by <@{BOB}>" in current(bot, checklist["ts"]))


async def test_connect_my_calendar_gives_the_clicker_their_own_link(bot: RunningBot) -> None:
    checklist = await onboard(bot)

    reply = await click(bot, checklist, CONNECT_MINE, user=ALICE)

    text = text_of(reply)
    assert UNVERIFIED_TIP in text and WORKSPACE_TIP in text
    (url,) = button_urls(reply["blocks"])
    location = await approve_consent(url, email=ALICE_EMAIL)
    async with bot.http.get(location) as page:
        assert page.status == 200
    await wait_until(lambda: f":white_check_mark: <@{ALICE}>" in current(bot, checklist["ts"]))


async def test_remind_staff_names_only_those_not_connected(bot: RunningBot) -> None:
    await connect(bot, user=ALICE, email=ALICE_EMAIL)
    checklist = await onboard(bot)

    reply = await click(bot, checklist, REMIND_STAFF, user=ALICE)

    assert "Done: I reminded 2 people who haven't connected a calendar yet." in text_of(reply)
    reminders = [m for m in bot.slack.messages(CHANNEL) if "asks you to connect" in text_of(m)]
    (reminder,) = reminders
    text = text_of(reminder)
    assert f"<@{BOB}>" in text and f"<@{OWNER}>" in text
    assert f"<@{ALICE}> asks you to connect" in text
    assert action_ids(reminder) == [CONNECT_MINE]


async def test_whoever_reminds_is_left_out_of_those_asked(bot: RunningBot) -> None:
    await connect(bot, user=ALICE, email=ALICE_EMAIL)
    checklist = await onboard(bot)

    reply = await click(bot, checklist, REMIND_STAFF, user=OWNER)

    assert "Done: I reminded 1 person who hasn't connected a calendar yet." in text_of(reply)
    (reminder,) = [m for m in bot.slack.messages(CHANNEL) if "asks you to connect" in text_of(m)]
    text = text_of(reminder)
    assert text.startswith(f"<@{BOB}>:") and f"<@{OWNER}> asks you to connect" in text
    assert text.splitlines()[0] == f"<@{BOB}>: please connect your Google calendar."


async def test_reminding_when_only_you_have_not_connected_asks_nobody_by_themselves(
    bot: RunningBot,
) -> None:
    await connect(bot, user=ALICE, email=ALICE_EMAIL)
    await connect(bot, user=BOB, email=BOB_EMAIL)
    checklist = await onboard(bot)

    reply = await click(bot, checklist, REMIND_STAFF, user=OWNER)

    assert "I reminded 1 person who hasn't connected a calendar yet." in text_of(reply)
    (reminder,) = [
        m for m in bot.slack.messages(CHANNEL) if "please connect your Google" in text_of(m)
    ]
    text = text_of(reminder)
    assert f"<@{OWNER}>" in text and "asks you" not in text, text
    assert text.splitlines()[0].count(f"<@{OWNER}>") == 1


async def test_remind_staff_clicked_twice_reminds_once(bot: RunningBot) -> None:
    checklist = await onboard(bot)
    await click(bot, checklist, REMIND_STAFF, user=OWNER)

    again = await click(bot, checklist, REMIND_STAFF, user=ALICE)

    assert "a moment ago" in text_of(again)
    assert len([m for m in bot.slack.messages(CHANNEL) if "asks you to connect" in text_of(m)]) == 1


async def test_remind_staff_with_everyone_connected_says_so(bot: RunningBot) -> None:
    for user, email in ((OWNER, "olivia@acme-photo.com"), (ALICE, ALICE_EMAIL), (BOB, BOB_EMAIL)):
        await connect(bot, user=user, email=email)
    checklist = await onboard(bot)

    reply = await click(bot, checklist, REMIND_STAFF, user=OWNER)

    assert "no one to remind" in text_of(reply)


async def test_a_button_in_a_channel_not_set_up_registers_it_as_a_command_would(
    bot: RunningBot,
) -> None:
    before = len(bot.slack.responses)
    await bot.slack.send_block_action(
        bot.events_url, user_id=ALICE, channel_id=CHANNEL, action_id=CONNECT_PRIMARY
    )
    await wait_until(lambda: len(bot.slack.responses) > before)
    (url,) = button_urls(bot.slack.responses[before]["blocks"])
    assert url.startswith(bot.google.auth_uri)
    assert (await stored_customer(bot, CHANNEL)).channel_id == CHANNEL


# --- someone joining the channel ---------------------------------------------------------------


async def test_a_person_joining_gets_a_welcome_only_they_see_and_joins_the_checklist(
    bot: RunningBot,
) -> None:
    checklist = await onboard(bot)
    bot.slack.add_user(CAROL, name="carol", real_name="Carol Frame", tz="Australia/Lord_Howe")
    bot.slack.add_member(CHANNEL, CAROL)

    await bot.slack.send_event(bot.events_url, joined(CAROL))

    (welcome,) = await wait_until(lambda: welcomes(bot, CAROL))
    assert f"Welcome, <@{CAROL}>!" in text_of(welcome)
    assert action_ids(welcome) == [CONNECT_MINE]
    assert [e["user"] for e in bot.slack.ephemerals(CHANNEL)] == [CAROL]
    await wait_until(
        lambda: f":hourglass_flowing_sand: <@{CAROL}>" in current(bot, checklist["ts"])
    )

    # Their button gives them their own link.
    before = len(bot.slack.responses)
    await bot.slack.send_block_action(
        bot.events_url,
        user_id=CAROL,
        channel_id=CHANNEL,
        action_id=CONNECT_MINE,
        message_ts=welcome["ts"],
    )
    await wait_until(lambda: len(bot.slack.responses) > before)
    (url,) = button_urls(bot.slack.responses[before]["blocks"])
    location = await approve_consent(url, email="carol@acme-photo.com")
    async with bot.http.get(location) as page:
        assert page.status == 200
    await wait_until(lambda: f":white_check_mark: <@{CAROL}>" in current(bot, checklist["ts"]))


async def test_a_person_joining_a_channel_not_yet_set_up_registers_it(bot: RunningBot) -> None:
    bot.slack.add_user(CAROL, name="carol", tz="Asia/Kolkata")
    bot.slack.add_channel(NEW_CHANNEL, name="new-customer", members=[CAROL])

    await bot.slack.send_event(bot.events_url, joined(CAROL, NEW_CHANNEL, inviter=None))

    await wait_until(lambda: bot.slack.ephemerals(NEW_CHANNEL, CAROL))
    assert (await stored_customer(bot, NEW_CHANNEL)).timezone == "Asia/Kolkata"


async def test_someone_back_with_a_connected_calendar_is_welcomed_back(bot: RunningBot) -> None:
    await connect(bot, user=ALICE, email=ALICE_EMAIL)

    await bot.slack.send_event(bot.events_url, joined(ALICE))

    (welcome,) = await wait_until(lambda: welcomes(bot, ALICE))
    assert f"Your calendar ({ALICE_EMAIL}) is still connected" in text_of(welcome)


async def test_another_apps_bot_joining_gets_no_welcome(bot: RunningBot) -> None:
    bot.slack.add_user("U0OTHERBOT", name="otherbot", is_bot=True)
    bot.slack.add_member(CHANNEL, "U0OTHERBOT")
    bot.slack.add_user(CAROL, name="carol")
    bot.slack.add_member(CHANNEL, CAROL)

    await bot.slack.send_event(bot.events_url, joined("U0OTHERBOT"))
    await bot.slack.send_event(bot.events_url, joined(CAROL))

    await wait_until(lambda: bot.slack.ephemerals(CHANNEL, CAROL))
    await wait_until(lambda: asked_about(bot, "U0OTHERBOT"))
    assert bot.slack.ephemerals(CHANNEL, "U0OTHERBOT") == []


async def test_a_person_leaving_drops_off_the_checklist(bot: RunningBot) -> None:
    checklist = await onboard(bot)
    bot.slack.remove_member(CHANNEL, BOB)

    event = {"type": "member_left_channel", "user": BOB, "channel": CHANNEL}
    await bot.slack.send_event(bot.events_url, event | {"channel_type": "G", "team": TEAM})

    await wait_until(lambda: f"<@{BOB}>" not in current(bot, checklist["ts"]))
    assert "0 of 2 connected." in current(bot, checklist["ts"])
