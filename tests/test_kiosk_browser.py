"""The screen at the door (门口屏) in a real headless Chromium against a real
``zhendi serve``: it draws the space's state, and through a network loss it
keeps the last state with its time and says the network is down. Screenshots
go to ``artifacts/console/kiosk-*.png``."""

import pytest
from playwright.async_api import Browser, ViewportSize, expect

from tests.factories import Api, book, days_ahead, verified_resident
from tests.test_console_browser import browser, screenshot, server  # noqa: F401 (fixtures)
from tests.test_kiosk import issue
from tests.test_occupancy import STUDY_ROOM

pytestmark = pytest.mark.real_clock

TABLET: ViewportSize = {"width": 1280, "height": 800}


async def test_the_screen_shows_the_room_and_survives_a_network_loss(
    api: Api,
    server: str,  # noqa: F811
    browser: Browser,  # noqa: F811
    engine_name: str,
) -> None:
    room = await api.space(**STUDY_ROOM, name="阅心书斋", description="保持安静，离开请签退")
    resident = await verified_resident(api)
    booked = await book(api, resident, room["id"], days_ahead(1), "09:00", "10:00")
    # days_ahead(1) is tomorrow in Shanghai: the screen names its date.
    assert booked.status_code == 201, booked.text
    issued = await issue(api, room["id"])
    context = await browser.new_context(viewport=TABLET)
    page = await context.new_page()
    await page.goto(f"{server}{issued['url']}")
    await expect(page.locator("h1")).to_have_text("阅心书斋")
    await expect(page.locator("#free")).to_have_text("3 / 3")
    await expect(page.locator("#timeline .slot")).to_have_count(48)
    tomorrow = days_ahead(1)
    await expect(page.locator("#next")).to_contain_text(
        f"{tomorrow.month}月{tomorrow.day}日 09:00–10:00"
    )
    await expect(page.locator("#qr svg")).to_have_count(1)
    await expect(page.locator("#rules")).to_have_text("保持安静，离开请签退")
    await expect(page.locator("#offline")).to_be_hidden()
    updated = await page.locator("#updated").text_content()
    await screenshot(page, "kiosk", engine_name)

    await context.set_offline(True)
    await page.evaluate("window.zhendiKiosk.refresh()")
    await expect(page.locator("#offline")).to_be_visible()
    await expect(page.locator("#free")).to_have_text("3 / 3")
    await expect(page.locator("#updated")).to_have_text(updated or "")
    await screenshot(page, "kiosk-offline", engine_name)

    await context.set_offline(False)
    await page.evaluate("window.zhendiKiosk.refresh()")
    await expect(page.locator("#offline")).to_be_hidden()
    await context.close()
