import enum
from datetime import datetime

from sqlalchemy import CheckConstraint, ForeignKey, Index, SmallInteger, String, text
from sqlalchemy.orm import Mapped, mapped_column

from app.models.base import Base, Timestamped, enum_column


class OrganizationStatus(enum.StrEnum):
    pending = "pending"  # registered, waiting for staff to check it
    verified = "verified"
    rejected = "rejected"


class OrganizationKind(enum.StrEnum):
    company = "company"  # USCC required
    party_branch = "party_branch"  # 党支部: no USCC; staff verify it
    social_organization = "social_organization"  # 社会组织: a USCC starting with 5
    community_team = "community_team"  # 社团/团队: no code; staff verify it
    partner_unit = "partner_unit"  # 共建单位: a USCC if it has one


# Kinds registered without a code: staff verify them by who they are.
KINDS_WITHOUT_USCC = (OrganizationKind.party_branch, OrganizationKind.community_team)


class Organization(Timestamped, Base):
    """A company, party branch, social organisation, community team or partner
    unit that books on its own account and organises activities."""

    __tablename__ = "organizations"
    __table_args__ = (
        CheckConstraint(
            "kind NOT IN ('company', 'social_organization') OR uscc IS NOT NULL",
            name="uscc_required",
        ),
        CheckConstraint(
            "kind NOT IN ('party_branch', 'community_team') OR uscc IS NULL",
            name="uscc_not_for_kind",
        ),
        CheckConstraint(
            "kind <> 'social_organization' OR uscc LIKE '5%'", name="social_organization_uscc"
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    kind: Mapped[OrganizationKind] = mapped_column(
        enum_column(OrganizationKind, "organization_kind"),
        default=OrganizationKind.company,
        server_default=OrganizationKind.company.value,
    )
    name: Mapped[str] = mapped_column(String(100))
    uscc: Mapped[str | None] = mapped_column(String(18), unique=True)  # 统一社会信用代码
    contact_name: Mapped[str] = mapped_column(String(50))
    contact_phone: Mapped[str] = mapped_column(String(20))
    # The center the organization registered with; its staff verify it.
    center_id: Mapped[int | None] = mapped_column(
        ForeignKey("centers.id", ondelete="SET NULL"), index=True
    )
    status: Mapped[OrganizationStatus] = mapped_column(
        enum_column(OrganizationStatus, "organization_status")
    )
    status_reason: Mapped[str | None] = mapped_column(String(200))
    decided_by_staff_id: Mapped[int | None] = mapped_column(
        ForeignKey("staff.id", ondelete="SET NULL")
    )
    decided_at: Mapped[datetime | None]


class MemberRole(enum.StrEnum):
    owner = "owner"
    member = "member"


class Membership(Base):
    __tablename__ = "organization_members"
    __table_args__ = (
        # Exactly one owner per organization (the service keeps one; this makes two impossible).
        Index(
            "uq_organization_members_one_owner",
            "organization_id",
            unique=True,
            postgresql_where=text("role = 'owner'"),
            sqlite_where=text("role = 'owner'"),
        ),
        Index("ix_organization_members_user_id", "user_id"),
    )

    organization_id: Mapped[int] = mapped_column(
        ForeignKey("organizations.id", ondelete="CASCADE"), primary_key=True
    )
    user_id: Mapped[int] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE"), primary_key=True
    )
    role: Mapped[MemberRole] = mapped_column(enum_column(MemberRole, "member_role"))
    joined_at: Mapped[datetime]


class Invitation(Base):
    """A one-time code to join an organization; only a hash of it is kept."""

    __tablename__ = "organization_invitations"

    id: Mapped[int] = mapped_column(primary_key=True)
    organization_id: Mapped[int] = mapped_column(
        ForeignKey("organizations.id", ondelete="CASCADE"), index=True
    )
    code_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_by_user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    created_at: Mapped[datetime]
    expires_at: Mapped[datetime]
    used_at: Mapped[datetime | None]
    used_by_user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))


class QuotaSubject(enum.StrEnum):
    organization = "organization"  # bookings made on an organization's account
    user = "user"  # a resident's own bookings


class QuotaMetric(enum.StrEnum):
    bookings_per_week = "bookings_per_week"
    hours_per_week = "hours_per_week"
    future_bookings = "future_bookings"  # booked and not yet over, at any moment


class QuotaRule(Base):
    """A limit on one space, or on all spaces of one center together."""

    __tablename__ = "quota_rules"
    __table_args__ = (
        CheckConstraint("(space_id IS NULL) <> (center_id IS NULL)", name="exactly_one_scope"),
        CheckConstraint("max_value >= 0", name="max_value_nonnegative"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    space_id: Mapped[int | None] = mapped_column(
        ForeignKey("spaces.id", ondelete="CASCADE"), index=True
    )
    center_id: Mapped[int | None] = mapped_column(
        ForeignKey("centers.id", ondelete="CASCADE"), index=True
    )
    subject: Mapped[QuotaSubject] = mapped_column(enum_column(QuotaSubject, "quota_subject"))
    metric: Mapped[QuotaMetric] = mapped_column(enum_column(QuotaMetric, "quota_metric"))
    max_value: Mapped[int] = mapped_column(SmallInteger)
