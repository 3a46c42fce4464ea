from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field

from app.core.schemas import LocalInstant, Page
from app.models import Delivery, NotificationKind


class NotificationOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    kind: NotificationKind
    title: str
    body: str
    reservation_id: int | None
    organization_id: int | None
    created_at: LocalInstant
    read_at: LocalInstant | None


class NotificationPage(Page[NotificationOut]):
    unread: int  # of all the recipient's notifications, whatever the filter


class FailedNotificationOut(NotificationOut):
    """A dead letter: what WeChat could not take, and why."""

    user_id: int | None
    delivery: Delivery
    template_id: str | None
    attempts: int
    last_error: str | None


class ReadAllOut(BaseModel):
    marked: int


TemplateId = Annotated[str, Field(min_length=1, max_length=64)]


class SubscriptionResults(BaseModel):
    """What ``wx.requestSubscribeMessage`` resolved with, per template id (its
    ``errMsg`` left out)."""

    model_config = ConfigDict(extra="forbid")

    results: Annotated[
        dict[TemplateId, Literal["accept", "reject", "ban", "filter"]],
        Field(min_length=1, max_length=20),
    ]


class CreditOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    template_id: str
    credits: int
    last_result: str
    updated_at: LocalInstant


class SubscriptionsOut(BaseModel):
    templates: list[CreditOut]
