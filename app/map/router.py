"""The public map: every position in a box, as GeoJSON (no sign-in)."""

from typing import Annotated, Any

from fastapi import Query, Request, Response
from fastapi.responses import JSONResponse

from app.core.clock import utcnow
from app.core.db import DatabaseDep
from app.core.routing import api_router
from app.map import service
from app.map.cache import MapCache
from app.map.schemas import GEOJSON, PositionMap
from app.models import CenterKind, SpaceKind

router = api_router("/map", tags=["map"])


class GeoJsonResponse(JSONResponse):
    """JSON as ``application/geo+json`` (a JSON subclass, so the OpenAPI
    document gives the answer's schema); bytes are sent as they are."""

    media_type = GEOJSON

    def render(self, content: Any) -> bytes:
        return content if isinstance(content, bytes) else super().render(content)


def _kinds(kinds: type[CenterKind] | type[SpaceKind]) -> str:
    return ", ".join(f"`{kind.value}`" for kind in kinds)


@router.get("", response_model=PositionMap, response_class=GeoJsonResponse)
async def read_map(
    request: Request,
    database: DatabaseDep,
    bbox: Annotated[
        str,
        Query(
            max_length=120,
            description="`minLng,minLat,maxLng,maxLat` in GCJ-02 degrees, at most "
            f"{service.MAX_SPAN_DEGREES}° across each way",
            examples=["121.36,31.20,121.44,31.26"],
        ),
    ],
    kind: Annotated[
        str | None,
        Query(
            max_length=200,
            description="Only positions of these kinds, separated by `|`: " + _kinds(CenterKind),
            examples=["grid_station|residential_station"],
        ),
    ] = None,
    has: Annotated[
        str | None,
        Query(
            max_length=200,
            description="Only positions with an active space of any of these kinds, "
            "separated by `|`: " + _kinds(SpaceKind),
            examples=["study_room|meeting_room"],
        ),
    ] = None,
    open_now: Annotated[
        bool, Query(description="Only positions with a space open now (hours, holidays, closures)")
    ] = False,
) -> Response:
    """The positions (centers) in `bbox` as a GeoJSON FeatureCollection (RFC 7946,
    `application/geo+json`), each a Point at `[lng, lat]` in **GCJ-02**, the datum
    WeChat's map component draws in (not WGS 84), with its kind, address, whether
    it is open now, its spaces by kind, the seats free now in its study rooms,
    and its parent's id.

    Public, and the same for everyone: an answer is kept for a few seconds
    (`Cache-Control: public, max-age=…`), so a map may poll it."""
    query = service.MapQuery(
        bbox=service.parse_bbox(bbox),
        kinds=service.parse_kinds(kind, CenterKind, "kind"),
        has=service.parse_kinds(has, SpaceKind, "has"),
        open_now=open_now,
    )
    cache: MapCache = request.app.state.map_cache
    body = await cache.get(query, lambda: service.map_json(database, query, utcnow()))
    return GeoJsonResponse(body, headers={"Cache-Control": f"public, max-age={cache.seconds}"})
