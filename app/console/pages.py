"""Rendering console pages and running console actions.

An action runs in its own write transaction, as an API request does: the
service raises, the transaction rolls back, and the browser is sent back with
the problem's code; or it commits and the browser is sent back with a
notice's code. The page shows the message the code stands for, never text
from the address: a link cannot make a console page say what it likes.
"""

from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass
from datetime import date, datetime
from functools import cache
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlencode, urlsplit

from fastapi import Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.templating import Jinja2Templates
from pydantic import ValidationError
from sqlalchemy.ext.asyncio import AsyncSession

from app.audit.reasons import told
from app.console import auth
from app.core.clock import SHANGHAI
from app.core.db import Database
from app.core.errors import AppError, Text
from app.holidays.days import provisional_years_ahead
from app.identity.principals import StaffPrincipal
from app.models import ActorKind
from app.reservations.errors import STATUS_TEXT

HERE = Path(__file__).parent
templates = Jinja2Templates(directory=HERE / "templates")

STATUS_NAMES = {status.value: text.zh for status, text in STATUS_TEXT.items()}
# A booking's history as the console tells it (unknown actions show their code).
ACTION_NAMES = {
    "create": "预约",
    "approve": "批准",
    "reject": "驳回",
    "cancel": "取消",
    "check_in": "签到",
    "check_out": "签退",
    "no_show": "记为爽约",
    "completed": "完成",
    "expired": "过期",
    "offer": "候补保留",
    "offer_lapsed": "保留逾期",
    "accept_offer": "接受候补",
    "release_offer": "放弃保留",
    "reissue_code": "重发门禁码",
}
ACTOR_NAMES = {ActorKind.user: "居民", ActorKind.staff: "工作人员", ActorKind.system: "系统"}
WEEKDAYS = "一二三四五六日"


class InvalidForm(AppError):
    status = 422
    code = "invalid_form"
    title = Text("输入有误", "Invalid form")
    detail = Text("请检查填写的内容后重试", "Check the form and try again")


@dataclass(frozen=True)
class Notice:
    """What went well, as a code of ``NOTICES`` and the booking (or series) it was."""

    code: str
    ref: int | None = None


NOTICES = {
    "approved": "预约 #{ref} 已批准",
    "rejected": "预约 #{ref} 已驳回",
    "cancelled": "预约 #{ref} 已取消",
    "checked_in": "预约 #{ref} 已签到",
    "checked_out": "预约 #{ref} 已签退",
    "booked_for": "已代居民预约 #{ref}，居民将收到通知",
    "code_reissued": "预约 #{ref} 的门禁码已重发，旧码已作废",
    "door_created": "门禁已添加",
    "series_approved": "重复预约 #{ref} 已整体批准",
    "series_rejected": "重复预约 #{ref} 已整体驳回",
    "lockout_cleared": "门禁键盘已解锁",
    "key_rotated": "设备密钥已更换",
    "organization_verified": "单位已认证",
    "organization_rejected": "单位已驳回",
    "space_saved": "空间设置已保存",
    "closure_added": "闭馆安排已添加",
    "closure_deleted": "闭馆安排已删除",
    "space_quotas_saved": "空间配额已保存",
    "center_quotas_saved": "中心配额已保存",
    "feed_issued": "日历订阅地址已生成",
    "activity_created": "活动 #{ref} 已创建为草稿",
    "activity_awaits_venue": "活动 #{ref} 已创建为草稿：场地预约待审批，批准后即可发布",
    "activity_published": "活动 #{ref} 已发布",
    "activity_cancelled": "活动 #{ref} 已取消，已报名的居民将收到通知",
    "signup_checked_in": "报名 #{ref} 已签到",
    "walk_ins_recorded": "已登记现场参加 {ref} 人",
    "staff_deactivated": "工作人员账号 #{ref} 已停用，其登录已全部失效",
    "staff_activated": "工作人员账号 #{ref} 已启用",
    "password_changed": "密码已修改，其他设备上的登录已失效",
    "real_name_verified": "居民 #{ref} 已完成柜台实名核验",
    "real_name_rebound": "证件号码已改绑到居民 #{ref}，原账号需要实名的未完成预约已取消",
    "resident_deactivated": "居民 #{ref} 的账号已停用，其未完成的预约已取消",
    "resident_activated": "居民 #{ref} 的账号已启用",
    "violation_pardoned": "违约 #{ref} 已撤销",
    "violation_upheld": "违约 #{ref} 的申诉已驳回",
    "check_in_qr_rotated": "签到码已更换，旧的打印件已失效",
    "inbox_read": "通知已标为已读",
    "day_set": "这一天的安排已保存",
    "center_created": "中心 #{ref} 已创建",
    "questionnaire_published": "问卷 #{ref} 已发布",
    "questionnaire_closed": "问卷 #{ref} 已结束",
    "center_saved": "中心 #{ref} 已保存",
    "space_created": "空间已创建：请继续设置开放规则、闭馆与配额",
    "day_cleared": "这一天的本地调整已撤销",
    "suggestion_taken": "建议 #{ref} 已由你办理",
    "suggestion_answered": "建议 #{ref} 已答复，提出人将收到通知",
    "suggestion_closed": "建议 #{ref} 已销项，提出人将收到通知",
    "kiosk_key_issued": "门口屏链接已生成，旧链接已失效",
}
GENERIC_ERROR = "操作未能完成，请刷新页面后重试"


def _error_classes(cls: type[AppError] = AppError) -> Iterator[type[AppError]]:
    for sub in cls.__subclasses__():
        yield sub
        yield from _error_classes(sub)


@cache
def _error_messages() -> dict[str, str]:
    """Each problem code's message: its title, and its detail unless that
    names the particulars of one case."""
    messages = {}
    for error in _error_classes():
        text = error.title.render("zh")
        if error.detail is not None and "{" not in error.detail.zh:
            text = f"{text}：{error.detail.zh}"
        messages[error.code] = text
    return messages


# Problems a console form finds itself, before any service.
FORM_ERRORS = {"passwords_differ": "两次输入的新密码不一致"}


def error_message(code: str) -> str:
    if code in FORM_ERRORS:
        return FORM_ERRORS[code]
    return _error_messages().get(code, GENERIC_ERROR) if code else ""


def notice_message(code: str, ref: str) -> str:
    """The notice ``code`` stands for (none for an unknown code)."""
    template = NOTICES.get(code, "")
    if "{ref}" not in template:
        return template
    return template.format(ref=int(ref)) if ref.isdigit() and len(ref) <= 10 else ""


def shanghai(value: datetime | None, pattern: str = "%Y-%m-%d %H:%M") -> str:
    return value.astimezone(SHANGHAI).strftime(pattern) if value else ""


templates.env.filters["shanghai"] = shanghai
templates.env.globals["STATUS_NAMES"] = STATUS_NAMES
templates.env.globals["ACTION_NAMES"] = ACTION_NAMES
templates.env.globals["ACTOR_NAMES"] = ACTOR_NAMES
templates.env.filters["told"] = lambda reason: told(reason, "zh")
templates.env.globals["WEEKDAYS"] = WEEKDAYS


def render(
    request: Request,
    name: str,
    staff: StaffPrincipal | None,
    status_code: int = 200,
    **context: Any,
) -> HTMLResponse:
    settings = request.app.state.settings
    token = auth.session_token(request)
    query = request.query_params
    return templates.TemplateResponse(
        request,
        name,
        {
            "staff": staff,
            "csrf": auth.csrf_token(settings, token) if token and staff else "",
            "notice": notice_message(query.get("notice", ""), query.get("ref", "")),
            "error": error_message(query.get("error", "")),
            "provisional_years": provisional_years_ahead() if staff else [],
            **context,
        },
        status_code=status_code,
    )


def back_to(
    path: str, *, error: str | None = None, notice: Notice | None = None
) -> RedirectResponse:
    """303 to a console page (only ever one of ours) with an error's code or a notice."""
    target = urlsplit(path)
    if not target.path.startswith(auth.PATH) or target.netloc or target.scheme:
        target = urlsplit(auth.PATH + "/today")
    message: dict[str, str | int] = {}
    if error:
        message["error"] = error
    if notice:
        message["notice"] = notice.code
        if notice.ref is not None:
            message["ref"] = notice.ref
    query = "&".join(part for part in (target.query, urlencode(message)) if part)
    place = f"{target.path}?{query}" if query else target.path
    if target.fragment:  # the section of the page the form was in
        place += f"#{quote(target.fragment)}"
    return RedirectResponse(place, status_code=303)


def problem_text(error: AppError) -> str:
    """The whole problem, for a page that shows it at once (the login form)."""
    title = error.title.render("zh")
    if error.detail_text is None:
        return title
    return f"{title}：{error.detail_text.render('zh', error.params)}"


Work = Callable[[AsyncSession, StaffPrincipal], Awaitable[Notice]]


async def act(request: Request, back: str, work: Work) -> Response:
    """Check the session and its CSRF token, run ``work`` in one transaction, and
    send the browser back to ``back`` with what ``work`` said, or what went wrong."""
    settings = request.app.state.settings
    database: Database = request.app.state.database
    token = auth.session_token(request)
    form = await request.form()
    auth.check_csrf(settings, token, form.get("csrf"))
    try:
        async with database.writer.begin() as session:
            staff = await auth.load(session, settings, token)
            notice = await work(session, staff)
    except AppError as error:
        return back_to(back, error=error.code)
    except ValidationError:
        return back_to(back, error=InvalidForm.code)
    return back_to(back, notice=notice)


def form_text(form: Any, name: str) -> str:
    value = form.get(name)
    return value.strip() if isinstance(value, str) else ""


def parse_day(value: str | None, default: date) -> date:
    if not value:
        return default
    try:
        return date.fromisoformat(value)
    except ValueError:
        return default
