"""``Idempotency-Key``: what a request's key is compared by, how long its
answer is kept, and the problem of a key reused for another request.

The key itself is claimed by the booking store, in the write of the booking
or series it answers (``booking.py``, docs/ARCHITECTURE.md invariant 7): the
stored answer exists exactly when the booking committed, a duplicate in
flight waits for that write and replays it, on both engines.
"""

import hashlib
import json
from datetime import timedelta
from typing import Any

from app.core.errors import AppError, Text

KEY_LIFETIME = timedelta(hours=24)


class KeyReused(AppError):
    status = 422
    code = "idempotency_key_reused"
    title = Text("幂等键已用于其他请求", "Idempotency key reused")
    detail = Text(
        "该 Idempotency-Key 已用于内容不同的请求", "This key was used with a different request"
    )


def fingerprint(payload: dict[str, Any]) -> str:
    canonical = json.dumps(payload, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(canonical.encode()).hexdigest()
