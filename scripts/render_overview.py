"""Render docs/img/overview.png: the loaded demo straight from PostGIS (counties,
enterprises, hazard units, open major hidden dangers, rescue teams).

    .venv/bin/python scripts/render_overview.py [--out docs/img/overview.png]
"""

from __future__ import annotations

import argparse

import geopandas as gpd
import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

from geo.db import make_engine, owner_url  # noqa: E402
from geo.settings import get_settings  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", default="docs/img/overview.png")
    args = ap.parse_args()
    engine = make_engine(owner_url(get_settings()))
    q = {
        "counties": "SELECT adcode, ST_SimplifyPreserveTopology(geom, 0.002) geom FROM regions WHERE level='county'",
        "cities": "SELECT adcode, ST_SimplifyPreserveTopology(geom, 0.002) geom FROM regions WHERE level='city'",
        "enterprises": "SELECT geom FROM enterprises WHERE status <> 'deregistered'",
        "dangers": "SELECT geom FROM hidden_dangers WHERE level='major' AND status NOT IN ('verified','closed')",
        "teams": "SELECT geom FROM rescue_teams WHERE kind IN ('hazmat','fire')",
    }
    layers = {k: gpd.read_postgis(v, engine, geom_col="geom") for k, v in q.items()}
    fig, ax = plt.subplots(figsize=(10, 10), dpi=110)
    layers["counties"].plot(ax=ax, facecolor="#f4f1ea", edgecolor="#b9b2a3", linewidth=0.4)
    layers["cities"].plot(ax=ax, facecolor="none", edgecolor="#6b6253", linewidth=1.0)
    layers["enterprises"].plot(ax=ax, markersize=0.6, color="#2f6db5", alpha=0.5, label="enterprises")
    layers["teams"].plot(ax=ax, markersize=14, marker="^", color="#1a8a3a", label="fire / hazmat teams")
    layers["dangers"].plot(ax=ax, markersize=18, marker="x", color="#d62728", label="open major hidden dangers")
    ax.set_title("OneMap — Zhejiang demo: 102 real regions, synthetic registry", fontsize=11)
    ax.legend(loc="lower right", markerscale=2)
    ax.set_axis_off()
    fig.tight_layout()
    fig.savefig(args.out)
    engine.dispose()
    print(args.out)


if __name__ == "__main__":
    main()
