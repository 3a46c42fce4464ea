"""The screen at a space's door (门口屏).

A tablet at the door shows today's timeline, who is expected next (masked),
the places free now, the check-in QR code and the house rules. It proves
itself with a device key, as a door's keypad does: 256 random bits, stored
hashed, issued (and re-issued, which retires the old one) by staff in scope.
"""

import hmac
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from app.access.doors import device_key_hash, new_device_key
from app.audit import service as audit
from app.core.clock import SHANGHAI, local_today, utcnow
from app.core.db import Database
from app.core.errors import NotAuthenticated, Text
from app.identity.principals import StaffPrincipal
from app.identity.shown import masked
from app.models import HOLDING_STATUSES, Organization, Reservation, Space, User
from app.spaces import availability, occupancy
from app.spaces.check_in_qr import PREFIX, qr_svg
from app.spaces.service import get_space_in_scope

# The page's own address, relative: the screen names no other host.
PAGE = "/kiosk/spaces/{space_id}"


class InvalidKioskKey(NotAuthenticated):
    code = "invalid_kiosk_key"
    title = Text("门口屏密钥无效", "Invalid screen key")
    detail = Text(
        "门口屏设备认证失败，请向工作人员索取新的链接", "The screen could not be authenticated"
    )


@dataclass(frozen=True)
class IssuedKey:
    space_id: int
    key: str

    @property
    def url(self) -> str:
        return f"{PAGE.format(space_id=self.space_id)}?key={self.key}"


async def issue_key(session: AsyncSession, staff: StaffPrincipal, space_id: int) -> IssuedKey:
    """A new key for the space's screen; the one before stops working at once."""
    space = await get_space_in_scope(session, staff, space_id, for_update=True)
    key = new_device_key()
    space.kiosk_key_hash = device_key_hash(key)
    audit.record(
        session,
        staff,
        entity="space",
        entity_id=space.id,
        action="issue_kiosk_key",
        from_status=None,
        to_status=None,
    )
    await session.flush()
    return IssuedKey(space.id, key)


async def authenticate(session: AsyncSession, space_id: int, key: str) -> Space:
    """The active space whose screen key is ``key``; the same refusal for an
    unknown space, a space without a screen and a wrong key."""
    space = await session.get(Space, space_id)
    expected = (space.kiosk_key_hash if space else None) or device_key_hash("no screen")
    if not hmac.compare_digest(expected, device_key_hash(key)) or space is None:
        raise InvalidKioskKey()
    if not space.is_active or space.kiosk_key_hash is None:
        raise InvalidKioskKey()
    return space


async def _expected_next(
    session: AsyncSession, space_id: int, now: datetime
) -> dict[str, Any] | None:
    """The next booking to begin, with its holder masked."""
    row = (
        await session.execute(
            select(Reservation, User, Organization.name)
            .outerjoin(User, User.id == Reservation.user_id)
            .outerjoin(Organization, Organization.id == Reservation.organization_id)
            .where(
                Reservation.space_id == space_id,
                Reservation.status.in_(HOLDING_STATUSES),
                Reservation.starts_at >= now,
            )
            .order_by(Reservation.starts_at, Reservation.id)
            .limit(1)
        )
    ).first()
    if row is None:
        return None
    reservation, user, organization = row
    event = user is None and reservation.public  # the center's own, its title public
    return {
        "start": reservation.starts_at.astimezone(SHANGHAI).isoformat(),
        "end": reservation.ends_at.astimezone(SHANGHAI).isoformat(),
        "who": reservation.title if event else masked(user, organization),
    }


async def state(database: Database, space_id: int, key: str) -> dict[str, Any]:
    """What the screen shows now (``GET /kiosk/spaces/{id}/state``)."""
    now = utcnow()
    async with database.reader.begin() as session:
        space = await authenticate(session, space_id, key)
        name, rules, token = space.name, space.description, space.check_in_token
        expected = await _expected_next(session, space.id, now)
    live = await occupancy.occupancy(database, space_id, now)
    today = local_today(now)
    day = await availability.load_day(database, space_id, today)
    timeline = [
        {"start": slot.start_text, "end": slot.end_text, "status": status}
        for slot, status, _, _ in availability.slot_statuses(day, today, now)
    ]
    return {
        "space": {"id": space_id, "name": name, "rules": rules},
        "now": now.astimezone(SHANGHAI).isoformat(),
        "occupancy": live.model_dump(mode="json"),
        "timeline": timeline,
        "next": expected,
        "check_in_qr": qr_svg(f"{PREFIX}:{space_id}:{token}") if token else None,
    }
