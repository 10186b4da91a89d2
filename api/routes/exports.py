"""Exports that open offline: a saved scenario (GeoJSON, GeoTIFF, HTML) and the current map view (HTML, GeoJSON).

Thin adapters over :mod:`layers.scenario_exports` and :mod:`layers.reports`;
row-level security in the session decides what is visible (another
jurisdiction's scenario is a 404). Every answer is an attachment.
"""

from __future__ import annotations

import json
from typing import Annotated, Literal

from fastapi import APIRouter, Depends, HTTPException, Path, Query
from fastapi.responses import Response

from api.deps import SessionDep
from layers.features import parse_bbox
from layers.offline_html import OfflineAssetMissing, leaflet_assets
from layers.reports import view_geojson, view_report_html
from layers.scenario_exports import scenario_geojson, scenario_geotiff, scenario_report_html

__all__ = ["router"]

router = APIRouter(tags=["exports"])

GEOJSON = "application/geo+json"
HTML = "text/html; charset=utf-8"
ScenarioId = Annotated[int, Path(ge=1, le=2**63 - 1)]
Lang = Annotated[Literal["zh", "en"], Query(description="language of the briefing: zh (default) or en")]
Bbox = Annotated[str, Query(max_length=200, description="minLon,minLat,maxLon,maxLat (WGS84 degrees)")]
LayerNames = Annotated[str, Query(max_length=500, description="catalogue layers, comma-separated: enterprises,"
                                                              "hazard_units,hidden_dangers ...")]


def require_leaflet() -> None:
    """HTML exports need Leaflet installed (``webmap``); a clear 503 when it is not."""
    try:
        leaflet_assets()
    except OfflineAssetMissing as exc:
        raise HTTPException(status_code=503, detail=str(exc)) from None


LeafletDep = Annotated[None, Depends(require_leaflet)]


def _attachment(body: bytes | str, media_type: str, filename: str) -> Response:
    return Response(body, media_type=media_type,
                    headers={"Content-Disposition": f'attachment; filename="{filename}"',
                             "Cache-Control": "private, no-store"})


def _json(doc: dict) -> str:
    return json.dumps(doc, ensure_ascii=False, allow_nan=False, separators=(",", ":"))


@router.get("/scenarios/{scenario_id}/export.geojson", response_class=Response,
            responses={200: {"content": {GEOJSON: {}}}})
def scenario_as_geojson(session: SessionDep, scenario_id: ScenarioId) -> Response:
    """Threat zones, wind-direction band and source as stored (RFC 7946, WGS84)."""
    return _attachment(_json(scenario_geojson(session, scenario_id=scenario_id)), GEOJSON,
                       f"scenario-{scenario_id}.geojson")


@router.get("/scenarios/{scenario_id}/export.tif", response_class=Response,
            responses={200: {"content": {"image/tiff": {}}}})
def scenario_as_geotiff(session: SessionDep, scenario_id: ScenarioId,
                        north_up: Annotated[bool, Query(description="resample onto a north-up grid")] = False
                        ) -> Response:
    """Ground-level maximum concentration (ppm, float32) of the re-run scenario, local metric CRS."""
    body = scenario_geotiff(session, scenario_id=scenario_id, north_up=north_up)
    return _attachment(body, "image/tiff", f"scenario-{scenario_id}.tif")


@router.get("/scenarios/{scenario_id}/export.html", response_class=Response,
            responses={200: {"content": {"text/html": {}}}})
def scenario_as_html(session: SessionDep, scenario_id: ScenarioId, _leaflet: LeafletDep, lang: Lang = "zh"
                     ) -> Response:
    """Offline briefing: map of zones, band, source and nearest help; impact per zone as tables."""
    body = scenario_report_html(session, scenario_id=scenario_id, lang=lang)
    return _attachment(body, HTML, f"scenario-{scenario_id}.html")


@router.get("/export/view.html", response_class=Response, responses={200: {"content": {"text/html": {}}}})
def view_as_html(session: SessionDep, bbox: Bbox, layers: LayerNames, _leaflet: LeafletDep, lang: Lang = "zh"
                 ) -> Response:
    """Offline briefing of a map view: counts per layer, most serious items, the features on a map."""
    body = view_report_html(session, bbox=parse_bbox(bbox), layers=layers, lang=lang)
    return _attachment(body, HTML, "onemap-view.html")


@router.get("/export/view.geojson", response_class=Response, responses={200: {"content": {GEOJSON: {}}}})
def view_as_geojson(session: SessionDep, bbox: Bbox, layers: LayerNames) -> Response:
    """The visible features of the layers (property ``layer``; ``capped`` says where the cap cut)."""
    body = _json(view_geojson(session, bbox=parse_bbox(bbox), layers=layers))
    return _attachment(body, GEOJSON, "onemap-view.geojson")
