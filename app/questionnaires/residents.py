"""What residents do with a questionnaire: list the open ones, read one,
answer it once (service.py's docstring says how; README, "Questionnaires")."""

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import and_, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from app.core.clock import SHANGHAI
from app.core.crypto import PiiCipher
from app.core.db import flush_unique
from app.core.errors import AppError, NotFound, Text
from app.models import (
    Answer,
    Center,
    Question,
    QuestionKind,
    Questionnaire,
    QuestionnaireResponse,
    QuestionnaireScope,
    QuestionnaireStatus,
    User,
)
from app.questionnaires.schemas import AnswerIn, ResponseIn
from app.questionnaires.service import (
    CENTER,
    NOT_YET,
    OVER,
    QUESTIONNAIRE,
    Listed,
    QuestionnaireNotOpen,
    holds,
    one,
    page,
)
from app.reservations.errors import RealNameRequired

RESPONDENT = "questionnaire-respondent"


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
    listed, total = await page(session, query, limit=limit, offset=offset)
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
        if center is None or not holds(questionnaire, center):
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
