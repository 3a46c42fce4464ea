"""Rate limits on what an attacker repeats: staff passwords, WeChat logins.

Real-name claims and app unlocks have their own tests beside those features;
the limits shared by several processes through Redis are in test_scale_out.py.
"""

import asyncio
import time
from collections.abc import AsyncIterator

import pytest

from app.core import passwords
from tests.conftest import make_settings, running
from tests.factories import STAFF_PASSWORD, Api, center_body
from tests.test_errors import assert_problem

TOKEN = "/api/v1/auth/token"


@pytest.fixture
async def limited_api(database_url: str) -> AsyncIterator[Api]:
    async with running(make_settings(database_url)) as api:
        yield api


async def staff_login(api: Api, username: str, password: str) -> int:
    response = await api.client.post(TOKEN, data={"username": username, "password": password})
    return response.status_code


async def test_a_password_guesser_is_stopped_within_ten_tries(limited_api: Api) -> None:
    """40 wrong passwords in a row all got 401 before; now the 11th is a 429."""
    api = limited_api
    await api.create_staff_row(username="guarded-admin")
    answers = [await staff_login(api, "guarded-admin", f"guess-{n}") for n in range(40)]
    assert answers[:10] == [401] * 10
    assert set(answers[10:]) == {429}
    refused = await api.client.post(
        TOKEN, data={"username": "GUARDED-admin", "password": STAFF_PASSWORD}
    )
    problem = assert_problem(refused, 429, "rate_limited")
    assert 1 <= int(refused.headers["retry-after"]) <= 15 * 60
    assert problem["title"] == "请求过于频繁"


async def test_a_correct_password_does_not_use_up_the_budget(limited_api: Api) -> None:
    api = limited_api
    await api.create_staff_row(username="busy-admin")
    for _ in range(15):
        assert await staff_login(api, "busy-admin", STAFF_PASSWORD) == 200


async def test_one_address_guessing_many_usernames_is_stopped(database_url: str) -> None:
    settings = make_settings(database_url, rate_limit_login_per_ip="12 per 15 minutes")
    async with running(settings) as api:
        answers = [await staff_login(api, f"someone-{n}", "wrong-password") for n in range(15)]
    assert answers == [401] * 12 + [429] * 3


async def test_a_crowd_behind_one_nat_can_all_log_in_through_wechat(limited_api: Api) -> None:
    """At least 120 WeChat logins a minute from one address (a street's shared
    exit), then a clear 429 for a flood."""
    api = limited_api
    codes = [f"dev:crowd-{n}" for n in range(150)]
    answers = await asyncio.gather(
        *(api.client.post("/api/v1/auth/wechat", json={"code": code}) for code in codes)
    )
    assert [answer.status_code for answer in answers] == [200] * 150


async def test_a_wechat_login_flood_is_refused(database_url: str) -> None:
    settings = make_settings(database_url, rate_limit_wechat_per_ip="5 per minute")
    async with running(settings) as api:
        answers = [
            (await api.client.post("/api/v1/auth/wechat", json={"code": f"dev:f{n}"})).status_code
            for n in range(7)
        ]
    assert answers == [200] * 5 + [429] * 2


async def test_the_password_is_checked_outside_any_write_transaction(
    database_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """On SQLite a writer holds the database's only write lock: a login that
    took it while Argon2 ran stalled every booking behind it."""
    async with running(make_settings(database_url)) as api:
        staff = await api.staff()
        await api.create_staff_row(username="slow-hash-admin")
        checking = asyncio.Event()
        release = asyncio.Event()
        real_verify = passwords.verify_password

        async def slow_verify(password_hash: str | None, password: str) -> bool:
            checking.set()
            await release.wait()
            return await real_verify(password_hash, password)

        monkeypatch.setattr("app.identity.service.verify_password", slow_verify)
        login = asyncio.create_task(staff_login(api, "slow-hash-admin", STAFF_PASSWORD))
        await asyncio.wait_for(checking.wait(), timeout=5)
        started = time.monotonic()
        created = await asyncio.wait_for(
            api.client.post("/api/v1/admin/centers", json=center_body(), headers=staff),
            timeout=5,
        )
        assert created.status_code == 201, created.text
        assert time.monotonic() - started < 2
        release.set()
        assert await login == 200
