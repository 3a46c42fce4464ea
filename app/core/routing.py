"""API routers: the full path prefix, documented problems, strict query strings.

Routers carry their full prefix so ``scope["route"].path`` is the whole route
template, which the request log and metrics use as their label.
"""

from collections.abc import Mapping
from enum import Enum
from typing import Any

from fastapi import APIRouter, Depends, Request
from fastapi.dependencies.models import Dependant
from fastapi.exceptions import RequestValidationError
from fastapi.routing import APIRoute

from app.core.errors import COMMON_PROBLEMS

API_PREFIX = "/api/v1"
# A public read that also serves a signed-in caller (a token is optional): its
# OpenAPI security requirements gain the empty one, "no credentials".
SIGN_IN_OPTIONAL: dict[str, Any] = {"security": [{}]}


def _query_names(dependant: Dependant) -> frozenset[str]:
    names = {str(param.alias) for param in dependant.query_params}
    for dependency in dependant.dependencies:
        names |= _query_names(dependency)
    return frozenset(names)


def _allowed_query_names(route: APIRoute) -> frozenset[str]:
    """Computed once per route and kept on it (routes are not hashable)."""
    names: frozenset[str] | None = getattr(route, "_zhendi_query_names", None)
    if names is None:
        names = _query_names(route.dependant)
        route._zhendi_query_names = names  # type: ignore[attr-defined]
    return names


async def reject_unknown_query_parameters(request: Request) -> None:
    """A misspelt filter (``?spaceid=3``) is a 422, not a silently unfiltered list."""
    route = request.scope.get("route")
    if not isinstance(route, APIRoute) or not request.query_params:
        return
    refuse_unknown(request.query_params, _allowed_query_names(route))


def refuse_unknown(query: Mapping[str, str], allowed: frozenset[str]) -> None:
    unknown = [name for name in query if name not in allowed]
    if unknown:
        raise RequestValidationError(
            [
                {
                    "type": "extra_forbidden",
                    "loc": ("query", name),
                    "msg": "Unknown query parameter",
                    "input": query[name],
                }
                for name in unknown
            ]
        )


def api_router(path: str = "", *, tags: list[str | Enum], **options: Any) -> APIRouter:
    return APIRouter(
        prefix=f"{API_PREFIX}{path}",
        tags=tags,
        responses=COMMON_PROBLEMS,
        dependencies=[Depends(reject_unknown_query_parameters)],
        **options,
    )
