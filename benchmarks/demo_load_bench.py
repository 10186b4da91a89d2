"""Benchmark: loading the Zhejiang demo registry.

Prints one JSON object: the full ``demo load`` (median of ``--runs``) into a
throwaway database, and, in the same run, the enterprises table written three
ways on a subsample — COPY (what the loader does), one multi-row
``executemany`` INSERT, and row-by-row ORM ``session.add`` + flush (the peer
the issue rules out) — with the ratios between them.

    .venv/bin/python benchmarks/demo_load_bench.py [--enterprises 20000] [--runs 3] [--sample 2000]
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
from sqlalchemy.orm import Session

from data.demo import load_demo
from data.synthetic import build_registry
from geo.bulk import copy_rows
from geo.databases import create_database, drop_database
from geo.db import make_engine
from geo.models import Enterprise
from geo.pgcluster import LocalCluster
from geo.regions import read_province
from geo.settings import Settings


def _fresh_db(settings: Settings) -> tuple[str, object]:
    name = f"onemap_bench_{secrets.token_hex(4)}"
    url, _ = create_database(settings, name)
    return name, url


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--enterprises", type=int, default=20_000)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--sample", type=int, default=2000)
    args = ap.parse_args()
    settings = Settings()
    if settings.uses_local_cluster:
        LocalCluster(settings).up()
    today = date(2026, 11, 23)
    name, url = _fresh_db(settings)
    engine = make_engine(url)
    try:
        full = []
        for _ in range(args.runs):
            s = load_demo(engine, n_enterprises=args.enterprises, seed=20261123, today=today)
            full.append(s.seconds["total"])
        counts = s.counts

        # the same enterprises written three ways (the regions are already there)
        regions = read_province()
        rows = build_registry(regions, n_enterprises=args.sample, seed=7, today=today).tables["enterprises"]
        cols, data = rows
        ways: dict[str, list[float]] = {"copy": [], "executemany": [], "orm_add_flush": []}
        for _ in range(args.runs):
            for way in ways:
                with engine.connect() as conn:
                    trans = conn.begin()
                    conn.execute(text("TRUNCATE depot_stock, supply_depots, rescue_teams, sensors, "
                                      "hidden_dangers, hazard_unit_inventory, hazard_units, users, "
                                      "protection_targets, enterprises RESTART IDENTITY"))
                    t = time.perf_counter()
                    if way == "copy":
                        copy_rows(conn.connection.driver_connection, "enterprises", cols, data)
                    elif way == "executemany":
                        stmt = text(f"INSERT INTO enterprises ({', '.join(cols)}) VALUES "
                                    f"({', '.join(':' + c for c in cols)})")
                        conn.execute(stmt, [dict(zip(cols, r, strict=True)) for r in data])
                    else:
                        with Session(bind=conn) as session:
                            for r in data:
                                d = dict(zip(cols, r, strict=True))
                                session.add(Enterprise(**d))
                                session.flush()
                    ways[way].append(time.perf_counter() - t)
                    trans.rollback()
        med = {k: statistics.median(v) for k, v in ways.items()}
        result = {
            "benchmark": "demo_load",
            "machine": {"cpus": os.cpu_count(), "python": platform.python_version()},
            "full_load": {"enterprises": args.enterprises, "runs": args.runs,
                          "median_s": round(statistics.median(full), 2), "all_s": [round(x, 2) for x in full],
                          "rows": counts},
            "enterprises_write": {
                "rows": args.sample,
                "median_s": {k: round(v, 4) for k, v in med.items()},
                "rows_per_s": {k: round(args.sample / v) for k, v in med.items()},
                "ratio_orm_to_copy": round(med["orm_add_flush"] / med["copy"], 1),
                "ratio_executemany_to_copy": round(med["executemany"] / med["copy"], 1),
            },
        }
        print(json.dumps(result, ensure_ascii=False))
    finally:
        engine.dispose()
        drop_database(settings, name)


if __name__ == "__main__":
    main()
