"""The map's answer as the OpenAPI document describes it: a GeoJSON
FeatureCollection (RFC 7946) of positions. The service writes the same shape
by hand (``app/map/service.py``); tests/test_map.py reads answers back with
these models."""

from typing import Literal

from pydantic import BaseModel, Field

from app.models import CenterKind, SpaceKind

GEOJSON = "application/geo+json"


class Point(BaseModel):
    type: Literal["Point"]
    coordinates: tuple[float, float] = Field(
        description="`[lng, lat]` in GCJ-02, the datum WeChat's map component draws in"
    )


class PositionProperties(BaseModel):
    name: str
    kind: CenterKind
    kind_label: str = Field(description="The kind in Chinese, e.g. 党群驿站")
    district: str
    street: str
    address: str
    open_now: bool = Field(
        description="Some space of the position is open now: within its hours as the "
        "holiday calendar sets them, and not closed"
    )
    spaces: dict[SpaceKind, int] = Field(
        description="Active spaces by kind; kinds the position has none of are left out"
    )
    free_now: int | None = Field(
        description="Seats in its open study rooms that no booking holds now; "
        "null where the position has no study room"
    )
    parent_id: int | None = Field(description="The position above it in the network")


class PositionFeature(BaseModel):
    type: Literal["Feature"]
    id: int = Field(description="The center's id")
    geometry: Point
    properties: PositionProperties


class PositionMap(BaseModel):
    """RFC 7946 allows a datum other than WGS 84 by prior arrangement: this
    one is GCJ-02, as the centers' coordinates are stored and WeChat draws."""

    type: Literal["FeatureCollection"]
    features: list[PositionFeature]
