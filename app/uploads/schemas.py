from pydantic import BaseModel, ConfigDict

from app.core.schemas import LocalInstant


class UploadOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    content_type: str
    size: int
    created_at: LocalInstant
