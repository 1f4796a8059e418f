"""Block Kit builders: within Slack's limits, user text escaped, no tokens."""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st
from slack_sdk.models.blocks import Block

from bot.commands import USAGE
from bot.messages import SECTION_LIMIT, escape, format_day, pack_lines
from bot.messages.help import MENTION, SLASH, build_help, build_invalid
from bot.messages.status import StatusView, build_status
from storage.models import CalendarConnection, ConnectionKind, ConnectionState


def connection(i: int, kind: ConnectionKind = ConnectionKind.STAFF) -> CalendarConnection:
    return CalendarConnection(
        id=i,
        customer_id=1,
        kind=kind,
        owner_key="primary" if kind is ConnectionKind.PRIMARY else f"U{i}",
        slack_user_id=f"U{i}",
        account_email=f"person{i}@example.com",
        token_ciphertext=b"sealed",
        scopes="",
        state=ConnectionState.CONNECTED,
        state_reason="",
        connected_at=datetime(2026, 3, 8, 3, 30, tzinfo=UTC),
        last_checked_at=datetime(2026, 3, 8, 3, 30, tzinfo=UTC),
    )


def status(rows: list[CalendarConnection], timezone: str = "UTC") -> str:
    view = StatusView(connections=rows, timezone=timezone, check_interval=timedelta(minutes=30))
    return str(build_status(view, clock="24h").blocks)


def test_escape_defuses_mentions_and_links() -> None:
    assert escape("<!channel> & <http://x|y>") == "&lt;!channel&gt; &amp; &lt;http://x|y&gt;"


def test_status_stays_within_slacks_block_limit_for_200_staff() -> None:
    rows = [connection(0, ConnectionKind.PRIMARY)] + [connection(i) for i in range(1, 201)]
    view = StatusView(
        connections=rows,
        timezone="America/New_York",
        check_interval=timedelta(minutes=30),
        not_connected=[f"W{i}" for i in range(200)],
        channel_problem="not_in_channel",
    )
    message = build_status(view, clock="24h")
    assert len(message.blocks) <= 50
    assert "…and 164 more." in str(message.blocks)
    assert "and 140 more" in str(message.blocks)


def test_status_dates_are_in_the_customers_timezone() -> None:
    # 03:30 UTC on March 8 is still March 7 in New York and already March 8 in Kolkata.
    assert "Mar 7, 2026" in status([connection(1)], "America/New_York")
    assert "Mar 8, 2026" in status([connection(1)], "Asia/Kolkata")


def test_empty_status_says_what_to_do() -> None:
    text = status([])
    assert "@Tonomo connect-calendar primary" in text and "None yet" in text


def test_every_message_has_fallback_text() -> None:
    empty = StatusView(connections=[], timezone="UTC", check_interval=timedelta(minutes=30))
    for message in (build_help(), build_invalid("x", None), build_status(empty, clock="24h")):
        assert message.text


@pytest.mark.parametrize("door", [SLASH, MENTION])
def test_help_lists_every_command_at_either_door(door: str) -> None:
    text = "\n".join(str(block) for block in build_help(door).blocks)
    for verb in USAGE:
        assert f"`{door} {verb}" in text, verb
    for form in ("book anyone", "timeoff cancel ID", "settings buffer | notice | step"):
        assert form in text
    if door == MENTION:
        assert "`/tonomo " not in text


@pytest.mark.parametrize("door", [SLASH, MENTION])
def test_help_stays_within_slacks_limits(door: str) -> None:
    message = build_help(door)
    assert len(message.blocks) <= 50
    for block in message.blocks:
        parsed = Block.parse(block)
        assert parsed is not None
        parsed.to_dict()  # raises beyond a limit (3000 characters in a section)
        if block["type"] == "section":
            assert len(block["text"]["text"]) <= SECTION_LIMIT


def test_the_slash_commands_usage_hint_names_every_command() -> None:
    manifest = (Path(__file__).parent.parent / "manifest.yml").read_text("utf-8")
    hint = re.search(r'usage_hint: "([^"]*)"', manifest)
    assert hint is not None
    assert set(USAGE) <= set(re.findall(r"[a-z-]+", hint[1]))


def test_pack_lines_joins_lines_in_order_into_as_few_texts_as_fit() -> None:
    assert pack_lines(["a" * 4, "b" * 4, "c" * 4], limit=9) == ["aaaa\nbbbb", "cccc"]
    assert pack_lines(["one", "two"]) == ["one\ntwo"]
    assert pack_lines([]) == []


def test_pack_lines_cuts_a_line_too_long_on_its_own() -> None:
    assert pack_lines(["short", "x" * 20, "end"], limit=10) == ["short", "x" * 9 + "…", "end"]


@given(st.lists(st.text(min_size=1, max_size=120), max_size=60), st.integers(20, 200))
def test_packed_lines_fit_and_lose_nothing(lines: list[str], limit: int) -> None:
    texts = pack_lines(lines, limit)
    assert all(0 < len(text) <= limit for text in texts)
    if all(len(line) <= limit for line in lines):
        assert "\n".join(texts) == "\n".join(lines)


MONDAY = date(2026, 3, 2)


@pytest.mark.parametrize(
    ("day", "today", "shown"),
    [
        (MONDAY, MONDAY, "today (Mon 2 Mar)"),
        (date(2026, 3, 3), MONDAY, "tomorrow (Tue 3 Mar)"),
        (date(2026, 3, 11), MONDAY, "Wed 11 Mar"),
        (date(2027, 1, 1), date(2026, 12, 31), "tomorrow (Fri 1 Jan)"),
        (date(2027, 1, 4), date(2026, 12, 31), "Mon 4 Jan 2027"),
    ],
)
def test_format_day(day: date, today: date, shown: str) -> None:
    assert format_day(day, today) == shown
