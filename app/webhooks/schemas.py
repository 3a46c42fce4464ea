"""Webhook endpoints and their deliveries as the admin API reads and writes them."""

from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from app.core.schemas import LocalInstant, Printable, ShortText
from app.models import WebhookEvent, WebhookStatus

WebhookUrl = Annotated[
    str,
    StringConstraints(strip_whitespace=True, min_length=8, max_length=500, pattern=r"^\S+$"),
    Printable,
]


class WebhookCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    url: WebhookUrl
    events: Annotated[list[WebhookEvent], Field(min_length=1, max_length=len(WebhookEvent))]
    description: ShortText | None = None


class WebhookOut(BaseModel):
    id: int
    url: str
    events: list[WebhookEvent]
    description: str
    staff_id: int  # its owner: it receives the events of the centers in their scope
    is_active: bool
    created_at: LocalInstant


class WebhookWithSecret(BaseModel):
    """A new endpoint: its signing secret (Standard Webhooks, ``whsec_…``) is
    shown this once."""

    webhook: WebhookOut
    secret: str


class DeliveryOut(BaseModel):
    id: int
    message_id: str  # the ``webhook-id`` header, the same on every attempt
    event: WebhookEvent
    center_id: int | None
    data: dict[str, Any]
    status: WebhookStatus
    attempts: int
    next_attempt_at: LocalInstant | None
    delivered_at: LocalInstant | None
    last_status_code: int | None
    last_error: str | None
    created_at: LocalInstant
