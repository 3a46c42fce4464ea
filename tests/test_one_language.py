"""One language per answer: a Chinese answer carries no English words (the
reasons the system wrote, status and metric names inside details), an
English one says the same in English; reports and the jobs list speak to
their readers. On both engines, through HTTP (the jobs list through the CLI)."""

import ast
import re
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import time_machine

from app.audit.reasons import SAID
from app.core.clock import SHANGHAI
from app.core.errors import Text
from app.core.handlers import _VALIDATION_MESSAGES_ZH
from app.models import StaffRole
from app.quotas.rules import METRIC_TEXT
from app.reports.exports import HEADERS_ZH
from app.reservations.errors import STATUS_TEXT
from tests.conftest import TemporaryDatabases
from tests.factories import Api, Headers, book, days_ahead, local, organization
from tests.test_errors import assert_problem
from tests.test_jobs import finished, migrated, zhendi
from tests.test_series import SERIES
from tests.test_waitlist import SEATS

pytestmark = pytest.mark.dates

APP = Path(__file__).parent.parent / "app"
ENGLISH = {"Accept-Language": "en"}
# Latin words a Chinese text may hold: what the reader types or reads back as
# it is (RFC 5545 keywords, JSON, an HTTP header), and members of the body.
SYNTAX = re.compile(r"[A-Z0-9][A-Z0-9-]+|[A-Za-z]+_[a-z_]+|Idempotency-Key")
MEMBERS = {"errors", "occurrences"}


def english_words(text: str) -> list[str]:
    """The Latin words of ``text`` that are not syntax, placeholders left out."""
    text = re.sub(r"\{[^}]*\}", "", text)
    return [
        word
        for word in re.findall(r"[A-Za-z][A-Za-z0-9_\-]*", text)
        if not SYNTAX.fullmatch(word) and word not in MEMBERS
    ]


def assert_chinese(text: str | None) -> str:
    assert text, text
    assert not english_words(text), text
    return text


# --- every Chinese text in the code -----------------------------------------------


def chinese_literals() -> list[tuple[str, str]]:
    """The Chinese side of every ``Text(zh, en)`` written in app/, where it is."""
    found = []
    for path in sorted(APP.rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if not (isinstance(node, ast.Call) and getattr(node.func, "id", None) == "Text"):
                continue
            first = node.args[0] if node.args else None
            if isinstance(first, ast.Constant) and isinstance(first.value, str):
                found.append((f"{path.relative_to(APP.parent)}:{node.lineno}", first.value))
    return found


def test_no_chinese_text_holds_an_english_word() -> None:
    literals = chinese_literals()
    assert len(literals) > 200  # the scan does find the texts
    tables: list[Text] = [*SAID.values(), *STATUS_TEXT.values(), *METRIC_TEXT.values()]
    said = [(f"table: {text.en}", text.zh) for text in tables]
    said += [(f"validation: {kind}", zh) for kind, zh in _VALIDATION_MESSAGES_ZH.items()]
    said += [(f"report header: {column}", zh) for column, zh in HEADERS_ZH.items()]
    offending = [(where, zh) for where, zh in literals + said if english_words(zh)]
    assert offending == []


def test_the_scan_would_catch_one() -> None:
    assert english_words("预约当前为 checked_in，不能取消") == []  # a field-like value: syntax
    assert english_words("刷码 door unlocked") == ["door", "unlocked"]
    assert english_words("超出限额：{metric} 上限 {limit}") == []
    assert english_words("须有 COUNT 或 UNTIL 之一") == []


# --- details ---------------------------------------------------------------------------


async def detail_in_both(
    api: Api, method: str, url: str, headers: Headers, status: int, code: str, **body: Any
) -> tuple[str, str]:
    """The problem's detail in Chinese (the default) and in English."""
    details = []
    for language in ({}, ENGLISH):
        response = await api.client.request(method, url, headers={**headers, **language}, **body)
        details.append(str(assert_problem(response, status, code)["detail"]))
    chinese, english = details
    assert_chinese(chinese)
    assert not re.search(r"[\u4e00-\u9fff]", english), english
    return chinese, english


async def test_status_names_inside_details_are_in_the_answers_language(api: Api) -> None:
    space = await api.space()
    resident = await api.resident()
    booked = await book(api, resident, space["id"], days_ahead(2), "10:00", "11:00")
    reservation = booked.json()["id"]
    cancel = f"/api/v1/reservations/{reservation}/cancel"
    assert (await api.client.post(cancel, headers=resident)).status_code == 200
    chinese, english = await detail_in_both(
        api, "POST", cancel, resident, 409, "invalid_transition"
    )
    assert chinese == "预约状态为“已取消”，不能取消"
    assert english == "The reservation is cancelled; cannot cancel"

    feedback = f"/api/v1/reservations/{reservation}/feedback"
    chinese, english = await detail_in_both(
        api, "POST", feedback, resident, 409, "feedback_not_open", json={"rating": 5}
    )
    assert "“已取消”" in chinese
    assert "(it is cancelled)" in english

    company = await organization(api, await api.resident())  # verified
    verify = f"/api/v1/admin/organizations/{company['id']}/verify"
    chinese, english = await detail_in_both(
        api, "POST", verify, await api.staff(), 409, "invalid_transition"
    )
    assert chinese == "组织当前已通过审核"
    assert english == "The organization is verified"


async def test_a_waitlist_entrys_status_is_in_the_answers_language(api: Api) -> None:
    space = await api.space(capacity=1, **SEATS)
    day = days_ahead(1)
    taken = await book(api, await api.resident(), space["id"], day, "10:00", "11:00")
    assert taken.status_code == 201, taken.text
    waiting = await api.resident()
    entry = await api.client.post(
        f"/api/v1/spaces/{space['id']}/waitlist",
        json={"start": local(day, "10:00").isoformat(), "end": local(day, "11:00").isoformat()},
        headers=waiting,
    )
    assert entry.status_code == 201, entry.text
    accept = f"/api/v1/waitlist/{entry.json()['id']}/accept"
    chinese, english = await detail_in_both(api, "POST", accept, waiting, 409, "offer_not_open")
    assert chinese == "该候补当前没有为您保留的空位（候补中）"
    assert english == "This entry holds no place for you (waiting)"


async def test_quota_metric_names_are_in_the_answers_language(api: Api) -> None:
    space = await api.space()
    staff = await api.staff()
    rules = [{"subject": "user", "metric": "future_bookings", "max_value": 1}]
    put = await api.client.put(
        f"/api/v1/admin/spaces/{space['id']}/quotas", json=rules, headers=staff
    )
    assert put.status_code == 200, put.text
    resident = await api.resident()
    first = await book(api, resident, space["id"], days_ahead(2), "10:00", "11:00")
    assert first.status_code == 201, first.text
    body = {"space_id": space["id"], "start": "", "end": "", "purpose": "例会"}
    body["start"] = local(days_ahead(3), "10:00").isoformat()
    body["end"] = local(days_ahead(3), "11:00").isoformat()
    chinese, english = await detail_in_both(
        api, "POST", "/api/v1/reservations", resident, 409, "quota_exceeded", json=body
    )
    assert chinese == "超出限额：未来预约数上限 1，已用 1"
    assert english == "Over the limit: future bookings is capped at 1, 1 used"


# --- the reasons the system wrote ----------------------------------------------------------


async def history(api: Api, reservation_id: int, headers: Headers) -> list[dict[str, Any]]:
    response = await api.client.get(
        f"/api/v1/reservations/{reservation_id}/history", headers=headers
    )
    assert response.status_code == 200, response.text
    body = response.json()
    entries: list[dict[str, Any]] = body["items"] if isinstance(body, dict) else body
    return entries


async def test_history_reasons_the_system_wrote_follow_the_answers_language(
    api: Api,
) -> None:
    staff = await api.staff()
    space = await api.space(headers=staff, advance_days=60)
    resident = await api.resident()
    day = days_ahead(2)
    booked = await book(api, resident, space["id"], day, "10:00", "11:00")
    reservation = booked.json()["id"]
    with time_machine.travel(local(day, "09:58"), tick=True):
        staff = await api.staff()  # a token of that day
        checked_in = await api.client.post(
            f"/api/v1/reservations/{reservation}/check-in", headers=staff
        )
        assert checked_in.status_code == 200, checked_in.text
        chinese = await history(api, reservation, staff)
        english = await history(api, reservation, {**staff, **ENGLISH})
    assert [entry["reason"] for entry in chinese][-1] == "工作人员签到"
    assert [entry["reason"] for entry in english][-1] == "checked in by staff"

    first = day + timedelta(days=7)
    series = await api.client.post(
        SERIES,
        json={
            "space_id": space["id"],
            "start": local(first, "14:00").isoformat(),
            "end": local(first, "15:00").isoformat(),
            "rrule": "FREQ=WEEKLY;COUNT=2",
            "purpose": "支部例会",
        },
        headers=resident,
    )
    assert series.status_code == 201, series.text
    meeting = series.json()["occurrences"][0]["reservation_id"]
    said = (await history(api, meeting, resident))[0]["reason"]
    assert said == f"重复预约（系列 {series.json()['id']}）"
    assert_chinese(said)
    told = (await history(api, meeting, {**resident, **ENGLISH}))[0]["reason"]
    assert told == f"series {series.json()['id']}"

    # What a person wrote is told as written.
    other = await book(api, resident, space["id"], day, "15:00", "16:00")
    await api.client.post(
        f"/api/v1/reservations/{other.json()['id']}/cancel",
        json={"reason": "行程变更"},
        headers=resident,
    )
    assert (await history(api, other.json()["id"], {**resident, **ENGLISH}))[-1][
        "reason"
    ] == "行程变更"


async def test_the_console_tells_a_bookings_history_in_chinese(api: Api) -> None:
    from tests.test_console import console, staff_member

    center = await api.center()
    staff = await api.staff(StaffRole.center_admin, center_ids=[center["id"]])
    space = await api.space(center["id"], headers=staff)
    resident = await api.resident()
    day = days_ahead(2)
    booked = await book(api, resident, space["id"], day, "10:00", "11:00")
    reservation = booked.json()["id"]
    with time_machine.travel(local(day, "09:58"), tick=True):
        staff = await api.staff(StaffRole.center_admin, center_ids=[center["id"]])
        checked_in = await api.client.post(
            f"/api/v1/reservations/{reservation}/check-in", headers=staff
        )
        assert checked_in.status_code == 200, checked_in.text
        browser = await console(api, await staff_member(api))
        page = await browser.get(f"/console/bookings/{reservation}")
        await browser.aclose()
    assert page.status_code == 200, page.text
    table = page.text.split("<h2>记录</h2>", 1)[1]
    cells = re.sub(r"<[^>]+>", " ", table)
    assert "工作人员签到" in cells
    assert "签到（工作人员）" in cells
    assert "已确认 → 已签到" in cells
    assert_chinese(" ".join(cells.split()))


# --- the jobs list ----------------------------------------------------------------------


@pytest.mark.real_clock  # the CLI runs on the real clock
def test_the_jobs_list_shows_shanghai_times(
    tmp_path: Path, temporary_databases: TemporaryDatabases
) -> None:
    url = migrated(temporary_databases, "sqlite")
    finished(zhendi(tmp_path, "jobs", "run", "expire-pending", database_url=url))
    listed = finished(zhendi(tmp_path, "jobs", "list", database_url=url))
    assert "Times in Shanghai" in listed
    line = next(line for line in listed.splitlines() if "1 runs, 0 failed" in line)
    last = datetime.strptime(line.rsplit("last ", 1)[1], "%Y-%m-%d %H:%M:%S")
    now = datetime.now(SHANGHAI).replace(tzinfo=None)
    assert abs(now - last) < timedelta(minutes=5), listed  # Shanghai's wall clock, not UTC's
    assert not line.endswith("Z")
