"""The Home tab's builder: what it says, where its buttons sit, and Slack's limits."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from typing import Any

from bot.calendar.port import GOOGLE_UNREACHABLE, GRANT_REVOKED
from bot.checklist import progress_of
from bot.messages.home import (
    HOME_BLOCK_LIMIT,
    BrokenConnection,
    DeskRow,
    HomeView,
    Place,
    SignInLink,
    build_home,
)
from bot.messages.ids import CONNECT_HERE, CONNECT_LINK, DESK_REMIND, RECONNECT
from sandbox.fake_slack import text_of, view_errors
from storage.models import CalendarConnection, ConnectionKind, ConnectionState, Customer

CHECKED = datetime(2026, 3, 8, 3, 30, tzinfo=UTC)
NOW = datetime(2026, 3, 8, 12, 0, tzinfo=UTC)
STAFF, PRIMARY = ConnectionKind.STAFF, ConnectionKind.PRIMARY
BROKEN = ConnectionState.NEEDS_RECONNECT


def customer(i: int, timezone: str = "UTC") -> Customer:
    return Customer(
        id=i, team_id="T1", channel_id=f"C{i:04d}", timezone=timezone, registered_by="U1"
    )


def connection(
    i: int,
    where: Customer,
    kind: ConnectionKind = STAFF,
    state: ConnectionState = ConnectionState.CONNECTED,
    reason: str = "",
    email: str | None = None,
) -> CalendarConnection:
    return CalendarConnection(
        id=i,
        customer_id=where.id,
        kind=kind,
        owner_key="primary" if kind is PRIMARY else "U1",
        slack_user_id="U1",
        account_email=email or f"person{i}@example.com",
        token_ciphertext=b"sealed",
        scopes="",
        state=state,
        state_reason=reason,
        connected_at=CHECKED,
        last_checked_at=CHECKED,
    )


def home(places: list[Place], **extra: Any) -> dict[str, Any]:
    view = build_home(
        HomeView(places=places, now=NOW, check_interval=timedelta(minutes=30), **extra)
    )
    assert view["type"] == "home"
    assert len(view["blocks"]) <= HOME_BLOCK_LIMIT
    assert view_errors(view, kind="home") == [], "Slack would refuse it"
    return view


def accessory_ids(view: dict[str, Any]) -> list[str | None]:
    return [(b.get("accessory") or {}).get("action_id") for b in view["blocks"]]


def shown_channels(view: dict[str, Any]) -> set[str]:
    return set(re.findall(r"<#(C\d+)>", text_of(view)))


def more_count(view: dict[str, Any], which: str) -> int:
    found = re.search(rf"…and (\d+) more channels? {which}", text_of(view))
    return int(found.group(1)) if found else 0


def test_nothing_yet_says_what_the_bot_does_and_how_to_start() -> None:
    view = home([])
    text = text_of(view)
    assert "Welcome to Tonomo" in text
    assert "`/tonomo connect-calendar`" in text and "your company's channel" in text
    assert "never what your events are" in text
    assert set(accessory_ids(view)) == {None}


def test_one_healthy_calendar_in_the_channels_timezone() -> None:
    kolkata = customer(1, "Asia/Kolkata")
    view = home([Place(customer=kolkata, connections=[connection(1, kolkata)])])
    text = text_of(view)
    assert "*<#C0001>*" in text
    # 03:30 UTC is 9:00 in Kolkata (+5:30), the same day as now there.
    assert "*Your calendar*: :white_check_mark: connected, person1@example.com." in text
    assert "Checked at 9am (Kolkata time)." in text
    assert "I check them every 30 minutes." in text
    assert "*Nothing for you to do* (1)" in text and "Needs you" not in text
    assert set(accessory_ids(view)) == {None}


def test_a_check_on_another_local_day_names_the_day() -> None:
    # 03:30 UTC on March 8 is 10:30pm on Saturday March 7 in New York.
    new_york = customer(1, "America/New_York")
    text = text_of(home([Place(customer=new_york, connections=[connection(1, new_york)])]))
    assert "Checked Sat 7 Mar at 10:30pm (New York time)." in text


def test_broken_and_unconnected_need_the_person_first_with_their_buttons() -> None:
    fine, broken, offered = customer(1), customer(2, "Australia/Lord_Howe"), customer(3)
    places = [
        Place(customer=fine, connections=[connection(1, fine)]),
        Place(
            customer=broken,
            connections=[
                connection(2, broken, PRIMARY, BROKEN, GRANT_REVOKED),
                connection(3, broken, STAFF, ConnectionState.MISSING_PERMISSION, ""),
            ],
        ),
        Place(customer=offered, connections=[connection(4, offered, PRIMARY)], can_connect=True),
    ]
    view = home(places)
    text = text_of(view)
    assert text.index("*Needs you* (2)") < text.index("<#C0002>") < text.index("<#C0003>")
    assert text.index("<#C0003>") < text.index("*Nothing for you to do* (1)")
    assert text.index("*Nothing for you to do* (1)") < text.index("<#C0001>")
    assert ":warning: needs reconnecting" in text and "Reconnecting fixes it." in text
    assert ":no_entry: missing permission" in text and "tick every box" in text
    assert "*The business's primary calendar* (you connected it)" in text
    # Each button beside the one row it acts on: their own calendar first.
    buttons = [b["accessory"] for b in view["blocks"] if b.get("accessory")]
    assert [(b["action_id"], b["value"]) for b in buttons] == [
        (RECONNECT, "3"),
        (RECONNECT, "2"),
        (CONNECT_HERE, "3"),
    ]
    rows = [b["text"]["text"] for b in view["blocks"] if b.get("accessory")]
    assert "person3@example.com" in rows[0] and "person2@example.com" not in rows[0]
    assert "person2@example.com" in rows[1]
    assert "not connected yet" in rows[2] and "Connect my calendar" in text


def test_unreachable_says_when_it_is_tried_next() -> None:
    where = customer(1)
    gone = connection(1, where, state=ConnectionState.UNREACHABLE, reason=GOOGLE_UNREACHABLE)
    text = text_of(home([Place(customer=where, connections=[gone])]))
    assert ":grey_question: unreachable" in text and "I'll keep trying." in text
    assert "Checked at 3:30; next try at 4:00 (UTC)." in text


def test_the_link_sits_under_the_row_it_is_for_with_the_tips() -> None:
    where = customer(1)
    place = Place(
        customer=where,
        connections=[
            connection(1, where, PRIMARY, BROKEN, GRANT_REVOKED),
            connection(2, where, STAFF, BROKEN, GRANT_REVOKED),
        ],
    )
    for kind, row in ((STAFF, "2"), (PRIMARY, "1")):
        link = SignInLink(
            customer_id=1, kind=kind, url="https://accounts.example/x", account_email="a@b.c"
        )
        view = home([place], link=link)
        blocks = view["blocks"]
        at = accessory_ids(view).index(CONNECT_LINK)
        assert blocks[at - 1]["accessory"]["value"] == row
        assert blocks[at]["accessory"]["url"] == "https://accounts.example/x"
        tips = text_of({"blocks": [blocks[at + 1]]})
        assert "Show Advanced" in tips and "Admin console" in tips
        assert "expires in 10 minutes" in text_of(view) and "Sign in with a@b.c" in text_of(view)


def test_a_link_for_a_place_not_shown_goes_to_the_top() -> None:
    where = customer(1)
    link = SignInLink(customer_id=None, kind=STAFF, url="https://accounts.example/x")
    view = home([Place(customer=where, connections=[connection(1, where)])], link=link)
    assert accessory_ids(view).index(CONNECT_LINK) == 2  # under the header and the intro


def test_a_notice_comes_first() -> None:
    view = home([], notice="That connection no longer exists.")
    assert "That connection no longer exists." in text_of({"blocks": view["blocks"][:2]})


def test_emails_are_escaped() -> None:
    where = customer(1)
    sneaky = connection(1, where, email="<!channel>@example.com")
    text = text_of(home([Place(customer=where, connections=[sneaky])]))
    assert "<!channel>" not in text and "&lt;!channel&gt;@example.com" in text


def test_200_broken_connections_stay_within_limits_and_count_the_rest() -> None:
    places = []
    for i in range(100):
        where = customer(i)
        places.append(
            Place(
                customer=where,
                connections=[
                    connection(2 * i, where, PRIMARY, BROKEN, GRANT_REVOKED),
                    connection(2 * i + 1, where, STAFF, BROKEN, GRANT_REVOKED),
                ],
            )
        )
    link = SignInLink(customer_id=99, kind=STAFF, url="https://accounts.example/x")
    view = home(places, link=link)
    shown = shown_channels(view)
    assert len(shown) + more_count(view, "that need you") == 100
    assert len(shown) > 40
    assert accessory_ids(view).index(CONNECT_LINK) == 2, "its row is cut: the link is on top"
    assert accessory_ids(view).count(RECONNECT) == 2 * len(shown)


def test_200_healthy_connections_are_packed_and_all_shown() -> None:
    places = []
    for i in range(100):
        where = customer(i, "America/New_York")
        places.append(
            Place(
                customer=where,
                connections=[connection(2 * i, where, PRIMARY), connection(2 * i + 1, where)],
            )
        )
    view = home(places)
    assert len(shown_channels(view)) == 100 and more_count(view, "where all is well") == 0
    assert len(view["blocks"]) < 40
    assert all(len(b["text"]["text"]) <= 3000 for b in view["blocks"] if b["type"] == "section")


def test_200_places_of_every_kind_keep_both_groups() -> None:
    places = []
    for i in range(200):
        where = customer(i)
        state = BROKEN if i % 2 else ConnectionState.CONNECTED
        places.append(
            Place(customer=where, connections=[connection(i, where, STAFF, state, GRANT_REVOKED)])
        )
    view = home(places)
    text = text_of(view)
    assert "*Needs you* (100)" in text and "*Nothing for you to do* (100)" in text
    shown = shown_channels(view)
    more = more_count(view, "that need you") + more_count(view, "where all is well")
    assert len(shown) + more == 200
    assert any(int(c[1:]) % 2 == 0 for c in shown), "the fine ones keep at least a section"


# --- the onboarder's desk -----------------------------------------------------------------------


def desk_row(
    where: Customer,
    *,
    staff: int = 3,
    connected: int = 3,
    primary: ConnectionState | None = ConnectionState.CONNECTED,
    broken_since: datetime | None = None,
    digest_on: bool = True,
    digest_sent_at: datetime | None = None,
) -> DeskRow:
    people = [f"W{where.id:04d}{n:03d}" for n in range(staff)]
    connections = [connection(1000 * where.id + n, where, STAFF) for n in range(connected)]
    for person, made in zip(people, connections, strict=False):
        made.owner_key = person
    broken: list[BrokenConnection] = []
    if broken_since is not None:
        connections[0].state = BROKEN
        broken.append(BrokenConnection(connection=connections[0], since=broken_since))
    the_primary = None
    if primary is not None:
        the_primary = connection(1000 * where.id + 999, where, PRIMARY, primary)
        connections.append(the_primary)
    where.digest_enabled = digest_on
    where.digest_time = "07:00"
    return DeskRow(
        customer=where,
        progress=progress_of(where, connections, people),
        primary=the_primary,
        broken=broken,
        digest_sent_at=digest_sent_at,
    )


def desk_channels(view: dict[str, Any]) -> list[str]:
    """The channels in the desk, in the order shown (before the person's own calendars)."""
    text = text_of({"blocks": view["blocks"]})
    desk = text.split("Your calendars")[0]
    return list(dict.fromkeys(re.findall(r"<#(C\d+)>", desk)))


def test_the_desk_shows_each_channel_worst_first() -> None:
    rows = [
        desk_row(customer(1)),  # all done
        desk_row(customer(2), staff=5, connected=1),  # four never connected
        desk_row(customer(3), primary=None),  # no primary
        desk_row(customer(4), broken_since=CHECKED),  # broken
        desk_row(customer(5), staff=5, connected=4),  # one never connected
        desk_row(customer(6), broken_since=CHECKED - timedelta(days=2)),  # broken for longer
    ]
    view = home([], desk=rows)
    assert desk_channels(view) == ["C0006", "C0004", "C0003", "C0002", "C0005", "C0001"]
    text = text_of(view)
    assert "Your desk" in text and "*Needs work* (5)" in text and "*All done* (1)" in text
    assert "Welcome to Tonomo" not in text, "an onboarder has their desk instead"


def test_a_desk_row_says_progress_breakage_who_never_connected_and_the_digest() -> None:
    new_york = customer(7, "America/New_York")
    # 03:30 UTC on March 8 is 10:30pm on Saturday March 7 in New York; 12:00 UTC is 8am.
    row = desk_row(
        new_york,
        staff=9,
        connected=2,
        broken_since=CHECKED,
        digest_sent_at=NOW,
    )
    view = home([], desk=[row])
    [section] = [b for b in view["blocks"] if "<#C0007>" in text_of({"blocks": [b]})]
    line = section["text"]["text"]
    assert "Primary calendar: :white_check_mark: connected, person7999@example.com." in line
    # Two connected, one of them broken: one of nine counts as connected.
    assert "Staff: 1 of 9 connected." in line
    assert "Broken: <@W0007000>'s calendar, needs reconnecting since Sat 7 Mar at 10:30pm." in line
    assert (
        "Never connected: <@W0007002>, <@W0007003>, <@W0007004>, <@W0007005>, <@W0007006> and 2 more."
        in line
    )
    assert (
        "Daily digest: on, at 7am on working days; last went today at 8am. _(New York time)_"
        in line
    )
    assert section["accessory"]["action_id"] == DESK_REMIND
    assert section["accessory"]["value"] == "7"
    assert section["accessory"]["text"]["text"] == "Remind"


def test_a_desk_row_with_no_primary_and_the_digest_off() -> None:
    row = desk_row(customer(8), staff=0, connected=0, primary=None, digest_on=False)
    text = text_of(home([], desk=[row]))
    assert "Primary calendar: :hourglass_flowing_sand: not connected yet." in text
    assert "Staff: no one of the business is in the channel yet." in text
    assert "Daily digest: off; it hasn't gone yet." in text
    assert DESK_REMIND not in accessory_ids(home([], desk=[row])), "no one to remind"


def test_the_desk_comes_before_the_persons_own_calendars_and_the_notice_first() -> None:
    mine = customer(1)
    view = home(
        [Place(customer=mine, connections=[connection(1, mine)])],
        desk=[desk_row(customer(2), staff=2, connected=0)],
        notice="<#C0002>: Done: I reminded 2 people who haven't connected a calendar yet.",
    )
    text = text_of(view)
    assert text.index("Your desk") < text.index("<#C0002>") < text.index("Your calendars")
    assert text.index("Your calendars") < text.index("<#C0001>")
    assert "Done: I reminded 2 people" in text_of({"blocks": view["blocks"][:3]})
    assert text.count("Done: I reminded") == 1


def test_300_customers_on_the_desk_stay_within_limits_and_count_the_rest() -> None:
    rows = [
        desk_row(
            customer(i), staff=10, connected=1 + i % 9, broken_since=CHECKED if i % 7 else None
        )
        for i in range(1, 301)
    ]
    mine = [
        Place(customer=customer(900 + i), connections=[connection(i, customer(900 + i))])
        for i in range(50)
    ]
    for places in ([], mine):
        view = home(places, desk=rows)
        shown = desk_channels(view)
        assert len(shown) + more_count(view, "that need work") == 300
        assert shown[0] in {f"C{i:04d}" for i in range(1, 301) if i % 7}, "broken ones first"
        remind = [
            b["accessory"]["value"]
            for b in view["blocks"]
            if (b.get("accessory") or {}).get("action_id") == DESK_REMIND
        ]
        assert remind == [c[1:].lstrip("0") for c in shown]
        if places:
            assert "Your calendars" in text_of(view), "the person's own calendars keep room"
            assert (
                more_count(view, "where all is well") + len(shown_channels(view)) - len(shown) == 50
            )


def test_300_customers_all_done_are_packed_and_all_shown() -> None:
    rows = [desk_row(customer(i), digest_sent_at=NOW) for i in range(1, 301)]
    view = home([], desk=rows)
    assert len(desk_channels(view)) + more_count(view, "where all is done") == 300
    assert len(desk_channels(view)) > 100
    assert DESK_REMIND not in accessory_ids(view)
    assert all(len(b["text"]["text"]) <= 3000 for b in view["blocks"] if b["type"] == "section")
