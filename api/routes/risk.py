"""The risk surface over HTTP: ``/risk/surface``, ``/risk/cells``, ``/risk/counties``,
``/risk/contours``, ``/risk/violations``, ``/risk/societal/{enterprise_id}``."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Query

from api.deps import SessionDep
from layers.features import InvalidQuery, parse_bbox, region_prefix
from layers.risk_criteria import contours, violations
from layers.risk_views import MAX_CELLS, cells_geojson, county_summary, societal, surface_info

router = APIRouter(prefix="/risk", tags=["risk"])

Installations = Annotated[Literal["existing", "new"], Query(
    description="GB 36894 limits for in-service (existing) or planned (new) installations")]
Adcode = Annotated[str | None, Query(max_length=6, description="limit to a province, city or county")]


@router.get("/surface")
def surface(session: SessionDep) -> dict:
    """How the individual-risk surface was built: resolution, weather, wind rose, when, what was skipped."""
    return surface_info(session)


@router.get("/cells")
def cells(session: SessionDep,
          bbox: Annotated[str, Query(max_length=200, description="minLon,minLat,maxLon,maxLat (WGS84)")],
          res: Annotated[int | None, Query(ge=0, le=15, description="H3 resolution: 9 (base), 7 or 5")] = None,
          min_risk: Annotated[float, Query(ge=0, le=1, description="per year")] = 0.0,
          limit: Annotated[int, Query(ge=1, le=MAX_CELLS)] = 5000) -> dict:
    """Risk cells in a box as GeoJSON, highest individual risk first."""
    box = parse_bbox(bbox)
    if box is None:
        raise InvalidQuery("bbox", "is required: minLon,minLat,maxLon,maxLat")
    return cells_geojson(session, bbox=box, res=res, min_risk=min_risk, limit=limit)


@router.get("/counties")
def counties(session: SessionDep, adcode: Adcode = None, installations: Installations = "existing") -> list[dict]:
    """Per county: highest individual risk, and cells and people above each GB 36894 limit."""
    return county_summary(session, adcode_prefix=region_prefix(session, adcode), status=installations)


@router.get("/contours")
def risk_contours(session: SessionDep, installations: Installations = "existing",
                  threshold: Annotated[list[float] | None, Query(
                      description="per year; repeat for several; default: the GB 36894 limits")] = None,
                  adcode: Adcode = None) -> dict:
    """Individual-risk contours (unions of cells above each threshold) as GeoJSON."""
    return contours(session, thresholds=threshold, status=installations,
                    adcode_prefix=region_prefix(session, adcode))


@router.get("/violations")
def risk_violations(session: SessionDep, installations: Installations = "existing", adcode: Adcode = None,
                    limit: Annotated[int, Query(ge=1, le=5000)] = 1000) -> dict:
    """Protection targets where the individual risk exceeds the GB 36894 limit of their class
    (external safety distance problems), worst first, as GeoJSON points."""
    rows = violations(session, status=installations, adcode_prefix=region_prefix(session, adcode), limit=limit)
    return {"type": "FeatureCollection", "features": [
        {"type": "Feature", "id": r["id"], "geometry": {"type": "Point", "coordinates": [r.pop("lon"), r.pop("lat")]},
         "properties": r} for r in rows]}


@router.get("/societal/{enterprise_id}")
def societal_risk(session: SessionDep, enterprise_id: int) -> dict:
    """One enterprise's F–N curve with the GB 36894 verdict (acceptable / ALARP / unacceptable)."""
    return societal(session, enterprise_id)
