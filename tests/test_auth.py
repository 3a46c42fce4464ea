"""Logging in (WeChat, dev codes, staff passwords) and what a token may open."""

import asyncio
from collections.abc import AsyncIterator, Iterator
from datetime import timedelta

import httpx
import pytest
from fastapi import FastAPI
from jose import jwt

from app.core import tokens
from app.core.clock import utcnow
from app.core.config import Settings
from app.models import StaffRole
from tests.conftest import make_settings, running
from tests.factories import STAFF_PASSWORD, Api, bearer, center_body
from tests.fake_wechat import APP_ID, APP_SECRET, SESSION_KEY, FakeWechat, serve_fake_wechat
from tests.test_errors import assert_problem


@pytest.fixture(scope="session")
def fake_wechat() -> Iterator[FakeWechat]:
    with serve_fake_wechat() as fake:
        yield fake


@pytest.fixture
async def wechat_client(
    database_url: str, fake_wechat: FakeWechat
) -> AsyncIterator[httpx.AsyncClient]:
    """The app configured with real WeChat credentials, talking to the fake server."""
    settings = make_settings(
        database_url,
        wechat_app_id=APP_ID,
        wechat_app_secret=APP_SECRET,
        wechat_api_base=fake_wechat.base_url,
        wechat_timeout_seconds=0.5,
        dev_login=None,
    )
    assert not settings.dev_login_enabled
    async with running(settings) as api:
        yield api.client


async def login(client: httpx.AsyncClient, code: str) -> httpx.Response:
    return await client.post("/api/v1/auth/wechat", json={"code": code})


# --- residents ------------------------------------------------------------


async def test_wechat_login_creates_the_user_once(
    wechat_client: httpx.AsyncClient, fake_wechat: FakeWechat
) -> None:
    first = await login(wechat_client, "ok-o6_bmjrPTlm6_2sgVt7hMZOPfL2M")
    assert first.status_code == 200, first.text
    body = first.json()
    assert body["token_type"] == "bearer"
    assert body["expires_in"] > 0
    assert body["user"]["real_name_verified"] is False
    assert SESSION_KEY not in first.text
    assert fake_wechat.calls[-1]["grant_type"] == "authorization_code"

    again = await login(wechat_client, "ok-o6_bmjrPTlm6_2sgVt7hMZOPfL2M")
    assert again.json()["user"]["id"] == body["user"]["id"]

    me = await wechat_client.get("/api/v1/me", headers=bearer(body["access_token"]))
    assert me.status_code == 200
    assert me.json()["id"] == body["user"]["id"]
    assert SESSION_KEY not in me.text


async def test_wechat_text_plain_json_is_understood(wechat_client: httpx.AsyncClient) -> None:
    response = await login(wechat_client, "textplain-oABC")
    assert response.status_code == 200, response.text


async def test_unionid_is_kept_when_wechat_sends_it(
    wechat_client: httpx.AsyncClient, app: FastAPI
) -> None:
    from sqlalchemy import select

    from app.models import User

    response = await login(wechat_client, "union-oUnion1")
    assert response.status_code == 200
    await login(wechat_client, "ok-oUnion1")  # a later answer without unionid keeps it
    async with app.state.database.reader() as session:
        user = await session.scalar(select(User).where(User.openid == "oUnion1"))
    assert user is not None
    assert user.unionid == "U-oUnion1"


@pytest.mark.parametrize(
    ("code", "status", "problem"),
    [
        ("invalid", 401, "wechat_code_invalid"),
        ("used", 401, "wechat_code_invalid"),
        ("busy", 502, "wechat_unavailable"),
        ("broken", 502, "wechat_unavailable"),
        ("slow", 502, "wechat_unavailable"),
        ("dev:someone", 401, "wechat_code_invalid"),
    ],
)
async def test_wechat_failures_are_problems_never_500(
    wechat_client: httpx.AsyncClient, code: str, status: int, problem: str
) -> None:
    response = await login(wechat_client, code)
    assert_problem(response, status, problem)
    assert SESSION_KEY not in response.text
    assert APP_SECRET not in response.text


async def test_unreachable_wechat_is_502(database_url: str) -> None:
    settings = make_settings(
        database_url,
        wechat_app_id=APP_ID,
        wechat_app_secret=APP_SECRET,
        wechat_api_base="http://127.0.0.1:9",
    )
    async with running(settings) as api:
        assert_problem(await login(api.client, "ok-x"), 502, "wechat_unavailable")


async def test_dev_login_in_development(client: httpx.AsyncClient) -> None:
    response = await login(client, "dev:alice")
    assert response.status_code == 200
    assert_problem(await login(client, "dev:"), 401, "wechat_code_invalid")
    assert_problem(await login(client, "dev:bad openid!"), 401, "wechat_code_invalid")


async def test_dev_login_off_refuses_dev_codes(database_url: str) -> None:
    async with running(make_settings(database_url, dev_login=False)) as api:
        assert_problem(await login(api.client, "dev:alice"), 401, "wechat_code_invalid")


# --- staff ----------------------------------------------------------------


async def staff_login(client: httpx.AsyncClient, username: str, password: str) -> httpx.Response:
    return await client.post(
        "/api/v1/auth/token", data={"username": username, "password": password}
    )


async def test_staff_password_login(api: Api) -> None:
    await api.create_staff_row(StaffRole.district_admin, district="普陀区", username="putuo")
    response = await staff_login(api.client, "putuo", STAFF_PASSWORD)
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["token_type"] == "bearer"
    me = await api.client.get("/api/v1/admin/me", headers=bearer(body["access_token"]))
    assert me.json() == {
        "id": me.json()["id"],
        "username": "putuo",
        "role": "district_admin",
        "district": "普陀区",
        "street": None,
        "scope": "center",
        "center_ids": [],
        "must_change_password": False,
    }


@pytest.mark.parametrize(
    ("username", "password"),
    [("putuo", "wrong password"), ("nobody", STAFF_PASSWORD), ("retired", STAFF_PASSWORD)],
)
async def test_staff_login_failures_look_alike(api: Api, username: str, password: str) -> None:
    await api.create_staff_row(StaffRole.super_admin, username="putuo")
    await api.create_staff_row(StaffRole.super_admin, username="retired", is_active=False)
    response = await staff_login(api.client, username, password)
    body = assert_problem(response, 401, "invalid_credentials")
    assert body["detail"] == "用户名或密码错误"


# --- tokens ---------------------------------------------------------------


def forge(settings: Settings, **claims: object) -> str:
    now = utcnow()
    payload: dict[str, object] = {
        "sub": "1",
        "aud": tokens.Audience.staff.value,
        "iss": settings.jwt_issuer,
        "iat": int(now.timestamp()),
        "exp": int((now + timedelta(minutes=5)).timestamp()),
    }
    payload.update(claims)
    secret = str(payload.pop("secret", settings.jwt_key))
    algorithm = str(payload.pop("algorithm", "HS256"))
    return jwt.encode({k: v for k, v in payload.items() if v is not None}, secret, algorithm)


@pytest.mark.parametrize(
    "claims",
    [
        pytest.param({"secret": "not-our-secret-at-all-not-our-secret"}, id="forged"),
        pytest.param({"exp": int((utcnow() - timedelta(minutes=1)).timestamp())}, id="expired"),
        pytest.param({"aud": "some-other-service"}, id="foreign-audience"),
        pytest.param({"iss": "someone-else"}, id="wrong-issuer"),
        pytest.param({"exp": None}, id="no-exp"),
        pytest.param({"iat": None}, id="no-iat"),
        pytest.param({"sub": None}, id="no-sub"),
        pytest.param({"aud": None}, id="no-aud"),
        pytest.param({"iss": None}, id="no-iss"),
        pytest.param({"sub": "not-a-number"}, id="bad-sub"),
        pytest.param({"algorithm": "HS512"}, id="other-algorithm"),
    ],
)
async def test_bad_staff_tokens_are_401(api: Api, claims: dict[str, object]) -> None:
    await api.create_staff_row()
    token = forge(api.app.state.settings, **claims)
    response = await api.client.get("/api/v1/admin/centers", headers=bearer(token))
    assert_problem(response, 401, "invalid_token")
    assert response.headers["www-authenticate"] == "Bearer"


async def test_a_token_that_worked_stops_working_when_it_expires(api: Api) -> None:
    """Verified tokens are remembered for speed, but never past their expiry."""
    await api.create_staff_row()
    expires = int(utcnow().timestamp()) + 2
    token = forge(api.app.state.settings, exp=expires)
    first = await api.client.get("/api/v1/admin/centers", headers=bearer(token))
    assert first.status_code == 200, first.text
    await asyncio.sleep(expires + 1.1 - utcnow().timestamp())
    later = await api.client.get("/api/v1/admin/centers", headers=bearer(token))
    assert_problem(later, 401, "invalid_token")


async def test_unsigned_token_is_401(api: Api) -> None:
    import base64
    import json

    def part(data: dict[str, object]) -> str:
        return base64.urlsafe_b64encode(json.dumps(data).encode()).decode().rstrip("=")

    now = int(utcnow().timestamp())
    claims = {"sub": "1", "aud": "zhendi-staff", "iss": "zhendi", "iat": now, "exp": now + 60}
    token = f"{part({'alg': 'none', 'typ': 'JWT'})}.{part(claims)}."
    await api.create_staff_row()
    response = await api.client.get("/api/v1/admin/centers", headers=bearer(token))
    assert_problem(response, 401, "invalid_token")


@pytest.mark.parametrize("path", ["/api/v1/admin/centers", "/api/v1/me"])
async def test_no_token_is_401(client: httpx.AsyncClient, path: str) -> None:
    assert_problem(await client.get(path), 401, "not_authenticated")


async def test_token_of_a_deleted_account_is_401(api: Api) -> None:
    token = tokens.issue(api.app.state.settings, tokens.Audience.user, 987654).access_token
    assert_problem(await api.client.get("/api/v1/me", headers=bearer(token)), 401, "invalid_token")


async def test_deactivated_staff_token_stops_working(api: Api) -> None:
    staff_id = await api.create_staff_row(is_active=False)
    token = tokens.issue(api.app.state.settings, tokens.Audience.staff, staff_id).access_token
    response = await api.client.get("/api/v1/admin/centers", headers=bearer(token))
    assert_problem(response, 401, "invalid_token")


async def test_signing_out_ends_the_staff_members_earlier_tokens(
    api: Api, monkeypatch: pytest.MonkeyPatch
) -> None:
    staff_id = await api.create_staff_row(username="leaving")
    settings = api.app.state.settings
    earlier = utcnow() - timedelta(seconds=5)
    monkeypatch.setattr("app.core.tokens.utcnow", lambda: earlier)
    tablet, laptop = (
        bearer(tokens.issue(settings, tokens.Audience.staff, staff_id).access_token)
        for _ in range(2)
    )
    monkeypatch.undo()
    assert (await api.client.get("/api/v1/admin/me", headers=laptop)).status_code == 200
    resident = await api.resident()
    assert_problem(
        await api.client.post("/api/v1/auth/sign-out", headers=resident), 403, "forbidden"
    )

    signed_out = await api.client.post("/api/v1/auth/sign-out", headers=tablet)
    assert signed_out.status_code == 204
    for headers in (tablet, laptop):
        response = await api.client.get("/api/v1/admin/me", headers=headers)
        assert_problem(response, 401, "invalid_token")
    again = await staff_login(api.client, "leaving", STAFF_PASSWORD)
    fresh = bearer(again.json()["access_token"])
    assert (await api.client.get("/api/v1/admin/me", headers=fresh)).status_code == 200


async def test_resident_cannot_reach_admin_endpoints(api: Api) -> None:
    resident = await api.resident()
    response = await api.client.get("/api/v1/admin/centers", headers=resident)
    assert_problem(response, 403, "forbidden")
    response = await api.client.post("/api/v1/admin/centers", json=center_body(), headers=resident)
    assert_problem(response, 403, "forbidden")
    listing = await api.client.get("/api/v1/centers")
    assert listing.json()["total"] == 0


async def test_staff_token_is_not_a_resident_token(api: Api) -> None:
    staff = await api.staff()
    assert_problem(await api.client.get("/api/v1/me", headers=staff), 403, "forbidden")


def test_the_same_subject_gets_distinct_audiences(settings: Settings) -> None:
    user_token = tokens.issue(settings, tokens.Audience.user, 1).access_token
    with pytest.raises(tokens.TokenRejected):
        tokens.verify(settings, tokens.Audience.staff, user_token)
    assert tokens.verify(settings, tokens.Audience.user, user_token).subject_id == 1
