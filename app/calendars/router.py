"""iCalendar: a booking's .ics, a resident's feed, and a space's feed for staff."""

from typing import Annotated, Any

from fastapi import Path, Request, Response, status

from app.calendars import service
from app.calendars.schemas import CalendarFeedOut
from app.core.clock import utcnow
from app.core.db import SessionDep
from app.core.routing import API_PREFIX, SIGN_IN_OPTIONAL, api_router
from app.core.schemas import ResourceId
from app.identity.dependencies import CurrentStaff, CurrentUser, OptionalActor

router = api_router(tags=["calendars"])
ICS = "text/calendar; charset=utf-8"
ICS_RESPONSE: dict[int | str, dict[str, Any]] = {
    200: {"content": {"text/calendar": {"schema": {"type": "string"}}}}
}
FeedToken = Annotated[str, Path(min_length=20, max_length=64, pattern=r"^[A-Za-z0-9_-]+$")]


def feed_url(request: Request, token: str) -> str:
    return str(request.base_url).rstrip("/") + f"{API_PREFIX}/calendar/feeds/{token}.ics"


def _ics(body: bytes, filename: str) -> Response:
    return Response(
        body, media_type=ICS, headers={"Content-Disposition": f'inline; filename="{filename}"'}
    )


@router.get(
    "/reservations/{reservation_id}/calendar.ics",
    response_class=Response,
    responses=ICS_RESPONSE,
)
async def reservation_ics(
    reservation_id: ResourceId, user: CurrentUser, session: SessionDep
) -> Response:
    """Your booking as an event for your calendar (never with its door code)."""
    body = await service.reservation_calendar(session, user, reservation_id)
    return _ics(body, f"reservation-{reservation_id}.ics")


@router.get(
    "/activities/{activity_id}/calendar.ics",
    response_class=Response,
    responses=ICS_RESPONSE,
    tags=["activities"],
    openapi_extra=SIGN_IN_OPTIONAL,
)
async def activity_ics(
    activity_id: ResourceId, actor: OptionalActor, session: SessionDep
) -> Response:
    """A published activity as an event for your calendar; no token needed (a
    draft only for those who manage it)."""
    body = await service.activity_calendar(session, actor, activity_id)
    return _ics(body, f"activity-{activity_id}.ics")


@router.post(
    "/me/calendar-feed", response_model=CalendarFeedOut, status_code=status.HTTP_201_CREATED
)
async def issue_feed(request: Request, user: CurrentUser, session: SessionDep) -> CalendarFeedOut:
    """A personal feed URL for calendar apps, which send no bearer token. A new
    one revokes the previous URL."""
    token = await service.issue_feed(session, user, utcnow())
    return CalendarFeedOut(url=feed_url(request, token), token=token)


@router.delete("/me/calendar-feed", status_code=status.HTTP_204_NO_CONTENT)
async def revoke_feed(user: CurrentUser, session: SessionDep) -> Response:
    """Stop your feed: its URL answers 404 from now on."""
    await service.revoke_feed(session, user)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.get("/calendar/feeds/{token}.ics", response_class=Response, responses=ICS_RESPONSE)
async def feed(token: FeedToken, session: SessionDep) -> Response:
    """A resident's bookings and the activities they signed up for, or a
    space's bookings for a staff member, from a month ago on; the token is the
    credential."""
    return _ics(await service.feed_calendar(session, token, utcnow()), "zhendi.ics")


@router.get(
    "/admin/spaces/{space_id}/calendar.ics",
    response_class=Response,
    responses=ICS_RESPONSE,
    tags=["admin"],
)
async def space_ics(space_id: ResourceId, staff: CurrentStaff, session: SessionDep) -> Response:
    """A space's bookings from a month ago on, for staff in scope."""
    body = await service.space_calendar(session, staff, space_id, utcnow())
    return _ics(body, f"space-{space_id}.ics")


@router.post(
    "/admin/spaces/{space_id}/calendar-feed",
    response_model=CalendarFeedOut,
    status_code=status.HTTP_201_CREATED,
    tags=["admin"],
)
async def issue_space_feed(
    request: Request, space_id: ResourceId, staff: CurrentStaff, session: SessionDep
) -> CalendarFeedOut:
    """A feed URL of a space in your scope for calendar apps, which send no
    bearer token. A new one revokes your previous URL for the space; the URL
    stops working if you leave the space's scope or are deactivated."""
    token = await service.issue_space_feed(session, staff, space_id, utcnow())
    return CalendarFeedOut(url=feed_url(request, token), token=token)


@router.delete(
    "/admin/spaces/{space_id}/calendar-feed",
    status_code=status.HTTP_204_NO_CONTENT,
    tags=["admin"],
)
async def revoke_space_feed(
    space_id: ResourceId, staff: CurrentStaff, session: SessionDep
) -> Response:
    """Stop your feed of the space: its URL answers 404 from now on."""
    await service.revoke_space_feed(session, staff, space_id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)
