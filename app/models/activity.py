"""A center's programme: activities people sign up for, and courses of
several sessions (docs/ARCHITECTURE.md, "Activities")."""

import enum
from datetime import datetime

from sqlalchemy import CheckConstraint, ForeignKey, Index, SmallInteger, String, Text, text
from sqlalchemy.orm import Mapped, mapped_column

from app.models.base import Base, Timestamped, enum_column


class ActivityCategory(enum.StrEnum):
    """Stable codes; the Chinese labels are `app/activities/categories.py`'s."""

    party_lecture = "party_lecture"  # 党课
    organization_life = "organization_life"  # 组织生活
    lecture = "lecture"  # 讲座
    training = "training"  # 培训
    culture_sports = "culture_sports"  # 文体
    volunteering = "volunteering"  # 志愿服务
    parent_child = "parent_child"  # 亲子
    open_day = "open_day"  # 开放日
    deliberation = "deliberation"  # 议事会
    other = "other"  # 其他


class ActivityAudience(enum.StrEnum):
    public = "public"
    members = "members"  # of the organising organisation
    party_members = "party_members"  # members of a verified party branch (党支部)


class ActivityStatus(enum.StrEnum):
    draft = "draft"
    published = "published"
    completed = "completed"
    cancelled = "cancelled"


class SignupStatus(enum.StrEnum):
    confirmed = "confirmed"
    waiting = "waiting"  # in line for a place, oldest first
    cancelled = "cancelled"


class Course(Timestamped, Base):
    """A course menu's entry (课程菜单): several sessions, one enrolment."""

    __tablename__ = "courses"
    __table_args__ = (CheckConstraint("capacity >= 1", name="capacity_positive"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    center_id: Mapped[int] = mapped_column(ForeignKey("centers.id"), index=True)
    organization_id: Mapped[int | None] = mapped_column(
        ForeignKey("organizations.id", ondelete="SET NULL"), index=True
    )
    title: Mapped[str] = mapped_column(String(100))
    description: Mapped[str] = mapped_column(Text, default="")
    category: Mapped[ActivityCategory] = mapped_column(
        enum_column(ActivityCategory, "activity_category")
    )
    audience: Mapped[ActivityAudience] = mapped_column(
        enum_column(ActivityAudience, "activity_audience")
    )
    requires_real_name: Mapped[bool] = mapped_column(default=False)
    capacity: Mapped[int]
    status: Mapped[ActivityStatus] = mapped_column(enum_column(ActivityStatus, "activity_status"))
    status_reason: Mapped[str | None] = mapped_column(String(200))
    # Places taken by confirmed enrolments (their attendees): the CHECK keeps
    # it within capacity, so two enrolments at once can never both take the last place.
    confirmed_attendees: Mapped[int] = mapped_column(default=0, server_default="0")
    created_by_staff_id: Mapped[int | None] = mapped_column(
        ForeignKey("staff.id", ondelete="SET NULL")
    )
    created_by_user_id: Mapped[int | None] = mapped_column(
        ForeignKey("users.id", ondelete="SET NULL")
    )


class Activity(Timestamped, Base):
    """One event of the programme, at one time; a course's session is one too."""

    __tablename__ = "activities"
    __table_args__ = (
        CheckConstraint("capacity >= 1", name="capacity_positive"),
        CheckConstraint("ends_at > starts_at", name="ends_after_start"),
        # Sign-ups never exceed the places: the database refuses the one too many.
        CheckConstraint(
            "confirmed_attendees >= 0 AND confirmed_attendees <= capacity",
            name="within_capacity",
        ),
        CheckConstraint("walk_ins >= 0", name="walk_ins_nonnegative"),
        Index("ix_activities_status_starts_at", "status", "starts_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    center_id: Mapped[int] = mapped_column(ForeignKey("centers.id"), index=True)
    space_id: Mapped[int | None] = mapped_column(ForeignKey("spaces.id"), index=True)
    place_text: Mapped[str | None] = mapped_column(String(200))
    # The venue's booking: the organiser's, or the center's own event.
    reservation_id: Mapped[int | None] = mapped_column(
        ForeignKey("reservations.id", ondelete="SET NULL"), unique=True
    )
    organization_id: Mapped[int | None] = mapped_column(
        ForeignKey("organizations.id", ondelete="SET NULL"), index=True
    )
    course_id: Mapped[int | None] = mapped_column(
        ForeignKey("courses.id", ondelete="CASCADE"), index=True
    )
    title: Mapped[str] = mapped_column(String(100))
    description: Mapped[str] = mapped_column(Text, default="")
    category: Mapped[ActivityCategory] = mapped_column(
        enum_column(ActivityCategory, "activity_category")
    )
    audience: Mapped[ActivityAudience] = mapped_column(
        enum_column(ActivityAudience, "activity_audience")
    )
    requires_real_name: Mapped[bool] = mapped_column(default=False)
    starts_at: Mapped[datetime]
    ends_at: Mapped[datetime]
    capacity: Mapped[int]
    signup_opens_at: Mapped[datetime | None]
    signup_closes_at: Mapped[datetime | None]
    status: Mapped[ActivityStatus] = mapped_column(enum_column(ActivityStatus, "activity_status"))
    status_reason: Mapped[str | None] = mapped_column(String(200))
    published_at: Mapped[datetime | None]
    completed_at: Mapped[datetime | None]
    # Places taken by confirmed sign-ups (their attendees), kept by the
    # sign-up's own conditional UPDATE and bounded by the CHECK above.
    confirmed_attendees: Mapped[int] = mapped_column(default=0, server_default="0")
    walk_ins: Mapped[int] = mapped_column(default=0, server_default="0")
    # Final once completed: checked-in attendees + walk-ins (人次).
    attended: Mapped[int | None]
    check_in_token: Mapped[str] = mapped_column(String(64), unique=True)
    reminded_at: Mapped[datetime | None]
    created_by_staff_id: Mapped[int | None] = mapped_column(
        ForeignKey("staff.id", ondelete="SET NULL")
    )
    created_by_user_id: Mapped[int | None] = mapped_column(
        ForeignKey("users.id", ondelete="SET NULL")
    )


class CourseEnrolment(Base):
    """One person's place in every session of a course."""

    __tablename__ = "course_enrolments"
    __table_args__ = (
        CheckConstraint("attendees BETWEEN 1 AND 5", name="attendees_range"),
        Index(
            "uq_course_enrolments_one_per_person",
            "course_id",
            "user_id",
            unique=True,
            postgresql_where=text("status <> 'cancelled'"),
            sqlite_where=text("status <> 'cancelled'"),
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    course_id: Mapped[int] = mapped_column(ForeignKey("courses.id", ondelete="CASCADE"))
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    attendees: Mapped[int] = mapped_column(SmallInteger, default=1)
    status: Mapped[SignupStatus] = mapped_column(enum_column(SignupStatus, "signup_status"))
    created_at: Mapped[datetime]
    cancelled_at: Mapped[datetime | None]


class ActivitySignup(Base):
    """One person's sign-up for one activity (for themselves and up to four more)."""

    __tablename__ = "activity_signups"
    __table_args__ = (
        CheckConstraint("attendees BETWEEN 1 AND 5", name="attendees_range"),
        CheckConstraint("rating IS NULL OR rating BETWEEN 1 AND 5", name="rating_range"),
        # One live sign-up per person per activity (409 already_signed_up).
        Index(
            "uq_activity_signups_one_per_person",
            "activity_id",
            "user_id",
            unique=True,
            postgresql_where=text("status <> 'cancelled'"),
            sqlite_where=text("status <> 'cancelled'"),
        ),
        Index("ix_activity_signups_line", "activity_id", "status", "id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    activity_id: Mapped[int] = mapped_column(ForeignKey("activities.id", ondelete="CASCADE"))
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    enrolment_id: Mapped[int | None] = mapped_column(
        ForeignKey("course_enrolments.id", ondelete="CASCADE"), index=True
    )
    attendees: Mapped[int] = mapped_column(SmallInteger, default=1)
    status: Mapped[SignupStatus] = mapped_column(enum_column(SignupStatus, "signup_status"))
    created_at: Mapped[datetime]
    confirmed_at: Mapped[datetime | None]
    cancelled_at: Mapped[datetime | None]
    checked_in_at: Mapped[datetime | None]
    checked_in_by_staff_id: Mapped[int | None] = mapped_column(
        ForeignKey("staff.id", ondelete="SET NULL")
    )
    reminded_at: Mapped[datetime | None]
    rating: Mapped[int | None] = mapped_column(SmallInteger)
    comment: Mapped[str | None] = mapped_column(String(500))
    rated_at: Mapped[datetime | None]
