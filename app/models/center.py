import enum

from sqlalchemy import CheckConstraint, Float, Index, SmallInteger, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from app.models.base import Base, Timestamped, enum_column


class CenterKind(enum.StrEnum):
    district_hub = "district_hub"
    street_center = "street_center"
    grid_station = "grid_station"
    residential_station = "residential_station"
    post = "post"

    @property
    def label(self) -> str:
        """The kind in the words the centers use (``kind_label`` in the API)."""
        return CENTER_KIND_LABELS[self]


CENTER_KIND_LABELS = {
    CenterKind.district_hub: "区级党群服务中心",
    CenterKind.street_center: "街镇党群服务中心",
    CenterKind.grid_station: "片区党群服务站",
    CenterKind.residential_station: "居民区党群服务站",
    CenterKind.post: "党群驿站",
}


class Center(Timestamped, Base):
    """A Party-Masses Service Center (党群服务中心 / 站 / 驿站)."""

    __tablename__ = "centers"
    __table_args__ = (
        UniqueConstraint("district", "name"),
        CheckConstraint("lat >= -90 AND lat <= 90", name="lat_range"),
        CheckConstraint("lng >= -180 AND lng <= 180", name="lng_range"),
        Index("ix_centers_lat_lng", "lat", "lng"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(100))
    kind: Mapped[CenterKind] = mapped_column(enum_column(CenterKind, "center_kind"))
    district: Mapped[str] = mapped_column(String(20))
    street: Mapped[str] = mapped_column(String(50))
    address: Mapped[str] = mapped_column(String(200))
    # GCJ-02, the datum WeChat's map components use.
    lat: Mapped[float] = mapped_column(Float)
    lng: Mapped[float] = mapped_column(Float)
    phone: Mapped[str | None] = mapped_column(String(30))
    description: Mapped[str] = mapped_column(Text, default="")
    # The center's own violation policy; unset, the settings' defaults apply
    # (ZHENDI_VIOLATION_POINTS_TO_SUSPEND, …_WINDOW_DAYS, ZHENDI_SUSPENSION_DAYS).
    violation_points_to_suspend: Mapped[int | None] = mapped_column(SmallInteger)
    violation_window_days: Mapped[int | None] = mapped_column(SmallInteger)
    suspension_days: Mapped[int | None] = mapped_column(SmallInteger)
