"""The duty officer's spatial questions, in true metres, under row-level security.

- :func:`within`: what lies within R metres of a point or polygon, grouped by layer.
- :func:`nearest_query`: the N nearest rescue teams / supply depots (optionally holding an item).
- :func:`region_stats`: per-region counts at any level.

Distances are geodesic (``geography``, WGS84 spheroid). Every search first
narrows with a degree box around the target (``&&``, LEAKPROOF, so the GiST
index works under RLS) that is guaranteed to contain the metric radius,
then applies ``ST_DWithin`` on geography.
"""

from __future__ import annotations

import json
import math
from typing import Any

import shapely
from geoalchemy2 import Geography
from geoalchemy2.shape import from_shape
from sqlalchemy import Float, Integer, Text, and_, bindparam, cast, exists, func, literal, select
from sqlalchemy.orm import Session

from geo import vocab
from geo.db import psycopg_sql
from geo.errors import InvalidInput
from geo.models import (
    DepotStock,
    Enterprise,
    HazardUnit,
    HiddenDanger,
    ProtectionTarget,
    Region,
    SupplyDepot,
)
from geo.regions import is_adcode
from geo.validate import parse_geojson_geometry, point_from_lonlat
from layers.catalogue import LAYERS, RESOURCES, Layer
from layers.spatial import bbox_overlaps

__all__ = ["within", "nearest_query", "nearest_parameters", "nearest_rows", "knn", "region_stats", "MAX_RADIUS_M",
           "NEAREST_KINDS", "WITHIN_LAYERS"]

MAX_RADIUS_M = 50_000.0
NEAREST_KINDS = ("rescue_teams", "supply_depots")
WITHIN_LAYERS = tuple(layer.name for layer in RESOURCES.values())
_M_PER_DEG_LAT = 110_574.0  # the shortest degree of latitude (at the equator) — conservative


def _label_column(layer: Layer):
    return (layer.field("name") or layer.field("title")).column


def _degree_box(geom_wkb, radius_m: float, max_abs_lat: float):
    """A lon/lat box around ``geom`` that surely contains everything within ``radius_m``."""
    dlat = radius_m / _M_PER_DEG_LAT * 1.01
    coslat = max(math.cos(math.radians(min(89.0, max_abs_lat + dlat))), 1e-6)
    dlon = radius_m / (111_320.0 * coslat) * 1.01
    return func.ST_Expand(func.ST_Envelope(geom_wkb), dlon, dlat)


def _target(geometry: Any, lon: Any, lat: Any, crs: str | None):
    if geometry is not None:
        return parse_geojson_geometry(geometry, crs=crs, allowed=("Point", "Polygon", "MultiPolygon"))
    if lon is None or lat is None:
        raise InvalidInput("geometry", "give lon and lat, or a GeoJSON geometry")
    return point_from_lonlat(lon, lat, crs=crs, field="lon")


def _check_radius(radius_m: Any) -> float:
    if isinstance(radius_m, bool) or not isinstance(radius_m, (int, float)) or not math.isfinite(radius_m):
        raise InvalidInput("radius_m", "must be a finite number of metres")
    if not 0 < radius_m <= MAX_RADIUS_M:
        raise InvalidInput("radius_m", f"must be > 0 and at most {MAX_RADIUS_M:.0f} m")
    return float(radius_m)


def within(session: Session, *, radius_m: float, geometry: Any = None, lon: Any = None, lat: Any = None,
           crs: str | None = None, layers: tuple[str, ...] = WITHIN_LAYERS, limit: int = 200) -> dict[str, Any]:
    """Everything within ``radius_m`` metres of a point or polygon, by layer, nearest first.

    Each group has ``count`` (all matches) and up to ``limit`` features with
    ``id``, ``name``, ``distance_m`` (0 inside a polygon) and the point.
    Protection targets also sum their ``population``.
    """
    radius_m = _check_radius(radius_m)
    shape = _target(geometry, lon, lat, crs)
    unknown = [name for name in layers if name not in WITHIN_LAYERS]
    if unknown:
        raise InvalidInput("layers", f"unknown layer {unknown[0]!r}; allowed: {', '.join(WITHIN_LAYERS)}")
    g = func.ST_GeomFromWKB(from_shape(shape, srid=4326).data, 4326)
    max_abs_lat = max(abs(shape.bounds[1]), abs(shape.bounds[3]))
    box = _degree_box(g, radius_m, max_abs_lat)
    geog = cast(g, _geography())
    groups: dict[str, Any] = {}
    for name in layers:
        layer = LAYERS[name]
        col = layer.geom_column
        dist = func.ST_Distance(cast(col, _geography()), geog).label("distance_m")
        cond = and_(bbox_overlaps(col, box), func.ST_DWithin(cast(col, _geography()), geog, radius_m),
                    layer.where())
        totals = [func.count().over().label("_count")]  # over every match, before the LIMIT: one query
        extra = []
        if name == "protection_targets":
            extra = [layer.model.population]
            totals.append(func.sum(layer.model.population).over().label("_population"))
        point = func.ST_PointOnSurface(col)
        page = (select(layer.id_column.label("id"), _label_column(layer).label("name"), dist,
                       func.ST_X(point).label("lon"), func.ST_Y(point).label("lat"), *extra, *totals)
                .where(cond).order_by(dist, layer.id_column).limit(limit))
        rows = [dict(r) for r in session.execute(page).mappings()]
        count, population = (rows[0]["_count"], rows[0].get("_population")) if rows else (0, 0)
        for r in rows:
            r["distance_m"] = round(r["distance_m"], 1)
            r.pop("_count")
            r.pop("_population", None)
        group: dict[str, Any] = {"count": count, "features": rows}
        if name == "protection_targets":
            group["population"] = int(population or 0)
        groups[name] = group
    return {"radius_m": radius_m, "target": json.loads(shapely.to_geojson(shape)), "groups": groups}


def _geography():
    return Geography(srid=4326)


def _nearest_select(kind: str, *, with_item: bool, with_team_kind: bool):
    """The KNN statement of ``kind`` with bind parameters lon, lat, n (and item, team_kind when asked)."""
    layer = LAYERS[kind]
    cols = []
    conds = []
    if kind == "supply_depots":
        cols.append(layer.model.level.label("level"))
        if with_item:
            item = bindparam("item", type_=Text)
            stock = (select(func.json_build_object("item", DepotStock.item, "unit", DepotStock.unit,
                                                   "quantity", DepotStock.quantity))
                     .where(DepotStock.depot_id == SupplyDepot.id, DepotStock.item == item).scalar_subquery())
            cols.append(stock.label("stock"))
            conds.append(exists().where(DepotStock.depot_id == SupplyDepot.id, DepotStock.item == item,
                                        DepotStock.quantity > 0))
    else:
        cols += [layer.model.kind.label("kind"), layer.model.headcount.label("headcount"),
                 layer.model.phone.label("phone")]
        if with_team_kind:
            conds.append(layer.model.kind == bindparam("team_kind", type_=Text))
    return knn_select(layer, columns=cols, where=conds)


def nearest_parameters(*, kind: str, lon: Any, lat: Any, n: int = 10, item: str | None = None,
                       team_kind: str | None = None, crs: str | None = None) -> dict[str, Any]:
    """Check a nearest-N question; the bound parameters of its statement (lon/lat in WGS84)."""
    if kind not in NEAREST_KINDS:
        raise InvalidInput("kind", f"unknown kind {kind!r}; allowed: {', '.join(NEAREST_KINDS)}")
    if not isinstance(n, int) or not 1 <= n <= 100:
        raise InvalidInput("n", "must be an integer from 1 to 100")
    point = point_from_lonlat(lon, lat, crs=crs, field="lon")
    params: dict[str, Any] = {"lon": point.x, "lat": point.y, "n": n}
    if kind == "supply_depots" and item is not None:
        if not isinstance(item, str) or not 0 < len(item) <= 100:
            raise InvalidInput("item", "must be 1 to 100 characters")
        params["item"] = item
    if kind == "rescue_teams" and team_kind is not None:
        allowed = LAYERS["rescue_teams"].field("kind").choices
        if team_kind not in allowed:
            raise InvalidInput("team_kind", f"unknown kind {team_kind!r}; allowed: {', '.join(allowed)}")
        params["team_kind"] = team_kind
    return params


def nearest_query(*, kind: str, **question: Any) -> tuple[str, dict[str, Any]]:
    """The ``n`` nearest rescue teams or supply depots (KNN on the GiST index), as SQL for psycopg and its parameters.

    ``question``: ``lon``, ``lat``, ``n``, ``item`` (depots holding it, quantity > 0, reported), ``team_kind``,
    ``crs`` (see :func:`nearest_parameters`). Compiled once per shape; run it under the caller's context
    (:mod:`geo.aiodb`) and shape the rows with :func:`nearest_rows`.
    """
    params = nearest_parameters(kind=kind, **question)
    with_item, with_team_kind = "item" in params, "team_kind" in params
    sql, constants = psycopg_sql(("nearest", kind, with_item, with_team_kind),
                                 lambda: _nearest_select(kind, with_item=with_item, with_team_kind=with_team_kind))
    return sql, constants | params


def nearest_rows(rows) -> list[dict[str, Any]]:
    """Rows of the nearest-N statement (mappings) as the API answers them: ``distance_m`` to 0.1 m."""
    return [{**row, "distance_m": round(row["distance_m"], 1)} for row in rows]


def knn_select(layer: Layer, *, columns=(), where=()):
    """The KNN statement over ``layer`` with bind parameters ``lon``, ``lat`` (WGS84) and ``n``.

    The GiST index picks the candidates (``<->``, LEAKPROOF so it works under
    RLS); they are then ordered by their true distance on the spheroid. Rows
    have ``id``, ``name``, ``lon``, ``lat``, the extra ``columns`` (labelled)
    and ``distance_m``.
    """
    g = func.ST_SetSRID(func.ST_MakePoint(bindparam("lon", type_=Float), bindparam("lat", type_=Float)), 4326)
    col = layer.geom_column
    candidates = (select(layer.id_column.label("id"), _label_column(layer).label("name"), *columns,
                         func.ST_X(col).label("lon"), func.ST_Y(col).label("lat"), col.label("g"))
                  .where(layer.where(), *where).order_by(col.op("<->")(g))
                  .limit(bindparam("n", type_=Integer)).subquery("knn"))
    dist = func.ST_Distance(cast(candidates.c.g, _geography()), cast(g, _geography()))
    return (select(*[c for c in candidates.c if c.name != "g"], dist.label("distance_m"))
            .order_by(dist, candidates.c.id))


def knn(session: Session, *, layer: Layer, lon: float, lat: float, n: int, columns=(), where=()
        ) -> list[dict[str, Any]]:
    """The ``n`` rows of ``layer`` nearest to (lon, lat), nearest first, with geodesic ``distance_m`` (0.1 m)."""
    stmt = knn_select(layer, columns=columns, where=where)
    return nearest_rows(session.execute(stmt, {"lon": float(lon), "lat": float(lat), "n": n}).mappings())


def _region_key(column, level: str):
    if level == "province":
        return func.left(column, 2) + literal("0000", Text)
    if level == "city":
        return func.left(column, 4) + literal("00", Text)
    return column


def region_stats(session: Session, *, level: str = "county", parent: str | None = None,
                 only: str | None = None) -> list[dict[str, Any]]:
    """Per region of ``level`` (optionally under ``parent``): what the caller may see, counted.

    Enterprises by risk colour, hazard units by grade (and major), hidden
    dangers open / overdue / major-open, protection targets and their population.
    Rows outside the caller's jurisdiction are not counted (RLS). ``only``
    restricts the answer to one region of that level.
    """
    if level not in ("province", "city", "county"):
        raise InvalidInput("level", "must be province, city or county")
    regions = select(Region.adcode, Region.name, Region.level, Region.parent_adcode).where(Region.level == level)
    if parent is not None:
        if not is_adcode(parent):
            raise InvalidInput("parent", "must be a 6-digit region code")
        regions = regions.where(Region.parent_adcode == parent)
    if only is not None:
        regions = regions.where(Region.adcode == only)
    out = {r.adcode: {"adcode": r.adcode, "name": r.name, "level": r.level, "parent_adcode": r.parent_adcode}
           for r in session.execute(regions.order_by(Region.adcode))}
    if not out:
        return []

    def grouped(model, *aggs):
        key = _region_key(model.adcode, level).label("key")
        stmt = select(key, *aggs).where(model.valid_to.is_(None)).group_by(key)
        if only is not None:
            prefix = {"province": only[:2], "city": only[:4]}.get(level, only)
            stmt = stmt.where(model.adcode.startswith(prefix, autoescape=True))
        return session.execute(stmt).all()

    e = Enterprise
    for key, *vals in grouped(e, func.count(), *[func.count().filter(e.risk_colour == c)
                                                for c in ("red", "orange", "yellow", "blue")]):
        if key in out:
            total, red, orange, yellow, blue = vals
            out[key]["enterprises"] = {"total": total, "red": red, "orange": orange, "yellow": yellow, "blue": blue,
                                       "unrated": total - red - orange - yellow - blue}
    h = HazardUnit
    for key, *vals in grouped(h, func.count(), func.count().filter(h.is_major.is_(True)),
                              *[func.count().filter(h.grade == g) for g in (1, 2, 3, 4)]):
        if key in out:
            total, major, g1, g2, g3, g4 = vals
            out[key]["hazard_units"] = {"total": total, "major": major, "grade_1": g1, "grade_2": g2,
                                        "grade_3": g3, "grade_4": g4}
    d = HiddenDanger
    is_open = d.status != "closed"
    for key, *vals in grouped(d, func.count(), func.count().filter(is_open),
                              func.count().filter(and_(d.status.in_(vocab.DANGER_UNRECTIFIED),
                                                       d.deadline < func.current_date())),
                              func.count().filter(and_(is_open, d.level == "major"))):
        if key in out:
            total, open_, overdue, major_open = vals
            out[key]["hidden_dangers"] = {"total": total, "open": open_, "overdue": overdue, "major_open": major_open}
    t = ProtectionTarget
    for key, count, population in grouped(t, func.count(), func.coalesce(func.sum(t.population), 0)):
        if key in out:
            out[key]["protection_targets"] = {"total": count, "population": int(population)}
    empty = {"enterprises": {"total": 0, "red": 0, "orange": 0, "yellow": 0, "blue": 0, "unrated": 0},
             "hazard_units": {"total": 0, "major": 0, "grade_1": 0, "grade_2": 0, "grade_3": 0, "grade_4": 0},
             "hidden_dangers": {"total": 0, "open": 0, "overdue": 0, "major_open": 0},
             "protection_targets": {"total": 0, "population": 0}}
    rows = []
    for item in out.values():
        for k, v in empty.items():
            item.setdefault(k, dict(v))
        rows.append(item)
    return rows

