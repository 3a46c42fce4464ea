"""The demo data: seeded once, idempotent, and shaped like the articles describe."""

import csv
import io
import re
from datetime import datetime, timedelta

import pytest
import time_machine
from sqlalchemy import func, select

from app import demo, demo_data
from app.core.clock import local_today
from app.models import BookingMode, Center, Space, Staff
from tests.conftest import make_settings, running
from tests.factories import Api, local, verify_real_name
from tests.test_console import console, csrf_of
from tests.test_doors import next_slot

pytestmark = pytest.mark.dates


async def test_seed_is_idempotent_and_shaped_like_the_articles(api: Api) -> None:
    async with api.database.writer.begin() as session:
        first = await demo.seed_demo(session)
    async with api.database.writer.begin() as session:
        second = await demo.seed_demo(session)
    assert first.centers_created == len(demo_data.CENTERS)
    assert (second.centers_created, second.spaces_created, second.staff_created) == (0, 0, [])

    async with api.database.reader() as session:
        assert await session.scalar(select(func.count()).select_from(Center)) == len(
            demo_data.CENTERS
        )
        assert await session.scalar(select(func.count()).select_from(Staff)) == 2
        yuexin = await session.scalar(select(Space).where(Space.name == "阅心书斋"))
    assert yuexin is not None
    assert yuexin.booking_mode is BookingMode.shared
    assert (yuexin.capacity, yuexin.open_24h, yuexin.requires_real_name) == (10, True, True)

    districts = {center.district for center in demo_data.CENTERS}
    assert districts == {"闵行区", "普陀区", "虹口区"}
    for center in demo_data.CENTERS:  # GCJ-02 coordinates inside Shanghai
        assert 30.6 < center.lat < 31.9
        assert 120.8 < center.lng < 122.2

    response = await api.client.get("/api/v1/centers", params={"near": "31.2412,121.3877"})
    assert response.json()["items"][0]["name"] == "长征镇丽湖居民区党群服务站"


async def test_a_newcomer_can_open_the_study_room_door(database_url: str) -> None:
    """Against the demo data: verify a real name, book a seat in 阅心书斋, read the
    door code, and have the demo door accept it inside its window."""
    settings = make_settings(database_url)
    async with running(settings) as api:
        async with api.database.writer.begin() as session:
            await demo.seed_demo(session)
        resident = await api.resident("demo-resident")
        verified = await verify_real_name(api, resident, demo.DEMO_ID_NUMBER)
        assert verified.json()["id_number_masked"] == "1101**********002X"
        rooms = (await api.client.get("/api/v1/spaces", params={"kind": "study_room"})).json()
        yuexin = next(room for room in rooms["items"] if room["name"] == "阅心书斋")
        assert yuexin["has_smart_lock"] is True
        start, _ = next_slot()
        end = start + timedelta(hours=2)  # 阅心书斋 takes one to eight hours
        booked = await api.client.post(
            "/api/v1/reservations",
            json={"space_id": yuexin["id"], "start": start.isoformat(), "end": end.isoformat()},
            headers=resident,
        )
        assert booked.status_code == 201, booked.text
        access = await api.client.get(
            f"/api/v1/reservations/{booked.json()['id']}/access", headers=resident
        )
        door_id = access.json()["door_ids"][0]
        # The code opens as check-in does, a few minutes before the start.
        assert datetime.fromisoformat(access.json()["valid_from"]) < start
        with time_machine.travel(start, tick=True):
            opened = await api.client.post(
                f"/api/v1/doors/{door_id}/verify",
                json={"code": access.json()["door_code"]},
                headers={"Authorization": f"Device {demo.DEMO_DOOR_KEY}"},
            )
        assert opened.json()["granted"] is True


async def test_a_center_admin_runs_the_demo_day_in_the_console(api: Api) -> None:
    """The README's walkthrough: log in as the Changfengwan admin, see today's
    board, approve the waiting request and the weekly series, download this
    month's report."""
    async with api.database.writer.begin() as session:
        await demo.seed_demo(session)
    client = await console(api, demo.DEMO_CENTER_ADMIN, demo.DEMO_STAFF_PASSWORD)
    board = await client.get("/console/today")
    for space in ("苏河会议室", "长风洽谈室", "长风议事厅"):
        assert space in board.text
    assert "阅心书斋" not in board.text  # another center's
    sunday = local_today().weekday() == 6  # 苏河会议室 is closed on Sundays
    assert board.text.count('class="booking"') == (2 if sunday else 3)

    queue = await client.get("/console/approvals")
    [request] = re.findall(r"/console/bookings/(\d+)/approve", queue.text)
    [series] = re.findall(r"/console/series/(\d+)/approve", queue.text)
    assert "党支部组织生活会" in queue.text
    for path in (f"/console/bookings/{request}/approve", f"/console/series/{series}/approve"):
        approved = await client.post(path, data={"csrf": csrf_of(queue)})
        assert "notice=" in approved.headers["location"]
    assert "没有待审批的申请" in (await client.get("/console/approvals")).text
    staff = await api.staff()
    weekly = await api.client.get(f"/api/v1/reservation-series/{series}", headers=staff)
    meetings = weekly.json()["occurrences"]
    assert 3 <= len(meetings) <= 4  # a week on a statutory holiday is left out
    assert {item["status"] for item in meetings} == {"confirmed"}

    month = await client.get("/console/reports/download", params={"format": "csv"})
    rows = list(csv.DictReader(io.StringIO(month.content.decode("utf-8-sig"))))
    assert {row["空间名称"] for row in rows} == {"苏河会议室", "长风洽谈室", "长风议事厅"}
    assert all(float(row["开放小时"]) > 0 for row in rows)


async def test_a_company_books_its_weekly_tuesday_meeting_in_one_call(api: Api) -> None:
    """The demo company takes 苏河会议室 every Tuesday afternoon for ten weeks."""
    async with api.database.writer.begin() as session:
        await demo.seed_demo(session)
    owner = await api.resident(demo.DEMO_RESIDENT_CODE.removeprefix("dev:"))
    [company] = (await api.client.get("/api/v1/organizations/mine", headers=owner)).json()["items"]
    rooms = await api.client.get("/api/v1/spaces", params={"limit": 100})
    [room] = [space for space in rooms.json()["items"] if space["name"] == "苏河会议室"]
    first = local_today() + timedelta(days=1)
    while first.weekday() != 1:
        first += timedelta(days=1)
    answer = await api.client.post(
        "/api/v1/reservation-series",
        json={
            "space_id": room["id"],
            "start": local(first, "14:00").isoformat(),
            "end": local(first, "16:00").isoformat(),
            "rrule": "FREQ=WEEKLY;BYDAY=TU;COUNT=10",
            "organization_id": company["id"],
            "purpose": "周例会",
            "mode": "book_what_is_free",
        },
        headers=owner,
    )
    assert answer.status_code == 201, answer.text
    occurrences = answer.json()["occurrences"]
    assert len(occurrences) == 10
    for item in occurrences:  # booked, unless a statutory holiday closes that Tuesday
        assert item["reservation_id"] or item["problem"]["code"] == "space_closed", item
    assert sum(1 for item in occurrences if item["reservation_id"]) >= 8
