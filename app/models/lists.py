"""The four lists (四张清单) of a center: its residents' needs, the resources
offered to it, the service projects it runs, and the groups it serves
(README, "The four lists").

A need is ``met`` when its matches (a resource or a project each) cover all
the people who have it: ``need_matches.covers`` summed reaches
``needs.people`` (app/lists/needs.py keeps ``status`` and ``met_at``).
"""

import enum
from datetime import date, datetime

from sqlalchemy import (
    CheckConstraint,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column

from app.models.base import Base, Timestamped, enum_column


class NeedCategory(enum.StrEnum):
    """What a need, a project or a match is about (labels: app/lists/categories.py)."""

    elderly_care = "elderly_care"
    childcare = "childcare"
    employment = "employment"
    health = "health"
    legal = "legal"
    education = "education"
    culture_sports = "culture_sports"
    living = "living"
    environment = "environment"
    volunteering = "volunteering"
    other = "other"


class NeedSource(enum.StrEnum):
    suggestion = "suggestion"  # a resident's suggestion (``source_id``)
    questionnaire = "questionnaire"  # a questionnaire's results (``source_id``)
    staff = "staff"  # what staff heard or saw


class NeedUrgency(enum.StrEnum):
    low = "low"
    normal = "normal"
    high = "high"
    urgent = "urgent"


class NeedStatus(enum.StrEnum):
    open = "open"
    met = "met"  # its matches cover everyone who has it


class ServedGroup(enum.StrEnum):
    """The groups a center serves (服务对象)."""

    white_collar = "white_collar"
    delivery_riders = "delivery_riders"
    elderly = "elderly"
    children = "children"
    youth = "youth"
    families = "families"
    disabled = "disabled"
    veterans = "veterans"
    party_members = "party_members"
    residents = "residents"
    other = "other"


class ResourceKind(enum.StrEnum):
    room = "room"
    skills = "skills"
    equipment = "equipment"
    volunteer_time = "volunteer_time"
    materials = "materials"
    funds = "funds"
    other = "other"


class ResourceOfferer(enum.StrEnum):
    resident = "resident"  # offered by a signed-in resident (``user_id``)
    organization = "organization"  # by an organisation's owner (``organization_id``)
    staff = "staff"  # recorded by staff for whoever offers it (``provider``)


class ResourceStatus(enum.StrEnum):
    offered = "offered"  # waiting for staff to look at it
    accepted = "accepted"  # on the list: needs may be matched to it
    declined = "declined"
    withdrawn = "withdrawn"  # by whoever offered it


class ProjectStatus(enum.StrEnum):
    planned = "planned"
    running = "running"
    completed = "completed"  # delivered
    cancelled = "cancelled"


class Need(Timestamped, Base):
    __tablename__ = "needs"
    __table_args__ = (
        CheckConstraint("people >= 1", name="people_positive"),
        Index("ix_needs_center_id_status", "center_id", "status"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    center_id: Mapped[int] = mapped_column(ForeignKey("centers.id", ondelete="CASCADE"))
    category: Mapped[NeedCategory] = mapped_column(enum_column(NeedCategory, "need_category"))
    title: Mapped[str] = mapped_column(String(100))
    description: Mapped[str] = mapped_column(Text, default="")
    # Who has it: a served group (optional) and how many people.
    served_group: Mapped[ServedGroup | None] = mapped_column(
        enum_column(ServedGroup, "served_group")
    )
    people: Mapped[int] = mapped_column(Integer)
    urgency: Mapped[NeedUrgency] = mapped_column(enum_column(NeedUrgency, "need_urgency"))
    source: Mapped[NeedSource] = mapped_column(enum_column(NeedSource, "need_source"))
    # The suggestion's or questionnaire's id: a plain number, no foreign key,
    # so that a need outlives what it came from.
    source_id: Mapped[int | None]
    status: Mapped[NeedStatus] = mapped_column(enum_column(NeedStatus, "need_status"))
    met_at: Mapped[datetime | None]
    created_by_staff_id: Mapped[int | None] = mapped_column(
        ForeignKey("staff.id", ondelete="SET NULL")
    )


class Resource(Timestamped, Base):
    __tablename__ = "resources"
    __table_args__ = (
        CheckConstraint("quantity IS NULL OR quantity >= 1", name="quantity_positive"),
        CheckConstraint(
            "available_until IS NULL OR available_from IS NULL"
            " OR available_until >= available_from",
            name="until_after_from",
        ),
        Index("ix_resources_center_id_status", "center_id", "status"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    center_id: Mapped[int] = mapped_column(ForeignKey("centers.id", ondelete="CASCADE"))
    kind: Mapped[ResourceKind] = mapped_column(enum_column(ResourceKind, "resource_kind"))
    title: Mapped[str] = mapped_column(String(100))
    description: Mapped[str] = mapped_column(Text, default="")
    offered_by: Mapped[ResourceOfferer] = mapped_column(
        enum_column(ResourceOfferer, "resource_offerer")
    )
    provider: Mapped[str] = mapped_column(String(100))  # who offers it, as staff show it
    user_id: Mapped[int | None] = mapped_column(
        ForeignKey("users.id", ondelete="SET NULL"), index=True
    )
    organization_id: Mapped[int | None] = mapped_column(
        ForeignKey("organizations.id", ondelete="SET NULL"), index=True
    )
    # How much (with its unit: 小时, 人, 间…) and when.
    quantity: Mapped[int | None]
    unit: Mapped[str] = mapped_column(String(20), default="")
    available_from: Mapped[date | None]
    available_until: Mapped[date | None]
    schedule: Mapped[str] = mapped_column(String(200), default="")  # e.g. 每周六上午
    status: Mapped[ResourceStatus] = mapped_column(enum_column(ResourceStatus, "resource_status"))
    decided_by_staff_id: Mapped[int | None] = mapped_column(
        ForeignKey("staff.id", ondelete="SET NULL")
    )


class Project(Timestamped, Base):
    """A service a center runs, or a district delivers through its hub."""

    __tablename__ = "projects"
    __table_args__ = (
        CheckConstraint(
            "ends_on IS NULL OR starts_on IS NULL OR ends_on >= starts_on",
            name="ends_after_starts",
        ),
        Index("ix_projects_center_id_status", "center_id", "status"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    center_id: Mapped[int] = mapped_column(ForeignKey("centers.id", ondelete="CASCADE"))
    category: Mapped[NeedCategory] = mapped_column(enum_column(NeedCategory, "need_category"))
    title: Mapped[str] = mapped_column(String(100))
    description: Mapped[str] = mapped_column(Text, default="")
    provider: Mapped[str] = mapped_column(String(100))
    organization_id: Mapped[int | None] = mapped_column(
        ForeignKey("organizations.id", ondelete="SET NULL"), index=True
    )
    schedule: Mapped[str] = mapped_column(String(200), default="")
    starts_on: Mapped[date | None]
    ends_on: Mapped[date | None]
    status: Mapped[ProjectStatus] = mapped_column(enum_column(ProjectStatus, "project_status"))


class ProjectActivity(Base):
    """An activity held as part of a project."""

    __tablename__ = "project_activities"

    project_id: Mapped[int] = mapped_column(
        ForeignKey("projects.id", ondelete="CASCADE"), primary_key=True
    )
    activity_id: Mapped[int] = mapped_column(
        ForeignKey("activities.id", ondelete="CASCADE"), primary_key=True, index=True
    )


class NeedMatch(Base):
    """A resource or a project put to a need, for ``covers`` of its people."""

    __tablename__ = "need_matches"
    __table_args__ = (
        CheckConstraint(
            "(resource_id IS NULL) <> (project_id IS NULL)", name="resource_or_project"
        ),
        CheckConstraint("covers >= 1", name="covers_positive"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    need_id: Mapped[int] = mapped_column(ForeignKey("needs.id", ondelete="CASCADE"), index=True)
    resource_id: Mapped[int | None] = mapped_column(
        ForeignKey("resources.id", ondelete="CASCADE"), index=True
    )
    project_id: Mapped[int | None] = mapped_column(
        ForeignKey("projects.id", ondelete="CASCADE"), index=True
    )
    covers: Mapped[int] = mapped_column(Integer)
    note: Mapped[str] = mapped_column(String(200), default="")
    matched_at: Mapped[datetime]
    matched_by_staff_id: Mapped[int | None] = mapped_column(
        ForeignKey("staff.id", ondelete="SET NULL")
    )


class ServiceObject(Timestamped, Base):
    """A group a center serves, and how many of them."""

    __tablename__ = "service_objects"
    __table_args__ = (
        UniqueConstraint("center_id", "served_group"),
        CheckConstraint("people >= 0", name="people_not_negative"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    center_id: Mapped[int] = mapped_column(ForeignKey("centers.id", ondelete="CASCADE"))
    served_group: Mapped[ServedGroup] = mapped_column(enum_column(ServedGroup, "served_group"))
    people: Mapped[int] = mapped_column(Integer)
    note: Mapped[str] = mapped_column(String(200), default="")
