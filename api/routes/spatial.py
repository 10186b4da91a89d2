"""Spatial questions: ``/nearby`` (within R metres), ``/nearest`` (KNN), ``/stats/regions``."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Query, Request
from pydantic import BaseModel, ConfigDict, Field

from api.auth import oauth2_scheme
from api.deps import SessionDep
from api.reads import caller, read
from layers.features import region_prefix
from layers.nearby import (
    MAX_RADIUS_M,
    WITHIN_LAYERS,
    nearest_query,
    nearest_rows,
    region_stats,
    within,
)

router = APIRouter(tags=["spatial"])

Lon = Annotated[float, Query(ge=-180, le=180, description="longitude, WGS84 unless crs says otherwise")]
Lat = Annotated[float, Query(ge=-90, le=90, description="latitude")]


def _layers(value: str | None) -> tuple[str, ...]:
    """``a,b`` → ("a", "b"); :func:`layers.nearby.within` checks the names."""
    names = tuple(v.strip() for v in (value or "").split(",") if v.strip())
    return names or WITHIN_LAYERS


class NearbyBody(BaseModel):
    """``POST /nearby``: a GeoJSON geometry and a radius."""

    model_config = ConfigDict(extra="forbid", json_schema_extra={"example": {
        "geometry": {"type": "Polygon", "coordinates": [[[121.6, 29.95], [121.7, 29.95], [121.7, 30.0],
                                                         [121.6, 30.0], [121.6, 29.95]]]},
        "radius_m": 1000, "layers": ["protection_targets", "rescue_teams"]}})
    geometry: dict = Field(description="GeoJSON Point, Polygon or MultiPolygon")
    radius_m: float = Field(gt=0, le=MAX_RADIUS_M, description="metres (geodesic)")
    layers: list[str] | None = Field(None, max_length=len(WITHIN_LAYERS), description=", ".join(WITHIN_LAYERS))
    limit: int = Field(200, ge=1, le=1000, description="features listed per layer")
    crs: str | None = Field(None, max_length=40)


@router.get("/nearby")
def nearby(session: SessionDep, lon: Lon, lat: Lat,
           radius_m: Annotated[float, Query(gt=0, le=MAX_RADIUS_M, description="metres (geodesic)")],
           layers: Annotated[str | None, Query(max_length=300, description="comma-separated layer names")] = None,
           limit: Annotated[int, Query(ge=1, le=1000, description="features listed per layer")] = 200,
           crs: Annotated[str | None, Query(max_length=40)] = None) -> dict:
    """What lies within ``radius_m`` metres of a point, by layer, nearest first."""
    return within(session, radius_m=radius_m, lon=lon, lat=lat, crs=crs, layers=_layers(layers), limit=limit)


@router.post("/nearby")
def nearby_geometry(session: SessionDep, payload: NearbyBody) -> dict:
    """What lies within ``radius_m`` metres of a GeoJSON geometry (0 m inside a polygon)."""
    return within(session, radius_m=payload.radius_m, geometry=payload.geometry, crs=payload.crs,
                  layers=tuple(payload.layers or WITHIN_LAYERS), limit=payload.limit)


@router.get("/nearest")
async def nearest_resources(request: Request, token: Annotated[str | None, Depends(oauth2_scheme)], lon: Lon, lat: Lat,
                            kind: Annotated[Literal["rescue_teams", "supply_depots"], Query()] = "rescue_teams",
                            n: Annotated[int, Query(ge=1, le=100)] = 10,
                            item: Annotated[str | None, Query(min_length=1, max_length=100,
                                                              description="depots holding this item")] = None,
                            team_kind: Annotated[str | None, Query(max_length=40)] = None,
                            crs: Annotated[str | None, Query(max_length=40)] = None) -> dict:
    """The ``n`` nearest rescue teams or supply depots, straight-line (geodesic) distance.

    One pipelined round trip (:mod:`api.reads`): context, user check and the KNN query together.
    """
    who = caller(request.app.state, token, getattr(request.state, "request_id", None))  # 401 before 422
    sql, params = nearest_query(kind=kind, lon=lon, lat=lat, n=n, item=item, team_kind=team_kind, crs=crs)
    rows = nearest_rows(await read(request.app.state, who, sql, params, dicts=True))
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
