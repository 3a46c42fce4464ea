import enum
from collections.abc import Sequence

from sqlalchemy import (
    CTE,
    CheckConstraint,
    ColumnElement,
    Float,
    ForeignKey,
    Index,
    Select,
    SmallInteger,
    String,
    Text,
    UniqueConstraint,
    literal,
    select,
)
from sqlalchemy.orm import Mapped, aliased, mapped_column

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

    @property
    def rank(self) -> int:
        """The kind's level in the network, 0 for a district hub: a center's
        parent is always of a lower rank (app/centers/tree.py)."""
        return KIND_RANKS[self]


CENTER_KIND_LABELS = {
    CenterKind.district_hub: "区级党群服务中心",
    CenterKind.street_center: "街镇党群服务中心",
    CenterKind.grid_station: "片区党群服务站",
    CenterKind.residential_station: "居民区党群服务站",
    CenterKind.post: "党群驿站",
}

# The network's levels, top down (the order the kinds are declared in): a
# district hub's children are street centers, theirs grid stations, theirs
# residential stations and posts.
KIND_RANKS = {kind: rank for rank, kind in enumerate(CenterKind)}


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
    # The center one level up the network (None: a root, such as a district
    # hub); its kind ranks above this one's, so the links never form a cycle.
    parent_id: Mapped[int | None] = mapped_column(
        ForeignKey("centers.id", ondelete="SET NULL"), index=True
    )
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


def subtree_ids(roots: ColumnElement[int] | Select[tuple[int]] | Sequence[int]) -> CTE:
    """A recursive CTE (column ``id``) of the centers at and below ``roots`` in
    the network: each once (UNION), however deep. The same SQL on PostgreSQL
    and SQLite."""
    top = select(Center.id).where(Center.id.in_(roots)).cte("subtree", recursive=True)
    below = aliased(Center, name="below")
    return top.union(select(below.id).where(below.parent_id == top.c.id))


def ancestor_ids(center_id: int | ColumnElement[int]) -> CTE:
    """A recursive CTE (columns ``id``, ``depth``) of ``center_id`` (depth 0)
    and every center above it, its parent at depth 1."""
    top = (
        select(Center.id, Center.parent_id, literal(0).label("depth"))
        .where(Center.id == center_id)
        .cte("upward", recursive=True)
    )
    above = aliased(Center, name="above")
    return top.union_all(
        select(above.id, above.parent_id, (top.c.depth + 1).label("depth")).where(
            above.id == top.c.parent_id
        )
    )
