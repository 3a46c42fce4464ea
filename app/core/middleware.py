"""Pure ASGI middleware: request body limit, request log and Prometheus metrics,
security headers, the answer's language."""

import json
import logging
import re
import secrets
import time
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

from prometheus_client import Counter, Histogram
from starlette.requests import Request

from app.core.errors import PROBLEM_JSON, answer_in, request_language

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

access_log = logging.getLogger("zhendi.access")
_REQUEST_ID = re.compile(r"[A-Za-z0-9._-]{1,64}")

REQUESTS = Counter(
    "zhendi_http_requests_total", "HTTP requests handled", ["method", "route", "status"]
)
LATENCY = Histogram(
    "zhendi_http_request_duration_seconds",
    "Time to handle an HTTP request",
    ["method", "route"],
    buckets=(0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0),
)


class BodyLimitMiddleware:
    """Answer 413 before the app sees a body over ``max_bytes``.

    A declared Content-Length is checked up front; a chunked body is read into
    memory up to the limit and replayed to the app.
    """

    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = _header(scope, b"content-length")
        if declared is not None:
            if not declared.isdigit() or int(declared) > self.max_bytes:
                await _too_large(scope, send, self.max_bytes)
                return
            await self.app(scope, receive, send)
            return
        if _header(scope, b"transfer-encoding") is None:
            await self.app(scope, receive, send)
            return
        chunks: list[bytes] = []
        size = 0
        while True:
            message = await receive()
            if message["type"] != "http.request":
                break
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > self.max_bytes:
                await _too_large(scope, send, self.max_bytes)
                return
            chunks.append(chunk)
            if not message.get("more_body", False):
                break
        body = b"".join(chunks)
        replayed = False

        async def replay() -> Message:
            nonlocal replayed
            if replayed:
                return await receive()
            replayed = True
            return {"type": "http.request", "body": body, "more_body": False}

        await self.app(scope, replay, send)


def _header(scope: Scope, name: bytes) -> str | None:
    for key, value in scope.get("headers", ()):
        if key.lower() == name:
            return bytes(value).decode("latin-1").strip()
    return None


async def _too_large(scope: Scope, send: Send, max_bytes: int) -> None:
    english = "en" in (_header(scope, b"accept-language") or "")[:2]
    body = {
        "type": "urn:zhendi:problem:payload_too_large",
        "title": "Payload too large" if english else "请求体过大",
        "status": 413,
        "code": "payload_too_large",
        "detail": (
            f"Request bodies are limited to {max_bytes} bytes"
            if english
            else f"请求体不能超过 {max_bytes} 字节"
        ),
        "instance": scope.get("path", ""),
    }
    payload = json.dumps(body, ensure_ascii=False).encode()
    await send(
        {
            "type": "http.response.start",
            "status": 413,
            "headers": [
                (b"content-type", PROBLEM_JSON.encode()),
                (b"content-length", str(len(payload)).encode()),
                (b"connection", b"close"),
            ],
        }
    )
    await send({"type": "http.response.body", "body": payload})


class LanguageMiddleware:
    """Each request answers in one language, Chinese unless the client prefers
    English (``Accept-Language``): texts rendered away from the request read it."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            answer_in(request_language(Request(scope)))
        await self.app(scope, receive, send)


class ObservabilityMiddleware:
    """One log line and two metrics per request, labelled by route template.

    Only the method, the route template (``/api/v1/spaces/{space_id}``, never
    the concrete path or query string), the status and the duration are
    recorded: no user ids, tokens, bodies or addresses.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        request_id = _header(scope, b"x-request-id") or ""
        if not _REQUEST_ID.fullmatch(request_id):
            request_id = secrets.token_hex(16)
        status = 500

        async def send_with_id(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                message.setdefault("headers", [])
                message["headers"] = [*message["headers"], (b"x-request-id", request_id.encode())]
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        finally:
            elapsed = time.perf_counter() - started
            route = getattr(scope.get("route"), "path", "<unmatched>")
            method = scope.get("method", "")
            REQUESTS.labels(method, route, str(status)).inc()
            LATENCY.labels(method, route).observe(elapsed)
            access_log.info(
                "%s %s %s %.1fms rid=%s", method, route, status, elapsed * 1000, request_id
            )


# What no response of ours needs: to be framed, sniffed as another type, or to
# tell another site where its visitor came from (README, "Security").
API_POLICY = "default-src 'none'; frame-ancestors 'none'; base-uri 'none'"
BASE_HEADERS = (
    (b"x-content-type-options", b"nosniff"),
    (b"referrer-policy", b"same-origin"),
)


class SecurityHeadersMiddleware:
    """``X-Content-Type-Options: nosniff`` and ``Referrer-Policy: same-origin`` on
    every response, and a Content-Security-Policy: the one of the longest
    matching path prefix in ``policies``, else ``API_POLICY`` (nothing loads,
    nothing frames). A response that sets its own policy keeps it (the API
    docs hash their inline scripts, app/core/docs.py)."""

    def __init__(self, app: ASGIApp, policies: dict[str, str]) -> None:
        self.app = app
        self.policies = sorted(policies.items(), key=lambda item: -len(item[0]))

    def policy_for(self, path: str) -> str:
        for prefix, policy in self.policies:
            if path == prefix or path.startswith(prefix.rstrip("/") + "/"):
                return policy
        return API_POLICY

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        policy = self.policy_for(scope.get("path", ""))

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                present = {bytes(name).lower() for name, _ in headers}
                extra = [(name, value) for name, value in BASE_HEADERS if name not in present]
                if b"content-security-policy" not in present:
                    extra.append((b"content-security-policy", policy.encode()))
                message["headers"] = [*headers, *extra]
            await send(message)

        await self.app(scope, receive, send_with_headers)
