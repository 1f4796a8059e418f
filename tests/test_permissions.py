"""Who may do what (CONTRACT: "People of two organisations"): which act a command is, who may
do each act, and the refusal's words. The doors that ask are in `tests/scenarios/test_people.py`."""

from __future__ import annotations

from datetime import time, timedelta

import pytest

from bot import commands
from bot.messages.people import build_refusal
from bot.people import Act, Refusal, Role, act_of, may, refusal_of
from storage.models import Customer

ME, OTHER, OWNER = "W0ALICE", "W0BOB", "W0OLIVIA"
NINE = time(9)
HOUR = timedelta(hours=1)


def customer(owner: str | None) -> Customer:
    return Customer(team_id="T0", channel_id="C0", timezone="UTC", owner_user_id=owner)


@pytest.mark.parametrize("act", list(Act))
def test_the_owner_and_onboarders_may_do_everything(act: Act) -> None:
    for role in (Role.OWNER, Role.ONBOARDER):
        assert may(role, act, has_owner=True)
        assert may(role, act, has_owner=False)


@pytest.mark.parametrize("act", list(Act))
def test_staff_may_do_what_the_owner_may_only_until_there_is_an_owner(act: Act) -> None:
    assert not may(Role.STAFF, act, has_owner=True)
    assert may(Role.STAFF, act, has_owner=False)


@pytest.mark.parametrize(
    ("command", "act"),
    [
        (commands.BookAnyone((ME,), "friday", NINE, HOUR, "Shoot"), None),
        (commands.BookAnyone((), "friday", NINE, HOUR, "Shoot"), Act.BOOK_OTHERS),
        (commands.BookAnyone((OTHER,), "friday", NINE, HOUR, "Shoot"), Act.BOOK_OTHERS),
        (commands.BookAnyone((ME, OTHER), "friday", NINE, HOUR, "Shoot"), Act.BOOK_OTHERS),
        (commands.Move("K7Q2MX", "friday", NINE), None),
        (commands.Why(OTHER, "friday", NINE), None),
        (commands.Why(ME, "friday", NINE, HOUR), None),
        (commands.AddTimeOff(None, "friday", "friday", ""), None),
        (commands.AddTimeOff(ME, "monday", "friday", "Holidays"), None),
        (commands.AddTimeOff(OTHER, "friday", "friday", ""), Act.TIME_OFF_OTHERS),
        (commands.ListTimeOff(), None),
        (commands.CancelTimeOff("7QX2"), None),
        (commands.SetScheduling("buffer", timedelta(minutes=15)), Act.SETTINGS),
        (commands.SetScheduling("notice", timedelta(0)), Act.SETTINGS),
        (commands.SetScheduling("step", timedelta(minutes=30)), Act.SETTINGS),
        # what was there before, unchanged
        (commands.Book(ME, "friday", NINE, HOUR, "Shoot"), None),
        (commands.Book(OTHER, "friday", NINE, HOUR, "Shoot"), Act.BOOK_OTHERS),
        (commands.Cancel("K7Q2MX"), None),
        (commands.SetTimezone("Asia/Kolkata"), Act.SETTINGS),
    ],
)
def test_act_of(command: commands.Command, act: Act | None) -> None:
    assert act_of(command, ME) == act


def test_commands_parsed_from_text_are_the_same_acts() -> None:
    alice = "UALICE"
    assert act_of(commands.parse(f"timeoff <@{alice}|alice> friday"), alice) is None
    assert act_of(commands.parse("timeoff <@UBOB|bob> friday"), alice) is Act.TIME_OFF_OTHERS
    assert act_of(commands.parse("book anyone friday 9:00 1h Shoot"), alice) is Act.BOOK_OTHERS
    assert act_of(commands.parse("settings step 30m"), alice) is Act.SETTINGS


def test_staff_setting_someone_elses_time_off_is_told_who_can() -> None:
    refusal = refusal_of(Role.STAFF, Act.TIME_OFF_OTHERS, customer(OWNER))
    assert refusal == Refusal(act=Act.TIME_OFF_OTHERS, owner=OWNER)
    text = build_refusal(refusal).text
    assert text.startswith(
        f"Only <@{OWNER}> (the owner) or an onboarder can set or remove someone else's time off"
    )
    assert "`timeoff friday`" in text


def test_before_there_is_an_owner_anyone_sets_anyones_time_off() -> None:
    assert refusal_of(Role.STAFF, Act.TIME_OFF_OTHERS, customer(None)) is None
    assert refusal_of(Role.OWNER, Act.TIME_OFF_OTHERS, customer(OWNER)) is None
    assert refusal_of(Role.ONBOARDER, Act.TIME_OFF_OTHERS, customer(OWNER)) is None


@pytest.mark.parametrize("act", list(Act))
@pytest.mark.parametrize("owner", [OWNER, None])
def test_every_refusal_names_who_can_and_what_to_do_instead(act: Act, owner: str | None) -> None:
    text = build_refusal(Refusal(act=act, owner=owner)).text
    who = f"<@{owner}> (the owner) or an onboarder" if owner else "an onboarder"
    assert text.startswith(f"Only {who} can ") and "Ask them, please. You can" in text
