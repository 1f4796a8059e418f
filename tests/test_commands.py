"""The /tonomo grammar: hand-picked cases and properties over any text."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bot.commands import ConnectCalendar, Disconnect, Help, Invalid, Status, parse
from storage.models import ConnectionKind


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("", Help()),
        ("   ", Help()),
        ("help", Help()),
        ("HELP", Help()),
        ("status", Status()),
        ("  Status  ", Status()),
        ("connect-calendar", ConnectCalendar(ConnectionKind.STAFF)),
        ("connect-calendar primary", ConnectCalendar(ConnectionKind.PRIMARY)),
        ("Connect-Calendar   PRIMARY", ConnectCalendar(ConnectionKind.PRIMARY)),
        ("disconnect", Disconnect(ConnectionKind.STAFF)),
        ("disconnect primary", Disconnect(ConnectionKind.PRIMARY)),
    ],
)
def test_commands(text: str, expected: object) -> None:
    assert parse(text) == expected


@pytest.mark.parametrize(
    ("text", "usage"),
    [
        ("connect-calendar secondary", "/tonomo connect-calendar [primary]"),
        ("connect-calendar primary now", "/tonomo connect-calendar [primary]"),
        ("disconnect everyone", "/tonomo disconnect [primary]"),
        ("status all", "/tonomo status"),
        ("conect-calendar", "/tonomo connect-calendar [primary]"),
        ("stauts", "/tonomo status"),
    ],
)
def test_mistakes_show_the_right_form(text: str, usage: str) -> None:
    result = parse(text)
    assert isinstance(result, Invalid) and result.usage == usage


def test_a_command_of_a_later_version_is_answered_honestly() -> None:
    result = parse("digest now")
    assert isinstance(result, Invalid) and "not available" in result.problem


def test_a_long_unknown_word_is_shortened() -> None:
    result = parse("x" * 40_000)
    assert isinstance(result, Invalid) and len(result.problem) < 100


@given(st.text())
def test_any_text_parses_to_a_command(text: str) -> None:
    assert isinstance(parse(text), Help | ConnectCalendar | Disconnect | Status | Invalid)


@given(st.sampled_from(["status", "help", "connect-calendar", "disconnect primary"]), st.data())
def test_case_and_spacing_do_not_matter(command: str, data: st.DataObject) -> None:
    spaced = " ".join(
        data.draw(st.sampled_from([w.upper(), w.title(), w])) for w in command.split()
    )
    padding = data.draw(st.sampled_from(["", " ", "   ", "\t"]))
    assert parse(padding + spaced.replace(" ", "  ") + padding) == parse(command)
