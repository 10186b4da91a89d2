"""The web map's MapLibre style, built from our own data and the layer catalogue.

No online basemap: land is the province polygons over a sea-coloured
background, boundaries and their labels come from ``regions``; every
thematic layer (enterprises, hazard units, hidden dangers, targets, teams,
depots, the H3 risk surface) is drawn with the paint and zooms of its
:mod:`layers.catalogue` entry, so colours live in one place. Two themes:
``light`` for desks, ``dark`` for command-centre walls (only the basemap
palette differs; legends stay the same).

Decorations the catalogue cannot express as one layer are added here, each
reading its colours from the catalogue: clustered points at low zoom
(``count`` from :mod:`layers.tiles` thinning), labels of enterprises at
street zoom (MapLibre drops colliding labels), the overdue ring on hidden
dangers whose deadline passed before ``today``, and the emphasis of major
dangers. Labels use the font stack served by :mod:`layers.glyphs`; CJK
characters may also be drawn from a local font by the page
(``localIdeographFontFamily``).
"""

from __future__ import annotations

import copy
import json
from datetime import date
from typing import Any, Literal

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from geo import vocab
from geo.errors import InvalidInput
from geo.models import Region
from layers.catalogue import DANGER_COLOURS, LAYERS, Layer
from layers.glyphs import FONT_STACK

__all__ = ["THEMES", "map_style", "region_labels", "THEMATIC", "DEFAULT_VISIBLE"]

Theme = Literal["light", "dark"]

THEMES: dict[str, dict[str, str]] = {
    "light": {"sea": "#cfe0ee", "land": "#f6f4ef", "boundary": "#6b6b6b", "label": "#262626",
              "halo": "#ffffff", "county_fill": "rgba(0,0,0,0)", "cluster_text": "#141414"},
    "dark": {"sea": "#07111c", "land": "#15202c", "boundary": "#8aa0b6", "label": "#e6edf3",
             "halo": "#07111c", "county_fill": "rgba(0,0,0,0)", "cluster_text": "#ffffff"},
}

THEMATIC = ("risk_cells_r5", "risk_cells_r7", "risk_cells_r9", "protection_targets", "hidden_dangers",
            "hazard_units", "rescue_teams", "supply_depots", "enterprises", "credit_grades", "sensors",
            "accident_reports", "alarms")
"""Catalogue layers drawn over the basemap, bottom to top (credit grades over the enterprises and the monitoring
sensors, both off at first; accident reports, then live alarms, on top of everything)."""

DEFAULT_VISIBLE = frozenset({"risk_cells_r5", "risk_cells_r7", "risk_cells_r9", "hidden_dangers", "hazard_units",
                             "rescue_teams", "supply_depots", "enterprises", "accident_reports", "alarms"})
SOURCE_MAXZOOM = 14  # tiles are overzoomed past this (points are never thinned there)
_LABEL_FIELD = {"enterprises": "name", "hazard_units": "name", "rescue_teams": "name", "supply_depots": "name",
                "protection_targets": "name"}


def region_labels(session: Session) -> dict[str, Any]:
    """Label points of every region (a point inside each polygon) as a GeoJSON FeatureCollection."""
    rows = session.execute(select(Region.adcode, Region.name, Region.level,
                                  func.ST_AsGeoJSON(func.ST_PointOnSurface(Region.geom), 5).label("g"))
                           .order_by(Region.adcode)).all()
    return {"type": "FeatureCollection", "features": [
        {"type": "Feature", "id": int(r.adcode), "geometry": json.loads(r.g),
         "properties": {"adcode": r.adcode, "name": r.name, "level": r.level}} for r in rows]}


def _vector_source(origin: str, layer: Layer) -> dict[str, Any]:
    return {"type": "vector", "tiles": [f"{origin}/tiles/{layer.name}/{{z}}/{{x}}/{{y}}.mvt"],
            "minzoom": layer.minzoom, "maxzoom": min(layer.maxzoom, SOURCE_MAXZOOM),
            "promoteId": "id" if layer.geometry != "Point" else None}


def _base(layer: Layer, *, visible: bool, **extra) -> dict[str, Any]:
    style = copy.deepcopy(layer.style)
    out = {"id": layer.name, "type": style["type"], "source": layer.name, "source-layer": layer.name,
           "minzoom": layer.minzoom, "maxzoom": min(layer.maxzoom, 24),
           "paint": style.get("paint", {}), "layout": dict(style.get("layout", {}))}
    out["layout"]["visibility"] = "visible" if visible else "none"
    out["metadata"] = {"onemap:layer": layer.name}
    out.update(extra)
    return out


def _point_layers(layer: Layer, *, visible: bool, palette: dict[str, str], today: date) -> list[dict[str, Any]]:
    """The catalogue's point style for single features, a sized copy for clusters, labels, decorations."""
    not_cluster = ["!", ["has", "count"]]
    single = _base(layer, visible=visible, filter=not_cluster)
    colour = single["paint"].get("circle-color", "#8c8c8c")
    out = [single]
    if layer.thin_below is not None:
        out.append({"id": f"{layer.name}-clusters", "type": "circle", "source": layer.name,
                    "source-layer": layer.name, "filter": ["has", "count"],
                    "maxzoom": layer.thin_below, "metadata": {"onemap:layer": layer.name},
                    "layout": {"visibility": single["layout"]["visibility"]},
                    "paint": {"circle-color": colour, "circle-opacity": 0.8,
                              "circle-stroke-color": palette["halo"], "circle-stroke-width": 1,
                              "circle-radius": ["interpolate", ["linear"], ["get", "count"],
                                                1, 4, 10, 7, 100, 12, 1000, 18, 10000, 26]}})
        out.append({"id": f"{layer.name}-cluster-counts", "type": "symbol", "source": layer.name,
                    "source-layer": layer.name, "filter": [">=", ["get", "count"], 10],
                    "maxzoom": layer.thin_below, "metadata": {"onemap:layer": layer.name},
                    "layout": {"visibility": single["layout"]["visibility"],
                               "text-field": ["to-string", ["get", "count"]], "text-font": [FONT_STACK],
                               "text-size": 11, "text-allow-overlap": False},
                    "paint": {"text-color": palette["cluster_text"], "text-halo-color": palette["halo"],
                              "text-halo-width": 1}})
    if layer.name == "hidden_dangers":
        # major dangers drawn larger; overdue ones (deadline before today, not yet verified) ringed in red
        single["paint"]["circle-radius"] = ["interpolate", ["linear"], ["zoom"],
                                            5, ["case", ["==", ["get", "level"], "major"], 4, 2],
                                            14, ["case", ["==", ["get", "level"], "major"], 9, 5]]
        out.append({"id": "hidden_dangers-overdue", "type": "circle", "source": layer.name,
                    "source-layer": layer.name, "metadata": {"onemap:layer": layer.name},
                    "filter": ["all", not_cluster, ["in", ["get", "status"], ["literal", list(vocab.DANGER_UNRECTIFIED)]],
                               ["has", "deadline"], ["<", ["get", "deadline"], today.isoformat()]],
                    "layout": {"visibility": single["layout"]["visibility"]},
                    "paint": {"circle-color": "rgba(0,0,0,0)", "circle-stroke-color": DANGER_COLOURS["major"],
                              "circle-stroke-width": 2,
                              "circle-radius": ["interpolate", ["linear"], ["zoom"], 5, 5, 14, 11]}})
    label = _LABEL_FIELD.get(layer.name)
    if label is not None:
        out.append({"id": f"{layer.name}-labels", "type": "symbol", "source": layer.name,
                    "source-layer": layer.name, "minzoom": 13, "filter": not_cluster,
                    "metadata": {"onemap:layer": layer.name},
                    "layout": {"visibility": single["layout"]["visibility"], "text-field": ["get", label],
                               "text-font": [FONT_STACK], "text-size": 12, "text-offset": [0, 1.1],
                               "text-anchor": "top", "text-max-width": 10, "text-optional": True},
                    "paint": {"text-color": palette["label"], "text-halo-color": palette["halo"],
                              "text-halo-width": 1.5}})
    return out


def map_style(*, origin: str, theme: str = "light", today: date | None = None,
              visible: frozenset[str] | None = None) -> dict[str, Any]:
    """A MapLibre style (v8) for the page served at ``origin`` (``http://host:port``).

    ``visible`` names the thematic catalogue layers shown at first
    (default :data:`DEFAULT_VISIBLE`); the page toggles the rest.
    """
    if theme not in THEMES:
        raise InvalidInput("theme", f"unknown theme {theme!r}; allowed: {', '.join(THEMES)}")
    palette = THEMES[theme]
    today = today or date.today()
    visible = DEFAULT_VISIBLE if visible is None else visible
    unknown = set(visible) - set(THEMATIC)
    if unknown:
        raise InvalidInput("layers", f"unknown layers {sorted(unknown)}; allowed: {', '.join(THEMATIC)}")
    sources: dict[str, Any] = {"region_labels": {"type": "geojson", "data": f"{origin}/map/region-labels"}}
    for name in ("regions_province", "regions_city", "regions_county", *THEMATIC):
        sources[name] = _vector_source(origin, LAYERS[name])
    style_layers: list[dict[str, Any]] = [
        {"id": "sea", "type": "background", "paint": {"background-color": palette["sea"]}},
        {"id": "land", "type": "fill", "source": "regions_province", "source-layer": "regions_province",
         "paint": {"fill-color": palette["land"], "fill-antialias": False}},
        # an invisible county fill: what a click hits for the drill-down
        {"id": "regions-hit", "type": "fill", "source": "regions_county", "source-layer": "regions_county",
         "paint": {"fill-color": palette["county_fill"]}},
    ]
    for name in ("regions_county", "regions_city", "regions_province"):
        layer = LAYERS[name]
        boundary = _base(layer, visible=True)
        boundary["paint"]["line-color"] = palette["boundary"]
        boundary["paint"]["line-opacity"] = 0.8
        style_layers.append(boundary)
    style_layers.append({"id": "region-highlight", "type": "line", "source": "regions_county",
                         "source-layer": "regions_county", "filter": ["==", ["get", "adcode"], ""],
                         "paint": {"line-color": "#1677ff", "line-width": 3}})
    for name in THEMATIC:
        layer = LAYERS[name]
        if layer.geometry == "Point" or name == "protection_targets":
            style_layers += _point_layers(layer, visible=name in visible, palette=palette, today=today)
        else:
            style_layers.append(_base(layer, visible=name in visible))
    label_paint = {"text-color": palette["label"], "text-halo-color": palette["halo"], "text-halo-width": 2}
    for level, minzoom, maxzoom, size in (("province", 0, 6, 18), ("city", 6, 9, 15), ("county", 8.5, 24, 13)):
        style_layers.append({"id": f"labels-{level}", "type": "symbol", "source": "region_labels",
                             "minzoom": minzoom, "maxzoom": maxzoom, "filter": ["==", ["get", "level"], level],
                             "layout": {"text-field": ["get", "name"], "text-font": [FONT_STACK],
                                        "text-size": size, "text-padding": 4},
                             "paint": label_paint})
    return {
        "version": 8,
        "name": f"OneMap {theme}",
        "metadata": {"onemap:theme": theme, "onemap:today": today.isoformat()},
        "glyphs": f"{origin}/fonts/{{fontstack}}/{{range}}.pbf",
        "sources": sources,
        "layers": style_layers,
        "center": [120.15, 29.2],
        "zoom": 6.5,
    }
