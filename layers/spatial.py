"""Spatial predicates that keep the GiST index usable under row-level security.

PostgreSQL evaluates a non-LEAKPROOF user predicate only after the RLS
policy, so ``ST_Intersects(geom, g)`` alone cannot drive an index scan for
the app role (its derived ``&&`` inherits the function's leakiness). An
explicit ``geom && g`` — an operator marked LEAKPROOF at bootstrap — can.
Every spatial filter of ``layers`` goes through these helpers.
"""

from __future__ import annotations

from sqlalchemy import and_, func, text

__all__ = ["intersects", "bbox_overlaps", "serial_plans"]

_NO_PARALLEL = text("SELECT set_config('max_parallel_workers_per_gather', '0', true)")


def serial_plans(conn) -> None:
    """Parallel query off for the rest of this transaction.

    For dense tiles and big pages PostgreSQL picks a parallel bitmap heap scan
    that was 1.7-2.4x slower than the serial index scan (docs/BENCHMARKS.md),
    and a parallel Gather leaves JSON building to the leader alone.
    """
    conn.execute(_NO_PARALLEL)


def bbox_overlaps(column, geom):
    """``column && geom`` (bounding boxes; index-usable under RLS)."""
    return column.op("&&")(geom)


def intersects(column, geom):
    """``column && geom AND ST_Intersects(column, geom)``."""
    return and_(bbox_overlaps(column, geom), func.ST_Intersects(column, geom))
