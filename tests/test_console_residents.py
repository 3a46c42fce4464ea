"""The console's residents, violations and appeals, a space's feedback and
check-in code, and the staff inbox over HTTP: the same services, scope and
audit as the API's (tests/test_real_name.py, tests/test_lifecycle.py,
tests/test_feedback.py, tests/test_notifications.py)."""

import re

import pytest
from sqlalchemy import update

from app.accounts.service import REAL_NAME_MOVED
from app.models import Delivery, Notification, StaffRole
from tests.factories import (
    Api,
    book,
    days_ahead,
    id_number,
    remember_personal_data,
    verified_resident,
)
from tests.test_console import audit_actions, console, post, staff_member
from tests.test_docs import EXTERNAL
from tests.test_feedback import completed, rate
from tests.test_lifecycle import no_show, room, standing

pytestmark = pytest.mark.dates


async def test_appeals_are_pardoned_or_upheld_with_a_reason(api: Api) -> None:
    space_id = await room(api)
    resident = await verified_resident(api)
    await no_show(api, resident, space_id, 1)
    await no_show(api, resident, space_id, 2)
    first, second = [v["id"] for v in (await standing(api, resident))["violations"]]
    for violation_id in (first, second):
        appealed = await api.client.post(
            f"/api/v1/me/violations/{violation_id}/appeal",
            json={"reason": "生病"},
            headers=resident,
        )
        assert appealed.status_code == 200, appealed.text
    admin = await console(api, await staff_member(api))

    page = await admin.get("/console/violations")
    assert page.status_code == 200, page.text
    assert EXTERNAL.findall(page.text) == []
    assert f'id="violation-{first}"' in page.text
    assert "生病" in page.text

    no_reason = await post(admin, f"/console/violations/{first}/pardon", reason=" ")
    assert "error=invalid_form" in no_reason.headers["location"]
    pardoned = await post(admin, f"/console/violations/{first}/pardon", reason="有就医证明")
    assert "notice=violation_pardoned" in pardoned.headers["location"], pardoned.headers
    upheld = await post(admin, f"/console/violations/{second}/uphold", reason="无证明")
    assert "notice=violation_upheld" in upheld.headers["location"]
    again = await post(admin, f"/console/violations/{second}/uphold", reason="无证明")
    assert "error=invalid_transition" in again.headers["location"]
    statuses = {v["id"]: v["status"] for v in (await standing(api, resident))["violations"]}
    assert statuses == {first: "pardoned", second: "upheld"}
    assert [a for a, _ in await audit_actions(api, "violation", first)][-1] == "pardon"

    # Centers elsewhere see none of them, and may decide none.
    other = await api.center()
    elsewhere = await console(
        api, await staff_member(api, StaffRole.center_admin, center_ids=[other["id"]])
    )
    listing = await elsewhere.get("/console/violations?status=")
    assert f'id="violation-{first}"' not in listing.text
    refused = await post(elsewhere, f"/console/violations/{second}/pardon", reason="越权")
    assert "error=" in refused.headers["location"]


async def test_a_resident_is_deactivated_and_activated_with_a_reason(api: Api) -> None:
    resident = await api.resident()
    me = (await api.client.get("/api/v1/me", headers=resident)).json()
    admin = await console(api, await staff_member(api))
    page = await admin.get(f"/console/residents/{me['id']}")
    assert page.status_code == 200, page.text
    assert "正常" in page.text
    looked_up = await admin.get(f"/console/residents?user_id={me['id']}")
    assert looked_up.headers["location"] == f"/console/residents/{me['id']}"

    off = await post(admin, f"/console/residents/{me['id']}/deactivate", reason="冒用他人账号")
    assert "notice=resident_deactivated" in off.headers["location"], off.headers
    assert (await api.client.get("/api/v1/me", headers=resident)).status_code == 401
    assert "已停用" in (await admin.get(f"/console/residents/{me['id']}")).text
    on = await post(admin, f"/console/residents/{me['id']}/activate", reason="核实无误")
    assert "notice=resident_activated" in on.headers["location"]
    assert (await api.client.get("/api/v1/me", headers=resident)).status_code == 200

    # Residents belong to no center: a center admin may not manage their
    # account, but verifies their card at the center's counter.
    center = await api.center()
    center_admin = await console(
        api, await staff_member(api, StaffRole.center_admin, center_ids=[center["id"]])
    )
    counter = await center_admin.get(f"/console/residents/{me['id']}")
    assert counter.status_code == 200, counter.text
    assert 'id="verify-form"' in counter.text
    assert 'id="resident"' not in counter.text
    assert 'id="deactivate-form"' not in counter.text
    refused = await post(center_admin, f"/console/residents/{me['id']}/deactivate", reason="x")
    assert "error=out_of_scope" in refused.headers["location"]
    number = id_number(62)
    remember_personal_data(number)
    verified = await post(
        center_admin,
        f"/console/residents/{me['id']}/verify",
        name="陈晓明",
        id_number=number,
        center_id=str(center["id"]),
    )
    assert "notice=real_name_verified" in verified.headers["location"], verified.headers
    assert (await api.client.get("/api/v1/me", headers=resident)).json()["real_name_verified"]


async def test_the_true_holder_takes_the_number_back_and_the_cancelled_bookings_show(
    api: Api,
) -> None:
    number = id_number(61)
    squatter = await api.resident()
    remember_personal_data(number)
    bound = await api.client.post(
        "/api/v1/me/real-name", json={"name": "陈晓明", "id_number": number}, headers=squatter
    )
    assert bound.status_code == 200, bound.text
    staff = await api.staff()
    center = await api.center(staff)
    study = await api.space(
        center["id"], staff, kind="study_room", booking_mode="shared", capacity=10,
        requires_real_name=True,
    )  # fmt: skip
    needs_name = (await book(api, squatter, study["id"], days_ahead(1), "10:00", "11:00")).json()
    holder = await api.resident()
    holder_id = (await api.client.get("/api/v1/me", headers=holder)).json()["id"]
    admin = await console(api, await staff_member(api))

    form = {"name": "陈晓明", "id_number": number, "center_id": str(center["id"])}
    taken = await post(admin, f"/console/residents/{holder_id}/verify", **form)
    assert "error=id_number_taken" in taken.headers["location"]
    no_reason = await post(admin, f"/console/residents/{holder_id}/rebind", **form)
    assert "error=invalid_form" in no_reason.headers["location"]
    rebound = await post(
        admin, f"/console/residents/{holder_id}/rebind", **form, reason="本人持证到柜台申诉"
    )
    location = rebound.headers["location"]
    assert "notice=real_name_rebound" in location, location
    page = await admin.get(location)
    assert number not in page.text
    shown = re.search(r'id="squatter-bookings".*?</table>', page.text, re.S)
    assert shown
    assert f"/console/bookings/{needs_name['id']}" in shown.group(0)
    assert REAL_NAME_MOVED in shown.group(0)
    assert (await api.client.get("/api/v1/me", headers=holder)).json()["real_name_verified"]


async def test_a_spaces_feedback_shows_its_average_and_comments(api: Api) -> None:
    center = await api.center()
    staff = await api.staff(StaffRole.center_admin, center_ids=[center["id"]])
    space = await api.space(center["id"], headers=staff)
    for hour, rating, comment in ((9, 5, "很安静"), (10, 2, "空调太冷")):
        resident = await api.resident()
        used = await completed(api, resident, space["id"], f"{hour:02d}:00", f"{hour:02d}:30")
        assert (await rate(api, resident, used, rating=rating, comment=comment)).status_code == 201
    admin = await console(
        api, await staff_member(api, StaffRole.center_admin, center_ids=[center["id"]])
    )
    page = await admin.get(f"/console/spaces/{space['id']}/feedback")
    assert page.status_code == 200, page.text
    assert "3.50" in page.text
    assert "很安静" in page.text
    assert "空调太冷" in page.text
    assert (
        f'href="/console/spaces/{space["id"]}/feedback"'
        in (await admin.get(f"/console/spaces/{space['id']}")).text
    )
    elsewhere = await console(
        api,
        await staff_member(api, StaffRole.center_admin, center_ids=[(await api.center())["id"]]),
    )
    refused = await elsewhere.get(f"/console/spaces/{space['id']}/feedback")
    assert refused.status_code == 303
    assert "error=" in refused.headers["location"]


async def test_the_check_in_code_prints_on_a_page_of_its_own_and_rotates(api: Api) -> None:
    staff = await api.staff()
    center = await api.center(staff)
    space = await api.space(center["id"], staff, name="三楼自习室")
    admin = await console(api, await staff_member(api))
    sheet = await admin.get(f"/console/spaces/{space['id']}/check-in-qr")
    assert sheet.status_code == 200, sheet.text
    assert EXTERNAL.findall(sheet.text) == []
    assert "三楼自习室" in sheet.text
    assert center["name"] in sheet.text
    assert "<svg" in sheet.text
    assert "data-print" in sheet.text
    qr_url = f"/api/v1/admin/spaces/{space['id']}/check-in-qr"
    token = (await api.client.get(qr_url, headers=staff)).json()["token"]
    rotated = await post(admin, f"/console/spaces/{space['id']}/check-in-qr/rotate")
    assert "notice=check_in_qr_rotated" in rotated.headers["location"]
    after = await api.client.get(qr_url, headers=staff)
    assert after.json()["token"] != token
    # Without WeChat there is no mini-program code to ask for.
    png = await admin.get(f"/console/spaces/{space['id']}/check-in-qr/code.png")
    assert "error=wechat_not_configured" in png.headers["location"]


async def test_the_inbox_reads_and_the_dead_letters_show(api: Api) -> None:
    username = await staff_member(api)
    admin = await console(api, username)
    staff = await api.staff()
    space = await api.space(headers=staff, requires_approval=True)
    resident = await api.resident()
    pending = await book(api, resident, space["id"], days_ahead(1), "10:00", "11:00")
    assert pending.status_code == 201, pending.text
    inbox = await admin.get("/console/inbox")
    assert inbox.status_code == 200, inbox.text
    found = re.search(r'id="notification-(\d+)"', inbox.text)
    assert found, inbox.text
    assert re.search(r'id="unread">([1-9]\d*)<', inbox.text)
    read = await post(admin, f"/console/inbox/{found.group(1)}/read")
    assert "notice=inbox_read" in read.headers["location"]
    everything = await post(admin, "/console/inbox/read-all")
    assert "notice=inbox_read" in everything.headers["location"]
    assert 'id="unread">0<' in (await admin.get("/console/inbox")).text
    someone_elses = await post(admin, f"/console/inbox/{found.group(1)}0/read")
    assert "error=not_found" in someone_elses.headers["location"]

    # Staff cancel a booking: the booker is told; WeChat would not take it, a dead letter.
    cancelled = await api.client.post(
        f"/api/v1/reservations/{pending.json()['id']}/cancel", json={"reason": "场地维修"},
        headers=staff,
    )  # fmt: skip
    assert cancelled.status_code == 200, cancelled.text
    async with api.database.writer.begin() as session:
        await session.execute(
            update(Notification)
            .where(Notification.reservation_id == pending.json()["id"])
            .where(Notification.user_id.is_not(None))
            .values(delivery=Delivery.failed, attempts=5, last_error="errcode 43101")
        )
    dead = await admin.get("/console/inbox")
    assert 'id="dead-letter-' in dead.text
    assert "errcode 43101" in dead.text
