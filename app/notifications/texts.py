"""What each kind of notification says in the inbox (Chinese, as the
mini-program and the console speak), and the values its WeChat template may
use: the placeholders of ``ZHENDI_WECHAT_TEMPLATES`` (README: Notifications).
"""

from dataclasses import dataclass
from datetime import datetime

from app.core.clock import SHANGHAI
from app.models import NotificationKind, ReservationStatus

Kind = NotificationKind

# Every value a template's field may name, documented in the README.
PLACEHOLDERS = frozenset(
    {
        "space_name",
        "center_name",
        "center_address",
        "start",
        "end",
        "date",
        "time_range",
        "status",
        "reason",
        "organization_name",
        "reservation_id",
        "title",
        "deadline",
        "decision",
        "activity_title",
        "activity_id",
        "attendees",
        "place",
        "text",
    }
)

STATUS_NAMES = {
    ReservationStatus.pending: "待审批",
    ReservationStatus.confirmed: "已确认",
    ReservationStatus.checked_in: "已签到",
    ReservationStatus.completed: "已完成",
    ReservationStatus.cancelled: "已取消",
    ReservationStatus.rejected: "未通过",
    ReservationStatus.no_show: "未签到",
    ReservationStatus.expired: "已过期",
    ReservationStatus.held: "为您保留",
}


@dataclass(frozen=True)
class Wording:
    title: str
    body: str  # str.format over the placeholders


WORDING: dict[NotificationKind, Wording] = {
    Kind.booking_confirmed: Wording(
        "预约成功", "您已预约{center_name}{space_name}，时间{date} {time_range}。"
    ),
    Kind.booking_approved: Wording(
        "预约已通过审批", "您申请的{center_name}{space_name}（{date} {time_range}）已通过审批。"
    ),
    Kind.booking_rejected: Wording(
        "预约未通过审批",
        "您申请的{center_name}{space_name}（{date} {time_range}）未通过审批：{reason}",
    ),
    Kind.booking_cancelled_by_staff: Wording(
        "预约已被工作人员取消",
        "您在{center_name}{space_name}的预约（{date} {time_range}）已被取消：{reason}",
    ),
    Kind.booking_reminder: Wording(
        "预约即将开始",
        "您在{center_name}{space_name}的预约将于{date} {time_range}开始，请准时签到。",
    ),
    Kind.no_show_recorded: Wording(
        "未按时签到",
        "您在{center_name}{space_name}的预约（{date} {time_range}）未按时签到，"
        "座位已释放，并记违约一次。",
    ),
    Kind.booking_suspended: Wording(
        "预约资格已暂停", "因多次违约，您在{center_name}的预约资格暂停至{end}。"
    ),
    Kind.waitlist_offer: Wording(
        "候补成功，请确认",
        "{center_name}{space_name}（{date} {time_range}）有空位为您保留，请在{deadline}前确认。",
    ),
    Kind.organization_verified: Wording(
        "单位认证已通过", "{organization_name}已通过认证，可以用单位名义预约。"
    ),
    Kind.organization_rejected: Wording(
        "单位认证未通过", "{organization_name}未通过认证：{reason}"
    ),
    Kind.approval_requested: Wording(
        "有新的预约待审批", "{center_name}{space_name}（{date} {time_range}）有一条新的预约申请。"
    ),
    Kind.keypad_locked_repeatedly: Wording(
        "门禁键盘多次锁定",
        "{center_name}{space_name}的门禁“{door_name}”{date}已因输错密码锁定{lockouts}次，"
        "可能有人在试探门禁密码，请尽快到现场查看。预约人仍可在小程序中开门。",
    ),
    Kind.booking_cancelled_by_closure: Wording(
        "预约因场地调整已取消",
        "{center_name}{space_name}在您预约的时段（{date} {time_range}）不开放，"
        "预约已取消：{reason}",
    ),
    Kind.appeal_decided: Wording(
        "违约记录已处理",
        "您在{center_name}{space_name}（{date} {time_range}）的违约记录{decision}。"
        "处理意见：{reason}",
    ),
    Kind.real_name_rebound: Wording(
        "实名信息已更正",
        "经{center_name}柜台核验，您账号绑定的实名信息已更正至证件持有人本人的账号，"
        "此账号不再实名认证，需实名的预约已取消。如有疑问，请联系该服务中心。",
    ),
    Kind.organization_registered: Wording(
        "有新的单位待认证", "{organization_name}提交了单位认证申请{reason}，请审核。"
    ),
    Kind.waitlist_offer_lapsed: Wording(
        "候补名额已失效",
        "为您保留的{center_name}{space_name}（{date} {time_range}）未在期限内确认，已让给下一位。",
    ),
    Kind.organization_member_removed: Wording(
        "已移出单位", "您已被移出{organization_name}，不能再以该单位名义预约。{reason}"
    ),
    Kind.access_code_reissued: Wording(
        "门禁密码已更换",
        "您在{center_name}{space_name}的预约（{date} {time_range}）门禁密码已更换，"
        "请在小程序中查看新密码。",
    ),
    Kind.booking_moved: Wording(
        "预约已改期",
        "您在{center_name}{space_name}的预约已改为{date} {time_range}，当前状态：{status}。",
    ),
    Kind.feedback_requested: Wording(
        "欢迎评价",
        "您在{center_name}{space_name}的预约（{date} {time_range}）已完成，欢迎为本次使用评分。",
    ),
    Kind.activity_signup_confirmed: Wording(
        "活动报名成功",
        "您已报名{center_name}的活动“{activity_title}”（{date} {time_range}），共{attendees}人。",
    ),
    Kind.activity_reminder: Wording(
        "活动即将开始",
        "您报名的活动“{activity_title}”将于{date} {time_range}在{place}举行，请准时签到。",
    ),
    Kind.activity_cancelled: Wording(
        "活动已取消",
        "您报名的活动“{activity_title}”（{date} {time_range}）已取消，原因：{reason}。",
    ),
    Kind.activity_message: Wording(
        "活动通知",
        "活动“{activity_title}”的组织方通知：{text}",
    ),
    Kind.suggestion_progress: Wording(
        "建议办理进度",
        "您在{center_name}提出的“{title}”类建议{status}。{text}",
    ),
}


def local_time(instant: datetime) -> str:
    """``2026年12月2日 09:00``: WeChat's ``time`` field format, in Shanghai."""
    local = instant.astimezone(SHANGHAI)
    return f"{local.year}年{local.month}月{local.day}日 {local:%H:%M}"


def booking_values(
    *,
    space_name: str,
    center_name: str,
    center_address: str,
    start: datetime,
    end: datetime,
    status: ReservationStatus,
    reservation_id: int | None,
    reason: str | None = None,
    organization_name: str | None = None,
) -> dict[str, str]:
    local_start, local_end = start.astimezone(SHANGHAI), end.astimezone(SHANGHAI)
    return {
        "space_name": space_name,
        "center_name": center_name,
        "center_address": center_address,
        "start": local_time(start),
        "end": local_time(end),
        "date": f"{local_start.year}年{local_start.month}月{local_start.day}日",
        "time_range": f"{local_start:%H:%M}-{local_end:%H:%M}",
        "status": STATUS_NAMES[status],
        "reason": reason or "",
        "organization_name": organization_name or "",
        "reservation_id": "" if reservation_id is None else str(reservation_id),
    }


def render(kind: NotificationKind, values: dict[str, str]) -> tuple[str, str]:
    """The inbox title and body, and ``values`` gains the title for templates."""
    wording = WORDING[kind]
    filled = dict.fromkeys(PLACEHOLDERS, "") | values
    body = wording.body.format(**filled).rstrip("：")
    values["title"] = wording.title
    return wording.title, body


def activity_values(
    activity_id: int,
    title: str,
    center_name: str,
    place: str,
    start: datetime,
    end: datetime,
) -> dict[str, str]:
    """The placeholders of a message about an activity (its participants add theirs)."""
    local_start, local_end = start.astimezone(SHANGHAI), end.astimezone(SHANGHAI)
    return {
        "activity_id": str(activity_id),
        "activity_title": title,
        "center_name": center_name,
        "place": place,
        "start": local_time(start),
        "end": local_time(end),
        "date": f"{local_start.year}年{local_start.month}月{local_start.day}日",
        "time_range": f"{local_start:%H:%M}-{local_end:%H:%M}",
    }
