"""Suggestions: residents raise and follow them; staff keep the ledger (台账);
anyone reads a center's public answers."""

from typing import Annotated

from fastapi import Query, Response, status

from app.core.clock import utcnow
from app.core.db import SessionDep
from app.core.errors import problem_responses
from app.core.routing import api_router
from app.core.schemas import MAX_ID, Limit, Offset, Page, ResourceId
from app.identity.dependencies import CipherDep, CurrentStaff, CurrentUser
from app.models import CATEGORY_RULES, SuggestionCategory, SuggestionStatus
from app.suggestions import figures, service
from app.suggestions.schemas import (
    AnswerIn,
    AssignIn,
    CategoryOut,
    CloseIn,
    ContactOut,
    LedgerEntry,
    LedgerPage,
    PublicAnswer,
    SuggestionIn,
    SuggestionOut,
    SummaryRow,
)
from app.uploads import service as uploads
from app.uploads.router import StorageDep

router = api_router(tags=["suggestions"])
NO_STORE = {"Cache-Control": "no-store"}


def _out(seen: service.Seen) -> SuggestionOut:
    found = seen.suggestion
    return SuggestionOut(
        id=found.id,
        center_id=found.center_id,
        center_name=seen.center_name,
        organization_id=found.organization_id,
        category=found.category,
        category_label=CATEGORY_RULES[found.category].label,
        text=found.text,
        photos=seen.photos,
        contact_ok=found.contact_ok,
        status=found.status,
        due_at=found.due_at,
        overdue=service.overdue(found, utcnow()),
        answer=found.answer,
        answer_public=found.answer_public,
        answered_at=found.answered_at,
        outcome=found.outcome,
        closed_at=found.closed_at,
        reopened_at=found.reopened_at,
        may_reopen_until=service.reopen_until(found),
        created_at=found.created_at,
    )


def _entry(seen: service.Seen) -> LedgerEntry:
    found = seen.suggestion
    return LedgerEntry(
        **dict(_out(seen)),
        assigned_staff_id=found.assigned_staff_id,
        has_submitter=found.user_id is not None,
        closed_on_time=service.closed_on_time(found),
    )


@router.get("/suggestion-categories", response_model=list[CategoryOut])
async def categories() -> list[CategoryOut]:
    """The categories, their labels and their time limits in days."""
    return [
        CategoryOut(code=code, label=rule.label, days=rule.days)
        for code, rule in CATEGORY_RULES.items()
    ]


@router.post(
    "/suggestions",
    response_model=SuggestionOut,
    status_code=status.HTTP_201_CREATED,
    responses=problem_responses(404, 422),
)
async def submit(body: SuggestionIn, user: CurrentUser, session: SessionDep) -> SuggestionOut:
    """Raise a suggestion or a problem at a center, with up to 9 of your own
    uploaded images (422 `upload_not_yours` otherwise). It is due within its
    category's time limit."""
    return _out(await service.submit(session, user, body, utcnow()))


@router.get("/me/suggestions", response_model=Page[SuggestionOut])
async def my_suggestions(
    user: CurrentUser, session: SessionDep, limit: Limit = 20, offset: Offset = 0
) -> Page[SuggestionOut]:
    """Your suggestions, newest first, with where each stands."""
    rows, total = await service.mine(session, user, limit=limit, offset=offset)
    return Page(items=[_out(row) for row in rows], total=total, limit=limit, offset=offset)


@router.get("/me/suggestions/{suggestion_id}", response_model=SuggestionOut)
async def my_suggestion(
    suggestion_id: ResourceId, user: CurrentUser, session: SessionDep
) -> SuggestionOut:
    return _out(await service.mine_one(session, user, suggestion_id))


@router.post(
    "/me/suggestions/{suggestion_id}/reopen",
    response_model=SuggestionOut,
    responses=problem_responses(409),
)
async def reopen(
    suggestion_id: ResourceId, user: CurrentUser, session: SessionDep
) -> SuggestionOut:
    """Reopen your closed suggestion: once, within 7 days of its closing (409
    `invalid_transition` otherwise). It is due again from now."""
    return _out(await service.reopen(session, user, suggestion_id, utcnow()))


@router.get("/centers/{center_id}/suggestion-answers", response_model=Page[PublicAnswer])
async def public_answers(
    center_id: ResourceId, session: SessionDep, limit: Limit = 20, offset: Offset = 0
) -> Page[PublicAnswer]:
    """The center's publicly answered suggestions, with nothing of who asked."""
    rows, total = await service.public_answers(session, center_id, limit=limit, offset=offset)
    return Page(
        items=[
            PublicAnswer(
                id=row.id,
                category=row.category,
                category_label=CATEGORY_RULES[row.category].label,
                text=row.text,
                answer=row.answer or "",
                outcome=row.outcome,
                status=row.status,
                created_at=row.created_at,
                answered_at=row.answered_at,
            )
            for row in rows
        ],
        total=total,
        limit=limit,
        offset=offset,
    )


# --- staff ----------------------------------------------------------------------


@router.get("/admin/suggestions", response_model=LedgerPage, tags=["admin"])
async def ledger(
    staff: CurrentStaff,
    session: SessionDep,
    status_filter: Annotated[SuggestionStatus | None, Query(alias="status")] = None,
    center_id: Annotated[int | None, Query(ge=1, le=MAX_ID)] = None,
    category: SuggestionCategory | None = None,
    overdue: bool | None = None,
    limit: Limit = 50,
    offset: Offset = 0,
) -> LedgerPage:
    """The ledger (台账) of the centers you cover, earliest due first;
    `overdue_count` counts the overdue rows among those the other filters keep."""
    query = service.LedgerQuery(
        status=status_filter, center_id=center_id, category=category, overdue=overdue
    )
    rows, total, late = await service.ledger(
        session, staff, query, utcnow(), limit=limit, offset=offset
    )
    return LedgerPage(
        items=[_entry(row) for row in rows],
        total=total,
        limit=limit,
        offset=offset,
        overdue_count=late,
    )


@router.get("/admin/suggestions/summary", response_model=list[SummaryRow], tags=["admin"])
async def summary(staff: CurrentStaff, session: SessionDep) -> list[SummaryRow]:
    """Per center you cover: items not closed, overdue, closed, closed on time."""
    return [
        SummaryRow(
            center_id=row.center_id,
            center_name=row.center_name,
            open=row.open,
            overdue=row.overdue,
            closed=row.closed,
            closed_on_time=row.closed_on_time,
        )
        for row in await figures.summary(session, staff, utcnow())
    ]


@router.get("/admin/suggestions/{suggestion_id}", response_model=LedgerEntry, tags=["admin"])
async def read(suggestion_id: ResourceId, staff: CurrentStaff, session: SessionDep) -> LedgerEntry:
    return _entry(await service.read(session, staff, suggestion_id))


@router.get(
    "/admin/suggestions/{suggestion_id}/contact",
    response_model=ContactOut,
    responses=problem_responses(409),
    tags=["admin"],
)
async def contact(
    suggestion_id: ResourceId,
    staff: CurrentStaff,
    session: SessionDep,
    cipher: CipherDep,
    response: Response,
) -> ContactOut:
    """The submitter's phone and nickname, if they agreed to be contacted
    (409 `no_contact_consent` otherwise). The read is audited."""
    phone, nickname = await service.contact(session, cipher, staff, suggestion_id)
    response.headers.update(NO_STORE)
    return ContactOut(phone=phone, nickname=nickname)


@router.get(
    "/admin/suggestions/{suggestion_id}/photos/{upload_id}",
    response_class=Response,
    tags=["admin"],
)
async def photo(
    suggestion_id: ResourceId,
    upload_id: ResourceId,
    staff: CurrentStaff,
    session: SessionDep,
    storage: StorageDep,
) -> Response:
    """One of the suggestion's images."""
    seen = await service.read(session, staff, suggestion_id)
    row = await uploads.attached(session, seen.suggestion.id, upload_id)
    return Response(
        await uploads.content(storage, row),
        media_type=row.content_type,
        headers={"Cache-Control": "private, no-store", "X-Content-Type-Options": "nosniff"},
    )


@router.post(
    "/admin/suggestions/{suggestion_id}/assign",
    response_model=LedgerEntry,
    responses=problem_responses(409, 422),
    tags=["admin"],
)
async def assign(
    suggestion_id: ResourceId, body: AssignIn, staff: CurrentStaff, session: SessionDep
) -> LedgerEntry:
    """Give it to an active staff member who covers its center."""
    return _entry(await service.assign(session, staff, suggestion_id, body.staff_id, utcnow()))


@router.post(
    "/admin/suggestions/{suggestion_id}/answer",
    response_model=LedgerEntry,
    responses=problem_responses(409),
    tags=["admin"],
)
async def answer(
    suggestion_id: ResourceId, body: AnswerIn, staff: CurrentStaff, session: SessionDep
) -> LedgerEntry:
    """Answer the submitter; `public: true` also lists it, anonymised, on the center's page."""
    return _entry(await service.answer(session, staff, suggestion_id, body, utcnow()))


@router.post(
    "/admin/suggestions/{suggestion_id}/close",
    response_model=LedgerEntry,
    responses=problem_responses(409),
    tags=["admin"],
)
async def close(
    suggestion_id: ResourceId, body: CloseIn, staff: CurrentStaff, session: SessionDep
) -> LedgerEntry:
    """Close it (销项) with an outcome and a final answer."""
    return _entry(await service.close(session, staff, suggestion_id, body, utcnow()))
