"""Bookings that live by the clock: check-in, no-show release, check-out,
completion, expiry, and the release time of the booking window.

The jobs run as of a given instant (as ``zhendi jobs run --at`` does); the
request handlers' clocks are moved with ``Clock`` where a rule reads the time.
"""

from datetime import date, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import Select, select

from app.core.clock import utcnow
from app.core.jobs import Report
from app.jobs.registry import JOBS, run_job
from app.models import AccessCode, AuditEvent, Reservation, ReservationStatus, StaffRole
from app.reservations import lifecycle
from tests.factories import Api, Headers, book, days_ahead, door, local, verified_resident
from tests.test_errors import assert_problem

pytestmark = pytest.mark.dates

DAY = days_ahead(1)
CENTER_ADMIN = StaffRole.center_admin
STUDY_ROOM: dict[str, Any] = {
    "kind": "study_room",
    "booking_mode": "shared",
    "capacity": 1,
    "open_24h": True,
    "opening_hours": [],
    "requires_real_name": True,
    "requires_check_in": True,
    "min_minutes": 30,
    "max_minutes": 480,
}


class Clock:
    """Sets the time the request handlers of ``modules`` read."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch, *modules: str) -> None:
        self.now: datetime | None = None
        for module in modules:
            monkeypatch.setattr(f"{module}.utcnow", self._read)

    def _read(self) -> datetime:
        return self.now if self.now is not None else utcnow()

    def at(self, day: date, clock: str, seconds: int = 0) -> None:
        self.now = local(day, clock) + timedelta(seconds=seconds)


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> Clock:
    return Clock(
        monkeypatch,
        "app.reservations.attendance",
        "app.reservations.router",
    )


async def run(api: Api, name: str, at: datetime) -> Report:
    return await run_job(api.database, api.app.state.settings, JOBS[name], at)


async def room(api: Api, **overrides: Any) -> int:
    return int((await api.space(**{**STUDY_ROOM, **overrides}))["id"])


async def booked(
    api: Api, resident: Headers, space_id: int, start: str = "10:00", end: str = "12:00"
) -> dict[str, Any]:
    response = await book(api, resident, space_id, DAY, start, end)
    assert response.status_code == 201, response.text
    result: dict[str, Any] = response.json()
    return result


async def reservation(api: Api, headers: Headers, reservation_id: int) -> dict[str, Any]:
    response = await api.client.get(f"/api/v1/reservations/{reservation_id}", headers=headers)
    assert response.status_code == 200, response.text
    result: dict[str, Any] = response.json()
    return result


async def qr_token(api: Api, space_id: int, staff: Headers | None = None) -> str:
    response = await api.client.get(
        f"/api/v1/admin/spaces/{space_id}/check-in-qr", headers=staff or await api.staff()
    )
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["svg"].startswith("<svg")
    token: str = body["token"]
    return token


async def check_in(api: Api, headers: Headers, reservation_id: int, **body: Any) -> Any:
    return await api.client.post(
        f"/api/v1/reservations/{reservation_id}/check-in", json=body or None, headers=headers
    )


async def check_out(api: Api, headers: Headers, reservation_id: int) -> Any:
    return await api.client.post(
        f"/api/v1/reservations/{reservation_id}/check-out", headers=headers
    )


async def standing(api: Api, headers: Headers) -> dict[str, Any]:
    response = await api.client.get("/api/v1/me/standing", headers=headers)
    assert response.status_code == 200, response.text
    result: dict[str, Any] = response.json()
    return result


def at(clock: str, seconds: int = 0, day: date = DAY) -> datetime:
    return local(day, clock) + timedelta(seconds=seconds)


# --- space settings ------------------------------------------------------------------


async def test_check_in_settings_and_release_time_are_space_settings(api: Api) -> None:
    staff = await api.staff()
    space = await api.space(
        headers=staff, requires_check_in=True, no_show_after_minutes=20, release_time="08:00"
    )
    assert (space["requires_check_in"], space["check_in_opens_minutes"]) == (True, 15)
    assert (space["no_show_after_minutes"], space["release_time"]) == (20, "08:00")
    url = f"/api/v1/admin/spaces/{space['id']}"
    patched = await api.client.patch(url, json={"release_time": None}, headers=staff)
    assert patched.json()["release_time"] is None
    for bad in ({"release_time": "24:00"}, {"release_time": "8:00"}, {"no_show_after_minutes": 0}):
        assert_problem(
            await api.client.patch(url, json=bad, headers=staff), 422, "validation_failed"
        )
    public = (await api.client.get(f"/api/v1/spaces/{space['id']}")).json()
    assert public["requires_check_in"] is True
    assert public["release_time"] is None


# --- no-shows --------------------------------------------------------------------------


async def test_a_no_show_frees_the_seat_revokes_the_code_and_costs_a_point(api: Api) -> None:
    space_id = await room(api)
    await door(api, space_id)
    holder, other = await verified_resident(api), await verified_resident(api)
    held = await booked(api, holder, space_id)
    assert_problem(await book(api, other, space_id, DAY, "10:30", "12:00"), 409, "space_full")

    assert (await run(api, "release-no-shows", at("10:14", 59))).changed == 0
    report = await run(api, "release-no-shows", at("10:15"))
    assert report.changed == 1
    assert f"reservations {held['id']}" in report.summary

    assert (await reservation(api, holder, held["id"]))["status"] == "no_show"
    async with api.database.reader() as session:
        codes = (await session.scalars(select(AccessCode))).all()
    assert [code.reservation_id for code in codes] == [held["id"]]
    assert codes[0].revoked_at is not None
    slots = (
        await api.client.get(
            f"/api/v1/spaces/{space_id}/availability", params={"date": DAY.isoformat()}
        )
    ).json()["slots"]
    assert {slot["start"][11:16]: slot["remaining"] for slot in slots}["10:00"] == 1
    assert (await book(api, other, space_id, DAY, "10:30", "12:00")).status_code == 201

    mine = await standing(api, holder)
    assert mine["points"] == 1
    [violation] = mine["violations"]
    assert (violation["reservation_id"], violation["kind"]) == (held["id"], "no_show")
    assert violation["counts"] is True
    assert mine["suspended_until"] is None
    # Again, and again later (before the new booking's deadline): nothing more changes.
    assert (await run(api, "release-no-shows", at("10:15"))).changed == 0
    assert (await run(api, "release-no-shows", at("10:44", 59))).changed == 0
    assert (await standing(api, holder))["points"] == 1


async def test_spaces_without_check_in_release_nobody(api: Api) -> None:
    space_id = await room(api, requires_check_in=False)
    held = await booked(api, await verified_resident(api), space_id)
    assert (await run(api, "release-no-shows", at("11:00"))).changed == 0
    report = await run(api, "complete-finished", at("12:00"))
    assert report.changed == 1
    assert (await reservation(api, await api.staff(), held["id"]))["status"] == "completed"


# --- check-in ------------------------------------------------------------------------


async def test_the_owner_checks_in_with_the_rooms_qr_token_inside_the_window(
    api: Api, clock: Clock
) -> None:
    space_id = await room(api, check_in_opens_minutes=15, no_show_after_minutes=15)
    holder = await verified_resident(api)
    held = await booked(api, holder, space_id)
    token = await qr_token(api, space_id)

    clock.at(DAY, "09:44", 59)
    problem = assert_problem(await check_in(api, holder, held["id"], token=token), 409,
                             "check_in_not_open")  # fmt: skip
    assert str(problem["opens_at"]).startswith(f"{DAY.isoformat()}T09:45:00")
    clock.at(DAY, "09:45")
    assert_problem(await check_in(api, holder, held["id"]), 422, "check_in_token_required")
    other_room_token = await qr_token(api, await room(api))
    assert_problem(
        await check_in(api, holder, held["id"], token=other_room_token),
        403,
        "check_in_token_invalid",
    )
    stranger = await verified_resident(api)
    assert_problem(await check_in(api, stranger, held["id"], token=token), 404, "not_found")

    checked = await check_in(api, holder, held["id"], token=token)
    assert checked.status_code == 200, checked.text
    assert checked.json()["status"] == "checked_in"
    assert checked.json()["checked_in_at"].startswith(f"{DAY.isoformat()}T09:45:00")
    again = await check_in(api, holder, held["id"], token=token)  # a second scan changes nothing
    assert again.json()["checked_in_at"] == checked.json()["checked_in_at"]
    assert (await run(api, "release-no-shows", at("11:00"))).changed == 0


async def test_check_in_closes_at_the_no_show_deadline(api: Api, clock: Clock) -> None:
    space_id = await room(api, no_show_after_minutes=10)
    holder = await verified_resident(api)
    held = await booked(api, holder, space_id)
    token = await qr_token(api, space_id)
    clock.at(DAY, "10:10")
    problem = assert_problem(
        await check_in(api, holder, held["id"], token=token), 409, "check_in_closed"
    )
    assert str(problem["closed_at"]).startswith(f"{DAY.isoformat()}T10:10:00")
    clock.at(DAY, "10:09", 59)
    assert (await check_in(api, holder, held["id"], token=token)).status_code == 200


async def test_a_rotated_qr_code_refuses_the_old_token(api: Api, clock: Clock) -> None:
    staff = await api.staff()
    space_id = await room(api)
    holder = await verified_resident(api)
    held = await booked(api, holder, space_id)
    old = await qr_token(api, space_id, staff)
    assert await qr_token(api, space_id, staff) == old  # reading does not change it
    rotated = await api.client.post(
        f"/api/v1/admin/spaces/{space_id}/check-in-qr/rotate", headers=staff
    )
    new = rotated.json()["token"]
    assert new != old
    clock.at(DAY, "10:00")
    assert_problem(await check_in(api, holder, held["id"], token=old), 403,
                   "check_in_token_invalid")  # fmt: skip
    assert (await check_in(api, holder, held["id"], token=new)).status_code == 200


async def test_staff_in_scope_check_in_without_a_token(api: Api, clock: Clock) -> None:
    center = await api.center()
    space_id = await room(api, center_id=center["id"])
    held = await booked(api, await verified_resident(api), space_id)
    clock.at(DAY, "10:05")
    elsewhere = await api.staff(center_ids=[(await api.center())["id"]], role=CENTER_ADMIN)
    assert_problem(await check_in(api, elsewhere, held["id"]), 404, "not_found")
    mine = await api.staff(center_ids=[center["id"]], role=CENTER_ADMIN)
    response = await check_in(api, mine, held["id"])
    assert response.status_code == 200, response.text
    assert response.json()["status"] == "checked_in"


# --- check-out -------------------------------------------------------------------------


async def test_checking_out_frees_the_rest_from_the_next_slot(api: Api, clock: Clock) -> None:
    space_id = await room(api)
    await door(api, space_id)
    holder, other = await verified_resident(api), await verified_resident(api)
    held = await booked(api, holder, space_id)
    clock.at(DAY, "10:00")
    assert (await check_in(api, holder, held["id"], token=await qr_token(api, space_id))).is_success
    clock.at(DAY, "10:40")
    left = await check_out(api, holder, held["id"])
    assert left.status_code == 200, left.text
    assert left.json()["status"] == "completed"
    assert left.json()["end"].startswith(f"{DAY.isoformat()}T11:00:00")
    async with api.database.reader() as session:
        code = await session.scalar(
            select(AccessCode).where(AccessCode.reservation_id == held["id"])
        )
        assert code is not None
        assert code.revoked_at is not None
    assert (await book(api, other, space_id, DAY, "11:00", "12:00")).status_code == 201
    assert_problem(await check_out(api, holder, held["id"]), 409, "invalid_transition")


@pytest.mark.parametrize(
    ("now", "end"), [("10:05", "10:30"), ("09:55", "10:30"), ("10:30", "11:00"), ("11:45", "12:00")]
)
async def test_check_out_keeps_at_least_one_slot(
    api: Api, clock: Clock, now: str, end: str
) -> None:
    space_id = await room(api)
    holder = await verified_resident(api)
    held = await booked(api, holder, space_id)
    clock.at(DAY, "09:50")
    assert (await check_in(api, holder, held["id"], token=await qr_token(api, space_id))).is_success
    clock.at(DAY, now)
    left = await check_out(api, holder, held["id"])
    assert left.json()["end"][11:16] == end


async def test_check_out_refusals(api: Api, clock: Clock) -> None:
    space_id = await room(api, requires_check_in=False)
    holder = await verified_resident(api)
    held = await booked(api, holder, space_id)
    clock.at(DAY, "09:50")
    assert_problem(await check_out(api, holder, held["id"]), 409, "check_out_not_started")
    member = await verified_resident(api)
    clock.at(DAY, "10:30")
    assert_problem(await check_out(api, member, held["id"]), 404, "not_found")
    clock.at(DAY, "12:00")
    assert_problem(await check_out(api, holder, held["id"]), 409, "invalid_transition")
    clock.at(DAY, "10:30")  # confirmed, started, no check-in needed: leaving is allowed
    assert (await check_out(api, await api.staff(), held["id"])).json()["status"] == "completed"


async def test_a_booking_never_checked_in_cannot_check_out_of_its_no_show(
    api: Api, clock: Clock
) -> None:
    space_id = await room(api, no_show_after_minutes=15)
    holder = await verified_resident(api)
    held = await booked(api, holder, space_id)
    clock.at(DAY, "10:01")
    assert_problem(await check_out(api, holder, held["id"]), 409, "check_out_not_checked_in")
    assert (await reservation(api, holder, held["id"]))["status"] == "confirmed"
    assert (await run(api, "release-no-shows", at("10:15"))).changed == 1
    assert (await standing(api, holder))["points"] == 1


async def test_a_token_of_any_characters_is_refused_not_crashed_on(api: Api, clock: Clock) -> None:
    space_id = await room(api)
    holder = await verified_resident(api)
    held = await booked(api, holder, space_id)
    clock.at(DAY, "10:00")
    for token in ("签到码", "é" * 22, await qr_token(api, space_id) + "\u00e9"):
        assert_problem(await check_in(api, holder, held["id"], token=token), 403,
                       "check_in_token_invalid")  # fmt: skip


async def test_check_in_closes_at_the_end_of_a_booking_shorter_than_the_grace(
    api: Api, clock: Clock
) -> None:
    space_id = await room(api, no_show_after_minutes=45)
    holder = await verified_resident(api)
    held = await booked(api, holder, space_id, "10:00", "10:30")
    token = await qr_token(api, space_id)
    clock.at(DAY, "10:30")
    problem = assert_problem(
        await check_in(api, holder, held["id"], token=token), 409, "check_in_closed"
    )
    assert str(problem["closed_at"]).startswith(f"{DAY.isoformat()}T10:30:00")


# --- completion and expiry -------------------------------------------------------------------


async def test_ended_bookings_complete(api: Api, clock: Clock) -> None:
    checked_room, plain_room = await room(api), await room(api, requires_check_in=False)
    came, plain = await verified_resident(api), await verified_resident(api)
    attended = await booked(api, came, checked_room, "10:00", "11:00")
    unchecked = await booked(api, plain, plain_room, "10:00", "11:30")
    clock.at(DAY, "10:00")
    await check_in(api, came, attended["id"], token=await qr_token(api, checked_room))

    assert (await run(api, "complete-finished", at("10:59", 59))).changed == 0
    assert (await run(api, "complete-finished", at("11:00"))).changed == 1
    assert (await reservation(api, came, attended["id"]))["status"] == "completed"
    assert (await run(api, "complete-finished", at("11:30"))).changed == 1
    assert (await reservation(api, plain, unchecked["id"]))["status"] == "completed"
    assert (await run(api, "complete-finished", at("23:00"))).changed == 0


async def test_pending_requests_expire_at_their_start(api: Api) -> None:
    space_id = int((await api.space(requires_approval=True))["id"])
    resident = await api.resident()
    asked = (await book(api, resident, space_id, DAY, "10:00", "11:00")).json()
    assert asked["status"] == "pending"
    assert (await run(api, "expire-pending", at("09:59", 59))).changed == 0
    assert (await run(api, "expire-pending", at("10:00"))).changed == 1
    assert (await reservation(api, resident, asked["id"]))["status"] == "expired"
    history = (
        await api.client.get(f"/api/v1/reservations/{asked['id']}/history", headers=resident)
    ).json()["items"]
    assert (history[-1]["action"], history[-1]["actor_kind"]) == ("expired", "system")
    assert (history[-1]["from_status"], history[-1]["to_status"]) == ("pending", "expired")
    approve = await api.client.post(
        f"/api/v1/reservations/{asked['id']}/approve", headers=await api.staff()
    )
    assert_problem(approve, 409, "invalid_transition")
    # An expired request holds nothing.
    assert (
        await book(api, await api.resident(), space_id, DAY, "10:00", "11:00")
    ).status_code == 201


# --- violations and suspension ------------------------------------------------------------------


async def no_show(api: Api, resident: Headers, space_id: int, day_offset: int) -> int:
    day = days_ahead(day_offset)
    response = await book(api, resident, space_id, day, "10:00", "11:00")
    assert response.status_code == 201, response.text
    assert (await run(api, "release-no-shows", local(day, "10:15"))).changed == 1
    reservation_id: int = response.json()["id"]
    return reservation_id


async def test_a_pardon_weighs_only_the_points_there_were_when_the_suspension_began(
    api: Api,
) -> None:
    center = await api.center()
    staff = await api.staff(center_ids=[center["id"]], role=CENTER_ADMIN)
    space_id = await room(api, center_id=center["id"], advance_days=7)
    resident = await verified_resident(api)
    for offset in (1, 2, 3, 4):  # booked before any suspension
        day = days_ahead(offset)
        assert (await book(api, resident, space_id, day, "10:00", "11:00")).status_code == 201
    for offset in (1, 2, 3, 4):  # the third suspends; the fourth comes during it
        assert (await run(api, "release-no-shows", local(days_ahead(offset), "10:15"))).changed
    mine = await standing(api, resident)
    assert mine["points"] == 4
    assert mine["suspended_until"] is not None
    first = mine["violations"][-1]["id"]  # newest first: the oldest is last
    pardoned = await api.client.post(
        f"/api/v1/admin/violations/{first}/pardon", json={"reason": "核实"}, headers=staff
    )
    assert pardoned.status_code == 200, pardoned.text
    # Two points were left when the suspension began; the fourth came later.
    assert (await standing(api, resident))["suspended_until"] is None


async def test_three_no_shows_suspend_until_a_pardon(api: Api, clock: Clock) -> None:
    center = await api.center()
    staff = await api.staff(center_ids=[center["id"]], role=CENTER_ADMIN)
    space_id = await room(api, center_id=center["id"], advance_days=7)
    resident = await verified_resident(api)
    for offset in (1, 2):
        await no_show(api, resident, space_id, offset)
    assert (await standing(api, resident))["suspended_until"] is None
    await no_show(api, resident, space_id, 3)

    mine = await standing(api, resident)
    assert mine["points"] == 3
    suspended_until = datetime.fromisoformat(mine["suspended_until"])
    third_deadline = local(days_ahead(3), "10:15")
    assert suspended_until == third_deadline + timedelta(days=7)
    refused = assert_problem(await book(api, resident, space_id, days_ahead(5), "10:00", "11:00"),
                             403, "booking_suspended")  # fmt: skip
    assert datetime.fromisoformat(str(refused["until"])) == suspended_until

    violation_id = mine["violations"][0]["id"]  # the latest
    appealed = await api.client.post(
        f"/api/v1/me/violations/{violation_id}/appeal",
        json={"reason": "地铁故障，有停运证明"},
        headers=resident,
    )
    assert appealed.json()["status"] == "appealed"
    again = await api.client.post(
        f"/api/v1/me/violations/{violation_id}/appeal",
        json={"reason": "再次申诉"},
        headers=resident,
    )
    assert_problem(again, 409, "invalid_transition")
    appeals = await api.client.get("/api/v1/admin/violations?status=appealed", headers=staff)
    assert [item["id"] for item in appeals.json()["items"]] == [violation_id]
    outsider = await api.staff(center_ids=[(await api.center())["id"]], role=CENTER_ADMIN)
    assert (await api.client.get("/api/v1/admin/violations", headers=outsider)).json()["total"] == 0
    assert_problem(await api.client.post(f"/api/v1/admin/violations/{violation_id}/pardon",
                   json={"reason": "核实"}, headers=outsider), 403, "out_of_scope")  # fmt: skip

    pardoned = await api.client.post(
        f"/api/v1/admin/violations/{violation_id}/pardon",
        json={"reason": "已核实停运证明"},
        headers=staff,
    )
    assert pardoned.json()["status"] == "pardoned"
    mine = await standing(api, resident)
    assert (mine["points"], mine["suspended_until"]) == (2, None)
    assert (await book(api, resident, space_id, days_ahead(5), "10:00", "11:00")).status_code == 201

    async with api.database.reader() as session:
        actions = (
            await session.scalars(
                select(AuditEvent.action)
                .where(AuditEvent.entity == "violation", AuditEvent.entity_id == violation_id)
                .order_by(AuditEvent.id)
            )
        ).all()
    assert actions == ["record", "suspend", "appeal", "pardon", "lift_suspension"]


async def test_uphold_keeps_the_point_and_only_appeals_are_upheld(api: Api) -> None:
    space_id = await room(api)
    resident = await verified_resident(api)
    await no_show(api, resident, space_id, 1)
    violation_id = (await standing(api, resident))["violations"][0]["id"]
    url = f"/api/v1/admin/violations/{violation_id}"
    staff = await api.staff()
    assert_problem(await api.client.post(f"{url}/uphold", json={"reason": "x"}, headers=staff),
                   409, "invalid_transition")  # fmt: skip
    await api.client.post(
        f"/api/v1/me/violations/{violation_id}/appeal", json={"reason": "生病"}, headers=resident
    )
    upheld = await api.client.post(f"{url}/uphold", json={"reason": "无证明"}, headers=staff)
    assert upheld.json()["status"] == "upheld"
    assert (await standing(api, resident))["points"] == 1
    assert_problem(
        await api.client.post(f"{url}/uphold", json={}, headers=staff), 422, "validation_failed"
    )


async def test_points_older_than_the_centers_window_stop_counting(api: Api) -> None:
    staff = await api.staff()
    center = await api.center(
        headers=staff, violation_points_to_suspend=2, violation_window_days=1, suspension_days=3
    )
    space_id = await room(api, center_id=center["id"], advance_days=7)
    resident = await verified_resident(api)
    await no_show(api, resident, space_id, 1)
    await no_show(api, resident, space_id, 3)  # the first is two days older: it no longer counts
    assert (await standing(api, resident))["suspended_until"] is None
    # Exactly a day after the second: still within the window, 2 points.
    await no_show(api, resident, space_id, 4)
    until = datetime.fromisoformat((await standing(api, resident))["suspended_until"])
    assert until == local(days_ahead(4), "10:15") + timedelta(days=3)


# --- the release time ---------------------------------------------------------------------------


@pytest.mark.parametrize(("seconds", "outcome"), [(-1, 409), (0, 201)])
async def test_the_last_day_opens_at_the_release_time(
    api: Api, clock: Clock, seconds: int, outcome: int
) -> None:
    space_id = await room(api, capacity=10, advance_days=2, release_time="08:00")
    resident = await verified_resident(api)
    today = days_ahead(0)
    clock.now = local(today, "08:00") + timedelta(seconds=seconds)
    response = await book(api, resident, space_id, days_ahead(2), "10:00", "11:00")
    if outcome == 409:
        problem = assert_problem(response, 409, "outside_booking_window")
        assert str(problem["opens_at"]) == local(today, "08:00").isoformat()
        assert "08:00" in str(problem["detail"])
    else:
        assert response.status_code == 201, response.text
    # The days before the last are open all the while.
    assert (await book(api, resident, space_id, days_ahead(1), "10:00", "11:00")).status_code == 201


async def test_the_jobs_read_open_bookings_through_their_index(api: Api) -> None:
    """Every minute each job looks for open bookings: through the partial index
    of them on both engines, not a scan of every booking ever made."""
    pending = select(Reservation.id).where(Reservation.status == ReservationStatus.pending)
    assert "ix_reservations_open_by_start" in await _plan(api, lifecycle.batch_of(pending))
    if api.database.is_sqlite:
        # The control: without the index's own words SQLite does not take it.
        assert "ix_reservations_open_by_start" not in await _plan(api, pending)


async def _plan(api: Api, query: Select[Any]) -> str:
    async with api.database.writer.begin() as session:
        connection = await session.connection()
        sql = str(query.compile(connection, compile_kwargs={"literal_binds": True}))
        if connection.dialect.name == "sqlite":
            rows = await connection.exec_driver_sql("EXPLAIN QUERY PLAN " + sql)
            return " ".join(str(row[-1]) for row in rows)
        # A test database is small enough for a scan to win; the question is
        # whether the index can serve the query at all.
        await connection.exec_driver_sql("SET LOCAL enable_seqscan = off")
        rows = await connection.exec_driver_sql("EXPLAIN " + sql)
        return " ".join(str(row[0]) for row in rows)
