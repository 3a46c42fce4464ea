"""Booking for someone at the counter or on the phone: a resident by their
number, or one without the app by name and phone. The API's schema checks
the form and its booking path decides (app/admin/bookings.py): every rule
holds for the booker unless waived, with a reason, for this one booking."""

import json
from datetime import datetime, time

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response
from pydantic import ValidationError
from starlette.datastructures import FormData

from app.admin import bookings
from app.console import auth, board
from app.console.auth import ConsoleStaff
from app.console.pages import InvalidForm, Notice, back_to, form_text, render
from app.core.clock import SHANGHAI, local_today
from app.core.db import SessionDep
from app.core.errors import AppError

router = APIRouter(prefix=auth.PATH, include_in_schema=False)
BOOK = f"{auth.PATH}/book"
OVERRIDES = ("quota", "booking_window")


@router.get("/book", response_class=HTMLResponse)
async def book_page(request: Request, staff: ConsoleStaff, session: SessionDep) -> HTMLResponse:
    return render(
        request,
        "book.html",
        staff,
        spaces=await board.spaces_in_scope(session, staff),
        today=local_today(),
    )


def _instant(form: FormData, day: str, clock: str) -> str:
    """A Shanghai date and time from the form, as the schema's ISO instant."""
    try:
        moment = datetime.combine(
            datetime.fromisoformat(form_text(form, day)).date(),
            time.fromisoformat(form_text(form, clock)),
            tzinfo=SHANGHAI,
        )
    except ValueError:
        raise InvalidForm() from None
    return moment.isoformat()


def _body(form: FormData) -> bookings.StaffBookingCreate:
    user = form_text(form, "user_id")
    who: dict[str, object] = (
        {"user_id": int(user) if user.isdigit() else user}
        if user
        else {"name": form_text(form, "name"), "phone": form_text(form, "phone")}
    )
    space, attendees = form_text(form, "space_id"), form_text(form, "attendees") or "1"
    return bookings.StaffBookingCreate.model_validate(
        {
            "space_id": int(space) if space.isdigit() else space,
            "start": _instant(form, "day", "start"),
            "end": _instant(form, "day", "end"),
            "on_behalf_of": who,
            "purpose": form_text(form, "purpose"),
            "attendees": int(attendees) if attendees.isdigit() else attendees,
            "override": [name for name in form.getlist("override") if name in OVERRIDES],
            "reason": form_text(form, "reason") or None,
        }
    )


@router.post("/book")
async def book_for(request: Request) -> Response:
    """Its own transactions, as the API's (the booking store takes the writer):
    the session is read first, then the booking is made."""
    settings = request.app.state.settings
    database = request.app.state.database
    token = auth.session_token(request)
    form = await request.form()
    auth.check_csrf(settings, token, form.get("csrf"))
    async with database.reader.begin() as session:
        staff = await auth.load(session, settings, token)
    try:
        answer = await bookings.book_for(
            database, request.app.state.bookings, request.app.state.pii_cipher, staff, _body(form)
        )
    except AppError as error:
        return back_to(BOOK, error=error.code)
    except ValidationError:
        return back_to(BOOK, error=InvalidForm.code)
    booked = int(json.loads(answer.body)["id"])
    return back_to(f"{auth.PATH}/bookings/{booked}", notice=Notice("booked_for", booked))
