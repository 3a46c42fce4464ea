from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Annotated, Any, Self

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, model_validator
from sqlalchemy.orm import selectinload
from sqlalchemy.orm.strategy_options import _AbstractLoad

from app.audit.reasons import told
from app.core.clock import SHANGHAI
from app.core.schemas import IdField, Instant, LocalInstant, Printable, Reason
from app.models import CODE_STATUSES, ActorKind, AuditEvent, Reservation, ReservationStatus, Space
from app.spaces.calendar import check_in_opens

Purpose = Annotated[str, StringConstraints(strip_whitespace=True, max_length=200), Printable]


class ReservationCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    space_id: IdField
    start: Instant = Field(examples=["2026-12-01T10:00:00+08:00"])
    end: Instant = Field(examples=["2026-12-01T11:00:00+08:00"])
    purpose: Purpose = ""
    attendees: int = Field(default=1, ge=1, le=1000, strict=True)
    organization_id: IdField | None = Field(
        default=None, description="Book on behalf of an organization you belong to"
    )


class ReservationMove(BaseModel):
    """A move: the fields to change (at least one); the rest stay as booked. A
    new `start` alone keeps the booking's length."""

    model_config = ConfigDict(extra="forbid")

    start: Instant | None = Field(default=None, examples=["2026-12-01T14:00:00+08:00"])
    end: Instant | None = Field(default=None, examples=["2026-12-01T15:00:00+08:00"])
    space_id: IdField | None = None
    attendees: int | None = Field(default=None, ge=1, le=1000, strict=True)
    purpose: Purpose | None = None

    @model_validator(mode="after")
    def _something_to_change(self) -> Self:
        if not any(getattr(self, field) is not None for field in type(self).model_fields):
            raise ValueError("give at least one of start, end, space_id, attendees, purpose")
        return self


class CancelRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    reason: Reason | None = Field(default=None, description="Required when staff cancel")


class CheckInRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    token: str | None = Field(
        default=None,
        min_length=1,
        max_length=64,
        description="From the space's check-in QR code; staff check in without one",
    )


class RejectRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    reason: Reason


def reservation_out_loads() -> tuple[_AbstractLoad, ...]:
    """The relationships ``ReservationOut.of`` reads: load them with the reservation."""
    space = selectinload(Reservation.space)
    return (
        space.selectinload(Space.center),
        space.selectinload(Space.doors),
        selectinload(Reservation.organization),
    )


# A booking in these states has a door code, or gets one when approved.


def code_valid_from(
    status: ReservationStatus, check_in_opens_at: datetime, has_doors: bool
) -> datetime | None:
    """When the booking's door code starts opening the door: as check-in opens
    (one window for one act); None where the space has no smart lock or the
    booking holds nothing."""
    return check_in_opens_at if has_doors and status in CODE_STATUSES else None


@dataclass(frozen=True)
class Timeline:
    """The instants a booking's owner acts by, from the space's rules."""

    cancel_before: datetime  # the owner may cancel while it is earlier than this
    no_show_at: datetime | None  # not checked in by then: released as a no-show

    @classmethod
    def of(
        cls,
        start: datetime,
        *,
        cancel_before_minutes: int,
        requires_check_in: bool,
        no_show_after_minutes: int,
    ) -> "Timeline":
        return cls(
            cancel_before=start - timedelta(minutes=cancel_before_minutes),
            no_show_at=(
                start + timedelta(minutes=no_show_after_minutes) if requires_check_in else None
            ),
        )


class ReservationOut(BaseModel):
    id: int
    space_id: int
    space_name: str
    center_id: int
    center_name: str
    center_address: str
    door_names: list[str] = Field(
        description="The space's doors with a smart lock (the door code opens them)"
    )
    cancel_before: LocalInstant = Field(
        description="The owner may cancel until this instant (staff until the end)"
    )
    no_show_at: LocalInstant | None = Field(
        description="Not checked in by then, the booking is released as a no-show "
        "(null: the space does not require check-in)"
    )
    user_id: int
    organization_id: int | None
    organization_name: str | None
    start: LocalInstant
    end: LocalInstant
    status: ReservationStatus
    purpose: str
    attendees: int
    status_reason: str | None
    checked_in_at: LocalInstant | None
    check_in_opens_at: LocalInstant = Field(
        description="Check-in (QR code, door, staff) opens: `check_in_opens_minutes` before start"
    )
    code_valid_from: LocalInstant | None = Field(
        description="The door code opens the door from here (as check-in opens) until the end;"
        " null without a smart lock or once the booking holds nothing"
    )
    created_at: LocalInstant
    updated_at: LocalInstant

    @classmethod
    def of(cls, reservation: Reservation) -> "ReservationOut":
        space = reservation.space
        opens = check_in_opens(reservation.starts_at, space.check_in_opens_minutes)
        has_doors = any(door.is_active for door in space.doors)
        return cls.model_validate(
            reservation_body(
                id=reservation.id,
                space_id=reservation.space_id,
                space_name=space.name,
                center_id=space.center_id,
                center_name=space.center.name,
                center_address=space.center.address,
                door_names=[door.name for door in space.doors if door.is_active],
                timeline=Timeline.of(
                    reservation.starts_at,
                    cancel_before_minutes=space.cancel_before_minutes,
                    requires_check_in=space.requires_check_in,
                    no_show_after_minutes=space.no_show_after_minutes,
                ),
                user_id=reservation.user_id,
                organization_id=reservation.organization_id,
                organization_name=(
                    reservation.organization.name if reservation.organization else None
                ),
                start=reservation.starts_at,
                end=reservation.ends_at,
                status=reservation.status,
                purpose=reservation.purpose,
                attendees=reservation.attendees,
                status_reason=told(reservation.status_reason),
                checked_in_at=reservation.checked_in_at,
                check_in_opens_at=opens,
                code_valid_from=code_valid_from(reservation.status, opens, has_doors),
                created_at=reservation.created_at,
                updated_at=reservation.updated_at,
            )
        )


def reservation_body(
    *,
    id: int,
    space_id: int,
    space_name: str,
    center_id: int,
    center_name: str,
    center_address: str,
    door_names: Sequence[str],
    timeline: Timeline,
    user_id: int | None,
    organization_id: int | None,
    organization_name: str | None,
    start: datetime,
    end: datetime,
    status: ReservationStatus,
    purpose: str,
    attendees: int,
    status_reason: str | None,
    check_in_opens_at: datetime,
    code_valid_from: datetime | None,
    created_at: datetime,
    updated_at: datetime,
    checked_in_at: datetime | None = None,
) -> dict[str, object]:
    """A reservation as JSON, the one shape every answer about one has: the
    booking pipeline serializes it straight from its plan, the other routes
    through ``ReservationOut``."""
    return {
        "id": id,
        "space_id": space_id,
        "space_name": space_name,
        "center_id": center_id,
        "center_name": center_name,
        "center_address": center_address,
        "door_names": list(door_names),
        "cancel_before": timeline.cancel_before.astimezone(SHANGHAI).isoformat(),
        "no_show_at": (
            timeline.no_show_at.astimezone(SHANGHAI).isoformat()
            if timeline.no_show_at is not None
            else None
        ),
        "user_id": user_id,
        "organization_id": organization_id,
        "organization_name": organization_name,
        "start": start.astimezone(SHANGHAI).isoformat(),
        "end": end.astimezone(SHANGHAI).isoformat(),
        "status": status.value,
        "purpose": purpose,
        "attendees": attendees,
        "status_reason": status_reason,
        "checked_in_at": (
            checked_in_at.astimezone(SHANGHAI).isoformat() if checked_in_at is not None else None
        ),
        "check_in_opens_at": check_in_opens_at.astimezone(SHANGHAI).isoformat(),
        "code_valid_from": (
            code_valid_from.astimezone(SHANGHAI).isoformat() if code_valid_from else None
        ),
        "created_at": created_at.astimezone(SHANGHAI).isoformat(),
        "updated_at": updated_at.astimezone(SHANGHAI).isoformat(),
    }


class HistoryEntry(BaseModel):
    at: LocalInstant
    actor_kind: ActorKind
    actor_id: int | None
    action: str
    from_status: str | None
    to_status: str | None
    reason: str | None
    details: dict[str, Any] | None = Field(
        default=None,
        description="What the act changed beyond the status: a `move`'s `from` and `to`"
        " (`space_id`, `start`, `end`)",
    )

    @classmethod
    def of(cls, event: AuditEvent) -> "HistoryEntry":
        return cls(
            at=event.occurred_at,
            actor_kind=event.actor_kind,
            actor_id=event.actor_id,
            action=event.action,
            from_status=event.from_status,
            to_status=event.to_status,
            reason=told(event.reason),
            details=event.details,
        )
