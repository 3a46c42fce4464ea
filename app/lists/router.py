"""The four lists (四张清单): the needs list and matching, the summary rolled
up the tree, and the codes every list uses."""

from collections.abc import Sequence
from typing import Annotated

from fastapi import Query, status

from app.centers.service import centers_below
from app.core.clock import utcnow
from app.core.db import SessionDep
from app.core.routing import api_router
from app.core.schemas import MAX_ID, Limit, Offset, Page, ResourceId
from app.identity.dependencies import CurrentStaff
from app.lists import needs, summary
from app.lists.categories import (
    CATEGORY_LABELS,
    CODE_LISTS,
    GROUP_LABELS,
    NEED_STATUS_LABELS,
    RESOURCE_KIND_LABELS,
    SOURCE_LABELS,
    URGENCY_LABELS,
)
from app.lists.common import centers_in
from app.lists.schemas import (
    Codes,
    GroupCount,
    MatchIn,
    MatchOut,
    NeedCount,
    NeedDetail,
    NeedIn,
    NeedOut,
    NeedPatch,
    ProjectCount,
    ResourceCount,
    Summary,
)
from app.models import NeedCategory, NeedStatus, ProjectStatus

router = api_router(tags=["lists"])

AncestorId = Annotated[
    int | None, Query(ge=1, le=MAX_ID, description="Only this center and every center below it")
]
CenterId = Annotated[int | None, Query(ge=1, le=MAX_ID, description="Only this center")]


def need_out(listed: needs.Listed) -> NeedOut:
    need = listed.need
    return NeedOut(
        id=need.id,
        center_id=need.center_id,
        center_name=listed.center_name,
        category=need.category,
        category_label=CATEGORY_LABELS[need.category],
        title=need.title,
        description=need.description,
        group=need.served_group,
        group_label=GROUP_LABELS[need.served_group] if need.served_group else None,
        people=need.people,
        covered=listed.covered,
        urgency=need.urgency,
        urgency_label=URGENCY_LABELS[need.urgency],
        source=need.source,
        source_label=SOURCE_LABELS[need.source],
        source_id=need.source_id,
        status=need.status,
        status_label=NEED_STATUS_LABELS[need.status],
        met_at=need.met_at,
        created_at=need.created_at,
    )


def _detail(listed: needs.Listed, matched: Sequence[needs.Matched]) -> NeedDetail:
    return NeedDetail(
        **need_out(listed).model_dump(),
        matches=[
            MatchOut(
                id=found.match.id,
                need_id=found.match.need_id,
                resource_id=found.match.resource_id,
                project_id=found.match.project_id,
                title=found.title,
                covers=found.match.covers,
                note=found.match.note,
                matched_at=found.match.matched_at,
            )
            for found in matched
        ],
    )


@router.post(
    "/admin/needs", response_model=NeedDetail, status_code=status.HTTP_201_CREATED, tags=["admin"]
)
async def create_need(body: NeedIn, staff: CurrentStaff, session: SessionDep) -> NeedDetail:
    """Record a need of a center you cover: its category, who has it
    (`group`, `people`), how urgent, and where it came from (`source`:
    `suggestion` or `questionnaire` with their `source_id`, or `staff`)."""
    return _detail(await needs.create(session, staff, body), [])


@router.get("/admin/needs", response_model=Page[NeedOut], tags=["admin"])
async def list_needs(
    staff: CurrentStaff,
    session: SessionDep,
    ancestor_id: AncestorId = None,
    center_id: CenterId = None,
    category: NeedCategory | None = None,
    status: NeedStatus | None = None,
    limit: Limit = 50,
    offset: Offset = 0,
) -> Page[NeedOut]:
    """The needs of the centers you cover, newest first."""
    found = needs.NeedFilter(
        await centers_in(session, staff, ancestor_id, center_id), category, status
    )
    rows, total = await needs.listed(session, found, limit=limit, offset=offset)
    return Page(items=[need_out(row) for row in rows], total=total, limit=limit, offset=offset)


@router.get("/admin/needs/{need_id}", response_model=NeedDetail, tags=["admin"])
async def get_need(need_id: ResourceId, staff: CurrentStaff, session: SessionDep) -> NeedDetail:
    found = await needs.get(session, staff, need_id)
    return _detail(found, await needs.matches(session, need_id))


@router.patch("/admin/needs/{need_id}", response_model=NeedDetail, tags=["admin"])
async def edit_need(
    need_id: ResourceId, body: NeedPatch, staff: CurrentStaff, session: SessionDep
) -> NeedDetail:
    """Change a need (moving it to another center you cover); with more
    `people` than its matches cover, a met need is open again."""
    found = await needs.update(session, staff, need_id, body, utcnow())
    return _detail(found, await needs.matches(session, need_id))


@router.delete("/admin/needs/{need_id}", status_code=status.HTTP_204_NO_CONTENT, tags=["admin"])
async def delete_need(need_id: ResourceId, staff: CurrentStaff, session: SessionDep) -> None:
    await needs.delete(session, staff, need_id)


@router.post(
    "/admin/needs/{need_id}/matches",
    response_model=NeedDetail,
    status_code=status.HTTP_201_CREATED,
    tags=["admin"],
)
async def match_need(
    need_id: ResourceId, body: MatchIn, staff: CurrentStaff, session: SessionDep
) -> NeedDetail:
    """Put an accepted resource or a project (not cancelled) you cover to the
    need, for `covers` of its people (by default all not yet covered; more:
    422 `match_exceeds_need`). The need is `met` once its matches cover
    everyone (409 `need_already_met` after that; 409 `not_matchable`)."""
    found, matched = await needs.match(session, staff, need_id, body, utcnow())
    return _detail(found, matched)


@router.delete(
    "/admin/needs/{need_id}/matches/{match_id}", response_model=NeedDetail, tags=["admin"]
)
async def unmatch_need(
    need_id: ResourceId, match_id: ResourceId, staff: CurrentStaff, session: SessionDep
) -> NeedDetail:
    """Take a match back: the need is open again if the others do not cover it."""
    found, matched = await needs.unmatch(session, staff, need_id, match_id, utcnow())
    return _detail(found, matched)


@router.get("/admin/lists/summary", response_model=Summary, tags=["admin"])
async def lists_summary(
    staff: CurrentStaff, session: SessionDep, ancestor_id: AncestorId = None
) -> Summary:
    """The four lists counted over the centers you cover, or `ancestor_id`
    and every center below it: needs open and met by category, resources
    offered (neither declined nor withdrawn) and used (matched to a need) by
    kind, projects planned, running and delivered (completed) by category,
    and the people of each served group."""
    counts = await summary.count(session, await centers_below(session, staff, ancestor_id))
    need_rows = [
        NeedCount(
            category=category,
            category_label=CATEGORY_LABELS[category],
            open=by_status[NeedStatus.open],
            met=by_status[NeedStatus.met],
        )
        for category, by_status in sorted(counts.needs.items())
    ]
    resource_rows = [
        ResourceCount(kind=kind, kind_label=RESOURCE_KIND_LABELS[kind], offered=offered, used=used)
        for kind, (offered, used) in sorted(counts.resources.items())
    ]
    project_rows = [
        ProjectCount(
            category=category,
            category_label=CATEGORY_LABELS[category],
            planned=by_status[ProjectStatus.planned],
            running=by_status[ProjectStatus.running],
            delivered=by_status[ProjectStatus.completed],
        )
        for category, by_status in sorted(counts.projects.items())
    ]
    return Summary(
        ancestor_id=ancestor_id,
        centers=counts.centers,
        needs_open=sum(row.open for row in need_rows),
        needs_met=sum(row.met for row in need_rows),
        needs=need_rows,
        resources_offered=sum(row.offered for row in resource_rows),
        resources_used=sum(row.used for row in resource_rows),
        resources=resource_rows,
        projects_delivered=sum(row.delivered for row in project_rows),
        projects=project_rows,
        service_objects=[
            GroupCount(group=group, group_label=GROUP_LABELS[group], people=people, centers=n)
            for group, (people, n) in sorted(counts.groups.items())
        ],
    )


@router.get("/lists/codes", response_model=Codes)
async def list_codes() -> Codes:
    """Every code the four lists use (categories, served groups, resource
    kinds, urgencies, sources, statuses) with its Chinese label."""
    return Codes(**CODE_LISTS)
