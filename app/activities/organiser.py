"""An activity's organiser's tools: who signed up (masked, also as CSV), and a
message to every participant.

The list is for those who manage the activity (``service.managed``: staff
covering its center, the organising organisation's owner); it shows each
person as staff see bookers elsewhere: the verified name and the phone
number masked, never whole.

A message goes into the inbox of every confirmed or waiting participant, once
a person, in one transaction with its audit event (``activity`` /
``message``). An activity sends at most ``MESSAGES_PER_DAY`` in any 24 hours
(``429 message_limit_reached`` with ``Retry-After``): each one reaches every
participant's inbox and WeChat, spending the subscription credits they
granted, so a handful a day covers changes of room or time while a loop or a
careless organiser cannot flood hundreds of people. The count is the audit
trail's, read under the activity's row lock, so it holds across processes
and two messages at once cannot both be the last one allowed.
"""

import math
from datetime import datetime, timedelta
from typing import Literal

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from app.activities import service
from app.activities.organiser_schemas import ParticipantOut
from app.audit import service as audit
from app.core.clock import SHANGHAI, utcnow
from app.core.errors import AppError, Text
from app.core.spreadsheets import Cell, csv_bytes, safe_cell
from app.identity.principals import Actor
from app.models import ActivitySignup, AuditEvent, NotificationKind, SignupStatus, User
from app.notifications import service as notifications

MESSAGES_PER_DAY = 10
MESSAGE_WINDOW = timedelta(hours=24)
LIVE = (SignupStatus.confirmed, SignupStatus.waiting)


class MessageLimitReached(AppError):
    status = 429
    code = "message_limit_reached"
    title = Text("通知次数已达上限", "Message limit reached")
    detail = Text(
        "每个活动 24 小时内最多发送 {limit} 条通知，请于 {seconds} 秒后再试",
        "An activity sends at most {limit} messages in 24 hours: try again in {seconds} seconds",
    )

    def __init__(self, limit: int, retry_after: int) -> None:
        super().__init__(limit=limit, seconds=retry_after)
        self.headers["Retry-After"] = str(retry_after)


# --- who signed up ----------------------------------------------------------------------


async def participants(
    session: AsyncSession,
    actor: Actor,
    activity_id: int,
    status: SignupStatus | None,
    *,
    limit: int | None = None,
    offset: int = 0,
) -> tuple[list[ParticipantOut], int]:
    """The activity's sign-ups in the order they came (all of them without a
    ``limit``), each person masked, and how many there are."""
    activity = await service.managed(session, actor, activity_id)
    query = (
        select(ActivitySignup, User)
        .join(User, User.id == ActivitySignup.user_id)
        .where(ActivitySignup.activity_id == activity.id)
    )
    if status is not None:
        query = query.where(ActivitySignup.status == status)
    total = await session.scalar(select(func.count()).select_from(query.subquery()))
    page = query.order_by(ActivitySignup.id).offset(offset)
    if limit is not None:
        page = page.limit(limit)
    line = await session.scalars(
        select(ActivitySignup.id)
        .where(
            ActivitySignup.activity_id == activity.id,
            ActivitySignup.status == SignupStatus.waiting,
        )
        .order_by(ActivitySignup.id)
    )
    positions = {signup_id: place for place, signup_id in enumerate(line, start=1)}
    rows = [
        ParticipantOut(
            id=signup.id,
            name_masked=user.name_masked,
            phone_masked=user.phone_masked,
            attendees=signup.attendees,
            status=signup.status,
            position=positions.get(signup.id),
            created_at=signup.created_at,
            checked_in_at=signup.checked_in_at,
        )
        for signup, user in await session.execute(page)
    ]
    return rows, int(total or 0)


COLUMNS = list(ParticipantOut.model_fields)
HEADERS_ZH = {
    "id": "报名编号",
    "name_masked": "姓名",
    "phone_masked": "手机号",
    "attendees": "人数",
    "status": "状态",
    "position": "候补序号",
    "created_at": "报名时间",
    "checked_in_at": "签到时间",
}
STATUS_ZH = {
    SignupStatus.confirmed: "已确认",
    SignupStatus.waiting: "候补",
    SignupStatus.cancelled: "已取消",
}


def as_csv(
    activity_id: int, rows: list[ParticipantOut], lang: Literal["zh", "en"] = "zh"
) -> tuple[bytes, str]:
    """The participants as CSV, as the reports are (``app/reports/exports.py``):
    a byte-order mark for Excel, every cell through ``safe_cell``, the header
    Chinese unless ``lang="en"`` (the JSON's field names), times in Shanghai."""
    header: list[Cell] = list(
        COLUMNS if lang == "en" else [HEADERS_ZH[column] for column in COLUMNS]
    )
    body = csv_bytes([header, *(_cells(row, lang) for row in rows)])
    return body, f"activity-{activity_id}-signups.csv"


def _cells(row: ParticipantOut, lang: Literal["zh", "en"]) -> list[Cell]:
    values: dict[str, Cell] = {
        **row.model_dump(exclude={"status", "created_at", "checked_in_at"}),
        "status": STATUS_ZH[row.status] if lang == "zh" else row.status.value,
        "created_at": _local(row.created_at),
        "checked_in_at": _local(row.checked_in_at),
    }
    return [safe_cell(values[column]) for column in COLUMNS]


def _local(instant: datetime | None) -> str | None:
    return None if instant is None else f"{instant.astimezone(SHANGHAI):%Y-%m-%d %H:%M}"


# --- a message to every participant ---------------------------------------------------


async def send_message(session: AsyncSession, actor: Actor, activity_id: int, text: str) -> int:
    """Tell every confirmed or waiting participant ``text``, once each; how many."""
    activity = await service.managed(session, actor, activity_id, for_update=True)
    now = utcnow()
    sent = list(
        await session.scalars(
            select(AuditEvent.occurred_at)
            .where(
                AuditEvent.entity == "activity",
                AuditEvent.entity_id == activity.id,
                AuditEvent.action == "message",
                AuditEvent.occurred_at > now - MESSAGE_WINDOW,
            )
            .order_by(AuditEvent.occurred_at)
        )
    )
    if len(sent) >= MESSAGES_PER_DAY:
        frees_at = sent[len(sent) - MESSAGES_PER_DAY] + MESSAGE_WINDOW
        retry_after = max(1, math.ceil((frees_at - now).total_seconds()))
        raise MessageLimitReached(MESSAGES_PER_DAY, retry_after)
    recipients = list(
        await session.scalars(
            select(ActivitySignup.user_id)
            .where(ActivitySignup.activity_id == activity.id, ActivitySignup.status.in_(LIVE))
            .group_by(ActivitySignup.user_id)
            .order_by(func.min(ActivitySignup.id))
        )
    )
    values = {**await service.message_values(session, activity), "text": text}
    for user_id in recipients:
        notifications.tell_user(
            session,
            NotificationKind.activity_message,
            user_id,
            dict(values),
            now,
            center_id=activity.center_id,
            activity_id=activity.id,
        )
    audit.record(
        session,
        actor,
        entity="activity",
        entity_id=activity.id,
        action="message",
        from_status=None,
        to_status=None,
        reason=f"{len(recipients)} 人：{text}"[:200],
    )
    return len(recipients)
