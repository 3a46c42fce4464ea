"""Access tokens and staff device tokens: the only module that touches JWT
(python-jose).

HS256 is pinned on both sides, so a token cannot choose its own algorithm
(``none``, or RS256 with our secret as a "public key"). Users and staff get
different audiences: a resident's token never opens an admin endpoint, even
with the same subject id. A device token (app/identity/devices.py) has an
audience of its own too: it opens nothing, and no access token is one.
"""

import enum
from collections import OrderedDict
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from jose import JWTError, jwt

from app.core.clock import utcnow
from app.core.config import Settings

ALGORITHM = "HS256"
_REQUIRED_CLAIMS = ("exp", "iat", "sub", "aud", "iss")
DEVICE_AUDIENCE = "zhendi-staff-device"


class Audience(enum.StrEnum):
    user = "zhendi-user"
    staff = "zhendi-staff"


@dataclass(frozen=True)
class IssuedToken:
    access_token: str
    expires_in: int  # seconds


@dataclass(frozen=True)
class TokenClaims:
    subject_id: int
    audience: Audience
    issued_at: datetime


@dataclass(frozen=True)
class DeviceClaims:
    staff_id: int
    device_id: str
    issued_at: datetime


class TokenRejected(Exception):
    """The token is malformed, forged, expired or meant for another audience."""


def issue(settings: Settings, audience: Audience, subject_id: int) -> IssuedToken:
    minutes = (
        settings.staff_token_minutes if audience is Audience.staff else settings.user_token_minutes
    )
    now = utcnow()
    claims = {
        "sub": str(subject_id),
        "aud": audience.value,
        "iss": settings.jwt_issuer,
        "iat": int(now.timestamp()),
        "exp": int((now + timedelta(minutes=minutes)).timestamp()),
    }
    token = jwt.encode(claims, settings.jwt_key, algorithm=ALGORITHM)
    return IssuedToken(access_token=token, expires_in=minutes * 60)


# Verified tokens, so that a resident's next request skips python-jose's decode
# (~40 µs, about 4 % of a booking's CPU, measured in bench/). Keyed by the exact
# token, secret and audience; an entry is used only until the token's own expiry.
_VERIFIED: OrderedDict[tuple[str, str, Audience], tuple[TokenClaims, int]] = OrderedDict()
_VERIFIED_MAX = 4096


def verify(settings: Settings, audience: Audience, token: str) -> TokenClaims:
    key = (token, settings.jwt_key, audience)
    cached = _VERIFIED.get(key)
    if cached is not None and cached[1] > utcnow().timestamp():
        _VERIFIED.move_to_end(key)
        return cached[0]
    claims, expires = _decode(settings, audience, token)
    _VERIFIED[key] = (claims, expires)
    if len(_VERIFIED) > _VERIFIED_MAX:
        _VERIFIED.popitem(last=False)
    return claims


def _decode(settings: Settings, audience: Audience, token: str) -> tuple[TokenClaims, int]:
    claims = _verified_claims(settings, audience.value, token)
    try:
        subject_id, issued_at = _subject_and_issue_time(claims)
        expires = int(claims["exp"])
    except (KeyError, TypeError, ValueError, OverflowError) as exc:
        raise TokenRejected(str(exc)) from None
    return TokenClaims(subject_id=subject_id, audience=audience, issued_at=issued_at), expires


def issue_device(settings: Settings, staff_id: int, device_id: str) -> IssuedToken:
    """The token that makes a client a trusted device of the staff member."""
    now = utcnow()
    lifetime = timedelta(days=settings.staff_device_days)
    claims = {
        "sub": str(staff_id),
        "aud": DEVICE_AUDIENCE,
        "iss": settings.jwt_issuer,
        "iat": int(now.timestamp()),
        "exp": int((now + lifetime).timestamp()),
        "device": device_id,
    }
    token = jwt.encode(claims, settings.jwt_key, algorithm=ALGORITHM)
    return IssuedToken(access_token=token, expires_in=int(lifetime.total_seconds()))


def verify_device(settings: Settings, token: str) -> DeviceClaims:
    claims = _verified_claims(settings, DEVICE_AUDIENCE, token)
    device_id = claims.get("device")
    if not isinstance(device_id, str) or not device_id:
        raise TokenRejected("no device")
    try:
        staff_id, issued_at = _subject_and_issue_time(claims)
    except (KeyError, TypeError, ValueError, OverflowError) as exc:
        raise TokenRejected(str(exc)) from None
    return DeviceClaims(staff_id=staff_id, device_id=device_id, issued_at=issued_at)


def _verified_claims(settings: Settings, audience: str, token: str) -> dict[str, Any]:
    try:
        claims: dict[str, Any] = jwt.decode(
            token,
            settings.jwt_key,
            algorithms=[ALGORITHM],
            audience=audience,
            issuer=settings.jwt_issuer,
            options={f"require_{claim}": True for claim in _REQUIRED_CLAIMS},
        )
    except (JWTError, TypeError, ValueError, OverflowError) as exc:
        raise TokenRejected(str(exc)) from None
    return claims


def _subject_and_issue_time(claims: dict[str, Any]) -> tuple[int, datetime]:
    subject_id = int(claims["sub"])
    issued_at = datetime.fromtimestamp(int(claims["iat"]), tz=utcnow().tzinfo)
    return subject_id, issued_at
