"""Every problem a booking or a change of one can answer, one class per ``code``."""

from app.core.errors import AppError, Forbidden, Text
from app.models import ReservationStatus


class BookingRuleError(AppError):
    status = 422


class NotAligned(BookingRuleError):
    code = "not_aligned"
    title = Text("时间未对齐时段", "Not aligned to slots")
    detail = Text(
        "开始和结束时间须落在 {slot} 分钟的时段边界上",
        "Start and end must fall on the {slot}-minute slot grid",
    )


class InvalidDuration(BookingRuleError):
    code = "invalid_duration"
    title = Text("时长不符合规定", "Duration not allowed")
    detail = Text(
        "预约时长须在 {min} 到 {max} 分钟之间", "Bookings last between {min} and {max} minutes"
    )


class InThePast(BookingRuleError):
    code = "in_the_past"
    title = Text("不能预约过去的时间", "Start is in the past")
    detail = Text("开始时间已过", "The start time has already passed")


class OutsideBookingWindow(BookingRuleError):
    """409: the time is not bookable *now* (it will be, or was)."""

    status = 409
    code = "outside_booking_window"
    title = Text("超出可预约范围", "Outside the booking window")
    detail = Text(
        "该空间只能提前 {days} 天预约（截至 {until}）",
        "This space can be booked {days} days ahead (until {until})",
    )


RESERVATION = Text("预约", "reservation")
NOT_YET_RELEASED = Text("该日期将于 {opens} 开放预约", "Bookings for that day open at {opens}")


class BookingSuspended(AppError):
    status = 403
    code = "booking_suspended"
    title = Text("预约资格已暂停", "Booking suspended")
    detail = Text(
        "因多次违约，您在该服务中心的预约资格暂停至 {until}",
        "After repeated no-shows you may not book at this center until {until}",
    )


class OutsideOpeningHours(BookingRuleError):
    code = "outside_opening_hours"
    title = Text("不在开放时间内", "Outside opening hours")
    detail = Text("预约时段须完全在开放时间内", "The whole booking must fall inside opening hours")


class SpaceClosed(BookingRuleError):
    code = "space_closed"
    title = Text("该时段闭馆", "Closed at that time")
    detail = Text("该时段空间暂停开放：{reason}", "The space is closed then: {reason}")


class TooManyAttendees(BookingRuleError):
    code = "too_many_attendees"
    title = Text("人数超出容量", "Too many attendees")
    detail = Text("该空间最多容纳 {capacity} 人", "This space holds at most {capacity} people")


class OneSeatPerPerson(BookingRuleError):
    code = "one_seat_per_person"
    title = Text("一人一座", "One seat per person")
    detail = Text(
        "该空间实名预约，每个座位对应一位实名用户：人数须为 1，同行者请各自预约",
        "This space books one seat per verified person: attendees must be 1, "
        "and each companion books their own seat",
    )


class RealNameRequired(AppError):
    status = 403
    code = "real_name_required"
    title = Text("需要实名认证", "Real-name verification required")
    detail = Text("预约该空间须先完成实名认证", "Verify your real name to book this space")


class OrganizationRequired(AppError):
    status = 403
    code = "organization_required"
    title = Text("需以认证企业身份预约", "A verified organization is required")
    detail = Text(
        "该空间只接受已认证组织的预约，请以所属组织的名义预约",
        "This space takes bookings on a verified organization's account only",
    )


class OrganizationNotVerified(AppError):
    status = 403
    code = "organization_not_verified"
    title = Text("组织尚未通过认证", "Organization not verified")
    detail = Text(
        "该组织尚未通过工作人员认证，认证通过后才能以其名义预约",
        "Bookings on the organization's account open once staff have verified it",
    )


class NotOrganizationMember(Forbidden):
    code = "not_a_member"
    title = Text("不是该组织成员", "Not a member")
    detail = Text("只有组织成员可以代表组织预约", "Only members may book for an organization")


class SlotTaken(AppError):
    status = 409
    code = "slot_taken"
    title = Text("时段已被预约", "Slot taken")
    detail = Text(
        "{start} 至 {end} 已被其他预约占用", "{start} to {end} is held by another booking"
    )


class SpaceFull(AppError):
    status = 409
    code = "space_full"
    title = Text("座位已满", "Space full")
    detail = Text("该时段剩余座位不足", "Not enough seats are left at that time")


class AlreadyBooked(AppError):
    status = 409
    code = "already_booked"
    title = Text("您已预约该时段", "You already hold this time")
    detail = Text(
        "您在该空间已有与此时段重叠的预约", "You already hold an overlapping booking here"
    )


# Details of the 409 ``invalid_transition`` (app/core/errors.py) for reservations.
CANNOT = Text("预约状态为“{status}”，不能{action}", "The reservation is {status}; cannot {action}")
# Each status as a detail says it (the console's labels are the Chinese ones).
STATUS_TEXT: dict[ReservationStatus, Text] = {
    ReservationStatus.pending: Text("待审批", "pending"),
    ReservationStatus.confirmed: Text("已确认", "confirmed"),
    ReservationStatus.checked_in: Text("已签到", "checked in"),
    ReservationStatus.completed: Text("已完成", "completed"),
    ReservationStatus.rejected: Text("已驳回", "rejected"),
    ReservationStatus.cancelled: Text("已取消", "cancelled"),
    ReservationStatus.no_show: Text("爽约", "a no-show"),
    ReservationStatus.expired: Text("已过期", "expired"),
    ReservationStatus.held: Text("候补保留", "held"),
}
ENDED = Text("已结束", "over")


class CancellationClosed(AppError):
    status = 409
    code = "cancellation_closed"
    title = Text("已过取消截止时间", "Too late to cancel")
    detail = Text("须在开始前 {minutes} 分钟取消", "Cancel at least {minutes} minutes before start")


class ModificationClosed(AppError):
    status = 409
    code = "modification_closed"
    title = Text("已过改期截止时间", "Too late to move")
    detail = Text("须在开始前 {minutes} 分钟改期", "Move at least {minutes} minutes before start")


class ReasonRequired(AppError):
    status = 422
    code = "reason_required"
    title = Text("请填写原因", "Reason required")
    detail = Text("工作人员取消预约须填写原因", "Staff must give a reason to cancel")


class CheckInNotOpen(AppError):
    status = 409
    code = "check_in_not_open"
    title = Text("尚未到签到时间", "Check-in is not open yet")
    detail = Text("签到将于 {opens_at} 开始", "Check-in opens at {opens_at}")


class CheckInClosed(AppError):
    status = 409
    code = "check_in_closed"
    title = Text("签到已截止", "Check-in has closed")
    detail = Text("签到已于 {closed_at} 截止", "Check-in closed at {closed_at}")


class CheckInTokenInvalid(AppError):
    """The token is not this space's current one: another room's, or rotated away."""

    status = 403
    code = "check_in_token_invalid"
    title = Text("签到码无效", "Invalid check-in code")
    detail = Text(
        "请扫描本空间内张贴的最新签到二维码", "Scan the check-in QR code posted in this space"
    )


class CheckInTokenRequired(AppError):
    status = 422
    code = "check_in_token_required"
    title = Text("缺少签到码", "Check-in code required")
    detail = Text(
        "请扫描空间内的签到二维码后签到", "Scan the check-in QR code in the space to check in"
    )


class CheckOutNotStarted(AppError):
    status = 409
    code = "check_out_not_started"
    title = Text("预约尚未开始", "The booking has not started")
    detail = Text(
        "尚未签到且未开始的预约请直接取消", "Cancel a booking that has not started instead"
    )


class CheckOutNotCheckedIn(AppError):
    """Where check-in is required, checking out is for those who came: a booking
    never checked in ends as a no-show, not by checking out from afar."""

    status = 409
    code = "check_out_not_checked_in"
    title = Text("尚未签到", "Not checked in")
    detail = Text("本空间须先签到才能签退", "This space needs a check-in before a check-out")


CANCEL = Text("取消", "cancel")
APPROVE = Text("批准", "approve")
REJECT = Text("拒绝", "reject")
CHECK_IN = Text("签到", "check in")
CHECK_OUT = Text("签退", "check out")
MOVE = Text("改期", "move")
