"""Questionnaires: staff build, publish, close and read them; residents
answer them once; anyone signed in gets a link to share."""

from enum import StrEnum
from typing import Annotated, Literal

from fastapi import Query, Response, status
from fastapi.responses import JSONResponse

from app.core.clock import utcnow
from app.core.db import DatabaseDep, SessionDep
from app.core.errors import problem_responses
from app.core.routing import api_router
from app.core.schemas import MAX_ID, Limit, Offset, Page, ResourceId
from app.identity.dependencies import (
    CipherDep,
    CurrentActor,
    CurrentStaff,
    CurrentUser,
    SettingsDep,
    WechatDep,
    WechatTokensDep,
)
from app.models import Question, QuestionKind, Questionnaire, QuestionnaireStatus
from app.questionnaires import exports, residents, results, service
from app.questionnaires.schemas import (
    OptionCount,
    QuestionnaireIn,
    QuestionnaireOut,
    QuestionOut,
    QuestionResult,
    ResidentQuestionnaire,
    ResidentQuestionnaireDetail,
    ResponseIn,
    ResponseOut,
    Results,
    ScaleCount,
    ScopeOut,
    ShareOut,
    StaffQuestionnaire,
    StaffQuestionnaireDetail,
    TextAnswer,
)
from app.reports.router import XLSX, HeaderLanguage

router = api_router(tags=["questionnaires"])


def _base(listed: service.Listed) -> QuestionnaireOut:
    found = listed.questionnaire
    return QuestionnaireOut(
        id=found.id,
        title=found.title,
        intro=found.intro,
        scope=ScopeOut(
            kind=found.scope,
            center_id=found.center_id,
            district=found.district,
            street=found.street,
            name=listed.scope_name,
        ),
        opens_at=found.opens_at,
        closes_at=found.closes_at,
        anonymous=found.anonymous,
        requires_real_name=found.requires_real_name,
        status=found.status,
        is_open=service.is_open(found, utcnow()),
        question_count=listed.question_count,
    )


def _staff(listed: service.Listed) -> StaffQuestionnaire:
    return StaffQuestionnaire(
        **_base(listed).model_dump(),
        published_at=listed.questionnaire.published_at,
        closed_at=listed.questionnaire.closed_at,
        responses=listed.responses,
    )


def _staff_detail(listed: service.Listed, questions: list[Question]) -> StaffQuestionnaireDetail:
    return StaffQuestionnaireDetail(
        **_staff(listed).model_dump(),
        questions=[QuestionOut.model_validate(question) for question in questions],
    )


def _resident(listed: service.Listed) -> ResidentQuestionnaire:
    return ResidentQuestionnaire(**_base(listed).model_dump(), answered=listed.answered)


async def _detail(session: SessionDep, found: Questionnaire) -> StaffQuestionnaireDetail:
    listed, questions = await service.one(session, found)
    return _staff_detail(listed, questions)


# --- staff ----------------------------------------------------------------------


@router.post(
    "/admin/questionnaires",
    response_model=StaffQuestionnaireDetail,
    status_code=status.HTTP_201_CREATED,
    tags=["admin"],
)
async def create_questionnaire(
    body: QuestionnaireIn, staff: CurrentStaff, session: SessionDep
) -> StaffQuestionnaireDetail:
    """Build a draft for a scope you cover (a center, a street or a
    district; else 403 `out_of_scope`): 1–50 questions, `single` and
    `multiple` with 2–20 distinct options, `scale` within 0..10, `text` up to
    `max_length`."""
    return await _detail(session, await service.create(session, staff, body))


@router.get("/admin/questionnaires", response_model=Page[StaffQuestionnaire], tags=["admin"])
async def list_questionnaires(
    staff: CurrentStaff,
    session: SessionDep,
    status: QuestionnaireStatus | None = None,
    limit: Limit = 50,
    offset: Offset = 0,
) -> Page[StaffQuestionnaire]:
    """The questionnaires whose scope you cover, newest first."""
    rows, total = await service.list_for_staff(session, staff, status, limit=limit, offset=offset)
    return Page(items=[_staff(row) for row in rows], total=total, limit=limit, offset=offset)


@router.get(
    "/admin/questionnaires/{questionnaire_id}",
    response_model=StaffQuestionnaireDetail,
    tags=["admin"],
)
async def get_questionnaire(
    questionnaire_id: ResourceId, staff: CurrentStaff, session: SessionDep
) -> StaffQuestionnaireDetail:
    return await _detail(session, await service.get_in_scope(session, staff, questionnaire_id))


@router.put(
    "/admin/questionnaires/{questionnaire_id}",
    response_model=StaffQuestionnaireDetail,
    tags=["admin"],
)
async def edit_questionnaire(
    questionnaire_id: ResourceId, body: QuestionnaireIn, staff: CurrentStaff, session: SessionDep
) -> StaffQuestionnaireDetail:
    """Replace a draft whole (409 `questionnaire_not_draft` once published)."""
    found = await service.update(session, staff, questionnaire_id, body)
    return await _detail(session, found)


@router.post(
    "/admin/questionnaires/{questionnaire_id}/publish",
    response_model=StaffQuestionnaireDetail,
    tags=["admin"],
)
async def publish_questionnaire(
    questionnaire_id: ResourceId, staff: CurrentStaff, session: SessionDep
) -> StaffQuestionnaireDetail:
    """Draft → published: residents answer it between `opens_at` and
    `closes_at` (409 `questionnaire_not_open` if that has passed)."""
    found = await service.publish(session, staff, questionnaire_id, utcnow())
    return await _detail(session, found)


@router.post(
    "/admin/questionnaires/{questionnaire_id}/close",
    response_model=StaffQuestionnaireDetail,
    tags=["admin"],
)
async def close_questionnaire(
    questionnaire_id: ResourceId, staff: CurrentStaff, session: SessionDep
) -> StaffQuestionnaireDetail:
    """Published → closed, before its time: no more answers."""
    found = await service.close(session, staff, questionnaire_id, utcnow())
    return await _detail(session, found)


def _share(count: int, of: int) -> float:
    return round(count / of, 4) if of else 0.0


def _result(tally: results.Tally, question: Question, limit: int, offset: int) -> QuestionResult:
    answered = tally.answered.get(question.id, 0)
    counts = tally.counts.get(question.id, {})
    result = QuestionResult(
        question_id=question.id,
        position=question.position,
        kind=question.kind,
        text=question.text,
        answered=answered,
    )
    match question.kind:
        case QuestionKind.single | QuestionKind.multiple:
            options = [
                OptionCount(
                    option=index,
                    text=text,
                    count=counts.get(index, 0),
                    share=_share(counts.get(index, 0), answered),
                )
                for index, text in enumerate(question.options or [])
            ]
            result.options = sorted(options, key=lambda option: (-option.count, option.option))
        case QuestionKind.scale:
            low, high = question.scale_min or 0, question.scale_max or 0
            total = sum(counts.values())
            result.distribution = [
                ScaleCount(
                    value=value,
                    count=counts.get(value, 0),
                    share=_share(counts.get(value, 0), total),
                )
                for value in range(low, high + 1)
            ]
            weighted = sum(value * count for value, count in counts.items())
            result.mean = round(weighted / total, 2) if total else None
        case QuestionKind.text:
            page = tally.texts[question.id]
            result.texts = Page(
                items=[TextAnswer(text=text, submitted_at=at) for text, at in page.items],
                total=page.total,
                limit=limit,
                offset=offset,
            )
    return result


@router.get(
    "/admin/questionnaires/{questionnaire_id}/results",
    response_model=Results,
    tags=["admin"],
)
async def questionnaire_results(
    questionnaire_id: ResourceId,
    staff: CurrentStaff,
    session: SessionDep,
    district: Annotated[str | None, Query(min_length=1, max_length=20)] = None,
    street: Annotated[str | None, Query(min_length=1, max_length=50)] = None,
    limit: Annotated[int, Query(ge=1, le=200, description="Text answers per question")] = 20,
    offset: Annotated[int, Query(ge=0, le=100_000, description="Of the text answers")] = 0,
) -> Results:
    """Per question: how many answered; choices with counts and shares (of
    those who answered), ranked by count; a scale's mean and distribution;
    text answers paged (`limit`, `offset`). `district` and `street` keep the
    responses of respondents there (README, "Questionnaires")."""
    tally = await results.results(
        session,
        staff,
        questionnaire_id,
        district=district,
        street=street,
        text_limit=limit,
        text_offset=offset,
    )
    return Results(
        questionnaire_id=tally.questionnaire.id,
        district=district,
        street=street,
        responses=tally.responses,
        questions=[_result(tally, question, limit, offset) for question in tally.questions],
    )


class ExportFormat(StrEnum):
    csv = "csv"
    xlsx = "xlsx"


@router.get(
    "/admin/questionnaires/{questionnaire_id}/responses",
    tags=["admin"],
    response_class=Response,
    responses={
        200: {
            "content": {
                "text/csv": {"schema": {"type": "string"}},
                XLSX: {"schema": {"type": "string", "format": "binary"}},
            }
        }
    },
)
async def export_responses(
    questionnaire_id: ResourceId,
    staff: CurrentStaff,
    session: SessionDep,
    format: ExportFormat = ExportFormat.csv,
    lang: HeaderLanguage = "zh",
) -> Response:
    """Every response, one row each, one column per question; an anonymous
    questionnaire's has no user column."""
    found = await results.export(session, staff, questionnaire_id)
    if format is ExportFormat.csv:
        body, filename = exports.as_csv(found, lang)
        media_type = "text/csv; charset=utf-8"
    else:
        body, filename = exports.as_xlsx(found, lang)
        media_type = XLSX
    return Response(
        body,
        media_type=media_type,
        headers={"Content-Disposition": f'attachment; filename="{filename}"'},
    )


# --- residents --------------------------------------------------------------------


@router.get("/questionnaires", response_model=Page[ResidentQuestionnaire])
async def open_questionnaires(
    user: CurrentUser,
    cipher: CipherDep,
    session: SessionDep,
    center_id: Annotated[int | None, Query(ge=1, le=MAX_ID)] = None,
    district: Annotated[str | None, Query(min_length=1, max_length=20)] = None,
    limit: Limit = 50,
    offset: Offset = 0,
) -> Page[ResidentQuestionnaire]:
    """The questionnaires open now, newest first. Every published one
    concerns a resident (one may live in one street and work in another), so
    none is hidden: each names its scope (`scope.name`); `center_id` keeps
    those whose scope holds that center (the center's own, its street's,
    its district's), `district` those of a district. `answered` says
    whether you have."""
    rows, total = await residents.list_open(
        session,
        user,
        cipher,
        utcnow(),
        center_id=center_id,
        district=district,
        limit=limit,
        offset=offset,
    )
    return Page(items=[_resident(row) for row in rows], total=total, limit=limit, offset=offset)


@router.get("/questionnaires/{questionnaire_id}", response_model=ResidentQuestionnaireDetail)
async def questionnaire(
    questionnaire_id: ResourceId, user: CurrentUser, cipher: CipherDep, session: SessionDep
) -> ResidentQuestionnaireDetail:
    """A published (or closed) questionnaire and its questions."""
    listed, questions = await residents.for_resident(session, user, cipher, questionnaire_id)
    return ResidentQuestionnaireDetail(
        **_resident(listed).model_dump(),
        questions=[QuestionOut.model_validate(question) for question in questions],
    )


@router.post(
    "/questionnaires/{questionnaire_id}/responses",
    response_model=ResponseOut,
    status_code=status.HTTP_201_CREATED,
)
async def answer_questionnaire(
    questionnaire_id: ResourceId,
    body: ResponseIn,
    user: CurrentUser,
    cipher: CipherDep,
    session: SessionDep,
) -> ResponseOut:
    """Answer once (a second time: 409 `already_answered`). Each answer is
    checked against its question (422 `invalid_answer` naming it; 422
    `unknown_question`); 409 `questionnaire_not_open` before `opens_at`,
    from `closes_at` or once closed; 403 `real_name_required` where it asks
    for a verified name. An anonymous questionnaire keeps no link to you."""
    response = await residents.respond(session, user, cipher, questionnaire_id, body, utcnow())
    return ResponseOut(
        questionnaire_id=response.questionnaire_id, submitted_at=response.submitted_at
    )


@router.get(
    "/questionnaires/{questionnaire_id}/share",
    response_model=ShareOut,
    responses={
        200: {
            "content": {"image/png": {"schema": {"type": "string", "format": "binary"}}},
            "description": "JSON with the page, URL and an SVG QR code, or (format=wxacode) "
            "a PNG mini-program code",
        },
        **problem_responses(502),
    },
)
async def share_questionnaire(
    questionnaire_id: ResourceId,
    actor: CurrentActor,
    database: DatabaseDep,
    settings: SettingsDep,
    wechat: WechatDep,
    tokens: WechatTokensDep,
    format: Annotated[
        Literal["svg", "wxacode"],
        Query(
            description="`svg`: the page, the URL and a plain QR code; `wxacode`: a PNG "
            "mini-program code from WeChat that opens the page with `scene` = "
            "`id=<id>` (409 `wechat_not_configured` without WeChat)"
        ),
    ] = "svg",
) -> Response:
    """What to pass on: the mini-program page (`path`), WeChat's URL scheme
    that opens it (`url`, once an app id is configured), and a QR code (SVG)
    of the URL (of the path without one); or a mini-program code. A draft is
    404."""
    async with database.reader.begin() as session:
        found = await results.share(session, settings, questionnaire_id)
    if format == "svg":
        return JSONResponse(ShareOut(path=found.path, url=found.url, svg=found.svg).model_dump())
    png = await results.mini_program_code(settings, wechat, tokens, questionnaire_id)
    return Response(png, media_type="image/png", headers={"Cache-Control": "no-store"})
