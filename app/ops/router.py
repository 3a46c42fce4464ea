"""Liveness, readiness and Prometheus metrics."""

import asyncio
import hmac

from fastapi import APIRouter, Request, Response
from fastapi.responses import JSONResponse
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from sqlalchemy import text

from app.core.config import Settings
from app.core.db import Database
from app.core.errors import (
    DatabaseUnavailable,
    Text,
    app_error_response,
    problem_response,
    request_language,
)
from app.holidays.days import provisional_years_ahead
from app.jobs import metrics as job_metrics


def build_router(prefix: str = "", *, include_in_schema: bool = True) -> APIRouter:
    """Probes and metrics; mounted under the API prefix and again at the root."""
    router = APIRouter(prefix=prefix, tags=["ops"], include_in_schema=include_in_schema)
    router.add_api_route("/healthz", healthz, methods=["GET"])
    router.add_api_route(
        "/readyz",
        readyz,
        methods=["GET"],
        responses={503: {"description": "The database is unreachable"}},
    )
    router.add_api_route("/metrics", metrics, methods=["GET"], response_class=Response)
    return router


async def healthz() -> dict[str, str]:
    """The process is up (it does not touch the database)."""
    return {"status": "ok"}


# /readyz answers within this long whatever the database does: a probe that
# hangs with a silent database tells the load balancer nothing.
READY_TIMEOUT_SECONDS = 1.5


async def readyz(request: Request) -> JSONResponse:
    """The database answers, within 1.5 s: ready to take traffic."""
    database: Database = request.app.state.database
    try:
        async with asyncio.timeout(READY_TIMEOUT_SECONDS):
            await _select_one(database)
    except Exception:  # any failure to reach the database means "not ready"
        return app_error_response(request, DatabaseUnavailable())
    body: dict[str, object] = {"status": "ready"}
    provisional = provisional_years_ahead()
    if provisional:  # still ready: statutory days off count as holidays until data comes
        body["warnings"] = [{"code": "calendar_provisional", "years": provisional}]
    return JSONResponse(body)


async def _select_one(database: Database) -> None:
    """On PostgreSQL through the hot paths' driver pool, whose connection is
    closed if the timeout interrupts it (``Database.driver``)."""
    if database.driver_pool is not None:
        async with database.driver() as connection:
            await connection.fetchval("SELECT 1")
        return
    async with database.engine.connect() as connection:
        await connection.execute(text("SELECT 1"))


async def metrics(request: Request) -> Response:
    """Prometheus text exposition, for the scraper only.

    With ``ZHENDI_METRICS_TOKEN`` set the scraper sends it as a bearer token;
    without one the endpoint is open in development and absent in production,
    where route names and traffic are nobody else's business.
    """
    settings: Settings = request.app.state.settings
    if settings.metrics_token is None:
        if settings.is_production:
            return _problem(request, 404, "not_found", NOT_FOUND)
    elif not _bearer_matches(request, settings.metrics_token.get_secret_value()):
        response = _problem(request, 401, "invalid_token", METRICS_TOKEN_REQUIRED)
        response.headers["WWW-Authenticate"] = "Bearer"
        return response
    jobs = await job_metrics.exposition(request.app.state.database)
    return Response(generate_latest() + jobs, media_type=CONTENT_TYPE_LATEST)


NOT_FOUND = Text("资源不存在", "Not found")
METRICS_TOKEN_REQUIRED = Text("需要监控令牌", "The metrics token is required")


def _bearer_matches(request: Request, token: str) -> bool:
    scheme, _, given = request.headers.get("authorization", "").partition(" ")
    return scheme.lower() == "bearer" and hmac.compare_digest(given.strip(), token)


def _problem(request: Request, status: int, code: str, title: Text) -> JSONResponse:
    return problem_response(
        request, status=status, code=code, title=title.render(request_language(request))
    )
