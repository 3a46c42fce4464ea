"""The console's headers, its login form's CSRF token, and messages that come
from codes, never from the address (README, "Security"). The browser half,
that the console runs under its policy, is in tests/test_console_browser.py."""

import base64
import hashlib
import re

import httpx
import pytest

from app.models import StaffRole
from tests.factories import STAFF_PASSWORD, Api, book, days_ahead, door, organization
from tests.test_console import console, csrf_of, post, staff_member
from tests.test_doors import study_room

pytestmark = pytest.mark.dates

DAY = days_ahead(1)
INLINE_SCRIPT = re.compile(r"<script(?![^>]*\bsrc=)[^>]*>", re.IGNORECASE)
HANDLER = re.compile(r"<[^>]+\son[a-z]+\s*=", re.IGNORECASE)
STYLE_ATTRIBUTE = re.compile(r"<[^>]+\sstyle\s*=", re.IGNORECASE)
SPOOF = "<script>alert(1)</script>您的账号已停用，请致电 021-00000000"


async def waiting_request(api: Api) -> tuple[int, int]:
    """A request waiting for approval, tomorrow in a room open on holidays too."""
    space = await api.space(requires_approval=True)
    response = await book(api, await api.resident(), space["id"], DAY, "10:00", "12:00")
    assert response.json()["status"] == "pending", response.text
    return int(response.json()["id"]), int(space["id"])


def directives(response: httpx.Response) -> dict[str, list[str]]:
    policy = response.headers.get("content-security-policy", "")
    found = {}
    for part in filter(None, (piece.strip() for piece in policy.split(";"))):
        name, *values = part.split()
        found[name] = values
    return found


def assert_console_headers(response: httpx.Response, path: str) -> None:
    assert response.headers.get("x-content-type-options") == "nosniff", path
    assert response.headers.get("referrer-policy") == "same-origin", path
    policy = directives(response)
    assert policy.get("default-src") == ["'self'"], (path, policy)
    assert policy.get("script-src") == ["'self'"], (path, policy)  # no inline script
    assert policy.get("style-src") == ["'self'"], (path, policy)
    assert policy.get("frame-ancestors") == ["'none'"], (path, policy)
    assert policy.get("form-action") == ["'self'"], (path, policy)
    assert policy.get("base-uri") == ["'none'"], (path, policy)


async def console_pages(api: Api) -> tuple[httpx.AsyncClient, list[str]]:
    """A signed-in console and every page it has, each with something to show."""
    pending, space_id = await waiting_request(api)
    room = await api.space(headers=await api.staff())
    assert (await book(api, await api.resident(), room["id"], DAY, "10:00", "11:00")).is_success
    seats = await study_room(api, requires_real_name=False)
    await door(api, seats)
    await organization(api, await api.resident(), verified=False)
    client = await console(api, await staff_member(api))
    day = DAY.isoformat()
    return client, [
        "/console/login",
        f"/console/today?date={day}",
        f"/console/today/board?date={day}",
        "/console/approvals",
        f"/console/bookings?from={day}",
        f"/console/bookings/{pending}",
        "/console/doors",
        "/console/organizations",
        "/console/spaces",
        f"/console/spaces/{space_id}",
        f"/console/reports?from={day}&to={day}",
    ]


async def test_every_console_response_carries_the_security_headers(api: Api) -> None:
    client, pages = await console_pages(api)
    for path in pages:
        page = await client.get(path)
        assert page.status_code == 200, path
        assert_console_headers(page, path)
        # What the policy would block is not there to block.
        assert INLINE_SCRIPT.findall(page.text) == [], path
        assert HANDLER.findall(page.text) == [], path
        assert STYLE_ATTRIBUTE.findall(page.text) == [], path
    assert 'class="slot s-confirmed"' in (await client.get(pages[1])).text  # the timeline
    others = {
        "/console": 303,
        "/console/static/console.css": 200,
        "/console/static/console.js": 200,
        "/console/reports/download?format=csv": 200,
    }
    for path, status in others.items():
        response = await client.get(path)
        assert response.status_code == status, path
        assert_console_headers(response, path)
    refused = await client.post("/console/logout", data={"csrf": "0" * 64})
    assert refused.status_code == 403
    assert_console_headers(refused, "403")
    outsider = httpx.AsyncClient(transport=api.client._transport, base_url="http://test")
    to_login = await outsider.get("/console/approvals")
    assert to_login.status_code == 303
    assert_console_headers(to_login, "redirect")


async def test_the_api_and_its_docs_are_not_framed_nor_sniffed(api: Api) -> None:
    for path in ("/api/v1/centers", "/healthz", "/api/v1/no-such-thing", "/openapi.json"):
        response = await api.client.get(path)
        assert response.headers.get("x-content-type-options") == "nosniff", path
        policy = directives(response)
        assert policy.get("default-src") == ["'none'"], path
        assert policy.get("frame-ancestors") == ["'none'"], path

    swagger = await api.client.get("/docs")
    policy = directives(swagger)
    assert policy["frame-ancestors"] == ["'none'"]
    assert "'unsafe-inline'" not in policy["script-src"]
    [inline] = re.findall(r"<script>(.*?)</script>", swagger.text, re.DOTALL)
    digest = base64.b64encode(hashlib.sha256(inline.encode()).digest()).decode()
    assert policy["script-src"] == ["'self'", f"'sha256-{digest}'"]  # its own script only
    redoc = directives(await api.client.get("/redoc"))
    assert (redoc["script-src"], redoc["frame-ancestors"]) == (["'self'"], ["'none'"])


# --- the login form --------------------------------------------------------------------


async def test_the_login_form_needs_its_csrf_token(api: Api) -> None:
    username = await staff_member(api)
    right = {"username": username, "password": STAFF_PASSWORD}

    def browser() -> httpx.AsyncClient:
        return httpx.AsyncClient(transport=api.client._transport, base_url="http://test")

    victim = browser()
    forged = await victim.post("/console/login", data=right)  # another site's form
    assert forged.status_code == 403
    assert "zhendi_console=" not in forged.headers.get("set-cookie", "")
    token = csrf_of(await victim.get("/console/login"))
    attacker = browser()  # another browser: its own nonce and token
    attackers_token = csrf_of(await attacker.get("/console/login"))
    for form in ({}, {"csrf": ""}, {"csrf": "0" * 64}, {"csrf": attackers_token}):
        refused = await victim.post("/console/login", data={**right, **form})
        assert refused.status_code == 403, form
        assert "zhendi_console=" not in refused.headers.get("set-cookie", ""), form
        assert "登录页面已过期" in refused.text
    no_nonce = await browser().post("/console/login", data={**right, "csrf": token})
    assert no_nonce.status_code == 403  # the token alone, without its browser's cookie

    signed_in = await victim.post("/console/login", data={**right, "csrf": token})
    assert (signed_in.status_code, signed_in.headers["location"]) == (303, "/console/today")
    assert (await victim.get("/console/today")).status_code == 200


# --- messages by code --------------------------------------------------------------------


async def test_error_and_notice_texts_in_the_address_are_not_shown(api: Api) -> None:
    client = await console(api, await staff_member(api))
    for path in ("/console/today", "/console/approvals", "/console/login"):
        page = await client.get(path, params={"error": SPOOF, "notice": SPOOF, "ref": SPOOF})
        assert page.status_code == 200, path
        assert "alert(1)" not in page.text, path
        assert "021-00000000" not in page.text, path
        assert "操作未能完成，请刷新页面后重试" in page.text, path  # an unknown code

    known = await client.get("/console/today", params={"error": "slot_taken"})
    assert '<p class="error" role="alert">' in known.text
    assert "slot_taken" not in known.text
    assert "操作未能完成" not in known.text
    notice = await client.get("/console/today", params={"notice": "approved", "ref": "12"})
    assert "预约 #12 已批准" in notice.text
    unknown = await client.get("/console/today", params={"notice": "nonsense"})
    assert 'class="notice"' not in unknown.text


async def test_actions_send_back_codes(api: Api) -> None:
    reservation_id, _ = await waiting_request(api)
    center = await api.center(district="嘉定区")
    client = await console(
        api, await staff_member(api, StaffRole.center_admin, center_ids=[center["id"]])
    )
    refused = await post(client, f"/console/bookings/{reservation_id}/approve")
    assert refused.status_code == 303
    assert refused.headers["location"] == f"/console/bookings/{reservation_id}?error=not_found"
    shown = await client.get(refused.headers["location"], follow_redirects=True)
    assert str(shown.url).endswith("/console/bookings?error=not_found")  # hidden, so sent on
    assert "资源不存在" in shown.text

    admin = await console(api, await staff_member(api))
    no_reason = await post(admin, f"/console/bookings/{reservation_id}/reject", reason=" ")
    assert no_reason.headers["location"].endswith("?error=invalid_form")
    done = await post(admin, f"/console/bookings/{reservation_id}/approve?back=/console/approvals")
    assert done.headers["location"] == f"/console/approvals?notice=approved&ref={reservation_id}"
    shown = await admin.get(done.headers["location"])
    assert f"预约 #{reservation_id} 已批准" in shown.text
