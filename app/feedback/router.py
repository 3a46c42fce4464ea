"""Rating a booking after use, and staff reading a space's feedback."""

from fastapi import status

from app.core.clock import utcnow
from app.core.db import SessionDep
from app.core.routing import api_router
from app.core.schemas import Limit, Offset, ResourceId
from app.feedback import service
from app.feedback.schemas import FeedbackIn, FeedbackOut, SpaceFeedbackPage
from app.identity.dependencies import CurrentStaff, CurrentUser

router = api_router(tags=["feedback"])


@router.post(
    "/reservations/{reservation_id}/feedback",
    response_model=FeedbackOut,
    status_code=status.HTTP_201_CREATED,
)
async def give_feedback(
    reservation_id: ResourceId, body: FeedbackIn, user: CurrentUser, session: SessionDep
) -> FeedbackOut:
    """Rate your completed booking, once: 1–5 and an optional comment."""
    feedback = await service.give(
        session, user, reservation_id, body.rating, body.comment, utcnow()
    )
    return FeedbackOut.model_validate(feedback)


@router.get("/admin/spaces/{space_id}/feedback", response_model=SpaceFeedbackPage, tags=["admin"])
async def space_feedback(
    space_id: ResourceId,
    staff: CurrentStaff,
    session: SessionDep,
    limit: Limit = 50,
    offset: Offset = 0,
) -> SpaceFeedbackPage:
    """A space's ratings and comments, newest first, with the average of all."""
    rows, count, average = await service.of_space(
        session, staff, space_id, limit=limit, offset=offset
    )
    return SpaceFeedbackPage(
        items=[FeedbackOut.model_validate(row) for row in rows],
        total=count,
        limit=limit,
        offset=offset,
        average=average,
    )
