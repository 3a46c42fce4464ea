"""Shared API types: bounded ids, clean text, instants with offsets, pages."""

import unicodedata
from collections.abc import Sequence
from datetime import UTC, date, datetime
from typing import Annotated, Any, ClassVar, Generic, Self, TypeVar

from fastapi import Path, Query
from pydantic import (
    AfterValidator,
    AwareDatetime,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    PlainSerializer,
    StrictBool,
    StringConstraints,
    WithJsonSchema,
    model_validator,
)

from app.core.clock import SHANGHAI

# Ids are 32-bit on every engine; a larger number can name nothing.
MAX_ID = 2_147_483_647


def _digits_only(value: object) -> object:
    """A path id is written in digits: ``%097`` (a tab, then 7) or ``+7`` names
    nothing, though a lax int would read both as 7."""
    if isinstance(value, str) and not (value.isascii() and value.isdigit()):
        raise ValueError("an id is written in digits only")
    return value


ResourceId = Annotated[int, Path(ge=1, le=MAX_ID), BeforeValidator(_digits_only)]
# Body fields are strict: JSON `true` is a boolean and `3` an integer, while
# `0.0` or `"3"` is a client bug worth a 422, not something to guess at.
IdField = Annotated[int, Field(ge=1, le=MAX_ID, strict=True)]
Flag = StrictBool

MAX_PAGE_SIZE = 200
Limit = Annotated[int, Query(ge=1, le=MAX_PAGE_SIZE, description="Page size")]
Offset = Annotated[int, Query(ge=0, le=100_000)]

_ALLOWED_CONTROLS = frozenset("\n\t")


def _printable(value: str) -> str:
    """Refuse control characters and lone surrogates (NUL breaks PostgreSQL text)."""
    for char in value:
        if char not in _ALLOWED_CONTROLS and unicodedata.category(char) in ("Cc", "Cs"):
            raise ValueError("contains control characters")
    return value


Printable = AfterValidator(_printable)
ShortText = Annotated[
    str, StringConstraints(strip_whitespace=True, min_length=1, max_length=100), Printable
]
LongText = Annotated[str, StringConstraints(strip_whitespace=True, max_length=2000), Printable]

EARLIEST = datetime(2000, 1, 1, tzinfo=UTC)
LATEST = datetime(2100, 1, 1, tzinfo=UTC)


def _plausible(value: datetime) -> datetime:
    # Outside this range zone rules turn odd (Shanghai had a +08:05:43 local mean time).
    if not EARLIEST <= value < LATEST:
        raise ValueError("must be between 2000 and 2100")
    return value


# Input instants: RFC 3339 with an offset. A naive datetime is a validation error.
Instant = Annotated[AwareDatetime, AfterValidator(_plausible)]


def _calendar_date(value: object) -> object:
    """Only ``YYYY-MM-DD``: pydantic would also read ``0`` as 1970-01-01."""
    if isinstance(value, str) and not (len(value) == 10 and value[4] == value[7] == "-"):
        raise ValueError("must be a date, YYYY-MM-DD")
    return value


def _plausible_day(value: date) -> date:
    if not EARLIEST.date() <= value < LATEST.date():
        raise ValueError("must be between 2000 and 2100")
    return value


# Input days: a Shanghai calendar date, YYYY-MM-DD, 2000–2099.
LocalDate = Annotated[date, BeforeValidator(_calendar_date), AfterValidator(_plausible_day)]

# Output instants: stored in UTC, shown in Shanghai time with its offset.
LocalInstant = Annotated[
    datetime,
    PlainSerializer(
        lambda value: value.astimezone(SHANGHAI).isoformat(), return_type=str, when_used="json"
    ),
    WithJsonSchema({"type": "string", "format": "date-time"}),
]

T = TypeVar("T")


class Page(BaseModel, Generic[T]):
    """Every list the API answers: one page of ``items`` of ``total``."""

    items: list[T]
    total: int
    limit: int
    offset: int

    @classmethod
    def of(cls, rows: Sequence[T], limit: int, offset: int) -> Self:
        """A page cut from a list that is short by nature (a company's members,
        a door's space's doors, one booking's history), read whole."""
        return cls(
            items=list(rows[offset : offset + limit]), total=len(rows), limit=limit, offset=offset
        )


class Patch(BaseModel):
    """A partial update: absent fields stay as they are; ``null`` only clears nullable ones."""

    model_config = ConfigDict(extra="forbid")
    nullable_fields: ClassVar[frozenset[str]] = frozenset()

    @model_validator(mode="after")
    def _no_null_for_required(self) -> Self:
        for field in self.model_fields_set - self.nullable_fields:
            if getattr(self, field) is None:
                raise ValueError(f"{field} cannot be null")
        return self

    def changes(self) -> dict[str, Any]:
        return self.model_dump(exclude_unset=True)


# Why staff or a resident did something (a cancellation, an appeal, a decision).
Reason = Annotated[
    str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200), Printable
]
