"""What a person said that outlives their link to it: the suggestions they
raised and their answers to questionnaires that were not anonymous. The
export finds them; erasure and the retention purge unlink the person and
keep the text and the answers (for the ledger and the results)."""

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from app.models import (
    Answer,
    Question,
    Questionnaire,
    QuestionnaireResponse,
    Suggestion,
    Upload,
    User,
)


async def suggestions_of(
    session: AsyncSession, user: User
) -> list[tuple[Suggestion, Sequence[int]]]:
    rows = (
        await session.scalars(
            select(Suggestion).where(Suggestion.user_id == user.id).order_by(Suggestion.id)
        )
    ).all()
    photos = await session.execute(
        select(Upload.suggestion_id, Upload.id)
        .where(Upload.suggestion_id.in_([row.id for row in rows]))
        .order_by(Upload.id)
    )
    attached: dict[int | None, list[int]] = {}
    for suggestion_id, upload_id in photos:
        attached.setdefault(suggestion_id, []).append(upload_id)
    return [(row, attached.get(row.id, [])) for row in rows]


async def responses_of(
    session: AsyncSession, user: User
) -> list[tuple[QuestionnaireResponse, str, Sequence[tuple[Answer, str]]]]:
    """The user's answers to questionnaires that were not anonymous: an
    anonymous one's keep no link to anyone, so no export can find them."""
    rows = (
        await session.execute(
            select(QuestionnaireResponse, Questionnaire.title)
            .join(Questionnaire, Questionnaire.id == QuestionnaireResponse.questionnaire_id)
            .where(QuestionnaireResponse.user_id == user.id)
            .order_by(QuestionnaireResponse.id)
        )
    ).all()
    answers = await session.execute(
        select(Answer, Question.text)
        .join(Question, Question.id == Answer.question_id)
        .where(Answer.response_id.in_([response.id for response, _ in rows]))
        .order_by(Answer.response_id, Question.position, Answer.id)
    )
    given: dict[int, list[tuple[Answer, str]]] = {}
    for answer, question in answers:
        given.setdefault(answer.response_id, []).append((answer, question))
    return [(response, title, given.get(response.id, [])) for response, title in rows]


async def unlink(session: AsyncSession, user_id: int) -> None:
    """The erased person's suggestions, photos and answers, linked to nobody."""
    await session.execute(
        update(Suggestion)
        .where(Suggestion.user_id == user_id)
        .values(user_id=None, contact_ok=False)
    )
    await session.execute(update(Upload).where(Upload.user_id == user_id).values(user_id=None))
    await session.execute(
        update(QuestionnaireResponse)
        .where(QuestionnaireResponse.user_id == user_id)
        .values(user_id=None)
    )


async def unlink_before(session: AsyncSession, before: datetime) -> tuple[int, int]:
    """Suggestions closed, and answers given, before ``before``, linked to
    nobody; how many of each."""
    suggestions = await session.execute(
        update(Suggestion)
        .where(Suggestion.closed_at < before, Suggestion.user_id.is_not(None))
        .values(user_id=None, contact_ok=False)
    )
    responses = await session.execute(
        update(QuestionnaireResponse)
        .where(
            QuestionnaireResponse.submitted_at < before,
            QuestionnaireResponse.user_id.is_not(None),
        )
        .values(user_id=None)
    )
    return suggestions.rowcount, responses.rowcount  # type: ignore[attr-defined]
