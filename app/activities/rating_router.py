"""Rating an activity once it is held, and reading its ratings."""

from pydantic import BaseModel, ConfigDict, Field

from app.activities import ratings
from app.core.clock import utcnow
from app.core.db import SessionDep
from app.core.routing import api_router
from app.core.schemas import Limit, LocalInstant, Offset, Page, ResourceId
from app.feedback.schemas import FeedbackIn
from app.identity.dependencies import CurrentActor, CurrentUser

router = api_router("/activities", tags=["activities"])


class ActivityFeedbackOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    signup_id: int = Field(validation_alias="id")
    activity_id: int
    rating: int
    comment: str | None
    rated_at: LocalInstant


class ActivityFeedbackPage(Page[ActivityFeedbackOut]):
    average: float | None  # of every rating the activity has had (total of them)


@router.post("/{activity_id}/feedback", response_model=ActivityFeedbackOut, status_code=201)
async def rate_activity(
    activity_id: ResourceId, body: FeedbackIn, user: CurrentUser, session: SessionDep
) -> ActivityFeedbackOut:
    """Rate a completed activity you were signed up for (a confirmed sign-up,
    checked in or not), once: 1–5 and an optional comment."""
    signup = await ratings.rate(session, user, activity_id, body.rating, body.comment, utcnow())
    return ActivityFeedbackOut.model_validate(signup)


@router.get("/{activity_id}/feedback", response_model=ActivityFeedbackPage)
async def activity_feedback(
    activity_id: ResourceId,
    actor: CurrentActor,
    session: SessionDep,
    limit: Limit = 50,
    offset: Offset = 0,
) -> ActivityFeedbackPage:
    """The activity's ratings and comments, newest first, with the average of
    all, for staff covering its center and its organiser (who the raters are
    is not shown)."""
    rows, count, average = await ratings.of_activity(
        session, actor, activity_id, limit=limit, offset=offset
    )
    return ActivityFeedbackPage(
        items=[ActivityFeedbackOut.model_validate(row) for row in rows],
        total=count,
        limit=limit,
        offset=offset,
        average=average,
    )
