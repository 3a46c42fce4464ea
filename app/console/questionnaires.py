"""The console's questionnaires: those whose scope one covers, each with its
results (counts and shares, a scale's mean, text answers), published or
closed, and its responses downloaded. The pages read what the API answers
(app/questionnaires/router.py) and act through its service; a questionnaire's
questions are built through the API."""

from typing import Annotated

from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse, Response
from sqlalchemy.ext.asyncio import AsyncSession

from app.console import auth
from app.console.auth import ConsoleStaff
from app.console.pages import Notice, act, back_to, render
from app.core.clock import utcnow
from app.core.db import SessionDep
from app.core.errors import AppError
from app.core.schemas import ResourceId
from app.identity.principals import StaffPrincipal
from app.models import QuestionnaireStatus
from app.questionnaires import router as api
from app.questionnaires import service

router = APIRouter(prefix=auth.PATH, include_in_schema=False)
QUESTIONNAIRES = f"{auth.PATH}/questionnaires"
PAGE = 50
STATUS_NAMES = {
    QuestionnaireStatus.draft: "草稿",
    QuestionnaireStatus.published: "已发布",
    QuestionnaireStatus.closed: "已结束",
}


@router.get("/questionnaires", response_class=HTMLResponse)
async def questionnaire_list(
    request: Request,
    staff: ConsoleStaff,
    session: SessionDep,
    offset: Annotated[int, Query(ge=0, le=100_000)] = 0,
) -> HTMLResponse:
    found = await api.list_questionnaires(staff, session, None, limit=PAGE, offset=offset)
    return render(
        request,
        "questionnaires.html",
        staff,
        found=found,
        status_names=STATUS_NAMES,
        offset=offset,
        page=PAGE,
    )


@router.get("/questionnaires/{questionnaire_id}", response_class=HTMLResponse)
async def questionnaire_page(
    request: Request, questionnaire_id: ResourceId, staff: ConsoleStaff, session: SessionDep
) -> Response:
    try:
        detail = await api.get_questionnaire(questionnaire_id, staff, session)
        results = await api.questionnaire_results(
            questionnaire_id, staff, session, district=None, street=None, limit=20, offset=0
        )
    except AppError as error:
        return back_to(QUESTIONNAIRES, error=error.code)
    return render(
        request,
        "questionnaire.html",
        staff,
        q=detail,
        results=results,
        status_names=STATUS_NAMES,
    )


@router.get("/questionnaires/{questionnaire_id}/responses")
async def download_responses(
    questionnaire_id: ResourceId,
    staff: ConsoleStaff,
    session: SessionDep,
    format: api.ExportFormat = api.ExportFormat.csv,
) -> Response:
    try:
        return await api.export_responses(questionnaire_id, staff, session, format, "zh")
    except AppError as error:
        return back_to(f"{QUESTIONNAIRES}/{questionnaire_id}", error=error.code)


@router.post("/questionnaires/{questionnaire_id}/publish")
async def publish(request: Request, questionnaire_id: ResourceId) -> Response:
    async def work(session: AsyncSession, staff: StaffPrincipal) -> Notice:
        await service.publish(session, staff, questionnaire_id, utcnow())
        return Notice("questionnaire_published", questionnaire_id)

    return await act(request, f"{QUESTIONNAIRES}/{questionnaire_id}", work)


@router.post("/questionnaires/{questionnaire_id}/close")
async def close(request: Request, questionnaire_id: ResourceId) -> Response:
    async def work(session: AsyncSession, staff: StaffPrincipal) -> Notice:
        await service.close(session, staff, questionnaire_id, utcnow())
        return Notice("questionnaire_closed", questionnaire_id)

    return await act(request, f"{QUESTIONNAIRES}/{questionnaire_id}", work)
