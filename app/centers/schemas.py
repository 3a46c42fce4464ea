from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, computed_field

from app.core.schemas import MAX_ID, LocalInstant, LongText, Patch, Printable, ShortText
from app.models import BookingMode, Center, CenterKind, SpaceKind

District = Annotated[
    str, StringConstraints(strip_whitespace=True, min_length=1, max_length=20), Printable
]
Street = Annotated[str, StringConstraints(strip_whitespace=True, max_length=50), Printable]
Address = Annotated[
    str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200), Printable
]
Phone = Annotated[str, StringConstraints(pattern=r"^[0-9+\-() ]{5,30}$")]
Latitude = Annotated[float, Field(ge=-90, le=90, allow_inf_nan=False, strict=True)]
Longitude = Annotated[float, Field(ge=-180, le=180, allow_inf_nan=False, strict=True)]
# The center's violation policy; null: the service's defaults (README: Violations).
PointsToSuspend = Annotated[
    int, Field(ge=1, le=100, strict=True, description="Points within the window that suspend")
]
WindowDays = Annotated[
    int, Field(ge=1, le=365, strict=True, description="Days a violation's point counts")
]
SuspensionDays = Annotated[
    int, Field(ge=1, le=365, strict=True, description="Days a suspension lasts")
]
ParentId = Annotated[
    int,
    Field(
        ge=1,
        le=MAX_ID,
        strict=True,
        description="The center one level up the network; its kind must rank above this one's",
    ),
]


class CenterCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: ShortText
    kind: CenterKind
    district: District = Field(examples=["闵行区"])
    street: Street = ""
    address: Address
    lat: Latitude = Field(description="GCJ-02 latitude")
    lng: Longitude = Field(description="GCJ-02 longitude")
    phone: Phone | None = None
    description: LongText = ""
    violation_points_to_suspend: PointsToSuspend | None = None
    violation_window_days: WindowDays | None = None
    suspension_days: SuspensionDays | None = None
    parent_id: ParentId | None = None


class CenterUpdate(Patch):
    nullable_fields = frozenset(
        {
            "phone",
            "violation_points_to_suspend",
            "violation_window_days",
            "suspension_days",
            "parent_id",
        }
    )

    name: ShortText | None = None
    kind: CenterKind | None = None
    district: District | None = None
    street: Street | None = None
    address: Address | None = None
    lat: Latitude | None = None
    lng: Longitude | None = None
    phone: Phone | None = None
    description: LongText | None = None
    violation_points_to_suspend: PointsToSuspend | None = None
    violation_window_days: WindowDays | None = None
    suspension_days: SuspensionDays | None = None
    parent_id: ParentId | None = None


class CenterOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    name: str
    kind: CenterKind
    district: str
    street: str
    address: str
    lat: float
    lng: float
    phone: str | None
    description: str
    violation_points_to_suspend: int | None
    violation_window_days: int | None
    suspension_days: int | None
    parent_id: int | None = Field(description="The center one level up the network")
    parent_name: str | None = Field(default=None, description="Its name")
    created_at: LocalInstant
    updated_at: LocalInstant
    distance_m: int | None = Field(
        default=None,
        description="Distance from `near` in whole metres, when the list was asked with it",
    )

    @computed_field(description="The kind in Chinese, e.g. 党群驿站")  # type: ignore[prop-decorator]
    @property
    def kind_label(self) -> str:
        return self.kind.label

    @classmethod
    def of(cls, center: Center, parent_names: dict[int, str]) -> "CenterOut":
        """The center's view, its parent named (``tree.parent_names``)."""
        view = cls.model_validate(center)
        if center.parent_id is not None:
            view.parent_name = parent_names.get(center.parent_id)
        return view


class SpaceSummary(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    name: str
    kind: SpaceKind
    booking_mode: BookingMode
    capacity: int
    open_24h: bool

    @computed_field(description="The kind in Chinese, e.g. 自习室")  # type: ignore[prop-decorator]
    @property
    def kind_label(self) -> str:
        return self.kind.label


class CenterDetail(CenterOut):
    spaces: list[SpaceSummary]
