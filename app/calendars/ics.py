"""Bookings and activities as iCalendar (RFC 5545), written with the icalendar
package.

Each booking is one VEVENT whose UID never changes and whose SEQUENCE counts
the changes the audit trail recorded after its creation, so a calendar app
replaces its copy when a booking moves, ends early or is cancelled. An
activity is one VEVENT with a UID of its own kind (``activity-<id>@zhendi``,
never a booking's), whose SEQUENCE is the seconds from its creation to its
last change (activities keep no audit trail; it grows with every change).
Times are Shanghai wall-clock with ``TZID=Asia/Shanghai`` and the zone's
VTIMEZONE. The door code is never in an event: a feed is readable by whoever
has its URL.
"""

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

from icalendar import Calendar, Event

from app.core.clock import SHANGHAI
from app.models import ActivityStatus, ReservationStatus

PRODUCT = "-//Zhendi//Zhendi booking//ZH"
UID_DOMAIN = "zhendi"
Status = ReservationStatus
# How a booking's state reads in a calendar app.
EVENT_STATUS = {
    Status.pending: "TENTATIVE",
    Status.held: "TENTATIVE",
    Status.confirmed: "CONFIRMED",
    Status.checked_in: "CONFIRMED",
    Status.completed: "CONFIRMED",
    Status.no_show: "CONFIRMED",
    Status.cancelled: "CANCELLED",
    Status.rejected: "CANCELLED",
    Status.expired: "CANCELLED",
}
STATUS_TEXT = {
    Status.pending: "待审批",
    Status.held: "候补保留中",
    Status.confirmed: "已确认",
    Status.checked_in: "已签到",
    Status.completed: "已完成",
    Status.no_show: "爽约",
    Status.cancelled: "已取消",
    Status.rejected: "已驳回",
    Status.expired: "已过期",
}


@dataclass(frozen=True)
class BookingEvent:
    reservation_id: int
    space_name: str
    center_name: str
    center_address: str
    start: datetime
    end: datetime
    status: ReservationStatus
    purpose: str
    attendees: int
    sequence: int
    created_at: datetime
    updated_at: datetime


ACTIVITY_STATUS = {
    ActivityStatus.draft: "TENTATIVE",
    ActivityStatus.published: "CONFIRMED",
    ActivityStatus.completed: "CONFIRMED",
    ActivityStatus.cancelled: "CANCELLED",
}


@dataclass(frozen=True)
class ActivityEvent:
    activity_id: int
    title: str
    description: str
    category_label: str
    center_name: str
    place: str | None  # the space's name, or the place text
    address: str  # the center's
    start: datetime
    end: datetime
    status: ActivityStatus
    attendees: int | None  # the subscriber's sign-up, in a personal feed
    created_at: datetime
    updated_at: datetime


def uid(reservation_id: int) -> str:
    return f"reservation-{reservation_id}@{UID_DOMAIN}"


def activity_uid(activity_id: int) -> str:
    return f"activity-{activity_id}@{UID_DOMAIN}"


def _event(booking: BookingEvent) -> Event:
    event = Event()
    event.add("uid", uid(booking.reservation_id))
    event.add("sequence", booking.sequence)
    event.add("dtstamp", booking.updated_at)
    event.add("created", booking.created_at)
    event.add("last-modified", booking.updated_at)
    event.add("dtstart", booking.start.astimezone(SHANGHAI))
    event.add("dtend", booking.end.astimezone(SHANGHAI))
    event.add("summary", f"{booking.space_name}（{booking.center_name}）")
    event.add("location", f"{booking.center_name}，{booking.center_address}")
    lines = [f"状态：{STATUS_TEXT[booking.status]}", f"人数：{booking.attendees}"]
    if booking.purpose:
        lines.insert(0, f"用途：{booking.purpose}")
    event.add("description", "\n".join(lines))
    event.add("status", EVENT_STATUS[booking.status])
    event.add("transp", "TRANSPARENT" if EVENT_STATUS[booking.status] == "CANCELLED" else "OPAQUE")
    return event


def _activity_event(activity: ActivityEvent) -> Event:
    event = Event()
    event.add("uid", activity_uid(activity.activity_id))
    changed = activity.updated_at - activity.created_at
    event.add("sequence", max(int(changed.total_seconds()), 0))
    event.add("dtstamp", activity.updated_at)
    event.add("created", activity.created_at)
    event.add("last-modified", activity.updated_at)
    event.add("dtstart", activity.start.astimezone(SHANGHAI))
    event.add("dtend", activity.end.astimezone(SHANGHAI))
    event.add("summary", activity.title)
    where = [activity.place] if activity.place else []
    event.add("location", "，".join([*where, activity.center_name, activity.address]))
    event.add("categories", [activity.category_label])
    lines = [f"类别：{activity.category_label}", f"主办：{activity.center_name}"]
    if activity.attendees is not None:
        lines.append(f"报名人数：{activity.attendees}")
    if activity.description:
        lines.append(activity.description)
    event.add("description", "\n".join(lines))
    status = ACTIVITY_STATUS[activity.status]
    event.add("status", status)
    event.add("transp", "TRANSPARENT" if status == "CANCELLED" else "OPAQUE")
    return event


def calendar(
    name: str, bookings: Iterable[BookingEvent], activities: Iterable[ActivityEvent] = ()
) -> bytes:
    document = Calendar()
    document.add("prodid", PRODUCT)
    document.add("version", "2.0")
    document.add("calscale", "GREGORIAN")
    document.add("method", "PUBLISH")
    document.add("x-wr-calname", name)
    document.add("x-wr-timezone", "Asia/Shanghai")
    for booking in bookings:
        document.add_component(_event(booking))
    for activity in activities:
        document.add_component(_activity_event(activity))
    document.add_missing_timezones()
    written: bytes = document.to_ical()
    return written
