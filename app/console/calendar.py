"""The console's holiday calendar: a day as the official schedule has it, the
overrides of it one may see, and setting or clearing one for a center, a
district or (super admins) everywhere. The rules, scope and the settling of
affected bookings are the API's (app/holidays/service.py,
app/reservations/changes.py)."""

from datetime import date, timedelta

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response
from sqlalchemy.ext.asyncio import AsyncSession

from app.admin.schemas import DayChange
from app.console import auth, programme
from app.console.auth import ConsoleStaff
from app.console.manage import AFFECTED_CHOICES
from app.console.pages import InvalidForm, Notice, act, form_text, parse_day, render
from app.core.clock import local_today
from app.core.db import SessionDep
from app.holidays import service as holidays
from app.holidays.days import DayType, official
from app.identity.principals import StaffPrincipal
from app.models import DayKind
from app.reservations import changes

router = APIRouter(prefix=auth.PATH, include_in_schema=False)
CALENDAR = f"{auth.PATH}/calendar"
KIND_NAMES = {DayKind.holiday: "休息日", DayKind.workday: "工作日"}
TYPE_NAMES = {
    DayType.weekday: "工作日",
    DayType.weekend: "周末",
    DayType.holiday: "休息日",
    DayType.workday: "调休上班",
}


def _month(day: date) -> tuple[date, date]:
    first = day.replace(day=1)
    return first, (first.replace(day=28) + timedelta(days=4)).replace(day=1) - timedelta(days=1)


@router.get("/calendar", response_class=HTMLResponse)
async def calendar(
    request: Request, staff: ConsoleStaff, session: SessionDep, day: str | None = None
) -> HTMLResponse:
    chosen = parse_day(day, local_today())
    first, last = _month(chosen)
    month = await holidays.days_between(session, first, last)
    centers = await programme.centers_in_scope(session, staff)
    return render(
        request,
        "calendar.html",
        staff,
        day=chosen,
        official=official(chosen),
        overrides=await holidays.set_days_of(session, staff, chosen),
        special=[info for info in month if info.type in (DayType.holiday, DayType.workday)],
        centers=centers,
        districts=sorted({center.district for center in centers}),
        kind_names=KIND_NAMES,
        type_names=TYPE_NAMES,
        timedelta=timedelta,
    )


def _back(day: str) -> str:
    return f"{CALENDAR}?day={parse_day(day, local_today()).isoformat()}"


def _day(value: str) -> date:
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise InvalidForm() from None


def _scope(form: object) -> dict[str, object]:
    """The form's one scope: ``center:<id>``, ``district:<name>`` or everywhere."""
    kind, _, value = form_text(form, "scope").partition(":")
    if kind == "center":
        return {"center_id": int(value) if value.isdigit() else value}
    if kind == "district":
        return {"district": value}
    return {}


@router.post("/calendar/{day}")
async def set_day(request: Request, day: str) -> Response:
    form = await request.form()

    async def work(session: AsyncSession, staff: StaffPrincipal) -> Notice:
        body = DayChange.model_validate(
            {
                "kind": form_text(form, "kind"),
                "name": form_text(form, "name"),
                "affected": AFFECTED_CHOICES.get(form_text(form, "affected")),
                **_scope(form),
            }
        )
        await changes.set_day(
            session,
            staff,
            _day(day),
            body.kind,
            body.name,
            district=body.district,
            center_id=body.center_id,
            action=body.affected,
        )
        return Notice("day_set")

    return await act(request, _back(day), work)


@router.post("/calendar/{day}/clear")
async def clear_day(request: Request, day: str) -> Response:
    form = await request.form()

    async def work(session: AsyncSession, staff: StaffPrincipal) -> Notice:
        scope = _scope(form)
        center_id = scope.get("center_id")
        district = scope.get("district")
        await holidays.clear_day(
            session,
            staff,
            _day(day),
            district=district if isinstance(district, str) else None,
            center_id=center_id if isinstance(center_id, int) else None,
        )
        return Notice("day_cleared")

    return await act(request, _back(day), work)
