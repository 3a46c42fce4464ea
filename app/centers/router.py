from typing import Annotated

from fastapi import Depends, Query
from fastapi.exceptions import RequestValidationError

from app.centers import service, tree
from app.centers.schemas import CenterDetail, CenterOut, District, SpaceSummary, Street
from app.core.db import SessionDep
from app.core.routing import api_router
from app.core.schemas import MAX_ID, Limit, Offset, Page, ResourceId
from app.models import CenterKind

router = api_router("/centers", tags=["centers"])

_NEAR_PATTERN = r"^\s*-?\d{1,3}(\.\d+)?\s*,\s*-?\d{1,3}(\.\d+)?\s*$"
# `near` as the query string carries it; a hot route validates it with this too.
NearText = Annotated[
    str | None,
    Query(
        pattern=_NEAR_PATTERN,
        max_length=60,
        description="`lat,lng` in GCJ-02; results are then ordered by distance",
        examples=["31.2397,121.4143"],
    ),
]


async def parse_near(near: NearText = None) -> service.GeoPoint | None:
    return None if near is None else near_point(near)


def near_point(near: str) -> service.GeoPoint:
    """The point a well-formed ``near`` names, if it lies on the earth."""
    lat, lng = (float(part) for part in near.split(","))
    if not (-90 <= lat <= 90 and -180 <= lng <= 180):
        raise RequestValidationError(
            [
                {
                    "type": "value_error",
                    "loc": ("query", "near"),
                    "msg": "lat must be within ±90 and lng within ±180",
                    "input": near,
                }
            ]
        )
    return service.GeoPoint(lat, lng)


@router.get("", response_model=Page[CenterOut])
async def list_centers(
    session: SessionDep,
    near: Annotated[service.GeoPoint | None, Depends(parse_near)],
    district: Annotated[District | None, Query()] = None,
    kind: CenterKind | None = None,
    radius_m: Annotated[int, Query(ge=1, le=50_000, description="With `near`")] = 3000,
    street: Annotated[Street | None, Query(description="街道/镇, e.g. 长风新村街道")] = None,
    q: Annotated[
        str | None,
        Query(min_length=1, max_length=50, description="Part of the name, e.g. 长风"),
    ] = None,
    parent_id: Annotated[
        int | None, Query(ge=1, le=MAX_ID, description="Only this center's children")
    ] = None,
    limit: Limit = 50,
    offset: Offset = 0,
) -> Page[CenterOut]:
    """Centers, by district, street, kind, name or parent; with `near`, those
    within `radius_m`, nearest first, each with its `distance_m` in whole metres."""
    search = service.CenterSearch(
        district=district,
        kind=kind,
        near=near,
        radius_m=radius_m,
        street=street,
        q=q.strip() if q and q.strip() else None,
        parent_id=parent_id,
    )
    hits, total = await service.search_centers(session, search, limit=limit, offset=offset)
    names = await tree.parent_names(session, [hit.center for hit in hits])
    items = [
        CenterOut.of(hit.center, names).model_copy(update={"distance_m": hit.distance_m})
        for hit in hits
    ]
    return Page(items=items, total=total, limit=limit, offset=offset)


@router.get("/{center_id}", response_model=CenterDetail)
async def read_center(center_id: ResourceId, session: SessionDep) -> CenterDetail:
    center = await service.get_center(session, center_id)
    spaces = await service.list_center_spaces(session, center_id)
    names = await tree.parent_names(session, [center])
    return CenterDetail(
        **dict(CenterOut.of(center, names)),
        spaces=[SpaceSummary.model_validate(space) for space in spaces],
    )


@router.get("/{center_id}/children", response_model=list[CenterOut])
async def read_children(center_id: ResourceId, session: SessionDep) -> list[CenterOut]:
    """The centers one level below this one in the network, by id."""
    found = await tree.children(session, center_id)
    names = await tree.parent_names(session, found)
    return [CenterOut.of(center, names) for center in found]


@router.get("/{center_id}/ancestors", response_model=list[CenterOut])
async def read_ancestors(center_id: ResourceId, session: SessionDep) -> list[CenterOut]:
    """The centers above this one in the network, **nearest first**: its
    parent, the parent's parent, … up to the root (a district hub). Empty for
    a root."""
    found = await tree.ancestors(session, center_id)
    names = await tree.parent_names(session, found)
    return [CenterOut.of(center, names) for center in found]
