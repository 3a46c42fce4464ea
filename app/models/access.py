import enum
from datetime import date, datetime

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
    stored only as a SHA-256 hash (the key is 256 random bits, shown once)."""

    __tablename__ = "doors"

    id: Mapped[int] = mapped_column(primary_key=True)
    space_id: Mapped[int] = mapped_column(ForeignKey("spaces.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(String(100))
    device_key_hash: Mapped[str] = mapped_column(String(64), unique=True)
    is_active: Mapped[bool] = mapped_column(default=True)


class Keypad(Base):
    """The guessing budget of one space's doors, shared by all of them.

    Every code typed at any door of the space locks this row first, so the
    count of wrong codes holds across doors, processes and restarts. Wrong
    codes since ``cleared_at`` (and within the last day) decide the lockout;
    staff clearing it sets ``cleared_at``, so older failures stop counting.
    """

    __tablename__ = "keypads"

    space_id: Mapped[int] = mapped_column(
        ForeignKey("spaces.id", ondelete="CASCADE"), primary_key=True
    )
    locked_until: Mapped[datetime | None]
    cleared_at: Mapped[datetime | None]
    # Bumped by every change: a wrong code is counted only against the state it
    # was decided on (a compare-and-swap), so parallel guesses are each counted.
    version: Mapped[int] = mapped_column(default=0, server_default="0")
    # The lockouts begun on ``lockout_day`` (a Shanghai day): the one that makes
    # them more than three tells staff, once that day (app/access/alerts.py).
    lockout_day: Mapped[date | None]
    lockouts_that_day: Mapped[int] = mapped_column(SmallInteger, default=0, server_default="0")


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
    # Both are failures that count against the keypad's budget, and the lock is
    # told the same "denied" for both: a code of a later booking must not be
    # distinguishable from a wrong one. Only staff see the difference here.
    unknown_code = "unknown_code"
    outside_window = "outside_window"  # a real code, too early or too late
    # A real code up to 30 minutes before its window (app/access/verify.py): the
    # lock is told when it opens; not a wrong code, so it costs the keypad nothing.
    not_yet = "not_yet"
    locked_out = "locked_out"  # refused before the code was looked at


# A wrong code, and a real code outside its window: the lock is told the same,
# and both count against the keypad's budget.
WRONG_CODES = (AttemptOutcome.unknown_code, AttemptOutcome.outside_window)
WRONG_CODES_SQL = (
    "method = 'code' AND outcome IN (" + ", ".join(f"'{o.value}'" for o in WRONG_CODES) + ")"
)


class AttemptMethod(enum.StrEnum):
    code = "code"  # typed at the lock, asked by the lock
    app = "app"  # the booking's owner unlocked from the app


class DoorAttempt(Base):
    """Every attempt to open a door: when, how, what came of it, for which
    reservation. The code typed is never stored."""

    __tablename__ = "door_attempts"
    __table_args__ = (
        Index("ix_door_attempts_door_id_at", "door_id", "at"),
        # The keypad's budget counts wrong codes only (app/access/keypad.py): with
        # an index of them alone, a busy door's granted attempts are never read.
        Index(
            "ix_door_attempts_wrong_codes",
            "door_id",
            "at",
            postgresql_where=text(WRONG_CODES_SQL),
            sqlite_where=text(WRONG_CODES_SQL),
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    door_id: Mapped[int] = mapped_column(ForeignKey("doors.id", ondelete="CASCADE"))
    at: Mapped[datetime]
    outcome: Mapped[AttemptOutcome] = mapped_column(enum_column(AttemptOutcome, "attempt_outcome"))
    method: Mapped[AttemptMethod] = mapped_column(
        enum_column(AttemptMethod, "attempt_method"),
        default=AttemptMethod.code,
        server_default=AttemptMethod.code.value,
    )
    reservation_id: Mapped[int | None] = mapped_column(
        ForeignKey("reservations.id", ondelete="SET NULL")
    )
