"""The console's management pages: doors, spaces with their hours, closures
and quotas, and the usage reports (organizations are in ``organizations.py``)."""

from collections.abc import Awaitable, Callable, Sequence
from datetime import datetime, timedelta
from typing import Annotated

from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse, Response
from sqlalchemy.ext.asyncio import AsyncSession

from app.access import doors
from app.access.locks import CommandKeys, DoorRef
from app.access.schemas import DoorCreate
from app.calendars import service as calendars
from app.calendars.router import feed_url
from app.console import auth, board
from app.console.auth import ConsoleStaff
from app.console.pages import (
    InvalidForm,
    Notice,
    act,
    back_to,
    form_text,
    parse_day,
    render,
)
from app.core.clock import SHANGHAI, local_today, utcnow
from app.core.db import SessionDep
from app.core.errors import AppError, Text
from app.core.schemas import MAX_ID, ResourceId
from app.identity.principals import StaffPrincipal
from app.models import Door, OpeningHours, QuotaMetric, QuotaSubject
from app.quotas import service as quotas
from app.reports import exports
from app.reports import service as reports
from app.reports.groups import GroupBy
from app.reports.router import XLSX
from app.reports.schemas import UtilizationReport, UtilizationRow
from app.reservations import changes
from app.spaces import closures
from app.spaces import service as spaces
from app.spaces.affected import AffectedAction
from app.spaces.schemas import ClosureCreate, OpeningWindow, SpaceUpdate

router = APIRouter(prefix=auth.PATH, include_in_schema=False)
DOORS = f"{auth.PATH}/doors"


# --- doors -------------------------------------------------------------------------


@router.get("/doors", response_class=HTMLResponse)
async def door_list(request: Request, staff: ConsoleStaff, session: SessionDep) -> HTMLResponse:
    activity = await board.door_activity(session, staff)
    spaces_here = await board.spaces_in_scope(session, staff, active_only=False)
    return render(request, "doors.html", staff, doors=activity, new_key=None, spaces=spaces_here)


@router.post("/doors/{door_id}/clear-lockout")
async def clear_lockout(request: Request, door_id: ResourceId) -> Response:
    async def work(session: AsyncSession, staff: StaffPrincipal) -> Notice:
        door = await doors.clear_lockout(session, staff, door_id)
        return Notice("lockout_cleared", door.id)

    return await act(request, DOORS, work)


@router.post("/doors/{door_id}/rotate-key", response_class=HTMLResponse)
async def rotate_key(request: Request, door_id: ResourceId) -> Response:
    """The new device key and command key are shown on this one page, once: the
    device key is stored only hashed, the command key not at all."""

    async def change(session: AsyncSession, staff: StaffPrincipal) -> tuple[Door, str]:
        return await doors.rotate_door_key(session, staff, door_id)

    return await _with_new_keys(request, change, Notice("key_rotated"))


@router.post("/doors", response_class=HTMLResponse)
async def create_door(request: Request) -> Response:
    """A new door of a space in scope, its keys shown once (as a rotation's)."""
    form = await request.form()

    async def change(session: AsyncSession, staff: StaffPrincipal) -> tuple[Door, str]:
        space = form_text(form, "space_id")
        body = DoorCreate.model_validate(
            {"space_id": int(space) if space.isdigit() else space, "name": form_text(form, "name")}
        )
        return await doors.create_door(session, staff, body.space_id, body.name)

    return await _with_new_keys(request, change, Notice("door_created"))


async def _with_new_keys(
    request: Request,
    change: Callable[[AsyncSession, StaffPrincipal], Awaitable[tuple[Door, str]]],
    notice: Notice,
) -> Response:
    shown: list[str] = []
    keys: CommandKeys = request.app.state.command_keys

    async def work(session: AsyncSession, staff: StaffPrincipal) -> Notice:
        door, device_key = await change(session, staff)
        command_key = keys.shown(DoorRef(door.id, door.device_key_hash))
        shown.extend([door.name, device_key, command_key])
        return notice

    answer = await act(request, DOORS, work)
    if not shown:
        return answer
    async with request.app.state.database.reader.begin() as session:
        staff = await auth.load(session, request.app.state.settings, auth.session_token(request))
        activity = await board.door_activity(session, staff)
        spaces_here = await board.spaces_in_scope(session, staff, active_only=False)
    return render(
        request, "doors.html", staff, doors=activity, new_key=tuple(shown), spaces=spaces_here
    )


# --- spaces --------------------------------------------------------------------------


@router.get("/spaces", response_class=HTMLResponse)
async def space_list(request: Request, staff: ConsoleStaff, session: SessionDep) -> HTMLResponse:
    found = await board.spaces_in_scope(session, staff, active_only=False)
    center_quotas = {}
    for center_id in dict.fromkeys(center.id for _, center in found):
        center_quotas[center_id] = await quotas.center_rules(session, staff, center_id)
    return render(request, "spaces.html", staff, spaces=found, center_quotas=center_quotas)


@router.get("/spaces/{space_id}", response_class=HTMLResponse)
async def space_page(
    request: Request, space_id: ResourceId, staff: ConsoleStaff, session: SessionDep
) -> Response:
    try:
        return await _space_page(request, session, staff, space_id)
    except AppError as error:
        return back_to(f"{auth.PATH}/spaces", error=error.code)


async def _space_page(
    request: Request,
    session: AsyncSession,
    staff: StaffPrincipal,
    space_id: int,
    new_feed_url: str | None = None,
) -> Response:
    space = await spaces.get_space_in_scope(session, staff, space_id)
    return render(
        request,
        "space.html",
        staff,
        space=space,
        hours=_hours_text(space.opening_hours),
        closures=await closures.list_closures(session, staff, space_id, include_past=False),
        rules=await quotas.space_rules(session, staff, space_id),
        subjects=list(QuotaSubject),
        metrics=list(QuotaMetric),
        feed_url=new_feed_url,
    )


@router.post("/spaces/{space_id}/calendar-feed", response_class=HTMLResponse)
async def issue_space_feed(request: Request, space_id: ResourceId) -> Response:
    """The space's new feed URL is shown on this one page, once: it is stored
    only hashed. It revokes the staff member's previous one for the space."""
    shown: list[str] = []

    async def work(session: AsyncSession, staff: StaffPrincipal) -> Notice:
        token = await calendars.issue_space_feed(session, staff, space_id, utcnow())
        shown.append(feed_url(request, token))
        return Notice("feed_issued")

    answer = await act(request, f"{auth.PATH}/spaces/{space_id}", work)
    if not shown:
        return answer
    async with request.app.state.database.reader.begin() as session:
        staff = await auth.load(session, request.app.state.settings, auth.session_token(request))
        return await _space_page(request, session, staff, space_id, new_feed_url=shown[0])


def _hours_text(rows: Sequence[OpeningHours]) -> str:
    def clock(minute: int) -> str:
        return f"{minute // 60:02d}:{minute % 60:02d}"

    return "\n".join(
        f"{row.weekday + 1} {clock(row.opens_minute)}-{clock(row.closes_minute)}" for row in rows
    )


def parse_hours(text: str) -> list[OpeningWindow]:
    """Lines like ``1 09:00-21:00`` (1 = Monday … 7 = Sunday), validated by the API's schema."""
    windows = []
    for line in filter(None, (line.strip() for line in text.splitlines())):
        day, _, span = line.partition(" ")
        opens, _, closes = span.strip().partition("-")
        weekday = int(day) - 1 if day.isdigit() else -1
        windows.append(OpeningWindow(weekday=weekday, opens=opens.strip(), closes=closes.strip()))
    return windows


TEXTS = ("name", "description", "holiday_policy")
NUMBERS = ("capacity", "advance_days", "cancel_before_minutes")
FLAGS = ("requires_approval", "requires_real_name", "requires_check_in", "is_active")


@router.post("/spaces/{space_id}/settings")
async def update_space(request: Request, space_id: ResourceId) -> Response:
    form = await request.form()

    async def work(session: AsyncSession, staff: StaffPrincipal) -> Notice:
        changes: dict[str, object] = {name: form_text(form, name) for name in TEXTS}
        for name in NUMBERS:  # the API's schema takes numbers strictly: whole ones only
            value = form_text(form, name)
            changes[name] = int(value) if value.isdigit() else value
        changes.update({flag: form.get(flag) == "on" for flag in FLAGS})
        if "modify_before_minutes" in form:  # empty: the cancel deadline
            modify = form_text(form, "modify_before_minutes")
            changes["modify_before_minutes"] = int(modify) if modify.isdigit() else modify or None
        for optional in ("description", "holiday_policy"):
            if not changes[optional]:
                changes.pop(optional)
        space = await spaces.get_space_in_scope(session, staff, space_id)
        if not space.open_24h:
            changes["opening_hours"] = parse_hours(form_text(form, "opening_hours"))
        await spaces.change_space(session, staff, space_id, SpaceUpdate.model_validate(changes))
        return Notice("space_saved")

    return await act(request, f"{auth.PATH}/spaces/{space_id}", work)


class ClosureTimesMissing(InvalidForm):
    code = "closure_times_missing"
    detail = Text("请填写开始与结束时间", "Start and end are required")


def _local(value: str) -> datetime:
    """An ``<input type=datetime-local>`` value, in Shanghai time."""
    return datetime.fromisoformat(value).replace(tzinfo=SHANGHAI)


# The closure form's choice for bookings inside it; none: refuse if there are any.
AFFECTED_CHOICES = {action.value: action for action in AffectedAction}


@router.post("/spaces/{space_id}/closures")
async def add_closure(request: Request, space_id: ResourceId) -> Response:
    form = await request.form()

    async def work(session: AsyncSession, staff: StaffPrincipal) -> Notice:
        try:
            start, end = _local(form_text(form, "start")), _local(form_text(form, "end"))
        except ValueError:
            raise ClosureTimesMissing() from None
        data = ClosureCreate(
            start=start,
            end=end,
            reason=form_text(form, "reason"),
            affected=AFFECTED_CHOICES.get(form_text(form, "affected")),
        )
        await changes.add_closure(session, staff, space_id, data)
        return Notice("closure_added")

    return await act(request, f"{auth.PATH}/spaces/{space_id}", work)


@router.post("/spaces/{space_id}/closures/{closure_id}/delete")
async def delete_closure(
    request: Request, space_id: ResourceId, closure_id: ResourceId
) -> Response:
    async def work(session: AsyncSession, staff: StaffPrincipal) -> Notice:
        await closures.delete_closure(session, staff, space_id, closure_id)
        return Notice("closure_deleted")

    return await act(request, f"{auth.PATH}/spaces/{space_id}", work)


SUBJECTS, METRICS = frozenset(QuotaSubject), frozenset(QuotaMetric)


class InvalidQuota(InvalidForm):
    code = "invalid_quota"
    detail = Text(
        "配额对象与指标须从列表中选择，配额须为 0–1000 的整数",
        "Pick the quota's subject and metric from the lists; a quota is a whole number"
        " from 0 to 1000",
    )


def _rules(form: object) -> list[quotas.RuleSpec]:
    """Up to five rows of (subject, metric, limit); a row with no limit is left out."""
    rules = []
    for row in range(5):
        value = form_text(form, f"max_value_{row}")
        if not value:
            continue
        subject, metric = form_text(form, f"subject_{row}"), form_text(form, f"metric_{row}")
        if subject not in SUBJECTS or metric not in METRICS:
            raise InvalidQuota()
        if not value.isdigit() or int(value) > 1000:
            raise InvalidQuota()
        rules.append((QuotaSubject(subject), QuotaMetric(metric), int(value)))
    return rules


@router.post("/spaces/{space_id}/quotas")
async def replace_space_quotas(request: Request, space_id: ResourceId) -> Response:
    form = await request.form()

    async def work(session: AsyncSession, staff: StaffPrincipal) -> Notice:
        await quotas.replace_space_rules(session, staff, space_id, _rules(form))
        return Notice("space_quotas_saved")

    return await act(request, f"{auth.PATH}/spaces/{space_id}", work)


@router.post("/centers/{center_id}/quotas")
async def replace_center_quotas(request: Request, center_id: ResourceId) -> Response:
    form = await request.form()

    async def work(session: AsyncSession, staff: StaffPrincipal) -> Notice:
        await quotas.replace_center_rules(session, staff, center_id, _rules(form))
        return Notice("center_quotas_saved")

    return await act(request, f"{auth.PATH}/spaces", work)


# --- reports ---------------------------------------------------------------------------


async def _report(
    request: Request, staff: StaffPrincipal, session: AsyncSession, space_id: int | None
) -> UtilizationReport:
    today = local_today()
    query = request.query_params
    first = parse_day(query.get("from"), today.replace(day=1))
    last = parse_day(query.get("to"), (first.replace(day=28) + timedelta(days=4)).replace(day=1))
    if "to" not in query:
        last -= timedelta(days=1)  # the month's last day
    group = query.get("group_by", "space")
    found = await reports.utilization(
        session,
        staff,
        center_id=None,
        space_id=space_id,
        first_day=first,
        last_day=last,
        group_by=GroupBy(group) if group in GROUPS else GroupBy.space,
    )
    return UtilizationReport(
        group_by=found.group_by,
        from_=found.first_day,
        to=found.last_day,
        rows=[UtilizationRow.model_validate(row) for row in found.rows],
    )


GROUPS = frozenset(GroupBy)
SpaceFilter = Annotated[int | None, Query(ge=1, le=MAX_ID)]


@router.get("/reports", response_class=HTMLResponse)
async def report_page(
    request: Request, staff: ConsoleStaff, session: SessionDep, space_id: SpaceFilter = None
) -> Response:
    try:
        report = await _report(request, staff, session, space_id)
    except AppError as error:
        return back_to(f"{auth.PATH}/reports", error=error.code)
    found = await board.spaces_in_scope(session, staff, active_only=False)
    peak = max((row.utilization or 0 for row in report.rows), default=0) or 1
    return render(
        request, "reports.html", staff, report=report, spaces=found, space_id=space_id, peak=peak
    )


@router.get("/reports/download")
async def report_download(
    request: Request,
    staff: ConsoleStaff,
    session: SessionDep,
    space_id: SpaceFilter = None,
    format: str = "csv",
) -> Response:
    try:
        report = await _report(request, staff, session, space_id)
    except AppError as error:
        return back_to(f"{auth.PATH}/reports", error=error.code)
    body, filename = exports.as_xlsx(report) if format == "xlsx" else exports.as_csv(report)
    media_type = XLSX if format == "xlsx" else "text/csv; charset=utf-8"
    disposition = f'attachment; filename="{filename}"'
    return Response(body, media_type=media_type, headers={"Content-Disposition": disposition})
