"""Placeholder accounts: residents staff booked for by name and phone, who
have no WeChat account yet (app/admin/bookings.py).

A placeholder is a ``users`` row with ``is_placeholder``, the name and phone
sealed like any personal data (``phones.py``; the name as a real name is,
yet never real-name verified) and an openid no login can present. The first
account that binds the same phone claims it: the placeholder's bookings and
notifications become that account's and the placeholder is gone, so one
person keeps one account (docs/ARCHITECTURE.md, "Staff bookings and center
events").
"""

from datetime import datetime
from uuid import uuid4

from sqlalchemy import delete, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from app.core.crypto import PiiCipher
from app.identity import id_numbers, phones
from app.identity import service as identity
from app.models import Notification, Reservation, User

# No WeChat openid has a colon, so no login can ever present a placeholder's.
OPENID_PREFIX = "placeholder:"


async def bound_to(session: AsyncSession, cipher: PiiCipher, phone: str) -> int | None:
    """The account this phone is bound to: a resident's before a placeholder."""
    return await session.scalar(
        select(User.id)
        .where(
            User.phone_index == cipher.blind_index(phones.PURPOSE, phone),
            User.erased_at.is_(None),
        )
        .order_by(User.is_placeholder, User.id)
        .limit(1)
    )


async def create(session: AsyncSession, cipher: PiiCipher, name: str, phone: str) -> int:
    """A resident's account without WeChat: the name and phone sealed, never
    real-name verified (staff may verify it at the counter)."""
    sealed_name = cipher.seal(identity.NAME_PURPOSE, name)
    user = User(
        openid=f"{OPENID_PREFIX}{uuid4().hex}",
        is_placeholder=True,
        name_sealed=sealed_name.ciphertext,
        pii_key_version=sealed_name.key_version,
        name_masked=id_numbers.mask_name(name),
        real_name_verified=False,
    )
    phones.bind(cipher, user, phone)
    session.add(user)
    await session.flush()
    return user.id


async def claim(session: AsyncSession, user: User, now: datetime) -> list[int]:
    """``user`` has just bound a phone: the placeholders staff made for that
    phone become theirs (their bookings and what they were told), and are
    gone. A real name staff verified at the counter moves over too, unless
    ``user`` has one. Returns the placeholders' ids."""
    if user.is_placeholder or user.phone_index is None:
        return []
    placeholders = (
        await session.scalars(
            select(User)
            .where(
                User.phone_index == user.phone_index,
                User.is_placeholder.is_(True),
                User.id != user.id,
            )
            .order_by(User.id)
            .with_for_update()
        )
    ).all()
    for placeholder in placeholders:
        await session.execute(
            update(Reservation)
            .where(Reservation.user_id == placeholder.id)
            .values(user_id=user.id, updated_at=now)
        )
        await session.execute(
            update(Notification)
            .where(Notification.user_id == placeholder.id)
            .values(user_id=user.id)
        )
        await _take_real_name(session, placeholder, user)
        await session.execute(delete(User).where(User.id == placeholder.id))
    await session.flush()
    return [placeholder.id for placeholder in placeholders]


async def _take_real_name(session: AsyncSession, placeholder: User, user: User) -> None:
    if not placeholder.real_name_verified or user.real_name_verified:
        return
    moved = {
        name: getattr(placeholder, name)
        for name in (
            "id_number_index",
            "id_number_sealed",
            "id_number_masked",
            "name_sealed",
            "name_masked",
            "pii_key_version",
            "real_name_provider",
            "real_name_verified_at",
        )
    }
    identity.clear_real_name(placeholder)
    placeholder.real_name_verified = False
    await session.flush()  # the ID number's index is unique: free it first
    for name, value in moved.items():
        setattr(user, name, value)
    user.real_name_verified = True
