"""The sandbox: its page and the page's API, driven over plain HTTP as a browser would, and
the demo customer it seeds: a Slack Connect channel of the vendor's workspace (Sam, the
onboarder), shared with Acme Photo (Olivia and her photographers), whose people have no
`/tonomo` and no Home tab and mention the bot instead. (The page's own JavaScript is for a
browser test.)"""

from __future__ import annotations

import asyncio
import json
import signal
import sys
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from aiohttp import ClientConnectionError, ClientSession, web
from slack_sdk.web.async_client import AsyncWebClient

from sandbox.fake_google import FakeGoogle, approve_consent, single_events
from sandbox.fake_slack import FakeSlack, SlashCommandUnavailable, button_urls, text_of
from sandbox.run import (
    ALICE,
    BOB,
    CARMEN,
    CHANNEL,
    CHANNEL_NAME,
    CLIENT_ID,
    CUSTOMER,
    EMAILS,
    ONBOARDER,
    OWNER,
    PEOPLE,
    PRIMARY_EMAIL,
    VENDOR,
    ZONE,
    Sandbox,
    running_sandbox,
    seed_calendars,
)
from sandbox.ui import REQUIRED_FIELD, SandboxUI, state_values
from tests.conftest import free_port

ROOT = Path(__file__).resolve().parents[1]
State = dict[str, Any]

# What a browser test finds on the page.
TESTIDS = (
    "person-switcher",
    "channel-link",
    "home-tab-link",
    "message-list",
    "composer",
    "send-button",
    "home-view",
    "toast",
)


@dataclass
class Page:
    """The page's API, as its JavaScript calls it."""

    http: ClientSession
    sandbox: Sandbox

    @property
    def api(self) -> str:
        return self.sandbox.bot_url + "/sandbox/api/"

    async def state(self, who: str, since: int | None = None) -> State:
        query = {"as": who} | ({"since": str(since)} if since is not None else {})
        async with self.http.get(self.api + "state", params=query) as response:
            assert response.status == 200, await response.text()
            state: State = await response.json()
            return state

    async def state_until(
        self,
        who: str,
        check: Callable[[State], Any],
        timeout: float = 5.0,  # noqa: ASYNC109 - a polling deadline, as in tests.helpers
    ) -> State:
        """Long-poll the state until `check` holds."""
        deadline = asyncio.get_running_loop().time() + timeout
        state = await self.state(who)
        while not check(state):
            if asyncio.get_running_loop().time() > deadline:
                raise AssertionError(f"not seen within {timeout}s: {state['messages'][-3:]}")
            state = await self.state(who, since=state["version"])
        return state

    async def post(self, path: str, body: dict[str, Any], status: int = 200) -> dict[str, Any]:
        async with self.http.post(self.api + path, json=body) as response:
            assert response.status == status, await response.text()
            answer: dict[str, Any] = await response.json()
            return answer


@pytest.fixture
async def page() -> AsyncIterator[Page]:
    async with running_sandbox(free_port()) as sandbox, ClientSession() as http:
        yield Page(http=http, sandbox=sandbox)


def free_day(google: FakeGoogle, email: str, start: str, end: str) -> str:
    """A working day from tomorrow on when the calendar has nothing from `start` to `end`."""
    zone = ZoneInfo(ZONE)
    day = datetime.now(zone).date()
    while True:
        day += timedelta(days=1)
        begin = datetime.combine(day, time.fromisoformat(start), zone)
        finish = datetime.combine(day, time.fromisoformat(end), zone)
        spans = [_span(e, zone) for e in google.events(email)]
        if day.weekday() < 5 and not any(a < finish and begin < b for a, b in spans):
            return day.isoformat()


def _span(event: dict[str, Any], zone: ZoneInfo) -> tuple[datetime, datetime]:
    def moment(value: dict[str, str]) -> datetime:
        if "date" in value:
            return datetime.combine(date.fromisoformat(value["date"]), time(), zone)
        return datetime.fromisoformat(value["dateTime"])

    return moment(event["start"]), moment(event["end"])


def ephemerals(state: State) -> list[dict[str, Any]]:
    return [m for m in state["messages"] if m["ephemeral"]]


def channel_texts(state: State) -> list[str]:
    return [text_of(m) for m in state["messages"] if not m["ephemeral"]]


def panel_click(state: State, action_id: str) -> dict[str, Any]:
    """A click on a button of the channel's panel (the checklist message)."""
    panel = state["messages"][0]
    block_id, _ = element(panel["blocks"], action_id)
    return {"action_id": action_id, "block_id": block_id, "message_ts": panel["ts"]}


async def slack_refusal(page: Page) -> str:
    """What Slack tells a person of another organisation who types `/tonomo`."""
    with pytest.raises(SlashCommandUnavailable) as refused:
        await page.sandbox.slack.send_slash_command(
            page.sandbox.bot_url + "/slack/events", user_id=CARMEN, channel_id=CHANNEL, text=""
        )
    return refused.value.message


def element(blocks: list[dict[str, Any]], action_id: str) -> tuple[str, dict[str, Any]]:
    """The block id and element of the first element with that action id."""
    for block in blocks:
        for found in [block.get("accessory"), *(block.get("elements") or [])]:
            if isinstance(found, dict) and found.get("action_id") == action_id:
                return block["block_id"], found
    raise AssertionError(f"no {action_id} in {blocks}")


async def test_the_page_and_its_assets_are_served(page: Page) -> None:
    async with page.http.get(page.sandbox.url) as response:  # `/` leads to the page
        assert response.status == 200
        assert str(response.url).endswith("/sandbox/")
        html = await response.text()
    for testid in TESTIDS:
        assert f'data-testid="{testid}"' in html, testid
    for asset, kind in (("app.js", "javascript"), ("app.css", "css")):
        async with page.http.get(page.sandbox.bot_url + "/sandbox/" + asset) as response:
            assert response.status == 200 and kind in response.headers["Content-Type"]
            assert len(await response.text()) > 1000
    async with page.http.get(page.sandbox.bot_url + "/healthz") as response:
        assert response.status == 200  # the bot's own endpoints are unchanged beside it


async def test_the_state_shows_the_seeded_channel(page: Page) -> None:
    state = await page.state("olivia")
    assert state["me"]["id"] == OWNER and state["channel"]["name"] == CHANNEL_NAME
    assert [p["id"] for p in state["people"]] == [p.user_id for p in PEOPLE]
    assert state["channel"]["shared"] and state["channel"]["organisations"] == [CUSTOMER, VENDOR]
    texts = channel_texts(state)
    assert "Getting started with Tonomo" in texts[0]  # the checklist, posted when the bot came
    assert PRIMARY_EMAIL in texts[1] and EMAILS[ALICE] in texts[2] and EMAILS[BOB] in texts[3]
    assert not any(EMAILS[CARMEN] in text for text in texts)
    assert ephemerals(state) == []  # the seed's used sign-in links are not shown
    assert all(m["author"]["is_bot"] for m in state["messages"])
    assert state["users"][ALICE] == "Alice Lens" and state["modal"] is None


async def test_the_persons_carry_their_organisation_and_only_the_vendor_s_have_home(
    page: Page,
) -> None:
    state = await page.state("carmen")
    people = {p["id"]: p for p in state["people"]}
    for user_id in (OWNER, ALICE, BOB, CARMEN):
        assert people[user_id]["organisation"] == CUSTOMER and people[user_id]["external"]
        assert not people[user_id]["home"] and not people[user_id]["slash_commands"]
    sam = people[ONBOARDER]
    assert sam["organisation"] == VENDOR and not sam["external"] and sam["home"]
    assert state["me"]["no_home"] and "no Home tab" in state["me"]["no_home"]
    assert VENDOR in state["me"]["no_home"] and (await page.state("sam"))["me"]["no_home"] is None

    # Slack gives them no App Home: opening it sends the bot nothing and says why.
    refused = await page.post("home", {"as": "carmen"})
    assert refused == {"ok": False, "error": state["me"]["no_home"], "no_home": True}
    assert (await page.state("carmen"))["home"] is None

    # Who wrote what, and from which organisation.
    await page.post("send", {"as": "carmen", "text": "hello"})
    said = (await page.state("sam"))["messages"][-1]
    assert said["author"] == {
        "id": CARMEN,
        "name": "Carmen Flash",
        "is_bot": False,
        "external": True,
        "organisation": CUSTOMER,
    }


async def test_the_seed_connects_the_primary_and_two_staff_but_not_carmen(page: Page) -> None:
    # The onboarder, of the workspace that installed the app, has /tonomo.
    answer = await page.post("send", {"as": "sam", "text": "/tonomo status"})
    assert answer["ok"] and "Checking" in answer["reply"]["text"]  # the ack, shown to him
    state = await page.state_until(
        "sam", lambda s: any("Calendar connections" in text_of(m) for m in ephemerals(s))
    )
    status = text_of(ephemerals(state)[-1])
    assert "3 of 3 calendar connection(s) working" in status
    for email in (PRIMARY_EMAIL, EMAILS[ALICE], EMAILS[BOB]):
        assert f"connected: {email}" in status
    assert EMAILS[CARMEN] not in status
    [waiting] = [line for line in status.splitlines() if "Not connected yet" in line]
    assert f"<@{CARMEN}>" in waiting and f"<@{OWNER}>" in waiting
    assert f"<@{ONBOARDER}>" not in waiting  # an onboarder is never staff
    assert ephemerals(await page.state("olivia")) == []  # only Sam sees it


async def test_an_external_person_s_slash_command_is_refused_as_slack_does(page: Page) -> None:
    answer = await page.post("send", {"as": "alice", "text": "/tonomo help"})
    explanation = await slack_refusal(page)
    assert answer == {"ok": False, "kind": "command", "error": explanation}
    [note] = ephemerals(await page.state("alice"))  # Slack's own note, only to her
    assert note["author"]["name"] == "Slackbot" and note["text"] == explanation
    assert "/tonomo" in explanation and VENDOR in explanation
    assert ephemerals(await page.state("bob")) == []
    assert all(text_of(m) != "/tonomo help" for m in (await page.state("bob"))["messages"])


async def test_a_mention_is_answered_to_that_person(page: Page) -> None:
    answer = await page.post("send", {"as": "alice", "text": "@Tonomo help"})
    assert answer["ok"] and answer["mention"] and answer["delivered"]
    state = await page.state_until("alice", lambda s: bool(ephemerals(s)))
    said = next(m for m in state["messages"] if m["ts"] == answer["ts"])
    assert said["text"] == f"<@{page.sandbox.slack.bot_user_id}> help" and not said["ephemeral"]
    [shown] = ephemerals(state)
    assert shown["author"]["is_bot"] and "connect-calendar" in text_of(shown)
    assert shown["thread_ts"] is None  # in the channel, as the mention was
    assert ephemerals(await page.state("bob")) == []


async def test_olivia_connecting_the_primary_made_her_the_owner(page: Page) -> None:
    await page.post("send", {"as": "carmen", "text": "@Tonomo book @alice tomorrow 16:00 1h X"})
    state = await page.state_until("carmen", lambda s: bool(ephemerals(s)))
    refusal = text_of(ephemerals(state)[-1])
    assert f"<@{OWNER}> (the owner)" in refusal and "book yourself" in refusal


async def test_a_mention_in_a_thread_is_answered_in_that_thread(page: Page) -> None:
    asked = await page.post("send", {"as": "carmen", "text": "Who is free tomorrow?"})
    thread_ts = asked["ts"]
    reply = {"as": "carmen", "text": "@tonomo availability tomorrow", "thread_ts": thread_ts}
    answer = await page.post("send", reply)
    assert answer["mention"] and answer["delivered"]
    state = await page.state_until("carmen", lambda s: bool(ephemerals(s)))
    [shown] = ephemerals(state)
    assert shown["thread_ts"] == thread_ts and "Availability" in text_of(shown)
    parent = next(m for m in state["messages"] if m["ts"] == thread_ts)
    assert parent["reply_count"] == 1 and parent["reply_users"] == [CARMEN]
    mention = next(m for m in state["messages"] if m["ts"] == answer["ts"])
    assert mention["thread_ts"] == thread_ts
    assert page.sandbox.slack.replies(CHANNEL, thread_ts)[0]["ts"] == answer["ts"]
    assert ephemerals(await page.state("olivia")) == []  # only Carmen sees the answer

    # A slash command typed in the thread: Slack's note to an external person shows there.
    await page.post("send", {"as": "carmen", "text": "/tonomo status", "thread_ts": thread_ts})
    note = ephemerals(await page.state("carmen"))[-1]
    assert note["author"]["name"] == "Slackbot" and note["thread_ts"] == thread_ts

    # No thread under a reply, nor under a message that isn't there.
    gone = {"as": "carmen", "text": "hm", "thread_ts": answer["ts"]}
    await page.post("send", gone, status=409)


async def test_help_typed_in_the_composer_is_answered_to_that_person(page: Page) -> None:
    answer = await page.post("send", {"as": "sam", "text": "/tonomo help"})
    assert answer["ok"] and "connect-calendar" in text_of(answer["reply"])
    [shown] = ephemerals(await page.state("sam"))
    assert shown["author"]["is_bot"] and "connect-calendar" in text_of(shown)
    assert ephemerals(await page.state("bob")) == []

    await page.post("send", {"as": "bob", "text": "/giphy cats"})
    [note] = ephemerals(await page.state("bob"))
    assert "/giphy is not a valid command" in note["text"] and note["author"]["name"] == "Slackbot"

    await page.post("send", {"as": "bob", "text": "Hi @alice, <b>see</b> #acme-photo-onboarding"})
    said = (await page.state("alice"))["messages"][-1]
    assert said["author"]["id"] == BOB and not said["ephemeral"]
    assert said["text"] == f"Hi <@{ALICE}>, &lt;b&gt;see&lt;/b&gt; <#{CHANNEL}|{CHANNEL_NAME}>"


async def test_a_button_click_reaches_the_bot_and_its_link_connects(page: Page) -> None:
    checklist = (await page.state("carmen"))["messages"][0]
    assert "2 of 4 connected" in text_of(checklist)
    block_id, _ = element(checklist["blocks"], "connect_mine")
    click = {"action_id": "connect_mine", "block_id": block_id, "message_ts": checklist["ts"]}
    assert (await page.post("action", {"as": "carmen", **click}))["ok"]

    state = await page.state_until("carmen", lambda s: bool(ephemerals(s)))
    [link] = button_urls(ephemerals(state)[0]["blocks"])
    assert link.startswith(page.sandbox.google.auth_uri)
    assert ephemerals(await page.state("olivia")) == []

    # Google's pages, then the bot's own callback, whose page the person sees.
    location = await approve_consent(link, email=EMAILS[CARMEN])
    async with page.http.get(location) as response:
        assert response.status == 200 and EMAILS[CARMEN] in await response.text()
    state = await page.state_until(
        "olivia", lambda s: any(EMAILS[CARMEN] in t for t in channel_texts(s))
    )
    updated = await page.state_until(  # the checklist, updated in place
        "olivia", lambda s: "3 of 4 connected" in text_of(s["messages"][0])
    )
    assert updated["messages"][0]["ts"] == checklist["ts"] and updated["messages"][0]["edited"]


async def test_google_s_pages_name_the_app_tonomo_not_its_client_id(page: Page) -> None:
    checklist = (await page.state("carmen"))["messages"][0]
    block_id, _ = element(checklist["blocks"], "connect_mine")
    click = {"action_id": "connect_mine", "block_id": block_id, "message_ts": checklist["ts"]}
    assert (await page.post("action", {"as": "carmen", **click}))["ok"]
    state = await page.state_until("carmen", lambda s: bool(ephemerals(s)))
    [link] = button_urls(ephemerals(state)[0]["blocks"])
    async with page.http.get(link) as response:
        chooser = await response.text()
    assert response.status == 200 and "Choose an account" in chooser
    assert "to continue to Tonomo" in chooser
    assert CLIENT_ID not in chooser


async def test_the_booking_modal_opens_validates_and_submits(page: Page) -> None:
    # Olivia, of another organisation, opens it from the panel's Book button.
    click = panel_click(await page.state("olivia"), "open_book_form")
    assert (await page.post("action", {"as": "olivia", **click}))["ok"]
    modal = (await page.state_until("olivia", lambda s: s["modal"]))["modal"]
    assert modal["title"]["text"] == "Book a staff member"
    assert (await page.state("alice"))["modal"] is None

    empty = await page.post("submit", {"as": "olivia", "view_id": modal["id"], "values": {}})
    assert not empty["ok"] and empty["errors"]["title"] == REQUIRED_FIELD
    assert "staff" not in empty["errors"], "Who is optional: Anyone free may be ticked instead"

    values = {
        "staff": {"staff": ALICE},
        "day": {"day": free_day(page.sandbox.google, EMAILS[ALICE], "16:00", "17:00")},
        "time": {"time": "16:00"},
        "duration": {"duration": "forever"},
        "title": {"title": "Shoot at 12 Main St"},
    }
    wrong = await page.post("submit", {"as": "olivia", "view_id": modal["id"], "values": values})
    assert not wrong["ok"] and set(wrong["errors"]) == {"duration"}  # the bot's own words
    assert (await page.state("olivia"))["modal"]["id"] == modal["id"]  # still open

    values["duration"] = {"duration": "1h"}
    done = await page.post("submit", {"as": "olivia", "view_id": modal["id"], "values": values})
    assert done == {"ok": True}
    state = await page.state_until("olivia", lambda s: "Booked" in s["messages"][-1]["text"])
    assert state["modal"] is None and not state["messages"][-1]["ephemeral"]

    # The booking's Cancel button has a confirm dialog on the page; the click cancels.
    booking = state["messages"][-1]
    block_id, button = element(booking["blocks"], "cancel_booking")
    assert button["style"] == "danger" and button["confirm"]
    click = {"action_id": "cancel_booking", "block_id": block_id, "message_ts": booking["ts"]}
    assert (await page.post("action", {"as": "olivia", **click}))["ok"]
    cancelled = await page.state_until(
        "olivia", lambda s: "Cancelled" in text_of(s["messages"][-1])
    )
    assert cancelled["messages"][-1]["ts"] == booking["ts"]  # replaced in place


async def test_a_modal_closes(page: Page) -> None:
    await page.post("send", {"as": "sam", "text": "/tonomo book"})
    modal = (await page.state_until("sam", lambda s: s["modal"]))["modal"]
    assert await page.post("close", {"as": "sam", "view_id": modal["id"]}) == {"ok": True}
    click = panel_click(await page.state("bob"), "open_book_form")
    assert (await page.post("action", {"as": "bob", **click}))["ok"]
    modal = (await page.state_until("bob", lambda s: s["modal"]))["modal"]
    await page.post("close", {"as": "alice", "view_id": modal["id"]}, status=409)  # not hers
    assert await page.post("close", {"as": "bob", "view_id": modal["id"]}) == {"ok": True}
    assert (await page.state("bob"))["modal"] is None


async def test_the_home_tab_opens_for_the_onboarder(page: Page) -> None:
    assert (await page.post("home", {"as": "sam"}))["ok"]
    home = (await page.state_until("sam", lambda s: s["home"]))["home"]
    assert "Tonomo" in text_of(home) and home["type"] == "home"
    assert (await page.state("olivia"))["home"] is None


async def test_the_api_refuses_what_makes_no_sense(page: Page) -> None:
    async with page.http.get(page.api + "state", params={"as": "mallory"}) as response:
        assert response.status == 400 and "mallory" in (await response.json())["error"]
    assert (await page.state(""))["me"]["id"] == OWNER  # nobody named: the first person
    await page.post("send", {"as": "alice", "text": "   "}, status=400)
    gone = {"as": "alice", "action_id": "connect_mine", "block_id": "x", "message_ts": "1.2"}
    await page.post("action", gone, status=409)


async def test_the_panel_s_availability_button_answers_the_one_who_clicked(page: Page) -> None:
    click = panel_click(await page.state("carmen"), "open_availability_form")
    assert (await page.post("action", {"as": "carmen", **click}))["ok"]
    modal = (await page.state_until("carmen", lambda s: s["modal"]))["modal"]
    values = {"who": {"who": [ALICE]}, "when": {"when": "tomorrow"}, "length": {"length": "1h"}}
    done = await page.post("submit", {"as": "carmen", "view_id": modal["id"], "values": values})
    assert done == {"ok": True}, done
    state = await page.state_until("carmen", lambda s: bool(ephemerals(s)))
    answer = text_of(ephemerals(state)[-1])
    assert "Availability" in answer and f"<@{ALICE}>" in answer and state["modal"] is None
    assert ephemerals(await page.state("olivia")) == []


async def test_long_polling_answers_when_something_changes(page: Page) -> None:
    version = (await page.state("alice"))["version"]
    waiting = asyncio.create_task(page.state("alice", since=version))
    await asyncio.sleep(0.2)
    assert not waiting.done()
    await page.post("send", {"as": "bob", "text": "anyone free tomorrow?"})
    state = await asyncio.wait_for(waiting, timeout=5)
    assert state["version"] > version and state["messages"][-1]["text"] == "anyone free tomorrow?"


async def test_closing_a_modal_tells_the_bot_only_when_it_asked() -> None:
    received: list[dict[str, Any]] = []

    async def bot(request: web.Request) -> web.Response:
        form = await request.post()
        payload = form.get("payload")  # an interaction; the slash commands have none
        received.append(json.loads(str(payload)) if payload else {"command": form.get("command")})
        return web.Response()

    app = web.Application()
    app.router.add_post("/slack/events", bot)
    runner = web.AppRunner(app)
    await runner.setup()
    port = free_port()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    slack = FakeSlack()
    slack.add_user(ALICE, name="alice")
    slack.add_channel(CHANNEL, name=CHANNEL_NAME, members=[ALICE])
    await slack.start()
    url = f"http://127.0.0.1:{port}/slack/events"
    try:
        client = AsyncWebClient(token=slack.bot_token, base_url=slack.api_url)
        opened = []
        for notify in (False, True):
            sent = await slack.send_slash_command(url, user_id=ALICE, channel_id=CHANNEL, text="")
            view = {
                "type": "modal",
                "title": {"type": "plain_text", "text": "A form"},
                "notify_on_close": notify,
                "blocks": [{"type": "section", "text": {"type": "mrkdwn", "text": "Hi"}}],
            }
            answer = await client.views_open(trigger_id=str(sent.trigger_id), view=view)
            opened.append(answer["view"]["id"])
        with pytest.raises(ValueError, match="no open modal"):
            await slack.close_view(url, user_id=BOB, view_id=opened[0])  # not his
        before = slack.changes
        assert await slack.close_view(url, user_id=ALICE, view_id=opened[0]) is None
        assert len(received) == 2 and slack.changes == before + 1
        closed = await slack.close_view(url, user_id=ALICE, view_id=opened[1])
        assert closed is not None and closed.status == 200
        assert received[-1]["type"] == "view_closed" and received[-1]["view"]["id"] == opened[1]
        assert slack.views(ALICE) == []
    finally:
        await slack.stop()
        await runner.cleanup()


def test_a_modal_s_inputs_become_slack_s_state_values() -> None:
    option = {"text": {"type": "plain_text", "text": "One hour"}, "value": "60"}
    view = {
        "blocks": [
            {
                "type": "input",
                "block_id": "who",
                "element": {"type": "users_select", "action_id": "w"},
            },
            {
                "type": "input",
                "block_id": "len",
                "element": {"type": "static_select", "action_id": "l", "options": [option]},
            },
            {
                "type": "input",
                "block_id": "note",
                "optional": True,
                "element": {"type": "plain_text_input", "action_id": "n", "max_length": 5},
            },
            {
                "type": "input",
                "block_id": "day",
                "element": {"type": "datepicker", "action_id": "d"},
            },
            {"type": "section", "block_id": "s", "text": {"type": "mrkdwn", "text": "x"}},
        ]
    }
    typed = {"who": {"w": ALICE}, "len": {"l": "60"}, "note": {"n": "too long"}, "day": {"d": ""}}
    values, problems = state_values(view, typed)
    assert values == {
        "who": {"w": {"type": "users_select", "selected_user": ALICE}},
        "len": {"l": {"type": "static_select", "selected_option": option}},
        "note": {"n": {"type": "plain_text_input", "value": "too long"}},
        "day": {"d": {"type": "datepicker", "selected_date": None}},
    }
    assert problems == {"note": "Please enter no more than 5 characters.", "day": REQUIRED_FIELD}


def test_typed_text_is_escaped_and_mentions_become_slack_s() -> None:
    slack = FakeSlack()
    slack.add_user(ALICE, name="alice")
    ui = SandboxUI(
        slack=slack,
        bot_url="http://127.0.0.1:1",
        channel_id=CHANNEL,
        channel_name=CHANNEL_NAME,
        people=PEOPLE,
    )
    assert ui.encode_typed("book @alice & @nobody <x> a@b.c #other") == (
        f"book <@{ALICE}|alice> &amp; @nobody &lt;x&gt; a@b.c #other"
    )
    # In a message, mentions are `<@U…>`, the bot's too, and web addresses links.
    assert ui.encode_typed("@Tonomo see https://example.com/?a=1&b=2 @alice", links=True) == (
        f"<@{slack.bot_user_id}> see <https://example.com/?a=1&amp;b=2> <@{ALICE}>"
    )


def test_the_demo_calendars_hold_two_weeks_of_realistic_busy_time() -> None:
    google = FakeGoogle()
    seed_calendars(google, date(2026, 3, 2))  # a Monday; the clocks change on the 8th
    alice = google.events(EMAILS[ALICE])
    assert any(e.get("transparency") == "transparent" for e in alice)  # marked available
    assert any("date" in e["start"] for e in alice)  # a day off
    declined = [
        e
        for e in alice
        if any(a.get("self") and a["responseStatus"] == "declined" for a in e.get("attendees", []))
    ]
    assert declined and declined[0]["organizer"]["email"] != EMAILS[ALICE]
    for email in (EMAILS[ALICE], EMAILS[BOB], EMAILS[CARMEN]):
        days = {e["start"].get("date") or e["start"]["dateTime"][:10] for e in google.events(email)}
        assert len(days) >= 10 and max(days) <= "2026-03-15"
    assert any("Weekly team call" in e["summary"] for e in google.events(PRIMARY_EMAIL))

    # Recurring events, as their instances (three weeks; the clocks change on the 8th).
    def instances(email: str, summary: str) -> list[str]:
        start = datetime(2026, 3, 2, tzinfo=ZoneInfo(ZONE))
        window = (start, start + timedelta(days=22))
        return [
            e.resource["start"]["dateTime"]
            for e in single_events(google.accounts[email].primary, window)
            if e.resource["summary"] == summary and e.resource["status"] != "cancelled"
        ]

    school_runs = instances(EMAILS[BOB], "School run")
    assert len(school_runs) == 15  # weekdays at 15:00 in New York, either side of the change
    assert {run[10:] for run in school_runs} == {"T15:00:00-05:00", "T15:00:00-04:00"}
    assert not any(run.startswith("2026-03-06") for run in school_runs)  # the expo
    assert instances(EMAILS[ALICE], "Weekly team call") == [
        "2026-03-02T08:30:00-05:00",
        "2026-03-10T08:30:00-04:00",  # moved from Monday the 9th; the 16th's cancelled
        "2026-03-23T08:30:00-04:00",
    ]


async def test_python_app_py_sandbox_port_serves_the_page_there() -> None:
    port = free_port()
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        str(ROOT / "app.py"),
        "--sandbox",
        "--port",
        str(port),
        stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    assert process.stdout is not None
    output = ""
    try:
        while "Ctrl-C stops it" not in output:  # printed once the demo is seeded
            line = await asyncio.wait_for(process.stdout.readline(), timeout=30)
            assert line, f"the sandbox stopped early:\n{output}"
            output += line.decode()
        async with ClientSession() as http:
            async with http.get(f"http://127.0.0.1:{port}/") as response:
                assert response.status == 200 and "person-switcher" in await response.text()
            async with http.get(
                f"http://127.0.0.1:{port}/sandbox/api/state", params={"as": "carmen"}
            ) as response:
                assert len((await response.json())["messages"]) == 4
    finally:
        process.send_signal(signal.SIGINT)
        code = await asyncio.wait_for(process.wait(), timeout=20)
    rest = (await process.stdout.read()).decode()
    assert code == 0 and "Traceback" not in output + rest
    assert f"    http://127.0.0.1:{port}/\n" in output  # the one URL to open, on its own line
    assert "Slack emulator" in output and "Google emulator" in output
    with pytest.raises(ClientConnectionError):
        async with ClientSession() as http, http.get(f"http://127.0.0.1:{port}/healthz"):
            pass
