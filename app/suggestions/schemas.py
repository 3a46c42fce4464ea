"""Suggestions as the API speaks them: what a submitter sends and follows,
what staff keep in the ledger, and the public answers of a center."""

from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from app.core.schemas import Flag, IdField, LocalInstant, Page, Printable
from app.models import SuggestionCategory, SuggestionOutcome, SuggestionStatus

MAX_PHOTOS = 9

SuggestionText = Annotated[
    str, StringConstraints(strip_whitespace=True, min_length=1, max_length=2000), Printable
]


class SuggestionIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    center_id: IdField
    category: SuggestionCategory
    text: SuggestionText
    photos: list[IdField] = Field(default_factory=list, max_length=MAX_PHOTOS)
    contact_ok: Flag = False
    organization_id: IdField | None = Field(
        default=None, description="Raised on behalf of an organization you belong to"
    )


class AssignIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    staff_id: IdField


class AnswerIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    answer: SuggestionText
    public: Flag = Field(default=False, description="Listed, anonymised, on the center's page")


class CloseIn(AnswerIn):
    outcome: SuggestionOutcome


class CategoryOut(BaseModel):
    code: SuggestionCategory
    label: str
    days: int


class SuggestionOut(BaseModel):
    """What the submitter follows."""

    id: int
    center_id: int
    center_name: str
    organization_id: int | None
    category: SuggestionCategory
    category_label: str
    text: str
    photos: list[int]
    contact_ok: bool
    status: SuggestionStatus
    due_at: LocalInstant
    overdue: bool
    answer: str | None
    answer_public: bool
    answered_at: LocalInstant | None
    outcome: SuggestionOutcome | None
    closed_at: LocalInstant | None
    reopened_at: LocalInstant | None
    may_reopen_until: LocalInstant | None
    created_at: LocalInstant


class LedgerEntry(SuggestionOut):
    """One row of the ledger (台账): the submitter appears only as whether
    there is one (their contact is read apart, and logged)."""

    assigned_staff_id: int | None
    has_submitter: bool
    closed_on_time: bool | None


class LedgerPage(Page[LedgerEntry]):
    overdue_count: int  # of the rows matching the filters but ``overdue``


class ContactOut(BaseModel):
    phone: str | None
    nickname: str | None


class PublicAnswer(BaseModel):
    """A public answer, with nothing of who asked."""

    id: int
    category: SuggestionCategory
    category_label: str
    text: str
    answer: str
    outcome: SuggestionOutcome | None
    status: SuggestionStatus
    created_at: LocalInstant
    answered_at: LocalInstant | None


class SummaryRow(BaseModel):
    center_id: int
    center_name: str
    open: int
    overdue: int
    closed: int
    closed_on_time: int
