"""The console's ledger (台账) of residents' suggestions: the items of the
centers one covers, the overdue ones flagged, the earliest due first; an
item's page to take it on, answer it and close it (销项). The rules, scope
and notifications are the service's the API calls (app/suggestions/service.py)."""

from typing import Annotated

from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse, Response
from sqlalchemy.ext.asyncio import AsyncSession

from app.console import auth
from app.console.auth import ConsoleStaff
from app.console.pages import Notice, act, form_text, render
from app.core.clock import utcnow
from app.core.db import SessionDep
from app.core.schemas import ResourceId
from app.identity.principals import StaffPrincipal
from app.models import CATEGORY_RULES, SuggestionCategory, SuggestionOutcome, SuggestionStatus
from app.suggestions import service as suggestions
from app.suggestions.schemas import AnswerIn, CloseIn

router = APIRouter(prefix=auth.PATH, include_in_schema=False)
LEDGER = f"{auth.PATH}/suggestions"
PAGE = 50
STATUS_NAMES = {
    SuggestionStatus.open: "待处理",
    SuggestionStatus.assigned: "处理中",
    SuggestionStatus.answered: "已答复",
    SuggestionStatus.closed: "已销项",
}
OUTCOME_NAMES = {
    SuggestionOutcome.done: "已办结",
    SuggestionOutcome.not_feasible: "暂不可行",
    SuggestionOutcome.duplicate: "重复事项",
}
CATEGORY_NAMES = {category: rule.label for category, rule in CATEGORY_RULES.items()}


def _item_page(suggestion_id: int) -> str:
    return f"{LEDGER}/{suggestion_id}"


@router.get("/suggestions", response_class=HTMLResponse)
async def ledger(
    request: Request,
    staff: ConsoleStaff,
    session: SessionDep,
    status: SuggestionStatus | None = None,
    category: SuggestionCategory | None = None,
    overdue: bool | None = None,
    offset: Annotated[int, Query(ge=0, le=100_000)] = 0,
) -> HTMLResponse:
    """Every item not yet closed first by its due date; filters by status,
    category and overdue; the overdue count of what the other filters keep."""
    now = utcnow()
    query = suggestions.LedgerQuery(status=status, category=category, overdue=overdue)
    rows, total, late = await suggestions.ledger(
        session, staff, query, now, limit=PAGE, offset=offset
    )
    return render(
        request,
        "ledger.html",
        staff,
        rows=[(seen, suggestions.overdue(seen.suggestion, now)) for seen in rows],
        total=total,
        late=late,
        status=status,
        category=category,
        overdue=overdue,
        offset=offset,
        page=PAGE,
        statuses=STATUS_NAMES,
        categories=CATEGORY_NAMES,
    )


@router.get("/suggestions/{suggestion_id}", response_class=HTMLResponse)
async def item(
    request: Request, suggestion_id: ResourceId, staff: ConsoleStaff, session: SessionDep
) -> HTMLResponse:
    seen = await suggestions.read(session, staff, suggestion_id)
    return render(
        request,
        "suggestion.html",
        staff,
        seen=seen,
        overdue=suggestions.overdue(seen.suggestion, utcnow()),
        statuses=STATUS_NAMES,
        outcomes=OUTCOME_NAMES,
        categories=CATEGORY_NAMES,
    )


@router.post("/suggestions/{suggestion_id}/take")
async def take(request: Request, suggestion_id: ResourceId) -> Response:
    """Assign the item to oneself, the counter's usual way of taking it on."""

    async def work(session: AsyncSession, staff: StaffPrincipal) -> Notice:
        await suggestions.assign(session, staff, suggestion_id, staff.id, utcnow())
        return Notice("suggestion_taken", suggestion_id)

    return await act(request, _item_page(suggestion_id), work)


def _answer(form: object) -> AnswerIn:
    return AnswerIn(answer=form_text(form, "answer"), public=form_text(form, "public") == "on")


@router.post("/suggestions/{suggestion_id}/answer")
async def answer(request: Request, suggestion_id: ResourceId) -> Response:
    form = await request.form()

    async def work(session: AsyncSession, staff: StaffPrincipal) -> Notice:
        await suggestions.answer(session, staff, suggestion_id, _answer(form), utcnow())
        return Notice("suggestion_answered", suggestion_id)

    return await act(request, _item_page(suggestion_id), work)


@router.post("/suggestions/{suggestion_id}/close")
async def close(request: Request, suggestion_id: ResourceId) -> Response:
    form = await request.form()

    async def work(session: AsyncSession, staff: StaffPrincipal) -> Notice:
        answered = _answer(form)
        body = CloseIn(
            answer=answered.answer, public=answered.public, outcome=form_text(form, "outcome")
        )
        await suggestions.close(session, staff, suggestion_id, body, utcnow())
        return Notice("suggestion_closed", suggestion_id)

    return await act(request, _item_page(suggestion_id), work)
