"""Webhooks: endpoints registered by super and district admins, the outbox
written with each change, the signed sender (Standard Webhooks, verified here
with the same library), retries, dead letters, scope, and the address checks.
The receiver is served over real HTTP."""

import asyncio
import ipaddress
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

import pytest
import time_machine
from sqlalchemy import func, select
from standardwebhooks.webhooks import Webhook
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from app.core.clock import utcnow
from app.core.config import InsecureSettingsError, Settings
from app.core.jobs import Report
from app.jobs.registry import JOBS, run_job
from app.models import StaffRole, WebhookDelivery
from app.webhooks import addresses
from app.webhooks.delivery import RETRY_WAITS
from tests.factories import Api, Headers, book, days_ahead, door, local, organization, slot
from tests.fake_wechat import serve
from tests.test_errors import assert_problem
from tests.test_production import production_settings

pytestmark = pytest.mark.dates
WEBHOOKS = "/api/v1/admin/webhooks"


@dataclass
class Received:
    headers: dict[str, str]
    body: bytes


@dataclass
class Receiver:
    """Records every POST; answers ``status`` (a 307 to ``/hook`` at ``/moved``)."""

    base_url: str = ""
    status: int = 204
    delay: float = 0.0
    received: list[Received] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def url(self) -> str:
        return f"{self.base_url}/hook"

    def verified(self, secret: str) -> list[dict[str, Any]]:
        """Every message, its signature checked with the endpoint's secret."""
        hook = Webhook(secret)
        return [hook.verify(message.body, message.headers) for message in self.in_order()]

    def in_order(self) -> list[Received]:
        """By message id: a run sends its claimed rows at once, in any order."""
        return sorted(self.received, key=lambda message: int(message.headers["webhook-id"][4:]))


def _build(receiver: Receiver) -> Starlette:
    async def hook(request: Request) -> Response:
        body = await request.body()
        if receiver.delay:
            await asyncio.sleep(receiver.delay)
        with receiver.lock:
            receiver.received.append(Received(dict(request.headers), body))
        return Response(status_code=receiver.status)

    async def moved(request: Request) -> Response:
        return Response(status_code=307, headers={"location": "/hook"})

    return Starlette(
        routes=[Route("/hook", hook, methods=["POST"]), Route("/moved", moved, methods=["POST"])]
    )


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    made = Receiver()

    def build(base_url: str) -> Starlette:
        made.base_url = base_url
        return _build(made)

    with serve(build):
        yield made


async def register(
    api: Api, headers: Headers, url: str, events: list[str], **extra: Any
) -> dict[str, Any]:
    answer = await api.client.post(
        WEBHOOKS, json={"url": url, "events": events, **extra}, headers=headers
    )
    assert answer.status_code == 201, answer.text
    registered: dict[str, Any] = answer.json()
    return registered


async def send(api: Api, settings: Settings | None = None, at: Any = None) -> Report:
    return await run_job(
        api.database, settings or api.app.state.settings, JOBS["send-webhooks"], at or utcnow()
    )


async def deliveries(api: Api, headers: Headers, webhook_id: int) -> list[dict[str, Any]]:
    answer = await api.client.get(f"{WEBHOOKS}/{webhook_id}/deliveries", headers=headers)
    assert answer.status_code == 200, answer.text
    items: list[dict[str, Any]] = answer.json()["items"]
    return items


async def a_booking(api: Api, space_id: int, start: str = "10:00") -> dict[str, Any]:
    resident = await api.resident()
    end = f"{int(start[:2]) + 1:02d}{start[2:]}"
    answer = await book(api, resident, space_id, days_ahead(2), start, end)
    assert answer.status_code == 201, answer.text
    booked: dict[str, Any] = answer.json()
    booked["headers"] = resident
    return booked


async def test_a_booking_and_its_cancellation_are_delivered_signed(
    api: Api, receiver: Receiver
) -> None:
    admin = await api.staff()
    registered = await register(
        api, admin, receiver.url, ["reservation.created", "reservation.cancelled"],
        description="门户同步",
    )  # fmt: skip
    secret = registered["secret"]
    assert secret.startswith("whsec_")
    webhook = registered["webhook"]
    assert webhook["events"] == ["reservation.cancelled", "reservation.created"]
    listed = await api.client.get(WEBHOOKS, headers=admin)
    assert listed.status_code == 200
    assert [row["id"] for row in listed.json()] == [webhook["id"]]
    assert secret not in listed.text  # shown once, at registration only

    space = await api.space()
    booked = await a_booking(api, space["id"])
    cancelled = await api.client.post(
        f"/api/v1/reservations/{booked['id']}/cancel", headers=booked["headers"]
    )
    assert cancelled.status_code == 200, cancelled.text
    report = await send(api)
    assert report.changed == 2

    messages = receiver.verified(secret)
    assert [message["type"] for message in messages] == [
        "reservation.created",
        "reservation.cancelled",
    ]
    assert messages[0]["data"]["reservation_id"] == booked["id"]
    assert messages[0]["data"]["status"] == "confirmed"
    assert messages[1]["data"]["status"] == "cancelled"
    ids = [message.headers["webhook-id"] for message in receiver.in_order()]
    rows = await deliveries(api, admin, webhook["id"])
    assert [row["message_id"] for row in rows] == ids[::-1]  # newest first
    assert {row["status"] for row in rows} == {"delivered"}
    assert await send(api) == Report(0, "0 delivered, 0 to retry, 0 dead")


async def test_no_endpoint_no_delivery_and_unsubscribed_events_are_not_queued(
    api: Api, receiver: Receiver
) -> None:
    space = await api.space()
    await a_booking(api, space["id"])
    admin = await api.staff()
    await register(api, admin, receiver.url, ["reservation.cancelled"])
    await a_booking(api, space["id"], "12:00")
    async with api.database.reader.begin() as session:
        assert await session.scalar(select(func.count()).select_from(WebhookDelivery)) == 0


async def test_a_district_admins_endpoint_receives_only_its_districts_events(
    api: Api, receiver: Receiver
) -> None:
    super_admin = await api.staff()
    district = await api.staff(StaffRole.district_admin, district="普陀区")
    mine = await register(api, district, receiver.url, ["reservation.created"])
    everything = await register(api, super_admin, receiver.url, ["reservation.created"])
    home = await api.space()  # 普陀区
    elsewhere_center = await api.center(district="徐汇区", street="天平路街道")
    elsewhere = await api.space(elsewhere_center["id"])
    here = await a_booking(api, home["id"])
    there = await a_booking(api, elsewhere["id"])
    await send(api)
    mine_rows = await deliveries(api, district, mine["webhook"]["id"])
    assert [row["data"]["reservation_id"] for row in mine_rows] == [here["id"]]
    all_rows = await deliveries(api, super_admin, everything["webhook"]["id"])
    assert sorted(row["data"]["reservation_id"] for row in all_rows) == sorted(
        [here["id"], there["id"]]
    )
    # Neither sees the other's endpoint (the super admin sees every one).
    hidden = await api.client.get(
        f"{WEBHOOKS}/{everything['webhook']['id']}/deliveries", headers=district
    )
    assert_problem(hidden, 404, "not_found")


async def test_failures_are_retried_on_the_schedule_then_dead_then_retried_by_hand(
    api: Api, receiver: Receiver
) -> None:
    admin = await api.staff()
    registered = await register(api, admin, receiver.url, ["reservation.created"])
    webhook_id = registered["webhook"]["id"]
    space = await api.space()
    await a_booking(api, space["id"])
    receiver.status = 500
    start = utcnow()
    with time_machine.travel(start, tick=False) as traveller:
        assert (await send(api)).summary == "0 delivered, 1 to retry, 0 dead"
        for wait in RETRY_WAITS:
            traveller.shift(wait - timedelta(seconds=1))
            assert (await send(api)).changed == 0  # not due yet
            traveller.shift(timedelta(seconds=1))
            assert (await send(api)).changed == 1
    [row] = await deliveries(api, admin, webhook_id)
    assert row["status"] == "dead"
    assert row["attempts"] == len(RETRY_WAITS) + 1
    assert row["last_status_code"] == 500
    assert row["last_error"] == "HTTP 500"
    assert len({message.headers["webhook-id"] for message in receiver.received}) == 1
    assert sum(RETRY_WAITS, timedelta()) < timedelta(hours=24)

    receiver.status = 200
    retried = await api.client.post(f"{WEBHOOKS}/deliveries/{row['id']}/retry", headers=admin)
    assert retried.status_code == 200, retried.text
    assert retried.json()["status"] == "queued"
    assert (await send(api)).summary == "1 delivered, 0 to retry, 0 dead"
    [row] = await deliveries(api, admin, webhook_id)
    assert row["status"] == "delivered"
    last = receiver.received[-1]  # the earlier ones were signed days ahead, in the travel
    assert Webhook(registered["secret"]).verify(last.body, last.headers)["type"] == (
        "reservation.created"
    )


async def test_two_senders_at_once_deliver_each_message_once(api: Api, receiver: Receiver) -> None:
    admin = await api.staff()
    registered = await register(api, admin, receiver.url, ["reservation.created"])
    space = await api.space(booking_mode="shared", capacity=50)
    for _ in range(12):
        await a_booking(api, space["id"])
    receiver.delay = 0.05  # slow acknowledgements: both senders run while the other sends
    first, second = await asyncio.gather(send(api), send(api))
    assert first.changed + second.changed == 12
    ids = [message.headers["webhook-id"] for message in receiver.received]
    assert len(ids) == len(set(ids)) == 12
    assert len(receiver.verified(registered["secret"])) == 12


async def test_a_redirect_that_keeps_the_post_is_followed_and_checked(
    api: Api, receiver: Receiver
) -> None:
    admin = await api.staff()
    registered = await register(api, admin, f"{receiver.base_url}/moved", ["reservation.created"])
    space = await api.space()
    await a_booking(api, space["id"])
    assert (await send(api)).summary == "1 delivered, 0 to retry, 0 dead"
    assert len(receiver.verified(registered["secret"])) == 1


async def test_production_refuses_private_addresses(api: Api, receiver: Receiver) -> None:
    admin = await api.staff()
    registered = await register(api, admin, receiver.url, ["reservation.created"])
    production = production_settings(api.app.state.settings.database_url)
    assert not production.webhooks_reach_private
    with pytest.raises(InsecureSettingsError, match="ZHENDI_WEBHOOK_PRIVATE_ADDRESSES"):
        production_settings(production.database_url, webhook_private_addresses=True)
    space = await api.space()
    await a_booking(api, space["id"])
    # Registered while allowed, refused at the send: nothing reaches the receiver.
    assert (await send(api, production)).summary == "0 delivered, 1 to retry, 0 dead"
    assert receiver.received == []
    [row] = await deliveries(api, admin, registered["webhook"]["id"])
    assert row["last_error"].startswith("refused")

    api.app.state.settings = production
    for url in (receiver.url, "http://169.254.169.254/latest", "http://[::1]/", "http://10.1.2.3/"):
        refused = await api.client.post(
            WEBHOOKS, json={"url": url, "events": ["reservation.created"]}, headers=admin
        )
        assert_problem(refused, 422, "webhook_url_refused")


@pytest.mark.parametrize(
    ("address", "public"),
    [
        ("8.8.8.8", True),
        ("2001:4860:4860::8888", True),
        ("127.0.0.1", False),
        ("10.0.0.1", False),
        ("172.16.5.4", False),
        ("192.168.1.1", False),
        ("169.254.169.254", False),
        ("100.64.0.1", False),
        ("0.0.0.0", False),
        ("::1", False),
        ("fe80::1", False),
        ("fc00::1", False),
        ("::ffff:127.0.0.1", False),
        ("224.0.0.1", False),
    ],
)
def test_which_addresses_are_public(address: str, public: bool) -> None:
    assert addresses.is_public(ipaddress.ip_address(address)) is public


async def test_bad_registrations_are_refused_and_change_nothing(
    api: Api, receiver: Receiver
) -> None:
    admin = await api.staff()
    center_admin = await api.staff(StaffRole.center_admin)
    cases = [
        ({"url": receiver.url, "events": []}, 422, "validation_failed"),
        ({"url": receiver.url, "events": ["reservation.eaten"]}, 422, "validation_failed"),
        ({"url": "ftp://example.com/x", "events": ["reservation.created"]}, 422,
         "webhook_url_refused"),
        ({"url": "http://[::1/hook", "events": ["reservation.created"]}, 422,
         "webhook_url_refused"),
        ({"url": "http://127.0.0.1:port/", "events": ["reservation.created"]}, 422,
         "webhook_url_refused"),
        ({"url": "http://host.invalid/hook", "events": ["reservation.created"]}, 422,
         "webhook_url_refused"),
        ({"url": receiver.url, "events": ["reservation.created"], "secret": "mine"}, 422,
         "validation_failed"),
    ]  # fmt: skip
    for body, status, code in cases:
        assert_problem(await api.client.post(WEBHOOKS, json=body, headers=admin), status, code)
    refused = await api.client.post(
        WEBHOOKS, json={"url": receiver.url, "events": ["reservation.created"]},
        headers=center_admin,
    )  # fmt: skip
    assert_problem(refused, 403, "forbidden")
    assert (await api.client.get(WEBHOOKS, headers=admin)).json() == []


async def test_a_deactivated_endpoint_gets_nothing_more(api: Api, receiver: Receiver) -> None:
    admin = await api.staff()
    registered = await register(api, admin, receiver.url, ["reservation.created"])
    webhook_id = registered["webhook"]["id"]
    space = await api.space()
    await a_booking(api, space["id"])
    gone = await api.client.delete(f"{WEBHOOKS}/{webhook_id}", headers=admin)
    assert gone.status_code == 204
    await a_booking(api, space["id"], "12:00")
    assert (await send(api)).changed == 0
    assert await deliveries(api, admin, webhook_id) == []
    assert receiver.received == []


async def test_each_kind_of_change_queues_its_event(api: Api, receiver: Receiver) -> None:
    admin = await api.staff()
    everything = [
        "reservation.created", "reservation.moved", "reservation.cancelled",
        "reservation.checked_in", "reservation.no_show", "reservation.completed",
        "activity.published", "activity.cancelled", "organization.verified",
        "suggestion.created",
    ]  # fmt: skip
    registered = await register(api, admin, receiver.url, everything)
    center = await api.center()
    space = await api.space(center["id"], requires_check_in=True, no_show_after_minutes=15)
    booked = await a_booking(api, space["id"])
    moved = await api.client.patch(
        f"/api/v1/reservations/{booked['id']}",
        json=slot(days_ahead(2), "14:00", "15:00"),
        headers=booked["headers"],
    )
    assert moved.status_code == 200, moved.text
    late = await a_booking(api, space["id"], "16:00")
    cancelled = await api.client.post(
        f"/api/v1/reservations/{booked['id']}/cancel", headers=booked["headers"]
    )
    assert cancelled.status_code == 200, cancelled.text
    missed = await a_booking(api, space["id"], "18:00")
    activity = await api.client.post(
        "/api/v1/activities",
        json={
            "title": "党课：学习党章", "description": "支部书记讲党课",
            "category": "party_lecture", "center_id": center["id"],
            **slot(days_ahead(3), "19:00", "20:30"), "capacity": 30, "publish": True,
        },
        headers=admin,
    )  # fmt: skip
    assert activity.status_code == 201, activity.text
    dropped = await api.client.post(
        f"/api/v1/activities/{activity.json()['id']}/cancel",
        json={"reason": "主讲人临时有事"},
        headers=admin,
    )
    assert dropped.status_code == 200, dropped.text
    owned = await organization(api, await api.resident(), center_id=center["id"])
    raised = await api.client.post(
        "/api/v1/suggestions",
        json={"center_id": center["id"], "category": "facilities", "text": "空调太冷",
              "contact_ok": False},
        headers=await api.resident(),
    )  # fmt: skip
    assert raised.status_code == 201, raised.text
    with time_machine.travel(local(days_ahead(2), "16:05")):
        staff_in = await api.client.post(
            f"/api/v1/reservations/{late['id']}/check-in", json={}, headers=await api.staff()
        )
    assert staff_in.status_code == 200, staff_in.text
    after = local(days_ahead(2), "19:30")
    for job in ("release-no-shows", "complete-finished"):
        await run_job(api.database, api.app.state.settings, JOBS[job], after)

    rows = await deliveries(api, admin, registered["webhook"]["id"])
    told = {(row["event"], row["data"].get("reservation_id")) for row in rows}
    assert told >= {
        ("reservation.created", booked["id"]),
        ("reservation.moved", booked["id"]),
        ("reservation.cancelled", booked["id"]),
        ("reservation.checked_in", late["id"]),
        ("reservation.completed", late["id"]),
        ("reservation.no_show", missed["id"]),
    }
    by_event = {row["event"]: row["data"] for row in rows}
    assert by_event["activity.published"]["activity_id"] == activity.json()["id"]
    assert by_event["activity.cancelled"]["status"] == "cancelled"
    assert by_event["organization.verified"]["organization_id"] == owned["id"]
    # A suggestion's message says what and when it is due, never its text.
    assert by_event["suggestion.created"]["suggestion_id"] == raised.json()["id"]
    assert "空调" not in str(by_event["suggestion.created"])
    assert {row["center_id"] for row in rows} == {center["id"]}


async def test_a_keypad_lockout_queues_door_locked_out(api: Api, receiver: Receiver) -> None:
    admin = await api.staff()
    registered = await register(api, admin, receiver.url, ["door.locked_out"])
    space = await api.space()
    door_id, device = await door(api, space["id"])
    answers = [
        (
            await api.client.post(
                f"/api/v1/doors/{door_id}/verify", json={"code": "20261207"}, headers=device
            )
        ).status_code
        for _ in range(6)
    ]
    assert answers[-1] == 429  # locked out
    [row] = await deliveries(api, admin, registered["webhook"]["id"])
    assert row["event"] == "door.locked_out"
    assert (row["data"]["door_id"], row["data"]["space_id"]) == (door_id, space["id"])
    assert row["center_id"] == space["center_id"]
    assert (await send(api)).summary == "1 delivered, 0 to retry, 0 dead"


async def test_a_refused_booking_queues_nothing(api: Api, receiver: Receiver) -> None:
    """The delivery is written with the booking, so a refused one writes none."""
    admin = await api.staff()
    registered = await register(api, admin, receiver.url, ["reservation.created"])
    space = await api.space()  # exclusive
    await a_booking(api, space["id"])
    clash = await book(api, await api.resident(), space["id"], days_ahead(2), "10:00", "11:00")
    assert clash.status_code == 409, clash.text
    assert len(await deliveries(api, admin, registered["webhook"]["id"])) == 1
