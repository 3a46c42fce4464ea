"""The console's pages for the centers' programme: the activities of the staff
member's centers, creating one, publishing and cancelling it, its sign-ups,
checking people in at the door and counting walk-ins, and the activities
report's download.

Creating goes through ``app/activities/service.create``, which holds the venue
through the booking store in transactions of its own, so it runs outside
``pages.act``; every other action is one ``act`` transaction.
"""

from datetime import date, datetime, timedelta
from typing import Annotated, Any

import httpx
from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse, Response
from pydantic import ValidationError
from sqlalchemy.ext.asyncio import AsyncSession

from app.activities import attendance
from app.activities import service as activities
from app.activities.categories import AUDIENCE_LABELS, CATEGORY_LABELS
from app.activities.schemas import ActivityCancel, ActivityCreate
from app.activities.signup_schemas import MAX_WALK_INS, WalkIns
from app.console import auth, board, programme
from app.console.auth import ConsoleStaff
from app.console.pages import (
    InvalidForm,
    Notice,
    act,
    back_to,
    error_message,
    form_text,
    render,
)
from app.core.clock import SHANGHAI, local_today, utcnow
from app.core.db import Database, SessionDep
from app.core.errors import AppError
from app.core.schemas import ResourceId
from app.identity.principals import StaffPrincipal
from app.models import ActivityStatus

router = APIRouter(prefix=auth.PATH, include_in_schema=False)
LIST = f"{auth.PATH}/activities"
# The activities report is the API's; the console fetches it with the
# session's own staff token, as the API would be called (and scoped).
REPORT = "/api/v1/admin/reports/activities"
REPORT_DEFAULT_DAYS = 30
REPORT_FORMATS = frozenset({"xlsx", "csv"})
FIELDS = (
    "title",
    "description",
    "category",
    "center_id",
    "space_id",
    "place_text",
    "start",
    "end",
    "capacity",
    "audience",
    "signup_opens_at",
    "signup_closes_at",
)
FIELD_LABELS = {
    "title": "标题",
    "description": "介绍",
    "category": "类别",
    "center_id": "中心",
    "space_id": "场地",
    "place_text": "地点",
    "start": "开始时间",
    "end": "结束时间",
    "capacity": "名额",
    "audience": "面向",
    "signup_opens_at": "报名开始",
    "signup_closes_at": "报名截止",
}
TIMES = ("start", "end", "signup_opens_at", "signup_closes_at")
INCOHERENT = "请检查时间：结束须晚于开始；报名截止须晚于报名开始，且不晚于活动结束"


def _page(activity_id: int) -> str:
    return f"{LIST}/{activity_id}"


# --- the list ----------------------------------------------------------------------------


@router.get("/activities", response_class=HTMLResponse)
async def activity_list(request: Request, staff: ConsoleStaff, session: SessionDep) -> HTMLResponse:
    upcoming, recent = await programme.upcoming_and_recent(session, staff, utcnow())
    return render(
        request,
        "activities.html",
        staff,
        upcoming=upcoming,
        recent=recent,
        status_labels=programme.STATUS_LABELS,
    )


@router.get("/activities/report")
async def activity_report(
    request: Request,
    format: Annotated[str, Query(max_length=4)] = "xlsx",
    from_: Annotated[date | None, Query(alias="from")] = None,
    to: date | None = None,
) -> Response:
    """The API's activities report, fetched with this session's staff token."""
    settings = request.app.state.settings
    token = auth.session_token(request)
    async with request.app.state.database.reader.begin() as session:
        await auth.load(session, settings, token)  # a signed-out session goes to the login
    # Without days asked: the last 30 days, today included.
    last = to or local_today()
    first = from_ or last - timedelta(days=REPORT_DEFAULT_DAYS - 1)
    params = {
        "format": format if format in REPORT_FORMATS else "xlsx",
        "from": first.isoformat(),
        "to": last.isoformat(),
    }
    transport = httpx.ASGITransport(app=request.app)
    async with httpx.AsyncClient(transport=transport, base_url="http://console") as client:
        answer = await client.get(
            REPORT, params=params, headers={"Authorization": f"Bearer {token}"}
        )
    if answer.status_code != 200:
        code = _problem_code(answer)
        return back_to(LIST, error=code)
    headers = {
        name: answer.headers[name] for name in ("content-disposition",) if name in answer.headers
    }
    return Response(answer.content, media_type=answer.headers.get("content-type"), headers=headers)


def _problem_code(answer: httpx.Response) -> str:
    try:
        code = answer.json().get("code")
    except ValueError:
        code = None
    return code if isinstance(code, str) else "not_found"


# --- creating ----------------------------------------------------------------------------


async def _choices(session: AsyncSession, staff: StaffPrincipal) -> dict[str, Any]:
    return {
        "centers": await programme.centers_in_scope(session, staff),
        "spaces": await board.spaces_in_scope(session, staff),
        "categories": CATEGORY_LABELS,
        "audiences": AUDIENCE_LABELS,
    }


@router.get("/activities/new", response_class=HTMLResponse)
async def new_activity(request: Request, staff: ConsoleStaff, session: SessionDep) -> HTMLResponse:
    choices = await _choices(session, staff)
    return render(request, "activity_new.html", staff, values={}, **choices)


def _local(value: str) -> datetime:
    """An ``<input type=datetime-local>`` value, in Shanghai time."""
    return datetime.fromisoformat(value).replace(tzinfo=SHANGHAI)


def _number(value: str) -> int | str:
    return int(value) if value.isdigit() and len(value) <= 9 else value


def _activity_create(form: Any) -> ActivityCreate:
    """The form as the API's own schema takes it (it validates everything)."""
    values: dict[str, object] = {name: form_text(form, name) for name in FIELDS}
    for name in ("center_id", "space_id", "capacity"):
        values[name] = _number(str(values[name]))
    bad_times = []
    for name in TIMES:
        text = str(values[name])
        try:
            values[name] = _local(text) if text else None
        except ValueError:
            bad_times.append(name)
    if bad_times:
        raise ActivityFormInvalid(bad_times)
    for optional in ("space_id", "place_text", "description"):
        if values[optional] == "":
            values.pop(optional)
    values["requires_real_name"] = form.get("requires_real_name") == "on"
    values["publish"] = form.get("publish") == "on"
    return ActivityCreate.model_validate(values)


class ActivityFormInvalid(Exception):
    def __init__(self, fields: list[str]) -> None:
        super().__init__(fields)
        self.fields = fields


def _what_is_wrong(fields: list[str]) -> str:
    named = [FIELD_LABELS[name] for name in fields if name in FIELD_LABELS]
    if not named:
        return INCOHERENT
    return f"{InvalidForm.title.zh}：请检查{'、'.join(dict.fromkeys(named))}"


def _fields_of(error: ValidationError) -> list[str]:
    return [str(item["loc"][0]) for item in error.errors() if item["loc"]]


@router.post("/activities", response_class=HTMLResponse)
async def create_activity(request: Request) -> Response:
    """Create a draft, or publish it at once; a refusal shows the form again
    with what was typed and what went wrong."""
    settings = request.app.state.settings
    database: Database = request.app.state.database
    token = auth.session_token(request)
    form = await request.form()
    auth.check_csrf(settings, token, form.get("csrf"))
    async with database.reader.begin() as session:
        staff = await auth.load(session, settings, token)
        choices = await _choices(session, staff)
    typed: dict[str, str | bool] = {name: form_text(form, name) for name in FIELDS}
    typed.update({flag: form.get(flag) == "on" for flag in ("requires_real_name", "publish")})

    def again(message: str, status: int) -> HTMLResponse:
        return render(
            request, "activity_new.html", staff, status, values=typed, error=message, **choices
        )

    try:
        data = _activity_create(form)
        activity = await activities.create(database, request.app.state.bookings, staff, data)
    except ActivityFormInvalid as error:
        return again(_what_is_wrong(error.fields), 422)
    except ValidationError as error:
        return again(_what_is_wrong(_fields_of(error)), 422)
    except AppError as error:
        return again(error_message(error.code), error.status)
    if activity.status is ActivityStatus.published:
        notice = "activity_published"
    else:
        notice = "activity_awaits_venue" if data.publish else "activity_created"
    return back_to(_page(activity.id), notice=Notice(notice, activity.id))


# --- one activity ------------------------------------------------------------------------


@router.get("/activities/{activity_id}", response_class=HTMLResponse)
async def activity_page(
    request: Request, activity_id: ResourceId, staff: ConsoleStaff, session: SessionDep
) -> HTMLResponse:
    try:
        activity = await activities.managed(session, staff, activity_id)
    except AppError as error:  # another center's (403) or none (404)
        return render(
            request, "activity_denied.html", staff, error.status, error=error_message(error.code)
        )
    now = utcnow()
    return render(
        request,
        "activity.html",
        staff,
        page=await programme.activity_page(session, activity),
        signups=await programme.signups(session, activity_id),
        status_labels=programme.STATUS_LABELS,
        signup_labels=programme.SIGNUP_LABELS,
        check_in_opens=programme.check_in_opens(activity).astimezone(SHANGHAI),
        check_in_open=activity.status is ActivityStatus.published
        and now >= programme.check_in_opens(activity),
        most_walk_ins=MAX_WALK_INS,
    )


@router.post("/activities/{activity_id}/publish")
async def publish(request: Request, activity_id: ResourceId) -> Response:
    async def work(session: AsyncSession, staff: StaffPrincipal) -> Notice:
        await activities.publish(session, staff, activity_id)
        return Notice("activity_published", activity_id)

    return await act(request, _page(activity_id), work)


@router.post("/activities/{activity_id}/cancel")
async def cancel(request: Request, activity_id: ResourceId) -> Response:
    form = await request.form()

    async def work(session: AsyncSession, staff: StaffPrincipal) -> Notice:
        reason = ActivityCancel(reason=form_text(form, "reason")).reason
        await activities.cancel(session, staff, activity_id, reason)
        return Notice("activity_cancelled", activity_id)

    return await act(request, _page(activity_id), work)


@router.post("/activities/{activity_id}/signups/{signup_id}/check-in")
async def check_in(request: Request, activity_id: ResourceId, signup_id: ResourceId) -> Response:
    async def work(session: AsyncSession, staff: StaffPrincipal) -> Notice:
        await attendance.check_in_for(session, staff, activity_id, signup_id)
        return Notice("signup_checked_in", signup_id)

    return await act(request, f"{_page(activity_id)}#check-in", work)


@router.post("/activities/{activity_id}/walk-ins")
async def walk_ins(request: Request, activity_id: ResourceId) -> Response:
    form = await request.form()

    async def work(session: AsyncSession, staff: StaffPrincipal) -> Notice:
        typed = form_text(form, "count")
        number = int(typed) if typed.isdigit() else typed  # the API's model is strict
        count = WalkIns.model_validate({"count": number}).count
        await attendance.add_walk_ins(session, staff, activity_id, count)
        return Notice("walk_ins_recorded", count)

    return await act(request, f"{_page(activity_id)}#check-in", work)
