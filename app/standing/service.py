"""Violations and suspensions: a resident's standing at each center.

A no-show is a violation worth one point (``record_no_show``, called by the
release job in the same transaction that releases the booking). When a
resident's points at a center within the policy's window reach its
threshold, booking there is suspended for the policy's days; the booking
pipeline refuses them until then (``403 booking_suspended``). A resident may
appeal a violation once; staff pardon it (the point stops counting and a
suspension it led to is lifted) or uphold it. Every step is audited.
"""

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from app.audit import service as audit
from app.core.config import Settings
from app.core.errors import InvalidTransition, NotFound, OutOfScope, Text
from app.identity.principals import Actor, StaffPrincipal
from app.models import (
    Center,
    NotificationKind,
    Reservation,
    Suspension,
    User,
    Violation,
    ViolationKind,
    ViolationStatus,
)
from app.notifications import service as notifications
from app.standing.policy import Policy, policy_for

VIOLATION = Text("违约记录", "violation")
ENTITY = "violation"
NO_SHOW_POINTS = 1
# The statuses whose points count: an appealed violation counts until staff decide.
COUNTING = (ViolationStatus.active, ViolationStatus.appealed, ViolationStatus.upheld)
ALREADY_APPEALED = Text("每条违约记录只能申诉一次", "A violation can be appealed once")
NOT_APPEALED = Text("只有申诉中的违约记录可以维持", "Only a violation under appeal can be upheld")
ALREADY_PARDONED = Text("该违约记录已撤销", "This violation was already pardoned")
# What the resident is told a decision was (``appeal_decided``'s ``decision``).
PARDONED = "已撤销"
UPHELD = "维持不变"


@dataclass(frozen=True)
class NoShow:
    reservation_id: int
    user_id: int
    center_id: int
    deadline: datetime  # when check-in closed: the moment of the violation


async def record_no_show(
    session: AsyncSession, settings: Settings, no_show: NoShow, now: datetime
) -> Suspension | None:
    """One point for a released no-show, and the suspension if it reaches the
    threshold. The caller released the booking with a compare-and-swap, so
    this runs once per booking; the unique (reservation, kind) says so too."""
    # One resident's points are counted one release at a time, so that two
    # no-shows released at once cannot each see the other missing.
    await session.execute(select(User.id).where(User.id == no_show.user_id).with_for_update())
    violation = Violation(
        user_id=no_show.user_id,
        center_id=no_show.center_id,
        reservation_id=no_show.reservation_id,
        kind=ViolationKind.no_show,
        points=NO_SHOW_POINTS,
        occurred_at=no_show.deadline,
        status=ViolationStatus.active,
    )
    session.add(violation)
    await session.flush()
    _audit(
        session, None, violation, "record", None, f"no-show, reservation {no_show.reservation_id}"
    )
    policy = await policy_of(session, settings, no_show.center_id)
    if await suspended_until(session, no_show.user_id, no_show.center_id, now) is not None:
        return None
    points = await points_at(session, no_show.user_id, no_show.center_id, policy, now)
    if points < policy.points_to_suspend:
        return None
    suspension = Suspension(
        user_id=no_show.user_id,
        center_id=no_show.center_id,
        violation_id=violation.id,
        starts_at=now,
        until=now + policy.suspension,
    )
    session.add(suspension)
    _audit(session, None, violation, "suspend", violation.status, f"{points} points")
    await session.flush()
    return suspension


async def points_at(
    session: AsyncSession, user_id: int, center_id: int, policy: Policy, now: datetime
) -> int:
    total = await session.scalar(
        select(func.coalesce(func.sum(Violation.points), 0)).where(
            Violation.user_id == user_id,
            Violation.center_id == center_id,
            Violation.status.in_(COUNTING),
            Violation.occurred_at >= policy.counts_since(now),
            Violation.occurred_at <= now,  # as of ``now``: later ones did not count then
        )
    )
    return int(total or 0)


async def suspended_until(
    session: AsyncSession, user_id: int, center_id: int | None, now: datetime
) -> datetime | None:
    """The end of the resident's suspension at the center (any center when
    ``center_id`` is None), or None."""
    query = select(func.max(Suspension.until)).where(
        Suspension.user_id == user_id, Suspension.lifted_at.is_(None), Suspension.until > now
    )
    if center_id is not None:
        query = query.where(Suspension.center_id == center_id)
    return await session.scalar(query)


# --- the resident's view ----------------------------------------------------------


@dataclass(frozen=True)
class Standing:
    points: int
    violations: Sequence[Violation]
    counting: frozenset[int]  # the violations whose points count now
    suspensions: Sequence[Suspension]  # in force now

    @property
    def suspended_until(self) -> datetime | None:
        return max((suspension.until for suspension in self.suspensions), default=None)


async def standing(
    session: AsyncSession, settings: Settings, user_id: int, now: datetime
) -> Standing:
    """Points that count now (each center's window), every violation, and the
    suspensions in force."""
    violations = (
        await session.scalars(
            select(Violation)
            .where(Violation.user_id == user_id)
            .order_by(Violation.occurred_at.desc(), Violation.id.desc())
        )
    ).all()
    policies: dict[int, Policy] = {}
    counting: set[int] = set()
    for violation in violations:
        if violation.center_id not in policies:
            policies[violation.center_id] = await policy_of(session, settings, violation.center_id)
        if counts(violation, policies[violation.center_id], now):
            counting.add(violation.id)
    points = sum(violation.points for violation in violations if violation.id in counting)
    suspensions = (
        await session.scalars(
            select(Suspension)
            .where(
                Suspension.user_id == user_id,
                Suspension.lifted_at.is_(None),
                Suspension.until > now,
            )
            .order_by(Suspension.until.desc())
        )
    ).all()
    return Standing(points, violations, frozenset(counting), suspensions)


def counts(violation: Violation, policy: Policy, now: datetime) -> bool:
    return violation.status in COUNTING and violation.occurred_at >= policy.counts_since(now)


async def appeal(
    session: AsyncSession, user: User, violation_id: int, reason: str, now: datetime
) -> Violation:
    violation = await session.scalar(
        select(Violation)
        .where(Violation.id == violation_id, Violation.user_id == user.id)
        .with_for_update()
    )
    if violation is None:
        raise NotFound(VIOLATION)
    if violation.status is not ViolationStatus.active:
        raise InvalidTransition(ALREADY_APPEALED)
    before = violation.status
    violation.status = ViolationStatus.appealed
    violation.appeal_reason = reason
    violation.appealed_at = now
    _audit(session, user, violation, "appeal", before, reason)
    await session.flush()
    return violation


# --- staff ----------------------------------------------------------------------


async def list_violations(
    session: AsyncSession,
    staff: StaffPrincipal,
    *,
    status: ViolationStatus | None,
    user_id: int | None,
    limit: int,
    offset: int,
) -> tuple[Sequence[Violation], int]:
    query = select(Violation).where(
        Violation.center_id.in_(select(Center.id).where(staff.center_clause()))
    )
    if status is not None:
        query = query.where(Violation.status == status)
    if user_id is not None:
        query = query.where(Violation.user_id == user_id)
    total = await session.scalar(select(func.count()).select_from(query.subquery()))
    page = query.order_by(Violation.occurred_at, Violation.id).limit(limit).offset(offset)
    return (await session.scalars(page)).all(), int(total or 0)


async def pardon(
    session: AsyncSession,
    settings: Settings,
    staff: StaffPrincipal,
    violation_id: int,
    reason: str,
    now: datetime,
) -> Violation:
    """The point stops counting; a suspension it caused, or one that no longer
    has the points behind it, is lifted."""
    violation = await _in_scope(session, staff, violation_id)
    if violation.status is ViolationStatus.pardoned:
        raise InvalidTransition(ALREADY_PARDONED)
    _decide(violation, staff, reason, now)
    before = violation.status
    violation.status = ViolationStatus.pardoned
    _audit(session, staff, violation, "pardon", before, reason)
    await session.flush()
    await _lift_unfounded(session, settings, violation, now)
    await _tell_decision(session, violation, PARDONED, reason, now)
    return violation


async def uphold(
    session: AsyncSession, staff: StaffPrincipal, violation_id: int, reason: str, now: datetime
) -> Violation:
    violation = await _in_scope(session, staff, violation_id)
    if violation.status is not ViolationStatus.appealed:
        raise InvalidTransition(NOT_APPEALED)
    _decide(violation, staff, reason, now)
    violation.status = ViolationStatus.upheld
    _audit(session, staff, violation, "uphold", ViolationStatus.appealed, reason)
    await session.flush()
    await _tell_decision(session, violation, UPHELD, reason, now)
    return violation


async def _tell_decision(
    session: AsyncSession, violation: Violation, decision: str, reason: str, now: datetime
) -> None:
    """The resident hears the decision and its reason (``appeal_decided``)."""
    reservation = (
        await session.get(Reservation, violation.reservation_id)
        if violation.reservation_id is not None
        else None
    )
    if reservation is not None:
        await notifications.tell_booker(
            session,
            NotificationKind.appeal_decided,
            reservation,
            reason=reason,
            now=now,
            extra={"decision": decision},
        )
        return
    center = await session.get(Center, violation.center_id)
    assert center is not None
    values = {
        "center_name": center.name,
        "center_address": center.address,
        "reason": reason,
        "decision": decision,
    }
    notifications.tell_user(
        session,
        NotificationKind.appeal_decided,
        violation.user_id,
        values,
        now,
        center_id=center.id,
    )


async def _lift_unfounded(
    session: AsyncSession, settings: Settings, pardoned: Violation, now: datetime
) -> None:
    """Lift the suspensions in force at the pardoned violation's center whose
    points, counted as of their start without the pardoned ones, fall short."""
    policy = await policy_of(session, settings, pardoned.center_id)
    suspensions = (
        await session.scalars(
            select(Suspension)
            .where(
                Suspension.user_id == pardoned.user_id,
                Suspension.center_id == pardoned.center_id,
                Suspension.lifted_at.is_(None),
                Suspension.until > now,
            )
            .with_for_update()
        )
    ).all()
    for suspension in suspensions:
        points = await points_at(
            session, pardoned.user_id, pardoned.center_id, policy, suspension.starts_at
        )
        if suspension.violation_id == pardoned.id or points < policy.points_to_suspend:
            suspension.lifted_at = now
            _audit(session, None, pardoned, "lift_suspension", pardoned.status, None)
    await session.flush()


async def _in_scope(session: AsyncSession, staff: StaffPrincipal, violation_id: int) -> Violation:
    row = (
        await session.execute(
            select(Violation, Center)
            .join(Center, Center.id == Violation.center_id)
            .where(Violation.id == violation_id)
            .with_for_update(of=Violation)
        )
    ).first()
    if row is None:
        raise NotFound(VIOLATION)
    violation, center = row
    if not staff.covers_center(center):
        raise OutOfScope(what=VIOLATION)
    return violation


def _decide(violation: Violation, staff: StaffPrincipal, reason: str, now: datetime) -> None:
    violation.decided_by_staff_id = staff.id
    violation.decided_at = now
    violation.decision_reason = reason


async def policy_of(session: AsyncSession, settings: Settings, center_id: int) -> Policy:
    center = await session.get(Center, center_id)
    assert center is not None
    return policy_for(center, settings)


def _audit(
    session: AsyncSession,
    actor: Actor | None,
    violation: Violation,
    action: str,
    before: ViolationStatus | None,
    reason: str | None,
) -> None:
    audit.record(
        session,
        actor,
        entity=ENTITY,
        entity_id=violation.id,
        action=action,
        from_status=before.value if before else None,
        to_status=violation.status.value,
        reason=reason,
    )
