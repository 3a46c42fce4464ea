"""The four lists counted over the centers in a staff member's scope, or a
center and every center below it (``ancestor_id``): needs open and met by
category, resources offered and used by kind, projects by category (planned,
running, delivered), and the people of each served group.

``met_needs`` is the one count of needs met, per whatever the caller groups
by, that the evaluation of positions reads too.
"""

from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, Label, Select, exists, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from app.models import (
    Center,
    Need,
    NeedCategory,
    NeedMatch,
    NeedStatus,
    Project,
    ProjectStatus,
    Resource,
    ResourceKind,
    ResourceStatus,
    ServedGroup,
    ServiceObject,
)

OFFERED = (ResourceStatus.offered, ResourceStatus.accepted)


@dataclass
class Counts:
    centers: int = 0
    needs: dict[NeedCategory, Counter[NeedStatus]] = field(default_factory=dict)
    resources: dict[ResourceKind, tuple[int, int]] = field(default_factory=dict)
    projects: dict[NeedCategory, Counter[ProjectStatus]] = field(default_factory=dict)
    groups: dict[ServedGroup, tuple[int, int]] = field(default_factory=dict)


def met_needs(
    keys: list[Label[Any]], scope: list[ColumnElement[bool]], start: datetime, end: datetime
) -> Select[Any]:
    """Needs met in ``[start, end)``, counted per ``keys`` (columns of ``Center``)."""
    return (
        select(*keys, func.count(Need.id))
        .select_from(Need)
        .join(Center, Center.id == Need.center_id)
        .where(*scope, Need.status == NeedStatus.met, Need.met_at >= start, Need.met_at < end)
        .group_by(*keys)
    )


async def count(session: AsyncSession, scope: list[ColumnElement[bool]]) -> Counts:
    counts = Counts()
    counts.centers = int(
        await session.scalar(select(func.count()).select_from(Center).where(*scope)) or 0
    )
    needs = await session.execute(
        select(Need.category, Need.status, func.count())
        .join(Center, Center.id == Need.center_id)
        .where(*scope)
        .group_by(Need.category, Need.status)
    )
    for category, status, number in needs:
        counts.needs.setdefault(category, Counter())[status] = int(number)
    used = exists().where(NeedMatch.resource_id == Resource.id)
    resources = await session.execute(
        select(Resource.kind, func.count(), func.count().filter(used))
        .join(Center, Center.id == Resource.center_id)
        .where(*scope, Resource.status.in_(OFFERED))
        .group_by(Resource.kind)
    )
    for kind, offered, taken in resources:
        counts.resources[kind] = (int(offered), int(taken))
    projects = await session.execute(
        select(Project.category, Project.status, func.count())
        .join(Center, Center.id == Project.center_id)
        .where(*scope)
        .group_by(Project.category, Project.status)
    )
    for category, state, number in projects:
        counts.projects.setdefault(category, Counter())[state] = int(number)
    groups = await session.execute(
        select(ServiceObject.served_group, func.sum(ServiceObject.people), func.count())
        .join(Center, Center.id == ServiceObject.center_id)
        .where(*scope)
        .group_by(ServiceObject.served_group)
    )
    for group, people, centers in groups:
        counts.groups[group] = (int(people or 0), int(centers))
    return counts
