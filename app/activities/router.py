"""Activities: creating, publishing, cancelling and finding them."""

from typing import Annotated

from fastapi import Depends, Query, Request, Response, status

from app.activities import finding, listing, service
from app.activities.schemas import ActivityCancel, ActivityCreate, ActivityOut
from app.centers.router import parse_near
from app.centers.schemas import District, Street
from app.centers.service import GeoPoint
from app.core.clock import local_today
from app.core.db import DatabaseDep, SessionDep
from app.core.routing import SIGN_IN_OPTIONAL, api_router
from app.core.schemas import Limit, LocalDate, Offset, Page, ResourceId
from app.identity.dependencies import ActorReading, CurrentActor, OptionalActor
from app.models import ActivityCategory

router = api_router("/activities", tags=["activities"])


@router.post("", response_model=ActivityOut, status_code=status.HTTP_201_CREATED)
async def create_activity(
    body: ActivityCreate,
    actor: ActorReading,
    request: Request,
    database: DatabaseDep,
) -> ActivityOut:
    """Staff of the center, or the owner of a verified organisation, create an
    activity: a draft, or published at once with `publish: true`. With
    `space_id` the venue is booked by the booking rules (the center's own event
    when staff create it, the organisation's booking otherwise); in a space that
    needs approval the activity stays a draft until the booking is approved."""
    activity = await service.create(database, request.app.state.bookings, actor, body)
    async with database.reader.begin() as session:
        return await finding.managed_out(session, actor, activity.id)


@router.get("", response_model=Page[ActivityOut])
async def list_activities(
    database: DatabaseDep,
    near: Annotated[GeoPoint | None, Depends(parse_near)],
    first_day: Annotated[LocalDate | None, Query(alias="from")] = None,
    last_day: Annotated[LocalDate | None, Query(alias="to")] = None,
    center_id: Annotated[int | None, Query(ge=1, le=2_147_483_647)] = None,
    district: Annotated[District | None, Query()] = None,
    street: Annotated[Street | None, Query()] = None,
    category: ActivityCategory | None = None,
    radius_m: Annotated[int, Query(ge=1, le=50_000, description="With `near`")] = 3000,
    q: Annotated[str | None, Query(min_length=1, max_length=50)] = None,
    limit: Limit = 50,
    offset: Offset = 0,
) -> Response:
    """Published activities from `from` to `to` (Shanghai days, inclusive; from
    today and 30 days on by default, 92 at most), soonest first; with `near`,
    those whose center lies within `radius_m`, nearest first."""
    first, last = finding.list_range(first_day, last_day, local_today())
    search = finding.ActivitySearch(
        first_day=first,
        last_day=last,
        center_id=center_id,
        district=district,
        street=street,
        category=category,
        near=near,
        radius_m=radius_m,
        q=q.strip() if q and q.strip() else None,
    )
    body = await listing.page_json(database, search, limit=limit, offset=offset)
    return Response(body, media_type="application/json")


@router.get("/{activity_id}", response_model=ActivityOut, openapi_extra=SIGN_IN_OPTIONAL)
async def read_activity(
    activity_id: ResourceId, session: SessionDep, actor: OptionalActor
) -> ActivityOut:
    """A published activity, for anyone; a draft only for those who manage it."""
    return await finding.get_visible(session, actor, activity_id)


@router.post("/{activity_id}/publish", response_model=ActivityOut)
async def publish_activity(
    activity_id: ResourceId, actor: CurrentActor, session: SessionDep
) -> ActivityOut:
    await service.publish(session, actor, activity_id)
    return await finding.managed_out(session, actor, activity_id)


@router.post("/{activity_id}/cancel", response_model=ActivityOut)
async def cancel_activity(
    activity_id: ResourceId, body: ActivityCancel, actor: CurrentActor, session: SessionDep
) -> ActivityOut:
    """Cancel the activity with a reason: every participant is told, every
    sign-up ends and the venue's booking is released."""
    await service.cancel(session, actor, activity_id, body.reason)
    return await finding.managed_out(session, actor, activity_id)
