"""Routers carry their full path prefix so ``scope["route"].path`` is the whole
route template, which the request log and metrics use as their label."""

from enum import Enum
from typing import Any

from fastapi import APIRouter

from app.core.errors import COMMON_PROBLEMS

API_PREFIX = "/api/v1"


def api_router(path: str = "", *, tags: list[str | Enum], **options: Any) -> APIRouter:
    return APIRouter(prefix=f"{API_PREFIX}{path}", tags=tags, responses=COMMON_PROBLEMS, **options)
