"""``/docs`` and ``/redoc`` with every asset served by the app itself.

FastAPI's default pages load Swagger UI and ReDoc from a public CDN, which is
unreachable offline and unreliable from government networks: the pages stay
blank. The assets come from ``fastapi-offline``'s package data instead, and
nothing in the pages points at another host (no CDN, no Google Fonts, no
favicon from elsewhere, no Swagger validator badge).

Each page carries its own Content-Security-Policy: scripts from this host
and, inline, only the page's own start-up script, allowed by its SHA-256
hash. ReDoc injects its styles at run time and starts a worker from a blob,
so its page allows inline styles and blob workers.
"""

import base64
import hashlib
import re
from importlib.resources import files

from fastapi import FastAPI
from fastapi.openapi.docs import (
    get_redoc_html,
    get_swagger_ui_html,
    get_swagger_ui_oauth2_redirect_html,
)
from fastapi.responses import HTMLResponse
from fastapi.staticfiles import StaticFiles

ASSETS = "/docs-assets"
OAUTH2_REDIRECT = "/docs/oauth2-redirect"
_INLINE = re.compile(r"<(script|style)>(.*?)</\1>", re.DOTALL)


def _sha256(text: str) -> str:
    return "'sha256-" + base64.b64encode(hashlib.sha256(text.encode()).digest()).decode() + "'"


def with_policy(page: HTMLResponse, *, inline_styles: bool = False) -> HTMLResponse:
    """``page`` with a policy that runs only its own inline scripts and styles."""
    found = _INLINE.findall(bytes(page.body).decode())
    scripts = ["'self'", *(_sha256(body) for tag, body in found if tag == "script")]
    styles = ["'self'", *(_sha256(body) for tag, body in found if tag == "style")]
    if inline_styles:
        styles = ["'self'", "'unsafe-inline'"]  # a hash would disable 'unsafe-inline'
    page.headers["Content-Security-Policy"] = (
        f"default-src 'self'; script-src {' '.join(scripts)}; style-src {' '.join(styles)}; "
        "img-src 'self' data:; worker-src 'self' blob:; connect-src 'self'; "
        "form-action 'self'; frame-ancestors 'none'; base-uri 'none'; object-src 'none'"
    )
    return page


def install(app: FastAPI, openapi_url: str) -> None:
    assets = files("fastapi_offline") / "static"
    app.mount(ASSETS, StaticFiles(directory=str(assets)), name="docs-assets")
    title = app.title

    @app.get("/docs", include_in_schema=False)
    async def swagger_ui() -> HTMLResponse:
        page = get_swagger_ui_html(
            openapi_url=openapi_url,
            title=f"{title} - Swagger UI",
            oauth2_redirect_url=OAUTH2_REDIRECT,
            swagger_js_url=f"{ASSETS}/swagger-ui-bundle.js",
            swagger_css_url=f"{ASSETS}/swagger-ui.css",
            swagger_favicon_url=f"{ASSETS}/favicon.png",
            swagger_ui_parameters={"validatorUrl": None},
        )
        return with_policy(page)

    @app.get(OAUTH2_REDIRECT, include_in_schema=False)
    async def swagger_ui_redirect() -> HTMLResponse:
        return with_policy(get_swagger_ui_oauth2_redirect_html())

    @app.get("/redoc", include_in_schema=False)
    async def redoc() -> HTMLResponse:
        page = get_redoc_html(
            openapi_url=openapi_url,
            title=f"{title} - ReDoc",
            redoc_js_url=f"{ASSETS}/redoc.standalone.js",
            redoc_favicon_url=f"{ASSETS}/favicon.png",
            with_google_fonts=False,
        )
        return with_policy(page, inline_styles=True)
