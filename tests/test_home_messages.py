"""The Home tab's builder: what it says, where its buttons sit, and Slack's limits."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from typing import Any

from bot.calendar.port import GOOGLE_UNREACHABLE, GRANT_REVOKED
from bot.messages.home import HOME_BLOCK_LIMIT, HomeView, Place, SignInLink, build_home
from bot.messages.ids import CONNECT_HERE, CONNECT_LINK, RECONNECT
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
    assert "Checked at 3:30am; next try at 4am (UTC)." in text


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
