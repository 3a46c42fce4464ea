"""Questionnaires (问卷): built by staff for a scope they cover, published,
answered once by each resident, closed; their results and exports.

- **Scope.** A center, a street (district + street) or a district; staff
  may only target one they cover (``403 out_of_scope``) and see only the
  questionnaires whose scope they cover. A center's district and street are
  copied onto the questionnaire when it is set, so one row says who covers it.
- **Which concern a resident.** Every published questionnaire open now
  (``opens_at <= now < closes_at``): a resident may live, work or take part
  anywhere, so none is hidden; the list names each one's scope, and
  ``center_id`` (those whose scope holds that center) or ``district``
  narrow it.
- **Answering once.** Every response carries ``respondent_key``, a keyed
  hash (the PII key's HMAC, ``PiiCipher.blind_index``) of the questionnaire
  and the user, unique per questionnaire: a second answer, or two at once, is
  ``409 already_answered``. An anonymous questionnaire's response keeps only
  that hash: no user id, no audit event, its time to the hour.
- **Where a respondent is.** The response's district and street (what the
  results filter on) are those of the center the resident names in their
  answer (``center_id``, inside the scope), else of the questionnaire's
  scope (a street scope's street; a district scope's district, no street).
"""

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, Select, and_, delete, false, func, select, true
from sqlalchemy.ext.asyncio import AsyncSession

from app.audit import service as audit
from app.core.errors import AppError, InvalidTransition, NotFound, OutOfScope, Text
from app.identity.principals import StaffPrincipal
from app.models import (
    Center,
    Question,
    Questionnaire,
    QuestionnaireResponse,
    QuestionnaireScope,
    QuestionnaireStatus,
    StaffRole,
)
from app.questionnaires.schemas import QuestionnaireIn, ScopeIn

QUESTIONNAIRE = Text("问卷", "questionnaire")
CENTER = Text("中心", "center")


class QuestionnaireNotDraft(AppError):
    status = 409
    code = "questionnaire_not_draft"
    title = Text("问卷已发布", "Questionnaire already published")
    detail = Text("问卷发布后不能再修改", "A questionnaire is edited only while it is a draft")


class QuestionnaireNotOpen(AppError):
    status = 409
    code = "questionnaire_not_open"
    title = Text("问卷未开放", "Questionnaire not open")


NOT_YET = Text("问卷尚未开始", "The questionnaire is not open yet")
OVER = Text("问卷已结束", "The questionnaire is closed")
NOT_PUBLISHED = Text("问卷尚未发布", "The questionnaire is not published")


# --- scope -------------------------------------------------------------------


@dataclass(frozen=True)
class Place:
    scope: QuestionnaireScope
    center: Center | None
    district: str
    street: str | None


async def _place(session: AsyncSession, staff: StaffPrincipal, scope: ScopeIn) -> Place:
    if scope.center_id is not None:
        center = await session.get(Center, scope.center_id)
        if center is None:
            raise NotFound(CENTER)
        if not staff.covers_center(center):
            raise OutOfScope(what=CENTER)
        return Place(QuestionnaireScope.center, center, center.district, center.street or None)
    assert scope.district is not None
    covered = (
        staff.covers_place(scope.district, scope.street)
        if scope.street
        else staff.covers_district(scope.district)
    )
    if not covered:
        raise OutOfScope(what=QUESTIONNAIRE)
    return Place(scope.kind, None, scope.district, scope.street)


def staff_clause(staff: StaffPrincipal) -> ColumnElement[bool]:
    """The questionnaires whose scope ``staff`` covers."""
    match staff.role:
        case StaffRole.super_admin:
            return true()
        case StaffRole.district_admin:
            return Questionnaire.district == staff.district
        case StaffRole.street_admin:
            return and_(
                Questionnaire.district == staff.district, Questionnaire.street == staff.street
            )
        case StaffRole.center_admin:
            if not staff.center_ids:
                return false()
            return Questionnaire.center_id.in_(staff.center_ids)


def scope_name(questionnaire: Questionnaire, center_name: str | None) -> str:
    match questionnaire.scope:
        case QuestionnaireScope.center:
            return center_name or ""
        case QuestionnaireScope.street:
            return f"{questionnaire.district}{questionnaire.street}"
        case QuestionnaireScope.district:
            return questionnaire.district


def is_open(questionnaire: Questionnaire, now: datetime) -> bool:
    return (
        questionnaire.status is QuestionnaireStatus.published
        and questionnaire.opens_at <= now < questionnaire.closes_at
    )


def holds(questionnaire: Questionnaire, center: Center) -> bool:
    """Does the questionnaire's scope hold ``center``?"""
    match questionnaire.scope:
        case QuestionnaireScope.center:
            return questionnaire.center_id == center.id
        case QuestionnaireScope.street:
            return (center.district, center.street) == (
                questionnaire.district,
                questionnaire.street,
            )
        case QuestionnaireScope.district:
            return center.district == questionnaire.district


# --- staff: build, publish, close --------------------------------------------


def _questions(body: QuestionnaireIn) -> list[Question]:
    return [
        Question(
            position=position,
            kind=question.kind,
            text=question.text,
            required=question.required,
            options=question.options,
            scale_min=question.scale_min,
            scale_max=question.scale_max,
            max_length=question.max_length,
        )
        for position, question in enumerate(body.questions, start=1)
    ]


def _set(questionnaire: Questionnaire, body: QuestionnaireIn, place: Place) -> None:
    questionnaire.title = body.title
    questionnaire.intro = body.intro
    questionnaire.scope = place.scope
    questionnaire.center_id = place.center.id if place.center else None
    questionnaire.district = place.district
    questionnaire.street = place.street
    questionnaire.opens_at = body.opens_at
    questionnaire.closes_at = body.closes_at
    questionnaire.anonymous = body.anonymous
    questionnaire.requires_real_name = body.requires_real_name


async def _add_questions(
    session: AsyncSession, questionnaire: Questionnaire, body: QuestionnaireIn
) -> None:
    for question in _questions(body):
        question.questionnaire_id = questionnaire.id
        session.add(question)
    await session.flush()


async def create(
    session: AsyncSession, staff: StaffPrincipal, body: QuestionnaireIn
) -> Questionnaire:
    place = await _place(session, staff, body.scope)
    questionnaire = Questionnaire(status=QuestionnaireStatus.draft, created_by_staff_id=staff.id)
    _set(questionnaire, body, place)
    session.add(questionnaire)
    await session.flush()
    await _add_questions(session, questionnaire, body)
    audit.record(
        session,
        staff,
        entity="questionnaire",
        entity_id=questionnaire.id,
        action="create",
        from_status=None,
        to_status=questionnaire.status.value,
    )
    return questionnaire


async def get_in_scope(
    session: AsyncSession, staff: StaffPrincipal, questionnaire_id: int, *, for_update: bool = False
) -> Questionnaire:
    query = select(Questionnaire).where(Questionnaire.id == questionnaire_id)
    if for_update:
        query = query.with_for_update()
    questionnaire = await session.scalar(query)
    if questionnaire is None:
        raise NotFound(QUESTIONNAIRE)
    covered = await session.scalar(
        select(Questionnaire.id).where(Questionnaire.id == questionnaire_id, staff_clause(staff))
    )
    if covered is None:
        raise OutOfScope(what=QUESTIONNAIRE)
    return questionnaire


async def update(
    session: AsyncSession, staff: StaffPrincipal, questionnaire_id: int, body: QuestionnaireIn
) -> Questionnaire:
    """Replace a draft whole: its scope (still one ``staff`` covers), times and questions."""
    questionnaire = await get_in_scope(session, staff, questionnaire_id, for_update=True)
    if questionnaire.status is not QuestionnaireStatus.draft:
        raise QuestionnaireNotDraft()
    place = await _place(session, staff, body.scope)
    _set(questionnaire, body, place)
    await session.execute(delete(Question).where(Question.questionnaire_id == questionnaire.id))
    await _add_questions(session, questionnaire, body)
    audit.record(
        session,
        staff,
        entity="questionnaire",
        entity_id=questionnaire.id,
        action="update",
        from_status=None,
        to_status=None,
    )
    return questionnaire


async def _move(
    session: AsyncSession,
    staff: StaffPrincipal,
    questionnaire_id: int,
    *,
    action: str,
    source: QuestionnaireStatus,
    target: QuestionnaireStatus,
    now: datetime,
) -> Questionnaire:
    """Lock, re-check the status, change it (a compare-and-swap)."""
    questionnaire = await get_in_scope(session, staff, questionnaire_id, for_update=True)
    if questionnaire.status is not source:
        raise InvalidTransition(
            Text(
                "只有{source}状态的问卷可以执行此操作",
                "Only a {source} questionnaire can be {action}",
            ),
            source=source.value,
            action=action,
        ).with_extra(questionnaire_status=questionnaire.status.value)
    if target is QuestionnaireStatus.published:
        if questionnaire.closes_at <= now:
            raise QuestionnaireNotOpen(OVER)
        questionnaire.published_at = now
    else:
        questionnaire.closed_at = now
    questionnaire.status = target
    audit.record(
        session,
        staff,
        entity="questionnaire",
        entity_id=questionnaire.id,
        action=action,
        from_status=source.value,
        to_status=target.value,
    )
    await session.flush()
    return questionnaire


async def publish(
    session: AsyncSession, staff: StaffPrincipal, questionnaire_id: int, now: datetime
) -> Questionnaire:
    return await _move(
        session,
        staff,
        questionnaire_id,
        action="published",
        source=QuestionnaireStatus.draft,
        target=QuestionnaireStatus.published,
        now=now,
    )


async def close(
    session: AsyncSession, staff: StaffPrincipal, questionnaire_id: int, now: datetime
) -> Questionnaire:
    return await _move(
        session,
        staff,
        questionnaire_id,
        action="closed",
        source=QuestionnaireStatus.published,
        target=QuestionnaireStatus.closed,
        now=now,
    )


# --- reading ------------------------------------------------------------------


@dataclass(frozen=True)
class Listed:
    questionnaire: Questionnaire
    scope_name: str
    question_count: int
    responses: int
    answered: bool = False


def _counted(
    query: Select[Any],
) -> Select[Any]:
    questions = (
        select(func.count())
        .where(Question.questionnaire_id == Questionnaire.id)
        .correlate(Questionnaire)
        .scalar_subquery()
    )
    responses = (
        select(func.count())
        .where(QuestionnaireResponse.questionnaire_id == Questionnaire.id)
        .correlate(Questionnaire)
        .scalar_subquery()
    )
    return query.outerjoin(Center, Center.id == Questionnaire.center_id).add_columns(
        Center.name, questions, responses
    )


async def page(
    session: AsyncSession, query: Select[Any], *, limit: int, offset: int
) -> tuple[list[Listed], int]:
    total = await session.scalar(select(func.count()).select_from(query.subquery()))
    rows = await session.execute(
        _counted(query).order_by(Questionnaire.id.desc()).limit(limit).offset(offset)
    )
    listed = [
        Listed(questionnaire, scope_name(questionnaire, center_name), count, responses)
        for questionnaire, center_name, count, responses in rows
    ]
    return listed, int(total or 0)


async def list_for_staff(
    session: AsyncSession,
    staff: StaffPrincipal,
    status: QuestionnaireStatus | None,
    *,
    limit: int,
    offset: int,
) -> tuple[list[Listed], int]:
    query = select(Questionnaire).where(staff_clause(staff))
    if status is not None:
        query = query.where(Questionnaire.status == status)
    return await page(session, query, limit=limit, offset=offset)


async def one(session: AsyncSession, questionnaire: Questionnaire) -> tuple[Listed, list[Question]]:
    rows = await session.execute(
        _counted(select(Questionnaire).where(Questionnaire.id == questionnaire.id))
    )
    found, center_name, count, responses = rows.one()
    questions = await session.scalars(
        select(Question)
        .where(Question.questionnaire_id == questionnaire.id)
        .order_by(Question.position)
    )
    return Listed(found, scope_name(found, center_name), count, responses), list(questions)
