from datetime import datetime
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, StringConstraints
from sqlalchemy.orm import selectinload
from sqlalchemy.orm.strategy_options import _AbstractLoad

from app.core.clock import SHANGHAI
from app.core.schemas import IdField, Instant, LocalInstant, Printable, Reason
from app.models import ActorKind, AuditEvent, Reservation, ReservationStatus

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
    return (selectinload(Reservation.space), selectinload(Reservation.organization))


class ReservationOut(BaseModel):
    id: int
    space_id: int
    space_name: str
    center_id: int
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
    created_at: LocalInstant
    updated_at: LocalInstant

    @classmethod
    def of(cls, reservation: Reservation) -> "ReservationOut":
        return cls.model_validate(
            reservation_body(
                id=reservation.id,
                space_id=reservation.space_id,
                space_name=reservation.space.name,
                center_id=reservation.space.center_id,
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
                status_reason=reservation.status_reason,
                checked_in_at=reservation.checked_in_at,
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
    user_id: int,
    organization_id: int | None,
    organization_name: str | None,
    start: datetime,
    end: datetime,
    status: ReservationStatus,
    purpose: str,
    attendees: int,
    status_reason: str | None,
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

    @classmethod
    def of(cls, event: AuditEvent) -> "HistoryEntry":
        return cls(
            at=event.occurred_at,
            actor_kind=event.actor_kind,
            actor_id=event.actor_id,
            action=event.action,
            from_status=event.from_status,
            to_status=event.to_status,
            reason=event.reason,
        )
