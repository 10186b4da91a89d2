"""Spatial predicates that keep the GiST index usable under row-level security.

PostgreSQL evaluates a non-LEAKPROOF user predicate only after the RLS
policy, so ``ST_Intersects(geom, g)`` alone cannot drive an index scan for
the app role (its derived ``&&`` inherits the function's leakiness). An
explicit ``geom && g`` — an operator marked LEAKPROOF at bootstrap — can.
Every spatial filter of ``layers`` goes through these helpers.
"""

from __future__ import annotations

from sqlalchemy import and_, func

__all__ = ["intersects", "bbox_overlaps"]


def bbox_overlaps(column, geom):
    """``column && geom`` (bounding boxes; index-usable under RLS)."""
    return column.op("&&")(geom)


def intersects(column, geom):
    """``column && geom AND ST_Intersects(column, geom)``."""
    return and_(bbox_overlaps(column, geom), func.ST_Intersects(column, geom))
