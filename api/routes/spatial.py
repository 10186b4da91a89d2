"""Spatial questions: ``/nearby`` (within R metres), ``/nearest`` (KNN), ``/stats/regions``."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Body, Query

from api.deps import SessionDep
from geo.errors import InvalidInput
from layers.features import region_prefix
from layers.nearby import MAX_RADIUS_M, WITHIN_LAYERS, nearest, region_stats, within

router = APIRouter(tags=["spatial"])

Lon = Annotated[float, Query(ge=-180, le=180, description="longitude, WGS84 unless crs says otherwise")]
Lat = Annotated[float, Query(ge=-90, le=90, description="latitude")]


def _layers(value: str | None) -> tuple[str, ...]:
    if not value:
        return WITHIN_LAYERS
    names = tuple(v.strip() for v in value.split(",") if v.strip())
    for name in names:
        if name not in WITHIN_LAYERS:
            raise InvalidInput("layers", f"unknown layer {name!r}; allowed: {', '.join(WITHIN_LAYERS)}")
    return names


@router.get("/nearby")
def nearby(session: SessionDep, lon: Lon, lat: Lat,
           radius_m: Annotated[float, Query(gt=0, le=MAX_RADIUS_M, description="metres (geodesic)")],
           layers: Annotated[str | None, Query(max_length=300, description="comma-separated layer names")] = None,
           limit: Annotated[int, Query(ge=1, le=1000, description="features listed per layer")] = 200,
           crs: Annotated[str | None, Query(max_length=40)] = None) -> dict:
    """What lies within ``radius_m`` metres of a point, by layer, nearest first."""
    return within(session, radius_m=radius_m, lon=lon, lat=lat, crs=crs, layers=_layers(layers), limit=limit)


@router.post("/nearby", openapi_extra={"requestBody": {"required": True, "content": {"application/json": {
    "schema": {"type": "object", "required": ["geometry", "radius_m"], "properties": {
        "geometry": {"type": "object", "description": "GeoJSON Point, Polygon or MultiPolygon"},
        "radius_m": {"type": "number", "exclusiveMinimum": 0, "maximum": MAX_RADIUS_M},
        "layers": {"type": "array", "items": {"type": "string", "enum": list(WITHIN_LAYERS)}},
        "limit": {"type": "integer", "minimum": 1, "maximum": 1000},
        "crs": {"type": "string"}}},
    "example": {"geometry": {"type": "Polygon", "coordinates": [[[121.6, 29.95], [121.7, 29.95], [121.7, 30.0],
                                                               [121.6, 30.0], [121.6, 29.95]]]},
                "radius_m": 1000, "layers": ["protection_targets", "rescue_teams"]}}}}})
def nearby_geometry(session: SessionDep, payload: Annotated[Any, Body()]) -> dict:
    """What lies within ``radius_m`` metres of a GeoJSON geometry (0 m inside a polygon)."""
    if not isinstance(payload, dict):
        raise InvalidInput("body", "must be a JSON object with geometry and radius_m")
    unknown = set(payload) - {"geometry", "radius_m", "layers", "limit", "crs"}
    if unknown:
        raise InvalidInput(sorted(unknown)[0], "unknown field; allowed: geometry, radius_m, layers, limit, crs")
    layers = payload.get("layers")
    if layers is not None and (not isinstance(layers, list) or not all(isinstance(x, str) for x in layers)):
        raise InvalidInput("layers", "must be a list of layer names")
    limit = payload.get("limit", 200)
    if isinstance(limit, bool) or not isinstance(limit, int) or not 1 <= limit <= 1000:
        raise InvalidInput("limit", "must be an integer from 1 to 1000")
    crs = payload.get("crs")
    if crs is not None and not isinstance(crs, str):
        raise InvalidInput("crs", "must be a string")
    if "geometry" not in payload:
        raise InvalidInput("geometry", "is required")
    return within(session, radius_m=payload.get("radius_m"), geometry=payload["geometry"], crs=crs,
                  layers=_layers(",".join(layers)) if layers else WITHIN_LAYERS, limit=limit)


@router.get("/nearest")
def nearest_resources(session: SessionDep, lon: Lon, lat: Lat,
                      kind: Annotated[Literal["rescue_teams", "supply_depots"], Query()] = "rescue_teams",
                      n: Annotated[int, Query(ge=1, le=100)] = 10,
                      item: Annotated[str | None, Query(min_length=1, max_length=100,
                                                        description="depots holding this item")] = None,
                      team_kind: Annotated[str | None, Query(max_length=40)] = None,
                      crs: Annotated[str | None, Query(max_length=40)] = None) -> dict:
    """The ``n`` nearest rescue teams or supply depots, straight-line (geodesic) distance."""
    rows = nearest(session, kind=kind, lon=lon, lat=lat, n=n, item=item, team_kind=team_kind, crs=crs)
    return {"data": rows, "count": len(rows)}


@router.get("/stats/regions")
def stats(session: SessionDep,
          level: Annotated[Literal["province", "city", "county"], Query()] = "county",
          parent: Annotated[str | None, Query(pattern=r"^\d{6}$")] = None) -> dict:
    """Per region: enterprises by risk colour, hazard units by grade, hidden dangers, protection targets."""
    if parent is not None:
        region_prefix(session, parent, field_name="parent")
    rows = region_stats(session, level=level, parent=parent)
    return {"data": rows, "count": len(rows)}
