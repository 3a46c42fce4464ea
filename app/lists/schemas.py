"""The four lists as the API speaks them: needs and their matches, resources,
projects, service objects, and the summary rolled up the tree."""

from datetime import date
from typing import Annotated, ClassVar, Self

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, model_validator

from app.core.schemas import IdField, LocalDate, LocalInstant, LongText, Patch, Printable, ShortText
from app.models import (
    NeedCategory,
    NeedSource,
    NeedStatus,
    NeedUrgency,
    ProjectStatus,
    ResourceKind,
    ResourceOfferer,
    ResourceStatus,
    ServedGroup,
)

MAX_PEOPLE = 10_000_000
MAX_LINKED_ACTIVITIES = 50

People = Annotated[int, Field(ge=1, le=MAX_PEOPLE, strict=True)]
Headcount = Annotated[int, Field(ge=0, le=MAX_PEOPLE, strict=True)]
Quantity = Annotated[int, Field(ge=1, le=MAX_PEOPLE, strict=True)]
Schedule = Annotated[str, StringConstraints(strip_whitespace=True, max_length=200), Printable]
Note = Annotated[str, StringConstraints(strip_whitespace=True, max_length=200), Printable]
Unit = Annotated[str, StringConstraints(strip_whitespace=True, max_length=20), Printable]


def _in_order(first: date | None, last: date | None, what: str) -> None:
    if first is not None and last is not None and last < first:
        raise ValueError(f"{what} cannot come before its start")


# --- needs ---------------------------------------------------------------------------


class NeedIn(BaseModel):
    """A need of a center's people: what (``category``, ``title``), who
    (``group``, ``people``), how urgent, and where it came from (``source``;
    ``source_id`` names the suggestion or questionnaire)."""

    model_config = ConfigDict(extra="forbid")

    center_id: IdField
    category: NeedCategory
    title: ShortText
    description: LongText = ""
    group: ServedGroup | None = None
    people: People = 1
    urgency: NeedUrgency = NeedUrgency.normal
    source: NeedSource = NeedSource.staff
    source_id: IdField | None = None

    @model_validator(mode="after")
    def _source_names_its_origin(self) -> Self:
        if self.source is NeedSource.staff and self.source_id is not None:
            raise ValueError("a need staff record has no source_id")
        return self


class NeedPatch(Patch):
    nullable_fields: ClassVar[frozenset[str]] = frozenset({"group"})

    center_id: IdField | None = None
    category: NeedCategory | None = None
    title: ShortText | None = None
    description: LongText | None = None
    group: ServedGroup | None = None
    people: People | None = None
    urgency: NeedUrgency | None = None


class MatchIn(BaseModel):
    """A resource or a project (exactly one) put to the need, for ``covers``
    of its people (by default all those not yet covered)."""

    model_config = ConfigDict(extra="forbid")

    resource_id: IdField | None = None
    project_id: IdField | None = None
    covers: People | None = None
    note: Note = ""

    @model_validator(mode="after")
    def _one_of_them(self) -> Self:
        if (self.resource_id is None) == (self.project_id is None):
            raise ValueError("give resource_id or project_id, one of them")
        return self


class MatchOut(BaseModel):
    id: int
    need_id: int
    resource_id: int | None
    project_id: int | None
    title: str  # the resource's or the project's
    covers: int
    note: str
    matched_at: LocalInstant


class NeedOut(BaseModel):
    id: int
    center_id: int
    center_name: str
    category: NeedCategory
    category_label: str
    title: str
    description: str
    group: ServedGroup | None
    group_label: str | None
    people: int
    covered: int  # by its matches
    urgency: NeedUrgency
    urgency_label: str
    source: NeedSource
    source_label: str
    source_id: int | None
    status: NeedStatus
    status_label: str
    met_at: LocalInstant | None
    created_at: LocalInstant


class NeedDetail(NeedOut):
    matches: list[MatchOut]


# --- resources -----------------------------------------------------------------------


class OfferIn(BaseModel):
    """What a resident (or, with ``organization_id``, the organisation they
    own) offers a center: a room, skills, equipment, volunteers' time…, how
    much (``quantity`` ``unit``) and when."""

    model_config = ConfigDict(extra="forbid")

    center_id: IdField
    kind: ResourceKind
    title: ShortText
    description: LongText = ""
    organization_id: IdField | None = None
    quantity: Quantity | None = None
    unit: Unit = ""
    available_from: LocalDate | None = None
    available_until: LocalDate | None = None
    schedule: Schedule = ""

    @model_validator(mode="after")
    def _dates_in_order(self) -> Self:
        _in_order(self.available_from, self.available_until, "available_until")
        return self


class ResourceIn(OfferIn):
    """A resource staff record for whoever offers it (``provider``: a
    company, a partner unit…; ``organization_id`` if it is registered): on the
    list at once."""

    provider: ShortText


class ResourcePatch(Patch):
    nullable_fields: ClassVar[frozenset[str]] = frozenset(
        {"quantity", "available_from", "available_until"}
    )

    center_id: IdField | None = None
    kind: ResourceKind | None = None
    title: ShortText | None = None
    description: LongText | None = None
    provider: ShortText | None = None
    quantity: Quantity | None = None
    unit: Unit | None = None
    available_from: LocalDate | None = None
    available_until: LocalDate | None = None
    schedule: Schedule | None = None


class ResourceOut(BaseModel):
    id: int
    center_id: int
    center_name: str
    kind: ResourceKind
    kind_label: str
    title: str
    description: str
    offered_by: ResourceOfferer
    offered_by_label: str
    provider: str
    user_id: int | None
    organization_id: int | None
    quantity: int | None
    unit: str
    available_from: date | None
    available_until: date | None
    schedule: str
    status: ResourceStatus
    status_label: str
    matches: int  # needs it was put to: used once above 0
    created_at: LocalInstant


# --- projects ------------------------------------------------------------------------


ActivityIds = Annotated[list[IdField], Field(max_length=MAX_LINKED_ACTIVITIES)]


class ProjectIn(BaseModel):
    """A service a center runs (or a district delivers through its hub): its
    category, provider, schedule, and the activities held as part of it."""

    model_config = ConfigDict(extra="forbid")

    center_id: IdField
    category: NeedCategory
    title: ShortText
    description: LongText = ""
    provider: ShortText
    organization_id: IdField | None = None
    schedule: Schedule = ""
    starts_on: LocalDate | None = None
    ends_on: LocalDate | None = None
    status: ProjectStatus = ProjectStatus.planned
    activity_ids: ActivityIds = []

    @model_validator(mode="after")
    def _checked(self) -> Self:
        _in_order(self.starts_on, self.ends_on, "ends_on")
        if len(set(self.activity_ids)) != len(self.activity_ids):
            raise ValueError("activity_ids must be distinct")
        return self


class ProjectPatch(Patch):
    nullable_fields: ClassVar[frozenset[str]] = frozenset(
        {"organization_id", "starts_on", "ends_on"}
    )

    center_id: IdField | None = None
    category: NeedCategory | None = None
    title: ShortText | None = None
    description: LongText | None = None
    provider: ShortText | None = None
    organization_id: IdField | None = None
    schedule: Schedule | None = None
    starts_on: LocalDate | None = None
    ends_on: LocalDate | None = None
    status: ProjectStatus | None = None
    activity_ids: ActivityIds | None = None

    @model_validator(mode="after")
    def _distinct(self) -> Self:
        if self.activity_ids and len(set(self.activity_ids)) != len(self.activity_ids):
            raise ValueError("activity_ids must be distinct")
        return self


class ProjectOut(BaseModel):
    id: int
    center_id: int
    center_name: str
    category: NeedCategory
    category_label: str
    title: str
    description: str
    provider: str
    organization_id: int | None
    schedule: str
    starts_on: date | None
    ends_on: date | None
    status: ProjectStatus
    status_label: str
    activity_ids: list[int]
    matches: int
    created_at: LocalInstant


# --- service objects -----------------------------------------------------------------


class ServiceObjectIn(BaseModel):
    """A group a center serves (白领, 骑手, 老人, 儿童…) and how many of them:
    one row per center and group."""

    model_config = ConfigDict(extra="forbid")

    center_id: IdField
    group: ServedGroup
    people: Headcount
    note: Note = ""


class ServiceObjectPatch(Patch):
    people: Headcount | None = None
    note: Note | None = None


class ServiceObjectOut(BaseModel):
    id: int
    center_id: int
    center_name: str
    group: ServedGroup
    group_label: str
    people: int
    note: str
    updated_at: LocalInstant


# --- the summary ---------------------------------------------------------------------


class NeedCount(BaseModel):
    category: NeedCategory
    category_label: str
    open: int
    met: int


class ResourceCount(BaseModel):
    kind: ResourceKind
    kind_label: str
    offered: int  # offered or accepted: neither declined nor withdrawn
    used: int  # of those, put to a need at least once


class ProjectCount(BaseModel):
    category: NeedCategory
    category_label: str
    planned: int
    running: int
    delivered: int  # completed


class GroupCount(BaseModel):
    group: ServedGroup
    group_label: str
    people: int
    centers: int


class Summary(BaseModel):
    ancestor_id: int | None
    centers: int  # the centers counted
    needs_open: int
    needs_met: int
    needs: list[NeedCount]
    resources_offered: int
    resources_used: int
    resources: list[ResourceCount]
    projects_delivered: int
    projects: list[ProjectCount]
    service_objects: list[GroupCount]


class Codes(BaseModel):
    """Every code of the four lists with its Chinese label."""

    categories: dict[str, str]
    groups: dict[str, str]
    resource_kinds: dict[str, str]
    urgencies: dict[str, str]
    sources: dict[str, str]
    need_statuses: dict[str, str]
    offerers: dict[str, str]
    resource_statuses: dict[str, str]
    project_statuses: dict[str, str]
