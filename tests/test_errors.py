"""Every error is RFC 9457 problem+json with a stable code, in Chinese or English."""

from collections.abc import AsyncIterator

import httpx
import pytest
from fastapi import FastAPI

from tests.factories import Api

PROBLEM = "application/problem+json"


def assert_problem(response: httpx.Response, status: int, code: str) -> dict[str, object]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith(PROBLEM)
    body: dict[str, object] = response.json()
    assert body["status"] == status
    assert body["code"] == code
    assert body["type"] == f"urn:zhendi:problem:{code}"
    assert isinstance(body["title"], str)
    assert body["title"]
    return body


async def test_unknown_route_is_a_404_problem(client: httpx.AsyncClient) -> None:
    body = assert_problem(await client.get("/api/v1/nowhere"), 404, "not_found")
    assert body["title"] == "资源不存在"
    assert body["instance"] == "/api/v1/nowhere"


async def test_wrong_method_is_a_405_problem(client: httpx.AsyncClient) -> None:
    response = await client.delete("/api/v1/centers")
    assert_problem(response, 405, "method_not_allowed")
    assert "GET" in response.headers["allow"]


async def test_validation_errors_list_each_field_in_chinese_by_default(api: Api) -> None:
    headers = await api.staff()
    response = await api.client.post(
        "/api/v1/admin/centers", json={"name": "", "kind": "castle", "lat": 91}, headers=headers
    )
    body = assert_problem(response, 422, "validation_failed")
    errors = {error["field"]: error for error in body["errors"]}  # type: ignore[attr-defined]
    assert set(errors) >= {"name", "kind", "lat", "lng", "district", "address"}
    assert errors["district"]["message"] == "缺少必填字段"
    assert errors["district"]["type"] == "missing"
    assert body["title"] == "输入校验失败"


async def test_english_on_request(api: Api) -> None:
    headers = {**await api.staff(), "Accept-Language": "en-US,en;q=0.9,zh;q=0.5"}
    response = await api.client.post("/api/v1/admin/centers", json={}, headers=headers)
    body = assert_problem(response, 422, "validation_failed")
    assert body["title"] == "Validation failed"
    assert body["errors"][0]["message"] == "Field required"  # type: ignore[index]


@pytest.mark.parametrize(
    ("header", "language"),
    [
        ("en", "en"),
        ("zh-CN,zh;q=0.9,en;q=0.8", "zh"),
        ("en;q=0.2, zh;q=0.8", "zh"),
        ("fr, en;q=0.5", "en"),
        ("fr", "zh"),
        ("en;q=abc", "zh"),
    ],
)
async def test_accept_language_negotiation(
    client: httpx.AsyncClient, header: str, language: str
) -> None:
    response = await client.get("/api/v1/nowhere", headers={"Accept-Language": header})
    expected = "Not found" if language == "en" else "资源不存在"
    assert response.json()["title"] == expected


async def test_malformed_json_is_a_400_problem(api: Api) -> None:
    headers = {**await api.staff(), "Content-Type": "application/json"}
    response = await api.client.post(
        "/api/v1/admin/centers", content=b'{"name": "x",', headers=headers
    )
    assert_problem(response, 400, "malformed_json")


async def test_declared_oversized_body_is_refused_before_parsing(
    client: httpx.AsyncClient,
) -> None:
    payload = b"x" * (1024 * 1024 + 1)
    response = await client.post(
        "/api/v1/auth/wechat", content=payload, headers={"Content-Type": "application/json"}
    )
    assert_problem(response, 413, "payload_too_large")


async def test_chunked_oversized_body_is_refused(client: httpx.AsyncClient) -> None:
    async def chunks() -> AsyncIterator[bytes]:
        for _ in range(20):
            yield b"y" * 65536

    response = await client.post(
        "/api/v1/auth/wechat", content=chunks(), headers={"Content-Type": "application/json"}
    )
    assert_problem(response, 413, "payload_too_large")


async def test_chunked_body_under_the_limit_reaches_the_app(client: httpx.AsyncClient) -> None:
    async def chunks() -> AsyncIterator[bytes]:
        yield b'{"code": '
        yield b'"dev:chunky"}'

    response = await client.post(
        "/api/v1/auth/wechat", content=chunks(), headers={"Content-Type": "application/json"}
    )
    assert response.status_code == 200, response.text


async def test_a_bug_is_a_generic_logged_500(
    app: FastAPI, caplog: pytest.LogCaptureFixture
) -> None:
    @app.get("/api/v1/test-only/boom")
    async def boom() -> None:
        raise RuntimeError("secret internals")

    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
        response = await client.get("/api/v1/test-only/boom")
    body = assert_problem(response, 500, "internal_error")
    assert "secret internals" not in response.text
    assert "detail" not in body
    assert any("secret internals" in str(record.exc_info) for record in caplog.records)


async def test_responses_carry_a_request_id(client: httpx.AsyncClient) -> None:
    response = await client.get("/healthz", headers={"X-Request-ID": "abc-123"})
    assert response.headers["x-request-id"] == "abc-123"
    response = await client.get("/healthz", headers={"X-Request-ID": "bad id\twith tab"})
    assert response.headers["x-request-id"] != "bad id\twith tab"


async def test_unknown_query_parameters_are_refused(client: httpx.AsyncClient) -> None:
    response = await client.get("/api/v1/centers", params={"distrct": "普陀区"})
    body = assert_problem(response, 422, "validation_failed")
    assert body["errors"] == [
        {
            "field": "distrct",
            "location": ["query", "distrct"],
            "type": "extra_forbidden",
            "message": "不允许的字段",
        }
    ]
    assert (await client.get("/api/v1/centers", params={"district": "普陀区"})).status_code == 200


@pytest.mark.parametrize("written", ["%097", "%207", "+7", "7%20", "%EF%BC%97"])
async def test_a_path_id_is_written_in_digits(api: Api, written: str) -> None:
    """A lax integer would read a tab, a space, a sign or a full-width digit
    around an id as the id itself; both lanes refuse them."""
    space = await api.space()
    assert space["id"] >= 1
    staff = await api.staff()
    for path in (
        f"/api/v1/spaces/{written}",
        f"/api/v1/spaces/{written}/availability?date=2030-01-01",  # the hot lane
        f"/api/v1/admin/users/{written}",
    ):
        answer = await api.client.get(path, headers=staff)
        assert answer.status_code == 422, (path, answer.text)
        assert answer.json()["code"] == "validation_failed"
