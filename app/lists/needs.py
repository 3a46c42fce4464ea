"""The needs list (需求清单) and matching: staff record what a center's people
need, and put resources and projects to it.

- **Scope.** Staff read and change the needs of the centers they cover
  (``403 out_of_scope``), and put to them only resources and projects they
  also cover.
- **Met.** Each match covers some of the need's people (by default all those
  not yet covered; more is ``422 match_exceeds_need``). The need is ``met``
  once its matches cover all of them, and ``met_at`` says when; taking a
  match back, or raising ``people``, opens it again. A met need takes no
  more matches (``409 need_already_met``). The need's row is locked while
  its matches are counted, so two matches at once cannot both take the last
  people.
- **What is matched.** An accepted resource, or a project not cancelled
  (``409 not_matchable``).
"""

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import ColumnElement, Select, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from app.centers.service import get_center_in_scope
from app.core.errors import AppError, NotFound, Text
from app.identity.principals import StaffPrincipal
from app.lists.common import NEED, PROJECT, RESOURCE, in_scope, move_to, page, record
from app.lists.schemas import MatchIn, NeedIn, NeedPatch
from app.models import (
    Center,
    Need,
    NeedCategory,
    NeedMatch,
    NeedStatus,
    Project,
    ProjectStatus,
    Resource,
    ResourceStatus,
)

MATCH = Text("对接记录", "match")


class NeedAlreadyMet(AppError):
    status = 409
    code = "need_already_met"
    title = Text("需求已满足", "Need already met")
    detail = Text("该需求已满足，不能再对接", "The need is met: it takes no more matches")


class MatchExceedsNeed(AppError):
    status = 422
    code = "match_exceeds_need"
    title = Text("对接人数超出需求", "Match exceeds the need")
    detail = Text(
        "该需求尚有 {rest} 人未对接，本次对接不能超过此数",
        "{rest} of the need's people are not yet covered: a match covers at most that",
    )


class NotMatchable(AppError):
    status = 409
    code = "not_matchable"
    title = Text("不能对接", "Not matchable")


RESOURCE_NOT_ACCEPTED = Text(
    "只有已入库的资源可以对接需求", "Only an accepted resource is matched to needs"
)
PROJECT_CANCELLED = Text("已取消的项目不能对接需求", "A cancelled project is matched to nothing")


@dataclass(frozen=True)
class Listed:
    need: Need
    center_name: str
    covered: int


@dataclass(frozen=True)
class Matched:
    match: NeedMatch
    title: str


@dataclass(frozen=True)
class NeedFilter:
    center_ids: list[ColumnElement[bool]]  # clauses on Center
    category: NeedCategory | None = None
    status: NeedStatus | None = None


def _covered() -> Select[int, int | None]:
    return select(NeedMatch.need_id, func.sum(NeedMatch.covers).label("covered")).group_by(
        NeedMatch.need_id
    )


async def covered(session: AsyncSession, need_id: int) -> int:
    total = await session.scalar(
        select(func.coalesce(func.sum(NeedMatch.covers), 0)).where(NeedMatch.need_id == need_id)
    )
    return int(total or 0)


async def _settle(session: AsyncSession, need: Need, now: datetime) -> int:
    """Met when its matches cover everyone, open otherwise; what they cover."""
    await session.flush()
    done = await covered(session, need.id)
    if done >= need.people and need.status is NeedStatus.open:
        need.status, need.met_at = NeedStatus.met, now
    elif done < need.people and need.status is NeedStatus.met:
        need.status, need.met_at = NeedStatus.open, None
    await session.flush()
    return done


async def create(session: AsyncSession, staff: StaffPrincipal, body: NeedIn) -> Listed:
    center = await get_center_in_scope(session, staff, body.center_id)
    need = Need(
        center_id=center.id,
        category=body.category,
        title=body.title,
        description=body.description,
        served_group=body.group,
        people=body.people,
        urgency=body.urgency,
        source=body.source,
        source_id=body.source_id,
        status=NeedStatus.open,
        created_by_staff_id=staff.id,
    )
    session.add(need)
    await session.flush()
    record(session, staff, "need", need.id, "create", after=need.status.value)
    return Listed(need, center.name, 0)


async def update(
    session: AsyncSession, staff: StaffPrincipal, need_id: int, body: NeedPatch, now: datetime
) -> Listed:
    need, center = await in_scope(session, staff, Need, need_id, NEED, for_update=True)
    changes = body.changes()
    name = center.name
    if "center_id" in changes:
        name = await move_to(session, staff, need, changes.pop("center_id"))
    if "group" in changes:
        need.served_group = changes.pop("group")
    for field, value in changes.items():
        setattr(need, field, value)
    before = need.status
    done = await _settle(session, need, now)
    record(session, staff, "need", need.id, "update", before=before.value, after=need.status.value)
    return Listed(need, name, done)


async def delete(session: AsyncSession, staff: StaffPrincipal, need_id: int) -> None:
    need, _ = await in_scope(session, staff, Need, need_id, NEED, for_update=True)
    record(session, staff, "need", need.id, "delete", before=need.status.value)
    await session.delete(need)
    await session.flush()


async def get(session: AsyncSession, staff: StaffPrincipal, need_id: int) -> Listed:
    need, center = await in_scope(session, staff, Need, need_id, NEED)
    return Listed(need, center.name, await covered(session, need.id))


async def listed(
    session: AsyncSession, found: NeedFilter, *, limit: int, offset: int
) -> tuple[list[Listed], int]:
    done = _covered().subquery()
    query = (
        select(Need, Center.name, func.coalesce(done.c.covered, 0))
        .join(Center, Center.id == Need.center_id)
        .outerjoin(done, done.c.need_id == Need.id)
        .where(*found.center_ids)
    )
    if found.category is not None:
        query = query.where(Need.category == found.category)
    if found.status is not None:
        query = query.where(Need.status == found.status)
    rows, total = await page(session, query, Need.id.desc(), limit, offset)
    return [Listed(need, name, int(count)) for need, name, count in rows], total


async def matches(session: AsyncSession, need_id: int) -> list[Matched]:
    rows = await session.execute(
        select(NeedMatch, func.coalesce(Resource.title, Project.title, ""))
        .outerjoin(Resource, Resource.id == NeedMatch.resource_id)
        .outerjoin(Project, Project.id == NeedMatch.project_id)
        .where(NeedMatch.need_id == need_id)
        .order_by(NeedMatch.id)
    )
    return [Matched(match, title) for match, title in rows]


async def _target(session: AsyncSession, staff: StaffPrincipal, body: MatchIn) -> str:
    """The title of what is put to the need, once it may be."""
    if body.resource_id is not None:
        resource, _ = await in_scope(session, staff, Resource, body.resource_id, RESOURCE)
        if resource.status is not ResourceStatus.accepted:
            raise NotMatchable(RESOURCE_NOT_ACCEPTED)
        return resource.title
    assert body.project_id is not None
    project, _ = await in_scope(session, staff, Project, body.project_id, PROJECT)
    if project.status is ProjectStatus.cancelled:
        raise NotMatchable(PROJECT_CANCELLED)
    return project.title


async def match(
    session: AsyncSession, staff: StaffPrincipal, need_id: int, body: MatchIn, now: datetime
) -> tuple[Listed, Sequence[Matched]]:
    need, center = await in_scope(session, staff, Need, need_id, NEED, for_update=True)
    if need.status is NeedStatus.met:
        raise NeedAlreadyMet()
    rest = need.people - await covered(session, need.id)
    covers = rest if body.covers is None else body.covers
    if covers > rest:
        raise MatchExceedsNeed(rest=rest)
    await _target(session, staff, body)
    session.add(
        NeedMatch(
            need_id=need.id,
            resource_id=body.resource_id,
            project_id=body.project_id,
            covers=covers,
            note=body.note,
            matched_at=now,
            matched_by_staff_id=staff.id,
        )
    )
    done = await _settle(session, need, now)
    record(session, staff, "need", need.id, "match", before="open", after=need.status.value)
    return Listed(need, center.name, done), await matches(session, need.id)


async def unmatch(
    session: AsyncSession, staff: StaffPrincipal, need_id: int, match_id: int, now: datetime
) -> tuple[Listed, Sequence[Matched]]:
    """Take a match back: the need is open again if the rest no longer cover it."""
    need, center = await in_scope(session, staff, Need, need_id, NEED, for_update=True)
    found = await session.scalar(
        select(NeedMatch).where(NeedMatch.id == match_id, NeedMatch.need_id == need.id)
    )
    if found is None:
        raise NotFound(MATCH)
    before = need.status
    await session.delete(found)
    done = await _settle(session, need, now)
    record(session, staff, "need", need.id, "unmatch", before=before.value, after=need.status.value)
    return Listed(need, center.name, done), await matches(session, need.id)
