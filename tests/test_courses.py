"""Courses (课程菜单): sessions that hold their rooms by the booking rules or
not at all, one enrolment for every session, its waiting line, who may come,
cancelling, attendance per session, and places exact under concurrency."""

import asyncio
from collections import Counter
from datetime import date, timedelta
from typing import Any

import httpx
import pytest
import time_machine
from sqlalchemy import func, select, text, update

from app.core.clock import utcnow
from app.core.db import Database, OverlapGuard
from app.jobs.registry import JOBS, run_job
from app.models import (
    Activity,
    ActivitySignup,
    Course,
    CourseEnrolment,
    Organization,
    OrganizationKind,
    StaffRole,
)
from tests.factories import (
    Api,
    Headers,
    book,
    days_ahead,
    local,
    member_of,
    organization,
    slot,
    verified_resident,
)
from tests.test_errors import assert_problem

pytestmark = pytest.mark.dates

# Within the test rooms' 14 days of booking window, for organisations' bookings too.
DAYS = [days_ahead(3), days_ahead(5), days_ahead(7)]


def course_body(center_id: int, days: list[date] = DAYS, **overrides: Any) -> dict[str, Any]:
    # Where each session is: a room (``space_id``) or a place (``place_text``).
    where = {key: overrides.pop(key) for key in ("space_id", "place_text") if key in overrides}
    sessions = [{**slot(day, "19:00", "20:30"), **where} for day in days]
    return {
        "title": "市民夜校：书法入门",
        "description": "三次课，自带毛笔",
        "category": "training",
        "center_id": center_id,
        "sessions": sessions,
        "capacity": 3,
        **overrides,
    }


async def create(api: Api, headers: Headers, body: dict[str, Any]) -> httpx.Response:
    return await api.client.post("/api/v1/courses", json=body, headers=headers)


async def created(api: Api, headers: Headers, body: dict[str, Any]) -> dict[str, Any]:
    answer = await create(api, headers, body)
    assert answer.status_code == 201, answer.text
    found: dict[str, Any] = answer.json()
    return found


async def published_course(api: Api, **overrides: Any) -> tuple[dict[str, Any], Headers]:
    center = await api.center()
    staff = await api.staff(StaffRole.center_admin, center_ids=[center["id"]])
    body = course_body(center["id"], place_text="二楼教室", publish=True, **overrides)
    return await created(api, staff, body), staff


async def enrol(api: Api, headers: Headers, course_id: int, attendees: int = 1) -> httpx.Response:
    return await api.client.post(
        f"/api/v1/courses/{course_id}/enrolments", json={"attendees": attendees}, headers=headers
    )


async def enrolled(api: Api, headers: Headers, course_id: int, attendees: int = 1) -> Any:
    answer = await enrol(api, headers, course_id, attendees)
    assert answer.status_code == 201, answer.text
    return answer.json()


async def mine(api: Api, headers: Headers, course_id: int) -> Any:
    answer = await api.client.get(f"/api/v1/courses/{course_id}/enrolments/mine", headers=headers)
    assert answer.status_code == 200, answer.text
    return answer.json()


async def course(api: Api, course_id: int, headers: Headers | None = None) -> Any:
    answer = await api.client.get(f"/api/v1/courses/{course_id}", headers=headers or {})
    assert answer.status_code == 200, answer.text
    return answer.json()


async def told(api: Api, headers: Headers, kind: str) -> int:
    inbox = await api.client.get("/api/v1/me/notifications", headers=headers)
    assert inbox.status_code == 200, inbox.text
    return sum(1 for item in inbox.json()["items"] if item["kind"] == kind)


async def counts(database: Database) -> tuple[int, int, int, int]:
    """Courses, activities, enrolments and sign-ups in the database."""
    async with database.reader() as session:
        return (
            int(await session.scalar(select(func.count()).select_from(Course)) or 0),
            int(await session.scalar(select(func.count()).select_from(Activity)) or 0),
            int(await session.scalar(select(func.count()).select_from(CourseEnrolment)) or 0),
            int(await session.scalar(select(func.count()).select_from(ActivitySignup)) or 0),
        )


# --- creating -----------------------------------------------------------------------------


async def test_staff_publish_a_course_whose_sessions_hold_their_room(api: Api) -> None:
    center = await api.center()
    staff = await api.staff(StaffRole.center_admin, center_ids=[center["id"]])
    space = await api.space(center["id"])

    found = await created(api, staff, course_body(center["id"], space_id=space["id"], publish=True))

    assert found["status"] == "published"
    assert (found["sessions_count"], found["capacity"], found["remaining"]) == (3, 3, 3)
    assert found["first_start"] == local(DAYS[0], "19:00").isoformat()
    assert found["enrolment_closes_at"] == found["first_start"]
    assert found["last_end"] == local(DAYS[2], "20:30").isoformat()
    sessions = found["sessions"]
    assert [s["title"] for s in sessions] == [f"市民夜校：书法入门（第{n}次）" for n in (1, 2, 3)]
    assert {s["course_id"] for s in sessions} == {found["id"]}
    assert {s["status"] for s in sessions} == {"published"}
    assert {s["capacity"] for s in sessions} == {3}
    assert {s["venue"]["reservation_status"] for s in sessions} == {"confirmed"}
    # Each session holds its room: a resident's booking then is refused.
    resident = await api.resident()
    refused = await book(api, resident, space["id"], DAYS[1], "19:30", "20:00")
    assert_problem(refused, 409, "slot_taken")
    # Anyone finds it, in the days of its sessions.
    listed = await api.client.get("/api/v1/courses", params={"center_id": center["id"]})
    assert [item["id"] for item in listed.json()["items"]] == [found["id"]]
    later = {"from": (DAYS[2] + timedelta(days=1)).isoformat(), "center_id": center["id"]}
    assert (await api.client.get("/api/v1/courses", params=later)).json()["total"] == 0
    by_category = {"category": "lecture", "center_id": center["id"]}
    assert (await api.client.get("/api/v1/courses", params=by_category)).json()["total"] == 0
    assert (await course(api, found["id"]))["sessions"] == sessions


async def test_a_refused_session_keeps_nothing_and_is_named(api: Api) -> None:
    center = await api.center()
    staff = await api.staff(StaffRole.center_admin, center_ids=[center["id"]])
    space = await api.space(center["id"], capacity=40)
    resident = await api.resident()
    booked = await book(api, resident, space["id"], DAYS[1], "19:00", "20:00")
    assert booked.status_code == 201, booked.text

    refused = await create(api, staff, course_body(center["id"], space_id=space["id"]))

    assert assert_problem(refused, 409, "bookings_affected")["session_index"] == 1
    assert await counts(api.database) == (0, 0, 0, 0)
    # The first session's room was given back: it can be booked again.
    assert (await book(api, resident, space["id"], DAYS[0], "19:00", "20:00")).status_code == 201

    # An organisation's course: its bookings, refused by the rules the same way.
    room = await api.space(center["id"], capacity=40)
    owner = await api.resident()
    company = await organization(api, owner)
    other = await api.resident()
    taken = await book(api, other, room["id"], DAYS[2], "20:00", "20:30")
    assert taken.status_code == 201, taken.text
    body = course_body(center["id"], space_id=room["id"], organization_id=company["id"])
    refused = await create(api, owner, body)
    assert assert_problem(refused, 409, "slot_taken")["session_index"] == 2
    assert await counts(api.database) == (0, 0, 0, 0)
    for day in DAYS[:2]:
        again = await book(api, other, room["id"], day, "20:00", "20:30")
        assert again.status_code == 201, again.text


async def test_bad_course_bodies_change_nothing(api: Api) -> None:
    center = await api.center()
    staff = await api.staff(StaffRole.center_admin, center_ids=[center["id"]])
    elsewhere = await api.space((await api.center())["id"])
    one = course_body(center["id"], days=DAYS[:1])
    too_many = course_body(center["id"], days=[days_ahead(3 + n) for n in range(53)])
    backwards = course_body(center["id"], days=[DAYS[1], DAYS[0]])
    past = course_body(center["id"], days=[days_ahead(-1), *DAYS])
    cases: list[tuple[dict[str, Any], int, str]] = [
        (one, 422, "validation_failed"),
        (too_many, 422, "validation_failed"),
        (backwards, 422, "validation_failed"),
        (course_body(center["id"], capacity=0), 422, "validation_failed"),
        (course_body(center["id"], audience="members"), 422, "validation_failed"),
        (course_body(center["id"], extra=1), 422, "validation_failed"),
        (past, 422, "invalid_input"),
        (course_body(center["id"], space_id=elsewhere["id"]), 422, "space_not_in_center"),
        (course_body(center["id"], space_id=999_999), 404, "not_found"),
    ]
    for body, status, code in cases:
        assert_problem(await create(api, staff, body), status, code)
    assert (
        assert_problem(await create(api, staff, past), 422, "invalid_input")["session_index"] == 0
    )
    outsider = await api.staff(StaffRole.center_admin, center_ids=[(await api.center())["id"]])
    assert_problem(await create(api, outsider, course_body(center["id"])), 403, "out_of_scope")
    resident = await api.resident()
    assert_problem(await create(api, resident, course_body(center["id"])), 403, "organiser_only")
    assert await counts(api.database) == (0, 0, 0, 0)


# --- enrolling ----------------------------------------------------------------------------


async def test_one_enrolment_for_every_session_and_the_line_moves_up(api: Api) -> None:
    found, staff = await published_course(api)
    course_id = found["id"]
    first, second, third, fourth = [await api.resident() for _ in range(4)]

    mine_first = await enrolled(api, first, course_id, attendees=2)
    assert (mine_first["status"], mine_first["position"]) == ("confirmed", None)
    assert (mine_first["attended"], mine_first["total"]) == (0, 3)
    before = await counts(api.database)
    assert_problem(await enrol(api, first, course_id), 409, "already_enrolled")
    assert await counts(api.database) == before
    # Two more do not fit: in line. One more fits: confirmed past them.
    waiting = await enrolled(api, second, course_id, attendees=2)
    assert (waiting["status"], waiting["position"]) == ("waiting", 1)
    assert (await enrolled(api, third, course_id))["status"] == "confirmed"
    assert (await enrolled(api, fourth, course_id))["position"] == 2
    detail = await course(api, course_id)
    assert (detail["enrolled"], detail["remaining"]) == (3, 0)
    assert [s["signed_up"] for s in detail["sessions"]] == [3, 3, 3]
    assert await told(api, first, "activity_signup_confirmed") == 1

    withdrawn = await api.client.delete(
        f"/api/v1/courses/{course_id}/enrolments/mine", headers=first
    )

    assert withdrawn.status_code == 200, withdrawn.text
    assert withdrawn.json()["status"] == "cancelled"
    moved = await mine(api, second, course_id)
    assert (moved["status"], moved["position"]) == ("confirmed", None)
    assert await told(api, second, "activity_signup_confirmed") == 1
    assert (await mine(api, fourth, course_id))["position"] == 1
    detail = await course(api, course_id)
    assert detail["enrolled"] == 3
    assert [s["signed_up"] for s in detail["sessions"]] == [3, 3, 3]
    gone = await api.client.delete(f"/api/v1/courses/{course_id}/enrolments/mine", headers=first)
    assert_problem(gone, 404, "not_found")
    # Enrolling again after withdrawing is a new enrolment, at the end of the line.
    assert (await enrolled(api, first, course_id))["position"] == 2
    assert_problem(await enrol(api, staff, course_id), 403, "forbidden")
    assert_problem(await enrol(api, first, 999_999), 404, "not_found")


async def test_enrolment_closes_when_the_first_session_starts(api: Api) -> None:
    found, _ = await published_course(api, capacity=1)
    course_id = found["id"]
    early = await api.resident("course-early")
    late = await api.resident("course-late")
    await enrolled(api, early, course_id)
    assert (await enrolled(api, late, course_id))["status"] == "waiting"

    with time_machine.travel(local(DAYS[0], "19:01"), tick=False):
        early = await api.resident("course-early")  # a fresh token at that hour
        late = await api.resident("course-late")
        newcomer = await api.resident()
        assert_problem(await enrol(api, newcomer, course_id), 409, "signup_closed")
        path = f"/api/v1/courses/{course_id}/enrolments/mine"
        assert (await api.client.delete(path, headers=early)).status_code == 200
        # The line does not move once the course has begun.
        assert (await mine(api, late, course_id))["status"] == "waiting"
        sessions = (await course(api, course_id))["sessions"]
    # The session under way keeps its place; those ahead give theirs back.
    assert [s["signed_up"] for s in sessions] == [1, 0, 0]
    assert (await course(api, course_id))["enrolled"] == 0


async def test_who_may_come(api: Api) -> None:
    center = await api.center()
    owner = await api.resident()
    company = await organization(api, owner)
    body = course_body(
        center["id"],
        organization_id=company["id"],
        audience="members",
        place_text="公司会议室",
        publish=True,
    )
    for_members = await created(api, owner, body)
    stranger = await api.resident()
    colleague = await member_of(api, owner, company["id"])
    refused = await enrol(api, stranger, for_members["id"])
    assert "本组织成员" in str(assert_problem(refused, 403, "audience_only")["detail"])
    assert (await enrolled(api, colleague, for_members["id"]))["status"] == "confirmed"

    staff = await api.staff(StaffRole.center_admin, center_ids=[center["id"]])
    party = await created(
        api, staff, course_body(center["id"], audience="party_members", publish=True)
    )
    assert_problem(await enrol(api, colleague, party["id"]), 403, "audience_only")
    # A party branch, as staff registered it (the API's registration of party
    # branches is another part of the programme's work): the company made one.
    async with api.database.writer.begin() as session:
        await session.execute(
            update(Organization)
            .where(Organization.id == company["id"])
            .values(kind=OrganizationKind.party_branch, uscc=None)
        )
    assert (await enrolled(api, colleague, party["id"]))["status"] == "confirmed"

    named = await created(
        api, staff, course_body(center["id"], requires_real_name=True, publish=True)
    )
    assert_problem(await enrol(api, stranger, named["id"]), 403, "real_name_required")
    verified = await verified_resident(api)
    assert (await enrolled(api, verified, named["id"]))["status"] == "confirmed"
    assert (await course(api, named["id"]))["enrolled"] == 1


# --- publishing and cancelling ----------------------------------------------------------


async def test_a_draft_is_published_whole_and_a_cancelled_course_tells_each_once(
    api: Api,
) -> None:
    center = await api.center()
    staff = await api.staff(StaffRole.center_admin, center_ids=[center["id"]])
    space = await api.space(center["id"])
    draft = await created(api, staff, course_body(center["id"], space_id=space["id"], capacity=1))
    assert draft["status"] == "draft"
    hidden = await api.client.get(f"/api/v1/courses/{draft['id']}")
    assert_problem(hidden, 404, "not_found")
    resident = await api.resident()
    assert_problem(await enrol(api, resident, draft["id"]), 404, "not_found")
    path = f"/api/v1/courses/{draft['id']}"
    assert_problem(await api.client.post(f"{path}/publish", headers=resident), 404, "not_found")

    published = await api.client.post(f"{path}/publish", headers=staff)
    assert published.status_code == 200, published.text
    assert {s["status"] for s in published.json()["sessions"]} == {"published"}
    again = await api.client.post(f"{path}/publish", headers=staff)
    assert_problem(again, 409, "invalid_transition")
    waiting = await api.resident()
    await enrolled(api, resident, draft["id"])
    await enrolled(api, waiting, draft["id"])
    outsider = await api.staff(StaffRole.center_admin, center_ids=[(await api.center())["id"]])
    reason = {"reason": "老师生病"}
    refused = await api.client.post(f"{path}/cancel", json=reason, headers=outsider)
    assert_problem(refused, 403, "out_of_scope")
    refused = await api.client.post(f"{path}/cancel", json=reason, headers=resident)
    assert_problem(refused, 403, "organiser_only")
    assert (await course(api, draft["id"]))["status"] == "published"

    cancelled = await api.client.post(f"{path}/cancel", json=reason, headers=staff)

    assert cancelled.status_code == 200, cancelled.text
    body = cancelled.json()
    assert (body["status"], body["status_reason"], body["enrolled"]) == ("cancelled", "老师生病", 0)
    assert {s["status"] for s in body["sessions"]} == {"cancelled"}
    assert {s["signed_up"] for s in body["sessions"]} == {0}
    for person in (resident, waiting):
        assert await told(api, person, "activity_cancelled") == 1
        assert (await mine(api, person, draft["id"]))["status"] == "cancelled"
    # Its enrollees still see it; the rooms are free again.
    assert (await course(api, draft["id"], resident))["status"] == "cancelled"
    assert_problem(await api.client.get(path), 404, "not_found")
    for day in DAYS:
        assert (await book(api, resident, space["id"], day, "19:00", "20:00")).status_code == 201
    again = await api.client.post(f"{path}/cancel", json=reason, headers=staff)
    assert_problem(again, 409, "invalid_transition")


# --- attendance ---------------------------------------------------------------------------


async def check_in(database: Database, person_id: int, activity_id: int) -> None:
    """Mark a check-in as the check-in endpoint does: that endpoint is the
    attendance module's, and a course only reads ``checked_in_at``."""
    async with database.writer.begin() as session:
        await session.execute(
            update(ActivitySignup)
            .where(ActivitySignup.user_id == person_id, ActivitySignup.activity_id == activity_id)
            .values(checked_in_at=utcnow())
        )


async def user_id(api: Api, headers: Headers) -> int:
    return int((await api.client.get("/api/v1/me", headers=headers)).json()["id"])


async def test_managers_see_each_enrollee_masked_with_the_sessions_attended(api: Api) -> None:
    found, staff = await published_course(api)
    course_id = found["id"]
    verified = await verified_resident(api)
    other = await api.resident()
    await enrolled(api, verified, course_id)
    await enrolled(api, other, course_id, attendees=2)
    sessions = [s["id"] for s in found["sessions"]]
    for activity_id in sessions[:2]:
        await check_in(api.database, await user_id(api, verified), activity_id)

    listed = await api.client.get(f"/api/v1/courses/{course_id}/enrolments", headers=staff)

    assert listed.status_code == 200, listed.text
    rows = listed.json()["items"]
    assert [(r["name_masked"], r["attended"], r["total"]) for r in rows] == [
        ("陈**", 2, 3),
        (None, 0, 3),
    ]
    assert [r["attendees"] for r in rows] == [1, 2]
    assert "陈晓明" not in listed.text
    assert ((await mine(api, verified, course_id))["attended"]) == 2
    confirmed: dict[str, str | int] = {"status": "confirmed", "limit": 1}
    page = await api.client.get(
        f"/api/v1/courses/{course_id}/enrolments", params=confirmed, headers=staff
    )
    assert (page.json()["total"], len(page.json()["items"])) == (2, 1)
    outsider = await api.staff(StaffRole.center_admin, center_ids=[(await api.center())["id"]])
    path = f"/api/v1/courses/{course_id}/enrolments"
    assert_problem(await api.client.get(path, headers=outsider), 403, "out_of_scope")
    assert_problem(await api.client.get(path, headers=other), 403, "organiser_only")
    assert_problem(await api.client.get(f"{path}/mine", headers=staff), 403, "forbidden")


# --- places under concurrency ------------------------------------------------------------

RACERS = 20
PLACES = 5
TRIALS = 3

# Every course's and session's places against the enrolments and sign-ups holding them.
PLACES_HELD = text(
    """
    SELECT count(*) FROM courses c WHERE c.confirmed_attendees > c.capacity
       OR c.confirmed_attendees <> (SELECT coalesce(sum(e.attendees), 0) FROM course_enrolments e
                                    WHERE e.course_id = c.id AND e.status = 'confirmed')
    """
)
OVERFILLED = text(
    """
    SELECT count(*) FROM courses c
    WHERE (SELECT coalesce(sum(e.attendees), 0) FROM course_enrolments e
           WHERE e.course_id = c.id AND e.status = 'confirmed') > c.capacity
    """
)
SESSIONS_HELD = text(
    """
    SELECT count(*) FROM activities a WHERE a.confirmed_attendees > a.capacity
       OR a.confirmed_attendees <> (SELECT coalesce(sum(s.attendees), 0) FROM activity_signups s
                                    WHERE s.activity_id = a.id AND s.status = 'confirmed')
    """
)


async def scalar(database: Database, query: Any) -> int:
    async with database.reader() as session:
        return int(await session.scalar(query) or 0)


async def race(api: Api, people: list[Headers], course_id: int) -> Counter[str]:
    answers = await asyncio.gather(*(enrol(api, person, course_id) for person in people))
    return Counter(
        answer.json()["status"] if answer.status_code == 201 else answer.json()["code"]
        for answer in answers
    )


@pytest.mark.slow
async def test_many_enrolling_at_once_take_exactly_the_places(api: Api) -> None:
    people = [await api.resident() for _ in range(RACERS)]
    for trial in range(TRIALS):
        found, staff = await published_course(api, capacity=PLACES)
        outcome = await race(api, people, found["id"])
        assert outcome == Counter({"confirmed": PLACES, "waiting": RACERS - PLACES}), (
            trial,
            outcome,
        )
        assert await scalar(api.database, PLACES_HELD) == 0
        assert await scalar(api.database, SESSIONS_HELD) == 0
        line = await api.client.get(
            f"/api/v1/courses/{found['id']}/enrolments",
            params={"status": "waiting"},
            headers=staff,
        )
        positions = [row["position"] for row in line.json()["items"]]
        assert positions == list(range(1, RACERS - PLACES + 1))


@pytest.mark.slow
async def test_negative_control_overfills_a_course_without_the_lock(api: Api) -> None:
    """The race is real: enrolments that count the places in one transaction and
    take them in another all see the last place free."""
    people = [await api.resident() for _ in range(10)]
    found, _ = await published_course(api, capacity=1)
    api.guarded(OverlapGuard(lock=False, delay_seconds=0.2))
    outcome = await race(api, people, found["id"])
    assert outcome["confirmed"] > 1, outcome
    assert await scalar(api.database, OVERFILLED) > 0


async def test_a_course_is_completed_once_its_last_session_is_held(api: Api) -> None:
    course_made, _ = await published_course(api)
    job = JOBS["complete-activities"]
    settings = api.app.state.settings

    before_last = local(DAYS[1], "21:00")
    await run_job(api.database, settings, job, before_last)
    assert (await course(api, course_made["id"]))["status"] == "published"

    after_last = local(DAYS[2], "21:00")
    report = await run_job(api.database, settings, job, after_last)
    assert report.changed == 2  # the last session, then the course
    assert (await course(api, course_made["id"]))["status"] == "completed"
    again = await run_job(api.database, settings, job, after_last)
    assert again.changed == 0
