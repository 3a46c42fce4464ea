"""Doors and their keypads: staff register doors and clear lockouts; a lock
proves it is a door with its own device key."""

import hashlib
import hmac
import secrets
from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from app.access.keypad import ensure_keypad, lock_keypad
from app.audit import service as audit
from app.core.clock import utcnow
from app.core.errors import NotAuthenticated, NotFound, Text
from app.identity.principals import StaffPrincipal
from app.models import Door, Keypad
from app.spaces.service import get_space_in_scope

DOOR = Text("门禁", "door")


class InvalidDeviceKey(NotAuthenticated):
    code = "invalid_device_key"
    title = Text("设备密钥无效", "Invalid device key")
    detail = Text("门禁设备认证失败", "The lock could not be authenticated")

    def __init__(self) -> None:
        super().__init__()
        self.headers["WWW-Authenticate"] = "Device"


def device_key_hash(device_key: str) -> str:
    """How a door's key is stored: 256 random bits need no slow hash."""
    return hashlib.sha256(device_key.encode()).hexdigest()


def new_device_key() -> str:
    return secrets.token_urlsafe(32)


async def create_door(
    session: AsyncSession, staff: StaffPrincipal, space_id: int, name: str
) -> tuple[Door, str]:
    space = await get_space_in_scope(session, staff, space_id)
    device_key = new_device_key()
    door = Door(
        space_id=space.id,
        name=name,
        device_key_hash=device_key_hash(device_key),
        is_active=True,
    )
    session.add(door)
    await ensure_keypad(session, space.id)
    await session.flush()
    return door, device_key


async def _door_in_scope(session: AsyncSession, staff: StaffPrincipal, door_id: int) -> Door:
    door = await session.scalar(select(Door).where(Door.id == door_id).with_for_update())
    if door is None:
        raise NotFound(DOOR)
    await get_space_in_scope(session, staff, door.space_id)
    return door


async def keypad_lockouts(
    session: AsyncSession, space_ids: Sequence[int]
) -> dict[int, datetime | None]:
    rows = await session.execute(
        select(Keypad.space_id, Keypad.locked_until).where(Keypad.space_id.in_(space_ids))
    )
    return {row.space_id: row.locked_until for row in rows}


async def rotate_door_key(
    session: AsyncSession, staff: StaffPrincipal, door_id: int
) -> tuple[Door, str]:
    """A new device key; the old one stops working at once."""
    door = await _door_in_scope(session, staff, door_id)
    device_key = new_device_key()
    door.device_key_hash = device_key_hash(device_key)
    audit.record(
        session,
        staff,
        entity="door",
        entity_id=door.id,
        action="rotate_key",
        from_status=None,
        to_status=None,
    )
    await session.flush()
    return door, device_key


async def clear_lockout(session: AsyncSession, staff: StaffPrincipal, door_id: int) -> Door:
    """Staff reopen the keypad of the door's space (after checking on site): the
    lockout ends and the wrong codes typed so far stop counting."""
    door = await _door_in_scope(session, staff, door_id)
    keypad = await lock_keypad(session, door.space_id)
    keypad.locked_until = None
    keypad.cleared_at = utcnow()
    keypad.version += 1
    audit.record(
        session,
        staff,
        entity="door",
        entity_id=door.id,
        action="clear_lockout",
        from_status=None,
        to_status=None,
    )
    await session.flush()
    return door


async def list_doors(session: AsyncSession, staff: StaffPrincipal, space_id: int) -> Sequence[Door]:
    space = await get_space_in_scope(session, staff, space_id)
    query = select(Door).where(Door.space_id == space.id).order_by(Door.id)
    return (await session.scalars(query)).all()


async def authenticate_door(session: AsyncSession, door_id: int, device_key: str) -> Door:
    """The door, locked for this attempt, if ``device_key`` is its key.

    An unknown door and a wrong key look the same, and the comparison takes
    constant time.
    """
    door = await session.scalar(
        select(Door).where(Door.id == door_id, Door.is_active.is_(True)).with_for_update()
    )
    expected = door.device_key_hash if door is not None else device_key_hash("no such door")
    if not hmac.compare_digest(expected, device_key_hash(device_key)) or door is None:
        raise InvalidDeviceKey()
    return door
