"""Who is calling: the authenticated staff member and what their role covers.

The roles' scopes (README, "Staff roles"): a super admin covers every center;
a district admin every center of one district; a street admin every center of
one street (``district`` + ``street``); a center admin the centers listed in
``staff_centers`` and, with ``scope = subtree``, every center below them in
the network (``center_ids`` then holds them all, read when the principal is
loaded: ``identity.service.load_staff_principal``).
"""

from dataclasses import dataclass

from sqlalchemy import ColumnElement, and_, false, true

from app.models import Center, StaffRole, StaffScope, User


@dataclass(frozen=True)
class StaffPrincipal:
    id: int
    username: str
    role: StaffRole
    district: str | None
    center_ids: frozenset[int]
    street: str | None = None
    scope: StaffScope = StaffScope.listed
    # Only for the routes that let such an account change it or sign out:
    # ``load_staff_principal`` refuses it everywhere else.
    must_change_password: bool = False

    @property
    def is_super_admin(self) -> bool:
        return self.role is StaffRole.super_admin

    def covers_center(self, center: Center) -> bool:
        match self.role:
            case StaffRole.super_admin:
                return True
            case StaffRole.district_admin:
                return center.district == self.district
            case StaffRole.street_admin:
                return center.district == self.district and center.street == self.street
            case StaffRole.center_admin:
                return center.id in self.center_ids

    def covers_district(self, district: str) -> bool:
        """Does this staff member cover all of ``district`` (its calendar, its
        residents)?"""
        match self.role:
            case StaffRole.super_admin:
                return True
            case StaffRole.district_admin:
                return district == self.district
            case StaffRole.street_admin | StaffRole.center_admin:
                return False

    def covers_place(self, district: str, street: str) -> bool:
        """May this staff member create a center in ``district``, ``street``
        (or move one there)?"""
        if self.role is StaffRole.street_admin:
            return district == self.district and street == self.street
        return self.covers_district(district)

    def center_clause(self) -> ColumnElement[bool]:
        """A WHERE clause on ``Center`` limited to this staff member's scope."""
        match self.role:
            case StaffRole.super_admin:
                return true()
            case StaffRole.district_admin:
                return Center.district == self.district
            case StaffRole.street_admin:
                return and_(Center.district == self.district, Center.street == self.street)
            case StaffRole.center_admin:
                return Center.id.in_(self.center_ids) if self.center_ids else false()


# Whoever is calling an endpoint open to both residents and staff.
Actor = User | StaffPrincipal
