"""Courses (课程菜单) and their enrolments, as the API takes and shows them."""

from typing import Self

from pydantic import BaseModel, ConfigDict, Field, model_validator

from app.activities.schemas import ActivityOut, PlaceText, Programme, Title
from app.core.schemas import IdField, Instant, LocalInstant
from app.models import ActivityAudience, ActivityCategory, ActivityStatus, SignupStatus

MIN_SESSIONS = 2
MAX_SESSIONS = 52  # a weekly course for a year
MAX_ATTENDEES = 5  # the enrollee and up to four more


class SessionIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    start: Instant = Field(examples=["2026-12-18T19:00:00+08:00"])
    end: Instant = Field(examples=["2026-12-18T20:30:00+08:00"])
    space_id: IdField | None = Field(
        default=None, description="A space of the center, booked by the booking rules"
    )
    title: Title | None = Field(default=None, description="Default: the course's, numbered")
    place_text: PlaceText | None = None

    @model_validator(mode="after")
    def _coherent(self) -> Self:
        if self.end <= self.start:
            raise ValueError("a session's end must be after its start")
        return self


class CourseCreate(Programme):
    title: Title = Field(examples=["市民夜校：书法入门"])
    sessions: list[SessionIn] = Field(
        min_length=MIN_SESSIONS,
        max_length=MAX_SESSIONS,
        description="In order of time, none overlapping another; each is an activity",
    )

    @model_validator(mode="after")
    def _coherent(self) -> Self:
        for before, after in zip(self.sessions, self.sessions[1:], strict=False):
            if after.start < before.end:
                raise ValueError("sessions must be in order of time and must not overlap")
        return self


class CourseOut(BaseModel):
    id: int
    title: str
    description: str
    category: ActivityCategory
    category_label: str
    center_id: int
    center_name: str
    district: str
    street: str
    organization_id: int | None
    audience: ActivityAudience
    requires_real_name: bool
    capacity: int
    enrolled: int  # places taken by confirmed enrolments
    remaining: int
    status: ActivityStatus
    status_reason: str | None
    sessions_count: int  # those not cancelled
    first_start: LocalInstant | None
    last_end: LocalInstant | None
    enrolment_closes_at: LocalInstant | None  # the first session's start


class CourseDetail(CourseOut):
    sessions: list[ActivityOut]


class EnrolmentCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    attendees: int = Field(default=1, ge=1, le=MAX_ATTENDEES, strict=True)


class EnrolmentOut(BaseModel):
    id: int
    course_id: int
    status: SignupStatus
    attendees: int
    position: int | None  # in the waiting line, 1 for the next
    created_at: LocalInstant
    cancelled_at: LocalInstant | None
    attended: int  # sessions checked in to
    total: int  # the course's sessions (those not cancelled)


class EnrolleeOut(BaseModel):
    """An enrolment as the course's managers see it: the person masked."""

    id: int
    name_masked: str | None
    phone_masked: str | None
    attendees: int
    status: SignupStatus
    position: int | None
    created_at: LocalInstant
    attended: int
    total: int
