"""Who may come: an activity's or a course's audience and real-name rule,
checked the same for a sign-up (its hot path reads ``IN_AUDIENCE`` in its
snapshot: app/activities/signing.py) and an enrolment."""

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from app.activities.categories import AUDIENCE_LABELS
from app.core.errors import AppError, Text
from app.models import ActivityAudience, OrganizationKind, OrganizationStatus, User
from app.reservations.errors import RealNameRequired

REAL_NAME = Text("报名该活动须先完成实名认证", "Verify your real name to sign up for this")
ENGLISH = {
    ActivityAudience.public: "everyone",
    ActivityAudience.members: "the organisation's members",
    ActivityAudience.party_members: "party members",
}


def in_audience(audience: str, organization: str) -> str:
    """SQL: whether ``:user`` is of the audience ``audience`` (a column or a
    parameter) of organisation ``organization``: anyone for ``public``; for
    ``members``, the organising organisation's; for ``party_members``, those of
    a verified party branch (党支部). Each subquery is an index search, run
    only for its own audience."""
    return f"""CASE {audience}
  WHEN '{ActivityAudience.public.value}' THEN TRUE
  WHEN '{ActivityAudience.members.value}' THEN EXISTS (
    SELECT 1 FROM organization_members m
    WHERE m.user_id = :user AND m.organization_id = {organization})
  ELSE EXISTS (
    SELECT 1 FROM organization_members m JOIN organizations o ON o.id = m.organization_id
    WHERE m.user_id = :user AND o.kind = '{OrganizationKind.party_branch.value}'
      AND o.status = '{OrganizationStatus.verified.value}')
END"""


_IN_AUDIENCE = text(f"SELECT {in_audience('CAST(:audience AS VARCHAR)', ':organization')}")


class AudienceOnly(AppError):
    status = 403
    code = "audience_only"
    title = Text("仅限特定人群报名", "For its audience only")
    detail = Text("仅限{audience}报名", "Only {audience} may sign up")


def refuse(
    audience: ActivityAudience,
    in_it: bool,
    requires_real_name: bool,
    real_name_verified: bool,
) -> None:
    """Raise what keeps someone out: not of the audience, then no real name."""
    if not in_it:
        raise AudienceOnly(audience=Text(AUDIENCE_LABELS[audience], ENGLISH[audience]))
    if requires_real_name and not real_name_verified:
        raise RealNameRequired(REAL_NAME)


async def check(
    session: AsyncSession,
    user: User,
    audience: ActivityAudience,
    organization_id: int | None,
    requires_real_name: bool,
) -> None:
    in_it = await session.scalar(
        _IN_AUDIENCE,
        {"audience": audience.value, "organization": organization_id, "user": user.id},
    )
    refuse(audience, bool(in_it), requires_real_name, user.real_name_verified)
