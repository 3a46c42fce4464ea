"""One error hierarchy, one envelope: RFC 9457 ``application/problem+json``.

Every failure a client can cause is an ``AppError`` subclass with a stable
machine ``code`` and a title in Chinese and English. Anything else that
escapes a request is a bug: it is logged and answered with a generic 500.
"""

import logging
from dataclasses import dataclass
from typing import Any, ClassVar, Literal

import asyncpg
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from sqlalchemy.exc import DBAPIError
from starlette.exceptions import HTTPException as StarletteHTTPException

from app.core.db import connection_lost, sqlstate

logger = logging.getLogger("zhendi.errors")

Lang = Literal["zh", "en"]
PROBLEM_JSON = "application/problem+json"


@dataclass(frozen=True)
class Text:
    zh: str
    en: str

    def render(self, lang: Lang, params: dict[str, Any] | None = None) -> str:
        template = self.en if lang == "en" else self.zh
        if not params:
            return template
        localized = {
            key: value.render(lang) if isinstance(value, Text) else value
            for key, value in params.items()
        }
        return template.format(**localized)


class AppError(Exception):
    status: ClassVar[int] = 400
    code: ClassVar[str] = "bad_request"
    title: ClassVar[Text] = Text("请求有误", "Bad request")
    detail: ClassVar[Text | None] = None

    def __init__(self, detail: Text | None = None, /, **params: Any) -> None:
        super().__init__(self.code)
        self.detail_text = detail or self.detail
        self.params = params
        self.extra: dict[str, Any] = {}
        self.headers: dict[str, str] = {}

    def with_extra(self, **members: Any) -> "AppError":
        """Add problem members beyond the standard ones (e.g. the conflicting interval)."""
        self.extra.update(members)
        return self


class NotFound(AppError):
    status = 404
    code = "not_found"
    title = Text("资源不存在", "Not found")
    detail = Text("找不到该{what}", "No such {what}")

    def __init__(self, what: Text) -> None:
        super().__init__(what=what)


class NotAuthenticated(AppError):
    status = 401
    code = "not_authenticated"
    title = Text("需要登录", "Authentication required")
    detail = Text("请先登录", "Send a bearer token")

    def __init__(self, detail: Text | None = None, /, **params: Any) -> None:
        super().__init__(detail, **params)
        self.headers["WWW-Authenticate"] = "Bearer"


class InvalidToken(NotAuthenticated):
    code = "invalid_token"
    title = Text("登录凭证无效", "Invalid token")
    detail = Text("登录凭证无效或已过期，请重新登录", "The token is invalid or expired")


class InvalidCredentials(NotAuthenticated):
    code = "invalid_credentials"
    title = Text("用户名或密码错误", "Invalid credentials")
    detail = Text("用户名或密码错误", "Wrong username or password")


class Forbidden(AppError):
    status = 403
    code = "forbidden"
    title = Text("无权操作", "Forbidden")
    detail = Text("当前账号无权进行此操作", "This account may not do that")


class OutOfScope(Forbidden):
    code = "out_of_scope"
    title = Text("超出管理范围", "Outside your scope")
    detail = Text("该{what}不在您的管理范围内", "This {what} is outside the centers you manage")


class AlreadyExists(AppError):
    status = 409
    code = "already_exists"
    title = Text("已存在", "Already exists")
    detail = Text("同名的{what}已存在", "A {what} with that name already exists")


class UnprocessableInput(AppError):
    status = 422
    code = "invalid_input"
    title = Text("输入无效", "Invalid input")


_HTTP_CODES: dict[int, tuple[str, Text]] = {
    400: ("bad_request", Text("请求有误", "Bad request")),
    401: ("not_authenticated", Text("需要登录", "Authentication required")),
    403: ("forbidden", Text("无权操作", "Forbidden")),
    404: ("not_found", Text("资源不存在", "Not found")),
    405: ("method_not_allowed", Text("不支持该请求方法", "Method not allowed")),
    406: ("not_acceptable", Text("无法提供所请求的格式", "Not acceptable")),
    409: ("conflict", Text("请求冲突", "Conflict")),
    413: ("payload_too_large", Text("请求体过大", "Payload too large")),
    415: ("unsupported_media_type", Text("不支持的内容类型", "Unsupported media type")),
    422: ("validation_failed", Text("输入校验失败", "Validation failed")),
    429: ("too_many_requests", Text("请求过于频繁", "Too many requests")),
    500: ("internal_error", Text("服务器内部错误", "Internal server error")),
    502: ("bad_gateway", Text("上游服务错误", "Bad gateway")),
    503: ("unavailable", Text("服务暂不可用", "Service unavailable")),
}

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


def request_language(request: Request) -> Lang:
    """Chinese unless the client prefers English (``Accept-Language: en``)."""
    best: tuple[float, Lang] = (0.0, "zh")
    for part in request.headers.get("accept-language", "").split(","):
        tag, _, params = part.strip().partition(";")
        quality = 1.0
        if params.strip().startswith("q="):
            try:
                quality = float(params.strip()[2:])
            except ValueError:
                continue
        tag = tag.strip().lower()
        lang: Lang | None = "en" if tag.startswith("en") else "zh" if tag.startswith("zh") else None
        if lang and quality > best[0]:
            best = (quality, lang)
    return best[1]


def problem_response(
    request: Request,
    *,
    status: int,
    code: str,
    title: str,
    detail: str | None = None,
    headers: dict[str, str] | None = None,
    **members: Any,
) -> JSONResponse:
    body: dict[str, Any] = {
        "type": f"urn:zhendi:problem:{code}",
        "title": title,
        "status": status,
        "code": code,
        "instance": request.url.path,
    }
    if detail:
        body["detail"] = detail
    body.update(members)
    return JSONResponse(body, status_code=status, headers=headers, media_type=PROBLEM_JSON)


async def _app_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, AppError)
    return app_error_response(request, exc)


def app_error_response(request: Request, exc: AppError) -> JSONResponse:
    """The problem response for ``exc``, for the rare endpoint that must answer
    with an error yet commit its transaction (a door logging a refused attempt)."""
    lang = request_language(request)
    detail = exc.detail_text.render(lang, exc.params) if exc.detail_text else None
    return problem_response(
        request,
        status=exc.status,
        code=exc.code,
        title=exc.title.render(lang),
        detail=detail,
        headers=exc.headers or None,
        **exc.extra,
    )


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
        message = _VALIDATION_MESSAGES_ZH.get(kind, message)
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


class ConcurrentUpdate(AppError):
    status = 409
    code = "concurrent_update"
    title = Text("并发冲突，请重试", "Concurrent update, please retry")
    detail = Text(
        "有其他请求同时修改了相同数据，请稍后重试", "Another request changed the same data"
    )

    def __init__(self) -> None:
        super().__init__()
        self.headers["Retry-After"] = "1"


class DatabaseBusy(AppError):
    status = 503
    code = "database_busy"
    title = Text("系统繁忙，请重试", "Busy, please retry")

    def __init__(self) -> None:
        super().__init__()
        self.headers["Retry-After"] = "1"


class DatabaseUnavailable(AppError):
    status = 503
    code = "database_unavailable"
    title = Text("数据库暂不可用，请重试", "Database unavailable, please retry")
    detail = Text(
        "与数据库的连接中断，请稍后重试（预约请使用同一个 Idempotency-Key）",
        "The connection to the database broke; retry (a booking with the same Idempotency-Key)",
    )

    def __init__(self) -> None:
        super().__init__()
        self.headers["Retry-After"] = "1"


# PostgreSQL's "serialization failure" and "deadlock detected": the request
# lost a race and may simply be retried. Anything else stays a bug (500).
RETRYABLE_SQLSTATES = frozenset({"40001", "40P01"})

# What a database failure reaches the app as: SQLAlchemy's wrapper, or (from the
# hot paths' bare driver pool, app/core/db.py ``Database.driver``) asyncpg's own
# exceptions, and a socket error from under either. ``_database_error`` answers
# those it recognizes and treats the rest as the bugs they are.
DATABASE_ERRORS: tuple[type[Exception], ...] = (
    DBAPIError,
    asyncpg.PostgresError,
    asyncpg.InterfaceError,
    asyncpg.exceptions.InternalClientError,
    OSError,
)


async def _database_error(request: Request, exc: Exception) -> JSONResponse:
    """The one place database failures become answers: a broken or refused
    connection is a retryable 503, a lost race a 409 to retry, SQLite's lock
    timeout a 503; anything else is a bug (a logged 500)."""
    if connection_lost(exc):
        logger.warning(
            "database connection lost on %s %s (%s), answered 503",
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


def install_error_handlers(app: FastAPI) -> None:
    app.add_exception_handler(AppError, _app_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(StarletteHTTPException, _http_error)
    for database_error in DATABASE_ERRORS:
        app.add_exception_handler(database_error, _database_error)
    app.add_exception_handler(Exception, _unhandled_error)


_PROBLEM_SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["type", "title", "status", "code"],
    "properties": {
        "type": {"type": "string"},
        "title": {"type": "string"},
        "status": {"type": "integer"},
        "code": {"type": "string", "description": "Stable machine-readable error code"},
        "detail": {"type": "string"},
        "instance": {"type": "string"},
        "errors": {
            "type": "array",
            "description": "Per-field problems, for validation failures",
            "items": {
                "type": "object",
                "required": ["field", "location", "type", "message"],
                "properties": {
                    "field": {"type": "string"},
                    "location": {"type": "array", "items": {"type": "string"}},
                    "type": {"type": "string"},
                    "message": {"type": "string"},
                },
            },
        },
    },
    "additionalProperties": True,
}


def problem_responses(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """OpenAPI entries for problem responses, so clients and fuzzers know them."""
    return {
        status: {
            "description": _HTTP_CODES[status][1].en,
            "content": {PROBLEM_JSON: {"schema": _PROBLEM_SCHEMA}},
        }
        for status in statuses
    }


COMMON_PROBLEMS = problem_responses(400, 401, 403, 404, 409, 413, 422)
