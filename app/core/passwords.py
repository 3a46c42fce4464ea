"""Staff password hashing with Argon2id (argon2-cffi).

Hashing costs tens of milliseconds of CPU, so it runs in a worker thread
instead of stalling the event loop. Unknown usernames are checked against a
dummy hash so that a login attempt costs the same whether or not the account
exists.
"""

from anyio import to_thread
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

_hasher = PasswordHasher()
_DUMMY_HASH = _hasher.hash("zhendi-dummy-password-for-timing")


def hash_password(password: str) -> str:
    return _hasher.hash(password)


async def hash_password_async(password: str) -> str:
    return await to_thread.run_sync(hash_password, password)


def _verify(password_hash: str | None, password: str) -> bool:
    try:
        return _hasher.verify(password_hash or _DUMMY_HASH, password) and password_hash is not None
    except (VerificationError, InvalidHashError):
        return False


async def verify_password(password_hash: str | None, password: str) -> bool:
    """True if ``password`` matches; ``None`` (no such user) costs the same and fails."""
    return await to_thread.run_sync(_verify, password_hash, password)
