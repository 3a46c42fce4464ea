"""Staff endpoints: centers, spaces, opening hours, closures and quotas within the
caller's scope."""

from typing import Annotated

from fastapi import Query, Response, status
from pydantic import BaseModel, Field

from app.centers import service as centers
from app.centers.schemas import CenterCreate, CenterOut, CenterUpdate
from app.core.db import SessionDep
from app.core.routing import api_router
from app.core.schemas import MAX_ID, Limit, Offset, Page, ResourceId
from app.identity.dependencies import CurrentStaff
from app.spaces import check_in_qr, closures
from app.spaces import service as spaces
from app.spaces.schemas import (
    ClosureCreate,
    ClosureOut,
    OpeningHoursList,
    SpaceCreate,
    SpaceOut,
    SpaceUpdate,
)

router = api_router("/admin", tags=["admin"])


@router.get("/centers", response_model=Page[CenterOut])
async def list_centers(
    staff: CurrentStaff, session: SessionDep, limit: Limit = 50, offset: Offset = 0
) -> Page[CenterOut]:
    rows, total = await centers.list_centers_in_scope(session, staff, limit=limit, offset=offset)
    items = [CenterOut.model_validate(center) for center in rows]
    return Page(items=items, total=total, limit=limit, offset=offset)


@router.post("/centers", response_model=CenterOut, status_code=status.HTTP_201_CREATED)
async def create_center(body: CenterCreate, staff: CurrentStaff, session: SessionDep) -> CenterOut:
    return CenterOut.model_validate(await centers.create_center(session, staff, body))


@router.get("/centers/{center_id}", response_model=CenterOut)
async def read_center(center_id: ResourceId, staff: CurrentStaff, session: SessionDep) -> CenterOut:
    return CenterOut.model_validate(await centers.get_center_in_scope(session, staff, center_id))


@router.patch("/centers/{center_id}", response_model=CenterOut)
async def update_center(
    center_id: ResourceId, body: CenterUpdate, staff: CurrentStaff, session: SessionDep
) -> CenterOut:
    return CenterOut.model_validate(await centers.update_center(session, staff, center_id, body))


@router.get("/spaces", response_model=Page[SpaceOut])
async def list_spaces(
    staff: CurrentStaff,
    session: SessionDep,
    center_id: Annotated[int | None, Query(ge=1, le=MAX_ID)] = None,
    limit: Limit = 50,
    offset: Offset = 0,
) -> Page[SpaceOut]:
    rows, total = await spaces.list_spaces_in_scope(
        session, staff, center_id=center_id, limit=limit, offset=offset
    )
    return Page(
        items=[SpaceOut.of(space) for space in rows], total=total, limit=limit, offset=offset
    )


@router.post("/spaces", response_model=SpaceOut, status_code=status.HTTP_201_CREATED)
async def create_space(body: SpaceCreate, staff: CurrentStaff, session: SessionDep) -> SpaceOut:
    return SpaceOut.of(await spaces.create_space(session, staff, body))


@router.get("/spaces/{space_id}", response_model=SpaceOut)
async def read_space(space_id: ResourceId, staff: CurrentStaff, session: SessionDep) -> SpaceOut:
    return SpaceOut.of(await spaces.get_space_in_scope(session, staff, space_id))


@router.patch("/spaces/{space_id}", response_model=SpaceOut)
async def update_space(
    space_id: ResourceId, body: SpaceUpdate, staff: CurrentStaff, session: SessionDep
) -> SpaceOut:
    return SpaceOut.of(await spaces.update_space(session, staff, space_id, body))


@router.put("/spaces/{space_id}/opening-hours", response_model=SpaceOut)
async def replace_opening_hours(
    space_id: ResourceId, body: OpeningHoursList, staff: CurrentStaff, session: SessionDep
) -> SpaceOut:
    """Replace the weekly opening hours (an empty list closes the space every day)."""
    return SpaceOut.of(await spaces.replace_opening_hours(session, staff, space_id, body))


@router.get("/spaces/{space_id}/closures", response_model=list[ClosureOut])
async def list_closures(
    space_id: ResourceId,
    staff: CurrentStaff,
    session: SessionDep,
    include_past: bool = False,
) -> list[ClosureOut]:
    rows = await closures.list_closures(session, staff, space_id, include_past=include_past)
    return [ClosureOut.of(closure) for closure in rows]


@router.post(
    "/spaces/{space_id}/closures", response_model=ClosureOut, status_code=status.HTTP_201_CREATED
)
async def add_closure(
    space_id: ResourceId, body: ClosureCreate, staff: CurrentStaff, session: SessionDep
) -> ClosureOut:
    return ClosureOut.of(await closures.add_closure(session, staff, space_id, body))


@router.delete("/spaces/{space_id}/closures/{closure_id}", status_code=status.HTTP_204_NO_CONTENT)
async def delete_closure(
    space_id: ResourceId, closure_id: ResourceId, staff: CurrentStaff, session: SessionDep
) -> Response:
    await closures.delete_closure(session, staff, space_id, closure_id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


class CheckInQrOut(BaseModel):
    token: str = Field(description="What the QR code carries: the owner sends it to check in")
    svg: str = Field(description="The QR code as SVG, to print for the room")


@router.get("/spaces/{space_id}/check-in-qr", response_model=CheckInQrOut)
async def read_check_in_qr(
    space_id: ResourceId, staff: CurrentStaff, session: SessionDep
) -> CheckInQrOut:
    """The room's check-in QR code (made on first asking), to print."""
    qr = await check_in_qr.read(session, staff, space_id)
    return CheckInQrOut(token=qr.token, svg=qr.svg)


@router.post("/spaces/{space_id}/check-in-qr/rotate", response_model=CheckInQrOut)
async def rotate_check_in_qr(
    space_id: ResourceId, staff: CurrentStaff, session: SessionDep
) -> CheckInQrOut:
    """A new code: the printed one stops working at once."""
    qr = await check_in_qr.rotate(session, staff, space_id)
    return CheckInQrOut(token=qr.token, svg=qr.svg)
