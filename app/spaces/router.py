import datetime as dt
from typing import Annotated

import orjson
from fastapi import Depends, Query, Response
from fastapi.exceptions import RequestValidationError
from pydantic import TypeAdapter

from app.centers.router import parse_near
from app.centers.schemas import District, Street
from app.centers.service import GeoPoint
from app.core.clock import SHANGHAI, utcnow
from app.core.db import Database, DatabaseDep, SessionDep
from app.core.fastlane import Errors, HotRequest, HotRoutes, unknown_query, validated
from app.core.routing import SIGN_IN_OPTIONAL, api_router
from app.core.schemas import MAX_ID, Instant, Limit, Offset, Page, ResourceId
from app.identity.dependencies import OptionalUserId, viewer_id
from app.models import SpaceKind
from app.spaces import occupancy, search, service
from app.spaces.schemas import AvailabilityOut, OccupancyOut, SpaceOut

router = api_router("/spaces", tags=["spaces"])


@router.get("", response_model=Page[SpaceOut])
async def list_spaces(
    session: SessionDep,
    near: Annotated[GeoPoint | None, Depends(parse_near)],
    center_id: Annotated[int | None, Query(ge=1, le=MAX_ID)] = None,
    kind: SpaceKind | None = None,
    min_capacity: Annotated[int | None, Query(ge=1, le=1000)] = None,
    available_from: Annotated[Instant | None, Query()] = None,
    available_to: Annotated[Instant | None, Query()] = None,
    radius_m: Annotated[int, Query(ge=1, le=50_000, description="With `near`")] = 3000,
    district: Annotated[District | None, Query(description="The center's, e.g. 普陀区")] = None,
    street: Annotated[Street | None, Query(description="The center's, e.g. 长风新村街道")] = None,
    open_now: Annotated[
        bool, Query(description="Only spaces open now: within their hours, not closed")
    ] = False,
    limit: Limit = 50,
    offset: Offset = 0,
) -> Page[SpaceOut]:
    """Active spaces; with `available_from` and `available_to`, only those free for the
    whole interval (open, not closed, and with a room or seat left); with `near`,
    those whose center lies within `radius_m`, nearest first, with `distance_m`."""
    wanted = search.SpaceSearch(
        center_id=center_id,
        kind=kind,
        min_capacity=min_capacity,
        available_from=available_from,
        available_to=available_to,
        district=district,
        street=street,
        near=near,
        radius_m=radius_m,
        open_now=utcnow() if open_now else None,
    )
    hits, total = await search.search_spaces(session, wanted, limit=limit, offset=offset)
    free = await occupancy.free_now(session, [hit.space for hit in hits], utcnow())
    items = [SpaceOut.of(hit.space, hit.distance_m, free[hit.space.id]) for hit in hits]
    return Page(items=items, total=total, limit=limit, offset=offset)


@router.get("/{space_id}", response_model=SpaceOut)
async def read_space(space_id: ResourceId, session: SessionDep) -> SpaceOut:
    return SpaceOut.of(await service.get_active_space(session, space_id))


@router.get("/{space_id}/occupancy", response_model=OccupancyOut)
async def read_occupancy(space_id: ResourceId, database: DatabaseDep) -> OccupancyOut:
    """Live occupancy: the people checked in now, the places free now (a
    screen at the door, the map), and with none free when one frees."""
    return await occupancy.occupancy(database, space_id)


_SPACE_ID: TypeAdapter[int] = TypeAdapter(ResourceId)
_DATE: TypeAdapter[dt.date] = TypeAdapter(dt.date)


async def availability_hot(request: HotRequest) -> Response:
    """``GET /spaces/{id}/availability`` without FastAPI's dependencies: the same
    checks in the same order (query string, then path and date together)."""
    query = request.query() if request.scope.get("query_string") else {}
    unknown_query(request, frozenset({"date"}))
    errors = Errors()
    space_id = errors.check(lambda: request.path("space_id", _SPACE_ID))
    date = errors.check(lambda: _date(query))
    errors.raise_any()
    assert space_id is not None
    assert date is not None
    viewer = viewer_id(request.app.state.settings, request.bearer())
    return await day_response(request.app.state.database, space_id, date, viewer)


def _date(query: dict[str, str]) -> dt.date:
    if "date" not in query:
        raise RequestValidationError(
            [{"type": "missing", "loc": ("query", "date"), "msg": "Field required", "input": None}]
        )
    value: dt.date = validated(_DATE, query["date"], ("query", "date"))
    return value


async def day_response(
    database: Database, space_id: int, date: dt.date, viewer: int | None = None
) -> Response:
    day = await service.day_availability(database, space_id, date, viewer_id=viewer)
    # Serialized once, by hand: the hottest read skips response-model validation.
    body = {
        "space_id": day.space.space_id,
        "date": day.day.isoformat(),
        "slot_minutes": day.space.slot_minutes,
        "bookable_until": day.bookable_until.astimezone(SHANGHAI).isoformat(),
        "slots": [
            {"start": slot.start_text, "end": slot.end_text, "status": status, "remaining": left}
            | (note or {})
            for slot, status, left, note in day.slots
        ],
    }
    return Response(orjson.dumps(body), media_type="application/json")


HOT = HotRoutes(router)


@HOT.route(
    "GET",
    "/{space_id}/availability",
    fast=availability_hot,
    response_model=AvailabilityOut,
    openapi_extra=SIGN_IN_OPTIONAL,
)
async def read_availability(
    space_id: ResourceId,
    database: DatabaseDep,
    date: Annotated[dt.date, Query(description="Shanghai calendar day, YYYY-MM-DD")],
    viewer: OptionalUserId,
) -> Response:
    """The day's slots: `free`, `taken`, `closed` (outside hours or a closure, with
    the closure's or holiday's `reason`), `past`, `not_yet_bookable` (past the
    booking window, with `opens_at`) or, for a resident who sends their token,
    `mine` (they hold it); with `remaining` seats (or 1/0 rooms).

    Answered by ``availability_hot`` (app/core/fastlane.py); this declaration
    is the contract, and does the same if it is ever reached."""
    return await day_response(database, space_id, date, viewer)
