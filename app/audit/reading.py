"""Reading the audit trail (README, "The audit trail").

A super admin reads every event. Anyone else reads the events about what
lies in their scope, found through what each entity belongs to: a
reservation, space or door through its space's center; an activity, a
sign-up, an organization, a suggestion, a violation, a center's quotas or an
entry of the four lists (a need, resource, project or service object) through
its center; a day of the holiday calendar through its center or district (a
district admin's); a staff account when they manage it
(app/staff/service.py); and every event they caused themselves, their own
reads of personal data among them. Residents' accounts (entity ``user``:
deactivations, audited reads of a phone number) belong to no center: only
super admins and the staff member who acted read those.

Reading is audited too: each read or export is an event (entity ``audit``,
the reader's id, action ``read`` or ``export``, the filters as its reason).
"""

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import ColumnElement, and_, exists, false, func, or_, select, true
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import aliased

from app.audit import service as audit
from app.identity.principals import StaffPrincipal
from app.identity.staff import visible_clause
from app.models import (
    Activity,
    ActivitySignup,
    ActorKind,
    AuditEvent,
    CalendarDay,
    Center,
    Door,
    Need,
    Organization,
    Project,
    Reservation,
    Resource,
    ServiceObject,
    Space,
    Staff,
    StaffRole,
    Suggestion,
    Violation,
)

# The four lists' entries, each under its center (app/lists/).
LIST_ENTRIES = (
    ("need", Need),
    ("resource", Resource),
    ("project", Project),
    ("service_object", ServiceObject),
)

ENTITY = "audit"
MAX_EXPORT = 10_000


@dataclass(frozen=True)
class AuditQuery:
    entity: str | None = None
    entity_id: int | None = None
    actor_kind: ActorKind | None = None
    actor_id: int | None = None
    action: str | None = None
    since: datetime | None = None
    until: datetime | None = None

    def described(self) -> str:
        parts = [
            f"{name}={value.isoformat() if isinstance(value, datetime) else value}"
            for name, value in vars(self).items()
            if value is not None
        ]
        return " ".join(parts)[:200]


def _about(entity: str, found: ColumnElement[bool]) -> ColumnElement[bool]:
    return and_(AuditEvent.entity == entity, found)


def scope_clause(staff: StaffPrincipal) -> ColumnElement[bool]:
    """The events ``staff`` may read."""
    if staff.is_super_admin:
        return true()
    in_scope = staff.center_clause()
    event_id = AuditEvent.entity_id
    clauses: list[ColumnElement[bool]] = [
        and_(AuditEvent.actor_kind == ActorKind.staff, AuditEvent.actor_id == staff.id),
        _about(
            "reservation",
            exists()
            .where(Reservation.id == event_id, Space.id == Reservation.space_id)
            .where(Center.id == Space.center_id, in_scope),
        ),
        _about(
            "space", exists().where(Space.id == event_id, Center.id == Space.center_id, in_scope)
        ),
        _about(
            "door",
            exists().where(
                Door.id == event_id,
                Space.id == Door.space_id,
                Center.id == Space.center_id,
                in_scope,
            ),
        ),
        _about("center", exists().where(Center.id == event_id, in_scope)),
        _about(
            "activity",
            exists().where(Activity.id == event_id, Center.id == Activity.center_id, in_scope),
        ),
        _about(
            "activity_signup",
            exists().where(
                ActivitySignup.id == event_id,
                Activity.id == ActivitySignup.activity_id,
                Center.id == Activity.center_id,
                in_scope,
            ),
        ),
        _about(
            "organization",
            exists().where(
                Organization.id == event_id, Center.id == Organization.center_id, in_scope
            ),
        ),
        _about(
            "suggestion",
            exists().where(Suggestion.id == event_id, Center.id == Suggestion.center_id, in_scope),
        ),
        _about(
            "violation",
            exists().where(Violation.id == event_id, Center.id == Violation.center_id, in_scope),
        ),
        *(
            _about(
                entity, exists().where(model.id == event_id, Center.id == model.center_id, in_scope)
            )
            for entity, model in LIST_ENTRIES
        ),
        _about(
            "calendar_day",
            exists().where(
                CalendarDay.id == event_id,
                or_(
                    exists().where(Center.id == CalendarDay.center_id, in_scope),
                    CalendarDay.district == staff.district
                    if staff.role is StaffRole.district_admin
                    else false(),
                ),
            ),
        ),
    ]
    if staff.role is StaffRole.district_admin:
        clauses.append(_about("staff", exists().where(Staff.id == event_id, visible_clause(staff))))
    return or_(*clauses)


def _filters(staff: StaffPrincipal, query: AuditQuery) -> list[ColumnElement[bool]]:
    where = [scope_clause(staff)]
    if query.entity is not None:
        where.append(AuditEvent.entity == query.entity)
    if query.entity_id is not None:
        where.append(AuditEvent.entity_id == query.entity_id)
    if query.actor_kind is not None:
        where.append(AuditEvent.actor_kind == query.actor_kind)
    if query.actor_id is not None:
        where.append(AuditEvent.actor_id == query.actor_id)
    if query.action is not None:
        where.append(AuditEvent.action == query.action)
    if query.since is not None:
        where.append(AuditEvent.occurred_at >= query.since)
    if query.until is not None:
        where.append(AuditEvent.occurred_at < query.until)
    return where


async def search(
    session: AsyncSession,
    staff: StaffPrincipal,
    query: AuditQuery,
    *,
    limit: int,
    offset: int,
    export: bool = False,
) -> tuple[Sequence[tuple[AuditEvent, str | None]], int]:
    """One page of the events ``staff`` may read, newest first, each with its
    staff actor's username; and the reading, audited."""
    where = _filters(staff, query)
    actor = aliased(Staff)  # not the ``Staff`` a district admin's scope clause reads
    total = await session.scalar(select(func.count()).select_from(AuditEvent).where(*where)) or 0
    rows = (
        await session.execute(
            select(AuditEvent, actor.username)
            .outerjoin(
                actor,
                and_(AuditEvent.actor_kind == ActorKind.staff, actor.id == AuditEvent.actor_id),
            )
            .where(*where)
            .order_by(AuditEvent.id.desc())
            .limit(limit)
            .offset(offset)
        )
    ).all()
    audit.record(
        session,
        staff,
        entity=ENTITY,
        entity_id=staff.id,
        action="export" if export else "read",
        from_status=None,
        to_status=None,
        reason=query.described() or None,
    )
    return [(event, username) for event, username in rows], total
