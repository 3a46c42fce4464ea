"""Notifications: written with the change they tell of, read in the inbox,
sent by the ``send-notifications`` job to a fake WeChat over real HTTP, each
one spending a credit the user gave with ``wx.requestSubscribeMessage``."""

import asyncio
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import httpx
import pytest
from sqlalchemy import event, select, update

from app.core.clock import utcnow
from app.core.config import Settings
from app.core.db import Database
from app.jobs.registry import JOBS, run_job
from app.main import create_app
from app.models import Delivery, Notification, StaffRole
from app.notifications.templates import TemplateSettingsError, fit
from tests.conftest import LOG_BOOK, make_settings, running
from tests.factories import Api, Headers, book, days_ahead, local, organization
from tests.fake_wechat import APP_ID, APP_SECRET, FakeWechat, serve_fake_wechat
from tests.test_errors import assert_problem

pytestmark = pytest.mark.dates

DAY = days_ahead(2)
APPROVED = "TPL-APPROVED"
CONFIRMED = "TPL-CONFIRMED"
CANCELLED = "TPL-CANCELLED"
TEMPLATES: dict[str, Any] = {
    "booking_approved": {
        "template_id": APPROVED,
        "data": {"thing1": "{center_name}{space_name}", "time2": "start", "phrase3": "status"},
    },
    "booking_confirmed": {"template_id": CONFIRMED, "data": {"thing1": "space_name"}},
    "booking_cancelled_by_staff": {
        "template_id": CANCELLED,
        "page": "pages/mine/index",
        "data": {"thing1": "space_name", "thing2": "reason"},
    },
}


@dataclass
class Notifying:
    api: Api
    wechat: FakeWechat
    settings: Settings

    async def send(self, at: datetime | None = None, database: Database | None = None) -> str:
        job = JOBS["send-notifications"]
        report = await run_job(database or self.api.database, self.settings, job, at or utcnow())
        return report.summary

    async def resident(self, openid: str) -> Headers:
        return await self.api.resident(openid)

    async def subscribe(self, headers: Headers, **results: str) -> dict[str, Any]:
        response = await self.api.client.post(
            "/api/v1/me/subscriptions", json={"results": results}, headers=headers
        )
        assert response.status_code == 200, response.text
        return {row["template_id"]: row["credits"] for row in response.json()["templates"]}

    async def credits(self, headers: Headers) -> dict[str, int]:
        response = await self.api.client.get("/api/v1/me/subscriptions", headers=headers)
        assert response.status_code == 200, response.text
        return {row["template_id"]: row["credits"] for row in response.json()["templates"]}

    async def inbox(self, headers: Headers, path: str = "/api/v1/me/notifications") -> Any:
        response = await self.api.client.get(path, headers=headers)
        assert response.status_code == 200, response.text
        return response.json()

    async def pending_request(self, resident: Headers, staff: Headers) -> dict[str, Any]:
        space = await self.api.space(headers=staff, requires_approval=True)
        response = await book(self.api, resident, space["id"], DAY, "10:00", "11:00")
        assert response.status_code == 201, response.text
        assert response.json()["status"] == "pending"
        result: dict[str, Any] = response.json()
        return result


def wechat_settings(database_url: str, wechat: FakeWechat, **overrides: Any) -> Settings:
    return make_settings(
        database_url,
        wechat_app_id=APP_ID,
        wechat_app_secret=APP_SECRET,
        wechat_api_base=wechat.base_url,
        # Under the fake's 3 s "timeout", well over its 0.8 s "slow" on a loaded machine.
        wechat_timeout_seconds=2,
        wechat_templates=TEMPLATES,
        notification_retry_seconds=60,
        **overrides,
    )


@pytest.fixture
def fake_wechat() -> Iterator[FakeWechat]:
    with serve_fake_wechat() as fake:
        yield fake


@pytest.fixture
async def notifying(database_url: str, fake_wechat: FakeWechat) -> AsyncIterator[Notifying]:
    settings = wechat_settings(database_url, fake_wechat)
    async with running(settings) as api:
        yield Notifying(api, fake_wechat, settings)


async def deliveries(api: Api) -> list[Delivery]:
    async with api.database.reader() as session:
        rows = await session.scalars(
            select(Notification.delivery).where(Notification.user_id.is_not(None))
        )
        return list(rows.all())


# --- one message per credit ----------------------------------------------------------------


async def test_an_approval_with_a_credit_sends_one_message_and_spends_it(
    notifying: Notifying,
) -> None:
    n, wechat = notifying, notifying.wechat
    resident, staff = await n.resident("openid-approved"), await n.api.staff()
    assert await n.subscribe(resident, **{APPROVED: "accept"}) == {APPROVED: 1}
    request = await n.pending_request(resident, staff)
    approved = await n.api.client.post(
        f"/api/v1/reservations/{request['id']}/approve", headers=staff
    )
    assert approved.status_code == 200, approved.text

    assert "1 sent" in await n.send()
    assert "0 sent" in await n.send()  # sent once, whatever runs next

    [message] = wechat.sends
    assert message["touser"] == "dev-openid-approved"  # as dev login names it
    assert message["template_id"] == APPROVED
    assert message["page"] == f"pages/reservation/detail?id={request['id']}"
    assert message["miniprogram_state"] == "formal"
    space_name = request["space_name"]
    center = (await n.api.client.get(f"/api/v1/centers/{request['center_id']}")).json()
    assert message["data"]["thing1"]["value"] == fit("thing1", center["name"] + space_name)
    assert message["data"]["time2"]["value"].endswith(" 10:00")
    assert message["data"]["phrase3"]["value"] == "已确认"
    assert await n.credits(resident) == {APPROVED: 0}
    inbox = await n.inbox(resident)
    assert [item["kind"] for item in inbox["items"]] == ["booking_approved"]
    assert inbox["items"][0]["title"] == "预约已通过审批"
    assert space_name in inbox["items"][0]["body"]
    assert inbox["unread"] == 1
    staff_inbox = await n.inbox(staff, "/api/v1/admin/notifications")
    assert [item["kind"] for item in staff_inbox["items"]] == ["approval_requested"]


async def test_without_a_credit_only_the_inbox_hears_of_it(notifying: Notifying) -> None:
    n = notifying
    resident, staff = await n.resident("openid-no-credit"), await n.api.staff()
    await n.subscribe(resident, **{APPROVED: "reject"})
    request = await n.pending_request(resident, staff)
    await n.api.client.post(f"/api/v1/reservations/{request['id']}/approve", headers=staff)
    await n.send()
    assert n.wechat.sends == []
    assert await deliveries(n.api) == [Delivery.no_credit]
    assert [item["kind"] for item in (await n.inbox(resident))["items"]] == ["booking_approved"]


async def test_a_kind_without_a_template_goes_to_the_inbox_only(notifying: Notifying) -> None:
    n = notifying
    resident, staff = await n.resident("openid-rejected"), await n.api.staff()
    await n.subscribe(resident, **{APPROVED: "accept"})
    request = await n.pending_request(resident, staff)
    rejected = await n.api.client.post(
        f"/api/v1/reservations/{request['id']}/reject", json={"reason": "场地检修"}, headers=staff
    )
    assert rejected.status_code == 200, rejected.text
    await n.send()
    assert n.wechat.sends == []
    assert await n.credits(resident) == {APPROVED: 1}  # nothing spent on it
    [item] = (await n.inbox(resident))["items"]
    assert item["kind"] == "booking_rejected"
    assert "场地检修" in item["body"]


async def test_a_confirmed_booking_tells_its_booker_through_the_pipeline(
    notifying: Notifying,
) -> None:
    n = notifying
    resident = await n.resident("openid-confirmed")
    await n.subscribe(resident, **{CONFIRMED: "accept"})
    space = await n.api.space()
    response = await book(n.api, resident, space["id"], DAY, "14:00", "15:00")
    assert response.status_code == 201, response.text
    await n.send()
    [message] = n.wechat.sends
    assert message["template_id"] == CONFIRMED
    assert message["data"]["thing1"]["value"] == fit("thing1", space["name"])
    [item] = (await n.inbox(resident))["items"]
    assert (item["kind"], item["reservation_id"]) == ("booking_confirmed", response.json()["id"])


async def test_a_staff_cancellation_says_why(notifying: Notifying) -> None:
    n = notifying
    resident, staff = await n.resident("openid-cancelled"), await n.api.staff()
    await n.subscribe(resident, **{CANCELLED: "accept"})
    space = await n.api.space(headers=staff)
    booked = (await book(n.api, resident, space["id"], DAY, "14:00", "15:00")).json()
    reason = "临时安排区委会议，给您带来不便敬请谅解，谢谢配合"
    cancelled = await n.api.client.post(
        f"/api/v1/reservations/{booked['id']}/cancel", json={"reason": reason}, headers=staff
    )
    assert cancelled.status_code == 200, cancelled.text
    await n.send()
    [message] = n.wechat.sends
    assert message["page"] == "pages/mine/index"
    # A thing field takes 20 characters: the reason is cut, not the send failed.
    assert message["data"]["thing2"]["value"] == reason[:19] + "…"
    kinds = [item["kind"] for item in (await n.inbox(resident))["items"]]
    assert kinds == ["booking_cancelled_by_staff", "booking_confirmed"]


# --- WeChat's errors -----------------------------------------------------------------------


async def approved_with_credit(n: Notifying, openid: str, credits: int = 1) -> Headers:
    resident, staff = await n.resident(openid), await n.api.staff()
    for _ in range(credits):
        await n.subscribe(resident, **{APPROVED: "accept"})
    request = await n.pending_request(resident, staff)
    await n.api.client.post(f"/api/v1/reservations/{request['id']}/approve", headers=staff)
    return resident


async def test_43101_zeroes_the_credits_and_is_not_retried(notifying: Notifying) -> None:
    n = notifying
    resident = await approved_with_credit(n, "openid-43101", credits=3)
    n.wechat.script = [43101]
    assert "1 failed" in await n.send()
    assert await n.credits(resident) == {APPROVED: 0}
    assert await deliveries(n.api) == [Delivery.refused]
    await n.send(utcnow() + timedelta(hours=1))
    assert len(n.wechat.send_attempts) == 1


async def test_an_invalid_token_is_refreshed_once_and_the_send_retried(
    notifying: Notifying,
) -> None:
    n = notifying
    await approved_with_credit(n, "openid-40001")
    await n.api.client.get("/healthz")
    await n.send()  # takes the first token (nothing to send yet but the approval)
    assert len(n.wechat.sends) == 1
    await approved_with_credit(n, "openid-40001-again")
    n.wechat.expire_token()
    await n.send()
    assert len(n.wechat.sends) == 2
    assert [call["force_refresh"] for call in n.wechat.token_calls] == [False, True]
    assert [attempt["access_token"] for attempt in n.wechat.send_attempts] == [
        "TOKEN-1",
        "TOKEN-1",
        "TOKEN-2",
    ]
    # The token travels in the URL, which no log line shows.
    assert not [line for line in LOG_BOOK.lines if "TOKEN-" in line]


async def test_one_token_serves_every_process(notifying: Notifying, database_url: str) -> None:
    """A second app on the same database (another process, as far as the
    database can tell) uses the token the first one fetched."""
    n = notifying
    await approved_with_credit(n, "openid-process-1")
    await n.send()
    other = Database.connect(n.settings)
    await other.open()
    try:
        await approved_with_credit(n, "openid-process-2")
        await n.send(database=other)
    finally:
        await other.dispose()
    assert len(n.wechat.sends) == 2
    assert len(n.wechat.token_calls) == 1


async def test_timeouts_and_5xx_retry_with_backoff_then_become_a_dead_letter(
    database_url: str, fake_wechat: FakeWechat
) -> None:
    settings = wechat_settings(database_url, fake_wechat, notification_max_attempts=3)
    async with running(settings) as api:
        n = Notifying(api, fake_wechat, settings)
        resident = await approved_with_credit(n, "openid-flaky")
        fake_wechat.script = ["500", "timeout", "500"]
        start = utcnow()
        assert "1 to retry" in await n.send(start)
        # Not before its backoff (60 s, then 120 s).
        assert "0 to retry" in await n.send(start + timedelta(seconds=30))
        assert "1 to retry" in await n.send(start + timedelta(seconds=61))
        assert "0 to retry" in await n.send(start + timedelta(seconds=61 + 100))
        assert "1 failed" in await n.send(start + timedelta(seconds=61 + 121))
        assert len(fake_wechat.send_attempts) == 3
        assert fake_wechat.sends == []
        assert await n.credits(resident) == {APPROVED: 1}  # WeChat used none
        failed = await api.client.get(
            "/api/v1/admin/notifications/failed", headers=await api.staff()
        )
        assert failed.status_code == 200, failed.text
        [dead] = failed.json()["items"]
        assert (dead["kind"], dead["delivery"], dead["attempts"]) == (
            "booking_approved",
            "failed",
            3,
        )
        assert "500" in dead["last_error"]
        # Its inbox entry is there all the same.
        assert (await n.inbox(resident))["items"][0]["kind"] == "booking_approved"
        # Staff of another center do not see it.
        elsewhere = await api.staff(StaffRole.district_admin, district="嘉定区")
        others = await api.client.get("/api/v1/admin/notifications/failed", headers=elsewhere)
        assert others.json()["items"] == []


async def test_a_message_too_late_to_send_goes_back_to_the_inbox_with_its_credit(
    notifying: Notifying,
) -> None:
    n = notifying
    resident = await approved_with_credit(n, "openid-late")
    n.wechat.script = ["500"]
    start = utcnow()
    assert "1 to retry" in await n.send(start)
    assert await n.credits(resident) == {APPROVED: 0}  # held by the try
    assert "1 inbox only" in await n.send(start + timedelta(hours=7))
    assert await n.credits(resident) == {APPROVED: 1}
    assert await deliveries(n.api) == [Delivery.inbox]
    assert n.wechat.sends == []


async def test_two_workers_never_send_the_same_notification_twice(
    notifying: Notifying,
) -> None:
    n = notifying
    staff = await n.api.staff()
    space = await n.api.space(headers=staff, requires_approval=True)
    requests = []
    for i in range(12):
        resident = await n.resident(f"openid-race-{i}")
        await n.subscribe(resident, **{APPROVED: "accept"})
        start = f"{9 + i // 2:02d}:{30 * (i % 2):02d}"
        end_minutes = 9 * 60 + 30 * i + 30
        end = f"{end_minutes // 60:02d}:{end_minutes % 60:02d}"
        response = await book(n.api, resident, space["id"], DAY, start, end)
        assert response.status_code == 201, response.text
        requests.append(response.json()["id"])
    for trial in range(3):
        for reservation_id in requests[trial * 4 : trial * 4 + 4]:
            await n.api.client.post(f"/api/v1/reservations/{reservation_id}/approve", headers=staff)
        workers = [Database.connect(n.settings) for _ in range(2)]
        for worker in workers:
            await worker.open()
        try:
            await asyncio.gather(*(n.send(database=worker) for worker in workers))
        finally:
            for worker in workers:
                await worker.dispose()
        touched = [message["touser"] for message in n.wechat.sends]
        assert len(touched) == len(set(touched)) == 4 * (trial + 1)


async def test_a_run_that_began_long_ago_leases_from_its_claim(notifying: Notifying) -> None:
    """A slow run's claims stay leased while it sends: a run that starts
    meanwhile takes none of them."""
    n = notifying
    for i in range(3):
        await approved_with_credit(n, f"openid-slow-{i}")
    started_long_ago = utcnow() - timedelta(minutes=10)
    async with n.api.database.writer.begin() as session:  # due since before that run began
        await session.execute(
            update(Notification).values(next_attempt_at=started_long_ago - timedelta(minutes=1))
        )
    n.wechat.script = ["slow"] * 3
    slow = asyncio.ensure_future(n.send(started_long_ago))
    await asyncio.sleep(0.4)  # its three sends are in flight
    assert "0 sent" in await n.send()
    assert "3 sent" in await slow
    assert len(n.wechat.send_attempts) == 3


async def test_a_rolled_back_change_tells_nobody(notifying: Notifying) -> None:
    """Only the transaction that approves fails to commit: a notification
    written in a transaction of its own would survive it."""
    n = notifying
    resident, staff = await n.resident("openid-rollback"), await n.api.staff()
    await n.subscribe(resident, **{APPROVED: "accept"})
    request = await n.pending_request(resident, staff)
    engine = n.api.database.engine.sync_engine

    def note_approval(connection: Any, cursor: Any, statement: str, *args: Any) -> None:
        # The approval itself is written by the booking store on the session's
        # own connection, past the ORM's events; the booker's notification is
        # the ORM's, in the same transaction.
        if statement.lstrip().upper().startswith("INSERT INTO NOTIFICATIONS"):
            connection.info["approving"] = True

    def refuse_commit(connection: Any) -> None:
        if connection.info.pop("approving", False):
            raise RuntimeError("the disk is full")

    event.listen(engine, "before_cursor_execute", note_approval)
    event.listen(engine, "commit", refuse_commit)
    try:
        transport = httpx.ASGITransport(app=n.api.app, raise_app_exceptions=False)
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
            approved = await client.post(
                f"/api/v1/reservations/{request['id']}/approve", headers=staff
            )
    finally:
        event.remove(engine, "commit", refuse_commit)
        event.remove(engine, "before_cursor_execute", note_approval)
    assert_problem(approved, 500, "internal_error")
    await n.send()
    assert n.wechat.sends == []
    assert (await n.inbox(resident))["items"] == []


# --- the inbox ----------------------------------------------------------------------------


async def test_the_inbox_pages_newest_first_and_marks_read(notifying: Notifying) -> None:
    n = notifying
    resident, staff = await n.resident("openid-inbox"), await n.api.staff()
    space = await n.api.space(headers=staff)
    for hour in (9, 10, 11):
        await book(n.api, resident, space["id"], DAY, f"{hour}:00", f"{hour}:30")
    inbox = await n.inbox(resident)
    ids = [item["id"] for item in inbox["items"]]
    assert ids == sorted(ids, reverse=True)
    assert (inbox["total"], inbox["unread"]) == (3, 3)
    assert inbox["items"][0]["created_at"].endswith("+08:00")

    read = await n.api.client.post(f"/api/v1/me/notifications/{ids[1]}/read", headers=resident)
    assert read.status_code == 200, read.text
    first_read_at = read.json()["read_at"]
    again = await n.api.client.post(f"/api/v1/me/notifications/{ids[1]}/read", headers=resident)
    assert again.json()["read_at"] == first_read_at
    unread = await n.inbox(resident, "/api/v1/me/notifications?unread=true&limit=1")
    assert ([item["id"] for item in unread["items"]], unread["total"]) == ([ids[0]], 2)

    stranger = await n.resident("openid-stranger")
    theirs = await n.api.client.post(f"/api/v1/me/notifications/{ids[0]}/read", headers=stranger)
    assert_problem(theirs, 404, "not_found")

    marked = await n.api.client.post("/api/v1/me/notifications/read-all", headers=resident)
    assert marked.json() == {"marked": 2}
    assert (await n.inbox(resident))["unread"] == 0


async def test_approval_requests_reach_the_staff_whose_scope_covers_the_space(
    notifying: Notifying,
) -> None:
    n = notifying
    center = await n.api.center(district="徐汇区")
    own = await n.api.staff(StaffRole.center_admin, center_ids=[center["id"]])
    district = await n.api.staff(StaffRole.district_admin, district="徐汇区")
    other_district = await n.api.staff(StaffRole.district_admin, district="嘉定区")
    other_center = await n.api.staff(
        StaffRole.center_admin, center_ids=[(await n.api.center())["id"]]
    )
    space = await n.api.space(center["id"], headers=own, requires_approval=True)
    resident = await n.resident("openid-asks")
    response = await book(n.api, resident, space["id"], DAY, "10:00", "11:00")
    assert response.json()["status"] == "pending"
    for headers, told in ((own, 1), (district, 1), (other_district, 0), (other_center, 0)):
        inbox = await n.inbox(headers, "/api/v1/admin/notifications")
        assert len(inbox["items"]) == told
    assert (await n.inbox(resident))["items"] == []  # a request confirms nothing yet


async def test_organization_owners_hear_the_decision(notifying: Notifying) -> None:
    n = notifying
    owner = await n.resident("openid-owner")
    company = await organization(n.api, owner, verified=False)
    rejected = await n.api.client.post(
        f"/api/v1/admin/organizations/{company['id']}/reject",
        json={"reason": "营业执照模糊"},
        headers=await n.api.staff(),
    )
    assert rejected.status_code == 200, rejected.text
    [item] = (await n.inbox(owner))["items"]
    assert item["kind"] == "organization_rejected"
    assert "营业执照模糊" in item["body"]


# --- the credit ledger ------------------------------------------------------------------


async def test_credits_count_accepts_and_a_ban_clears_them(notifying: Notifying) -> None:
    n = notifying
    resident = await n.resident("openid-ledger")
    assert await n.subscribe(resident, **{APPROVED: "accept", CONFIRMED: "reject"}) == {
        APPROVED: 1,
        CONFIRMED: 0,
    }
    assert await n.subscribe(resident, **{APPROVED: "accept", CONFIRMED: "filter"}) == {
        APPROVED: 2,
        CONFIRMED: 0,
    }
    assert await n.subscribe(resident, **{APPROVED: "reject"}) == {APPROVED: 2, CONFIRMED: 0}
    assert await n.subscribe(resident, **{APPROVED: "ban"}) == {APPROVED: 0, CONFIRMED: 0}
    unknown = await n.api.client.post(
        "/api/v1/me/subscriptions", json={"results": {"TPL-NOBODY": "accept"}}, headers=resident
    )
    assert_problem(unknown, 422, "unknown_template")
    wrong = await n.api.client.post(
        "/api/v1/me/subscriptions", json={"results": {APPROVED: "maybe"}}, headers=resident
    )
    assert wrong.status_code == 422
    assert await n.credits(resident) == {APPROVED: 0, CONFIRMED: 0}


# --- the jobs that write notifications -------------------------------------------------------


async def test_a_booking_is_reminded_once_before_it_starts(notifying: Notifying) -> None:
    n = notifying
    resident = await n.resident("openid-reminded")
    space = await n.api.space()
    booked = (await book(n.api, resident, space["id"], DAY, "10:00", "11:00")).json()
    remind = JOBS["remind-upcoming"]
    start = local(DAY, "10:00")
    early = await run_job(n.api.database, n.settings, remind, start - timedelta(minutes=31))
    assert early.changed == 0
    for minutes in (29, 10):
        await run_job(n.api.database, n.settings, remind, start - timedelta(minutes=minutes))
    kinds = [item["kind"] for item in (await n.inbox(resident))["items"]]
    assert kinds == ["booking_reminder", "booking_confirmed"]
    assert (await n.inbox(resident))["items"][0]["reservation_id"] == booked["id"]


# --- the setting ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("templates", "problem"),
    [
        ({"booking_lost": {"template_id": "T", "data": {"thing1": "space_name"}}}, "booking_lost"),
        ({"booking_approved": {"template_id": "T", "data": {"thing1": "colour"}}}, "colour"),
        ({"booking_approved": {"template_id": "T", "data": {"time1": "space_name"}}}, "time1"),
        ({"booking_approved": {"template_id": "T", "data": {"weird": "start"}}}, "weird"),
        ({"approval_requested": {"template_id": "T", "data": {"thing1": "start"}}}, "approval"),
    ],
)
def test_a_templates_setting_wechat_could_not_send_stops_the_start(
    templates: dict[str, Any], problem: str, database_url: str
) -> None:
    settings = make_settings(database_url, wechat_templates=templates)
    with pytest.raises(TemplateSettingsError, match=problem):
        create_app(settings)


def test_values_are_cut_to_what_each_field_takes() -> None:
    assert fit("thing1", "一" * 25) == "一" * 19 + "…"
    assert fit("thing1", "") == "-"
    assert fit("phrase2", "已确认预约") == "已确认预约"
    assert fit("phrase2", "已确认的预约") == "已确认的预"
    assert fit("character_string3", "No.12 会议室") == "No.12"
    assert fit("number4", "共 12 人") == "12"
    assert fit("name5", "欧阳娜娜娜娜娜娜娜娜娜") == "欧阳娜娜娜娜娜娜娜…"
    assert fit("name5", "Alexandra Papadopoulou-Smith") == "Alexandra Papadopoulou-Smith"[:20]
