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
        i = np.searchsorted(self.pop_cells, cells)
        i = np.clip(i, 0, max(self.pop_cells.size - 1, 0))
        hit = (self.pop_cells.size > 0) & (self.pop_cells[i] == cells) if self.pop_cells.size else np.zeros(
            cells.shape, dtype=bool)
        return np.where(hit, self.pop[i] if self.pop.size else 0.0, 0.0)

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
        arr = np.asarray(targets, dtype=float)
        cells.append(h3grid.lonlat_to_cells(arr[:, 0], arr[:, 1], res))
        people.append(arr[:, 2])
    surface = conn.execute(text("SELECT h3, population FROM population_cells")).all()
    if surface:
        arr = np.asarray(surface, dtype=np.int64)
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
            "WHERE a.status = 'active'")
    for kind, sql in queries.items():
        geom = "s.geom" if kind == "active_alarms" else "geom"
        rows = conn.execute(text(f"{sql} {_bbox_clause(bbox, geom)}"), p).all()
        arr = np.asarray(rows, dtype=float).reshape(-1, 2)
        points[kind] = h3grid.lonlat_to_cells(arr[:, 0], arr[:, 1], res) if arr.size else np.zeros(0, np.uint64)
    return CellFacts(uniq.astype(np.uint64), pop, points, res)


# --------------------------------------------------------------------------- computing


def _disk(lon: float, lat: float, radius_m: float, *, res: int):
    cells = h3grid.cells_in_disk(lon, lat, radius_m, res)
    c_lon, c_lat = h3grid.cell_centres(cells)
    return cells, np.atleast_1d(c_lon), np.atleast_1d(c_lat)


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
                               host="127.0.0.1", dashboard_address=None)
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


def _copy_cells(conn: Connection, rows: _Rows, facts: CellFacts) -> int:
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
    data = zip(rows.res.tolist(), rows.cells.astype(np.int64).tolist(), rows.ir_q.tolist(),
               np.round(pop, 3).tolist(), counts["hazard_units"].tolist(), counts["open_dangers"].tolist(),
               counts["active_alarms"].tolist(), wkb.tolist(), strict=True)
    dbapi = conn.connection.driver_connection
    copy_rows(dbapi, "risk_cells", ["res", "h3", "ir_fe15", "population", "hazard_units", "open_dangers",
                                    "active_alarms", "geom"], list(data))
    return len(rows)


# one set-based join: the county part holding each new cell's centre
_SET_COUNTIES = text("""
    UPDATE risk_cells c SET adcode = m.adcode FROM (
      SELECT DISTINCT ON (x.res, x.h3) x.res, x.h3, p.adcode
      FROM risk_cells x JOIN region_parts p ON ST_Intersects(p.geom, ST_Centroid(x.geom))
      WHERE x.adcode IS NULL ORDER BY x.res, x.h3, p.adcode) m
    WHERE c.res = m.res AND c.h3 = m.h3""")


def _set_counties(conn: Connection) -> None:
    """County of each new cell's centre; for centres at sea, the county nearest to it."""
    conn.execute(_SET_COUNTIES)
    sea = conn.execute(text("SELECT res, h3, ST_X(ST_Centroid(geom)), ST_Y(ST_Centroid(geom)) "
                            "FROM risk_cells WHERE adcode IS NULL")).all()
    if not sea:
        return
    parts = conn.execute(text("SELECT adcode, ST_AsBinary(geom) FROM region_parts ORDER BY id")).all()
    tree = shapely.STRtree(shapely.from_wkb([bytes(p[1]) for p in parts]))
    points = shapely.points([(r[2], r[3]) for r in sea])
    nearest = tree.query_nearest(points, all_matches=False)[1]
    codes = [parts[i][0] for i in nearest]
    conn.execute(text("UPDATE risk_cells SET adcode = :a WHERE res = :r AND h3 = :h"),
                 [{"a": a, "r": r[0], "h": r[1]} for a, r in zip(codes, sea, strict=True)])


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


def _announce(conn: Connection, kind: str, cells: int) -> None:
    ver = conn.execute(text("""
        INSERT INTO data_versions AS dv (table_name, version, changed_at) VALUES ('risk_cells', 1, now())
        ON CONFLICT (table_name) DO UPDATE SET version = dv.version + 1, changed_at = now()
        RETURNING dv.version""")).scalar()
    codes = conn.execute(text("SELECT coalesce(array_agg(DISTINCT left(adcode, 4) ORDER BY left(adcode, 4)), "
                              "'{}') FROM risk_cells WHERE adcode IS NOT NULL")).scalar()
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
        _copy_cells(conn, rows, facts)
        _set_counties(conn)
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


def _stored_config(conn: Connection) -> str | None:
    return conn.execute(text("SELECT config_hash FROM risk_surface WHERE id = 1")).scalar()


def _sources_of(inputs: dict) -> list[ToxicSource]:
    return [ToxicSource(**s) for s in inputs["sources"]]


def _bbox_of(cells: np.ndarray) -> tuple[float, float, float, float]:
    polys = np.asarray(h3grid.cell_boundaries(cells), dtype=object).reshape(-1)
    b = shapely.total_bounds(polys)
    return float(b[0]), float(b[1]), float(b[2]), float(b[3])


def update_units(engine: Engine, unit_ids: Sequence[int], *, config: RiskConfig | None = None
                 ) -> UpdateSummary:
    """Replace the contribution of some units: subtract what is stored, add what they hold now.

    Only the cells the units reach (before or after) and their roll-up parents are
    rewritten. The result equals a full rebuild exactly. When the surface was
    built with another configuration (or never), this rebuilds it instead.
    """
    t0 = time.perf_counter()
    ids = sorted({int(i) for i in unit_ids})
    with engine.connect() as probe:
        stored = _stored_config(probe)
        stored_json = probe.execute(text("SELECT config FROM risk_surface WHERE id = 1")).scalar()
    if config is None:  # keep the configuration the surface was built with
        config = RiskConfig.from_json(stored_json) if stored_json else load_config()
    if stored != config.hash:
        s = rebuild(engine, config=config)
        return UpdateSummary(units=len(ids), cells_changed=s.cells, seconds=s.seconds, rebuilt=True)
    with engine.begin() as conn:
        conn.execute(_LOCK)
        conn.execute(text("DELETE FROM risk_queue WHERE hazard_unit_id = ANY(:ids)"), {"ids": ids})
        old = conn.execute(text("SELECT hazard_unit_id, enterprise_id, inputs FROM risk_units "
                                "WHERE hazard_unit_id = ANY(:ids)"), {"ids": ids}).all()
        old_sources = [s for _, _, inputs in old for s in _sources_of(inputs)]
        new_sources, _ = gather_sources(conn, ids)
        if not old_sources and not new_sources:
            return UpdateSummary(units=len(ids), cells_changed=0, seconds=time.perf_counter() - t0)
        no_facts = CellFacts(np.zeros(0, np.uint64), np.zeros(0), {}, config.res)
        old_results = compute(old_sources, config, no_facts)
        # every cell reached before or after, and the cells of the units' old and new places
        parts = [u.cells for u in old_results]
        parts += [h3grid.cells_in_disk(s.lon, s.lat, reach_m(s, config), config.res) for s in new_sources]
        parts += [np.atleast_1d(h3grid.lonlat_to_cells(s.lon, s.lat, config.res))
                  for s in old_sources + new_sources]
        touched = np.unique(np.concatenate(parts)).astype(np.uint64)
        parents = {r: np.unique(h3grid.parents(touched, r)) for r in ROLLUP_RES}
        bbox = _bbox_of(parents[min(ROLLUP_RES)])
        facts = gather_facts(conn, res=config.res, bbox=bbox)
        new_results = compute(new_sources, config, facts)
        delta_cells, delta = _sum_cells([(u.cells, -u.ir_q) for u in old_results]
                                        + [(u.cells, u.ir_q) for u in new_results])
        # current base values of every base cell under the touched parents
        top = parents[min(ROLLUP_RES)]
        current = conn.execute(text(
            "SELECT h3, ir_fe15 FROM risk_cells WHERE res = :res AND geom && ST_MakeEnvelope(:x0, :y0, :x1, :y1, 4326)"),
            {"res": config.res, **_bbox_params(bbox)}).all()
        cur = np.asarray(current, dtype=np.int64).reshape(-1, 2)
        cur_cells = cur[:, 0].astype(np.uint64)
        cur_ir = cur[:, 1]
        under = np.isin(h3grid.parents(cur_cells, min(ROLLUP_RES)), top) if cur_cells.size else np.zeros(0, bool)
        cur_cells, cur_ir = cur_cells[under], cur_ir[under]
        base_cells, base_ir = _sum_cells([(cur_cells, cur_ir), (delta_cells, delta)])
        keep = base_ir != 0
        if np.any(base_ir < 0):
            raise RuntimeError("risk surface out of step with risk_units: run `onemap risk rebuild`")
        base_cells, base_ir = base_cells[keep], base_ir[keep]
        # rewrite: touched base cells and the touched parents (from all their base children)
        sel = np.isin(base_cells, touched)
        rows = _cell_rows(base_cells, base_ir, config, parents_only=parents)
        is_base = rows.res == config.res
        rows_keep = ~is_base | np.isin(rows.cells, base_cells[sel])
        rows = _Rows(rows.res[rows_keep], rows.cells[rows_keep], rows.ir_q[rows_keep])
        conn.execute(text("DELETE FROM risk_cells WHERE res = :res AND h3 = ANY(:cells)"),
                     {"res": config.res, "cells": touched.astype(np.int64).tolist()})
        for r in ROLLUP_RES:
            conn.execute(text("DELETE FROM risk_cells WHERE res = :res AND h3 = ANY(:cells)"),
                         {"res": r, "cells": parents[r].astype(np.int64).tolist()})
        _copy_cells(conn, rows, facts)
        _set_counties(conn)
        conn.execute(text("DELETE FROM risk_units WHERE hazard_unit_id = ANY(:ids)"), {"ids": ids})
        unit_rows = _unit_rows(new_results, config)
        if unit_rows:
            conn.execute(_INSERT_UNITS, unit_rows)
        enterprises = {e for _, e, _ in old} | {s.enterprise_id for s in new_sources}
        _write_societal(conn, sorted(enterprises))
        conn.execute(text("UPDATE risk_surface SET units = (SELECT count(*) FROM risk_units), "
                          "cells = (SELECT count(*) FROM risk_cells) WHERE id = 1"))
        _announce(conn, "risk_surface.updated", len(rows))
    return UpdateSummary(units=len(ids), cells_changed=len(rows), seconds=time.perf_counter() - t0)


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

