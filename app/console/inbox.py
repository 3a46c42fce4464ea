"""The staff inbox (approval requests, keypads that keep locking out), read
one by one or all at once, and the messages WeChat could not take about
one's centers (app/notifications/service.py, as the API's)."""

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response
from sqlalchemy.ext.asyncio import AsyncSession

from app.console import auth
from app.console.auth import ConsoleStaff
from app.console.pages import Notice, act, render
from app.core.db import SessionDep
from app.core.schemas import ResourceId
from app.identity.principals import StaffPrincipal
from app.notifications import service as notifications

router = APIRouter(prefix=auth.PATH, include_in_schema=False)
INBOX = f"{auth.PATH}/inbox"
PAGE = 50


@router.get("/inbox", response_class=HTMLResponse)
async def inbox(request: Request, staff: ConsoleStaff, session: SessionDep) -> HTMLResponse:
    rows, total, unread = await notifications.inbox(
        session, staff_id=staff.id, unread=None, limit=PAGE, offset=0
    )
    failed, failed_total = await notifications.dead_letters(session, staff, limit=PAGE, offset=0)
    return render(
        request,
        "inbox.html",
        staff,
        rows=rows,
        total=total,
        unread=unread,
        failed=failed,
        failed_total=failed_total,
    )


@router.post("/inbox/read-all")
async def read_all(request: Request) -> Response:
    async def work(session: AsyncSession, staff: StaffPrincipal) -> Notice:
        await notifications.mark_all_read(session, staff_id=staff.id)
        return Notice("inbox_read")

    return await act(request, INBOX, work)


@router.post("/inbox/{notification_id}/read")
async def read_one(request: Request, notification_id: ResourceId) -> Response:
    async def work(session: AsyncSession, staff: StaffPrincipal) -> Notice:
        await notifications.mark_read(session, notification_id, staff_id=staff.id)
        return Notice("inbox_read")

    return await act(request, INBOX, work)
