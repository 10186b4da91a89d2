"""Read-side questions on the stored risk surface (row-level security applies).

``surface_info`` (how and when it was built), ``cells_geojson`` (cells in a box
at a resolution), ``county_summary`` (roll-up per county), ``societal`` (one
enterprise's F–N curve against the GB 36894 lines).
"""

from __future__ import annotations

import json

from sqlalchemy import text
from sqlalchemy.orm import Session

from geo.errors import NotFound
from layers.features import InvalidQuery
from layers.risk import ROLLUP_RES
from layers.risk_criteria import criteria, fn_lines

__all__ = ["surface_info", "cells_geojson", "county_summary", "societal", "MAX_CELLS"]

#: Most cells one GeoJSON answer holds (tiles serve larger views).
MAX_CELLS = 20_000


def surface_info(session: Session) -> dict:
    row = session.execute(text("""SELECT res, config, config_hash, built_at, units, cells, seconds, skipped
                                   FROM risk_surface WHERE id = 1""")).first()
    if row is None:
        return {"built": False, "note": "no risk surface yet: run `onemap risk rebuild`"}
    res, config, h, built_at, units, cells, seconds, skipped = row
    pending = session.execute(text("SELECT count(*) FROM risk_queue")).scalar()
    return {"built": True, "res": res, "rollup_res": list(ROLLUP_RES), "config": config, "config_hash": h,
            "built_at": built_at.isoformat(), "units": units, "cells": cells, "seconds": round(seconds, 3),
            "skipped": skipped, "pending_units": pending, "unit": "per year (individual risk)"}


def _res(session: Session, res: int | None) -> int:
    base = session.execute(text("SELECT res FROM risk_surface WHERE id = 1")).scalar() or 9
    allowed = (base, *ROLLUP_RES)
    if res is None:
        return base
    if res not in allowed:
        raise InvalidQuery("res", f"must be one of {', '.join(map(str, allowed))}, got {res}")
    return res


def cells_geojson(session: Session, *, bbox: tuple[float, float, float, float], res: int | None = None,
                  min_risk: float = 0.0, limit: int = MAX_CELLS) -> dict:
    """Cells intersecting ``bbox`` with individual risk ≥ ``min_risk``, highest risk first."""
    res = _res(session, res)
    if not 0 <= min_risk <= 1:
        raise InvalidQuery("min_risk", "must be between 0 and 1 per year")
    rows = session.execute(text("""
        SELECT h3, individual_risk, population, hazard_units, open_dangers, active_alarms, adcode,
               ST_AsGeoJSON(geom, 6)
        FROM risk_cells
        WHERE res = :res AND geom && ST_MakeEnvelope(:x0, :y0, :x1, :y1, 4326) AND individual_risk >= :m
        ORDER BY ir_fe15 DESC, h3 LIMIT :n"""),
        {"res": res, "x0": bbox[0], "y0": bbox[1], "x1": bbox[2], "y1": bbox[3], "m": min_risk,
         "n": limit + 1}).all()
    features = [{"type": "Feature", "id": f"{int(h):x}", "geometry": json.loads(g),
                 "properties": {"h3": f"{int(h):x}", "res": res, "individual_risk": ir, "population": pop,
                                "hazard_units": hu, "open_dangers": od, "active_alarms": aa, "adcode": a}}
                for h, ir, pop, hu, od, aa, a, g in rows[:limit]]
    return {"type": "FeatureCollection", "features": features, "truncated": len(rows) > limit}


def county_summary(session: Session, *, adcode_prefix: str | None = None, status: str = "existing") -> list[dict]:
    """Per county: the highest risk, cells and people above each GB 36894 limit."""
    limits = sorted({c.limit(status) for c in criteria().values()})
    res = _res(session, None)
    cols = ", ".join(f"count(*) FILTER (WHERE c.individual_risk > {float(v)!r}) AS c{i}, "
                     f"coalesce(sum(c.population) FILTER (WHERE c.individual_risk > {float(v)!r}), 0) AS p{i}"
                     for i, v in enumerate(limits))
    rows = session.execute(text(f"""
        SELECT c.adcode, r.name, max(c.individual_risk), count(*), {cols}
        FROM risk_cells c JOIN regions r ON r.adcode = c.adcode
        WHERE c.res = :res AND (CAST(:prefix AS text) IS NULL OR starts_with(c.adcode, :prefix))
        GROUP BY c.adcode, r.name ORDER BY max(c.individual_risk) DESC, c.adcode"""),
        {"res": res, "prefix": adcode_prefix}).all()
    out = []
    for row in rows:
        adcode, name, max_ir, cells, *rest = row
        out.append({"adcode": adcode, "name": name, "max_individual_risk": max_ir, "cells": cells,
                    "above": [{"limit_per_year": v, "cells": rest[2 * i], "population": rest[2 * i + 1]}
                              for i, v in enumerate(limits)]})
    return out


def societal(session: Session, enterprise_id: int) -> dict:
    row = session.execute(text("""SELECT s.fn, s.max_n, s.verdict, s.computed_at, e.name
                                   FROM societal_risk s JOIN enterprises e ON e.id = s.enterprise_id
                                   WHERE s.enterprise_id = :e"""), {"e": enterprise_id}).first()
    if row is None:
        raise NotFound(f"no societal risk stored for enterprise {enterprise_id} "
                       "(not visible, or it has no toxic major hazard unit)")
    fn, max_n, verdict, at, name = row
    lines = {k: {"f_times_n": v[0], "slope_exponent": v[1], "n_min": v[2]} for k, v in fn_lines().items()}
    return {"enterprise_id": enterprise_id, "name": name, "fn": [{"n": n, "f_per_year": f} for n, f in fn],
            "max_n": max_n, "verdict": verdict, "computed_at": at.isoformat(), "criterion_lines": lines,
            "criterion_status": "PARTLY VERIFIED (see data/gb36894_societal.csv)"}
