"""Uploads (README, "Uploads"): images only, their type read from their first
bytes (never from the name or the client's ``Content-Type``), at most
``ZHENDI_UPLOAD_MAX_BYTES``; each owned by its uploader, who alone may attach
it (to a suggestion)."""

import secrets
from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from app.core.errors import AppError, NotFound, Text
from app.models import Upload, User
from app.uploads.storage import Storage

UPLOAD = Text("上传文件", "upload")
# The image types accepted, by their magic numbers.
SIGNATURES: tuple[tuple[str, bytes, int], ...] = (
    ("image/jpeg", b"\xff\xd8\xff", 0),
    ("image/png", b"\x89PNG\r\n\x1a\n", 0),
    ("image/webp", b"WEBP", 8),  # after "RIFF" and the length
)


class ImageTooLarge(AppError):
    status = 413
    code = "image_too_large"
    title = Text("图片过大", "Image too large")
    detail = Text("图片不能超过 {limit} 字节", "An image is at most {limit} bytes")


class UnsupportedImage(AppError):
    status = 415
    code = "unsupported_image"
    title = Text("不支持的图片格式", "Unsupported image")
    detail = Text("只接受 JPEG、PNG 或 WEBP 图片", "Only JPEG, PNG or WebP images are accepted")


class UploadNotYours(AppError):
    status = 422
    code = "upload_not_yours"
    title = Text("图片无效", "Invalid image")
    detail = Text(
        "图片 {upload_id} 不存在、不是您上传的或已被使用",
        "Image {upload_id} does not exist, is not yours, or is already attached",
    )


def sniff(data: bytes) -> str | None:
    """The image type ``data`` starts like, or None."""
    for content_type, magic, at in SIGNATURES:
        if data[at : at + len(magic)] == magic and (at == 0 or data[:4] == b"RIFF"):
            return content_type
    return None


async def upload(
    session: AsyncSession,
    storage: Storage,
    user: User,
    data: bytes,
    *,
    limit: int,
    now: datetime,
) -> Upload:
    if len(data) > limit:
        raise ImageTooLarge(limit=limit)
    content_type = sniff(data)
    if content_type is None:
        raise UnsupportedImage()
    row = Upload(
        user_id=user.id,
        key=secrets.token_hex(16),
        content_type=content_type,
        size=len(data),
        created_at=now,
    )
    session.add(row)
    await session.flush()  # the row first: bytes are stored only for a row that can be
    await storage.put(row.key, data)
    return row


async def attach(
    session: AsyncSession, user: User, upload_ids: Sequence[int], suggestion_id: int
) -> None:
    """Attach the user's own, unattached uploads; any other id is refused."""
    if not upload_ids:
        return
    rows = {
        row.id: row
        for row in await session.scalars(
            select(Upload).where(Upload.id.in_(set(upload_ids))).with_for_update()
        )
    }
    for upload_id in upload_ids:
        row = rows.get(upload_id)
        if row is None or row.user_id != user.id or row.suggestion_id is not None:
            raise UploadNotYours(upload_id=upload_id)
        row.suggestion_id = suggestion_id
    await session.flush()


async def photo_ids(session: AsyncSession, suggestion_ids: Sequence[int]) -> dict[int, list[int]]:
    found: dict[int, list[int]] = {}
    if not suggestion_ids:
        return found
    rows = await session.execute(
        select(Upload.suggestion_id, Upload.id)
        .where(Upload.suggestion_id.in_(set(suggestion_ids)))
        .order_by(Upload.id)
    )
    for suggestion_id, upload_id in rows:
        assert suggestion_id is not None
        found.setdefault(suggestion_id, []).append(upload_id)
    return found


async def owned(session: AsyncSession, user: User, upload_id: int) -> Upload:
    """The user's own upload; anyone else's is as unknown as a missing one."""
    row = await session.get(Upload, upload_id)
    if row is None or row.user_id != user.id:
        raise NotFound(UPLOAD)
    return row


async def content(storage: Storage, row: Upload) -> bytes:
    data = await storage.get(row.key)
    if data is None:
        raise NotFound(UPLOAD)
    return data


async def attached(session: AsyncSession, suggestion_id: int, upload_id: int) -> Upload:
    row = await session.get(Upload, upload_id)
    if row is None or row.suggestion_id != suggestion_id:
        raise NotFound(UPLOAD)
    return row
