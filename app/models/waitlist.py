import enum
from datetime import datetime

from sqlalchemy import CheckConstraint, ForeignKey, Index, text
from sqlalchemy.orm import Mapped, mapped_column

from app.models.base import Base, Timestamped, enum_column


class WaitlistStatus(enum.StrEnum):
    waiting = "waiting"
    offered = "offered"  # a place is held for them until ``offer_expires_at``
    booked = "booked"  # they accepted: ``reservation_id`` is their booking
    expired = "expired"  # the offer lapsed, or the time began while they waited
    withdrawn = "withdrawn"


# Entries still in line, or holding a place.
ACTIVE = (WaitlistStatus.waiting, WaitlistStatus.offered)


class WaitlistEntry(Timestamped, Base):
    """One person waiting for a place in a full space for ``[starts_at, ends_at)``.

    An offer is a ``held`` reservation (``reservation_id``): it counts as a
    holder under the space's lock and the peak rule like any booking, so nobody
    else can take the place while it is offered (docs/ARCHITECTURE.md,
    invariant 11)."""

    __tablename__ = "waitlist_entries"
    __table_args__ = (
        CheckConstraint("ends_at > starts_at", name="ends_after_start"),
        # One place in line per person and range.
        Index(
            "uq_waitlist_entries_active",
            "user_id",
            "space_id",
            "starts_at",
            "ends_at",
            unique=True,
            postgresql_where=text("status IN ('waiting', 'offered')"),
            sqlite_where=text("status IN ('waiting', 'offered')"),
        ),
        # The line of a space, oldest first.
        Index(
            "ix_waitlist_entries_line",
            "space_id",
            "id",
            postgresql_where=text("status IN ('waiting', 'offered')"),
            sqlite_where=text("status IN ('waiting', 'offered')"),
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    space_id: Mapped[int] = mapped_column(ForeignKey("spaces.id", ondelete="CASCADE"))
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    starts_at: Mapped[datetime]
    ends_at: Mapped[datetime]
    status: Mapped[WaitlistStatus] = mapped_column(enum_column(WaitlistStatus, "waitlist_status"))
    reservation_id: Mapped[int | None] = mapped_column(
        ForeignKey("reservations.id", ondelete="SET NULL")
    )
    offered_at: Mapped[datetime | None]
    offer_expires_at: Mapped[datetime | None]
