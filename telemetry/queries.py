"""Reading telemetry back for HTTP: a sensor's time series, its latest value, recent rejects.

Run on the request's connection as the app role: row-level security decides
what is visible (a sensor the caller cannot see is :class:`~geo.errors.NotFound`).
"""

from __future__ import annotations

from datetime import datetime

import psycopg

from geo.errors import NotFound
from telemetry.store import latest_of, readings_between

__all__ = ["sensor_series", "sensor_latest", "recent_rejects", "MAX_SERIES"]

MAX_SERIES = 10_000


def _sensor(conn: psycopg.Connection, sensor_id: int) -> dict:
    with conn.cursor() as cur:
        cur.execute("SELECT id, code, kind, unit, chemical, threshold_low, threshold_high, threshold_high_high, "
                    "interval_s, status FROM sensors WHERE id = %s", (sensor_id,))
        row = cur.fetchone()
        if row is None:
            raise NotFound(f"sensor {sensor_id}: no such sensor in your jurisdiction")
        return dict(zip([d.name for d in cur.description], row, strict=True))


def sensor_series(conn: psycopg.Connection, *, sensor_id: int, start: datetime, end: datetime,
                  limit: int) -> dict:
    """``{"sensor": {...}, "from", "to", "data": [...], "count", "truncated"}``, oldest first."""
    sensor = _sensor(conn, sensor_id)
    rows = readings_between(conn, sensor_id=sensor_id, start=start, end=end, limit=limit + 1)
    return {"sensor": sensor, "from": start, "to": end, "data": rows[:limit], "count": min(len(rows), limit),
            "truncated": len(rows) > limit}


def sensor_latest(conn: psycopg.Connection, *, sensor_id: int) -> dict:
    """The sensor and its newest reading (``latest`` null before the first)."""
    return {"sensor": _sensor(conn, sensor_id), "latest": latest_of(conn, sensor_id=sensor_id)}


def recent_rejects(conn: psycopg.Connection, *, limit: int) -> list[dict]:
    """The newest rejects the caller may read (admin/province: all; city/county: their known sensors)."""
    with conn.cursor() as cur:
        cur.execute("SELECT id, received_at, source, topic, sensor_code, sensor_id, field, reason, payload_bytes, "
                    "payload_excerpt FROM reading_rejects ORDER BY id DESC LIMIT %s", (limit,))
        cols = [d.name for d in cur.description]
        return [dict(zip(cols, r, strict=True)) for r in cur.fetchall()]
