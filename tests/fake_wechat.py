"""A fake WeChat API served over real HTTP: the login exchange, the access
token and subscribe messages.

The code decides the answer: ``ok-<openid>`` succeeds, ``union-<openid>``
also returns a unionid, ``used`` is errcode 40163, ``invalid`` 40029,
``busy`` -1, ``slow`` outlasts any sensible client timeout, ``broken`` is an
HTML 500 page and ``textplain-<openid>`` answers JSON labelled text/plain, as
WeChat sometimes does.

``getuserphonenumber`` answers the phone button's code ``phone-<number>``
with that number (``phone-+<cc>-<number>`` abroad); ``invalid`` is errcode
40029 and ``busy`` -1. ``getwxacodeunlimit`` draws a real PNG holding the
scene and the page. Both want the live access token (40001 otherwise).
"""

import asyncio
import io
import socket
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import segno
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
    """``sends`` records every subscribe message that WeChat took (and
    ``send_attempts`` every try); ``script`` plans the answers of the next
    sends: an errcode, ``"timeout"``, ``"500"`` or ``"slow"`` (taken after 0.8 s);
    then each is taken."""

    base_url: str
    calls: list[dict[str, str]] = field(default_factory=list)
    token_calls: list[dict[str, object]] = field(default_factory=list)
    sends: list[dict[str, Any]] = field(default_factory=list)
    send_attempts: list[dict[str, Any]] = field(default_factory=list)
    script: list[int | str] = field(default_factory=list)
    phone_calls: list[dict[str, Any]] = field(default_factory=list)
    wxacode_calls: list[dict[str, Any]] = field(default_factory=list)
    live_token: str | None = None
    issued: int = 0

    def expire_token(self) -> None:
        """WeChat stops taking the token it issued (40001 from now on)."""
        self.live_token = None


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

    async def stable_token(request: Request) -> Response:
        body = await request.json()
        fake.token_calls.append(body)
        if body.get("appid") != APP_ID or body.get("secret") != APP_SECRET:
            return JSONResponse({"errcode": 40013, "errmsg": "invalid appid"})
        if fake.live_token is None or body.get("force_refresh"):
            fake.issued += 1
            fake.live_token = f"TOKEN-{fake.issued}"
        return JSONResponse({"access_token": fake.live_token, "expires_in": 7200})

    async def subscribe_send(request: Request) -> Response:
        body = await request.json()
        body["access_token"] = request.query_params.get("access_token")
        fake.send_attempts.append(body)
        if body["access_token"] != fake.live_token or fake.live_token is None:
            return JSONResponse({"errcode": 40001, "errmsg": "invalid credential"})
        planned = fake.script.pop(0) if fake.script else 0
        if planned == "timeout":
            await asyncio.sleep(3)
            return JSONResponse({"errcode": -1, "errmsg": "too late"})
        if planned == "slow":  # taken, after a while
            await asyncio.sleep(0.8)
            planned = 0
        if planned == "500":
            return HTMLResponse("<html>500</html>", status_code=500)
        if planned:
            return JSONResponse({"errcode": planned, "errmsg": "planned"})
        fake.sends.append(body)
        return JSONResponse({"errcode": 0, "errmsg": "ok", "msgid": len(fake.sends)})

    async def phone_number(request: Request) -> Response:
        body = await request.json()
        body["access_token"] = request.query_params.get("access_token")
        fake.phone_calls.append(body)
        if body["access_token"] != fake.live_token or fake.live_token is None:
            return JSONResponse({"errcode": 40001, "errmsg": "invalid credential"})
        code = str(body.get("code", ""))
        if code == "busy":
            return JSONResponse({"errcode": -1, "errmsg": "system error"})
        if not code.startswith("phone-"):
            return JSONResponse({"errcode": 40029, "errmsg": "invalid code"})
        number, country = code[6:], "86"
        if number.startswith("+"):
            country, number = number[1:].split("-", 1)
        info = {
            "phoneNumber": number if country == "86" else f"+{country}{number}",
            "purePhoneNumber": number,
            "countryCode": country,
            "watermark": {"timestamp": int(time.time()), "appid": APP_ID},
        }
        return JSONResponse({"errcode": 0, "errmsg": "ok", "phone_info": info})

    async def wxacode(request: Request) -> Response:
        body = await request.json()
        body["access_token"] = request.query_params.get("access_token")
        fake.wxacode_calls.append(body)
        if body["access_token"] != fake.live_token or fake.live_token is None:
            return JSONResponse({"errcode": 40001, "errmsg": "invalid credential"})
        scene = str(body.get("scene", ""))
        if not 0 < len(scene) <= 32:
            return JSONResponse({"errcode": 40169, "errmsg": "invalid length for scene"})
        picture = io.BytesIO()
        segno.make(f"{body.get('page')}?scene={scene}").save(picture, kind="png")
        return Response(picture.getvalue(), media_type="image/png")

    return Starlette(
        routes=[
            Route("/wxa/business/getuserphonenumber", phone_number, methods=["POST"]),
            Route("/wxa/getwxacodeunlimit", wxacode, methods=["POST"]),
            Route("/sns/jscode2session", jscode2session),
            Route("/cgi-bin/stable_token", stable_token, methods=["POST"]),
            Route("/cgi-bin/message/subscribe/send", subscribe_send, methods=["POST"]),
        ]
    )


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
