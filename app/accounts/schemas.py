"""Account lifecycle: counter verification, rebinding a disputed ID number,
deactivation, and the data subject's export and erasure."""

from datetime import datetime

from pydantic import BaseModel, ConfigDict, Field

from app.core.schemas import IdField, LocalInstant, Reason
from app.identity.schemas import ChineseName
from app.models import (
    AttemptMethod,
    AttemptOutcome,
    MemberRole,
    OrganizationKind,
    SuggestionCategory,
    SuggestionOutcome,
    SuggestionStatus,
)
from app.reservations.schemas import HistoryEntry, ReservationOut

IdNumberField = Field(
    min_length=18,
    max_length=18,
    description="As printed on the ID card, seen by staff at the counter",
    examples=["11010519491231002X"],
)


class CounterVerification(BaseModel):
    """What staff read off the ID card the resident showed at the counter."""

    model_config = ConfigDict(extra="forbid")

    name: ChineseName
    id_number: str = IdNumberField
    center_id: IdField = Field(description="The center whose counter saw the card")


class Rebind(CounterVerification):
    """The card's true holder proved it in person: the number moves to their account."""

    user_id: IdField = Field(description="The true holder's account")
    reason: Reason


class StatusChange(BaseModel):
    model_config = ConfigDict(extra="forbid")

    reason: Reason


class UserAdminOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    is_active: bool
    real_name_verified: bool
    name_masked: str | None
    id_number_masked: str | None
    real_name_provider: str | None
    created_at: LocalInstant
    erased_at: LocalInstant | None


class RealNameExport(BaseModel):
    verified: bool
    name: str | None
    id_number: str | None
    provider: str | None
    verified_at: LocalInstant | None


class ProfileExport(BaseModel):
    id: int
    openid: str
    unionid: str | None
    nickname: str | None
    phone: str | None
    is_active: bool
    created_at: LocalInstant
    last_login_at: LocalInstant | None
    real_name: RealNameExport


class MembershipExport(BaseModel):
    organization_id: int
    organization_name: str
    organization_kind: OrganizationKind
    role: MemberRole
    joined_at: LocalInstant


class ReservationExport(ReservationOut):
    history: list[HistoryEntry]


class DoorAttemptExport(BaseModel):
    door_id: int
    reservation_id: int | None
    at: LocalInstant
    outcome: AttemptOutcome
    method: AttemptMethod


class SuggestionExport(BaseModel):
    id: int
    center_id: int
    organization_id: int | None
    category: SuggestionCategory
    text: str
    photos: list[int]
    contact_ok: bool
    status: SuggestionStatus
    answer: str | None
    outcome: SuggestionOutcome | None
    created_at: LocalInstant
    closed_at: LocalInstant | None


class AnswerExport(BaseModel):
    question_id: int
    question: str
    option: int | None
    value: int | None
    text: str | None


class QuestionnaireResponseExport(BaseModel):
    """An answer to a questionnaire that was not anonymous (an anonymous
    one's answers are linked to nobody, so they are not found here)."""

    questionnaire_id: int
    questionnaire_title: str
    submitted_at: LocalInstant
    answers: list[AnswerExport]


class PersonalDataExport(BaseModel):
    """Everything the service holds about you (PIPL Art. 45), unmasked for you only."""

    exported_at: LocalInstant
    profile: ProfileExport
    organizations: list[MembershipExport]
    reservations: list[ReservationExport]
    door_attempts: list[DoorAttemptExport]
    suggestions: list[SuggestionExport]
    questionnaire_responses: list[QuestionnaireResponseExport]


class PurgeReport(BaseModel):
    door_attempts_deleted: int
    audit_events_cleared: int
    notifications_deleted: int
    suggestions_unlinked: int
    responses_unlinked: int
    before: datetime
