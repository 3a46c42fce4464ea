"""A resident's profile: a nickname, and a phone number bound from WeChat's
getPhoneNumber button (faked over real HTTP), kept sealed, found by staff by
its last four digits; and the room's check-in code as a mini-program code."""

import asyncio
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import create_async_engine

from app.core.crypto import PiiCipher, Sealed
from app.core.migrate import upgrade_engine
from app.models import StaffRole, User
from tests.conftest import TEST_PII_KEY, TemporaryDatabases, make_settings, running
from tests.factories import SENT_PERSONAL_DATA, Api, Headers, bearer, book, days_ahead
from tests.fake_wechat import APP_ID, APP_SECRET, FakeWechat, serve_fake_wechat
from tests.test_console import console, staff_member
from tests.test_errors import assert_problem

pytestmark = pytest.mark.dates

CHECK_IN_PAGE = "pages/door/check-in"


def sent_phone(number: str) -> str:
    """The conftest watch fails the test if ``number`` is left in plaintext in
    the database or the logs, for the rest of the run: a resident's phone must
    differ from the companies' contact phones (13800138000), which are not sealed."""
    SENT_PERSONAL_DATA.values.add(number)
    SENT_PERSONAL_DATA.sends += 1
    return number


async def me(api: Api, headers: Headers) -> dict[str, object]:
    response = await api.client.get("/api/v1/me", headers=headers)
    assert response.status_code == 200, response.text
    body: dict[str, object] = response.json()
    return body


async def bind_phone(api: Api, headers: Headers, code: str) -> httpx.Response:
    return await api.client.post("/api/v1/me/phone", json={"code": code}, headers=headers)


@pytest.fixture(scope="module")
def fake_wechat() -> Iterator[FakeWechat]:
    with serve_fake_wechat() as fake:
        yield fake


@pytest.fixture
async def wechat_api(database_url: str, fake_wechat: FakeWechat) -> AsyncIterator[Api]:
    """The app with real WeChat credentials, talking to the fake WeChat."""
    settings = make_settings(
        database_url,
        wechat_app_id=APP_ID,
        wechat_app_secret=APP_SECRET,
        wechat_api_base=fake_wechat.base_url,
        wechat_timeout_seconds=2,
        wechat_check_in_page=CHECK_IN_PAGE,
        dev_login=None,
    )
    async with running(settings) as api:
        yield api


async def wechat_resident(api: Api, openid: str) -> Headers:
    response = await api.client.post("/api/v1/auth/wechat", json={"code": f"ok-{openid}"})
    assert response.status_code == 200, response.text
    return bearer(response.json()["access_token"])


# --- nickname and phone -------------------------------------------------------------


async def test_me_shows_a_nickname_the_resident_sets(api: Api) -> None:
    resident = await api.resident()
    fresh = await me(api, resident)
    assert (fresh["nickname"], fresh["phone_masked"]) == (None, None)

    named = await api.client.patch("/api/v1/me", json={"nickname": " 晓明 "}, headers=resident)
    assert named.status_code == 200, named.text
    assert named.json()["nickname"] == "晓明"
    assert (await me(api, resident))["nickname"] == "晓明"

    for bad in ({"nickname": ""}, {"nickname": "长" * 31}, {"nickname": "a\nb"}, {"name": "x"}):
        refused = await api.client.patch("/api/v1/me", json=bad, headers=resident)
        assert_problem(refused, 422, "validation_failed")
    assert (await me(api, resident))["nickname"] == "晓明"

    cleared = await api.client.patch("/api/v1/me", json={"nickname": None}, headers=resident)
    assert cleared.json()["nickname"] is None


async def test_a_dev_code_binds_a_phone_shown_masked_and_stored_sealed(api: Api) -> None:
    resident = await api.resident()
    number = sent_phone("13700137000")
    bound = await bind_phone(api, resident, f"dev:{number}")
    assert bound.status_code == 200, bound.text
    assert bound.json()["phone_masked"] == "137****7000"
    assert number not in bound.text
    assert (await me(api, resident))["phone_masked"] == "137****7000"

    for code in ("dev:12345", "dev:1380013800a", "ok-somebody"):
        assert_problem(await bind_phone(api, resident, code), 422, "phone_code_invalid")
    assert (await me(api, resident))["phone_masked"] == "137****7000"

    export = await api.client.get("/api/v1/me/export", headers=resident)
    assert export.json()["profile"]["phone"] == number  # the owner alone sees it whole


async def test_the_phone_code_is_traded_at_wechat_with_the_access_token(
    wechat_api: Api, fake_wechat: FakeWechat
) -> None:
    resident = await wechat_resident(wechat_api, "o-phone-owner")
    number = sent_phone("13912345678")
    bound = await bind_phone(wechat_api, resident, f"phone-{number}")
    assert bound.status_code == 200, bound.text
    assert bound.json()["phone_masked"] == "139****5678"
    call = fake_wechat.phone_calls[-1]
    assert call["code"] == f"phone-{number}"
    assert call["access_token"] == fake_wechat.live_token

    # WeChat stops taking the token: a fresh one is fetched and the trade done once more.
    fake_wechat.expire_token()
    other = sent_phone("13700001111")
    rebound = await bind_phone(wechat_api, resident, f"phone-{other}")
    assert rebound.status_code == 200, rebound.text
    assert rebound.json()["phone_masked"] == "137****1111"

    abroad = await bind_phone(wechat_api, resident, "phone-+852-91234567")
    assert abroad.json()["phone_masked"] == "+85*****4567"

    assert_problem(await bind_phone(wechat_api, resident, "invalid"), 422, "phone_code_invalid")
    assert_problem(await bind_phone(wechat_api, resident, "busy"), 502, "wechat_unavailable")
    # dev codes mean nothing once WeChat is configured
    refused = await bind_phone(wechat_api, resident, "dev:13700137000")
    assert_problem(refused, 422, "phone_code_invalid")
    assert (await me(wechat_api, resident))["phone_masked"] == "+85*****4567"


async def test_staff_find_a_residents_bookings_by_the_phones_last_four_digits(api: Api) -> None:
    staff = await api.staff()
    space = await api.space(headers=staff)
    day = days_ahead(1)
    with_phone, without = await api.resident(), await api.resident()
    number = sent_phone("13612345678")
    bound = await bind_phone(api, with_phone, f"dev:{number}")
    assert bound.status_code == 200
    mine = (await book(api, with_phone, space["id"], day, "10:00", "11:00")).json()["id"]
    theirs = (await book(api, without, space["id"], day, "12:00", "13:00")).json()["id"]

    client = await console(api, await staff_member(api, StaffRole.super_admin))
    for digits in ("5678", number):
        found = await client.get(
            "/console/bookings", params={"phone": digits, "from": day.isoformat()}
        )
        assert found.status_code == 200, found.text
        assert f'/console/bookings/{mine}"' in found.text
        assert f'/console/bookings/{theirs}"' not in found.text
    missed = await client.get(
        "/console/bookings", params={"phone": "1234", "from": day.isoformat()}
    )
    assert f'/console/bookings/{mine}"' not in missed.text
    # The keyed hashes answer four digits or the whole number, nothing between.
    assert (await client.get("/console/bookings", params={"phone": "45678"})).status_code == 422
    assert "136****5678" in (await client.get(f"/console/bookings/{mine}")).text

    # The API finds them the same way.
    for digits in ("5678", number):
        listed = await api.client.get(
            "/api/v1/reservations", params={"phone": digits}, headers=staff
        )
        assert [item["id"] for item in listed.json()["items"]] == [mine]
    refused = await api.client.get("/api/v1/reservations", params={"phone": "678"}, headers=staff)
    assert_problem(refused, 422, "validation_failed")


async def test_erasing_the_account_destroys_the_phone(api: Api) -> None:
    resident = await api.resident()
    await bind_phone(api, resident, f"dev:{sent_phone('13512340000')}")
    await api.client.patch("/api/v1/me", json={"nickname": "小陈"}, headers=resident)
    user_id = (await me(api, resident))["id"]
    erased = await api.client.delete("/api/v1/me", headers=resident)
    assert erased.status_code == 204, erased.text
    async with api.database.reader() as session:
        row = await session.get(User, user_id)
    assert row is not None
    assert (row.phone_sealed, row.phone_masked, row.phone_index, row.phone_tail_index) == (
        None,
        None,
        None,
        None,
    )
    assert row.nickname is None


# --- the check-in code as a mini-program code ------------------------------------------


async def test_the_check_in_code_is_a_mini_program_code_from_wechat(
    wechat_api: Api, fake_wechat: FakeWechat
) -> None:
    staff = await wechat_api.staff()
    space = await wechat_api.space(headers=staff)
    url = f"/api/v1/admin/spaces/{space['id']}/check-in-qr"
    token = (await wechat_api.client.get(url, headers=staff)).json()["token"]

    fake_wechat.expire_token()  # a refused token is replaced once
    code = await wechat_api.client.get(url, params={"format": "wxacode"}, headers=staff)
    assert code.status_code == 200, code.text
    assert code.headers["content-type"] == "image/png"
    assert code.content.startswith(b"\x89PNG\r\n\x1a\n")
    call = fake_wechat.wxacode_calls[-1]
    assert call["scene"] == f"{space['id']}:{token}"
    assert len(call["scene"]) <= 32
    assert call["page"] == CHECK_IN_PAGE
    assert call["env_version"] == "release"
    assert call["access_token"] == fake_wechat.live_token

    # The token the code carries is the one that checks in; rotating retires it.
    rotated = await wechat_api.client.post(f"{url}/rotate", headers=staff)
    await wechat_api.client.get(url, params={"format": "wxacode"}, headers=staff)
    assert fake_wechat.wxacode_calls[-1]["scene"] == f"{space['id']}:{rotated.json()['token']}"

    refused = await wechat_api.client.get(url, params={"format": "gif"}, headers=staff)
    assert_problem(refused, 422, "validation_failed")


async def test_without_wechat_the_svg_stays_and_a_mini_program_code_is_refused(api: Api) -> None:
    staff = await api.staff()
    space = await api.space(headers=staff)
    url = f"/api/v1/admin/spaces/{space['id']}/check-in-qr"
    plain = await api.client.get(url, params={"format": "svg"}, headers=staff)
    assert plain.json()["svg"].startswith("<svg")
    refused = await api.client.get(url, params={"format": "wxacode"}, headers=staff)
    assert_problem(refused, 409, "wechat_not_configured")
    resident = await api.resident()
    assert_problem(
        await api.client.get(url, params={"format": "wxacode"}, headers=resident),
        403,
        "forbidden",
    )


# --- the phones stored before migration 0022 --------------------------------------------


async def _seal_on_upgrade(url: str) -> list[tuple[Any, ...]]:
    engine = create_async_engine(url)
    try:
        await upgrade_engine(engine, "0021")
        async with engine.begin() as connection:
            await connection.execute(
                text(
                    "INSERT INTO users (openid, phone, real_name_verified, is_active, "
                    "created_at, updated_at) VALUES "
                    "('o-old', '13900214321', false, true, :now, :now), "
                    "('o-odd', 'n/a', false, true, :now, :now)"
                ),
                {"now": datetime(2026, 12, 1, tzinfo=UTC)},
            )
        await upgrade_engine(engine)
        async with engine.connect() as connection:
            rows = await connection.execute(
                text(
                    "SELECT openid, phone_masked, phone_index, phone_tail_index, phone_sealed, "
                    "phone_key_version FROM users ORDER BY openid"
                )
            )
            return [tuple(row) for row in rows.all()]
    finally:
        await engine.dispose()


@pytest.mark.parametrize("engine", ["sqlite", "postgresql"])
def test_migration_seals_the_phones_stored_in_plaintext(
    engine: str, temporary_databases: TemporaryDatabases, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ZHENDI_PII_KEY", TEST_PII_KEY)
    cipher = PiiCipher(bytes.fromhex(TEST_PII_KEY))
    odd, old = asyncio.run(_seal_on_upgrade(temporary_databases.new(engine)))
    assert odd == ("o-odd", None, None, None, None, None)  # not a number: dropped
    openid, masked, index, tail, sealed, version = old
    assert (openid, masked) == ("o-old", "139****4321")
    assert index == cipher.blind_index("phone", "13900214321")
    assert tail == cipher.blind_index("phone_tail", "4321")
    assert cipher.open("phone", Sealed(bytes(sealed), version)) == "13900214321"
