"""What a production deployment closes that development leaves open: demo data,
public metrics, public API docs."""

import os
import secrets
import subprocess
from pathlib import Path

import pytest

from app.core.config import Settings
from tests.conftest import make_settings, running
from tests.test_cli import ZHENDI

METRICS_TOKEN = secrets.token_urlsafe(32)


def production_settings(database_url: str, **overrides: object) -> Settings:
    return make_settings(
        database_url,
        env="production",
        dev_login=False,
        wechat_app_id="wx-test",
        wechat_app_secret="s3cret",
        wechat_api_base="https://api.weixin.qq.com",
        real_name_verifier="counter",
        lock_adapter="mqtt",
        lock_command_secret=secrets.token_urlsafe(48),
        **overrides,
    )


def production_env() -> dict[str, str]:
    env = {key: value for key, value in os.environ.items() if not key.startswith("ZHENDI_")}
    env.update(
        ZHENDI_ENV="production",
        ZHENDI_JWT_SECRET=secrets.token_urlsafe(48),
        ZHENDI_PII_KEY=secrets.token_hex(32),
        ZHENDI_WECHAT_APP_ID="wx-test",
        ZHENDI_WECHAT_APP_SECRET="s3cret",
        ZHENDI_REAL_NAME_VERIFIER="counter",
        ZHENDI_LOCK_ADAPTER="mqtt",
        ZHENDI_LOCK_COMMAND_SECRET=secrets.token_urlsafe(48),
    )
    return env


@pytest.mark.parametrize("command", [["seed-demo"], ["serve", "--demo", "--port", "9"]])
def test_production_refuses_the_demo_data(tmp_path: Path, command: list[str]) -> None:
    """The demo's staff password and door key are printed in the README."""
    result = subprocess.run(
        [ZHENDI, *command],
        cwd=tmp_path,
        env=production_env(),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode != 0
    assert "development only" in result.stderr
    assert not (tmp_path / "zhendi.db").exists()


async def test_metrics_need_the_token_when_one_is_set(database_url: str) -> None:
    settings = make_settings(database_url, metrics_token=METRICS_TOKEN)
    async with running(settings) as api:
        for headers in ({}, {"Authorization": "Bearer wrong"}, {"Authorization": METRICS_TOKEN}):
            refused = await api.client.get("/metrics", headers=headers)
            assert refused.status_code == 401
            assert refused.json()["code"] == "invalid_token"
            assert "zhendi_http_requests_total" not in refused.text
        allowed = await api.client.get(
            "/metrics", headers={"Authorization": f"Bearer {METRICS_TOKEN}"}
        )
        assert allowed.status_code == 200
        assert "zhendi_http_requests_total" in allowed.text


async def test_production_hides_metrics_and_docs_unless_asked(database_url: str) -> None:
    async with running(production_settings(database_url)) as api:
        for path in ("/metrics", "/api/v1/metrics", "/docs", "/redoc", "/openapi.json"):
            assert (await api.client.get(path)).status_code == 404, path
        assert (await api.client.get("/healthz")).status_code == 200
    settings = production_settings(database_url, docs_enabled=True, metrics_token=METRICS_TOKEN)
    async with running(settings) as api:
        assert (await api.client.get("/docs")).status_code == 200
        assert (await api.client.get("/openapi.json")).status_code == 200
        scraped = await api.client.get(
            "/metrics", headers={"Authorization": f"Bearer {METRICS_TOKEN}"}
        )
        assert scraped.status_code == 200
