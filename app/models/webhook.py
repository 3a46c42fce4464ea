import enum
from datetime import datetime
from typing import Any

from sqlalchemy import JSON, ForeignKey, Index, LargeBinary, SmallInteger, String, text
from sqlalchemy.orm import Mapped, mapped_column

from app.models.base import Base, Timestamped, enum_column


class WebhookEvent(enum.StrEnum):
    """What an endpoint may subscribe to (README, "Webhooks")."""

    reservation_created = "reservation.created"
    reservation_cancelled = "reservation.cancelled"
    reservation_moved = "reservation.moved"
    reservation_checked_in = "reservation.checked_in"
    reservation_no_show = "reservation.no_show"
    reservation_completed = "reservation.completed"
    activity_published = "activity.published"
    activity_cancelled = "activity.cancelled"
    organization_verified = "organization.verified"
    door_locked_out = "door.locked_out"
    door_offline = "door.offline"
    door_battery_low = "door.battery_low"
    suggestion_created = "suggestion.created"


class WebhookStatus(enum.StrEnum):
    queued = "queued"  # the sender will try (again) from ``next_attempt_at``
    delivered = "delivered"  # the receiver answered 2xx
    dead = "dead"  # a dead letter: 24 hours of retries ran out (or a retry asked for)


class WebhookEndpoint(Timestamped, Base):
    """A URL a super or district admin registered: it receives the events it
    subscribed to, of the centers in its owner's scope at the time of each
    event. The signing secret is sealed like personal data."""

    __tablename__ = "webhook_endpoints"

    id: Mapped[int] = mapped_column(primary_key=True)
    staff_id: Mapped[int] = mapped_column(ForeignKey("staff.id", ondelete="CASCADE"), index=True)
    url: Mapped[str] = mapped_column(String(500))
    description: Mapped[str] = mapped_column(String(200))
    secret_sealed: Mapped[bytes] = mapped_column(LargeBinary)
    key_version: Mapped[int] = mapped_column(SmallInteger)
    is_active: Mapped[bool] = mapped_column(default=True)


class WebhookSubscription(Base):
    """One event an endpoint receives: the outbox's writers join on
    ``event`` (an index), so a change nobody subscribed to costs one probe."""

    __tablename__ = "webhook_subscriptions"

    event: Mapped[WebhookEvent] = mapped_column(
        enum_column(WebhookEvent, "webhook_event"), primary_key=True
    )
    endpoint_id: Mapped[int] = mapped_column(
        ForeignKey("webhook_endpoints.id", ondelete="CASCADE"), primary_key=True
    )


class WebhookDelivery(Base):
    """One message to one endpoint: written in the transaction of the change it
    tells of (the outbox), sent by the ``send-webhooks`` job. Its id is the
    message's ``webhook-id`` (``msg_<id>``), the same on every retry."""

    __tablename__ = "webhook_deliveries"
    __table_args__ = (
        Index("ix_webhook_deliveries_endpoint_id_id", "endpoint_id", "id"),
        # The sender's queue: only what is still to send is in it.
        Index(
            "ix_webhook_deliveries_queued",
            "next_attempt_at",
            postgresql_where=text("status = 'queued'"),
            sqlite_where=text("status = 'queued'"),
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    endpoint_id: Mapped[int] = mapped_column(ForeignKey("webhook_endpoints.id", ondelete="CASCADE"))
    event: Mapped[WebhookEvent] = mapped_column(enum_column(WebhookEvent, "webhook_event"))
    # What the event is about (no foreign key: a hot write pays for none).
    center_id: Mapped[int | None]
    data: Mapped[dict[str, Any]] = mapped_column(JSON)
    created_at: Mapped[datetime]
    status: Mapped[WebhookStatus] = mapped_column(enum_column(WebhookStatus, "webhook_status"))
    attempts: Mapped[int] = mapped_column(SmallInteger, default=0)
    # Queued: when the sender may take it (a claim pushes it past the claim's lease).
    next_attempt_at: Mapped[datetime | None]
    delivered_at: Mapped[datetime | None]
    last_status_code: Mapped[int | None] = mapped_column(SmallInteger)
    last_error: Mapped[str | None] = mapped_column(String(200))
