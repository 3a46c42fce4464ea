"""The staff console over HTTP: the cookie session and its CSRF token, scope,
and each action reaching the same services (and audit trail) as the API.
tests/test_console_browser.py drives the same pages in a real browser."""

import re
from datetime import timedelta
from itertools import count
from types import SimpleNamespace
from typing import Any, cast

import httpx
import pytest
from fastapi.responses import Response
from sqlalchemy import select

from app.console import auth
from app.core import tokens
from app.core.clock import utcnow
from app.core.config import Settings
from app.core.schemas import MAX_ID
from app.models import AuditEvent, Staff, StaffRole
from tests.conftest import make_settings, running
from tests.factories import (
    STAFF_PASSWORD,
    Api,
    Headers,
    bearer,
    book,
    days_ahead,
    door,
    local,
    organization,
)
from tests.test_docs import EXTERNAL
from tests.test_doors import study_room, try_code
from tests.test_errors import assert_problem
from tests.test_lifecycle import Clock
from tests.test_series import book_series, next_tuesday

pytestmark = pytest.mark.dates

DAY = days_ahead(1)
CSRF = re.compile(r'name="csrf" value="([0-9a-f]{64})"')


async def console(api: Api, username: str, password: str = STAFF_PASSWORD) -> httpx.AsyncClient:
    """A browser of its own: a client with its own cookie jar on the same app."""
    client = httpx.AsyncClient(transport=api.client._transport, base_url="http://test")
    response = await log_in(client, username, password)
    assert response.status_code == 303, response.text
    return client


async def log_in(client: httpx.AsyncClient, username: str, password: str) -> httpx.Response:
    """The login form as a browser sends it: with the CSRF token of its page."""
    token = csrf_of(await client.get("/console/login"))
    return await client.post(
        "/console/login", data={"username": username, "password": password, "csrf": token}
    )


_usernames = count(1)


async def staff_member(api: Api, role: StaffRole = StaffRole.super_admin, **scope: Any) -> str:
    username = f"console-{next(_usernames)}"
    await api.create_staff_row(role, username=username, **scope)
    return username


def csrf_of(page: httpx.Response) -> str:
    found = CSRF.search(page.text)
    assert found, page.text[:500]
    return found.group(1)


async def post(client: httpx.AsyncClient, path: str, **form: str) -> httpx.Response:
    """A form post from a page's own CSRF token, as a browser sends it."""
    token = csrf_of(await client.get("/console/today"))
    return await client.post(path, data={"csrf": token, **form})


async def reservation(api: Api, headers: Headers, reservation_id: int) -> dict[str, Any]:
    response = await api.client.get(f"/api/v1/reservations/{reservation_id}", headers=headers)
    assert response.status_code == 200, response.text
    found: dict[str, Any] = response.json()
    return found


async def audit_actions(api: Api, entity: str, entity_id: int) -> list[tuple[str, str]]:
    async with api.database.reader() as session:
        rows = await session.execute(
            select(AuditEvent.action, AuditEvent.actor_kind)
            .where(AuditEvent.entity == entity, AuditEvent.entity_id == entity_id)
            .order_by(AuditEvent.id)
        )
        return [(action, kind.value) for action, kind in rows]


async def pending_request(api: Api, staff: Headers | None = None) -> tuple[int, Headers, int]:
    staff = staff or await api.staff()
    space = await api.space(headers=staff, requires_approval=True)
    resident = await api.resident()
    response = await book(api, resident, space["id"], DAY, "10:00", "12:00")
    assert response.json()["status"] == "pending", response.text
    return int(response.json()["id"]), resident, int(space["id"])


# --- the session --------------------------------------------------------------------


async def test_login_gives_a_strict_http_only_cookie_and_logout_ends_it(api: Api) -> None:
    username = await staff_member(api)
    client = httpx.AsyncClient(transport=api.client._transport, base_url="http://test")
    first = await client.get("/console/today")
    assert (first.status_code, first.headers["location"]) == (303, "/console/login")

    wrong = await log_in(client, username, "nope")
    assert wrong.status_code == 401
    assert "用户名或密码错误" in wrong.text

    right = await log_in(client, username.upper(), STAFF_PASSWORD)
    assert (right.status_code, right.headers["location"]) == (303, "/console/today")
    cookie = right.headers["set-cookie"]
    assert cookie.startswith(f"{auth.COOKIE}=")
    for attribute in ("HttpOnly", "SameSite=strict", "Path=/console"):
        assert attribute.lower() in cookie.lower(), cookie
    assert "secure" not in cookie.lower()  # development serves plain http
    today = await client.get("/console/today")
    assert today.status_code == 200
    assert username in today.text

    refused = await client.post("/console/logout", data={"csrf": "0" * 64})
    assert refused.status_code == 403
    out = await client.post("/console/logout", data={"csrf": csrf_of(today)})
    assert (out.status_code, out.headers["location"]) == (303, "/console/login")
    assert (await client.get("/console/today")).status_code == 303


async def test_signing_out_ends_every_session_of_the_staff_member(
    api: Api, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A copy of the cookie and an API token issued before the sign-out stop
    working with it; signing in again works at once."""
    username = await staff_member(api)
    earlier = utcnow() - timedelta(seconds=5)
    monkeypatch.setattr("app.core.tokens.utcnow", lambda: earlier)  # signed in a while ago
    client = await console(api, username)
    copied = httpx.AsyncClient(
        transport=api.client._transport, base_url="http://test", cookies=client.cookies
    )
    issued = await api.client.post(
        "/api/v1/auth/token", data={"username": username, "password": STAFF_PASSWORD}
    )
    api_token = bearer(issued.json()["access_token"])
    monkeypatch.undo()
    centers = "/api/v1/admin/centers"
    assert (await copied.get("/console/today")).status_code == 200
    assert (await api.client.get(centers, headers=api_token)).status_code == 200

    out = await post(client, "/console/logout")
    assert (out.status_code, out.headers["location"]) == (303, "/console/login")
    assert (await copied.get("/console/today")).headers["location"] == "/console/login"
    assert_problem(await api.client.get(centers, headers=api_token), 401, "invalid_token")
    again = await console(api, username)
    assert (await again.get("/console/today")).status_code == 200


def test_the_cookie_is_secure_in_production() -> None:
    response = Response()
    settings = cast(Settings, SimpleNamespace(env="production"))
    auth.start_session(response, settings, tokens.IssuedToken("token", 3600))
    assert "secure" in response.headers["set-cookie"].lower()


async def test_a_deactivated_account_is_sent_back_to_the_login(api: Api) -> None:
    username = await staff_member(api)
    client = await console(api, username)
    async with api.database.writer.begin() as session:
        staff = await session.scalar(select(Staff).where(Staff.username == username))
        assert staff is not None
        staff.is_active = False
    page = await client.get("/console/approvals")
    assert (page.status_code, page.headers["location"]) == (303, "/console/login")


async def test_login_has_the_apis_rate_limit(database_url: str) -> None:
    settings = make_settings(database_url, rate_limit_login_per_username="2 per minute")
    async with running(settings) as api:
        username = await staff_member(api)
        client = httpx.AsyncClient(transport=api.client._transport, base_url="http://test")
        for _ in range(2):
            failed = await log_in(client, username, "wrong")
            assert failed.status_code == 401
        limited = await log_in(client, username, STAFF_PASSWORD)
        assert limited.status_code == 429
        assert "请求过于频繁" in limited.text


async def test_a_post_without_the_sessions_csrf_token_changes_nothing(api: Api) -> None:
    reservation_id, resident, _ = await pending_request(api)
    client = await console(api, await staff_member(api))
    other = await console(api, await staff_member(api))
    others_token = csrf_of(await other.get("/console/today"))
    for form in ({}, {"csrf": ""}, {"csrf": others_token}):
        refused = await client.post(f"/console/bookings/{reservation_id}/approve", data=form)
        assert refused.status_code == 403, form
    assert (await reservation(api, resident, reservation_id))["status"] == "pending"


# --- approvals and bookings -----------------------------------------------------------


async def test_approve_and_reject_go_through_the_service_and_are_audited(api: Api) -> None:
    approved, resident, _ = await pending_request(api)
    rejected, other, _ = await pending_request(api)
    client = await console(api, await staff_member(api))
    queue = await client.get("/console/approvals")
    assert f"/console/bookings/{approved}/approve" in queue.text
    assert queue.text.index(f"approval-{approved}") < queue.text.index(f"approval-{rejected}")

    done = await post(client, f"/console/bookings/{approved}/approve?back=/console/approvals")
    assert done.status_code == 303
    assert done.headers["location"].startswith("/console/approvals?notice=")
    assert (await reservation(api, resident, approved))["status"] == "confirmed"
    assert ("approve", "staff") in await audit_actions(api, "reservation", approved)

    no_reason = await post(client, f"/console/bookings/{rejected}/reject", reason="  ")
    assert "error=" in no_reason.headers["location"]
    assert (await reservation(api, other, rejected))["status"] == "pending"
    await post(client, f"/console/bookings/{rejected}/reject", reason="当天有党员大会")
    after = await reservation(api, other, rejected)
    assert (after["status"], after["status_reason"]) == ("rejected", "当天有党员大会")

    again = await post(client, f"/console/bookings/{approved}/approve")
    page = await client.get(again.headers["location"])
    assert 'class="error"' in page.text  # already confirmed: the service's refusal, shown


async def test_a_series_waits_as_one_request_and_is_decided_at_once(api: Api) -> None:
    staff = await api.staff()
    hall = await api.space(headers=staff, requires_approval=True, advance_days=60)
    single, resident, _ = await pending_request(api, staff)
    weekly, monthly = [
        (await book_series(api, await api.resident(), hall["id"], first, rule)).json()
        for first, rule in (
            (next_tuesday(), "FREQ=WEEKLY;COUNT=3"),
            (next_tuesday() + timedelta(days=1), "FREQ=MONTHLY;COUNT=2"),
        )
    ]
    client = await console(api, await staff_member(api))
    queue = (await client.get("/console/approvals")).text
    assert f"approval-{single}" in queue
    for series in (weekly, monthly):
        assert f'id="series-{series["id"]}"' in queue
        for item in series["occurrences"]:  # listed under their series, not apart
            assert f"approval-{item['reservation_id']}" not in queue
            assert f"/console/bookings/{item['reservation_id']}" in queue
    assert f"重复预约 #{weekly['id']} · {hall['name']} · 3 次" in queue

    done = await post(client, f"/console/series/{weekly['id']}/approve")
    assert done.headers["location"].startswith("/console/approvals?notice=")
    read = await api.client.get(f"/api/v1/reservation-series/{weekly['id']}", headers=staff)
    assert {item["status"] for item in read.json()["occurrences"]} == {"confirmed"}
    no_reason = await post(client, f"/console/series/{monthly['id']}/reject", reason=" ")
    assert "error=" in no_reason.headers["location"]
    await post(client, f"/console/series/{monthly['id']}/reject", reason="场地维修")
    read = await api.client.get(f"/api/v1/reservation-series/{monthly['id']}", headers=staff)
    assert {item["status"] for item in read.json()["occurrences"]} == {"rejected"}
    queue = (await client.get("/console/approvals")).text
    assert "series-" not in queue
    assert f"approval-{single}" in queue
    again = await post(client, f"/console/series/{weekly['id']}/approve")
    assert "error=" in again.headers["location"]  # nothing pending: the service's refusal


async def test_scope_is_the_apis(api: Api) -> None:
    mine, elsewhere = await api.center(), await api.center(district="嘉定区")
    admin = await api.staff()
    space = await api.space(elsewhere["id"], headers=admin, requires_approval=True, name="外区室")
    resident = await api.resident()
    foreign = (await book(api, resident, space["id"], DAY, "10:00", "11:00")).json()["id"]
    client = await console(
        api, await staff_member(api, StaffRole.center_admin, center_ids=[mine["id"]])
    )
    assert "外区室" not in (await client.get("/console/today")).text
    assert f"approval-{foreign}" not in (await client.get("/console/approvals")).text
    hidden = await client.get(f"/console/bookings/{foreign}")
    assert hidden.status_code == 303
    assert "error=" in hidden.headers["location"]
    refused = await post(client, f"/console/bookings/{foreign}/approve")
    assert "error=" in refused.headers["location"]
    assert (await reservation(api, resident, foreign))["status"] == "pending"


async def test_cancel_with_a_reason_check_in_and_check_out(
    api: Api, monkeypatch: pytest.MonkeyPatch
) -> None:
    clock = Clock(monkeypatch, "app.reservations.attendance", "app.reservations.service")
    staff = await api.staff()
    space = await api.space(headers=staff)
    resident = await api.resident()
    first = (await book(api, resident, space["id"], DAY, "10:00", "11:00")).json()["id"]
    second = (await book(api, resident, space["id"], DAY, "14:00", "16:00")).json()["id"]
    client = await console(api, await staff_member(api))
    search = await client.get(
        "/console/bookings", params={"space_id": space["id"], "from": DAY.isoformat()}
    )
    assert f"/console/bookings/{first}" in search.text

    await post(client, f"/console/bookings/{first}/cancel", reason="设备检修")
    cancelled = await reservation(api, resident, first)
    assert (cancelled["status"], cancelled["status_reason"]) == ("cancelled", "设备检修")

    clock.at(DAY, "14:05")
    await post(client, f"/console/bookings/{second}/check-in")
    assert (await reservation(api, resident, second))["status"] == "checked_in"
    clock.at(DAY, "15:10")
    await post(client, f"/console/bookings/{second}/check-out")
    done = await reservation(api, resident, second)
    assert done["status"] == "completed"
    assert done["end"] == local(DAY, "15:30").isoformat()
    detail = await client.get(f"/console/bookings/{second}")
    for action in ("签到（工作人员）", "签退（工作人员）"):  # the history, in Chinese
        assert action in detail.text


async def test_bookings_are_found_by_phone_tail_and_organization(api: Api) -> None:
    staff = await api.staff()
    space = await api.space(headers=staff)
    owner = await api.resident()
    company = await organization(api, owner, name="长风数字科技有限公司")
    on_account = await book(
        api, owner, space["id"], DAY, "10:00", "11:00", organization_id=company["id"]
    )
    personal = await book(api, await api.resident(), space["id"], DAY, "12:00", "13:00")
    client = await console(api, await staff_member(api))
    found = await client.get(
        "/console/bookings", params={"organization": "长风数字", "from": DAY.isoformat()}
    )
    assert f"/console/bookings/{on_account.json()['id']}" in found.text
    assert f'/console/bookings/{personal.json()["id"]}"' not in found.text
    bad = await client.get("/console/bookings", params={"phone": "12ab"})
    assert bad.status_code == 422


# --- doors, organizations, spaces, reports ----------------------------------------------


async def test_doors_show_the_lockout_clear_it_and_rotate_the_key(api: Api) -> None:
    room = await study_room(api, requires_real_name=False)
    door_id, device = await door(api, room)
    for _ in range(5):
        await try_code(api, door_id, device, "00000000")
    client = await console(api, await staff_member(api))
    page = await client.get("/console/doors")
    assert "键盘锁定至" in page.text
    assert "unknown_code" in page.text
    assert "00000000" not in page.text  # codes typed are never stored, nor shown

    await post(client, f"/console/doors/{door_id}/clear-lockout")
    assert "键盘锁定至" not in (await client.get("/console/doors")).text
    assert ("clear_lockout", "staff") in await audit_actions(api, "door", door_id)

    rotated = await post(client, f"/console/doors/{door_id}/rotate-key")
    assert rotated.status_code == 200
    new_key = re.search(r'<code id="new-key">([^<]+)</code>', rotated.text)
    assert new_key
    assert (await try_code(api, door_id, device, "12345678")).status_code == 401
    fresh = {"Authorization": f"Device {new_key.group(1)}"}
    assert (await try_code(api, door_id, fresh, "12345678")).status_code == 200
    assert "new-key" not in (await client.get("/console/doors")).text  # shown once


async def test_organizations_are_verified_or_rejected_with_a_reason(api: Api) -> None:
    first = await organization(api, await api.resident(), verified=False)
    second = await organization(api, await api.resident(), verified=False)
    client = await console(api, await staff_member(api))
    queue = await client.get("/console/organizations")
    assert first["uscc"] in queue.text
    await post(client, f"/console/organizations/{first['id']}/verify")
    await post(client, f"/console/organizations/{second['id']}/reject", reason="执照已过期")
    listed = await api.client.get(
        "/api/v1/admin/organizations", params={"limit": 100}, headers=await api.staff()
    )
    status = {row["id"]: (row["status"], row["status_reason"]) for row in listed.json()["items"]}
    assert status[first["id"]] == ("verified", None)
    assert status[second["id"]] == ("rejected", "执照已过期")


async def test_space_settings_closures_and_quotas(api: Api) -> None:
    staff = await api.staff()
    space = await api.space(headers=staff)
    client = await console(api, await staff_member(api))
    page = await client.get(f"/console/spaces/{space['id']}")
    assert "1 09:00-21:00" in page.text
    saved = await post(
        client,
        f"/console/spaces/{space['id']}/settings",
        name=space["name"],
        capacity="20",
        advance_days="7",
        cancel_before_minutes="30",
        modify_before_minutes="60",
        is_active="on",
        requires_approval="on",
        holiday_policy="weekend_hours",
        opening_hours="1 08:00-12:00\n2 08:00-12:00",
    )
    assert "notice=" in saved.headers["location"], saved.headers["location"]
    read = (await api.client.get(f"/api/v1/admin/spaces/{space['id']}", headers=staff)).json()
    assert (read["capacity"], read["advance_days"], read["requires_approval"]) == (20, 7, True)
    assert read["modify_before_minutes"] == 60
    assert read["holiday_policy"] == "weekend_hours"
    assert len(read["opening_hours"]) == 2

    bad = await post(
        client, f"/console/spaces/{space['id']}/settings", name="", capacity="0", advance_days="7"
    )
    assert "error=" in bad.headers["location"]
    unchanged = await api.client.get(f"/api/v1/admin/spaces/{space['id']}", headers=staff)
    assert unchanged.json()["capacity"] == 20

    await post(
        client,
        f"/console/spaces/{space['id']}/closures",
        start=f"{DAY.isoformat()}T09:00",  # <input type=datetime-local>, Shanghai time
        end=f"{DAY.isoformat()}T12:00",
        reason="消防演练",
    )
    closures = await api.client.get(f"/api/v1/admin/spaces/{space['id']}/closures", headers=staff)
    [closure] = closures.json()["items"]
    assert (closure["start"], closure["reason"]) == (local(DAY, "09:00").isoformat(), "消防演练")

    await post(
        client,
        f"/console/spaces/{space['id']}/quotas",
        subject_0="organization",
        metric_0="bookings_per_week",
        max_value_0="3",
    )
    quotas = await api.client.get(f"/api/v1/admin/spaces/{space['id']}/quotas", headers=staff)
    assert [(q["metric"], q["max_value"]) for q in quotas.json()["items"]] == [
        ("bookings_per_week", 3)
    ]
    for wrong in ({"subject_0": "nobody"}, {"max_value_0": "3.5"}, {"max_value_0": "1001"}):
        form = {"subject_0": "user", "metric_0": "future_bookings", "max_value_0": "2", **wrong}
        refused = await post(client, f"/console/spaces/{space['id']}/quotas", **form)
        assert "error=" in refused.headers["location"], wrong
    kept = await api.client.get(f"/api/v1/admin/spaces/{space['id']}/quotas", headers=staff)
    assert kept.json() == quotas.json()
    actions = [action for action, _ in await audit_actions(api, "space", space["id"])]
    assert actions == ["update", "add_closure", "replace_quotas"]


async def test_a_spaces_calendar_feed_is_shown_once(api: Api) -> None:
    staff = await api.staff()
    space = await api.space(headers=staff)
    booked = (await book(api, await api.resident(), space["id"], DAY, "10:00", "11:00")).json()
    client = await console(api, await staff_member(api))
    shown = await post(client, f"/console/spaces/{space['id']}/calendar-feed")
    assert shown.status_code == 200
    url = re.search(r'<code id="feed-url">([^<]+)</code>', shown.text)
    assert url
    feed = await api.client.get(url.group(1).removeprefix("http://test"))  # no cookie, no bearer
    assert feed.status_code == 200
    assert f"reservation-{booked['id']}@zhendi" in feed.text
    assert "feed-url" not in (await client.get(f"/console/spaces/{space['id']}")).text

    again = await post(client, f"/console/spaces/{space['id']}/calendar-feed")
    assert again.status_code == 200
    old = await api.client.get(url.group(1).removeprefix("http://test"))
    assert old.status_code == 404  # a new URL revokes the old
    missing = await post(client, f"/console/spaces/{MAX_ID}/calendar-feed")
    assert missing.status_code == 303
    assert "error=" in missing.headers["location"]


async def test_the_report_downloads_as_csv(api: Api) -> None:
    staff = await api.staff()
    space = await api.space(headers=staff, name="报表会议室")
    resident = await api.resident()
    await book(api, resident, space["id"], DAY, "10:00", "12:00")
    client = await console(api, await staff_member(api))
    params = {"from": DAY.isoformat(), "to": DAY.isoformat(), "space_id": str(space["id"])}
    page = await client.get("/console/reports", params=params)
    assert "报表会议室" in page.text
    csv = await client.get("/console/reports/download", params={**params, "format": "csv"})
    assert csv.content.startswith("\ufeff".encode())
    lines = csv.content.decode("utf-8-sig").splitlines()
    header = lines[0].split(",")
    row = dict(zip(header, lines[1].split(","), strict=True))
    assert (row["空间名称"], row["预约小时"], row["预约数"]) == ("报表会议室", "2.0", "1")


# --- nothing from another host ------------------------------------------------------------


async def test_no_console_page_refers_to_another_host(api: Api) -> None:
    pending, _, space_id = await pending_request(api)
    room = await study_room(api, requires_real_name=False)
    await door(api, room)
    await organization(api, await api.resident(), verified=False)
    client = await console(api, await staff_member(api))
    pages = [
        "/console/login",
        "/console/today",
        "/console/today/board",
        "/console/approvals",
        "/console/bookings",
        f"/console/bookings/{pending}",
        "/console/doors",
        "/console/organizations",
        "/console/spaces",
        f"/console/spaces/{space_id}",
        "/console/reports",
        "/console/today/sheet",
        f"/console/spaces/{space_id}/feedback",
        f"/console/spaces/{space_id}/check-in-qr",
        "/console/spaces/new",
        "/console/violations",
        "/console/inbox",
        "/console/calendar",
        "/console/centers",
        "/console/questionnaires",
        "/console/book",
        "/console/static/console.css",
        "/console/static/console.js",
        "/docs",
        "/redoc",
    ]
    for path in pages:
        page = await client.get(path)
        assert page.status_code == 200, path
        assert EXTERNAL.findall(page.text) == [], path
        for asset in re.findall(r'(?:src|href)="(/[^"]+\.(?:css|js|png))"', page.text):
            assert (await client.get(asset)).status_code == 200, asset
