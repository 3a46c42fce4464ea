"""The console and Swagger UI in a real headless Chromium (Debian's package,
driven by Playwright), against a real ``zhendi serve`` on the test database.

Every page visited is saved as a screenshot under ``artifacts/console/``
(``ZHENDI_TEST_ARTIFACTS`` moves it), which CI keeps.
"""

import csv
import io
import os
import re
import shutil
from collections.abc import AsyncIterator, Iterator
from datetime import timedelta
from pathlib import Path

import httpx
import pytest
from playwright.async_api import Browser, Page, ViewportSize, async_playwright, expect

from app.models import StaffRole
from app.reports.exports import HEADERS_ZH
from tests.conftest import IN_CI
from tests.factories import STAFF_PASSWORD, Api, book, days_ahead, door
from tests.servers import servers
from tests.test_doors import study_room, try_code
from tests.test_lifecycle import no_show
from tests.test_series import book_series

# The console is served by a `zhendi serve` process, on the real clock.
pytestmark = pytest.mark.real_clock

DAY = days_ahead(1)
ARTIFACTS = Path(
    os.environ.get("ZHENDI_TEST_ARTIFACTS", Path(__file__).parent.parent / "artifacts")
)
PHONE: ViewportSize = {"width": 390, "height": 844}


def chromium_path() -> str:
    found = shutil.which("chromium") or shutil.which("chromium-browser")
    if found is None:
        message = "Chromium is not installed (apt-get install chromium chromium-driver)"
        if IN_CI:
            pytest.fail(f"{message}; CI=true requires it", pytrace=False)
        pytest.skip(message)
    return found


@pytest.fixture
async def browser() -> AsyncIterator[Browser]:
    executable = chromium_path()
    async with async_playwright() as playwright:
        launched = await playwright.chromium.launch(
            executable_path=executable, args=["--no-sandbox", "--disable-dev-shm-usage"]
        )
        try:
            yield launched
        finally:
            await launched.close()


@pytest.fixture
def server(database_url: str, tmp_path: Path, api: Api) -> Iterator[str]:
    """A served app on the test database (``api`` made it and cleans it up after)."""
    with servers(database_url, 1, tmp_path / "server") as running:
        yield running.urls[0]


async def screenshot(page: Page, name: str, engine: str) -> None:
    folder = ARTIFACTS / "console"
    folder.mkdir(parents=True, exist_ok=True)
    await page.screenshot(path=folder / f"{name}-{engine}.png", full_page=True)


async def log_in(page: Page, base: str, username: str) -> None:
    await page.goto(f"{base}/console/today")
    await expect(page).to_have_url(f"{base}/console/login")
    await page.fill("input[name=username]", username)
    await page.fill("input[name=password]", STAFF_PASSWORD)
    await page.click("button[type=submit]")
    await expect(page).to_have_url(f"{base}/console/today")


async def status_of(api: Api, reservation_id: int) -> tuple[str, str | None]:
    staff = await api.staff()
    found = await api.client.get(f"/api/v1/reservations/{reservation_id}", headers=staff)
    body = found.json()
    return body["status"], body["status_reason"]


async def test_a_center_admins_day_in_the_console(
    api: Api, server: str, browser: Browser, engine_name: str
) -> None:
    center = await api.center(name="长风湾测试中心")
    admin = await api.staff()
    hall = await api.space(center["id"], headers=admin, name="议事厅", requires_approval=True)
    room = await api.space(center["id"], headers=admin, name="洽谈室")
    resident = await api.resident()
    request = (await book(api, resident, hall["id"], DAY, "14:00", "16:00")).json()["id"]
    weekly = await book_series(
        api, await api.resident(), hall["id"], DAY + timedelta(days=1), "FREQ=WEEKLY;COUNT=2"
    )
    series_id = weekly.json()["id"]
    booked = (await book(api, resident, room["id"], DAY, "10:00", "11:00")).json()["id"]
    seats = await study_room(api, requires_real_name=False)
    door_id, device = await door(api, seats)
    for _ in range(5):
        await try_code(api, door_id, device, "00000000")
    await api.create_staff_row(
        StaffRole.center_admin, username="changfengwan-test", center_ids=[center["id"]]
    )
    super_admin = "browser-super"
    await api.create_staff_row(StaffRole.super_admin, username=super_admin)

    page = await browser.new_page(viewport=PHONE, accept_downloads=True)
    await log_in(page, server, "changfengwan-test")
    await page.goto(f"{server}/console/today?date={DAY.isoformat()}")
    await expect(page.locator(f"#space-{room['id']}")).to_contain_text("10:00–11:00")
    await expect(page.locator(f"#space-{hall['id']}")).to_contain_text("待审批")
    await screenshot(page, "today", engine_name)
    overflow = await page.evaluate(
        "document.documentElement.scrollWidth - document.documentElement.clientWidth"
    )
    assert overflow <= 0  # no sideways scrolling on a phone

    await page.goto(f"{server}/console/approvals")
    await expect(page.locator(f"#approval-{request}")).to_be_visible()
    await expect(page.locator(f"#series-{series_id}")).to_contain_text("2 次")
    await screenshot(page, "approvals", engine_name)
    await page.locator(f"#approval-{request} button[name=approve]").click()
    await expect(page.locator(".notice")).to_contain_text(f"#{request} 已批准")
    assert await status_of(api, request) == ("confirmed", None)
    await page.locator(f"#series-{series_id} button[name=approve]").click()
    await expect(page.locator(".notice")).to_contain_text(f"#{series_id} 已整体批准")

    await page.goto(f"{server}/console/bookings?from={DAY.isoformat()}")
    await screenshot(page, "bookings", engine_name)
    await page.click(f"a[href='/console/bookings/{booked}']")
    await page.fill("form[action$='/cancel'] input[name=reason]", "空调检修")
    await page.click("button[name=cancel]")
    await expect(page.locator("#status")).to_have_text("已取消")
    await screenshot(page, "booking", engine_name)
    assert await status_of(api, booked) == ("cancelled", "空调检修")

    await page.goto(f"{server}/console/reports?from={DAY.isoformat()}&to={DAY.isoformat()}")
    await expect(page.locator("#report")).to_contain_text("议事厅")
    await screenshot(page, "reports", engine_name)
    async with page.expect_download() as downloading:
        await page.click("#download-csv")
    download = await downloading.value
    content = Path(await download.path()).read_bytes()
    assert content.startswith(b"\xef\xbb\xbf")
    zh = HEADERS_ZH  # the console's download speaks Chinese
    rows = {row[zh["space_name"]]: row for row in csv.DictReader(io.StringIO(content.decode()[1:]))}
    assert rows["议事厅"][zh["booked_hours"]] == "2.0"  # the approved request
    assert rows["洽谈室"][zh["cancellations"]] == "1"

    await page.goto(f"{server}/console/spaces")
    await screenshot(page, "spaces", engine_name)
    await page.click(f"a[href='/console/spaces/{hall['id']}']")
    await screenshot(page, "space", engine_name)

    # The study room's door is another center's: a super admin clears it.
    await page.context.clear_cookies()
    await log_in(page, server, super_admin)
    await page.goto(f"{server}/console/doors")
    await expect(page.locator(f"#door-{door_id} .lockout")).to_be_visible()
    await screenshot(page, "doors", engine_name)
    await page.locator(f"#door-{door_id} button[name=clear]").click()
    await expect(page.locator(".notice")).to_contain_text("已解锁")
    await expect(page.locator(f"#door-{door_id} .lockout")).to_have_count(0)
    doors = await api.client.get(
        "/api/v1/admin/doors", params={"space_id": seats}, headers=await api.staff()
    )
    assert [item["locked_until"] for item in doors.json()["items"]] == [None]

    await page.goto(f"{server}/console/organizations")
    await screenshot(page, "organizations", engine_name)


async def test_the_board_refreshes_without_a_reload(
    api: Api, server: str, browser: Browser
) -> None:
    admin = await api.staff()
    room = await api.space(headers=admin, name="刷新会议室")
    await api.create_staff_row(StaffRole.super_admin, username="board-watcher")
    page = await browser.new_page()
    await log_in(page, server, "board-watcher")
    await page.goto(f"{server}/console/today?date={DAY.isoformat()}")
    await page.evaluate("window.stillTheSamePage = true")
    await expect(page.locator(f"#space-{room['id']}")).to_contain_text("当天无预约")

    await book(api, await api.resident(), room["id"], DAY, "09:00", "10:30")
    await page.evaluate("document.getElementById('board').dispatchEvent(new Event('refresh'))")
    await expect(page.locator(f"#space-{room['id']}")).to_contain_text("09:00–10:30")
    assert await page.evaluate("window.stillTheSamePage") is True


async def test_swagger_ui_logs_staff_in_with_the_password_flow(
    api: Api, server: str, browser: Browser, engine_name: str
) -> None:
    await api.create_staff_row(StaffRole.super_admin, username="swagger-staff")
    page = await browser.new_page()
    outside: list[str] = []
    page.on(
        "request",
        lambda request: None if request.url.startswith(server) else outside.append(request.url),
    )
    await page.goto(f"{server}/docs")
    await page.click("button.authorize")
    staff = page.locator(".auth-container").filter(has_text="StaffToken")
    await staff.locator("#oauth_username").fill("swagger-staff")
    await staff.locator("#oauth_password").fill(STAFF_PASSWORD)
    await staff.locator("button.authorize").click()
    await expect(staff).to_contain_text("Logout")
    await screenshot(page, "swagger-authorized", engine_name)
    await page.click("button.btn-done")

    operation = page.locator("#operations-admin-read_staff_me_api_v1_admin_me_get")
    await operation.locator(".opblock-summary").click()
    await operation.locator("button.try-out__btn").click()
    async with page.expect_response(f"{server}/api/v1/admin/me") as answered:
        await operation.locator("button.execute").click()
    response = await answered.value
    assert response.status == 200
    assert (await response.json())["username"] == "swagger-staff"
    assert outside == []  # nothing fetched from another host


async def test_appeals_the_check_in_code_and_the_day_sheet_in_the_console(
    api: Api, server: str, browser: Browser, engine_name: str
) -> None:
    """A super admin pardons an appeal, prints a room's check-in code and the
    day's sheet, and sets a holiday for a center."""
    center = await api.center(name="长寿测试中心")
    room = await api.space(center["id"], headers=await api.staff(), name="多功能厅")
    seats = await study_room(api, requires_real_name=False, requires_check_in=True)
    resident = await api.resident()
    await no_show(api, resident, seats, 1)
    violations = await api.client.get("/api/v1/me/standing", headers=resident)
    violation_id = violations.json()["violations"][0]["id"]
    appeal = f"/api/v1/me/violations/{violation_id}/appeal"
    await api.client.post(appeal, json={"reason": "突发急病"}, headers=resident)
    await book(api, await api.resident(), room["id"], DAY, "09:00", "11:00")
    await api.create_staff_row(StaffRole.super_admin, username="walk-super")

    page = await browser.new_page(viewport=PHONE)
    await log_in(page, server, "walk-super")
    await page.goto(f"{server}/console/violations")
    row = page.locator(f"#violation-{violation_id}")
    await expect(row).to_contain_text("突发急病")
    await screenshot(page, "violations", engine_name)
    await row.locator("form[action*='/pardon'] input[name=reason]").fill("有就医证明")
    await row.locator("form[action*='/pardon'] button").click()
    await expect(page.locator(".notice")).to_contain_text(f"违约 #{violation_id} 已撤销")
    standing = await api.client.get("/api/v1/me/standing", headers=resident)
    assert standing.json()["violations"][0]["status"] == "pardoned"

    await page.goto(f"{server}/console/spaces/{room['id']}/check-in-qr")
    await expect(page.locator("#check-in-sheet")).to_contain_text("多功能厅")
    code = await page.locator("#check-in-sheet svg").bounding_box()
    assert code is not None
    assert code["width"] > 200  # the code fills its box, not its drawn size
    await screenshot(page, "check-in-code", engine_name)
    await page.emulate_media(media="print")
    await expect(page.locator("header")).to_be_hidden()  # the sheet alone on paper
    await screenshot(page, "check-in-code-print", engine_name)
    await page.emulate_media(media="screen")

    await page.goto(f"{server}/console/today?date={DAY.isoformat()}")
    await expect(page.locator("#legend")).to_be_visible()
    await screenshot(page, "today-board", engine_name)
    await page.click("#day-sheet-link")
    await expect(page.locator("#day-sheet")).to_contain_text("09:00–11:00")
    await page.emulate_media(media="print")
    await screenshot(page, "day-sheet-print", engine_name)
    await page.emulate_media(media="screen")

    day = days_ahead(25).isoformat()
    await page.goto(f"{server}/console/calendar?day={day}")
    await page.select_option("#day-form select[name=scope]", f"center:{center['id']}")
    await page.fill("#day-form input[name=name]", "中心检修")
    await page.click("#day-form button[type=submit]")
    await expect(page.locator("#overrides")).to_contain_text("中心检修")
    await screenshot(page, "calendar", engine_name)

    await page.goto(f"{server}/console/inbox")
    await screenshot(page, "inbox", engine_name)


def test_the_server_fixture_is_real(server: str) -> None:
    assert httpx.get(f"{server}/readyz").status_code == 200


async def test_the_console_and_the_docs_run_under_their_content_security_policy(
    api: Api, server: str, browser: Browser
) -> None:
    """Every page, the board's refresh, a form and the API docs, with nothing
    refused by the policy and no script error (Chromium reports a refused
    script, style or connection as a console error and a
    ``securitypolicyviolation`` event)."""
    center = await api.center()
    admin = await api.staff()
    room = await api.space(center["id"], headers=admin, name="策略会议室", holiday_policy="open")
    hall = await api.space(
        center["id"],
        headers=admin,
        name="策略议事厅",
        requires_approval=True,
        holiday_policy="open",
    )
    resident = await api.resident()
    booked = (await book(api, resident, room["id"], DAY, "10:00", "11:00")).json()["id"]
    waiting = (await book(api, resident, hall["id"], DAY, "14:00", "15:00")).json()["id"]
    await api.create_staff_row(StaffRole.super_admin, username="policy-watcher")

    page = await browser.new_page(viewport=PHONE)
    problems: list[str] = []
    page.on(
        "console",
        lambda message: (
            problems.append(f"{message.text} ({message.location.get('url')}) on {page.url}")
            if message.type == "error"
            else None
        ),
    )
    page.on("pageerror", lambda error: problems.append(str(error)))
    await page.add_init_script(
        "document.addEventListener('securitypolicyviolation', (event) =>"
        " console.error('CSP: ' + event.violatedDirective + ' ' + event.blockedURI))"
    )
    await log_in(page, server, "policy-watcher")
    day = DAY.isoformat()
    for path in (
        f"/console/today?date={day}",
        "/console/approvals",
        f"/console/bookings?from={day}",
        f"/console/bookings/{booked}",
        "/console/doors",
        "/console/organizations",
        "/console/spaces",
        f"/console/spaces/{room['id']}",
        f"/console/reports?from={day}&to={day}",
        f"/console/today/sheet?date={day}",
        f"/console/spaces/{room['id']}/check-in-qr",
        f"/console/spaces/{room['id']}/feedback",
        "/console/violations",
        "/console/inbox",
        f"/console/calendar?day={day}",
        "/console/centers",
        f"/console/centers/{center['id']}",
        "/console/spaces/new",
        "/console/questionnaires",
        "/console/book",
    ):
        await page.goto(f"{server}{path}")
        await expect(page.locator("main")).to_be_visible()
    await page.goto(f"{server}/console/today?date={day}")
    slot = page.locator(f"#space-{room['id']} .timeline rect.slot")
    box = await slot.bounding_box()
    assert box is not None
    assert box["width"] > 10  # an hour of a phone-wide day, drawn from SVG attributes
    await page.evaluate("document.getElementById('board').dispatchEvent(new Event('refresh'))")
    await expect(page.locator("#board")).to_have_attribute("data-refreshed", re.compile(r"\d+"))
    await page.goto(f"{server}/console/approvals")
    await page.locator(f"#approval-{waiting} button[name=approve]").click()
    await expect(page.locator(".notice")).to_contain_text(f"预约 #{waiting} 已批准")

    # The API docs render a large document: slow on a busy machine.
    await page.goto(f"{server}/docs")
    operation = page.locator("#operations-admin-read_staff_me_api_v1_admin_me_get")
    await expect(operation).to_be_visible(timeout=60_000)
    await page.goto(f"{server}/redoc")
    await expect(page.locator("redoc h1").first).to_be_visible(timeout=60_000)
    # ReDoc's bundle shows its vendor's logo from a CDN: the policy refuses it,
    # as nothing is fetched from another host. Nothing else may be refused.
    cdn_logo = "https://cdn.redoc.ly/redoc/logo-mini.svg"
    assert [problem for problem in problems if cdn_logo not in problem] == []
