"""``/regions``: the administrative tree (read-only)."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Query
from fastapi.responses import JSONResponse

from api.deps import SessionDep
from layers.regions import get_region, list_regions

router = APIRouter(tags=["regions"])


@router.get("/regions")
def regions(
    session: SessionDep,
    level: Annotated[Literal["province", "city", "county"] | None, Query()] = None,
    parent: Annotated[str | None, Query(pattern=r"^\d{6}$")] = None,
    f: Annotated[Literal["json", "geojson"], Query(description="json or geojson")] = "json",
):
    """Regions as ``{data, count}``, or a GeoJSON FeatureCollection with ``f=geojson``."""
    rows = list_regions(session, level=level, parent=parent, with_geometry=(f == "geojson"))
    if f == "geojson":
        features = [{"type": "Feature", "id": r["adcode"], "geometry": r.pop("geometry"), "properties": r}
                    for r in rows]
        return JSONResponse({"type": "FeatureCollection", "features": features},
                            media_type="application/geo+json")
    return {"data": rows, "count": len(rows)}


@router.get("/regions/{adcode}")
def region(adcode: str, session: SessionDep,
           geometry: Annotated[bool, Query(description="include the full-resolution boundary")] = True):
    """One region with bbox, geometry (unless ``geometry=false``), children and counts."""
    return get_region(session, adcode=adcode, with_geometry=geometry)
