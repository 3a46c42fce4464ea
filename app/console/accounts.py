"""The console's staff accounts and audit trail (README, "Staff accounts",
"The audit trail"): super and district admins list, create, reset and
deactivate accounts; everyone changes their own password (an account whose
password someone else set sees only that page until it does); and the audit
trail with its filters and CSV download. The rules are the services' the
API calls (app/staff/service.py, app/audit/reading.py)."""

from datetime import datetime, timedelta
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse, Response
from pydantic import ValidationError
from sqlalchemy.ext.asyncio import AsyncSession

from app.audit import reading
from app.audit.router import as_csv, event_out
from app.console import auth
from app.console.auth import ConsoleStaff
from app.console.pages import InvalidForm, Notice, act, back_to, form_text, render
from app.core import tokens
from app.core.clock import SHANGHAI
from app.core.db import Database, SessionDep
from app.core.errors import AppError
from app.core.schemas import ResourceId
from app.identity.principals import StaffPrincipal
from app.models import ActorKind, StaffRole, StaffScope
from app.staff import service as accounts
from app.staff.schemas import StaffCreate

router = APIRouter(prefix=auth.PATH, include_in_schema=False)
STAFF = f"{auth.PATH}/staff"
MY_PASSWORD = f"{auth.PATH}/me/password"
AUDIT = f"{auth.PATH}/audit"
PAGE = 50
ROLE_NAMES = {
    StaffRole.super_admin: "超级管理员",
    StaffRole.district_admin: "区级管理员",
    StaffRole.street_admin: "街镇管理员",
    StaffRole.center_admin: "中心管理员",
}
NO_STORE = {"Cache-Control": "no-store"}


async def _pending_staff(request: Request, session: SessionDep) -> StaffPrincipal:
    """The signed-in staff member, also one who must change their password."""
    return await auth.load(
        session, request.app.state.settings, auth.session_token(request),
        password_change_pending=True,
    )  # fmt: skip


PendingStaff = Annotated[StaffPrincipal, Depends(_pending_staff)]


# --- staff accounts ---------------------------------------------------------------


@router.get("/staff", response_class=HTMLResponse)
async def staff_list(
    request: Request,
    staff: ConsoleStaff,
    session: SessionDep,
    role: StaffRole | None = None,
    active: bool | None = None,
    q: str = "",
) -> HTMLResponse:
    try:
        rows, total = await accounts.list_staff(
            session, staff, role=role, district=None, active=active, query=q[:50] or None,
            limit=PAGE, offset=0,
        )  # fmt: skip
    except AppError as error:
        return render(
            request, "staff.html", staff, status_code=error.status, refused=True,
            error="只有超级管理员和区级管理员可管理工作人员账号",
        )  # fmt: skip
    return render(
        request, "staff.html", staff, rows=rows, total=total, role=role, active=active, q=q,
        roles=ROLE_NAMES, refused=False,
    )  # fmt: skip


async def _with_password(request: Request, work: Any) -> Response:
    """Run ``work`` (which answers an account and its new password) in one
    transaction and show the password on a page of its own: never in an
    address, never cached, shown this once."""
    settings = request.app.state.settings
    database: Database = request.app.state.database
    token = auth.session_token(request)
    form = await request.form()
    auth.check_csrf(settings, token, form.get("csrf"))
    try:
        async with database.writer.begin() as session:
            staff = await auth.load(session, settings, token)
            account, password = await work(session, staff, form)
    except AppError as error:
        return back_to(STAFF, error=error.code)
    except ValidationError:
        return back_to(STAFF, error=InvalidForm.code)
    page = render(
        request, "staff_password.html", staff, account=account, password=password,
        roles=ROLE_NAMES,
    )  # fmt: skip
    page.headers.update(NO_STORE)
    return page


def _center_ids(value: str) -> list[int]:
    parts = value.replace("，", ",").replace(" ", ",").split(",")
    return [int(part) for part in parts if part.isdecimal() and len(part) < 10]


@router.post("/staff")
async def create_staff(request: Request) -> Response:
    async def work(
        session: AsyncSession, staff: StaffPrincipal, form: Any
    ) -> tuple[accounts.Account, str]:
        body = StaffCreate(
            username=form_text(form, "username"),
            role=form_text(form, "role"),
            district=form_text(form, "district") or None,
            street=form_text(form, "street") or None,
            scope=form_text(form, "scope") or StaffScope.listed,
            center_ids=_center_ids(form_text(form, "center_ids")),
        )
        return await accounts.create(session, staff, body)

    return await _with_password(request, work)


@router.post("/staff/{staff_id}/reset-password")
async def reset_password(request: Request, staff_id: ResourceId) -> Response:
    async def work(
        session: AsyncSession, staff: StaffPrincipal, form: Any
    ) -> tuple[accounts.Account, str]:
        return await accounts.reset_password(session, staff, staff_id)

    return await _with_password(request, work)


@router.post("/staff/{staff_id}/deactivate")
async def deactivate(request: Request, staff_id: ResourceId) -> Response:
    async def work(session: AsyncSession, staff: StaffPrincipal) -> Notice:
        account = await accounts.set_active(session, staff, staff_id, False)
        return Notice("staff_deactivated", account.staff.id)

    return await act(request, STAFF, work)


@router.post("/staff/{staff_id}/activate")
async def activate(request: Request, staff_id: ResourceId) -> Response:
    async def work(session: AsyncSession, staff: StaffPrincipal) -> Notice:
        account = await accounts.set_active(session, staff, staff_id, True)
        return Notice("staff_activated", account.staff.id)

    return await act(request, STAFF, work)


# --- one's own password -----------------------------------------------------------


@router.get("/me/password", response_class=HTMLResponse)
async def password_page(request: Request, staff: PendingStaff) -> HTMLResponse:
    return render(request, "password.html", staff)


@router.post("/me/password")
async def change_password(request: Request) -> Response:
    """Change the password; the session's token (every token issued before
    now) is revoked, so the browser gets a new one."""
    settings = request.app.state.settings
    database: Database = request.app.state.database
    token = auth.session_token(request)
    form = await request.form()
    auth.check_csrf(settings, token, form.get("csrf"))
    if form_text(form, "new_password") != form_text(form, "repeat_password"):
        return back_to(MY_PASSWORD, error="passwords_differ")
    try:
        async with database.writer.begin() as session:
            staff = await auth.load(session, settings, token, password_change_pending=True)
            await accounts.change_own_password(
                session, staff, form_text(form, "current_password"), form_text(form, "new_password")
            )
    except AppError as error:
        return back_to(MY_PASSWORD, error=error.code)
    response = back_to(f"{auth.PATH}/today", notice=Notice("password_changed"))
    auth.start_session(response, settings, tokens.issue(settings, tokens.Audience.staff, staff.id))
    return response


# --- the audit trail --------------------------------------------------------------


def _instant(value: str, *, end_of_day: bool = False) -> datetime | None:
    """A day (Shanghai) of the filter form, as the instant it starts (or ends)."""
    try:
        day = datetime.strptime(value, "%Y-%m-%d").replace(tzinfo=SHANGHAI)
    except ValueError:
        return None
    return day + timedelta(days=1) if end_of_day else day


def _query(request: Request) -> reading.AuditQuery:
    params = request.query_params

    def word(name: str) -> str | None:
        value = params.get(name, "").strip()
        return value if value and len(value) <= 30 and value.replace("_", "").isalpha() else None

    def number(name: str) -> int | None:
        value = params.get(name, "").strip()
        return int(value) if value.isdecimal() and len(value) < 10 and int(value) > 0 else None

    kind = params.get("actor_kind", "")
    return reading.AuditQuery(
        entity=word("entity"),
        entity_id=number("entity_id"),
        actor_kind=ActorKind(kind) if kind in ActorKind.__members__ else None,
        actor_id=number("actor_id"),
        action=word("action"),
        since=_instant(params.get("from", "")),
        until=_instant(params.get("to", ""), end_of_day=True),
    )


@router.get("/audit", response_class=HTMLResponse)
async def audit_page(request: Request, staff: ConsoleStaff, session: SessionDep) -> HTMLResponse:
    query = _query(request)
    page_number = request.query_params.get("page", "1")
    page = int(page_number) if page_number.isdecimal() and 0 < len(page_number) < 5 else 1
    rows, total = await reading.search(session, staff, query, limit=PAGE, offset=(page - 1) * PAGE)
    params = {k: v for k, v in request.query_params.items() if k != "page" and v}
    return render(
        request, "audit.html", staff, events=[event_out(event, name) for event, name in rows],
        total=total, page=page, pages=max(1, -(-total // PAGE)), params=params,
        actor_kinds=[kind.value for kind in ActorKind],
    )  # fmt: skip


@router.get("/audit.csv")
async def audit_download(request: Request, staff: ConsoleStaff, session: SessionDep) -> Response:
    rows, _ = await reading.search(
        session, staff, _query(request), limit=reading.MAX_EXPORT, offset=0, export=True
    )
    body = as_csv([event_out(event, name) for event, name in rows])
    return Response(
        body,
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": 'attachment; filename="audit.csv"'},
    )
