"""The staff console: login, today's board, approvals and bookings.

Routers translate HTTP; the rules are the services' (the same calls the API
makes), and every change is audited there. Pages for doors, spaces and
reports are in ``manage.py``, for organizations in ``organizations.py``.
"""

from contextlib import suppress
from datetime import date, timedelta
from typing import Annotated, Any

from fastapi import APIRouter, Form, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from sqlalchemy.ext.asyncio import AsyncSession

from app.console import auth, board, programme
from app.console.auth import ConsoleStaff
from app.console.pages import (
    Notice,
    act,
    back_to,
    form_text,
    parse_day,
    problem_text,
    render,
    shanghai,
)
from app.core.clock import local_midnight, local_today, utcnow
from app.core.db import ReadSessionDep, SessionDep
from app.core.errors import AppError
from app.core.schemas import MAX_ID, ResourceId
from app.identity import devices
from app.identity import service as identity
from app.identity.dependencies import CipherDep, ClientAddress, LimiterDep
from app.identity.phones import PhoneSearch
from app.identity.principals import StaffPrincipal
from app.models import ReservationStatus
from app.reservations import attendance
from app.reservations import service as reservations
from app.reservations.schemas import CancelRequest, RejectRequest
from app.series import service as series

router = APIRouter(prefix=auth.PATH, include_in_schema=False)
PAGE = 50
APPROVALS = f"{auth.PATH}/approvals"
LOGIN_EXPIRED = "登录页面已过期或请求来源无效，请重新登录"
LOGIN = f"{auth.PATH}/login"


@router.get("")
async def home() -> RedirectResponse:
    return RedirectResponse(f"{auth.PATH}/today", status_code=303)


def _login_page(request: Request, status_code: int = 200, error: str = "") -> HTMLResponse:
    """The login form, with the CSRF token of this browser's pre-session nonce."""
    settings = request.app.state.settings
    nonce = auth.login_nonce(request)
    page = render(
        request,
        "login.html",
        None,
        status_code=status_code,
        csrf=auth.login_csrf(settings, nonce),
        **({"error": error} if error else {}),
    )
    auth.start_login(page, settings, nonce)
    return page


@router.get("/login", response_class=HTMLResponse)
async def login_page(request: Request) -> HTMLResponse:
    return _login_page(request)


@router.post("/login")
async def login(
    request: Request,
    session: ReadSessionDep,
    limiter: LimiterDep,
    address: ClientAddress,
    username: Annotated[str, Form(max_length=64)] = "",
    password: Annotated[str, Form(max_length=256)] = "",
    csrf: Annotated[str, Form(max_length=64)] = "",
) -> Response:
    """The API's password login, with its rate limits and device cookie, into a
    cookie session. Refused with 403 before anything is checked without the
    login form's CSRF token (the page is shown again, with a fresh one)."""
    settings = request.app.state.settings
    try:
        auth.check_login_csrf(settings, request, csrf)
    except auth.CsrfRejected:
        return _login_page(request, 403, LOGIN_EXPIRED)
    name = username.strip().lower()
    device_cookie = request.cookies.get(devices.COOKIE)
    try:
        signed_in = await identity.login_staff(
            session,
            settings,
            limiter,
            name,
            password,
            address=address,
            device_tokens=devices.tokens_in(device_cookie),
        )
    except AppError as error:
        return _login_page(request, error.status, problem_text(error))
    response = RedirectResponse(f"{auth.PATH}/today", status_code=303)
    auth.start_session(response, settings, signed_in.access)
    devices.remember(
        response,
        settings,
        signed_in.device,
        path=LOGIN,
        staff_id=signed_in.staff_id,
        cookie=device_cookie,
    )
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
    return render(
        request, "today.html", staff, timedelta=timedelta, **await _board(session, staff, day)
    )


@router.get("/today/sheet", response_class=HTMLResponse)
async def today_sheet(
    request: Request, staff: ConsoleStaff, session: SessionDep, date: str | None = None
) -> HTMLResponse:
    """The day on paper: each space's bookings and the day's activities, to print."""
    day = parse_day(date, local_today())
    return render(request, "day_sheet.html", staff, **await _board(session, staff, day))


@router.get("/today/board", response_class=HTMLResponse)
async def today_board(
    request: Request, staff: ConsoleStaff, session: SessionDep, date: str | None = None
) -> HTMLResponse:
    """The board alone, which the page fetches again every 30 seconds."""
    day = parse_day(date, local_today())
    return render(request, "_board.html", staff, **await _board(session, staff, day))


async def _board(session: AsyncSession, staff: StaffPrincipal, day: date) -> dict[str, Any]:
    """The day's spaces, and each center's activities of the day's week."""
    centers = await board.day_board(session, staff, day)
    week = await programme.week_by_center(session, staff, day)
    on_the_board = {center.id for center in centers}
    that_day = {key: [row for row in rows if row.start.date() == day] for key, rows in week.items()}
    return {
        "day": day,
        "centers": centers,
        "week": week,
        "week_days": programme.week_of(day),
        # Centers with activities this week but no open space to put on the board.
        "week_elsewhere": [rows for key, rows in week.items() if key not in on_the_board],
        "activity_labels": programme.STATUS_LABELS,
        "day_activities": that_day,
        "now_at": board.now_on_timeline(day),
        "now_clock": shanghai(utcnow(), "%H:%M"),
        "hour_labels": board.HOUR_LABELS,
        "legend": board.LEGEND,
    }


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
    cipher: CipherDep,
    space_id: Annotated[int | None, Query(ge=1, le=MAX_ID)] = None,
    status: ReservationStatus | None = None,
    from_: Annotated[str | None, Query(alias="from")] = None,
    to: str | None = None,
    # The last four digits of the booker's phone, or the whole number.
    phone: Annotated[str, Query(max_length=11, pattern=r"^(\d{4}|\d{11})?$")] = "",
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
        phone=PhoneSearch.of(cipher, phone) if phone else None,
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
        return back_to(f"{auth.PATH}/bookings", error=error.code)
    history = await reservations.reservation_history(session, staff, reservation_id)
    who = await board.who_booked(session, [found.user_id])
    return render(
        request, "booking.html", staff, booking=found, history=history, who=who[found.user_id]
    )


def _booking_page(reservation_id: ResourceId) -> str:
    return f"{auth.PATH}/bookings/{reservation_id}"


@router.post("/bookings/{reservation_id}/approve")
async def approve(request: Request, reservation_id: ResourceId) -> Response:
    codes, guard = request.app.state.codebook, request.app.state.database.guard

    async def work(session: AsyncSession, staff: StaffPrincipal) -> Notice:
        await reservations.approve(session, codes, guard, staff, reservation_id)
        return Notice("approved", reservation_id)

    return await act(request, _back(request, reservation_id), work)


@router.post("/series/{series_id}/approve")
async def approve_series(request: Request, series_id: ResourceId) -> Response:
    codes, guard = request.app.state.codebook, request.app.state.database.guard

    async def work(session: AsyncSession, staff: StaffPrincipal) -> Notice:
        await series.decide(session, codes, guard, staff, series_id, None)
        return Notice("series_approved", series_id)

    return await act(request, APPROVALS, work)


@router.post("/series/{series_id}/reject")
async def reject_series(request: Request, series_id: ResourceId) -> Response:
    form = await request.form()
    codes, guard = request.app.state.codebook, request.app.state.database.guard

    async def work(session: AsyncSession, staff: StaffPrincipal) -> Notice:
        reason = RejectRequest(reason=form_text(form, "reason")).reason
        await series.decide(session, codes, guard, staff, series_id, reason)
        return Notice("series_rejected", series_id)

    return await act(request, APPROVALS, work)


@router.post("/bookings/{reservation_id}/reject")
async def reject(request: Request, reservation_id: ResourceId) -> Response:
    form = await request.form()

    async def work(session: AsyncSession, staff: StaffPrincipal) -> Notice:
        reason = RejectRequest(reason=form_text(form, "reason")).reason
        await reservations.reject(session, staff, reservation_id, reason)
        return Notice("rejected", reservation_id)

    return await act(request, _back(request, reservation_id), work)


@router.post("/bookings/{reservation_id}/cancel")
async def cancel(request: Request, reservation_id: ResourceId) -> Response:
    form = await request.form()

    async def work(session: AsyncSession, staff: StaffPrincipal) -> Notice:
        reason = CancelRequest(reason=form_text(form, "reason") or None).reason
        await reservations.cancel(session, staff, reservation_id, reason)
        return Notice("cancelled", reservation_id)

    return await act(request, _back(request, reservation_id), work)


@router.post("/bookings/{reservation_id}/check-in")
async def check_in(request: Request, reservation_id: ResourceId) -> Response:
    async def work(session: AsyncSession, staff: StaffPrincipal) -> Notice:
        await attendance.check_in(session, staff, reservation_id, None)
        return Notice("checked_in", reservation_id)

    return await act(request, _back(request, reservation_id), work)


@router.post("/bookings/{reservation_id}/check-out")
async def check_out(request: Request, reservation_id: ResourceId) -> Response:
    async def work(session: AsyncSession, staff: StaffPrincipal) -> Notice:
        await attendance.check_out(session, staff, reservation_id)
        return Notice("checked_out", reservation_id)

    return await act(request, _back(request, reservation_id), work)


@router.post("/bookings/{reservation_id}/reissue-code")
async def reissue_code(request: Request, reservation_id: ResourceId) -> Response:
    """A new door code for the booking (a copy of the old one got out): the old
    one stops opening the door, and the booker is told to look again."""
    codes = request.app.state.codebook

    async def work(session: AsyncSession, staff: StaffPrincipal) -> Notice:
        await reservations.reissue_code(session, codes, staff, reservation_id)
        return Notice("code_reissued", reservation_id)

    return await act(request, _booking_page(reservation_id), work)


def _back(request: Request, reservation_id: ResourceId) -> str:
    """Back where the form was (the approvals page, the board), else the booking."""
    came_from = request.query_params.get("back", "")
    return came_from if came_from.startswith(auth.PATH + "/") else _booking_page(reservation_id)
