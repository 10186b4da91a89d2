"""Administrative regions: the tree and per-region figures.

Keyword-only service functions; the caller owns the session and transaction.
"""

from __future__ import annotations

import json
from typing import Any

from sqlalchemy import func, literal, select
from sqlalchemy.orm import Session

from geo.errors import InvalidInput, NotFound
from geo.models import Region
from geo.regions import is_adcode
from geo.vocab import REGION_LEVELS
from layers.nearby import region_stats

__all__ = ["list_regions", "get_region"]

_FIELDS = (Region.adcode, Region.name, Region.level, Region.parent_adcode, Region.population,
           Region.population_note)


def _check_adcode(value: str, field: str) -> str:
    if not is_adcode(value):
        raise InvalidInput(field, f"must be a 6-digit administrative code, got {value!r}")
    return value


def list_regions(session: Session, *, level: str | None = None, parent: str | None = None,
                 with_geometry: bool = False, simplify_deg: float = 0.001) -> list[dict[str, Any]]:
    """Regions, optionally of one level or under one parent, ordered by adcode.

    ``with_geometry`` adds a GeoJSON geometry simplified by ``simplify_deg``
    (topology-preserving), enough for a map of the province.
    """
    if level is not None and level not in REGION_LEVELS:
        raise InvalidInput("level", f"unknown level {level!r}; allowed: {', '.join(REGION_LEVELS)}")
    cols = list(_FIELDS) + [func.ST_AsGeoJSON(func.ST_Envelope(Region.geom)).label("bbox")]
    if with_geometry:
        cols.append(func.ST_AsGeoJSON(func.ST_Multi(func.ST_SimplifyPreserveTopology(Region.geom, simplify_deg)), 6)
                    .label("geometry"))
    stmt = select(*cols).order_by(Region.adcode)
    if level:
        stmt = stmt.where(Region.level == level)
    if parent:
        stmt = stmt.where(Region.parent_adcode == _check_adcode(parent, "parent"))
    out = []
    for row in session.execute(stmt).mappings():
        item = dict(row)
        env = json.loads(item.pop("bbox"))["coordinates"][0]
        item["bbox"] = [env[0][0], env[0][1], env[2][0], env[2][1]]
        if with_geometry:
            item["geometry"] = json.loads(item["geometry"])
        out.append(item)
    return out


def get_region(session: Session, *, adcode: str, with_geometry: bool = True) -> dict[str, Any]:
    """One region with its bbox, geometry (unless ``with_geometry`` is false), children and statistics.

    Statistics count what the caller may see.
    """
    _check_adcode(adcode, "adcode")
    geometry = func.ST_AsGeoJSON(Region.geom, 6) if with_geometry else literal(None)
    row = session.execute(
        select(*_FIELDS, func.ST_AsGeoJSON(func.ST_Envelope(Region.geom)).label("bbox"), geometry.label("geometry"))
        .where(Region.adcode == adcode)
    ).mappings().first()
    if row is None:
        raise NotFound(f"region {adcode} not found")
    item = dict(row)
    env = json.loads(item.pop("bbox"))["coordinates"][0]
    item["bbox"] = [env[0][0], env[0][1], env[2][0], env[2][1]]
    if with_geometry:
        item["geometry"] = json.loads(item["geometry"])
    else:
        del item["geometry"]
    item["children"] = [c["adcode"] for c in list_regions(session, parent=adcode)]
    stats = region_stats(session, level=item["level"], parent=item["parent_adcode"], only=adcode)
    item["stats"] = {k: v for k, v in stats[0].items() if k not in ("adcode", "name", "level", "parent_adcode")}
    item["enterprises"] = item["stats"]["enterprises"]["total"]  # not deregistered (valid_to IS NULL)
    return item
