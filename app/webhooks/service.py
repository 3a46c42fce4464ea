"""Webhook endpoints (README, "Webhooks").

Super and district admins register endpoints; each receives the events it
subscribed to, of the centers in its owner's scope (app/webhooks/outbox.py).
The signing secret is generated, shown once, and kept sealed. One sees and
retries the deliveries of one's own endpoints; a super admin every one's.
"""

import base64
import secrets
from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy import ColumnElement, delete, func, select, true
from sqlalchemy.ext.asyncio import AsyncSession

from app.audit import service as audit
from app.core.clock import utcnow
from app.core.config import Settings
from app.core.crypto import PiiCipher, Sealed
from app.core.errors import Forbidden, NotFound, Text
from app.identity.principals import StaffPrincipal
from app.models import (
    StaffRole,
    WebhookDelivery,
    WebhookEndpoint,
    WebhookEvent,
    WebhookStatus,
    WebhookSubscription,
)
from app.webhooks import addresses
from app.webhooks.schemas import WebhookCreate

ENTITY = "webhook"
SECRET_PURPOSE = "webhook secret"
OWNERS = frozenset({StaffRole.super_admin, StaffRole.district_admin})
NOT_AN_OWNER = Text(
    "只有超级管理员和区级管理员可登记回调地址",
    "Only super admins and district admins register webhooks",
)
WEBHOOK = Text("回调地址", "webhook")
DELIVERY = Text("推送记录", "webhook delivery")


@dataclass(frozen=True)
class Endpoint:
    endpoint: WebhookEndpoint
    events: list[WebhookEvent]


def new_secret() -> str:
    """A Standard Webhooks secret: ``whsec_`` and 24 random bytes in base64."""
    return "whsec_" + base64.b64encode(secrets.token_bytes(24)).decode()


def open_secret(cipher: PiiCipher, endpoint: WebhookEndpoint) -> str:
    return cipher.open(SECRET_PURPOSE, _sealed(endpoint))


def _sealed(endpoint: WebhookEndpoint) -> Sealed:
    return Sealed(endpoint.secret_sealed, endpoint.key_version)


def _require_owner(staff: StaffPrincipal) -> None:
    if staff.role not in OWNERS:
        raise Forbidden(NOT_AN_OWNER)


async def register(
    session: AsyncSession,
    settings: Settings,
    cipher: PiiCipher,
    staff: StaffPrincipal,
    body: WebhookCreate,
) -> tuple[Endpoint, str]:
    """A new endpoint and its secret (the only time it is shown)."""
    _require_owner(staff)
    await addresses.check(
        body.url,
        private_allowed=settings.webhooks_reach_private,
        timeout=settings.webhook_timeout_seconds,
    )
    secret = new_secret()
    sealed = cipher.seal(SECRET_PURPOSE, secret)
    endpoint = WebhookEndpoint(
        staff_id=staff.id,
        url=body.url,
        description=body.description or "",
        secret_sealed=sealed.ciphertext,
        key_version=sealed.key_version,
        is_active=True,
    )
    session.add(endpoint)
    await session.flush()
    events = sorted(set(body.events))
    session.add_all(WebhookSubscription(endpoint_id=endpoint.id, event=event) for event in events)
    audit.record(
        session,
        staff,
        entity=ENTITY,
        entity_id=endpoint.id,
        action="create",
        from_status=None,
        to_status=None,
    )
    await session.flush()
    return Endpoint(endpoint, events), secret


def _visible(staff: StaffPrincipal) -> ColumnElement[bool]:
    """A super admin sees every endpoint; a district admin their own."""
    return true() if staff.is_super_admin else WebhookEndpoint.staff_id == staff.id


async def list_endpoints(session: AsyncSession, staff: StaffPrincipal) -> list[Endpoint]:
    _require_owner(staff)
    rows = (
        await session.scalars(
            select(WebhookEndpoint).where(_visible(staff)).order_by(WebhookEndpoint.id)
        )
    ).all()
    events = await _events(session, [row.id for row in rows])
    return [Endpoint(row, events.get(row.id, [])) for row in rows]


async def _events(session: AsyncSession, ids: Sequence[int]) -> dict[int, list[WebhookEvent]]:
    found: dict[int, list[WebhookEvent]] = {}
    if ids:
        rows = await session.execute(
            select(WebhookSubscription.endpoint_id, WebhookSubscription.event)
            .where(WebhookSubscription.endpoint_id.in_(ids))
            .order_by(WebhookSubscription.event)
        )
        for endpoint_id, event in rows:
            found.setdefault(endpoint_id, []).append(event)
    return found


async def _endpoint(
    session: AsyncSession, staff: StaffPrincipal, endpoint_id: int
) -> WebhookEndpoint:
    _require_owner(staff)
    endpoint = await session.scalar(
        select(WebhookEndpoint).where(WebhookEndpoint.id == endpoint_id, _visible(staff))
    )
    if endpoint is None:
        raise NotFound(WEBHOOK)
    return endpoint


async def deactivate(session: AsyncSession, staff: StaffPrincipal, endpoint_id: int) -> None:
    """Stop an endpoint: nothing more is queued for it, and what is queued is dropped."""
    endpoint = await _endpoint(session, staff, endpoint_id)
    endpoint.is_active = False
    endpoint.updated_at = utcnow()
    await session.execute(
        delete(WebhookDelivery).where(
            WebhookDelivery.endpoint_id == endpoint.id,
            WebhookDelivery.status == WebhookStatus.queued,
        )
    )
    audit.record(
        session,
        staff,
        entity=ENTITY,
        entity_id=endpoint.id,
        action="deactivate",
        from_status=None,
        to_status=None,
    )
    await session.flush()


async def deliveries(
    session: AsyncSession, staff: StaffPrincipal, endpoint_id: int, *, limit: int, offset: int
) -> tuple[list[WebhookDelivery], int]:
    """An endpoint's deliveries, newest first."""
    endpoint = await _endpoint(session, staff, endpoint_id)
    where = WebhookDelivery.endpoint_id == endpoint.id
    total = await session.scalar(select(func.count()).select_from(WebhookDelivery).where(where))
    rows = await session.scalars(
        select(WebhookDelivery)
        .where(where)
        .order_by(WebhookDelivery.id.desc())
        .limit(limit)
        .offset(offset)
    )
    return list(rows.all()), total or 0


async def retry(session: AsyncSession, staff: StaffPrincipal, delivery_id: int) -> WebhookDelivery:
    """Queue a delivery again, now, with a fresh schedule of retries (a dead
    letter, or one delivered that the receiver lost)."""
    delivery = await session.scalar(
        select(WebhookDelivery).where(WebhookDelivery.id == delivery_id).with_for_update()
    )
    if delivery is None:
        raise NotFound(DELIVERY)
    await _endpoint(session, staff, delivery.endpoint_id)  # in scope, or not found
    if delivery.status is not WebhookStatus.queued:
        delivery.status = WebhookStatus.queued
        delivery.attempts = 0
        delivery.next_attempt_at = utcnow()
        audit.record(
            session,
            staff,
            entity=ENTITY,
            entity_id=delivery.endpoint_id,
            action="retry",
            from_status=None,
            to_status=None,
        )
        await session.flush()
    return delivery
