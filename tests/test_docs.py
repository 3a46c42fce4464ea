"""/docs and /redoc work offline: every asset they load is served by the app
itself, and no page points at another host."""

import re

import pytest

from app.core.docs import ASSETS
from tests.factories import Api

EXTERNAL = re.compile(r"""(?:https?:)?//(?!test[/:"'])[\w.-]+""")
# What each page loads from the app, and what those must be.
PAGES = {
    "/docs": ["swagger-ui-bundle.js", "swagger-ui.css", "favicon.png"],
    "/redoc": ["redoc.standalone.js", "favicon.png"],
    "/docs/oauth2-redirect": [],
}
TYPES = {".js": "javascript", ".css": "text/css", ".png": "image/png"}


@pytest.mark.parametrize("path", sorted(PAGES))
async def test_the_docs_load_nothing_from_another_host(api: Api, path: str) -> None:
    page = await api.client.get(path)
    assert page.status_code == 200, page.text
    assert page.headers["content-type"].startswith("text/html")
    assert EXTERNAL.findall(page.text) == []
    for asset in PAGES[path]:
        url = f"{ASSETS}/{asset}"
        assert url in page.text
        served = await api.client.get(url)
        assert served.status_code == 200, url
        assert TYPES[asset[asset.rindex(".") :]] in served.headers["content-type"]
        assert len(served.content) > 1000


async def test_swagger_ui_keeps_the_staff_password_flow(api: Api) -> None:
    """The Authorize dialog posts the staff login form to the API's own token
    endpoint and comes back through the app's redirect page."""
    docs = (await api.client.get("/docs")).text
    assert "oauth2RedirectUrl: window.location.origin + '/docs/oauth2-redirect'" in docs
    assert '"validatorUrl": null' in docs  # no badge fetched from swagger.io
    schemes = (await api.client.get("/openapi.json")).json()["components"]["securitySchemes"]
    [password] = [s for s in schemes.values() if s["type"] == "oauth2"]
    assert password["flows"]["password"]["tokenUrl"] == "/api/v1/auth/token"
    token = await api.client.post(
        "/api/v1/auth/token", data={"username": "nobody", "password": "wrong-password"}
    )
    assert token.status_code == 401  # the form the dialog sends is the one the API reads


def test_the_pattern_finds_another_host() -> None:
    assert EXTERNAL.findall('<script src="https://cdn.jsdelivr.net/npm/x.js">')
    assert EXTERNAL.findall("<link href='//fonts.googleapis.com/css'>")
    assert not EXTERNAL.findall('<script src="/docs-assets/swagger-ui-bundle.js">')
