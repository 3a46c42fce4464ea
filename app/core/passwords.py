"""Staff password hashing with Argon2id (argon2-cffi).

Hashing costs tens of milliseconds of CPU, so it runs in a worker thread
instead of stalling the event loop. Unknown usernames are checked against a
dummy hash so that a login attempt costs the same whether or not the account
exists.
"""

from functools import cache

from anyio import to_thread
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from prometheus_client import Counter

# OWASP's Argon2id baseline (19 MiB, 2 passes). The library default takes
# 64 MiB per hash, which dominated a worker's peak memory (bench/RESULTS.md).
_hasher = PasswordHasher(time_cost=2, memory_cost=19 * 1024, parallelism=1)

# Every Argon2 run of a login: a guessing attack shows here, and that a request
# over its rate limit runs none (README: Security).
PASSWORD_CHECKS = Counter("zhendi_password_checks_total", "Staff passwords checked with Argon2")


@cache
def _dummy_hash() -> str:
    """Hashed on first use, not at import: starting a worker costs no Argon2 run."""
    return _hasher.hash("zhendi-dummy-password-for-timing")


def hash_password(password: str) -> str:
    return _hasher.hash(password)


async def hash_password_async(password: str) -> str:
    return await to_thread.run_sync(hash_password, password)


def _verify(password_hash: str | None, password: str) -> bool:
    try:
        matches = _hasher.verify(password_hash or _dummy_hash(), password)
        return matches and password_hash is not None
    except (VerificationError, InvalidHashError):
        return False


async def verify_password(password_hash: str | None, password: str) -> bool:
    """True if ``password`` matches; ``None`` (no such user) costs the same and fails."""
    PASSWORD_CHECKS.inc()
    return await to_thread.run_sync(_verify, password_hash, password)
