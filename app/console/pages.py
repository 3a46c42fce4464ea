"""Rendering console pages and running console actions.

An action runs in its own write transaction, as an API request does: the
service raises, the transaction rolls back, and the browser is sent back with
the problem's text; or it commits and the browser is sent back with a notice.
"""

from collections.abc import Awaitable, Callable
from datetime import date, datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlencode, urlsplit

from fastapi import Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.templating import Jinja2Templates
from pydantic import ValidationError
from sqlalchemy.ext.asyncio import AsyncSession

from app.console import auth
from app.core.clock import SHANGHAI
from app.core.db import Database
from app.core.errors import AppError, Text
from app.identity.principals import StaffPrincipal
from app.models import ReservationStatus

HERE = Path(__file__).parent
templates = Jinja2Templates(directory=HERE / "templates")

STATUS_NAMES = {
    ReservationStatus.pending: "待审批",
    ReservationStatus.confirmed: "已确认",
    ReservationStatus.checked_in: "已签到",
    ReservationStatus.completed: "已完成",
    ReservationStatus.rejected: "已驳回",
    ReservationStatus.cancelled: "已取消",
    ReservationStatus.no_show: "爽约",
    ReservationStatus.expired: "已过期",
    ReservationStatus.held: "候补保留",
}
WEEKDAYS = "一二三四五六日"


class InvalidForm(AppError):
    status = 422
    code = "invalid_form"
    title = Text("输入有误", "Invalid form")


def shanghai(value: datetime | None, pattern: str = "%Y-%m-%d %H:%M") -> str:
    return value.astimezone(SHANGHAI).strftime(pattern) if value else ""


templates.env.filters["shanghai"] = shanghai
templates.env.globals["STATUS_NAMES"] = STATUS_NAMES
templates.env.globals["WEEKDAYS"] = WEEKDAYS


def render(
    request: Request,
    name: str,
    staff: StaffPrincipal | None,
    status_code: int = 200,
    **context: Any,
) -> HTMLResponse:
    settings = request.app.state.settings
    token = auth.session_token(request)
    return templates.TemplateResponse(
        request,
        name,
        {
            "staff": staff,
            "csrf": auth.csrf_token(settings, token) if token and staff else "",
            "notice": request.query_params.get("notice", "")[:200],
            "error": request.query_params.get("error", "")[:300],
            **context,
        },
        status_code=status_code,
    )


def back_to(path: str, **message: str) -> RedirectResponse:
    """303 to a console page (only ever one of ours) with a notice or an error."""
    target = urlsplit(path)
    if not target.path.startswith(auth.PATH) or target.netloc or target.scheme:
        target = urlsplit(auth.PATH + "/today")
    query = "&".join(part for part in (target.query, urlencode(message)) if part)
    return RedirectResponse(f"{target.path}?{query}" if query else target.path, status_code=303)


def problem_text(error: AppError) -> str:
    title = error.title.render("zh")
    if error.detail_text is None:
        return title
    return f"{title}：{error.detail_text.render('zh', error.params)}"


def invalid_text(error: ValidationError) -> str:
    fields = ", ".join(str(item["loc"][-1]) for item in error.errors() if item["loc"])
    return f"输入有误：{fields}" if fields else "输入有误"


Work = Callable[[AsyncSession, StaffPrincipal], Awaitable[str]]


async def act(request: Request, back: str, work: Work) -> Response:
    """Check the session and its CSRF token, run ``work`` in one transaction, and
    send the browser back to ``back`` with what ``work`` said, or what went wrong."""
    settings = request.app.state.settings
    database: Database = request.app.state.database
    token = auth.session_token(request)
    form = await request.form()
    auth.check_csrf(settings, token, form.get("csrf"))
    try:
        async with database.writer.begin() as session:
            staff = await auth.load(session, settings, token)
            notice = await work(session, staff)
    except AppError as error:
        return back_to(back, error=problem_text(error))
    except ValidationError as error:
        return back_to(back, error=invalid_text(error))
    return back_to(back, notice=notice)


def form_text(form: Any, name: str) -> str:
    value = form.get(name)
    return value.strip() if isinstance(value, str) else ""


def parse_day(value: str | None, default: date) -> date:
    if not value:
        return default
    try:
        return date.fromisoformat(value)
    except ValueError:
        return default
