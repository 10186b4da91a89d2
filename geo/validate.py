"""Validation of coordinates and geometries arriving from outside.

Every function raises a :mod:`geo.errors` exception that names the field and
the reason, and returns geometry in the storage CRS (EPSG:4326).
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable
from typing import Any

import numpy as np
import shapely
from shapely.geometry import shape
from shapely.geometry.base import BaseGeometry
from shapely.validation import explain_validity

from geo.crs import GCJ02, gcj02_to_wgs84_geometry, normalise_crs
from geo.errors import InvalidGeometry, OutsideJurisdiction

__all__ = [
    "CHINA_BOUNDS",
    "check_lonlat",
    "parse_geojson_geometry",
    "prepare_geometry",
    "point_from_lonlat",
    "loads_strict",
]

#: (min lon, min lat, max lon, max lat) of China, degrees; coarse first filter.
CHINA_BOUNDS = (73.5, 3.8, 135.1, 53.6)


def _in_china(lon: float, lat: float) -> bool:
    x0, y0, x1, y1 = CHINA_BOUNDS
    return x0 <= lon <= x1 and y0 <= lat <= y1


def check_lonlat(lon: Any, lat: Any, *, field: str = "geometry") -> tuple[float, float]:
    """Check one longitude/latitude pair (degrees) and return it as floats.

    Refuses non-numbers, NaN/Inf, values outside [-180, 180] × [-90, 90],
    points outside China, and says so when the pair only lands in China
    with latitude and longitude swapped.

    >>> check_lonlat(120.15, 30.27)
    (120.15, 30.27)
    >>> check_lonlat(30.27, 120.15)
    Traceback (most recent call last):
    ...
    geo.errors.OutsideJurisdiction: geometry: latitude 120.15 is out of range [-90, 90]; longitude and latitude look swapped: give [longitude, latitude] = [120.15, 30.27]
    """
    try:
        x = float(lon)
        y = float(lat)
    except (TypeError, ValueError):
        raise InvalidGeometry(field, f"coordinates must be numbers, got {lon!r}, {lat!r}") from None
    if isinstance(lon, bool) or isinstance(lat, bool):
        raise InvalidGeometry(field, "coordinates must be numbers, got a boolean")
    if not (math.isfinite(x) and math.isfinite(y)):
        raise InvalidGeometry(field, f"coordinates must be finite numbers, got ({x}, {y})")
    swapped_hint = (
        f"; longitude and latitude look swapped: give [longitude, latitude] = [{y}, {x}]"
        if _in_china(y, x)
        else ""
    )
    if not -90.0 <= y <= 90.0:
        raise OutsideJurisdiction(field, f"latitude {y} is out of range [-90, 90]{swapped_hint}")
    if not -180.0 <= x <= 180.0:
        raise OutsideJurisdiction(field, f"longitude {x} is out of range [-180, 180]")
    if not _in_china(x, y):
        reason = f"point ({x}, {y}) is outside China {CHINA_BOUNDS}{swapped_hint}"
        raise OutsideJurisdiction(field, reason)
    return x, y


def loads_strict(text: str | bytes, *, field: str = "body") -> Any:
    """``json.loads`` that refuses ``NaN``, ``Infinity`` and ``-Infinity``.

    >>> loads_strict('{"a": NaN}')
    Traceback (most recent call last):
    ...
    geo.errors.InvalidGeometry: body: JSON must not contain NaN
    >>> loads_strict('POINT(1 2)', field="geometry")
    Traceback (most recent call last):
    ...
    geo.errors.InvalidGeometry: geometry: not valid JSON: Expecting value at character 0
    """

    def _refuse(name: str) -> Any:
        raise InvalidGeometry(field, f"JSON must not contain {name}")

    try:
        return json.loads(text, parse_constant=_refuse)
    except json.JSONDecodeError as exc:
        raise InvalidGeometry(field, f"not valid JSON: {exc.msg} at character {exc.pos}") from None
    except (RecursionError, UnicodeDecodeError):
        raise InvalidGeometry(field, "not valid JSON (too deeply nested or not UTF-8)") from None


def prepare_geometry(
    geom: BaseGeometry | None,
    *,
    crs: str | None = None,
    allowed: Iterable[str] = ("Point", "Polygon", "MultiPolygon"),
    field: str = "geometry",
) -> BaseGeometry:
    """Validate a shapely geometry declared in ``crs`` and return it in EPSG:4326.

    Steps: type allowed; not empty; every coordinate finite and in China (with
    the swap hint); converted from GCJ-02 when declared; OGC-valid, else the
    reason from :func:`shapely.validation.explain_validity`. Never repairs.
    """
    canon = normalise_crs(crs, field="crs")
    allowed = tuple(allowed)
    if geom is None:
        raise InvalidGeometry(field, "is required")
    if geom.geom_type not in allowed:
        raise InvalidGeometry(field, f"type {geom.geom_type} not allowed here; allowed: {', '.join(allowed)}")
    if geom.is_empty:
        raise InvalidGeometry(field, "is empty")
    if shapely.has_z(geom):
        geom = shapely.force_2d(geom)
    coords = shapely.get_coordinates(geom)
    if not np.isfinite(coords).all():
        raise InvalidGeometry(field, "coordinates must be finite numbers (NaN or Infinity found)")
    x0, y0, x1, y1 = CHINA_BOUNDS
    x, y = coords[:, 0], coords[:, 1]
    outside = ~((x0 <= x) & (x <= x1) & (y0 <= y) & (y <= y1))
    if outside.any():  # the first vertex outside China: check_lonlat raises with the reason (and swap hint)
        check_lonlat(*coords[np.argmax(outside)], field=field)
    if canon == GCJ02:
        geom = gcj02_to_wgs84_geometry(geom)
    if not geom.is_valid:
        raise InvalidGeometry(field, f"is not a valid {geom.geom_type}: {explain_validity(geom)}")
    return geom


def parse_geojson_geometry(
    obj: Any,
    *,
    crs: str | None = None,
    allowed: Iterable[str] = ("Point", "Polygon", "MultiPolygon"),
    field: str = "geometry",
) -> BaseGeometry:
    """Parse a GeoJSON geometry object (RFC 7946) and validate it.

    Refuses the removed ``crs`` member rather than guessing (declare the CRS
    with the ``crs`` argument instead).
    """
    if isinstance(obj, (str, bytes)):
        obj = loads_strict(obj, field=field)
    if not isinstance(obj, dict):
        raise InvalidGeometry(field, "must be a GeoJSON geometry object")
    if "crs" in obj:
        raise InvalidGeometry(field, "the GeoJSON 'crs' member was removed by RFC 7946; declare the CRS separately")
    if "type" not in obj or "coordinates" not in obj:
        raise InvalidGeometry(field, "a GeoJSON geometry needs 'type' and 'coordinates'")
    try:
        geom = shape(obj)
    except Exception as exc:  # shapely raises several types for malformed input
        raise InvalidGeometry(field, f"malformed GeoJSON geometry: {exc}") from None
    return prepare_geometry(geom, crs=crs, allowed=allowed, field=field)


def point_from_lonlat(lon: Any, lat: Any, *, crs: str | None = None, field: str = "geometry"):
    """A validated shapely Point in EPSG:4326 from a lon/lat pair in ``crs``."""
    x, y = check_lonlat(lon, lat, field=field)
    return prepare_geometry(shapely.Point(x, y), crs=crs, allowed=("Point",), field=field)
