"""The day's board a center puts on a screen: hour labels, the current time,
a colour legend, the study room's seats in use now, the day's activities;
and the day sheet to print."""

import time_machine

from app.models import StaffRole
from tests.factories import Api, book, local, slot
from tests.test_console import console, staff_member
from tests.test_console_activities import DAY, a_center, published


async def test_the_board_shows_the_hours_the_time_the_seats_and_the_days_activities(
    api: Api,
) -> None:
    center, staff, _ = await a_center(api)
    study = await api.space(
        center["id"], staff, name="二楼自习室", kind="study_room", booking_mode="shared",
        capacity=10,
    )  # fmt: skip
    for start, end in (("10:00", "12:00"), ("10:00", "11:00"), ("13:00", "14:00")):
        booked = await book(api, await api.resident(), study["id"], DAY, start, end)
        assert booked.status_code == 201, booked.text
    talk = await published(
        api, staff, center["id"], title="午间讲座", **slot(DAY, "12:00", "13:00")
    )

    with time_machine.travel(local(DAY, "10:30"), tick=False):
        # A session begun that day: the screen at the center signs in in the morning.
        client = await console(
            api, await staff_member(api, StaffRole.center_admin, center_ids=[center["id"]])
        )
        for path in ("/console/today", "/console/today/board"):
            page = await client.get(path, params={"date": DAY.isoformat()})
            assert page.status_code == 200, page.text
            assert 'id="legend"' in page.text
            assert "当前时间 10:30" in page.text
            assert 'class="now-line" x1="43.75"' in page.text  # 10:30 of 24 hours
            assert "<span>09:00</span>" in page.text
            assert f'id="seats-{study["id"]}">在用 2/10 座<' in page.text
            today = page.text.split(f'id="day-activities-{center["id"]}"', 1)[1]
            assert f"/console/activities/{talk['id']}" in today.split("</article>", 1)[0]
        other_day = await client.get("/console/today/board", params={"date": "2020-01-01"})
        assert 'class="now-line"' not in other_day.text

        sheet = await client.get("/console/today/sheet", params={"date": DAY.isoformat()})
        assert "/console/today/sheet" in (await client.get("/console/today")).text
    assert sheet.status_code == 200, sheet.text
    assert "日程单" in sheet.text
    assert "data-print" in sheet.text
    rows = sheet.text.split(f'id="sheet-space-{study["id"]}"', 1)[1].split("</table>", 1)[0]
    assert rows.count("<tr>") == 4  # the heading and three bookings
    assert "午间讲座" in sheet.text
