"""Settings: production refuses insecure defaults; development keeps its secrets."""

import json
import os
import secrets
import subprocess
from pathlib import Path

import pytest
from pydantic import ValidationError

from app.core.config import InsecureSettingsError, Settings

GOOD_PRODUCTION = {
    "env": "production",
    "jwt_secret": secrets.token_urlsafe(48),
    "pii_key": secrets.token_hex(32),
    "wechat_app_id": "wx123",
    "wechat_app_secret": "s3cret",
    "real_name_verifier": "counter",
    "lock_adapter": "mqtt",
    "lock_command_secret": secrets.token_urlsafe(48),
    "mqtt_url": "mqtts://broker.example.com:8883",
}


def test_a_complete_production_configuration_starts() -> None:
    settings = Settings.model_validate(GOOD_PRODUCTION)
    assert not settings.dev_login_enabled


@pytest.mark.parametrize(
    ("change", "complaint"),
    [
        ({"dev_login": True}, "ZHENDI_DEV_LOGIN"),
        ({"jwt_secret": None}, "ZHENDI_JWT_SECRET"),
        ({"jwt_secret": "changeme"}, "ZHENDI_JWT_SECRET"),
        ({"jwt_secret": "short-but-random"}, "ZHENDI_JWT_SECRET"),
        ({"pii_key": None}, "ZHENDI_PII_KEY"),
        ({"pii_key": "0" * 64}, "ZHENDI_PII_KEY"),
        ({"wechat_app_secret": None}, "ZHENDI_WECHAT_APP_ID"),
        # Long enough, but guessable: a repeated character or a short repeated pattern.
        ({"jwt_secret": "a" * 32}, "ZHENDI_JWT_SECRET"),
        ({"jwt_secret": "correcthorsebatterystaple-correcthorse"}, "ZHENDI_JWT_SECRET"),
        ({"pii_key": "0123" * 16}, "ZHENDI_PII_KEY"),
        ({"pii_key": "deadbeef" * 8}, "ZHENDI_PII_KEY"),
        ({"wechat_api_base": "http://api.weixin.qq.com"}, "ZHENDI_WECHAT_API_BASE"),
        ({"real_name_verifier": "format_only"}, "ZHENDI_REAL_NAME_VERIFIER"),
        (
            {
                "real_name_verifier": "http",
                "real_name_http_url": "http://idcheck.example.com/verify",
                "real_name_http_token": "appcode",
            },
            "ZHENDI_REAL_NAME_HTTP_URL",
        ),
        ({"lock_adapter": "log"}, "ZHENDI_LOCK_ADAPTER"),
        ({"metrics_token": "metrics"}, "ZHENDI_METRICS_TOKEN"),
    ],
)
def test_production_refuses_insecure_defaults(change: dict[str, object], complaint: str) -> None:
    with pytest.raises((InsecureSettingsError, ValidationError), match=complaint):
        Settings.model_validate({**GOOD_PRODUCTION, **change})


def test_production_accepts_random_secrets_and_an_https_verifier() -> None:
    settings = Settings.model_validate(
        {
            **GOOD_PRODUCTION,
            "real_name_verifier": "http",
            "real_name_http_url": "https://idcheck.example.com/verify",
            "real_name_http_token": "appcode",
            "lock_adapter": "mqtt",
            "metrics_token": secrets.token_urlsafe(32),
        }
    )
    assert settings.effective_lock_adapter == "mqtt"
    assert not settings.docs_on


def test_production_defaults_close_what_development_opens() -> None:
    production = Settings.model_validate(GOOD_PRODUCTION)
    assert (production.docs_on, production.effective_lock_adapter) == (False, "mqtt")
    development = Settings()
    assert (development.docs_on, development.effective_lock_adapter) == (True, "log")
    assert Settings.model_validate({**GOOD_PRODUCTION, "docs_enabled": True}).docs_on


def test_the_http_verifier_needs_its_url_and_credentials() -> None:
    with pytest.raises(ValidationError, match="ZHENDI_REAL_NAME_HTTP_URL"):
        Settings(real_name_verifier="http")


@pytest.mark.parametrize("limit", ["often", "10 per fortnight", ""])
def test_rate_limits_must_parse(limit: str) -> None:
    with pytest.raises(ValidationError, match="not a rate limit"):
        Settings(rate_limit_wechat_per_ip=limit)


def test_settings_come_from_zhendi_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ZHENDI_DATABASE_URL", "postgresql+asyncpg://u@h/db")
    monkeypatch.setenv("ZHENDI_WECHAT_API_BASE", "http://wechat.local")
    settings = Settings()
    assert settings.database_url == "postgresql+asyncpg://u@h/db"
    assert settings.wechat_api_base == "http://wechat.local"
    assert not settings.is_sqlite


@pytest.mark.parametrize("key", ["abc", "zz" * 32, "00" * 31])
def test_pii_key_must_be_32_hex_bytes(key: str) -> None:
    with pytest.raises(ValidationError, match="ZHENDI_PII_KEY"):
        Settings(pii_key=key)


def test_development_generates_secrets_once_and_keeps_them(tmp_path: Path) -> None:
    secrets_file = tmp_path / "dev-secrets.json"
    first = Settings(dev_secrets_file=secrets_file)
    key, pii = first.jwt_key, first.pii_key_bytes
    assert len(key) >= 32
    assert len(pii) == 32
    restarted = Settings(dev_secrets_file=secrets_file)
    assert restarted.jwt_key == key
    assert restarted.pii_key_bytes == pii
    assert secrets_file.stat().st_mode & 0o077 == 0
    assert set(json.loads(secrets_file.read_text())) == {"jwt_secret", "pii_key"}


def test_configured_secrets_win_over_the_dev_file(tmp_path: Path) -> None:
    settings = Settings(jwt_secret="x" * 40, dev_secrets_file=tmp_path / "none.json")
    assert settings.jwt_key == "x" * 40
    assert not (tmp_path / "none.json").exists()


def test_dev_login_follows_wechat_configuration() -> None:
    assert Settings().dev_login_enabled
    assert not Settings(wechat_app_id="wx", wechat_app_secret="s").dev_login_enabled
    assert Settings(wechat_app_id="wx", wechat_app_secret="s", dev_login=True).dev_login_enabled


@pytest.mark.parametrize("env", ["development", "production"])
def test_an_empty_metrics_token_is_a_one_line_configuration_error(env: str, tmp_path: Path) -> None:
    """Set but empty (``ZHENDI_METRICS_TOKEN=`` in a unit file or a compose
    file): production used to crash in the guessability check with a
    traceback, development to take "Bearer " with nothing after it."""
    from tests.test_cli import ZHENDI, _free_port
    from tests.test_production import production_env

    base = {key: value for key, value in os.environ.items() if not key.startswith("ZHENDI_")}
    environment = production_env() if env == "production" else base
    result = subprocess.run(
        [ZHENDI, "serve", "--port", str(_free_port())],
        cwd=tmp_path,
        env={**environment, "ZHENDI_METRICS_TOKEN": ""},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode != 0
    assert "Traceback" not in result.stderr, result.stderr
    assert result.stderr.strip().splitlines() == [
        "zhendi: configuration error: ZHENDI_METRICS_TOKEN is set but empty: "
        "unset it, or set a random value"
    ]
    assert not (tmp_path / "zhendi.db").exists()
    with pytest.raises(ValidationError, match="ZHENDI_METRICS_TOKEN"):
        Settings(metrics_token=" ")


def test_a_settings_error_is_one_line_without_the_value_given(tmp_path: Path) -> None:
    """pydantic's own message spans lines and repeats the value: a secret."""
    from tests.test_cli import ZHENDI

    secret = "ab" * 31  # a PII key one byte short
    base = {key: value for key, value in os.environ.items() if not key.startswith("ZHENDI_")}
    result = subprocess.run(
        [ZHENDI, "db", "upgrade"],
        cwd=tmp_path,
        env={**base, "ZHENDI_PII_KEY": secret, "ZHENDI_DATABASE_POOL_SIZE": "many"},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode != 0
    assert result.stderr.strip().splitlines() == [
        "zhendi: configuration error: ZHENDI_DATABASE_POOL_SIZE: Input should be a valid "
        "integer, unable to parse string as an integer; ZHENDI_PII_KEY must be 64 hexadecimal "
        "characters (32 bytes)"
    ], result.stderr
    assert secret not in result.stderr
