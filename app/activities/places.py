"""An activity's places: taken and given back by one conditional UPDATE of its
counter, so capacity is exact under concurrent sign-ups on both engines.

``confirmed_attendees`` is bounded by a CHECK (``0 <= confirmed_attendees <=
capacity``); taking places adds to it only if they fit, in one statement, so
two sign-ups for the last place cannot both see it free: on PostgreSQL the
second UPDATE waits for the first's row lock and re-evaluates its condition
on the new row; on SQLite the writer's lock serializes them. A course's
places (``courses.confirmed_attendees``) work the same way.
"""

from sqlalchemy import text, update
from sqlalchemy.ext.asyncio import AsyncSession

from app.models import Activity, Course

# Whether ``:attendees`` more places fit: the take's condition, in SQL, for an
# activity's row (``signing.py``'s hot statements, and ``take`` below).
FITS = "confirmed_attendees + :attendees <= capacity"


async def take(session: AsyncSession, activity_id: int, attendees: int) -> bool:
    """Take ``attendees`` places of the activity if that many are left."""
    taken = await session.execute(
        update(Activity)
        .where(Activity.id == activity_id, text(FITS).bindparams(attendees=attendees))
        .values(confirmed_attendees=Activity.confirmed_attendees + attendees)
        .execution_options(synchronize_session=False)
    )
    return bool(taken.rowcount)  # type: ignore[attr-defined]


async def give_back(session: AsyncSession, activity_id: int, attendees: int) -> None:
    await session.execute(
        update(Activity)
        .where(Activity.id == activity_id)
        .values(confirmed_attendees=Activity.confirmed_attendees - attendees)
        .execution_options(synchronize_session=False)
    )


async def take_in_course(session: AsyncSession, course_id: int, attendees: int) -> bool:
    """Take ``attendees`` places of the course if that many are left."""
    taken = await session.execute(
        update(Course)
        .where(Course.id == course_id, Course.confirmed_attendees + attendees <= Course.capacity)
        .values(confirmed_attendees=Course.confirmed_attendees + attendees)
        .execution_options(synchronize_session=False)
    )
    return bool(taken.rowcount)  # type: ignore[attr-defined]


async def give_back_in_course(session: AsyncSession, course_id: int, attendees: int) -> None:
    await session.execute(
        update(Course)
        .where(Course.id == course_id)
        .values(confirmed_attendees=Course.confirmed_attendees - attendees)
        .execution_options(synchronize_session=False)
    )
