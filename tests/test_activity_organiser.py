"""The organiser's tools for an activity: its participants, masked, as a page
or a spreadsheet no formula runs in; and a message to every participant,
once each, at most ten an activity a day."""

import asyncio
import csv
import io
import re
from datetime import timedelta
from typing import Any

import httpx
import pytest
import time_machine
from sqlalchemy import func, select

from app.activities import places
from app.core.clock import utcnow
from app.models import (
    ActivitySignup,
    AuditEvent,
    Notification,
    NotificationKind,
    SignupStatus,
    StaffRole,
)
from tests.factories import Api, Headers, days_ahead, organization, slot, verify_real_name
from tests.test_errors import assert_problem
from tests.test_profile import bind_phone, sent_phone

pytestmark = pytest.mark.dates

DAY = days_ahead(3)


async def activity(api: Api, headers: Headers, center_id: int, **overrides: Any) -> Any:
    body = {
        "title": "党课：学习党章",
        "category": "party_lecture",
        "center_id": center_id,
        **slot(DAY, "19:00", "20:30"),
        "capacity": 30,
        "place_text": "中心广场",
        "publish": True,
        **overrides,
    }
    answer = await api.client.post("/api/v1/activities", json=body, headers=headers)
    assert answer.status_code == 201, answer.text
    return answer.json()


async def user_id(api: Api, headers: Headers) -> int:
    return int((await api.client.get("/api/v1/me", headers=headers)).json()["id"])


async def signed_up(
    api: Api, activity_id: int, headers: Headers, status: SignupStatus, attendees: int = 1
) -> None:
    """A sign-up as the sign-up endpoint leaves it (that endpoint is the sign-ups
    module's; the organiser's tools only read and tell its sign-ups)."""
    person = await user_id(api, headers)
    now = utcnow()
    async with api.database.writer.begin() as session:
        if status is SignupStatus.confirmed:
            assert await places.take(session, activity_id, attendees)
        session.add(
            ActivitySignup(
                activity_id=activity_id,
                user_id=person,
                attendees=attendees,
                status=status,
                created_at=now,
                confirmed_at=now if status is SignupStatus.confirmed else None,
                cancelled_at=now if status is SignupStatus.cancelled else None,
                checked_in_at=now if attendees == 2 else None,
            )
        )


async def resident_with_phone(api: Api, phone: str) -> Headers:
    headers = await api.resident()
    bound = await bind_phone(api, headers, f"dev:{sent_phone(phone)}")
    assert bound.status_code == 200, bound.text
    return headers


async def staffed_center(api: Api) -> tuple[dict[str, Any], Headers]:
    center = await api.center()
    return center, await api.staff(StaffRole.center_admin, center_ids=[center["id"]])


async def participants(
    api: Api, activity_id: int, headers: Headers, **params: Any
) -> httpx.Response:
    return await api.client.get(
        f"/api/v1/activities/{activity_id}/signups", params=params, headers=headers
    )


# --- who signed up ----------------------------------------------------------------------


async def test_the_organiser_sees_each_participant_masked(api: Api) -> None:
    center, staff = await staffed_center(api)
    found = await activity(api, staff, center["id"])
    named = await resident_with_phone(api, "13700137001")
    assert (await verify_real_name(api, named)).status_code == 200
    abroad = await resident_with_phone(api, "+447700900123")
    plain, left = await api.resident(), await api.resident()
    await signed_up(api, found["id"], named, SignupStatus.confirmed, attendees=2)
    await signed_up(api, found["id"], left, SignupStatus.cancelled)
    await signed_up(api, found["id"], plain, SignupStatus.waiting)
    await signed_up(api, found["id"], abroad, SignupStatus.waiting)

    page = await participants(api, found["id"], staff)

    assert page.status_code == 200, page.text
    rows = page.json()["items"]
    assert [
        (r["name_masked"], r["phone_masked"], r["attendees"], r["status"], r["position"])
        for r in rows
    ] == [
        ("陈**", "137****7001", 2, "confirmed", None),
        (None, None, 1, "cancelled", None),
        (None, None, 1, "waiting", 1),
        (None, "+44******0123", 1, "waiting", 2),
    ]
    assert rows[0]["checked_in_at"] is not None
    assert rows[1]["checked_in_at"] is None
    for secret in ("陈晓明", "13700137001", "447700900123"):
        assert secret not in page.text
    waiting = await participants(api, found["id"], staff, status="waiting", limit=1, offset=1)
    assert (waiting.json()["total"], [r["position"] for r in waiting.json()["items"]]) == (2, [2])


async def test_the_participants_as_a_spreadsheet_run_no_formula(api: Api) -> None:
    center, staff = await staffed_center(api)
    found = await activity(api, staff, center["id"])
    named = await resident_with_phone(api, "13700137002")
    assert (await verify_real_name(api, named)).status_code == 200
    abroad = await resident_with_phone(api, "+447700900124")
    await signed_up(api, found["id"], named, SignupStatus.confirmed, attendees=2)
    await signed_up(api, found["id"], abroad, SignupStatus.waiting)

    exported = await participants(api, found["id"], staff, format="csv", limit=1)

    assert exported.status_code == 200, exported.text
    assert exported.headers["content-type"].startswith("text/csv")
    filename = f"activity-{found['id']}-signups.csv"
    assert filename in exported.headers["content-disposition"]
    assert exported.content.startswith("\ufeff".encode())
    rows = list(csv.reader(io.StringIO(exported.content.decode("utf-8-sig"))))
    assert rows[0] == [
        "报名编号",
        "姓名",
        "手机号",
        "人数",
        "状态",
        "候补序号",
        "报名时间",
        "签到时间",
    ]
    assert len(rows) == 3  # every sign-up, whatever the page
    assert rows[1][1:6] == ["陈**", "137****7002", "2", "已确认", ""]
    assert all(re.fullmatch(r"\d{4}-\d\d-\d\d \d\d:\d\d", cell) for cell in rows[1][6:8])
    # A number abroad starts with "+": shown as text, never read as a formula.
    assert rows[2][2:6] == ["'+44******0124", "1", "候补", "1"]
    assert rows[2][7] == ""
    english = await participants(api, found["id"], staff, format="csv", lang="en")
    header = english.content.decode("utf-8-sig").splitlines()[0]
    assert (
        header == "id,name_masked,phone_masked,attendees,status,position,created_at,checked_in_at"
    )
    assert "waiting" in english.content.decode("utf-8-sig")


async def test_only_its_managers_see_the_participants(api: Api) -> None:
    center, staff = await staffed_center(api)
    owner = await api.resident()
    company = await organization(api, owner)
    theirs = await activity(api, owner, center["id"], organization_id=company["id"])
    draft = await activity(api, staff, center["id"], publish=False)
    outsider = await api.staff(StaffRole.center_admin, center_ids=[(await api.center())["id"]])
    stranger = await api.resident()

    assert (await participants(api, theirs["id"], owner)).status_code == 200
    assert (await participants(api, theirs["id"], staff)).status_code == 200
    assert_problem(await participants(api, theirs["id"], outsider), 403, "out_of_scope")
    assert_problem(await participants(api, theirs["id"], stranger), 403, "organiser_only")
    assert_problem(await participants(api, draft["id"], stranger), 404, "not_found")
    assert_problem(await participants(api, 999_999, staff), 404, "not_found")
    assert_problem(await participants(api, theirs["id"], {}), 401, "not_authenticated")
    bad = await participants(api, theirs["id"], staff, format="xlsx")
    assert_problem(bad, 422, "validation_failed")


# --- a message to every participant ---------------------------------------------------


async def inbox(api: Api, headers: Headers) -> list[dict[str, Any]]:
    answer = await api.client.get("/api/v1/me/notifications", headers=headers)
    assert answer.status_code == 200, answer.text
    items: list[dict[str, Any]] = answer.json()["items"]
    return [item for item in items if item["kind"] == "activity_message"]


async def messages_told(api: Api) -> int:
    async with api.database.reader() as session:
        return int(
            await session.scalar(
                select(func.count())
                .select_from(Notification)
                .where(Notification.kind == NotificationKind.activity_message)
            )
            or 0
        )


async def send(api: Api, activity_id: int, headers: Headers, text: Any) -> httpx.Response:
    return await api.client.post(
        f"/api/v1/activities/{activity_id}/messages", json={"text": text}, headers=headers
    )


async def test_a_message_reaches_each_participant_once(api: Api) -> None:
    center, staff = await staffed_center(api)
    found = await activity(api, staff, center["id"])
    coming, waiting, left = [await api.resident() for _ in range(3)]
    await signed_up(api, found["id"], coming, SignupStatus.confirmed, attendees=3)
    await signed_up(api, found["id"], waiting, SignupStatus.waiting)
    await signed_up(api, found["id"], left, SignupStatus.cancelled)
    text = "明晚活动改在二楼多功能厅，请提前十分钟到场。"

    sent = await send(api, found["id"], staff, text)

    assert sent.status_code == 200, sent.text
    assert sent.json() == {"sent": 2}
    for person in (coming, waiting):
        (message,) = await inbox(api, person)
        assert text in message["body"]
        assert "党课：学习党章" in message["body"]
    assert await inbox(api, left) == []
    async with api.database.reader() as session:
        event = await session.scalar(
            select(AuditEvent).where(
                AuditEvent.entity == "activity", AuditEvent.entity_id == found["id"]
            )
        )
    assert event is not None
    assert (event.action, event.actor_kind.value) == ("message", "staff")
    assert event.reason is not None
    assert text in event.reason


async def test_a_refused_message_tells_nobody(api: Api) -> None:
    center, staff = await staffed_center(api)
    found = await activity(api, staff, center["id"])
    coming = await api.resident()
    await signed_up(api, found["id"], coming, SignupStatus.confirmed)
    outsider = await api.staff(StaffRole.center_admin, center_ids=[(await api.center())["id"]])
    for text in ("", "   ", "长" * 301, None, "bad\x00text"):
        assert_problem(await send(api, found["id"], staff, text), 422, "validation_failed")
    extra = await api.client.post(
        f"/api/v1/activities/{found['id']}/messages",
        json={"text": "好", "to": "all"},
        headers=staff,
    )
    assert_problem(extra, 422, "validation_failed")
    assert_problem(await send(api, found["id"], outsider, "好"), 403, "out_of_scope")
    assert_problem(await send(api, found["id"], coming, "好"), 403, "organiser_only")
    assert_problem(await send(api, 999_999, staff, "好"), 404, "not_found")
    assert await messages_told(api) == 0
    assert (await send(api, found["id"], staff, "长" * 300)).json() == {"sent": 1}


async def test_at_most_ten_messages_an_activity_a_day(api: Api) -> None:
    center, staff = await staffed_center(api)
    found = await activity(api, staff, center["id"])
    coming = await api.resident()
    await signed_up(api, found["id"], coming, SignupStatus.confirmed)
    for number in range(9):
        answer = await send(api, found["id"], staff, f"第{number + 1}条通知")
        assert answer.status_code == 200, answer.text
    # Two at once for the last one allowed: the activity's lock lets one through.
    both = await asyncio.gather(*(send(api, found["id"], staff, "第10条通知") for _ in range(2)))
    assert sorted(answer.status_code for answer in both) == [200, 429]

    refused = await send(api, found["id"], staff, "第11条通知")

    assert_problem(refused, 429, "message_limit_reached")
    assert 0 < int(refused.headers["Retry-After"]) <= 24 * 3600
    assert await messages_told(api) == 10
    other = await activity(api, staff, center["id"], title="另一场活动")
    assert (await send(api, other["id"], staff, "另一场的通知")).status_code == 200
    with time_machine.travel(utcnow() + timedelta(hours=24, minutes=1), tick=False):
        staff = await api.staff(StaffRole.center_admin, center_ids=[center["id"]])
        again = await send(api, found["id"], staff, "次日的通知")
        assert again.status_code == 200, again.text
    assert len(await inbox(api, coming)) == 11
