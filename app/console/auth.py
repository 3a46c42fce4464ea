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

The login form comes before any session: the login page sets a random
pre-session cookie, and the form carries an HMAC of it (a signed double-submit
token, ``login_csrf``), so another site cannot sign a browser in to an account
of its choosing.
"""

import hashlib
import hmac
import re
import secrets
from typing import Annotated

from fastapi import Depends, Request, Response

from app.core import tokens
from app.core.config import Settings
from app.core.db import SessionDep
from app.core.errors import InvalidToken
from app.identity import service as identity
from app.identity.principals import StaffPrincipal

COOKIE = "zhendi_console"
LOGIN_COOKIE = "zhendi_console_login"
PATH = "/console"
_LOGIN_NONCE = re.compile(r"[A-Za-z0-9_-]{43}")


class LoginRequired(Exception):
    """No valid console session: the handler sends the browser to the login page."""


class PasswordChangeNeeded(Exception):
    """The account must change its password first: the handler sends the
    browser to the password page, the one page such an account may use."""


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


def login_nonce(request: Request) -> str:
    """The browser's pre-session nonce, or a new one (``start_login`` sets it)."""
    nonce = request.cookies.get(LOGIN_COOKIE, "")
    return nonce if _LOGIN_NONCE.fullmatch(nonce) else secrets.token_urlsafe(32)


def login_csrf(settings: Settings, nonce: str) -> str:
    return csrf_token(settings, "login:" + nonce)


def start_login(response: Response, settings: Settings, nonce: str) -> None:
    response.set_cookie(
        LOGIN_COOKIE,
        nonce,
        path=PATH,
        httponly=True,
        samesite="strict",
        secure=settings.env == "production",
    )


def check_login_csrf(settings: Settings, request: Request, given: object) -> None:
    """The login form's token must be the HMAC of this browser's nonce cookie."""
    nonce = request.cookies.get(LOGIN_COOKIE)
    if not nonce or not _LOGIN_NONCE.fullmatch(nonce) or not isinstance(given, str):
        raise CsrfRejected()
    if not hmac.compare_digest(login_csrf(settings, nonce), given):
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


async def load(
    session: SessionDep,
    settings: Settings,
    token: str | None,
    *,
    password_change_pending: bool = False,
) -> StaffPrincipal:
    claims = session_claims(settings, token)
    try:
        return await identity.load_staff_principal(
            session,
            claims.subject_id,
            claims.issued_at,
            password_change_pending=password_change_pending,
        )
    except InvalidToken:  # deactivated, deleted or signed out since the login
        raise LoginRequired() from None
    except identity.PasswordChangeRequired:
        raise PasswordChangeNeeded() from None


async def console_staff(request: Request, session: SessionDep) -> StaffPrincipal:
    return await load(session, request.app.state.settings, session_token(request))


ConsoleStaff = Annotated[StaffPrincipal, Depends(console_staff)]
