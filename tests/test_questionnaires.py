"""Questionnaires (README, "Questionnaires"): staff build one for a scope they
cover, publish and close it; residents answer it once while it is open,
each answer checked against its question; results per question, filtered
by street or district; exports; a link to share. An anonymous
questionnaire's answers keep no user id anywhere in the database."""

import asyncio
import csv
import io
from collections.abc import AsyncIterator, Iterator
from datetime import datetime, timedelta
from typing import Any

import httpx
import pytest
import time_machine
from openpyxl import load_workbook
from sqlalchemy import func, select

from app.core.clock import SHANGHAI
from app.models import AuditEvent, Base, QuestionnaireResponse, StaffRole
from tests.conftest import make_settings, running
from tests.factories import Api, Headers, Json, verified_resident
from tests.fake_wechat import APP_ID, APP_SECRET, FakeWechat, serve_fake_wechat
from tests.test_errors import assert_problem

OPENS = datetime(2030, 3, 1, 9, 0, tzinfo=SHANGHAI)
CLOSES = OPENS + timedelta(days=7)
BEFORE = OPENS - timedelta(hours=1)
DURING = OPENS + timedelta(days=1)
PUTUO, CHANGFENG, YICHUAN = "普陀区", "长风新村街道", "宜川路街道"
ADMIN = "/api/v1/admin/questionnaires"


def questions() -> list[Json]:
    return [
        {"kind": "single", "text": "您最常来中心做什么？", "options": ["阅读", "健身", "开会"]},
        {
            "kind": "multiple",
            "text": "希望增加哪些服务？",
            "options": ["法律咨询", "托育", "理发"],
            "required": False,
        },
        {"kind": "scale", "text": "总体满意度", "scale_min": 1, "scale_max": 5},
        {"kind": "text", "text": "其他建议", "required": False, "max_length": 50},
    ]


def body(scope: Json, **overrides: Any) -> Json:
    return {
        "title": "党群服务中心满意度调查",
        "intro": "请花两分钟填写",
        "scope": scope,
        "opens_at": OPENS.isoformat(),
        "closes_at": CLOSES.isoformat(),
        "questions": questions(),
        **overrides,
    }


async def created(api: Api, staff: Headers, scope: Json, **overrides: Any) -> Json:
    answer = await api.client.post(ADMIN, json=body(scope, **overrides), headers=staff)
    assert answer.status_code == 201, answer.text
    result: Json = answer.json()
    return result


async def published(api: Api, staff: Headers, scope: Json, **overrides: Any) -> Json:
    found = await created(api, staff, scope, **overrides)
    answer = await api.client.post(f"{ADMIN}/{found['id']}/publish", headers=staff)
    assert answer.status_code == 200, answer.text
    result: Json = answer.json()
    return result


def full_answers(found: Json, single: int = 0, multiple: list[int] | None = None,
                 value: int = 4, text: str | None = "多开夜场") -> list[Json]:  # fmt: skip
    ids = [question["id"] for question in found["questions"]]
    answers: list[Json] = [
        {"question_id": ids[0], "choice": single},
        {"question_id": ids[1], "choices": multiple if multiple is not None else [0, 1]},
        {"question_id": ids[2], "value": value},
    ]
    if text is not None:
        answers.append({"question_id": ids[3], "text": text})
    return answers


async def respond(
    api: Api, resident: Headers, found: Json, answers: list[Json], **extra: Any
) -> httpx.Response:
    return await api.client.post(
        f"/api/v1/questionnaires/{found['id']}/responses",
        json={"answers": answers, **extra},
        headers=resident,
    )


async def test_staff_build_residents_answer_staff_read_the_results(api: Api) -> None:
    with time_machine.travel(DURING, tick=True):
        district = await api.staff(StaffRole.district_admin, district=PUTUO)
        here = await api.center(street=CHANGFENG)
        there = await api.center(street=YICHUAN)
        found = await published(api, district, {"district": PUTUO})
        assert found["status"] == "published"
        assert found["is_open"] is True
        assert found["scope"] == {
            "kind": "district",
            "center_id": None,
            "district": PUTUO,
            "street": None,
            "name": PUTUO,
        }
        residents = [await api.resident() for _ in range(4)]
        given = [
            (here, 1, [1], 5, "多开夜场"),
            (here, 1, [0, 1], 4, None),
            (there, 0, [1], 3, '=HYPERLINK("http://x")'),
            (None, 2, [], 2, None),
        ]
        for resident, (center, single, multiple, value, text) in zip(residents, given, strict=True):
            extra = {"center_id": center["id"]} if center else {}
            answer = await respond(
                api, resident, found, full_answers(found, single, multiple, value, text), **extra
            )
            assert answer.status_code == 201, answer.text

        results = await api.client.get(f"{ADMIN}/{found['id']}/results", headers=district)
        assert results.status_code == 200, results.text
        report = results.json()
        assert report["responses"] == 4
        single, multiple, scale, text = report["questions"]
        assert [(o["text"], o["count"], o["share"]) for o in single["options"]] == [
            ("健身", 2, 0.5),
            ("阅读", 1, 0.25),
            ("开会", 1, 0.25),
        ]
        assert multiple["answered"] == 3  # the fourth chose none
        assert [(o["option"], o["count"]) for o in multiple["options"]] == [(1, 3), (0, 1), (2, 0)]
        assert scale["mean"] == 3.5
        assert [d["count"] for d in scale["distribution"]] == [0, 1, 1, 1, 1]
        assert text["texts"]["total"] == 2
        paged = await api.client.get(
            f"{ADMIN}/{found['id']}/results", params={"limit": 1, "offset": 1}, headers=district
        )
        assert [t["text"] for t in paged.json()["questions"][3]["texts"]["items"]] == [
            '=HYPERLINK("http://x")'
        ]

        street = await api.client.get(
            f"{ADMIN}/{found['id']}/results",
            params={"district": PUTUO, "street": CHANGFENG},
            headers=district,
        )
        assert street.json()["responses"] == 2
        assert street.json()["questions"][2]["mean"] == 4.5

        exported = await api.client.get(
            f"{ADMIN}/{found['id']}/responses", params={"format": "csv"}, headers=district
        )
        assert exported.status_code == 200
        rows = list(csv.reader(io.StringIO(exported.content.decode("utf-8-sig"))))
        assert rows[0][:5] == ["答卷编号", "提交时间", "区", "街镇", "用户编号"]
        assert len(rows) == 5
        assert all(row[4] for row in rows[1:])  # not anonymous: whose it is
        assert rows[3][-1] == '\'=HYPERLINK("http://x")'  # never a formula
        assert rows[2][5:7] == ["健身", "法律咨询; 托育"]
        xlsx = await api.client.get(
            f"{ADMIN}/{found['id']}/responses",
            params={"format": "xlsx", "lang": "en"},
            headers=district,
        )
        sheet = load_workbook(io.BytesIO(xlsx.content)).active
        assert sheet is not None
        assert [cell.value for cell in sheet[1]][:5] == [
            "response",
            "submitted_at",
            "district",
            "street",
            "user_id",
        ]


@pytest.mark.parametrize(
    ("change", "where"),
    [
        ({"questions": []}, "questions"),
        ({"questions": [questions()[2]] * 51}, "questions"),
        ({"closes_at": OPENS.isoformat()}, "closes_at"),
        ({"questions": [{"kind": "single", "text": "一", "options": ["甲"]}]}, "questions"),
        ({"questions": [{"kind": "single", "text": "一", "options": ["甲", "甲"]}]}, "questions"),
        (
            {
                "questions": [
                    {"kind": "multiple", "text": "一", "options": [str(n) for n in range(21)]}
                ]
            },
            "questions",
        ),  # fmt: skip
        (
            {"questions": [{"kind": "scale", "text": "一", "scale_min": 5, "scale_max": 5}]},
            "questions",
        ),
        (
            {"questions": [{"kind": "scale", "text": "一", "scale_min": 0, "scale_max": 11}]},
            "questions",
        ),
        ({"questions": [{"kind": "text", "text": "一", "options": ["甲", "乙"]}]}, "questions"),
        ({"questions": [{"kind": "text", "text": "一", "max_length": 5000}]}, "questions"),
        ({"scope": {"street": CHANGFENG}}, "scope"),
        ({"scope": {"center_id": 1, "district": PUTUO}}, "scope"),
    ],
)
async def test_a_questionnaire_that_cannot_work_is_refused(
    api: Api, change: Json, where: str
) -> None:
    staff = await api.staff()
    answer = await api.client.post(
        ADMIN, json={**body({"district": PUTUO}), **change}, headers=staff
    )
    problem = assert_problem(answer, 422, "validation_failed")
    assert where in str(problem)


async def test_staff_target_only_a_scope_they_cover(api: Api) -> None:
    with time_machine.travel(BEFORE, tick=True):
        mine = await api.center(street=CHANGFENG)
        other = await api.center(district="闵行区", street="莘庄镇")
        center_admin = await api.staff(StaffRole.center_admin, center_ids=[mine["id"]])
        street_admin = await api.staff(StaffRole.street_admin, district=PUTUO, street=CHANGFENG)
        district_admin = await api.staff(StaffRole.district_admin, district=PUTUO)
        refused = [
            (center_admin, {"center_id": other["id"]}),
            (center_admin, {"district": PUTUO, "street": CHANGFENG}),
            (street_admin, {"district": PUTUO}),
            (street_admin, {"district": PUTUO, "street": YICHUAN}),
            (district_admin, {"district": "闵行区"}),
            (district_admin, {"center_id": other["id"]}),
        ]
        for staff, scope in refused:
            answer = await api.client.post(ADMIN, json=body(scope), headers=staff)
            assert_problem(answer, 403, "out_of_scope")
        at_center = await created(api, center_admin, {"center_id": mine["id"]})
        assert at_center["scope"]["name"] == mine["name"]
        at_street = await created(api, street_admin, {"district": PUTUO, "street": CHANGFENG})
        assert at_street["scope"]["name"] == PUTUO + CHANGFENG
        at_district = await created(api, district_admin, {"district": PUTUO})

        async def listed(staff: Headers) -> set[int]:
            answer = await api.client.get(ADMIN, headers=staff)
            assert answer.status_code == 200, answer.text
            return {item["id"] for item in answer.json()["items"]}

        assert await listed(center_admin) == {at_center["id"]}
        assert await listed(street_admin) == {at_center["id"], at_street["id"]}
        assert await listed(district_admin) == {at_center["id"], at_street["id"], at_district["id"]}
        alien = await api.client.get(f"{ADMIN}/{at_district['id']}", headers=center_admin)
        assert_problem(alien, 403, "out_of_scope")
        results = await api.client.get(f"{ADMIN}/{at_street['id']}/results", headers=center_admin)
        assert_problem(results, 403, "out_of_scope")


async def test_a_draft_is_edited_then_published_then_closed(api: Api) -> None:
    with time_machine.travel(BEFORE, tick=True):
        staff = await api.staff()
        found = await created(api, staff, {"district": PUTUO})
        assert found["status"] == "draft"
        resident = await api.resident()
        hidden = await api.client.get(f"/api/v1/questionnaires/{found['id']}", headers=resident)
        assert_problem(hidden, 404, "not_found")
        edited = await api.client.put(
            f"{ADMIN}/{found['id']}",
            json=body({"district": PUTUO}, title="改过的标题", questions=questions()[:2]),
            headers=staff,
        )
        assert edited.status_code == 200, edited.text
        assert edited.json()["title"] == "改过的标题"
        assert edited.json()["question_count"] == 2
        closing = await api.client.post(f"{ADMIN}/{found['id']}/close", headers=staff)
        assert_problem(closing, 409, "invalid_transition")
        assert (
            await api.client.post(f"{ADMIN}/{found['id']}/publish", headers=staff)
        ).status_code == 200
        again = await api.client.post(f"{ADMIN}/{found['id']}/publish", headers=staff)
        assert_problem(again, 409, "invalid_transition")
        late_edit = await api.client.put(
            f"{ADMIN}/{found['id']}", json=body({"district": PUTUO}), headers=staff
        )
        assert_problem(late_edit, 409, "questionnaire_not_draft")
        closed = await api.client.post(f"{ADMIN}/{found['id']}/close", headers=staff)
        assert closed.json()["status"] == "closed"
        events = await audit_actions(api)
        assert events == ["create", "update", "published", "closed"]


async def audit_actions(api: Api) -> list[str]:
    async with api.database.reader() as session:
        found = await session.scalars(
            select(AuditEvent.action)
            .where(AuditEvent.entity == "questionnaire")
            .order_by(AuditEvent.id)
        )
        return list(found)


async def test_answers_are_taken_only_while_it_is_open(api: Api) -> None:
    with time_machine.travel(BEFORE, tick=False) as traveller:
        found = await published(api, await api.staff(), {"district": PUTUO})
        early = await api.resident()
        problem = assert_problem(
            await respond(api, early, found, full_answers(found)), 409, "questionnaire_not_open"
        )
        assert problem["opens_at"] == OPENS.isoformat()
        traveller.move_to(OPENS)
        assert (await respond(api, early, found, full_answers(found))).status_code == 201
        traveller.move_to(CLOSES)  # tokens do not last a week: fresh ones
        late = await api.resident()
        assert_problem(
            await respond(api, late, found, full_answers(found)), 409, "questionnaire_not_open"
        )
        traveller.move_to(DURING)
        staff = await api.staff()
        closed = await api.client.post(f"{ADMIN}/{found['id']}/close", headers=staff)
        assert closed.status_code == 200
        other = await api.resident()
        assert_problem(
            await respond(api, other, found, full_answers(found)), 409, "questionnaire_not_open"
        )
        over = await created(api, staff, {"district": PUTUO})
        traveller.move_to(CLOSES + timedelta(seconds=1))
        publishing = await api.client.post(
            f"{ADMIN}/{over['id']}/publish", headers=await api.staff()
        )
        assert_problem(publishing, 409, "questionnaire_not_open")


async def test_each_answer_is_checked_against_its_question(api: Api) -> None:
    with time_machine.travel(DURING, tick=True):
        staff = await api.staff()
        found = await published(api, staff, {"district": PUTUO})
        other = await published(api, staff, {"district": PUTUO})
        resident = await api.resident()
        ids = [question["id"] for question in found["questions"]]
        good = full_answers(found)
        wrong: list[tuple[list[Json], str, int]] = [
            (good[:2] + good[3:], "invalid_answer", ids[2]),  # a required one skipped
            ([{**good[0], "choice": 3}, *good[1:]], "invalid_answer", ids[0]),
            ([{"question_id": ids[0], "choices": [0]}, *good[1:]], "invalid_answer", ids[0]),
            ([good[0], {**good[1], "choices": [1, 1]}, *good[2:]], "invalid_answer", ids[1]),
            ([*good[:2], {**good[2], "value": 6}, good[3]], "invalid_answer", ids[2]),
            ([*good[:3], {**good[3], "text": "长" * 51}], "invalid_answer", ids[3]),
            (
                [*good, {"question_id": other["questions"][0]["id"], "choice": 0}],
                "unknown_question",
                0,
            ),
            ([*good, good[0]], "unknown_question", 0),
        ]
        for answers, code, question_id in wrong:
            problem = assert_problem(await respond(api, resident, found, answers), 422, code)
            if question_id:
                assert problem["question_id"] == question_id
                assert "第" in str(problem["detail"])
        assert_problem(
            await respond(api, resident, found, [{"question_id": ids[0], "choice": "0"}]),
            422,
            "validation_failed",
        )
        assert (await respond(api, resident, found, good[:3])).status_code == 201  # text optional
        assert_problem(await respond(api, resident, found, good), 409, "already_answered")


async def test_a_real_name_questionnaire_needs_a_verified_resident(api: Api) -> None:
    with time_machine.travel(DURING, tick=True):
        staff = await api.staff()
        found = await published(api, staff, {"district": PUTUO}, requires_real_name=True)
        unverified = await api.resident()
        assert_problem(
            await respond(api, unverified, found, full_answers(found)), 403, "real_name_required"
        )
        verified = await verified_resident(api)
        assert (await respond(api, verified, found, full_answers(found))).status_code == 201


async def row_counts(api: Api) -> dict[str, int]:
    async with api.database.reader() as session:
        return {
            table.name: int(await session.scalar(select(func.count()).select_from(table)) or 0)
            for table in Base.metadata.sorted_tables
        }


async def test_an_anonymous_answer_keeps_no_user_id_anywhere(api: Api) -> None:
    with time_machine.travel(DURING, tick=True):
        staff = await api.staff()
        center = await api.center(street=CHANGFENG)
        found = await published(api, staff, {"district": PUTUO}, anonymous=True)
        resident = await api.resident()
        me = (await api.client.get("/api/v1/me", headers=resident)).json()
        before = await row_counts(api)

        answer = await respond(api, resident, found, full_answers(found), center_id=center["id"])
        assert answer.status_code == 201, answer.text

        after = await row_counts(api)
        grown = {name for name in after if after[name] != before[name]}
        # Nothing else (no audit event, no notification) was written.
        assert grown == {"questionnaire_responses", "questionnaire_answers"}
        async with api.database.reader() as session:
            stored = (await session.scalars(select(QuestionnaireResponse))).one()
        assert stored.user_id is None
        assert len(stored.respondent_key) == 64  # a keyed hash, not the id
        assert stored.respondent_key != str(me["id"])
        assert (stored.submitted_at.minute, stored.submitted_at.second) == (0, 0)
        assert (stored.district, stored.street) == (PUTUO, CHANGFENG)
        # Still answered once, and the resident is told they have.
        assert_problem(
            await respond(api, resident, found, full_answers(found)), 409, "already_answered"
        )
        mine = await api.client.get(f"/api/v1/questionnaires/{found['id']}", headers=resident)
        assert mine.json()["answered"] is True
        exported = await api.client.get(f"{ADMIN}/{found['id']}/responses", headers=staff)
        header = next(csv.reader(io.StringIO(exported.content.decode("utf-8-sig"))))
        assert "用户编号" not in header


async def test_one_resident_answering_twice_at_once_is_stored_once(api: Api) -> None:
    with time_machine.travel(DURING, tick=True):
        staff = await api.staff()
        for anonymous in (False, True):
            found = await published(api, staff, {"district": PUTUO}, anonymous=anonymous)
            resident = await api.resident()
            answers = await asyncio.gather(
                *(respond(api, resident, found, full_answers(found)) for _ in range(2))
            )
            assert sorted(answer.status_code for answer in answers) == [201, 409]
            refused = next(answer for answer in answers if answer.status_code == 409)
            assert_problem(refused, 409, "already_answered")
            async with api.database.reader() as session:
                count = await session.scalar(
                    select(func.count()).where(
                        QuestionnaireResponse.questionnaire_id == found["id"]
                    )
                )
            assert count == 1


async def test_residents_list_the_open_ones_with_their_scope(api: Api) -> None:
    with time_machine.travel(DURING, tick=True):
        staff = await api.staff()
        here = await api.center(street=CHANGFENG)
        elsewhere = await api.center(district="闵行区", street="莘庄镇")
        at_center = await published(api, staff, {"center_id": here["id"]})
        at_street = await published(api, staff, {"district": PUTUO, "street": CHANGFENG})
        at_district = await published(api, staff, {"district": PUTUO})
        away = await published(api, staff, {"center_id": elsewhere["id"]})
        await created(api, staff, {"district": PUTUO})  # a draft
        later = await published(
            api, staff, {"district": PUTUO}, opens_at=CLOSES.isoformat(),
            closes_at=(CLOSES + timedelta(days=1)).isoformat(),
        )  # fmt: skip
        resident = await api.resident()
        await respond(api, resident, at_street, full_answers(at_street))

        async def listed(**params: Any) -> dict[int, Json]:
            answer = await api.client.get("/api/v1/questionnaires", params=params, headers=resident)
            assert answer.status_code == 200, answer.text
            return {item["id"]: item for item in answer.json()["items"]}

        everything = await listed()
        assert set(everything) == {at_center["id"], at_street["id"], at_district["id"], away["id"]}
        assert later["id"] not in everything
        assert everything[at_center["id"]]["scope"]["name"] == here["name"]
        assert everything[at_street["id"]]["answered"] is True
        assert everything[at_district["id"]]["answered"] is False
        assert set(await listed(center_id=here["id"])) == {
            at_center["id"],
            at_street["id"],
            at_district["id"],
        }
        assert set(await listed(district="闵行区")) == {away["id"]}
        outside = await respond(
            api, resident, at_center, full_answers(at_center), center_id=elsewhere["id"]
        )
        assert_problem(outside, 422, "center_outside_scope")


async def test_a_questionnaire_is_shared_by_its_page_and_a_qr_code(api: Api) -> None:
    with time_machine.travel(DURING, tick=True):
        staff = await api.staff()
        found = await published(api, staff, {"district": PUTUO})
        draft = await created(api, staff, {"district": PUTUO})
        resident = await api.resident()
        shared = await api.client.get(
            f"/api/v1/questionnaires/{found['id']}/share", headers=resident
        )
        assert shared.status_code == 200, shared.text
        assert shared.json()["path"] == f"pages/questionnaire/index?id={found['id']}"
        assert shared.json()["url"] is None  # no WeChat app id in the tests
        assert shared.json()["svg"].startswith("<svg")
        hidden = await api.client.get(f"/api/v1/questionnaires/{draft['id']}/share", headers=staff)
        assert_problem(hidden, 404, "not_found")
        anonymous = await api.client.get(f"/api/v1/questionnaires/{found['id']}/share")
        assert anonymous.status_code == 401
        code = await api.client.get(
            f"/api/v1/questionnaires/{found['id']}/share",
            params={"format": "wxacode"},
            headers=resident,
        )
        assert_problem(code, 409, "wechat_not_configured")


QUESTIONNAIRE_PAGE = "pages/voice/questionnaire"


@pytest.fixture
def fake_wechat() -> Iterator[FakeWechat]:
    with serve_fake_wechat() as fake:
        yield fake


@pytest.fixture
async def wechat_api(database_url: str, fake_wechat: FakeWechat) -> AsyncIterator[Api]:
    settings = make_settings(
        database_url,
        wechat_app_id=APP_ID,
        wechat_app_secret=APP_SECRET,
        wechat_api_base=fake_wechat.base_url,
        wechat_timeout_seconds=2,
        wechat_questionnaire_page=QUESTIONNAIRE_PAGE,
        dev_login=None,
    )
    async with running(settings) as api:
        yield api


async def test_with_wechat_a_questionnaire_has_a_url_and_a_mini_program_code(
    wechat_api: Api, fake_wechat: FakeWechat
) -> None:
    with time_machine.travel(DURING, tick=True):
        staff = await wechat_api.staff()
        found = await published(wechat_api, staff, {"district": PUTUO})
        url = f"/api/v1/questionnaires/{found['id']}/share"
        shared = (await wechat_api.client.get(url, headers=staff)).json()
        assert shared["path"] == f"{QUESTIONNAIRE_PAGE}?id={found['id']}"
        assert shared["url"] == (
            f"weixin://dl/business/?appid={APP_ID}&path=pages%2Fvoice%2Fquestionnaire"
            f"&query=id%3D{found['id']}&env_version=release"
        )
        code = await wechat_api.client.get(url, params={"format": "wxacode"}, headers=staff)
        assert code.status_code == 200, code.text
        assert code.headers["content-type"] == "image/png"
        call = fake_wechat.wxacode_calls[-1]
        assert (call["scene"], call["page"]) == (f"id={found['id']}", QUESTIONNAIRE_PAGE)
