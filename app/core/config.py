"""Settings from ``ZHENDI_*`` environment variables.

Development runs with nothing configured: a JWT secret and a PII key are
generated once into a local secrets file and reused, so a restart does not
log everyone out or make stored ciphertext unreadable. Production refuses to
start until every secret is set and dev login is off.
"""

import ipaddress
import json
import os
import secrets
import tempfile
from functools import cached_property
from pathlib import Path
from typing import Literal, Self
from urllib.parse import urlsplit

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from limits import parse_many
from pydantic import BaseModel, Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict
from zxcvbn import zxcvbn

PLACEHOLDER_SECRETS = frozenset({"", "changeme", "change-me", "secret", "dev", "test", "zhendi"})
MIN_JWT_SECRET_LENGTH = 32
# zxcvbn's estimate of the guesses a secret takes: 10^30 is about 100 bits. A
# random 32-character secret estimates at 10^32; "a" * 32 or "0123" * 16 at 10^3.
MIN_SECRET_GUESSES_LOG10 = 30.0
RealNameVerifierName = Literal["format_only", "http", "counter"]
LockAdapterName = Literal["mqtt", "log", "none"]


def secret_strength(secret: str) -> float:
    """log10 of the guesses zxcvbn estimates ``secret`` takes (it reads 72 characters)."""
    return float(zxcvbn(secret[:72])["guesses_log10"])


def _is_https(url: str) -> bool:
    return urlsplit(url).scheme == "https"


def _is_loopback(host: str | None) -> bool:
    """A host that is this machine (no host: the clients default to localhost)."""
    if host is None or host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _tls_or_loopback(url: str, tls_scheme: str) -> bool:
    """Whether ``url`` is encrypted (``tls_scheme``), a local socket, or loopback:
    what a password and a door's open command may travel over."""
    parts = urlsplit(url)
    scheme = parts.scheme.removeprefix("async+")
    return scheme == tls_scheme or "unix" in scheme or _is_loopback(parts.hostname)


class WechatTemplate(BaseModel):
    """One kind's subscribe-message template (app/notifications/templates.py
    checks the fields and placeholders when the app starts)."""

    template_id: str = Field(min_length=1, max_length=64)
    page: str | None = Field(default=None, max_length=200)
    data: dict[str, str]


class InsecureSettingsError(RuntimeError):
    """Production was asked to start with a development default."""


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="ZHENDI_", extra="ignore")

    env: Literal["development", "production"] = "development"
    database_url: str = "sqlite+aiosqlite:///./zhendi.db"
    database_pool_size: int = Field(default=10, ge=1, le=50)
    # PostgreSQL (README: Operations): how long a new connection, a statement
    # and a wait for a pooled connection may take before the request is
    # answered 503 database_unavailable. A partitioned server never refuses: it
    # just does not answer, and nothing else would end the wait.
    database_connect_timeout_seconds: float = Field(default=5.0, gt=0, le=60)
    database_statement_timeout_seconds: float = Field(default=10.0, gt=0, le=600)
    database_pool_timeout_seconds: float = Field(default=5.0, gt=0, le=60)
    sqlite_busy_timeout_ms: int = Field(default=30_000, ge=0)

    jwt_secret: SecretStr | None = None
    jwt_issuer: str = "zhendi"
    user_token_minutes: int = Field(default=120, ge=1, le=24 * 60)
    staff_token_minutes: int = Field(default=30, ge=1, le=12 * 60)
    # How long a staff member's device stays trusted after a login from it
    # (app/identity/devices.py); browsers keep a cookie at most 400 days.
    staff_device_days: int = Field(default=90, ge=1, le=400)
    pii_key: SecretStr | None = None
    dev_secrets_file: Path = Path("zhendi-dev-secrets.json")

    wechat_app_id: str | None = None
    wechat_app_secret: SecretStr | None = None
    wechat_api_base: str = "https://api.weixin.qq.com"
    wechat_timeout_seconds: float = Field(default=5.0, gt=0, le=30)
    # None: on in development when no WeChat credentials are configured.
    dev_login: bool | None = None
    # Subscribe messages (README: Notifications): {"<kind>": {"template_id": …,
    # "page": …, "data": {"thing1": "{space_name}", …}}}; kinds not named go to
    # the inbox only.
    wechat_templates: dict[str, WechatTemplate] = {}
    wechat_miniprogram_state: Literal["formal", "trial", "developer"] = "formal"
    # The mini-program page a room's check-in code (getwxacodeunlimit) opens;
    # it receives ``scene`` = ``<space id>:<check-in token>``.
    wechat_check_in_page: str = Field(
        default="pages/check-in/index", pattern=r"^[A-Za-z0-9_\-]+(/[A-Za-z0-9_\-]+)*$"
    )
    # The mini-program page that opens a questionnaire; it receives ``id``.
    wechat_questionnaire_page: str = Field(
        default="pages/questionnaire/index", pattern=r"^[A-Za-z0-9_\-]+(/[A-Za-z0-9_\-]+)*$"
    )
    # A place freed for the first in a waitlist is held for them this long.
    offer_hold_minutes: int = Field(default=15, ge=1, le=24 * 60)
    # A confirmed booking is reminded this long before it starts (0: never).
    remind_before_minutes: int = Field(default=30, ge=0, le=24 * 60)
    # A message WeChat could not take is tried this often, the waits doubling.
    notification_max_attempts: int = Field(default=5, ge=1, le=20)
    notification_retry_seconds: float = Field(default=30.0, gt=0, le=3600)
    # Webhooks (app/webhooks/delivery.py): each hop's timeout, and whether an
    # endpoint may resolve to a private, loopback or link-local address (None:
    # yes in development, never in production).
    webhook_timeout_seconds: float = Field(default=5.0, gt=0, le=30)
    webhook_private_addresses: bool | None = None

    # How a claimed name and ID number are checked (app/identity/real_name.py).
    real_name_verifier: RealNameVerifierName = "format_only"
    real_name_http_url: str | None = None
    real_name_http_auth_scheme: str = "APPCODE"
    real_name_http_token: SecretStr | None = None
    real_name_http_timeout_seconds: float = Field(default=5.0, gt=0, le=30)
    real_name_http_name_field: str = "name"
    real_name_http_id_field: str = "idcard"
    real_name_http_result_path: str = "result.res"
    real_name_http_match_values: list[str] = ["1"]
    real_name_http_mismatch_values: list[str] = ["2"]

    # How a door is told to open for an app unlock (app/access/locks.py). None:
    # "log" in development (nothing opens, a line is logged); production wants
    # one that opens doors (mqtt), so a holder always has the app unlock.
    lock_adapter: LockAdapterName | None = None
    # What each door's command key is derived from (app/access/locks.py): kept
    # out of the database, so a copy of it cannot forge an open command.
    # Development derives one from the JWT key when it is unset.
    lock_command_secret: SecretStr | None = None
    mqtt_url: str = "mqtt://127.0.0.1:1883"
    # The CA that signed the broker's certificate, for mqtts:// (system CAs otherwise).
    mqtt_ca_file: Path | None = None
    mqtt_topic_prefix: str = "zhendi/doors"
    mqtt_timeout_seconds: float = Field(default=3.0, gt=0, le=30)

    # Shared rate limits (and, later, caches) for every process; memory otherwise.
    redis_url: str | None = None
    redis_key_prefix: str = Field(default="zhendi", pattern=r"^[A-Za-z0-9_.:-]{1,40}$")
    # Rate limits, in the ``limits`` notation ("10 per 15 minutes; 30 per day").
    # A staff login takes its place before the password is checked: from a
    # trusted device in that device's budget, otherwise in the address's and
    # the username's (README: Security). The others count every request.
    rate_limit_login_per_username: str = "10 per 15 minutes; 30 per day"
    rate_limit_login_per_ip: str = "30 per 15 minutes"
    rate_limit_login_per_device: str = "5 per 15 minutes; 20 per day"
    rate_limit_wechat_per_ip: str = "300 per minute"
    rate_limit_real_name_per_user: str = "5 per hour; 10 per day"
    rate_limit_unlock_per_user: str = "10 per minute"
    # A party branch or a company books a few series a week; a refused try counts too.
    rate_limit_series_per_user: str = "10 per hour; 30 per day"

    # The periodic jobs (README: Workers and jobs). In-process: ``zhendi serve``
    # runs them itself, as it does on SQLite; on PostgreSQL ``zhendi worker``
    # does. Every N seconds: the every-minute jobs tick that often instead.
    jobs_in_process: bool = False
    jobs_every_seconds: int | None = Field(default=None, ge=1, le=59)
    # A worker that has not sent a heartbeat for this long is taken for dead:
    # the runs it held are counted as failed and run again (app/jobs/worker.py).
    jobs_stalled_after_seconds: float = Field(default=30.0, ge=1, le=3600)

    # The violation policy of centers that set none of their own: this many
    # no-show points within the window suspend booking at the center.
    violation_points_to_suspend: int = Field(default=3, ge=1, le=100)
    violation_window_days: int = Field(default=30, ge=1, le=365)
    suspension_days: int = Field(default=7, ge=1, le=365)

    # Personal data kept only as long as needed (``zhendi purge-personal-data``).
    door_attempt_retention_days: int = Field(default=90, ge=1, le=3650)
    audit_personal_data_retention_days: int = Field(default=365, ge=1, le=3650)

    # /metrics needs ``Authorization: Bearer <token>`` when set; without one it is
    # open in development and closed (404) in production.
    metrics_token: SecretStr | None = None
    # /docs, /redoc and /openapi.json. None: on in development, off in production.
    docs_enabled: bool | None = None

    # The public map (GET /map) keeps each answer this long in the process,
    # and tells browsers and proxies the same (Cache-Control); 0: not cached.
    map_cache_seconds: int = Field(default=5, ge=0, le=300)

    max_body_bytes: int = Field(default=1024 * 1024, ge=1024)
    # Uploaded images (app/uploads/): where the disk store keeps them, and the
    # largest accepted (keep it under ``max_body_bytes``, which bounds the whole
    # multipart body).
    upload_dir: Path = Path(tempfile.gettempdir()) / "zhendi-uploads"
    upload_max_bytes: int = Field(default=768 * 1024, ge=1024)
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

    @field_validator("metrics_token")
    @classmethod
    def _metrics_token_is_not_empty(cls, value: SecretStr | None) -> SecretStr | None:
        if value is not None and not value.get_secret_value().strip():
            raise ValueError(
                "ZHENDI_METRICS_TOKEN is set but empty: unset it, or set a random value"
            )
        return value

    @field_validator("mqtt_url")
    @classmethod
    def _mqtt_url_scheme(cls, value: str) -> str:
        if urlsplit(value).scheme not in ("mqtt", "mqtts"):
            raise ValueError("ZHENDI_MQTT_URL must be an mqtts:// or mqtt:// URL")
        return value

    @field_validator(
        "rate_limit_login_per_username",
        "rate_limit_login_per_ip",
        "rate_limit_login_per_device",
        "rate_limit_wechat_per_ip",
        "rate_limit_real_name_per_user",
        "rate_limit_unlock_per_user",
        "rate_limit_series_per_user",
    )
    @classmethod
    def _rate_limit_parses(cls, value: str) -> str:
        try:
            parse_many(value)
        except ValueError:
            raise ValueError(f"not a rate limit: {value!r} (e.g. '10 per 15 minutes')") from None
        return value

    @model_validator(mode="after")
    def _http_verifier_is_configured(self) -> Self:
        if self.real_name_verifier == "http" and not (
            self.real_name_http_url and self.real_name_http_token
        ):
            raise ValueError(
                "ZHENDI_REAL_NAME_VERIFIER=http needs ZHENDI_REAL_NAME_HTTP_URL "
                "and ZHENDI_REAL_NAME_HTTP_TOKEN"
            )
        return self

    @model_validator(mode="after")
    def _production_refuses_insecure_defaults(self) -> Self:
        if self.env != "production":
            return self
        problems = []
        if self.dev_login:
            problems.append("ZHENDI_DEV_LOGIN must be off")
        secret = self.jwt_secret.get_secret_value() if self.jwt_secret else ""
        if (
            secret.lower() in PLACEHOLDER_SECRETS
            or len(secret) < MIN_JWT_SECRET_LENGTH
            or secret_strength(secret) < MIN_SECRET_GUESSES_LOG10
        ):
            problems.append(
                f"ZHENDI_JWT_SECRET must be set to a random value of at least "
                f"{MIN_JWT_SECRET_LENGTH} characters (e.g. `openssl rand -base64 48`)"
            )
        pii_key = self.pii_key.get_secret_value() if self.pii_key else ""
        if not pii_key or secret_strength(pii_key) < MIN_SECRET_GUESSES_LOG10:
            problems.append(
                "ZHENDI_PII_KEY must be set to a random 32-byte hex key (`openssl rand -hex 32`)"
            )
        if not (self.wechat_app_id and self.wechat_app_secret):
            problems.append("ZHENDI_WECHAT_APP_ID and ZHENDI_WECHAT_APP_SECRET must be set")
        if not _is_https(self.wechat_api_base):
            problems.append("ZHENDI_WECHAT_API_BASE must be an https:// URL")
        if self.real_name_verifier == "format_only":
            problems.append(
                "ZHENDI_REAL_NAME_VERIFIER=format_only checks no identity: use http or counter"
            )
        if self.real_name_http_url and not _is_https(self.real_name_http_url):
            problems.append("ZHENDI_REAL_NAME_HTTP_URL must be an https:// URL")
        problems += self._lock_problems()
        if self.redis_url and not _tls_or_loopback(self.redis_url, "rediss"):
            problems.append("ZHENDI_REDIS_URL must be rediss:// (redis:// only to a loopback host)")
        if self.metrics_token is not None and (
            secret_strength(self.metrics_token.get_secret_value()) < MIN_SECRET_GUESSES_LOG10
        ):
            problems.append("ZHENDI_METRICS_TOKEN must be a random value")
        if self.webhook_private_addresses:
            problems.append(
                "ZHENDI_WEBHOOK_PRIVATE_ADDRESSES must be off: webhooks go to public addresses only"
            )
        if problems:
            raise InsecureSettingsError("refusing to start in production: " + "; ".join(problems))
        return self

    def _lock_problems(self) -> list[str]:
        """Production opens doors from the app, over TLS, with a key of its own."""
        if self.lock_adapter != "mqtt":
            return [
                f"ZHENDI_LOCK_ADAPTER={self.lock_adapter or '(unset)'} opens no door from the "
                "app, so a stranger's wrong codes could shut a holder out: set it to mqtt"
            ]
        problems = []
        secret = self.lock_command_secret.get_secret_value() if self.lock_command_secret else ""
        if len(secret) < MIN_JWT_SECRET_LENGTH or (
            secret_strength(secret) < MIN_SECRET_GUESSES_LOG10
        ):
            problems.append(
                f"ZHENDI_LOCK_COMMAND_SECRET must be set to a random value of at least "
                f"{MIN_JWT_SECRET_LENGTH} characters (e.g. `openssl rand -base64 48`)"
            )
        if not _tls_or_loopback(self.mqtt_url, "mqtts"):
            problems.append("ZHENDI_MQTT_URL must be mqtts:// (mqtt:// only to a loopback host)")
        return problems

    @property
    def is_sqlite(self) -> bool:
        return self.database_url.startswith("sqlite")

    @property
    def wechat_configured(self) -> bool:
        return bool(self.wechat_app_id and self.wechat_app_secret)

    @property
    def is_production(self) -> bool:
        return self.env == "production"

    @property
    def webhooks_reach_private(self) -> bool:
        if self.webhook_private_addresses is not None:
            return self.webhook_private_addresses
        return not self.is_production

    @property
    def docs_on(self) -> bool:
        return self.docs_enabled if self.docs_enabled is not None else not self.is_production

    @property
    def effective_lock_adapter(self) -> LockAdapterName:
        # Production never gets here unset: the validator refuses it.
        return self.lock_adapter if self.lock_adapter is not None else "log"

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
    def lock_command_key(self) -> bytes:
        """The master of the doors' command keys (never in the database)."""
        if self.lock_command_secret is not None:
            return self.lock_command_secret.get_secret_value().encode()
        return HKDF(
            algorithm=hashes.SHA256(), length=32, salt=None, info=b"zhendi dev lock commands"
        ).derive(self.jwt_key.encode())

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
