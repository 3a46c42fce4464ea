"""The console's centers, created and edited, and new spaces (a space's own
settings are edited on its page, ``manage.py``). The API's schemas check
the forms and its services the rules and scope (app/centers/service.py,
app/spaces/service.py)."""

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response
from sqlalchemy.ext.asyncio import AsyncSession

from app.centers import service as centers
from app.centers.schemas import CenterCreate, CenterUpdate
from app.console import auth, programme
from app.console.auth import ConsoleStaff
from app.console.manage import parse_hours
from app.console.pages import Notice, act, back_to, form_text, render
from app.core.db import SessionDep
from app.core.errors import AppError
from app.core.schemas import ResourceId
from app.identity.principals import StaffPrincipal
from app.models import BookingMode, CenterKind, SpaceKind
from app.spaces import service as spaces
from app.spaces.schemas import SpaceCreate

router = APIRouter(prefix=auth.PATH, include_in_schema=False)
CENTERS = f"{auth.PATH}/centers"
CENTER_KINDS = {kind: kind.label for kind in CenterKind}
SPACE_KINDS = {kind: kind.label for kind in SpaceKind}
CENTER_TEXTS = ("name", "kind", "district", "street", "address", "phone", "description")
CENTER_NUMBERS = ("parent_id",)
COORDINATES = ("lat", "lng")


def _number(value: str) -> int | str:
    """A whole number as the API's strict schema takes it; anything else as
    typed, for the schema to refuse."""
    return int(value) if value.isdigit() else value


def _coordinate(value: str) -> float | str:
    try:
        return float(value)
    except ValueError:
        return value


def _center_form(form: Any) -> dict[str, object]:
    """The center form's fields; an empty optional one is left out (as unset)."""
    values: dict[str, object] = {name: form_text(form, name) for name in CENTER_TEXTS}
    values.update({name: _coordinate(form_text(form, name)) for name in COORDINATES})
    values.update({name: _number(form_text(form, name)) for name in CENTER_NUMBERS})
    return {name: value for name, value in values.items() if value != ""}


@router.get("/centers", response_class=HTMLResponse)
async def center_list(request: Request, staff: ConsoleStaff, session: SessionDep) -> HTMLResponse:
    return render(
        request,
        "centers.html",
        staff,
        centers=await programme.centers_in_scope(session, staff),
        kinds=CENTER_KINDS,
    )


@router.post("/centers")
async def create_center(request: Request) -> Response:
    form = await request.form()

    async def work(session: AsyncSession, staff: StaffPrincipal) -> Notice:
        center = await centers.create_center(
            session, staff, CenterCreate.model_validate(_center_form(form))
        )
        return Notice("center_created", center.id)

    return await act(request, CENTERS, work)


@router.get("/centers/{center_id}", response_class=HTMLResponse)
async def center_page(
    request: Request, center_id: ResourceId, staff: ConsoleStaff, session: SessionDep
) -> Response:
    try:
        center = await centers.get_center_in_scope(session, staff, center_id)
    except AppError as error:
        return back_to(CENTERS, error=error.code)
    return render(
        request,
        "center.html",
        staff,
        center=center,
        kinds=CENTER_KINDS,
        others=[c for c in await programme.centers_in_scope(session, staff) if c.id != center.id],
    )


@router.post("/centers/{center_id}")
async def update_center(request: Request, center_id: ResourceId) -> Response:
    form = await request.form()

    async def work(session: AsyncSession, staff: StaffPrincipal) -> Notice:
        changes = _center_form(form)
        # Emptied on the form: no phone, no parent.
        changes.update({name: None for name in ("phone", "parent_id") if name not in changes})
        await centers.update_center(session, staff, center_id, CenterUpdate(**changes))
        return Notice("center_saved", center_id)

    return await act(request, f"{CENTERS}/{center_id}", work)


# --- new spaces ------------------------------------------------------------------


SPACE_FLAGS = ("open_24h", "requires_approval", "requires_real_name", "requires_check_in")


@router.get("/spaces/new", response_class=HTMLResponse)
async def new_space(request: Request, staff: ConsoleStaff, session: SessionDep) -> HTMLResponse:
    return render(
        request,
        "space_new.html",
        staff,
        centers=await programme.centers_in_scope(session, staff),
        kinds=SPACE_KINDS,
        modes=list(BookingMode),
    )


@router.post("/spaces/new")
async def create_space(request: Request) -> Response:
    form = await request.form()
    created: list[int] = []

    async def work(session: AsyncSession, staff: StaffPrincipal) -> Notice:
        values: dict[str, object] = {
            "center_id": _number(form_text(form, "center_id")),
            "name": form_text(form, "name"),
            "kind": form_text(form, "kind"),
            "booking_mode": form_text(form, "booking_mode"),
            "capacity": _number(form_text(form, "capacity")),
            **{flag: form.get(flag) == "on" for flag in SPACE_FLAGS},
        }
        if not values["open_24h"]:
            values["opening_hours"] = parse_hours(form_text(form, "opening_hours"))
        space = await spaces.create_space(session, staff, SpaceCreate.model_validate(values))
        created.append(space.id)
        return Notice("space_created")

    answer = await act(request, f"{auth.PATH}/spaces/new", work)
    if created:  # on to the new space's page, its settings, closures and quotas
        return back_to(f"{auth.PATH}/spaces/{created[0]}", notice=Notice("space_created"))
    return answer
