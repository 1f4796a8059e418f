"""One clock per customer: a New York channel reads 12-hour times until `settings clock
24h`, then every message (availability, bookings, status, settings) writes 24-hour times."""

from __future__ import annotations

import re

from sandbox.fake_slack import text_of
from tests.conftest import ALICE, RunningBot
from tests.scenarios.flows import ALICE_EMAIL, at, book, command, live_status, next_weekday, team
from tests.scenarios.test_booking import ask

__all__ = ["team"]  # the fixture, used by name

CHECKED_12H = re.compile(r"Checked at \d{1,2}(:\d\d)?[ap]m;")
CHECKED_24H = re.compile(r"Checked at \d{1,2}:\d\d;")


async def test_settings_clock_changes_how_every_message_writes_times(team: RunningBot) -> None:
    day = next_weekday()
    team.google.add_event(ALICE_EMAIL, start=at(day, 10), end=at(day, 12), summary="Dentist")

    # New York writes 12-hour times: the default, before anyone chooses.
    before = await ask(team, f"availability <@{ALICE}|alice> {day.isoformat()}")
    assert f"<@{ALICE}>: 9am–10am, 12pm–5pm" in before
    assert re.search(r"Read live from Google at \d{1,2}(:\d\d)?[ap]m\.", before)
    booked = text_of(await book(team, f"<@{ALICE}|alice> {day.isoformat()} 13:00 1h30m Shoot"))
    assert "1pm–2:30pm" in booked
    assert CHECKED_12H.search(text_of(await live_status(team)))
    shown = text_of(await command(team, "settings"))
    assert "*Clock:* 12-hour (2:30pm), as usual in the timezone's country" in shown
    assert "9am–5pm" in shown

    answer = text_of(await command(team, "settings clock 24h"))
    assert "24-hour (14:30)" in answer and "9:00–17:00" in answer

    after = await ask(team, f"availability <@{ALICE}|alice> {day.isoformat()}")
    assert f"<@{ALICE}>: 9:00–10:00, 12:00–13:00, 14:30–17:00" in after
    assert re.search(r"Read live from Google at \d{1,2}:\d\d\.", after)
    booked = text_of(await book(team, f"<@{ALICE}|alice> {day.isoformat()} 3pm 30m Portraits"))
    assert "15:00–15:30" in booked
    assert CHECKED_24H.search(text_of(await live_status(team)))
    shown = text_of(await command(team, "settings"))
    assert "*Clock:* 24-hour (14:30)" in shown and "as usual" not in shown
    assert "9:00–17:00" in shown


async def test_a_mistyped_clock_is_explained(team: RunningBot) -> None:
    answer = text_of(await command(team, "settings clock 13h"))
    assert "I can write times as `12h` (like 2:30pm) or `24h` (like 14:30), not `13h`" in answer
