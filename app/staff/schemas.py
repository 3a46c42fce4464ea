"""Staff accounts as the admin API reads and writes them."""

from datetime import datetime
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from app.centers.schemas import District, Street
from app.core.schemas import MAX_ID
from app.models import StaffRole, StaffScope

Username = Annotated[str, StringConstraints(strip_whitespace=True, min_length=3, max_length=50)]
Password = Annotated[str, StringConstraints(min_length=1, max_length=256)]
CenterIds = Annotated[list[Annotated[int, Field(ge=1, le=MAX_ID)]], Field(max_length=200)]


class StaffCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    username: Username
    role: StaffRole
    district: District | None = None
    street: Street | None = None
    scope: StaffScope = StaffScope.listed
    center_ids: CenterIds = []


class StaffUpdate(BaseModel):
    """What changes; a field left out keeps its value."""

    model_config = ConfigDict(extra="forbid")

    role: StaffRole | None = None
    district: District | None = None
    street: Street | None = None
    scope: StaffScope | None = None
    center_ids: CenterIds | None = None


class StaffAccountOut(BaseModel):
    id: int
    username: str
    role: StaffRole
    district: str | None
    street: str | None
    scope: StaffScope
    center_ids: list[int]  # the centers listed for a center admin
    is_active: bool
    must_change_password: bool
    created_at: datetime


class StaffWithPassword(BaseModel):
    """A new account, or one whose password was reset: the password is shown
    this once and must be changed at the first sign-in."""

    staff: StaffAccountOut
    password: str


class PasswordChange(BaseModel):
    model_config = ConfigDict(extra="forbid")

    current_password: Password
    new_password: Password


class PasswordChanged(BaseModel):
    """Every earlier token was revoked: this one replaces the caller's."""

    access_token: str
    token_type: Literal["bearer"] = "bearer"
    expires_in: int


class SessionOut(BaseModel):
    issued_at: datetime
    expires_at: datetime


class DeviceOut(BaseModel):
    device_id: str
    issued_at: datetime


class SessionsOut(BaseModel):
    """What the server knows of a staff member's sessions. Tokens are not
    stored (app/core/tokens.py): the server knows the token of this request,
    the time before which every token is refused (the last sign-out or
    password change), and the trusted-device tokens this client presented."""

    current: SessionOut
    signed_out_at: datetime | None
    trusted_devices: list[DeviceOut]
    stored: bool = False  # no server-side list of sessions exists
