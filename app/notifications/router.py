"""The inbox, the subscribe-message credits, and staff's view of dead letters."""

from typing import Annotated

from fastapi import Body

from app.core.clock import utcnow
from app.core.db import SessionDep
from app.core.routing import api_router
from app.core.schemas import Limit, Offset, Page, ResourceId
from app.identity.dependencies import CurrentStaff, CurrentUser, SettingsDep
from app.notifications import service, subscriptions
from app.notifications.schemas import (
    CreditOut,
    FailedNotificationOut,
    NotificationOut,
    NotificationPage,
    ReadAllOut,
    SubscriptionResults,
    SubscriptionsOut,
)

router = api_router(tags=["notifications"])


def _page(
    rows: list[NotificationOut], total: int, unread: int, limit: int, offset: int
) -> NotificationPage:
    return NotificationPage(items=rows, total=total, unread=unread, limit=limit, offset=offset)


@router.get("/me/notifications", response_model=NotificationPage)
async def my_notifications(
    user: CurrentUser,
    session: SessionDep,
    unread: bool | None = None,
    limit: Limit = 20,
    offset: Offset = 0,
) -> NotificationPage:
    """Your notifications, newest first (`unread=true`: only those not read yet)."""
    rows, total, unread_count = await service.inbox(
        session, user_id=user.id, unread=unread, limit=limit, offset=offset
    )
    items = [NotificationOut.model_validate(row) for row in rows]
    return _page(items, total, unread_count, limit, offset)


@router.post("/me/notifications/read-all", response_model=ReadAllOut)
async def read_all(user: CurrentUser, session: SessionDep) -> ReadAllOut:
    return ReadAllOut(marked=await service.mark_all_read(session, user_id=user.id))


@router.post("/me/notifications/{notification_id}/read", response_model=NotificationOut)
async def read_one(
    notification_id: ResourceId, user: CurrentUser, session: SessionDep
) -> NotificationOut:
    notification = await service.mark_read(session, notification_id, user_id=user.id)
    return NotificationOut.model_validate(notification)


@router.post("/me/subscriptions", response_model=SubscriptionsOut)
async def record_subscriptions(
    body: Annotated[SubscriptionResults, Body()],
    user: CurrentUser,
    session: SessionDep,
    settings: SettingsDep,
) -> SubscriptionsOut:
    """Pass on what `wx.requestSubscribeMessage` resolved with: each `accept` lets
    us send you one message of that template."""
    rows = await subscriptions.record(session, settings, user.id, body.results, utcnow())
    return SubscriptionsOut(templates=[CreditOut.model_validate(row) for row in rows])


@router.get("/me/subscriptions", response_model=SubscriptionsOut)
async def my_subscriptions(user: CurrentUser, session: SessionDep) -> SubscriptionsOut:
    rows = await subscriptions.credits_of(session, user.id)
    return SubscriptionsOut(templates=[CreditOut.model_validate(row) for row in rows])


@router.get("/admin/notifications", response_model=NotificationPage, tags=["admin"])
async def staff_notifications(
    staff: CurrentStaff,
    session: SessionDep,
    unread: bool | None = None,
    limit: Limit = 20,
    offset: Offset = 0,
) -> NotificationPage:
    """Your notifications as staff (approval requests at your centers, keypads there
    that keep locking out), newest first."""
    rows, total, unread_count = await service.inbox(
        session, staff_id=staff.id, unread=unread, limit=limit, offset=offset
    )
    items = [NotificationOut.model_validate(row) for row in rows]
    return _page(items, total, unread_count, limit, offset)


@router.post("/admin/notifications/read-all", response_model=ReadAllOut, tags=["admin"])
async def staff_read_all(staff: CurrentStaff, session: SessionDep) -> ReadAllOut:
    return ReadAllOut(marked=await service.mark_all_read(session, staff_id=staff.id))


@router.post(
    "/admin/notifications/{notification_id}/read", response_model=NotificationOut, tags=["admin"]
)
async def staff_read_one(
    notification_id: ResourceId, staff: CurrentStaff, session: SessionDep
) -> NotificationOut:
    notification = await service.mark_read(session, notification_id, staff_id=staff.id)
    return NotificationOut.model_validate(notification)


@router.get(
    "/admin/notifications/failed", response_model=Page[FailedNotificationOut], tags=["admin"]
)
async def failed_notifications(
    staff: CurrentStaff, session: SessionDep, limit: Limit = 50, offset: Offset = 0
) -> Page[FailedNotificationOut]:
    """Messages WeChat could not take (retries ran out, or refused for good), about
    your centers' bookings, newest first. Their inbox entries are there anyway."""
    rows, total = await service.dead_letters(session, staff, limit=limit, offset=offset)
    items = [FailedNotificationOut.model_validate(row) for row in rows]
    return Page(items=items, total=total, limit=limit, offset=offset)
