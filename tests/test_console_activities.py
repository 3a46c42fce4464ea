"""The console's activities over HTTP (login, CSRF), on both engines: the list,
creating a draft or a published activity, publishing, cancelling with a
reason, scope, checking a sign-up in and counting walk-ins, the board's week
and the report's download; and the pages in a real browser."""

import re
from datetime import timedelta
from typing import Any

import httpx
import pytest
from playwright.async_api import Browser, expect
from sqlalchemy import select, update

from app.core.clock import SHANGHAI, utcnow
from app.models import Activity, ActivitySignup, AuditEvent, SignupStatus, StaffRole
from app.reports.router import XLSX
from tests.factories import Api, Headers, book, days_ahead, local, slot
from tests.test_console import console, csrf_of, post, staff_member
from tests.test_console_browser import PHONE, browser, log_in, screenshot, server  # noqa: F401
from tests.test_docs import EXTERNAL
from tests.test_lifecycle import Clock

pytestmark = pytest.mark.dates

DAY = days_ahead(3)
REPORT = "/api/v1/admin/reports/activities"


def form(**overrides: str) -> dict[str, str]:
    """The create form as a browser sends it (datetime-local: Shanghai time)."""
    return {
        "title": "党课：学习党章",
        "category": "party_lecture",
        "start": f"{DAY.isoformat()}T19:00",
        "end": f"{DAY.isoformat()}T20:30",
        "capacity": "30",
        "audience": "public",
        "description": "支部书记讲党课",
        **overrides,
    }


async def read(api: Api, activity_id: int, headers: Headers) -> dict[str, Any]:
    answer = await api.client.get(f"/api/v1/activities/{activity_id}", headers=headers)
    assert answer.status_code == 200, answer.text
    found: dict[str, Any] = answer.json()
    return found


async def created_id(answer: httpx.Response) -> int:
    assert answer.status_code == 303, answer.text[:2000]
    found = re.match(r"/console/activities/(\d+)\?notice=(\w+)", answer.headers["location"])
    assert found, answer.headers["location"]
    return int(found.group(1))


async def a_center(api: Api) -> tuple[dict[str, Any], Headers, httpx.AsyncClient]:
    """A center, an API token and a console session of its center admin."""
    center = await api.center()
    staff = await api.staff(StaffRole.center_admin, center_ids=[center["id"]])
    username = await staff_member(api, StaffRole.center_admin, center_ids=[center["id"]])
    return center, staff, await console(api, username)


async def published(api: Api, headers: Headers, center_id: int, **body: Any) -> dict[str, Any]:
    answer = await api.client.post(
        "/api/v1/activities",
        json={
            "title": "社区开放日",
            "category": "open_day",
            "center_id": center_id,
            "place_text": "中心一楼大厅",
            **slot(DAY, "19:00", "20:30"),
            "capacity": 20,
            "publish": True,
            **body,
        },
        headers=headers,
    )
    assert answer.status_code == 201, answer.text
    found: dict[str, Any] = answer.json()
    return found


# --- list, create, publish, cancel ---------------------------------------------------------


async def test_staff_create_a_draft_and_a_published_activity_and_list_them(api: Api) -> None:
    center, staff, client = await a_center(api)
    space = await api.space(center["id"], headers=staff, name="活动议事厅")
    new = await client.get("/console/activities/new")
    assert new.status_code == 200
    for label in ("党课", "开放日", "志愿服务"):  # the categories, in Chinese
        assert f">{label}</option>" in new.text
    assert "活动议事厅" in new.text

    draft_id = await created_id(
        await post(
            client,
            "/console/activities",
            **form(center_id=str(center["id"]), space_id=str(space["id"])),
        )
    )
    draft = await read(api, draft_id, staff)
    assert (draft["status"], draft["category_label"]) == ("draft", "党课")
    assert draft["start"] == local(DAY, "19:00").isoformat()
    assert draft["venue"]["reservation_status"] == "confirmed"  # the room held as the center's

    open_id = await created_id(
        await post(
            client,
            "/console/activities",
            **form(
                center_id=str(center["id"]),
                title="社区开放日",
                category="open_day",
                place_text="中心一楼大厅",
                start=f"{DAY.isoformat()}T09:30",
                end=f"{DAY.isoformat()}T11:30",
                signup_closes_at=f"{DAY.isoformat()}T09:00",
                requires_real_name="on",
                publish="on",
            ),
        )
    )
    opened = await read(api, open_id, staff)
    assert (opened["status"], opened["requires_real_name"]) == ("published", True)
    assert opened["signup_closes_at"] == local(DAY, "09:00").isoformat()
    public = await api.client.get("/api/v1/activities", params={"center_id": center["id"]})
    assert [item["id"] for item in public.json()["items"]] == [open_id]

    listing = await client.get("/console/activities")
    assert listing.status_code == 200
    upcoming = listing.text.split('id="upcoming"', 1)[1]
    assert upcoming.index(f'id="activity-{open_id}"') < upcoming.index(f'id="activity-{draft_id}"')
    assert "草稿" in listing.text
    assert "已发布" in listing.text
    assert listing.text.count("0/30") == 2
    page = await client.get(f"/console/activities/{draft_id}")
    assert "活动议事厅" in page.text
    assert "还没有人报名" in page.text


async def test_a_refused_form_is_shown_again_and_creates_nothing(api: Api) -> None:
    center, staff, client = await a_center(api)
    cases: tuple[tuple[dict[str, str], str], ...] = (
        ({"title": ""}, "标题"),
        ({"start": "明天"}, "开始时间"),
        ({"capacity": "0"}, "名额"),
        ({"end": f"{DAY.isoformat()}T18:00"}, "结束须晚于开始"),
    )
    for wrong, named in cases:
        answer = await post(
            client, "/console/activities", **form(center_id=str(center["id"]), **wrong)
        )
        assert answer.status_code == 422, wrong
        assert named in answer.text, wrong
        assert "支部书记讲党课</textarea>" in answer.text  # what was typed, kept
    other = await api.center()
    refused = await post(client, "/console/activities", **form(center_id=str(other["id"])))
    assert refused.status_code == 403
    assert 'class="error"' in refused.text
    async with api.database.reader() as session:
        assert (await session.scalars(select(Activity.id))).all() == []


async def test_publish_and_cancel_with_a_reason(api: Api) -> None:
    center, staff, client = await a_center(api)
    space = await api.space(center["id"], headers=staff)
    draft_id = await created_id(
        await post(
            client,
            "/console/activities",
            **form(center_id=str(center["id"]), space_id=str(space["id"])),
        )
    )
    done = await post(client, f"/console/activities/{draft_id}/publish")
    assert (
        done.headers["location"]
        == f"/console/activities/{draft_id}?notice=activity_published&ref={draft_id}"
    )
    assert (await read(api, draft_id, staff))["status"] == "published"
    again = await post(client, f"/console/activities/{draft_id}/publish")
    assert "error=invalid_transition" in again.headers["location"]
    shown = await client.get(again.headers["location"])
    assert "当前状态不允许该操作" in shown.text

    no_reason = await post(client, f"/console/activities/{draft_id}/cancel", reason="  ")
    assert "error=" in no_reason.headers["location"]
    assert (await read(api, draft_id, staff))["status"] == "published"
    await post(client, f"/console/activities/{draft_id}/cancel", reason="台风预警，活动取消")
    cancelled = await read(api, draft_id, staff)
    assert (cancelled["status"], cancelled["status_reason"]) == ("cancelled", "台风预警，活动取消")
    assert cancelled["venue"]["reservation_status"] == "cancelled"  # the room given back
    resident = await api.resident()
    assert (await book(api, resident, space["id"], DAY, "19:00", "20:00")).status_code == 201
    page = await client.get(f"/console/activities/{draft_id}")
    assert "台风预警，活动取消" in page.text
    assert 'name="cancel"' not in page.text


async def test_a_center_admin_sees_and_changes_only_their_centers_activities(api: Api) -> None:
    center, staff, client = await a_center(api)
    elsewhere = await api.center(district="嘉定区")
    theirs = await published(api, await api.staff(), elsewhere["id"], title="外区读书会")
    mine = await published(api, staff, center["id"], title="本中心读书会")

    listing = await client.get("/console/activities")
    assert "本中心读书会" in listing.text
    assert "外区读书会" not in listing.text
    hidden = await client.get(f"/console/activities/{theirs['id']}")
    assert hidden.status_code == 403
    assert "外区读书会" not in hidden.text
    missing = await client.get("/console/activities/2147483647")
    assert missing.status_code == 404
    for action, extra in (("cancel", {"reason": "越权"}), ("walk-ins", {"count": "3"})):
        refused = await post(client, f"/console/activities/{theirs['id']}/{action}", **extra)
        assert "error=out_of_scope" in refused.headers["location"], action
    kept = await read(api, theirs["id"], await api.staff())
    assert (kept["status"], kept["walk_ins"]) == ("published", 0)
    board = await client.get("/console/today/board", params={"date": DAY.isoformat()})
    assert "外区读书会" not in board.text
    assert mine["id"] != theirs["id"]


# --- at the door ---------------------------------------------------------------------------


async def signed_up(
    api: Api, activity_id: int, status: SignupStatus = SignupStatus.confirmed, attendees: int = 1
) -> int:
    """A resident's sign-up, written as the sign-up service leaves it."""
    resident = await api.resident()
    user_id = (await api.client.get("/api/v1/me", headers=resident)).json()["id"]
    async with api.database.writer.begin() as session:
        signup = ActivitySignup(
            activity_id=activity_id,
            user_id=user_id,
            attendees=attendees,
            status=status,
            created_at=utcnow(),
            confirmed_at=utcnow() if status is SignupStatus.confirmed else None,
        )
        session.add(signup)
        if status is SignupStatus.confirmed:
            await session.execute(
                update(Activity)
                .where(Activity.id == activity_id)
                .values(confirmed_attendees=Activity.confirmed_attendees + attendees)
            )
        await session.flush()
        return signup.id


async def test_staff_check_sign_ups_in_and_count_walk_ins(
    api: Api, monkeypatch: pytest.MonkeyPatch
) -> None:
    clock = Clock(monkeypatch, "app.activities.attendance", "app.console.activities")
    center, staff, client = await a_center(api)
    activity = await published(api, staff, center["id"])
    first = await signed_up(api, activity["id"], attendees=2)
    second = await signed_up(api, activity["id"])
    waiting = await signed_up(api, activity["id"], SignupStatus.waiting)
    base = f"/console/activities/{activity['id']}"

    clock.at(DAY, "18:00")
    early = await post(client, f"{base}/signups/{first}/check-in")
    assert "error=check_in_not_open" in early.headers["location"]
    assert early.headers["location"].endswith("#check-in")
    page = await client.get(base)
    assert "签到于" in page.text
    assert f"signups/{first}/check-in" not in page.text
    assert (
        "error=check_in_not_open"
        in (await post(client, f"{base}/walk-ins", count="2")).headers["location"]
    )

    clock.at(DAY, "18:31")
    page = await client.get(base)
    for signup in (first, second):
        assert f"/console/activities/{activity['id']}/signups/{signup}/check-in" in page.text
    assert f"signups/{waiting}/check-in" not in page.text  # the waiting line is not checked in
    assert "居民 #" in page.text or "*" in page.text  # masked, never a full name
    done = await post(client, f"{base}/signups/{first}/check-in")
    assert done.headers["location"] == f"{base}?notice=signup_checked_in&ref={first}#check-in"
    twice = await post(client, f"{base}/signups/{first}/check-in")  # once is enough
    assert twice.headers["location"] == f"{base}?notice=signup_checked_in&ref={first}#check-in"
    line = await post(client, f"{base}/signups/{waiting}/check-in")
    assert "error=not_signed_up" in line.headers["location"]
    other = await published(api, staff, center["id"])
    foreign = await post(client, f"/console/activities/{other['id']}/signups/{second}/check-in")
    assert "error=not_found" in foreign.headers["location"]

    for wrong in ("0", "-1", "abc", "501", ""):
        refused = await post(client, f"{base}/walk-ins", count=wrong)
        assert "error=invalid_form" in refused.headers["location"], wrong
    await post(client, f"{base}/walk-ins", count="3")
    added = await post(client, f"{base}/walk-ins", count="2")
    assert "notice=walk_ins_recorded&ref=2" in added.headers["location"]
    assert (await read(api, activity["id"], staff))["walk_ins"] == 5

    async with api.database.reader() as session:
        rows = {
            row.id: row
            for row in await session.scalars(
                select(ActivitySignup).where(ActivitySignup.activity_id == activity["id"])
            )
        }
        audited = [
            tuple(row)
            for row in await session.execute(
                select(AuditEvent.entity, AuditEvent.entity_id, AuditEvent.action).where(
                    AuditEvent.entity.in_(("activity", "activity_signup"))
                )
            )
        ]
    assert rows[first].checked_in_at is not None
    assert rows[second].checked_in_at is None
    assert rows[waiting].checked_in_at is None
    assert ("activity_signup", first, "check_in") in audited
    assert audited.count(("activity", activity["id"], "walk_ins")) == 2
    page = await client.get(base)
    assert "已签到 18:31" in page.text
    assert '<dd id="walk-ins">5 人</dd>' in page.text

    await post(client, f"{base}/cancel", reason="场地临时维修")
    late = await post(client, f"{base}/walk-ins", count="1")
    assert "error=invalid_transition" in late.headers["location"]
    closed = await post(client, f"{base}/signups/{second}/check-in")  # its sign-up ended
    assert "error=not_signed_up" in closed.headers["location"]
    assert (await read(api, activity["id"], staff))["walk_ins"] == 5


# --- the board, the report, other hosts ------------------------------------------------------


async def test_the_board_shows_the_weeks_activities(api: Api) -> None:
    center, staff, client = await a_center(api)
    await api.space(center["id"], headers=staff, name="周历会议室")
    activity = await published(api, staff, center["id"], title="周三读书会")
    next_week = await published(
        api,
        staff,
        center["id"],
        title="下周讲座",
        **slot(DAY + timedelta(days=7), "19:00", "20:00"),
    )
    for path in ("/console/today", "/console/today/board"):
        board = await client.get(path, params={"date": DAY.isoformat()})
        week = board.text.split(f'id="week-{center["id"]}"', 1)[1]
        assert f"/console/activities/{activity['id']}" in week
        assert "周三读书会" in week
        assert "0/20" in week
        assert "下周讲座" not in board.text
        assert "周历会议室" in board.text
    later = await client.get(
        "/console/today", params={"date": (DAY + timedelta(days=7)).isoformat()}
    )
    assert f"/console/activities/{next_week['id']}" in later.text


async def test_the_activities_report_downloads_through_the_console(api: Api) -> None:
    """The console fetches the API's report with the session's staff token."""
    center, _, client = await a_center(api)
    listing = await client.get("/console/activities")
    assert 'href="/console/activities/report?format=xlsx"' in listing.text
    download = await client.get("/console/activities/report", params={"format": "xlsx"})
    assert download.status_code == 200, download.text
    assert download.headers["content-type"] == XLSX
    assert download.content.startswith(b"PK")
    assert "attachment" in download.headers["content-disposition"]
    anonymous = httpx.AsyncClient(transport=api.client._transport, base_url="http://test")
    gone = await anonymous.get("/console/activities/report", params={"format": "xlsx"})
    assert (gone.status_code, gone.headers["location"]) == (303, "/console/login")


async def test_no_activities_page_refers_to_another_host(api: Api) -> None:
    center, staff, client = await a_center(api)
    activity = await published(api, staff, center["id"])
    await signed_up(api, activity["id"])
    for path in (
        "/console/activities",
        "/console/activities/new",
        f"/console/activities/{activity['id']}",
        f"/console/today?date={DAY.isoformat()}",
    ):
        page = await client.get(path)
        assert page.status_code == 200, path
        assert EXTERNAL.findall(page.text) == [], path
        assert "<script>" not in page.text, path  # no inline script, nor inline style
        assert " style=" not in page.text, path
        assert csrf_of(page)


# --- in a browser ----------------------------------------------------------------------------


@pytest.mark.real_clock
async def test_a_center_admin_runs_an_activity_on_a_phone(
    api: Api,
    server: str,  # noqa: F811
    browser: Browser,  # noqa: F811
    engine_name: str,
) -> None:
    """Create an activity that starts within the half hour, check a sign-up in
    and count walk-ins on a phone-sized page, under the console's
    Content-Security-Policy with no script error, no sideways scrolling, and
    every form control labelled."""
    center = await api.center(name="长风湾活动中心")
    staff = await api.staff(StaffRole.center_admin, center_ids=[center["id"]])
    await api.create_staff_row(
        StaffRole.center_admin, username="activity-phone", center_ids=[center["id"]]
    )
    page = await browser.new_page(viewport=PHONE)
    problems: list[str] = []
    page.on("console", lambda m: problems.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda error: problems.append(str(error)))
    await log_in(page, server, "activity-phone")

    start = utcnow() + timedelta(minutes=10)
    await page.goto(f"{server}/console/activities/new")
    await page.fill("input[name=title]", "楼组议事会")
    await page.select_option("select[name=category]", label="议事会")
    await page.fill("input[name=place_text]", "中心广场")
    for name, at in (("start", start), ("end", start + timedelta(hours=1))):
        await page.fill(f"input[name={name}]", at.astimezone(SHANGHAI).strftime("%Y-%m-%dT%H:%M"))
    await page.fill("input[name=capacity]", "12")
    await page.check("input[name=publish]")
    await page.click("button[name=create]")
    await expect(page.locator(".notice")).to_contain_text("已发布")
    activity_id = int(page.url.split("/console/activities/")[1].split("?")[0])
    assert (await read(api, activity_id, staff))["category_label"] == "议事会"
    signup = await signed_up(api, activity_id, attendees=2)

    await page.goto(f"{server}/console/activities/{activity_id}")
    await screenshot(page, "activity", engine_name)
    await page.locator(f"#signup-{signup} button[name=check_in]").click()
    await expect(page.locator(".notice")).to_contain_text(f"报名 #{signup} 已签到")
    await expect(page.locator(f"#signup-{signup}")).to_contain_text("已签到")
    await page.fill("#walk-in-form input[name=count]", "4")
    await page.click("#walk-in-form button[name=walk_ins]")
    await expect(page.locator("#walk-ins")).to_have_text("4 人")
    assert (await read(api, activity_id, staff))["walk_ins"] == 4

    for path in (
        "/console/activities",
        "/console/activities/new",
        f"/console/activities/{activity_id}",
    ):
        await page.goto(f"{server}{path}")
        overflow = await page.evaluate(
            "document.documentElement.scrollWidth - document.documentElement.clientWidth"
        )
        assert overflow <= 0, path  # no sideways scrolling on a phone
        unlabelled = await page.evaluate(
            "[...document.querySelectorAll('main input:not([type=hidden]), main select,"
            " main textarea')].filter((e) => !e.labels.length && !e.getAttribute('aria-label'))"
            ".map((e) => e.name)"
        )
        assert unlabelled == [], path
        nameless = await page.evaluate(
            "[...document.querySelectorAll('main button, main a')]"
            ".filter((e) => !(e.getAttribute('aria-label') || e.textContent.trim())).length"
        )
        assert nameless == 0, path
    await screenshot(page, "activities", engine_name)
    assert problems == []
