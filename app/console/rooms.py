"""A space's feedback (the average and the comments) and its check-in code
on an A4 page to print (app/feedback/service.py, app/spaces/check_in_qr.py)."""

from typing import Annotated

from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse, Response
from sqlalchemy.ext.asyncio import AsyncSession

from app.console import auth
from app.console.auth import ConsoleStaff
from app.console.pages import Notice, act, back_to, render
from app.core.db import SessionDep
from app.core.errors import AppError
from app.core.schemas import ResourceId
from app.feedback import service as feedback
from app.identity.principals import StaffPrincipal
from app.models import Center, Space
from app.spaces import check_in_qr
from app.spaces import service as spaces

router = APIRouter(prefix=auth.PATH, include_in_schema=False)
SPACES = f"{auth.PATH}/spaces"
PAGE = 50


@router.get("/spaces/{space_id}/feedback", response_class=HTMLResponse)
async def space_feedback(
    request: Request,
    space_id: ResourceId,
    staff: ConsoleStaff,
    session: SessionDep,
    offset: Annotated[int, Query(ge=0, le=100_000)] = 0,
) -> Response:
    try:
        space = await spaces.get_space_in_scope(session, staff, space_id)
        rows, total, average = await feedback.of_space(
            session, staff, space_id, limit=PAGE, offset=offset
        )
    except AppError as error:
        return back_to(SPACES, error=error.code)
    return render(
        request,
        "feedback.html",
        staff,
        space=space,
        rows=rows,
        total=total,
        average=average,
        offset=offset,
        page=PAGE,
    )


def _qr_page(space_id: int) -> str:
    return f"{SPACES}/{space_id}/check-in-qr"


async def _read_code(
    request: Request, space_id: int
) -> tuple[StaffPrincipal, check_in_qr.CheckInQr, Space, Center]:
    """The space's code, made on first asking, in a write transaction of its
    own committed before WeChat is asked (as the API's)."""
    async with request.app.state.database.writer.begin() as session:
        staff = await auth.load(session, request.app.state.settings, auth.session_token(request))
        qr = await check_in_qr.read(session, staff, space_id)
        space = await spaces.get_space_in_scope(session, staff, space_id)
        center = await session.get_one(Center, space.center_id)
    return staff, qr, space, center


@router.get("/spaces/{space_id}/check-in-qr", response_class=HTMLResponse)
async def check_in_code(request: Request, space_id: ResourceId) -> Response:
    """The A4 sheet: the space's name, its center, and the code to scan. With
    WeChat configured, the mini-program code (WeChat's own scanner opens the
    check-in page); without, the plain QR code the mini-program reads."""
    try:
        staff, qr, space, center = await _read_code(request, space_id)
    except AppError as error:
        return back_to(SPACES, error=error.code)
    return render(
        request,
        "check_in_qr.html",
        staff,
        space=space,
        center=center,
        svg=check_in_qr.qr_svg(qr.content, scalable=True),
        mini_program=request.app.state.settings.wechat_configured,
    )


@router.get("/spaces/{space_id}/check-in-qr/code.png")
async def mini_program_code(request: Request, space_id: ResourceId) -> Response:
    app = request.app
    try:
        _, qr, _, _ = await _read_code(request, space_id)
        png = await check_in_qr.mini_program_code(
            app.state.settings, app.state.wechat, app.state.wechat_tokens, qr
        )
    except AppError as error:
        return back_to(f"{SPACES}/{space_id}", error=error.code)
    return Response(png, media_type="image/png", headers={"Cache-Control": "no-store"})


@router.post("/spaces/{space_id}/check-in-qr/rotate")
async def rotate_check_in_code(request: Request, space_id: ResourceId) -> Response:
    async def work(session: AsyncSession, staff: StaffPrincipal) -> Notice:
        await check_in_qr.rotate(session, staff, space_id)
        return Notice("check_in_qr_rotated")

    return await act(request, _qr_page(space_id), work)
