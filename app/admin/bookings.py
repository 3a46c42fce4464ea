"""Staff book for someone: a resident at the counter or on the phone.

The booking is the booker's, decided by every rule for them (real name,
organization membership, closures, holders, quotas, the booking window…)
and written by the booking store (``app/reservations/store.py``) as any
booking is; only its audit event names the staff member. Staff may waive
two rules for one booking, ``quota`` and ``booking_window``, and only with a
reason, which the audit event keeps (docs/ARCHITECTURE.md, "Staff bookings
and center events").

A resident without the app is named by name and phone: the account bound to
that phone if there is one, otherwise a placeholder account holding the two
sealed like any personal data (``app/identity/phones.py``). The first account
that binds the same phone claims it: its bookings become that account's
(``app/identity/placeholders.py``).
"""

from collections.abc import Sequence
from datetime import UTC
from typing import Annotated, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, StringConstraints
from sqlalchemy.ext.asyncio import AsyncSession

from app.core.clock import utcnow
from app.core.crypto import PiiCipher
from app.core.db import Database
from app.core.errors import NotFound, Text
from app.core.schemas import IdField, Instant, Printable, Reason
from app.identity import phones, placeholders
from app.identity.principals import StaffPrincipal
from app.models import ActorKind, User
from app.reservations.booking import Answer, AuditActor, BookingRequest
from app.reservations.errors import ReasonRequired
from app.reservations.rules import Waiver, Wanted
from app.reservations.schemas import Purpose
from app.reservations.store import BookingStore
from app.spaces.calendar import Interval
from app.spaces.service import get_space_in_scope

USER = Text("用户", "user")


def _phone(value: str) -> str:
    if not phones.is_phone(value):
        raise ValueError("not a mobile number (11 digits, or +<country code> and the number)")
    return value


Phone = Annotated[str, StringConstraints(strip_whitespace=True), AfterValidator(_phone)]
Name = Annotated[
    str, StringConstraints(strip_whitespace=True, min_length=1, max_length=50), Printable
]
Override = Literal["quota", "booking_window"]


class ForUser(BaseModel):
    model_config = ConfigDict(extra="forbid")

    user_id: IdField


class ForCaller(BaseModel):
    """A resident without the app: found by the phone bound to their account,
    or kept as a placeholder until an account binds that phone."""

    model_config = ConfigDict(extra="forbid")

    name: Name
    phone: Phone


class StaffBookingCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    space_id: IdField
    start: Instant = Field(examples=["2026-12-01T10:00:00+08:00"])
    end: Instant = Field(examples=["2026-12-01T11:00:00+08:00"])
    on_behalf_of: ForUser | ForCaller
    organization_id: IdField | None = Field(
        default=None, description="Book on the account of an organization the person belongs to"
    )
    purpose: Purpose = ""
    attendees: int = Field(default=1, ge=1, le=1000, strict=True)
    override: list[Override] = Field(
        default_factory=list,
        max_length=2,
        description="Rules waived for this booking (with a `reason`, audited): "
        "`quota`, `booking_window`",
    )
    reason: Reason | None = Field(default=None, description="Required with `override`")


OVERRIDE_NEEDS_A_REASON = Text(
    "工作人员放宽预约规则须填写原因", "Staff must give a reason to override a booking rule"
)


async def book_for(
    database: Database,
    bookings: BookingStore,
    cipher: PiiCipher,
    staff: StaffPrincipal,
    body: StaffBookingCreate,
) -> Answer:
    """Book for the person ``body`` names, through the booking store."""
    waived = frozenset(Waiver(name) for name in body.override)
    if waived and not body.reason:
        raise ReasonRequired(OVERRIDE_NEEDS_A_REASON)
    async with database.writer.begin() as session:
        await get_space_in_scope(session, staff, body.space_id)
        user_id = await _booker(session, cipher, body.on_behalf_of)
    wanted = Wanted(
        space_id=body.space_id,
        interval=Interval(body.start.astimezone(UTC), body.end.astimezone(UTC)),
        attendees=body.attendees,
        organization_id=body.organization_id,
        waived=waived,
    )
    actor = AuditActor(ActorKind.staff, staff.id, _audit_reason(body.override, body.reason))
    request = BookingRequest(user_id, wanted, body.purpose, None, utcnow(), actor=actor)
    return await bookings.book(request)


def _audit_reason(override: Sequence[str], reason: str | None) -> str:
    said = f"staff booking: {reason}" if reason else "staff booking"
    if override:
        said = f"override {', '.join(sorted(set(override)))}; {said}"
    return said[:200]


async def _booker(session: AsyncSession, cipher: PiiCipher, who: ForUser | ForCaller) -> int:
    if isinstance(who, ForUser):
        user = await session.get(User, who.user_id)
        if user is None or user.erased_at is not None:
            raise NotFound(USER)
        return user.id
    bound = await placeholders.bound_to(session, cipher, who.phone)
    if bound is not None:
        return bound
    return await placeholders.create(session, cipher, who.name, who.phone)
