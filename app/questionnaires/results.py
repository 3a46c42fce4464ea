"""A questionnaire's results for staff, its responses to export, and the
link to share it."""

from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime
from urllib.parse import quote

from sqlalchemy import ColumnElement, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from app.core.config import Settings
from app.identity.principals import StaffPrincipal
from app.identity.wechat import AccessTokens, WechatClient, with_access_token
from app.models import (
    Answer,
    Question,
    QuestionKind,
    Questionnaire,
    QuestionnaireResponse,
)
from app.questionnaires.residents import get_published
from app.questionnaires.service import (
    get_in_scope,
    one,
)
from app.spaces.check_in_qr import ENV_VERSIONS, WechatNotConfigured, qr_svg

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


async def mini_program_code(
    settings: Settings, wechat: WechatClient, tokens: AccessTokens, questionnaire_id: int
) -> bytes:
    """The questionnaire as a WeChat mini-program code (PNG), as a room's
    check-in code is made: WeChat's scanner opens the questionnaire's page
    with ``scene`` = ``id=<questionnaire id>``."""
    if not settings.wechat_configured:
        raise WechatNotConfigured()
    env_version = ENV_VERSIONS[settings.wechat_miniprogram_state]
    return await with_access_token(
        tokens,
        lambda token: wechat.mini_program_code(
            token,
            scene=f"id={questionnaire_id}",
            page=settings.wechat_questionnaire_page,
            env_version=env_version,
        ),
    )
