"""Receptor grids in a local azimuthal-equidistant projection centred on the source.

The projection (``+proj=aeqd`` on WGS84, metres) keeps distances from the
source exact, so downwind distances read off the grid are true ground
distances. All pyproj transformers use ``always_xy=True`` (lon, lat order).

A grid is a raster of square cells whose columns run along a bearing
``axis_deg`` (clockwise from north): ``axis_deg = 90`` is the usual north-up
raster. :func:`plume.run` lays its grid along the wind, with a row of cell
centres exactly on the plume axis, so that narrow plumes are never missed
between cells and the zone reach is measured along the axis; its affine
transform then carries the rotation (GeoTIFF stores it as a rotated
geotransform; ``Result.to_geotiff(north_up=True)`` resamples).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import lru_cache

import numpy as np
from affine import Affine
from pyproj import CRS, Transformer

from .errors import GridTooLarge, InvalidParameter

__all__ = ["MAX_GRID_CELLS", "LocalGrid", "local_crs", "to_wgs84_transformer",
           "from_wgs84_transformer", "wind_axes", "bearing_axes"]

#: Upper bound on receptors per grid (memory: a few float64 arrays of this size).
MAX_GRID_CELLS = 16_000_000


@lru_cache(maxsize=256)
def local_crs(lon: float, lat: float) -> CRS:
    """Azimuthal-equidistant CRS centred on (lon, lat), metres."""
    return CRS.from_proj4(f"+proj=aeqd +lat_0={lat!r} +lon_0={lon!r} +x_0=0 +y_0=0 "
                          "+datum=WGS84 +units=m +no_defs")


@lru_cache(maxsize=256)
def to_wgs84_transformer(lon: float, lat: float) -> Transformer:
    """Local metres → WGS84 (lon, lat)."""
    return Transformer.from_crs(local_crs(lon, lat), "EPSG:4326", always_xy=True)


@lru_cache(maxsize=256)
def from_wgs84_transformer(lon: float, lat: float) -> Transformer:
    """WGS84 (lon, lat) → local metres."""
    return Transformer.from_crs("EPSG:4326", local_crs(lon, lat), always_xy=True)


# exact unit vectors keep north-up transforms free of 1e-16 rotation terms
_EXACT_AXES = {0.0: (0.0, 1.0), 90.0: (1.0, 0.0), 180.0: (0.0, -1.0), 270.0: (-1.0, 0.0)}


def bearing_axes(bearing_deg: float) -> tuple[float, float]:
    """Unit vector (east, north) of a bearing, degrees clockwise from north.

    Examples
    --------
    >>> [round(v, 12) + 0.0 for v in bearing_axes(90.0)]
    [1.0, 0.0]
    """
    deg = bearing_deg % 360.0
    if deg in _EXACT_AXES:
        return _EXACT_AXES[deg]
    b = math.radians(deg)
    return math.sin(b), math.cos(b)


def wind_axes(wind_from_deg: float) -> tuple[float, float]:
    """Unit vector (east, north) of the direction the wind blows TO.

    Examples
    --------
    A north wind (from 0°) blows to the south:

    >>> [round(v, 12) + 0.0 for v in wind_axes(0.0)]
    [0.0, -1.0]
    >>> [round(v, 12) + 0.0 for v in wind_axes(270.0)]  # west wind blows east
    [1.0, 0.0]
    """
    return bearing_axes(wind_from_deg + 180.0)


@dataclass(frozen=True)
class LocalGrid:
    """A raster of square cells in the source's local AEQD projection.

    Grid frame: ``u`` along the column axis (bearing ``axis_deg``), ``v`` 90°
    to its left. Cell (row j, col i) has its centre at
    ``u = u0 + (i + ½)·cell`` and ``v = v0 − (j + ½)·cell``.

    Attributes
    ----------
    lon, lat : float
        Source position (projection centre), degrees.
    u0_m, v0_m : float
        Outer edges of the first column and first row, metres from the source.
    cell_m : float
        Cell size, metres.
    nx, ny : int
        Columns and rows.
    axis_deg : float
        Bearing of the column axis; 90 = north-up raster (u = east, v = north).
    """

    lon: float
    lat: float
    u0_m: float
    v0_m: float
    cell_m: float
    nx: int
    ny: int
    axis_deg: float = 90.0

    def __post_init__(self):
        if not (math.isfinite(self.cell_m) and self.cell_m > 0):
            raise InvalidParameter("cell_m", f"must be a finite number > 0, got {self.cell_m!r}")
        if self.nx < 1 or self.ny < 1:
            raise InvalidParameter("extent_m", "grid would have no cells")
        if self.nx * self.ny > MAX_GRID_CELLS:
            raise GridTooLarge("cell_m", f"{self.nx} x {self.ny} cells exceeds the limit of "
                               f"{MAX_GRID_CELLS:,}; use a larger cell_m or smaller extent_m")

    @classmethod
    def covering(cls, lon: float, lat: float, u_min_m: float, u_max_m: float,
                 v_min_m: float, v_max_m: float, cell_m: float, *,
                 axis_deg: float = 90.0, centre_on_axis: bool = False) -> LocalGrid:
        """Smallest grid of ``cell_m`` cells covering a box of the grid frame.

        Column edges fall on multiples of the cell from the source. With
        ``centre_on_axis`` a row of cell centres lies on ``v = 0`` (the plume
        axis); otherwise row edges fall on multiples of the cell too.
        """
        if not (math.isfinite(cell_m) and cell_m > 0):
            raise InvalidParameter("cell_m", f"must be a finite number > 0, got {cell_m!r}")
        u0 = math.floor(u_min_m / cell_m) * cell_m
        nx = int(math.ceil((u_max_m - u0) / cell_m - 1e-9))
        if centre_on_axis:
            top = math.ceil(v_max_m / cell_m - 0.5 - 1e-9)
            bottom = math.ceil(-v_min_m / cell_m - 0.5 - 1e-9)
            v0 = (top + 0.5) * cell_m
            ny = top + bottom + 1
        else:
            v0 = math.ceil(v_max_m / cell_m) * cell_m
            ny = int(math.ceil((v0 - v_min_m) / cell_m - 1e-9))
        return cls(lon, lat, u0, v0, float(cell_m), max(nx, 1), max(ny, 1), float(axis_deg))

    @property
    def crs(self) -> CRS:
        return local_crs(self.lon, self.lat)

    @property
    def transform(self) -> Affine:
        """Affine pixel (col, row) → local metres (east, north); rotated unless north-up."""
        c = self.cell_m
        de, dn = bearing_axes(self.axis_deg)
        return Affine(c * de, c * dn, self.u0_m * de - self.v0_m * dn,
                      c * dn, -c * de, self.u0_m * dn + self.v0_m * de)

    @property
    def north_up(self) -> bool:
        return math.isclose(self.axis_deg % 360.0, 90.0)

    @property
    def shape(self) -> tuple[int, int]:
        return (self.ny, self.nx)

    def axis_coordinates(self) -> tuple[np.ndarray, np.ndarray]:
        """1-D cell-centre coordinates in the grid frame: u (nx,) and v (ny,), metres."""
        u = self.u0_m + (np.arange(self.nx) + 0.5) * self.cell_m
        v = self.v0_m - (np.arange(self.ny) + 0.5) * self.cell_m
        return u, v

    def centres(self) -> tuple[np.ndarray, np.ndarray]:
        """East and north of every cell centre, metres (1-D for north-up grids)."""
        u, v = self.axis_coordinates()
        if self.north_up:
            return u, v
        de, dn = bearing_axes(self.axis_deg)
        return (u[None, :] * de - v[:, None] * dn, u[None, :] * dn + v[:, None] * de)

    def wind_coordinates(self, wind_from_deg: float) -> tuple[np.ndarray, np.ndarray]:
        """Downwind ``x`` and crosswind ``y`` of every cell centre, shape (ny, nx), m."""
        e, n = self.centres()
        if e.ndim == 1:
            e, n = e[None, :], n[:, None]
        de, dn = wind_axes(wind_from_deg)
        x = e * de + n * dn
        y = n * de - e * dn
        return np.broadcast_to(x, self.shape).copy(), np.broadcast_to(y, self.shape).copy()
