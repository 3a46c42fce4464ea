"""Settings from ``ZHENDI_*`` environment variables.

Development runs with nothing configured: a JWT secret and a PII key are
generated once into a local secrets file and reused, so a restart does not
log everyone out or make stored ciphertext unreadable. Production refuses to
start until every secret is set and dev login is off.
"""

import json
import os
import secrets
from functools import cached_property
from pathlib import Path
from typing import Literal, Self

from pydantic import Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

PLACEHOLDER_SECRETS = frozenset({"", "changeme", "change-me", "secret", "dev", "test", "zhendi"})
MIN_JWT_SECRET_LENGTH = 32


class InsecureSettingsError(RuntimeError):
    """Production was asked to start with a development default."""


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="ZHENDI_", extra="ignore")

    env: Literal["development", "production"] = "development"
    database_url: str = "sqlite+aiosqlite:///./zhendi.db"
    database_pool_size: int = Field(default=10, ge=1, le=50)
    sqlite_busy_timeout_ms: int = Field(default=30_000, ge=0)

    jwt_secret: SecretStr | None = None
    jwt_issuer: str = "zhendi"
    user_token_minutes: int = Field(default=120, ge=1, le=24 * 60)
    staff_token_minutes: int = Field(default=30, ge=1, le=12 * 60)
    pii_key: SecretStr | None = None
    dev_secrets_file: Path = Path("zhendi-dev-secrets.json")

    wechat_app_id: str | None = None
    wechat_app_secret: SecretStr | None = None
    wechat_api_base: str = "https://api.weixin.qq.com"
    wechat_timeout_seconds: float = Field(default=5.0, gt=0, le=30)
    # None: on in development when no WeChat credentials are configured.
    dev_login: bool | None = None

    real_name_provider: Literal["format_only"] = "format_only"
    door_code_leeway_minutes: int = Field(default=10, ge=0, le=120)

    max_body_bytes: int = Field(default=1024 * 1024, ge=1024)
    log_level: str = "INFO"

    @field_validator("pii_key")
    @classmethod
    def _pii_key_is_32_bytes_hex(cls, value: SecretStr | None) -> SecretStr | None:
        if value is None:
            return None
        raw = value.get_secret_value()
        try:
            decoded = bytes.fromhex(raw)
        except ValueError:
            raise ValueError("ZHENDI_PII_KEY must be 64 hexadecimal characters") from None
        if len(decoded) != 32:
            raise ValueError("ZHENDI_PII_KEY must be 64 hexadecimal characters (32 bytes)")
        return value

    @model_validator(mode="after")
    def _production_refuses_insecure_defaults(self) -> Self:
        if self.env != "production":
            return self
        problems = []
        if self.dev_login:
            problems.append("ZHENDI_DEV_LOGIN must be off")
        secret = self.jwt_secret.get_secret_value() if self.jwt_secret else ""
        if secret.lower() in PLACEHOLDER_SECRETS or len(secret) < MIN_JWT_SECRET_LENGTH:
            problems.append(
                f"ZHENDI_JWT_SECRET must be set to a random value of at least "
                f"{MIN_JWT_SECRET_LENGTH} characters"
            )
        if self.pii_key is None or len(set(self.pii_key.get_secret_value())) < 4:
            problems.append("ZHENDI_PII_KEY must be set to a random 32-byte hex key")
        if not (self.wechat_app_id and self.wechat_app_secret):
            problems.append("ZHENDI_WECHAT_APP_ID and ZHENDI_WECHAT_APP_SECRET must be set")
        if problems:
            raise InsecureSettingsError("refusing to start in production: " + "; ".join(problems))
        return self

    @property
    def is_sqlite(self) -> bool:
        return self.database_url.startswith("sqlite")

    @property
    def wechat_configured(self) -> bool:
        return bool(self.wechat_app_id and self.wechat_app_secret)

    @property
    def dev_login_enabled(self) -> bool:
        if self.dev_login is not None:
            return self.dev_login
        return self.env == "development" and not self.wechat_configured

    @cached_property
    def jwt_key(self) -> str:
        if self.jwt_secret is not None:
            return self.jwt_secret.get_secret_value()
        return self._dev_secret("jwt_secret")

    @cached_property
    def pii_key_bytes(self) -> bytes:
        if self.pii_key is not None:
            return bytes.fromhex(self.pii_key.get_secret_value())
        return bytes.fromhex(self._dev_secret("pii_key"))

    def _dev_secret(self, name: str) -> str:
        """Read a development secret from the secrets file, creating the file once.

        The file is written beside its final name and hard-linked into place, so
        workers starting together all read the same complete file.
        """
        if self.env == "production":  # pragma: no cover - the validator stops this earlier
            raise InsecureSettingsError(f"{name} is not configured")
        path = self.dev_secrets_file
        if not path.exists():
            fresh = {"jwt_secret": secrets.token_urlsafe(48), "pii_key": secrets.token_hex(32)}
            draft = path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}")
            fd = os.open(draft, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "w") as handle:
                json.dump(fresh, handle)
            try:
                os.link(draft, path)
            except FileExistsError:
                pass
            finally:
                draft.unlink()
        return str(json.loads(path.read_text())[name])
