"""The console's session: the staff bearer token, kept in a cookie.

The cookie holds the same token ``POST /api/v1/auth/token`` returns (app/core/
tokens.py issues and verifies both), so a console session expires, and stops
working for a deactivated account, exactly as an API token does; signing
out ends every token issued to the staff member before it (the cookie, a
copy of it, their API tokens), not only this browser's cookie. It is
HttpOnly (no script reads it), SameSite=Strict (no other site's page sends
it) and Secure in production. Every form also carries a CSRF token derived
from the session token, checked on every POST: the second guard, for older
browsers and same-site subdomains.
"""

import hashlib
import hmac
from typing import Annotated

from fastapi import Depends, Request, Response

from app.core import tokens
from app.core.config import Settings
from app.core.db import SessionDep
from app.core.errors import InvalidToken
from app.identity import service as identity
from app.identity.principals import StaffPrincipal

COOKIE = "zhendi_console"
PATH = "/console"


class LoginRequired(Exception):
    """No valid console session: the handler sends the browser to the login page."""


class CsrfRejected(Exception):
    """A POST without the session's CSRF token: refused with 403, nothing changed."""


def session_token(request: Request) -> str | None:
    return request.cookies.get(COOKIE)


def session_claims(settings: Settings, token: str | None) -> tokens.TokenClaims:
    if not token:
        raise LoginRequired()
    try:
        return tokens.verify(settings, tokens.Audience.staff, token)
    except tokens.TokenRejected:
        raise LoginRequired() from None


def csrf_token(settings: Settings, token: str) -> str:
    key = hashlib.sha256(("console-csrf:" + settings.jwt_key).encode()).digest()
    return hmac.new(key, token.encode(), hashlib.sha256).hexdigest()


def check_csrf(settings: Settings, token: str | None, given: object) -> None:
    if not token or not isinstance(given, str):
        raise CsrfRejected()
    if not hmac.compare_digest(csrf_token(settings, token), given):
        raise CsrfRejected()


def start_session(response: Response, settings: Settings, issued: tokens.IssuedToken) -> None:
    response.set_cookie(
        COOKIE,
        issued.access_token,
        max_age=issued.expires_in,
        path=PATH,
        httponly=True,
        samesite="strict",
        secure=settings.env == "production",
    )


def end_session(response: Response, settings: Settings) -> None:
    response.delete_cookie(
        COOKIE, path=PATH, httponly=True, samesite="strict", secure=settings.env == "production"
    )


async def load(session: SessionDep, settings: Settings, token: str | None) -> StaffPrincipal:
    claims = session_claims(settings, token)
    try:
        return await identity.load_staff_principal(session, claims.subject_id, claims.issued_at)
    except InvalidToken:  # deactivated, deleted or signed out since the login
        raise LoginRequired() from None


async def console_staff(request: Request, session: SessionDep) -> StaffPrincipal:
    return await load(session, request.app.state.settings, session_token(request))


ConsoleStaff = Annotated[StaffPrincipal, Depends(console_staff)]
