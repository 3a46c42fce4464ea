"""Activities: creating, publishing, cancelling and finding them."""

from datetime import date
from typing import Annotated, Any

from fastapi import Depends, Query, Request, Response, status
from pydantic import TypeAdapter

from app.activities import finding, listing, service
from app.activities.schemas import ActivityCancel, ActivityCreate, ActivityOut
from app.centers.router import NearText, near_point, parse_near
from app.centers.schemas import District, Street
from app.centers.service import GeoPoint
from app.core.clock import local_today
from app.core.db import Database, DatabaseDep, SessionDep
from app.core.fastlane import Errors, HotRequest, HotRoutes, validated
from app.core.routing import SIGN_IN_OPTIONAL, api_router, refuse_unknown
from app.core.schemas import MAX_ID, Limit, LocalDate, Offset, Page, ResourceId
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


# The list's filters, declared once: the FastAPI route's parameters and what
# its hot handler validates with.
FirstDay = Annotated[LocalDate | None, Query(alias="from")]
LastDay = Annotated[LocalDate | None, Query(alias="to")]
CenterId = Annotated[int | None, Query(ge=1, le=MAX_ID)]
DistrictFilter = Annotated[District | None, Query()]
StreetFilter = Annotated[Street | None, Query()]
Category = Annotated[ActivityCategory | None, Query()]
Radius = Annotated[int, Query(ge=1, le=50_000, description="With `near`")]
Words = Annotated[str | None, Query(min_length=1, max_length=50)]


async def list_response(
    database: Database,
    near: GeoPoint | None,
    first_day: date | None,
    last_day: date | None,
    center_id: int | None,
    district: str | None,
    street: str | None,
    category: ActivityCategory | None,
    radius_m: int,
    q: str | None,
    limit: int,
    offset: int,
) -> Response:
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


_NEAR: TypeAdapter[str | None] = TypeAdapter(NearText)
# (query name, list_response's keyword, validation, default) in the route's order.
_FILTERS: tuple[tuple[str, str, TypeAdapter[Any], Any], ...] = (
    ("from", "first_day", TypeAdapter(FirstDay), None),
    ("to", "last_day", TypeAdapter(LastDay), None),
    ("center_id", "center_id", TypeAdapter(CenterId), None),
    ("district", "district", TypeAdapter(DistrictFilter), None),
    ("street", "street", TypeAdapter(StreetFilter), None),
    ("category", "category", TypeAdapter(Category), None),
    ("radius_m", "radius_m", TypeAdapter(Radius), 3000),
    ("q", "q", TypeAdapter(Words), None),
    ("limit", "limit", TypeAdapter(Limit), 50),
    ("offset", "offset", TypeAdapter(Offset), 0),
)
_ALLOWED = frozenset({"near", *(name for name, *_ in _FILTERS)})


async def list_hot(request: HotRequest) -> Response:
    """``GET /activities`` without FastAPI's dependencies, checked as FastAPI
    checks it: unknown names first; then ``near`` (a point off the earth is
    refused at once, as ``parse_near`` raises); then every filter, all errors
    together."""
    query = request.query() if request.scope.get("query_string") else {}
    refuse_unknown(query, _ALLOWED)
    errors = Errors()
    near = None
    if "near" in query:
        text = errors.check(lambda: validated(_NEAR, query["near"], ("query", "near")))
        if text is not None:
            near = near_point(text)
    values = {
        keyword: _filter(errors, query, name, adapter) if name in query else default
        for name, keyword, adapter, default in _FILTERS
    }
    errors.raise_any()
    return await list_response(request.app.state.database, near, **values)


def _filter(errors: Errors, query: dict[str, str], name: str, adapter: TypeAdapter[Any]) -> Any:
    return errors.check(lambda: validated(adapter, query[name], ("query", name)))


HOT = HotRoutes(router)


@HOT.route("GET", "", fast=list_hot, response_model=Page[ActivityOut])
async def list_activities(
    database: DatabaseDep,
    near: Annotated[GeoPoint | None, Depends(parse_near)],
    first_day: FirstDay = None,
    last_day: LastDay = None,
    center_id: CenterId = None,
    district: DistrictFilter = None,
    street: StreetFilter = None,
    category: Category = None,
    radius_m: Radius = 3000,
    q: Words = None,
    limit: Limit = 50,
    offset: Offset = 0,
) -> Response:
    """Published activities from `from` to `to` (Shanghai days, inclusive; from
    today and 30 days on by default, 92 at most), soonest first; with `near`,
    those whose center lies within `radius_m`, nearest first.

    Answered by ``list_hot`` (app/core/fastlane.py); this declaration is the
    contract, and does the same if it is ever reached."""
    return await list_response(
        database,
        near,
        first_day,
        last_day,
        center_id,
        district,
        street,
        category,
        radius_m,
        q,
        limit,
        offset,
    )


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
