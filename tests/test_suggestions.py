"""Suggestions and the ledger (README, "Suggestions and the ledger"): a
resident raises one at a center, staff in scope assign, answer and close it
(销项), it is due by its category's time limit and flagged overdue after,
the submitter follows it, is told of each step and may reopen it once within
7 days; public answers are listed anonymised; the evaluation counts the ones
closed on time and the overdue ones."""

from collections.abc import AsyncIterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import time_machine
from sqlalchemy import func, select

from app.core import tokens
from app.core.clock import SHANGHAI
from app.models import CATEGORY_RULES, AuditEvent, StaffRole, Suggestion, SuggestionCategory
from tests.conftest import make_settings, running
from tests.factories import Api, Headers, Json, bearer, organization
from tests.test_errors import assert_problem
from tests.test_profile import bind_phone, sent_phone
from tests.test_uploads import PNG, upload

SUGGESTIONS = "/api/v1/suggestions"
MINE = "/api/v1/me/suggestions"
LEDGER = "/api/v1/admin/suggestions"
RAISED = datetime(2030, 4, 8, 10, 0, tzinfo=SHANGHAI)  # a Monday
FACILITIES_DAYS = CATEGORY_RULES[SuggestionCategory.facilities].days


@pytest.fixture
async def api(database_url: str, tmp_path: Path) -> AsyncIterator[Api]:
    async with running(make_settings(database_url, upload_dir=tmp_path)) as running_api:
        yield running_api


def staff_token(api: Api, staff_id: int) -> Headers:
    """A fresh token for an existing staff member (tokens expire as time travels)."""
    issued = tokens.issue(api.app.state.settings, tokens.Audience.staff, staff_id)
    return bearer(issued.access_token)


async def raise_one(api: Api, resident: Headers, center_id: int, **overrides: Any) -> Json:
    body = {
        "center_id": center_id,
        "category": "facilities",
        "text": "三楼会议室的投影仪坏了",
        "contact_ok": True,
        **overrides,
    }
    answer = await api.client.post(SUGGESTIONS, json=body, headers=resident)
    assert answer.status_code == 201, answer.text
    result: Json = answer.json()
    return result


async def act(api: Api, staff: Headers, suggestion_id: int, action: str, body: Json) -> Json:
    answer = await api.client.post(f"{LEDGER}/{suggestion_id}/{action}", json=body, headers=staff)
    assert answer.status_code == 200, answer.text
    result: Json = answer.json()
    return result


async def ledger(api: Api, staff: Headers, **params: Any) -> Json:
    answer = await api.client.get(LEDGER, params=params, headers=staff)
    assert answer.status_code == 200, answer.text
    result: Json = answer.json()
    return result


async def told(api: Api, resident: Headers) -> list[str]:
    answer = await api.client.get("/api/v1/me/notifications", headers=resident)
    return [
        item["body"] for item in answer.json()["items"] if item["kind"] == "suggestion_progress"
    ]


async def test_raised_assigned_answered_closed_and_followed(api: Api) -> None:
    with time_machine.travel(RAISED, tick=True):
        admin = await api.staff()
        center = await api.center(admin)
        keeper_id = await api.create_staff_row(StaffRole.center_admin, center_ids=[center["id"]])
        keeper = staff_token(api, keeper_id)
        resident = await api.resident()
        photo = (await upload(api, resident, PNG)).json()["id"]

        raised = await raise_one(api, resident, center["id"], photos=[photo])
        assert raised["status"] == "open"
        assert raised["photos"] == [photo]
        assert raised["category_label"] == "设施设备"
        due = datetime.fromisoformat(raised["due_at"])
        assert due - datetime.fromisoformat(raised["created_at"]) == timedelta(days=FACILITIES_DAYS)
        assert raised["overdue"] is False

        listed = await ledger(api, keeper)
        assert [item["id"] for item in listed["items"]] == [raised["id"]]
        assert listed["items"][0]["has_submitter"] is True
        assert "user_id" not in listed["items"][0]
        image = await api.client.get(f"{LEDGER}/{raised['id']}/photos/{photo}", headers=keeper)
        assert (image.status_code, image.content) == (200, PNG)

        assigned = await act(api, keeper, raised["id"], "assign", {"staff_id": keeper_id})
        assert (assigned["status"], assigned["assigned_staff_id"]) == ("assigned", keeper_id)
        answered = await act(
            api, keeper, raised["id"], "answer", {"answer": "已报修，周三更换", "public": True}
        )
        assert answered["status"] == "answered"
        closed = await act(
            api, keeper, raised["id"], "close", {"outcome": "done", "answer": "已更换投影仪"}
        )
        assert (closed["status"], closed["outcome"], closed["closed_on_time"]) == (
            "closed",
            "done",
            True,
        )
        assert_problem(
            await api.client.post(
                f"{LEDGER}/{raised['id']}/answer", json={"answer": "再答"}, headers=keeper
            ),
            409,
            "invalid_transition",
        )

        mine = (await api.client.get(MINE, headers=resident)).json()
        assert mine["total"] == 1
        assert mine["items"][0]["answer"] == "已更换投影仪"
        assert mine["items"][0]["may_reopen_until"] is not None
        steps = await told(api, resident)
        assert len(steps) == 3
        assert "已交由工作人员办理" in steps[-1]
        assert "已办结" in steps[0]
        assert "已更换投影仪" in steps[0]

        actions = (
            await api.client.get(
                "/api/v1/admin/audit", params={"entity": "suggestion"}, headers=admin
            )
        ).json()["items"]
        assert {item["action"] for item in actions} >= {"submit", "assign", "answer", "close"}


async def test_staff_see_and_change_only_what_they_cover(api: Api) -> None:
    with time_machine.travel(RAISED, tick=True):
        admin = await api.staff()
        here, there = await api.center(admin), await api.center(admin)
        keeper = await api.staff(StaffRole.center_admin, center_ids=[here["id"]])
        elsewhere_id = await api.create_staff_row(StaffRole.center_admin, center_ids=[there["id"]])
        resident = await api.resident()
        raised = await raise_one(api, resident, there["id"])

        assert (await ledger(api, keeper))["total"] == 0
        assert_problem(
            await api.client.get(f"{LEDGER}/{raised['id']}", headers=keeper), 404, "not_found"
        )
        assert_problem(
            await api.client.get(LEDGER, params={"center_id": there["id"]}, headers=keeper),
            403,
            "out_of_scope",
        )
        assert_problem(
            await api.client.post(
                f"{LEDGER}/{raised['id']}/close",
                json={"outcome": "done", "answer": "好"},
                headers=keeper,
            ),
            404,
            "not_found",
        )
        # Given to someone who does not cover the center: refused, nothing changed.
        mine = await raise_one(api, resident, here["id"])
        assert_problem(
            await api.client.post(
                f"{LEDGER}/{mine['id']}/assign", json={"staff_id": elsewhere_id}, headers=keeper
            ),
            422,
            "assignee_outside_scope",
        )
        assert (await ledger(api, keeper))["items"][0]["status"] == "open"
        assert await told(api, resident) == []
        # The audit trail of suggestions: only those of the centers they cover.
        trail = await api.client.get(
            "/api/v1/admin/audit", params={"entity": "suggestion"}, headers=keeper
        )
        assert [event["entity_id"] for event in trail.json()["items"]] == [mine["id"]]


@pytest.mark.parametrize(
    "change",
    [
        {"category": "nonsense"},
        {"text": ""},
        {"text": "好" * 2001},
        {"text": "a\x00b"},
        {"center_id": 0},
        {"contact_ok": "yes"},
        {"photos": list(range(1, 11))},
        {"extra": 1},
    ],
    ids=["category", "empty", "long", "nul", "center", "flag", "photos", "extra"],
)
async def test_a_bad_suggestion_is_422_and_stores_nothing(api: Api, change: Json) -> None:
    admin = await api.staff()
    center = await api.center(admin)
    resident = await api.resident()
    body = {"center_id": center["id"], "category": "safety", "text": "楼道灯不亮", **change}
    answer = await api.client.post(SUGGESTIONS, json=body, headers=resident)
    assert answer.status_code == 422, answer.text
    assert (await ledger(api, admin))["total"] == 0


async def test_only_ones_own_unattached_uploads_are_attached(api: Api) -> None:
    admin = await api.staff()
    center = await api.center(admin)
    resident, other = await api.resident(), await api.resident()
    theirs = (await upload(api, other, PNG)).json()["id"]
    mine = (await upload(api, resident, PNG)).json()["id"]
    body = {"center_id": center["id"], "category": "other", "text": "建议", "photos": [theirs]}
    refused = await api.client.post(SUGGESTIONS, json=body, headers=resident)
    assert_problem(refused, 422, "upload_not_yours")
    assert (await ledger(api, admin))["total"] == 0

    await raise_one(api, resident, center["id"], photos=[mine])
    again = await api.client.post(SUGGESTIONS, json={**body, "photos": [mine]}, headers=resident)
    assert_problem(again, 422, "upload_not_yours")  # already attached
    missing = await api.client.post(
        SUGGESTIONS, json={**body, "photos": [999999]}, headers=resident
    )
    assert_problem(missing, 422, "upload_not_yours")
    unknown = await api.client.post(
        SUGGESTIONS, json={**body, "photos": [], "center_id": 999999}, headers=resident
    )
    assert_problem(unknown, 404, "not_found")
    assert (await ledger(api, admin))["total"] == 1


async def test_overdue_items_are_flagged_filtered_and_counted(api: Api) -> None:
    with time_machine.travel(RAISED, tick=False) as traveller:
        admin_id = await api.create_staff_row()
        admin = staff_token(api, admin_id)
        center = await api.center(admin)
        resident = await api.resident("overdue")
        slow = await raise_one(api, resident, center["id"])  # facilities
        urgent = await raise_one(api, resident, center["id"], category="safety")
        safety_days = CATEGORY_RULES[SuggestionCategory.safety].days

        traveller.move_to(RAISED + timedelta(days=safety_days) - timedelta(seconds=1))
        admin = staff_token(api, admin_id)
        assert (await ledger(api, admin))["overdue_count"] == 0

        traveller.move_to(RAISED + timedelta(days=safety_days))
        admin = staff_token(api, admin_id)
        listed = await ledger(api, admin)
        assert listed["overdue_count"] == 1
        assert [item["id"] for item in listed["items"]] == [urgent["id"], slow["id"]]
        assert [item["overdue"] for item in listed["items"]] == [True, False]
        late = await ledger(api, admin, overdue="true")
        assert [item["id"] for item in late["items"]] == [urgent["id"]]
        on_time = await ledger(api, admin, overdue="false", category="facilities")
        assert [item["id"] for item in on_time["items"]] == [slow["id"]]
        assert (await ledger(api, admin, status="closed"))["total"] == 0

        closed = await act(
            api, admin, urgent["id"], "close", {"outcome": "not_feasible", "answer": "需物业处理"}
        )
        assert (closed["overdue"], closed["closed_on_time"]) == (False, False)
        await act(api, admin, slow["id"], "close", {"outcome": "duplicate", "answer": "同上"})
        summary = (await api.client.get(f"{LEDGER}/summary", headers=admin)).json()
        assert summary == [
            {
                "center_id": center["id"],
                "center_name": center["name"],
                "open": 0,
                "overdue": 0,
                "closed": 2,
                "closed_on_time": 1,
            }
        ]

        # The evaluation of the month reads the same figures.
        traveller.move_to(RAISED + timedelta(days=20))
        admin = staff_token(api, admin_id)
        evaluation = await api.client.get(
            "/api/v1/admin/evaluations", params={"period": "2030-04"}, headers=admin
        )
        assert evaluation.status_code == 200, evaluation.text
        row = next(r for r in evaluation.json()["rows"] if r["center_id"] == center["id"])
        assert (row["suggestions_closed"], row["suggestions_overdue"]) == (1, 1)


async def test_a_closed_item_is_reopened_once_within_seven_days(api: Api) -> None:
    with time_machine.travel(RAISED, tick=False) as traveller:
        admin_id = await api.create_staff_row()
        admin = staff_token(api, admin_id)
        center = await api.center(admin)
        resident = await api.resident("reopener")
        first = await raise_one(api, resident, center["id"])
        second = await raise_one(api, resident, center["id"])
        await act(api, admin, first["id"], "assign", {"staff_id": admin_id})
        for found in (first, second):
            await act(api, admin, found["id"], "close", {"outcome": "done", "answer": "已处理"})
        reopen = f"{MINE}/{first['id']}/reopen"

        stranger = await api.resident()
        assert_problem(await api.client.post(reopen, headers=stranger), 404, "not_found")

        traveller.move_to(RAISED + timedelta(days=7) - timedelta(seconds=1))
        resident = await api.resident("reopener")
        reopened = (await api.client.post(reopen, headers=resident)).json()
        assert (reopened["status"], reopened["outcome"], reopened["closed_at"]) == (
            "assigned",
            None,
            None,
        )
        assert datetime.fromisoformat(reopened["due_at"]) == datetime.now(SHANGHAI) + timedelta(
            days=FACILITIES_DAYS
        )
        admin = staff_token(api, admin_id)
        await act(api, admin, first["id"], "close", {"outcome": "done", "answer": "再次处理"})
        assert_problem(await api.client.post(reopen, headers=resident), 409, "invalid_transition")

        traveller.move_to(RAISED + timedelta(days=7))
        resident = await api.resident("reopener")
        late = await api.client.post(f"{MINE}/{second['id']}/reopen", headers=resident)
        assert_problem(late, 409, "invalid_transition")


async def test_public_answers_name_nobody(api: Api) -> None:
    admin = await api.staff()
    center = await api.center(admin)
    resident = await api.resident()
    public = await raise_one(api, resident, center["id"], text="希望延长开放时间")
    private = await raise_one(api, resident, center["id"], text="某工作人员态度差")
    await act(api, admin, public["id"], "answer", {"answer": "周末延长至21点", "public": True})
    await act(api, admin, private["id"], "close", {"outcome": "done", "answer": "已约谈"})
    answers = await api.client.get(f"/api/v1/centers/{center['id']}/suggestion-answers")
    assert answers.status_code == 200
    items = answers.json()["items"]
    assert [item["id"] for item in items] == [public["id"]]
    assert set(items[0]) == {
        "id",
        "category",
        "category_label",
        "text",
        "answer",
        "outcome",
        "status",
        "created_at",
        "answered_at",
    }
    missing = await api.client.get("/api/v1/centers/999999/suggestion-answers")
    assert_problem(missing, 404, "not_found")


async def contact_reads(api: Api) -> int:
    async with api.database.reader() as session:
        found = await session.scalar(
            select(func.count()).where(
                AuditEvent.entity == "suggestion", AuditEvent.action == "read_contact"
            )
        )
    return int(found or 0)


async def test_reading_the_submitters_contact_is_consented_and_logged(api: Api) -> None:
    admin = await api.staff()
    center = await api.center(admin)
    resident = await api.resident()
    number = sent_phone("13900139001")
    assert (await bind_phone(api, resident, f"dev:{number}")).status_code == 200
    willing = await raise_one(api, resident, center["id"])
    unwilling = await raise_one(api, resident, center["id"], contact_ok=False)

    refused = await api.client.get(f"{LEDGER}/{unwilling['id']}/contact", headers=admin)
    assert_problem(refused, 409, "no_contact_consent")
    assert await contact_reads(api) == 0
    read = await api.client.get(f"{LEDGER}/{willing['id']}/contact", headers=admin)
    assert read.status_code == 200
    assert read.json()["phone"] == number
    assert read.headers["cache-control"] == "no-store"
    assert await contact_reads(api) == 1


async def test_categories_are_listed_with_labels_and_limits(api: Api) -> None:
    listed = (await api.client.get("/api/v1/suggestion-categories")).json()
    assert {item["code"]: item["days"] for item in listed} == {
        code.value: rule.days for code, rule in CATEGORY_RULES.items()
    }
    assert all(item["label"] for item in listed)


async def stored(api: Api) -> list[Suggestion]:
    async with api.database.reader() as session:
        return list((await session.scalars(select(Suggestion).order_by(Suggestion.id))).all())


async def test_an_organisations_member_raises_one_for_it(api: Api) -> None:
    admin = await api.staff()
    center = await api.center(admin)
    owner = await api.resident()
    org = await organization(api, owner, center_id=center["id"])
    raised = await raise_one(api, owner, center["id"], organization_id=org["id"])
    assert raised["organization_id"] == org["id"]
    outsider = await api.resident()
    refused = await api.client.post(
        SUGGESTIONS,
        json={
            "center_id": center["id"],
            "category": "other",
            "text": "x",
            "organization_id": org["id"],
        },
        headers=outsider,
    )
    assert_problem(refused, 404, "not_found")
    assert len(await stored(api)) == 1
