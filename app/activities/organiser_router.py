"""The organiser's tools for an activity: its participants, and a message to them."""

from enum import StrEnum
from typing import Annotated, Literal

from fastapi import Query, Response

from app.activities import organiser
from app.activities.organiser_schemas import MessageIn, MessageSent, ParticipantOut
from app.core.db import SessionDep
from app.core.routing import api_router
from app.core.schemas import Limit, Offset, Page, ResourceId
from app.identity.dependencies import CurrentActor
from app.models import SignupStatus

router = api_router("/activities", tags=["activities"])


class Format(StrEnum):
    json = "json"
    csv = "csv"


@router.get(
    "/{activity_id}/signups",
    response_model=Page[ParticipantOut],
    responses={200: {"content": {"text/csv": {"schema": {"type": "string"}}}}},
)
async def list_participants(
    activity_id: ResourceId,
    actor: CurrentActor,
    session: SessionDep,
    status: SignupStatus | None = None,
    format: Format = Format.json,
    lang: Annotated[
        Literal["zh", "en"], Query(description="The language of a CSV's header row")
    ] = "zh",
    limit: Limit = 50,
    offset: Offset = 0,
) -> Response | Page[ParticipantOut]:
    """The activity's sign-ups, in the order they came, for its organiser and the
    staff covering its center: each person's name and phone masked. With
    `format=csv`, all of them (`limit` and `offset` aside) as a spreadsheet."""
    if format is Format.csv:
        rows, _ = await organiser.participants(session, actor, activity_id, status)
        body, filename = organiser.as_csv(activity_id, rows, lang)
        return Response(
            body,
            media_type="text/csv; charset=utf-8",
            headers={"Content-Disposition": f'attachment; filename="{filename}"'},
        )
    items, total = await organiser.participants(
        session, actor, activity_id, status, limit=limit, offset=offset
    )
    return Page(items=items, total=total, limit=limit, offset=offset)


@router.post("/{activity_id}/messages", response_model=MessageSent)
async def send_message(
    activity_id: ResourceId, body: MessageIn, actor: CurrentActor, session: SessionDep
) -> MessageSent:
    """Tell every confirmed and waiting participant something (into their inbox,
    and WeChat where they allowed it), once each. At most 10 messages an
    activity in any 24 hours: `429 message_limit_reached` with `Retry-After`."""
    sent = await organiser.send_message(session, actor, activity_id, body.text)
    return MessageSent(sent=sent)
