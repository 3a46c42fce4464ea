"""The console's residents: an account looked up by its number (masked: the
name, ID number and phone as the API shows them), its real name verified at
the counter or moved to its true holder, deactivated and activated with a
reason; and the violations at one's centers with their appeals, pardoned or
upheld with a reason. The rules and scope are the services' the API calls
(app/accounts/service.py, app/standing/service.py)."""

from typing import Annotated

from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse, Response
from sqlalchemy.ext.asyncio import AsyncSession

from app.accounts import service as accounts
from app.accounts.schemas import CounterVerification, Rebind, StatusChange
from app.console import auth, programme
from app.console.auth import ConsoleStaff
from app.console.pages import Notice, act, back_to, form_text, render
from app.core.clock import utcnow
from app.core.db import SessionDep
from app.core.errors import AppError, OutOfScope
from app.core.schemas import MAX_ID, ResourceId
from app.identity import service as identity
from app.identity.principals import StaffPrincipal
from app.models import Reservation, ReservationStatus, User, ViolationStatus
from app.reservations import service as reservations
from app.standing import service as standing
from app.standing.schemas import DecisionRequest

router = APIRouter(prefix=auth.PATH, include_in_schema=False)
RESIDENTS = f"{auth.PATH}/residents"
VIOLATIONS = f"{auth.PATH}/violations"
PAGE = 50
VIOLATION_NAMES = {
    ViolationStatus.active: "生效中",
    ViolationStatus.appealed: "申诉待处理",
    ViolationStatus.pardoned: "已撤销",
    ViolationStatus.upheld: "申诉驳回",
}


def _resident_page(user_id: int) -> str:
    return f"{RESIDENTS}/{user_id}"


@router.get("/residents", response_class=HTMLResponse)
async def resident_lookup(
    staff: ConsoleStaff,
    user_id: Annotated[int | None, Query(ge=1, le=MAX_ID)] = None,
) -> Response:
    """The lookup form's answer: the resident's page (the form is on the violations page)."""
    if user_id is None:
        return back_to(VIOLATIONS)
    return back_to(_resident_page(user_id))


@router.get("/residents/{user_id}", response_class=HTMLResponse)
async def resident(
    request: Request,
    user_id: ResourceId,
    staff: ConsoleStaff,
    session: SessionDep,
    previous: Annotated[int | None, Query(ge=1, le=MAX_ID)] = None,
) -> Response:
    try:
        user: User | None = await accounts.get_user(session, staff, user_id)
    except OutOfScope:
        # Residents belong to no center: a center's staff see no account, but
        # verify a card at their counter, with the bookings and violations there.
        user = None
    except AppError as error:
        return back_to(VIOLATIONS, error=error.code)
    violations, _ = await standing.list_violations(
        session, staff, status=None, user_id=user_id, limit=PAGE, offset=0
    )
    bookings, _ = await reservations.list_reservations(
        session, staff, reservations.ReservationFilter(user_id=user_id), limit=PAGE, offset=0
    )
    # After a re-binding: the account that held the number, and its bookings
    # the re-binding cancelled.
    squatter = previous and await _squatter_bookings(session, staff, previous)
    return render(
        request,
        "resident.html",
        staff,
        user=user,
        user_id=user_id,
        violations=violations,
        violation_names=VIOLATION_NAMES,
        counters=await programme.centers_in_scope(session, staff),
        bookings=bookings,
        previous=previous,
        squatter_bookings=squatter or [],
    )


async def _squatter_bookings(
    session: AsyncSession, staff: StaffPrincipal, user_id: int
) -> list[Reservation]:
    filters = reservations.ReservationFilter(user_id=user_id, status=ReservationStatus.cancelled)
    rows, _ = await reservations.list_reservations(session, staff, filters, limit=PAGE, offset=0)
    return [row for row in rows if row.status_reason == accounts.REAL_NAME_MOVED]


def _counter_form(form: object) -> dict[str, object]:
    center = form_text(form, "center_id")
    return {
        "name": form_text(form, "name"),
        "id_number": form_text(form, "id_number").upper(),
        "center_id": int(center) if center.isdigit() else center,
    }


@router.post("/residents/{user_id}/verify")
async def verify_at_counter(request: Request, user_id: ResourceId) -> Response:
    form = await request.form()
    cipher = request.app.state.pii_cipher

    async def work(session: AsyncSession, staff: StaffPrincipal) -> Notice:
        card = CounterVerification.model_validate(_counter_form(form))
        await accounts.verify_at_counter(
            session,
            cipher,
            staff,
            user_id,
            name=card.name,
            id_number=card.id_number,
            center_id=card.center_id,
        )
        return Notice("real_name_verified", user_id)

    return await act(request, _resident_page(user_id), work)


@router.post("/residents/{user_id}/rebind")
async def rebind(request: Request, user_id: ResourceId) -> Response:
    form = await request.form()
    cipher = request.app.state.pii_cipher

    held_by: list[int] = []

    async def work(session: AsyncSession, staff: StaffPrincipal) -> Notice:
        body = Rebind.model_validate(
            {**_counter_form(form), "user_id": user_id, "reason": form_text(form, "reason")}
        )
        number = identity.parse_id_number(body.id_number).value
        holder = await identity.holder_of(
            session, cipher.blind_index(identity.ID_NUMBER_PURPOSE, number)
        )
        await accounts.rebind(
            session,
            cipher,
            staff,
            body.user_id,
            name=body.name,
            id_number=body.id_number,
            center_id=body.center_id,
            reason=body.reason,
        )
        if holder is not None and holder != user_id:
            held_by.append(holder)
        return Notice("real_name_rebound", user_id)

    answer = await act(request, _resident_page(user_id), work)
    if held_by:  # the page then shows what the re-binding cancelled
        answer.headers["location"] += f"&previous={held_by[0]}"
    return answer


@router.post("/residents/{user_id}/deactivate")
async def deactivate(request: Request, user_id: ResourceId) -> Response:
    form = await request.form()

    async def work(session: AsyncSession, staff: StaffPrincipal) -> Notice:
        reason = StatusChange(reason=form_text(form, "reason")).reason
        await accounts.deactivate(session, staff, user_id, reason)
        return Notice("resident_deactivated", user_id)

    return await act(request, _resident_page(user_id), work)


@router.post("/residents/{user_id}/activate")
async def activate(request: Request, user_id: ResourceId) -> Response:
    form = await request.form()

    async def work(session: AsyncSession, staff: StaffPrincipal) -> Notice:
        reason = StatusChange(reason=form_text(form, "reason")).reason
        await accounts.activate(session, staff, user_id, reason)
        return Notice("resident_activated", user_id)

    return await act(request, _resident_page(user_id), work)


# --- violations and appeals ------------------------------------------------------------


@router.get("/violations", response_class=HTMLResponse)
async def violations(
    request: Request,
    staff: ConsoleStaff,
    session: SessionDep,
    status: ViolationStatus | None = ViolationStatus.appealed,
    offset: Annotated[int, Query(ge=0, le=100_000)] = 0,
) -> HTMLResponse:
    """The appeals to decide first; every status by choice."""
    rows, total = await standing.list_violations(
        session, staff, status=status, user_id=None, limit=PAGE, offset=offset
    )
    return render(
        request,
        "violations.html",
        staff,
        rows=rows,
        total=total,
        status=status,
        statuses=list(ViolationStatus),
        violation_names=VIOLATION_NAMES,
        offset=offset,
        page=PAGE,
    )


def _decision_reason(form: object) -> str:
    return DecisionRequest(reason=form_text(form, "reason")).reason


def _back(request: Request) -> str:
    came_from = request.query_params.get("back", "")
    return came_from if came_from.startswith(auth.PATH + "/") else VIOLATIONS


@router.post("/violations/{violation_id}/pardon")
async def pardon(request: Request, violation_id: ResourceId) -> Response:
    form = await request.form()
    settings = request.app.state.settings

    async def work(session: AsyncSession, staff: StaffPrincipal) -> Notice:
        reason = _decision_reason(form)
        await standing.pardon(session, settings, staff, violation_id, reason, utcnow())
        return Notice("violation_pardoned", violation_id)

    return await act(request, _back(request), work)


@router.post("/violations/{violation_id}/uphold")
async def uphold(request: Request, violation_id: ResourceId) -> Response:
    form = await request.form()

    async def work(session: AsyncSession, staff: StaffPrincipal) -> Notice:
        await standing.uphold(session, staff, violation_id, _decision_reason(form), utcnow())
        return Notice("violation_upheld", violation_id)

    return await act(request, _back(request), work)
