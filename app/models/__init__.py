"""Every ORM model, imported in one place for Alembic and the services."""

from app.models.access import AccessCode, AttemptMethod, AttemptOutcome, Door, DoorAttempt, Keypad
from app.models.base import Base
from app.models.calendar import CalendarDay, CalendarFeed, DayKind, SpaceCalendarFeed
from app.models.center import Center, CenterKind
from app.models.feedback import Feedback
from app.models.identity import Staff, StaffRole, User, staff_centers
from app.models.notification import (
    Delivery,
    Notification,
    NotificationKind,
    SubscriptionCredit,
    WechatToken,
)
from app.models.organization import (
    Invitation,
    MemberRole,
    Membership,
    Organization,
    OrganizationStatus,
    QuotaMetric,
    QuotaRule,
    QuotaSubject,
)
from app.models.reservation import (
    HOLDERS_OVERLAPPING,
    HOLDING_SQL,
    HOLDING_STATUSES,
    ActorKind,
    AuditEvent,
    IdempotencyKey,
    Reservation,
    ReservationStatus,
    overlapping,
)
from app.models.series import ReservationSeries, SeriesMode, SeriesOccurrence
from app.models.space import (
    BookingMode,
    Closure,
    HolidayPolicy,
    OpeningHours,
    Space,
    SpaceKind,
    default_holiday_policy,
    new_check_in_token,
)
from app.models.standing import (
    JobStats,
    Suspension,
    Violation,
    ViolationKind,
    ViolationStatus,
)
from app.models.waitlist import WaitlistEntry, WaitlistStatus

__all__ = [
    "HOLDERS_OVERLAPPING",
    "HOLDING_SQL",
    "HOLDING_STATUSES",
    "AccessCode",
    "AttemptMethod",
    "AttemptOutcome",
    "ActorKind",
    "AuditEvent",
    "Base",
    "BookingMode",
    "CalendarDay",
    "CalendarFeed",
    "DayKind",
    "HolidayPolicy",
    "Center",
    "CenterKind",
    "Closure",
    "Delivery",
    "Door",
    "Feedback",
    "DoorAttempt",
    "IdempotencyKey",
    "JobStats",
    "Invitation",
    "Keypad",
    "MemberRole",
    "Membership",
    "OpeningHours",
    "Notification",
    "NotificationKind",
    "Organization",
    "OrganizationStatus",
    "QuotaMetric",
    "QuotaRule",
    "QuotaSubject",
    "Reservation",
    "ReservationStatus",
    "ReservationSeries",
    "SeriesMode",
    "SeriesOccurrence",
    "overlapping",
    "Space",
    "SpaceCalendarFeed",
    "SpaceKind",
    "new_check_in_token",
    "default_holiday_policy",
    "Staff",
    "StaffRole",
    "SubscriptionCredit",
    "Suspension",
    "Violation",
    "WaitlistEntry",
    "WaitlistStatus",
    "WechatToken",
    "ViolationKind",
    "ViolationStatus",
    "User",
    "staff_centers",
]
