"""Suggestions and questionnaire answers are personal data (README,
"Personal data"): ``GET /me/export`` carries them, ``DELETE /me`` unlinks
the person and keeps the text and the answers, the retention purge unlinks
the old ones, and an anonymous questionnaire's answer carries no user id at
any step."""

from datetime import timedelta

import time_machine
from sqlalchemy import select

from app.accounts import service as accounts
from app.core.clock import utcnow
from app.models import QuestionnaireResponse, Suggestion, Upload
from tests.factories import Api, Headers, Json
from tests.test_questionnaires import DURING, full_answers, published, respond
from tests.test_suggestions import LEDGER, act, raise_one
from tests.test_uploads import PNG, upload

EXPORT = "/api/v1/me/export"


async def answered(api: Api, resident: Headers, staff: Headers, center: Json) -> tuple[Json, Json]:
    """An open and an anonymous questionnaire, both answered by ``resident``."""
    scope = {"center_id": center["id"]}
    named = await published(api, staff, scope, title="开放时间调查")
    anonymous = await published(api, staff, scope, title="服务评价", anonymous=True)
    for found in (named, anonymous):
        answer = await respond(api, resident, found, full_answers(found, text="多开夜场"))
        assert answer.status_code == 201, answer.text
    return named, anonymous


async def rows(api: Api) -> tuple[list[Suggestion], list[QuestionnaireResponse], list[Upload]]:
    async with api.database.reader() as session:
        return (
            list((await session.scalars(select(Suggestion))).all()),
            list((await session.scalars(select(QuestionnaireResponse))).all()),
            list((await session.scalars(select(Upload))).all()),
        )


async def test_export_carries_suggestions_and_named_answers(api: Api) -> None:
    with time_machine.travel(DURING, tick=True):
        staff = await api.staff()
        center = await api.center(staff)
        resident = await api.resident()
        photo = (await upload(api, resident, PNG)).json()["id"]
        raised = await raise_one(api, resident, center["id"], photos=[photo])
        await act(api, staff, raised["id"], "answer", {"answer": "已安排维修"})
        named, anonymous = await answered(api, resident, staff, center)
        _, responses, _ = await rows(api)
        linked = {row.questionnaire_id: row.user_id for row in responses}
        assert linked[anonymous["id"]] is None
        assert linked[named["id"]] is not None

        exported = (await api.client.get(EXPORT, headers=resident)).json()
        [suggestion] = exported["suggestions"]
        assert (suggestion["id"], suggestion["text"], suggestion["photos"]) == (
            raised["id"],
            raised["text"],
            [photo],
        )
        assert suggestion["answer"] == "已安排维修"
        # The named questionnaire's answers; the anonymous one's are linked to nobody.
        [response] = exported["questionnaire_responses"]
        assert (response["questionnaire_id"], response["questionnaire_title"]) == (
            named["id"],
            "开放时间调查",
        )
        assert "多开夜场" in [answer["text"] for answer in response["answers"]]


async def test_erasure_keeps_the_text_and_answers_and_unlinks_the_person(api: Api) -> None:
    with time_machine.travel(DURING, tick=True):
        staff = await api.staff()
        center = await api.center(staff)
        resident = await api.resident()
        photo = (await upload(api, resident, PNG)).json()["id"]
        raised = await raise_one(api, resident, center["id"], photos=[photo])
        await answered(api, resident, staff, center)

        assert (await api.client.delete("/api/v1/me", headers=resident)).status_code == 204
        suggestions, responses, uploads = await rows(api)
        assert [(row.text, row.user_id, row.contact_ok) for row in suggestions] == [
            (raised["text"], None, False)
        ]
        assert [row.user_id for row in responses] == [None, None]
        assert [(row.user_id, row.suggestion_id) for row in uploads] == [(None, raised["id"])]

        # The ledger keeps the item, now without a submitter to contact.
        entry = (await api.client.get(f"{LEDGER}/{raised['id']}", headers=staff)).json()
        assert entry["has_submitter"] is False
        contact = await api.client.get(f"{LEDGER}/{raised['id']}/contact", headers=staff)
        assert contact.status_code == 409
        # Closing it tells nobody (the person is gone), and still counts.
        closed = await act(api, staff, raised["id"], "close", {"outcome": "done", "answer": "好"})
        assert closed["status"] == "closed"


async def test_the_purge_unlinks_old_closed_suggestions_and_answers(api: Api) -> None:
    with time_machine.travel(DURING, tick=True):
        staff = await api.staff()
        center = await api.center(staff)
        resident = await api.resident()
        closed = await raise_one(api, resident, center["id"])
        running = await raise_one(api, resident, center["id"])
        await act(api, staff, closed["id"], "close", {"outcome": "done", "answer": "已处理"})
        await answered(api, resident, staff, center)

        settings = api.app.state.settings
        later = utcnow() + timedelta(days=settings.audit_personal_data_retention_days + 1)
        async with api.database.writer.begin() as session:
            kept = await accounts.purge_personal_data(session, settings, utcnow())
            assert (kept.suggestions_unlinked, kept.responses_unlinked) == (0, 0)
            purged = await accounts.purge_personal_data(session, settings, later)
        assert (purged.suggestions_unlinked, purged.responses_unlinked) == (1, 1)
        suggestions, responses, _ = await rows(api)
        linked = {row.id: row.user_id is not None for row in suggestions}
        assert linked == {closed["id"]: False, running["id"]: True}
        assert all(row.user_id is None for row in responses)
