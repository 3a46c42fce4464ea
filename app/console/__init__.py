"""The staff console: server-rendered pages at /console over the same services
as the API (docs/ARCHITECTURE.md, "The staff console")."""

from fastapi import FastAPI, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.staticfiles import StaticFiles

from app.console import (
    accounts,
    activities,
    auth,
    calendar,
    counter,
    evaluations,
    inbox,
    ledger,
    manage,
    organizations,
    places,
    questionnaires,
    residents,
    rooms,
    router,
    screens,
)
from app.console.pages import HERE

# The console's pages load their script, style sheet and board only from
# /console itself: no inline script, handler or style runs (the timeline and
# the chart are SVG attributes), and no other site may frame a page.
CONTENT_SECURITY_POLICY = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self'; "
    "connect-src 'self'; form-action 'self'; frame-ancestors 'none'; "
    "base-uri 'none'; object-src 'none'"
)


def install(app: FastAPI) -> None:
    app.include_router(router.router)
    app.include_router(places.router)
    app.include_router(manage.router)
    app.include_router(organizations.router)
    app.include_router(activities.router)
    app.include_router(evaluations.router)
    app.include_router(accounts.router)
    app.include_router(residents.router)
    app.include_router(rooms.router)
    app.include_router(inbox.router)
    app.include_router(calendar.router)
    app.include_router(questionnaires.router)
    app.include_router(counter.router)
    app.include_router(ledger.router)
    app.include_router(screens.router)
    app.mount(f"{auth.PATH}/static", StaticFiles(directory=HERE / "static"), name="console-static")
    app.add_exception_handler(auth.LoginRequired, _to_login)
    app.add_exception_handler(auth.CsrfRejected, _csrf_rejected)
    app.add_exception_handler(auth.PasswordChangeNeeded, _to_password)


async def _to_login(request: Request, exc: Exception) -> Response:
    response = RedirectResponse(f"{auth.PATH}/login", status_code=303)
    if auth.session_token(request):  # expired or revoked: drop it
        auth.end_session(response, request.app.state.settings)
    return response


async def _to_password(request: Request, exc: Exception) -> Response:
    return RedirectResponse(accounts.MY_PASSWORD, status_code=303)


async def _csrf_rejected(request: Request, exc: Exception) -> Response:
    return HTMLResponse(
        "<!doctype html><meta charset=utf-8><title>403</title>"
        "<p>页面已过期或请求来源无效，请返回后刷新页面再试。</p>",
        status_code=403,
    )
