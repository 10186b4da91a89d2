"""Coordinate reference systems: the one place that knows about CRS names,
axis order and the GCJ-02 offset.

Storage is always EPSG:4326 (WGS84). CGCS2000 (EPSG:4490) is accepted as
equivalent and stored as-is: the two frames differ by a few centimetres in
China, far below the accuracy of any registry location. GCJ-02 (the offset
"Mars" coordinates of AMap/Gaode and Tencent maps) is never stored: it is
converted to WGS84 when the caller declares it. BD-09 (Baidu) is refused.

The GCJ-02 forward transform is the published (reverse-engineered) algorithm
used by eviltransform and coordtransform (Krasovsky 1940 ellipsoid
a = 6378245 m, e² = 0.00669342162296594323). Its inverse has no closed form;
:func:`gcj02_to_wgs84` iterates the forward transform to a fixed point.
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np
import shapely
from pyproj import CRS, Transformer

from geo.errors import UnknownCRS

__all__ = [
    "SRID_WGS84",
    "SRID_CGCS2000",
    "GCJ02",
    "ACCEPTED_CRS",
    "normalise_crs",
    "to_wgs84",
    "wgs84_to_gcj02",
    "gcj02_to_wgs84",
    "gcj02_to_wgs84_geometry",
    "out_of_china",
    "transformer",
]

SRID_WGS84 = 4326
SRID_CGCS2000 = 4490
GCJ02 = "GCJ-02"

#: Canonical names of the CRSs OneMap accepts on input, and their aliases.
ACCEPTED_CRS: dict[str, tuple[str, ...]] = {
    "EPSG:4326": ("EPSG:4326", "WGS84", "WGS 84", "OGC:CRS84", "CRS84", "4326"),
    "EPSG:4490": ("EPSG:4490", "CGCS2000", "4490"),
    GCJ02: ("GCJ-02", "GCJ02", "GCJ_02", "AMAP", "GAODE"),
}
_ALIASES = {alias.upper(): canon for canon, names in ACCEPTED_CRS.items() for alias in names}

_A = 6378245.0  # Krasovsky 1940 semi-major axis, metres
_EE = 0.00669342162296594323  # Krasovsky 1940 first eccentricity squared

# The published algorithm's "outside China" rectangle (eviltransform/coordtransform):
# points outside it are returned unchanged by both directions.
_CHINA_LON = (72.004, 137.8347)
_CHINA_LAT = (0.8293, 55.8271)


def normalise_crs(name: str | None, *, field: str = "crs") -> str:
    """Return the canonical name of a declared input CRS.

    ``None`` means WGS84. Raises :class:`geo.errors.UnknownCRS` (a ``ValueError``)
    naming the accepted values otherwise.

    >>> normalise_crs("cgcs2000")
    'EPSG:4490'
    >>> normalise_crs(None)
    'EPSG:4326'
    >>> normalise_crs("BD-09")
    Traceback (most recent call last):
    ...
    geo.errors.UnknownCRS: crs: unknown CRS 'BD-09' (BD-09/Baidu is not supported); accepted: EPSG:4326, EPSG:4490, GCJ-02
    """
    if name is None:
        return "EPSG:4326"
    key = str(name).strip().upper()
    if key in _ALIASES:
        return _ALIASES[key]
    extra = " (BD-09/Baidu is not supported)" if key.replace("-", "") in {"BD09", "BAIDU"} else ""
    raise UnknownCRS(field, f"unknown CRS {name!r}{extra}; accepted: {', '.join(ACCEPTED_CRS)}")


def out_of_china(lon, lat):
    """True where the published GCJ-02 algorithm leaves coordinates unchanged.

    >>> bool(out_of_china(2.35, 48.85)), bool(out_of_china(120.15, 30.27))
    (True, False)
    """
    lon = np.asarray(lon, dtype=float)
    lat = np.asarray(lat, dtype=float)
    return (lon < _CHINA_LON[0]) | (lon > _CHINA_LON[1]) | (lat < _CHINA_LAT[0]) | (lat > _CHINA_LAT[1])


def _delta_deg(lon: np.ndarray, lat: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """GCJ-02 offset (dlon, dlat) in degrees at WGS84 (lon, lat)."""
    x = lon - 105.0
    y = lat - 35.0
    sqrt_abs_x = np.sqrt(np.abs(x))
    common = (20.0 * np.sin(6.0 * x * np.pi) + 20.0 * np.sin(2.0 * x * np.pi)) * 2.0 / 3.0
    dlat = -100.0 + 2.0 * x + 3.0 * y + 0.2 * y * y + 0.1 * x * y + 0.2 * sqrt_abs_x + common
    dlat += (20.0 * np.sin(y * np.pi) + 40.0 * np.sin(y / 3.0 * np.pi)) * 2.0 / 3.0
    dlat += (160.0 * np.sin(y / 12.0 * np.pi) + 320.0 * np.sin(y * np.pi / 30.0)) * 2.0 / 3.0
    dlon = 300.0 + x + 2.0 * y + 0.1 * x * x + 0.1 * x * y + 0.1 * sqrt_abs_x + common
    dlon += (20.0 * np.sin(x * np.pi) + 40.0 * np.sin(x / 3.0 * np.pi)) * 2.0 / 3.0
    dlon += (150.0 * np.sin(x / 12.0 * np.pi) + 300.0 * np.sin(x / 30.0 * np.pi)) * 2.0 / 3.0
    rad_lat = lat / 180.0 * np.pi
    magic = 1.0 - _EE * np.sin(rad_lat) ** 2
    sqrt_magic = np.sqrt(magic)
    dlat = (dlat * 180.0) / ((_A * (1.0 - _EE)) / (magic * sqrt_magic) * np.pi)
    dlon = (dlon * 180.0) / (_A / sqrt_magic * np.cos(rad_lat) * np.pi)
    return dlon, dlat


def _shape_like(lon, lat, out_lon: np.ndarray, out_lat: np.ndarray):
    if np.ndim(lon) == 0 and np.ndim(lat) == 0:
        return float(out_lon), float(out_lat)
    return out_lon, out_lat


def wgs84_to_gcj02(lon, lat):
    """Convert WGS84 longitude/latitude (degrees) to GCJ-02.

    Scalars or numpy arrays in, the same shape out, as ``(lon, lat)``.
    Points outside China pass through unchanged.

    >>> lon, lat = wgs84_to_gcj02(120.0, 30.0)
    >>> round(lon, 6), round(lat, 6)
    (120.00466, 29.997534)
    >>> wgs84_to_gcj02(2.35, 48.85)
    (2.35, 48.85)
    """
    lon_a = np.asarray(lon, dtype=float)
    lat_a = np.asarray(lat, dtype=float)
    dlon, dlat = _delta_deg(lon_a, lat_a)
    outside = out_of_china(lon_a, lat_a)
    out_lon = np.where(outside, lon_a, lon_a + dlon)
    out_lat = np.where(outside, lat_a, lat_a + dlat)
    return _shape_like(lon, lat, out_lon, out_lat)


def gcj02_to_wgs84(lon, lat, *, tol_deg: float = 1e-10, max_iter: int = 30):
    """Convert GCJ-02 longitude/latitude (degrees) to WGS84 by fixed-point iteration.

    Starts from ``gcj - delta(gcj)`` and corrects by the residual of the forward
    transform until it is below ``tol_deg`` (≈ 1e-5 m) everywhere; round trips
    agree to well under a millimetre in China. Points outside China pass through.

    >>> lon, lat = gcj02_to_wgs84(*wgs84_to_gcj02(121.5, 29.9))
    >>> round(lon, 9), round(lat, 9)
    (121.5, 29.9)
    """
    g_lon = np.asarray(lon, dtype=float)
    g_lat = np.asarray(lat, dtype=float)
    outside = out_of_china(g_lon, g_lat)
    dlon, dlat = _delta_deg(g_lon, g_lat)
    w_lon = g_lon - dlon
    w_lat = g_lat - dlat
    for _ in range(max_iter):
        dlon, dlat = _delta_deg(w_lon, w_lat)
        r_lon = w_lon + dlon - g_lon
        r_lat = w_lat + dlat - g_lat
        w_lon = w_lon - r_lon
        w_lat = w_lat - r_lat
        err = np.nanmax(np.abs(np.concatenate([np.ravel(r_lon), np.ravel(r_lat)])), initial=0.0)
        if err < tol_deg:
            break
    out_lon = np.where(outside, g_lon, w_lon)
    out_lat = np.where(outside, g_lat, w_lat)
    return _shape_like(lon, lat, out_lon, out_lat)


def gcj02_to_wgs84_geometry(geom):
    """A shapely geometry in GCJ-02 converted vertex by vertex to WGS84 (see :func:`gcj02_to_wgs84`).

    >>> p = gcj02_to_wgs84_geometry(shapely.Point(wgs84_to_gcj02(121.5, 29.9)))
    >>> round(p.x, 9), round(p.y, 9)
    (121.5, 29.9)
    """
    return shapely.transform(geom, lambda xy: np.column_stack(gcj02_to_wgs84(xy[:, 0], xy[:, 1])))


def to_wgs84(lon, lat, crs: str | None):
    """Coordinates in a declared input CRS to the storage CRS (EPSG:4326).

    EPSG:4326 and EPSG:4490 are returned as they are; GCJ-02 is converted.
    """
    canon = normalise_crs(crs)
    if canon == GCJ02:
        return gcj02_to_wgs84(lon, lat)
    return lon, lat


@lru_cache(maxsize=64)
def transformer(src: str, dst: str) -> Transformer:
    """A cached pyproj transformer with x = longitude/easting (``always_xy=True``)."""
    return Transformer.from_crs(CRS.from_user_input(src), CRS.from_user_input(dst), always_xy=True)
