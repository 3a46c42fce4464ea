"""Staff endpoints: centers, spaces, opening hours, closures and quotas within the
caller's scope."""

from typing import Annotated, Literal

from fastapi import Path, Query, Request, Response, status
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field
from sqlalchemy.ext.asyncio import AsyncSession

from app.admin import bookings
from app.admin.schemas import DayChange, DayChanged
from app.centers import service as centers
from app.centers import tree
from app.centers.schemas import CenterCreate, CenterOut, CenterUpdate
from app.core.db import DatabaseDep, SessionDep
from app.core.errors import problem_responses
from app.core.routing import api_router
from app.core.schemas import MAX_ID, Limit, LocalDate, Offset, Page, ResourceId
from app.holidays.schemas import DaySetOut
from app.identity.dependencies import (
    CipherDep,
    CurrentStaff,
    SettingsDep,
    StaffReading,
    WechatDep,
    WechatTokensDep,
)
from app.models import Center, Space
from app.reservations import changes, events
from app.reservations.schemas import ReservationOut
from app.spaces import check_in_qr, closures
from app.spaces import service as spaces
from app.spaces.affected import AffectedBooking
from app.spaces.schemas import (
    AffectedOut,
    ClosureAdded,
    ClosureCreate,
    ClosureOut,
    OpeningHoursChange,
    OpeningHoursList,
    SpaceChanged,
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
    names = await tree.parent_names(session, rows)
    items = [CenterOut.of(center, names) for center in rows]
    return Page(items=items, total=total, limit=limit, offset=offset)


@router.post("/centers", response_model=CenterOut, status_code=status.HTTP_201_CREATED)
async def create_center(body: CenterCreate, staff: CurrentStaff, session: SessionDep) -> CenterOut:
    return await _center_out(session, await centers.create_center(session, staff, body))


@router.get("/centers/{center_id}", response_model=CenterOut)
async def read_center(center_id: ResourceId, staff: CurrentStaff, session: SessionDep) -> CenterOut:
    return await _center_out(session, await centers.get_center_in_scope(session, staff, center_id))


@router.patch("/centers/{center_id}", response_model=CenterOut)
async def update_center(
    center_id: ResourceId, body: CenterUpdate, staff: CurrentStaff, session: SessionDep
) -> CenterOut:
    return await _center_out(session, await centers.update_center(session, staff, center_id, body))


async def _center_out(session: AsyncSession, center: Center) -> CenterOut:
    return CenterOut.of(center, await tree.parent_names(session, [center]))


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


@router.patch("/spaces/{space_id}", response_model=SpaceChanged)
async def update_space(
    space_id: ResourceId, body: SpaceUpdate, staff: CurrentStaff, session: SessionDep
) -> SpaceChanged:
    """Change a space's rules. New hours (`opening_hours`, `open_24h`,
    `holiday_policy`) that leave holding bookings out need `affected`."""
    space, affected = await changes.update_space(session, staff, space_id, body)
    return _space_changed(space, affected)


@router.put("/spaces/{space_id}/opening-hours", response_model=SpaceChanged)
async def replace_opening_hours(
    space_id: ResourceId,
    body: OpeningHoursList | OpeningHoursChange,
    staff: CurrentStaff,
    session: SessionDep,
) -> SpaceChanged:
    """Replace the weekly opening hours (an empty list closes the space every day):
    a list of windows, or `{opening_hours, affected, reason}` to say what happens to
    holding bookings the new hours leave out (without it, 409 `bookings_affected`)."""
    if not isinstance(body, OpeningHoursChange):
        body = OpeningHoursChange(opening_hours=body)
    space, affected = await changes.replace_opening_hours(
        session, staff, space_id, body.opening_hours, body.affected, body.reason
    )
    return _space_changed(space, affected)


def _space_changed(space: Space, affected: list[AffectedBooking]) -> SpaceChanged:
    return SpaceChanged(
        **SpaceOut.of(space).model_dump(), affected=[AffectedOut.of(row) for row in affected]
    )


@router.get("/spaces/{space_id}/closures", response_model=Page[ClosureOut])
async def list_closures(
    space_id: ResourceId,
    staff: CurrentStaff,
    session: SessionDep,
    include_past: bool = False,
    limit: Limit = 50,
    offset: Offset = 0,
) -> Page[ClosureOut]:
    rows = await closures.list_closures(session, staff, space_id, include_past=include_past)
    return Page.of([ClosureOut.of(closure) for closure in rows], limit, offset)


@router.post(
    "/spaces/{space_id}/closures", response_model=ClosureAdded, status_code=status.HTTP_201_CREATED
)
async def add_closure(
    space_id: ResourceId, body: ClosureCreate, staff: CurrentStaff, session: SessionDep
) -> ClosureAdded:
    """Close the space for `[start, end)`. Holding bookings inside need `affected`:
    `cancel` (their bookers are told, with the reason) or `keep`; without it,
    409 `bookings_affected` lists them and nothing changes."""
    closure, affected = await changes.add_closure(session, staff, space_id, body)
    return ClosureAdded(
        **ClosureOut.of(closure).model_dump(), affected=[AffectedOut.of(row) for row in affected]
    )


@router.delete("/spaces/{space_id}/closures/{closure_id}", status_code=status.HTTP_204_NO_CONTENT)
async def delete_closure(
    space_id: ResourceId, closure_id: ResourceId, staff: CurrentStaff, session: SessionDep
) -> Response:
    await closures.delete_closure(session, staff, space_id, closure_id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.post(
    "/reservations",
    status_code=status.HTTP_201_CREATED,
    response_model=ReservationOut,
    responses=problem_responses(503),
    tags=["reservations"],
)
async def book_for_someone(
    body: bookings.StaffBookingCreate,
    staff: StaffReading,
    database: DatabaseDep,
    cipher: CipherDep,
    request: Request,
) -> Response:
    """Book for a resident (`on_behalf_of`: `{user_id}`, or `{name, phone}` for one
    without the app: their account, else a placeholder their first WeChat login
    that binds the phone claims) in a space of your scope. Every rule holds for
    that person, except those named in `override` (`quota`, `booking_window`),
    which needs a `reason`; the audit trail names you. The booker is told."""
    answer = await bookings.book_for(database, request.app.state.bookings, cipher, staff, body)
    return Response(answer.body, status.HTTP_201_CREATED, media_type="application/json")


class EventHeld(events.EventOut):
    affected: list[AffectedOut] = Field(
        default_factory=list, description="The bookings cancelled for the event"
    )


@router.post(
    "/spaces/{space_id}/events",
    response_model=EventHeld,
    status_code=status.HTTP_201_CREATED,
    responses=problem_responses(503),
)
async def hold_event(
    space_id: ResourceId,
    body: events.EventCreate,
    staff: StaffReading,
    database: DatabaseDep,
    request: Request,
) -> EventHeld:
    """Hold the space for the center's own programme (党课, 议事会): no quota,
    booking window or real name applies. Bookings holding the time refuse it
    (409 `bookings_affected`, listing them) unless `affected: "cancel"`, which
    cancels them (their bookers are told). Availability shows it `taken`, with
    its `title` when `public`."""
    event, affected = await events.hold(database, request.app.state.bookings, staff, space_id, body)
    return EventHeld(
        **events.EventOut.of(event).model_dump(),
        affected=[AffectedOut.of(booking) for booking in affected],
    )


@router.get("/spaces/{space_id}/events", response_model=Page[events.EventOut])
async def list_events(
    space_id: ResourceId,
    staff: CurrentStaff,
    session: SessionDep,
    include_past: bool = False,
    limit: Limit = 50,
    offset: Offset = 0,
) -> Page[events.EventOut]:
    """The center's events in the space that still hold it (and past ones with
    `include_past`)."""
    rows = await events.list_events(session, staff, space_id, include_past=include_past)
    return Page.of([events.EventOut.of(event) for event in rows], limit, offset)


@router.get("/spaces/{space_id}/events/{event_id}", response_model=events.EventOut)
async def read_event(
    space_id: ResourceId, event_id: ResourceId, staff: CurrentStaff, session: SessionDep
) -> events.EventOut:
    return events.EventOut.of(await events.get_event(session, staff, space_id, event_id))


@router.delete("/spaces/{space_id}/events/{event_id}", status_code=status.HTTP_204_NO_CONTENT)
async def cancel_event(
    space_id: ResourceId, event_id: ResourceId, staff: CurrentStaff, session: SessionDep
) -> Response:
    """Cancel the event: its time is free again."""
    await events.cancel_event(session, staff, space_id, event_id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


class CheckInQrOut(BaseModel):
    token: str = Field(description="What the QR code carries: the owner sends it to check in")
    svg: str = Field(description="The QR code as SVG, to print for the room")


@router.get(
    "/spaces/{space_id}/check-in-qr",
    response_model=CheckInQrOut,
    responses={
        200: {
            "content": {"image/png": {"schema": {"type": "string", "format": "binary"}}},
            "description": "JSON with an SVG QR code, or (format=wxacode) a PNG mini-program code",
        },
        **problem_responses(502),
    },
)
async def read_check_in_qr(
    space_id: ResourceId,
    staff: CurrentStaff,
    database: DatabaseDep,
    settings: SettingsDep,
    wechat: WechatDep,
    tokens: WechatTokensDep,
    format: Annotated[
        Literal["svg", "wxacode"],
        Query(
            description="`svg`: a plain QR code to print (any phone's scanner, and "
            "development); `wxacode`: a PNG mini-program code from WeChat "
            "(getwxacodeunlimit) that opens the check-in page, its `scene` "
            "being `<space id>:<token>` (409 `wechat_not_configured` without WeChat)"
        ),
    ] = "svg",
) -> Response:
    """The room's check-in code (made on first asking), to print."""
    # Written and committed before WeChat is asked: on SQLite the write
    # transaction is the database's one write lock.
    async with database.writer.begin() as session:
        qr = await check_in_qr.read(session, staff, space_id)
    if format == "svg":
        return JSONResponse(CheckInQrOut(token=qr.token, svg=qr.svg).model_dump())
    png = await check_in_qr.mini_program_code(settings, wechat, tokens, qr)
    return Response(png, media_type="image/png", headers={"Cache-Control": "no-store"})


@router.post("/spaces/{space_id}/check-in-qr/rotate", response_model=CheckInQrOut)
async def rotate_check_in_qr(
    space_id: ResourceId, staff: CurrentStaff, session: SessionDep
) -> CheckInQrOut:
    """A new code: the printed one stops working at once."""
    qr = await check_in_qr.rotate(session, staff, space_id)
    return CheckInQrOut(token=qr.token, svg=qr.svg)


@router.put("/calendar/days/{day}", response_model=DayChanged, tags=["calendar"])
async def set_day(
    day: Annotated[LocalDate, Path(description="A Shanghai date, YYYY-MM-DD")],
    body: DayChange,
    staff: CurrentStaff,
    session: SessionDep,
) -> DayChanged:
    """Make ``day`` a holiday or a workday for a center (`center_id`), a district
    (`district`), or, for super admins, everywhere (neither). Holding bookings the
    day's new hours leave out need `affected` (else 409 `bookings_affected`)."""
    row, affected = await changes.set_day(
        session,
        staff,
        day,
        body.kind,
        body.name,
        district=body.district,
        center_id=body.center_id,
        action=body.affected,
    )
    return DayChanged(
        **DaySetOut.model_validate(row).model_dump(),
        affected=[AffectedOut.of(booking) for booking in affected],
    )
