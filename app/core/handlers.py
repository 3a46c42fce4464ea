"""The exception handlers: every failure a request can end in becomes one
RFC 9457 problem (``app/core/errors.py``), and a bug a logged 500."""

import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from sqlalchemy.exc import DBAPIError
from starlette.exceptions import HTTPException as StarletteHTTPException

from app.core.db_errors import DATABASE_ERRORS, database_unavailable, sqlstate
from app.core.errors import (
    _HTTP_CODES,
    RETRYABLE_SQLSTATES,
    AppError,
    ConcurrentUpdate,
    DatabaseBusy,
    DatabaseUnavailable,
    Lang,
    Text,
    app_error_response,
    problem_response,
    request_language,
)

logger = logging.getLogger("zhendi.errors")

_VALIDATION_MESSAGES_ZH: dict[str, str] = {
    "missing": "缺少必填字段",
    "extra_forbidden": "不允许的字段",
    "string_too_short": "内容过短",
    "string_too_long": "内容过长",
    "string_pattern_mismatch": "格式不正确",
    "string_type": "应为字符串",
    "int_parsing": "应为整数",
    "int_type": "应为整数",
    "int_from_float": "应为整数",
    "float_parsing": "应为数字",
    "float_type": "应为数字",
    "bool_parsing": "应为布尔值",
    "bool_type": "应为布尔值",
    "greater_than": "数值过小",
    "greater_than_equal": "数值过小",
    "less_than": "数值过大",
    "less_than_equal": "数值过大",
    "enum": "取值不在允许范围内",
    "literal_error": "取值不在允许范围内",
    "date_parsing": "日期格式应为 YYYY-MM-DD",
    "date_from_datetime_parsing": "日期格式应为 YYYY-MM-DD",
    "datetime_parsing": "时间格式应为带时区的 RFC 3339",
    "datetime_from_date_parsing": "时间格式应为带时区的 RFC 3339",
    "timezone_aware": "时间必须带时区偏移",
    "list_type": "应为数组",
    "dict_type": "应为对象",
    "model_attributes_type": "应为对象",
    "too_long": "元素过多",
    "too_short": "元素过少",
    "value_error": "取值无效",
    "json_invalid": "JSON 格式错误",
    "json_type": "JSON 格式错误",
    "time_parsing": "时间格式应为 HH:MM",
}


async def _app_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, AppError)
    return app_error_response(request, exc)


async def _validation_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    lang = request_language(request)
    errors = list(exc.errors())
    if any(error.get("type") in ("json_invalid", "json_type") for error in errors):
        return problem_response(
            request,
            status=400,
            code="malformed_json",
            title=Text("JSON 格式错误", "Malformed JSON").render(lang),
            detail=Text("请求体不是有效的 JSON", "The request body is not valid JSON").render(lang),
        )
    return problem_response(
        request,
        status=422,
        code="validation_failed",
        title=Text("输入校验失败", "Validation failed").render(lang),
        detail=Text("请检查 errors 中列出的字段", "See the fields listed in errors").render(lang),
        errors=[_field_error(error, lang) for error in errors],
    )


def _field_error(error: Any, lang: Lang) -> dict[str, Any]:
    location = [str(part) for part in error.get("loc", ())]
    kind = str(error.get("type", "value_error"))
    message = str(error.get("msg", ""))
    if lang == "zh":
        # A type without a Chinese message gets the general one, never pydantic's English.
        message = _VALIDATION_MESSAGES_ZH.get(kind, _VALIDATION_MESSAGES_ZH["value_error"])
    field = ".".join(location[1:]) if len(location) > 1 else ".".join(location)
    return {"field": field, "location": location, "type": kind, "message": message}


async def _http_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, StarletteHTTPException)
    lang = request_language(request)
    code, title = _HTTP_CODES.get(exc.status_code, ("http_error", Text("请求失败", "Error")))
    detail = exc.detail if isinstance(exc.detail, str) and lang == "en" else None
    return problem_response(
        request,
        status=exc.status_code,
        code=code,
        title=title.render(lang),
        detail=detail,
        headers=dict(exc.headers) if exc.headers else None,
    )


async def _database_error(request: Request, exc: Exception) -> JSONResponse:
    """The one place database failures become answers: a broken, refused or
    timed-out connection (or statement, or wait for the pool) is a retryable
    503, a lost race a 409 to retry, SQLite's lock timeout a 503; anything
    else is a bug (a logged 500). A 503 logs one line, without a traceback:
    while the database is away every request meets it."""
    if database_unavailable(exc):
        logger.warning(
            "database connection lost or timed out on %s %s (%s), answered 503",
            request.method,
            _route_template(request),
            _describe(exc),
        )
        return await _app_error(request, DatabaseUnavailable())
    code = sqlstate(exc)
    if code in RETRYABLE_SQLSTATES:
        return await _app_error(request, ConcurrentUpdate())
    if isinstance(exc, DBAPIError) and code is None and "database is locked" in str(exc.orig):
        return await _app_error(request, DatabaseBusy())
    return await _unhandled_error(request, exc)


def _describe(exc: BaseException) -> str:
    """The chain of exception types and the SQLSTATE: never the message, which
    for SQLAlchemy carries the statement's parameters."""
    names: list[str] = []
    error: BaseException | None = exc
    while error is not None and len(names) < 5:
        names.append(type(error).__name__)
        error = getattr(error, "orig", None) or error.__cause__
    code = sqlstate(exc)
    return " <- ".join(names) + (f", SQLSTATE {code}" if code else "")


async def _unhandled_error(request: Request, exc: Exception) -> JSONResponse:
    logger.exception(
        "unhandled error on %s %s", request.method, _route_template(request), exc_info=exc
    )
    code, title = _HTTP_CODES[500]
    return problem_response(
        request, status=500, code=code, title=title.render(request_language(request))
    )


def _route_template(request: Request) -> str:
    route = request.scope.get("route")
    return str(getattr(route, "path", "<unmatched>"))


async def handle(request: Request, exc: Exception) -> JSONResponse:
    """The answer the handlers below give to ``exc``, for a request answered
    outside FastAPI's routing (app/core/fastlane.py)."""
    if isinstance(exc, AppError):
        return await _app_error(request, exc)
    if isinstance(exc, RequestValidationError):
        return await _validation_error(request, exc)
    if isinstance(exc, StarletteHTTPException):
        return await _http_error(request, exc)
    if isinstance(exc, DATABASE_ERRORS):
        return await _database_error(request, exc)
    return await _unhandled_error(request, exc)


def install_error_handlers(app: FastAPI) -> None:
    app.add_exception_handler(AppError, _app_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(StarletteHTTPException, _http_error)
    for database_error in DATABASE_ERRORS:
        app.add_exception_handler(database_error, _database_error)
    app.add_exception_handler(Exception, _unhandled_error)
