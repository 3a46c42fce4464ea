"""Every ORM model, imported in one place for Alembic and the services."""

from app.models.base import Base
from app.models.center import Center, CenterKind
from app.models.identity import Staff, StaffRole, User, staff_centers
from app.models.space import BookingMode, Closure, OpeningHours, Space, SpaceKind

__all__ = [
    "Base",
    "BookingMode",
    "Center",
    "CenterKind",
    "Closure",
    "OpeningHours",
    "Space",
    "SpaceKind",
    "Staff",
    "StaffRole",
    "User",
    "staff_centers",
]
