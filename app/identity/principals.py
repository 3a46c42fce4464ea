"""Who is calling: the authenticated staff member and what their role covers."""

from dataclasses import dataclass

from sqlalchemy import ColumnElement, false, true

from app.models import Center, StaffRole, User


@dataclass(frozen=True)
class StaffPrincipal:
    id: int
    username: str
    role: StaffRole
    district: str | None
    center_ids: frozenset[int]

    @property
    def is_super_admin(self) -> bool:
        return self.role is StaffRole.super_admin

    def covers_center(self, center: Center) -> bool:
        match self.role:
            case StaffRole.super_admin:
                return True
            case StaffRole.district_admin:
                return center.district == self.district
            case StaffRole.center_admin:
                return center.id in self.center_ids

    def covers_district(self, district: str) -> bool:
        """May this staff member create a center in ``district``?"""
        match self.role:
            case StaffRole.super_admin:
                return True
            case StaffRole.district_admin:
                return district == self.district
            case StaffRole.center_admin:
                return False

    def center_clause(self) -> ColumnElement[bool]:
        """A WHERE clause on ``Center`` limited to this staff member's scope."""
        match self.role:
            case StaffRole.super_admin:
                return true()
            case StaffRole.district_admin:
                return Center.district == self.district
            case StaffRole.center_admin:
                return Center.id.in_(self.center_ids) if self.center_ids else false()


# Whoever is calling an endpoint open to both residents and staff.
Actor = User | StaffPrincipal
