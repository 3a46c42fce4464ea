"""The check-in QR code printed in a room: scanning it in the mini-program and
sending its token checks the owner's booking in (``POST /reservations/{id}/
check-in``). Staff print it, and rotate it when a copy has left the room;
the old token stops working at once."""

import hmac
from dataclasses import dataclass

import segno
from sqlalchemy.ext.asyncio import AsyncSession

from app.audit import service as audit
from app.identity.principals import StaffPrincipal
from app.models import Space, new_check_in_token
from app.spaces.service import get_space_in_scope

# What the QR code holds; the mini-program reads the space and the token from it.
PREFIX = "zhendi-check-in"


@dataclass(frozen=True)
class CheckInQr:
    token: str
    svg: str


def _draw(space: Space) -> CheckInQr:
    assert space.check_in_token is not None
    code = segno.make(f"{PREFIX}:{space.id}:{space.check_in_token}", error="m")
    return CheckInQr(space.check_in_token, code.svg_inline(scale=8, border=2))


async def read(session: AsyncSession, staff: StaffPrincipal, space_id: int) -> CheckInQr:
    """The space's QR code, made on first asking."""
    space = await get_space_in_scope(session, staff, space_id, for_update=True)
    if space.check_in_token is None:
        space.check_in_token = new_check_in_token()
        await session.flush()
    return _draw(space)


async def rotate(session: AsyncSession, staff: StaffPrincipal, space_id: int) -> CheckInQr:
    space = await get_space_in_scope(session, staff, space_id, for_update=True)
    space.check_in_token = new_check_in_token()
    audit.record(
        session,
        staff,
        entity="space",
        entity_id=space.id,
        action="rotate_check_in_qr",
        from_status=None,
        to_status=None,
    )
    await session.flush()
    return _draw(space)


def token_matches(space_token: str | None, given: str) -> bool:
    # As bytes: compare_digest refuses non-ASCII strings, and a token typed by
    # hand may hold anything.
    return space_token is not None and hmac.compare_digest(space_token.encode(), given.encode())
