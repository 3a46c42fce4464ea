"""Staff device tokens: a browser or client that signed in before keeps
signing in while strangers have throttled the username (OWASP, "Slow Down
Online Guessing Attacks with Device Cookies"; README: Security).

A successful login hands the client a device token: a JWT of its own
audience (app/core/tokens.py) naming the staff member and a random device id.
Browsers keep it in the ``zhendi_device`` cookie (HttpOnly, SameSite=Strict,
sent only to the login that set it, Secure in production), which holds the
tokens of the last few staff members who signed in on that browser (a
center's shared computer); other clients send theirs back in the
``Zhendi-Device-Token`` header. A login that presents a valid one for the
username is counted in that device's own budget; any other in the budgets
strangers share (the username's and the address's). Nothing is stored: a
token is valid until it expires, and only while the account is active and
was not signed out everywhere after the token was issued (the access
tokens' rule).
"""

import secrets
from collections.abc import Sequence

from fastapi import Response

from app.core import tokens
from app.core.config import Settings
from app.models import Staff

COOKIE = "zhendi_device"
HEADER = "Zhendi-Device-Token"
# Longer is not a token we issued; not worth decoding.
MAX_TOKEN_LENGTH = 1024
# Staff members a browser stays a trusted device of, the latest first.
MAX_TOKENS_PER_COOKIE = 5
_SEPARATOR = "~"  # a cookie-octet (RFC 6265) that base64url and JWTs do not use


def tokens_in(cookie: str | None) -> list[str]:
    """The device tokens a ``zhendi_device`` cookie holds."""
    return cookie.split(_SEPARATOR)[:MAX_TOKENS_PER_COOKIE] if cookie else []


def claims_of(settings: Settings, presented: Sequence[str]) -> list[tokens.DeviceClaims]:
    """What the presented device tokens say that we signed and has not expired."""
    verified = (_verified(settings, token) for token in presented[:MAX_TOKENS_PER_COOKIE])
    return [claims for claims in verified if claims is not None]


def _verified(settings: Settings, token: str) -> tokens.DeviceClaims | None:
    if not token or len(token) > MAX_TOKEN_LENGTH:
        return None
    try:
        return tokens.verify_device(settings, token)
    except tokens.TokenRejected:
        return None


def trusted_device(staff: Staff | None, presented: Sequence[tokens.DeviceClaims]) -> str | None:
    """The device id, if one of the presented tokens makes the client a
    trusted device of ``staff``."""
    if staff is None or not staff.is_active:
        return None
    signed_out = staff.signed_out_at
    for claims in presented:
        if claims.staff_id == staff.id and (signed_out is None or claims.issued_at >= signed_out):
            return claims.device_id
    return None


def new_device_id() -> str:
    return secrets.token_urlsafe(16)


def remember(
    response: Response,
    settings: Settings,
    issued: tokens.IssuedToken,
    *,
    path: str,
    staff_id: int,
    cookie: str | None = None,
) -> None:
    """Set the device cookie, sent back only to the login at ``path``: this
    staff member's new token first, then the others' the browser had."""
    others = []
    for token in tokens_in(cookie):
        claims = _verified(settings, token)
        if claims is not None and claims.staff_id != staff_id:
            others.append(token)
    response.set_cookie(
        COOKIE,
        _SEPARATOR.join([issued.access_token, *others][:MAX_TOKENS_PER_COOKIE]),
        max_age=issued.expires_in,
        path=path,
        httponly=True,
        samesite="strict",
        secure=settings.env == "production",
    )
