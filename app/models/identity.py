import enum
from datetime import datetime

from sqlalchemy import (
    CheckConstraint,
    Column,
    ForeignKey,
    LargeBinary,
    SmallInteger,
    String,
    Table,
    false,
    true,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from app.models.base import Base, Timestamped, enum_column
from app.models.center import Center


class User(Timestamped, Base):
    """A resident or company employee, identified by their WeChat openid."""

    __tablename__ = "users"

    id: Mapped[int] = mapped_column(primary_key=True)
    openid: Mapped[str] = mapped_column(String(64), unique=True)
    unionid: Mapped[str | None] = mapped_column(String(64), index=True)
    # The phone number (from WeChat's getPhoneNumber) exists only as AES-GCM
    # ciphertext, a masked form for display, and keyed hashes of the whole
    # number and of its last four digits, which staff search by.
    phone_sealed: Mapped[bytes | None] = mapped_column(LargeBinary)
    phone_key_version: Mapped[int | None] = mapped_column(SmallInteger)
    phone_masked: Mapped[str | None] = mapped_column(String(20))
    phone_index: Mapped[str | None] = mapped_column(String(64), index=True)
    phone_tail_index: Mapped[str | None] = mapped_column(String(64), index=True)
    nickname: Mapped[str | None] = mapped_column(String(30))
    real_name_verified: Mapped[bool] = mapped_column(default=False)
    name_masked: Mapped[str | None] = mapped_column(String(50))
    id_number_masked: Mapped[str | None] = mapped_column(String(18))
    # The ID number and name exist only as AES-GCM ciphertext; the keyed hash
    # (HMAC blind index) makes "one ID number, one account" a unique constraint.
    id_number_index: Mapped[str | None] = mapped_column(String(64), unique=True)
    id_number_sealed: Mapped[bytes | None] = mapped_column(LargeBinary)
    name_sealed: Mapped[bytes | None] = mapped_column(LargeBinary)
    pii_key_version: Mapped[int | None] = mapped_column(SmallInteger)
    real_name_provider: Mapped[str | None] = mapped_column(String(30))
    real_name_verified_at: Mapped[datetime | None]
    last_login_at: Mapped[datetime | None]
    # A deactivated user's tokens stop working at once (every request reads this row).
    is_active: Mapped[bool] = mapped_column(default=True, server_default=true())
    # A resident staff booked for by phone who has no account yet: the first
    # account that binds the same phone claims it (app/admin/bookings.py).
    is_placeholder: Mapped[bool] = mapped_column(default=False, server_default=false())
    # Set when the user erased their account: personal data gone, bookings kept
    # anonymously for the statistics.
    erased_at: Mapped[datetime | None]


class StaffRole(enum.StrEnum):
    super_admin = "super_admin"
    district_admin = "district_admin"  # every center of one district
    street_admin = "street_admin"  # every center of one street (district + street)
    center_admin = "center_admin"  # the centers listed in staff_centers


class StaffScope(enum.StrEnum):
    """How far a center admin's listed centers reach."""

    # Named apart from its value: ``center`` is a method of every str.
    listed = "center"  # the listed centers only
    subtree = "subtree"  # the listed centers and every center below them in the network


staff_centers = Table(
    "staff_centers",
    Base.metadata,
    Column("staff_id", ForeignKey("staff.id", ondelete="CASCADE"), primary_key=True),
    Column("center_id", ForeignKey("centers.id", ondelete="CASCADE"), primary_key=True),
)


class Staff(Timestamped, Base):
    __tablename__ = "staff"
    __table_args__ = (
        CheckConstraint(
            "role <> 'district_admin' OR district IS NOT NULL", name="district_admin_has_district"
        ),
        CheckConstraint(
            "role <> 'street_admin' OR (district IS NOT NULL AND street IS NOT NULL)",
            name="street_admin_has_street",
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    username: Mapped[str] = mapped_column(String(50), unique=True)
    password_hash: Mapped[str] = mapped_column(String(200))
    role: Mapped[StaffRole] = mapped_column(enum_column(StaffRole, "staff_role"))
    district: Mapped[str | None] = mapped_column(String(20))
    street: Mapped[str | None] = mapped_column(String(50))  # a street admin's
    scope: Mapped[StaffScope] = mapped_column(
        enum_column(StaffScope, "staff_scope"), default=StaffScope.listed, server_default="center"
    )
    is_active: Mapped[bool] = mapped_column(default=True)
    # A password someone else set (a new account's, a reset one): every staff
    # route but changing it and signing out answers 403 until it is changed.
    must_change_password: Mapped[bool] = mapped_column(default=False, server_default=false())
    # Tokens issued before this second no longer work: set when they sign out.
    signed_out_at: Mapped[datetime | None]

    centers: Mapped[list[Center]] = relationship(secondary=staff_centers, lazy="raise")
