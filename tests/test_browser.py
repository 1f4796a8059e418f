"""The sandbox end to end in headless Chromium, in its Slack Connect channel.

Carmen, a photographer of Acme Photo (another organisation than the workspace that installed
the app), has only the channel: Slack refuses her `/tonomo` and she has no Home tab. She
connects her calendar from the channel panel's "Connect my calendar" through Google's consent
pages, asks who is free with the panel's Availability form, books herself with its Book
form, and mentions the bot in a thread, which answers there. Olivia, the owner (of Acme
Photo too), mentions the bot to ask for availability, book a suggested slot and post the
digest; Sam, the vendor's onboarder, still has `/tonomo` and the Home tab. At a desktop's
width and a phone's (375 px), a week's availability grid stays a grid that scrolls sideways,
and a message's hover time never overlaps "Only visible to you". Screenshots of each step
are kept in `test-artifacts/browser/`.

Debian's `chromium` is driven by Playwright (which downloads no browser of its own).
Without it the test is skipped, unless `TONOMO_REQUIRE_BROWSER=1` (CI) makes that a
failure.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from playwright.async_api import (
    Browser,
    BrowserContext,
    FloatRect,
    Locator,
    Page,
    async_playwright,
)
from playwright.async_api import expect as playwright_expect

from sandbox.run import CARMEN, CUSTOMER, EMAILS, ONBOARDER, OWNER, ZONE, Sandbox, running_sandbox
from tests.conftest import free_port
from tests.test_sandbox import free_day

ARTIFACTS = Path(os.environ.get("TONOMO_ARTIFACTS", "test-artifacts")) / "browser"
CHROMIUM = os.environ.get("TONOMO_CHROMIUM") or shutil.which("chromium")
WAIT_MS = 15_000

expect = playwright_expect
expect.set_options(timeout=WAIT_MS)


@pytest.fixture
async def browser() -> AsyncIterator[Browser]:
    if CHROMIUM is None:
        if os.environ.get("TONOMO_REQUIRE_BROWSER") == "1":
            pytest.fail("Chromium is required (apt-get install chromium) but was not found")
        pytest.skip("Chromium is not installed (apt-get install chromium)")
    async with async_playwright() as playwright:
        launched = await playwright.chromium.launch(executable_path=CHROMIUM, headless=True)
        yield launched
        await launched.close()


@pytest.fixture
async def sandbox() -> AsyncIterator[Sandbox]:
    async with running_sandbox(free_port()) as running:
        yield running


async def shot(page: Page, name: str) -> None:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    await page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True)


async def type_command(page: Page, text: str) -> None:
    await page.get_by_test_id("composer").fill(text)
    await page.get_by_test_id("send-button").click()


def next_working_day() -> str:
    day = datetime.now(ZoneInfo(ZONE)).date() + timedelta(days=2)
    while day.weekday() >= 5:
        day += timedelta(days=1)
    return day.isoformat()


def panel(page: Page) -> Locator:
    """The channel's panel: the checklist message and its buttons."""
    return page.get_by_test_id("message").filter(has_text="Getting started with Tonomo").first


def only_mine(page: Page, text: str) -> Locator:
    """The ephemeral messages ("Only visible to you") holding `text`."""
    return (
        page.get_by_test_id("message").filter(has_text="Only visible to you").filter(has_text=text)
    )


async def consent(context: BrowserContext, link: Locator, email: str, prefix: str) -> None:
    """A sign-in link opens Google's consent pages in a new tab, walked to the bot's page."""
    async with context.expect_page() as opened:
        await link.click()
    google = await opened.value
    await google.wait_for_load_state()
    await expect(google.locator("body")).to_contain_text("Choose an account")
    await shot(google, f"{prefix}-google-choose-account")
    await google.get_by_role("button", name=email).first.click()
    await expect(google.locator("body")).to_contain_text("verified this app")
    await shot(google, f"{prefix}-google-unverified-warning")
    await google.get_by_role("link", name="Show Advanced").click()
    await google.get_by_role("button", name="(unsafe)").click()
    await expect(google.locator("body")).to_contain_text("wants access to your Google Account")
    await shot(google, f"{prefix}-google-consent")
    await google.get_by_role("button", name="Allow").click()
    await expect(google.locator("body")).to_contain_text(email)  # the bot's callback page
    await shot(google, f"{prefix}-callback-page")
    await google.close()


async def test_an_external_photographer_connects_asks_and_books_from_the_panel(
    browser: Browser, sandbox: Sandbox
) -> None:
    context = await browser.new_context(viewport={"width": 1280, "height": 900})
    page = await context.new_page()
    await page.goto(sandbox.url + "?as=carmen")
    messages = page.get_by_test_id("message-list")
    await expect(messages).to_contain_text("connected")  # the seed's notices
    await expect(page.get_by_test_id("my-org-badge")).to_have_text(CUSTOMER)
    await expect(page.get_by_test_id("home-unavailable")).to_contain_text("no Home tab")
    await expect(page.get_by_test_id("home-tab-link")).to_have_attribute("aria-disabled", "true")
    await shot(page, "01-channel-as-carmen")

    # Slack refuses her /tonomo: the app belongs to another organisation's workspace.
    await type_command(page, "/tonomo connect-calendar")
    refusal = only_mine(page, "isn't available to you")
    await expect(refusal.last).to_be_visible()
    await expect(refusal.last.get_by_test_id("message-author")).to_have_text("Slackbot")
    await shot(page, "02-slash-command-refused")

    # The panel's "Connect my calendar": her own link, only for her, to Google's pages.
    await panel(page).get_by_role("button", name="Connect my calendar", exact=True).click()
    link = only_mine(page, "Connect my calendar").get_by_role("link", name="Connect my calendar")
    await expect(link.last).to_be_visible()
    await shot(page, "03-personal-link")
    await consent(context, link.last, EMAILS[CARMEN], "04")
    await expect(messages).to_contain_text(f"connected their calendar ({EMAILS[CARMEN]})")

    # The panel's Availability: a modal (who, when, how long), answered only to her.
    await panel(page).get_by_role("button", name="Availability", exact=True).click()
    modal = page.get_by_test_id("modal")
    await expect(modal).to_contain_text("Who is free?")
    await modal.locator('select[data-block-id="who"]').select_option(value=CARMEN)
    await modal.locator('select[data-block-id="when"]').select_option(value="next week")
    await shot(page, "05-availability-form")
    await page.get_by_test_id("modal-submit").click()
    await expect(modal).to_have_count(0)
    answer = only_mine(page, "Availability")
    await expect(answer.last).to_be_visible()
    await expect(answer.last).to_contain_text("carmen", ignore_case=True)
    await shot(page, "06-availability-answer")

    # The panel's Book: she books herself (staff may book only themselves).
    day = free_day(sandbox.google, EMAILS[CARMEN], "16:00", "17:00")
    await panel(page).get_by_role("button", name="Book", exact=True).click()
    await expect(modal).to_contain_text("Book a staff member")
    await modal.locator('select[data-block-id="staff"]').select_option(value=CARMEN)
    await modal.locator('input[data-block-id="day"]').fill(day)
    await modal.locator('input[data-block-id="time"]').fill("16:00")
    await modal.locator('input[data-block-id="duration"]').fill("1h")
    await modal.locator('input[data-block-id="title"]').fill("Headshots at 5 Pier St")
    await shot(page, "07-booking-form")
    await page.get_by_test_id("modal-submit").click()
    await expect(modal).to_have_count(0)
    booked = page.get_by_test_id("message").filter(has_text="Headshots at 5 Pier St")
    await expect(booked.last).to_be_visible()
    await expect(booked.last).to_have_attribute("data-ephemeral", "false")  # in the channel
    await shot(page, "08-booked-herself")

    # A question in the channel, then a mention in its thread: answered in the thread.
    await type_command(page, "Does anyone have the Pier St keys?")
    question = messages.get_by_test_id("message").filter(has_text="Pier St keys")
    await question.last.hover()
    await question.last.get_by_test_id("reply-in-thread").click()
    thread = page.get_by_test_id("thread-pane")
    await expect(thread).to_be_visible()
    await thread.get_by_test_id("thread-composer").fill("@Tonomo status")
    await thread.get_by_test_id("thread-send-button").click()
    in_thread = thread.get_by_test_id("message").filter(has_text="Only visible to you")
    await expect(in_thread.last).to_contain_text("Calendar connections")
    summary = question.last.get_by_test_id("thread-replies")  # under it in the channel
    await expect(summary).to_contain_text("1 reply · 1 only visible to you")
    await shot(page, "09-mention-answered-in-thread")
    await thread.get_by_test_id("thread-close").click()
    await expect(thread).to_be_hidden()
    await context.close()


async def test_the_owner_mentions_and_the_onboarder_types_commands(
    browser: Browser, sandbox: Sandbox
) -> None:
    context = await browser.new_context(viewport={"width": 1280, "height": 900})
    page = await context.new_page()
    await page.goto(sandbox.url + f"?as={OWNER}")
    await expect(page.get_by_test_id("message-list")).to_contain_text("connected")

    # Olivia (Acme Photo) asks who is free on a working day, mentioning the bot.
    day = next_working_day()
    await type_command(page, f"@Tonomo availability {day}")
    answer = only_mine(page, "Availability")
    await expect(answer.last).to_be_visible()
    await expect(answer.last).to_contain_text("–")  # free ranges like 9:00–10:00
    await shot(page, "10-owner-availability-by-mention")

    # Booking a slot twice: the second attempt clashes and offers the nearest free slots.
    booked = page.get_by_test_id("message").filter(has_text="Booked")
    offers = page.get_by_test_id("message").filter(has_text="The nearest free times")
    for _ in range(2):
        await type_command(page, f"@Tonomo book @alice {day} 11:00 1h Twilight shoot")
        await expect(offers.or_(booked).last).to_be_visible()
    await expect(offers.last).to_be_visible()
    await shot(page, "11-conflict-with-offers")
    before = await booked.count()
    await offers.last.get_by_test_id("block-button").first.click()
    await expect(booked).to_have_count(before + 1)
    await expect(booked.last).to_contain_text("Twilight shoot")
    await shot(page, "12-booked")

    # Today's digest, posted at once.
    await type_command(page, "@Tonomo digest now")
    digest = page.get_by_test_id("message").filter(has_text="Today's availability")
    await expect(digest.last).to_be_visible()
    await expect(digest.last).to_contain_text("Read live from Google")
    await shot(page, "13-digest")

    # Sam, the vendor's onboarder, has /tonomo and the Home tab.
    await page.get_by_test_id("person-switcher").select_option(value=ONBOARDER)
    await expect(page.get_by_test_id("home-unavailable")).to_be_hidden()
    await type_command(page, "/tonomo status")
    status = only_mine(page, "Calendar connections")
    await expect(status.last).to_be_visible()
    await shot(page, "14-onboarder-status")
    await page.get_by_test_id("home-tab-link").click()
    # His desk: the channel where he is the onboarder (not an earlier tab still showing).
    await expect(page.get_by_test_id("home-view")).to_contain_text("Your desk")
    await expect(page.get_by_test_id("home-view")).to_contain_text("#acme-photo-onboarding")
    await shot(page, "15-onboarder-home-tab")
    await context.close()


def zone_where_it_is_eleven() -> str:
    """A fixed-offset zone whose clock says 11 o'clock now: two-digit hours (10:00 to 12:59
    for the minutes a test takes) are the widest times the page shows."""
    offset = (11 - datetime.now(UTC).hour + 12) % 24 - 12  # -12 … 11 hours from UTC
    return f"Etc/GMT{-offset:+d}"  # POSIX's sign: Etc/GMT-3 is three hours east


def overlaps(a: FloatRect | None, b: FloatRect | None) -> bool:
    assert a is not None and b is not None
    return (
        a["x"] < b["x"] + b["width"]
        and b["x"] < a["x"] + a["width"]
        and a["y"] < b["y"] + b["height"]
        and b["y"] < a["y"] + a["height"]
    )


@pytest.mark.parametrize(("width", "name"), [(1280, "desktop"), (375, "375px")])
async def test_the_week_grid_stays_a_grid_and_the_hover_time_stays_clear(
    browser: Browser, sandbox: Sandbox, width: int, name: str
) -> None:
    context = await browser.new_context(
        viewport={"width": width, "height": 800}, timezone_id=zone_where_it_is_eleven()
    )
    page = await context.new_page()
    await page.goto(sandbox.url + f"?as={ONBOARDER}")
    await expect(page.get_by_test_id("message-list")).to_contain_text("connected")

    # Two answers only Sam sees, one after the other: the second is a continued message,
    # whose time appears in the gutter on hover, beside "Only visible to you".
    await type_command(page, "/tonomo help")
    await expect(only_mine(page, "/tonomo help").last).to_be_visible()
    await type_command(page, "/tonomo availability next week")
    grid_message = only_mine(page, "Availability")
    await expect(grid_message.last.locator("pre")).to_be_visible()
    answer = page.get_by_test_id("message").last
    await expect(answer).to_contain_text("Availability")
    await answer.scroll_into_view_if_needed()
    await answer.hover()
    time = answer.get_by_test_id("gutter-time")
    await expect(time).to_be_visible()
    note = answer.get_by_test_id("ephemeral-note")
    assert not overlaps(await time.bounding_box(), await note.bounding_box())

    # The grid keeps its lines whole; at a phone's width it scrolls sideways, and only it.
    grid = grid_message.last.locator("pre").first
    style = await grid.evaluate(
        "pre => ({white: getComputedStyle(pre).whiteSpace, scroll: pre.scrollWidth,"
        " client: pre.clientWidth, overflow: getComputedStyle(pre).overflowX,"
        " page: document.documentElement.scrollWidth})"
    )
    assert style["white"] == "pre" and style["overflow"] == "auto"
    assert style["page"] <= width  # the page itself never scrolls sideways
    if width < 600:
        assert style["scroll"] > style["client"]
    await shot(page, f"16-week-grid-and-hover-time-{name}")
    await grid.evaluate("pre => { pre.scrollLeft = pre.scrollWidth; }")
    await shot(page, f"17-week-grid-scrolled-{name}")
    await context.close()
