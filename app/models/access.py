import enum
from datetime import datetime

from sqlalchemy import (
    ForeignKey,
    Index,
    LargeBinary,
    SmallInteger,
    String,
    func,
    literal_column,
    text,
)
from sqlalchemy.dialects.postgresql import ExcludeConstraint
from sqlalchemy.orm import Mapped, mapped_column

from app.models.base import Base, Timestamped, enum_column


class Door(Timestamped, Base):
    """A smart lock on a space's door. It authenticates with its own device key,
    stored only as a SHA-256 hash (the key is 256 random bits, shown once).

    The failure budget lives here, in the database, so it holds across
    processes and restarts: consecutive failures lead to a lockout, and the
    failures of the last 24 hours are capped.
    """

    __tablename__ = "doors"

    id: Mapped[int] = mapped_column(primary_key=True)
    space_id: Mapped[int] = mapped_column(ForeignKey("spaces.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(String(100))
    device_key_hash: Mapped[str] = mapped_column(String(64), unique=True)
    is_active: Mapped[bool] = mapped_column(default=True)
    consecutive_failures: Mapped[int] = mapped_column(SmallInteger, default=0)
    locked_until: Mapped[datetime | None]


class AccessCode(Base):
    """The door code of one confirmed reservation, valid for all doors of its space.

    The code itself is AES-GCM ciphertext (only its owner ever sees it); a
    keyed hash of (space, code) finds it when a lock asks. On PostgreSQL an
    exclusion constraint keeps two live codes of one space with overlapping
    windows from being equal; on SQLite the booking transaction's write lock
    serializes issuing.
    """

    __tablename__ = "access_codes"
    __table_args__ = (
        Index("ix_access_codes_space_id_lookup", "space_id", "lookup"),
        ExcludeConstraint(
            (literal_column("space_id"), "="),
            (literal_column("lookup"), "="),
            (
                func.tstzrange(
                    literal_column("valid_from"),
                    literal_column("valid_until"),
                    literal_column("'[)'"),
                ),
                "&&",
            ),
            where=text("revoked_at IS NULL"),
            using="gist",
            name="access_codes_unique_live",
        ).ddl_if(dialect="postgresql"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    reservation_id: Mapped[int] = mapped_column(
        ForeignKey("reservations.id", ondelete="CASCADE"), index=True
    )
    space_id: Mapped[int] = mapped_column(ForeignKey("spaces.id", ondelete="CASCADE"))
    lookup: Mapped[str] = mapped_column(String(64))
    code_sealed: Mapped[bytes] = mapped_column(LargeBinary)
    key_version: Mapped[int] = mapped_column(SmallInteger)
    valid_from: Mapped[datetime]
    valid_until: Mapped[datetime]
    issued_at: Mapped[datetime]
    revoked_at: Mapped[datetime | None]


class AttemptOutcome(enum.StrEnum):
    granted = "granted"
    unknown_code = "unknown_code"  # a failure: counts against the door's budget
    outside_window = "outside_window"  # a real code, too early or too late
    locked_out = "locked_out"


class DoorAttempt(Base):
    """Every code typed at a door: when, what came of it, for which reservation.
    The code typed is never stored."""

    __tablename__ = "door_attempts"
    __table_args__ = (Index("ix_door_attempts_door_id_at", "door_id", "at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    door_id: Mapped[int] = mapped_column(ForeignKey("doors.id", ondelete="CASCADE"))
    at: Mapped[datetime]
    outcome: Mapped[AttemptOutcome] = mapped_column(enum_column(AttemptOutcome, "attempt_outcome"))
    reservation_id: Mapped[int | None] = mapped_column(
        ForeignKey("reservations.id", ondelete="SET NULL")
    )
