"""GB 36894-2018 risk criteria: individual-risk limits by protection-target class,
contours of the stored surface, targets in breach, and the F–N verdict.

The numbers live in ``data/gb36894_criteria.csv`` and ``data/gb36894_societal.csv``
(with their sources and verification status); nothing here hard-codes them.
"""

from __future__ import annotations

import csv
import json
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from sqlalchemy import Connection, text

from geo.errors import InvalidInput
from geo.vocab import TARGET_CATEGORIES
from layers.features import InvalidQuery

__all__ = ["STATUSES", "Criterion", "criteria", "fn_lines", "fn_verdict", "contours", "violations"]

_DATA_DIR = Path(__file__).resolve().parents[1] / "data"
#: Installation status the limits depend on: new (planned) or existing (in service).
STATUSES = ("existing", "new")


@dataclass(frozen=True)
class Criterion:
    category: str
    label_zh: str
    label_en: str
    new_per_year: float
    existing_per_year: float

    def limit(self, status: str) -> float:
        return self.new_per_year if status == "new" else self.existing_per_year


def _rows(name: str) -> list[dict[str, str]]:
    with (_DATA_DIR / name).open(encoding="utf-8") as f:
        return list(csv.DictReader(line for line in f if not line.startswith("#")))


@lru_cache(maxsize=1)
def criteria() -> dict[str, Criterion]:
    """Individual-risk limits per protection-target class (``geo.vocab.TARGET_CATEGORIES``).

    >>> criteria()["general_3"].limit("existing")
    3e-05
    """
    out = {}
    for r in _rows("gb36894_criteria.csv"):
        zh, en = TARGET_CATEGORIES[r["category"]]
        out[r["category"]] = Criterion(r["category"], zh, en, float(r["new_per_year"]),
                                       float(r["existing_per_year"]))
    missing = set(TARGET_CATEGORIES) - set(out)
    if missing:
        raise InvalidInput("gb36894_criteria.csv", f"no limit for {', '.join(sorted(missing))}")
    return out


@lru_cache(maxsize=1)
def fn_lines() -> dict[str, tuple[float, float, float]]:
    """``{"upper"|"lower": (f_times_n, slope_exponent, n_min)}``: F(N) = f_times_n / N**slope."""
    return {r["line"]: (float(r["f_times_n"]), float(r["slope_exponent"]), float(r["n_min"]))
            for r in _rows("gb36894_societal.csv")}


def _line(name: str, n: float) -> float:
    c, k, _ = fn_lines()[name]
    return c / n ** k


def fn_verdict(curve: list[tuple[float, float]]) -> str:
    """``unacceptable`` / ``alarp`` / ``acceptable`` for a cumulative F–N step curve.

    ``curve`` holds ``(N_i, F(N_i))`` for increasing N. F is constant on
    ``(N_{i-1}, N_i]`` and the lines decrease with N, so each step is compared
    with the lines at its left end ``N_{i-1}`` (``n_min`` for the first step),
    where they come closest to it.

    >>> fn_verdict([])
    'acceptable'
    >>> fn_verdict([(10.0, 2e-4)])    # between the lines at N = 1
    'alarp'
    >>> fn_verdict([(50.0, 5e-3)])
    'unacceptable'
    """
    verdict = "acceptable"
    n_min = fn_lines()["upper"][2]
    left = n_min
    for n, f in curve:
        if n < n_min:
            continue
        if f > _line("upper", left):
            return "unacceptable"
        if f > _line("lower", left):
            verdict = "alarp"
        left = n
    return verdict


def _status(status: str) -> str:
    if status not in STATUSES:
        raise InvalidQuery("installations", f"must be one of {', '.join(STATUSES)}, got {status!r}")
    return status


def _threshold(value: object) -> float:
    try:
        t = float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        raise InvalidQuery("threshold", f"must be a number per year, got {value!r}") from None
    if not 1e-12 <= t <= 1.0:
        raise InvalidQuery("threshold", f"must be between 1e-12 and 1 per year, got {value!r}")
    return t


def contours(conn: Connection, *, thresholds: list[float] | None = None, status: str = "existing",
             adcode_prefix: str | None = None) -> dict:
    """Individual-risk contours as a GeoJSON FeatureCollection.

    Each feature is the union of the base-resolution cells whose risk exceeds a
    threshold; by default the GB 36894 limits (every distinct value for
    ``status``), each labelled with the classes it protects.
    """
    status = _status(status)
    levels: dict[float, list[str]] = {}
    if thresholds is None:
        for c in criteria().values():
            levels.setdefault(c.limit(status), []).append(c.category)
    else:
        for t in thresholds:
            levels.setdefault(_threshold(t), [])
    res = conn.execute(text("SELECT res FROM risk_surface WHERE id = 1")).scalar()
    features = []
    for limit in sorted(levels):
        geom = conn.execute(text("""
            SELECT ST_AsGeoJSON(ST_Union(geom), 6), count(*) FROM risk_cells
            WHERE res = :res AND individual_risk > :limit
              AND (CAST(:prefix AS text) IS NULL OR starts_with(adcode, :prefix))"""),
            {"res": res, "limit": limit, "prefix": adcode_prefix}).first()
        if not geom or not geom[1]:
            continue
        features.append({"type": "Feature", "geometry": json.loads(geom[0]),
                         "properties": {"threshold_per_year": limit, "cells": geom[1], "installations": status,
                                        "categories": levels[limit]}})
    return {"type": "FeatureCollection", "features": features}


def violations(conn: Connection, *, status: str = "existing", adcode_prefix: str | None = None,
               limit: int = 1000) -> list[dict]:
    """Protection targets where the individual risk exceeds the limit of their class.

    The risk at a target is the stored base-resolution value of the cell holding a
    point on its surface. Sorted by how far over the limit (ratio), worst first.
    """
    status = _status(status)
    values = [{"c": c.category, "l": c.limit(status)} for c in criteria().values()]
    rows = conn.execute(text("""
        WITH lim (category, limit_per_year) AS (SELECT * FROM jsonb_to_recordset(CAST(:lims AS jsonb))
                                                AS x(c text, l double precision)),
             surf AS (SELECT res FROM risk_surface WHERE id = 1)
        SELECT t.id, t.name, t.kind, t.category, t.population, t.adcode, c.individual_risk, lim.limit_per_year,
               ST_X(ST_PointOnSurface(t.geom)), ST_Y(ST_PointOnSurface(t.geom))
        FROM protection_targets t
        JOIN lim ON lim.category = t.category
        JOIN risk_cells c ON c.res = (SELECT res FROM surf)
             AND ST_Intersects(c.geom, ST_PointOnSurface(t.geom))
        WHERE t.valid_to IS NULL AND c.individual_risk > lim.limit_per_year
          AND (CAST(:prefix AS text) IS NULL OR starts_with(t.adcode, :prefix))
        ORDER BY c.individual_risk / lim.limit_per_year DESC, t.id
        LIMIT :n"""), {"lims": json.dumps(values), "prefix": adcode_prefix, "n": limit}).all()
    out = []
    for tid, name, kind, cat, pop, adcode, ir, lim, lon, lat in rows:
        out.append({"id": tid, "name": name, "kind": kind, "category": cat, "population": pop,
                    "adcode": adcode, "individual_risk": ir, "limit_per_year": lim,
                    "ratio": ir / lim, "installations": status, "lon": lon, "lat": lat})
    return out
