"""The result of a plume run and its exports (GeoJSON, GeoTIFF, folium map)."""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np
from shapely.geometry import mapping

from .grid import LocalGrid
from .zones import ThreatZone, confidence_half_angle_deg

if TYPE_CHECKING:  # pragma: no cover
    from .footprint import Dispersion
    from .scenario import Scenario

__all__ = ["Result", "MODEL_NAME"]

MODEL_NAME = "OneMap Gaussian plume/puff, total ground reflection"


def _round_coords(obj: Any, ndigits: int = 7) -> Any:
    if isinstance(obj, (list, tuple)):
        if obj and all(isinstance(v, float) for v in obj):
            return [round(v, ndigits) for v in obj]
        return [_round_coords(v, ndigits) for v in obj]
    if isinstance(obj, dict):
        return {k: _round_coords(v, ndigits) for k, v in obj.items()}
    return obj


@dataclass(frozen=True)
class Result:
    """Ground-level concentration grid, threat zones and warnings of one run.

    Attributes
    ----------
    scenario : Scenario
        The validated input.
    grid : LocalGrid
        Receptor grid (local azimuthal-equidistant projection on the source).
    concentration_ppm : ndarray, shape (ny, nx)
        Maximum over time of the ground-level concentration, ppm, north-up.
    zones : tuple of ThreatZone
        One per level of concern, most severe first (may be empty).
    confidence_band : shapely Polygon or None
        Wind-direction confidence band in WGS84.
    warnings : tuple of str
        Validity limits this scenario runs into.
    dispersion : Dispersion
        The numbers the physics used (wind, class, rate or mass, duration).
    sigma_set : str
        Name of the dispersion-coefficient set.
    """

    scenario: Scenario
    grid: LocalGrid
    concentration_ppm: np.ndarray = field(repr=False)
    zones: tuple[ThreatZone, ...]
    confidence_band: Any
    warnings: tuple[str, ...]
    dispersion: Dispersion
    sigma_set: str
    release_temperature_k: float | None = None

    @property
    def transform(self):
        """Affine transform pixel → local metres."""
        return self.grid.transform

    @property
    def crs(self):
        """pyproj CRS of the grid (local azimuthal equidistant, metres)."""
        return self.grid.crs

    @property
    def cell_m(self) -> float:
        return self.grid.cell_m

    @property
    def max_ppm(self) -> float:
        return float(np.max(self.concentration_ppm)) if self.concentration_ppm.size else 0.0

    # ---- GeoJSON ------------------------------------------------------------------
    def to_geojson_dict(self) -> dict:
        """RFC 7946 FeatureCollection: zones, confidence band, source point.

        Run metadata (model, sigma set, stability, warnings, input scenario)
        is in the foreign member ``"onemap"``.
        """
        s = self.scenario
        feats = []
        for z in self.zones:
            feats.append({
                "type": "Feature",
                "geometry": None if z.is_empty else _round_coords(mapping(z.geometry_wgs84)),
                "properties": {"kind": "threat_zone", "level": z.name,
                               "threshold_ppm": z.threshold_ppm, "tier": z.tier,
                               "colour": z.colour, "chemical": s.chemical,
                               "max_downwind_m": round(z.max_downwind_m, 1),
                               "area_m2": round(z.area_m2, 1)},
            })
        if self.confidence_band is not None:
            feats.append({
                "type": "Feature",
                "geometry": _round_coords(mapping(self.confidence_band)),
                "properties": {"kind": "wind_direction_confidence",
                               "half_angle_deg": round(confidence_half_angle_deg(
                                   s.weather.wind_speed_m_s), 2)},
            })
        feats.append({
            "type": "Feature",
            "geometry": {"type": "Point", "coordinates": [s.source_lon, s.source_lat]},
            "properties": {"kind": "source", "chemical": s.chemical,
                           "release_height_m": s.release_height_m},
        })
        return {
            "type": "FeatureCollection",
            "features": feats,
            "onemap": {
                "model": MODEL_NAME,
                "sigma_set": self.sigma_set,
                "stability": self.dispersion.stability,
                "terrain": self.dispersion.terrain,
                "wind_speed_m_s": self.dispersion.u_m_s,
                "wind_from_deg": s.weather.wind_from_deg,
                "cell_m": self.grid.cell_m,
                "max_concentration_ppm": self.max_ppm,
                "warnings": list(self.warnings),
                "scenario": s.model_dump(mode="json"),
            },
        }

    def to_geojson(self, indent: int | None = None) -> str:
        """The FeatureCollection of :meth:`to_geojson_dict` as a JSON string."""
        return json.dumps(self.to_geojson_dict(), ensure_ascii=False, indent=indent,
                          allow_nan=False)

    # ---- GeoTIFF ------------------------------------------------------------------
    def to_geotiff(self, path, *, north_up: bool = False) -> None:
        """Write the concentration grid (ppm, float32) as a GeoTIFF in the local CRS.

        The grid of :func:`plume.run` is laid along the wind, so by default the
        file has a rotated geotransform (GDAL, QGIS and rasterio read it).
        ``north_up=True`` resamples (bilinear) onto a north-up grid of the same
        cell size instead.
        """
        import rasterio

        data = self.concentration_ppm.astype(np.float32)
        transform = self.grid.transform
        crs_wkt = self.grid.crs.to_wkt()
        if north_up and not self.grid.north_up:
            from rasterio.warp import Resampling, reproject

            g = self.grid
            corners = [transform @ (i, j) for i in (0, g.nx) for j in (0, g.ny)]
            east = [c[0] for c in corners]
            north = [c[1] for c in corners]
            target = LocalGrid.covering(g.lon, g.lat, min(east), max(east), min(north),
                                        max(north), g.cell_m)
            out = np.zeros(target.shape, dtype=np.float32)
            reproject(source=data, destination=out, src_transform=transform, src_crs=crs_wkt,
                      dst_transform=target.transform, dst_crs=crs_wkt,
                      resampling=Resampling.bilinear)
            data, transform = out, target.transform
        with rasterio.open(path, "w", driver="GTiff", height=data.shape[0], width=data.shape[1],
                           count=1, dtype="float32", crs=crs_wkt, transform=transform,
                           compress="deflate") as dst:
            dst.write(data, 1)
            dst.update_tags(units="ppm", quantity="ground-level maximum concentration",
                            chemical=self.scenario.chemical, model=MODEL_NAME,
                            sigma_set=self.sigma_set)

    # ---- folium ---------------------------------------------------------------------
    def to_folium(self):
        """A ``folium.Map`` with the zones (yellow under orange under red), band and source."""
        import folium

        s = self.scenario
        fmap = folium.Map(location=[s.source_lat, s.source_lon], zoom_start=13,
                          control_scale=True)
        bounds = []
        if self.confidence_band is not None:
            folium.GeoJson(mapping(self.confidence_band), name="wind direction confidence",
                           style_function=lambda _: {"color": "#333333", "weight": 1,
                                                     "dashArray": "6 4", "fillOpacity": 0.0}
                           ).add_to(fmap)
            bounds.append(self.confidence_band.bounds)
        for z in sorted(self.zones, key=lambda z: z.tier):
            if z.is_empty:
                continue
            colour = z.colour
            folium.GeoJson(mapping(z.geometry_wgs84),
                           name=f"{z.name} ({z.threshold_ppm:g} ppm)",
                           tooltip=f"{z.name}: {z.threshold_ppm:g} ppm, "
                                   f"{z.max_downwind_m / 1000:.2f} km",
                           style_function=lambda _, c=colour: {"color": c, "weight": 1,
                                                               "fillColor": c,
                                                               "fillOpacity": 0.35}
                           ).add_to(fmap)
            bounds.append(z.geometry_wgs84.bounds)
        folium.Marker([s.source_lat, s.source_lon],
                      tooltip=f"{s.chemical} source").add_to(fmap)
        if bounds:
            w = min(b[0] for b in bounds)
            so = min(b[1] for b in bounds)
            e = max(b[2] for b in bounds)
            n = max(b[3] for b in bounds)
            if all(math.isfinite(v) for v in (w, so, e, n)):
                fmap.fit_bounds([[so, w], [n, e]])
        folium.LayerControl().add_to(fmap)
        return fmap
