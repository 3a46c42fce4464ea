"""Uploads: a signed-in user sends an image (multipart), and reads their own back."""

from typing import Annotated

from fastapi import Depends, File, Response, UploadFile, status

from app.core.clock import utcnow
from app.core.db import SessionDep
from app.core.errors import problem_responses
from app.core.routing import api_router
from app.core.schemas import ResourceId
from app.identity.dependencies import CurrentUser, SettingsDep
from app.uploads import service
from app.uploads.schemas import UploadOut
from app.uploads.storage import Storage, storage_for

router = api_router(tags=["uploads"])


def get_storage(settings: SettingsDep) -> Storage:
    return storage_for(settings)


StorageDep = Annotated[Storage, Depends(get_storage)]


@router.post(
    "/uploads",
    response_model=UploadOut,
    status_code=status.HTTP_201_CREATED,
    responses=problem_responses(413, 415),
)
async def upload(
    file: Annotated[UploadFile, File(description="A JPEG, PNG or WebP image")],
    user: CurrentUser,
    session: SessionDep,
    settings: SettingsDep,
    storage: StorageDep,
) -> UploadOut:
    """Upload an image to attach to a suggestion: its type is read from its
    bytes (415 `unsupported_image` unless JPEG, PNG or WebP), at most
    `ZHENDI_UPLOAD_MAX_BYTES` (413 `image_too_large`). Only you may attach it."""
    data = await file.read(settings.upload_max_bytes + 1)
    row = await service.upload(
        session, storage, user, data, limit=settings.upload_max_bytes, now=utcnow()
    )
    return UploadOut.model_validate(row)


@router.get("/uploads/{upload_id}", response_class=Response)
async def read_upload(
    upload_id: ResourceId, user: CurrentUser, session: SessionDep, storage: StorageDep
) -> Response:
    """One of your own images."""
    row = await service.owned(session, user, upload_id)
    return Response(
        await service.content(storage, row),
        media_type=row.content_type,
        headers={"Cache-Control": "private, no-store", "X-Content-Type-Options": "nosniff"},
    )
