"""Probes, metrics and the request log."""

import logging

import httpx
import pytest

from app.core.clock import local_today
from app.holidays.days import has_data
from tests.conftest import make_settings, running
from tests.factories import Api

pytestmark = pytest.mark.dates


@pytest.mark.parametrize("prefix", ["", "/api/v1"])
async def test_health_and_readiness(client: httpx.AsyncClient, prefix: str) -> None:
    assert (await client.get(f"{prefix}/healthz")).json() == {"status": "ok"}
    ready = (await client.get(f"{prefix}/readyz")).json()
    assert ready["status"] == "ready"
    this_year = local_today().year
    provisional = [year for year in (this_year, this_year + 1) if not has_data(year)]
    if provisional:  # a year the official calendar does not cover yet is said, not hidden
        assert ready["warnings"] == [{"code": "calendar_provisional", "years": provisional}]
    else:
        assert "warnings" not in ready


def test_the_calendar_data_ends_somewhere() -> None:
    # Guards the branch above: the package covers some years and not others.
    assert has_data(2026)
    assert not has_data(2100)


async def test_readiness_fails_without_a_database() -> None:
    settings = make_settings("postgresql+asyncpg://nobody@127.0.0.1:9/none")
    async with running(settings, clean_up=False) as api:
        assert (await api.client.get("/healthz")).status_code == 200
        response = await api.client.get("/readyz")
    assert response.status_code == 503
    assert response.json()["code"] == "database_unavailable"


async def test_metrics_count_requests_by_route_template(api: Api) -> None:
    space = await api.space()
    await api.client.get(f"/api/v1/spaces/{space['id']}")
    response = await api.client.get("/metrics")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    assert (
        'zhendi_http_requests_total{method="GET",route="/api/v1/spaces/{space_id}",status="200"}'
        in response.text
    )
    assert f'/api/v1/spaces/{space["id"]}"' not in response.text


async def test_request_log_has_no_personal_data(api: Api, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="zhendi.access")
    headers = await api.resident("o-private-openid")
    await api.client.get("/api/v1/me", headers=headers)
    await api.client.get("/api/v1/centers", params={"district": "私密区"})
    lines = [record.getMessage() for record in caplog.records if record.name == "zhendi.access"]
    assert any(line.startswith("GET /api/v1/me 200") for line in lines)
    joined = "\n".join(lines)
    for secret in ("o-private-openid", headers["Authorization"][7:], "私密区"):
        assert secret not in joined
