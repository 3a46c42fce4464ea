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

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from urllib.parse import quote

from sqlalchemy import ColumnElement, Select, and_, delete, false, func, or_, select, true
from sqlalchemy.ext.asyncio import AsyncSession

from app.audit import service as audit
from app.core.clock import SHANGHAI
from app.core.config import Settings
from app.core.crypto import PiiCipher
from app.core.db import flush_unique
from app.core.errors import AppError, InvalidTransition, NotFound, OutOfScope, Text
from app.identity.principals import StaffPrincipal
from app.models import (
    Answer,
    Center,
    Question,
    QuestionKind,
    Questionnaire,
    QuestionnaireResponse,
    QuestionnaireScope,
    QuestionnaireStatus,
    StaffRole,
    User,
)
from app.questionnaires.schemas import AnswerIn, QuestionnaireIn, ResponseIn, ScopeIn
from app.reservations.errors import RealNameRequired
from app.spaces.check_in_qr import ENV_VERSIONS, qr_svg

QUESTIONNAIRE = Text("问卷", "questionnaire")
CENTER = Text("中心", "center")
RESPONDENT = "questionnaire-respondent"


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


class AlreadyAnswered(AppError):
    status = 409
    code = "already_answered"
    title = Text("已作答", "Already answered")
    detail = Text("每份问卷只能作答一次", "A questionnaire is answered once")


class InvalidAnswer(AppError):
    status = 422
    code = "invalid_answer"
    title = Text("答案无效", "Invalid answer")
    detail = Text(
        "第{position}题（{question}）：{reason}", "Question {position} ({question}): {reason}"
    )


class UnknownQuestion(AppError):
    status = 422
    code = "unknown_question"
    title = Text("题目不存在", "No such question")
    detail = Text(
        "题目 {question_id} 不属于该问卷或重复作答",
        "Question {question_id} is not in this questionnaire, or is answered twice",
    )


class CenterOutsideScope(AppError):
    status = 422
    code = "center_outside_scope"
    title = Text("中心不在问卷范围内", "Center outside the questionnaire's scope")
    detail = Text(
        "所选中心不在该问卷的范围内", "The center named is outside the questionnaire's scope"
    )


REQUIRED = Text("此题必答", "an answer is required")
WRONG_FIELD = Text("答案的形式与题型不符", "the answer's field does not fit the question's kind")
NO_SUCH_OPTION = Text("没有该选项", "no such option")
REPEATED_OPTION = Text("选项重复", "an option is chosen twice")
OFF_SCALE = Text("超出量表范围（{low}–{high}）", "outside the scale ({low}–{high})")
TOO_LONG = Text("超过 {limit} 字", "longer than {limit} characters")


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


def _holds(questionnaire: Questionnaire, center: Center) -> bool:
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


async def _page(
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
    return await _page(session, query, limit=limit, offset=offset)


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


def respondent_key(cipher: PiiCipher, questionnaire_id: int, user_id: int) -> str:
    return cipher.blind_index(RESPONDENT, f"{questionnaire_id}:{user_id}")


async def _answered(
    session: AsyncSession, cipher: PiiCipher, user: User, questionnaire_ids: Sequence[int]
) -> set[int]:
    if not questionnaire_ids:
        return set()
    keys = [respondent_key(cipher, qid, user.id) for qid in questionnaire_ids]
    found = await session.scalars(
        select(QuestionnaireResponse.questionnaire_id).where(
            QuestionnaireResponse.questionnaire_id.in_(questionnaire_ids),
            QuestionnaireResponse.respondent_key.in_(keys),
        )
    )
    return set(found)


async def list_open(
    session: AsyncSession,
    user: User,
    cipher: PiiCipher,
    now: datetime,
    *,
    center_id: int | None,
    district: str | None,
    limit: int,
    offset: int,
) -> tuple[list[Listed], int]:
    """Every published questionnaire open now, newest first; ``center_id``:
    those whose scope holds that center; ``district``: those of that district."""
    query = select(Questionnaire).where(
        Questionnaire.status == QuestionnaireStatus.published,
        Questionnaire.opens_at <= now,
        Questionnaire.closes_at > now,
    )
    if center_id is not None:
        center = await session.get(Center, center_id)
        if center is None:
            raise NotFound(CENTER)
        query = query.where(
            or_(
                Questionnaire.center_id == center.id,
                and_(
                    Questionnaire.scope == QuestionnaireScope.street,
                    Questionnaire.district == center.district,
                    Questionnaire.street == center.street,
                ),
                and_(
                    Questionnaire.scope == QuestionnaireScope.district,
                    Questionnaire.district == center.district,
                ),
            )
        )
    if district is not None:
        query = query.where(Questionnaire.district == district)
    listed, total = await _page(session, query, limit=limit, offset=offset)
    answered = await _answered(session, cipher, user, [row.questionnaire.id for row in listed])
    return [
        Listed(
            row.questionnaire,
            row.scope_name,
            row.question_count,
            row.responses,
            row.questionnaire.id in answered,
        )
        for row in listed
    ], total


async def get_published(
    session: AsyncSession, questionnaire_id: int, *, lock: bool = False
) -> Questionnaire:
    """A published or closed questionnaire; a draft is as unknown as a missing one."""
    query = select(Questionnaire).where(
        Questionnaire.id == questionnaire_id,
        Questionnaire.status != QuestionnaireStatus.draft,
    )
    if lock:  # against a close deciding at the same time (a shared lock)
        query = query.with_for_update(read=True)
    questionnaire = await session.scalar(query)
    if questionnaire is None:
        raise NotFound(QUESTIONNAIRE)
    return questionnaire


async def for_resident(
    session: AsyncSession, user: User, cipher: PiiCipher, questionnaire_id: int
) -> tuple[Listed, list[Question]]:
    questionnaire = await get_published(session, questionnaire_id)
    listed, questions = await one(session, questionnaire)
    answered = await _answered(session, cipher, user, [questionnaire.id])
    return (
        Listed(
            listed.questionnaire,
            listed.scope_name,
            listed.question_count,
            listed.responses,
            questionnaire.id in answered,
        ),
        questions,
    )


# --- answering ----------------------------------------------------------------


def _refuse(question: Question, reason: Text, **params: object) -> InvalidAnswer:
    return InvalidAnswer(
        position=question.position,
        question=question.text,
        reason=Text(reason.zh.format(**params), reason.en.format(**params)),
    ).with_extra(question_id=question.id)


def _rows(question: Question, answer: AnswerIn | None) -> list[Answer]:
    """The answer's rows, checked against its question; none if skipped."""
    if answer is None:
        if question.required:
            raise _refuse(question, REQUIRED)
        return []
    given = {
        "choice": answer.choice is not None,
        "choices": answer.choices is not None,
        "value": answer.value is not None,
        "text": answer.text is not None,
    }
    field = {
        QuestionKind.single: "choice",
        QuestionKind.multiple: "choices",
        QuestionKind.scale: "value",
        QuestionKind.text: "text",
    }[question.kind]
    if any(present for name, present in given.items() if name != field):
        raise _refuse(question, WRONG_FIELD)
    options = question.options or []
    rows: list[Answer]
    match question.kind:
        case QuestionKind.single:
            chosen = [] if answer.choice is None else [answer.choice]
        case QuestionKind.multiple:
            chosen = answer.choices or []
            if len(set(chosen)) != len(chosen):
                raise _refuse(question, REPEATED_OPTION)
        case QuestionKind.scale:
            chosen = []
            if answer.value is None:
                rows = []
            else:
                low, high = question.scale_min, question.scale_max
                assert low is not None
                assert high is not None
                if not low <= answer.value <= high:
                    raise _refuse(question, OFF_SCALE, low=low, high=high)
                rows = [Answer(question_id=question.id, value=answer.value)]
        case QuestionKind.text:
            chosen = []
            text = answer.text or ""
            limit = question.max_length or 0
            if len(text) > limit:
                raise _refuse(question, TOO_LONG, limit=limit)
            rows = [Answer(question_id=question.id, text=text)] if text else []
    if question.kind in (QuestionKind.single, QuestionKind.multiple):
        if any(option >= len(options) for option in chosen):
            raise _refuse(question, NO_SUCH_OPTION)
        rows = [Answer(question_id=question.id, option=option) for option in chosen]
    if not rows and question.required:
        raise _refuse(question, REQUIRED)
    return rows


def check_answers(questions: Sequence[Question], answers: Sequence[AnswerIn]) -> list[Answer]:
    """Every answer checked against the questions (``422`` naming the first
    question at fault), as rows to store."""
    by_id = {question.id: question for question in questions}
    given: dict[int, AnswerIn] = {}
    for answer in answers:
        if answer.question_id not in by_id or answer.question_id in given:
            raise UnknownQuestion(question_id=answer.question_id)
        given[answer.question_id] = answer
    rows: list[Answer] = []
    for question in questions:
        rows.extend(_rows(question, given.get(question.id)))
    return rows


async def respond(
    session: AsyncSession,
    user: User,
    cipher: PiiCipher,
    questionnaire_id: int,
    body: ResponseIn,
    now: datetime,
) -> QuestionnaireResponse:
    questionnaire = await get_published(session, questionnaire_id, lock=True)
    if questionnaire.status is not QuestionnaireStatus.published:
        raise QuestionnaireNotOpen(OVER)
    if now < questionnaire.opens_at:
        raise QuestionnaireNotOpen(NOT_YET).with_extra(
            opens_at=questionnaire.opens_at.astimezone(SHANGHAI).isoformat()
        )
    if now >= questionnaire.closes_at:
        raise QuestionnaireNotOpen(OVER)
    if questionnaire.requires_real_name and not user.real_name_verified:
        raise RealNameRequired(
            Text("回答该问卷须先完成实名认证", "Verify your real name to answer this questionnaire")
        )
    key = respondent_key(cipher, questionnaire.id, user.id)
    taken = await session.scalar(
        select(QuestionnaireResponse.id).where(
            QuestionnaireResponse.questionnaire_id == questionnaire.id,
            QuestionnaireResponse.respondent_key == key,
        )
    )
    if taken is not None:
        raise AlreadyAnswered()
    district, street, center_id = questionnaire.district, questionnaire.street, None
    if body.center_id is not None:
        center = await session.get(Center, body.center_id)
        if center is None or not _holds(questionnaire, center):
            raise CenterOutsideScope()
        district, street, center_id = center.district, center.street or None, center.id
    elif questionnaire.scope is QuestionnaireScope.center:
        center_id = questionnaire.center_id
    questions = (
        await session.scalars(
            select(Question)
            .where(Question.questionnaire_id == questionnaire.id)
            .order_by(Question.position)
        )
    ).all()
    rows = check_answers(questions, body.answers)
    response = QuestionnaireResponse(
        questionnaire_id=questionnaire.id,
        respondent_key=key,
        user_id=None if questionnaire.anonymous else user.id,
        center_id=center_id,
        district=district,
        street=street,
        submitted_at=(
            now.replace(minute=0, second=0, microsecond=0) if questionnaire.anonymous else now
        ),
    )
    session.add(response)
    await flush_unique(session, AlreadyAnswered())  # two at once: one is kept
    for row in rows:
        row.response_id = response.id
        session.add(row)
    await session.flush()
    return response


# --- results and exports -------------------------------------------------------


@dataclass(frozen=True)
class TextPage:
    items: list[tuple[str, datetime]]
    total: int


@dataclass(frozen=True)
class Tally:
    questionnaire: Questionnaire
    questions: list[Question]
    responses: int
    answered: dict[int, int]  # question id -> responses that answered it
    counts: dict[int, dict[int, int]]  # question id -> option or value -> count
    texts: dict[int, TextPage]


def _where(
    questionnaire_id: int, district: str | None, street: str | None
) -> list[ColumnElement[bool]]:
    clauses = [QuestionnaireResponse.questionnaire_id == questionnaire_id]
    if district is not None:
        clauses.append(QuestionnaireResponse.district == district)
    if street is not None:
        clauses.append(QuestionnaireResponse.street == street)
    return clauses


async def results(
    session: AsyncSession,
    staff: StaffPrincipal,
    questionnaire_id: int,
    *,
    district: str | None,
    street: str | None,
    text_limit: int,
    text_offset: int,
) -> Tally:
    questionnaire = await get_in_scope(session, staff, questionnaire_id)
    _, questions = await one(session, questionnaire)
    where = _where(questionnaire.id, district, street)
    responses = await session.scalar(select(func.count()).where(*where)) or 0
    joined = select(Answer.question_id).join(
        QuestionnaireResponse, QuestionnaireResponse.id == Answer.response_id
    )
    answered_rows = await session.execute(
        joined.add_columns(func.count(func.distinct(Answer.response_id)))
        .where(*where)
        .group_by(Answer.question_id)
    )
    answered = {question_id: int(count) for question_id, count in answered_rows}
    counts: dict[int, dict[int, int]] = defaultdict(dict)
    for column in (Answer.option, Answer.value):
        grouped = await session.execute(
            joined.add_columns(column, func.count())
            .where(*where, column.is_not(None))
            .group_by(Answer.question_id, column)
        )
        for question_id, key, count in grouped:
            assert key is not None
            counts[question_id][key] = int(count)
    texts: dict[int, TextPage] = {}
    for question in questions:
        if question.kind is not QuestionKind.text:
            continue
        page = await session.execute(
            select(Answer.text, QuestionnaireResponse.submitted_at)
            .join(QuestionnaireResponse, QuestionnaireResponse.id == Answer.response_id)
            .where(*where, Answer.question_id == question.id, Answer.text.is_not(None))
            .order_by(Answer.id)
            .limit(text_limit)
            .offset(text_offset)
        )
        texts[question.id] = TextPage(
            [(text or "", at) for text, at in page], answered.get(question.id, 0)
        )
    return Tally(questionnaire, questions, int(responses), answered, dict(counts), texts)


@dataclass(frozen=True)
class Export:
    questionnaire: Questionnaire
    questions: list[Question]
    # one row per response: id, submitted_at, district, street, user id (None
    # for an anonymous questionnaire, whose export has no such column), and
    # each question's answer as text
    rows: list[tuple[int, datetime, str, str | None, int | None, list[str]]]


async def export(session: AsyncSession, staff: StaffPrincipal, questionnaire_id: int) -> Export:
    questionnaire = await get_in_scope(session, staff, questionnaire_id)
    _, questions = await one(session, questionnaire)
    responses = (
        await session.scalars(
            select(QuestionnaireResponse)
            .where(QuestionnaireResponse.questionnaire_id == questionnaire.id)
            .order_by(QuestionnaireResponse.id)
        )
    ).all()
    answers = await session.execute(
        select(Answer.response_id, Answer.question_id, Answer.option, Answer.value, Answer.text)
        .join(QuestionnaireResponse, QuestionnaireResponse.id == Answer.response_id)
        .where(QuestionnaireResponse.questionnaire_id == questionnaire.id)
        .order_by(Answer.id)
    )
    by_question = {question.id: question for question in questions}
    cells: dict[tuple[int, int], list[str]] = defaultdict(list)
    for response_id, question_id, option, value, text in answers:
        question = by_question[question_id]
        if option is not None:
            cells[response_id, question_id].append((question.options or [])[option])
        elif value is not None:
            cells[response_id, question_id].append(str(value))
        elif text is not None:
            cells[response_id, question_id].append(text)
    rows = [
        (
            response.id,
            response.submitted_at,
            response.district,
            response.street,
            None if questionnaire.anonymous else response.user_id,
            ["; ".join(cells.get((response.id, question.id), [])) for question in questions],
        )
        for response in responses
    ]
    return Export(questionnaire, questions, rows)


# --- sharing --------------------------------------------------------------------


@dataclass(frozen=True)
class Share:
    path: str
    url: str | None
    svg: str


async def share(session: AsyncSession, settings: Settings, questionnaire_id: int) -> Share:
    """The mini-program page that opens the questionnaire, WeChat's URL scheme
    for it (明文 URL Scheme, once an app id is configured), and a QR code."""
    questionnaire = await get_published(session, questionnaire_id)
    page = settings.wechat_questionnaire_page
    query = f"id={questionnaire.id}"
    url = None
    if settings.wechat_app_id:
        env_version = ENV_VERSIONS[settings.wechat_miniprogram_state]
        url = (
            f"weixin://dl/business/?appid={quote(settings.wechat_app_id, safe='')}"
            f"&path={quote(page, safe='')}&query={quote(query, safe='')}"
            f"&env_version={env_version}"
        )
    path = f"{page}?{query}"
    return Share(path=path, url=url, svg=qr_svg(url or path))
