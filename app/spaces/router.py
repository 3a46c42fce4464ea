import datetime as dt
from typing import Annotated

import orjson
from fastapi import Query, Response

from app.core.clock import SHANGHAI
from app.core.db import DatabaseDep, SessionDep
from app.core.routing import api_router
from app.core.schemas import MAX_ID, Instant, Limit, Offset, Page, ResourceId
from app.models import SpaceKind
from app.spaces import service
from app.spaces.schemas import AvailabilityOut, SpaceOut

router = api_router("/spaces", tags=["spaces"])


@router.get("", response_model=Page[SpaceOut])
async def list_spaces(
    session: SessionDep,
    center_id: Annotated[int | None, Query(ge=1, le=MAX_ID)] = None,
    kind: SpaceKind | None = None,
    min_capacity: Annotated[int | None, Query(ge=1, le=1000)] = None,
    available_from: Annotated[Instant | None, Query()] = None,
    available_to: Annotated[Instant | None, Query()] = None,
    limit: Limit = 50,
    offset: Offset = 0,
) -> Page[SpaceOut]:
    """Active spaces; with `available_from` and `available_to`, only those free for the
    whole interval (open, not closed, and with a room or seat left)."""
    search = service.SpaceSearch(
        center_id=center_id,
        kind=kind,
        min_capacity=min_capacity,
        available_from=available_from,
        available_to=available_to,
    )
    spaces, total = await service.search_spaces(session, search, limit=limit, offset=offset)
    return Page(
        items=[SpaceOut.of(space) for space in spaces], total=total, limit=limit, offset=offset
    )


@router.get("/{space_id}", response_model=SpaceOut)
async def read_space(space_id: ResourceId, session: SessionDep) -> SpaceOut:
    return SpaceOut.of(await service.get_active_space(session, space_id))


@router.get("/{space_id}/availability", response_model=AvailabilityOut)
async def read_availability(
    space_id: ResourceId,
    database: DatabaseDep,
    date: Annotated[dt.date, Query(description="Shanghai calendar day, YYYY-MM-DD")],
) -> Response:
    """The day's slots: `free`, `taken`, `closed` (outside hours or a closure) or `past`,
    with `remaining` seats (or 1/0 rooms)."""
    day = await service.day_availability(database, space_id, date)
    # Serialized once, by hand: the hottest read skips response-model validation.
    body = {
        "space_id": day.space.space_id,
        "date": day.day.isoformat(),
        "slot_minutes": day.space.slot_minutes,
        "bookable_until": day.bookable_until.astimezone(SHANGHAI).isoformat(),
        "slots": [
            {"start": slot.start_text, "end": slot.end_text, "status": status, "remaining": left}
            for slot, status, left in day.slots
        ],
    }
    return Response(orjson.dumps(body), media_type="application/json")
