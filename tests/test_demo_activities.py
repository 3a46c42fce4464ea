"""The demo's programme at Changfengwan: a 党课 course of four sessions, the
weekly meetings of a community team's 读书会 and an 开放日, listed by the API
on both engines; what has ended is completed with its attendance."""

from datetime import datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import func, select

from app import demo, demo_activities
from app.core.clock import local_today, utcnow
from app.models import (
    Activity,
    ActivitySignup,
    Course,
    CourseEnrolment,
    Organization,
    OrganizationKind,
    Reservation,
    ReservationKind,
    SignupStatus,
)
from tests.factories import Api
from tests.test_console import console

pytestmark = pytest.mark.dates


async def programme(api: Api) -> list[dict[str, Any]]:
    today = local_today()
    answer = await api.client.get(
        "/api/v1/activities",
        params={
            "from": (today - timedelta(days=20)).isoformat(),
            "to": (today + timedelta(days=40)).isoformat(),
            "limit": 100,
        },
    )
    assert answer.status_code == 200, answer.text
    items: list[dict[str, Any]] = answer.json()["items"]
    assert answer.json()["total"] == len(items)
    return items


async def test_the_demo_seeds_a_month_of_changfengwans_programme(api: Api) -> None:
    async with api.database.writer.begin() as session:
        await demo.seed_demo(session)
    items = await programme(api)
    assert {item["center_name"] for item in items} == {"半马苏河驿站·长风湾党群服务中心"}
    course = [item for item in items if item["course_id"] is not None]
    club = [item for item in items if item["title"] == demo_activities.MEETINGS]
    open_day = [item for item in items if item["category"] == "open_day"]
    assert len(course) + len(club) + len(open_day) == len(items)
    assert len(course) == 4
    assert len({item["course_id"] for item in course}) == 1
    assert all(item["category_label"] == "党课" for item in course)
    assert all(item["venue"]["name"] == "长风议事厅" for item in course + open_day)
    assert 3 <= len(club) <= 5  # weekly; a week the room is closed for a holiday left out
    starts = sorted(item["start"] for item in club)
    for before, after in zip(starts, starts[1:], strict=False):
        gap = (_instant(after) - _instant(before)).days
        assert gap % 7 == 0, starts
    assert {item["venue"]["name"] for item in club} == {"苏河会议室"}
    [opened] = open_day
    assert opened["status"] == "published"
    assert opened["signed_up"] > 0

    now = utcnow()
    ended = [item for item in items if _instant(item["end"]) <= now]
    ahead = [item for item in items if _instant(item["start"]) > now]
    assert any(item["course_id"] for item in ended)  # the course's first session is behind
    assert any(item["title"] == demo_activities.MEETINGS for item in ended)
    assert any(item["course_id"] for item in ahead)
    for item in ended:
        assert item["status"] == "completed", item
        assert item["venue"]["reservation_status"] == "completed", item
        assert item["attended"] is not None
        assert item["attended"] > item["walk_ins"] > 0
    for item in ahead:
        assert item["status"] == "published", item
        assert item["venue"]["reservation_status"] == "confirmed", item
        assert (item["attended"], item["walk_ins"]) == (None, 0)
    # The club never meets on the demo's today, whose board the walkthrough counts.
    assert all(_instant(item["start"]).date() != local_today() for item in club)

    await _rows_add_up(api, {item["id"] for item in items}, {item["id"] for item in ended})
    # Upcoming ones are what a resident finds by default.
    default = await api.client.get("/api/v1/activities", params={"limit": 100})
    listed = {item["id"] for item in default.json()["items"]}
    assert {item["id"] for item in ahead} <= listed


def _instant(value: str) -> datetime:
    return datetime.fromisoformat(value)


async def _rows_add_up(api: Api, activity_ids: set[int], ended: set[int]) -> None:
    """Places taken are the confirmed sign-ups' attendees; attendance, the
    checked-in attendees and the walk-ins; venues as the demo books rooms."""
    async with api.database.reader() as session:
        activities = {
            row.id: row
            for row in await session.scalars(select(Activity).where(Activity.id.in_(activity_ids)))
        }
        signups = (await session.scalars(select(ActivitySignup))).all()
        venues = {
            row.id: row
            for row in await session.scalars(
                select(Reservation).where(
                    Reservation.id.in_([a.reservation_id for a in activities.values()])
                )
            )
        }
        [course] = (await session.scalars(select(Course))).all()
        enrolled = await session.scalar(
            select(func.sum(CourseEnrolment.attendees)).where(
                CourseEnrolment.course_id == course.id,
                CourseEnrolment.status == SignupStatus.confirmed,
            )
        )
        [club] = (
            await session.scalars(
                select(Organization).where(Organization.kind == OrganizationKind.community_team)
            )
        ).all()
    assert course.confirmed_attendees == enrolled
    assert (club.name, club.uscc, club.status.value) == ("长风湾读书会", None, "verified")
    for activity in activities.values():
        mine = [signup for signup in signups if signup.activity_id == activity.id]
        confirmed = [signup for signup in mine if signup.status is SignupStatus.confirmed]
        assert activity.confirmed_attendees == sum(signup.attendees for signup in confirmed)
        assert activity.confirmed_attendees <= activity.capacity
        came = sum(signup.attendees for signup in mine if signup.checked_in_at is not None)
        if activity.id in ended:
            assert came > 0
            assert activity.attended == came + activity.walk_ins
            assert activity.completed_at is not None
        else:
            assert came == 0
            assert activity.attended is None
        venue = venues[activity.reservation_id]  # type: ignore[index]
        assert (venue.starts_at, venue.ends_at) == (activity.starts_at, activity.ends_at)
        assert venue.space_id == activity.space_id
        if activity.organization_id is None:  # the center's own: an event, nobody's booking
            # (its user_id NULL: the kind's CHECK constraint ties them)
            assert (venue.kind, venue.public) == (ReservationKind.center_event, True)
            assert venue.attendees == 30  # the whole hall
        else:  # the team's: its own booking
            assert venue.kind is ReservationKind.booking
            assert venue.organization_id == club.id == activity.organization_id
        if activity.course_id is not None:
            assert {signup.enrolment_id is not None for signup in mine} == {True}


async def test_the_programme_is_seeded_once_and_shown_in_the_console(api: Api) -> None:
    async with api.database.writer.begin() as session:
        await demo.seed_demo(session)
    async with api.database.reader() as session:
        first = await session.scalar(select(func.count()).select_from(Activity))
    async with api.database.writer.begin() as session:
        await demo.seed_demo(session)
    async with api.database.reader() as session:
        assert await session.scalar(select(func.count()).select_from(Activity)) == first
        teams = await session.scalar(
            select(func.count())
            .select_from(Organization)
            .where(Organization.kind == OrganizationKind.community_team)
        )
    assert teams == 1
    client = await console(api, demo.DEMO_CENTER_ADMIN, demo.DEMO_STAFF_PASSWORD)
    page = await client.get("/console/activities")
    for title in (demo_activities.COURSE, demo_activities.MEETINGS, demo_activities.OPEN_DAY):
        assert title in page.text
    assert "已结束" in page.text  # the recent, completed ones
