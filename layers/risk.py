"""The individual-risk surface on H3 cells: full rebuild (plain or on Dask) and
incremental updates, societal risk per enterprise.

:mod:`layers.risk_model` computes what one toxic source contributes to each
cell; this module gathers the sources from PostGIS, sums them and stores:

* ``risk_cells``: one row per cell at resolution 9 (``RiskConfig.res``) holding
  the summed individual risk (integer ``ir_fe15`` = risk × 1e15 per year),
  plus roll-ups at resolutions 7 and 5 (max risk of their children); every row
  carries the population and the counts of hazard units, open hidden dangers
  and active alarms inside the cell, the county of its centre (nearest county
  for cells at sea) and its hexagon for tiles;
* ``risk_units``: per hazard unit, the sources its contribution was computed
  from (to subtract it exactly on the next change) and its F–N outcomes;
* ``societal_risk``: per enterprise, the F–N curve and its GB 36894 verdict;
* ``risk_surface``: the configuration the surface was built with.

Sources are the toxic chemicals with a verified probit held by active major
hazard units (``hazard_units.is_major``, from the GB 18218 assessment);
anything else that is toxic is listed in ``risk_surface.skipped`` with the
reason. Because each unit's contribution is rounded to integers before it is
summed, the surface is the same bit for bit whatever the order of the sum:
with or without Dask, with any number of workers, and after any sequence of
incremental updates.
"""

from __future__ import annotations

import json
import logging
import time
from collections import defaultdict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from functools import partial

import numpy as np
import shapely
from sqlalchemy import Connection, Engine, text

from geo import h3grid
from geo.bulk import copy_rows
from geo.errors import InvalidInput
from layers.risk_criteria import fn_verdict
from layers.risk_model import (
    RiskConfig,
    ToxicSource,
    UnitRisk,
    fn_curve,
    load_config,
    reach_m,
    toxic_candidate,
    unit_risk,
)

__all__ = ["ROLLUP_RES", "RebuildSummary", "UpdateSummary", "gather_sources", "compute",
           "rebuild", "update_units", "update_pending", "surface_cells"]

#: Resolutions of the roll-ups stored beside the base resolution.
ROLLUP_RES = (7, 5)
_LOCK = text("SELECT pg_advisory_xact_lock(hashtext('onemap.risk_surface'))")


# --------------------------------------------------------------------------- gathering


def gather_sources(conn: Connection, unit_ids: Sequence[int] | None = None
                   ) -> tuple[list[ToxicSource], list[dict]]:
    """Toxic sources of active major hazard units (all, or ``unit_ids``), and what was skipped."""
    where = "" if unit_ids is None else "AND h.id = ANY(:ids)"
    rows = conn.execute(text(f"""
        SELECT h.id, h.enterprise_id, ST_X(h.geom), ST_Y(h.geom), h.kind, i.chemical, i.cas, i.max_quantity_t
        FROM hazard_units h JOIN hazard_unit_inventory i ON i.hazard_unit_id = h.id
        WHERE h.valid_to IS NULL AND h.status = 'active' AND h.is_major AND i.max_quantity_t > 0 {where}
        ORDER BY h.id, i.id"""), {"ids": list(unit_ids or [])}).all()
    sources, skipped = [], []
    for uid, eid, lon, lat, kind, chemical, cas, q in rows:
        key, reason = toxic_candidate(cas or chemical)
        if reason is None:
            sources.append(ToxicSource(int(uid), int(eid), float(lon), float(lat), kind, key, float(q)))
        elif key is not None:  # a toxic chemical we cannot model yet
            skipped.append({"hazard_unit_id": int(uid), "chemical": chemical, "reason": reason})
    return sources, skipped


@dataclass
class CellFacts:
    """Population and point counts, summed per cell of any resolution on demand."""

    pop_cells: np.ndarray  # uint64 res-9 cells, sorted unique
    pop: np.ndarray  # people per cell
    points: dict[str, np.ndarray]  # kind -> res-9 cells of each point (with repeats)
    base_res: int = 9

    def population_at_base(self, cells: np.ndarray) -> np.ndarray:
        """People per base cell: ``pop_cells`` is already sorted and unique, so one lookup."""
        if self.pop_cells.size == 0:
            return np.zeros(cells.size)
        i = np.clip(np.searchsorted(self.pop_cells, cells), 0, self.pop_cells.size - 1)
        return np.where(self.pop_cells[i] == cells, self.pop[i], 0.0)

    def _sum_to(self, base_cells: np.ndarray, values: np.ndarray | None, cells: np.ndarray, res: int):
        if base_cells.size == 0:
            return np.zeros(cells.size)
        keys = base_cells if res == self.base_res else h3grid.parents(base_cells, res)
        order = np.argsort(keys, kind="stable")
        keys = keys[order]
        vals = np.ones(keys.size) if values is None else values[order]
        uniq, start = np.unique(keys, return_index=True)
        sums = np.add.reduceat(vals, start)
        i = np.clip(np.searchsorted(uniq, cells), 0, uniq.size - 1)
        return np.where(uniq[i] == cells, sums[i], 0.0)

    def population(self, cells: np.ndarray, res: int) -> np.ndarray:
        if res == self.base_res:
            return self.population_at_base(cells)
        return self._sum_to(self.pop_cells, self.pop, cells, res)

    def count(self, kind: str, cells: np.ndarray, res: int) -> np.ndarray:
        return self._sum_to(self.points.get(kind, np.zeros(0, dtype=np.uint64)), None, cells, res).astype(np.int64)


def _bbox_clause(bbox: tuple[float, float, float, float] | None, column: str = "geom") -> str:
    return "" if bbox is None else f"AND {column} && ST_MakeEnvelope(:x0, :y0, :x1, :y1, 4326)"


def _bbox_params(bbox) -> dict:
    return {} if bbox is None else dict(zip(("x0", "y0", "x1", "y1"), bbox, strict=True))


def gather_facts(conn: Connection, *, res: int = 9,
                 bbox: tuple[float, float, float, float] | None = None) -> CellFacts:
    """Population (protection targets + the imported surface) and points to count, as res-``res`` cells."""
    p = _bbox_params(bbox)
    targets = conn.execute(text(f"""
        SELECT ST_X(pt), ST_Y(pt), population FROM (
          SELECT ST_PointOnSurface(geom) AS pt, population FROM protection_targets
          WHERE valid_to IS NULL AND population > 0 {_bbox_clause(bbox)}) t"""), p).all()
    cells, people = [], []
    if targets:
        arr = np.asarray([tuple(t) for t in targets], dtype=float)  # plain tuples: numpy is slow on Rows
        cells.append(h3grid.lonlat_to_cells(arr[:, 0], arr[:, 1], res))
        people.append(arr[:, 2])
    surface = conn.execute(text("SELECT h3, population FROM population_cells")).all()
    if surface:
        arr = np.asarray([tuple(t) for t in surface], dtype=np.int64)
        cells.append(arr[:, 0].astype(np.uint64))
        people.append(np.asarray([s[1] for s in surface], dtype=float))
    if cells:
        all_cells = np.concatenate(cells)
        all_people = np.concatenate(people)
        order = np.argsort(all_cells, kind="stable")
        uniq, start = np.unique(all_cells[order], return_index=True)
        pop = np.add.reduceat(all_people[order], start)
    else:
        uniq, pop = np.zeros(0, dtype=np.uint64), np.zeros(0)
    points = {}
    queries = {
        "hazard_units": "SELECT ST_X(geom), ST_Y(geom) FROM hazard_units WHERE valid_to IS NULL",
        "open_dangers": ("SELECT ST_X(geom), ST_Y(geom) FROM hidden_dangers "
                         "WHERE valid_to IS NULL AND status <> 'closed'"),
    }
    if conn.execute(text("SELECT to_regclass('alarms') IS NOT NULL")).scalar():
        queries["active_alarms"] = (  # telemetry's alarms, located by their sensor
            "SELECT ST_X(s.geom), ST_Y(s.geom) FROM alarms a JOIN sensors s ON s.id = a.sensor_id "
            "WHERE a.state <> 'cleared'")  # open alarms (migration 0014)
    for kind, sql in queries.items():
        geom = "s.geom" if kind == "active_alarms" else "geom"
        rows = conn.execute(text(f"{sql} {_bbox_clause(bbox, geom)}"), p).all()
        arr = np.asarray([tuple(r) for r in rows], dtype=float).reshape(-1, 2)
        points[kind] = h3grid.lonlat_to_cells(arr[:, 0], arr[:, 1], res) if arr.size else np.zeros(0, np.uint64)
    return CellFacts(uniq.astype(np.uint64), pop, points, res)


# --------------------------------------------------------------------------- computing


def _disk(lon: float, lat: float, radius_m: float, *, res: int):
    return h3grid.cells_in_disk(lon, lat, radius_m, res, with_centres=True)


def _population_lookup(cells: np.ndarray, *, pop_cells: np.ndarray, pop: np.ndarray) -> np.ndarray:
    return CellFacts(pop_cells, pop, {}).population_at_base(cells)


def _chunk(sources: list[ToxicSource], config: RiskConfig, pop_cells: np.ndarray, pop: np.ndarray
           ) -> list[UnitRisk]:
    disk = partial(_disk, res=config.res)
    lookup = partial(_population_lookup, pop_cells=pop_cells, pop=pop)
    return [unit_risk(s, config, cells_in_reach=disk, population=lookup) for s in sources]


def compute(sources: Sequence[ToxicSource], config: RiskConfig, facts: CellFacts, *,
            workers: int | None = None, scheduler: str | None = None, chunk: int = 4,
            progress: Callable[[int], None] | None = None) -> list[UnitRisk]:
    """Every source's contribution, in the order given.

    ``workers=None`` and ``scheduler=None`` compute in this process; otherwise on
    Dask: a ``distributed`` scheduler at ``scheduler`` (``tcp://host:8786``), or a
    ``LocalCluster`` of ``workers`` processes on 127.0.0.1. Partitioned by unit.
    """
    groups = [list(sources[i:i + chunk]) for i in range(0, len(sources), chunk)]
    if workers is None and scheduler is None:
        out = []
        for g in groups:
            out.extend(_chunk(g, config, facts.pop_cells, facts.pop))
            if progress:
                progress(len(g))
        return out
    from dask.distributed import Client, LocalCluster, as_completed  # optional at import time

    cluster = None
    if scheduler is None:
        if workers < 1:
            raise InvalidInput("workers", f"must be at least 1, got {workers}")
        cluster = LocalCluster(n_workers=workers, threads_per_worker=1, processes=True,
                               host="127.0.0.1", dashboard_address=None,
                               silence_logs=logging.CRITICAL)  # no heartbeat noise while it closes
    client = Client(cluster if cluster is not None else scheduler)
    try:
        pc, pp = client.scatter([facts.pop_cells, facts.pop], broadcast=True)
        futures = [client.submit(_chunk, g, config, pc, pp, pure=False) for g in groups]
        index = {f.key: i for i, f in enumerate(futures)}
        results: list[list[UnitRisk] | None] = [None] * len(groups)
        for fut in as_completed(futures):
            results[index[fut.key]] = fut.result()
            if progress:
                progress(len(groups[index[fut.key]]))
        return [u for part in results for u in part]
    finally:
        client.close()
        if cluster is not None:
            cluster.close()


def _sum_cells(parts: Iterable[tuple[np.ndarray, np.ndarray]]) -> tuple[np.ndarray, np.ndarray]:
    """Sum int64 values per cell, exactly."""
    parts = list(parts)
    if not parts:
        return np.zeros(0, dtype=np.uint64), np.zeros(0, dtype=np.int64)
    cells = np.concatenate([p[0] for p in parts]).astype(np.uint64)
    vals = np.concatenate([p[1] for p in parts]).astype(np.int64)
    order = np.argsort(cells, kind="stable")
    uniq, start = np.unique(cells[order], return_index=True)
    return uniq, np.add.reduceat(vals[order], start) if uniq.size else np.zeros(0, np.int64)


def _rollup(cells: np.ndarray, ir_q: np.ndarray, res: int) -> tuple[np.ndarray, np.ndarray]:
    """Max of children per parent cell at ``res``."""
    if cells.size == 0:
        return cells, ir_q
    keys = h3grid.parents(cells, res)
    order = np.argsort(keys, kind="stable")
    uniq, start = np.unique(keys[order], return_index=True)
    return uniq, np.maximum.reduceat(ir_q[order], start)


@dataclass
class _Rows:
    res: np.ndarray
    cells: np.ndarray
    ir_q: np.ndarray

    def __len__(self) -> int:
        return int(self.cells.size)


def _cell_rows(base_cells: np.ndarray, base_ir: np.ndarray, config: RiskConfig,
               parents_only: dict[int, np.ndarray] | None = None) -> _Rows:
    """Base rows plus roll-ups (all parents, or only ``parents_only[res]``)."""
    res_parts, cell_parts, ir_parts = [np.full(base_cells.size, config.res)], [base_cells], [base_ir]
    for r in ROLLUP_RES:
        pc, pv = _rollup(base_cells, base_ir, r)
        if parents_only is not None:
            keep = np.isin(pc, parents_only[r])
            pc, pv = pc[keep], pv[keep]
        res_parts.append(np.full(pc.size, r))
        cell_parts.append(pc)
        ir_parts.append(pv)
    return _Rows(np.concatenate(res_parts), np.concatenate(cell_parts).astype(np.uint64),
                 np.concatenate(ir_parts).astype(np.int64))


def _copy_cells(conn: Connection, rows: _Rows, facts: CellFacts, counties: _Counties) -> int:
    if not len(rows):
        return 0
    pop = np.zeros(len(rows))
    counts = {k: np.zeros(len(rows), dtype=np.int64) for k in ("hazard_units", "open_dangers", "active_alarms")}
    for r in np.unique(rows.res):
        sel = rows.res == r
        pop[sel] = facts.population(rows.cells[sel], int(r))
        for k in counts:
            counts[k][sel] = facts.count(k, rows.cells[sel], int(r))
    polys = h3grid.cell_boundaries(rows.cells)
    wkb = shapely.to_wkb(shapely.set_srid(np.asarray(polys, dtype=object).reshape(-1), 4326),
                         hex=True, include_srid=True)
    c_lon, c_lat = h3grid.cell_centres(rows.cells)
    adcodes = counties.of(np.atleast_1d(c_lon), np.atleast_1d(c_lat))
    data = zip(rows.res.tolist(), rows.cells.astype(np.int64).tolist(), rows.ir_q.tolist(),
               np.round(pop, 3).tolist(), counts["hazard_units"].tolist(), counts["open_dangers"].tolist(),
               counts["active_alarms"].tolist(), adcodes.tolist(), wkb.tolist(), strict=True)
    dbapi = conn.connection.driver_connection
    copy_rows(dbapi, "risk_cells", ["res", "h3", "ir_fe15", "population", "hazard_units", "open_dangers",
                                    "active_alarms", "adcode", "geom"], list(data))
    return len(rows)


class _Counties:
    """The county of a point: the county part it lies in (lowest code on a shared border, as
    ``onemap_county_of``), else, at sea, the nearest part. Region parts are read once."""

    def __init__(self, conn: Connection) -> None:
        parts = conn.execute(text("SELECT adcode, ST_AsBinary(geom) FROM region_parts ORDER BY adcode, id")).all()
        self.codes = np.asarray([p[0] for p in parts], dtype=object)
        self.tree = shapely.STRtree(shapely.from_wkb([bytes(p[1]) for p in parts]))

    def of(self, lon: np.ndarray, lat: np.ndarray) -> np.ndarray:
        out = np.full(lon.size, None, dtype=object)
        if lon.size == 0 or self.codes.size == 0:
            return out
        points = shapely.points(lon, lat)
        pt, part = self.tree.query(points, predicate="intersects")
        # parts are in adcode order, so the lowest part index of a point is its lowest code
        order = np.lexsort((part, pt))
        pt, part = pt[order], part[order]
        first = np.ones(pt.size, dtype=bool)
        first[1:] = pt[1:] != pt[:-1]
        out[pt[first]] = self.codes[part[first]]
        sea = np.nonzero(out == None)[0]  # noqa: E711 (element-wise)
        if sea.size:
            _, near = self.tree.query_nearest(points[sea], all_matches=False)
            out[sea] = self.codes[near]
        return out


def _unit_rows(results: Sequence[UnitRisk], config: RiskConfig) -> list[dict]:
    by_unit: dict[int, list[UnitRisk]] = defaultdict(list)
    for u in results:
        by_unit[u.source.unit_id].append(u)
    rows = []
    for uid, parts in sorted(by_unit.items()):
        inputs = {"config": config.hash, "sources": [p.source.as_json() for p in parts],
                  "outcomes": {"n": np.concatenate([p.outcomes_n for p in parts]).round(6).tolist(),
                               "f": np.concatenate([p.outcomes_f for p in parts]).tolist()}}
        rows.append({"id": uid, "e": parts[0].source.enterprise_id, "inputs": json.dumps(inputs),
                     "reach": max(p.reach_m for p in parts),
                     "cells": int(len(np.unique(np.concatenate([p.cells for p in parts])))),
                     "max_ir": max(p.max_ir for p in parts)})
    return rows


_INSERT_UNITS = text("""
    INSERT INTO risk_units (hazard_unit_id, enterprise_id, inputs, reach_m, cells, max_ir)
    VALUES (:id, :e, CAST(:inputs AS jsonb), :reach, :cells, :max_ir)""")


def _write_societal(conn: Connection, enterprise_ids: Sequence[int] | None) -> int:
    """Recompute the F–N curve of enterprises (all when None) from the stored unit outcomes."""
    where = "" if enterprise_ids is None else "WHERE u.enterprise_id = ANY(:ids)"
    rows = conn.execute(text(f"""
        SELECT u.enterprise_id, e.adcode, u.inputs->'outcomes'
        FROM risk_units u JOIN enterprises e ON e.id = u.enterprise_id {where}
        ORDER BY u.enterprise_id, u.hazard_unit_id"""), {"ids": list(enterprise_ids or [])}).all()
    if enterprise_ids is None:
        conn.execute(text("DELETE FROM societal_risk"))
    else:
        conn.execute(text("DELETE FROM societal_risk WHERE enterprise_id = ANY(:ids)"),
                     {"ids": list(enterprise_ids)})
    grouped: dict[int, tuple[str, list, list]] = {}
    for eid, adcode, out in rows:
        g = grouped.setdefault(eid, (adcode, [], []))
        g[1].extend(out["n"])
        g[2].extend(out["f"])
    params = []
    for eid, (adcode, ns, fs) in grouped.items():
        curve = fn_curve(np.asarray(ns, dtype=float), np.asarray(fs, dtype=float))
        params.append({"e": eid, "a": adcode, "fn": json.dumps([[n, f] for n, f in curve]),
                       "max_n": max((n for n, _ in curve), default=0.0), "v": fn_verdict(curve)})
    if params:
        conn.execute(text("""INSERT INTO societal_risk (enterprise_id, adcode, fn, max_n, verdict)
                             VALUES (:e, :a, CAST(:fn AS jsonb), :max_n, :v)"""), params)
    return len(params)


def _announce(conn: Connection, kind: str, cells: int, near: np.ndarray | None = None) -> None:
    """Bump the surface's data version and notify ``/events``: the cities (4-digit prefixes)
    of all cells, or of the cells ``near`` (coarse roll-up cells) for an update."""
    ver = conn.execute(text("""
        INSERT INTO data_versions AS dv (table_name, version, changed_at) VALUES ('risk_cells', 1, now())
        ON CONFLICT (table_name) DO UPDATE SET version = dv.version + 1, changed_at = now()
        RETURNING dv.version""")).scalar()
    where = "" if near is None else "AND res = :res AND h3 = ANY(:near)"
    params = {} if near is None else {"res": ROLLUP_RES[0], "near": near.astype(np.int64).tolist()}
    codes = conn.execute(text("SELECT coalesce(array_agg(DISTINCT left(adcode, 4) ORDER BY left(adcode, 4)), "
                              f"'{{}}') FROM risk_cells WHERE adcode IS NOT NULL {where}"), params).scalar()
    payload = {"t": "risk_cells", "op": "UPDATE", "n": cells, "v": ver, "k": kind, "p": False, "a": list(codes)}
    conn.execute(text("SELECT pg_notify('onemap_events', :p)"), {"p": json.dumps(payload)})


# --------------------------------------------------------------------------- rebuild


@dataclass
class RebuildSummary:
    units: int
    sources: int
    cells: int
    cells_base: int
    skipped: list[dict]
    enterprises: int
    seconds: float
    compute_seconds: float
    workers: int | None = None
    timings: dict = field(default_factory=dict)

    @property
    def cells_per_second(self) -> float:
        return self.cells_base / self.compute_seconds if self.compute_seconds > 0 else 0.0


def rebuild(engine: Engine, *, config: RiskConfig | None = None, workers: int | None = None,
            scheduler: str | None = None, progress: Callable[[str, int, int], None] | None = None
            ) -> RebuildSummary:
    """Recompute the whole surface and replace it in one transaction.

    ``progress(stage, done, total)`` is called as sources are computed.
    """
    config = config or load_config()
    t0 = time.perf_counter()
    with engine.begin() as conn:
        conn.execute(_LOCK)
        conn.execute(text("DELETE FROM risk_queue"))  # what is queued from now on stays queued
        sources, skipped = gather_sources(conn)
        facts = gather_facts(conn, res=config.res)
        t1 = time.perf_counter()
        done = [0]

        def tick(n: int) -> None:
            done[0] += n
            if progress:
                progress("sources", done[0], len(sources))

        if progress:
            progress("sources", 0, len(sources))
        results = compute(sources, config, facts, workers=workers, scheduler=scheduler, progress=tick)
        t2 = time.perf_counter()
        base_cells, base_ir = _sum_cells((u.cells, u.ir_q) for u in results)
        rows = _cell_rows(base_cells, base_ir, config)
        conn.execute(text("DELETE FROM risk_cells"))
        _copy_cells(conn, rows, facts, _Counties(conn))
        conn.execute(text("DELETE FROM risk_units"))
        unit_rows = _unit_rows(results, config)
        if unit_rows:
            conn.execute(_INSERT_UNITS, unit_rows)
        enterprises = _write_societal(conn, None)
        elapsed = time.perf_counter() - t0
        conn.execute(text("""
            INSERT INTO risk_surface (id, res, config, config_hash, built_at, units, cells, seconds, skipped)
            VALUES (1, :res, CAST(:config AS jsonb), :hash, now(), :units, :cells, :seconds, CAST(:skipped AS jsonb))
            ON CONFLICT (id) DO UPDATE SET res = EXCLUDED.res, config = EXCLUDED.config,
              config_hash = EXCLUDED.config_hash, built_at = now(), units = EXCLUDED.units,
              cells = EXCLUDED.cells, seconds = EXCLUDED.seconds, skipped = EXCLUDED.skipped"""),
            {"res": config.res, "config": json.dumps(config.as_json()), "hash": config.hash,
             "units": len(unit_rows), "cells": len(rows), "seconds": elapsed, "skipped": json.dumps(skipped)})
        _announce(conn, "risk_surface.rebuilt", len(rows))
    t3 = time.perf_counter()
    return RebuildSummary(units=len(unit_rows), sources=len(sources), cells=len(rows),
                          cells_base=int(base_cells.size), skipped=skipped, enterprises=enterprises,
                          seconds=t3 - t0, compute_seconds=t2 - t1, workers=workers,
                          timings={"gather_s": t1 - t0, "compute_s": t2 - t1, "write_s": t3 - t2})


# --------------------------------------------------------------------------- incremental


@dataclass
class UpdateSummary:
    units: int
    cells_changed: int
    seconds: float
    rebuilt: bool = False


def _stored_config(conn: Connection) -> tuple[str | None, dict | None]:
    """The hash and configuration the stored surface was built with (None, None before a build)."""
    row = conn.execute(text("SELECT config_hash, config FROM risk_surface WHERE id = 1")).first()
    return (row[0], row[1]) if row else (None, None)


def _sources_of(inputs: dict) -> list[ToxicSource]:
    return [ToxicSource(**s) for s in inputs["sources"]]


def _bounds(cells: np.ndarray) -> tuple[float, float, float, float] | None:
    if cells.size == 0:
        return None
    polys = np.asarray(h3grid.cell_boundaries(cells), dtype=object).reshape(-1)
    b = shapely.total_bounds(polys)
    return float(b[0]), float(b[1]), float(b[2]), float(b[3])


def _union(*boxes) -> tuple[float, float, float, float]:
    boxes = [b for b in boxes if b is not None]
    return (min(b[0] for b in boxes), min(b[1] for b in boxes), max(b[2] for b in boxes), max(b[3] for b in boxes))


def _reach_box(s: ToxicSource, config: RiskConfig) -> tuple[float, float, float, float]:
    """A box holding every cell within the source's reach (plus a kilometre for cell edges)."""
    r = reach_m(s, config) + 1000.0
    dlat = r / 110_000.0
    dlon = r / (110_000.0 * max(np.cos(np.radians(s.lat)), 0.1))
    return s.lon - dlon, s.lat - dlat, s.lon + dlon, s.lat + dlat


def _array(values) -> str:
    """A bigint[] literal: psycopg's per-element list adaptation is the slow part of big ANY()s."""
    return "{" + ",".join(map(str, np.asarray(values, dtype=np.int64).tolist())) + "}"


def _current(conn: Connection, res: int, cells: np.ndarray) -> dict[int, int]:
    rows = conn.execute(text("SELECT h3, ir_fe15 FROM risk_cells WHERE res = :res AND h3 = ANY(CAST(:cells AS bigint[]))"),
                        {"res": res, "cells": _array(cells)}).all()
    return {int(h): int(v) for h, v in rows}


def _children_max(conn: Connection, parents: np.ndarray, base_res: int) -> dict[int, int]:
    """Max stored base-resolution risk under each parent (the roll-up rule), by index range."""
    if parents.size == 0:
        return {}
    lo, hi = h3grid.descendant_range(parents, base_res)
    rows = conn.execute(text("""
        SELECT p.parent, max(c.ir_fe15) FROM unnest(CAST(:parents AS bigint[]), CAST(:lo AS bigint[]),
                                                    CAST(:hi AS bigint[])) AS p(parent, lo, hi)
        JOIN risk_cells c ON c.res = :res AND c.h3 BETWEEN p.lo AND p.hi
        GROUP BY p.parent"""), {"parents": _array(parents), "lo": _array(lo), "hi": _array(hi),
                                "res": base_res}).all()
    return {int(p): int(v) for p, v in rows}


_SET_IR = text("""UPDATE risk_cells c SET ir_fe15 = v.ir, updated_at = now()
                  FROM unnest(CAST(:cells AS bigint[]), CAST(:irs AS bigint[])) AS v(h3, ir)
                  WHERE c.res = :res AND c.h3 = v.h3""")
_DELETE = text("DELETE FROM risk_cells WHERE res = :res AND h3 = ANY(CAST(:cells AS bigint[]))")


def _apply(conn: Connection, res: int, current: dict[int, int], final: dict[int, int],
           full: set[int]) -> tuple[list[int], np.ndarray, np.ndarray]:
    """Write one resolution's changes; return the rows to (re)insert whole: (res list, cells, ir)."""
    gone = [c for c in current if final.get(c, 0) == 0]
    changed = [c for c, v in final.items() if v > 0 and c in current and c not in full and current[c] != v]
    rewrite = [c for c, v in final.items() if v > 0 and (c not in current or c in full)]
    drop = gone + [c for c in rewrite if c in current]
    if drop:
        conn.execute(_DELETE, {"res": res, "cells": _array(drop)})
    if changed:
        conn.execute(_SET_IR, {"res": res, "cells": _array(changed), "irs": _array([final[c] for c in changed])})
    cells = np.asarray(sorted(rewrite), dtype=np.int64).astype(np.uint64)
    return [res] * cells.size, cells, np.asarray([final[int(c)] for c in cells.astype(np.int64)], dtype=np.int64)


def _rollup_update(conn: Connection, r: int, base: int, cells: np.ndarray, cur: np.ndarray, fin: np.ndarray,
                   stored: dict[int, int]) -> dict[int, int]:
    """New max of each parent (at ``r``) of the changed base cells, exactly.

    A parent's max can only be lost when a child that held it went down; for every
    other parent it is max(stored max, new values of its changed children). Only the
    parents that lost their max are recomputed from all their children.
    """
    keys = h3grid.parents(cells, r, check=False).astype(np.int64)
    order = np.argsort(keys, kind="stable")
    keys, cur, fin = keys[order], cur[order], fin[order]
    uniq, start = np.unique(keys, return_index=True)
    new_max = np.maximum.reduceat(fin, start)
    old = np.asarray([stored.get(int(p), 0) for p in uniq.tolist()], dtype=np.int64)
    lost = (fin < cur) & (cur == np.repeat(old, np.diff(np.append(start, keys.size))))
    lost_any = np.logical_or.reduceat(lost, start)
    out = {int(p): int(v) for p, v in zip(uniq.tolist(), np.maximum(old, new_max).tolist(), strict=True)}
    redo = uniq[lost_any]
    if redo.size:
        for p in redo.tolist():
            out[int(p)] = 0
        out.update(_children_max(conn, redo.astype(np.uint64), base))
    return out


def _write_whole(conn: Connection, parts: list, base: int, counties: _Counties) -> None:
    """Insert whole rows (geometry, county, population, counts) returned by :func:`_apply`."""
    rows = _Rows(np.concatenate([np.asarray(f[0], dtype=np.int64) for f in parts]),
                 np.concatenate([f[1] for f in parts]).astype(np.uint64),
                 np.concatenate([f[2] for f in parts]).astype(np.int64))
    if len(rows):
        _copy_cells(conn, rows, gather_facts(conn, res=base, bbox=_bounds(rows.cells)), counties)


def update_units(engine: Engine, unit_ids: Sequence[int], *, config: RiskConfig | None = None
                 ) -> UpdateSummary:
    """Replace the contribution of some units: subtract what is stored, add what they hold now.

    Only the cells the units reach (before or after) and their roll-up parents are
    touched: changed values are updated in place; cells that appear or that hold a
    unit's old or new place (their counts change) are rewritten whole. The result
    equals a full rebuild exactly. When the surface was built with another
    configuration (or never), this rebuilds it instead.
    """
    t0 = time.perf_counter()
    ids = sorted({int(i) for i in unit_ids})
    with engine.connect() as probe:
        stored, stored_json = _stored_config(probe)
    if config is None:  # keep the configuration the surface was built with
        config = RiskConfig.from_json(stored_json) if stored_json else load_config()
    if stored != config.hash:
        s = rebuild(engine, config=config)
        return UpdateSummary(units=len(ids), cells_changed=s.cells, seconds=s.seconds, rebuilt=True)
    base = config.res
    with engine.begin() as conn:
        conn.execute(_LOCK)
        conn.execute(text("DELETE FROM risk_queue WHERE hazard_unit_id = ANY(:ids)"), {"ids": ids})
        old = conn.execute(text("SELECT hazard_unit_id, enterprise_id, inputs FROM risk_units "
                                "WHERE hazard_unit_id = ANY(:ids)"), {"ids": ids}).all()
        old_sources = [s for _, _, inputs in old for s in _sources_of(inputs)]
        new_sources, _ = gather_sources(conn, ids)
        if not old_sources and not new_sources:
            return UpdateSummary(units=len(ids), cells_changed=0, seconds=time.perf_counter() - t0)
        no_facts = CellFacts(np.zeros(0, np.uint64), np.zeros(0), {}, base)
        old_results = compute(old_sources, config, no_facts)
        # the cells holding a unit's old or new place: their counts change, so they are rewritten whole
        places = np.unique(np.concatenate([np.atleast_1d(h3grid.lonlat_to_cells(s.lon, s.lat, base))
                                           for s in old_sources + new_sources])).astype(np.uint64)
        place_parents = {r: np.unique(h3grid.parents(places, r, check=False)) for r in ROLLUP_RES}
        # population and counts: around the new reach (F–N) and over the cells rewritten whole
        boxes = [_reach_box(s, config) for s in new_sources]
        boxes += [_bounds(places)] + [_bounds(p) for p in place_parents.values()]
        new_results = compute(new_sources, config, gather_facts(conn, res=base, bbox=_union(*boxes)))
        delta_cells, delta = _sum_cells([(u.cells, -u.ir_q) for u in old_results]
                                        + [(u.cells, u.ir_q) for u in new_results])
        touched = np.union1d(delta_cells, places).astype(np.uint64)
        current = _current(conn, base, touched)
        d = dict(zip(delta_cells.astype(np.int64).tolist(), delta.tolist(), strict=True))
        final = {int(c): current.get(int(c), 0) + d.get(int(c), 0) for c in touched.astype(np.int64).tolist()}
        if any(v < 0 for v in final.values()):
            raise RuntimeError("risk surface out of step with risk_units: run `onemap risk rebuild`")
        counties = _Counties(conn)
        _write_whole(conn, [_apply(conn, base, current, final, set(places.astype(np.int64).tolist()))],
                     base, counties)
        # roll-ups: the max of the (now stored) children of every touched parent
        parts = []
        t_cells = touched.astype(np.int64)
        t_cur = np.asarray([current.get(int(c), 0) for c in t_cells.tolist()], dtype=np.int64)
        t_fin = np.asarray([final[int(c)] for c in t_cells.tolist()], dtype=np.int64)
        for r in ROLLUP_RES:
            parents = np.unique(h3grid.parents(touched, r, check=False))
            cur_p = _current(conn, r, parents)
            fin_p = _rollup_update(conn, r, base, touched, t_cur, t_fin, cur_p)
            parts.append(_apply(conn, r, cur_p, fin_p, set(place_parents[r].astype(np.int64).tolist())))
        _write_whole(conn, parts, base, counties)
        conn.execute(text("DELETE FROM risk_units WHERE hazard_unit_id = ANY(:ids)"), {"ids": ids})
        unit_rows = _unit_rows(new_results, config)
        if unit_rows:
            conn.execute(_INSERT_UNITS, unit_rows)
        enterprises = {e for _, e, _ in old} | {s.enterprise_id for s in new_sources}
        _write_societal(conn, sorted(enterprises))
        conn.execute(text("UPDATE risk_surface SET units = (SELECT count(*) FROM risk_units), "
                          "cells = (SELECT count(*) FROM risk_cells) WHERE id = 1"))
        changed = len(touched)
        _announce(conn, "risk_surface.updated", changed,
                  near=np.unique(h3grid.parents(touched, ROLLUP_RES[0], check=False)))
    return UpdateSummary(units=len(ids), cells_changed=changed, seconds=time.perf_counter() - t0)


def update_pending(engine: Engine, *, config: RiskConfig | None = None, limit: int = 500) -> UpdateSummary:
    """Update the units waiting in ``risk_queue`` (edits since the last rebuild or update),
    with the stored configuration unless ``config`` is given."""
    with engine.connect() as conn:
        ids = conn.execute(text("SELECT hazard_unit_id FROM risk_queue ORDER BY queued_at, hazard_unit_id "
                                "LIMIT :n"), {"n": limit}).scalars().all()
    if not ids:
        return UpdateSummary(units=0, cells_changed=0, seconds=0.0)
    return update_units(engine, ids, config=config)


def surface_cells(conn: Connection, res: int) -> dict[int, tuple]:
    """Every stored row of one resolution, keyed by cell (tests and tools compare surfaces)."""
    rows = conn.execute(text("""SELECT h3, ir_fe15, population, hazard_units, open_dangers, active_alarms, adcode
                                FROM risk_cells WHERE res = :res ORDER BY h3"""), {"res": res}).all()
    return {int(r[0]): tuple(r[1:]) for r in rows}

