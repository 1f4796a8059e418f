"""What a first real user tripped on, answered end to end through signed requests.

A mistyped command is answered by its acknowledgement alone (no "Checking…" after the
answer); `this week` on a Sunday evening is the coming working week, titled with its dates;
people who haven't connected a calendar are named wherever the team is listed (onboarders
never); and nobody is asked by themselves.
"""

from __future__ import annotations

import sys
import time as clock
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest

from sandbox.fake_slack import text_of
from storage import models
from tests.conftest import ALICE, BOB, CHANNEL, OWNER, RunningBot
from tests.helpers import eventually, wait_until
from tests.scenarios.flows import command, connect, customer, mention

NEW_YORK = ZoneInfo("America/New_York")
ALICE_EMAIL = "alice@acme-photo.com"
BOB_EMAIL = "bob@acme-photo.com"
CHECKING = "Checking"


@pytest.fixture
async def team(bot: RunningBot) -> RunningBot:
    """A New York channel where Alice has connected her calendar; Olivia and Bob haven't."""
    await command(bot, "settings timezone America/New_York", follow_up=False)
    assert (await connect(bot, user=ALICE, email=ALICE_EMAIL))[0] == 200
    return bot


def freeze(monkeypatch: pytest.MonkeyPatch, moment: datetime) -> None:
    """Every part of the bot that reads the clock through `utcnow` reads `moment`."""
    for name, module in list(sys.modules.items()):
        if name.split(".")[0] in ("bot", "handlers") and (
            getattr(module, "utcnow", None) is models.utcnow
        ):
            monkeypatch.setattr(module, "utcnow", lambda: moment)


def coming(weekday: int) -> date:
    """The next such weekday in New York, at least two days away."""
    start = datetime.now(NEW_YORK).date() + timedelta(days=2)
    return start + timedelta(days=(weekday - start.weekday()) % 7)


def plain(day: date) -> str:
    return f"{day:%a} {day.day} {day:%b}"


async def answer(bot: RunningBot, text: str, *, user: str = OWNER) -> str:
    """A command whose answer follows a "Checking…" ack: the answer's text."""
    return text_of(await command(bot, text, user=user, follow_up=True))


def channel_texts(bot: RunningBot) -> list[str]:
    return [text_of(m) for m in bot.slack.messages(CHANNEL)]


# --- 2: a mistake is the ack's own answer --------------------------------------------------


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("availability tomorow", "Did you mean `tomorrow`?"),
        ("availability 2026-02-30", "February 2026 has 28 days"),
        ("availability 2020-01-01", "in the past"),
        ("availability this wek", "as days"),
        (f"book <@{ALICE}|alice> tomorow 13:00 1h Shoot", "Did you mean `tomorrow`?"),
    ],
)
async def test_a_mistyped_day_is_answered_by_the_ack_and_nothing_follows(
    team: RunningBot, text: str, problem: str
) -> None:
    before = len(team.slack.responses)
    sent = await team.slack.send_slash_command(
        team.events_url, user_id=OWNER, channel_id=CHANNEL, text=text
    )
    assert sent.status == 200
    ack = text_of(sent.json())
    assert problem in ack and CHECKING not in ack, ack

    # A valid question asked next is answered; the mistake sent nothing before it.
    valid = await answer(team, "availability tomorrow")
    assert "Availability" in valid
    after = [text_of(r) for r in team.slack.responses[before:]]
    assert len(after) == 1 and all(problem not in t and CHECKING not in t for t in after), after


async def test_a_valid_question_still_says_checking_first(team: RunningBot) -> None:
    sent = await team.slack.send_slash_command(
        team.events_url, user_id=OWNER, channel_id=CHANNEL, text="availability tomorrow"
    )
    assert CHECKING in text_of(sent.json())


async def test_a_mistyped_mention_is_answered_at_once_even_behind_slow_work(
    team: RunningBot,
) -> None:
    # Alice's Google hangs: four questions fill the channel's share of work for seconds.
    team.google.account_latency[ALICE_EMAIL] = 3.0
    for _ in range(4):
        await team.slack.send_message(
            team.events_url,
            user_id=BOB,
            channel_id=CHANNEL,
            text=f"<@{team.slack.bot_user_id}> availability tomorrow",
        )
    asked_before = len(team.slack.ephemerals(CHANNEL, OWNER))
    started = clock.monotonic()
    reply = text_of(await mention(team, "availability tomorow"))
    assert "Did you mean `tomorrow`?" in reply
    assert clock.monotonic() - started < 2.0, "a mistake waits behind no one's work"
    await wait_until(lambda: len(team.slack.ephemerals(CHANNEL, BOB)) >= 4, timeout=15)
    answers = len(team.slack.ephemerals(CHANNEL, OWNER)) - asked_before
    assert answers == 1, "answered once, nothing else"


# --- 5: which week `this week` is ----------------------------------------------------------


async def test_this_week_on_a_sunday_evening_is_the_coming_working_week(
    team: RunningBot, monkeypatch: pytest.MonkeyPatch
) -> None:
    sunday = coming(6)
    freeze(monkeypatch, datetime.combine(sunday, time(19, 30), NEW_YORK))
    monday, friday = sunday + timedelta(days=1), sunday + timedelta(days=5)
    # Alice's time off that week: read with the coming week's roster, not Sunday's.
    text = f"timeoff <@{ALICE}|alice> {friday.isoformat()}"  # told in the channel, not in reply
    sent = await team.slack.send_slash_command(
        team.events_url, user_id=OWNER, channel_id=CHANNEL, text=text
    )
    assert sent.status == 200
    shop = await customer(team)

    async def kept() -> bool:
        return bool(await team.services.store.time_off_between(shop.id, friday, friday))

    await eventually(kept)

    this_week = await answer(team, "availability this week")
    title = this_week.splitlines()[0]
    assert f"Availability {plain(monday)} to {plain(friday)}" in title, title
    assert "today" not in title and "tomorrow" not in title
    grid = this_week[this_week.index("```") :]
    header = grid.splitlines()[0].strip("`").split()
    assert header == [
        f"{d:%a}" if n % 2 == 0 else str(d.day)
        for d in (monday + timedelta(days=k) for k in range(5))
        for n in (0, 1)
    ], header
    alice = next(line for line in grid.splitlines() if line.startswith("alice"))
    assert alice.strip("`").split()[1:] == ["8h"] * 4 + ["away"], alice

    next_week = await answer(team, "availability next week")
    title = next_week.splitlines()[0]
    week_after = monday + timedelta(days=7)
    assert f"Availability {plain(week_after)} to {plain(week_after + timedelta(days=4))}" in title


async def test_this_week_after_hours_on_a_friday_is_the_coming_week(
    team: RunningBot, monkeypatch: pytest.MonkeyPatch
) -> None:
    friday = coming(4)
    freeze(monkeypatch, datetime.combine(friday, time(18), NEW_YORK))
    monday = friday + timedelta(days=3)
    title = (await answer(team, "availability this week")).splitlines()[0]
    assert f"Availability {plain(monday)} to {plain(monday + timedelta(days=4))}" in title


async def test_this_week_on_a_wednesday_morning_is_the_rest_of_it(
    team: RunningBot, monkeypatch: pytest.MonkeyPatch
) -> None:
    wednesday = coming(2)
    freeze(monkeypatch, datetime.combine(wednesday, time(10), NEW_YORK))
    friday = wednesday + timedelta(days=2)
    title = (await answer(team, "availability this week")).splitlines()[0]
    assert f"Availability {plain(wednesday)} to {plain(friday)}" in title


# --- 6: people without a calendar are named ------------------------------------------------


async def test_everyone_s_day_names_who_has_not_connected(team: RunningBot) -> None:
    day = await answer(team, "availability tomorrow")
    assert f"<@{ALICE}>" in day
    waiting = next(line for line in day.splitlines() if "Not connected yet" in line)
    assert f"<@{OWNER}>" in waiting and f"<@{BOB}>" in waiting and f"<@{ALICE}>" not in waiting


async def test_everyone_s_week_names_who_has_not_connected(team: RunningBot) -> None:
    week = await answer(team, "availability next week")
    waiting = next(line for line in week.splitlines() if "Not connected yet" in line)
    assert f"<@{OWNER}>" in waiting and f"<@{BOB}>" in waiting and f"<@{ALICE}>" not in waiting


async def test_asked_for_everyone_nobody_is_nudged_in_the_channel(team: RunningBot) -> None:
    await answer(team, "availability tomorrow")
    assert not any("asked when you're free" in t for t in channel_texts(team))


async def test_an_onboarder_is_never_named_as_not_connected(team: RunningBot) -> None:
    await team.slack.send_slash_command(
        team.events_url, user_id=OWNER, channel_id=CHANNEL, text=f"settings onboarder <@{BOB}|bob>"
    )
    await wait_until(lambda: any("onboarder" in t for t in channel_texts(team)))
    for text in ("availability tomorrow", "availability next week"):
        shown = await answer(team, text)
        waiting = next(line for line in shown.splitlines() if "Not connected yet" in line)
        assert f"<@{OWNER}>" in waiting and f"<@{BOB}>" not in shown, shown


async def test_with_nobody_connected_everyone_is_named(bot: RunningBot) -> None:
    shown = await answer(bot, "availability")
    assert "No staff member has connected a calendar yet" in shown
    assert f"<@{OWNER}>" in shown and f"<@{ALICE}>" in shown and f"<@{BOB}>" in shown


# --- 7: nobody is asked by themselves -------------------------------------------------------


def nudges(bot: RunningBot) -> list[str]:
    return [t for t in channel_texts(bot) if "asked when you're free" in t]


async def test_asking_about_yourself_posts_no_nudge_from_you_to_you(team: RunningBot) -> None:
    shown = await answer(team, f"availability <@{OWNER}|olivia> tomorrow")
    assert "hasn't connected a calendar yet" in shown
    # Someone else's question next: its nudge follows whatever the first one posted.
    await answer(team, f"availability <@{BOB}|bob> tomorrow", user=ALICE)
    await wait_until(lambda: nudges(team))
    assert not any(f"<@{OWNER}> asked" in t for t in channel_texts(team))


async def test_the_nudge_leaves_the_asker_out(team: RunningBot) -> None:
    await answer(team, f"availability <@{OWNER}|olivia> <@{BOB}|bob> tomorrow")
    (nudge,) = await wait_until(lambda: nudges(team))
    assert nudge.startswith(f"<@{BOB}>: <@{OWNER}> asked when you're free"), nudge
    assert nudge.splitlines()[0].count(f"<@{OWNER}>") == 1


async def test_someone_else_asking_still_nudges(team: RunningBot) -> None:
    await answer(team, f"availability <@{BOB}|bob> tomorrow", user=ALICE)
    (nudge,) = await wait_until(lambda: nudges(team))
    assert nudge.startswith(f"<@{BOB}>: <@{ALICE}> asked when you're free"), nudge
