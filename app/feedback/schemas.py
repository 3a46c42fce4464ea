from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from app.core.schemas import LocalInstant, Page, Printable

Comment = Annotated[str, StringConstraints(strip_whitespace=True, max_length=500), Printable]


class FeedbackIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    rating: int = Field(ge=1, le=5, strict=True, description="1 (poor) to 5 (excellent)")
    comment: Comment | None = None


class FeedbackOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    reservation_id: int
    space_id: int
    rating: int
    comment: str | None
    created_at: LocalInstant


class SpaceFeedbackPage(Page[FeedbackOut]):
    average: float | None  # of every rating the space has had (total of them), whatever the page
