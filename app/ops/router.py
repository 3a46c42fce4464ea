"""Liveness, readiness and Prometheus metrics."""

from fastapi import APIRouter, Request, Response
from fastapi.responses import JSONResponse
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from sqlalchemy import text

from app.core.db import Database
from app.core.errors import Text, problem_response, request_language


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


DATABASE_UNAVAILABLE = Text("数据库不可用", "Database unavailable")


async def healthz() -> dict[str, str]:
    """The process is up (it does not touch the database)."""
    return {"status": "ok"}


async def readyz(request: Request) -> JSONResponse:
    """The database answers: ready to take traffic."""
    database: Database = request.app.state.database
    try:
        async with database.engine.connect() as connection:
            await connection.execute(text("SELECT 1"))
    except Exception:  # any failure to reach the database means "not ready"
        return problem_response(
            request,
            status=503,
            code="database_unavailable",
            title=DATABASE_UNAVAILABLE.render(request_language(request)),
        )
    return JSONResponse({"status": "ready"})


async def metrics() -> Response:
    """Prometheus text exposition."""
    return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)
