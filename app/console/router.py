"""The staff console: login, today's board, approvals and bookings.

Routers translate HTTP; the rules are the services' (the same calls the API
makes), and every change is audited there. Pages for doors, organizations,
spaces and reports are in ``manage.py``.
"""

from contextlib import suppress
from datetime import timedelta
from typing import Annotated

from fastapi import APIRouter, Form, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from sqlalchemy.ext.asyncio import AsyncSession

from app.console import auth, board
from app.console.auth import ConsoleStaff
from app.console.pages import act, back_to, form_text, parse_day, problem_text, render
from app.core.clock import local_midnight, local_today, utcnow
from app.core.db import ReadSessionDep, SessionDep
from app.core.errors import AppError
from app.core.schemas import MAX_ID, ResourceId
from app.identity import service as identity
from app.identity.dependencies import ClientAddress, LimiterDep
from app.identity.principals import StaffPrincipal
from app.models import ReservationStatus
from app.reservations import attendance
from app.reservations import service as reservations
from app.reservations.schemas import CancelRequest, RejectRequest
from app.series import service as series

router = APIRouter(prefix=auth.PATH, include_in_schema=False)
PAGE = 50
APPROVALS = f"{auth.PATH}/approvals"


@router.get("")
async def home() -> RedirectResponse:
    return RedirectResponse(f"{auth.PATH}/today", status_code=303)


@router.get("/login", response_class=HTMLResponse)
async def login_page(request: Request) -> HTMLResponse:
    return render(request, "login.html", None)


@router.post("/login")
async def login(
    request: Request,
    session: ReadSessionDep,
    limiter: LimiterDep,
    address: ClientAddress,
    username: Annotated[str, Form(max_length=64)] = "",
    password: Annotated[str, Form(max_length=256)] = "",
) -> Response:
    """The API's password login, with its rate limits, into a cookie session."""
    settings = request.app.state.settings
    rules = limiter.rules
    name = username.strip().lower()
    try:
        await limiter.check(rules.login_per_username, name)
        await limiter.check(rules.login_per_ip, address)
        try:
            issued = await identity.login_staff(session, settings, name, password)
        except AppError:
            await limiter.hit(rules.login_per_username, name)
            await limiter.hit(rules.login_per_ip, address)
            raise
    except AppError as error:
        return render(
            request, "login.html", None, status_code=error.status, error=problem_text(error)
        )
    response = RedirectResponse(f"{auth.PATH}/today", status_code=303)
    auth.start_session(response, settings, issued)
    return response


@router.post("/logout")
async def logout(request: Request) -> Response:
    """Sign out everywhere: every token issued to the staff member so far stops
    working, this cookie, a copy of it, and their API tokens alike."""
    settings = request.app.state.settings
    token = auth.session_token(request)
    form = await request.form()
    auth.check_csrf(settings, token, form.get("csrf"))
    with suppress(auth.LoginRequired):  # an expired session has nothing left to end
        claims = auth.session_claims(settings, token)
        async with request.app.state.database.writer.begin() as session:
            await identity.sign_out_staff(session, claims.subject_id, utcnow())
    response = RedirectResponse(f"{auth.PATH}/login", status_code=303)
    auth.end_session(response, settings)
    return response


# --- today -------------------------------------------------------------------


@router.get("/today", response_class=HTMLResponse)
async def today(
    request: Request, staff: ConsoleStaff, session: SessionDep, date: str | None = None
) -> HTMLResponse:
    day = parse_day(date, local_today())
    centers = await board.day_board(session, staff, day)
    return render(request, "today.html", staff, day=day, centers=centers, timedelta=timedelta)


@router.get("/today/board", response_class=HTMLResponse)
async def today_board(
    request: Request, staff: ConsoleStaff, session: SessionDep, date: str | None = None
) -> HTMLResponse:
    """The board alone, which the page fetches again every 30 seconds."""
    day = parse_day(date, local_today())
    centers = await board.day_board(session, staff, day)
    return render(request, "_board.html", staff, day=day, centers=centers)


# --- approvals and bookings ----------------------------------------------------------


@router.get("/approvals", response_class=HTMLResponse)
async def approvals(request: Request, staff: ConsoleStaff, session: SessionDep) -> HTMLResponse:
    filters = reservations.ReservationFilter(status=ReservationStatus.pending)
    rows, total = await reservations.list_reservations(
        session, staff, filters, limit=PAGE, offset=0
    )
    pending = sorted(rows, key=lambda row: (row.created_at, row.id))  # oldest request first
    who = await board.who_booked(session, (row.user_id for row in pending))
    in_series = await series.series_of(session, [row.id for row in pending])
    requests = board.group_by_series(pending, in_series)
    return render(request, "approvals.html", staff, requests=requests, total=total, who=who)


@router.get("/bookings", response_class=HTMLResponse)
async def bookings(
    request: Request,
    staff: ConsoleStaff,
    session: SessionDep,
    space_id: Annotated[int | None, Query(ge=1, le=MAX_ID)] = None,
    status: ReservationStatus | None = None,
    from_: Annotated[str | None, Query(alias="from")] = None,
    to: str | None = None,
    phone: Annotated[str, Query(max_length=11, pattern=r"^\d*$")] = "",
    organization: Annotated[str, Query(max_length=100)] = "",
    offset: Annotated[int, Query(ge=0, le=100_000)] = 0,
) -> HTMLResponse:
    first = parse_day(from_, local_today())
    last = parse_day(to, first + timedelta(days=6))
    filters = reservations.ReservationFilter(
        space_id=space_id,
        status=status,
        starts_from=local_midnight(first),
        starts_before=local_midnight(last + timedelta(days=1)),
        phone_tail=phone or None,
        organization_name=organization.strip() or None,
    )
    rows, total = await reservations.list_reservations(
        session, staff, filters, limit=PAGE, offset=offset
    )
    spaces = await board.spaces_in_scope(session, staff, active_only=False)
    who = await board.who_booked(session, (row.user_id for row in rows))
    return render(
        request,
        "bookings.html",
        staff,
        rows=rows,
        total=total,
        who=who,
        spaces=spaces,
        statuses=list(ReservationStatus),
        query={
            "space_id": space_id,
            "status": status.value if status else "",
            "from": first.isoformat(),
            "to": last.isoformat(),
            "phone": phone,
            "organization": organization,
        },
        offset=offset,
        page=PAGE,
    )


@router.get("/bookings/{reservation_id}", response_class=HTMLResponse)
async def booking(
    request: Request, reservation_id: ResourceId, staff: ConsoleStaff, session: SessionDep
) -> Response:
    try:
        found = await reservations.get_reservation(session, staff, reservation_id)
    except AppError as error:
        return back_to(f"{auth.PATH}/bookings", error=problem_text(error))
    history = await reservations.reservation_history(session, staff, reservation_id)
    who = await board.who_booked(session, [found.user_id])
    return render(
        request, "booking.html", staff, booking=found, history=history, who=who[found.user_id]
    )


def _booking_page(reservation_id: ResourceId) -> str:
    return f"{auth.PATH}/bookings/{reservation_id}"


@router.post("/bookings/{reservation_id}/approve")
async def approve(request: Request, reservation_id: ResourceId) -> Response:
    codes = request.app.state.codebook

    async def work(session: AsyncSession, staff: StaffPrincipal) -> str:
        await reservations.approve(session, codes, staff, reservation_id)
        return f"预约 #{reservation_id} 已批准"

    return await act(request, _back(request, reservation_id), work)


@router.post("/series/{series_id}/approve")
async def approve_series(request: Request, series_id: ResourceId) -> Response:
    codes = request.app.state.codebook

    async def work(session: AsyncSession, staff: StaffPrincipal) -> str:
        await series.decide(session, codes, staff, series_id, None)
        return f"重复预约 #{series_id} 已整体批准"

    return await act(request, APPROVALS, work)


@router.post("/series/{series_id}/reject")
async def reject_series(request: Request, series_id: ResourceId) -> Response:
    form = await request.form()
    codes = request.app.state.codebook

    async def work(session: AsyncSession, staff: StaffPrincipal) -> str:
        reason = RejectRequest(reason=form_text(form, "reason")).reason
        await series.decide(session, codes, staff, series_id, reason)
        return f"重复预约 #{series_id} 已整体驳回"

    return await act(request, APPROVALS, work)


@router.post("/bookings/{reservation_id}/reject")
async def reject(request: Request, reservation_id: ResourceId) -> Response:
    form = await request.form()

    async def work(session: AsyncSession, staff: StaffPrincipal) -> str:
        reason = RejectRequest(reason=form_text(form, "reason")).reason
        await reservations.reject(session, staff, reservation_id, reason)
        return f"预约 #{reservation_id} 已驳回"

    return await act(request, _back(request, reservation_id), work)


@router.post("/bookings/{reservation_id}/cancel")
async def cancel(request: Request, reservation_id: ResourceId) -> Response:
    form = await request.form()

    async def work(session: AsyncSession, staff: StaffPrincipal) -> str:
        reason = CancelRequest(reason=form_text(form, "reason") or None).reason
        await reservations.cancel(session, staff, reservation_id, reason)
        return f"预约 #{reservation_id} 已取消"

    return await act(request, _back(request, reservation_id), work)


@router.post("/bookings/{reservation_id}/check-in")
async def check_in(request: Request, reservation_id: ResourceId) -> Response:
    async def work(session: AsyncSession, staff: StaffPrincipal) -> str:
        await attendance.check_in(session, staff, reservation_id, None)
        return f"预约 #{reservation_id} 已签到"

    return await act(request, _back(request, reservation_id), work)


@router.post("/bookings/{reservation_id}/check-out")
async def check_out(request: Request, reservation_id: ResourceId) -> Response:
    async def work(session: AsyncSession, staff: StaffPrincipal) -> str:
        await attendance.check_out(session, staff, reservation_id)
        return f"预约 #{reservation_id} 已签退"

    return await act(request, _back(request, reservation_id), work)


def _back(request: Request, reservation_id: ResourceId) -> str:
    """Back where the form was (the approvals page, the board), else the booking."""
    came_from = request.query_params.get("back", "")
    return came_from if came_from.startswith(auth.PATH + "/") else _booking_page(reservation_id)
