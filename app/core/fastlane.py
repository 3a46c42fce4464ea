"""The hot routes without FastAPI's dependency machinery.

Booking, the lock's question and a space's day are most of the traffic
(bench/RESULTS.md), and FastAPI's routing and dependency resolution cost a
booking about a third of its CPU. Each of them is still declared as an
ordinary FastAPI route — that declaration is the contract: its OpenAPI
description, and what ``tests/test_schemathesis.py`` fuzzes — but a request
for one is answered here, before FastAPI routes it, by a handler that parses
it with the same pydantic models, authenticates it with the same functions
and calls the same service. Refusals are the same problems: a parameter that
does not validate is the ``RequestValidationError`` FastAPI would raise, with
the same locations, rendered by the same handler.

``FastLane`` is pure ASGI middleware, mounted inside the request log and the
body limit, so a hot request is logged and measured like any other (it is
labelled with its route's template).
"""

import re
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any, TypeVar

from fastapi import APIRouter, FastAPI
from fastapi.exceptions import RequestValidationError
from pydantic import BaseModel, TypeAdapter, ValidationError
from starlette.requests import Request
from starlette.responses import Response
from starlette.types import ASGIApp, Receive, Scope, Send

from app.core.handlers import handle
from app.core.routing import refuse_unknown

Model = TypeVar("Model", bound=BaseModel)
T = TypeVar("T")


class HotRequest:
    """What a hot handler reads of a request, validated as FastAPI would."""

    def __init__(self, scope: Scope, body: bytes, path_params: Mapping[str, str]) -> None:
        self.scope = scope
        self.body = body
        self.path_params = path_params
        self.app: FastAPI = scope["app"]
        self._headers: dict[bytes, bytes] | None = None

    def header(self, name: str) -> str | None:
        if self._headers is None:
            self._headers = {key.lower(): value for key, value in self.scope["headers"]}
        value = self._headers.get(name.encode())
        return value.decode("latin-1") if value is not None else None

    def bearer(self) -> str | None:
        """The credentials of ``Authorization: Bearer …`` (FastAPI's HTTPBearer)."""
        scheme, _, credentials = (self.header("authorization") or "").partition(" ")
        if scheme.lower() != "bearer" or not credentials:
            return None
        return credentials

    def path(self, name: str, adapter: TypeAdapter[Any]) -> Any:
        return validated(adapter, self.path_params[name], ("path", name))

    def query(self) -> dict[str, str]:
        request = Request(self.scope)
        return dict(request.query_params)

    def json(self, adapter: TypeAdapter[Model]) -> Model:
        """The JSON body, as FastAPI reads a body parameter: required, and parsed
        only when it is labelled JSON (anything else is validated as raw bytes,
        and fails)."""
        if not self.body:
            raise RequestValidationError(
                [{"type": "missing", "loc": ("body",), "msg": "Field required", "input": None}]
            )
        try:
            if _is_json(self.header("content-type")):
                return adapter.validate_json(self.body)
            return adapter.validate_python(self.body, from_attributes=True)
        except ValidationError as exc:
            raise RequestValidationError(_located(exc, ("body",))) from None


def _is_json(content_type: str | None) -> bool:
    media = (content_type or "").split(";", 1)[0].strip().lower()
    main, _, subtype = media.partition("/")
    return main == "application" and (subtype == "json" or subtype.endswith("+json"))


def validated(adapter: TypeAdapter[Any], value: object, location: tuple[str, ...]) -> Any:
    try:
        return adapter.validate_python(value)
    except ValidationError as exc:
        raise RequestValidationError(_located(exc, location)) from None


def _located(exc: ValidationError, prefix: tuple[str, ...]) -> list[dict[str, Any]]:
    return [
        {**error, "loc": (*prefix, *error["loc"])}
        for error in exc.errors(include_url=False, include_context=False)
    ]


def unknown_query(request: HotRequest, allowed: frozenset[str]) -> None:
    """A misspelt filter is a 422, as on every route (app/core/routing.py)."""
    if request.scope.get("query_string"):
        refuse_unknown(request.query(), allowed)


class Errors:
    """FastAPI reports every parameter that fails at once: so does a hot route."""

    def __init__(self) -> None:
        self.found: list[Any] = []

    def check(self, parse: Callable[[], T]) -> T | None:
        try:
            return parse()
        except RequestValidationError as exc:
            self.found += exc.errors()
            return None

    def raise_any(self) -> None:
        if self.found:
            raise RequestValidationError(self.found)


Handler = Callable[[HotRequest], Awaitable[Response]]


@dataclass(frozen=True)
class HotRoute:
    method: str
    template: str  # the FastAPI route's path, e.g. /api/v1/doors/{door_id}/verify
    handler: Handler

    @property
    def pattern(self) -> re.Pattern[str]:
        return re.compile("^" + re.sub(r"\{(\w+)\}", r"(?P<\1>[^/]+)", self.template) + "$")


Endpoint = TypeVar("Endpoint", bound=Callable[..., Awaitable[Response]])


class HotRoutes:
    """One router's hot routes, each declared once: ``@hot.route(...)`` on the
    FastAPI endpoint (the contract: OpenAPI, the fuzzer, and the answer if the
    fast lane is ever bypassed) names the fast handler that answers it, and
    the method and path are said in that one place for both."""

    def __init__(self, router: APIRouter) -> None:
        self._router = router
        self.routes: list[HotRoute] = []

    def route(
        self, method: str, path: str, *, fast: Handler, **options: Any
    ) -> Callable[[Endpoint], Endpoint]:
        def declare(endpoint: Endpoint) -> Endpoint:
            self._router.add_api_route(path, endpoint, methods=[method], **options)
            self.routes.append(HotRoute(method, self._router.prefix + path, fast))
            return endpoint

        return declare


@dataclass(frozen=True)
class RouteLabel:
    """What the request log and metrics read of a route: its template."""

    path: str


class FastLane:
    def __init__(self, app: ASGIApp, routes: list[HotRoute]) -> None:
        self.app = app
        self.routes = [
            (hot.method, hot.pattern, hot.handler, RouteLabel(hot.template)) for hot in routes
        ]

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            for method, pattern, handler, route in self.routes:
                if scope["method"] == method and (match := pattern.match(scope["path"])):
                    scope["route"] = route  # the request log and metrics label
                    await self._answer(scope, receive, send, handler, match.groupdict())
                    return
        await self.app(scope, receive, send)

    async def _answer(
        self,
        scope: Scope,
        receive: Receive,
        send: Send,
        handler: Handler,
        path_params: dict[str, str],
    ) -> None:
        body = await _read_body(receive)
        try:
            response = await handler(HotRequest(scope, body, path_params))
        except Exception as exc:  # rendered as FastAPI's handlers would (a bug: a 500)
            response = await handle(Request(scope), exc)
        await response(scope, receive, send)


async def _read_body(receive: Receive) -> bytes:
    chunks = []
    while True:
        message = await receive()
        if message["type"] != "http.request":
            break
        chunks.append(message.get("body", b""))
        if not message.get("more_body", False):
            break
    return b"".join(chunks)
