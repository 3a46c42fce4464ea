"""A fake identity-check provider (the two-element name + ID number check),
served over real HTTP, speaking the mapping documented in
``app/identity/real_name.py``: ``POST /verify`` with ``{"name", "idcard"}``,
answering ``{"result": {"res": "1"}}`` for a match and ``"2"`` for a mismatch.

It knows the people in ``registry`` (ID number -> name). ``down`` makes it
answer 500; ``slow`` makes it outlast the client's timeout.
"""

import asyncio
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from tests.fake_wechat import serve

APPCODE = "test-appcode-0123456789"


@dataclass
class FakeIdentityProvider:
    url: str = ""
    registry: dict[str, str] = field(default_factory=dict)
    calls: list[dict[str, str]] = field(default_factory=list)
    down: bool = False
    slow: bool = False


def _build(fake: FakeIdentityProvider) -> Starlette:
    async def verify(request: Request) -> Response:
        if request.headers.get("authorization") != f"APPCODE {APPCODE}":
            return JSONResponse({"message": "unauthorized"}, status_code=401)
        body = await request.json()
        fake.calls.append(body)
        if fake.down:
            return JSONResponse({"message": "upstream error"}, status_code=500)
        if fake.slow:
            await asyncio.sleep(3)
        known = fake.registry.get(body.get("idcard", ""))
        verdict = "1" if known is not None and known == body.get("name") else "2"
        return JSONResponse({"code": 0, "result": {"res": verdict, "description": "..."}})

    return Starlette(routes=[Route("/verify", verify, methods=["POST"])])


@contextmanager
def serve_fake_identity_provider() -> Iterator[FakeIdentityProvider]:
    fake = FakeIdentityProvider()

    def build(base_url: str) -> Starlette:
        fake.url = f"{base_url}/verify"
        return _build(fake)

    with serve(build):
        yield fake
