"""Sign-ups, check-ins and completion of activities, written as rows.

The endpoints that make them (sign-up, attendance, the complete-activities job)
are another module's; until they are in this tree, the tests of ratings,
reports and calendars write what they would through the app's own database.
Each helper here stands for one of those calls and keeps its effects (the
places a confirmed sign-up takes, ``attended`` = checked-in attendees +
walk-ins), so swapping a body for the HTTP call changes no test.
"""

from datetime import datetime
from typing import Any

from sqlalchemy import func, select, update

from app.activities import places
from app.core.clock import utcnow
from app.models import Activity, ActivitySignup, ActivityStatus, SignupStatus
from tests.factories import Api, Headers


async def user_id(api: Api, resident: Headers) -> int:
    me = await api.client.get("/api/v1/me", headers=resident)
    assert me.status_code == 200, me.text
    return int(me.json()["id"])


async def sign_up(
    api: Api,
    activity_id: int,
    resident: Headers,
    *,
    attendees: int = 1,
    status: SignupStatus = SignupStatus.confirmed,
    checked_in: bool = False,
) -> int:
    """``POST /activities/{id}/signups`` (then cancelled, or checked in, if told)."""
    who = await user_id(api, resident)
    now = utcnow()
    async with api.database.writer.begin() as session:
        if status is SignupStatus.confirmed:
            assert await places.take(session, activity_id, attendees)
        signup = ActivitySignup(
            activity_id=activity_id,
            user_id=who,
            attendees=attendees,
            status=status,
            created_at=now,
            confirmed_at=now if status is not SignupStatus.waiting else None,
            cancelled_at=now if status is SignupStatus.cancelled else None,
            checked_in_at=now if checked_in else None,
        )
        session.add(signup)
        await session.flush()
        return signup.id


async def complete(api: Api, activity_id: int, *, walk_ins: int = 0) -> int:
    """The complete-activities job, with the walk-ins staff counted at the door:
    ``attended`` = the checked-in sign-ups' attendees + walk-ins. Returns it."""
    async with api.database.writer.begin() as session:
        checked_in = await session.scalar(
            select(func.coalesce(func.sum(ActivitySignup.attendees), 0)).where(
                ActivitySignup.activity_id == activity_id,
                ActivitySignup.status == SignupStatus.confirmed,
                ActivitySignup.checked_in_at.is_not(None),
            )
        )
        attended = int(checked_in or 0) + walk_ins
        await session.execute(
            update(Activity)
            .where(Activity.id == activity_id, Activity.status == ActivityStatus.published)
            .values(
                status=ActivityStatus.completed,
                completed_at=utcnow(),
                walk_ins=walk_ins,
                attended=attended,
            )
        )
        return attended


async def rated(api: Api, signup_id: int) -> dict[str, Any]:
    """The rating columns of a sign-up, as stored."""
    async with api.database.reader.begin() as session:
        row = await session.get(ActivitySignup, signup_id)
        assert row is not None
        stored: datetime | None = row.rated_at
        return {"rating": row.rating, "comment": row.comment, "rated_at": stored}
