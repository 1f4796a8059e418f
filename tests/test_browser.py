"""The sandbox end to end in headless Chromium: a photographer connects her calendar
through Google's consent pages, the owner asks for availability, books a suggested slot,
and posts the digest. Screenshots of each step are kept in `test-artifacts/browser/`.

Debian's `chromium` is driven by Playwright (which downloads no browser of its own).
Without it the test is skipped, unless `TONOMO_REQUIRE_BROWSER=1` (CI) makes that a
failure.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import AsyncIterator
from datetime import datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from playwright.async_api import Browser, Page, async_playwright
from playwright.async_api import expect as playwright_expect

from sandbox.run import CARMEN, EMAILS, OWNER, ZONE, Sandbox, running_sandbox
from tests.conftest import free_port

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


async def test_connect_ask_book_and_digest_in_the_browser(
    browser: Browser, sandbox: Sandbox
) -> None:
    context = await browser.new_context(viewport={"width": 1280, "height": 900})
    page = await context.new_page()
    await page.goto(sandbox.url + "?as=carmen")
    messages = page.get_by_test_id("message-list")
    await expect(messages).to_contain_text("connected")  # the seed's notices
    await shot(page, "01-channel-as-carmen")

    # Carmen asks for her link; it opens Google's consent pages in a new tab.
    await type_command(page, "/tonomo connect-calendar")
    link = (
        page.get_by_test_id("message")
        .filter(has_text="Only visible to you")
        .get_by_role("link", name="Connect my calendar")
    )
    await expect(link.last).to_be_visible()
    await shot(page, "02-personal-link")
    async with context.expect_page() as opened:
        await link.last.click()
    google = await opened.value
    await google.wait_for_load_state()
    await expect(google.locator("body")).to_contain_text("Choose an account")
    await shot(google, "03-google-choose-account")
    email = EMAILS[CARMEN]
    await google.get_by_role("button", name=email).first.click()
    await expect(google.locator("body")).to_contain_text("verified this app")
    await shot(google, "04-google-unverified-warning")
    await google.get_by_role("link", name="Show Advanced").click()
    await google.get_by_role("button", name="(unsafe)").click()
    await expect(google.locator("body")).to_contain_text("wants access to your Google Account")
    await shot(google, "05-google-consent")
    await google.get_by_role("button", name="Allow").click()
    await expect(google.locator("body")).to_contain_text(email)  # the bot's callback page
    await shot(google, "06-callback-page")
    await google.close()
    await expect(messages).to_contain_text("Carmen")

    # The owner asks who is free on a working day.
    await page.get_by_test_id("person-switcher").select_option(value=OWNER)
    day = next_working_day()
    await type_command(page, f"/tonomo availability {day}")
    answer = page.get_by_test_id("message").filter(has_text="Availability")
    await expect(answer.last).to_be_visible()
    await expect(answer.last).to_contain_text("–")  # free ranges like 9:00–10:00
    await shot(page, "07-availability")

    # Booking a slot twice: the second attempt clashes and offers the nearest free slots.
    booked = page.get_by_test_id("message").filter(has_text="Booked")
    for _ in range(2):
        await type_command(page, f"/tonomo book @alice {day} 11:00 1h Twilight shoot")
        offers = page.get_by_test_id("message").filter(has_text="The nearest free times")
        await expect(offers.or_(booked).last).to_be_visible()
    await expect(offers.last).to_be_visible()
    await shot(page, "08-conflict-with-offers")
    before = await booked.count()
    await offers.last.get_by_test_id("block-button").first.click()
    await expect(booked).to_have_count(before + 1)
    await expect(booked.last).to_contain_text("Twilight shoot")
    await shot(page, "09-booked")

    # Today's digest, posted at once.
    await type_command(page, "/tonomo digest now")
    digest = page.get_by_test_id("message").filter(has_text="Today's availability")
    await expect(digest.last).to_be_visible()
    await expect(digest.last).to_contain_text("Read live from Google")
    await shot(page, "10-digest")

    # The Home tab shows Olivia's own connection (the primary calendar).
    await page.get_by_test_id("home-tab-link").click()
    await expect(page.get_by_test_id("home-view")).to_contain_text("primary")
    await shot(page, "11-home-tab")
    await context.close()
