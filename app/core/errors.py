"""One error hierarchy, one envelope: RFC 9457 ``application/problem+json``.

Every failure a client can cause is an ``AppError`` subclass with a stable
machine ``code`` and a title in Chinese and English. Anything else that
escapes a request is a bug: it is logged and answered with a generic 500.
"""

from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any, ClassVar, Literal, Self

from fastapi import Request
from fastapi.responses import JSONResponse

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

    def with_extra(self, **members: Any) -> Self:
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


class InvalidTransition(AppError):
    """A change the thing's current state does not allow; the detail says which."""

    status = 409
    code = "invalid_transition"
    title = Text("当前状态不允许该操作", "Not allowed in this state")


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


# The language of the answer being written: set per request from
# Accept-Language (app/core/middleware.py), for texts rendered far from the
# request, such as the reasons the system wrote (app/audit/reasons.py).
_ANSWER_LANGUAGE: ContextVar[Lang] = ContextVar("answer_language", default="zh")


def answer_language() -> Lang:
    return _ANSWER_LANGUAGE.get()


def answer_in(lang: Lang) -> None:
    """Make ``lang`` the current answer's language (for this request's context)."""
    _ANSWER_LANGUAGE.set(lang)


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
        "数据库连接中断或未及时响应，请稍后重试（预约请使用同一个 Idempotency-Key）",
        "The database connection broke or timed out; retry "
        "(a booking with the same Idempotency-Key)",
    )

    def __init__(self) -> None:
        super().__init__()
        self.headers["Retry-After"] = "1"


# PostgreSQL's "serialization failure" and "deadlock detected": the request
# lost a race and may simply be retried. Anything else stays a bug (500).
RETRYABLE_SQLSTATES = frozenset({"40001", "40P01"})

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
