import enum
from datetime import datetime
from typing import Any

from sqlalchemy import (
    JSON,
    CheckConstraint,
    ForeignKey,
    Index,
    LargeBinary,
    SmallInteger,
    String,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column

from app.models.base import Base, enum_column


class NotificationKind(enum.StrEnum):
    booking_confirmed = "booking_confirmed"
    booking_approved = "booking_approved"
    booking_rejected = "booking_rejected"
    booking_cancelled_by_staff = "booking_cancelled_by_staff"
    booking_reminder = "booking_reminder"
    no_show_recorded = "no_show_recorded"
    booking_suspended = "booking_suspended"
    waitlist_offer = "waitlist_offer"
    organization_verified = "organization_verified"
    organization_rejected = "organization_rejected"
    approval_requested = "approval_requested"  # to staff
    keypad_locked_repeatedly = "keypad_locked_repeatedly"  # to staff
    booking_cancelled_by_closure = "booking_cancelled_by_closure"
    appeal_decided = "appeal_decided"
    real_name_rebound = "real_name_rebound"  # to the account that lost the number
    organization_registered = "organization_registered"  # to staff
    waitlist_offer_lapsed = "waitlist_offer_lapsed"
    organization_member_removed = "organization_member_removed"
    access_code_reissued = "access_code_reissued"
    feedback_requested = "feedback_requested"
    booking_moved = "booking_moved"
    activity_signup_confirmed = "activity_signup_confirmed"  # also on moving up the line
    activity_reminder = "activity_reminder"
    activity_cancelled = "activity_cancelled"
    activity_message = "activity_message"  # the organiser's, to every participant
    suggestion_progress = "suggestion_progress"  # a step of the submitter's suggestion


class Delivery(enum.StrEnum):
    """Where a notification stands with WeChat (the inbox has it whatever this says)."""

    inbox = "inbox"  # no WeChat message for it: no template, or a staff member
    queued = "queued"  # the sender will try (again) from ``next_attempt_at``
    sent = "sent"
    no_credit = "no_credit"  # the user had accepted no message of that template
    refused = "refused"  # WeChat said the user refused (43101)
    failed = "failed"  # a dead letter: retries ran out, or WeChat refused the message


class Notification(Base):
    """One message to one person: their inbox entry, and the outbox row the
    sender delivers to WeChat. It is written in the transaction of the change
    it tells of (docs/ARCHITECTURE.md, invariant 10)."""

    __tablename__ = "notifications"
    __table_args__ = (
        CheckConstraint("(user_id IS NULL) <> (staff_id IS NULL)", name="one_recipient"),
        Index("ix_notifications_user_id_id", "user_id", "id"),
        Index("ix_notifications_staff_id_id", "staff_id", "id"),
        # The sender's queue: only what is still to send is in it.
        Index(
            "ix_notifications_queued",
            "next_attempt_at",
            postgresql_where=text("delivery = 'queued'"),
            sqlite_where=text("delivery = 'queued'"),
        ),
        # A booking is reminded once, however often the job runs.
        Index(
            "uq_notifications_reminder",
            "reservation_id",
            unique=True,
            postgresql_where=text("kind = 'booking_reminder'"),
            sqlite_where=text("kind = 'booking_reminder'"),
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    staff_id: Mapped[int | None] = mapped_column(ForeignKey("staff.id", ondelete="CASCADE"))
    kind: Mapped[NotificationKind] = mapped_column(
        enum_column(NotificationKind, "notification_kind")
    )
    title: Mapped[str] = mapped_column(String(60))
    body: Mapped[str] = mapped_column(String(400))
    # What it is about. No foreign keys to the booking and its center: every
    # booking writes a notification in its own statement, where each key's
    # check would cost it a trigger (~15 µs of PostgreSQL), and neither
    # reservations nor centers with bookings are ever deleted.
    reservation_id: Mapped[int | None]
    organization_id: Mapped[int | None] = mapped_column(
        ForeignKey("organizations.id", ondelete="SET NULL")
    )
    center_id: Mapped[int | None]
    activity_id: Mapped[int | None]
    # The template placeholders' values (space_name, start, reason, …), in text.
    fields: Mapped[dict[str, Any]] = mapped_column(JSON)
    created_at: Mapped[datetime]
    read_at: Mapped[datetime | None]
    delivery: Mapped[Delivery] = mapped_column(enum_column(Delivery, "notification_delivery"))
    template_id: Mapped[str | None] = mapped_column(String(64))
    attempts: Mapped[int] = mapped_column(SmallInteger, default=0)
    # Queued: when the sender may take it (a claim pushes it past the claim's lease).
    next_attempt_at: Mapped[datetime | None]
    sent_at: Mapped[datetime | None]
    last_error: Mapped[str | None] = mapped_column(String(200))


class SubscriptionCredit(Base):
    """How many subscribe messages of one template a user has allowed and we
    have not yet used: each ``accept`` in ``wx.requestSubscribeMessage`` of a
    one-time template allows one."""

    __tablename__ = "subscription_credits"
    __table_args__ = (CheckConstraint("credits >= 0", name="credits_not_negative"),)

    user_id: Mapped[int] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE"), primary_key=True
    )
    template_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    credits: Mapped[int]
    last_result: Mapped[str] = mapped_column(String(10))
    updated_at: Mapped[datetime]


class WechatToken(Base):
    """The access token for WeChat's server API, shared by every process and
    worker: one row per app id, sealed like personal data."""

    __tablename__ = "wechat_tokens"

    app_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    token_sealed: Mapped[bytes] = mapped_column(LargeBinary)
    key_version: Mapped[int] = mapped_column(SmallInteger)
    expires_at: Mapped[datetime]
    refreshed_at: Mapped[datetime]
