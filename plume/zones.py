"""Threat zones (one polygon per level of concern) and the wind-direction band.

Zones are traced on the concentration grid with ``rasterio.features.shapes``
(cell edges, so the traced outline is exact to the cell), then simplified
with a tolerance of half a cell — never more than one cell of smoothing — and
projected to WGS84. The maximum downwind distance and the area are measured
on the unsimplified cells in the local equidistant projection.

Wind-direction confidence band
------------------------------
ALOHA draws "wind direction confidence lines" around the threat zone that
widen as the wind weakens (aloha.md); ALOHA's own formula was not found in
the sources available to OneMap. OneMap's documented rule: a wedge from the
source, out to the longest zone, of half-angle::

    θ = min(180°, 2 · σθ · max(1, 5 m/s ÷ u))

with σθ = 10°, the wind-direction standard deviation of neutral class D in
NOAA's Pasquill-class table (READYpgclass.php: A 25°, B 20°, C 15°, D 10°,
E 5°, F 2.5°). Two standard deviations cover about 95 % of directions; below
5 m/s the angle grows as 1/u because σθ ≈ σv/u at a fixed turbulent velocity.
So ±20° at 5 m/s and above, ±33° at 3 m/s, ±100° at 1 m/s, and a full circle
below 0.56 m/s.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
import shapely
from rasterio import features
from shapely.geometry import MultiPolygon, Polygon, shape

from .grid import LocalGrid, to_wgs84_transformer, wind_axes

__all__ = ["ThreatZone", "contour_zones", "confidence_half_angle_deg", "confidence_band",
           "ZONE_COLOURS"]

ZONE_COLOURS = {3: "#ff0000", 2: "#ff8c00", 1: "#ffff00", 0: "#8000ff"}  # ALOHA red/orange/yellow
_SIGMA_THETA_D_DEG = 10.0
_BAND_REFERENCE_WIND_M_S = 5.0


@dataclass(frozen=True)
class ThreatZone:
    """Area where the ground-level maximum concentration reaches a level of concern."""

    name: str
    threshold_ppm: float
    tier: int
    geometry_wgs84: Polygon | MultiPolygon = field(repr=False)
    geometry_local: Polygon | MultiPolygon = field(repr=False)
    max_downwind_m: float
    area_m2: float

    @property
    def colour(self) -> str:
        return ZONE_COLOURS.get(self.tier, ZONE_COLOURS[0])

    @property
    def is_empty(self) -> bool:
        return self.geometry_local.is_empty


def _to_wgs84(geom, grid: LocalGrid):
    t = to_wgs84_transformer(grid.lon, grid.lat)

    def project(coords: np.ndarray) -> np.ndarray:
        lon, lat = t.transform(coords[:, 0], coords[:, 1])
        return np.column_stack([lon, lat])

    return shapely.transform(geom, project)


def contour_zones(concentration_ppm: np.ndarray, grid: LocalGrid, wind_from_deg: float | None,
                  levels: list[tuple[str, float, int]]) -> list[ThreatZone]:
    """Trace one zone per level ``(name, threshold_ppm, tier)``.

    ``max_downwind_m`` is measured along the wind; with ``wind_from_deg=None``
    (ensembles over directions) it is the largest distance from the source.
    Returns zones in the order of ``levels``; a level never reached gives an
    empty zone with distance and area 0.
    """
    de, dn = wind_axes(wind_from_deg) if wind_from_deg is not None else (0.0, 0.0)
    zones = []
    cell_area = grid.cell_m ** 2
    for name, threshold, tier in levels:
        mask = concentration_ppm >= threshold
        n_cells = int(np.count_nonzero(mask))
        if n_cells == 0:
            empty = Polygon()
            zones.append(ThreatZone(name, threshold, tier, empty, empty, 0.0, 0.0))
            continue
        polys = [shape(g) for g, _ in features.shapes(mask.view(np.uint8), mask=mask,
                                                        transform=grid.transform)]
        raw = shapely.union_all(polys)
        coords = shapely.get_coordinates(raw)
        if wind_from_deg is None:
            max_down = float(np.max(np.hypot(coords[:, 0], coords[:, 1])))
        else:
            max_down = float(np.max(coords[:, 0] * de + coords[:, 1] * dn))
        smooth = shapely.simplify(raw, grid.cell_m * 0.5, preserve_topology=True)
        zones.append(ThreatZone(name, threshold, tier, _to_wgs84(smooth, grid), smooth,
                                max(max_down, 0.0), n_cells * cell_area))
    return zones


def confidence_half_angle_deg(wind_speed_m_s: float) -> float:
    """Half-angle of the wind-direction confidence band, degrees.

    Examples
    --------
    >>> [round(confidence_half_angle_deg(u), 1) for u in (10, 5, 3, 1, 0.5)]
    [20.0, 20.0, 33.3, 100.0, 180.0]
    """
    scale = max(1.0, _BAND_REFERENCE_WIND_M_S / float(wind_speed_m_s))
    return min(180.0, 2.0 * _SIGMA_THETA_D_DEG * scale)


def confidence_band(grid: LocalGrid, wind_from_deg: float, wind_speed_m_s: float,
                    radius_m: float, n_arc: int = 64):
    """Wedge (or disc) polygon in WGS84 around the downwind direction, or ``None``."""
    if not radius_m > 0:
        return None
    half = math.radians(confidence_half_angle_deg(wind_speed_m_s))
    to = math.radians((wind_from_deg + 180.0) % 360.0)
    angles = np.linspace(to - half, to + half, n_arc)
    arc = np.column_stack([radius_m * np.sin(angles), radius_m * np.cos(angles)])
    full_circle = half >= math.pi
    local = Polygon(arc) if full_circle else Polygon(np.vstack([[0.0, 0.0], arc, [0.0, 0.0]]))
    return _to_wgs84(local, grid)
