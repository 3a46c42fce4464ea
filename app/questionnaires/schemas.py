"""Questionnaires as the API speaks them: what staff build, what residents
see and send, and the results."""

from datetime import datetime
from typing import Annotated, Self

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    ValidationInfo,
    field_validator,
    model_validator,
)

from app.core.schemas import Flag, IdField, Instant, LocalInstant, LongText, Page, Printable
from app.models import QuestionKind, QuestionnaireScope, QuestionnaireStatus

MAX_QUESTIONS = 50
MIN_OPTIONS, MAX_OPTIONS = 2, 20
SCALE_LOWEST, SCALE_HIGHEST = 0, 10
MAX_TEXT_ANSWER = 2000

Title = Annotated[
    str, StringConstraints(strip_whitespace=True, min_length=1, max_length=100), Printable
]
QuestionText = Annotated[
    str, StringConstraints(strip_whitespace=True, min_length=1, max_length=500), Printable
]
OptionText = Annotated[
    str, StringConstraints(strip_whitespace=True, min_length=1, max_length=100), Printable
]
District = Annotated[
    str, StringConstraints(strip_whitespace=True, min_length=1, max_length=20), Printable
]
Street = Annotated[
    str, StringConstraints(strip_whitespace=True, min_length=1, max_length=50), Printable
]
ScaleEnd = Annotated[int, Field(ge=SCALE_LOWEST, le=SCALE_HIGHEST, strict=True)]


class ScopeIn(BaseModel):
    """Whom it asks: one center (``center_id``), one street (``district`` and
    ``street``) or one district (``district``)."""

    model_config = ConfigDict(extra="forbid")

    center_id: IdField | None = None
    district: District | None = None
    street: Street | None = None

    @model_validator(mode="after")
    def _one_scope(self) -> Self:
        if self.center_id is not None:
            if self.district is not None or self.street is not None:
                raise ValueError("give center_id alone, or district (and street)")
        elif self.district is None:
            raise ValueError("give center_id, or district (and street)")
        return self

    @property
    def kind(self) -> QuestionnaireScope:
        if self.center_id is not None:
            return QuestionnaireScope.center
        return QuestionnaireScope.street if self.street else QuestionnaireScope.district


class QuestionIn(BaseModel):
    """``options`` (2–20, distinct) for ``single`` and ``multiple``;
    ``scale_min``..``scale_max`` (within 0..10, default 1..5) for ``scale``;
    ``max_length`` (1–2000, default 500) for ``text``."""

    model_config = ConfigDict(extra="forbid")

    kind: QuestionKind
    text: QuestionText
    required: Flag = True
    options: list[OptionText] | None = Field(default=None, max_length=MAX_OPTIONS)
    scale_min: ScaleEnd | None = None
    scale_max: ScaleEnd | None = None
    max_length: Annotated[int, Field(ge=1, le=MAX_TEXT_ANSWER, strict=True)] | None = None

    @model_validator(mode="after")
    def _fits_its_kind(self) -> Self:
        choice = self.kind in (QuestionKind.single, QuestionKind.multiple)
        if choice:
            if self.options is None or len(self.options) < MIN_OPTIONS:
                raise ValueError(f"a {self.kind.value} choice has {MIN_OPTIONS} to 20 options")
            if len(set(self.options)) != len(self.options):
                raise ValueError("options must be distinct")
        elif self.options is not None:
            raise ValueError(f"a {self.kind.value} question has no options")
        if self.kind is QuestionKind.scale:
            self.scale_min = 1 if self.scale_min is None else self.scale_min
            self.scale_max = 5 if self.scale_max is None else self.scale_max
            if self.scale_max <= self.scale_min:
                raise ValueError("scale_max must be above scale_min")
        elif self.scale_min is not None or self.scale_max is not None:
            raise ValueError("only a scale has scale_min and scale_max")
        if self.kind is QuestionKind.text:
            self.max_length = self.max_length or 500
        elif self.max_length is not None:
            raise ValueError("only a text question has max_length")
        return self


class QuestionnaireIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    title: Title
    intro: LongText = ""
    scope: ScopeIn
    opens_at: Instant
    closes_at: Instant
    anonymous: Flag = False
    requires_real_name: Flag = False
    questions: list[QuestionIn] = Field(min_length=1, max_length=MAX_QUESTIONS)

    @field_validator("closes_at")
    @classmethod
    def _closes_after_opening(cls, value: datetime, info: ValidationInfo) -> datetime:
        opens_at = info.data.get("opens_at")
        if opens_at is not None and value <= opens_at:
            raise ValueError("closes_at must be after opens_at")
        return value


class QuestionOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    position: int
    kind: QuestionKind
    text: str
    required: bool
    options: list[str] | None
    scale_min: int | None
    scale_max: int | None
    max_length: int | None


class ScopeOut(BaseModel):
    kind: QuestionnaireScope
    center_id: int | None
    district: str
    street: str | None
    name: str  # the center's name, "district street", or the district


class QuestionnaireOut(BaseModel):
    id: int
    title: str
    intro: str
    scope: ScopeOut
    opens_at: LocalInstant
    closes_at: LocalInstant
    anonymous: bool
    requires_real_name: bool
    status: QuestionnaireStatus
    is_open: bool  # published, and now within [opens_at, closes_at)
    question_count: int


class StaffQuestionnaire(QuestionnaireOut):
    published_at: LocalInstant | None
    closed_at: LocalInstant | None
    responses: int


class StaffQuestionnaireDetail(StaffQuestionnaire):
    questions: list[QuestionOut]


class ResidentQuestionnaire(QuestionnaireOut):
    answered: bool  # by the caller


class ResidentQuestionnaireDetail(ResidentQuestionnaire):
    questions: list[QuestionOut]


class AnswerIn(BaseModel):
    """One answer: ``choice`` (an option's index, from 0) for a single
    choice, ``choices`` (indexes) for a multiple one, ``value`` for a scale,
    ``text`` for a text question."""

    model_config = ConfigDict(extra="forbid")

    question_id: IdField
    choice: Annotated[int, Field(ge=0, le=MAX_OPTIONS - 1, strict=True)] | None = None
    choices: list[Annotated[int, Field(ge=0, le=MAX_OPTIONS - 1, strict=True)]] | None = Field(
        default=None, max_length=MAX_OPTIONS
    )
    value: Annotated[int, Field(ge=-1000, le=1000, strict=True)] | None = None
    text: (
        Annotated[
            str, StringConstraints(strip_whitespace=True, max_length=MAX_TEXT_ANSWER), Printable
        ]
        | None
    ) = None


class ResponseIn(BaseModel):
    """The answers, at most one per question, and optionally the center the
    resident belongs to (inside the questionnaire's scope): the results are
    filtered by its street and district."""

    model_config = ConfigDict(extra="forbid")

    answers: list[AnswerIn] = Field(max_length=MAX_QUESTIONS)
    center_id: IdField | None = None


class ResponseOut(BaseModel):
    questionnaire_id: int
    submitted_at: LocalInstant  # to the hour, for an anonymous questionnaire


class OptionCount(BaseModel):
    option: int
    text: str
    count: int
    share: float  # of those who answered the question


class ScaleCount(BaseModel):
    value: int
    count: int
    share: float


class TextAnswer(BaseModel):
    text: str
    submitted_at: LocalInstant


class QuestionResult(BaseModel):
    question_id: int
    position: int
    kind: QuestionKind
    text: str
    answered: int  # responses that answered it
    options: list[OptionCount] | None = None  # ranked by count, then by order
    mean: float | None = None
    distribution: list[ScaleCount] | None = None  # every value of the scale
    texts: Page[TextAnswer] | None = None


class Results(BaseModel):
    questionnaire_id: int
    district: str | None
    street: str | None
    responses: int
    questions: list[QuestionResult]


class ShareOut(BaseModel):
    path: str  # the mini-program page, with the questionnaire's id
    url: str | None  # WeChat's URL scheme opening it (None until an app id is configured)
    svg: str  # a QR code of url (or of path)
