"""``GET /admin/audit``: the audit trail, as far as the caller's scope reaches,
as JSON pages or a CSV export; every read is audited (app/audit/reading.py)."""

from enum import StrEnum
from typing import Annotated, Any

from fastapi import Query, Response
from fastapi.responses import JSONResponse

from app.audit import reading
from app.audit.reasons import told
from app.audit.schemas import AuditEventOut
from app.core.db import SessionDep
from app.core.errors import problem_responses
from app.core.routing import api_router
from app.core.schemas import MAX_ID, Instant, Limit, Offset, Page
from app.core.spreadsheets import Cell, csv_bytes, safe_cell
from app.identity.dependencies import CurrentStaff
from app.models import ActorKind, AuditEvent

router = api_router("/admin", tags=["admin"])

Word = Annotated[str | None, Query(max_length=30, pattern=r"^[a-z_]+$")]
Id = Annotated[int | None, Query(ge=1, le=MAX_ID)]
CSV_HEADER = (
    "id", "occurred_at", "actor_kind", "actor_id", "actor_username", "entity", "entity_id",
    "action", "from_status", "to_status", "reason",
)  # fmt: skip


class Format(StrEnum):
    json = "json"
    csv = "csv"


def event_out(event: AuditEvent, username: str | None) -> AuditEventOut:
    return AuditEventOut(
        id=event.id,
        occurred_at=event.occurred_at,
        actor_kind=event.actor_kind,
        actor_id=event.actor_id,
        actor_username=username,
        entity=event.entity,
        entity_id=event.entity_id,
        action=event.action,
        from_status=event.from_status,
        to_status=event.to_status,
        reason=told(event.reason),
        details=event.details,
    )


def _csv_row(out: AuditEventOut) -> list[Cell]:
    values: list[Any] = [getattr(out, name) for name in CSV_HEADER]
    values[1] = out.occurred_at.isoformat()
    values[2] = out.actor_kind.value
    return [safe_cell(value) for value in values]


def as_csv(items: list[AuditEventOut]) -> bytes:
    """The events as the CSV both downloads answer, every cell through ``safe_cell``."""
    return csv_bytes([CSV_HEADER, *(_csv_row(item) for item in items)])


@router.get(
    "/audit",
    response_model=Page[AuditEventOut],
    responses={
        **problem_responses(403, 422),
        200: {"content": {"text/csv": {"schema": {"type": "string"}}}},
    },
)
async def read_audit_trail(
    staff: CurrentStaff,
    session: SessionDep,
    entity: Word = None,
    entity_id: Id = None,
    actor_kind: ActorKind | None = None,
    actor_id: Id = None,
    action: Word = None,
    since: Annotated[Instant | None, Query(alias="from")] = None,
    until: Annotated[Instant | None, Query(alias="to")] = None,
    limit: Limit = 50,
    offset: Offset = 0,
    format: Format = Format.json,
) -> Response:
    """Who changed what, newest first: a super admin every event, other staff
    the events about what lies in their scope and their own acts (README,
    "The audit trail"); ``from`` inclusive, ``to`` exclusive. ``format=csv``
    exports up to 10,000 events matching the filters (``limit`` and
    ``offset`` do not apply). Every read is itself audited."""
    query = reading.AuditQuery(
        entity=entity, entity_id=entity_id, actor_kind=actor_kind, actor_id=actor_id,
        action=action, since=since, until=until,
    )  # fmt: skip
    export = format is Format.csv
    rows, total = await reading.search(
        session, staff, query,
        limit=reading.MAX_EXPORT if export else limit, offset=0 if export else offset,
        export=export,
    )  # fmt: skip
    items = [event_out(event, username) for event, username in rows]
    if export:
        body = as_csv(items)
        return Response(
            body,
            media_type="text/csv; charset=utf-8",
            headers={"Content-Disposition": 'attachment; filename="audit.csv"'},
        )
    page = Page[AuditEventOut](items=items, total=total, limit=limit, offset=offset)
    return JSONResponse(page.model_dump(mode="json"))
