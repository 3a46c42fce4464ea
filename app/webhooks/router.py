"""Webhooks: endpoints registered by super and district admins, their
deliveries, and retrying one (``/admin/webhooks``)."""

from fastapi import Response, status

from app.core.db import SessionDep
from app.core.errors import problem_responses
from app.core.routing import api_router
from app.core.schemas import Limit, Offset, Page, ResourceId
from app.identity.dependencies import CipherDep, CurrentStaff, SettingsDep
from app.models import WebhookDelivery
from app.webhooks import service
from app.webhooks.delivery import message_id
from app.webhooks.schemas import DeliveryOut, WebhookCreate, WebhookOut, WebhookWithSecret

router = api_router("/admin/webhooks", tags=["admin"])


def _out(found: service.Endpoint) -> WebhookOut:
    endpoint = found.endpoint
    return WebhookOut(
        id=endpoint.id,
        url=endpoint.url,
        events=found.events,
        description=endpoint.description,
        staff_id=endpoint.staff_id,
        is_active=endpoint.is_active,
        created_at=endpoint.created_at,
    )


def _delivery_out(delivery: WebhookDelivery) -> DeliveryOut:
    return DeliveryOut(
        id=delivery.id,
        message_id=message_id(delivery.id),
        event=delivery.event,
        center_id=delivery.center_id,
        data=delivery.data,
        status=delivery.status,
        attempts=delivery.attempts,
        next_attempt_at=delivery.next_attempt_at,
        delivered_at=delivery.delivered_at,
        last_status_code=delivery.last_status_code,
        last_error=delivery.last_error,
        created_at=delivery.created_at,
    )


@router.post(
    "",
    response_model=WebhookWithSecret,
    status_code=status.HTTP_201_CREATED,
    responses=problem_responses(403, 422),
)
async def register_webhook(
    body: WebhookCreate,
    staff: CurrentStaff,
    session: SessionDep,
    settings: SettingsDep,
    cipher: CipherDep,
) -> WebhookWithSecret:
    """Register an endpoint for the events of the centers in your scope. The
    answer carries its signing secret, shown this once."""
    found, secret = await service.register(session, settings, cipher, staff, body)
    return WebhookWithSecret(webhook=_out(found), secret=secret)


@router.get("", response_model=list[WebhookOut], responses=problem_responses(403))
async def list_webhooks(staff: CurrentStaff, session: SessionDep) -> list[WebhookOut]:
    """Your endpoints (a super admin: everyone's), without their secrets."""
    return [_out(found) for found in await service.list_endpoints(session, staff)]


@router.delete(
    "/{webhook_id}",
    status_code=status.HTTP_204_NO_CONTENT,
    responses=problem_responses(403, 404),
)
async def deactivate_webhook(
    webhook_id: ResourceId, staff: CurrentStaff, session: SessionDep
) -> Response:
    """Stop an endpoint: nothing more is sent to it; its history stays."""
    await service.deactivate(session, staff, webhook_id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.get(
    "/{webhook_id}/deliveries",
    response_model=Page[DeliveryOut],
    responses=problem_responses(403, 404),
)
async def list_deliveries(
    webhook_id: ResourceId,
    staff: CurrentStaff,
    session: SessionDep,
    limit: Limit = 50,
    offset: Offset = 0,
) -> Page[DeliveryOut]:
    """An endpoint's deliveries, newest first: queued, delivered or dead."""
    rows, total = await service.deliveries(session, staff, webhook_id, limit=limit, offset=offset)
    return Page(items=[_delivery_out(row) for row in rows], total=total, limit=limit, offset=offset)


@router.post(
    "/deliveries/{delivery_id}/retry",
    response_model=DeliveryOut,
    responses=problem_responses(403, 404),
)
async def retry_delivery(
    delivery_id: ResourceId, staff: CurrentStaff, session: SessionDep
) -> DeliveryOut:
    """Send a delivery again now, with a fresh schedule of retries."""
    return _delivery_out(await service.retry(session, staff, delivery_id))
