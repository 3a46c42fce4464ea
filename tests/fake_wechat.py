"""A fake WeChat API served over real HTTP, for the login exchange.

The code decides the answer: ``ok-<openid>`` succeeds, ``union-<openid>``
also returns a unionid, ``used`` is errcode 40163, ``invalid`` 40029,
``busy`` -1, ``slow`` outlasts any sensible client timeout, ``broken`` is an
HTML 500 page and ``textplain-<openid>`` answers JSON labelled text/plain, as
WeChat sometimes does.
"""

import asyncio
import socket
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, PlainTextResponse, Response
from starlette.routing import Route

APP_ID = "wx-test-app"
APP_SECRET = "test-app-secret-value"
SESSION_KEY = "SESSIONKEY-must-never-leave-the-server"


@dataclass
class FakeWechat:
    base_url: str
    calls: list[dict[str, str]] = field(default_factory=list)


def _build(fake: FakeWechat) -> Starlette:
    async def jscode2session(request: Request) -> Response:
        params = dict(request.query_params)
        fake.calls.append(params)
        if params.get("appid") != APP_ID or params.get("secret") != APP_SECRET:
            return JSONResponse({"errcode": 40013, "errmsg": "invalid appid"})
        code = params.get("js_code", "")
        if code.startswith("ok-"):
            return JSONResponse({"openid": code[3:], "session_key": SESSION_KEY})
        if code.startswith("union-"):
            return JSONResponse(
                {"openid": code[6:], "unionid": f"U-{code[6:]}", "session_key": SESSION_KEY}
            )
        if code.startswith("textplain-"):
            body = f'{{"openid": "{code[10:]}", "session_key": "{SESSION_KEY}"}}'
            return PlainTextResponse(body)
        if code == "used":
            return JSONResponse({"errcode": 40163, "errmsg": "code been used"})
        if code == "invalid":
            return JSONResponse({"errcode": 40029, "errmsg": "invalid code"})
        if code == "busy":
            return JSONResponse({"errcode": -1, "errmsg": "system error"})
        if code == "slow":
            await asyncio.sleep(3)
            return JSONResponse({"openid": "too-late", "session_key": SESSION_KEY})
        if code == "broken":
            return HTMLResponse("<html>502 Bad Gateway</html>", status_code=502)
        return JSONResponse({"errcode": 40029, "errmsg": "invalid code"})

    return Starlette(routes=[Route("/sns/jscode2session", jscode2session)])


@contextmanager
def serve_fake_wechat() -> Iterator[FakeWechat]:
    fakes: list[FakeWechat] = []

    def build(base_url: str) -> Starlette:
        fakes.append(FakeWechat(base_url=base_url))
        return _build(fakes[0])

    with serve(build):
        yield fakes[0]


@contextmanager
def serve(build: Callable[[str], Starlette]) -> Iterator[str]:
    """Serve the app ``build(base_url)`` makes on a free local port, over real HTTP."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    base_url = f"http://127.0.0.1:{port}"
    config = uvicorn.Config(
        build(base_url), host="127.0.0.1", port=port, log_level="warning", lifespan="off"
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        if time.monotonic() > deadline:
            raise RuntimeError("fake server did not start")
        time.sleep(0.01)
    try:
        yield base_url
    finally:
        server.should_exit = True
        thread.join(timeout=10)
