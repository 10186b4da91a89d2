"""Benchmark: the H3 individual-risk surface over the Zhejiang demo.

Loads the demo into a throwaway database, assesses every hazard unit
(GB 18218, so that ``is_major`` is known), then times in the same run:

* the full rebuild of the resolution-9 surface, plain (in-process), median of ``--runs``;
* the same rebuild on a Dask ``LocalCluster`` of ``--workers`` processes (the
  peer: its overhead against the plain run), median of ``--runs``;
* one unit changed (its toxic inventory +10 %), end to end including the
  database write: the ``--updates`` units of largest reach (the worst case) and
  ``--updates`` units around the median reach; median and max of each.

Prints one JSON object.

    .venv/bin/python benchmarks/risk_bench.py [--enterprises 20000] [--runs 3] [--workers 2] [--updates 9]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import secrets
import statistics
import time
from datetime import date

from sqlalchemy import text

from data.demo import load_demo
from geo.databases import create_database, drop_database
from geo.db import make_engine
from geo.pgcluster import LocalCluster
from geo.settings import Settings
from layers import risk
from layers.hazard_records import assess_all


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--enterprises", type=int, default=20_000)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--updates", type=int, default=9)
    args = ap.parse_args()
    settings = Settings()
    if settings.uses_local_cluster:
        LocalCluster(settings).up()
    name = f"onemap_bench_{secrets.token_hex(4)}"
    url, _ = create_database(settings, name)
    engine = make_engine(url)
    try:
        load_demo(engine, n_enterprises=args.enterprises, seed=20261123, today=date(2026, 11, 23))
        t = time.perf_counter()
        assessed = assess_all(engine)
        assess_s = time.perf_counter() - t

        plain, dask = [], []
        summary = None
        for _ in range(args.runs):
            summary = risk.rebuild(engine)
            plain.append(summary.seconds)
        for _ in range(args.runs):
            dask.append(risk.rebuild(engine, workers=args.workers).seconds)

        with engine.connect() as conn:
            ranked = conn.execute(text("SELECT hazard_unit_id FROM risk_units ORDER BY reach_m DESC, "
                                       "hazard_unit_id")).scalars().all()
        mid = len(ranked) // 2
        groups = {"largest_reach": ranked[:args.updates],
                  "median_reach": ranked[max(0, mid - args.updates // 2):][:args.updates]}
        updates: dict[str, list[float]] = {}
        cells_changed: dict[str, list[int]] = {}
        for group, units in groups.items():
            for uid in units:
                with engine.begin() as conn:
                    conn.execute(text("UPDATE hazard_unit_inventory SET max_quantity_t = max_quantity_t * 1.1 "
                                      "WHERE hazard_unit_id = :u"), {"u": uid})
                t = time.perf_counter()
                u = risk.update_units(engine, [uid])
                updates.setdefault(group, []).append(time.perf_counter() - t)
                cells_changed.setdefault(group, []).append(u.cells_changed)
        p = statistics.median(plain)
        d = statistics.median(dask)
        out = {
            "benchmark": "risk_surface",
            "machine": {"cpus": os.cpu_count(), "python": platform.python_version()},
            "demo": {"enterprises": args.enterprises, "hazard_units_assessed": assessed.units,
                     "assess_all_s": round(assess_s, 2)},
            "surface": {"res": 9, "toxic_sources": summary.sources, "units": summary.units,
                        "cells_res9": summary.cells_base, "rows_all_res": summary.cells,
                        "skipped_toxic_no_probit": len(summary.skipped)},
            "rebuild_plain_s": {"median": round(p, 3), "runs": [round(x, 3) for x in plain],
                                "timings_last": {k: round(v, 3) for k, v in summary.timings.items()},
                                "cells_per_second_compute": round(summary.cells_per_second)},
            "rebuild_dask_s": {"workers": args.workers, "median": round(d, 3), "runs": [round(x, 3) for x in dask],
                               "overhead_vs_plain": round(d / p, 2)},
            "update_one_unit_s": {g: {"units": len(v), "median": round(statistics.median(v), 3),
                                      "max": round(max(v), 3),
                                      "cells_changed_median": int(statistics.median(cells_changed[g])),
                                      "speedup_vs_rebuild": round(p / statistics.median(v), 1)}
                                  for g, v in updates.items()},
        }
        print(json.dumps(out, ensure_ascii=False))
    finally:
        engine.dispose()
        drop_database(settings, name)


if __name__ == "__main__":
    main()
