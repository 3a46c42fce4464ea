"""Telling people what happened to them: each change writes its notification
in its own transaction (inbox), and WeChat sends it where a template is
configured (a fake WeChat over real HTTP)."""

from collections.abc import AsyncIterator
from datetime import timedelta
from typing import Any

import pytest

from app.core.clock import utcnow
from app.jobs.registry import JOBS, run_job
from app.models import StaffRole
from app.notifications.templates import fit
from tests.conftest import make_settings, running
from tests.factories import (
    Api,
    Headers,
    book,
    days_ahead,
    door,
    id_number,
    local,
    member_of,
    organization,
    remember_personal_data,
    verify_real_name,
)
from tests.fake_wechat import APP_ID, APP_SECRET, FakeWechat
from tests.test_lifecycle import Clock, check_in, check_out, qr_token
from tests.test_notifications import Notifying, fake_wechat
from tests.test_waitlist import SEATS

pytestmark = pytest.mark.dates

__all__ = ["fake_wechat"]  # the fixture, for this module's tests

DAY = days_ahead(1)
APPEAL = "TPL-APPEAL"
REBOUND = "TPL-REBOUND"
FEEDBACK = "TPL-FEEDBACK"
LAPSED = "TPL-LAPSED"
TEMPLATES: dict[str, Any] = {
    "appeal_decided": {
        "template_id": APPEAL,
        "data": {"thing1": "{center_name}{space_name}", "phrase2": "decision", "thing3": "reason"},
    },
    "real_name_rebound": {"template_id": REBOUND, "data": {"thing1": "center_name"}},
    "feedback_requested": {"template_id": FEEDBACK, "data": {"thing1": "space_name"}},
    "waitlist_offer_lapsed": {
        "template_id": LAPSED,
        "data": {"thing1": "space_name", "time2": "start"},
    },
}


@pytest.fixture
async def telling(database_url: str, fake_wechat: FakeWechat) -> AsyncIterator[Notifying]:
    settings = make_settings(
        database_url,
        wechat_app_id=APP_ID,
        wechat_app_secret=APP_SECRET,
        wechat_api_base=fake_wechat.base_url,
        # Under the fake's 3 s "timeout", well over its 0.8 s "slow" on a loaded machine.
        wechat_timeout_seconds=2,
        wechat_templates=TEMPLATES,
    )
    async with running(settings) as api:
        yield Notifying(api, fake_wechat, settings)


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> Clock:
    return Clock(monkeypatch, "app.reservations.attendance", "app.reservations.router")


async def run(api: Api, name: str, at: Any) -> str:
    report = await run_job(api.database, api.app.state.settings, JOBS[name], at)
    return report.summary


async def inbox(api: Api, headers: Headers, path: str = "/api/v1/me/notifications") -> list[Any]:
    response = await api.client.get(path, headers=headers)
    assert response.status_code == 200, response.text
    items: list[Any] = response.json()["items"]
    return items


async def kinds(api: Api, headers: Headers, path: str = "/api/v1/me/notifications") -> list[str]:
    return [item["kind"] for item in await inbox(api, headers, path)]


def of_kind(items: list[Any], kind: str) -> list[Any]:
    return [item for item in items if item["kind"] == kind]


# --- appeal_decided -------------------------------------------------------------------


async def no_show(api: Api, resident: Headers, space_id: int, day_offset: int) -> int:
    day = days_ahead(day_offset)
    response = await book(api, resident, space_id, day, "10:00", "11:00")
    assert response.status_code == 201, response.text
    assert "1 no-shows released" in await run(api, "release-no-shows", local(day, "10:15"))
    standing = (await api.client.get("/api/v1/me/standing", headers=resident)).json()
    booked_id = response.json()["id"]
    [violation] = [v for v in standing["violations"] if v["reservation_id"] == booked_id]
    violation_id: int = violation["id"]
    return violation_id


async def test_an_appeal_upheld_and_a_pardon_tell_the_resident_why(telling: Notifying) -> None:
    n, api = telling, telling.api
    staff = await api.staff()
    space = await api.space(headers=staff, requires_check_in=True)
    resident = await n.resident("openid-appeal")
    await n.subscribe(resident, **{APPEAL: "accept"})
    await n.subscribe(resident, **{APPEAL: "accept"})
    first = await no_show(api, resident, space["id"], 1)
    second = await no_show(api, resident, space["id"], 2)
    appealed = await api.client.post(
        f"/api/v1/me/violations/{first}/appeal", json={"reason": "地铁停运"}, headers=resident
    )
    assert appealed.status_code == 200, appealed.text
    assert of_kind(await inbox(api, resident), "appeal_decided") == []  # nothing decided yet

    upheld = await api.client.post(
        f"/api/v1/admin/violations/{first}/uphold",
        json={"reason": "当日地铁正常运营"},
        headers=staff,
    )
    assert upheld.status_code == 200, upheld.text
    pardoned = await api.client.post(
        f"/api/v1/admin/violations/{second}/pardon", json={"reason": "系统故障"}, headers=staff
    )
    assert pardoned.status_code == 200, pardoned.text

    told = of_kind(await inbox(api, resident), "appeal_decided")
    assert [item["title"] for item in told] == ["违约记录已处理"] * 2
    newest, oldest = told
    assert "违约记录维持不变。处理意见：当日地铁正常运营" in oldest["body"]
    assert "违约记录已撤销。处理意见：系统故障" in newest["body"]
    assert space["name"] in oldest["body"]

    assert "2 sent" in await n.send()
    messages = [m for m in n.wechat.sends if m["template_id"] == APPEAL]
    # A batch is sent at once: the order of the two sends is not the order they were told.
    decided = {(m["data"]["phrase2"]["value"], m["data"]["thing3"]["value"]) for m in messages}
    assert decided == {("维持不变", "当日地铁正常运营"), ("已撤销", "系统故障")}
    assert all(m["page"].startswith("pages/reservation/detail?id=") for m in messages)


# --- real_name_rebound ----------------------------------------------------------------


async def test_the_account_that_lost_its_number_hears_where_it_went(telling: Notifying) -> None:
    n, api = telling, telling.api
    center = await api.center()
    staff = await api.staff()
    number = id_number(731)
    squatter = await n.resident("openid-squatter")
    await n.subscribe(squatter, **{REBOUND: "accept"})
    assert (await verify_real_name(api, squatter, number)).status_code == 200
    holder = await api.resident()
    holder_id = (await api.client.get("/api/v1/me", headers=holder)).json()["id"]
    remember_personal_data(number)
    rebound = await api.client.post(
        "/api/v1/admin/real-names/rebind",
        json={
            "user_id": holder_id,
            "name": "陈晓明",
            "id_number": number,
            "center_id": center["id"],
            "reason": "本人持证到柜台申诉",
        },
        headers=staff,
    )
    assert rebound.status_code == 200, rebound.text

    [told] = of_kind(await inbox(api, squatter), "real_name_rebound")
    assert told["title"] == "实名信息已更正"
    assert center["name"] in told["body"]
    assert "本人持证到柜台申诉" not in told["body"]  # staff's note is not theirs to read
    assert await kinds(api, holder) == []  # the holder is not told of themselves
    await n.send()
    [message] = n.wechat.sends
    assert message["template_id"] == REBOUND
    assert message["data"]["thing1"]["value"] == fit("thing1", center["name"])
    assert message["page"] == "pages/mine/index"  # about the account, not a booking


# --- organization_registered ----------------------------------------------------------


async def test_staff_who_decide_on_an_organization_hear_it_registered(api: Api) -> None:
    center = await api.center(district="普陀区")
    other = await api.center(district="静安区")
    super_admin = await api.staff()
    own = await api.staff(StaffRole.center_admin, center_ids=[center["id"]])
    district = await api.staff(StaffRole.district_admin, district="普陀区")
    other_district = await api.staff(StaffRole.district_admin, district="静安区")
    other_center = await api.staff(StaffRole.center_admin, center_ids=[other["id"]])
    owner = await api.resident()
    company = await organization(api, owner, verified=False, center_id=center["id"])

    staff_inbox = "/api/v1/admin/notifications"
    for headers, told in (
        (super_admin, 1),
        (own, 1),
        (district, 1),
        (other_district, 0),
        (other_center, 0),
    ):
        items = of_kind(await inbox(api, headers, staff_inbox), "organization_registered")
        assert len(items) == told
    [item] = of_kind(await inbox(api, own, staff_inbox), "organization_registered")
    assert item["title"] == "有新的单位待认证"
    assert company["name"] in item["body"]
    assert item["organization_id"] == company["id"]
    assert await kinds(api, owner) == []

    # No home center: only super admins decide on it, so only they hear of it.
    await organization(api, await api.resident(), verified=False)
    assert len(of_kind(await inbox(api, super_admin, staff_inbox), "organization_registered")) == 2
    assert len(of_kind(await inbox(api, district, staff_inbox), "organization_registered")) == 1


# --- waitlist_offer_lapsed ------------------------------------------------------------


async def test_an_offer_that_lapses_tells_whom_it_was_offered_to(telling: Notifying) -> None:
    n, api = telling, telling.api
    space = await api.space(capacity=1, **SEATS)
    first, waiting = await api.resident(), await n.resident("openid-lapsed")
    await n.subscribe(waiting, **{LAPSED: "accept"})
    taken = await book(api, first, space["id"], DAY, "10:00", "11:00")
    assert taken.status_code == 201, taken.text
    joined = await api.client.post(
        f"/api/v1/spaces/{space['id']}/waitlist",
        json={"start": local(DAY, "10:00").isoformat(), "end": local(DAY, "11:00").isoformat()},
        headers=waiting,
    )
    assert joined.status_code == 201, joined.text
    cancelled = await api.client.post(
        f"/api/v1/reservations/{taken.json()['id']}/cancel", headers=first
    )
    assert cancelled.status_code == 200, cancelled.text
    now = utcnow()
    assert "1 offered" in await run(api, "offer-waitlist", now)
    assert of_kind(await inbox(api, waiting), "waitlist_offer_lapsed") == []

    assert "1 lapsed" in await run(api, "offer-waitlist", now + timedelta(minutes=16))
    assert "0 lapsed" in await run(api, "offer-waitlist", now + timedelta(minutes=17))
    [told] = of_kind(await inbox(api, waiting), "waitlist_offer_lapsed")
    assert told["title"] == "候补名额已失效"
    assert space["name"] in told["body"]
    assert told["reservation_id"] is not None
    await n.send(now + timedelta(minutes=17))
    [message] = [m for m in n.wechat.sends if m["template_id"] == LAPSED]
    assert message["data"]["time2"]["value"].endswith(" 10:00")


# --- organization_member_removed ------------------------------------------------------


async def test_a_removed_member_is_told_and_one_who_leaves_is_not(api: Api) -> None:
    owner = await api.resident()
    company = await organization(api, owner)
    removed, leaving = (
        await member_of(api, owner, company["id"]),
        await member_of(api, owner, company["id"]),
    )
    space = await api.space()
    booked = await book(
        api, removed, space["id"], DAY, "10:00", "11:00", organization_id=company["id"]
    )
    assert booked.status_code == 201, booked.text
    removed_id = (await api.client.get("/api/v1/me", headers=removed)).json()["id"]
    gone = await api.client.delete(
        f"/api/v1/organizations/{company['id']}/members/{removed_id}", headers=owner
    )
    assert gone.status_code == 204, gone.text
    [told] = of_kind(await inbox(api, removed), "organization_member_removed")
    assert told["title"] == "已移出单位"
    assert company["name"] in told["body"]
    assert "1 个预约已取消" in told["body"]
    assert told["organization_id"] == company["id"]

    left = await api.client.post(f"/api/v1/organizations/{company['id']}/leave", headers=leaving)
    assert left.status_code == 204, left.text
    assert of_kind(await inbox(api, leaving), "organization_member_removed") == []


# --- access_code_reissued -------------------------------------------------------------


async def test_a_reissued_door_code_tells_the_booker(api: Api) -> None:
    staff = await api.staff()
    space = await api.space(headers=staff)
    await door(api, space["id"], staff)
    resident = await api.resident()
    booked = await book(api, resident, space["id"], DAY, "10:00", "11:00")
    assert booked.status_code == 201, booked.text
    assert of_kind(await inbox(api, resident), "access_code_reissued") == []
    reissued = await api.client.post(
        f"/api/v1/reservations/{booked.json()['id']}/access/reissue", headers=staff
    )
    assert reissued.status_code == 200, reissued.text
    [told] = of_kind(await inbox(api, resident), "access_code_reissued")
    assert told["title"] == "门禁密码已更换"
    assert told["reservation_id"] == booked.json()["id"]
    assert space["name"] in told["body"]


# --- feedback_requested ---------------------------------------------------------------


async def test_a_completed_booking_invites_a_rating_once(telling: Notifying) -> None:
    n, api = telling, telling.api
    space = await api.space()
    resident = await n.resident("openid-feedback")
    await n.subscribe(resident, **{FEEDBACK: "accept"})
    await n.subscribe(resident, **{FEEDBACK: "accept"})
    booked = await book(api, resident, space["id"], DAY, "10:00", "11:00")
    assert booked.status_code == 201, booked.text
    assert "0 bookings completed" in await run(api, "complete-finished", local(DAY, "10:59"))
    assert of_kind(await inbox(api, resident), "feedback_requested") == []

    after = local(DAY, "11:01")
    assert "1 bookings completed" in await run(api, "complete-finished", after)
    assert "0 bookings completed" in await run(api, "complete-finished", after)
    [told] = of_kind(await inbox(api, resident), "feedback_requested")
    assert told["title"] == "欢迎评价"
    assert told["reservation_id"] == booked.json()["id"]
    await n.send(after)
    [message] = [m for m in n.wechat.sends if m["template_id"] == FEEDBACK]
    assert message["page"] == f"pages/reservation/detail?id={booked.json()['id']}"
    assert await n.credits(resident) == {FEEDBACK: 1}  # one message, one credit


async def test_checking_out_invites_a_rating_and_the_job_does_not_again(
    api: Api, clock: Clock
) -> None:
    space = await api.space(requires_check_in=True)
    resident = await api.resident()
    booked = await book(api, resident, space["id"], DAY, "10:00", "11:00")
    assert booked.status_code == 201, booked.text
    held = booked.json()["id"]
    clock.at(DAY, "10:00")
    checked = await check_in(api, resident, held, token=await qr_token(api, space["id"]))
    assert checked.status_code == 200, checked.text
    clock.at(DAY, "10:20")
    left = await check_out(api, resident, held)
    assert left.status_code == 200, left.text
    assert left.json()["status"] == "completed"
    assert len(of_kind(await inbox(api, resident), "feedback_requested")) == 1
    await run(api, "complete-finished", local(DAY, "11:01"))
    assert len(of_kind(await inbox(api, resident), "feedback_requested")) == 1
