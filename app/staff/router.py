"""Staff accounts: managed by super and district admins (``/admin/staff``),
and one's own password and sessions (``/admin/me``)."""

from datetime import timedelta
from typing import Annotated

from fastapi import Query, Request, status

from app.core import tokens
from app.core.db import SessionDep
from app.core.errors import problem_responses
from app.core.routing import api_router
from app.core.schemas import Limit, Offset, Page, ResourceId
from app.identity import devices
from app.identity.dependencies import (
    CurrentStaff,
    SettingsDep,
    StaffChangingPassword,
    StaffTokenText,
)
from app.models import StaffRole
from app.staff import service
from app.staff.schemas import (
    DeviceOut,
    PasswordChange,
    PasswordChanged,
    SessionOut,
    SessionsOut,
    StaffAccountOut,
    StaffCreate,
    StaffUpdate,
    StaffWithPassword,
)

router = api_router("/admin", tags=["admin"])


def _out(account: service.Account) -> StaffAccountOut:
    staff = account.staff
    return StaffAccountOut(
        id=staff.id,
        username=staff.username,
        role=staff.role,
        district=staff.district,
        street=staff.street,
        scope=staff.scope,
        center_ids=account.center_ids,
        is_active=staff.is_active,
        must_change_password=staff.must_change_password,
        created_at=staff.created_at,
    )


@router.get("/staff", response_model=Page[StaffAccountOut], responses=problem_responses(403))
async def list_staff(
    staff: CurrentStaff,
    session: SessionDep,
    role: StaffRole | None = None,
    district: Annotated[str | None, Query(max_length=20)] = None,
    active: bool | None = None,
    q: Annotated[str | None, Query(max_length=50, description="Part of the username")] = None,
    limit: Limit = 50,
    offset: Offset = 0,
) -> Page[StaffAccountOut]:
    """The accounts you manage (not your own): a super admin every one, a
    district admin their district's."""
    rows, total = await service.list_staff(
        session, staff, role=role, district=district, active=active, query=q,
        limit=limit, offset=offset,
    )  # fmt: skip
    return Page(items=[_out(row) for row in rows], total=total, limit=limit, offset=offset)


@router.post(
    "/staff",
    response_model=StaffWithPassword,
    status_code=status.HTTP_201_CREATED,
    responses=problem_responses(403, 409, 422),
)
async def create_staff(
    body: StaffCreate, staff: CurrentStaff, session: SessionDep
) -> StaffWithPassword:
    """A new account with a generated password, shown only in this answer;
    it must be changed at the first sign-in."""
    account, password = await service.create(session, staff, body)
    return StaffWithPassword(staff=_out(account), password=password)


@router.get(
    "/staff/{staff_id}", response_model=StaffAccountOut, responses=problem_responses(403, 404)
)
async def read_staff(
    staff_id: ResourceId, staff: CurrentStaff, session: SessionDep
) -> StaffAccountOut:
    return _out(await service.get_managed(session, staff, staff_id))


@router.patch(
    "/staff/{staff_id}", response_model=StaffAccountOut, responses=problem_responses(403, 404, 422)
)
async def update_staff(
    staff_id: ResourceId, body: StaffUpdate, staff: CurrentStaff, session: SessionDep
) -> StaffAccountOut:
    """Change the role and scope (district, street, centers)."""
    return _out(await service.update(session, staff, staff_id, body))


@router.post(
    "/staff/{staff_id}/reset-password",
    response_model=StaffWithPassword,
    responses=problem_responses(403, 404),
)
async def reset_password(
    staff_id: ResourceId, staff: CurrentStaff, session: SessionDep
) -> StaffWithPassword:
    """A new generated password, shown only in this answer: the account's
    sessions end, and it must change the password at the next sign-in."""
    account, password = await service.reset_password(session, staff, staff_id)
    return StaffWithPassword(staff=_out(account), password=password)


@router.post(
    "/staff/{staff_id}/deactivate",
    response_model=StaffAccountOut,
    responses=problem_responses(403, 404),
)
async def deactivate_staff(
    staff_id: ResourceId, staff: CurrentStaff, session: SessionDep
) -> StaffAccountOut:
    """The account can no longer sign in; its sessions end at once."""
    return _out(await service.set_active(session, staff, staff_id, False))


@router.post(
    "/staff/{staff_id}/activate",
    response_model=StaffAccountOut,
    responses=problem_responses(403, 404),
)
async def activate_staff(
    staff_id: ResourceId, staff: CurrentStaff, session: SessionDep
) -> StaffAccountOut:
    return _out(await service.set_active(session, staff, staff_id, True))


@router.post("/me/password", response_model=PasswordChanged, responses=problem_responses(422))
async def change_password(
    body: PasswordChange,
    staff: StaffChangingPassword,
    session: SessionDep,
    settings: SettingsDep,
) -> PasswordChanged:
    """Change your password (at least ten characters; Argon2id). Every token
    issued to you before, this one included, stops working: the answer
    carries a new one. Open also to an account that must change its password."""
    await service.change_own_password(session, staff, body.current_password, body.new_password)
    issued = tokens.issue(settings, tokens.Audience.staff, staff.id)
    return PasswordChanged(access_token=issued.access_token, expires_in=issued.expires_in)


@router.get("/me/sessions", response_model=SessionsOut)
async def read_sessions(
    staff: CurrentStaff,
    session: SessionDep,
    settings: SettingsDep,
    token: StaffTokenText,
    request: Request,
) -> SessionsOut:
    """What is known of your sessions. Tokens are not stored: this request's
    token, the moment before which every token is refused (your last sign-out
    or password change), and the trusted-device tokens this client sent (the
    ``Zhendi-Device-Token`` header or the ``zhendi_device`` cookie)."""
    device_header = request.headers.get(devices.HEADER)
    device_cookie = request.cookies.get(devices.COOKIE)
    claims = tokens.verify(settings, tokens.Audience.staff, token or "")
    signed_out = await service.signed_out_at(session, staff.id)
    presented = [device_header] if device_header else devices.tokens_in(device_cookie)
    trusted = [
        DeviceOut(device_id=found.device_id, issued_at=found.issued_at)
        for found in devices.claims_of(settings, presented)
        if found.staff_id == staff.id and (signed_out is None or found.issued_at >= signed_out)
    ]
    return SessionsOut(
        current=SessionOut(
            issued_at=claims.issued_at,
            expires_at=claims.issued_at + timedelta(minutes=settings.staff_token_minutes),
        ),
        signed_out_at=signed_out,
        trusted_devices=trusted,
    )
