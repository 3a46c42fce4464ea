"""``Idempotency-Key`` on booking: a retried POST gets the first answer, once.

The key is claimed inside the booking's own transaction. On PostgreSQL a
transaction-scoped advisory lock on (user, key) marks the key in flight: a
duplicate arriving meanwhile is told so (409) instead of booking again. On
SQLite the booking transaction already holds the database's write lock, so a
duplicate simply waits and then replays. The stored response is written in the
same transaction, so it exists exactly when the booking committed; a request
that failed left nothing behind and may be retried with the same key.

This module serves the transactional path: a recurring booking
(``app/series/router.py``). A single booking (``app/reservations/postgres.py``
and ``sqlite.py``) claims its key inside its own write instead: a duplicate
arriving meanwhile waits for that write, then replays the first answer.
"""

import hashlib
import json
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from sqlalchemy import delete, select, text
from sqlalchemy.ext.asyncio import AsyncSession

from app.core.clock import utcnow
from app.core.errors import AppError, Text
from app.models import IdempotencyKey

KEY_LIFETIME = timedelta(hours=24)


class KeyReused(AppError):
    status = 422
    code = "idempotency_key_reused"
    title = Text("幂等键已用于其他请求", "Idempotency key reused")
    detail = Text(
        "该 Idempotency-Key 已用于内容不同的请求", "This key was used with a different request"
    )


class KeyInFlight(AppError):
    status = 409
    code = "idempotency_key_in_flight"
    title = Text("相同请求正在处理中", "Request already in progress")
    detail = Text(
        "使用该 Idempotency-Key 的请求仍在处理，请稍后重试",
        "A request with this key is still being processed",
    )

    def __init__(self) -> None:
        super().__init__()
        self.headers["Retry-After"] = "1"


@dataclass(frozen=True)
class Replay:
    status: int
    body: dict[str, Any]


@dataclass(frozen=True)
class Claim:
    user_id: int
    key: str
    request_hash: str


def fingerprint(payload: dict[str, Any]) -> str:
    canonical = json.dumps(payload, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(canonical.encode()).hexdigest()


def _lock_key(user_id: int, key: str) -> int:
    digest = hashlib.sha256(f"idempotency:{user_id}:{key}".encode()).digest()
    return int.from_bytes(digest[:8], "big", signed=True)


async def claim(session: AsyncSession, user_id: int, key: str, request_hash: str) -> Claim | Replay:
    """Claim ``key`` for this request, or return the stored first response."""
    if session.get_bind().dialect.name == "postgresql":
        locked = await session.scalar(
            text("SELECT pg_try_advisory_xact_lock(:key)"), {"key": _lock_key(user_id, key)}
        )
        if not locked:
            raise KeyInFlight()
    await session.execute(
        delete(IdempotencyKey).where(
            IdempotencyKey.user_id == user_id,
            IdempotencyKey.key == key,
            IdempotencyKey.created_at < utcnow() - KEY_LIFETIME,
        )
    )
    stored = await session.scalar(
        select(IdempotencyKey).where(IdempotencyKey.user_id == user_id, IdempotencyKey.key == key)
    )
    if stored is None:
        return Claim(user_id=user_id, key=key, request_hash=request_hash)
    if stored.request_hash != request_hash:
        raise KeyReused()
    return Replay(status=stored.response_status, body=dict(stored.response_body))


async def remember(
    session: AsyncSession, claimed: Claim, status: int, body: dict[str, Any]
) -> None:
    session.add(
        IdempotencyKey(
            user_id=claimed.user_id,
            key=claimed.key,
            request_hash=claimed.request_hash,
            response_status=status,
            response_body=body,
            created_at=utcnow(),
        )
    )
    await session.flush()
