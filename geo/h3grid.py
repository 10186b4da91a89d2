"""H3 cells: the one gateway to the ``h3`` library (v4) in OneMap.

Everything here takes and returns numpy arrays. Cells are ``uint64`` H3
indexes (``h3.api.numpy_int``); their hexadecimal strings appear only at the
API edge through :func:`cells_to_str` / :func:`str_to_cells`. Valid H3 cells
never set bit 63, so ``cells.astype(np.int64)`` is lossless for PostgreSQL
``bigint`` columns, and int64 arrays are accepted wherever cells are.

Coordinates are always (lon, lat) in degrees, WGS84 (CGCS2000 is the same to a
few centimetres). ``h3`` itself speaks (lat, lng): this module is the only
place that swaps the two. Distances are geodesic metres on the WGS84 ellipsoid
(``pyproj.Geod``), areas are square metres (``h3.cell_area``).

Functions accept a scalar or an array and return the same shape (a numpy
scalar for a scalar input). Bad input raises :class:`geo.errors.InvalidInput`
(a ``ValueError``) naming the argument and, for arrays, the first bad index.
Cell boundaries are not split at the antimeridian (China is far from it).
"""

from __future__ import annotations

import math
from typing import Any

import h3.api.numpy_int as _h3
import numpy as np
import shapely
from numpy.typing import ArrayLike, NDArray
from pyproj import Geod
from shapely.geometry import MultiPolygon, Polygon

from geo.errors import InvalidGeometry, InvalidInput

__all__ = [
    "MIN_RES",
    "MAX_RES",
    "MAX_CELLS",
    "lonlat_to_cells",
    "cell_centres",
    "cell_boundaries",
    "cells_in_disk",
    "parents",
    "descendant_range",
    "cell_area_m2",
    "polygon_to_cells",
    "cells_to_str",
    "str_to_cells",
    "resolutions",
]

MIN_RES = 0
MAX_RES = 15
_RES_OFFSET = 52  # bits 52-55 of an H3 index hold its resolution
#: Upper bound on the cells a single disk or polygon may produce (memory guard).
MAX_CELLS = 2_000_000

_GEOD = Geod(ellps="WGS84")


# --------------------------------------------------------------------------- checks


def _res(res: object, field: str = "res") -> int:
    if isinstance(res, bool) or not isinstance(res, int | np.integer):
        raise InvalidInput(
            field, f"must be an integer H3 resolution {MIN_RES}..{MAX_RES}, got {res!r}"
        )
    if not MIN_RES <= int(res) <= MAX_RES:
        raise InvalidInput(field, f"must be between {MIN_RES} and {MAX_RES}, got {res}")
    return int(res)


def _out(flat: np.ndarray, shape: tuple[int, ...]) -> Any:
    """Reshape a flat result to the input's shape; a 0-d result becomes a numpy scalar."""
    out = flat.reshape(shape)
    return out[()] if out.ndim == 0 else out


def _lonlat(lon: ArrayLike, lat: ArrayLike) -> tuple[np.ndarray, np.ndarray, tuple[int, ...]]:
    try:
        lon_a, lat_a = np.broadcast_arrays(
            np.asarray(lon, dtype=np.float64), np.asarray(lat, dtype=np.float64)
        )
    except (TypeError, ValueError) as exc:
        raise InvalidInput("lon", f"lon and lat must be numbers of the same shape: {exc}") from None
    for name, values, limit in (("lon", lon_a, 180.0), ("lat", lat_a, 90.0)):
        flat = values.ravel()
        bad = np.flatnonzero(~np.isfinite(flat) | (np.abs(flat) > limit))
        if bad.size:
            i = int(bad[0])
            hint = " (this function takes lon, lat in that order)" if name == "lat" else ""
            where = f"[{i}]" if values.ndim else ""
            raise InvalidInput(
                f"{name}{where}",
                f"must be a finite number within ±{limit:g} degrees, got {float(flat[i])!r}{hint}",
            )
    return lon_a.ravel(), lat_a.ravel(), lon_a.shape


def _cells(cells: ArrayLike, field: str = "cells") -> tuple[np.ndarray, tuple[int, ...]]:
    arr = np.asarray(cells)
    if arr.size == 0:
        return np.zeros(0, dtype=np.uint64), arr.shape
    if arr.dtype.kind not in "iu":
        hint = "; use str_to_cells for hexadecimal strings" if arr.dtype.kind in "UOS" else ""
        raise InvalidInput(
            field, f"must be integer H3 cells (uint64/int64), got dtype {arr.dtype}{hint}"
        )
    if arr.dtype.kind == "i" and (arr < 0).any():
        i = int(np.flatnonzero(arr.ravel() < 0)[0])
        raise InvalidInput(f"{field}[{i}]", f"is negative ({arr.ravel()[i]}), not an H3 cell")
    flat = arr.astype(np.uint64).ravel()
    for i, cell in enumerate(flat.tolist()):
        if not _h3.is_valid_cell(cell):
            where = f"[{i}]" if arr.ndim else ""
            raise InvalidInput(f"{field}{where}", f"{cell:#x} is not a valid H3 cell")
    return flat, arr.shape


def _too_many(n: float, field: str, res: int) -> None:
    if n > MAX_CELLS:
        raise InvalidInput(
            field,
            f"would give about {n:,.0f} cells at resolution {res} (limit {MAX_CELLS:,}); "
            "use a coarser resolution",
        )


# --------------------------------------------------------------------------- points and cells


def lonlat_to_cells(lon: ArrayLike, lat: ArrayLike, res: int) -> Any:
    """Return the H3 cells containing points given as (lon, lat) degrees.

    Parameters
    ----------
    lon, lat : float or array_like
        Longitude and latitude in degrees (WGS84), broadcast together.
    res : int
        H3 resolution, 0..15.

    Returns
    -------
    numpy.uint64 or numpy.ndarray of uint64
        Same shape as the broadcast inputs.

    Examples
    --------
    >>> cells_to_str(lonlat_to_cells(120.15, 30.28, 9))
    np.str_('89309a552b7ffff')
    >>> lonlat_to_cells([120.15, 121.55], [30.28, 29.87], 5).shape
    (2,)
    >>> lonlat_to_cells([], [], 9)
    array([], dtype=uint64)
    >>> lonlat_to_cells(30.28, 120.15, 9)
    Traceback (most recent call last):
    ...
    geo.errors.InvalidInput: lat: must be a finite number within ±90 degrees, got 120.15 (this function takes lon, lat in that order)
    """
    res = _res(res)
    lon_f, lat_f, shape = _lonlat(lon, lat)
    flat = np.fromiter(
        (
            _h3.latlng_to_cell(la, lo, res)
            for lo, la in zip(lon_f.tolist(), lat_f.tolist(), strict=True)
        ),
        dtype=np.uint64,
        count=lon_f.size,
    )
    return _out(flat, shape)


def cell_centres(cells: ArrayLike) -> tuple[Any, Any]:
    """Return the centres of cells as ``(lon, lat)`` arrays in degrees.

    Examples
    --------
    >>> lon, lat = cell_centres(lonlat_to_cells(120.15, 30.28, 9))
    >>> round(float(lon), 4), round(float(lat), 4)
    (120.1499, 30.2794)
    >>> cell_centres(np.array([], dtype=np.uint64))
    (array([], dtype=float64), array([], dtype=float64))
    """
    flat, shape = _cells(cells)
    lat = np.empty(flat.size, dtype=np.float64)
    lon = np.empty(flat.size, dtype=np.float64)
    for i, cell in enumerate(flat.tolist()):
        lat[i], lon[i] = _h3.cell_to_latlng(cell)
    return _out(lon, shape), _out(lat, shape)


def cell_boundaries(cells: ArrayLike) -> Any:
    """Return cell outlines as shapely Polygons with (lon, lat) vertices.

    Returns
    -------
    shapely.Polygon or numpy.ndarray of object
        Same shape as ``cells``.

    Examples
    --------
    >>> poly = cell_boundaries(lonlat_to_cells(120.15, 30.28, 9))
    >>> poly.geom_type, len(poly.exterior.coords), poly.contains(shapely.Point(120.15, 30.28))
    ('Polygon', 7, True)
    >>> cell_boundaries([]).shape
    (0,)
    """
    flat, shape = _cells(cells)
    out = np.empty(flat.size, dtype=object)
    rings = [_h3.cell_to_boundary(cell) for cell in flat.tolist()]  # ((lat, lng), ...) per cell
    counts = np.fromiter((len(r) for r in rings), dtype=np.int64, count=len(rings))
    for k in np.unique(counts):  # hexagons, and the odd pentagon or distorted cell: one batch each
        idx = np.nonzero(counts == k)[0]
        latlng = np.asarray([rings[i] for i in idx], dtype=np.float64)  # (m, k, 2)
        lnglat = latlng[..., ::-1]
        closed = np.concatenate([lnglat, lnglat[:, :1]], axis=1)
        out[idx] = shapely.polygons(closed)
    return _out(out, shape)


def cells_to_str(cells: ArrayLike) -> Any:
    """Return cells as H3 hexadecimal strings (the API edge only).

    Examples
    --------
    >>> cells_to_str(np.array([0x89309a552b7ffff], dtype=np.uint64))
    array(['89309a552b7ffff'], dtype='<U15')
    """
    flat, shape = _cells(cells)
    out = np.array([_h3.int_to_str(c) for c in flat.tolist()], dtype="<U15")
    return _out(out.reshape(flat.size), shape)


def str_to_cells(strings: ArrayLike) -> Any:
    """Return uint64 cells from H3 hexadecimal strings, checking each one.

    Examples
    --------
    >>> hex(int(str_to_cells("89309a552b7ffff")))
    '0x89309a552b7ffff'
    >>> str_to_cells(["89309a552b7ffff", "not-a-cell"])
    Traceback (most recent call last):
    ...
    geo.errors.InvalidInput: cells[1]: 'not-a-cell' is not an H3 cell string
    """
    arr = np.asarray(strings, dtype=object)
    flat = np.zeros(arr.size, dtype=np.uint64)
    for i, text in enumerate(arr.ravel().tolist()):
        where = f"[{i}]" if arr.ndim else ""
        try:
            cell = _h3.str_to_int(text.strip()) if isinstance(text, str) else None
        except (ValueError, TypeError):
            cell = None
        if cell is None or not _h3.is_valid_cell(cell):
            raise InvalidInput(f"cells{where}", f"{text!r} is not an H3 cell string")
        flat[i] = cell
    return _out(flat, arr.shape)


def resolutions(cells: ArrayLike) -> Any:
    """Return the H3 resolution of each cell (int8).

    Examples
    --------
    >>> int(resolutions(lonlat_to_cells(120.15, 30.28, 9)))
    9
    """
    flat, shape = _cells(cells)
    out = np.fromiter(
        (_h3.get_resolution(c) for c in flat.tolist()), dtype=np.int8, count=flat.size
    )
    return _out(out, shape)


def parents(cells: ArrayLike, res: int, *, check: bool = True) -> Any:
    """Return the ancestor of each cell at the coarser resolution ``res``.

    Computed on the index bits (an H3 cell's parent is the cell with the resolution
    field set to ``res`` and the digits below it set to 7), vectorised.
    ``check=False`` skips the per-cell validity check, for cells this program made.

    Examples
    --------
    >>> cell = lonlat_to_cells(120.15, 30.28, 9)
    >>> parents(cell, 5) == lonlat_to_cells(120.15, 30.28, 5)
    np.True_
    >>> parents(cell, 10)
    Traceback (most recent call last):
    ...
    geo.errors.InvalidInput: res: must not be finer than the cells' resolution (cells has resolution 9 < 10)
    """
    res = _res(res)
    if check:
        flat, shape = _cells(cells)
    else:
        arr = np.asarray(cells)
        flat, shape = arr.astype(np.uint64).ravel(), arr.shape
    own = ((flat >> np.uint64(_RES_OFFSET)) & np.uint64(0xF)).astype(np.int64)
    finer = np.flatnonzero(own < res)
    if finer.size:
        i = int(finer[0])
        where = f"[{i}]" if shape else ""
        raise InvalidInput(
            "res", f"must not be finer than the cells' resolution (cells{where} has resolution {own[i]} < {res})"
        )
    below = np.uint64((1 << (3 * (MAX_RES - res))) - 1)
    out = (flat & ~np.uint64(0xF << _RES_OFFSET)) | np.uint64(res << _RES_OFFSET) | below
    return _out(out, shape)


def descendant_range(cells: ArrayLike, res: int) -> tuple[np.ndarray, np.ndarray]:
    """Return ``(lo, hi)`` int64 arrays: every descendant at ``res`` of each cell has an index in
    ``[lo, hi]`` (for range scans of a ``bigint`` column holding cells of one resolution).

    A descendant keeps its ancestor's leading digits; the digits below the ancestor's
    resolution down to ``res`` run over 0..7 and those below ``res`` are 7, so with the
    resolution field set to ``res`` the descendants fill one contiguous range (which
    also holds some non-cells, never other cells' descendants).

    Examples
    --------
    >>> p = lonlat_to_cells(120.15, 30.28, 5)
    >>> lo, hi = descendant_range(p, 9)
    >>> bool(lo <= np.int64(lonlat_to_cells(120.15, 30.28, 9)) <= hi)
    True
    """
    res = _res(res)
    flat, shape = _cells(cells)
    own = ((flat >> np.uint64(_RES_OFFSET)) & np.uint64(0xF)).astype(np.int64)
    if flat.size and int(own.max()) > res:
        raise InvalidInput("res", f"must not be coarser than the cells' resolution ({int(own.max())})")
    hi = (flat & ~np.uint64(0xF << _RES_OFFSET)) | np.uint64(res << _RES_OFFSET)
    span = (np.left_shift(np.uint64(1), (3 * (res - own)).astype(np.uint64)) - np.uint64(1)) \
        << np.uint64(3 * (MAX_RES - res))
    lo = hi & ~span
    return _out(lo.astype(np.int64), shape), _out(hi.astype(np.int64), shape)


def cell_area_m2(cells: ArrayLike) -> Any:
    """Return the area of each cell in square metres.

    Examples
    --------
    >>> round(float(cell_area_m2(lonlat_to_cells(120.15, 30.28, 9))))
    81927
    """
    flat, shape = _cells(cells)
    out = np.fromiter(
        (_h3.cell_area(c, unit="m^2") for c in flat.tolist()), dtype=np.float64, count=flat.size
    )
    return _out(out, shape)


# --------------------------------------------------------------------------- regions


def _geodesic_m(lon0: float, lat0: float, lon: np.ndarray, lat: np.ndarray) -> np.ndarray:
    n = lon.size
    _, _, dist = _GEOD.inv(np.full(n, lon0), np.full(n, lat0), lon, lat)
    return np.asarray(dist, dtype=np.float64)


def cells_in_disk(lon: float, lat: float, radius_m: float, res: int, *, with_centres: bool = False) -> Any:
    """Return the cells whose centres lie within ``radius_m`` geodesic metres of a point.

    With ``with_centres=True``, return ``(cells, centre_lon, centre_lat)`` (the centres
    are computed anyway; this saves asking for them again).

    Parameters
    ----------
    lon, lat : float
        The point, degrees (WGS84).
    radius_m : float
        Radius in metres, ≥ 0; a centre at exactly ``radius_m`` is inside.
    res : int
        H3 resolution.

    Returns
    -------
    numpy.ndarray of uint64
        Sorted, unique; empty when no centre is that close (e.g. radius 0).

    Examples
    --------
    >>> cells = cells_in_disk(120.15, 30.28, 1000.0, 9)
    >>> len(cells) > 30, bool(np.all(np.diff(cells.astype(np.int64)) > 0))
    (True, True)
    >>> cells_in_disk(120.15, 30.28, 0.0, 9)
    array([], dtype=uint64)
    """
    res = _res(res)
    lon_f, lat_f, shape = _lonlat(lon, lat)
    if shape != ():
        raise InvalidInput("lon", "cells_in_disk takes one point (scalar lon and lat)")
    lon0, lat0 = float(lon_f[0]), float(lat_f[0])
    try:
        radius = float(radius_m)
    except (TypeError, ValueError):
        raise InvalidInput("radius_m", f"must be a number of metres, got {radius_m!r}") from None
    if isinstance(radius_m, bool) or not math.isfinite(radius) or radius < 0:
        raise InvalidInput("radius_m", f"must be a finite number of metres ≥ 0, got {radius_m!r}")

    centre = _h3.latlng_to_cell(lat0, lon0, res)
    ring_lon, ring_lat = cell_centres(_h3.grid_ring(centre, 1))
    c_lon, c_lat = cell_centres(np.uint64(centre))
    spacing_m = float(_geodesic_m(float(c_lon), float(c_lat), ring_lon, ring_lat).min())
    k = math.ceil(radius / spacing_m) + 1
    _too_many(3 * k * (k + 1) + 1, "radius_m", res)
    while True:
        disk = np.asarray(_h3.grid_disk(centre, k), dtype=np.uint64)
        d_lon, d_lat = cell_centres(disk)
        inside = _geodesic_m(lon0, lat0, d_lon, d_lat) <= radius
        ring = np.asarray(_h3.grid_ring(centre, k), dtype=np.uint64)
        if not np.isin(disk[inside], ring).any():  # the outermost ring is clear: done
            cells, first = np.unique(disk[inside], return_index=True)
            if with_centres:
                return cells, np.asarray(d_lon)[inside][first], np.asarray(d_lat)[inside][first]
            return cells
        k += max(1, k // 4)
        _too_many(3 * k * (k + 1) + 1, "radius_m", res)


def polygon_to_cells(polygon: Polygon | MultiPolygon, res: int) -> NDArray[np.uint64]:
    """Return the cells whose centres lie inside a (Multi)Polygon in (lon, lat) degrees.

    Holes are respected. The polygon must be valid (OGC) and non-empty.

    Returns
    -------
    numpy.ndarray of uint64
        Sorted, unique; empty when no cell centre falls inside.

    Examples
    --------
    >>> square = shapely.box(120.10, 30.25, 120.20, 30.30)
    >>> cells = polygon_to_cells(square, 8)
    >>> lon, lat = cell_centres(cells)
    >>> bool(np.all((lon > 120.10) & (lon < 120.20) & (lat > 30.25) & (lat < 30.30)))
    True
    >>> polygon_to_cells(shapely.box(120.1, 30.25, 120.1001, 30.2501), 5)
    array([], dtype=uint64)
    """
    res = _res(res)
    if not isinstance(polygon, Polygon | MultiPolygon):
        raise InvalidGeometry(
            "geometry", f"must be a Polygon or MultiPolygon, got {type(polygon).__name__}"
        )
    if polygon.is_empty:
        raise InvalidGeometry("geometry", "is empty")
    if not polygon.is_valid:
        raise InvalidGeometry("geometry", f"is not valid: {shapely.is_valid_reason(polygon)}")
    min_lon, min_lat, max_lon, max_lat = polygon.bounds
    if not (min_lon >= -180 and max_lon <= 180 and min_lat >= -90 and max_lat <= 90):
        raise InvalidGeometry(
            "geometry", f"coordinates must be (lon, lat) degrees; bounds are {polygon.bounds}"
        )
    area_m2 = abs(_GEOD.geometry_area_perimeter(polygon)[0])
    _too_many(area_m2 / _h3.average_hexagon_area(res, unit="m^2"), "geometry", res)

    def shape(p: Polygon) -> _h3.LatLngPoly:
        rings = [p.exterior, *p.interiors]
        return _h3.LatLngPoly(*[[(y, x) for x, y in ring.coords[:-1]] for ring in rings])

    parts = list(polygon.geoms) if isinstance(polygon, MultiPolygon) else [polygon]
    h3shape = _h3.LatLngMultiPoly(*map(shape, parts)) if len(parts) > 1 else shape(parts[0])
    cells = np.asarray(_h3.h3shape_to_cells(h3shape, res), dtype=np.uint64)
    return np.unique(cells)
