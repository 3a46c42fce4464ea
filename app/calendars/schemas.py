from pydantic import BaseModel, Field


class CalendarFeedOut(BaseModel):
    url: str = Field(
        description="Subscribe to this in a calendar app; anyone with it sees your bookings"
    )
    token: str = Field(description="Shown once; POST again for a new one, DELETE to stop the feed")
