"""Who may come: an activity's or a course's audience and real-name rule,
checked the same for a sign-up and an enrolment."""

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from app.activities.categories import AUDIENCE_LABELS
from app.core.errors import AppError, Text
from app.models import (
    ActivityAudience,
    Membership,
    Organization,
    OrganizationKind,
    OrganizationStatus,
    User,
)
from app.reservations.errors import RealNameRequired

REAL_NAME = Text("报名该活动须先完成实名认证", "Verify your real name to sign up for this")
ENGLISH = {
    ActivityAudience.public: "everyone",
    ActivityAudience.members: "the organisation's members",
    ActivityAudience.party_members: "party members",
}


class AudienceOnly(AppError):
    status = 403
    code = "audience_only"
    title = Text("仅限特定人群报名", "For its audience only")
    detail = Text("仅限{audience}报名", "Only {audience} may sign up")


async def check(
    session: AsyncSession,
    user: User,
    audience: ActivityAudience,
    organization_id: int | None,
    requires_real_name: bool,
) -> None:
    """``members``: of the organising organisation; ``party_members``: of a
    verified party branch (党支部); and a verified real name when asked for."""
    if audience is not ActivityAudience.public:
        query = select(Membership.user_id).where(Membership.user_id == user.id)
        if audience is ActivityAudience.members:
            query = query.where(Membership.organization_id == organization_id)
        else:
            query = query.join(Organization, Organization.id == Membership.organization_id).where(
                Organization.kind == OrganizationKind.party_branch,
                Organization.status == OrganizationStatus.verified,
            )
        if await session.scalar(query.limit(1)) is None:
            raise AudienceOnly(audience=Text(AUDIENCE_LABELS[audience], ENGLISH[audience]))
    if requires_real_name and not user.real_name_verified:
        raise RealNameRequired(REAL_NAME)
