"""Onboarding's progress, derived from facts, and its messages: within Slack's limits for 0,
1 and 200 people, saying what is done and who still has to connect.

The facts are built by hand (no database, no Slack): what the checklist derives and shows
from them is all that is checked here.
"""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime

import pytest
from slack_sdk.models.blocks import Block

from bot.checklist import STEPS, Progress, Reminded, Standing, progress_of
from bot.messages import SECTION_LIMIT, Message
from bot.messages.connect import GENERIC_ACCOUNT_ADVICE
from bot.messages.ids import CONNECT_MINE
from bot.messages.onboarding import (
    PANEL_ACTIONS,
    build_checklist,
    build_remind_reply,
    build_reminder,
    build_welcome,
)
from bot.onboarding import posted_at
from sandbox.fake_slack import block_errors
from storage.models import CalendarConnection, ConnectionKind, ConnectionState, Customer

ASKED_AT = datetime(2026, 3, 9, 14, 0, tzinfo=UTC)


def customer(
    *, digest: bool = True, asked: bool = False, timezone: str = "America/New_York"
) -> Customer:
    return Customer(
        id=1,
        team_id="T1",
        channel_id="C1",
        timezone=timezone,
        registered_by="U0OWNER",
        digest_enabled=digest,
        digest_time="07:00",
        availability_asked_at=ASKED_AT if asked else None,
    )


def connection(
    user_id: str,
    kind: ConnectionKind = ConnectionKind.STAFF,
    state: ConnectionState = ConnectionState.CONNECTED,
    email: str | None = None,
) -> CalendarConnection:
    return CalendarConnection(
        id=hash(user_id) % 10_000,
        customer_id=1,
        kind=kind,
        owner_key="primary" if kind is ConnectionKind.PRIMARY else user_id,
        slack_user_id=user_id,
        account_email=email or f"{user_id.lower()}@example.com",
        token_ciphertext=b"sealed",
        scopes="",
        state=state,
        state_reason="",
    )


def people(count: int) -> list[str]:
    return [f"U{n:08d}" for n in range(count)]


def crowd(count: int) -> Progress:
    """`count` people; every third connected, every seventh broken; the primary connected."""
    everyone = people(count)
    connections = [connection("U0OWNER", ConnectionKind.PRIMARY, email="bookings@example.com")]
    connections += [connection(u) for n, u in enumerate(everyone) if n % 3 == 0]
    connections += [
        connection(u, state=ConnectionState.NEEDS_RECONNECT)
        for n, u in enumerate(everyone)
        if n % 7 == 1
    ]
    return progress_of(customer(), connections, everyone)


def assert_valid(message: Message) -> None:
    """Block Kit that Slack takes: every block rebuilt by slack_sdk (which checks its
    limits) and accepted by the Slack emulator, at most 50 blocks, sections of at most
    3000 characters, a fallback text."""
    assert message.text.strip()
    assert 0 < len(message.blocks) <= 50
    assert block_errors(message.blocks, pointer="/blocks", limit=50) == []
    for block in message.blocks:
        parsed = Block.parse(block)
        assert parsed is not None
        assert parsed.to_dict() == block
        if block["type"] == "section":
            assert len(block["text"]["text"]) <= SECTION_LIMIT


def body(message: Message) -> str:
    """The mrkdwn of every section and context, in order."""
    parts = []
    for block in message.blocks:
        if "text" in block:
            parts.append(block["text"]["text"])
        parts += [e["text"] for e in block.get("elements", []) if e.get("type") == "mrkdwn"]
    return "\n".join(parts)


def buttons(message: Message) -> list[str]:
    return [e["action_id"] for b in message.blocks if b["type"] == "actions" for e in b["elements"]]


def step(message: Message, number: int) -> str:
    """The text of checklist step `number` (its mark first)."""
    found = re.search(rf"^(\S+) \*{number}\. .*$", body(message), flags=re.MULTILINE)
    assert found is not None, f"no step {number}"
    return found.group(0)


# --- progress, from the facts ------------------------------------------------------------------


def test_nothing_done_but_the_digest_which_is_on_by_default() -> None:
    progress = progress_of(customer(), [], ["U0OWNER", "U0ALICE"])
    assert (progress.primary, progress.primary_done, progress.staff_done) == (
        Standing.NOT_YET,
        False,
        False,
    )
    assert not progress.availability_asked and progress.digest_on
    assert progress.steps_done == 1
    assert progress.not_connected == ["U0OWNER", "U0ALICE"]


def test_every_step_done() -> None:
    connections = [
        connection("U0OWNER", ConnectionKind.PRIMARY),
        connection("U0OWNER"),
        connection("U0ALICE"),
    ]
    progress = progress_of(customer(asked=True), connections, ["U0OWNER", "U0ALICE"])
    assert progress.steps_done == STEPS and progress.complete
    assert progress.not_connected == []


def test_the_digest_off_and_availability_asked_are_read_from_the_customer() -> None:
    progress = progress_of(customer(digest=False, asked=True), [], [])
    assert (progress.availability_asked, progress.digest_on) == (True, False)


def test_a_broken_connection_is_not_done_and_an_unreachable_one_is() -> None:
    connections = [
        connection("U0OWNER", ConnectionKind.PRIMARY, state=ConnectionState.MISSING_PERMISSION),
        connection("U0ALICE", state=ConnectionState.NEEDS_RECONNECT),
        connection("U0BOB", state=ConnectionState.UNREACHABLE),
    ]
    progress = progress_of(customer(), connections, ["U0ALICE", "U0BOB"])
    assert progress.primary is Standing.NEEDS_RECONNECT and not progress.primary_done
    standings = {p.user_id: p.standing for p in progress.people}
    assert standings == {"U0ALICE": Standing.NEEDS_RECONNECT, "U0BOB": Standing.CONNECTED}
    assert not progress.staff_done
    assert progress.not_connected == []  # Alice has connected: her alert asks her to reconnect


def test_people_who_must_act_come_first_in_channel_order() -> None:
    connections = [connection("U3"), connection("U1", state=ConnectionState.NEEDS_RECONNECT)]
    progress = progress_of(customer(), connections, ["U3", "U2", "U1", "U4"])
    assert [p.user_id for p in progress.people] == ["U1", "U2", "U4", "U3"]


def test_only_the_channels_people_are_listed() -> None:
    progress = progress_of(customer(), [connection("U0GONE")], ["U0ALICE"])
    assert [p.user_id for p in progress.people] == ["U0ALICE"]


def test_an_empty_channel_has_step_two_to_do() -> None:
    assert not progress_of(customer(), [], []).staff_done


def test_when_slack_wont_list_the_channel_only_the_connected_are_shown_and_step_two_waits() -> None:
    progress = progress_of(customer(), [connection("U0ALICE")], None)
    assert not progress.everyone_known and not progress.staff_done
    assert [p.user_id for p in progress.people] == ["U0ALICE"]


def test_a_checklist_message_ts_says_when_it_was_posted() -> None:
    assert posted_at("1767225600.000100") == datetime(2026, 1, 1, 0, 0, 0, 100, tzinfo=UTC)
    assert posted_at(None) is None
    assert posted_at("not a ts") is None


# --- the checklist -----------------------------------------------------------------------------


@pytest.mark.parametrize("count", [0, 1, 200, 1000])
def test_the_checklist_stays_within_slacks_limits(count: int) -> None:
    message = build_checklist(crowd(count), clock="24h")
    assert_valid(message)
    assert buttons(message) == list(PANEL_ACTIONS)


def test_the_checklist_of_200_people_leaves_no_one_out() -> None:
    progress = crowd(200)
    shown = body(build_checklist(progress, clock="24h"))
    for person in progress.people:
        assert f"<@{person.user_id}>" in shown
    assert f"{progress.connected_count} of 200 connected." in shown


def test_past_300_people_the_rest_are_counted() -> None:
    assert "…and 700 more" in body(build_checklist(crowd(1000), clock="24h"))


def test_the_checklist_has_four_steps_and_says_how_many_are_done() -> None:
    message = build_checklist(progress_of(customer(), [], ["U0OWNER"]), clock="24h")
    for number in range(1, STEPS + 1):
        step(message, number)
    assert "1 of 4 steps done" in message.text
    assert "*1 of 4 steps done.*" in body(message)


def test_step_one_to_do_gives_the_generic_account_advice() -> None:
    message = build_checklist(progress_of(customer(), [], []), clock="24h")
    assert step(message, 1).startswith(":white_large_square:")
    assert GENERIC_ACCOUNT_ADVICE in body(message)


def test_step_one_done_names_the_account_and_who_connected_it() -> None:
    primary = connection("U0OWNER", ConnectionKind.PRIMARY, email="bookings@acme.com")
    message = build_checklist(progress_of(customer(), [primary], []), clock="24h")
    assert step(message, 1).startswith(":white_check_mark:")
    assert "Connected by <@U0OWNER>: bookings@acme.com." in body(message)
    assert GENERIC_ACCOUNT_ADVICE not in body(message)


def test_a_broken_primary_says_it_needs_reconnecting() -> None:
    primary = connection(
        "U0OWNER",
        ConnectionKind.PRIMARY,
        state=ConnectionState.NEEDS_RECONNECT,
        email="bookings@acme.com",
    )
    message = build_checklist(progress_of(customer(), [primary], []), clock="24h")
    assert step(message, 1).startswith(":warning:")
    assert "bookings@acme.com needs reconnecting" in body(message)


def test_each_person_is_ticked_waiting_or_needs_reconnecting() -> None:
    connections = [
        connection("U0ALICE"),
        connection("U0BOB", state=ConnectionState.NEEDS_RECONNECT),
    ]
    message = build_checklist(
        progress_of(customer(), connections, ["U0ALICE", "U0BOB", "U0CAROL"]), clock="24h"
    )
    shown = body(message)
    assert ":white_check_mark: <@U0ALICE>" in shown
    assert ":warning: <@U0BOB>: needs reconnecting" in shown
    assert ":hourglass_flowing_sand: <@U0CAROL>" in shown
    assert "1 of 3 connected." in shown
    assert step(message, 2).startswith(":white_large_square:")


def test_step_two_is_done_when_everyone_has_connected() -> None:
    message = build_checklist(
        progress_of(customer(), [connection("U0ALICE")], ["U0ALICE"]), clock="24h"
    )
    assert step(message, 2).startswith(":white_check_mark:")


def test_an_empty_channel_says_to_invite_the_team() -> None:
    assert "No one else is in this channel yet" in body(build_checklist(crowd(0), clock="24h"))


def test_an_unlisted_channel_says_so() -> None:
    progress = progress_of(customer(), [connection("U0ALICE")], None)
    shown = body(build_checklist(progress, clock="24h"))
    assert "I can't see who is in this channel" in shown
    assert ":white_check_mark: <@U0ALICE>" in shown


def test_step_three_is_done_once_availability_was_asked() -> None:
    assert step(build_checklist(progress_of(customer(), [], []), clock="24h"), 3).startswith(
        ":white_large_square:"
    )
    done = build_checklist(progress_of(customer(asked=True), [], []), clock="24h")
    assert step(done, 3).startswith(":white_check_mark:")


def test_step_four_says_when_the_digest_comes_and_how_to_change_it() -> None:
    on = body(build_checklist(progress_of(customer(timezone="Asia/Kolkata"), [], []), clock="24h"))
    assert "Every working day at 7:00 (Asia/Kolkata)" in on
    assert "`@Tonomo digest off`" in on
    off = build_checklist(progress_of(customer(digest=False), [], []), clock="24h")
    assert step(off, 4).startswith(":white_large_square:")
    assert "`@Tonomo digest on`" in body(off)


def test_all_done_is_celebrated() -> None:
    connections = [connection("U0OWNER", ConnectionKind.PRIMARY), connection("U0ALICE")]
    message = build_checklist(
        progress_of(customer(asked=True), connections, ["U0ALICE"]), clock="24h"
    )
    assert "All 4 steps done" in body(message)
    assert "4 of 4 steps done" in message.text


def test_an_email_in_the_checklist_pings_no_one() -> None:
    primary = connection("U0OWNER", ConnectionKind.PRIMARY, email="<!channel>@example.com")
    shown = json.dumps(build_checklist(progress_of(customer(), [primary], []), clock="24h").blocks)
    assert "<!channel>" not in shown and "&lt;!channel&gt;" in shown


# --- the welcome -------------------------------------------------------------------------------


def test_the_welcome_offers_the_newcomer_their_connect_button() -> None:
    message = build_welcome("U0CAROL", Standing.NOT_YET)
    assert_valid(message)
    assert "Welcome, <@U0CAROL>!" in body(message)
    assert buttons(message) == [CONNECT_MINE]


def test_someone_back_with_a_connected_calendar_needs_no_button() -> None:
    message = build_welcome("U0CAROL", Standing.CONNECTED, "carol@acme.com")
    assert_valid(message)
    assert "still connected" in body(message) and buttons(message) == []


def test_someone_back_with_a_broken_calendar_is_asked_to_reconnect() -> None:
    message = build_welcome("U0CAROL", Standing.NEEDS_RECONNECT, "carol@acme.com")
    assert "needs reconnecting" in body(message) and buttons(message) == [CONNECT_MINE]


# --- the reminder ------------------------------------------------------------------------------


@pytest.mark.parametrize("count", [1, 200, 1000])
def test_the_reminder_stays_within_slacks_limits(count: int) -> None:
    message = build_reminder(people(count), by="U0OWNER")
    assert_valid(message)
    assert buttons(message) == [CONNECT_MINE]


def test_the_reminder_names_everyone_waiting_and_who_asked() -> None:
    waiting = people(200)
    message = build_reminder(waiting, by="U0OWNER")
    shown = body(message)
    assert all(f"<@{u}>" in shown for u in waiting)
    assert "<@U0OWNER> asks you to connect your Google calendar" in shown


def test_the_reminder_of_one_person() -> None:
    message = build_reminder(["U0BOB"], by="U0OWNER")
    assert body(message).startswith("<@U0BOB>:\n<@U0OWNER> asks you")
    assert message.text == "<@U0BOB>: please connect your Google calendar."


def test_past_300_the_reminder_counts_the_rest() -> None:
    assert "and 700 more:" in body(build_reminder(people(1000), by="U0OWNER"))


@pytest.mark.parametrize(
    ("outcome", "count", "said"),
    [
        (Reminded.POSTED, 1, "I reminded 1 person"),
        (Reminded.POSTED, 3, "I reminded 3 people"),
        (Reminded.NO_ONE_WAITING, 0, "no one to remind"),
        (Reminded.MEMBERS_UNKNOWN, 0, "can't see who is in this channel"),
        (Reminded.JUST_DONE, 0, "a moment ago"),
        (Reminded.NOT_POSTED, 0, "`@Tonomo status` says why"),
    ],
)
def test_the_remind_reply_says_what_happened(outcome: Reminded, count: int, said: str) -> None:
    assert said in body(build_remind_reply(outcome, count))
