"""uvicorn's httptools protocol with read deadlines, so slow clients cannot hold connections.

Why this exists: uvicorn limits only the idle time *between* requests
(``timeout_keep_alive``, armed after a response), never the time a client
takes to *send* one, and every byte received cancels that keep-alive timer. A
client that dribbles a request one byte every few seconds (a slowloris), or
connects and sends nothing, keeps its connection, and its place under
``limit_concurrency``, for as long as it likes: measured against ``zhendi
serve``, a byte every 2 s held a connection for 60 s and counting. A few
hundred such clients are enough to lock everyone else out.

``ReadDeadlineProtocol`` adds two deadlines to each request:

* **head**: the request line and headers must be complete within
  ``header_timeout`` seconds of their first byte (of the connection opening,
  for the first request). Then the connection closes, after a problem+json
  408 if part of a request had arrived; a connection that sent nothing is just
  closed. Idle time between requests stays uvicorn's keep-alive timeout.
* **body**: the whole body must arrive within ``body_timeout`` seconds of the
  end of the headers. This is a deadline for the whole body, not for each
  chunk, because this API's bodies are small JSON documents (at most
  ``ZHENDI_MAX_BODY_BYTES``); a between-chunks timeout would still let a
  client send one byte every ``body_timeout - 1`` seconds for ever. The app
  (waiting in ``receive()``) reads a disconnect, the client gets a
  problem+json 408 (``code: request_timeout``) and the connection closes; if
  a response is already on its way, it is finished and the connection closed.

Time during which uvicorn itself holds a request back (a pipelined request
waiting for the one before it, a body buffer the app has not drained) does not
count.
``zhendi serve`` uses this protocol through :func:`http_protocol`.
"""

import argparse
import asyncio
import functools
import json
from typing import Any, Literal, cast

from starlette.requests import Request
from uvicorn.config import Config
from uvicorn.protocols.http.httptools_impl import STATUS_LINE, HttpToolsProtocol
from uvicorn.server import ServerState

from app.core.errors import PROBLEM_JSON, Text, request_language

HEADER_TIMEOUT_SECONDS = 10.0
BODY_TIMEOUT_SECONDS = 30.0

REQUEST_TIMEOUT_TITLE = Text("请求超时", "Request timeout")
REQUEST_TIMEOUT_DETAIL = Text("请求未在规定时间内发送完毕", "The request was not sent in time")

Phase = Literal["head", "body", "idle"]


class ReadDeadlineProtocol(HttpToolsProtocol):
    """``HttpToolsProtocol`` that closes connections whose requests arrive too slowly."""

    def __init__(
        self,
        config: Config,
        server_state: ServerState,
        app_state: dict[str, Any],
        _loop: asyncio.AbstractEventLoop | None = None,
        *,
        header_timeout: float = HEADER_TIMEOUT_SECONDS,
        body_timeout: float = BODY_TIMEOUT_SECONDS,
    ) -> None:
        super().__init__(config, server_state, app_state, _loop)
        self.header_timeout = header_timeout
        self.body_timeout = body_timeout
        # "head": reading a request line and headers (or waiting for the first
        # request); "body": reading a body; "idle": between requests.
        self._phase: Phase = "head"
        self._head_started = False
        self._deadline: asyncio.TimerHandle | None = None

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._arm(self.header_timeout)

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm()
        super().connection_lost(exc)

    def data_received(self, data: bytes) -> None:
        if self._phase == "idle":  # the first bytes of the next request
            self._phase = "head"
        if self._phase == "head":
            self._head_started = True
            if self._deadline is None:
                self._arm(self.header_timeout)
        super().data_received(data)
        if self._phase == "body" and self._deadline is None:
            self._arm(self.body_timeout)

    def on_headers_complete(self) -> None:
        self._disarm()
        # A WebSocket upgrade hands the connection to another protocol.
        upgrading = self.parser.should_upgrade() and self._should_upgrade()
        self._phase = "idle" if upgrading else "body"
        self._head_started = False
        super().on_headers_complete()

    def on_message_complete(self) -> None:
        self._disarm()
        self._phase = "idle"
        super().on_message_complete()

    def _arm(self, seconds: float) -> None:
        self._disarm()
        self._deadline = self.loop.call_later(seconds, self._deadline_passed, seconds)

    def _disarm(self) -> None:
        if self._deadline is not None:
            self._deadline.cancel()
            self._deadline = None

    def _deadline_passed(self, seconds: float) -> None:
        self._deadline = None
        if self.transport.is_closing():
            return
        if self.flow.read_paused or self.pipeline:
            # uvicorn, not the client, is holding the bytes back (or this
            # request waits behind another): this time does not count.
            self._arm(seconds)
            return
        cycle = self.cycle
        if self._phase == "body" and not cycle.response_started:
            # The app is waiting for the rest of the body: it reads a disconnect
            # and whatever it answers is dropped.
            cycle.disconnected = True
            cycle.message_event.set()
            self._send_timeout_problem(cycle.scope.get("path"))
        elif cycle is not None and not cycle.response_complete:
            # A response is on its way: finish it, then close.
            cycle.keep_alive = False
            return
        elif self._phase == "head" and self._head_started:
            self._send_timeout_problem(None)
        self.transport.close()

    def _send_timeout_problem(self, instance: str | None) -> None:
        lang = request_language(Request({"type": "http", "headers": self.headers or []}))
        problem = {
            "type": "urn:zhendi:problem:request_timeout",
            "title": REQUEST_TIMEOUT_TITLE.render(lang),
            "status": 408,
            "code": "request_timeout",
            "detail": REQUEST_TIMEOUT_DETAIL.render(lang),
        }
        if instance is not None:
            problem["instance"] = instance
        body = json.dumps(problem, ensure_ascii=False).encode()
        head = [STATUS_LINE[408]]
        for name, value in self.server_state.default_headers:
            head += [name, b": ", value, b"\r\n"]
        head.append(b"content-type: %s\r\n" % PROBLEM_JSON.encode())
        head.append(b"content-length: %d\r\nconnection: close\r\n\r\n" % len(body))
        self.transport.write(b"".join(head) + body)


def http_protocol(
    *, header_timeout: float = HEADER_TIMEOUT_SECONDS, body_timeout: float = BODY_TIMEOUT_SECONDS
) -> type[asyncio.Protocol]:
    """The value for ``uvicorn.run(http=...)``: the protocol with these deadlines.

    uvicorn calls it as it would call a class, and pickles it into each worker
    process; a partial of a module-level class survives that, where a subclass
    made here at run time would not.
    """
    protocol = functools.partial(
        ReadDeadlineProtocol, header_timeout=header_timeout, body_timeout=body_timeout
    )
    return cast(type[asyncio.Protocol], protocol)


def positive_seconds(text: str) -> float:
    """``argparse`` type for the timeouts: a number of seconds above zero."""
    try:
        seconds = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number of seconds: {text!r}") from None
    if not 0 < seconds <= 3600:
        raise argparse.ArgumentTypeError(f"must be above 0 and at most 3600: {text!r}")
    return seconds


def positive_count(text: str) -> int:
    """``argparse`` type for the connection limits: a whole number above zero."""
    try:
        count = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a whole number: {text!r}") from None
    if count < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1: {text!r}")
    return count
