"""Mapbox vector tiles for catalogue layers, built by PostGIS (``ST_AsMVT``/``ST_TileEnvelope``).

One query per tile, under the caller's row-level security. The statements
are built once per (layer, mode) from the catalogue with SQLAlchemy Core and
bound with the tile address, so PostgreSQL sees constant envelopes and uses
the GiST index through the LEAKPROOF ``&&`` (see :mod:`layers.spatial`).

- Points at zooms below the layer's ``thin_below`` are aggregated on a grid
  of 64 × 64 tile units: one feature per cell with ``count`` and the most
  severe value of the layer's style key, so the same style still applies.
- Polygons are clipped to the buffered tile (``ST_ClipByBox2D``) and
  simplified by about a quarter pixel before ``ST_AsMVTGeom``.
- At most ``layer.max_features`` features per tile.
- Tile queries run with parallel query off: for dense tiles PostgreSQL
  otherwise picks a parallel bitmap heap scan 1.7–2.4× slower than the
  serial index scan (measured on 200,000 points; see docs/BENCHMARKS.md).

:class:`TileCache` keeps encoded tiles keyed by the data version of the
tables behind the layer and by the caller's visibility (role, jurisdiction),
so a change anywhere makes the next request rebuild, and two callers who see
different rows never share a tile.
"""

from __future__ import annotations

import hashlib
import threading
from collections import OrderedDict
from collections.abc import Callable, Mapping
from dataclasses import dataclass

from sqlalchemy import (
    BigInteger,
    Connection,
    Float,
    Integer,
    Text,
    bindparam,
    cast,
    func,
    literal_column,
    select,
)
from sqlalchemy.dialects.postgresql import array as pg_array

from geo.context import RequestContext
from geo.db import psycopg_sql
from geo.errors import InvalidInput
from layers.catalogue import Layer
from layers.spatial import bbox_overlaps, serial_plans

__all__ = ["EXTENT", "BUFFER", "MAX_ZOOM", "check_tile", "tile_statement", "render_tile", "tile_query", "TileCache",
           "visibility_key", "tile_fields", "TileOutsideMatrix", "WEB_MERCATOR_HALF_M"]

EXTENT = 4096  # tile units
BUFFER = 64  # tile units around the tile (labels, strokes)
MAX_ZOOM = 22
WEB_MERCATOR_HALF_M = 20037508.342789244
_WORLD_M = 2 * WEB_MERCATOR_HALF_M
CLUSTER_CELLS = 64  # a thinned tile has at most 64 × 64 cells

_SKIP_IN_TILES = {"version", "updated_at", "is_public", "address", "uscc", "data_source", "risk_factors",
                  "rectification_plan", "responsible_person", "funds_yuan"}


def tile_fields(layer: Layer) -> list:
    """The catalogue fields a tile carries (the popup fetches the rest from the resource)."""
    return [f for f in layer.fields if f.name not in _SKIP_IN_TILES]


class TileOutsideMatrix(InvalidInput, LookupError):
    """z/x/y outside the WebMercatorQuad tile matrix (HTTP 404)."""


def check_tile(z: int, x: int, y: int) -> None:
    """Refuse addresses outside the tile matrix: 0 ≤ z ≤ 22, 0 ≤ x, y < 2^z."""
    if not 0 <= z <= MAX_ZOOM:
        raise TileOutsideMatrix("z", f"zoom must be between 0 and {MAX_ZOOM}, got {z}")
    n = 1 << z
    if not 0 <= x < n:
        raise TileOutsideMatrix("x", f"must be between 0 and {n - 1} at zoom {z}, got {x}")
    if not 0 <= y < n:
        raise TileOutsideMatrix("y", f"must be between 0 and {n - 1} at zoom {z}, got {y}")


def _envelopes():
    z, x, y = bindparam("z", type_=Integer), bindparam("x", type_=Integer), bindparam("y", type_=Integer)
    b3857 = func.ST_TileEnvelope(z, x, y)
    world = func.ST_MakeEnvelope(-WEB_MERCATOR_HALF_M, -WEB_MERCATOR_HALF_M, WEB_MERCATOR_HALF_M,
                                 WEB_MERCATOR_HALF_M, 3857)
    b4326 = func.ST_Transform(func.ST_TileEnvelope(z, x, y, world, BUFFER / EXTENT), 4326)
    return b3857, b4326


def _tile_columns(layer: Layer) -> list:
    cols = []
    for f in tile_fields(layer):
        col = f.column
        if f.type == "array":
            col = func.array_to_string(col, ",")
        elif f.fmt is not None:
            col = cast(col, Text)
        cols.append(col.label(f.name))
    return cols


def _features_statement(layer: Layer):
    b3857, b4326 = _envelopes()
    geom = layer.geom_column
    if layer.geometry == "Point":
        shape = func.ST_Transform(geom, 3857)
    else:
        tolerance_m = bindparam("tolerance_m", type_=Float)
        clipped = func.ST_ClipByBox2D(geom, func.Box2D(b4326))
        shape = func.ST_Simplify(func.ST_Transform(clipped, 3857), tolerance_m, True)
    ident = cast(layer.id_column, BigInteger) if layer.id_column.type.python_type is str else layer.id_column
    inner = (select(ident.label("id"), *_tile_columns(layer),
                    func.ST_AsMVTGeom(shape, b3857, EXTENT, BUFFER, True).label("geom"))
             .where(bbox_overlaps(geom, b4326), layer.where())
             .order_by(layer.id_column)  # the same features (and bytes) whatever the plan, also when capped
             .limit(bindparam("max_features", type_=Integer))
             .subquery("mvt"))
    return select(func.ST_AsMVT(inner.table_valued(), layer.name, EXTENT, "geom", "id")) \
        .select_from(inner).where(inner.c.geom.is_not(None))


def _clusters_statement(layer: Layer):
    b3857, b4326 = _envelopes()
    geom = layer.geom_column
    merc = func.ST_Transform(geom, 3857)
    cell = bindparam("cell_m", type_=Float)
    gx = func.floor(func.ST_X(merc) / cell)
    gy = func.floor(func.ST_Y(merc) / cell)
    cols = [func.count().label("count"), literal_column("true").label("cluster")]
    if layer.severity is not None:
        name, order = layer.severity
        col = cast(layer.field(name).column, Text)
        cols.append(func.min(func.array_position(pg_array(order, type_=Text), col)).label("_rank"))
    grouped = (select(*cols, func.ST_Centroid(func.ST_Collect(merc)).label("centre"))
               .where(bbox_overlaps(geom, b4326), layer.where())
               .group_by(gx, gy).subquery("cells"))
    out_cols = [grouped.c.count, grouped.c.cluster]
    if layer.severity is not None:
        name, order = layer.severity
        out_cols.append(pg_array(order, type_=Text)[grouped.c._rank].label(name))
    inner = (select(*out_cols, func.ST_AsMVTGeom(grouped.c.centre, b3857, EXTENT, BUFFER, True).label("geom"))
             .limit(bindparam("max_features", type_=Integer)).subquery("mvt"))
    return select(func.ST_AsMVT(inner.table_valued(), layer.name, EXTENT, "geom")) \
        .select_from(inner).where(inner.c.geom.is_not(None))


def tile_statement(layer: Layer, *, clustered: bool):
    """The tile query of ``layer`` (parameters z, x, y, max_features and cell_m / tolerance_m)."""
    return _clusters_statement(layer) if clustered else _features_statement(layer)


def tile_parameters(layer: Layer, z: int, x: int, y: int) -> tuple[bool, dict]:
    """Whether the tile is thinned, and the bound parameters of its statement."""
    clustered = layer.geometry == "Point" and layer.thin_below is not None and z < layer.thin_below
    tile_m = _WORLD_M / (1 << z)
    params = {"z": z, "x": x, "y": y, "max_features": layer.max_features}
    if clustered:
        params["cell_m"] = tile_m / CLUSTER_CELLS
    elif layer.geometry != "Point":
        params["tolerance_m"] = tile_m / EXTENT / 4
    return clustered, params


def tile_query(layer: Layer, z: int, x: int, y: int) -> tuple[str, dict] | None:
    """The tile's SQL for psycopg (``%(name)s`` placeholders) and its parameters; None outside the layer's zooms.

    Compiled once per layer and mode. The caller sets the context and turns
    parallel query off in the same transaction (:mod:`geo.aiodb` does both in
    the same round trip; :func:`render_tile` on a SQLAlchemy connection).
    """
    check_tile(z, x, y)
    if z < layer.minzoom or z > layer.maxzoom:
        return None
    clustered, params = tile_parameters(layer, z, x, y)
    sql, constants = psycopg_sql(("tile", layer.name, clustered), lambda: tile_statement(layer, clustered=clustered))
    return sql, constants | params


def render_tile(conn: Connection, *, layer: Layer, z: int, x: int, y: int) -> bytes:
    """Encode one tile in the connection's current transaction (context already applied): :func:`tile_query`."""
    query = tile_query(layer, z, x, y)
    if query is None:
        return b""
    serial_plans(conn)
    data = conn.exec_driver_sql(*query).scalar()
    return bytes(data) if data is not None else b""


def visibility_key(ctx: RequestContext) -> str:
    """Callers with the same key see the same rows under row-level security."""
    if ctx.role == "public":
        return "public"
    if ctx.role == "enterprise":
        return f"enterprise:{ctx.enterprise_id}"
    return f"{ctx.role}:{ctx.jurisdiction}"


@dataclass
class _Entry:
    data: bytes
    etag: str


class TileCache:
    """A bounded LRU of encoded tiles, keyed by layer, address, visibility and data version.

    ``versions`` returns the current version of a table (from the change
    listener); a changed table changes the key, so stale tiles are never
    served and simply age out.
    """

    def __init__(self, versions: Callable[[str], int | None], *, max_bytes: int = 256 * 2**20) -> None:
        self._versions = versions
        self._max_bytes = max_bytes
        self._bytes = 0
        self._entries: OrderedDict[tuple, _Entry] = OrderedDict()
        self._lock = threading.Lock()
        self.hits = self.misses = 0

    def version_tag(self, layer: Layer) -> str | None:
        """The data version of the tables behind ``layer`` ("12.3"); None when unknown (no caching)."""
        versions = [self._versions(t) for t in layer.tables_for_version()]
        if any(v is None for v in versions):
            return None
        return ".".join(str(v) for v in versions)

    def key(self, layer: Layer, z: int, x: int, y: int, visibility: str) -> tuple | None:
        """The cache key, or None while data versions are unknown (the change feed is down)."""
        tag = self.version_tag(layer)
        return None if tag is None else (layer.name, z, x, y, visibility, tag)

    @staticmethod
    def etag_for(key: tuple) -> str:
        digest = hashlib.blake2s(repr(key).encode(), digest_size=10).hexdigest()
        return f'"{digest}"'

    def get(self, key: tuple) -> _Entry | None:
        with self._lock:
            entry = self._entries.get(key)
            if entry is None:
                self.misses += 1
                return None
            self._entries.move_to_end(key)
            self.hits += 1
            return entry

    def put(self, key: tuple, data: bytes) -> _Entry:
        entry = _Entry(data, self.etag_for(key))
        with self._lock:
            old = self._entries.pop(key, None)
            if old is not None:
                self._bytes -= len(old.data)
            self._entries[key] = entry
            self._bytes += len(data)
            while self._bytes > self._max_bytes and self._entries:
                _, dropped = self._entries.popitem(last=False)
                self._bytes -= len(dropped.data)
        return entry

    def stats(self) -> Mapping[str, int]:
        with self._lock:
            return {"entries": len(self._entries), "bytes": self._bytes, "hits": self.hits, "misses": self.misses}
